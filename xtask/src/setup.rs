//! `cargo xtask setup`: make this machine able to build and test Officegate. Idempotent:
//! each step checks before it acts, so a second run takes a second.

use std::process::Command;

use anyhow::{Context as _, bail};

use crate::sh;

/// Debian packages the build, the lab, the tests and the benchmarks use.
/// `{llvm}` is replaced by rustc's LLVM major (bpf-linker must link that same LLVM).
const PACKAGES: &[&str] = &[
    // bpf-linker against rustc's own LLVM
    "llvm-{llvm}-dev",
    "libpolly-{llvm}-dev",
    "libzstd-dev",
    "zlib1g-dev",
    // the lab
    "iproute2",
    "procps",
    "iputils-ping",
    "ethtool",
    "nftables",
    "conntrack",
    "unbound",
    "nginx-light",
    "openssl",
    "curl",
    "iperf3",
    "knot-dnsutils",
    "dnsutils",
    // inspection and benchmark anchors
    "bpftool",
    "xdp-tools",
    // the benchmarks' peers: failover (keepalived), DNS (dnsmasq, dnsdist; unbound is
    // above)
    "keepalived",
    "dnsmasq-base",
    "dnsdist",
    // the browser tests: headless Chromium driven by playwright-core (web/)
    "chromium",
    "fonts-dejavu-core",
    // the service test: `systemd-analyze verify` on the unit (gateway/dist/)
    "systemd",
];

/// Pinned: a newer release may drop the `llvm-<N>` feature Debian's LLVM needs, or want a
/// newer Rust. Verified with rustc 1.95 / LLVM 22.
const BPF_LINKER_VERSION: &str = "0.13.0";

pub fn run() -> anyhow::Result<()> {
    let llvm = rustc_llvm_major()?;
    apt(llvm)?;
    node()?;
    rust_src()?;
    bpf_linker(llvm)?;
    cargo_fuzz()?;
    cargo_deb()?;
    bpffs()?;
    Ok(())
}

fn rustc_llvm_major() -> anyhow::Result<u32> {
    let out = sh::output(Command::new("rustc").arg("-vV"))?;
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .context("rustc -vV printed no LLVM version")?;
    line.split('.')
        .next()
        .unwrap_or_default()
        .parse()
        .context("LLVM major of rustc")
}

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn apt(llvm: u32) -> anyhow::Result<()> {
    let wanted: Vec<String> = PACKAGES
        .iter()
        .map(|p| p.replace("{llvm}", &llvm.to_string()))
        .collect();
    let missing: Vec<&String> = wanted.iter().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "setup: installing {}",
        missing
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    sh::run(Command::new("apt-get").args(["update", "-q"]))?;
    let mut cmd = Command::new("apt-get");
    cmd.args(["install", "-y", "-q", "--no-install-recommends"])
        .args(missing.iter().map(|s| s.as_str()));
    // Packages like nginx and unbound must not start system-wide services: the lab runs
    // its own instances in its namespaces. policy-rc.d exit 101 = "don't start".
    let policy = std::path::Path::new("/usr/sbin/policy-rc.d");
    let had_policy = policy.exists();
    if !had_policy {
        std::fs::write(policy, "#!/bin/sh\nexit 101\n")?;
        sh::run(Command::new("chmod").args(["+x", "/usr/sbin/policy-rc.d"]))?;
    }
    let result = sh::run(cmd.env("DEBIAN_FRONTEND", "noninteractive"));
    if !had_policy {
        let _ = std::fs::remove_file(policy);
    }
    result
}

/// Node and npm build the admin UI (`web/`, bundled into the daemon by its build script)
/// and run the browser tests. Debian's nodejs when the machine has none; then the UI's
/// packages from the npm registry, exactly as locked.
fn node() -> anyhow::Result<()> {
    let has = |bin: &str| {
        Command::new(bin)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has("node") || !has("npm") {
        eprintln!("setup: installing nodejs npm");
        sh::run(Command::new("apt-get").args(["update", "-q"]))?;
        sh::run(
            Command::new("apt-get")
                .args(["install", "-y", "-q", "nodejs", "npm"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let stamp = web.join("node_modules/.package-lock.json");
    let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if mtime(&stamp).is_none() || mtime(&stamp) < mtime(&web.join("package-lock.json")) {
        sh::run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&web),
        )?;
    }
    Ok(())
}

fn rust_src() -> anyhow::Result<()> {
    let out = sh::output(Command::new("rustup").args(["component", "list", "--installed"]))?;
    if out.lines().any(|l| l.starts_with("rust-src")) {
        return Ok(());
    }
    sh::run(Command::new("rustup").args(["component", "add", "rust-src"]))
}

fn bpf_linker(llvm: u32) -> anyhow::Result<()> {
    let home = std::env::var("CARGO_HOME")
        .unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap_or_default()));
    let bin = format!("{home}/bin/bpf-linker");
    if std::path::Path::new(&bin).exists() {
        let ldd = sh::output(Command::new("ldd").arg(&bin)).unwrap_or_default();
        if ldd.contains(&format!("libLLVM.so.{llvm}")) || ldd.contains(&format!("libLLVM-{llvm}")) {
            return Ok(());
        }
        eprintln!("setup: bpf-linker links another LLVM than rustc's {llvm}; rebuilding it");
    }
    // Its default feature is a newer LLVM than Debian ships; without the PATH prefix the
    // build can't find libLLVM (../shared/BUILD-NOTES.md).
    let path = format!(
        "/usr/lib/llvm-{llvm}/bin:{}",
        std::env::var("PATH").unwrap_or_default()
    );
    sh::run(
        Command::new("cargo")
            .args([
                "install",
                "bpf-linker",
                "--version",
                BPF_LINKER_VERSION,
                "--locked",
                "--force",
                "--no-default-features",
                "--features",
            ])
            .arg(format!("llvm-{llvm}"))
            .env("PATH", path),
    )
}

/// cargo-fuzz, pinned like bpf-linker.
fn cargo_fuzz() -> anyhow::Result<()> {
    cargo_tool("fuzz", "cargo-fuzz", "0.13.2")
}

/// cargo-deb (`cargo xtask package`), pinned likewise.
fn cargo_deb() -> anyhow::Result<()> {
    cargo_tool("deb", "cargo-deb", "3.8.0")
}

/// Installs `krate` at `version` unless `cargo <sub> --version` already says it.
fn cargo_tool(sub: &str, krate: &str, version: &str) -> anyhow::Result<()> {
    let installed = Command::new("cargo")
        .args([sub, "--version"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(version))
        .unwrap_or(false);
    if installed {
        return Ok(());
    }
    sh::run(Command::new("cargo").args(["install", krate, "--version", version, "--locked"]))
}

fn bpffs() -> anyhow::Result<()> {
    let mounted = Command::new("mountpoint")
        .args(["-q", "/sys/fs/bpf"])
        .status()?
        .success();
    if !mounted {
        sh::run(Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]))?;
    }
    if !Command::new("mountpoint")
        .args(["-q", "/sys/fs/bpf"])
        .status()?
        .success()
    {
        bail!("could not mount bpffs at /sys/fs/bpf");
    }
    Ok(())
}
