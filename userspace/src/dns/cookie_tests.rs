//! Cookies through the whole userspace server: what a client sees in the reply.

use std::net::IpAddr;

use hickory_proto::{
    op::{Edns, Message, Query, ResponseCode},
    rr::{Name, RecordType, rdata::opt::EdnsOption},
};
use switchyard_common::{COOKIES_ENABLED, CookieAddr, CookieConfig, EDNS_COOKIE, key_words, server_cookie};

use super::authority::{Authority, Outcome};
use crate::{
    answers::{AnswerController, Views, Zones},
    config::{Config, fixture::ConfigText},
};

const NOW: u32 = 1_800_000_000;
const CLIENT: [u8; 8] = *b"clientck";
const SECRET: [u8; 16] = [0x5a; 16];

fn authority() -> Authority {
    let text = ConfigText::new().xdp_off().zone().fixed_service("www.example.com.", &["198.18.1.1"], &[]).build();
    let config = Config::parse(&text, "test.toml").unwrap();
    let views = Views::from_config(&config);
    let zones = Zones::from_config(&config, &Default::default());
    let served = AnswerController::new(&config, views, zones, &Default::default()).unwrap().served();
    let a = Authority::new(config.server.edns_udp_payload, served).with_clock(|| NOW);
    let secret = key_words(&SECRET);
    a.set_cookies(CookieConfig {
        flags: COOKIES_ENABLED,
        _pad: 0,
        wall_offset_ns: 0,
        current: secret,
        previous: [0; 2],
    });
    a
}

fn query(cookie: Option<Vec<u8>>) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = 77;
    m.add_query(Query::query(Name::from_ascii("www.example.com.").unwrap(), RecordType::A));
    let mut edns = Edns::new();
    if let Some(data) = cookie {
        edns.options_mut().insert(EdnsOption::Unknown(EDNS_COOKIE, data));
    }
    m.set_edns(edns);
    m.to_vec().unwrap()
}

fn ours(timestamp: u32) -> [u8; 16] {
    let addr = CookieAddr::V4([198, 18, 0, 9]);
    server_cookie(&key_words(&SECRET), u64::from_le_bytes(CLIENT), timestamp, &addr).to_bytes()
}

/// The reply, its COOKIE option and whether the query was flagged as carrying a valid one.
fn ask(a: &Authority, dns: &[u8]) -> (Message, Option<Vec<u8>>, bool) {
    let reply = a.respond(dns, "198.18.0.9".parse::<IpAddr>().unwrap(), false);
    let m = Message::from_vec(&reply.bytes.expect("a reply")).unwrap();
    let cookie = m
        .edns
        .as_ref()
        .and_then(|e| e.option(hickory_proto::rr::rdata::opt::EdnsCode::Cookie))
        .map(|o| Vec::<u8>::try_from(o).unwrap());
    (m, cookie, reply.valid_server_cookie)
}

#[test]
fn a_client_cookie_gets_ours_and_the_answer() {
    let a = authority();
    let (m, cookie, valid) = ask(&a, &query(Some(CLIENT.to_vec())));
    assert_eq!(m.answers.len(), 1);
    assert_eq!(cookie, Some([CLIENT.as_slice(), &ours(NOW)].concat()));
    assert!(!valid);
}

#[test]
fn our_valid_cookie_comes_back_and_is_flagged() {
    let a = authority();
    let sent = [CLIENT.as_slice(), &ours(NOW - 60)].concat();
    let (m, cookie, valid) = ask(&a, &query(Some(sent.clone())));
    assert_eq!((m.metadata.response_code, m.answers.len()), (ResponseCode::NoError, 1));
    assert_eq!(cookie, Some(sent), "a recent cookie is sent back as it came");
    assert!(valid);
}

#[test]
fn a_bad_server_cookie_gets_a_fresh_one_and_an_answer() {
    let a = authority();
    let mut forged = ours(NOW);
    forged[12] ^= 0xff;
    let (m, cookie, valid) = ask(&a, &query(Some([CLIENT.as_slice(), &forged].concat())));
    assert_eq!(m.answers.len(), 1);
    assert_eq!(cookie, Some([CLIENT.as_slice(), &ours(NOW)].concat()));
    assert!(!valid);
}

#[test]
fn bad_lengths_get_formerr_with_our_opt_and_no_cookie() {
    let a = authority();
    for len in [0, 5, 9, 15, 41] {
        let reply = a.respond(&query(Some(vec![1; len])), "198.18.0.9".parse().unwrap(), false);
        assert_eq!(reply.outcome, Outcome::FormErr, "length {len}");
        let m = Message::from_vec(&reply.bytes.unwrap()).unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
        let edns = m.edns.expect("our OPT, as other FORMERRs");
        assert!(edns.options().as_ref().is_empty(), "nothing echoed");
    }
}

#[test]
fn no_cookie_in_the_query_none_in_the_reply() {
    let a = authority();
    let (_, cookie, valid) = ask(&a, &query(None));
    assert_eq!((cookie, valid), (None, false));
    a.set_cookies(CookieConfig::default());
    let (_, cookie, _) = ask(&a, &query(Some(CLIENT.to_vec())));
    assert_eq!(cookie, None, "cookies off: the option is ignored");
}

/// A query without a question, with only an OPT record carrying `cookie` (RFC 7873 5.4).
fn questionless(cookie: Option<Vec<u8>>) -> Vec<u8> {
    let mut m = Message::from_vec(&query(cookie)).unwrap();
    m.queries.clear();
    m.to_vec().unwrap()
}

#[test]
fn a_query_with_only_a_client_cookie_gets_noerror_and_ours() {
    let a = authority();
    let (m, cookie, _) = ask(&a, &questionless(Some(CLIENT.to_vec())));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.queries.is_empty() && m.answers.is_empty());
    assert_eq!(cookie, Some([CLIENT.as_slice(), &ours(NOW)].concat()));

    let reply = a.respond(&questionless(None), "198.18.0.9".parse().unwrap(), false);
    assert_eq!(reply.outcome, Outcome::FormErr, "no question and no cookie");
    a.set_cookies(CookieConfig::default());
    let reply = a.respond(&questionless(Some(CLIENT.to_vec())), "198.18.0.9".parse().unwrap(), false);
    assert_eq!(reply.outcome, Outcome::FormErr, "cookies off: a query without a question");
}

#[tokio::test]
async fn secrets_saved_before_a_reload_come_back_whole() {
    use crate::{
        config::CookiesSection,
        cookie_secrets::{CookieKeeper, Secrets},
    };
    let generated = CookiesSection { enabled: true, rotate_secs: Some(3600), secret_file: None };
    let keeper = CookieKeeper::start(Secrets::from_config(&generated).unwrap(), std::sync::Arc::new(authority()));
    let (saved, before) = (keeper.saved(), keeper.published());
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("{}\n", "33".repeat(16))).unwrap();
    keeper.reload(&CookiesSection { rotate_secs: None, secret_file: Some(file.path().into()), ..generated }).unwrap();
    assert_eq!(keeper.published().current, key_words(&[0x33; 16]), "the file's secret in force");
    keeper.restore(saved);
    let after = keeper.published();
    assert_eq!((after.current, after.previous, after.flags), (before.current, before.previous, before.flags));
}
