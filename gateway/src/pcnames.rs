//! Names of PCs: the policy's name when it lists the address or the device's MAC,
//! otherwise the host name the office's DHCP server leased it with, otherwise the
//! device's MAC (or, never seen with one, the address itself). Every
//! place that names a PC (usage, statistics, the API, `/metrics`) asks `PcNames::label`,
//! so a PC is the same row everywhere.
//!
//! Leases are read from a dnsmasq lease file (`[names] dhcp_leases`; the format of
//! dnsmasq and of Pi-hole's DHCP server: `expiry mac address hostname client-id`, one per
//! line), again whenever its modification time changes. The format is five
//! space-separated fields; a dedicated crate for it does not exist.

use std::{
    collections::HashMap,
    net::IpAddr,
    path::PathBuf,
    sync::{Arc, RwLock},
    time::SystemTime,
};

use serde::Deserialize;

use crate::policy::Policy;

/// `[names]` in officegate.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamesConfig {
    /// A dnsmasq-format DHCP lease file, e.g. `/var/lib/misc/dnsmasq.leases`. Default:
    /// none (unlisted PCs are named by their address).
    pub dhcp_leases: Option<PathBuf>,
}

#[derive(Clone, Default)]
pub struct PcNames {
    leased: Arc<RwLock<Leases>>,
    file: Option<PathBuf>,
    read_at: Arc<RwLock<Option<SystemTime>>>,
}

impl PcNames {
    pub fn new(cfg: &NamesConfig) -> Self {
        let n = PcNames {
            file: cfg.dhcp_leases.clone(),
            ..Default::default()
        };
        n.refresh();
        n
    }

    /// Reads the lease file again if it changed. A missing or unreadable file keeps the
    /// names last read (and says so once per change).
    pub fn refresh(&self) {
        let Some(path) = &self.file else { return };
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if mtime.is_none() || *self.read_at.read().expect("not poisoned") == mtime {
            return;
        }
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let leases = parse_leases(&text);
                crate::policy::bindings::set_leased(leases.by_mac.clone());
                tracing::debug!(file = %path.display(), leases = leases.by_addr.len(), "DHCP leases read");
                *self.leased.write().expect("not poisoned") = leases;
            }
            Err(e) => tracing::warn!(file = %path.display(), "DHCP leases unreadable: {e}"),
        }
        *self.read_at.write().expect("not poisoned") = mtime;
    }

    /// The name a PC at `addr` goes by. A leased name that a listed PC already uses is
    /// qualified with the address, so two machines never share a row.
    pub fn label(&self, policy: &Policy, addr: IpAddr) -> String {
        if let Some(i) = policy.pc_at(addr) {
            return policy.pcs()[i].name.clone();
        }
        // A device the datapath knows by MAC: the same name as its row (`device_label`).
        if let Some(mac) = crate::policy::bindings::mac_of(addr) {
            let d = crate::datapath::DeviceEntry {
                slot: 0,
                macs: vec![mac],
                addrs: vec![addr],
                group: 0,
                state: 0,
                spoofed: 0,
                counters: Default::default(),
                parts: Vec::new(),
            };
            return self.device_label(policy, &d);
        }
        if let Some(name) = self.leased.read().expect("not poisoned").by_addr.get(&addr) {
            if policy.pcs().iter().any(|p| &p.name == name) {
                return format!("{name} ({addr})");
            }
            return name.clone();
        }
        addr.to_string()
    }
}

/// Leased host names by address and by MAC, and every lease's address and MAC (with a
/// host name or not).
#[derive(Default)]
struct Leases {
    by_addr: HashMap<IpAddr, String>,
    by_mac: HashMap<[u8; 6], String>,
    bound: Vec<(IpAddr, [u8; 6])>,
}

impl PcNames {
    /// The name a device goes by: the policy's PC (by MAC, else by address), else the host
    /// name its DHCP lease gave (by MAC, else by address), else its MAC, else its first
    /// address. Unlisted devices are known by MAC, so a new address never splits one.
    pub fn device_label(&self, policy: &Policy, d: &crate::datapath::DeviceEntry) -> String {
        if let Some(i) = d
            .macs
            .iter()
            .find_map(|m| policy.pc_with_mac(m))
            .or_else(|| d.addrs.iter().find_map(|a| policy.pc_at(*a)))
        {
            return policy.pcs()[i].name.clone();
        }
        let leased = self.leased.read().expect("not poisoned");
        let name = d
            .macs
            .iter()
            .find_map(|m| leased.by_mac.get(m))
            .or_else(|| d.addrs.iter().find_map(|a| leased.by_addr.get(a)));
        let id = match d.macs.first() {
            Some(m) => crate::datapath::mac_text(m),
            None => d.addrs.first().map(|a| a.to_string()).unwrap_or_default(),
        };
        match name {
            Some(n) if policy.pcs().iter().any(|p| &p.name == n) => format!("{n} ({id})"),
            Some(n) => n.clone(),
            None => id,
        }
    }

    /// Every lease's address and MAC: the DHCP server's word on who an address is
    /// (`Maps::bind_leases`).
    pub fn leases(&self) -> Vec<(IpAddr, [u8; 6])> {
        self.leased.read().expect("not poisoned").bound.clone()
    }

    /// The DHCP host name leased to a device with one of these MACs or addresses.
    pub fn leased_name(&self, macs: &[[u8; 6]], addrs: &[IpAddr]) -> Option<String> {
        let leased = self.leased.read().expect("not poisoned");
        macs.iter()
            .find_map(|m| leased.by_mac.get(m))
            .or_else(|| addrs.iter().find_map(|a| leased.by_addr.get(a)))
            .cloned()
    }
}

/// `expiry mac address hostname client-id` per line; `*` is "no host name". Lines that
/// don't parse are skipped (a lease file is written by another program while we read).
fn parse_leases(text: &str) -> Leases {
    let mut out = Leases::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        let Ok(addr) = f[2].parse::<IpAddr>() else {
            continue;
        };
        // IPv6 lines carry the client's DUID where IPv4 ones have the MAC: no binding.
        if let Some(mac) = crate::datapath::parse_mac(f[1]) {
            out.bound.push((addr, mac));
        }
        if f[3] == "*" {
            continue;
        }
        let name = f[3];
        // A host name as DHCP clients send it; anything else is not shown to admins.
        if name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            let name = name.to_ascii_lowercase();
            if let Some(mac) = crate::datapath::parse_mac(f[1]) {
                out.by_mac.insert(mac, name.clone());
            }
            out.by_addr.insert(addr, name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_name_unlisted_pcs() {
        let dir = tempfile::tempdir().unwrap();
        let leases = dir.path().join("dnsmasq.leases");
        std::fs::write(
            &leases,
            "1764200000 02:00:0a:0a:00:63 10.10.0.99 Bob-Laptop 01:02:00:0a:0a:00:63\n\
             1764200000 02:00:0a:0a:00:64 10.10.0.100 * *\n\
             garbage line\n\
             1764200000 02:00:0a:0a:00:65 10.10.0.101 pc1 *\n\
             1764200000 02:00:0a:0a:00:66 10.10.0.102 <script> *\n",
        )
        .unwrap();
        let (policy, _) = crate::policy::load_text(
            dir.path(),
            "version = 1\ntime_zone = \"UTC\"\n[[pcs]]\nname = \"pc1\"\naddresses = [\"10.10.0.11\"]\n",
        )
        .unwrap();
        let names = PcNames::new(&NamesConfig {
            dhcp_leases: Some(leases.clone()),
        });
        let label = |a: &str| names.label(&policy, a.parse().unwrap());
        assert_eq!(label("10.10.0.11"), "pc1", "the policy's name first");
        assert_eq!(label("10.10.0.99"), "bob-laptop");
        assert_eq!(label("10.10.0.100"), "10.10.0.100", "no host name leased");
        assert_eq!(
            label("10.10.0.101"),
            "pc1 (10.10.0.101)",
            "never two PCs as one"
        );
        assert_eq!(
            label("10.10.0.102"),
            "10.10.0.102",
            "hostile names are not shown"
        );
        // A new lease is picked up when the file changes.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&leases, "1764200000 02:00:0a:0a:00:63 10.10.0.99 alice *\n").unwrap();
        let t = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&leases)
            .unwrap()
            .set_modified(t)
            .unwrap();
        names.refresh();
        assert_eq!(label("10.10.0.99"), "alice");
        // A vanished file keeps what was read.
        std::fs::remove_file(&leases).unwrap();
        names.refresh();
        assert_eq!(label("10.10.0.99"), "alice");
    }
}
