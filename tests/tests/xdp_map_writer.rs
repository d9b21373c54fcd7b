//! The map writer when the answer table cannot take a whole table: the sets beyond its capacity
//! are left to userspace (and counted as such) while the others are written, and a later,
//! smaller table leaves none of them behind for XDP to answer.

mod xdp_common;

use std::collections::HashSet;

use hickory_proto::rr::RecordType;
use switchyard::{
    answers::wire_name,
    bpf::{
        test_run::XDP_TX,
        writer::{MapWriter, to_map_entry},
    },
};
use switchyard_common::{MapKey, PackedName, QTYPE_A};
use switchyard_tests::{
    frames::{query, udp_frame},
    privileges::have_root,
    xdp_harness::XdpHarness,
};
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
    let in_map: HashSet<MapKey> = maps.answers.entries().into_keys().collect();
    let wanted: HashSet<MapKey> =
        fewer.entries.iter().filter_map(|(k, s)| to_map_entry(k, s)).map(|(k, _)| k).collect();
    assert_eq!(in_map, wanted, "exactly the smaller table's entries: {stats:?}");
    assert_eq!(stats.userspace_only, fewer.entries.len() - wanted.len(), "only the sets XDP cannot answer: {stats:?}");
    for (key, set) in &fewer.entries {
        let Some((map_key, entry)) = to_map_entry(key, set) else { continue };
        assert_eq!(maps.answers.get(&map_key).unwrap(), entry, "{key:?} holds its own answer set");
    }
}

#[test]
fn a_views_set_left_out_of_the_table_takes_the_default_views_set_of_its_name_with_it() {
    if !have_root("a_views_set_left_out_of_the_table_takes_the_default_views_set_of_its_name_with_it") {
        return;
    }
    // 600 names with a set for the default view, then a set for the near view as well: 1,200
    // sets for a table of 700. The program falls back to the default view's set when the
    // client's view has none, so a near-view set left out must not leave the default view's
    // set of its name behind.
    let names: Vec<String> = (0..600).map(|i| format!("v{i}.example.com.")).collect();
    let mut sets = table();
    for name in &names {
        put(&mut sets, 0, QTYPE_A, name, 30, &["198.18.32.1"]);
    }
    let mut h = XdpHarness::with_max_entries(&zone(), sets.clone(), views(), 700);
    for name in &names {
        put(&mut sets, 1, QTYPE_A, name, 30, &["198.18.31.1"]);
    }
    let mut writer = MapWriter::default();
    let maps = h.datapath.answer_maps().unwrap();
    writer.adopt(maps.answers);
    let stats = writer.write(maps.answers, &sets).unwrap();
    let in_map: HashSet<MapKey> = h.datapath.answers().entries().into_keys().collect();
    let packed = |name: &str| PackedName::new(&wire_name(&name.parse().unwrap())).unwrap();
    let left_out: Vec<&String> =
        names.iter().filter(|name| !in_map.contains(&MapKey::new(1, QTYPE_A, &packed(name)))).collect();
    assert!(!left_out.is_empty(), "the table is too small for every near-view set: {stats:?}");
    for name in &left_out {
        assert!(!in_map.contains(&MapKey::new(0, QTYPE_A, &packed(name))), "{name}: the default view's set withheld");
    }
    let near_client = "198.18.200.9".parse().unwrap();
    let dns = query(3, left_out[0], RecordType::A, None);
    let frame = udp_frame(None, near_client, SERVER_V4.parse().unwrap(), 40000, 53, &dns);
    assert_ne!(h.run(&frame).unwrap().action, XDP_TX, "a near client is not answered with the default view's set");
}
