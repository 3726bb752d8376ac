//! The tick's watch over devices: devices met for the first time ever (`devices.new`, and
//! a row in the store's `devices` table), first/last seen kept there, devices sending
//! with another's address (`devices.spoofing`), a listed PC's addresses met before its
//! MAC was bound (joined), idle devices and addresses forgotten now and then, and held
//! devices' HTTP led to the block page (`crate::held`).

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    net::IpAddr,
    time::{Duration, Instant},
};

use tracing::{error, info};

use super::tick::{Every, Tick};
use crate::{
    datapath::{DeviceEntry, mac_text},
    held,
    policy::Policy,
    store::{DeviceSeen, Event, SeenDevice},
};

/// How often a device's last-seen time is written while it keeps sending.
const SEEN_EVERY: Duration = Duration::from_secs(30);

/// What the watch remembers of a device it has met.
struct Known {
    /// What it was called when last written (a new name is written at once).
    name: String,
    /// Its packets when last written: more means seen again.
    packets: u64,
}

/// What the tick keeps about devices: every device met (by MAC; seeded from the store, so
/// "new" means never seen by this gateway), their spoofing counts, and the reclaimer of
/// idle ones.
pub struct DeviceWatch {
    known: HashMap<String, Known>,
    /// Devices to record without reporting them new: those the pinned maps held at start
    /// when the store knew no device (a database from before the `devices` table): a
    /// previous run met them.
    silent: HashSet<String>,
    spoofed: HashMap<u32, u32>,
    seen_every: Every,
    reclaimer: crate::datapath::Reclaimer,
    reclaim_every: Every,
    /// `[devices] forget_after_s`, in the maps' clock units (2^30 ns).
    forget_after: u32,
}

impl DeviceWatch {
    /// `seen`: the store's devices; `held`: the devices in the maps at start.
    pub fn new(forget_after_s: u32, seen: Vec<SeenDevice>, held: &[DeviceEntry]) -> Self {
        let silent = if seen.is_empty() {
            held.iter()
                .filter_map(|d| d.macs.first().map(mac_text))
                .collect()
        } else {
            HashSet::new()
        };
        DeviceWatch {
            silent,
            known: seen
                .into_iter()
                .map(|d| {
                    let known = Known {
                        name: d.name,
                        packets: 0,
                    };
                    (d.mac, known)
                })
                .collect(),
            spoofed: HashMap::new(),
            seen_every: Every::after(SEEN_EVERY, Instant::now()),
            reclaimer: Default::default(),
            reclaim_every: Every::now_then(Duration::from_secs(10)),
            forget_after: clock_units(forget_after_s),
        }
    }

    /// `[devices] forget_after_s` changed while the daemon runs.
    pub fn set_forget_after(&mut self, forget_after_s: u32) {
        self.forget_after = clock_units(forget_after_s);
    }
}

/// Seconds in the maps' clock units: 2^30 ns is 1.074 s.
fn clock_units(s: u32) -> u32 {
    ((u64::from(s) * 1_000_000_000) >> 30) as u32
}

/// Held devices' HTTP to the block page: the table's rules (None: no block page, held
/// devices are only refused) and the MACs it lists now.
pub struct HeldPage {
    rules: Option<held::Rules>,
    listed: BTreeSet<[u8; 6]>,
}

impl HeldPage {
    pub fn new(rules: Option<held::Rules>) -> Self {
        HeldPage {
            rules,
            listed: BTreeSet::new(),
        }
    }
}

fn packets(d: &DeviceEntry) -> u64 {
    let c = &d.counters;
    c.up_packets + c.down_packets + c.dropped_packets
}

impl Tick {
    pub(super) fn watch_devices(&mut self, p: &Policy, devices: &[DeviceEntry]) {
        self.record_seen(p, devices);
        self.report_spoofing(p, devices);
        match self.maps.join_by_mac() {
            Ok(0) => {}
            Ok(_) => {
                let _ = self.maps.bump_generation();
            }
            Err(e) => error!("joining addresses by MAC failed: {e:#}"),
        }
        if self.devices.reclaim_every.due(Instant::now()) {
            self.reclaim(p, devices);
        }
        self.place_by_network(p, devices);
        self.lead_held_to_the_page(devices);
    }

    /// Devices the policy does not list, met by the kernel in the unknown devices' group,
    /// go to the group whose `networks` hold one of their addresses.
    fn place_by_network(&mut self, p: &Policy, devices: &[DeviceEntry]) {
        if !p.has_networks() {
            return;
        }
        let mut changed = false;
        for d in devices {
            let listed = d.macs.iter().any(|m| p.pc_with_mac(m).is_some())
                || d.addrs.iter().any(|a| p.pc_at(*a).is_some());
            let want = p.unlisted_datapath_group(&d.addrs);
            if listed || d.group == want {
                continue;
            }
            match self.maps.set_group(d.slot, want) {
                Ok(c) => changed |= c,
                Err(e) => error!("placing a device by its network: {e:#}"),
            }
        }
        if changed {
            let _ = self.maps.bump_generation();
        }
    }

    /// Lists the held devices' MACs in the `officegate_held` table, then marks those
    /// listed with `STATE_PAGE` so the datapath passes their HTTP to it (never the other
    /// way round: a passed segment must meet the table).
    pub(super) fn lead_held_to_the_page(&mut self, devices: &[DeviceEntry]) {
        let Some(rules) = &self.held.rules else {
            return;
        };
        let held: Vec<&DeviceEntry> = devices
            .iter()
            .filter(|d| d.state & !gateway_common::STATE_PAGE != 0 && !d.macs.is_empty())
            .collect();
        let macs: BTreeSet<[u8; 6]> = held.iter().flat_map(|d| d.macs.iter().copied()).collect();
        if macs != self.held.listed {
            if let Err(e) = rules.install(&macs) {
                error!("leading held devices to the block page (nft): {e}");
                return;
            }
            self.held.listed = macs;
        }
        let mut changed = false;
        for d in held {
            let listed = d.macs.iter().all(|m| self.held.listed.contains(m));
            if d.state & gateway_common::STATE_PAGE == 0 && listed {
                match self.maps.set_page(d.slot, true) {
                    Ok(c) => changed |= c,
                    Err(e) => error!("readying the block page for a held device: {e:#}"),
                }
            }
        }
        if changed {
            let _ = self.maps.bump_generation();
        }
    }

    /// The daemon stopping: no device passes HTTP for a table about to go, then the
    /// table goes.
    pub(super) fn release_held(&mut self) {
        if self.held.rules.is_none() {
            return;
        }
        if let Err(e) = self.maps.clear_page_flags() {
            error!("clearing the block page marks: {e:#}");
        }
        let _ = self.maps.bump_generation();
        if let Err(e) = crate::nft::remove_table_blocking(held::TABLE) {
            tracing::warn!(error = %e, "could not remove the held devices' table");
        }
    }

    fn event(&self, p: &Policy, kind: &str, d: &DeviceEntry, message: String) {
        self.store.event(Event {
            at_ms: crate::store::now_ms(),
            source: "devices".into(),
            kind: kind.into(),
            subject: self.names.device_label(p, d),
            message,
            details: serde_json::json!({
                "mac": d.macs.first().map(mac_text),
                "addresses": d.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "group": p.datapath_group_name(d.group),
            }),
        });
    }

    /// New devices (event and row at once), renamed ones (at once, their history moved
    /// to the new name), and those that sent since they were last written (every
    /// `SEEN_EVERY`) into the store's `devices`.
    fn record_seen(&mut self, p: &Policy, devices: &[DeviceEntry]) {
        let now_ms = crate::store::now_ms();
        let periodic = self.devices.seen_every.due(Instant::now());
        let labels: Vec<String> = devices
            .iter()
            .map(|d| self.names.device_label(p, d))
            .collect();
        let mut seen = Vec::new();
        let mut renamed = Vec::new();
        for (d, name) in devices.iter().zip(&labels) {
            let Some(mac) = d.macs.first().map(mac_text) else {
                continue;
            };
            let n = packets(d);
            let write = match self.devices.known.get_mut(&mac) {
                None => {
                    if !self.devices.silent.remove(&mac) {
                        let msg = format!(
                            "new device {name} ({mac}; {}) in group {}",
                            d.addrs
                                .iter()
                                .map(|a| a.to_string())
                                .collect::<Vec<_>>()
                                .join(", "),
                            p.datapath_group_name(d.group).unwrap_or("?")
                        );
                        info!("{msg}");
                        self.event(p, "new", d, msg);
                    }
                    let known = Known {
                        name: name.clone(),
                        packets: n,
                    };
                    self.devices.known.insert(mac.clone(), known);
                    true
                }
                Some(k) => {
                    let sent = n != k.packets;
                    if k.name != *name {
                        renamed.push((d, std::mem::replace(&mut k.name, name.clone())));
                    }
                    if periodic && sent || renamed.last().is_some_and(|(r, _)| r.slot == d.slot) {
                        k.packets = n;
                        true
                    } else {
                        false
                    }
                }
            };
            if write {
                seen.push(DeviceSeen {
                    mac,
                    at_ms: now_ms,
                    addresses: d.addrs.iter().map(|a| a.to_string()).collect(),
                    name: name.clone(),
                });
            }
        }
        for (d, old) in renamed {
            let name = self.names.device_label(p, d);
            // A name another device still goes by (a PC with two network cards, listed
            // by address) keeps its history: it is that device's too.
            if labels.contains(&old) {
                continue;
            }
            let msg = format!("{old} is now called {name}; its history follows it");
            info!("{msg}");
            self.event(p, "renamed", d, msg);
            self.usage.rename(&old, &name);
            self.store.rename_pc(&old, &name);
        }
        self.store.devices_seen(seen);
    }

    fn report_spoofing(&mut self, p: &Policy, devices: &[DeviceEntry]) {
        for d in devices {
            let before = self.devices.spoofed.insert(d.slot, d.spoofed).unwrap_or(0);
            if d.spoofed > before {
                let msg = format!(
                    "{} sent {} new connection(s) with another device's address; counted as its own",
                    self.names.device_label(p, d),
                    d.spoofed - before
                );
                tracing::warn!("{msg}");
                self.event(p, "spoofing", d, msg);
            }
        }
    }

    /// Binds leased addresses to their MACs (the DHCP server's word, not the first
    /// sender's), then forgets unlisted devices and addresses idle for `forget_after`.
    fn reclaim(&mut self, p: &Policy, devices: &[DeviceEntry]) {
        let listed_addr = |a: &IpAddr| p.pcs().iter().any(|pc| pc.addresses.contains(a));
        // Addresses the policy lists are the admin's to bind.
        let leases: Vec<_> = self
            .names
            .leases()
            .into_iter()
            .filter(|(a, _)| !listed_addr(a))
            .collect();
        match self.maps.bind_leases(&leases) {
            Ok(0) => {}
            Ok(n) => {
                info!(addresses = n, "bound leased addresses to their MACs");
                let _ = self.maps.bump_generation();
            }
            Err(e) => error!("binding leased addresses failed: {e:#}"),
        }
        let listed: HashSet<u32> = devices
            .iter()
            .filter(|d| {
                d.macs.iter().any(|m| p.pc_with_mac(m).is_some()) || d.addrs.iter().any(listed_addr)
            })
            .map(|d| d.slot)
            .collect();
        match self.devices.reclaimer.reclaim(
            &mut self.maps,
            self.devices.forget_after,
            &listed,
            &listed_addr,
        ) {
            Ok(r) => {
                if r.addresses > 0 || !r.devices.is_empty() {
                    info!(
                        addresses = r.addresses,
                        devices = r.devices.len(),
                        "forgot idle devices and addresses"
                    );
                }
                self.usage.forget(&r.devices);
                for s in &r.devices {
                    self.devices.spoofed.remove(s);
                }
            }
            Err(e) => error!("forgetting idle devices failed: {e:#}"),
        }
    }
}
