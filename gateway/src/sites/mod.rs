//! Sites: which sites each PC uses, with bytes up and down — the datapath's per-flow
//! counters attributed to names.
//!
//! A flow (PC, remote address, remote port, protocol) is named, in order of trust, by the
//! TLS server name or HTTP `Host` its opening packets carried (the datapath hands those
//! to `sniffer`), else by the name the gateway's DNS answered this PC with that address
//! (`Lookups`), else by its address. A flow to an address the PC never looked up through
//! the gateway, or whose TLS name matches no answer the gateway gave for that address, is
//! *unexplained*: hard-coded addresses, browser DoH, VPNs.
//!
//! Owns: `Lookups` (fed by the DNS filter), the sniffer task, the flow `Collector`.

mod collector;
pub mod sniff;

use std::{net::IpAddr, sync::Arc, time::Duration};

pub use collector::Collector;
pub use sniff::{registrable, server_name};

/// Which names the gateway answered each PC with each address (newest first, a few per
/// pair: CDNs put many names on one address). Bounded and expiring (moka): a PC keeps
/// using an address long after the answer's TTL, so entries live for hours.
#[derive(Clone)]
pub struct Lookups {
    inner: moka::sync::Cache<(IpAddr, IpAddr), Arc<[Arc<str>]>>,
}

/// Names kept per (PC, address).
const NAMES_PER_PAIR: usize = 4;

impl Lookups {
    pub fn new(capacity: u64, keep: Duration) -> Self {
        Lookups {
            inner: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(keep)
                .build(),
        }
    }

    /// Records that `pc` was answered `name` with `addrs`.
    pub fn record(&self, pc: IpAddr, name: &str, addrs: &[IpAddr]) {
        for a in addrs {
            let key = (pc, *a);
            match self.inner.get(&key) {
                // The common case on a busy gateway: the same answer again.
                Some(names) if names.first().is_some_and(|n| &**n == name) => {}
                Some(names) => {
                    let mut v: Vec<Arc<str>> = Vec::with_capacity(NAMES_PER_PAIR);
                    v.push(Arc::from(name));
                    v.extend(
                        names
                            .iter()
                            .filter(|n| &***n != name)
                            .take(NAMES_PER_PAIR - 1)
                            .cloned(),
                    );
                    self.inner.insert(key, v.into());
                }
                None => self.inner.insert(key, Arc::from([Arc::from(name)])),
            }
        }
    }

    /// The names `pc` was answered with for `addr`, newest first.
    pub fn names(&self, pc: IpAddr, addr: IpAddr) -> Option<Arc<[Arc<str>]>> {
        self.inner.get(&(pc, addr))
    }

    /// Rebuilds what an earlier run knew from the query log (after a restart, flows
    /// opened before it would otherwise all look unexplained).
    pub fn load_from_log(&self, conn: &rusqlite::Connection, since_ms: i64) -> usize {
        let filter = crate::store::QueryFilter {
            verdict: Some("allowed".into()),
            since_ms: Some(since_ms),
            ..Default::default()
        };
        let rows = crate::store::queries(conn, &filter, 200_000, 0).unwrap_or_default();
        let n = rows.len();
        // Oldest first, so the newest answer ends up first.
        for q in rows.into_iter().rev() {
            let Ok(pc) = q.client.parse() else { continue };
            let addrs: Vec<IpAddr> = q.answers.iter().filter_map(|a| a.parse().ok()).collect();
            self.record(pc, &q.name, &addrs);
        }
        n
    }
}

/// A name read from an opening packet, for the flow it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Sniffed {
    pub pc: IpAddr,
    pub remote: IpAddr,
    pub remote_port: u16,
    pub name: String,
    pub via: crate::store::Via,
}

/// Reads one `Sniff` record of the ring buffer (layout: `gateway_common::Sniff`).
pub fn decode(rec: &[u8]) -> Option<Sniffed> {
    use gateway_common::{Sniff, addr6_octets};
    if rec.len() < std::mem::size_of::<Sniff>() {
        return None;
    }
    // SAFETY: the length was checked; `Sniff` is plain integers and bytes, valid for any
    // bit pattern; read_unaligned because the ring buffer only promises 8-byte alignment.
    let s: Sniff = unsafe { std::ptr::read_unaligned(rec.as_ptr().cast()) };
    let (pc, remote) = match s.family {
        4 => {
            let v4 = |a| {
                let o = addr6_octets(a);
                IpAddr::V4(std::net::Ipv4Addr::new(o[0], o[1], o[2], o[3]))
            };
            (v4(s.pc), v4(s.remote))
        }
        6 => (
            IpAddr::V6(addr6_octets(s.pc).into()),
            IpAddr::V6(addr6_octets(s.remote).into()),
        ),
        _ => return None,
    };
    let len = (s.len as usize).min(s.data.len());
    let (name, via) = server_name(&s.data[..len])?;
    Some(Sniffed {
        pc,
        remote,
        remote_port: s.remote_port,
        name,
        via,
    })
}

/// Drains the datapath's `SNIFF` ring buffer into `tx` until cancelled. Each name seen
/// (not an address) is also handed to `seen` with the address the PC opened: the daemon
/// records it as answered, so an address a PC reaches directly (a hard-coded address,
/// another resolver over HTTPS) under a name its group may not reach is blocked for the
/// group like an answered one (`datapath_plan`; an address also answered for a name the
/// group may reach is spared). A PC can only make its own group lose an address nobody's
/// allowed name is answered with, and only until the entry expires.
pub async fn sniffer(
    pin_dir: std::path::PathBuf,
    tx: tokio::sync::mpsc::Sender<Sniffed>,
    seen: impl Fn(&str, IpAddr),
    token: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    use aya::maps::{Map, MapData, RingBuf};
    let data = MapData::from_pin(pin_dir.join(gateway_common::maps::SNIFF))?;
    let ring = RingBuf::try_from(Map::RingBuf(data))?;
    // SAFETY: the ring buffer owns its fd and closes it only when dropped, which happens
    // after the AsyncFd (which owns the ring buffer) deregisters it.
    let mut fd = unsafe { tokio::io::unix::AsyncFd::register(ring) }
        .map_err(|e| anyhow::anyhow!("registering the ring buffer: {e}"))?;
    loop {
        let mut guard = tokio::select! {
            _ = token.cancelled() => return Ok(()),
            g = fd.readable_mut() => g?,
        };
        let ring = guard.get_inner_mut();
        while let Some(item) = ring.next() {
            if let Some(s) = decode(&item) {
                if s.name.parse::<IpAddr>().is_err() {
                    seen(&s.name, s.remote);
                }
                // A full channel drops: the flow falls back to its DNS name.
                let _ = tx.try_send(s);
            }
        }
        guard.clear_ready();
    }
}
