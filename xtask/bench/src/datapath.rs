//! `bench datapath`: ns per packet of the LAN ingress program through BPF_PROG_TEST_RUN,
//! against xdp-filter (Debian's xdp-tools, `xdpfilt_alw_ip.o`: default allow, an IP deny
//! list) with the same 1,000,000 blocked addresses on the same frames, and beside the empty
//! program's figure.
//!
//! Method: 1,000 PCs in the maps (and 1,000,000 blocked addresses); each round runs one
//! PC's 64-byte frame 1,000,000 times and takes the kernel's mean time per run; rounds
//! rotate over the PCs; the median over rounds is reported per frame kind (IPv4/UDP,
//! IPv4/TCP, IPv6/UDP), and the RESULT carries the mean of the three medians.
//!
//! The ratios are *paired*: each round runs both programs back to back on the same frame,
//! the round's ratio is ours / theirs, and a kind's ratio is the median of its rounds'
//! ratios. This VM drifts between a fast and a slow state (xdp-filter 28 ns in one, 48 ns
//! in the other, on the same frame) within one run; a ratio of separate medians could
//! pair one program's fast rounds with the other's slow ones.

use std::{collections::BTreeMap, net::IpAddr, path::PathBuf};

use anyhow::Context as _;
use aya::{
    EbpfLoader,
    maps::{PerCpuHashMap, PerCpuValues},
    programs::{TestRun, TestRunOptions, Xdp},
};
use etherparse::PacketBuilder;
use gateway_common::{PcState, group_bit};
use officegate::datapath::{Datapath, LoadOptions};

const PCS: u32 = 1_000;
const BLOCKED: u32 = 1_000_000;
const REPEAT: u32 = 1_000_000;
const ROUNDS: usize = 21;
const XDP_FILTER_OBJ: &str = "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_ip.o";
/// xdp-filter's map value flag for "match as destination" (xdp-filter/common_kern_user.h).
const XDPFILT_MAP_FLAG_DST: u64 = 1 << 1;

#[derive(Clone, Copy)]
enum Kind {
    Udp4,
    Tcp4,
    Udp6,
}

const KINDS: [(Kind, &str); 3] = [
    (Kind::Udp4, "ipv4/udp"),
    (Kind::Tcp4, "ipv4/tcp"),
    (Kind::Udp6, "ipv6/udp"),
];

fn pc_v4(i: u32) -> [u8; 4] {
    [10, 20 + (i / 250) as u8, (i % 250) as u8, 10]
}

fn pc_v6(i: u32) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[0xfd, 0x0a, 0, 0x10]);
    a[12..].copy_from_slice(&i.to_be_bytes());
    a
}

/// A blocked address: 100.64.0.0/10-ish space, none of them the frames' destination.
fn blocked_v4(n: u32) -> [u8; 4] {
    (0x6440_0000u32 + n).to_be_bytes()
}

const REMOTE_V4: [u8; 4] = [203, 0, 113, 10];
const REMOTE_V6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0x01, 0x13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// 64-byte frames (without FCS), padded as a NIC would deliver them.
fn frame(kind: Kind, pc: u32) -> Vec<u8> {
    let mut v = Vec::new();
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, (pc >> 8) as u8, pc as u8], [2, 0, 0, 0, 0, 1]);
    match kind {
        Kind::Udp4 => eth
            .ipv4(pc_v4(pc), REMOTE_V4, 64)
            .udp(40000, 443)
            .write(&mut v, &[0; 18]),
        Kind::Tcp4 => eth
            .ipv4(pc_v4(pc), REMOTE_V4, 64)
            .tcp(40000, 443, 1, 1000)
            .write(&mut v, &[0; 6]),
        Kind::Udp6 => eth
            .ipv6(pc_v6(pc), REMOTE_V6, 64)
            .udp(40000, 443)
            .write(&mut v, &[]),
    }
    .expect("frame");
    if v.len() < 64 {
        v.resize(64, 0);
    }
    v
}

/// One round: one PC's frame, `REPEAT` runs, the kernel's own mean time per run.
fn round(prog: &Xdp, frame: &[u8]) -> anyhow::Result<f64> {
    let r = prog.test_run(TestRunOptions {
        data_in: Some(frame),
        repeat: REPEAT,
        ..TestRunOptions::default()
    })?;
    Ok(r.duration.as_nanos() as f64)
}

/// Per program, the median over `ROUNDS` rounds, and per program the median of its
/// per-round ratio to `progs[against]`. Round r runs every program, one after the other,
/// on the same PC's frame (so machine noise hits them alike); the rounds walk the 1,000
/// PCs with a stride, and the order of the programs rotates. (Each XDP test run costs the
/// kernel an RCU grace period to swap its dispatcher, tens of ms of wall time: hence a
/// million repeats per call rather than many short calls.)
fn measure(
    progs: &[&Xdp],
    against: usize,
    kind: Kind,
    offset: u32,
) -> anyhow::Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    let mut samples = vec![Vec::with_capacity(ROUNDS); progs.len()];
    let mut ratios = vec![Vec::with_capacity(ROUNDS); progs.len()];
    for r in 0..ROUNDS as u32 {
        let f = frame(kind, (offset + r * 37) % PCS);
        // The order rotates: whichever program runs first in a round starts on a CPU that
        // just idled through the dispatcher swap's grace period, so no program may always
        // be first.
        let mut ns = vec![0.0; progs.len()];
        for i in 0..progs.len() {
            let p = (i + r as usize) % progs.len();
            ns[p] = round(progs[p], &f)?;
        }
        for (p, t) in ns.iter().enumerate() {
            samples[p].push(*t);
            ratios[p].push(t / ns[against]);
        }
    }
    let medians = |v: &mut Vec<Vec<f64>>| v.iter_mut().map(|s| crate::median(s)).collect();
    let trimmed = ratios.iter_mut().map(|s| trimmed_mean(s)).collect();
    Ok((medians(&mut samples), medians(&mut ratios), trimmed))
}

/// Mean of the middle 60% (a fifth cut at each end). The kernel reports a test run's
/// time per packet in whole ns, so at ~25 ns a per-round ratio moves in ~4% steps and a
/// median of them can only land on those steps; the mean of the middle rounds resolves
/// finer while still ignoring the rounds a VM hiccup spoiled.
fn trimmed_mean(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let cut = v.len() / 5;
    let mid = &v[cut..v.len() - cut];
    mid.iter().sum::<f64>() / mid.len() as f64
}

/// One frame kind's figures: medians in ns, and paired ratios against xdp-filter.
struct Row {
    label: &'static str,
    ours: f64,
    nocache: f64,
    theirs: f64,
    ratio: f64,
    ratio_mean: f64,
    ratio_nocache: f64,
}

struct PinGuard(PathBuf);
impl Drop for PinGuard {
    fn drop(&mut self) {
        let _ = officegate::datapath::remove_pins(&self.0);
    }
}

fn load_officegate(flow_cache: bool) -> anyhow::Result<(PinGuard, Datapath)> {
    let dir = PathBuf::from(format!(
        "/sys/fs/bpf/og-bench-{}-{flow_cache}",
        std::process::id()
    ));
    let guard = PinGuard(dir.clone());
    let dp = Datapath::load(&LoadOptions {
        pin_dir: dir,
        flow_cache,
    })?;
    let mut maps = dp.maps()?;
    let t = std::time::Instant::now();
    let mut blocked = BTreeMap::new();
    for n in 0..BLOCKED {
        blocked.insert((IpAddr::from(blocked_v4(n)), 32u8), group_bit(1));
    }
    maps.sync_blocked(&blocked, 0)?;
    for i in 0..PCS {
        maps.set_pc(IpAddr::from(pc_v4(i)), 1, PcState::Allowed)?;
        maps.set_pc(IpAddr::from(pc_v6(i)), 1, PcState::Allowed)?;
    }
    maps.bump_generation()?;
    eprintln!(
        "officegate (flow cache {flow_cache}): {BLOCKED} blocked, {PCS} PCs loaded in {:?}",
        t.elapsed()
    );
    Ok((guard, dp))
}

fn load_xdp_filter(pins: &std::path::Path) -> anyhow::Result<aya::Ebpf> {
    // Its maps are pinned by name: keep them in a directory of ours, removed afterwards,
    // not at the bpffs root where xdp-filter itself (or iproute2) would find them.
    std::fs::create_dir_all(pins)?;
    let mut ebpf = EbpfLoader::new()
        .default_map_pin_directory(pins)
        .map_max_entries("filter_ipv4", BLOCKED + 1)
        .load_file(XDP_FILTER_OBJ)
        .with_context(|| format!("loading {XDP_FILTER_OBJ} (package xdp-tools)"))?;
    let prog: &mut Xdp = ebpf
        .program_mut("xdpfilt_alw_ip")
        .context("xdpfilt_alw_ip")?
        .try_into()?;
    prog.load()?;
    let ncpu = aya::util::nr_cpus().map_err(|(_, e)| e)?;
    let mut map: PerCpuHashMap<_, u32, u64> = ebpf
        .map_mut("filter_ipv4")
        .context("filter_ipv4")?
        .try_into()?;
    let t = std::time::Instant::now();
    for n in 0..BLOCKED {
        let v = PerCpuValues::try_from(vec![XDPFILT_MAP_FLAG_DST; ncpu])?;
        map.insert(u32::from_ne_bytes(blocked_v4(n)), v, 0)?;
    }
    eprintln!("xdp-filter: {BLOCKED} blocked loaded in {:?}", t.elapsed());
    Ok(ebpf)
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let (_g1, mut og) = load_officegate(true)?;
    let (_g2, og_nocache) = load_officegate(false)?;
    let xf_pins = PinGuard(PathBuf::from(format!(
        "/sys/fs/bpf/og-bench-{}-xdpfilter",
        std::process::id()
    )));
    let xf = load_xdp_filter(&xf_pins.0)?;
    let xf_prog: &Xdp = xf
        .program("xdpfilt_alw_ip")
        .context("xdpfilt_alw_ip")?
        .try_into()?;

    // Sanity before timing: all three pass these frames, and a blocked destination is
    // dropped by both filters (so both really consult their million-entry sets).
    let mut blocked_frame = frame(Kind::Udp4, 0);
    blocked_frame[30..34].copy_from_slice(&blocked_v4(777_777));
    for (name, prog) in [
        ("officegate", og.xdp()),
        ("officegate-nocache", og_nocache.xdp()),
        ("xdp-filter", xf_prog),
    ] {
        let pass = prog.test_run(TestRunOptions {
            data_in: Some(&frame(Kind::Udp4, 1)),
            ..Default::default()
        })?;
        let drop = prog.test_run(TestRunOptions {
            data_in: Some(&blocked_frame),
            ..Default::default()
        })?;
        anyhow::ensure!(
            pass.return_value == 2 && drop.return_value == 1,
            "{name}: verdicts {} / {}",
            pass.return_value,
            drop.return_value
        );
    }

    // `--hold <secs>`: keep the programs loaded (ids printed) instead of timing them, for
    // `bpftool prog run` / `bpftool prog profile` to look inside (cycles, instructions).
    if let Some(i) = args.iter().position(|a| a == "--hold") {
        let secs: u64 = args.get(i + 1).context("--hold <secs>")?.parse()?;
        for (name, prog) in [("officegate", og.xdp()), ("xdp-filter", xf_prog)] {
            eprintln!("HOLD {name} id {}", prog.info()?.id());
        }
        std::fs::write("/tmp/og-bench-frame-udp4", frame(Kind::Udp4, 1))?;
        std::fs::write("/tmp/og-bench-frame-udp6", frame(Kind::Udp6, 1))?;
        std::thread::sleep(std::time::Duration::from_secs(secs));
        return Ok(());
    }
    og.load_empty_program()?;
    let progs = [og.xdp(), og_nocache.xdp(), xf_prog, og.empty_program()];
    let mut rows = Vec::new();
    let mut empties = Vec::new();
    for (k, (kind, label)) in KINDS.into_iter().enumerate() {
        let (ns, ratio, ratio_mean) = measure(&progs, 2, kind, 100 * k as u32)?;
        rows.push(Row {
            label,
            ours: ns[0],
            nocache: ns[1],
            theirs: ns[2],
            ratio: ratio[0],
            ratio_mean: ratio_mean[0],
            ratio_nocache: ratio[1],
        });
        empties.push(ns[3]);
    }
    let empty = crate::median(&mut empties);

    println!(
        "\n{:<10} {:>14} {:>22} {:>14} {:>8} {:>11} {:>15}",
        "frame",
        "officegate ns",
        "officegate no-cache ns",
        "xdp-filter ns",
        "ratio",
        "ratio mean",
        "ratio no-cache"
    );
    for r in &rows {
        println!(
            "{:<10} {:>14.1} {:>22.1} {:>14.1} {:>8.3} {:>11.3} {:>15.3}",
            r.label, r.ours, r.nocache, r.theirs, r.ratio, r.ratio_mean, r.ratio_nocache
        );
    }
    println!("{:<10} {empty:>14.1}  (empty XDP program)", "floor");
    let mean = |f: fn(&Row) -> f64| rows.iter().map(f).sum::<f64>() / rows.len() as f64;
    println!(
        "RESULT datapath {{\"officegate_ns\": {:.1}, \"xdp_filter_ns\": {:.1}, \"empty_ns\": {empty:.1}, \"ratio\": {:.3}, \"ratio_mean\": {:.3}, \"ratio_worst_frame\": {:.3}, \"officegate_nocache_ns\": {:.1}, \"ratio_nocache\": {:.3}, \"blocked_ips\": {BLOCKED}, \"pcs\": {PCS}}}",
        mean(|r| r.ours),
        mean(|r| r.theirs),
        mean(|r| r.ratio),
        mean(|r| r.ratio_mean),
        rows.iter().map(|r| r.ratio).fold(0.0, f64::max),
        mean(|r| r.nocache),
        mean(|r| r.ratio_nocache),
    );
    Ok(())
}
