//! Small helpers for building SQL text.

/// Quotes an identifier for use in SQL text.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `sql` limited to `limit` rows, the number written into the text. SQLite
/// (3.50) prepares a statement whose LIMIT is a bound parameter again every
/// time it runs (the planner reads the bound value, so each new binding
/// expires the plan); written in, the statement is prepared once and cached.
pub fn with_limit(sql: &str, limit: usize) -> String {
    format!("{sql} LIMIT {limit}")
}

/// Quotes a string literal for use in SQL text.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
