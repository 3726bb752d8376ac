//! `bench throughput`: iperf3 TCP from a lab PC through the gateway to the lab internet,
//! with Officegate's programs attached vs detached (the daemon stopped), alternating in
//! the same run. The peer is the kernel's own forwarding path without any program.

use std::path::PathBuf;

use anyhow::Context as _;
use officegate_lab::{
    Lab, LabConfig, Role, addr,
    officegate::{Officegate, lab_config, pin_dir_for},
};

const ROUNDS: usize = 3;
const SECONDS: &str = "4";

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

pub fn run(_args: &[String]) -> anyhow::Result<()> {
    let bin = PathBuf::from(
        std::env::var("OFFICEGATE_BIN").context("OFFICEGATE_BIN (set by cargo xtask bench)")?,
    );
    let lab = Lab::up(LabConfig {
        pcs: 1,
        ..LabConfig::default()
    })?;
    let pin_dir = pin_dir_for(&lab);
    let config = lab_config(&lab, &pin_dir, "", &[]);
    let mut og = Officegate::start(&lab, &bin, &config)?;
    og.stop()?;
    let (mut attached, mut detached) = (Vec::new(), Vec::new());
    for r in 0..ROUNDS {
        let d = iperf_gbps(&lab)?;
        og.restart()?;
        let a = iperf_gbps(&lab)?;
        og.stop()?;
        eprintln!("round {r}: detached {d:.2} Gbit/s, attached {a:.2} Gbit/s");
        detached.push(d);
        attached.push(a);
    }
    drop(og);
    let _ = std::fs::remove_dir_all(&pin_dir);
    let a = crate::median(&mut attached);
    let d = crate::median(&mut detached);
    println!(
        "\n{:<10} {:>12}\n{:<10} {a:>12.2}\n{:<10} {d:>12.2}",
        "programs", "Gbit/s", "attached", "detached"
    );
    println!(
        "RESULT throughput {{\"attached_gbps\": {a:.3}, \"detached_gbps\": {d:.3}, \"ratio\": {:.3}}}",
        a / d
    );
    Ok(())
}
