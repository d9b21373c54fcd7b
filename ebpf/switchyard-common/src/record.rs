//! Answer records exactly as the XDP program writes them, so the daemon can store their
//! checksum with each answer set.

use crate::proto::{CLASS_IN, POINTER_TO_QUESTION, QTYPE_AAAA, RECORD_FIXED_LEN, rdata_len};

/// Longest record: the fixed part and an IPv6 address.
pub const MAX_RECORD_LEN: usize = RECORD_FIXED_LEN + 16;

/// Length of one answer record as the XDP program writes it: owner pointer, type, class, TTL,
/// RDLENGTH, RDATA.
pub const fn record_len(qtype: u16) -> usize {
    RECORD_FIXED_LEN + rdata_len(qtype)
}

/// The part of an answer record before the address: owner (a pointer to the question name), type,
/// class IN, TTL, RDLENGTH. The same for every address of an answer set.
#[inline(always)]
pub fn record_prefix(qtype: u16, ttl: u32) -> [u8; RECORD_FIXED_LEN] {
    let rdlen = rdata_len(qtype) as u16;
    let (o, t, c) = (POINTER_TO_QUESTION.to_be_bytes(), qtype.to_be_bytes(), CLASS_IN.to_be_bytes());
    let (l, r) = (ttl.to_be_bytes(), rdlen.to_be_bytes());
    [o[0], o[1], t[0], t[1], c[0], c[1], l[0], l[1], l[2], l[3], r[0], r[1]]
}

/// Renders one answer record exactly as it goes on the wire (the first `record_len` bytes of
/// `out`). Both sides build records from `record_prefix`, so the stored checksum matches the
/// written bytes.
#[inline(always)]
pub fn render_record(qtype: u16, ttl: u32, addr: &[u8; 16], out: &mut [u8; MAX_RECORD_LEN]) {
    out[..RECORD_FIXED_LEN].copy_from_slice(&record_prefix(qtype, ttl));
    out[RECORD_FIXED_LEN..].copy_from_slice(addr);
}

const _: () = assert!(record_len(QTYPE_AAAA) == MAX_RECORD_LEN && record_len(crate::proto::QTYPE_A) == 16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_point_at_the_question_and_say_their_length() {
        let mut out = [0u8; MAX_RECORD_LEN];
        render_record(QTYPE_AAAA, 300, &[0x20; 16], &mut out);
        assert_eq!(&out[..RECORD_FIXED_LEN], b"\xc0\x0c\x00\x1c\x00\x01\x00\x00\x01\x2c\x00\x10");
        assert_eq!(&record_prefix(crate::proto::QTYPE_A, 30)[..], b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x1e\x00\x04");
    }
}
