//! Views of the datapath's counters for people (tables) and programs (JSON lines).

use std::fmt::Write as _;

use gateway_common::{Counters, PcState};

use crate::datapath::Maps;

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

/// One line per PC address.
pub fn pcs(maps: &Maps, json: bool) -> String {
    let mut out = String::new();
    if !json {
        let _ = writeln!(
            out,
            "{:<28} {:<17} {:>5} {:<10} {:>10} {:>12} {:>10} {:>12} {:>8}",
            "address",
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
    for e in maps.pcs() {
        let c = &e.counters;
        if json {
            let _ = writeln!(
                out,
                "{{\"address\":\"{}\",\"mac\":\"{}\",\"group\":{},\"state\":\"{}\",\"slot\":{},{}}}",
                e.addr,
                mac(&e.info.mac),
                e.info.group,
                state(e.info.state),
                e.info.slot,
                json_counters(c)
            );
        } else {
            let _ = writeln!(
                out,
                "{:<28} {:<17} {:>5} {:<10} {:>10} {:>12} {:>10} {:>12} {:>8}",
                e.addr.to_string(),
                mac(&e.info.mac),
                e.info.group,
                state(e.info.state),
                c.up_packets,
                c.up_bytes,
                c.down_packets,
                c.down_bytes,
                c.dropped_packets
            );
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
