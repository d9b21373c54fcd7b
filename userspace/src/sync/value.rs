//! One SQLite value, exactly: TEXT is kept as bytes (SQLite stores whatever
//! a program wrote, valid UTF-8 or not), REAL keeps infinities, INTEGER all
//! 64 bits. This is what registers, batches and the conflict log hold.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(#[serde(with = "serde_bytes")] Vec<u8>),
    Blob(#[serde(with = "serde_bytes")] Vec<u8>),
}

impl Value {
    pub fn text(text: impl Into<String>) -> Value {
        Value::Text(text.into().into_bytes())
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// This value as a key column without a declared type tells keys apart.
    /// Such a column keeps 1 and 1.0 (and 0.0 and -0.0) as written, but SQLite
    /// compares them as equal: one row. Equality here stays exact (a `quote()`
    /// dump tells them apart); maps of rows key by this instead.
    pub fn as_row_key(&self) -> Value {
        match self {
            // In range and whole: the integer it equals (i64::MAX as f64 is 2^63, out of range).
            Value::Real(r) if r.fract() == 0.0 && *r >= i64::MIN as f64 && *r < i64::MAX as f64 => {
                Value::Integer(*r as i64)
            }
            other => other.clone(),
        }
    }

    /// The text, when it is TEXT and valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(bytes) => std::str::from_utf8(bytes).ok(),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn from_ref(value: ValueRef<'_>) -> Value {
        match value {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(r) => Value::Real(r),
            ValueRef::Text(t) => Value::Text(t.to_vec()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Integer(_) => 1,
            Value::Real(_) => 2,
            Value::Text(_) => 3,
            Value::Blob(_) => 4,
        }
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Integer(i)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::text(text)
    }
}

/// Exact equality: the same type and the same bits (1 and 1.0 differ, as they
/// do in a `quote()` dump).
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            Value::Null => {}
            Value::Integer(i) => i.hash(state),
            Value::Real(r) => r.to_bits().hash(state),
            Value::Text(b) | Value::Blob(b) => b.hash(state),
        }
    }
}

/// A total order for maps and cursors in Rust: by type, then by value.
impl Ord for Value {
    fn cmp(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Integer(a), Value::Integer(b)) => a.cmp(b),
            (Value::Real(a), Value::Real(b)) => a.total_cmp(b),
            (Value::Text(a), Value::Text(b)) | (Value::Blob(a), Value::Blob(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(t) => ValueRef::Text(t),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl FromSql for Value {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Value> {
        Ok(Value::from_ref(value))
    }
}

/// Like SQLite's `quote()`, for logs and status output; TEXT that is not
/// UTF-8 is shown as `CAST(X'..' AS TEXT)`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "NULL"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Real(r) if r.is_infinite() => write!(f, "{}9.0e+999", if *r < 0.0 { "-" } else { "" }),
            Value::Real(r) => write!(f, "{r:?}"),
            Value::Text(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => write!(f, "'{}'", text.replace('\'', "''")),
                Err(_) => write!(f, "CAST(X'{}' AS TEXT)", hex::encode_upper(bytes)),
            },
            Value::Blob(bytes) => write!(f, "X'{}'", hex::encode_upper(bytes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sqlite_holds_equal_are_one_row_key() {
        assert_eq!(Value::Real(1.0).as_row_key(), Value::Integer(1));
        assert_eq!(Value::Real(-0.0).as_row_key(), Value::Integer(0));
        assert_eq!(Value::Real(i64::MIN as f64).as_row_key(), Value::Integer(i64::MIN));
        for kept in [Value::Real(1.5), Value::Real(2f64.powi(63)), Value::Real(f64::INFINITY)] {
            assert_eq!(kept.as_row_key(), kept);
        }
        assert_eq!(Value::text("1").as_row_key(), Value::text("1"));
    }

    #[test]
    fn every_kind_round_trips_through_sqlite_and_the_wire() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t(v)").unwrap();
        let values = [
            Value::Null,
            Value::Integer(i64::MIN),
            Value::Integer(i64::MAX),
            Value::Real(f64::INFINITY),
            Value::Real(f64::NEG_INFINITY),
            Value::Real(0.1 + 0.2),
            Value::Text(vec![0xff, 0xfe, b'A']),
            Value::Text(Vec::new()),
            Value::Blob(vec![0, 1, 2, 255]),
        ];
        for value in &values {
            let back: Value = conn.query_row("SELECT ?1", [value], |r| r.get(0)).unwrap();
            assert_eq!(&back, value);
            let wire: Value = postcard::from_bytes(&postcard::to_allocvec(value).unwrap()).unwrap();
            assert_eq!(&wire, value);
        }
        assert_ne!(Value::Integer(1), Value::Real(1.0));
        assert_ne!(Value::text("a"), Value::Blob(b"a".to_vec()));
    }

    #[test]
    fn display_reads_like_quote() {
        assert_eq!(Value::text("it's").to_string(), "'it''s'");
        assert_eq!(Value::Text(vec![0xff]).to_string(), "CAST(X'FF' AS TEXT)");
        assert_eq!(Value::Blob(vec![0xab]).to_string(), "X'AB'");
        assert_eq!(Value::Real(f64::NEG_INFINITY).to_string(), "-9.0e+999");
    }
}
