//! Types shared by Officegate's kernel programs (`gateway-ebpf`) and its daemon (`gateway`).
//!
//! Everything that crosses the kernel/user boundary is defined here once: map names, map
//! keys and values, drop-reason and statistic codes. Keys and values are `#[repr(C)]` with
//! no implicit padding (explicit `_pad` fields exist only for that), so that the kernel's
//! hash of a key never depends on uninitialised bytes.
//!
//! Codes are never renumbered: a retired code keeps its number and its slot stays unused.
#![no_std]

/// Names of the pinned maps. They are the ELF symbol names of the maps in `gateway-ebpf`
/// and the file names under the pin directory. The `_V1` era is implicit: a change of a
/// key or value layout must give the map a new name, or a restarted daemon would reuse an
/// old pinned map with the wrong layout.
pub mod maps {
    pub const PCS_V4: &str = "OG_PCS4";
    pub const PCS_V6: &str = "OG_PCS6";
    pub const PC_STATS: &str = "OG_PCSTATS";
    pub const CONFIG: &str = "OG_CONFIG2";
    pub const FLOWS_V4: &str = "OG_FLOWTAB4";
    pub const FLOWS_V6: &str = "OG_FLOWTAB6";
    pub const BLOCK_V4: &str = "OG_BLOCK4";
    pub const BLOCK_V6: &str = "OG_BLOCK6";
    pub const BLOCK_CIDR_V4: &str = "OG_BCIDR4";
    pub const BLOCK_CIDR_V6: &str = "OG_BCIDR6";
    pub const GW_ADDR_V4: &str = "OG_GWADDR4";
    pub const GW_ADDR_V6: &str = "OG_GWADDR6";
    pub const GROUPS: &str = "OG_GROUPS";
    pub const SLOT_ALLOC: &str = "OG_SLOTALLOC";
    pub const DROPS: &str = "OG_DROPS";
    pub const STATS: &str = "OG_STATS";
    pub const WAN: &str = "OG_WAN";
    pub const SNIFF: &str = "OG_SNIFF";

    /// Maps an older version pinned whose layout changed (the flow tables were LRU hash
    /// maps; the config grew the flow hash's multipliers). Removed at load, so they don't
    /// hold kernel memory until the next reboot.
    pub const RETIRED: [&str; 3] = ["OG_FLOWS4", "OG_FLOWS6", "OG_CONFIG"];

    /// Every pinned map, for tools that list or remove them.
    pub const ALL: [&str; 18] = [
        PCS_V4,
        PCS_V6,
        PC_STATS,
        CONFIG,
        FLOWS_V4,
        FLOWS_V6,
        BLOCK_V4,
        BLOCK_V6,
        BLOCK_CIDR_V4,
        BLOCK_CIDR_V6,
        GW_ADDR_V4,
        GW_ADDR_V6,
        GROUPS,
        SLOT_ALLOC,
        DROPS,
        STATS,
        WAN,
        SNIFF,
    ];
}

/// Program names (the functions in `gateway-ebpf`).
pub mod programs {
    /// XDP on the LAN interface: sees what PCs send (uploads).
    pub const LAN_INGRESS: &str = "og_lan_ingress";
    /// TC (TCX) on the LAN interface's egress: sees what PCs receive (downloads), after
    /// NAT has been undone, so the destination is the PC's own address.
    pub const LAN_EGRESS: &str = "og_lan_egress";
    /// TC (TCX) on each WAN interface's egress: counts what leaves by that channel (after
    /// NAT), and the TCP SYNs that open connections through it.
    pub const WAN_EGRESS: &str = "og_wan_egress";
    /// TC (TCX) on each WAN interface's ingress: counts what arrives, and the SYN-ACKs
    /// that answer those SYNs. SYNs out with no SYN-ACK back: a channel gone silent.
    pub const WAN_INGRESS: &str = "og_wan_ingress";
    /// An XDP program that only passes: the benchmark's floor. Never attached.
    pub const BENCH_EMPTY: &str = "og_bench_empty";
}

/// Capacities. Exact-address blocklists are hash maps because a hash lookup costs the
/// same at 1M entries as at 10 (~40 ns); ranges go to a small LPM trie, whose lookup
/// grows with its size (~130 ns at 1k entries, ~1 µs at 1M).
pub mod capacity {
    /// Blocked IPv4 addresses (2^20 ≥ 1,000,000; the kernel rounds buckets to 2^n anyway).
    pub const BLOCK_V4: u32 = 1 << 20;
    pub const BLOCK_V6: u32 = 1 << 18;
    pub const BLOCK_CIDR: u32 = 16_384;
    /// PC addresses (a PC has one entry per address: IPv4, global IPv6, link-local).
    pub const PCS: u32 = 65_536;
    /// Counter slots. Slot 0 collects traffic of addresses that found no free slot.
    pub const PC_SLOTS: u32 = 65_536;
    /// Slots `[1, LEARNED_SLOT_BASE)` are given by the daemon to PCs it knows from its
    /// configuration; slots `[LEARNED_SLOT_BASE, PC_SLOTS)` are taken by the kernel for
    /// addresses it sees first. Two ranges, so neither side ever races the other for one.
    pub const LEARNED_SLOT_BASE: u32 = 16_384;
    /// Flows per CPU: `2^FLOW_SET_BITS_*` sets of `FLOW_WAYS` flows each.
    pub const FLOWS_V4: u32 = (1 << FLOW_SET_BITS_V4) * super::FLOW_WAYS as u32;
    pub const FLOWS_V6: u32 = (1 << FLOW_SET_BITS_V6) * super::FLOW_WAYS as u32;
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
}

/// An IPv6 address as map keys hold it: its 16 bytes in network order, typed as four
/// words so the kernel program copies it 4 bytes at a time (a `[u8; 16]` has alignment 1,
/// and the BPF backend then copies byte by byte: that cost ~25 ns per IPv6 packet).
pub type Addr6 = [u32; 4];

/// `Addr6` from an address's bytes (`Ipv6Addr::octets`).
pub const fn addr6_from_octets(o: [u8; 16]) -> Addr6 {
    [
        u32::from_ne_bytes([o[0], o[1], o[2], o[3]]),
        u32::from_ne_bytes([o[4], o[5], o[6], o[7]]),
        u32::from_ne_bytes([o[8], o[9], o[10], o[11]]),
        u32::from_ne_bytes([o[12], o[13], o[14], o[15]]),
    ]
}

/// The address's bytes back from an `Addr6`.
pub const fn addr6_octets(a: Addr6) -> [u8; 16] {
    let (w0, w1, w2, w3) = (
        a[0].to_ne_bytes(),
        a[1].to_ne_bytes(),
        a[2].to_ne_bytes(),
        a[3].to_ne_bytes(),
    );
    [
        w0[0], w0[1], w0[2], w0[3], w1[0], w1[1], w1[2], w1[3], w2[0], w2[1], w2[2], w2[3], w3[0],
        w3[1], w3[2], w3[3],
    ]
}

/// The slot that collects traffic no other slot could take.
pub const UNATTRIBUTED_SLOT: u32 = 0;

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
}

impl DropReason {
    /// Size of the `DROPS` array; room for codes not yet defined.
    pub const SLOTS: u32 = 16;
    pub const ALL: [DropReason; 6] = [
        DropReason::None,
        DropReason::BlockedAddress,
        DropReason::BlockedRange,
        DropReason::PcBlocked,
        DropReason::PcOverQuota,
        DropReason::Malformed,
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
}

impl Stat {
    pub const SLOTS: u32 = 16;
    pub const ALL: [Stat; 10] = [
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
        }
    }
}

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

/// A flow's key: one PC talking to one remote endpoint.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKeyV4 {
    /// Network byte order, as on the wire.
    pub pc: u32,
    pub remote: u32,
    /// Host byte order; 0 for protocols without ports and for non-first fragments.
    pub remote_port: u16,
    /// IP protocol number.
    pub proto: u8,
    /// `FLOW_USED` in a way of the flow table that holds a flow, 0 in an empty one.
    pub used: u8,
}

/// A flow's key, IPv6.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKeyV6 {
    pub pc: Addr6,
    pub remote: Addr6,
    pub remote_port: u16,
    pub proto: u8,
    pub used: u8,
}

pub const FLOW_USED: u8 = 1;

/// Ways per set of the flow tables.
pub const FLOW_WAYS: usize = 4;

/// One set of a flow table (`FLOWS_V4`, `FLOWS_V6`): up to `FLOW_WAYS` flows whose keys
/// hash to it.
///
/// The tables are plain arrays, not kernel hash maps: the program hashes the key itself
/// and finds the flow by comparing at most four keys in one cache line, all inlined. A
/// kernel hash map's lookup is a helper call (hash, bucket walk, `memcmp`), and for the
/// LRU kind one more call level: together ~12 ns, half the cost of a packet in `bench
/// datapath`. Each CPU has its own part of the array (index `cpu << set_bits | set`), so
/// counting needs no atomics, as with per-CPU maps. The arrays are `BPF_F_MMAPABLE`: the
/// daemon reads them as memory instead of one syscall per flow.
///
/// `keys[w]` is the way's `FlowKeyV4`/`FlowKeyV6` as 64-bit words (zero-padded), the form
/// the program compares. A full set gives its next new flow the way `hand` points at
/// (round robin); the flow it held loses the counts the daemon had not yet collected, as
/// an LRU map's eviction would. The PC's own totals (`PC_STATS`) never lose anything.
///
/// A way is written key-last: its key's last word is cleared, the value written, then the
/// key. A reader that reads the key, the value, and the key again, and finds both keys
/// equal and used, read a value that belongs to that key (see the daemon's `flows`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FlowSet<const W: usize> {
    pub keys: [[u64; W]; FLOW_WAYS],
    pub values: [FlowValue; FLOW_WAYS],
    pub hand: u32,
    pub _pad: u32,
}

pub type FlowSetV4 = FlowSet<2>;
pub type FlowSetV6 = FlowSet<5>;

/// Words of a flow key (`FlowSet::keys`).
pub const FLOW_KEY_WORDS_V4: usize = 2;
pub const FLOW_KEY_WORDS_V6: usize = 5;

/// Value of the flow maps (per CPU). Besides the counters it caches the policy verdict,
/// so a packet of a known flow costs one lookup instead of three (PC, blocklist, range).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowValue {
    pub counters: Counters,
    /// The PC's counter slot, cached from its `PcInfo`.
    pub pc_slot: u32,
    /// `Config::generation` when `verdict` was computed; 0 means never.
    pub generation: u32,
    /// A `DropReason` code; 0 passes.
    pub verdict: u8,
    pub _pad: [u8; 7],
}

/// Traffic of one WAN interface (value of the per-CPU `WAN` hash, keyed by ifindex): the
/// failover monitor's passive signal, and each channel's share of the traffic.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WanCounters {
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
    /// TCP segments out with SYN and without ACK: connections being opened.
    pub syn_out: u64,
    /// TCP segments in with SYN and ACK: connections answered.
    pub synack_in: u64,
}

impl WanCounters {
    pub fn add(&mut self, o: &WanCounters) {
        self.packets_out += o.packets_out;
        self.bytes_out += o.bytes_out;
        self.packets_in += o.packets_in;
        self.bytes_in += o.bytes_in;
        self.syn_out += o.syn_out;
        self.synack_in += o.synack_in;
    }
}

/// Payload bytes a `Sniff` carries: a whole 1500-byte MTU segment's payload. A ClientHello
/// with a post-quantum key share (~1.8 kB) spans two segments; only the first is captured,
/// and the daemon reads what it can of it (the server name usually comes first).
pub const SNIFF_BYTES: usize = 1472;

/// What `SNIFF` carries: a packet from a PC to TCP port 443 or 80 whose payload starts like
/// a TLS ClientHello or an HTTP request (so a few per connection), with the flow it belongs
/// to. The daemon reads the server name (SNI) or the `Host` header from it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Sniff {
    /// IPv4 addresses sit in word 0, the rest zero (`family` says which).
    pub pc: Addr6,
    pub remote: Addr6,
    pub remote_port: u16,
    /// 4 or 6.
    pub family: u8,
    pub proto: u8,
    /// Bytes of `data` that are payload.
    pub len: u16,
    pub _pad: [u8; 10],
    pub data: [u8; SNIFF_BYTES],
}

/// Index 0 of the `CONFIG` array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Bumped by the daemon after every change of PCs, groups, states or blocklists, so
    /// that cached flow verdicts are recomputed. Starts at 1.
    pub generation: u32,
    pub _reserved: u32,
    /// Odd multipliers of the flow tables' hash, one per key word, drawn at random when
    /// the maps are created and kept with them (a restarted daemon must find its flows
    /// where they are). Random, so that no PC can choose addresses and ports that all
    /// land in one set.
    pub flow_seed: [u64; FLOW_KEY_WORDS_V6],
}

/// A flow key as the table's words (`FlowSet::keys`): its bytes, then zeros. The kernel
/// builds the same words straight from the packet; this form is for the daemon and tests.
pub fn flow_key_words<K: Copy, const W: usize>(key: &K) -> [u64; W] {
    assert!(core::mem::size_of::<K>() <= W * 8);
    let mut words = [0u64; W];
    // SAFETY: K (a flow key: plain integers, no padding) fits in the words, checked above.
    unsafe {
        core::ptr::copy_nonoverlapping(
            (key as *const K).cast::<u8>(),
            words.as_mut_ptr().cast::<u8>(),
            core::mem::size_of::<K>(),
        )
    };
    words
}

/// The flow tables' hash: multiply-add-shift over the key's words, the top `bits` bits.
/// Shared by the kernel program and the tests that check where a flow lands.
#[inline(always)]
pub fn flow_set_index<const W: usize>(
    words: &[u64; W],
    seed: &[u64; FLOW_KEY_WORDS_V6],
    bits: u32,
) -> u32 {
    let mut h = 0u64;
    let mut i = 0;
    while i < W && i < FLOW_KEY_WORDS_V6 {
        h = h.wrapping_add(words[i].wrapping_mul(seed[i]));
        i += 1;
    }
    (h >> (64 - bits)) as u32
}

/// Value of the `GROUPS` array, indexed by group id.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupInfo {
    /// `GROUP_HAS_RANGES_*` bits: skip the range trie for groups that have no ranges.
    pub flags: u32,
}

pub const GROUP_HAS_RANGES_V4: u32 = 1;
pub const GROUP_HAS_RANGES_V6: u32 = 2;

/// Bit of a group in a blocklist value.
#[inline(always)]
pub const fn group_bit(group: u8) -> u64 {
    1u64 << (group as u32 & 63)
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: all of these are repr(C), Copy, contain only integers and byte arrays, and
    // have no implicit padding (checked by the size assertions below).
    unsafe impl aya::Pod for PcInfo {}
    unsafe impl aya::Pod for Counters {}
    unsafe impl aya::Pod for WanCounters {}
    unsafe impl aya::Pod for FlowKeyV4 {}
    unsafe impl aya::Pod for FlowKeyV6 {}
    unsafe impl aya::Pod for FlowValue {}
    unsafe impl aya::Pod for Config {}
    unsafe impl aya::Pod for FlowSetV4 {}
    unsafe impl aya::Pod for FlowSetV6 {}
    unsafe impl aya::Pod for GroupInfo {}
}

const _: () = assert!(
    addr6_octets(addr6_from_octets([
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
    ]))[15]
        == 16
);

// No implicit padding anywhere: a size that is not the sum of the fields fails the build.
const _: () = assert!(core::mem::size_of::<PcInfo>() == 12);
const _: () = assert!(core::mem::size_of::<Counters>() == 48);
const _: () = assert!(core::mem::size_of::<WanCounters>() == 48);
const _: () = assert!(core::mem::size_of::<FlowKeyV4>() == 12);
const _: () = assert!(core::mem::size_of::<FlowKeyV6>() == 36);
const _: () = assert!(core::mem::size_of::<FlowValue>() == 64);
const _: () = assert!(core::mem::size_of::<Config>() == 48);
const _: () = assert!(core::mem::size_of::<FlowSetV4>() == 4 * 16 + 4 * 64 + 8);
const _: () = assert!(core::mem::size_of::<FlowSetV6>() == 4 * 40 + 4 * 64 + 8);
const _: () = assert!(core::mem::size_of::<FlowKeyV4>() <= FLOW_KEY_WORDS_V4 * 8);
const _: () = assert!(core::mem::size_of::<FlowKeyV6>() <= FLOW_KEY_WORDS_V6 * 8);
const _: () = assert!(core::mem::size_of::<Sniff>() == 48 + SNIFF_BYTES);
