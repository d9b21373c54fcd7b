use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::policy::{
    DecisionChange, Family, LoadOrdering, Policy, PolicyConfig, RttOrdering, ServiceConfig, WhenAllDown, diff,
};
use crate::site::{SiteAddresses, SiteState};

/// Site `n` gets A 198.18.n.10 and AAAA fd00:n::10.
fn addresses(names: &[&str]) -> BTreeMap<String, SiteAddresses> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let n = i as u8 + 1;
            let addrs = SiteAddresses {
                a: vec![Ipv4Addr::new(198, 18, n, 10)],
                aaaa: vec![Ipv6Addr::new(0xfd00, u16::from(n), 0, 0, 0, 0, 0, 0x10)],
            };
            (name.to_string(), addrs)
        })
        .collect()
}

fn v4(site: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 18, site, 10))
}

fn v6(site: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0xfd00, site, 0, 0, 0, 0, 0, 0x10))
}

fn up(load: u32, rtt_us: u32) -> SiteState {
    SiteState { available: true, load, rtt_us }
}

const DOWN: SiteState = SiteState::UNAVAILABLE;

fn states(list: &[(&str, SiteState)]) -> BTreeMap<String, SiteState> {
    list.iter().map(|(name, state)| (name.to_string(), *state)).collect()
}

fn policy(services: Vec<ServiceConfig>, sites: &[&str]) -> Policy {
    Policy::new(&PolicyConfig { services }, &addresses(sites)).expect("valid policy")
}

fn two_site_policy(when_all_down: WhenAllDown) -> Policy {
    let mut service = ServiceConfig::new("www", &["a", "b"]);
    service.when_all_down = when_all_down;
    policy(vec![service], &["a", "b"])
}

#[test]
fn both_available_answers_first_then_second() {
    let mut policy = two_site_policy(WhenAllDown::AnswerAll);
    let table = policy.evaluate(&states(&[("a", up(0, 0)), ("b", up(0, 0))]));
    assert_eq!(table.addrs("www", Family::A, None), [v4(1), v4(2)]);
    assert_eq!(table.addrs("www", Family::Aaaa, None), [v6(1), v6(2)]);
    assert_eq!(table.get("www", Family::A, None).unwrap().ttl, 20);
}

#[test]
fn first_unavailable_answers_second_only() {
    let mut policy = two_site_policy(WhenAllDown::AnswerAll);
    let table = policy.evaluate(&states(&[("a", DOWN), ("b", up(0, 0))]));
    assert_eq!(table.addrs("www", Family::A, None), [v4(2)]);
    assert_eq!(table.addrs("www", Family::Aaaa, None), [v6(2)]);
}

#[test]
fn second_unavailable_answers_first_only() {
    let mut policy = two_site_policy(WhenAllDown::AnswerAll);
    let table = policy.evaluate(&states(&[("a", up(0, 0)), ("b", DOWN)]));
    assert_eq!(table.addrs("www", Family::A, None), [v4(1)]);
}

#[test]
fn missing_site_state_counts_as_unavailable() {
    let mut policy = two_site_policy(WhenAllDown::AnswerAll);
    let table = policy.evaluate(&states(&[("b", up(0, 0))]));
    assert_eq!(table.addrs("www", Family::A, None), [v4(2)]);
}

#[test]
fn all_down_answer_all_returns_every_site_in_preference_order() {
    let mut policy = two_site_policy(WhenAllDown::AnswerAll);
    let table = policy.evaluate(&states(&[("a", DOWN), ("b", DOWN)]));
    assert_eq!(table.addrs("www", Family::A, None), [v4(1), v4(2)]);
}

#[test]
fn all_down_answer_none_returns_no_addresses() {
    let mut policy = two_site_policy(WhenAllDown::AnswerNone);
    let table = policy.evaluate(&states(&[("a", DOWN), ("b", DOWN)]));
    let answer = table.get("www", Family::A, None).expect("entry present even when empty");
    assert!(answer.addrs.is_empty());
}

#[test]
fn all_down_keep_last_repeats_last_answer() {
    let mut policy = two_site_policy(WhenAllDown::KeepLast);
    // Never anything available: falls back to all sites.
    let table = policy.evaluate(&states(&[("a", DOWN), ("b", DOWN)]));
    assert_eq!(table.addrs("www", Family::A, None), [v4(1), v4(2)]);

    policy.evaluate(&states(&[("a", DOWN), ("b", up(0, 0))]));
    let table = policy.evaluate(&states(&[("a", DOWN), ("b", DOWN)]));
    assert_eq!(table.addrs("www", Family::A, None), [v4(2)]);

    let table = policy.evaluate(&states(&[("a", up(0, 0)), ("b", DOWN)]));
    assert_eq!(table.addrs("www", Family::A, None), [v4(1)]);
    let table = policy.evaluate(&states(&[("a", DOWN), ("b", DOWN)]));
    assert_eq!(table.addrs("www", Family::A, None), [v4(1)]);
}

#[test]
fn three_sites_follow_preference_and_skip_unavailable() {
    let mut policy = policy(vec![ServiceConfig::new("www", &["c", "a", "b"])], &["a", "b", "c"]);
    let all_up = states(&[("a", up(0, 0)), ("b", up(0, 0)), ("c", up(0, 0))]);
    assert_eq!(policy.evaluate(&all_up).addrs("www", Family::A, None), [v4(3), v4(1), v4(2)]);

    let middle_down = states(&[("a", DOWN), ("b", up(0, 0)), ("c", up(0, 0))]);
    assert_eq!(policy.evaluate(&middle_down).addrs("www", Family::A, None), [v4(3), v4(2)]);

    let only_last = states(&[("a", DOWN), ("b", up(0, 0)), ("c", DOWN)]);
    assert_eq!(policy.evaluate(&only_last).addrs("www", Family::A, None), [v4(2)]);

    let none = states(&[("a", DOWN), ("b", DOWN), ("c", DOWN)]);
    assert_eq!(policy.evaluate(&none).addrs("www", Family::A, None), [v4(3), v4(1), v4(2)]);
}

#[test]
fn site_without_ipv6_contributes_nothing_to_aaaa() {
    let mut sites = addresses(&["a", "b"]);
    sites.get_mut("a").unwrap().aaaa.clear();
    let mut policy =
        Policy::new(&PolicyConfig { services: vec![ServiceConfig::new("www", &["a", "b"])] }, &sites).unwrap();
    let table = policy.evaluate(&states(&[("a", up(0, 0)), ("b", up(0, 0))]));
    assert_eq!(table.addrs("www", Family::A, None), [v4(1), v4(2)]);
    assert_eq!(table.addrs("www", Family::Aaaa, None), [v6(2)]);
}

#[test]
fn views_use_their_own_preference() {
    let mut service = ServiceConfig::new("www", &["a", "b"]);
    service.views.insert("eu".into(), vec!["b".into(), "a".into()]);
    let mut policy = policy(vec![service], &["a", "b"]);

    let table = policy.evaluate(&states(&[("a", up(0, 0)), ("b", up(0, 0))]));
    assert_eq!(table.addrs("www", Family::A, None), [v4(1), v4(2)]);
    assert_eq!(table.addrs("www", Family::A, Some("eu")), [v4(2), v4(1)]);

    let table = policy.evaluate(&states(&[("a", up(0, 0)), ("b", DOWN)]));
    assert_eq!(table.addrs("www", Family::A, Some("eu")), [v4(1)]);
    assert_eq!(table.len(), 4, "two families for the default view and for 'eu'");
}

fn load_ordered(hold: u32) -> Policy {
    let mut service = ServiceConfig::new("www", &["a", "b"]);
    service.by_load = Some(LoadOrdering::default());
    service.reorder_hold = hold;
    policy(vec![service], &["a", "b"])
}

#[test]
fn load_ordering_ignores_small_differences() {
    let mut policy = load_ordered(3);
    // b lower by 150 per-mille but only 15 % of a's 1000: below the relative margin.
    let close = states(&[("a", up(1000, 0)), ("b", up(850, 0))]);
    // b lower by 50 % but only 50 per-mille: below the absolute margin.
    let small = states(&[("a", up(100, 0)), ("b", up(50, 0))]);
    for _ in 0..10 {
        assert_eq!(policy.evaluate(&close).addrs("www", Family::A, None), [v4(1), v4(2)]);
        assert_eq!(policy.evaluate(&small).addrs("www", Family::A, None), [v4(1), v4(2)]);
    }
}

#[test]
fn load_ordering_flips_only_after_sustained_large_difference() {
    let mut policy = load_ordered(3);
    let b_better = states(&[("a", up(800, 0)), ("b", up(200, 0))]);
    let equal = states(&[("a", up(500, 0)), ("b", up(500, 0))]);

    // Two evaluations then a blip: the pending order is dropped.
    assert_eq!(policy.evaluate(&b_better).addrs("www", Family::A, None), [v4(1), v4(2)]);
    assert_eq!(policy.evaluate(&b_better).addrs("www", Family::A, None), [v4(1), v4(2)]);
    assert_eq!(policy.evaluate(&equal).addrs("www", Family::A, None), [v4(1), v4(2)]);

    assert_eq!(policy.evaluate(&b_better).addrs("www", Family::A, None), [v4(1), v4(2)]);
    assert_eq!(policy.evaluate(&b_better).addrs("www", Family::A, None), [v4(1), v4(2)]);
    assert_eq!(policy.evaluate(&b_better).addrs("www", Family::A, None), [v4(2), v4(1)]);

    // Sticky: equal load does not move a back ahead.
    for _ in 0..5 {
        assert_eq!(policy.evaluate(&equal).addrs("www", Family::A, None), [v4(2), v4(1)]);
    }
}

#[test]
fn availability_changes_are_not_held_back_by_hysteresis() {
    let mut policy = load_ordered(3);
    let table = policy.evaluate(&states(&[("a", DOWN), ("b", up(900, 0))]));
    assert_eq!(table.addrs("www", Family::A, None), [v4(2)]);
    let table = policy.evaluate(&states(&[("a", up(900, 0)), ("b", up(900, 0))]));
    assert_eq!(table.addrs("www", Family::A, None), [v4(1), v4(2)]);
}

#[test]
fn rtt_ordering_with_hysteresis() {
    let mut service = ServiceConfig::new("www", &["a", "b"]);
    service.by_rtt = Some(RttOrdering::default());
    service.reorder_hold = 2;
    let mut policy = policy(vec![service], &["a", "b"]);

    // 3 ms apart: under the 5 ms absolute margin.
    let close = states(&[("a", up(0, 20_000)), ("b", up(0, 17_000))]);
    for _ in 0..5 {
        assert_eq!(policy.evaluate(&close).addrs("www", Family::A, None), [v4(1), v4(2)]);
    }
    let far = states(&[("a", up(0, 80_000)), ("b", up(0, 10_000))]);
    assert_eq!(policy.evaluate(&far).addrs("www", Family::A, None), [v4(1), v4(2)]);
    assert_eq!(policy.evaluate(&far).addrs("www", Family::A, None), [v4(2), v4(1)]);
}

#[test]
fn load_decides_before_rtt() {
    let mut service = ServiceConfig::new("www", &["a", "b"]);
    service.by_load = Some(LoadOrdering::default());
    service.by_rtt = Some(RttOrdering::default());
    service.reorder_hold = 1;
    let mut policy = policy(vec![service], &["a", "b"]);
    // b is much faster but a is much less loaded: a stays first.
    let table = policy.evaluate(&states(&[("a", up(100, 90_000)), ("b", up(800, 1_000))]));
    assert_eq!(table.addrs("www", Family::A, None), [v4(1), v4(2)]);
    // Loads close: rtt decides.
    let table = policy.evaluate(&states(&[("a", up(500, 90_000)), ("b", up(520, 1_000))]));
    assert_eq!(table.addrs("www", Family::A, None), [v4(2), v4(1)]);
}

#[test]
fn three_sites_sort_by_load_around_an_unavailable_one() {
    let mut service = ServiceConfig::new("www", &["a", "b", "c"]);
    service.by_load = Some(LoadOrdering::default());
    service.reorder_hold = 1;
    let mut policy = policy(vec![service], &["a", "b", "c"]);
    let table = policy.evaluate(&states(&[("a", up(900, 0)), ("b", DOWN), ("c", up(100, 0))]));
    assert_eq!(table.addrs("www", Family::A, None), [v4(3), v4(1)]);
    let table = policy.evaluate(&states(&[("a", up(900, 0)), ("b", up(500, 0)), ("c", up(100, 0))]));
    assert_eq!(table.addrs("www", Family::A, None), [v4(3), v4(2), v4(1)]);
}

#[test]
fn diff_yields_only_changed_entries() {
    let mut service_x = ServiceConfig::new("x", &["a", "b"]);
    service_x.views.insert("eu".into(), vec!["b".into(), "a".into()]);
    let service_y = ServiceConfig::new("y", &["b"]);
    let mut policy = policy(vec![service_x, service_y], &["a", "b"]);

    let before = policy.evaluate(&states(&[("a", up(0, 0)), ("b", up(0, 0))]));
    let same = policy.evaluate(&states(&[("a", up(0, 0)), ("b", up(0, 0))]));
    assert!(diff(&before, &same).is_empty());

    let after = policy.evaluate(&states(&[("a", DOWN), ("b", up(0, 0))]));
    let changes = diff(&before, &after);
    let keys: Vec<(String, Family, Option<String>)> = changes
        .iter()
        .map(|c| (c.key.service.to_string(), c.key.family, c.key.view.as_deref().map(String::from)))
        .collect();
    assert_eq!(
        keys,
        [
            ("x".into(), Family::A, None),
            ("x".into(), Family::A, Some("eu".into())),
            ("x".into(), Family::Aaaa, None),
            ("x".into(), Family::Aaaa, Some("eu".into())),
        ]
    );
    assert!(changes.iter().all(|c| c.decision.as_ref().unwrap().addrs.len() == 1));
}

#[test]
fn diff_reports_removed_entries() {
    let mut with_two = policy(vec![ServiceConfig::new("x", &["a"]), ServiceConfig::new("y", &["a"])], &["a"]);
    let mut with_one = policy(vec![ServiceConfig::new("x", &["a"])], &["a"]);
    let all = states(&[("a", up(0, 0))]);
    let changes = diff(&with_two.evaluate(&all), &with_one.evaluate(&all));
    assert_eq!(changes.len(), 2);
    assert!(changes.iter().all(|DecisionChange { key, decision }| &*key.service == "y" && decision.is_none()));
}

#[test]
fn affected_by_failure_lists_keys_without_changing_state() {
    let services = vec![ServiceConfig::new("x", &["a", "b"]), ServiceConfig::new("y", &["b"])];
    let mut policy = policy(services, &["a", "b"]);
    let all = states(&[("a", up(0, 0)), ("b", up(0, 0))]);
    let before = policy.evaluate(&all);
    let keys = policy.affected_by_failure(&all, "a");
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|key| &*key.service == "x"));
    assert_eq!(policy.evaluate(&all), before);
}

#[test]
fn evaluation_is_deterministic() {
    let mut service = ServiceConfig::new("www", &["a", "b", "c"]);
    service.by_load = Some(LoadOrdering::default());
    let run = || {
        let mut policy = policy(vec![service.clone()], &["a", "b", "c"]);
        (0..5)
            .map(|i| policy.evaluate(&states(&[("a", up(900, 0)), ("b", up(100 * i, 0)), ("c", up(300, 0))])))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn many_services_evaluate() {
    let services: Vec<ServiceConfig> = (0..2_000)
        .map(|i| ServiceConfig::new(format!("svc{i}"), if i % 2 == 0 { &["a", "b"] } else { &["b", "a"] }))
        .collect();
    let mut policy = policy(services, &["a", "b"]);
    let table = policy.evaluate(&states(&[("a", up(0, 0)), ("b", DOWN)]));
    assert_eq!(table.len(), 4_000);
    assert!(table.iter().filter(|(k, _)| k.family == Family::A).all(|(_, a)| a.addrs == [v4(1)]));
}

#[test]
fn config_parses_and_applies_defaults() {
    let config: PolicyConfig = toml::from_str(
        r#"
        [[service]]
        name = "www.example.com"
        sites = ["a", "b"]
        views = { eu = ["b", "a"] }
        by_load = {}
        [service.by_rtt]
        margin_abs_us = 2000
        "#,
    )
    .unwrap();
    let service = &config.services[0];
    assert_eq!(service.ttl, 20);
    assert_eq!(service.when_all_down, WhenAllDown::AnswerAll);
    assert_eq!(service.by_load, Some(LoadOrdering { margin_percent: 20, margin_abs: 100 }));
    assert_eq!(service.by_rtt, Some(RttOrdering { margin_percent: 20, margin_abs_us: 2000 }));
    assert_eq!(service.reorder_hold, 3);
    config.validate(["a", "b"]).unwrap();
}

#[test]
fn config_rejects_unknown_fields() {
    let err = toml::from_str::<PolicyConfig>("[[service]]\nname = \"x\"\nsites = [\"a\"]\nttl_s = 5\n").unwrap_err();
    assert!(err.to_string().contains("ttl_s"), "{err}");
}

#[test]
fn validate_names_the_field() {
    let check =
        |service: ServiceConfig| PolicyConfig { services: vec![service] }.validate(["a", "b"]).unwrap_err().to_string();
    let err = check(ServiceConfig::new("www", &["a", "zz"]));
    assert!(err.contains("service[0] ('www').sites") && err.contains("unknown site 'zz'"), "{err}");

    let err = check(ServiceConfig::new("www", &[]));
    assert!(err.contains(".sites") && err.contains("at least one"), "{err}");

    let err = check(ServiceConfig::new("www", &["a", "a"]));
    assert!(err.contains("listed twice"), "{err}");

    let mut service = ServiceConfig::new("www", &["a"]);
    service.views.insert("eu".into(), vec!["c".into()]);
    assert!(check(service).contains(".views.eu"));

    let mut service = ServiceConfig::new("www", &["a"]);
    service.reorder_hold = 0;
    assert!(check(service).contains(".reorder_hold"));

    let err = PolicyConfig { services: vec![ServiceConfig::new("x", &["a"]), ServiceConfig::new("x", &["b"])] }
        .validate(["a", "b"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("service[1].name") && err.contains("duplicate"), "{err}");
}

fn weighted(weights: &[(&str, u32)]) -> ServiceConfig {
    let mut service = ServiceConfig::new("www", &["a", "b", "c"]);
    service.first_weights = weights.iter().map(|(site, w)| (site.to_string(), *w)).collect();
    service
}

#[test]
fn first_weights_give_each_available_weighted_site_its_address_group() {
    let mut policy = policy(vec![weighted(&[("a", 3), ("c", 1)])], &["a", "b", "c"]);
    let table = policy.evaluate(&states(&[("a", up(0, 0)), ("b", up(0, 0)), ("c", up(0, 0))]));
    let a = table.get("www", Family::A, None).unwrap();
    assert_eq!(a.addrs, [v4(1), v4(2), v4(3)], "the ordered list stays as it was");
    let groups: Vec<(usize, usize, u32)> = a.first.iter().map(|g| (g.start, g.len, g.weight)).collect();
    assert_eq!(groups, [(0, 1, 3), (2, 1, 1)], "b has no weight: never first");

    let table = policy.evaluate(&states(&[("a", DOWN), ("b", up(0, 0)), ("c", up(0, 0))]));
    let a = table.get("www", Family::A, None).unwrap();
    let groups: Vec<(usize, usize, u32)> = a.first.iter().map(|g| (g.start, g.len, g.weight)).collect();
    assert_eq!(groups, [(1, 1, 1)], "an unavailable site drops out of the choice");
}

#[test]
fn first_weights_are_checked_against_the_service() {
    let sites = addresses(&["a", "b", "c", "d"]);
    let refuse = |service: ServiceConfig| {
        Policy::new(&PolicyConfig { services: vec![service] }, &sites).unwrap_err().to_string()
    };
    let mut service = weighted(&[("d", 1)]);
    assert!(refuse(service.clone()).contains("first_weights.d"), "{}", refuse(service.clone()));
    service = weighted(&[("a", 0), ("b", 0)]);
    assert!(refuse(service).contains("every weight is 0"));
    service = weighted(&[("a", 2_000_000)]);
    assert!(refuse(service).contains("over 1000000"));
}
