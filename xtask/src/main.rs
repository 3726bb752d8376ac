//! Officegate's developer commands. `cargo xtask <command>`:
//! - `setup`: install what building and testing need (idempotent);
//! - `test`: setup, build, run every test;
//! - `demo`: setup, build, start the office lab, run Officegate in it, make traffic;
//! - `package`: the Debian package (cargo-deb) in `target/debian/`;
//! - `lab up|down|status`: the office lab by hand;
//! - `fuzz <target>`: run a fuzz target (cargo-fuzz);
//! - `bench <name>`: benchmarks against named peers (../shared/BENCHMARKS.md);
//! - `soak [--minutes N]`: the long-run proof, everything at once in the lab.

mod demo;
mod lab_cmd;
mod setup;
mod sh;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install build and test dependencies (Debian packages, rust-src, bpf-linker, bpffs).
    Setup,
    /// Set up, build and run every test.
    Test {
        /// Extra arguments for the test harness (e.g. a name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, build, start the lab, run Officegate in it and make some traffic.
    Demo {
        /// Stop after this many seconds instead of waiting for Ctrl-C.
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Build the Debian package (`target/debian/officegate_*.deb`): the one binary with the
    /// eBPF object and the admin UI in it, the systemd unit, the sysctl drop-in.
    Package,
    /// The office lab.
    #[command(subcommand)]
    Lab(lab_cmd::LabCmd),
    /// Fuzz a parser or an input path: list_line, policy, sniff, dns_wire, policy_edit,
    /// block_page (cargo-fuzz, libFuzzer).
    Fuzz {
        target: String,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// Run a benchmark: datapath, throughput, failover, dns, stats.
    Bench {
        name: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The long-run proof: the office lab under everything at once (DNS load, iperf3, new
    /// flows, a hostile PC, WAN failures, policy edits, daemon kills) for `--minutes`;
    /// prints one `RESULT soak` line. Not part of `test`.
    Soak {
        #[arg(long, default_value_t = 10.0)]
        minutes: f64,
        /// DNS queries per second in all, from two PCs.
        #[arg(long, default_value_t = 50_000.0)]
        qps: f64,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Setup => setup::run(),
        Cmd::Test { args } => test(&args),
        Cmd::Package => {
            setup::run()?;
            println!("{}", package()?.display());
            Ok(())
        }
        Cmd::Demo { seconds } => {
            setup::run()?;
            demo::run(seconds)
        }
        Cmd::Lab(cmd) => {
            setup::run()?;
            lab_cmd::run(cmd)
        }
        Cmd::Fuzz { target, seconds } => {
            setup::run()?;
            fuzz(&target, seconds)
        }
        Cmd::Bench { name, args } => bench(&name, &args),
        Cmd::Soak { minutes, qps } => bench(
            "soak",
            &[
                "--minutes".into(),
                minutes.to_string(),
                "--qps".into(),
                qps.to_string(),
            ],
        ),
    }
}

/// Builds (release) and runs one benchmark program of `officegate-bench`.
fn bench(name: &str, args: &[String]) -> anyhow::Result<()> {
    setup::run()?;
    build_bins(true)?;
    let target = std::env::current_dir()?.join("target/release");
    sh::run(
        std::process::Command::new(target.join("officegate-bench"))
            .arg(name)
            .args(args)
            .env("OFFICEGATE_BIN", target.join("officegate")),
    )
}

/// The daemon and the benchmarks.
fn build_bins(release: bool) -> anyhow::Result<()> {
    let mut cmd = sh::cargo();
    cmd.args([
        "build",
        "-p",
        "officegate",
        "-p",
        "officegate-bench",
        "--bins",
    ]);
    if release {
        cmd.arg("--release");
    }
    sh::run(&mut cmd)
}

/// The fuzz targets (tests/fuzz/fuzz_targets).
const FUZZ_TARGETS: &[&str] = &[
    "list_line",
    "policy",
    "sniff",
    "dns_wire",
    "policy_edit",
    "block_page",
];

/// Runs one fuzz target for `seconds`. cargo-fuzz needs nightly flags (sanitizers);
/// RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them, as for the eBPF build.
fn fuzz(target: &str, seconds: u64) -> anyhow::Result<()> {
    anyhow::ensure!(
        FUZZ_TARGETS.contains(&target),
        "unknown fuzz target {target}; known: {FUZZ_TARGETS:?}"
    );
    let corpus = format!("tests/fuzz/corpus/{target}");
    std::fs::create_dir_all(&corpus)?;
    sh::run(
        sh::cargo()
            .args(["fuzz", "run", "--fuzz-dir", "tests/fuzz", target, &corpus])
            .arg(format!("tests/fuzz/seeds/{target}"))
            .args(["--", &format!("-max_total_time={seconds}"), "-seed=1"])
            .env("RUSTC_BOOTSTRAP", "1"),
    )
}

/// Builds the package; its path.
fn package() -> anyhow::Result<std::path::PathBuf> {
    // The binary first: it writes its own manual pages, which the package holds.
    sh::run(sh::cargo().args(["build", "--release", "-p", "officegate"]))?;
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    let man = target.join("man");
    let _ = std::fs::remove_dir_all(&man);
    sh::run(
        std::process::Command::new(target.join("release/officegate"))
            .arg("man")
            .arg(&man),
    )?;
    let out = sh::output(sh::cargo().args(["deb", "-p", "officegate", "--no-build"]))?;
    let path = out
        .lines()
        .rev()
        .find(|l| l.trim_end().ends_with(".deb"))
        .map(|l| std::path::PathBuf::from(l.trim()))
        .ok_or_else(|| anyhow::anyhow!("cargo deb named no package:\n{out}"))?;
    anyhow::ensure!(path.is_file(), "{} is not there", path.display());
    Ok(path)
}

fn test(args: &[String]) -> anyhow::Result<()> {
    setup::run()?;
    // Build first so a compile error reads as one, not as a test failure.
    // The benchmarks too: CI runs no benchmark, but must notice when one stops compiling.
    build_bins(false)?;
    // The package, for the test that installs it into a fresh root and runs the office
    // with the binary it holds.
    let deb = package()?;
    sh::run(
        sh::cargo()
            .env("OG_DEB", &deb)
            .args([
                "test",
                "-p",
                "gateway-common",
                "-p",
                "officegate",
                "-p",
                "officegate-lab",
                "--",
            ])
            .args(args),
    )?;
    // The datapath tests once more on the hooks of a gateway whose NIC has no native XDP
    // and whose kernel has no TCX: generic XDP, netlink `clsact` filters.
    if args.is_empty() {
        sh::run(
            sh::cargo()
                .env("OG_LAB_XDP_MODE", "generic")
                .env("OG_LAB_TC_HOOK", "netlink")
                .args([
                    "test",
                    "-p",
                    "officegate",
                    "--test",
                    "integration",
                    "lab_datapath",
                ]),
        )?;
    }
    // A short run of every fuzz target (fixed seed): the parsers of untrusted input must
    // not panic on what libFuzzer finds in that time. Skipped when a test filter is given.
    if args.is_empty() {
        for t in FUZZ_TARGETS {
            fuzz(t, 20)?;
        }
    }
    Ok(())
}
