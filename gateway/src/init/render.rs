//! The files `officegate init` writes: `officegate.toml` for this machine's interfaces and
//! a starter `office.toml` — everyone in one `company` group with safe search, the ads
//! list and the bypass list (DoH/VPN/proxy endpoints, kept fresh from its public URL) on,
//! nothing blocked beyond that — with the two lists beside it.
//!
//! Text templates, not serialised structs: the files are the admin's to read and edit,
//! with comments saying what each part is for; `Config::load` and the policy loader check
//! them before anything is written.

use std::{fmt::Write as _, net::IpAddr};

/// The public bypass list the starter policy keeps fresh (the same as the example's).
pub const BYPASS_URL: &str =
    "https://raw.githubusercontent.com/hagezi/dns-blocklists/main/domains/doh-vpn-proxy-bypass.txt";

/// The lists the starter policy names, embedded in the binary (`policies/lists/`).
pub const LISTS: [(&str, &str); 2] = [
    (
        "lists/ads.txt",
        include_str!("../../../policies/lists/ads.txt"),
    ),
    (
        "lists/bypass.txt",
        include_str!("../../../policies/lists/bypass.txt"),
    ),
];

/// An internet channel: an interface and its next hop.
#[derive(Debug, Clone, PartialEq)]
pub struct Wan {
    pub interface: String,
    pub gateway: Option<IpAddr>,
    pub gateway6: Option<IpAddr>,
}

impl Wan {
    /// The channel as `--wan` takes it: `IF=GATEWAY` (IPv4 first), or `IF`.
    pub fn flag(&self) -> String {
        match self.gateway.or(self.gateway6) {
            Some(g) => format!("{}={g}", self.interface),
            None => self.interface.clone(),
        }
    }
}

/// What the settings are made of.
#[derive(Debug, Clone)]
pub struct Settings {
    pub lan: String,
    /// The LAN's IPv4 address the admin UI listens on (none: loopback only).
    pub lan_v4: Option<IpAddr>,
    /// Primary first.
    pub wans: Vec<Wan>,
    pub upstreams: Vec<String>,
    pub probes: Vec<String>,
    pub state_dir: String,
    pub pin_dir: String,
    /// The API's bearer token (random).
    pub token: String,
}

pub fn officegate_toml(s: &Settings) -> String {
    let quoted = |v: &[String]| {
        v.iter()
            .map(|x| format!("\"{x}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut t = String::new();
    let _ = write!(
        t,
        "# Officegate's settings, written by `officegate init` for this machine.\n\
         # Every field: policies/officegate.toml in the source, or `man`-grade `--help`.\n\
         version = 1\n\n\
         [datapath]\n\
         # The interface the office's PCs are on.\n\
         lan_interface = \"{lan}\"\n\
         # Native XDP where the driver has it, else the kernel's generic path.\n\
         xdp_mode = \"auto\"\n\
         # TCX on Linux 6.6 and later, else the older clsact hook.\n\
         tc_hook = \"auto\"\n\
         pin_dir = \"{pin}\"\n\n\
         [dns]\n\
         upstreams = [{ups}]\n\
         # DNS a PC sends to another resolver is answered by the filter; DNS over TLS/QUIC is refused.\n\
         intercept = \"answer\"\n\
         encrypted_dns = \"refuse\"\n\n",
        lan = s.lan,
        pin = s.pin_dir,
        ups = quoted(&s.upstreams),
    );
    let listen = match s.lan_v4 {
        Some(a) => format!("{a}:8080"),
        None => "127.0.0.1:8080".into(),
    };
    let _ = write!(
        t,
        "[api]\n\
         # The admin UI and API. The first start creates the user `admin` and logs its password once.\n\
         listen = [\"{listen}\"]\n\
         token = \"{token}\"\n\n\
         [block_page]\n\
         contact = \"your IT department\"\n\n\
         [storage]\n\
         dir = \"{state}\"\n",
        token = s.token,
        state = s.state_dir,
    );
    // Failover only with a second channel: one link needs no monitor.
    if s.wans.len() > 1 {
        let _ = write!(
            t,
            "\n# Failover between the internet channels, the healthy one with the lowest\n\
             # priority carrying the office's traffic; masquerade out of each.\n\
             [wan]\n\
             nat = true\n"
        );
        for (i, w) in s.wans.iter().enumerate() {
            let name = match i {
                0 => "primary".to_string(),
                1 => "backup".to_string(),
                n => format!("backup{n}"),
            };
            let _ = write!(
                t,
                "\n[[wan.channels]]\nname = \"{name}\"\ninterface = \"{}\"\n",
                w.interface
            );
            if let Some(g) = w.gateway {
                let _ = writeln!(t, "gateway = \"{g}\"");
            }
            if let Some(g) = w.gateway6 {
                let _ = writeln!(t, "gateway6 = \"{g}\"");
            }
            let _ = write!(
                t,
                "priority = {}\nprobes = [{}]\n",
                i + 1,
                quoted(&s.probes)
            );
        }
    }
    t
}

/// The starter policy in time zone `tz`.
pub fn office_toml(tz: &str) -> String {
    format!(
        "# The office's policy, written by `officegate init`: everyone is in `company`, with\n\
         # safe search, ads and trackers blocked, and the endpoints that would skip the filter\n\
         # (DNS over HTTPS, VPNs, proxies) blocked. Add groups, rules, schedules, limits and\n\
         # PCs as the example in policies/office.toml shows; the admin UI edits this file too.\n\
         version = 1\n\
         time_zone = \"{tz}\"\n\
         # Devices not listed below (every device, until you list some) are company's.\n\
         unknown_devices = \"company\"\n\n\
         [lists.ads]\n\
         description = \"Ads and trackers\"\n\
         files = [\"lists/ads.txt\"]\n\n\
         [lists.bypass]\n\
         description = \"DNS-over-HTTPS, VPN and proxy endpoints that would skip the filter\"\n\
         files = [\"lists/bypass.txt\"]\n\
         urls = [\"{BYPASS_URL}\"]\n\
         refresh_hours = 24\n\
         resolve = true\n\n\
         [[groups]]\n\
         name = \"company\"\n\
         safe_search = true\n\n\
         [[groups.rules]]\n\
         action = \"block\"\n\
         lists = [\"ads\", \"bypass\"]\n"
    )
}
