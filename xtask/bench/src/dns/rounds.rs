//! The measurement rounds: every server queried in turns with each query file, the
//! ratio against Unbound (and dnsdist) taken per run; then p50/p99/p99.9 latency at fixed
//! rates.

use std::time::Duration;

use officegate_lab::{Lab, Role};

use super::{FIXED_QPS, blast::blast, names::QueryFiles, peers::Server};

#[derive(Default, Debug, Clone)]
pub(super) struct Figures {
    pub allowed: f64,
    pub blocked: f64,
    pub mix: f64,
    /// The mix sent to an outside resolver's address and intercepted by the gateway
    /// (Officegate; the others are asked directly, as their "mix").
    pub intercepted: f64,
    /// Per query file (allowed, blocked, mix, intercepted), the median over runs of this
    /// server's qps divided by Unbound's in the same run (NaN without Unbound).
    pub ratio: [f64; 4],
    /// The same against dnsdist (NaN without it).
    pub ratio_dnsdist: [f64; 4],
    pub rss_per_name: f64,
    /// The name sets' own bytes per name, as the daemon reports them (Officegate only).
    pub set_per_name: f64,
    pub load_ms: f64,
    /// At FIXED_QPS[0] (20k).
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// At FIXED_QPS[1] (50k).
    pub p99_ms_50k: f64,
    pub p999_ms_50k: f64,
}

/// Every running server but dnsmasq, queried in turns: for each file and run, each server
/// once, the order rotating from run to run (dnsmasq afterwards, on its own). This VM drifts between faster and slower spells within
/// a benchmark; measured one after the other, a server could get all the fast ones. The
/// ratio against Unbound is therefore taken per run (both measured moments apart) and
/// its median reported.
pub(super) fn measure(
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
        let dnsdist = group.iter().position(|&k| servers[k].0 == "dnsdist");
        // The fourth file is the mix again, sent by the PC to the lab's resolver: for
        // Officegate that goes through its interception (nftables DNAT to the intercept
        // listener, the answer's source turned back by conntrack — the sender's socket is
        // connected to the resolver's address, so any other source would be ignored);
        // Unbound and dnsmasq are asked directly, as for the mix.
        for (file, (label, q)) in [
            ("allowed", &files.allowed),
            ("blocked", &files.blocked),
            ("mix", &files.mix),
            ("intercept", &files.mix),
        ]
        .into_iter()
        .enumerate()
        {
            let mut qps = vec![Vec::new(); n];
            let mut ratio = vec![Vec::new(); n];
            let mut ratio_dd = vec![Vec::new(); n];
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
                    let target = match (file, &server.og) {
                        (3, Some(_)) => intercepted_target(),
                        _ => server.target,
                    };
                    let b = blast(&ns, target, q, secs, None)?;
                    eprintln!(
                        "  {:<11} {label:<8} run {r}: {:>9.0} qps ({} lost)",
                        server.name, b.qps, b.lost
                    );
                    got[j] = b.qps;
                }
                for j in 0..n {
                    qps[j].push(got[j]);
                    ratio[j].push(unbound.map_or(f64::NAN, |u| got[j] / got[u]));
                    ratio_dd[j].push(dnsdist.map_or(f64::NAN, |d| got[j] / got[d]));
                }
            }
            for (j, &k) in group.iter().enumerate() {
                let f = &mut servers[k].2;
                let v = crate::median(&mut qps[j]);
                match file {
                    0 => f.allowed = v,
                    1 => f.blocked = v,
                    2 => f.mix = v,
                    _ => f.intercepted = v,
                }
                f.ratio[file] = crate::median(&mut ratio[j]);
                f.ratio_dnsdist[file] = crate::median(&mut ratio_dd[j]);
            }
        }
    }
    for (_, server, f) in servers.iter_mut() {
        // OFFICEGATE_BENCH_PERF=<file>: profile Officegate during one more run of the mix
        // (or of OFFICEGATE_BENCH_PERF_QUERIES: allowed, blocked; at
        // OFFICEGATE_BENCH_PERF_QPS a second if set).
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
            // OFFICEGATE_BENCH_PERF_QPS=<rate>: at that fixed rate (where the tail latency
            // is measured) rather than as fast as it answers.
            let rate = std::env::var("OFFICEGATE_BENCH_PERF_QPS")
                .ok()
                .and_then(|r| r.parse().ok());
            blast(&ns, server.target, q, 5.0, rate)?;
            perf.wait()?;
        }
        for (k, rate) in FIXED_QPS.into_iter().enumerate() {
            // Warm again (answers live 60 s) and let the upstream settle: the latency of
            // cached and blocked answers is what this measures, not of a cold cache.
            blast(&ns, server.target, &files.allowed, 2.5, Some(10_000.0))?;
            std::thread::sleep(Duration::from_secs(1));
            let b = blast(&ns, server.target, &files.mix, 5.0, Some(rate))?;
            if k == 0 {
                f.p50_ms = b.p50_ms;
                f.p99_ms = b.p99_ms;
            } else {
                f.p99_ms_50k = b.p99_ms;
                f.p999_ms_50k = b.p999_ms;
            }
            eprintln!(
                "  {:<11} at {rate} qps: p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms ({} lost)",
                server.name, b.p50_ms, b.p99_ms, b.p999_ms, b.lost
            );
        }
    }
    Ok(())
}

/// Where a PC that asks another resolver sends its queries: the lab internet's resolver.
fn intercepted_target() -> std::net::SocketAddr {
    std::net::SocketAddr::new(officegate_lab::addr::RESOLVER_V4.into(), 53)
}
