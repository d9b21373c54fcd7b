//! A veth pair between two namespaces the lab already made (e.g. two sites' DNS servers).
//! Deleting either namespace deletes the pair.

use crate::netns::{Netns, ip, unique};

/// Joins `a` and `b` with 198.18.<subnet>.1 on `a`'s end and .2 on `b`'s.
pub fn join(a: &Netns, b: &Netns, subnet: u8) {
    join_with(a, b, subnet, 1, 2);
}

/// Like `join` but with the last octets chosen (for a third namespace on another subnet).
pub fn join_with(a: &Netns, b: &Netns, subnet: u8, a_host: u8, b_host: u8) {
    let base = unique("sl");
    let (a_if, b_if) = (format!("{base}a"), format!("{base}b"));
    ip(&["link", "add", &a_if, "type", "veth", "peer", "name", &b_if]);
    ip(&["link", "set", &a_if, "netns", &a.name]);
    ip(&["link", "set", &b_if, "netns", &b.name]);
    for (ns, iface, host) in [(a, &a_if, a_host), (b, &b_if, b_host)] {
        ns.ip(&["addr", "add", &format!("198.18.{subnet}.{host}/24"), "dev", iface]);
        ns.ip(&["link", "set", iface, "up"]);
    }
}
