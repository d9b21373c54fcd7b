//! The demo's story as a test: two sites in namespaces (HAProxy, web app instances, SQLite,
//! Switchyard with XDP), site A's web servers, database and DNS server failing and coming back,
//! a client that never sees an error. Needs root and HAProxy (`cargo xtask test` installs it).

use switchyard_tests::{
    lab::{Interrupt, bring_up::Lab, story, timeline::Timeline},
    privileges::have_root,
};

#[test]
fn two_site_story_runs_to_the_end() {
    if !have_root("two_site_story_runs_to_the_end") {
        return;
    }
    let mut lab = Lab::new().unwrap_or_else(|e| panic!("the lab did not come up: {e}"));
    let mut timeline = Timeline::default();
    let result = story::run(&mut lab, &Interrupt::default(), &mut timeline);
    drop(lab);
    if let Err(e) = result {
        panic!("a step did not happen: {e}\n{}", timeline.lines().join("\n"));
    }
}
