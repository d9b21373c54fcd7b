//! The statements that read and write one row of a synced table, built once
//! per table instead of once per change (a batch runs them thousands of times).

use super::sql::ident;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowSql {
    /// The non-key columns of the row whose key is ?1.
    pub select: String,
    /// Inserts the row (key ?1, then the non-key columns) or overwrites it.
    pub upsert: String,
    /// Deletes the row whose key is ?1.
    pub delete: String,
}

impl RowSql {
    pub fn new(table: &str, pk: &str, columns: &[String]) -> RowSql {
        let (table, pk) = (ident(table), ident(pk));
        let quoted: Vec<String> = columns.iter().map(|c| ident(c)).collect();
        let selected = if quoted.is_empty() { "1".to_string() } else { quoted.join(", ") };
        let all: Vec<&str> = std::iter::once(pk.as_str()).chain(quoted.iter().map(String::as_str)).collect();
        let placeholders: Vec<String> = (1..=all.len()).map(|i| format!("?{i}")).collect();
        let on_conflict = if quoted.is_empty() {
            "DO NOTHING".to_string()
        } else {
            let sets: Vec<String> = quoted.iter().map(|c| format!("{c} = excluded.{c}")).collect();
            format!("DO UPDATE SET {}", sets.join(", "))
        };
        RowSql {
            select: format!("SELECT {selected} FROM {table} WHERE {pk} = ?1"),
            upsert: format!(
                "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT({pk}) {on_conflict}",
                all.join(", "),
                placeholders.join(", ")
            ),
            delete: format!("DELETE FROM {table} WHERE {pk} = ?1"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_quote_every_name() {
        let sql = RowSql::new("t\"x", "id", &["a".into(), "b c".into()]);
        assert_eq!(sql.select, r#"SELECT "a", "b c" FROM "t""x" WHERE "id" = ?1"#);
        assert_eq!(
            sql.upsert,
            r#"INSERT INTO "t""x" ("id", "a", "b c") VALUES (?1, ?2, ?3) ON CONFLICT("id") DO UPDATE SET "a" = excluded."a", "b c" = excluded."b c""#
        );
        assert_eq!(sql.delete, r#"DELETE FROM "t""x" WHERE "id" = ?1"#);
    }

    #[test]
    fn a_table_of_only_a_key_selects_and_inserts_the_key() {
        let sql = RowSql::new("k", "id", &[]);
        assert_eq!(sql.select, r#"SELECT 1 FROM "k" WHERE "id" = ?1"#);
        assert_eq!(sql.upsert, r#"INSERT INTO "k" ("id") VALUES (?1) ON CONFLICT("id") DO NOTHING"#);
    }
}
