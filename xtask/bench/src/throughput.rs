//! `bench throughput`: iperf3 TCP from a lab PC through the gateway to the lab internet,
//! with Officegate's programs attached vs detached (the daemon stopped), alternating in
//! the same run. A second peer in the same rounds: xdp-filter's C program attached to the
//! same interface (`ip link set … xdpdrv obj xdpfilt_alw_ip.o`), which shows what native
//! XDP itself costs on veth (the driver copies every skb whose headroom is under 256
//! bytes into a page before running any program; physical NICs don't).

use std::path::PathBuf;

use anyhow::Context as _;
use officegate_lab::{
    Lab, LabConfig, Role, addr,
    officegate::{Officegate, lab_config, lab_policy, pin_dir_for},
};

const ROUNDS: usize = 5;
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

fn xdp_filter(lab: &Lab, on: bool) -> anyhow::Result<()> {
    let ns = lab.ns(Role::Gateway);
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["-n", &ns, "link", "set", "dev", addr::LAN_IF]);
    if on {
        cmd.args(["xdpdrv", "obj", XDP_FILTER_OBJ, "sec", "xdp"]);
    } else {
        cmd.args(["xdpdrv", "off"]);
    }
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
    let xf_pins: Vec<(String, bool)> = ["filter_ipv4", "filter_ipv6", "xdp_stats_map"]
        .iter()
        .map(|m| format!("/sys/fs/bpf/{m}"))
        .map(|p| {
            let existed = std::path::Path::new(&p).exists();
            (p, existed)
        })
        .collect();
    let (mut attached, mut detached, mut xf) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..ROUNDS {
        let d = iperf_gbps(&lab)?;
        og.restart()?;
        let a = iperf_gbps(&lab)?;
        og.stop()?;
        xdp_filter(&lab, true)?;
        let x = iperf_gbps(&lab)?;
        xdp_filter(&lab, false)?;
        eprintln!("round {r}: detached {d:.2}, officegate {a:.2}, xdp-filter {x:.2} Gbit/s");
        detached.push(d);
        attached.push(a);
        xf.push(x);
    }
    drop(og);
    let _ = std::fs::remove_dir_all(&pin_dir);
    // iproute2 pinned xdp-filter's maps by name at the bpffs root; remove what we created.
    for (pin, existed) in &xf_pins {
        if !existed {
            let _ = std::fs::remove_file(pin);
        }
    }
    let a = crate::median(&mut attached);
    let d = crate::median(&mut detached);
    let x = crate::median(&mut xf);
    println!(
        "\n{:<22} {:>8} {:>8}",
        "programs on lan0", "Gbit/s", "ratio"
    );
    println!("{:<22} {d:>8.2} {:>8.2}", "none", 1.0);
    println!(
        "{:<22} {a:>8.2} {:>8.2}",
        format!("officegate ({mode})"),
        a / d
    );
    println!("{:<22} {x:>8.2} {:>8.2}", "xdp-filter (native)", x / d);
    println!(
        "RESULT throughput {{\"attached_gbps\": {a:.3}, \"detached_gbps\": {d:.3}, \"ratio\": {:.3}, \"xdp_filter_gbps\": {x:.3}, \"xdp_filter_ratio\": {:.3}, \"xdp_mode\": \"{mode}\"}}",
        a / d,
        x / d
    );
    Ok(())
}
