//! The flow collector: every few seconds, the datapath's per-flow counters (summed over
//! CPUs) become deltas against the totals last counted, attributed to a host name and
//! its site, summed per (PC, host), and committed with the new totals in one transaction
//! — so a restart or a crash neither loses nor double-counts a flow's bytes.
//!
//! A flow seen by two CPUs is held in each CPU's part of the flow table, and each part is
//! replaced on its own when its set is full: marks are kept per part (flow, set), so a
//! part replaced and started again counts from zero without counting the other part's
//! bytes a second time. A part replaced between two collections loses the bytes it
//! counted since the last one (the PC's own totals, counted apart, keep them).

use std::{collections::HashMap, net::IpAddr};

use super::{Lookups, Sniffed, registrable};
use crate::{
    datapath::FlowEntry,
    policy::Policy,
    store::{SiteRow, SitesBatch, Store, UnexplainedRow, Via},
};

/// A flow as the datapath keys it.
type FlowId = (IpAddr, IpAddr, u16, u8);
/// One CPU's part of a flow: the flow and the set of the flow table holding it.
type PartId = (FlowId, u32);

pub struct Collector {
    store: Store,
    lookups: Lookups,
    /// Counter totals (up, down) last counted, per part of a flow.
    marks: HashMap<PartId, (u64, u64)>,
    /// Marks an older build kept per flow (its parts summed): used once, for the flows
    /// still live at the first collection, then dropped.
    summed: HashMap<FlowId, (u64, u64)>,
    /// Names read from opening packets, per (PC, remote, port): the newest wins.
    sniffed: HashMap<(IpAddr, IpAddr, u16), (String, Via)>,
    rx: tokio::sync::mpsc::Receiver<Sniffed>,
}

fn flow_key(id: &FlowId) -> String {
    format!("{}|{}|{}|{}", id.0, id.1, id.2, id.3)
}

fn part_key((id, set): &PartId) -> String {
    format!("{}|{set}", flow_key(id))
}

/// A flow mark's key: a part's (`flow|set`), or an older build's whole flow (no set).
fn parse_key(k: &str) -> Option<(FlowId, Option<u32>)> {
    let mut it = k.split('|');
    let id = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    );
    let set = match it.next() {
        Some(s) => Some(s.parse().ok()?),
        None => None,
    };
    it.next().is_none().then_some((id, set))
}

/// What a counter total counted since its mark: totals only grow, so a smaller one is
/// a part replaced and started again.
fn since(total: u64, mark: u64) -> u64 {
    if total >= mark { total - mark } else { total }
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
        let (mut marks, mut summed) = (HashMap::new(), HashMap::new());
        if let Some(conn) = store
            .path()
            .parent()
            .and_then(|d| crate::store::open_read(d).ok())
        {
            for (k, up, down) in crate::store::flow_marks(&conn).unwrap_or_default() {
                match parse_key(&k) {
                    Some((id, Some(set))) => {
                        marks.insert((id, set), (up, down));
                    }
                    Some((id, None)) => {
                        summed.insert(id, (up, down));
                    }
                    None => {}
                }
            }
        }
        Collector {
            store,
            lookups,
            marks,
            summed,
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
        // Per flow: what its parts counted since their marks.
        let mut deltas: HashMap<FlowId, (u64, u64)> = HashMap::new();
        for f in flows {
            let id: FlowId = (f.pc, f.remote, f.remote_port, f.proto);
            let (up, down) = (f.counters.up_bytes, f.counters.down_bytes);
            let (mu, md) = self.marks.get(&(id, f.set)).copied().unwrap_or((0, 0));
            let (du, dd) = (since(up, mu), since(down, md));
            if du == 0 && dd == 0 {
                continue;
            }
            self.marks.insert((id, f.set), (up, down));
            marks.push((part_key(&(id, f.set)), up, down));
            let d = deltas.entry(id).or_default();
            d.0 += du;
            d.1 += dd;
        }
        let mut forgotten = Vec::new();
        if !self.summed.is_empty() {
            // A flow an older build marked whole: what its parts hold now, less that mark.
            let mut totals: HashMap<FlowId, (u64, u64)> = HashMap::new();
            for f in flows {
                let t = totals
                    .entry((f.pc, f.remote, f.remote_port, f.proto))
                    .or_default();
                t.0 += f.counters.up_bytes;
                t.1 += f.counters.down_bytes;
            }
            for (id, (mu, md)) in self.summed.drain() {
                if let (Some(d), Some((up, down))) = (deltas.get_mut(&id), totals.get(&id)) {
                    *d = (since(*up, mu), since(*down, md));
                }
                forgotten.push(flow_key(&id));
            }
        }
        for (id, (du, dd)) in deltas {
            let (pc_addr, remote, remote_port, proto) = id;
            if (du == 0 && dd == 0) || not_a_site(remote, gateway) {
                continue;
            }
            let pc = names.label(policy, pc_addr);
            let sniffed = self.sniffed.get(&(pc_addr, remote, remote_port));
            let answered = self.lookups.names(pc_addr, remote);
            let answered: &[std::sync::Arc<str>] = answered.as_deref().unwrap_or(&[]);
            let named = sniffed.filter(|(n, _)| n.parse::<IpAddr>().is_err());
            let (host, via) = match (named, answered.first()) {
                (Some((n, v)), _) => (n.clone(), *v),
                (None, Some(n)) => (n.to_string(), Via::Dns),
                (None, None) => (remote.to_string(), Via::Address),
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
                    remote: remote.to_string(),
                    port: remote_port,
                    proto,
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
        if self.sniffed.len() > flows.len() || self.marks.len() > flows.len() {
            let live: std::collections::HashSet<PartId> = flows
                .iter()
                .map(|f| ((f.pc, f.remote, f.remote_port, f.proto), f.set))
                .collect();
            let named: std::collections::HashSet<_> = live
                .iter()
                .map(|((pc, r, port, _), _)| (*pc, *r, *port))
                .collect();
            self.sniffed.retain(|k, _| named.contains(k));
            self.marks.retain(|part, _| {
                let keep = live.contains(part);
                if !keep {
                    forgotten.push(part_key(part));
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
        assert_eq!(parse_key(&flow_key(&id)), Some((id, None)));
        assert_eq!(parse_key(&part_key(&(id, 7))), Some((id, Some(7))));
        assert_eq!(parse_key("garbage"), None);
        assert_eq!(parse_key(&format!("{}|7|8", flow_key(&id))), None);
    }
}
