//! The map writer when the answer map cannot take a whole table: the write fails part of the way
//! (the fast path goes off until a write succeeds), and the entries that did land are not
//! forgotten: a later, smaller table leaves none of them behind for XDP to answer.

mod xdp_common;

use std::collections::HashSet;

use switchyard::bpf::writer::{MapWriter, to_map_entry};
use switchyard_common::MapKey;
use switchyard_tests::{privileges::have_root, xdp_harness::XdpHarness};
use xdp_common::*;

#[test]
fn after_a_write_that_overflowed_the_map_a_smaller_table_leaves_nothing_behind() {
    if !have_root("after_a_write_that_overflowed_the_map_a_smaller_table_leaves_nothing_behind") {
        return;
    }
    let mut h = XdpHarness::with_max_entries(&zone(), table(), views(), 1024);
    let mut maps = h.datapath.answer_maps().unwrap();
    let mut writer = MapWriter::default();
    writer.adopt(&maps.answers).unwrap();
    let before = maps.answers.keys().count();

    let error = writer.write(&mut maps.answers, &many_names(1_500, 1)).expect_err("1,500 names do not fit 1,024");
    let landed = maps.answers.keys().count();
    assert!(landed > before, "part of the write landed ({before} before, {landed} after): {error}");

    let fewer = many_names(100, 2);
    let stats = writer.write(&mut maps.answers, &fewer).unwrap();
    let in_map: HashSet<MapKey> = maps.answers.keys().map(Result::unwrap).collect();
    let wanted: HashSet<MapKey> =
        fewer.entries.iter().filter_map(|(k, s)| to_map_entry(k, s)).map(|(k, _)| k).collect();
    assert_eq!(in_map.len(), wanted.len(), "{stats:?}");
    assert_eq!(in_map, wanted, "exactly the smaller table's entries: {stats:?}");
    for (key, set) in &fewer.entries {
        let Some((map_key, entry)) = to_map_entry(key, set) else { continue };
        assert_eq!(maps.answers.get(&map_key, 0).unwrap(), entry, "{key:?} holds its own answer set");
    }
}
