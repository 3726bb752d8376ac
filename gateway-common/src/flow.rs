//! The flow tables (`FLOWS_V4`, `FLOWS_V6`): keys, sets, cached verdicts, and the
//! `CONFIG` entry that holds their generation and hash multipliers.

use crate::{Addr6, Counters};

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

/// Index 0 of the `CONFIG` array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Bumped by the daemon after every change of PCs, groups, states or blocklists, so
    /// that cached flow verdicts are recomputed. Starts at 1.
    pub generation: u32,
    /// The group the kernel gives an address it learns (a device the policy does not
    /// list): the policy's `unknown_devices`, 0 (`default`) when it names none. (Was a
    /// reserved zero: maps pinned before it read as `default`.)
    pub unknown_group: u32,
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
