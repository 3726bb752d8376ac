//! `bench throughput`: iperf3 TCP from a lab PC through the gateway to the lab internet,
//! with Officegate's programs attached vs detached (the daemon stopped), alternating in
//! the same run. A second peer in the same rounds: xdp-filter's C program attached to the
//! same interface (`ip link set … xdpdrv obj xdpfilt_alw_ip.o`), which shows what native
//! XDP itself costs on veth (the driver copies every skb whose headroom is under 256
//! bytes into a page before running any program; physical NICs don't). And the floor: an
//! empty XDP program (returns XDP_PASS, touches nothing) attached the same way — what any
//! native XDP program costs on veth before it does anything.
//!
//! Method: `ROUNDS` rounds; each runs the four set-ups once, in an order that rotates
//! from round to round, and each set-up's ratio is paired with the detached run of the
//! same round. The ratios reported are medians of those per-round ratios. Single iperf3
//! runs on this VM swing 2.5–5 Gbit/s within a minute, so a ratio of separate medians
//! (the first method) could pair one set-up's fast runs with another's slow ones.

use std::path::PathBuf;

use anyhow::Context as _;
use officegate::datapath::{Datapath, LoadOptions};
use officegate_lab::{
    Lab, LabConfig, Role, addr,
    officegate::{Officegate, lab_config, lab_policy, pin_dir_for},
};

const ROUNDS: usize = 11;
const SECONDS: &str = "4";
const XDP_FILTER_OBJ: &str = "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_ip.o";

fn iperf_gbps(lab: &Lab) -> anyhow::Result<f64> {
    let out = lab.sh(
        Role::Pc(1),
        &[
            "iperf3",
            "-J",
            "-c",
            &addr::IPERF_V4.to_string(),
            "-p",
            &addr::iperf_port(1).to_string(),
            "-t",
            SECONDS,
        ],
    )?;
    let v: serde_json::Value = serde_json::from_str(&out)?;
    let bps = v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .context("iperf3 JSON: no sum_received")?;
    Ok(bps / 1e9)
}

/// The four set-ups of a round.
#[derive(Clone, Copy)]
enum Setup {
    Detached,
    Officegate,
    XdpFilter,
    Empty,
}

const SETUPS: [Setup; 4] = [
    Setup::Detached,
    Setup::Officegate,
    Setup::XdpFilter,
    Setup::Empty,
];

/// Which program `ip link` attaches (native XDP) on the gateway's LAN interface.
enum Attach<'a> {
    XdpFilter,
    Pinned(&'a std::path::Path),
    Off,
}

fn ip_xdp(lab: &Lab, what: Attach) -> anyhow::Result<()> {
    // Entering only the network namespace: `ip -n` remounts /sys, hiding our pins.
    let mut cmd = lab.command(Role::Gateway, "ip");
    cmd.args(["link", "set", "dev", addr::LAN_IF]);
    match what {
        Attach::XdpFilter => cmd.args(["xdpdrv", "obj", XDP_FILTER_OBJ, "sec", "xdp"]),
        Attach::Pinned(p) => cmd.args(["xdpdrv", "pinned"]).arg(p),
        Attach::Off => cmd.args(["xdpdrv", "off"]),
    };
    let out = cmd.output()?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    // `--generic` measures the generic (skb) XDP path instead of the driver's.
    let mode = if args.iter().any(|a| a == "--generic") {
        "generic"
    } else {
        "native"
    };
    let bin = PathBuf::from(
        std::env::var("OFFICEGATE_BIN").context("OFFICEGATE_BIN (set by cargo xtask bench)")?,
    );
    let lab = Lab::up(LabConfig { pcs: 1 })?;
    let pin_dir = pin_dir_for(&lab);
    let policy = lab_policy(&lab, "", &[]);
    let config =
        lab_config(&pin_dir).replace("xdp_mode = \"native\"", &format!("xdp_mode = \"{mode}\""));
    let mut og = Officegate::start(&lab, &bin, &config, &policy)?;
    og.stop()?;
    // iproute2 pins xdp-filter's maps under /sys/fs/bpf/tc/globals (and makes `tc`, with
    // `ip` and `xdp` links to it): remember what was there, to remove only what we made.
    let xf_pins: Vec<(String, bool)> = [
        "tc/globals/filter_ipv4",
        "tc/globals/filter_ipv6",
        "tc/globals/xdp_stats_map",
        "tc/globals",
        "ip",
        "xdp",
        "tc",
    ]
    .iter()
    .map(|m| format!("/sys/fs/bpf/{m}"))
    .map(|p| {
        let existed = std::fs::symlink_metadata(&p).is_ok();
        (p, existed)
    })
    .collect();
    // The empty program, from Officegate's own object, pinned for `ip link … pinned`.
    let empty_dir = tempfile::Builder::new()
        .prefix("og-bench-empty-")
        .tempdir_in("/sys/fs/bpf")?;
    let empty_pin = empty_dir.path().join("prog");
    let mut dp = Datapath::load(&LoadOptions {
        pin_dir: empty_dir.path().join("maps"),
        flow_cache: true,
    })?;
    dp.load_empty_program()?;
    let id = dp.empty_program().info()?.id().to_string();
    let out = std::process::Command::new("bpftool")
        .args(["prog", "pin", "id", &id])
        .arg(&empty_pin)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "bpftool prog pin: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Per set-up (in `SETUPS` order): Gbit/s of each round, and its ratio to the same
    // round's detached run.
    let mut gbps = vec![Vec::new(); SETUPS.len()];
    let mut ratios = vec![Vec::new(); SETUPS.len()];
    for r in 0..ROUNDS {
        let mut round = [0.0; SETUPS.len()];
        for i in 0..SETUPS.len() {
            let k = (i + r) % SETUPS.len();
            round[k] = match SETUPS[k] {
                Setup::Detached => iperf_gbps(&lab)?,
                Setup::Officegate => {
                    og.restart()?;
                    let g = iperf_gbps(&lab)?;
                    og.stop()?;
                    // A stopped daemon leaves its programs attached (pinned links).
                    og.detach()?;
                    g
                }
                Setup::XdpFilter | Setup::Empty => {
                    ip_xdp(
                        &lab,
                        match SETUPS[k] {
                            Setup::XdpFilter => Attach::XdpFilter,
                            _ => Attach::Pinned(&empty_pin),
                        },
                    )?;
                    let g = iperf_gbps(&lab);
                    ip_xdp(&lab, Attach::Off)?;
                    g?
                }
            };
        }
        eprintln!(
            "round {r}: detached {:.2}, officegate {:.2}, xdp-filter {:.2}, empty XDP {:.2} Gbit/s",
            round[0], round[1], round[2], round[3]
        );
        for k in 0..SETUPS.len() {
            gbps[k].push(round[k]);
            ratios[k].push(round[k] / round[0]);
        }
    }
    drop(og);
    drop(dp);
    let _ = std::fs::remove_file(&empty_pin);
    let _ = std::fs::remove_dir_all(&pin_dir);
    // In the order listed: pins, then their directory, then the links and `tc`.
    for (pin, existed) in &xf_pins {
        if !existed {
            let _ = std::fs::remove_file(pin).or_else(|_| std::fs::remove_dir(pin));
        }
    }
    let g: Vec<f64> = gbps.iter_mut().map(|v| crate::median(v)).collect();
    let q: Vec<f64> = ratios.iter_mut().map(|v| crate::median(v)).collect();
    let (d, a, x, e) = (g[0], g[1], g[2], g[3]);
    println!(
        "\n{:<22} {:>8} {:>8}",
        "programs on lan0", "Gbit/s", "ratio"
    );
    println!("{:<22} {d:>8.2} {:>8.2}", "none", 1.0);
    println!(
        "{:<22} {a:>8.2} {:>8.3}",
        format!("officegate ({mode})"),
        q[1]
    );
    println!("{:<22} {x:>8.2} {:>8.3}", "xdp-filter (native)", q[2]);
    println!("{:<22} {e:>8.2} {:>8.3}", "empty XDP (native)", q[3]);
    println!("(ratios: median over {ROUNDS} rounds of each round's ratio to its detached run)");
    println!(
        "RESULT throughput {{\"attached_gbps\": {a:.3}, \"detached_gbps\": {d:.3}, \"ratio\": {:.3}, \"xdp_filter_gbps\": {x:.3}, \"xdp_filter_ratio\": {:.3}, \"empty_xdp_gbps\": {e:.3}, \"empty_xdp_ratio\": {:.3}, \"ratio_to_empty_xdp\": {:.3}, \"rounds\": {ROUNDS}, \"xdp_mode\": \"{mode}\"}}",
        q[1],
        q[2],
        q[3],
        q[1] / q[3]
    );
    Ok(())
}
