//! The lab's namespaces: a "wan" namespace holding a Linux bridge, one namespace per site and
//! one for the client, each joined to the bridge by a veth pair made directly inside the
//! namespaces (the host's interfaces are never touched).

use aya::programs::{Xdp, XdpMode};
use switchyard_common::program_names;

use super::addresses::{CLIENT4, CLIENT6, PREFIX4, PREFIX6, SITE_A, SITE_B, SitePlan, WAN_IF};
use crate::netns::Netns;

pub struct Topology {
    /// Pass-through XDP programs on the bridge's ends of the sites' links: without them the
    /// frames the daemons' XDP programs send back with XDP_TX would be dropped.
    _pass: Vec<aya::Ebpf>,
    pub site_a: Netns,
    pub site_b: Netns,
    pub client: Netns,
    pub wan: Netns,
}

const BRIDGE: &str = "br0";

impl Topology {
    pub fn new() -> Result<Topology, String> {
        let wan = Netns::new("sywan");
        let site_a = Netns::new("sya");
        let site_b = Netns::new("syb");
        let client = Netns::new("sycl");
        wan.ip(&["link", "add", BRIDGE, "type", "bridge"]);
        wan.ip(&["link", "set", BRIDGE, "up"]);
        let mut topology = Topology { _pass: Vec::new(), site_a, site_b, client, wan };
        for site in [SITE_A, SITE_B] {
            let port = bridge_port(&site);
            topology.attach(topology.site(&site), &port);
            let ns = topology.site(&site);
            for addr in [site.dns4, site.vip4] {
                ns.ip(&["addr", "add", &format!("{addr}/{PREFIX4}"), "dev", WAN_IF]);
            }
            for addr in [site.dns6, site.vip6] {
                ns.ip(&["addr", "add", &format!("{addr}/{PREFIX6}"), "dev", WAN_IF, "nodad"]);
            }
            let pass = topology.pass_program(&port)?;
            topology._pass.push(pass);
        }
        topology.attach(&topology.client, "client");
        topology.client.ip(&["addr", "add", &format!("{CLIENT4}/{PREFIX4}"), "dev", WAN_IF]);
        topology.client.ip(&["addr", "add", &format!("{CLIENT6}/{PREFIX6}"), "dev", WAN_IF, "nodad"]);
        for ns in [&topology.site_a, &topology.site_b, &topology.client] {
            ns.ip(&["link", "set", WAN_IF, "up"]);
        }
        Ok(topology)
    }

    pub fn site(&self, site: &SitePlan) -> &Netns {
        if site.name == SITE_A.name { &self.site_a } else { &self.site_b }
    }

    /// A veth pair: `wan0` inside `ns`, `port` on the bridge.
    fn attach(&self, ns: &Netns, port: &str) {
        crate::netns::ip(&[
            "link",
            "add",
            WAN_IF,
            "netns",
            &ns.name,
            "type",
            "veth",
            "peer",
            "name",
            port,
            "netns",
            &self.wan.name,
        ]);
        self.wan.ip(&["link", "set", port, "master", BRIDGE]);
        self.wan.ip(&["link", "set", port, "up"]);
        // Queries reach the sites' XDP programs with full checksums, as from a wire.
        ns.full_checksums(WAN_IF);
    }

    fn pass_program(&self, port: &str) -> Result<aya::Ebpf, String> {
        let port = port.to_string();
        self.wan.enter(move || {
            let mut ebpf =
                aya::Ebpf::load(switchyard::bpf::XDP_OBJECT).map_err(|e| format!("load the XDP object: {e}"))?;
            let program: &mut Xdp = ebpf
                .program_mut(program_names::PASS)
                .ok_or("no pass program")?
                .try_into()
                .map_err(|e| format!("{e}"))?;
            program.load().map_err(|e| format!("load the pass program: {e}"))?;
            program.attach(&port, XdpMode::Driver).map_err(|e| format!("attach the pass program to {port}: {e}"))?;
            Ok(ebpf)
        })
    }
}

/// The bridge's end of a site's link: "site-a".
pub fn bridge_port(site: &SitePlan) -> String {
    format!("site-{}", site.name)
}
