//! PC entries (`PCS_V4`/`PCS_V6`) and the daemon's range of counter slots.

use std::{collections::HashSet, net::IpAddr};

use aya::maps::PerCpuValues;
use gateway_common::{Counters, PcInfo, PcState, addr6_from_octets, capacity, maps as names};

use super::{Maps, map_err, v4_from_key, v4_key, v6_from_key};
use crate::datapath::DatapathError;

impl Maps {
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

    /// PC addresses that `keep` does not list — configured once, or learned by the
    /// kernel — are reset to `unknown` (the group for devices the policy does not list),
    /// allowed, keeping their counters.
    pub fn reset_unlisted(
        &mut self,
        keep: &dyn Fn(&IpAddr) -> bool,
        unknown: u8,
    ) -> Result<usize, DatapathError> {
        // Entries only: this runs on every plan change, counters are not needed.
        let stale: Vec<IpAddr> = self
            .pc_infos()
            .into_iter()
            .filter(|(_, i)| i.slot != gateway_common::UNATTRIBUTED_SLOT)
            .filter(|(_, i)| i.group != unknown || i.state != PcState::Allowed as u8)
            .map(|(a, _)| a)
            .filter(|a| !keep(a))
            .collect();
        for a in &stale {
            self.set_pc(*a, unknown, PcState::Allowed)?;
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
    /// Every PC address with its entry, without reading counters.
    pub(super) fn pc_infos(&self) -> Vec<(IpAddr, PcInfo)> {
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
}
