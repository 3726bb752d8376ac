//! Typed handles on the pinned maps, opened by path. The daemon, the CLI and the tests all
//! go through this one type, whether or not they loaded the programs themselves.
//!
//! Split by what is touched: `pcs.rs` (devices: addresses, MACs, slots, forgetting idle
//! ones),
//! `blocked.rs` (the blocked sets, ranges and the gateway's own addresses), `counters.rs`
//! (reading counters: PCs, flows, drops, events, WAN links); here the handles, the
//! generation and the flow tables' hash multipliers.
//!
//! Must not: decide anything. What to write comes from the policy's plan.

use std::path::Path;

use aya::maps::{
    Array, HashMap, Map, MapData, PerCpuArray, PerCpuHashMap, Queue, lpm_trie::LpmTrie,
};
use gateway_common::{
    AddrInfo, Config, Counters, DeviceInfo, FLOW_KEY_WORDS_V4, FLOW_KEY_WORDS_V6, GroupInfo,
    WanCounters, maps as names,
};

use super::{DatapathError, flowtab::FlowTable};

use gateway_common::{Addr6, addr6_octets};

mod blocked;
mod counters;
mod leases;
mod pcs;

pub use blocked::{most_specific, net_contains};
pub use counters::{DeviceEntry, FlowEntry, PcEntry};
pub use pcs::{Reclaimer, mac_text, parse_mac};

fn v6_from_key(k: Addr6) -> std::net::Ipv6Addr {
    std::net::Ipv6Addr::from(addr6_octets(k))
}

/// The kernel's key for an IPv4 address: its four bytes as they are on the wire.
pub fn v4_key(a: std::net::Ipv4Addr) -> u32 {
    u32::from_ne_bytes(a.octets())
}

fn v4_from_key(k: u32) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(k.to_ne_bytes())
}

pub struct Maps {
    addrs4: HashMap<MapData, u32, AddrInfo>,
    addrs6: HashMap<MapData, Addr6, AddrInfo>,
    macs: HashMap<MapData, u64, u32>,
    devices: Array<MapData, DeviceInfo>,
    free_slots: Queue<MapData, u32>,
    pc_stats: PerCpuArray<MapData, Counters>,
    config: Array<MapData, Config>,
    flows4: FlowTable<FLOW_KEY_WORDS_V4>,
    flows6: FlowTable<FLOW_KEY_WORDS_V6>,
    block4: HashMap<MapData, u32, u64>,
    block6: HashMap<MapData, Addr6, u64>,
    cidr4: LpmTrie<MapData, u32, u64>,
    cidr6: LpmTrie<MapData, Addr6, u64>,
    gw4: HashMap<MapData, u32, u8>,
    gw6: HashMap<MapData, Addr6, u8>,
    groups: Array<MapData, GroupInfo>,
    drops: PerCpuArray<MapData, u64>,
    stats: PerCpuArray<MapData, u64>,
    wan: PerCpuHashMap<MapData, u32, WanCounters>,
}

fn open<T>(dir: &Path, name: &'static str, wrap: fn(MapData) -> Map) -> Result<T, DatapathError>
where
    T: TryFrom<Map, Error = aya::maps::MapError>,
{
    let data = MapData::from_pin(dir.join(name))
        .map_err(|source| DatapathError::OpenMap { name, source })?;
    T::try_from(wrap(data)).map_err(|source| DatapathError::OpenMap { name, source })
}

impl Maps {
    /// Opens every map pinned under `dir`.
    pub fn open(dir: &Path) -> Result<Self, DatapathError> {
        Ok(Self {
            addrs4: open(dir, names::ADDRS_V4, Map::HashMap)?,
            addrs6: open(dir, names::ADDRS_V6, Map::HashMap)?,
            macs: open(dir, names::MACS, Map::HashMap)?,
            devices: open(dir, names::DEVICES, Map::Array)?,
            free_slots: open(dir, names::FREE_SLOTS, Map::Queue)?,
            pc_stats: open(dir, names::PC_STATS, Map::PerCpuArray)?,
            config: open(dir, names::CONFIG, Map::Array)?,
            flows4: FlowTable::open(dir, names::FLOWS_V4)?,
            flows6: FlowTable::open(dir, names::FLOWS_V6)?,
            block4: open(dir, names::BLOCK_V4, Map::HashMap)?,
            block6: open(dir, names::BLOCK_V6, Map::HashMap)?,
            cidr4: open(dir, names::BLOCK_CIDR_V4, Map::LpmTrie)?,
            cidr6: open(dir, names::BLOCK_CIDR_V6, Map::LpmTrie)?,
            gw4: open(dir, names::GW_ADDR_V4, Map::HashMap)?,
            gw6: open(dir, names::GW_ADDR_V6, Map::HashMap)?,
            groups: open(dir, names::GROUPS, Map::Array)?,
            drops: open(dir, names::DROPS, Map::PerCpuArray)?,
            stats: open(dir, names::STATS, Map::PerCpuArray)?,
            wan: open(dir, names::WAN, Map::PerCpuHashMap)?,
        })
    }
    pub fn generation(&self) -> Result<u32, DatapathError> {
        let c = self.config.get(&0, 0).map_err(map_err(names::CONFIG))?;
        Ok(c.generation)
    }

    /// The flow tables' hash multipliers (`Config::flow_seed`).
    pub fn flow_seed(&self) -> Result<[u64; FLOW_KEY_WORDS_V6], DatapathError> {
        let c = self.config.get(&0, 0).map_err(map_err(names::CONFIG))?;
        Ok(c.flow_seed)
    }

    /// Draws the flow tables' hash multipliers if they were never drawn (new maps). Must
    /// run before any program is attached: a flow placed with other multipliers would
    /// not be found again (it would still be counted, once, by `flows`).
    pub fn ensure_flow_seed(&mut self) -> Result<(), DatapathError> {
        let mut c = self.config.get(&0, 0).map_err(map_err(names::CONFIG))?;
        if c.flow_seed.iter().all(|s| *s != 0) {
            return Ok(());
        }
        for s in c.flow_seed.iter_mut() {
            let mut b = [0u8; 8];
            getrandom::fill(&mut b).map_err(|e| DatapathError::Random(e.to_string()))?;
            // Odd: a multiplier must not drop the key word's low bits.
            *s = u64::from_ne_bytes(b) | 1;
        }
        self.config.set(0, c, 0).map_err(map_err(names::CONFIG))
    }

    /// Makes the kernel re-evaluate every flow's cached verdict. Call after any change of
    /// PCs, groups or blocklists (the setters here do not, so a batch costs one bump).
    /// The group the kernel gives addresses it learns (devices the policy does not list).
    pub fn set_unknown_group(&mut self, group: u8) -> Result<(), DatapathError> {
        let mut c = self.config.get(&0, 0).map_err(map_err(names::CONFIG))?;
        if c.unknown_group != u32::from(group) {
            c.unknown_group = group.into();
            self.config.set(0, c, 0).map_err(map_err(names::CONFIG))?;
        }
        Ok(())
    }

    pub fn bump_generation(&mut self) -> Result<u32, DatapathError> {
        let mut c = self.config.get(&0, 0).map_err(map_err(names::CONFIG))?;
        // Skip 0: it means "never evaluated" to the kernel.
        c.generation = c.generation.wrapping_add(1).max(1);
        self.config.set(0, c, 0).map_err(map_err(names::CONFIG))?;
        Ok(c.generation)
    }
}

/// The error of an operation on map `name`.
fn map_err(name: &'static str) -> impl Fn(aya::maps::MapError) -> DatapathError + Copy {
    move |source| DatapathError::Map { name, source }
}
