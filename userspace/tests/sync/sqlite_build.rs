//! The SQLite linked in is built without the process-wide locks that every page
//! fetch and allocation would otherwise take (see `.cargo/config.toml`).

use rusqlite::Connection;

fn compile_options() -> Vec<String> {
    let conn = Connection::open_in_memory().unwrap();
    let mut stmt = conn.prepare("PRAGMA compile_options").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<rusqlite::Result<_>>().unwrap()
}

#[test]
fn connections_share_no_page_cache_and_allocations_are_not_counted() {
    let options = compile_options();
    assert!(options.iter().any(|o| o == "THREADSAFE=1"), "{options:?}");
    assert!(!options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"), "shared page cache built in: {options:?}");
    assert!(options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"), "allocation statistics built in: {options:?}");
}
