//! Counting and policy: find the flow, evaluate the PC's policy when the flow's cached
//! verdict is stale, count the packet on the flow and on the PC, return the verdict.
//!
//! The same code serves both directions: on LAN ingress the PC is the source, on LAN
//! egress the destination (NAT has already been undone there).

use aya_ebpf::maps::{Array, lpm_trie::Key};
use gateway_common::{
    Counters, DropReason, FLOW_USED, FLOW_WAYS, FlowKeyV4, FlowKeyV6, FlowSet, FlowValue,
    GROUP_BLOCK_QUIC, GROUP_HAS_RANGES_V4, GROUP_HAS_RANGES_V6, PcInfo, PcState, STATE_PAGE, Stat,
    capacity, flow_set_index, group_bit,
};

use crate::maps::{
    ADDRS_V4, ADDRS_V6, Addr6, BLOCK_CIDR_V4, BLOCK_CIDR_V6, BLOCK_V4, BLOCK_V6, CONFIG, FLOWS_V4,
    FLOWS_V6, GROUPS, GW_ADDR_V4, GW_ADDR_V6, PC_STATS, bump, count_drop,
};

/// A flow key as the flow maps' lookup reads it: built from whole 64-bit words.
///
/// The kernel hashes a key as 32-bit words (`jhash2`) and compares it 8 bytes at a time
/// (`memcmp`). Built field by field, the key is a row of u32, u16 and u8 stores, and each
/// of those wider loads spans several stores, which the CPU cannot forward: it waits for
/// them to reach the cache. `perf` on `bench datapath` showed `htab_map_hash` at 29% of
/// the packet's time (~12 ns, against ~2.6 ns per hash for xdp-filter's 4-byte keys).
/// Every load the kernel makes lies inside one u64 store, so all of them forward.
#[repr(C, align(8))]
pub union FlowKey<K: Copy, const W: usize> {
    key: K,
    words: [u64; W],
}

impl<K: Copy, const W: usize> FlowKey<K, W> {
    #[inline(always)]
    fn key(&self) -> &K {
        // SAFETY: every constructor writes all words, which cover `K` (plain integers).
        unsafe { &self.key }
    }

    #[inline(always)]
    fn words(&self) -> &[u64; W] {
        // SAFETY: every constructor writes all words.
        unsafe { &self.words }
    }
}

// The words below are laid out for a little-endian target (bpfel, the only one built):
// the first field at the lowest address. (Byte-array forms of the same cost ~20 masking
// instructions: LLVM's BPF backend doesn't fold them.)
const _: () = assert!(cfg!(target_endian = "little"));

/// A word of two u32, `lo` at the lower address.
#[inline(always)]
fn pair(lo: u32, hi: u32) -> u64 {
    lo as u64 | (hi as u64) << 32
}

/// The tail word: port, protocol, the `used` mark (and, past the key, zeros). The mark
/// makes every real key differ from an empty way's zeros.
#[inline(always)]
fn tail(remote_port: u16, proto: u8) -> u64 {
    remote_port as u64 | (proto as u64) << 16 | (FLOW_USED as u64) << 24
}

pub type KeyV4 = FlowKey<FlowKeyV4, 2>;
pub type KeyV6 = FlowKey<FlowKeyV6, 5>;

const _: () = assert!(core::mem::size_of::<FlowKeyV4>() <= 16);
const _: () = assert!(core::mem::size_of::<FlowKeyV6>() <= 40);

impl KeyV4 {
    /// Addresses in network order, as `FlowKeyV4` holds them.
    #[inline(always)]
    pub fn new(pc: u32, remote: u32, remote_port: u16, proto: u8) -> Self {
        Self {
            words: [pair(pc, remote), tail(remote_port, proto)],
        }
    }
}

impl KeyV6 {
    /// Addresses as read from the packet, two words each (`parse::Net::V6`).
    #[inline(always)]
    pub fn new(pc: [u64; 2], remote: [u64; 2], remote_port: u16, proto: u8) -> Self {
        Self {
            words: [pc[0], pc[1], remote[0], remote[1], tail(remote_port, proto)],
        }
    }
}

/// An IPv6 address from its two words (as `parse::Net::V6` holds them) to `Addr6`.
#[inline(always)]
pub fn addr6(w: [u64; 2]) -> Addr6 {
    [
        w[0] as u32,
        (w[0] >> 32) as u32,
        w[1] as u32,
        (w[1] >> 32) as u32,
    ]
}

/// Set at load time (`EbpfLoader::override_global`). 0 makes every packet evaluate policy
/// as if its flow were new: the benchmark's "no flow cache" figure.
#[unsafe(no_mangle)]
static FLOW_CACHE: u8 = 1;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// From the PC (LAN ingress).
    Up,
    /// To the PC (LAN egress).
    Down,
}

/// One packet as the accounting sees it.
pub struct Pkt {
    pub dir: Dir,
    pub packets: u64,
    pub bytes: u64,
    /// Where the PC's MAC is in the frame (source on ingress, destination on egress):
    /// read only when a PC entry is created or lacks its MAC.
    pub start: usize,
    pub end: usize,
    pub mac_off: usize,
}

impl Pkt {
    #[inline(always)]
    pub fn pc_mac(&self) -> [u8; 6] {
        match crate::parse::ptr_at::<[u8; 6]>(self.start, self.end, self.mac_off) {
            // A group address (broadcast, multicast: the destination of an ARP request or
            // of neighbour discovery on egress) is nobody's MAC: leave it unknown.
            // SAFETY: bounds checked by ptr_at.
            Ok(p) => match unsafe { *p } {
                mac if mac[0] & 1 == 0 => mac,
                _ => [0; 6],
            },
            Err(_) => [0; 6],
        }
    }
}

#[inline(always)]
fn flow_cache_enabled() -> bool {
    // SAFETY: read of a load-time constant; volatile so the compiler keeps the load the
    // loader patches instead of folding the initial value.
    unsafe { core::ptr::read_volatile(&FLOW_CACHE) != 0 }
}

#[inline(always)]
fn add(c: &mut Counters, pkt: &Pkt, verdict: u8) {
    if verdict != DropReason::None as u8 {
        c.dropped_packets += pkt.packets;
        c.dropped_bytes += pkt.bytes;
    } else if pkt.dir == Dir::Up {
        c.up_packets += pkt.packets;
        c.up_bytes += pkt.bytes;
    } else {
        c.down_packets += pkt.packets;
        c.down_bytes += pkt.bytes;
    }
}

pub use crate::device::pc_entry;

/// Counts a packet that is not part of a flow (ARP, or an address with no PC) on a slot.
#[inline(always)]
pub fn count_slot(slot: u32, pkt: &Pkt) {
    if let Some(c) = PC_STATS.get_ptr_mut(slot) {
        // SAFETY: per-CPU value; only this CPU touches it while the program runs.
        unsafe { add(&mut *c, pkt, DropReason::None as u8) };
    }
}

/// 224.0.0.0/24 (link-local multicast) or 255.255.255.255.
#[inline(always)]
fn is_lan_local_v4(a: u32) -> bool {
    let b = a.to_ne_bytes();
    (b[0] == 224 && b[1] == 0 && b[2] == 0) || b == [255; 4]
}

/// ff02::/16, link-scoped multicast.
#[inline(always)]
fn is_link_scope_v6(a: &Addr6) -> bool {
    let b = a[0].to_ne_bytes();
    b[0] == 0xff && b[1] & 0x0f == 0x02
}

#[inline(always)]
fn group_has(group: u8, flag: u32) -> bool {
    match GROUPS.get(group as u32) {
        Some(g) => g.flags & flag != 0,
        None => false,
    }
}

#[inline(always)]
fn state_verdict(info: &PcInfo) -> u8 {
    let state = info.state & !STATE_PAGE;
    if state == PcState::Blocked as u8 {
        DropReason::PcBlocked as u8
    } else if state == PcState::OverQuota as u8 {
        DropReason::PcOverQuota as u8
    } else {
        DropReason::None as u8
    }
}

#[inline(always)]
fn verdict_v4(info: &PcInfo, remote: u32) -> u8 {
    let mut v = state_verdict(info);
    if v == DropReason::None as u8 {
        // SAFETY: value read by copy, no reference kept.
        if let Some(mask) = unsafe { BLOCK_V4.get(&remote) } {
            if *mask & group_bit(info.group) != 0 {
                v = DropReason::BlockedAddress as u8;
            }
        }
    }
    if v == DropReason::None as u8 && group_has(info.group, GROUP_HAS_RANGES_V4) {
        if let Some(mask) = BLOCK_CIDR_V4.get(Key::new(32, remote)) {
            if *mask & group_bit(info.group) != 0 {
                v = DropReason::BlockedRange as u8;
            }
        }
    }
    // Only a drop pays for these checks: traffic to the gateway itself always passes, and
    // so does link-local multicast and broadcast (DHCP, IGMP), which only the LAN hears.
    // SAFETY: as above.
    if v != DropReason::None as u8
        && (unsafe { GW_ADDR_V4.get(&remote) }.is_some() || is_lan_local_v4(remote))
    {
        v = DropReason::None as u8;
    }
    v
}

#[inline(always)]
fn verdict_v6(info: &PcInfo, remote: &Addr6) -> u8 {
    let mut v = state_verdict(info);
    if v == DropReason::None as u8 {
        // SAFETY: value read by copy.
        if let Some(mask) = unsafe { BLOCK_V6.get(remote) } {
            if *mask & group_bit(info.group) != 0 {
                v = DropReason::BlockedAddress as u8;
            }
        }
    }
    if v == DropReason::None as u8 && group_has(info.group, GROUP_HAS_RANGES_V6) {
        if let Some(mask) = BLOCK_CIDR_V6.get(Key::new(128, *remote)) {
            if *mask & group_bit(info.group) != 0 {
                v = DropReason::BlockedRange as u8;
            }
        }
    }
    // As for IPv4; link-scoped multicast (ff02::/16) carries neighbour and router
    // discovery, without which a blocked PC would lose the gateway's IPv6 address.
    // SAFETY: as above.
    if v != DropReason::None as u8
        && (unsafe { GW_ADDR_V6.get(remote) }.is_some() || is_link_scope_v6(remote))
    {
        v = DropReason::None as u8;
    }
    v
}

/// QUIC (UDP, remote port 443) for a group that blocks it: browsers then use TCP, where
/// the site's name is seen (SNI). Asked only on a flow miss, after the address verdict.
#[inline(always)]
fn quic_verdict(v: u8, info: &PcInfo, remote_port: u16, proto: u8) -> u8 {
    if v == DropReason::None as u8
        && proto == crate::parse::IPPROTO_UDP
        && remote_port == 443
        && group_has(info.group, GROUP_BLOCK_QUIC)
    {
        DropReason::Quic as u8
    } else {
        v
    }
}

/// HTTP (TCP to port 80) of a held device whose state carries `STATE_PAGE`: passed, so
/// the kernel's NAT (the daemon's `officegate_held` table) leads it to the block page,
/// which says why the device is cut off and until when. Its forward chain drops whatever
/// else such a device sends through, so a passed segment never leaves the LAN.
#[inline(always)]
fn page_verdict(v: u8, info: &PcInfo, remote_port: u16, proto: u8) -> u8 {
    if (v == DropReason::PcBlocked as u8 || v == DropReason::PcOverQuota as u8)
        && info.state & STATE_PAGE != 0
        && proto == crate::parse::IPPROTO_TCP
        && remote_port == 80
    {
        DropReason::None as u8
    } else {
        v
    }
}

/// Counts one IPv4 packet and returns its verdict (a `DropReason` code; 0 passes).
#[inline(always)]
pub fn ipv4(key: &KeyV4, pkt: &Pkt) -> u8 {
    let k = key.key();
    flow(
        &FLOWS_V4,
        key.words(),
        capacity::FLOW_SET_BITS_V4,
        pkt,
        || {
            let info = pc_entry(&ADDRS_V4, &k.pc, pkt);
            let v = verdict_v4(&info, k.remote);
            let v = page_verdict(v, &info, k.remote_port, k.proto);
            (info.slot, quic_verdict(v, &info, k.remote_port, k.proto))
        },
    )
}

/// Counts one IPv6 packet and returns its verdict.
#[inline(always)]
pub fn ipv6(key: &KeyV6, pkt: &Pkt) -> u8 {
    let k = key.key();
    flow(
        &FLOWS_V6,
        key.words(),
        capacity::FLOW_SET_BITS_V6,
        pkt,
        || {
            let info = pc_entry(&ADDRS_V6, &k.pc, pkt);
            let v = verdict_v6(&info, &k.remote);
            let v = page_verdict(v, &info, k.remote_port, k.proto);
            (info.slot, quic_verdict(v, &info, k.remote_port, k.proto))
        },
    )
}

/// Finds the packet's flow in this CPU's part of `table` (placing it if new), refreshes
/// its cached verdict when the policy generation moved on (`evaluate` gives the PC's
/// slot and the verdict), counts the packet on the flow and on the PC.
#[inline(always)]
fn flow<const W: usize>(
    table: &Array<FlowSet<W>>,
    words: &[u64; W],
    bits: u32,
    pkt: &Pkt,
    evaluate: impl Fn() -> (u32, u8),
) -> u8 {
    // Index 0 of an array always exists: the None arms below only satisfy the verifier.
    let Some(cfg) = CONFIG.get(0) else {
        return unflowed(pkt, evaluate);
    };
    let gen_now = cfg.generation;
    // SAFETY: plain helper call (inlined by the kernel on x86-64).
    let cpu = unsafe { aya_ebpf::helpers::bpf_get_smp_processor_id() };
    let index = cpu << bits | flow_set_index(words, &cfg.flow_seed, bits);
    let Some(set) = table.get_ptr_mut(index) else {
        return unflowed(pkt, evaluate);
    };
    // SAFETY: this CPU's part of the table; nothing else on this CPU runs while a program
    // does (XDP and TC both run with bottom halves off), and other CPUs have their own.
    let set = unsafe { &mut *set };
    for w in 0..FLOW_WAYS {
        if same(&set.keys[w], words) {
            let f = &mut set.values[w];
            // Generation 0 is "never evaluated".
            if f.generation != gen_now || f.generation == 0 || !flow_cache_enabled() {
                bump(Stat::FlowMiss);
                let (slot, verdict) = evaluate();
                f.verdict = verdict;
                f.pc_slot = slot;
                f.generation = gen_now;
            }
            return finish(&mut f.counters, f.pc_slot, f.verdict, pkt);
        }
    }
    bump(Stat::FlowMiss);
    let (slot, verdict) = evaluate();
    let mut counters = Counters::default();
    let verdict = finish(&mut counters, slot, verdict, pkt);
    let value = FlowValue {
        counters,
        pc_slot: slot,
        generation: gen_now,
        verdict,
        ..FlowValue::default()
    };
    place(set, words, &value);
    verdict
}

/// Word by word: an array `==` may become a `bcmp` call, which BPF doesn't have.
#[inline(always)]
fn same<const W: usize>(a: &[u64; W], b: &[u64; W]) -> bool {
    let mut diff = 0;
    for i in 0..W {
        diff |= a[i] ^ b[i];
    }
    diff == 0
}

/// Puts a new flow into its set: an empty way if there is one, else the way `hand`
/// points at. Written key-last (see `FlowSet`), with volatile stores so the compiler
/// keeps that order; x86 keeps it for other CPUs.
#[inline(always)]
fn place<const W: usize>(set: &mut FlowSet<W>, words: &[u64; W], value: &FlowValue) {
    let mut way = FLOW_WAYS;
    for w in 0..FLOW_WAYS {
        if set.keys[w][W - 1] == 0 {
            way = w;
            break;
        }
    }
    if way == FLOW_WAYS {
        way = set.hand as usize % FLOW_WAYS;
        set.hand = set.hand.wrapping_add(1);
    }
    let key = &mut set.keys[way];
    // SAFETY: plain stores into this CPU's part of the map value.
    unsafe {
        core::ptr::write_volatile(&mut key[W - 1], 0);
        core::ptr::write_volatile(&mut set.values[way], *value);
        for i in 0..W - 1 {
            core::ptr::write_volatile(&mut key[i], words[i]);
        }
        core::ptr::write_volatile(&mut key[W - 1], words[W - 1]);
    }
}

/// A packet no flow can hold (never in practice: see `flow`): evaluated and counted on
/// its PC only.
#[inline(always)]
fn unflowed(pkt: &Pkt, evaluate: impl Fn() -> (u32, u8)) -> u8 {
    let (slot, verdict) = evaluate();
    let mut counters = Counters::default();
    finish(&mut counters, slot, verdict, pkt)
}

#[inline(always)]
fn finish(flow: &mut Counters, slot: u32, verdict: u8, pkt: &Pkt) -> u8 {
    add(flow, pkt, verdict);
    if let Some(c) = PC_STATS.get_ptr_mut(slot) {
        // SAFETY: per-CPU value.
        unsafe { add(&mut *c, pkt, verdict) };
    }
    if verdict != DropReason::None as u8 {
        count_drop(verdict, pkt.packets);
    }
    verdict
}
