//! Which MAC each address was seen with, as the datapath learned it (`ADDRS_*`): how a PC
//! the policy names by MAC is found from the source address of a DNS query or a block
//! page request. One table for the process, replaced whole by the daemon's tick (every
//! second), read lock-free; empty until then, and in tools that never run the tick.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, LazyLock},
};

use arc_swap::ArcSwap;

static LEARNED: LazyLock<ArcSwap<HashMap<IpAddr, [u8; 6]>>> =
    LazyLock::new(|| ArcSwap::from_pointee(HashMap::new()));

/// Replaces the table.
pub fn set(table: HashMap<IpAddr, [u8; 6]>) {
    LEARNED.store(Arc::new(table));
}

/// The MAC `addr` was seen with.
pub fn mac_of(addr: IpAddr) -> Option<[u8; 6]> {
    LEARNED.load().get(&addr).copied()
}
