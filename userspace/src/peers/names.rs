//! What a site or node name may be: it travels in every heartbeat, so short plain ASCII.

/// Longest site or node name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

pub fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-')
}
