//! Devices on a flow miss: which device a packet's PC address is (by the address's entry
//! and the frame's MAC), meeting new ones (a slot from `FREE_SLOTS`), binding MACs, and
//! noticing an address sent from another device's MAC (spoofing).

use aya_ebpf::bindings::{BPF_ANY, BPF_NOEXIST};
use gateway_common::{
    AddrInfo, DEFAULT_GROUP, DeviceInfo, PcInfo, PcState, Stat, UNATTRIBUTED_SLOT, capacity,
    mac_key,
};

use crate::{
    account::Pkt,
    maps::{CONFIG, DEVICES, FREE_SLOTS, MACS, bump},
};

/// The device behind a packet's PC address, met for the first time or not: the address's
/// entry when its MAC is the frame's, else the device of the frame's MAC (a new address
/// of a known device, or a device sending with an address bound to another: spoofing,
/// which gets the sender's own rights and is counted). A device met first gets a slot
/// from `FREE_SLOTS` and the group the policy names for devices it does not list
/// (`Config::unknown_group`). Runs on a flow miss only.
#[inline(always)]
pub fn pc_entry<K>(addrs: &aya_ebpf::maps::HashMap<K, AddrInfo>, addr: &K, pkt: &Pkt) -> PcInfo {
    let mac = pkt.pc_mac();
    let known = mac != [0; 6];
    let seen = now_secs();
    let slot = match addrs.get_ptr_mut(addr) {
        Some(p) => {
            // SAFETY: the entry lives in a preallocated hash map; a concurrent delete by
            // the daemon at worst makes us read a recycled entry once.
            let a = unsafe { *p };
            if a.seen != seen {
                // SAFETY: as above; a plain store of a u32.
                unsafe { (*p).seen = seen };
            }
            if a.mac == [0; 6] {
                if known {
                    // SAFETY: as above.
                    unsafe { (*p).mac = mac };
                    bind_mac(mac, a.slot);
                }
                a.slot
            } else if known && mac == a.mac && a.slot == UNATTRIBUTED_SLOT {
                // Reserved by the daemon for this MAC (a DHCP lease) before the device
                // was met: its owner is here now.
                let s = device_of_mac(mac);
                // SAFETY: as above; a plain store of a u32.
                unsafe { (*p).slot = s };
                s
            } else if !known || mac == a.mac {
                a.slot
            } else {
                bump(Stat::Spoofed);
                let s = device_of_mac(mac);
                if let Some(d) = DEVICES.get_ptr_mut(s) {
                    // SAFETY: as above; a report, so a lost increment is harmless.
                    unsafe { (*d).spoofed = (*d).spoofed.wrapping_add(1) };
                }
                s
            }
        }
        None if known => {
            let s = device_of_mac(mac);
            // Full, or another CPU was first: the device is still found by its MAC.
            let _ = addrs.insert(
                addr,
                &AddrInfo {
                    slot: s,
                    mac,
                    _pad: [0; 2],
                    seen,
                },
                BPF_NOEXIST as u64,
            );
            s
        }
        None => {
            // No MAC to know it by (never for frames the LAN sends): a device of its own,
            // only if its address can be kept, or every flow would take a slot.
            let s = new_device([0; 6]);
            let info = AddrInfo {
                slot: s,
                mac,
                _pad: [0; 2],
                seen,
            };
            if s != UNATTRIBUTED_SLOT && addrs.insert(addr, &info, BPF_NOEXIST as u64).is_err() {
                let _ = FREE_SLOTS.push(s, 0);
                // SAFETY: value copied out at once.
                match unsafe { addrs.get(addr) } {
                    Some(a) => a.slot,
                    None => UNATTRIBUTED_SLOT,
                }
            } else {
                s
            }
        }
    };
    // One level of alias (see `DeviceInfo::alias`): the daemon never chains them.
    let slot = match DEVICES.get(slot) {
        Some(d) if d.alias != 0 && d.alias < capacity::PC_SLOTS => d.alias,
        _ => slot,
    };
    let (group, state) = match DEVICES.get(slot) {
        Some(d) if slot != UNATTRIBUTED_SLOT => (d.group, d.state),
        _ => (unknown_group(), PcState::Allowed as u8),
    };
    PcInfo {
        slot,
        mac,
        group,
        state,
    }
}

/// ~Seconds of the monotonic clock, as `AddrInfo::seen` holds them.
#[inline(always)]
fn now_secs() -> u32 {
    // SAFETY: plain helper call.
    (unsafe { aya_ebpf::helpers::bpf_ktime_get_coarse_ns() } >> 30) as u32
}

#[inline(always)]
fn unknown_group() -> u8 {
    match CONFIG.get(0) {
        Some(c) if c.unknown_group < capacity::GROUPS => c.unknown_group as u8,
        _ => DEFAULT_GROUP,
    }
}

/// Binds a MAC first seen on a known address to that address's device. A device the
/// daemon declared (a listed PC's slot) takes the MAC over from one the kernel met first
/// under another address (a link-local address before the listed one); a kernel-met one
/// keeps an existing binding.
#[inline(always)]
fn bind_mac(mac: [u8; 6], slot: u32) {
    if slot == UNATTRIBUTED_SLOT {
        return;
    }
    let flags = if slot < capacity::LEARNED_SLOT_BASE {
        BPF_ANY
    } else {
        BPF_NOEXIST
    };
    let _ = MACS.insert(&mac_key(mac), &slot, flags as u64);
}

/// The device of a MAC, met now if it is new.
#[inline(always)]
fn device_of_mac(mac: [u8; 6]) -> u32 {
    let key = mac_key(mac);
    // SAFETY: value copied out at once.
    if let Some(s) = unsafe { MACS.get(&key) } {
        return *s;
    }
    let s = new_device(mac);
    if s == UNATTRIBUTED_SLOT {
        return s;
    }
    if MACS.insert(&key, &s, BPF_NOEXIST as u64).is_err() {
        // Another CPU met it first (or the table is full): theirs, and the slot goes back.
        let _ = FREE_SLOTS.push(s, 0);
        // SAFETY: as above.
        return match unsafe { MACS.get(&key) } {
            Some(s) => *s,
            None => UNATTRIBUTED_SLOT,
        };
    }
    s
}

/// A slot for a device met now, from the free slots the daemon keeps in `FREE_SLOTS`
/// (a queue: one spinlock, only for a device's first packet), with the unknown devices'
/// group. None left: counted on slot 0.
#[inline(always)]
fn new_device(mac: [u8; 6]) -> u32 {
    let slot = match FREE_SLOTS.pop() {
        Ok(Some(s)) if s >= capacity::LEARNED_SLOT_BASE && s < capacity::PC_SLOTS => s,
        _ => {
            bump(Stat::SlotsExhausted);
            return UNATTRIBUTED_SLOT;
        }
    };
    if let Some(d) = DEVICES.get_ptr_mut(slot) {
        let info = DeviceInfo {
            mac,
            group: unknown_group(),
            state: PcState::Allowed as u8,
            spoofed: 0,
            alias: 0,
        };
        // SAFETY: a free slot is nobody's: only this CPU writes it now.
        unsafe { *d = info };
    }
    slot
}
