//! Small helpers for building SQL text.

/// Quotes an identifier for use in SQL text.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal for use in SQL text.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
