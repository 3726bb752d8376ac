//! Views of the datapath's counters for people (tables) and programs (JSON lines).

use std::fmt::Write as _;

use gateway_common::{Counters, PcState};

use crate::{datapath::Maps, policy::Policy};

fn mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn state(code: u8) -> &'static str {
    match PcState::from_code(code) {
        Some(PcState::Allowed) => "allowed",
        Some(PcState::Blocked) => "blocked",
        Some(PcState::OverQuota) => "over-quota",
        None => "unknown",
    }
}

fn json_counters(c: &Counters) -> String {
    format!(
        "\"up_packets\":{},\"up_bytes\":{},\"down_packets\":{},\"down_bytes\":{},\"dropped_packets\":{},\"dropped_bytes\":{}",
        c.up_packets, c.up_bytes, c.down_packets, c.down_bytes, c.dropped_packets, c.dropped_bytes
    )
}

/// One line per device (every address and MAC pointing at one counter slot). With the
/// `policy`, each device is named (the PC the policy lists it as, or `-`) and its group
/// is named; without, the group is its datapath id.
pub fn pcs(maps: &Maps, json: bool, policy: Option<&Policy>) -> String {
    let mut out = String::new();
    if !json {
        let _ = writeln!(
            out,
            "{:<28} {:<12} {:<17} {:<12} {:<10} {:>10} {:>12} {:>10} {:>12} {:>8}",
            "address",
            "pc",
            "mac",
            "group",
            "state",
            "up_pkts",
            "up_bytes",
            "down_pkts",
            "down_bytes",
            "dropped"
        );
    }
    for d in maps.devices() {
        let c = &d.counters;
        let first = d.addrs.first().map(|a| a.to_string()).unwrap_or_default();
        let mac = d.macs.first().map(mac).unwrap_or_else(|| mac(&[0; 6]));
        let pc = policy
            .and_then(|p| {
                d.macs
                    .iter()
                    .find_map(|m| p.pc_with_mac(m))
                    .or_else(|| d.addrs.iter().find_map(|a| p.pc_at(*a)))
                    .map(|i| p.pcs()[i].name.clone())
            })
            .unwrap_or_else(|| "-".into());
        let group = policy
            .and_then(|p| p.datapath_group_name(d.group))
            .map(str::to_string)
            .unwrap_or_else(|| d.group.to_string());
        if json {
            // `group` stays the datapath id (what scripts compare); the names beside it.
            let names = match policy {
                Some(_) => format!(
                    ",\"pc\":{},\"group_name\":{}",
                    serde_json::Value::from(pc.as_str()),
                    serde_json::Value::from(group.as_str())
                ),
                None => String::new(),
            };
            let addrs =
                serde_json::Value::from(d.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>());
            let _ = writeln!(
                out,
                "{{\"address\":\"{first}\",\"addresses\":{addrs},\"mac\":\"{mac}\",\"group\":{},\"state\":\"{}\",\"slot\":{},\"spoofed\":{}{names},{}}}",
                d.group,
                state(d.state),
                d.slot,
                d.spoofed,
                json_counters(c)
            );
        } else {
            // A device's other addresses on lines of their own below it.
            let _ = writeln!(
                out,
                "{:<28} {:<12} {:<17} {:<12} {:<10} {:>10} {:>12} {:>10} {:>12} {:>8}",
                first,
                pc,
                mac,
                group,
                state(d.state),
                c.up_packets,
                c.up_bytes,
                c.down_packets,
                c.down_bytes,
                c.dropped_packets
            );
            for a in d.addrs.iter().skip(1) {
                let _ = writeln!(out, "  {a}");
            }
        }
    }
    out
}

/// Drops by reason and datapath events.
pub fn drops(maps: &Maps, json: bool) -> String {
    let mut out = String::new();
    let drops = maps.drops();
    let stats = maps.stats();
    if json {
        let d: Vec<String> = drops
            .iter()
            .map(|(r, n)| format!("\"{}\":{n}", r.name()))
            .collect();
        let s: Vec<String> = stats
            .iter()
            .map(|(r, n)| format!("\"{}\":{n}", r.name()))
            .collect();
        let _ = writeln!(
            out,
            "{{\"drops\":{{{}}},\"stats\":{{{}}}}}",
            d.join(","),
            s.join(",")
        );
    } else {
        let _ = writeln!(out, "drops by reason:");
        for (r, n) in drops {
            let _ = writeln!(out, "  {:<18} {n}", r.name());
        }
        let _ = writeln!(out, "datapath events:");
        for (s, n) in stats {
            let _ = writeln!(out, "  {:<18} {n}", s.name());
        }
    }
    out
}
