//! The report: a table of every server's figures, Officegate's start-up figures, the
//! paired ratios against Unbound, and the `RESULT dns {json}` line (its keys are what
//! the benchmark history compares: never rename one). Officegate's `bytes_per_domain` is
//! its name sets' own size (the daemon's count); `rss_bytes_per_domain` the RSS
//! difference, the way the peers' figures are taken.

use super::{NAMES, rounds::Figures};

/// Prints the table and the RESULT line for `results` (all three servers).
pub(super) fn print(results: &[(&'static str, Figures)], og_load_ms: f64, apply_ms: f64) {
    let get = |n: &str| {
        results
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, f)| f.clone())
            .unwrap_or_default()
    };
    let (o, u, d, dd) = (
        get("officegate"),
        get("unbound"),
        get("dnsmasq"),
        get("dnsdist"),
    );
    println!(
        "\n{:<12} {:>10} {:>10} {:>10} {:>10} {:>9} {:>8} {:>8}",
        "server", "allowed", "blocked", "mix", "B/name", "load ms", "p50 ms", "p99 ms"
    );
    for (n, f) in results {
        println!(
            "{n:<12} {:>10.0} {:>10.0} {:>10.0} {:>10.1} {:>9.0} {:>8.3} {:>8.3}",
            f.allowed, f.blocked, f.mix, f.rss_per_name, f.load_ms, f.p50_ms, f.p99_ms
        );
    }
    println!(
        "officegate policy load (daemon log): {og_load_ms:.0} ms; one-line change applied in {apply_ms:.0} ms; name sets {:.1} B/name as the daemon counts them (RSS difference {:.1})",
        o.set_per_name, o.rss_per_name
    );
    println!(
        "officegate / unbound, paired per run (median): allowed {:.3}, blocked {:.3}, mix {:.3}, mix intercepted {:.3} ({:.0} qps)",
        o.ratio[0], o.ratio[1], o.ratio[2], o.ratio[3], o.intercepted
    );
    println!(
        "officegate / dnsdist, paired per run (median): allowed {:.3}, blocked {:.3}, mix {:.3}",
        o.ratio_dnsdist[0], o.ratio_dnsdist[1], o.ratio_dnsdist[2]
    );
    println!(
        "{:<12} {:>12} {:>12} {:>14}",
        "server", "p99 ms 20k", "p99 ms 50k", "p99.9 ms 50k"
    );
    for (n, f) in results {
        println!(
            "{n:<12} {:>12.3} {:>12.3} {:>14.3}",
            f.p99_ms, f.p99_ms_50k, f.p999_ms_50k
        );
    }
    // Over the three files asked directly, as before the intercepted one existed (the
    // history compares this key).
    let ratio_min = o.ratio[..3].iter().copied().fold(f64::INFINITY, f64::min);
    // dnsdist's goal is on cached allowed names and on blocked names.
    let ratio_dnsdist_min = o.ratio_dnsdist[0].min(o.ratio_dnsdist[1]);
    // Officegate's p99 at 50k against the best peer's there (dnsmasq left out: it sheds
    // most of that load, so its p99 is of the few it answers).
    let best_peer_p99 = [&u, &dd]
        .iter()
        .map(|f| f.p99_ms_50k)
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    println!(
        "RESULT dns {{\"officegate_qps\": {:.0}, \"unbound_qps\": {:.0}, \"dnsmasq_qps\": {:.0}, \"ratio_unbound_min\": {ratio_min:.3}, \"ratio_unbound_allowed\": {:.3}, \"ratio_unbound_blocked\": {:.3}, \"ratio_unbound_mix\": {:.3}, \"domains\": {NAMES}, \"bytes_per_domain\": {:.1}, \"load_ms\": {og_load_ms:.0}, \"apply_ms\": {apply_ms:.0}, \"p99_ms\": {:.3}, \"officegate_allowed_qps\": {:.0}, \"officegate_blocked_qps\": {:.0}, \"unbound_allowed_qps\": {:.0}, \"unbound_blocked_qps\": {:.0}, \"dnsmasq_allowed_qps\": {:.0}, \"dnsmasq_blocked_qps\": {:.0}, \"unbound_bytes_per_domain\": {:.1}, \"dnsmasq_bytes_per_domain\": {:.1}, \"officegate_intercepted_qps\": {:.0}, \"ratio_unbound_intercepted\": {:.3}, \"rss_bytes_per_domain\": {:.1}, \"dnsdist_qps\": {:.0}, \"dnsdist_allowed_qps\": {:.0}, \"dnsdist_blocked_qps\": {:.0}, \"ratio_dnsdist_min\": {ratio_dnsdist_min:.3}, \"ratio_dnsdist_allowed\": {:.3}, \"ratio_dnsdist_blocked\": {:.3}, \"ratio_dnsdist_mix\": {:.3}, \"p99_ms_20k\": {:.3}, \"p99_ms_50k\": {:.3}, \"p999_ms_50k\": {:.3}, \"p99_ratio_best\": {:.3}, \"unbound_p99_ms_50k\": {:.3}, \"dnsdist_p99_ms_50k\": {:.3}, \"dnsmasq_p99_ms_50k\": {:.3}, \"dnsdist_bytes_per_domain\": {:.1}}}",
        o.mix,
        u.mix,
        d.mix,
        o.ratio[0],
        o.ratio[1],
        o.ratio[2],
        o.set_per_name,
        o.p99_ms,
        o.allowed,
        o.blocked,
        u.allowed,
        u.blocked,
        d.allowed,
        d.blocked,
        u.rss_per_name,
        d.rss_per_name,
        o.intercepted,
        o.ratio[3],
        o.rss_per_name,
        dd.mix,
        dd.allowed,
        dd.blocked,
        o.ratio_dnsdist[0],
        o.ratio_dnsdist[1],
        o.ratio_dnsdist[2],
        o.p99_ms,
        o.p99_ms_50k,
        o.p999_ms_50k,
        o.p99_ms_50k / best_peer_p99,
        u.p99_ms_50k,
        dd.p99_ms_50k,
        d.p99_ms_50k,
        dd.rss_per_name,
    );
}
