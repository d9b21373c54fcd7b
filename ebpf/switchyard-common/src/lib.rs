//! What the XDP program and the daemon must agree on: the maps' key and value layouts, the
//! packed question name and its hash, the answer records and their checksum, the outcome
//! counters, and the wire-format constants of the protocols the program parses.
//!
//! Every map type is `#[repr(C)]` with explicit padding so that both sides agree on the bytes.
#![cfg_attr(not(test), no_std)]

mod checksum;
mod counters;
mod first_choice;
mod maps;
mod name;
pub mod proto;
mod record;

pub use checksum::{fold, fold_swapped, ones_complement_sum, word_sum_swapped};
pub use counters::Counter;
pub use first_choice::{
    BUCKETS, CLIENT_PREFIX_V4, CLIENT_PREFIX_V6, FirstChoice, STORED_ORDER, answer_source, client_bucket_v4,
    client_bucket_v6,
};
pub use maps::VIEW_PREFIXES;
pub use maps::{
    DEFAULT_VIEW, FLAG_ENABLED, FLAG_HAS_VIEWS, InterfaceMac, MAX_ADDRS, MAX_XDP_INTERFACES, MapEntry, MapKey, OwnMacs,
    Scratch, XdpConfig, local_addr, map_names, program_names,
};
pub use name::{MAX_NAME_LEN, NAME_HASH_SEED, NAME_WORDS, PackedName, lowercase_word, mix_word};
/// The record types the answer map holds.
pub use proto::{QTYPE_A, QTYPE_AAAA};
pub use record::{MAX_RECORD_LEN, record_len, record_prefix, render_record};
