//! The kernel side as seen from userspace: loading and attaching the XDP program, pinning its
//! maps, writing answers, MACs and local addresses into them and reading its counters.
pub mod answer_map;
pub mod answer_slots;
pub mod batch_update;
pub mod counters;
pub mod datapath;
pub mod ingress;
pub mod link_detach;
pub mod links;
pub mod local_maps;
pub mod pins;
pub mod prefix_trie;
pub mod presign;
pub mod rrl_maps;
pub mod signature_places;
pub mod signatures;
pub mod stamp;
pub mod test_run;
pub mod veth;
pub mod writer;

/// The XDP object, built for bpfel-unknown-none and embedded at compile time.
pub static XDP_OBJECT: &[u8] = aya::include_bytes_aligned!(env!("SWITCHYARD_XDP_OBJECT"));
