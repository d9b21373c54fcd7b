//! What the XDP program and the daemon must agree on: the maps' key and value layouts, the
//! packed question name and its hash, the answer records and their checksum, the outcome
//! counters, and the wire-format constants of the protocols the program parses.
//!
//! Every map type is `#[repr(C)]` with explicit padding so that both sides agree on the bytes.
#![cfg_attr(not(test), no_std)]

mod checksum;
mod cookie;
mod counters;
mod first_choice;
mod local_summary;
mod maps;
mod name;
pub mod proto;
mod record;
mod rrl;
mod signature;
mod siphash;
mod slot_parts;
mod tick_clock;

pub use checksum::{fold, fold_swapped, ones_complement_sum, word_sum_swapped};
pub use cookie::{
    CLIENT_COOKIE_LEN, COOKIE_CLIENT_ONLY_LEN, COOKIE_LIFETIME_SECS, COOKIE_MAX_AHEAD_SECS, COOKIE_MAX_LEN,
    COOKIE_MIN_WITH_SERVER_LEN, COOKIE_REFRESH_AFTER_SECS, COOKIE_REPLY_LEN, COOKIE_VERSION, COOKIES_ENABLED,
    COOKIES_HAS_PREVIOUS, CookieAddr, CookieCheck, CookieConfig, CookieHash, EDNS_COOKIE, OwnSipHash,
    SERVER_COOKIE_LEN, ServerCookie, check as check_cookie, cookie_len_ok, cookie_verdict, reply_after, reply_cookie,
    server_cookie, server_cookie_by,
};
pub use counters::Counter;
pub use first_choice::{
    BUCKETS, CLIENT_PREFIX_V4, CLIENT_PREFIX_V6, FirstChoice, STORED_ORDER, answer_source, client_bucket_v4,
    client_bucket_v6,
};
pub use local_summary::{LocalSummary, ServedMemo};
pub use maps::{
    AnswerCopy, AnswerSlot, DEFAULT_VIEW, FLAG_ENABLED, FLAG_HAS_VIEWS, InterfaceMac, MAX_ADDRS, MAX_XDP_INTERFACES,
    MapEntry, MapKey, NAME_HEAD_WORDS, OwnMacs, Scratch, XdpConfig, local_addr, map_names, program_names,
};
pub use maps::{
    NOT_PARKED, PROBE_SLOTS, SLOT_EMPTY, SLOT_MASK_GLOBAL, SLOT_REMOVED, SLOT_USED, VIEW_PREFIXES, answer_slots,
    home_slot, slot_of_hash,
};
pub use name::{MAX_NAME_LEN, NAME_HASH_SEED, NAME_WORDS, PackedName, lowercase_word, mix_word};
/// The record types the answer map holds.
pub use proto::{QTYPE_A, QTYPE_AAAA};
pub use record::{MAX_RECORD_LEN, record_len, record_prefix, render_record};
pub use rrl::{RRL_ENABLED, RrlBucket, RrlConfig, RrlKey, RrlVerdict, rrl_key_v4, rrl_key_v6};
pub use signature::{
    MAX_SIGNATURE_LEN, MAX_SIGNATURE_RECORD, SIGNATURE_SIDE, SIGNATURE_WORDS, SignatureEntry, signature_place,
};
pub use siphash::{SipHash24, key_words, siphash24};
pub use slot_parts::{SLOT_HEAD_BYTES, SLOT_TAIL_BYTES, SlotHead, SlotTail, slot_at};
pub use tick_clock::TickClock;
