//! Start-up: each server twice — without the list (baseline RSS and start time), then
//! with it — and, for Officegate, the time its policy load took (its own log) and the
//! time a one-line change takes to apply. The servers with the list stay up for the
//! rounds (`rounds`).

use std::{
    path::Path,
    time::{Duration, Instant},
};

use officegate_lab::{Lab, Role, officegate::pin_dir_for};

use super::{
    NAMES,
    blast::{rcode, wait_ready},
    peers::{Server, start_dnsdist, start_dnsmasq, start_officegate, start_unbound},
    rounds::Figures,
};

/// The servers up with the list, and Officegate's own start-up figures (NaN when it was
/// left out by `--only`).
pub(super) struct Started {
    pub running: Vec<(&'static str, Server, Figures)>,
    pub apply_ms: f64,
    pub og_load_ms: f64,
}

/// Starts every server (or `only` one), measuring each as it comes up.
pub(super) fn start_all(
    lab: &Lab,
    dir: &Path,
    bin: &Path,
    only: Option<&str>,
) -> anyhow::Result<Started> {
    let ns = lab.netns_path(Role::Pc(1));
    let load_limit = Duration::from_secs(120);

    // Each server twice: without the list (baseline RSS and start time), then with it;
    // those with it stay up and are measured together (`measure`).
    let mut running: Vec<(&'static str, Server, Figures)> = Vec::new();
    let mut apply_ms = f64::NAN;
    let mut og_load_ms = f64::NAN;
    for which in ["officegate", "unbound", "dnsmasq", "dnsdist"] {
        if only.is_some_and(|o| o != which) {
            continue;
        }
        let start = |with: bool| -> anyhow::Result<Server> {
            match which {
                "officegate" => start_officegate(lab, dir, bin, with),
                "unbound" => start_unbound(lab, dir, with),
                "dnsdist" => start_dnsdist(lab, dir, with),
                _ => start_dnsmasq(lab, dir, with),
            }
        };
        let base = start(false)?;
        let t0 = wait_ready(&ns, base.target, load_limit)?;
        std::thread::sleep(Duration::from_millis(300));
        let rss0 = rss_bytes(base.pid());
        drop(base);
        if which == "officegate" {
            let _ = std::fs::remove_dir_all(pin_dir_for(lab));
        }
        let server = start(true)?;
        let t1 = wait_ready(&ns, server.target, load_limit)?;
        std::thread::sleep(Duration::from_millis(500));
        let rss1 = rss_bytes(server.pid());
        let mut set_per_name = f64::NAN;
        let f = Figures {
            rss_per_name: rss1.saturating_sub(rss0) as f64 / NAMES as f64,
            load_ms: (t1.as_secs_f64() - t0.as_secs_f64()).max(0.0) * 1000.0,
            ..Figures::default()
        };
        if let Some(og) = &server.og {
            // The daemon's own figure: the policy load, lists included.
            let log = og.log_text();
            og_load_ms = loaded_field(&log, "ms").unwrap_or(f64::NAN);
            // Memory per name: the bytes the daemon's name sets take, as it reports them
            // (RSS differences of two processes drown in allocator slack: a run read
            // 0.0). Checked for sense, so it can never read zero again.
            let names = loaded_field(&log, "names").unwrap_or(0.0);
            let bytes = loaded_field(&log, "name_bytes").unwrap_or(0.0);
            anyhow::ensure!(
                names >= NAMES as f64,
                "the daemon reports {names} names loaded, the list has {NAMES}"
            );
            let per = bytes / names;
            anyhow::ensure!(
                (8.0..=1000.0).contains(&per),
                "implausible memory per name: {bytes} bytes for {names} names (a 64-bit hash each is the least)"
            );
            set_per_name = per;
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
        let f = Figures { set_per_name, ..f };
        running.push((which, server, f));
    }
    Ok(Started {
        running,
        apply_ms,
        og_load_ms,
    })
}

/// A number from the daemon's last "policy loaded" log line (`key=value`).
fn loaded_field(log: &str, key: &str) -> Option<f64> {
    let line = log.lines().rfind(|l| l.contains("policy loaded"))?;
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .find(|(k, _)| k.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_') == key)
        .and_then(|(_, v)| {
            v.trim_matches(|c: char| !c.is_ascii_digit() && c != '.')
                .parse()
                .ok()
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
