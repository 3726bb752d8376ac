//! `bench datapath`: ns per packet of the LAN ingress program through BPF_PROG_TEST_RUN,
//! against xdp-filter (Debian's xdp-tools, `xdpfilt_alw_ip.o`: default allow, an IP deny
//! list) with the same 1,000,000 blocked addresses on the same frames, and beside the empty
//! program's figure.
//!
//! Method: 1,000 PCs in the maps (and 1,000,000 blocked addresses); each round runs one
//! PC's 64-byte frame 1,000,000 times and takes the kernel's mean time per run; rounds
//! rotate over the PCs; the median over rounds is reported per frame kind (IPv4/UDP,
//! IPv4/TCP, IPv6/UDP), and the RESULT carries the mean of the three medians.

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
const ROUNDS: usize = 11;
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

/// Per program, the median over `ROUNDS` rounds. Round r runs every program, one after
/// the other, on the same PC's frame (so machine noise hits them alike); the rounds walk
/// the 1,000 PCs with a stride. (Each XDP test run costs the kernel an RCU grace period
/// to swap its dispatcher, tens of ms of wall time: hence a million repeats per call
/// rather than many short calls.)
fn measure(progs: &[&Xdp], kind: Kind, offset: u32) -> anyhow::Result<Vec<f64>> {
    let mut samples = vec![Vec::with_capacity(ROUNDS); progs.len()];
    for r in 0..ROUNDS as u32 {
        let f = frame(kind, (offset + r * 37) % PCS);
        for (p, prog) in progs.iter().enumerate() {
            samples[p].push(round(prog, &f)?);
        }
    }
    Ok(samples.iter_mut().map(|s| crate::median(s)).collect())
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
    maps.sync_blocked(&blocked)?;
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

pub fn run(_args: &[String]) -> anyhow::Result<()> {
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

    og.load_empty_program()?;
    let progs = [og.xdp(), og_nocache.xdp(), xf_prog, og.empty_program()];
    let mut rows = Vec::new();
    let mut empties = Vec::new();
    for (k, (kind, label)) in KINDS.into_iter().enumerate() {
        let m = measure(&progs, kind, 100 * k as u32)?;
        rows.push((label, m[0], m[1], m[2]));
        empties.push(m[3]);
    }
    let empty = crate::median(&mut empties);

    println!(
        "\n{:<10} {:>14} {:>22} {:>14} {:>8}",
        "frame", "officegate ns", "officegate no-cache ns", "xdp-filter ns", "ratio"
    );
    for (label, ours, nocache, theirs) in &rows {
        println!(
            "{label:<10} {ours:>14.1} {nocache:>22.1} {theirs:>14.1} {:>8.2}",
            ours / theirs
        );
    }
    println!("{:<10} {empty:>14.1}  (empty XDP program)", "floor");
    let mean =
        |f: fn(&(&str, f64, f64, f64)) -> f64| rows.iter().map(f).sum::<f64>() / rows.len() as f64;
    let ours = mean(|r| r.1);
    let nocache = mean(|r| r.2);
    let theirs = mean(|r| r.3);
    println!(
        "RESULT datapath {{\"officegate_ns\": {ours:.1}, \"xdp_filter_ns\": {theirs:.1}, \"empty_ns\": {empty:.1}, \"ratio\": {:.3}, \"officegate_nocache_ns\": {nocache:.1}, \"ratio_nocache\": {:.3}, \"blocked_ips\": {BLOCKED}, \"pcs\": {PCS}}}",
        ours / theirs,
        nocache / theirs
    );
    Ok(())
}
