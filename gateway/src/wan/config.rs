//! `[wan]` in `officegate.toml`: the internet channels and how their health is judged.
//! Every field's default is stated on it; unknown fields are rejected.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    str::FromStr,
    time::Duration,
};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WanConfig {
    /// The channels; at least one. The healthy one with the lowest `priority` carries the
    /// office's traffic.
    pub channels: Vec<ChannelConfig>,
    /// Each channel is probed this often (ms). Default: 100.
    #[serde(default = "d_interval")]
    pub probe_interval_ms: u64,
    /// A probe not answered within this is lost (ms). Default: 300.
    #[serde(default = "d_timeout")]
    pub probe_timeout_ms: u64,
    /// Down after this many probe rounds in a row with no probe answered. Default: 3.
    #[serde(default = "d_down_after")]
    pub down_after: u32,
    /// Back up only after this many rounds in a row with an answer… Default: 20 (2 s).
    #[serde(default = "d_up_after")]
    pub up_after: u32,
    /// …and no sooner than this many seconds after it went down, while another channel
    /// carries the traffic. Default: 10.
    #[serde(default = "d_hold_down")]
    pub hold_down_s: u64,
    /// Rounds over which loss and latency are measured. Default: 20.
    #[serde(default = "d_window")]
    pub window: usize,
    /// A channel losing more than this share of probes (percent, over `window`) is
    /// reported degraded (it still carries traffic). Default: 20.
    #[serde(default = "d_max_loss")]
    pub max_loss_pct: u32,
    /// A channel whose median probe latency exceeds this (ms) is reported degraded.
    /// Default: 500.
    #[serde(default = "d_max_latency")]
    pub max_latency_ms: u64,
    /// A channel that goes down `flap_count` times within `flap_window_s` is flapping: held
    /// down for `flap_hold_s` after its last failure (unless no other channel is up).
    /// Defaults: 3 times in 60 s, held 60 s.
    #[serde(default = "d_flap_count")]
    pub flap_count: usize,
    #[serde(default = "d_flap_window")]
    pub flap_window_s: u64,
    #[serde(default = "d_flap_hold")]
    pub flap_hold_s: u64,
    /// `auto`: traffic returns to a better channel once it is back up. `manual`: it stays
    /// where it is until that channel fails or an admin asks (SIGUSR1 to the daemon).
    /// Default: `auto`.
    #[serde(default)]
    pub failback: Failback,
    /// Passive signal: at least this many TCP SYNs out of a channel within
    /// `passive_window_ms` and not one SYN-ACK back marks it suspect, and a suspect channel
    /// goes down at its first failed probe round. 0 turns it off. Default: 3 in 500 ms.
    #[serde(default = "d_passive_syns")]
    pub passive_min_syns: u64,
    #[serde(default = "d_passive_window")]
    pub passive_window_ms: u64,
    /// Masquerade the office's traffic out of every channel (the daemon's own nftables
    /// table). Off when something else does NAT. Default: true.
    #[serde(default = "d_true")]
    pub nat: bool,
    /// Clear the connection-tracking entries of the channel traffic leaves, so PCs
    /// reconnect at once over the new one instead of waiting on timeouts. Default: true.
    #[serde(default = "d_true")]
    pub flush_conntrack: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Failback {
    #[default]
    Auto,
    Manual,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// A name for logs, events and the UI (`primary`, `lte`…). Required, unique.
    pub name: String,
    /// The WAN interface. Required.
    pub interface: String,
    /// The next hop (the ISP's router) for IPv4. Required.
    pub gateway: Ipv4Addr,
    /// The next hop for IPv6. Default: none (IPv6 default route left alone).
    #[serde(default)]
    pub gateway6: Option<Ipv6Addr>,
    /// Lower is preferred. Required.
    pub priority: u32,
    /// What is probed through this channel, beyond the ISP: `icmp:IP` (echo),
    /// `dns:IP[:port]` (a query; any answer counts), `tcp:IP:port` (a connect; a refusal
    /// counts too: something answered). Required, at least one.
    pub probes: Vec<String>,
    /// The routing table holding this channel's own default route (its probes and its
    /// addresses' replies use it whatever the main default route is). Default: 100 + the
    /// channel's position (1-based).
    #[serde(default)]
    pub table: Option<u32>,
}

/// One probe target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Icmp(IpAddr),
    Dns(SocketAddr),
    Tcp(SocketAddr),
}

impl FromStr for Probe {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, target) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}`: expected icmp:IP, dns:IP[:port] or tcp:IP:port"))?;
        let sock = |default: Option<u16>| -> Result<SocketAddr, String> {
            if let Ok(a) = target.parse::<SocketAddr>() {
                return Ok(a);
            }
            match (target.parse::<IpAddr>(), default) {
                (Ok(ip), Some(port)) => Ok(SocketAddr::new(ip, port)),
                (Ok(_), None) => Err(format!("`{s}`: a port is required (IP:port, [IPv6]:port)")),
                _ => Err(format!("`{s}`: `{target}` is not an address")),
            }
        };
        match kind {
            "icmp" => target
                .parse()
                .map(Probe::Icmp)
                .map_err(|_| format!("`{s}`: `{target}` is not an IP address")),
            "dns" => sock(Some(53)).map(Probe::Dns),
            "tcp" => sock(None).map(Probe::Tcp),
            other => Err(format!(
                "`{s}`: unknown probe kind `{other}` (icmp, dns, tcp)"
            )),
        }
    }
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Icmp(a) => write!(f, "icmp:{a}"),
            Probe::Dns(a) => write!(f, "dns:{a}"),
            Probe::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

impl ChannelConfig {
    pub fn probe_list(&self) -> Result<Vec<Probe>, String> {
        self.probes
            .iter()
            .map(|p| {
                p.parse()
                    .map_err(|e| format!("channel `{}`: {e}", self.name))
            })
            .collect()
    }
}

impl WanConfig {
    /// Checks what serde can't: names unique, probes parse, numbers sane.
    pub fn validate(&self) -> Result<(), String> {
        if self.channels.is_empty() {
            return Err("[wan] needs at least one channel".into());
        }
        for (i, c) in self.channels.iter().enumerate() {
            if self.channels[..i].iter().any(|o| o.name == c.name) {
                return Err(format!("[wan] channel name `{}` is used twice", c.name));
            }
            if c.probe_list()?.is_empty() {
                return Err(format!(
                    "[wan] channel `{}` needs at least one probe",
                    c.name
                ));
            }
        }
        if self.probe_interval_ms == 0 || self.probe_timeout_ms == 0 {
            return Err("[wan] probe_interval_ms and probe_timeout_ms must be > 0".into());
        }
        if self.down_after == 0 || self.up_after == 0 || self.window == 0 {
            return Err("[wan] down_after, up_after and window must be > 0".into());
        }
        Ok(())
    }

    pub fn table_of(&self, index: usize) -> u32 {
        self.channels[index].table.unwrap_or(100 + index as u32 + 1)
    }

    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.probe_interval_ms)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.probe_timeout_ms)
    }
}

fn d_interval() -> u64 {
    100
}
fn d_timeout() -> u64 {
    300
}
fn d_down_after() -> u32 {
    3
}
fn d_up_after() -> u32 {
    20
}
fn d_hold_down() -> u64 {
    10
}
fn d_window() -> usize {
    20
}
fn d_max_loss() -> u32 {
    20
}
fn d_max_latency() -> u64 {
    500
}
fn d_flap_count() -> usize {
    3
}
fn d_flap_window() -> u64 {
    60
}
fn d_flap_hold() -> u64 {
    60
}
fn d_passive_syns() -> u64 {
    3
}
fn d_passive_window() -> u64 {
    500
}
fn d_true() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_parse() {
        assert_eq!(
            "icmp:203.0.113.53".parse::<Probe>().unwrap(),
            Probe::Icmp("203.0.113.53".parse().unwrap())
        );
        assert_eq!(
            "dns:203.0.113.53".parse::<Probe>().unwrap(),
            Probe::Dns("203.0.113.53:53".parse().unwrap())
        );
        assert_eq!(
            "tcp:[2001:db8::1]:443".parse::<Probe>().unwrap(),
            Probe::Tcp("[2001:db8::1]:443".parse().unwrap())
        );
        assert!("tcp:203.0.113.1".parse::<Probe>().is_err());
        assert!("udp:203.0.113.1:5".parse::<Probe>().is_err());
        assert!("icmp:nope".parse::<Probe>().is_err());
    }
}
