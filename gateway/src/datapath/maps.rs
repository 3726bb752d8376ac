//! Typed handles on the pinned maps, opened by path. The daemon, the CLI and the tests all
//! go through this one type, whether or not they loaded the programs themselves.

use std::{
    collections::{BTreeMap, HashSet},
    net::IpAddr,
    path::Path,
};

use aya::maps::{
    Array, HashMap, Map, MapData, PerCpuArray, PerCpuHashMap, PerCpuValues, lpm_trie::Key,
    lpm_trie::LpmTrie,
};
use gateway_common::{
    Config, Counters, DropReason, FLOW_KEY_WORDS_V4, FLOW_KEY_WORDS_V6, FlowKeyV4, FlowKeyV6,
    GROUP_HAS_RANGES_V4, GROUP_HAS_RANGES_V6, GroupInfo, PcInfo, PcState, Stat, WanCounters,
    capacity, maps as names,
};

use super::{DatapathError, flowtab::FlowTable};

use gateway_common::{Addr6, addr6_from_octets, addr6_octets};

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

/// One PC address as the datapath knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcEntry {
    pub addr: IpAddr,
    pub info: PcInfo,
    pub counters: Counters,
}

/// One flow with its counters summed over CPUs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowEntry {
    pub pc: IpAddr,
    pub remote: IpAddr,
    pub proto: u8,
    pub remote_port: u16,
    pub counters: Counters,
}

pub struct Maps {
    pcs4: HashMap<MapData, u32, PcInfo>,
    pcs6: HashMap<MapData, Addr6, PcInfo>,
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

fn sum<T: aya::Pod>(values: &PerCpuValues<T>, mut f: impl FnMut(&T)) {
    values.iter().for_each(&mut f);
}

impl Maps {
    /// Opens every map pinned under `dir`.
    pub fn open(dir: &Path) -> Result<Self, DatapathError> {
        Ok(Self {
            pcs4: open(dir, names::PCS_V4, Map::HashMap)?,
            pcs6: open(dir, names::PCS_V6, Map::HashMap)?,
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

    /// A WAN interface's counters summed over CPUs (zero before its first packet).
    pub fn wan_counters(&self, ifindex: u32) -> WanCounters {
        let mut total = WanCounters::default();
        if let Ok(values) = self.wan.get(&ifindex, 0) {
            sum(&values, |c| total.add(c));
        }
        total
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
    pub fn bump_generation(&mut self) -> Result<u32, DatapathError> {
        let mut c = self.config.get(&0, 0).map_err(map_err(names::CONFIG))?;
        // Skip 0: it means "never evaluated" to the kernel.
        c.generation = c.generation.wrapping_add(1).max(1);
        self.config.set(0, c, 0).map_err(map_err(names::CONFIG))?;
        Ok(c.generation)
    }

    fn pc_info(&self, addr: IpAddr) -> Option<PcInfo> {
        match addr {
            IpAddr::V4(a) => self.pcs4.get(&v4_key(a), 0).ok(),
            IpAddr::V6(a) => self.pcs6.get(&addr6_from_octets(a.octets()), 0).ok(),
        }
    }

    /// Slots of the daemon's range already in use (it keeps no state of its own: the
    /// pinned map is the record, so a restart finds the same slots).
    fn used_config_slots(&self) -> HashSet<u32> {
        self.pc_infos()
            .into_iter()
            .map(|(_, i)| i.slot)
            .filter(|s| *s != 0 && *s < capacity::LEARNED_SLOT_BASE)
            .collect()
    }

    /// Declares a PC address with its group and state. An address the kernel already
    /// learned keeps its slot, so its counters continue.
    pub fn set_pc(&mut self, addr: IpAddr, group: u8, state: PcState) -> Result<(), DatapathError> {
        if u32::from(group) >= capacity::GROUPS {
            return Err(DatapathError::GroupOutOfRange {
                id: group.into(),
                max: capacity::GROUPS,
            });
        }
        let info = match self.pc_info(addr) {
            // Slot 0 is the shared "no slot" bucket (the kernel ran out): a configured PC
            // gets a slot of its own instead.
            Some(mut info) if info.slot != gateway_common::UNATTRIBUTED_SLOT => {
                info.group = group;
                info.state = state as u8;
                info
            }
            _ => {
                let used = self.used_config_slots();
                let slot = (1..capacity::LEARNED_SLOT_BASE)
                    .find(|s| !used.contains(s))
                    .ok_or(DatapathError::NoFreeSlot {
                        max: capacity::LEARNED_SLOT_BASE - 1,
                    })?;
                // A recycled slot must start from zero, not from its last owner's totals.
                self.zero_slot(slot)?;
                PcInfo {
                    slot,
                    mac: [0; 6],
                    group,
                    state: state as u8,
                }
            }
        };
        match addr {
            IpAddr::V4(a) => self
                .pcs4
                .insert(v4_key(a), info, 0)
                .map_err(map_err(names::PCS_V4)),
            IpAddr::V6(a) => self
                .pcs6
                .insert(addr6_from_octets(a.octets()), info, 0)
                .map_err(map_err(names::PCS_V6)),
        }
    }

    /// PC addresses holding a daemon slot (configured once) that `keep` does not list: the
    /// daemon resets them to the default group, allowed, keeping their counters.
    pub fn reset_unlisted(
        &mut self,
        keep: &dyn Fn(&IpAddr) -> bool,
    ) -> Result<usize, DatapathError> {
        // Entries only: this runs on every plan change, counters are not needed.
        let stale: Vec<IpAddr> = self
            .pc_infos()
            .into_iter()
            .filter(|(_, i)| i.slot != 0 && i.slot < capacity::LEARNED_SLOT_BASE)
            .filter(|(_, i)| {
                i.group != gateway_common::DEFAULT_GROUP || i.state != PcState::Allowed as u8
            })
            .map(|(a, _)| a)
            .filter(|a| !keep(a))
            .collect();
        for a in &stale {
            self.set_pc(*a, gateway_common::DEFAULT_GROUP, PcState::Allowed)?;
        }
        Ok(stale.len())
    }

    fn zero_slot(&mut self, slot: u32) -> Result<(), DatapathError> {
        let n = aya::util::nr_cpus().map_err(|(_, e)| DatapathError::Cpus(e.to_string()))?;
        let zeros = PerCpuValues::try_from(vec![Counters::default(); n])
            .map_err(|e| DatapathError::Cpus(e.to_string()))?;
        self.pc_stats
            .set(slot, zeros, 0)
            .map_err(map_err(names::PC_STATS))
    }

    /// Changes only the state of a known PC address. Returns false if it is unknown.
    pub fn set_pc_state(&mut self, addr: IpAddr, state: PcState) -> Result<bool, DatapathError> {
        let Some(info) = self.pc_info(addr) else {
            return Ok(false);
        };
        self.set_pc(addr, info.group, state)?;
        Ok(true)
    }

    fn counters(&self, slot: u32) -> Counters {
        let mut total = Counters::default();
        if let Ok(values) = self.pc_stats.get(&slot, 0) {
            sum(&values, |c| total.add(c));
        }
        total
    }

    /// Every PC address with its counters, in address order.
    pub fn pcs(&self) -> Vec<PcEntry> {
        let mut out: Vec<PcEntry> = self
            .pc_infos()
            .into_iter()
            .map(|(addr, info)| PcEntry {
                addr,
                info,
                // Slot 0 is shared by every address that found no slot: its total is
                // nobody's own (see `unattributed`).
                counters: if info.slot == gateway_common::UNATTRIBUTED_SLOT {
                    Counters::default()
                } else {
                    self.counters(info.slot)
                },
            })
            .collect();
        out.sort_by_key(|e| e.addr);
        out
    }

    /// Every PC address with its entry, without reading counters.
    fn pc_infos(&self) -> Vec<(IpAddr, PcInfo)> {
        let v4 = self
            .pcs4
            .iter()
            .filter_map(|r| r.ok())
            .map(|(k, i)| (IpAddr::V4(v4_from_key(k)), i));
        let v6 = self
            .pcs6
            .iter()
            .filter_map(|r| r.ok())
            .map(|(k, i)| (IpAddr::V6(v6_from_key(k)), i));
        v4.chain(v6).collect()
    }

    /// Counters of traffic that belongs to no PC (slot 0).
    pub fn unattributed(&self) -> Counters {
        self.counters(gateway_common::UNATTRIBUTED_SLOT)
    }

    /// Every flow, counters summed over CPUs.
    pub fn flows(&self) -> Vec<FlowEntry> {
        let mut out = Vec::new();
        for (words, counters) in self.flows4.flows() {
            // SAFETY: the words hold a `FlowKeyV4` (plain integers) at their start.
            let k: FlowKeyV4 = unsafe { std::ptr::read_unaligned(words.as_ptr().cast()) };
            out.push(FlowEntry {
                pc: IpAddr::V4(v4_from_key(k.pc)),
                remote: IpAddr::V4(v4_from_key(k.remote)),
                proto: k.proto,
                remote_port: k.remote_port,
                counters,
            });
        }
        for (words, counters) in self.flows6.flows() {
            // SAFETY: as above, a `FlowKeyV6`.
            let k: FlowKeyV6 = unsafe { std::ptr::read_unaligned(words.as_ptr().cast()) };
            out.push(FlowEntry {
                pc: IpAddr::V6(v6_from_key(k.pc)),
                remote: IpAddr::V6(v6_from_key(k.remote)),
                proto: k.proto,
                remote_port: k.remote_port,
                counters,
            });
        }
        out
    }

    /// Replaces the whole blocked set: `wanted` maps each address or range
    /// (address, prefix length) to the mask of groups it is blocked for. Entries not in
    /// `wanted` are removed. Returns how many entries were written.
    pub fn sync_blocked(
        &mut self,
        wanted: &BTreeMap<(IpAddr, u8), u64>,
    ) -> Result<usize, DatapathError> {
        let err4 = map_err(names::BLOCK_V4);
        let err6 = map_err(names::BLOCK_V6);
        let errc4 = map_err(names::BLOCK_CIDR_V4);
        let errc6 = map_err(names::BLOCK_CIDR_V6);
        // Remove what is no longer wanted first, then write the rest.
        let v4 = |k: u32, len: u8| wanted.contains_key(&(IpAddr::V4(v4_from_key(k)), len));
        let v6 = |k: Addr6, len: u8| wanted.contains_key(&(IpAddr::V6(v6_from_key(k)), len));
        remove_where(&mut self.block4, names::BLOCK_V4, |k| !v4(*k, 32))?;
        remove_where(&mut self.block6, names::BLOCK_V6, |k| !v6(*k, 128))?;
        remove_where(&mut self.cidr4, names::BLOCK_CIDR_V4, |k| {
            !v4(k.data(), k.prefix_len() as u8)
        })?;
        remove_where(&mut self.cidr6, names::BLOCK_CIDR_V6, |k| {
            !v6(k.data(), k.prefix_len() as u8)
        })?;

        // The trie answers with the longest matching range only, so a range must carry the
        // groups of every shorter range containing it, or group A's 10.0.0.0/8 would stop
        // applying inside group B's 10.1.0.0/16.
        let ranges: Vec<(IpAddr, u8, u64)> = wanted
            .iter()
            .filter(|((a, p), _)| *p < if a.is_ipv4() { 32 } else { 128 })
            .map(|((a, p), m)| (*a, *p, *m))
            .collect();
        let inherited = |addr: IpAddr, prefix: u8, mask: u64| -> u64 {
            ranges
                .iter()
                .filter(|(a, p, _)| *p < prefix && net_contains(*a, *p, addr))
                .fold(mask, |m, (_, _, other)| m | other)
        };
        let mut range_groups = [0u32; capacity::GROUPS as usize];
        for (&(addr, prefix), &mask) in wanted {
            // Exact addresses inside a range get its groups too: not needed for the verdict
            // (the trie is still asked after an exact miss), but the exact hit then saves
            // the trie walk.
            let mask = inherited(addr, prefix, mask);
            match addr {
                IpAddr::V4(a) if prefix >= 32 => {
                    self.block4.insert(v4_key(a), mask, 0).map_err(err4)?
                }
                IpAddr::V6(a) if prefix >= 128 => self
                    .block6
                    .insert(addr6_from_octets(a.octets()), mask, 0)
                    .map_err(err6)?,
                IpAddr::V4(a) => {
                    self.cidr4
                        .insert(&Key::new(prefix.into(), v4_key(a)), mask, 0)
                        .map_err(errc4)?;
                    mark(&mut range_groups, mask, GROUP_HAS_RANGES_V4);
                }
                IpAddr::V6(a) => {
                    self.cidr6
                        .insert(
                            &Key::new(prefix.into(), addr6_from_octets(a.octets())),
                            mask,
                            0,
                        )
                        .map_err(errc6)?;
                    mark(&mut range_groups, mask, GROUP_HAS_RANGES_V6);
                }
            }
        }
        for (id, flags) in range_groups.iter().enumerate() {
            let info = GroupInfo { flags: *flags };
            self.groups
                .set(id as u32, info, 0)
                .map_err(map_err(names::GROUPS))?;
        }
        Ok(wanted.len())
    }

    /// The gateway's own addresses, which no drop ever applies to.
    pub fn set_gateway_addrs(&mut self, addrs: &[IpAddr]) -> Result<(), DatapathError> {
        remove_where(&mut self.gw4, names::GW_ADDR_V4, |_| true)?;
        remove_where(&mut self.gw6, names::GW_ADDR_V6, |_| true)?;
        for a in addrs {
            match a {
                IpAddr::V4(a) => self.gw4.insert(v4_key(*a), 1, 0),
                IpAddr::V6(a) => self.gw6.insert(addr6_from_octets(a.octets()), 1, 0),
            }
            .map_err(|source| DatapathError::Map {
                name: if a.is_ipv4() {
                    names::GW_ADDR_V4
                } else {
                    names::GW_ADDR_V6
                },
                source,
            })?;
        }
        Ok(())
    }

    /// Dropped packets by reason, summed over CPUs.
    pub fn drops(&self) -> Vec<(DropReason, u64)> {
        DropReason::ALL
            .iter()
            .filter(|r| **r != DropReason::None)
            .map(|r| (*r, self.percpu_sum(&self.drops, *r as u32)))
            .collect()
    }

    pub fn stats(&self) -> Vec<(Stat, u64)> {
        Stat::ALL
            .iter()
            .map(|s| (*s, self.percpu_sum(&self.stats, *s as u32)))
            .collect()
    }

    fn percpu_sum(&self, map: &PerCpuArray<MapData, u64>, idx: u32) -> u64 {
        let mut total = 0;
        if let Ok(values) = map.get(&idx, 0) {
            sum(&values, |v| total += *v);
        }
        total
    }
}

/// Whether `net/prefix` contains `addr` (same family only).
pub fn net_contains(net: IpAddr, prefix: u8, addr: IpAddr) -> bool {
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            u32::from(n) & m == u32::from(a) & m
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            u128::from(n) & m == u128::from(a) & m
        }
        _ => false,
    }
}

/// The two kinds of keyed maps the daemon prunes (hash maps and LPM tries).
trait Keyed<K> {
    fn all_keys(&self) -> Vec<K>;
    fn delete(&mut self, key: &K) -> Result<(), aya::maps::MapError>;
}

impl<K: aya::Pod, V: aya::Pod> Keyed<K> for HashMap<MapData, K, V> {
    fn all_keys(&self) -> Vec<K> {
        self.keys().filter_map(|k| k.ok()).collect()
    }
    fn delete(&mut self, key: &K) -> Result<(), aya::maps::MapError> {
        self.remove(key)
    }
}

impl<K: aya::Pod, V: aya::Pod> Keyed<Key<K>> for LpmTrie<MapData, K, V> {
    fn all_keys(&self) -> Vec<Key<K>> {
        self.keys().filter_map(|k| k.ok()).collect()
    }
    fn delete(&mut self, key: &Key<K>) -> Result<(), aya::maps::MapError> {
        self.remove(key)
    }
}

/// Deletes every key `unwanted` picks. Keys are collected first: deleting while the kernel
/// iterates would restart the walk.
fn remove_where<K, M: Keyed<K>>(
    map: &mut M,
    name: &'static str,
    unwanted: impl Fn(&K) -> bool,
) -> Result<(), DatapathError> {
    for k in map.all_keys().into_iter().filter(|k| unwanted(k)) {
        map.delete(&k)
            .map_err(|source| DatapathError::Map { name, source })?;
    }
    Ok(())
}

/// The error of an operation on map `name`.
fn map_err(name: &'static str) -> impl Fn(aya::maps::MapError) -> DatapathError + Copy {
    move |source| DatapathError::Map { name, source }
}

fn mark(groups: &mut [u32], mask: u64, flag: u32) {
    for (id, g) in groups.iter_mut().enumerate() {
        if mask & (1u64 << id) != 0 {
            *g |= flag;
        }
    }
}
