//! Work on one change inside a savepoint, so a change that cannot be taken
//! is undone alone and set aside while the rest of the transaction goes on.

use rusqlite::{Connection, ErrorCode};

use super::error::{Result, SyncError};

/// Runs `work` in a savepoint. Errors that belong to the change itself (a
/// constraint it breaks, a value or column this database does not take) are
/// rolled back and returned as `Ok(Err(..))` for the quarantine; errors of the
/// database (I/O, disk full, busy) fail the whole transaction.
pub fn in_savepoint<T>(conn: &Connection, work: impl FnOnce() -> Result<T>) -> Result<Result<T>> {
    conn.prepare_cached("SAVEPOINT sy_change")?.execute([])?;
    match work() {
        Ok(value) => {
            conn.prepare_cached("RELEASE sy_change")?.execute([])?;
            Ok(Ok(value))
        }
        Err(err) if belongs_to_the_change(&err) => {
            conn.prepare_cached("ROLLBACK TO sy_change")?.execute([])?;
            conn.prepare_cached("RELEASE sy_change")?.execute([])?;
            Ok(Err(err))
        }
        Err(err) => Err(err),
    }
}

fn belongs_to_the_change(err: &SyncError) -> bool {
    match err {
        SyncError::Unusable(_) | SyncError::UnknownTable(_) | SyncError::UnknownColumn { .. } => true,
        SyncError::Database(rusqlite::Error::SqliteFailure(e, _)) => matches!(
            e.code,
            ErrorCode::ConstraintViolation
                | ErrorCode::TypeMismatch
                | ErrorCode::TooBig
                | ErrorCode::ParameterOutOfRange
                | ErrorCode::Unknown
        ),
        _ => false,
    }
}
