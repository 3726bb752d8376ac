//! The report: a table of every server's figures, Officegate's start-up figures, the
//! paired ratios against Unbound, and the `RESULT dns {json}` line (its keys are what
//! the benchmark history compares: never rename one).

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
    let (o, u, d) = (get("officegate"), get("unbound"), get("dnsmasq"));
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
        "officegate policy load (daemon log): {og_load_ms:.0} ms; one-line change applied in {apply_ms:.0} ms"
    );
    println!(
        "officegate / unbound, paired per run (median): allowed {:.3}, blocked {:.3}, mix {:.3}, mix intercepted {:.3} ({:.0} qps)",
        o.ratio[0], o.ratio[1], o.ratio[2], o.ratio[3], o.intercepted
    );
    // Over the three files asked directly, as before the intercepted one existed (the
    // history compares this key).
    let ratio_min = o.ratio[..3].iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "RESULT dns {{\"officegate_qps\": {:.0}, \"unbound_qps\": {:.0}, \"dnsmasq_qps\": {:.0}, \"ratio_unbound_min\": {ratio_min:.3}, \"ratio_unbound_allowed\": {:.3}, \"ratio_unbound_blocked\": {:.3}, \"ratio_unbound_mix\": {:.3}, \"domains\": {NAMES}, \"bytes_per_domain\": {:.1}, \"load_ms\": {og_load_ms:.0}, \"apply_ms\": {apply_ms:.0}, \"p99_ms\": {:.3}, \"officegate_allowed_qps\": {:.0}, \"officegate_blocked_qps\": {:.0}, \"unbound_allowed_qps\": {:.0}, \"unbound_blocked_qps\": {:.0}, \"dnsmasq_allowed_qps\": {:.0}, \"dnsmasq_blocked_qps\": {:.0}, \"unbound_bytes_per_domain\": {:.1}, \"dnsmasq_bytes_per_domain\": {:.1}, \"officegate_intercepted_qps\": {:.0}, \"ratio_unbound_intercepted\": {:.3}}}",
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
        d.rss_per_name,
        o.intercepted,
        o.ratio[3]
    );
}
