//! PCs as the kernel knows them: `PCS_V4`/`PCS_V6` entries, their state and group, and
//! the per-slot counters of `PC_STATS`.

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

impl PcState {
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(PcState::Allowed),
            1 => Some(PcState::Blocked),
            2 => Some(PcState::OverQuota),
            _ => None,
        }
    }
}

/// The group a PC belongs to when nobody said otherwise.
pub const DEFAULT_GROUP: u8 = 0;

/// Value of `PCS_V4` / `PCS_V6`, keyed by the PC's address.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcInfo {
    /// Index into `PC_STATS`. Never changes once the entry exists.
    pub slot: u32,
    /// Source MAC of the last frame that created or refreshed the entry (zero if unseen).
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
