//! docs/config.md against the parser: every table and option the serde structs accept is named
//! in the reference, and the reference names nothing they refuse. The parser's lists come from
//! the structs themselves: an unknown key makes serde list the fields it expects.

use std::collections::{BTreeMap, BTreeSet};

use toml::{Table, Value};

use super::Config;

const PROBE: &str = "zz_not_an_option";

/// One table in the config: its path and whether each segment is an array of tables.
type Shape = Vec<(String, bool)>;

/// The document holding `leaf` at `shape`.
fn document(shape: &[(String, bool)], leaf: Table) -> Value {
    shape.iter().rev().fold(Value::Table(leaf), |inner, (name, is_array)| {
        let value = if *is_array { Value::Array(vec![inner]) } else { inner };
        Value::Table(Table::from_iter([(name.clone(), value)]))
    })
}

/// The fields serde expects in the table at `shape`, or `None` when no struct is there.
fn accepted_fields(shape: &[(String, bool)]) -> Option<BTreeSet<String>> {
    let probe = Table::from_iter([(PROBE.to_string(), Value::Integer(1))]);
    let error = document(shape, probe).try_into::<Config>().err()?.to_string();
    let marker = format!("unknown field `{PROBE}`");
    let expected = error.split_once(&marker)?.1;
    let expected = expected.lines().next().unwrap_or("");
    Some(expected.split('`').skip(1).step_by(2).map(str::to_string).collect())
}

/// Every table the parser accepts, by dotted path ("" is the top level), with its options
/// (fields that are not tables themselves).
fn parser_tables() -> BTreeMap<String, BTreeSet<String>> {
    let mut tables = BTreeMap::new();
    let mut pending: Vec<Shape> = vec![Vec::new()];
    while let Some(shape) = pending.pop() {
        let fields = accepted_fields(&shape).expect("a struct at every probed path");
        let mut options = BTreeSet::new();
        for field in fields {
            let nested = [false, true].into_iter().map(|is_array| {
                let mut inner = shape.clone();
                inner.push((field.clone(), is_array));
                inner
            });
            match nested.into_iter().find(|inner| accepted_fields(inner).is_some()) {
                Some(inner) => pending.push(inner),
                None => {
                    options.insert(field);
                }
            }
        }
        tables.insert(path(&shape), options);
    }
    tables
}

fn path(shape: &[(String, bool)]) -> String {
    shape.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(".")
}

/// The reference's tables: a heading naming a table (`## \`[server]\``, `### \`[[site]]\``,
/// "## Top level" for the root) and the options in the first column of its table rows.
fn reference_tables(markdown: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        if line.starts_with('#') {
            current = heading_table(line);
            if let Some(table) = &current {
                assert!(tables.insert(table.clone(), BTreeSet::new()).is_none(), "{table} twice in the reference");
            }
        } else if let (Some(table), Some(row)) = (&current, line.strip_prefix("| `")) {
            let option = row.split('`').next().unwrap_or_default().to_string();
            tables.get_mut(table).expect("current table").insert(option);
        }
    }
    tables
}

fn heading_table(line: &str) -> Option<String> {
    let title = line.trim_start_matches('#').trim();
    if title == "Top level" {
        return Some(String::new());
    }
    let inner = title.strip_prefix("`[")?.split(']').next()?;
    Some(inner.trim_start_matches('[').to_string())
}

#[test]
fn the_reference_names_every_option_the_parser_accepts_and_no_other() {
    let markdown =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/config.md")).expect("docs/config.md");
    let parser = parser_tables();
    assert!(parser.len() > 10 && parser["server"].contains("dns_port"), "probing found {parser:?}");
    let reference = reference_tables(&markdown);
    let mut problems = Vec::new();
    for (table, options) in &parser {
        let Some(documented) = reference.get(table) else {
            problems.push(format!("table [{table}] is accepted but has no section"));
            continue;
        };
        for option in options.difference(documented) {
            problems.push(format!("[{table}] {option} is accepted but not documented"));
        }
        for option in documented.difference(options) {
            problems.push(format!("[{table}] {option} is documented but refused"));
        }
    }
    for table in reference.keys().filter(|t| !parser.contains_key(*t)) {
        problems.push(format!("section [{table}] is not a table the parser accepts"));
    }
    assert!(problems.is_empty(), "docs/config.md and the parser differ:\n{}", problems.join("\n"));
}
