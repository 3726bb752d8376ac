//! The flow collector: every few seconds, the datapath's per-flow counters (summed over
//! CPUs) become deltas against the totals last counted, attributed to a host name and
//! its site, summed per (PC, host), and committed with the new totals in one transaction
//! — so a restart or a crash neither loses nor double-counts a flow's bytes.
//!
//! A flow replaced in the datapath's flow table (its set was full) between two collections
//! loses the bytes it counted since the last one (the PC's own totals, counted apart, keep
//! them).

use std::{collections::HashMap, net::IpAddr};

use super::{Lookups, Sniffed, registrable};
use crate::{
    datapath::FlowEntry,
    policy::Policy,
    store::{SiteRow, SitesBatch, Store, UnexplainedRow, Via},
};

/// A flow as the datapath keys it.
type FlowId = (IpAddr, IpAddr, u16, u8);

pub struct Collector {
    store: Store,
    lookups: Lookups,
    /// Counter totals (up, down) last counted, per flow.
    marks: HashMap<FlowId, (u64, u64)>,
    /// Names read from opening packets, per (PC, remote, port): the newest wins.
    sniffed: HashMap<(IpAddr, IpAddr, u16), (String, Via)>,
    rx: tokio::sync::mpsc::Receiver<Sniffed>,
}

fn flow_key(id: &FlowId) -> String {
    format!("{}|{}|{}|{}", id.0, id.1, id.2, id.3)
}

fn parse_key(k: &str) -> Option<FlowId> {
    let mut it = k.split('|');
    Some((
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    ))
}

/// Traffic no site should be charged with: to the gateway itself (DNS, the block page),
/// and LAN-only multicast and broadcast.
fn not_a_site(remote: IpAddr, gateway: &[IpAddr]) -> bool {
    if gateway.contains(&remote) || remote.is_multicast() || remote.is_unspecified() {
        return true;
    }
    match remote {
        IpAddr::V4(a) => a.is_broadcast() || a.is_link_local(),
        IpAddr::V6(a) => a.is_unicast_link_local(),
    }
}

impl Collector {
    /// Picks up the flow totals an earlier run counted.
    pub fn load(store: Store, lookups: Lookups, rx: tokio::sync::mpsc::Receiver<Sniffed>) -> Self {
        let mut marks = HashMap::new();
        if let Some(conn) = store
            .path()
            .parent()
            .and_then(|d| crate::store::open_read(d).ok())
        {
            for (k, up, down) in crate::store::flow_marks(&conn).unwrap_or_default() {
                if let Some(id) = parse_key(&k) {
                    marks.insert(id, (up, down));
                }
            }
        }
        Collector {
            store,
            lookups,
            marks,
            sniffed: HashMap::new(),
            rx,
        }
    }

    /// Counts what the flows counted since the last call. `day_offset_min`: the policy
    /// zone's offset from UTC now, for daily rows.
    pub fn collect(
        &mut self,
        flows: &[FlowEntry],
        policy: &Policy,
        names: &crate::pcnames::PcNames,
        gateway: &[IpAddr],
        day_offset_min: i64,
    ) {
        while let Ok(s) = self.rx.try_recv() {
            self.sniffed
                .insert((s.pc, s.remote, s.remote_port), (s.name, s.via));
        }
        let at_ms = crate::store::now_ms();
        let mut rows: HashMap<(String, String), SiteRow> = HashMap::new();
        let mut unexplained: Vec<UnexplainedRow> = Vec::new();
        let mut marks = Vec::new();
        for f in flows {
            let id: FlowId = (f.pc, f.remote, f.remote_port, f.proto);
            let (up, down) = (f.counters.up_bytes, f.counters.down_bytes);
            let (mu, md) = self.marks.get(&id).copied().unwrap_or((0, 0));
            // Totals only grow; a smaller one is a flow evicted and seen again.
            let du = if up >= mu { up - mu } else { up };
            let dd = if down >= md { down - md } else { down };
            if du == 0 && dd == 0 {
                continue;
            }
            self.marks.insert(id, (up, down));
            marks.push((flow_key(&id), up, down));
            if not_a_site(f.remote, gateway) {
                continue;
            }
            let pc = names.label(policy, f.pc);
            let sniffed = self.sniffed.get(&(f.pc, f.remote, f.remote_port));
            let answered = self.lookups.names(f.pc, f.remote);
            let answered: &[std::sync::Arc<str>] = answered.as_deref().unwrap_or(&[]);
            let named = sniffed.filter(|(n, _)| n.parse::<IpAddr>().is_err());
            let (host, via) = match (named, answered.first()) {
                (Some((n, v)), _) => (n.clone(), *v),
                (None, Some(n)) => (n.to_string(), Via::Dns),
                (None, None) => (f.remote.to_string(), Via::Address),
            };
            let reason = if answered.is_empty() {
                Some("no_lookup")
            } else if let Some((n, Via::Sni)) = named {
                let site = registrable(n);
                (!answered.iter().any(|a| registrable(a) == site)).then_some("sni_mismatch")
            } else {
                None
            };
            if let Some(reason) = reason {
                unexplained.push(UnexplainedRow {
                    pc: pc.clone(),
                    remote: f.remote.to_string(),
                    port: f.remote_port,
                    proto: f.proto,
                    reason,
                    name: sniffed.map(|(n, _)| n.clone()),
                    up: du,
                    down: dd,
                });
            }
            let row = rows
                .entry((pc.clone(), host.clone()))
                .or_insert_with(|| SiteRow {
                    pc,
                    site: registrable(&host),
                    host,
                    via,
                    up: 0,
                    down: 0,
                });
            row.up += du;
            row.down += dd;
        }
        // Forget names and marks of flows the datapath no longer has: one that comes
        // back starts its counters from zero, and a PC opening flows by the hundred
        // thousand must not grow either.
        let mut forgotten = Vec::new();
        if self.sniffed.len() > flows.len() || self.marks.len() > flows.len() {
            let live: std::collections::HashSet<FlowId> = flows
                .iter()
                .map(|f| (f.pc, f.remote, f.remote_port, f.proto))
                .collect();
            let named: std::collections::HashSet<_> = live
                .iter()
                .map(|(pc, r, port, _)| (*pc, *r, *port))
                .collect();
            self.sniffed.retain(|k, _| named.contains(k));
            self.marks.retain(|id, _| {
                let keep = live.contains(id);
                if !keep {
                    forgotten.push(flow_key(id));
                }
                keep
            });
        }
        if marks.is_empty() && forgotten.is_empty() {
            return;
        }
        self.store.sites(SitesBatch {
            minute: at_ms.div_euclid(60_000),
            at_ms,
            day_offset_min,
            rows: rows.into_values().collect(),
            unexplained,
            marks,
            forgotten,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_keys_round_trip() {
        let id: FlowId = (
            "10.10.0.11".parse().unwrap(),
            "2001:db8::7".parse().unwrap(),
            443,
            6,
        );
        assert_eq!(parse_key(&flow_key(&id)), Some(id));
        assert_eq!(parse_key("garbage"), None);
    }
}
