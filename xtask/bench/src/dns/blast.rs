//! The load generator (`blast`) and the two probes built on it: whether a server answers
//! yet (`wait_ready`), and one query's answer code (`rcode`). Each runs on a thread of
//! its own that enters the PC's network namespace.

use std::{
    fs::File,
    net::{SocketAddr, UdpSocket},
    os::fd::AsRawFd,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::bail;

use super::{IN_FLIGHT, SENDER_CPU, names::wire};

#[derive(Debug, Default, Clone)]
pub(crate) struct Blast {
    pub qps: f64,
    pub sent: u64,
    pub answered: u64,
    /// Answers with RCODE SERVFAIL.
    pub servfail: u64,
    pub lost: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
}

/// Sends `queries` round-robin to `target` from inside `ns` (pinned to SENDER_CPU) for
/// `secs`: with `rate` None, as fast as `IN_FLIGHT` outstanding queries allow; with a rate,
/// at that many per second. Answers are matched by id.
pub(crate) fn blast(
    ns: &Path,
    target: SocketAddr,
    queries: &[Vec<u8>],
    secs: f64,
    rate: Option<f64>,
) -> anyhow::Result<Blast> {
    let ns = File::open(ns)?;
    let queries = queries.to_vec();
    std::thread::scope(|s| {
        s.spawn(move || -> anyhow::Result<Blast> {
            // SAFETY: setns/sched_setaffinity on this thread only, valid arguments.
            unsafe {
                if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                    bail!("setns: {}", std::io::Error::last_os_error());
                }
            }
            let mut set = nix::sched::CpuSet::new();
            set.set(SENDER_CPU)?;
            nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)?;
            let sock = UdpSocket::bind("0.0.0.0:0")?;
            sock.connect(target)?;
            sock.set_nonblocking(true)?;
            let sock2 = socket2::SockRef::from(&sock);
            let _ = sock2.set_recv_buffer_size(8 << 20);
            let _ = sock2.set_send_buffer_size(8 << 20);
            let mut sent_at: Vec<Option<Instant>> = vec![None; 65536];
            let mut next_id: u16 = 0;
            let (mut in_flight, mut answered, mut lost, mut servfail) = (0usize, 0u64, 0u64, 0u64);
            let mut lat: Vec<f32> = Vec::with_capacity(1 << 20);
            let start = Instant::now();
            let end = start + Duration::from_secs_f64(secs);
            let mut qi = 0usize;
            let mut sent: u64 = 0;
            let mut buf = [0u8; 4096];
            let mut last_sweep = start;
            let limit = if rate.is_some() { 65_000 } else { IN_FLIGHT };
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                let due = match rate {
                    Some(r) => (now.duration_since(start).as_secs_f64() * r) as u64 > sent,
                    None => true,
                };
                if due && in_flight < limit && sent_at[next_id as usize].is_none() {
                    let q = &queries[qi % queries.len()];
                    let mut pkt = q.clone();
                    pkt[0..2].copy_from_slice(&next_id.to_be_bytes());
                    if sock.send(&pkt).is_ok() {
                        sent_at[next_id as usize] = Some(now);
                        in_flight += 1;
                        sent += 1;
                        qi += 1;
                    }
                    next_id = next_id.wrapping_add(1);
                }
                loop {
                    match sock.recv(&mut buf) {
                        Ok(n) if n >= 2 => {
                            let id = u16::from_be_bytes([buf[0], buf[1]]) as usize;
                            if let Some(t) = sent_at[id].take() {
                                in_flight -= 1;
                                answered += 1;
                                if n > 3 && buf[3] & 0x0f == 2 {
                                    servfail += 1;
                                }
                                lat.push(t.elapsed().as_secs_f32() * 1000.0);
                            }
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                if now.duration_since(last_sweep) > Duration::from_millis(100) {
                    last_sweep = now;
                    for slot in sent_at.iter_mut() {
                        if slot.is_some_and(|t| now.duration_since(t) > Duration::from_secs(1)) {
                            *slot = None;
                            in_flight -= 1;
                            lost += 1;
                        }
                    }
                }
            }
            lat.sort_by(|a, b| a.total_cmp(b));
            let pct = |p: f64| {
                lat.get(((lat.len() as f64) * p) as usize)
                    .copied()
                    .unwrap_or(f32::NAN) as f64
            };
            Ok(Blast {
                qps: answered as f64 / secs,
                sent,
                answered,
                servfail,
                lost,
                p50_ms: pct(0.5),
                p99_ms: pct(0.99),
                p999_ms: pct(0.999),
            })
        })
        .join()
        .map_err(|_| anyhow::anyhow!("sender thread panicked"))?
    })
}

/// Waits until `target` answers a query from `ns` (the server has loaded its list).
pub(super) fn wait_ready(
    ns: &Path,
    target: SocketAddr,
    limit: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let q = wire("ready.allowed-site.example");
    while started.elapsed() < limit {
        let b = blast(ns, target, std::slice::from_ref(&q), 0.05, Some(100.0))?;
        if b.qps > 0.0 {
            return Ok(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("{target} did not answer within {limit:?}")
}

/// One query's answer code from inside `ns` (for the apply measurement).
pub(super) fn rcode(ns: &Path, target: SocketAddr, name: &str) -> anyhow::Result<Option<u8>> {
    let ns = File::open(ns)?;
    let q = wire(name);
    std::thread::scope(|s| {
        s.spawn(move || -> anyhow::Result<Option<u8>> {
            // SAFETY: as in `blast`.
            unsafe {
                if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                    bail!("setns");
                }
            }
            let sock = UdpSocket::bind("0.0.0.0:0")?;
            sock.connect(target)?;
            sock.set_read_timeout(Some(Duration::from_millis(500)))?;
            sock.send(&q)?;
            let mut buf = [0u8; 1500];
            Ok(sock
                .recv(&mut buf)
                .ok()
                .map(|n| if n > 3 { buf[3] & 0x0f } else { 255 }))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("query thread panicked"))?
    })
}
