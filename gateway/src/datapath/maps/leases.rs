//! The DHCP server's word on who an address is: each lease binds its address to its
//! MAC in `ADDRS_V4/6`, so a device that sends with an address leased to another —
//! before the owner ever spoke, or after — is judged as itself and counted as spoofing
//! (`device.rs` in the kernel), instead of the first sender keeping the address.
//!
//! The gateway's own neighbour table (ARP/ND) is not used: it is filled from what LAN
//! devices claim, which is the very thing a spoofer forges.

use std::net::IpAddr;

use gateway_common::{AddrInfo, UNATTRIBUTED_SLOT, mac_key};

use super::{Maps, pcs::now_secs};
use crate::datapath::DatapathError;

impl Maps {
    /// Binds each leased address to its MAC: to the MAC's device when the kernel knows it,
    /// else reserved for the MAC (slot 0 until the owner's first packet, see `device.rs`).
    /// Addresses already bound to their lease's MAC are left alone. Returns how many
    /// changed (bump the generation after: cached flows keep their old device until then).
    pub fn bind_leases(&mut self, leases: &[(IpAddr, [u8; 6])]) -> Result<usize, DatapathError> {
        let mut n = 0;
        for &(addr, mac) in leases {
            if mac == [0; 6] {
                continue;
            }
            let old = self.addr_info(addr);
            if old.is_some_and(|a| a.mac == mac) {
                continue;
            }
            let slot = self.macs.get(&mac_key(mac), 0).unwrap_or(UNATTRIBUTED_SLOT);
            let info = AddrInfo {
                slot,
                mac,
                _pad: [0; 2],
                seen: old.map_or_else(now_secs, |a| a.seen),
            };
            self.put_addr(addr, info)?;
            n += 1;
        }
        Ok(n)
    }
}
