//! Builds the kernel programs (`gateway-ebpf`) for bpfel-unknown-none and leaves the object
//! in OUT_DIR, so a plain `cargo build` of the daemon embeds the current kernel side.

use anyhow::{Context as _, anyhow};

fn main() -> anyhow::Result<()> {
    web()?;
    ebpf()
}

/// Bundles the admin UI (`web/`: Preact, Chart.js) with esbuild into OUT_DIR/web, for the
/// daemon to embed. `npm ci` first when `node_modules` is missing or older than the lock
/// file; both come from the npm registry (the set-up installs node and npm).
fn web() -> anyhow::Result<()> {
    use std::process::Command;
    let manifest = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let web = manifest.join("../web");
    println!("cargo:rerun-if-changed=../web/src");
    println!("cargo:rerun-if-changed=../web/package.json");
    println!("cargo:rerun-if-changed=../web/package-lock.json");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("web");
    let stamp = web.join("node_modules/.package-lock.json");
    let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if mtime(&stamp).is_none() || mtime(&stamp) < mtime(&web.join("package-lock.json")) {
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&web)
            .status()
            .context("running `npm ci` in web/ (is node installed? `cargo xtask setup`)")?
            .success();
        anyhow::ensure!(ok, "`npm ci` in web/ failed");
    }
    let ok = Command::new("npm")
        .args(["run", "--silent", "build"])
        .env("OUT", &out)
        .current_dir(&web)
        .status()
        .context("running esbuild in web/")?
        .success();
    anyhow::ensure!(ok, "building the admin UI (web/) failed");
    Ok(())
}

fn ebpf() -> anyhow::Result<()> {
    // The kernel programs are built from gateway-common's types too: a change there alone
    // must rebuild them (aya-build watches only the eBPF crate's own directory).
    println!("cargo:rerun-if-changed=../gateway-common/src");
    let metadata = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    let ebpf = metadata
        .packages
        .into_iter()
        .find(|p| p.name.as_str() == "gateway-ebpf")
        .ok_or_else(|| anyhow!("gateway-ebpf package not found"))?;
    let root_dir = ebpf
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("gateway-ebpf manifest has no parent"))?
        .to_string();
    // The inner build needs `-Z build-std=core` on stable; aya-build passes it only when
    // RUSTC_BOOTSTRAP is set. Setting it here affects that inner cargo only (see
    // ../shared/BUILD-NOTES.md), not this crate's own compilation.
    // SAFETY: build scripts are single-threaded at this point.
    unsafe { std::env::set_var("RUSTC_BOOTSTRAP", "1") };
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").unwrap_or_else(|_| "stable".to_string());
    let package = aya_build::Package {
        name: "gateway-ebpf",
        root_dir: &root_dir,
        ..Default::default()
    };
    aya_build::build_ebpf([package], aya_build::Toolchain::Custom(&toolchain))
}
