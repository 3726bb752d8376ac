//! Smoke check of the office lab: builds two labs at once, exercises every service from the
//! PCs through the gateway's NAT, and proves teardown leaves nothing behind, also on panic.
//!
//! `cargo run -p officegate-lab --example smoke` (as root). Exits non-zero on any failure.

use std::time::Instant;

use anyhow::{Context, Result, ensure};
use officegate_lab::{Lab, LabConfig, Role, addr, link_stats};

fn main() -> Result<()> {
    let t = Instant::now();
    let a = Lab::up(LabConfig::default())?;
    println!(
        "lab {} up in {:?} (dir {})",
        a.prefix(),
        t.elapsed(),
        a.dir().display()
    );
    let t = Instant::now();
    let b = Lab::up(LabConfig { pcs: 2 })?;
    println!("lab {} up in {:?} alongside", b.prefix(), t.elapsed());
    let prefixes = [a.prefix().to_string(), b.prefix().to_string()];

    check_lab(&a)?;
    // The second lab uses the very same addresses and interface names, in its own namespaces.
    for i in 1..=b.pcs() {
        ping(&b, i, &addr::SITE_NEWS_V4.to_string(), "-4")?;
    }
    let v = curl(
        &b,
        Role::Pc(2),
        &[&format!("http://{}/health", addr::SITE_VIDEO_V4)],
    )?;
    ensure!(v == "ok", "lab b health: {v:?}");
    println!(
        "ok   lab {}: pings and HTTP work while lab {} runs",
        b.prefix(),
        a.prefix()
    );

    println!("{}", Lab::status()?);
    drop(a);
    drop(b);
    assert_gone(&prefixes)?;
    println!("ok   both labs dropped: no namespaces, processes or files left");

    // Teardown on panic: unwinding drops the lab.
    let leaked = std::panic::catch_unwind(|| {
        let lab = Lab::up(LabConfig { pcs: 1 }).expect("lab up");
        let prefix = lab.prefix().to_string();
        std::panic::panic_any(prefix);
    });
    let prefix = leaked
        .expect_err("closure panics")
        .downcast::<String>()
        .expect("prefix");
    assert_gone(&[*prefix.clone()])?;
    println!("ok   lab {prefix} torn down by a panic's unwinding");
    println!("smoke: all checks passed");
    Ok(())
}

fn check_lab(lab: &Lab) -> Result<()> {
    let news4 = addr::SITE_NEWS_V4.to_string();
    let news6 = addr::SITE_NEWS_V6.to_string();
    for i in 1..=lab.pcs() {
        ping(lab, i, &news4, "-4")?;
        ping(lab, i, &news6, "-6")?;
    }
    println!("ok   every PC pings {news4} and {news6} through the gateway");

    let pc1 = Role::Pc(1);
    let health = curl(lab, pc1, &[&format!("http://{news4}/health")])?;
    ensure!(health == "ok", "health: {health:?}");
    let health6 = curl(lab, pc1, &[&format!("http://[{news6}]/health")])?;
    ensure!(health6 == "ok", "health v6: {health6:?}");
    println!("ok   curl http://{news4}/health and http://[{news6}]/health -> ok");

    let ca = lab.ca_cert();
    let ca = ca.to_str().context("ca path")?;
    let page = curl(
        lab,
        pc1,
        &[
            "--cacert",
            ca,
            "--resolve",
            &format!("news.example:443:{news4}"),
            "https://news.example/",
        ],
    )?;
    ensure!(page.contains("<h1>news.example</h1>"), "news page: {page}");
    let shop = curl(
        lab,
        pc1,
        &[
            "--cacert",
            ca,
            "--resolve",
            &format!("shop.example:443:{}", addr::SITE_SHARED_V4),
            "https://shop.example/",
        ],
    )?;
    let cdn = curl(
        lab,
        pc1,
        &[
            "--cacert",
            ca,
            "--resolve",
            &format!("cdn.example:443:{}", addr::SITE_SHARED_V4),
            "https://cdn.example/",
        ],
    )?;
    ensure!(
        shop.contains("<h1>shop.example</h1>") && cdn.contains("<h1>cdn.example</h1>"),
        "SNI: {shop} / {cdn}"
    );
    let size = curl(
        lab,
        pc1,
        &[
            "--cacert",
            ca,
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            "--resolve",
            &format!("video.example:443:{}", addr::SITE_VIDEO_V4),
            "https://video.example/10m.bin",
        ],
    )?;
    ensure!(size == "10000000", "10m.bin size {size}");
    let any = curl(
        lab,
        pc1,
        &[
            "-H",
            "Host: whatever.test",
            &format!("http://{}/", addr::CATCH_ALL_V4),
        ],
    )?;
    ensure!(
        any.contains("catch-all (whatever.test)"),
        "catch-all: {any}"
    );
    println!(
        "ok   HTTPS with the lab CA: news.example, shop/cdn by SNI on one address, 10m.bin = 10000000 bytes, catch-all"
    );

    let r = addr::RESOLVER_V4.to_string();
    let ad = dig(lab, &[&format!("@{r}"), "anything.doubleclick.net"])?;
    ensure!(ad == addr::CATCH_ALL_V4.to_string(), "doubleclick: {ad}");
    let news = dig(lab, &[&format!("@{r}"), "news.example"])?;
    ensure!(news == news4, "news.example: {news}");
    let sub6 = dig(
        lab,
        &[
            &format!("@{}", addr::RESOLVER_V6),
            "cdn.img.news.example",
            "AAAA",
        ],
    )?;
    ensure!(sub6 == news6, "subdomain AAAA over v6: {sub6}");
    println!(
        "ok   dig @{r}: anything.doubleclick.net -> {ad}, news.example -> {news}; AAAA of a subdomain over v6 -> {sub6}"
    );

    let tls_opts = [
        format!("+tls-ca={ca}"),
        format!("+tls-hostname={}", addr::DOH_NAME),
    ];
    for (mode, v) in [
        ("+tls", addr::DOT_V4.to_string()),
        ("+https", addr::DOH_V4.to_string()),
    ] {
        let out = lab.sh(
            pc1,
            &[
                "kdig",
                mode,
                &tls_opts[0],
                &tls_opts[1],
                "+short",
                &format!("@{v}"),
                "news.example",
            ],
        )?;
        ensure!(out.trim() == news4, "kdig {mode}: {out}");
    }
    println!(
        "ok   kdig +tls and +https @{} (certificate verified) -> {news4}",
        addr::DOT_V4
    );

    let before = link_stats(lab, Role::Gateway, addr::WAN_PRIMARY_IF)?;
    let port = addr::iperf_port(1).to_string();
    let out = lab.sh(
        pc1,
        &[
            "iperf3",
            "-c",
            &addr::IPERF_V4.to_string(),
            "-p",
            &port,
            "-t",
            "1",
            "-J",
        ],
    )?;
    let v: serde_json::Value = serde_json::from_str(&out)?;
    let bps = v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .context("iperf3 json")?;
    let delta = link_stats(lab, Role::Gateway, addr::WAN_PRIMARY_IF)?.since(&before);
    ensure!(
        delta.tx_bytes > 1_000_000,
        "wan0 counters moved too little: {delta:?}"
    );
    let out6 = lab.sh(
        Role::Pc(2),
        &[
            "iperf3",
            "-c",
            &addr::IPERF_V6.to_string(),
            "-p",
            &addr::iperf_port(2).to_string(),
            "-t",
            "1",
        ],
    )?;
    ensure!(out6.contains("receiver"), "iperf3 v6: {out6}");
    println!(
        "ok   iperf3 pc1 -> {}:{port} for 1 s: {:.2} Gbit/s (gw wan0 tx +{} packets, +{} bytes); pc2 over IPv6 ok",
        addr::IPERF_V4,
        bps / 1e9,
        delta.tx_packets,
        delta.tx_bytes
    );

    // `command` enters only the netns: the daemon's way in.
    let out = lab
        .command(Role::Gateway, "ip")
        .args(["-br", "addr", "show", addr::LAN_IF])
        .output()?;
    ensure!(
        String::from_utf8_lossy(&out.stdout).contains("10.10.0.1/24"),
        "command(): {out:?}"
    );
    println!("ok   Lab::command runs in the gateway namespace");
    Ok(())
}

fn ping(lab: &Lab, pc: usize, dst: &str, family: &str) -> Result<()> {
    lab.sh(Role::Pc(pc), &["ping", family, "-c", "1", "-W", "2", dst])
        .with_context(|| format!("pc{pc} ping {dst}"))
        .map(drop)
}

fn curl(lab: &Lab, role: Role, args: &[&str]) -> Result<String> {
    let mut full = vec!["curl", "-sS", "--fail", "-m", "5", "--noproxy", "*"];
    full.extend_from_slice(args);
    lab.sh(role, &full)
}

fn dig(lab: &Lab, args: &[&str]) -> Result<String> {
    let mut full = vec!["dig", "+short", "+time=2", "+tries=1"];
    full.extend_from_slice(args);
    Ok(lab.sh(Role::Pc(1), &full)?.trim().to_string())
}

/// No namespace, /etc/netns dir or temp dir of these labs is left, nor any service process.
fn assert_gone(prefixes: &[String]) -> Result<()> {
    let ns = String::from_utf8(
        std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()?
            .stdout,
    )?;
    for p in prefixes {
        let dash = format!("{p}-");
        ensure!(!ns.contains(&dash), "namespaces of {p} left:\n{ns}");
        for entry in std::fs::read_dir("/etc/netns")
            .into_iter()
            .flatten()
            .flatten()
        {
            ensure!(
                !entry.file_name().to_string_lossy().starts_with(&dash),
                "/etc/netns of {p} left"
            );
        }
        for entry in std::fs::read_dir(std::env::temp_dir())?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            ensure!(
                !name.starts_with(&format!("officegate-lab-{dash}")),
                "temp dir {name} left"
            );
        }
    }
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Field 4 (after "pid (comm) state") is the parent pid.
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if fields.get(1) == Some(&me.to_string().as_str()) {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            anyhow::bail!("child process {pid} ({}) still running", comm.trim());
        }
    }
    Ok(())
}
