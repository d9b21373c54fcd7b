//! XDP on a veth. A reply the program sends back with XDP_TX in native mode crosses to the peer
//! only when the peer has an XDP program of its own in native mode (that is what runs the
//! peer's receive queue for XDP frames); otherwise the veth drops it, counts it in its own
//! statistics and nobody else sees it. Generic (skb) mode queues the reply like any other
//! frame, whatever the peer runs. So `auto` picks generic mode on a veth, and a forced native
//! mode is attached with a warning unless the peer is seen to have a program.

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkInfo, LinkMessage, LinkXdp, XdpAttached};

use crate::config::XdpMode;

/// What the kernel says of an interface XDP is to be attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    NotVeth,
    /// A veth whose peer is in this network namespace: whether it has a native XDP program.
    Veth {
        peer_has_native_xdp: bool,
    },
    /// A veth whose peer is in another network namespace, which cannot be looked at from here.
    VethPeerElsewhere,
}

/// The mode to attach `iface` in, with the warning to log; an interface netlink cannot show
/// is attached as configured (attaching then says what is wrong).
pub async fn attach_mode(iface: &str, configured: XdpMode) -> (XdpMode, Option<String>) {
    match inspect(iface).await {
        Ok(found) => choose_mode(iface, configured, found),
        Err(_) => (configured, None),
    }
}

/// The mode to attach in, and a warning to log (and `check` to print) when replies may be lost.
pub fn choose_mode(iface: &str, configured: XdpMode, found: Interface) -> (XdpMode, Option<String>) {
    match (configured, found) {
        (XdpMode::Auto, Interface::Veth { .. } | Interface::VethPeerElsewhere) => (XdpMode::Skb, None),
        (XdpMode::Native, Interface::Veth { peer_has_native_xdp: false }) => {
            (XdpMode::Native, Some(format!("{iface} is a veth whose peer has no native XDP program: {}", LOST)))
        }
        (XdpMode::Native, Interface::VethPeerElsewhere) => (
            XdpMode::Native,
            Some(format!(
                "{iface} is a veth whose peer is in another network namespace: unless the peer has a native XDP program, {}",
                LOST
            )),
        ),
        (mode, _) => (mode, None),
    }
}

const LOST: &str = "answers sent with XDP_TX in native mode never reach it (attach any native XDP \
                    program to the peer, e.g. one that passes every frame, or set [xdp] mode = \"skb\" or \"auto\")";

/// Looks `iface` up over netlink.
pub async fn inspect(iface: &str) -> Result<Interface, String> {
    let (connection, handle, _) = rtnetlink::new_connection().map_err(|e| format!("netlink: {e}"))?;
    let connection = tokio::spawn(connection);
    let result = async {
        let link = first(handle.link().get().match_name(iface.to_string())).await?;
        if !is_veth(&link) {
            return Ok(Interface::NotVeth);
        }
        let peer_elsewhere = link.attributes.iter().any(|a| matches!(a, LinkAttribute::LinkNetNsId(_)));
        let peer = link.attributes.iter().find_map(|a| match a {
            LinkAttribute::Link(index) => Some(*index),
            _ => None,
        });
        match peer {
            Some(index) if !peer_elsewhere => {
                let peer = first(handle.link().get().match_index(index)).await?;
                Ok(Interface::Veth { peer_has_native_xdp: has_native_xdp(&peer) })
            }
            _ => Ok(Interface::VethPeerElsewhere),
        }
    }
    .await;
    connection.abort();
    result
}

async fn first(request: rtnetlink::LinkGetRequest) -> Result<LinkMessage, String> {
    request.execute().try_next().await.map_err(|e| format!("netlink: {e}"))?.ok_or_else(|| "no such interface".into())
}

fn is_veth(link: &LinkMessage) -> bool {
    link.attributes.iter().any(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().any(|i| matches!(i, LinkInfo::Kind(InfoKind::Veth))),
        _ => false,
    })
}

fn has_native_xdp(link: &LinkMessage) -> bool {
    link.attributes.iter().any(|a| match a {
        LinkAttribute::Xdp(xdp) => xdp.iter().any(|x| {
            matches!(x, LinkXdp::Attached(XdpAttached::Driver)) || matches!(x, LinkXdp::DrvProgId(id) if *id != 0)
        }),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_generic_on_a_veth_and_native_elsewhere_stays_as_configured() {
        let veth = Interface::Veth { peer_has_native_xdp: true };
        assert_eq!(choose_mode("v", XdpMode::Auto, veth), (XdpMode::Skb, None));
        assert_eq!(choose_mode("v", XdpMode::Auto, Interface::VethPeerElsewhere), (XdpMode::Skb, None));
        assert_eq!(choose_mode("eth1", XdpMode::Auto, Interface::NotVeth), (XdpMode::Auto, None));
        assert_eq!(choose_mode("v", XdpMode::Native, veth), (XdpMode::Native, None));
        assert_eq!(choose_mode("v", XdpMode::Skb, Interface::NotVeth), (XdpMode::Skb, None));
    }

    #[test]
    fn native_on_a_veth_without_a_program_on_its_peer_is_attached_with_a_warning() {
        let (mode, warning) = choose_mode("v0", XdpMode::Native, Interface::Veth { peer_has_native_xdp: false });
        assert_eq!(mode, XdpMode::Native);
        let warning = warning.expect("a warning");
        assert!(warning.contains("v0 is a veth") && warning.contains("never reach"), "{warning}");
        let (_, warning) = choose_mode("v0", XdpMode::Native, Interface::VethPeerElsewhere);
        assert!(warning.expect("a warning").contains("another network namespace"));
    }
}
