//! Kernel interface counters, as `ip -s -j link` reports them. With offloads off (see
//! `topology`), one counted packet is one wire frame. Note: on veth with native XDP, rx bytes
//! exclude the 14-byte Ethernet header while XDP's own view includes it.

use std::process::Command;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::{Lab, Role, netns};

/// Counters of one interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
}

impl LinkStats {
    /// Counters accumulated since `before` (saturating, so a reset interface reads 0).
    pub fn since(&self, before: &LinkStats) -> LinkStats {
        LinkStats {
            rx_packets: self.rx_packets.saturating_sub(before.rx_packets),
            rx_bytes: self.rx_bytes.saturating_sub(before.rx_bytes),
            rx_dropped: self.rx_dropped.saturating_sub(before.rx_dropped),
            tx_packets: self.tx_packets.saturating_sub(before.tx_packets),
            tx_bytes: self.tx_bytes.saturating_sub(before.tx_bytes),
            tx_dropped: self.tx_dropped.saturating_sub(before.tx_dropped),
        }
    }
}

/// Interface counters of `ifname` inside `role`'s namespace.
pub fn link_stats(lab: &Lab, role: Role, ifname: &str) -> Result<LinkStats> {
    let ns = lab.ns(role);
    // `ip -n` switches only its own netns: no mount namespace games, cheaper than exec.
    let out = netns::run(
        Command::new("ip").args(["-n", &ns, "-s", "-j", "link", "show", "dev", ifname]),
    )?;
    parse(&out).with_context(|| format!("counters of {ifname} in {ns}"))
}

fn parse(json: &str) -> Result<LinkStats> {
    let v: Value = serde_json::from_str(json)?;
    let s = v
        .get(0)
        .and_then(|l| l.get("stats64"))
        .context("no stats64 in `ip -s -j link` output")?;
    let n = |dir: &str, key: &str| {
        s.get(dir)
            .and_then(|d| d.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(LinkStats {
        rx_packets: n("rx", "packets"),
        rx_bytes: n("rx", "bytes"),
        rx_dropped: n("rx", "dropped"),
        tx_packets: n("tx", "packets"),
        tx_bytes: n("tx", "bytes"),
        tx_dropped: n("tx", "dropped"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_json() {
        let j = r#"[{"ifname":"eth0","stats64":{"rx":{"bytes":100,"packets":2,"errors":0,"dropped":1},
                    "tx":{"bytes":300,"packets":4,"errors":0,"dropped":0}}}]"#;
        let s = parse(j).unwrap();
        assert_eq!(
            s,
            LinkStats {
                rx_packets: 2,
                rx_bytes: 100,
                rx_dropped: 1,
                tx_packets: 4,
                tx_bytes: 300,
                tx_dropped: 0
            }
        );
        assert_eq!(s.since(&s), LinkStats::default());
    }
}
