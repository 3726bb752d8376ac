//! Codes counted by the kernel and named by the daemon: why a packet was dropped
//! (`DROPS`) and datapath events (`STATS`). Never renumbered: a retired code keeps its
//! number and its slot stays unused.

/// Why a packet was dropped. Index into the `DROPS` per-CPU array.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Not dropped. Kept as code 0 so a zeroed flow entry means "pass".
    None = 0,
    /// The remote address is in the exact blocklist for the PC's group.
    BlockedAddress = 1,
    /// The remote address is inside a blocked range for the PC's group.
    BlockedRange = 2,
    /// The PC is blocked entirely (by hand or by schedule).
    PcBlocked = 3,
    /// The PC is over its traffic limit.
    PcOverQuota = 4,
    /// A header claimed more bytes than the frame holds, or made no sense.
    Malformed = 5,
    /// QUIC (UDP to port 443) from a PC whose group blocks it, so browsers use TCP, where
    /// the site's name is seen.
    Quic = 6,
}

impl DropReason {
    /// Size of the `DROPS` array; room for codes not yet defined.
    pub const SLOTS: u32 = 16;
    pub const ALL: [DropReason; 7] = [
        DropReason::None,
        DropReason::BlockedAddress,
        DropReason::BlockedRange,
        DropReason::PcBlocked,
        DropReason::PcOverQuota,
        DropReason::Malformed,
        DropReason::Quic,
    ];

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| *r as u8 == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            DropReason::None => "none",
            DropReason::BlockedAddress => "blocked_address",
            DropReason::BlockedRange => "blocked_range",
            DropReason::PcBlocked => "pc_blocked",
            DropReason::PcOverQuota => "pc_over_quota",
            DropReason::Malformed => "malformed",
            DropReason::Quic => "quic",
        }
    }
}

/// Datapath events worth counting. Index into the `STATS` per-CPU array.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stat {
    /// Frames that are neither IPv4, IPv6 nor ARP (passed, uncounted per PC).
    NonIp = 0,
    /// A new PC address found no free counter slot and was counted in slot 0.
    SlotsExhausted = 1,
    /// Packets that had to evaluate policy (first packet of a flow on a CPU, or after a
    /// policy change). The rest took the flow cache.
    FlowMiss = 2,
    /// IPv4 fragments after the first (no ports; counted on a port-0 flow).
    Fragment = 3,
    /// VLAN tags seen (a double-tagged frame counts two).
    Vlan = 4,
    /// ARP frames attributed to a PC.
    Arp = 5,
    /// Multicast/broadcast IP destinations on egress, which belong to no single PC.
    EgressMulticast = 6,
    /// Egress packets whose headers could not be read (e.g. beyond the pullable part of
    /// the skb): passed uncounted rather than dropped.
    EgressUnparsed = 7,
    /// Opening packets of TCP connections (TLS ClientHello, HTTP request) handed to the
    /// daemon to name the flow's site.
    Sniffed = 8,
    /// … and those lost because the ring buffer was full.
    SniffLost = 9,
    /// Dropped TCP segments answered with a reset from the datapath (fail fast).
    Resets = 10,
    /// New flows sent with an address bound to another device's MAC: counted on the
    /// sender's own device, with its own rights (see `DeviceInfo::spoofed`).
    Spoofed = 11,
}

impl Stat {
    pub const SLOTS: u32 = 16;
    pub const ALL: [Stat; 12] = [
        Stat::NonIp,
        Stat::SlotsExhausted,
        Stat::FlowMiss,
        Stat::Fragment,
        Stat::Vlan,
        Stat::Arp,
        Stat::EgressMulticast,
        Stat::EgressUnparsed,
        Stat::Sniffed,
        Stat::SniffLost,
        Stat::Resets,
        Stat::Spoofed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stat::NonIp => "non_ip",
            Stat::SlotsExhausted => "slots_exhausted",
            Stat::FlowMiss => "flow_miss",
            Stat::Fragment => "fragment",
            Stat::Vlan => "vlan",
            Stat::Arp => "arp",
            Stat::EgressMulticast => "egress_multicast",
            Stat::EgressUnparsed => "egress_unparsed",
            Stat::Sniffed => "sniffed",
            Stat::SniffLost => "sniff_lost",
            Stat::Resets => "resets",
            Stat::Spoofed => "spoofed",
        }
    }
}
