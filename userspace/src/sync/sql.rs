//! Small helpers for building SQL text and moving values between JSON and SQLite.

use rusqlite::types::Value as SqlValue;
use serde_json::Value as Json;

/// Quotes an identifier for use in SQL text.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal for use in SQL text.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Binds a JSON value the way SQLite's `json_object` produced it.
pub fn to_sql(value: &Json) -> SqlValue {
    match value {
        Json::Null => SqlValue::Null,
        Json::Bool(b) => SqlValue::Integer(*b as i64),
        Json::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => SqlValue::Text(s.clone()),
        other => SqlValue::Text(other.to_string()),
    }
}

/// Canonical text of a primary key as stored in metadata (same as SQLite's `json_quote`).
pub fn pk_text(pk: &Json) -> String {
    pk.to_string()
}
