//! Names and addresses of the lab: one flat "wan" (198.18.0.0/24, fd00:5::/64) joining both
//! sites and the client.

/// One site's fixed facts.
#[derive(Clone, Copy, Debug)]
pub struct SitePlan {
    /// "a" or "b": the site's name in configs and answers.
    pub name: &'static str,
    /// The load balancer's frontend: what DNS answers for the service.
    pub vip4: &'static str,
    pub vip6: &'static str,
    /// The DNS server: answers, heartbeats (5300) and database sync.
    pub dns4: &'static str,
    pub dns6: &'static str,
    /// How the site's DNS server learns whether the site's database works.
    pub database_check: DatabaseCheck,
}

/// Where a site's DNS server takes the database's state from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseCheck {
    /// It fetches the database check page itself.
    Page,
    /// It reads HAProxy's own check of that page (backend `dbcheck`) from HAProxy's stats.
    Haproxy,
}

pub const SITE_A: SitePlan = SitePlan {
    name: "a",
    vip4: "198.18.0.10",
    vip6: "fd00:5::10",
    dns4: "198.18.0.11",
    dns6: "fd00:5::11",
    database_check: DatabaseCheck::Page,
};
pub const SITE_B: SitePlan = SitePlan {
    name: "b",
    vip4: "198.18.0.20",
    vip6: "fd00:5::20",
    dns4: "198.18.0.21",
    dns6: "fd00:5::21",
    database_check: DatabaseCheck::Haproxy,
};

pub const CLIENT4: &str = "198.18.0.100";
pub const CLIENT6: &str = "fd00:5::100";

pub const PREFIX4: u8 = 24;
pub const PREFIX6: u8 = 64;

/// The service the story resolves and fetches.
pub const SERVICE: &str = "www.example.com";

/// The interface of each site and of the client on the wan.
pub const WAN_IF: &str = "wan0";

/// Inside a site: the web app instances (loopback) and HAProxy's stats page.
pub const WEB_PORTS: [u16; 2] = [8081, 8082];
pub const STATS: &str = "127.0.0.1:8404";
pub const HEARTBEAT_PORT: u16 = 5300;
pub const SYNC_PORT: u16 = 8053;
/// Each DNS server's metrics and status page, on its own address.
pub const STATUS_PORT: u16 = 9153;

impl SitePlan {
    pub fn other(&self) -> SitePlan {
        if self.name == "a" { SITE_B } else { SITE_A }
    }

    /// "db-a": the database server's name, the keyword of the database check page.
    pub fn db_name(&self) -> String {
        format!("db-{}", self.name)
    }

    pub fn upper(&self) -> String {
        self.name.to_uppercase()
    }
}
