//! Devices: their addresses (`ADDRS_V4`/`ADDRS_V6`) and MACs (`MACS`) pointing at one
//! counter slot each, their group and state by slot (`DEVICES`), the daemon's range of
//! slots for listed PCs, the kernel's free slots (`FREE_SLOTS`), and forgetting devices
//! and addresses no longer used so that address or MAC churn never exhausts a table.

use std::{
    collections::{HashMap as StdHashMap, HashSet},
    net::IpAddr,
};

use aya::maps::PerCpuValues;
use gateway_common::{
    AddrInfo, Counters, DeviceInfo, PcInfo, PcState, STATE_PAGE, UNATTRIBUTED_SLOT,
    addr6_from_octets, capacity, mac_key, maps as names,
};

use super::{Maps, map_err, v4_from_key, v4_key, v6_from_key};
use crate::datapath::DatapathError;

/// `aa:bb:cc:dd:ee:ff`; empty for the zero MAC (not seen).
pub fn mac_text(mac: &[u8; 6]) -> String {
    if *mac == [0; 6] {
        return String::new();
    }
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `aa:bb:cc:dd:ee:ff` (or with `-`), any case. A group (multicast) address or zero is
/// nobody's MAC.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = text.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    (mac != [0; 6] && mac[0] & 1 == 0).then_some(mac)
}

/// `AddrInfo::seen`'s clock: CLOCK_MONOTONIC_COARSE (the kernel's
/// `bpf_ktime_get_coarse_ns`) in units of 2^30 ns.
pub fn now_secs() -> u32 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut t) };
    ((t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64) >> 30) as u32
}

/// An address table fuller than this fraction of its capacity is shed...
const SHED_ABOVE: (u64, u64) = (3, 4);
/// ...down to this fraction.
const SHED_TO: (u64, u64) = (1, 2);

impl Maps {
    pub(super) fn addr_info(&self, addr: IpAddr) -> Option<AddrInfo> {
        match addr {
            IpAddr::V4(a) => self.addrs4.get(&v4_key(a), 0).ok(),
            IpAddr::V6(a) => self.addrs6.get(&addr6_from_octets(a.octets()), 0).ok(),
        }
    }

    pub(super) fn put_addr(&mut self, addr: IpAddr, info: AddrInfo) -> Result<(), DatapathError> {
        match addr {
            IpAddr::V4(a) => self
                .addrs4
                .insert(v4_key(a), info, 0)
                .map_err(map_err(names::ADDRS_V4)),
            IpAddr::V6(a) => self
                .addrs6
                .insert(addr6_from_octets(a.octets()), info, 0)
                .map_err(map_err(names::ADDRS_V6)),
        }
    }

    fn remove_addr(&mut self, addr: IpAddr) {
        let _ = match addr {
            IpAddr::V4(a) => self.addrs4.remove(&v4_key(a)),
            IpAddr::V6(a) => self.addrs6.remove(&addr6_from_octets(a.octets())),
        };
    }

    pub(super) fn device_info(&self, slot: u32) -> DeviceInfo {
        self.devices.get(&slot, 0).unwrap_or_default()
    }

    fn set_device(&mut self, slot: u32, info: DeviceInfo) -> Result<(), DatapathError> {
        self.devices
            .set(slot, info, 0)
            .map_err(map_err(names::DEVICES))
    }

    /// Every address entry.
    pub(super) fn addr_entries(&self) -> Vec<(IpAddr, AddrInfo)> {
        let v4 = self
            .addrs4
            .iter()
            .filter_map(|r| r.ok())
            .map(|(k, i)| (IpAddr::V4(v4_from_key(k)), i));
        let v6 = self
            .addrs6
            .iter()
            .filter_map(|r| r.ok())
            .map(|(k, i)| (IpAddr::V6(v6_from_key(k)), i));
        v4.chain(v6).collect()
    }

    /// Makes room in a nearly full address table: while one family's table is over
    /// `SHED_ABOVE` of its capacity, its addresses idle longest (that `keep` does not
    /// hold: what the policy lists) are forgotten until it is down to `SHED_TO`. A PC
    /// sending from random sources fills the table in seconds; a full one would refuse
    /// the policy's own addresses and every new device. A forgotten address costs its
    /// device nothing: the next flow from it finds the device again by its MAC. Returns
    /// how many were forgotten.
    pub fn shed_addresses(&mut self, keep: &dyn Fn(&IpAddr) -> bool) -> usize {
        let now = now_secs();
        let mut shed = 0;
        for v4 in [true, false] {
            let mut entries: Vec<(IpAddr, u32)> = self
                .addr_entries()
                .into_iter()
                .filter(|(a, _)| a.is_ipv4() == v4)
                .map(|(a, i)| (a, now.wrapping_sub(i.seen)))
                .collect();
            if entries.len() as u64 <= u64::from(capacity::PCS) * SHED_ABOVE.0 / SHED_ABOVE.1 {
                continue;
            }
            let excess =
                entries.len() - (u64::from(capacity::PCS) * SHED_TO.0 / SHED_TO.1) as usize;
            entries.retain(|(a, _)| !keep(a));
            // Idle longest first.
            entries.sort_unstable_by_key(|(_, age)| std::cmp::Reverse(*age));
            for (a, _) in entries.into_iter().take(excess) {
                self.remove_addr(a);
                shed += 1;
            }
        }
        shed
    }

    /// Every MAC binding: MAC → slot.
    pub(super) fn mac_entries(&self) -> Vec<([u8; 6], u32)> {
        self.macs
            .iter()
            .filter_map(|r| r.ok())
            .map(|(k, s)| {
                let b = k.to_le_bytes();
                ([b[0], b[1], b[2], b[3], b[4], b[5]], s)
            })
            .collect()
    }

    /// Slots some address or MAC points at.
    fn used_slots(&self) -> HashSet<u32> {
        self.addr_entries()
            .into_iter()
            .map(|(_, i)| i.slot)
            .chain(self.mac_entries().into_iter().map(|(_, s)| s))
            .filter(|s| *s != UNATTRIBUTED_SLOT)
            .collect()
    }

    /// Declares one PC: its addresses and MACs become one device with `group` and
    /// `state`. A device already met under one of them keeps its slot, so its counters
    /// continue; else it gets a fresh slot of the daemon's range. Returns the slot.
    pub fn declare_pc(
        &mut self,
        addrs: &[IpAddr],
        macs: &[[u8; 6]],
        group: u8,
        state: PcState,
    ) -> Result<u32, DatapathError> {
        if u32::from(group) >= capacity::GROUPS {
            return Err(DatapathError::GroupOutOfRange {
                id: group.into(),
                max: capacity::GROUPS,
            });
        }
        let existing: Vec<u32> = addrs
            .iter()
            .filter_map(|a| self.addr_info(*a).map(|i| i.slot))
            .chain(
                macs.iter()
                    .filter_map(|m| self.macs.get(&mac_key(*m), 0).ok()),
            )
            .filter(|s| *s != UNATTRIBUTED_SLOT)
            .collect();
        // The daemon's own range first: that slot was this PC's before.
        let slot = match existing
            .iter()
            .find(|s| **s < capacity::LEARNED_SLOT_BASE)
            .or(existing.first())
        {
            Some(s) => *s,
            None => {
                let used = self.used_slots();
                let slot = (1..capacity::LEARNED_SLOT_BASE)
                    .find(|s| !used.contains(s))
                    .ok_or(DatapathError::NoFreeSlot {
                        max: capacity::LEARNED_SLOT_BASE - 1,
                    })?;
                // A recycled slot must start from zero, not from its last owner's totals.
                self.zero_slot(slot)?;
                slot
            }
        };
        let mut dev = self.device_info(slot);
        dev.group = group;
        // The same state keeps its `STATE_PAGE` (the held page stays readied).
        if dev.state & !STATE_PAGE != state as u8 {
            dev.state = state as u8;
        }
        self.set_device(slot, dev)?;
        for a in addrs {
            let mut info = self.addr_info(*a).unwrap_or_default();
            if info.slot != slot {
                info.slot = slot;
                info.seen = now_secs();
                self.put_addr(*a, info)?;
            }
        }
        for m in macs {
            self.macs
                .insert(mac_key(*m), slot, 0)
                .map_err(map_err(names::MACS))?;
        }
        Ok(slot)
    }

    /// One address as a PC of its own (tests, benchmarks).
    pub fn set_pc(&mut self, addr: IpAddr, group: u8, state: PcState) -> Result<(), DatapathError> {
        self.declare_pc(&[addr], &[], group, state).map(|_| ())
    }

    /// Devices whose slot `listed` does not hold — met by the kernel, or a PC taken out
    /// of the policy — get the group `group_of` their addresses (the group whose
    /// `networks` hold one, else the one for devices the policy does not list), allowed,
    /// keeping their counters. Returns how many changed.
    pub fn reset_unlisted(
        &mut self,
        listed: &HashSet<u32>,
        group_of: &dyn Fn(&[IpAddr]) -> u8,
    ) -> Result<usize, DatapathError> {
        let mut addrs: StdHashMap<u32, Vec<IpAddr>> = StdHashMap::new();
        for (a, info) in self.addr_entries() {
            addrs.entry(info.slot).or_default().push(a);
        }
        let mut n = 0;
        for slot in self.used_slots() {
            if listed.contains(&slot) {
                continue;
            }
            let group = group_of(addrs.get(&slot).map_or(&[], |v| v));
            let mut d = self.device_info(slot);
            if d.group != group || d.state != PcState::Allowed as u8 {
                d.group = group;
                d.state = PcState::Allowed as u8;
                self.set_device(slot, d)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Makes a device met under one address (its link-local one) the listed PC its MAC
    /// turned out to be (`DeviceInfo::alias`): its addresses' new flows count on the PC
    /// and follow its rules, while what it counted so far stays on its own slot, shown as
    /// part of the PC (`devices`). Returns how many devices were joined (the caller bumps
    /// the generation when any were, so cached flows follow).
    pub fn join_by_mac(&mut self) -> Result<usize, DatapathError> {
        let macs: StdHashMap<[u8; 6], u32> = self.mac_entries().into_iter().collect();
        let mut joined = HashSet::new();
        for (_, info) in self.addr_entries() {
            let Some(&target) = macs.get(&info.mac) else {
                continue;
            };
            if info.mac == [0; 6]
                || target == info.slot
                || info.slot < capacity::LEARNED_SLOT_BASE
                || joined.contains(&info.slot)
            {
                continue;
            }
            let mut d = self.device_info(info.slot);
            // Never a chain: the target must be no alias itself.
            if d.alias != target && self.device_info(target).alias == 0 {
                d.alias = target;
                self.set_device(info.slot, d)?;
                joined.insert(info.slot);
            }
        }
        Ok(joined.len())
    }

    pub(super) fn zero_slot(&mut self, slot: u32) -> Result<(), DatapathError> {
        let n = aya::util::nr_cpus().map_err(|(_, e)| DatapathError::Cpus(e.to_string()))?;
        let zeros = PerCpuValues::try_from(vec![Counters::default(); n])
            .map_err(|e| DatapathError::Cpus(e.to_string()))?;
        self.pc_stats
            .set(slot, zeros, 0)
            .map_err(map_err(names::PC_STATS))
    }

    /// Changes only the state of the device at a known address. Returns false if the
    /// address is unknown.
    pub fn set_pc_state(&mut self, addr: IpAddr, state: PcState) -> Result<bool, DatapathError> {
        let Some(info) = self.addr_info(addr) else {
            return Ok(false);
        };
        let mut d = self.device_info(info.slot);
        d.state = state as u8;
        self.set_device(info.slot, d)?;
        Ok(true)
    }

    /// Puts a device in datapath group `group` (an unlisted device in a group's
    /// `networks`). Returns whether it changed.
    pub fn set_group(&mut self, slot: u32, group: u8) -> Result<bool, DatapathError> {
        let mut d = self.device_info(slot);
        if d.group == group {
            return Ok(false);
        }
        d.group = group;
        self.set_device(slot, d)?;
        Ok(true)
    }

    /// Sets or clears `STATE_PAGE` on a device's state (`held`: the daemon's table leads
    /// the device's HTTP to the block page). A device no longer held is left alone.
    /// Returns whether it changed.
    pub fn set_page(&mut self, slot: u32, on: bool) -> Result<bool, DatapathError> {
        let mut d = self.device_info(slot);
        let held = d.state & !STATE_PAGE != PcState::Allowed as u8;
        let want = if on && held {
            d.state | STATE_PAGE
        } else {
            d.state & !STATE_PAGE
        };
        if want == d.state {
            return Ok(false);
        }
        d.state = want;
        self.set_device(slot, d)?;
        Ok(true)
    }

    /// Clears `STATE_PAGE` everywhere: at load, before anything is attached, since the
    /// table that made it safe may be gone with the previous run.
    pub fn clear_page_flags(&mut self) -> Result<(), DatapathError> {
        for slot in self.used_slots() {
            self.set_page(slot, false)?;
        }
        Ok(())
    }

    /// Every address with its device's slot, group and state, without reading counters.
    pub(super) fn pc_infos(&self) -> Vec<(IpAddr, PcInfo)> {
        self.addr_entries()
            .into_iter()
            .map(|(a, i)| {
                let d = self.device_info(i.slot);
                (
                    a,
                    PcInfo {
                        slot: i.slot,
                        mac: i.mac,
                        group: d.group,
                        state: d.state,
                    },
                )
            })
            .collect()
    }

    /// Fills the kernel's free slots when the queue is empty (new maps, or every slot
    /// taken): every slot of its range no address or MAC points at, with its counters
    /// zeroed. A queue with slots in it is the previous run's, kept right by its
    /// reclaimer: left alone, since the programs may still be attached (pinned links) and
    /// a slot the kernel takes while this runs could be handed out twice.
    pub fn refill_free_slots(&mut self) -> Result<usize, DatapathError> {
        if let Ok(slot) = self.free_slots.pop(0) {
            self.free_slots
                .push(slot, 0)
                .map_err(map_err(names::FREE_SLOTS))?;
            return Ok(0);
        }
        let used = self.used_slots();
        let mut n = 0;
        for slot in capacity::LEARNED_SLOT_BASE..capacity::PC_SLOTS {
            if used.contains(&slot) {
                continue;
            }
            if self.slot_counters(slot) != Counters::default() {
                self.zero_slot(slot)?;
            }
            self.free_slots
                .push(slot, 0)
                .map_err(map_err(names::FREE_SLOTS))?;
            n += 1;
        }
        Ok(n)
    }

    /// Forgets a device: its addresses and MACs, its counters; a slot of the kernel's
    /// range goes back to it. The caller has counted its traffic already.
    fn forget_device(
        &mut self,
        slot: u32,
        addrs: &[IpAddr],
        macs: &[[u8; 6]],
    ) -> Result<(), DatapathError> {
        for a in addrs {
            self.remove_addr(*a);
        }
        for m in macs {
            let _ = self.macs.remove(&mac_key(*m));
        }
        self.zero_slot(slot)?;
        self.set_device(slot, DeviceInfo::default())?;
        if slot >= capacity::LEARNED_SLOT_BASE {
            self.free_slots
                .push(slot, 0)
                .map_err(map_err(names::FREE_SLOTS))?;
        }
        Ok(())
    }
}

/// What one round of `Reclaimer::reclaim` forgot.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reclaimed {
    pub addresses: usize,
    /// Slots of the devices forgotten.
    pub devices: Vec<u32>,
}

/// Forgets what is no longer used: an address no new flow used for `idle` seconds (its
/// device keeps its other addresses and is found again by its MAC), and a device whose
/// counters stood still for `idle` seconds. What the policy lists is never forgotten.
/// `idle` is in `now_secs` units (~1.07 s).
#[derive(Default)]
pub struct Reclaimer {
    /// Per slot: its packet total when last seen moving, and when.
    moved: StdHashMap<u32, (u64, u32)>,
}

impl Reclaimer {
    pub fn reclaim(
        &mut self,
        maps: &mut Maps,
        idle: u32,
        listed: &HashSet<u32>,
        listed_addr: &dyn Fn(&IpAddr) -> bool,
    ) -> Result<Reclaimed, DatapathError> {
        let now = now_secs();
        let mut out = Reclaimed {
            addresses: maps.shed_addresses(listed_addr),
            ..Default::default()
        };
        let mut by_slot: StdHashMap<u32, Vec<IpAddr>> = StdHashMap::new();
        for (a, info) in maps.addr_entries() {
            if !listed_addr(&a) && now.wrapping_sub(info.seen) >= idle {
                maps.remove_addr(a);
                out.addresses += 1;
                continue;
            }
            by_slot.entry(info.slot).or_default().push(a);
        }
        let mut macs: StdHashMap<u32, Vec<[u8; 6]>> = StdHashMap::new();
        for (m, s) in maps.mac_entries() {
            macs.entry(s).or_default().push(m);
        }
        let mut slots: HashSet<u32> = by_slot.keys().copied().collect();
        slots.extend(macs.keys().copied());
        slots.remove(&UNATTRIBUTED_SLOT);
        self.moved.retain(|s, _| slots.contains(s));
        // A device others are joined to lives as long as they do.
        let targets: HashSet<u32> = slots
            .iter()
            .map(|s| maps.device_info(*s).alias)
            .filter(|a| *a != 0)
            .collect();
        for slot in slots {
            if listed.contains(&slot) || targets.contains(&slot) {
                continue;
            }
            let c = maps.slot_counters(slot);
            let total = c.up_packets + c.down_packets + c.dropped_packets;
            let since = match self.moved.get(&slot) {
                Some((t, since)) if *t == total => *since,
                _ => {
                    self.moved.insert(slot, (total, now));
                    now
                }
            };
            if now.wrapping_sub(since) >= idle {
                let addrs = by_slot.remove(&slot).unwrap_or_default();
                maps.forget_device(slot, &addrs, macs.get(&slot).map_or(&[], |v| v))?;
                self.moved.remove(&slot);
                out.addresses += addrs.len();
                out.devices.push(slot);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_parsed_strictly() {
        assert_eq!(parse_mac("02:00:0A:0a:00:0b"), Some([2, 0, 10, 10, 0, 11]));
        assert_eq!(parse_mac("02-00-0a-0a-00-0b"), Some([2, 0, 10, 10, 0, 11]));
        for bad in [
            "",
            "02:00:0a:0a:00",
            "02:00:0a:0a:00:0b:0c",
            "01:00:5e:00:00:01",
            "00:00:00:00:00:00",
            "02:00:0a:0a:00:zz",
            "2:0:a:a:0:b",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
        assert_eq!(mac_text(&[2, 0, 10, 10, 0, 11]), "02:00:0a:0a:00:0b");
        assert_eq!(mac_text(&[0; 6]), "");
    }
}
