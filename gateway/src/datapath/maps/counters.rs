//! Reading the counters: per PC, per flow, drops, datapath events, WAN links. Per-CPU
//! values are summed here.

use std::{collections::BTreeMap, net::IpAddr};

use aya::maps::{MapData, PerCpuArray, PerCpuValues};
use gateway_common::{
    Counters, DropReason, FlowKeyV4, FlowKeyV6, PcInfo, Stat, UNATTRIBUTED_SLOT, WanCounters,
};

use super::{Maps, v4_from_key, v6_from_key};

/// One device as the datapath knows it: every address and MAC pointing at its slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceEntry {
    pub slot: u32,
    /// Its MACs (the one its frames carry; a listed PC may name more).
    pub macs: Vec<[u8; 6]>,
    /// Its addresses, IPv4 first.
    pub addrs: Vec<IpAddr>,
    pub group: u8,
    pub state: u8,
    /// New flows it sent with an address bound to another device.
    pub spoofed: u32,
    /// Its counters: the sum of `parts`.
    pub counters: Counters,
    /// Each slot it counts on (its own, and those of devices joined to it, see
    /// `DeviceInfo::alias`) with that slot's counters: what usage marks are kept by.
    pub parts: Vec<(u32, Counters)>,
}

/// One PC address as the datapath knows it. Addresses of one device share its slot and
/// so its counters: sum devices (`Maps::devices`), not addresses.
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
    /// The set of the flow table holding this part of the flow (one per CPU that saw it).
    pub set: u32,
    pub counters: Counters,
}

fn sum<T: aya::Pod>(values: &PerCpuValues<T>, mut f: impl FnMut(&T)) {
    values.iter().for_each(&mut f);
}

impl Maps {
    /// A WAN interface's counters summed over CPUs (zero before its first packet).
    pub fn wan_counters(&self, ifindex: u32) -> WanCounters {
        let mut total = WanCounters::default();
        if let Ok(values) = self.wan.get(&ifindex, 0) {
            sum(&values, |c| total.add(c));
        }
        total
    }
    pub(super) fn slot_counters(&self, slot: u32) -> Counters {
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
                    self.slot_counters(info.slot)
                },
            })
            .collect();
        out.sort_by_key(|e| e.addr);
        out
    }
    /// Every device (every slot an address or a MAC points at), in slot order.
    pub fn devices(&self) -> Vec<DeviceEntry> {
        let mut by_slot: BTreeMap<u32, DeviceEntry> = BTreeMap::new();
        for (addr, info) in self.addr_entries() {
            if info.slot == UNATTRIBUTED_SLOT {
                continue;
            }
            let e = self.device_entry(&mut by_slot, info.slot);
            e.addrs.push(addr);
            if info.mac != [0; 6] && !e.macs.contains(&info.mac) {
                e.macs.push(info.mac);
            }
        }
        for (mac, slot) in self.mac_entries() {
            if slot == UNATTRIBUTED_SLOT {
                continue;
            }
            let e = self.device_entry(&mut by_slot, slot);
            if !e.macs.contains(&mac) {
                e.macs.push(mac);
            }
        }
        // Devices joined to another (`DeviceInfo::alias`) are part of it.
        let aliased: Vec<(u32, u32)> = by_slot
            .keys()
            .map(|s| (*s, self.device_info(*s).alias))
            .filter(|(s, a)| *a != 0 && a != s)
            .collect();
        for (slot, target) in aliased {
            let Some(part) = by_slot.remove(&slot) else {
                continue;
            };
            let t = self.device_entry(&mut by_slot, target);
            t.addrs.extend(part.addrs);
            for m in part.macs {
                if !t.macs.contains(&m) {
                    t.macs.push(m);
                }
            }
            t.spoofed += part.spoofed;
            t.counters.add(&part.counters);
            t.parts.extend(part.parts);
        }
        let mut out: Vec<DeviceEntry> = by_slot.into_values().collect();
        for d in &mut out {
            d.addrs.sort();
        }
        out
    }

    fn device_entry<'a>(
        &self,
        by_slot: &'a mut BTreeMap<u32, DeviceEntry>,
        slot: u32,
    ) -> &'a mut DeviceEntry {
        by_slot.entry(slot).or_insert_with(|| {
            let d = self.device_info(slot);
            let counters = self.slot_counters(slot);
            DeviceEntry {
                slot,
                macs: Vec::new(),
                addrs: Vec::new(),
                group: d.group,
                state: d.state,
                spoofed: d.spoofed,
                counters,
                parts: vec![(slot, counters)],
            }
        })
    }

    /// Counters of traffic that belongs to no PC (slot 0).
    pub fn unattributed(&self) -> Counters {
        self.slot_counters(UNATTRIBUTED_SLOT)
    }

    /// Every flow, once per CPU that counted it (`FlowEntry::set`).
    pub fn flows(&self) -> Vec<FlowEntry> {
        let mut out = Vec::new();
        for ((words, set), counters) in self.flows4.flows() {
            // SAFETY: the words hold a `FlowKeyV4` (plain integers) at their start.
            let k: FlowKeyV4 = unsafe { std::ptr::read_unaligned(words.as_ptr().cast()) };
            out.push(FlowEntry {
                pc: IpAddr::V4(v4_from_key(k.pc)),
                remote: IpAddr::V4(v4_from_key(k.remote)),
                proto: k.proto,
                remote_port: k.remote_port,
                set,
                counters,
            });
        }
        for ((words, set), counters) in self.flows6.flows() {
            // SAFETY: as above, a `FlowKeyV6`.
            let k: FlowKeyV6 = unsafe { std::ptr::read_unaligned(words.as_ptr().cast()) };
            out.push(FlowEntry {
                pc: IpAddr::V6(v6_from_key(k.pc)),
                remote: IpAddr::V6(v6_from_key(k.remote)),
                proto: k.proto,
                remote_port: k.remote_port,
                set,
                counters,
            });
        }
        out
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
