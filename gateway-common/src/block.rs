//! Blocked addresses and ranges (`BLOCK_*`, `BLOCK_CIDR_*`) and the per-group flags
//! (`GROUPS`).

/// Value of the `GROUPS` array, indexed by group id.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupInfo {
    /// `GROUP_HAS_RANGES_*` bits: skip the range trie for groups that have no ranges;
    /// `GROUP_BLOCK_QUIC`.
    pub flags: u32,
}

pub const GROUP_HAS_RANGES_V4: u32 = 1;
pub const GROUP_HAS_RANGES_V6: u32 = 2;
/// The group blocks QUIC (UDP to port 443).
pub const GROUP_BLOCK_QUIC: u32 = 4;

/// Groups a policy may define: each gets one bit of a 64-bit set (`group_bit`), ids
/// 1..=63; id 0 is the implicit `default` group.
pub const MAX_GROUPS: usize = 63;

/// Bit of a group in a blocklist value.
#[inline(always)]
pub const fn group_bit(group: u8) -> u64 {
    1u64 << (group as u32 & 63)
}
