//! A server and a client namespace joined by one veth pair, addressed from 198.18.0.0/15 and
//! fd00::/8. The client end carries a pass-through XDP program so that frames the server's XDP
//! program sends back with XDP_TX are delivered, and sends full checksums, as a wire delivers
//! them (the XDP program answers nothing else).

use std::net::{Ipv4Addr, Ipv6Addr};

use aya::programs::{Xdp, XdpMode};
use switchyard_common::program_names;

use crate::netns::{Netns, unique};

pub struct Pair {
    pub server: Netns,
    pub client: Netns,
    pub server_if: String,
    pub client_if: String,
    pub server_v4: Ipv4Addr,
    pub client_v4: Ipv4Addr,
    pub server_v6: Ipv6Addr,
    pub client_v6: Ipv6Addr,
    /// The pass program on the client end; `None` while a load generator brings its own.
    client_xdp: std::sync::Mutex<Option<aya::Ebpf>>,
}

impl Pair {
    /// Builds the pair; `subnet` (0..=255) picks 198.18.<subnet>.0/24 and fd00:<subnet>::/64.
    pub fn new(subnet: u8) -> Pair {
        let server = Netns::new("sys");
        let client = Netns::new("syc");
        let server_if = unique("sy");
        let client_if = format!("{server_if}c");
        let server_if = format!("{server_if}s");
        crate::netns::ip(&["link", "add", &server_if, "type", "veth", "peer", "name", &client_if]);
        crate::netns::ip(&["link", "set", &server_if, "netns", &server.name]);
        crate::netns::ip(&["link", "set", &client_if, "netns", &client.name]);
        let server_v4 = Ipv4Addr::new(198, 18, subnet, 1);
        let client_v4 = Ipv4Addr::new(198, 18, subnet, 2);
        let server_v6: Ipv6Addr = format!("fd00:{subnet:x}::1").parse().unwrap();
        let client_v6: Ipv6Addr = format!("fd00:{subnet:x}::2").parse().unwrap();
        for (ns, iface, v4, v6) in
            [(&server, &server_if, server_v4, server_v6), (&client, &client_if, client_v4, client_v6)]
        {
            ns.ip(&["addr", "add", &format!("{v4}/24"), "dev", iface]);
            ns.ip(&["addr", "add", &format!("{v6}/64"), "dev", iface, "nodad"]);
            ns.ip(&["link", "set", iface, "up"]);
        }
        client.full_checksums(&client_if);
        let pair = Pair {
            server,
            client,
            server_if,
            client_if,
            server_v4,
            client_v4,
            server_v6,
            client_v6,
            client_xdp: Default::default(),
        };
        pair.attach_client_program();
        pair
    }

    /// Additional client address (for locality views): added to the client end.
    pub fn add_client_address(&self, cidr: &str) {
        let mut args = vec!["addr", "add", cidr, "dev", &self.client_if];
        if cidr.contains(':') {
            args.push("nodad");
        }
        self.client.ip(&args);
    }

    /// Attaches the pass program to the client end (again), if it is not there.
    pub fn attach_client_program(&self) {
        let mut slot = self.client_xdp.lock().unwrap();
        if slot.is_none() {
            *slot = Some(self.attach_pass_program());
        }
    }

    /// Detaches the pass program from the client end, for a client that attaches its own
    /// (kxdpgun). Until one is attached again, frames the server sends with XDP_TX are dropped.
    pub fn detach_client_program(&self) {
        self.client_xdp.lock().unwrap().take();
    }

    fn attach_pass_program(&self) -> aya::Ebpf {
        let iface = self.client_if.clone();
        self.client.enter(move || {
            let mut ebpf = aya::Ebpf::load(switchyard::bpf::XDP_OBJECT).expect("load the XDP object");
            let program: &mut Xdp = ebpf.program_mut(program_names::PASS).unwrap().try_into().unwrap();
            program.load().expect("load the pass program");
            program.attach(&iface, XdpMode::Driver).expect("attach the pass program");
            ebpf
        })
    }

    /// Whether an XDP program is attached to the server end.
    pub fn server_has_xdp(&self) -> bool {
        let out = self.server.output("ip", &["link", "show", &self.server_if]);
        String::from_utf8_lossy(&out.stdout).contains("xdp")
    }
}
