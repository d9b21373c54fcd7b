//! `Target::server`: the instance a command aims at is a plain name, as in the config; and what
//! a command says when no daemon answers there.

use super::{CliError, Target};

fn target(config: Option<std::path::PathBuf>, instance: &str) -> Target {
    Target { config, instance: instance.into(), run_dir: None, pin_root: None }
}

#[test]
fn an_instance_option_that_is_not_a_plain_name_is_refused() {
    for instance in ["..", "../x", "a/b", ""] {
        let error = target(None, instance).server().expect_err("refused");
        assert!(matches!(error, CliError::BadInstance { .. }), "{instance}: {error}");
        assert!(error.to_string().contains("use letters, digits, '-' and '_' only"), "{error}");
    }
    assert_eq!(target(None, "dns-a_1").server().unwrap().instance, "dns-a_1");
}

#[test]
fn a_config_instance_that_is_not_a_plain_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.toml");
    std::fs::write(&file, "[server]\ninstance = \"..\"\n").unwrap();
    let error = target(Some(file.clone()), "default").server().expect_err("refused").to_string();
    assert!(error.contains("server.instance: use letters, digits, '-' and '_' only"), "{error}");
    std::fs::write(&file, "[server]\ninstance = \"b\"\n").unwrap();
    assert_eq!(target(Some(file), "default").server().unwrap().instance, "b");
}

#[test]
fn a_file_that_is_not_toml_says_how_to_reach_the_daemon_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.toml");
    std::fs::write(&file, "[server]\ninstance = \"a\"\n[[service]\n").unwrap();
    let error = target(Some(file), "default").server().expect_err("refused").to_string();
    assert!(error.contains("[server] is unreadable") && error.contains("--instance NAME"), "{error}");
}

#[test]
fn a_reload_that_reaches_no_daemon_says_so_rather_than_that_one_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.toml");
    std::fs::write(&file, format!("[server]\ninstance = \"gone\"\nrun_dir = {:?}\n", dir.path())).unwrap();
    let error = super::reload::run(&target(Some(file), "default"), false).expect_err("no daemon").to_string();
    assert!(error.contains("gone.sock") && !error.contains("keeps serving"), "{error}");
}

#[test]
fn an_instance_with_its_own_run_dir_is_reached_there() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target { run_dir: Some(dir.path().into()), ..target(None, "b") };
    let server = target.server().unwrap();
    assert_eq!(server.admin_socket(), dir.path().join("b.sock"));
}
