//! The SQLite linked in is built without the process-wide locks that every page
//! fetch and allocation would otherwise take (see `.cargo/config.toml`): one around
//! the page pool that all connections of a process would draw from, one around the
//! memory statistics.

use rusqlite::Connection;

fn compile_options() -> Vec<String> {
    let conn = Connection::open_in_memory().unwrap();
    let mut stmt = conn.prepare("PRAGMA compile_options").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<rusqlite::Result<_>>().unwrap()
}

#[test]
fn pages_and_allocations_take_no_process_wide_lock() {
    let options = compile_options();
    assert!(
        !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
        "one page pool for all connections built in: {options:?}"
    );
    assert!(options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"), "allocation statistics built in: {options:?}");
}
