//! Weighted first answer: which group of an answer's addresses (one site's) a client gets
//! first, the rest following in their order. The choice hashes the client's subnet (/24 for
//! IPv4, /56 for IPv6) into one of `BUCKETS` buckets, so every client of a subnet gets the same
//! first site and the subnets spread over the sites by weight. The XDP program and userspace
//! both use these functions, so a query gets the same order on either path.

use crate::maps::MAX_ADDRS;

/// Buckets a client hash falls into; weights are scaled to them.
pub const BUCKETS: u32 = 1 << 16;
/// Bytes of the client address hashed: its /24 ...
pub const CLIENT_PREFIX_V4: usize = 3;
/// ... or its /56.
pub const CLIENT_PREFIX_V6: usize = 7;

/// The groups an answer's first address is chosen from, and their weights as bounds.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstChoice {
    /// Group `i` is first for buckets from `bounds[i - 1]` (0 for the first) below `bounds[i]`.
    pub bounds: [u32; MAX_ADDRS],
    /// For each group, the answer's order with that group first: `orders[g][i]` is the index of
    /// the address answered at position `i`. Written out here so that the XDP program reads an
    /// index instead of branching per record, which the verifier would explore path by path.
    pub orders: [[u8; MAX_ADDRS]; MAX_ADDRS],
    /// Groups in use; 0 keeps the stored order for every client.
    pub groups: u8,
    pub _pad: [u8; 7],
}

/// The answer's addresses in the order they are stored.
pub const STORED_ORDER: [u8; MAX_ADDRS] = {
    let mut order = [0u8; MAX_ADDRS];
    let mut i = 0;
    while i < MAX_ADDRS {
        order[i] = i as u8;
        i += 1;
    }
    order
};

impl FirstChoice {
    /// Every client gets the stored order.
    pub const NONE: FirstChoice =
        FirstChoice { bounds: [0; MAX_ADDRS], orders: [STORED_ORDER; MAX_ADDRS], groups: 0, _pad: [0; 7] };

    /// From `(start, len, weight)` per group; groups of weight 0 are never first. `None` when
    /// there are more than `MAX_ADDRS` groups of weight above 0, or none, or a group reaches
    /// beyond the first `MAX_ADDRS` addresses (the orders cover those).
    pub fn new(groups: &[(u8, u8, u32)]) -> Option<FirstChoice> {
        let total: u64 = groups.iter().map(|&(_, _, weight)| u64::from(weight)).sum();
        let weighted = groups.iter().filter(|&&(_, len, weight)| weight > 0 && len > 0);
        let beyond = groups.iter().any(|&(start, len, _)| usize::from(start) + usize::from(len) > MAX_ADDRS);
        if total == 0 || beyond || weighted.clone().count() > MAX_ADDRS {
            return None;
        }
        let mut choice = FirstChoice::NONE;
        let mut cumulative = 0u64;
        for (slot, &(start, len, weight)) in weighted.enumerate() {
            cumulative += u64::from(weight);
            choice.bounds[slot] = (cumulative * u64::from(BUCKETS) / total) as u32;
            for (i, index) in choice.orders[slot].iter_mut().enumerate() {
                *index = answer_source(i, start as usize, len as usize) as u8;
            }
            choice.groups += 1;
        }
        Some(choice)
    }

    /// The order for a client in `bucket` of an answer of `count` addresses: its group's, or
    /// the stored order when no group takes the bucket or the group's order does not fit.
    #[inline(always)]
    pub fn order_for(&self, bucket: u32, count: usize) -> [u8; MAX_ADDRS] {
        let groups = self.groups as usize;
        for g in 0..MAX_ADDRS {
            if g >= groups {
                break;
            }
            if bucket < self.bounds[g] {
                let order = self.orders[g];
                return if fits(&order, count) { order } else { STORED_ORDER };
            }
        }
        STORED_ORDER
    }
}

/// Whether the first `count` positions of `order` name addresses below `count`.
#[inline(always)]
fn fits(order: &[u8; MAX_ADDRS], count: usize) -> bool {
    for (i, index) in order.iter().enumerate() {
        if i >= count {
            break;
        }
        if *index as usize >= count {
            return false;
        }
    }
    true
}

/// The address index answered at position `i`: the chosen group's addresses first, then those
/// before it, then those after it, each in stored order. `len == 0` is the stored order.
#[inline(always)]
pub fn answer_source(i: usize, start: usize, len: usize) -> usize {
    if i < len {
        start + i
    } else if i < start + len {
        i - len
    } else {
        i
    }
}

/// The bucket of an IPv4 client: a hash of its /24.
#[inline(always)]
pub fn client_bucket_v4(addr: [u8; 4]) -> u32 {
    let subnet = u64::from(addr[0]) << 16 | u64::from(addr[1]) << 8 | u64::from(addr[2]);
    bucket(subnet | 4 << 56)
}

/// The bucket of an IPv6 client: a hash of its /56.
#[inline(always)]
pub fn client_bucket_v6(addr: [u8; 16]) -> u32 {
    let mut subnet = 0u64;
    for byte in &addr[..CLIENT_PREFIX_V6] {
        subnet = subnet << 8 | u64::from(*byte);
    }
    bucket(subnet | 6 << 56)
}

/// A 64-bit finaliser (MurmurHash3's fmix64): neighbouring subnets land far apart.
#[inline(always)]
fn bucket(mut x: u64) -> u32 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    (x >> 48) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chosen_group_moves_to_the_front_and_the_rest_keep_their_order() {
        // Addresses a0 a1 | b0 | c0 c1: choosing c gives c0 c1 a0 a1 b0.
        let order: [usize; 5] = core::array::from_fn(|i| answer_source(i, 3, 2));
        assert_eq!(order, [3, 4, 0, 1, 2]);
        let stored: [usize; 5] = core::array::from_fn(|i| answer_source(i, 0, 0));
        assert_eq!(stored, [0, 1, 2, 3, 4]);
        let first: [usize; 5] = core::array::from_fn(|i| answer_source(i, 0, 2));
        assert_eq!(first, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn bounds_follow_the_weights_and_zero_weights_are_never_first() {
        let choice = FirstChoice::new(&[(0, 2, 3), (2, 1, 0), (3, 1, 1)]).unwrap();
        assert_eq!(choice.groups, 2);
        assert_eq!(&choice.bounds[..2], &[BUCKETS * 3 / 4, BUCKETS]);
        assert_eq!(choice.order_for(0, 4)[..4], [0, 1, 2, 3]);
        assert_eq!(choice.order_for(BUCKETS * 3 / 4, 4)[..4], [3, 0, 1, 2]);
        assert_eq!(choice.order_for(BUCKETS - 1, 4)[..4], [3, 0, 1, 2]);
        assert_eq!(choice.order_for(BUCKETS - 1, 3), STORED_ORDER, "a group beyond the answer is ignored");
        assert!(FirstChoice::new(&[(0, 1, 0)]).is_none());
        assert!(FirstChoice::new(&[(0, 4, 1), (4, 5, 1)]).is_none(), "a group beyond the eighth address");
    }

    #[test]
    fn clients_of_one_subnet_share_a_bucket() {
        assert_eq!(client_bucket_v4([198, 18, 7, 1]), client_bucket_v4([198, 18, 7, 254]));
        assert_ne!(client_bucket_v4([198, 18, 7, 1]), client_bucket_v4([198, 18, 8, 1]));
        let mut a = [0u8; 16];
        a[0] = 0xfd;
        let mut b = a;
        b[7] = 9;
        assert_eq!(client_bucket_v6(a), client_bucket_v6(b), "same /56");
        b[6] = 1;
        assert_ne!(client_bucket_v6(a), client_bucket_v6(b));
    }
}
