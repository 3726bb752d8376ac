//! Devices as the kernel knows them: addresses (`ADDRS_V4`/`ADDRS_V6`) and MACs (`MACS`)
//! pointing at a device's slot, the device's group and state by slot (`DEVICES`), and the
//! per-slot counters of `PC_STATS`. A device is one slot, whatever its addresses.

/// The slot that collects traffic no other slot could take.
pub const UNATTRIBUTED_SLOT: u32 = 0;

/// What a PC may do. Set by the daemon (policy, quotas, manual blocks).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcState {
    Allowed = 0,
    /// Blocked entirely: only traffic to the gateway itself passes.
    Blocked = 1,
    /// Over its traffic limit: only traffic to the gateway itself passes.
    OverQuota = 2,
}

/// A flag on a held (blocked, over-quota) device's state code: the daemon has made the
/// kernel's NAT lead the device's HTTP to the block page (the device's MAC is in the
/// `officegate_held` nftables set), so the datapath passes its TCP to port 80 instead of
/// refusing it. Without the flag a held device's HTTP is refused like the rest: the
/// datapath never passes what nothing would stop.
pub const STATE_PAGE: u8 = 0x80;

impl PcState {
    /// The state of a code, with or without `STATE_PAGE`.
    pub fn from_code(code: u8) -> Option<Self> {
        match code & !STATE_PAGE {
            0 => Some(PcState::Allowed),
            1 => Some(PcState::Blocked),
            2 => Some(PcState::OverQuota),
            _ => None,
        }
    }
}

/// The group a PC belongs to when nobody said otherwise.
pub const DEFAULT_GROUP: u8 = 0;

/// Value of `ADDRS_V4` / `ADDRS_V6`, keyed by an address a device used: which device
/// (its counter slot) and the MAC the address was first seen with. Several addresses
/// (IPv4, IPv6, privacy and link-local addresses, a new DHCP lease) point at one slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddrInfo {
    /// Index into `PC_STATS` and `DEVICES`.
    pub slot: u32,
    /// Source MAC of the first frame seen with this address (zero if not yet seen). A
    /// frame with this address and another MAC is not this device's (spoofing).
    pub mac: [u8; 6],
    pub _pad: [u8; 2],
    /// When a new flow last used the address: `bpf_ktime_get_ns() >> 30` (~seconds of
    /// CLOCK_MONOTONIC), so the daemon can forget addresses no longer used.
    pub seen: u32,
}

/// Value of `DEVICES`, indexed by slot: what one device may do. Written by the daemon
/// (policy, limits, blocks), and by the kernel for a device it meets first.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The MAC the kernel met the device with (zero for a device the daemon declared).
    pub mac: [u8; 6],
    /// Policy group, `< capacity::GROUPS`.
    pub group: u8,
    /// A `PcState` code.
    pub state: u8,
    /// New flows this device sent with an address bound to another device's MAC. Not
    /// atomic: a report, not an account.
    pub spoofed: u32,
    /// 0, or the slot this device now is: a device met under one address whose MAC
    /// turned out to be a listed PC's (its link-local address seen before its listed
    /// one). Its addresses' new flows count on, and follow the rules of, that slot.
    pub alias: u32,
}

/// A MAC as the key of `MACS`: its six bytes in the low bytes of a u64.
#[inline(always)]
pub fn mac_key(mac: [u8; 6]) -> u64 {
    u64::from_le_bytes([mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], 0, 0])
}

/// One address of a device as the daemon reads it: the address entry joined with its
/// device's group and state. (Not a map value.)
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcInfo {
    /// The device's counter slot.
    pub slot: u32,
    /// The MAC the address was seen with (zero if unseen).
    pub mac: [u8; 6],
    /// Policy group, `< capacity::GROUPS`.
    pub group: u8,
    /// A `PcState` code.
    pub state: u8,
}

/// Traffic of one PC address (value of the per-CPU `PC_STATS` array), or of one flow.
/// Bytes are whole frames as the program sees them (Ethernet header included).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Passed from the PC (upload).
    pub up_packets: u64,
    pub up_bytes: u64,
    /// Passed to the PC (download).
    pub down_packets: u64,
    pub down_bytes: u64,
    /// Dropped, either direction.
    pub dropped_packets: u64,
    pub dropped_bytes: u64,
}

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.up_packets += other.up_packets;
        self.up_bytes += other.up_bytes;
        self.down_packets += other.down_packets;
        self.down_bytes += other.down_bytes;
        self.dropped_packets += other.dropped_packets;
        self.dropped_bytes += other.dropped_bytes;
    }
}
