//! Types shared by Officegate's kernel programs (`gateway-ebpf`) and its daemon (`gateway`).
//!
//! Everything that crosses the kernel/user boundary is defined here once: map names, map
//! keys and values, drop-reason and statistic codes. Keys and values are `#[repr(C)]` with
//! no implicit padding (explicit `_pad` fields exist only for that), so that the kernel's
//! hash of a key never depends on uninitialised bytes.
//!
//! Codes are never renumbered: a retired code keeps its number and its slot stays unused.
//!
//! Layout, one module per map family (everything is re-exported at the crate root, which
//! is the path both sides use):
//! - `maps`, `programs`: the pinned maps' and the programs' names;
//! - `capacity`: how big each map is, and why;
//! - `addr`: `Addr6`, an IPv6 address as keys hold it;
//! - `codes`: `DropReason` and `Stat`;
//! - `pc`: `ADDRS_*`, `MACS` and `DEVICES` entries, `PcState`, per-slot `Counters`;
//! - `flow`: the flow tables' keys, sets and values, their hash, and `Config`;
//! - `block`: `GROUPS` flags and group bits of blocked addresses;
//! - `wan`: `WanCounters`; `sniff`: `Sniff`.
//!
//! The `aya::Pod` impls (behind the `user` feature) and the size assertions stay here,
//! together: they are the one check that no layout has implicit padding.
#![no_std]

pub mod capacity;
pub mod maps;
pub mod programs;

mod addr;
mod block;
mod codes;
mod flow;
mod pc;
mod sniff;
mod wan;

pub use addr::{Addr6, addr6_from_octets, addr6_octets};
pub use block::{
    GROUP_BLOCK_QUIC, GROUP_HAS_RANGES_V4, GROUP_HAS_RANGES_V6, GroupInfo, MAX_GROUPS, group_bit,
};
pub use codes::{DropReason, Stat};
pub use flow::{
    Config, FLOW_KEY_WORDS_V4, FLOW_KEY_WORDS_V6, FLOW_USED, FLOW_WAYS, FlowKeyV4, FlowKeyV6,
    FlowSet, FlowSetV4, FlowSetV6, FlowValue, flow_key_words, flow_set_index,
};
pub use pc::{
    AddrInfo, Counters, DEFAULT_GROUP, DeviceInfo, PcInfo, PcState, STATE_PAGE, UNATTRIBUTED_SLOT,
    mac_key,
};
pub use sniff::{SNIFF_BYTES, Sniff};
pub use wan::WanCounters;

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: all of these are repr(C), Copy, contain only integers and byte arrays, and
    // have no implicit padding (checked by the size assertions below).
    unsafe impl aya::Pod for AddrInfo {}
    unsafe impl aya::Pod for DeviceInfo {}
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

// No implicit padding anywhere: a size that is not the sum of the fields fails the build.
const _: () = assert!(core::mem::size_of::<AddrInfo>() == 16);
const _: () = assert!(core::mem::size_of::<DeviceInfo>() == 16);
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
