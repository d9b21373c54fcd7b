//! The XDP program loaded (unpinned, unattached) beside the userspace authority built from the
//! same config and table, so one query can be put to both.

use std::{net::IpAddr, sync::Arc};

use arc_swap::ArcSwap;
use switchyard::bpf::local_maps::LocalTable;
use switchyard::{
    answers::{AnswerTable, Served, Views, Zones},
    bpf::{
        datapath::Datapath,
        test_run::{self, TestRun},
        writer::{MapWriter, WriteStats},
    },
    config::Config,
    dns::authority::Authority,
};
use switchyard_common::{XdpConfig, local_addr, program_names};

use crate::frames::{SERVER_MAC, SERVER_SUBNET_BROADCAST, SERVER_V4, SERVER_V6};

pub struct XdpHarness {
    pub datapath: Datapath,
    pub authority: Authority,
    pub write_stats: WriteStats,
    served: Arc<ArcSwap<Served>>,
}

impl XdpHarness {
    /// Loads the program and fills its maps from `table` and `views`; `config` supplies zones.
    pub fn new(config_toml: &str, table: AnswerTable, views: Views) -> XdpHarness {
        XdpHarness::with_max_entries(config_toml, table, views, 4096)
    }

    /// Like `new`, with room for `max_entries` answer sets.
    pub fn with_max_entries(config_toml: &str, table: AnswerTable, views: Views, max_entries: u32) -> XdpHarness {
        let config = Config::parse(config_toml, "harness.toml").expect("harness config");
        let mut datapath = Datapath::load(None, max_entries).expect("load the XDP object (root needed)");
        datapath.set_views(&views).expect("views");
        let zones = Arc::new(Zones::from_config(&config, &Default::default()));
        // Answer sets of signed zones are signed as the daemon signs them.
        let mut writer = MapWriter::default();
        writer.set_signers(zones.signers());
        let write_stats =
            writer.write_signed(&mut datapath.answer_maps().unwrap(), &table).expect("write answers and signatures");
        addressed_like_the_frames(&mut datapath);
        datapath
            .set_config(XdpConfig {
                dns_port: config.server.dns_port,
                edns_udp_payload: config.server.edns_udp_payload,
                flags: switchyard_common::FLAG_ENABLED,
                stale_after_ns: XdpConfig::NEVER_STALE,
            })
            .expect("config");
        let served = Arc::new(ArcSwap::from_pointee(Served::new(zones, Arc::new(views), table)));
        let authority = Authority::new(config.server.edns_udp_payload, served.clone());
        XdpHarness { datapath, authority, write_stats, served }
    }

    /// The zones userspace serves (their signers are the ones the maps were signed with).
    pub fn zones(&self) -> Arc<Zones> {
        self.served.load().zones.clone()
    }

    /// Has userspace serve these zones from now on (the maps are the caller's to rewrite).
    pub fn set_zones(&self, zones: Arc<Zones>) {
        let now = self.served.load();
        self.served.store(Arc::new(Served::new(zones, now.views.clone(), now.table.clone())));
    }

    /// Has userspace serve `table` from now on (the maps are the caller's to rewrite).
    pub fn set_table(&self, table: AnswerTable) {
        let now = self.served.load();
        self.served.store(Arc::new(Served::new(now.zones.clone(), now.views.clone(), table)));
    }

    /// Gives both paths these server cookie secrets (off until called).
    pub fn set_cookies(&mut self, cookies: switchyard_common::CookieConfig) {
        self.datapath.set_cookies(cookies).expect("cookie map");
        self.authority.set_cookies(cookies);
    }

    /// Runs the responder once on `frame`.
    pub fn run(&mut self, frame: &[u8]) -> std::io::Result<TestRun> {
        let program = self.datapath.program(program_names::RESPONDER).expect("responder");
        test_run::run(program, frame, 1)
    }

    /// What the userspace server answers to this DNS message from `client` over UDP.
    pub fn userspace(&self, dns: &[u8], client: IpAddr) -> Option<Vec<u8>> {
        self.authority.respond(dns, client, false).bytes
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.datapath.counters().unwrap().into_iter().find(|(n, _)| *n == name).map(|(_, v)| v).expect("counter name")
    }
}

/// Writes what the daemon would for a host that owns the frames' server MAC and addresses: a
/// test run's frame arrives on the loopback interface of the caller's namespace.
fn addressed_like_the_frames(datapath: &mut Datapath) {
    // SAFETY: a NUL-terminated name.
    let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
    assert_ne!(lo, 0, "the loopback interface");
    let maps = datapath.local_maps().expect("local maps not yet handed on");
    maps.set_macs(&[(lo, SERVER_MAC)]).expect("write the MAC");
    let mut table = LocalTable::default();
    table.v4.insert(SERVER_V4.parse().unwrap(), local_addr::SERVED);
    table.v4.insert(SERVER_SUBNET_BROADCAST.parse().unwrap(), local_addr::BROADCAST);
    table.v6.insert(SERVER_V6.parse().unwrap(), local_addr::SERVED);
    maps.set_addresses(&table).expect("write the local addresses");
}
