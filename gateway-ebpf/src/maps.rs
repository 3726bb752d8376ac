//! The maps, pinned by name so a restarted daemon finds the same counters and sets.
//! Names and layouts come from `gateway_common`; this file only gives them a kernel form.

use aya_ebpf::{
    bindings::BPF_F_MMAPABLE,
    macros::map,
    maps::{Array, HashMap, LpmTrie, PerCpuArray, PerCpuHashMap, ProgramArray, Queue, RingBuf},
};
use gateway_common::{
    AddrInfo, Config, Counters, DeviceInfo, DropReason, FlowSetV4, FlowSetV6, GroupInfo, Stat,
    WanCounters, capacity,
};

pub use gateway_common::Addr6;

/// Address → device. Only a new flow looks here: the flow tables cache the slot.
#[map(name = "OG_ADDR4")]
pub static ADDRS_V4: HashMap<u32, AddrInfo> = HashMap::pinned(capacity::PCS, 0);
#[map(name = "OG_ADDR6")]
pub static ADDRS_V6: HashMap<Addr6, AddrInfo> = HashMap::pinned(capacity::PCS, 0);
/// MAC (`mac_key`) → device slot: a device's new address (a DHCP lease, an IPv6 privacy
/// address) joins the device its MAC already is.
#[map(name = "OG_MACS")]
pub static MACS: HashMap<u64, u32> = HashMap::pinned(capacity::MACS, 0);
/// Slot → what the device may do. An array: the group and state of a device are one
/// write for the daemon, whatever the number of its addresses.
#[map(name = "OG_DEVICES")]
pub static DEVICES: Array<DeviceInfo> = Array::pinned(capacity::PC_SLOTS, 0);
/// Free slots of the kernel's range (see `account::new_device`).
#[map(name = "OG_FREESLOTS")]
pub static FREE_SLOTS: Queue<u32> = Queue::pinned(capacity::FREE_SLOTS, 0);

/// Per-PC counters by slot. A per-CPU *array* rather than a per-CPU hash keyed by address:
/// the kernel inlines array lookups, so counting costs a few ns instead of a second hash
/// lookup (~40 ns) — that was the cost a first prototype had to win back.
#[map(name = "OG_PCSTATS")]
pub static PC_STATS: PerCpuArray<Counters> = PerCpuArray::pinned(capacity::PC_SLOTS, 0);

#[map(name = "OG_CONFIG2")]
pub static CONFIG: Array<Config> = Array::pinned(1, 0);

/// Per-flow counters and the cached verdict: set-associative tables, one part per CPU
/// (see `gateway_common::FlowSet`). A full set replaces its oldest-placed flow instead of
/// refusing new ones; per-PC totals live in `PC_STATS`, so that never loses a PC's
/// bytes, only the split of a replaced flow not yet collected. The sizes here are one
/// CPU's part: the loader multiplies them by the number of CPUs.
#[map(name = "OG_FLOWTAB4")]
pub static FLOWS_V4: Array<FlowSetV4> =
    Array::pinned(1 << capacity::FLOW_SET_BITS_V4, BPF_F_MMAPABLE as u32);
#[map(name = "OG_FLOWTAB6")]
pub static FLOWS_V6: Array<FlowSetV6> =
    Array::pinned(1 << capacity::FLOW_SET_BITS_V6, BPF_F_MMAPABLE as u32);

/// Exact blocked addresses → bit mask of the groups they are blocked for.
#[map(name = "OG_BLOCK4")]
pub static BLOCK_V4: HashMap<u32, u64> = HashMap::pinned(capacity::BLOCK_V4, 0);
#[map(name = "OG_BLOCK6")]
pub static BLOCK_V6: HashMap<Addr6, u64> = HashMap::pinned(capacity::BLOCK_V6, 0);
/// Blocked ranges → group mask. Consulted only for groups flagged as having ranges.
#[map(name = "OG_BCIDR4")]
pub static BLOCK_CIDR_V4: LpmTrie<u32, u64> = LpmTrie::pinned(capacity::BLOCK_CIDR, 0);
#[map(name = "OG_BCIDR6")]
pub static BLOCK_CIDR_V6: LpmTrie<Addr6, u64> = LpmTrie::pinned(capacity::BLOCK_CIDR, 0);

/// The gateway's own addresses: traffic to them is never dropped.
#[map(name = "OG_GWADDR4")]
pub static GW_ADDR_V4: HashMap<u32, u8> = HashMap::pinned(capacity::GATEWAY_ADDRS, 0);
#[map(name = "OG_GWADDR6")]
pub static GW_ADDR_V6: HashMap<Addr6, u8> = HashMap::pinned(capacity::GATEWAY_ADDRS, 0);

#[map(name = "OG_GROUPS")]
pub static GROUPS: Array<GroupInfo> = Array::pinned(capacity::GROUPS, 0);

/// Dropped packets by `DropReason`.
#[map(name = "OG_DROPS")]
pub static DROPS: PerCpuArray<u64> = PerCpuArray::pinned(DropReason::SLOTS, 0);
/// Event counts by `Stat`.
#[map(name = "OG_STATS")]
pub static STATS: PerCpuArray<u64> = PerCpuArray::pinned(Stat::SLOTS, 0);

/// Per WAN interface (by ifindex) traffic and TCP handshakes: see `wan.rs`.
#[map(name = "OG_WAN")]
pub static WAN: PerCpuHashMap<u32, WanCounters> = PerCpuHashMap::pinned(capacity::WAN_LINKS, 0);

/// Opening packets of web connections for the daemon to name their sites: see `sniff.rs`.
#[map(name = "OG_SNIFF")]
pub static SNIFF: RingBuf = RingBuf::pinned(capacity::SNIFF_RING, 0);

#[inline(always)]
pub fn bump(stat: Stat) {
    if let Some(p) = STATS.get_ptr_mut(stat as u32) {
        // SAFETY: per-CPU value, only this CPU writes it while this program runs.
        unsafe { *p += 1 };
    }
}

#[inline(always)]
pub fn count_drop(reason: u8, packets: u64) {
    if let Some(p) = DROPS.get_ptr_mut(reason as u32) {
        // SAFETY: as above.
        unsafe { *p += packets };
    }
}

/// Slot 0: `og_lan_reset`, tail-called for dropped frames (filled at each load). Pinned, so
/// its entry outlives the daemon while the programs stay attached (pinned links): a
/// program array no process holds is emptied by the kernel. Empty, the tail call fails
/// and the frame is simply dropped.
#[map(name = "OG_RESET")]
pub static RESET: ProgramArray = ProgramArray::pinned(1, 0);
