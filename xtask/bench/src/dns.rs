//! `bench dns`: queries per second of the gateway's DNS filter with 1,000,000 blocked names,
//! against Unbound (1 thread, the names as `local-zone: … always_nxdomain`, as pfBlockerNG
//! does) and dnsmasq (Pi-hole's engine, `address=/name/`) in the same run: same lab, same
//! core (every server pinned to CPU 1, the load generator to CPU 0), same upstream (the lab
//! internet's resolver), same query files: allowed names (cached answers after a warm-up
//! pass before each run), blocked names (30% of them subdomains of listed names), and an 80/20 mix. The
//! servers run side by side (different ports) and are queried in turns, so each ratio
//! against Unbound is taken per run, the two measured moments apart (see `measure`).
//!
//! The load generator is our own (`blast`): one UDP socket keeping a fixed number of
//! queries in flight, so every server is driven by the same sender (dnsperf tops out near
//! 140k qps on one core here, below what the servers can do).
//!
//! Also measured: RSS added by the list (bytes per blocked name), the time to load the
//! list, the time to apply a one-line policy change (officegate), and p50/p99 latency at a
//! fixed 20k qps.

use std::{
    fs::File,
    net::{IpAddr, SocketAddr, UdpSocket},
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use hickory_proto::{
    op::{Message, Query},
    rr::{Name, RecordType},
};
use officegate_lab::{
    Lab, LabConfig, Role, addr,
    officegate::{Officegate, lab_config, pin_dir_for},
};

const NAMES: usize = 1_000_000;
const QUERIES_PER_FILE: usize = 20_000;
const IN_FLIGHT: usize = 256;
const SERVER_CPU: &str = "1";
const SENDER_CPU: usize = 0;
const UNBOUND_PORT: u16 = 5301;
const DNSMASQ_PORT: u16 = 5302;
const FIXED_QPS: f64 = 20_000.0;

/// The shared blocklists (`../shared` beside the checkout, or `$OFFICEGATE_SHARED`).
fn shared_lists() -> PathBuf {
    std::env::var_os("OFFICEGATE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("data/blocklists")
}

/// 1,000,000 distinct names: every name of the real lists, then synthetic ones.
fn blocked_names() -> anyhow::Result<Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let mut names = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    for sub in ["3p", "domains", "hosts", "adblock", "wildcard"] {
        if let Ok(rd) = std::fs::read_dir(shared_lists().join(sub)) {
            files.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
        }
    }
    files.sort();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        officegate::lists::parse_list(&text, |_, allow, rule| {
            if let (false, officegate::lists::Rule::Name(n)) = (allow, rule)
                && names.len() < NAMES
                && seen.insert(n.clone())
            {
                names.push(n);
            }
        });
    }
    let real = names.len();
    let mut i = 0;
    while names.len() < NAMES {
        let n = format!("t{i}.synthetic-{}.example", i % 9973);
        if seen.insert(n.clone()) {
            names.push(n);
        }
        i += 1;
    }
    eprintln!(
        "blocked names: {real} from the shared lists, {} synthetic",
        NAMES - real
    );
    Ok(names)
}

/// A query's wire form; the id (first two bytes) is set by the sender.
fn wire(name: &str) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(
        Name::from_ascii(format!("{name}.")).expect("valid name"),
        RecordType::A,
    ));
    m.to_vec().expect("encodable")
}

struct QueryFiles {
    allowed: Vec<Vec<u8>>,
    blocked: Vec<Vec<u8>>,
    mix: Vec<Vec<u8>>,
}

fn query_files(names: &[String]) -> QueryFiles {
    // A fixed stride instead of a random generator: the same files every run.
    let allowed: Vec<Vec<u8>> = (0..QUERIES_PER_FILE)
        .map(|i| wire(&format!("www{i}.allowed-site.example")))
        .collect();
    let step = names.len() / QUERIES_PER_FILE;
    let blocked: Vec<Vec<u8>> = (0..QUERIES_PER_FILE)
        .map(|i| {
            let n = &names[i * step];
            if i % 10 < 3 {
                wire(&format!("sub{i}.{n}"))
            } else {
                wire(n)
            }
        })
        .collect();
    let mix = (0..QUERIES_PER_FILE)
        .map(|i| {
            if i % 5 == 4 {
                blocked[i].clone()
            } else {
                allowed[i].clone()
            }
        })
        .collect();
    QueryFiles {
        allowed,
        blocked,
        mix,
    }
}

#[derive(Debug, Default, Clone)]
struct Blast {
    qps: f64,
    lost: u64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Sends `queries` round-robin to `target` from inside `ns` (pinned to SENDER_CPU) for
/// `secs`: with `rate` None, as fast as `IN_FLIGHT` outstanding queries allow; with a rate,
/// at that many per second. Answers are matched by id.
fn blast(
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
            let (mut in_flight, mut answered, mut lost) = (0usize, 0u64, 0u64);
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
                lost,
                p50_ms: pct(0.5),
                p99_ms: pct(0.99),
            })
        })
        .join()
        .map_err(|_| anyhow::anyhow!("sender thread panicked"))?
    })
}

fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Waits until `target` answers a query from `ns` (the server has loaded its list).
fn wait_ready(ns: &Path, target: SocketAddr, limit: Duration) -> anyhow::Result<Duration> {
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
fn rcode(ns: &Path, target: SocketAddr, name: &str) -> anyhow::Result<Option<u8>> {
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

struct Server {
    name: &'static str,
    target: SocketAddr,
    child: Option<Child>,
    og: Option<Officegate>,
}

impl Server {
    fn pid(&self) -> u32 {
        self.og
            .as_ref()
            .and_then(|o| o.pid())
            .or(self.child.as_ref().map(|c| c.id()))
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn gw_ip() -> IpAddr {
    IpAddr::V4(addr::GW_LAN_V4)
}

fn start_unbound(lab: &Lab, dir: &Path, with_list: bool) -> anyhow::Result<Server> {
    let conf = dir.join(if with_list {
        "unbound.conf"
    } else {
        "unbound-empty.conf"
    });
    let include = if with_list {
        format!(
            "  include: \"{}\"\n",
            dir.join("unbound-list.conf").display()
        )
    } else {
        String::new()
    };
    std::fs::write(
        &conf,
        format!(
            "server:\n  interface: {gw}@{UNBOUND_PORT}\n  port: {UNBOUND_PORT}\n  num-threads: 1\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"{d}/unbound-bench.pid\"\n  use-syslog: no\n  logfile: \"\"\n  verbosity: 0\n  access-control: 10.10.0.0/24 allow\n  module-config: \"iterator\"\n  msg-cache-size: 64m\n  rrset-cache-size: 128m\n  so-rcvbuf: 8m\n  do-not-query-localhost: no\n{include}forward-zone:\n  name: \".\"\n  forward-addr: {up}\nremote-control:\n  control-enable: no\n",
            gw = addr::GW_LAN_V4,
            d = dir.display(),
            up = addr::RESOLVER_V4,
        ),
    )?;
    let log = File::create(dir.join("unbound-bench.log"))?;
    let child = lab
        .command(Role::Gateway, "taskset")
        .args(["-c", SERVER_CPU, "unbound", "-d", "-c"])
        .arg(&conf)
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .context("spawn unbound")?;
    Ok(Server {
        name: "unbound",
        target: SocketAddr::new(gw_ip(), UNBOUND_PORT),
        child: Some(child),
        og: None,
    })
}

fn start_dnsmasq(lab: &Lab, dir: &Path, with_list: bool) -> anyhow::Result<Server> {
    let mut cmd = lab.command(Role::Gateway, "taskset");
    cmd.args([
        "-c",
        SERVER_CPU,
        "dnsmasq",
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
    ])
    .arg(format!("--port={DNSMASQ_PORT}"))
    .arg(format!("--listen-address={}", addr::GW_LAN_V4))
    .args(["--bind-interfaces", "--cache-size=10000", "--user=root"])
    .arg(format!("--server={}", addr::RESOLVER_V4))
    .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()));
    if with_list {
        cmd.arg(format!(
            "--conf-file={}",
            dir.join("dnsmasq-list.conf").display()
        ));
    } else {
        cmd.arg("--conf-file=/dev/null");
    }
    let log = File::create(dir.join("dnsmasq.log"))?;
    let child = cmd
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .context("spawn dnsmasq")?;
    Ok(Server {
        name: "dnsmasq",
        target: SocketAddr::new(gw_ip(), DNSMASQ_PORT),
        child: Some(child),
        og: None,
    })
}

fn og_policy(with_list: bool) -> String {
    let lists = if with_list {
        "[lists.big]\nfiles = [\"big.txt\"]\n\n[lists.extra]\nfiles = [\"extra.txt\"]\n\n"
    } else {
        "[lists.extra]\nfiles = [\"extra.txt\"]\n\n"
    };
    let refs = if with_list {
        "[\"big\", \"extra\"]"
    } else {
        "[\"extra\"]"
    };
    format!(
        "version = 1\ntime_zone = \"UTC\"\n\n{lists}[[groups]]\nname = \"all\"\n\n[[groups.rules]]\naction = \"block\"\nlists = {refs}\nmode = \"nxdomain\"\n\n[[pcs]]\nname = \"pc1\"\naddresses = [\"{}\", \"{}\"]\ngroup = \"all\"\n",
        addr::pc_v4(1),
        addr::pc_v6(1)
    )
}

fn start_officegate(lab: &Lab, dir: &Path, bin: &Path, with_list: bool) -> anyhow::Result<Server> {
    // The daemon's files live in the lab dir; the list files beside its office.toml.
    std::fs::write(lab.dir().join("extra.txt"), "# one-line changes go here\n")?;
    if with_list {
        std::fs::copy(dir.join("big.txt"), lab.dir().join("big.txt"))?;
    }
    let wrapper = dir.join("officegate-pinned.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nTOKIO_WORKER_THREADS=1 exec taskset -c {SERVER_CPU} {} \"$@\"\n",
            bin.display()
        ),
    )?;
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(&wrapper)
        .status()?;
    let config = format!(
        "{}rate_limit_qps = 0\ncache_entries = 200000\n",
        lab_config(&pin_dir_for(lab))
    );
    let og = Officegate::start(lab, &wrapper, &config, &og_policy(with_list))?;
    Ok(Server {
        name: "officegate",
        target: SocketAddr::new(gw_ip(), 53),
        child: None,
        og: Some(og),
    })
}

#[derive(Default, Debug, Clone)]
struct Figures {
    allowed: f64,
    blocked: f64,
    mix: f64,
    /// Per query file (allowed, blocked, mix), the median over runs of this server's qps
    /// divided by Unbound's in the same run (NaN without Unbound).
    ratio: [f64; 3],
    rss_per_name: f64,
    load_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Every running server but dnsmasq, queried in turns: for each file and run, each server
/// once, the order rotating from run to run (dnsmasq afterwards, on its own). This VM drifts between faster and slower spells within
/// a benchmark; measured one after the other, a server could get all the fast ones. The
/// ratio against Unbound is therefore taken per run (both measured moments apart) and
/// its median reported.
fn measure(
    lab: &Lab,
    servers: &mut [(&'static str, Server, Figures)],
    files: &QueryFiles,
    secs: f64,
    runs: usize,
) -> anyhow::Result<()> {
    let ns = lab.netns_path(Role::Pc(1));
    // dnsmasq forwards every allowed name (its cache is smaller than the file), and the
    // upstream is still answering that flood after its turn: a server queried right after
    // it measured ~30% low. So the others take turns with each other, and dnsmasq runs on
    // its own afterwards.
    let (paired, solo): (Vec<usize>, Vec<usize>) =
        (0..servers.len()).partition(|&k| servers[k].0 != "dnsmasq");
    let mut groups = vec![paired];
    groups.extend(solo.into_iter().map(|k| vec![k]));
    for group in &groups {
        let n = group.len();
        let unbound = group.iter().position(|&k| servers[k].0 == "unbound");
        for (file, (label, q)) in [
            ("allowed", &files.allowed),
            ("blocked", &files.blocked),
            ("mix", &files.mix),
        ]
        .into_iter()
        .enumerate()
        {
            let mut qps = vec![Vec::new(); n];
            let mut ratio = vec![Vec::new(); n];
            for r in 0..runs {
                let mut got = vec![0.0; n];
                for i in 0..n {
                    let j = (i + r) % n;
                    let server = &servers[group[j]].1;
                    if file != 1 {
                        // Warm this server's cache: every allowed name once, slowly
                        // enough that the upstream keeps up. Just before each run, as the
                        // lab's answers live 60 s and the turns take longer.
                        blast(&ns, server.target, &files.allowed, 2.5, Some(10_000.0))?;
                    }
                    // Let the upstream's backlog drain first.
                    std::thread::sleep(Duration::from_secs(1));
                    let b = blast(&ns, server.target, q, secs, None)?;
                    eprintln!(
                        "  {:<11} {label:<8} run {r}: {:>9.0} qps ({} lost)",
                        server.name, b.qps, b.lost
                    );
                    got[j] = b.qps;
                }
                for j in 0..n {
                    qps[j].push(got[j]);
                    ratio[j].push(unbound.map_or(f64::NAN, |u| got[j] / got[u]));
                }
            }
            for (j, &k) in group.iter().enumerate() {
                let f = &mut servers[k].2;
                let v = crate::median(&mut qps[j]);
                match file {
                    0 => f.allowed = v,
                    1 => f.blocked = v,
                    _ => f.mix = v,
                }
                f.ratio[file] = crate::median(&mut ratio[j]);
            }
        }
    }
    for (_, server, f) in servers.iter_mut() {
        // OFFICEGATE_BENCH_PERF=<file>: profile Officegate during one more run of the mix
        // (or of OFFICEGATE_BENCH_PERF_QUERIES: allowed, blocked).
        if let (Some(out), Some(_)) = (std::env::var_os("OFFICEGATE_BENCH_PERF"), &server.og) {
            let q = match std::env::var("OFFICEGATE_BENCH_PERF_QUERIES").as_deref() {
                Ok("allowed") => &files.allowed,
                Ok("blocked") => &files.blocked,
                _ => &files.mix,
            };
            let mut perf = std::process::Command::new("perf")
                .args(["record", "-g", "-p", &server.pid().to_string(), "-o"])
                .arg(&out)
                .args(["--", "sleep", "4"])
                .spawn()?;
            blast(&ns, server.target, q, 5.0, None)?;
            perf.wait()?;
        }
        // Warm again (answers live 60 s) and let the upstream settle: the latency of
        // cached and blocked answers is what this measures, not of a cold cache.
        blast(&ns, server.target, &files.allowed, 2.5, Some(10_000.0))?;
        std::thread::sleep(Duration::from_secs(1));
        let b = blast(&ns, server.target, &files.mix, 5.0, Some(FIXED_QPS))?;
        f.p50_ms = b.p50_ms;
        f.p99_ms = b.p99_ms;
        eprintln!(
            "  {:<11} at {FIXED_QPS} qps: p50 {:.3} ms, p99 {:.3} ms",
            server.name, b.p50_ms, b.p99_ms
        );
    }
    Ok(())
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let arg = |k: &str| args.windows(2).find(|w| w[0] == k).map(|w| w[1].clone());
    let secs: f64 = arg("--seconds")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10.0);
    let runs: usize = arg("--runs").map(|s| s.parse()).transpose()?.unwrap_or(3);
    let bin = PathBuf::from(
        std::env::var("OFFICEGATE_BIN").context("OFFICEGATE_BIN (set by cargo xtask bench)")?,
    );
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let names = blocked_names()?;
    std::fs::write(dir.join("big.txt"), names.join("\n") + "\n")?;
    let mut unbound = String::with_capacity(names.len() * 48);
    let mut dnsmasq = String::with_capacity(names.len() * 32);
    for n in &names {
        unbound.push_str(&format!("  local-zone: \"{n}.\" always_nxdomain\n"));
        dnsmasq.push_str(&format!("address=/{n}/\n"));
    }
    std::fs::write(dir.join("unbound-list.conf"), unbound)?;
    std::fs::write(dir.join("dnsmasq-list.conf"), dnsmasq)?;
    let files = query_files(&names);
    let lab = Lab::up(LabConfig { pcs: 1 })?;
    let ns = lab.netns_path(Role::Pc(1));
    let load_limit = Duration::from_secs(120);

    // Each server twice: without the list (baseline RSS and start time), then with it;
    // those with it stay up and are measured together (`measure`).
    let mut running: Vec<(&'static str, Server, Figures)> = Vec::new();
    let mut apply_ms = f64::NAN;
    let mut og_load_ms = f64::NAN;
    let only = arg("--only");
    for which in ["officegate", "unbound", "dnsmasq"] {
        if only.as_deref().is_some_and(|o| o != which) {
            continue;
        }
        let start = |with: bool| -> anyhow::Result<Server> {
            match which {
                "officegate" => start_officegate(&lab, dir, &bin, with),
                "unbound" => start_unbound(&lab, dir, with),
                _ => start_dnsmasq(&lab, dir, with),
            }
        };
        let base = start(false)?;
        let t0 = wait_ready(&ns, base.target, load_limit)?;
        std::thread::sleep(Duration::from_millis(300));
        let rss0 = rss_bytes(base.pid());
        drop(base);
        if which == "officegate" {
            let _ = std::fs::remove_dir_all(pin_dir_for(&lab));
        }
        let server = start(true)?;
        let t1 = wait_ready(&ns, server.target, load_limit)?;
        std::thread::sleep(Duration::from_millis(500));
        let rss1 = rss_bytes(server.pid());
        let f = Figures {
            rss_per_name: rss1.saturating_sub(rss0) as f64 / NAMES as f64,
            load_ms: (t1.as_secs_f64() - t0.as_secs_f64()).max(0.0) * 1000.0,
            ..Figures::default()
        };
        if let Some(og) = &server.og {
            // The daemon's own figure: the policy load, lists included.
            og_load_ms = og
                .log_text()
                .lines()
                .filter(|l| l.contains("policy loaded"))
                .filter_map(|l| l.split("ms=").nth(1))
                .filter_map(|v| v.split_whitespace().next())
                .filter_map(|v| {
                    v.trim_matches(|c: char| !c.is_ascii_digit())
                        .parse::<f64>()
                        .ok()
                })
                .next_back()
                .unwrap_or(f64::NAN);
            // A one-line change: a new name in the small list, then SIGHUP; time until
            // the name is answered blocked. Queries keep being answered meanwhile.
            let name = "newly-blocked.apply.example";
            anyhow::ensure!(
                rcode(&ns, server.target, name)? == Some(0),
                "not blocked before"
            );
            std::fs::write(lab.dir().join("extra.txt"), format!("{name}\n"))?;
            let t = Instant::now();
            og.reload()?;
            let (mut answered, mut failed) = (0, 0);
            loop {
                match rcode(&ns, server.target, name)? {
                    Some(3) => break,
                    Some(_) => answered += 1,
                    None => failed += 1,
                }
                anyhow::ensure!(
                    t.elapsed() < Duration::from_secs(60),
                    "change never applied"
                );
            }
            apply_ms = t.elapsed().as_secs_f64() * 1000.0;
            eprintln!(
                "  officegate  one-line change applied in {apply_ms:.0} ms ({answered} queries answered meanwhile, {failed} unanswered)"
            );
        }
        eprintln!(
            "  {which:<11} RSS {:.1} MB without the list, {:.1} MB with it; ready {:.0} ms later",
            rss0 as f64 / 1e6,
            rss1 as f64 / 1e6,
            f.load_ms
        );
        running.push((which, server, f));
    }
    measure(&lab, &mut running, &files, secs, runs)?;
    let results: Vec<(&'static str, Figures)> = running
        .into_iter()
        .map(|(which, server, f)| {
            drop(server);
            (which, f)
        })
        .collect();
    let _ = std::fs::remove_dir_all(pin_dir_for(&lab));
    if results.len() < 3 {
        // `--only`: one server, no comparison, no RESULT line.
        return Ok(());
    }
    let get = |n: &str| {
        results
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, f)| f.clone())
            .unwrap_or_default()
    };
    let (o, u, d) = (get("officegate"), get("unbound"), get("dnsmasq"));
    println!(
        "\n{:<12} {:>10} {:>10} {:>10} {:>10} {:>9} {:>8} {:>8}",
        "server", "allowed", "blocked", "mix", "B/name", "load ms", "p50 ms", "p99 ms"
    );
    for (n, f) in &results {
        println!(
            "{n:<12} {:>10.0} {:>10.0} {:>10.0} {:>10.1} {:>9.0} {:>8.3} {:>8.3}",
            f.allowed, f.blocked, f.mix, f.rss_per_name, f.load_ms, f.p50_ms, f.p99_ms
        );
    }
    println!(
        "officegate policy load (daemon log): {og_load_ms:.0} ms; one-line change applied in {apply_ms:.0} ms"
    );
    println!(
        "officegate / unbound, paired per run (median): allowed {:.3}, blocked {:.3}, mix {:.3}",
        o.ratio[0], o.ratio[1], o.ratio[2]
    );
    let ratio_min = o.ratio.into_iter().fold(f64::INFINITY, f64::min);
    println!(
        "RESULT dns {{\"officegate_qps\": {:.0}, \"unbound_qps\": {:.0}, \"dnsmasq_qps\": {:.0}, \"ratio_unbound_min\": {ratio_min:.3}, \"ratio_unbound_allowed\": {:.3}, \"ratio_unbound_blocked\": {:.3}, \"ratio_unbound_mix\": {:.3}, \"domains\": {NAMES}, \"bytes_per_domain\": {:.1}, \"load_ms\": {og_load_ms:.0}, \"apply_ms\": {apply_ms:.0}, \"p99_ms\": {:.3}, \"officegate_allowed_qps\": {:.0}, \"officegate_blocked_qps\": {:.0}, \"unbound_allowed_qps\": {:.0}, \"unbound_blocked_qps\": {:.0}, \"dnsmasq_allowed_qps\": {:.0}, \"dnsmasq_blocked_qps\": {:.0}, \"unbound_bytes_per_domain\": {:.1}, \"dnsmasq_bytes_per_domain\": {:.1}}}",
        o.mix,
        u.mix,
        d.mix,
        o.ratio[0],
        o.ratio[1],
        o.ratio[2],
        o.rss_per_name,
        o.p99_ms,
        o.allowed,
        o.blocked,
        u.allowed,
        u.blocked,
        d.allowed,
        d.blocked,
        u.rss_per_name,
        d.rss_per_name
    );
    drop(lab);
    Ok(())
}
