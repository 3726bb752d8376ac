//! Capacities. Exact-address blocklists are hash maps because a hash lookup costs the
//! same at 1M entries as at 10 (~40 ns); ranges go to a small LPM trie, whose lookup
//! grows with its size (~130 ns at 1k entries, ~1 µs at 1M).

/// Blocked IPv4 addresses (2^20 ≥ 1,000,000; the kernel rounds buckets to 2^n anyway).
pub const BLOCK_V4: u32 = 1 << 20;
pub const BLOCK_V6: u32 = 1 << 18;
pub const BLOCK_CIDR: u32 = 16_384;
/// Device addresses (one entry per address: IPv4, global IPv6, privacy, link-local).
/// Full, a new address is still its device's by MAC, only not listed.
pub const PCS: u32 = 65_536;
/// Devices by MAC.
pub const MACS: u32 = 65_536;
/// Counter slots. Slot 0 collects traffic of addresses that found no free slot.
pub const PC_SLOTS: u32 = 65_536;
/// Slots `[1, LEARNED_SLOT_BASE)` are given by the daemon to PCs it knows from its
/// configuration; slots `[LEARNED_SLOT_BASE, PC_SLOTS)` are taken by the kernel for
/// devices it meets first (from `FREE_SLOTS`, which the daemon refills). Two ranges, so neither side ever races the other for one.
pub const LEARNED_SLOT_BASE: u32 = 16_384;
/// Entries of `FREE_SLOTS`: the whole kernel range.
pub const FREE_SLOTS: u32 = PC_SLOTS - LEARNED_SLOT_BASE;
/// Flows per CPU: `2^FLOW_SET_BITS_*` sets of `FLOW_WAYS` flows each.
pub const FLOWS_V4: u32 = (1 << FLOW_SET_BITS_V4) * crate::FLOW_WAYS as u32;
pub const FLOWS_V6: u32 = (1 << FLOW_SET_BITS_V6) * crate::FLOW_WAYS as u32;
pub const FLOW_SET_BITS_V4: u32 = 15;
pub const FLOW_SET_BITS_V6: u32 = 14;
pub const GATEWAY_ADDRS: u32 = 64;
/// Policy groups. A blocked address carries a bit mask of the groups it is blocked
/// for, so one lookup answers for every group.
pub const GROUPS: u32 = 64;
/// WAN interfaces counted (`WAN`, keyed by ifindex).
pub const WAN_LINKS: u32 = 32;
/// Bytes of the `SNIFF` ring buffer: ~680 captured packets in flight (a page multiple,
/// as the kernel requires).
pub const SNIFF_RING: u32 = 1 << 20;
