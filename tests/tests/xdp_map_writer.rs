//! The map writer when the answer table cannot take a whole table: the sets beyond its capacity
//! are left to userspace (and counted as such) while the others are written, and a later,
//! smaller table leaves none of them behind for XDP to answer.

mod xdp_common;

use std::collections::HashSet;

use switchyard::bpf::writer::{MapWriter, to_map_entry};
use switchyard_common::MapKey;
use switchyard_tests::{privileges::have_root, xdp_harness::XdpHarness};
use xdp_common::*;

#[test]
fn a_table_over_capacity_leaves_the_rest_to_userspace_and_a_smaller_one_leaves_nothing_behind() {
    if !have_root("a_table_over_capacity_leaves_the_rest_to_userspace_and_a_smaller_one_leaves_nothing_behind") {
        return;
    }
    let mut h = XdpHarness::with_max_entries(&zone(), table(), views(), 1024);
    let maps = h.datapath.answer_maps().unwrap();
    let mut writer = MapWriter::default();
    writer.adopt(maps.answers);

    let many = many_names(1_500, 1);
    let stats = writer.write(maps.answers, &many).expect("a table over capacity is written in part");
    let in_map = maps.answers.len();
    assert!(in_map <= 1024, "no more than the capacity: {in_map}");
    assert!(in_map > 1000, "all but the sets that found no free slot: {in_map}, {stats:?}");
    assert_eq!(
        in_map + stats.userspace_only,
        many.entries.len(),
        "each set is in the table or left to userspace: {stats:?}"
    );

    let fewer = many_names(100, 2);
    let stats = writer.write(maps.answers, &fewer).unwrap();
    let in_map: HashSet<MapKey> = maps.answers.entries().into_iter().map(|(k, _)| k).collect();
    let wanted: HashSet<MapKey> =
        fewer.entries.iter().filter_map(|(k, s)| to_map_entry(k, s)).map(|(k, _)| k).collect();
    assert_eq!(in_map, wanted, "exactly the smaller table's entries: {stats:?}");
    assert_eq!(stats.userspace_only, fewer.entries.len() - wanted.len(), "only the sets XDP cannot answer: {stats:?}");
    for (key, set) in &fewer.entries {
        let Some((map_key, entry)) = to_map_entry(key, set) else { continue };
        assert_eq!(maps.answers.get(&map_key).unwrap(), entry, "{key:?} holds its own answer set");
    }
}
