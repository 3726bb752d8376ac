//! Which MAC each address was seen with, as the datapath learned it (`ADDRS_*`): how a PC
//! the policy names by MAC is found from the source address of a DNS query or a block
//! page request. One table for the process, replaced whole by the daemon's tick (every
//! second), read lock-free; empty until then, and in tools that never run the tick.
//!
//! Beside it, the host name each MAC's DHCP lease gave (`pcnames` sets it when it reads
//! the lease file): how a PC the policy names by `hostname` is found.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, LazyLock},
};

use arc_swap::ArcSwap;

static LEARNED: LazyLock<ArcSwap<HashMap<IpAddr, [u8; 6]>>> =
    LazyLock::new(|| ArcSwap::from_pointee(HashMap::new()));

static LEASED: LazyLock<ArcSwap<HashMap<[u8; 6], String>>> =
    LazyLock::new(|| ArcSwap::from_pointee(HashMap::new()));

/// Replaces the leased host names (by MAC).
pub fn set_leased(table: HashMap<[u8; 6], String>) {
    LEASED.store(Arc::new(table));
}

/// The host name `mac`'s lease gave.
pub fn hostname_of(mac: &[u8; 6]) -> Option<String> {
    LEASED.load().get(mac).cloned()
}

/// The MACs leased under `hostname`.
pub fn macs_named(hostname: &str) -> Vec<[u8; 6]> {
    let mut v: Vec<[u8; 6]> = LEASED
        .load()
        .iter()
        .filter(|(_, h)| h.as_str() == hostname)
        .map(|(m, _)| *m)
        .collect();
    v.sort_unstable();
    v
}

/// Replaces the table.
pub fn set(table: HashMap<IpAddr, [u8; 6]>) {
    LEARNED.store(Arc::new(table));
}

/// The MAC `addr` was seen with.
pub fn mac_of(addr: IpAddr) -> Option<[u8; 6]> {
    LEARNED.load().get(&addr).copied()
}

/// Every address seen with the MAC `addr` was seen with (`addr` alone if none): the
/// device's addresses, so an unlisted device asking over IPv6 gets the group its IPv4
/// network gives it. A scan: asked only when groups name `networks`.
pub fn device_addrs(addr: IpAddr) -> Vec<IpAddr> {
    let table = LEARNED.load();
    match table.get(&addr) {
        Some(mac) => table
            .iter()
            .filter(|(_, m)| *m == mac)
            .map(|(a, _)| *a)
            .collect(),
        None => vec![addr],
    }
}
