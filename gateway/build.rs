//! Builds the kernel programs (`gateway-ebpf`) for bpfel-unknown-none and leaves the object
//! in OUT_DIR, so a plain `cargo build` of the daemon embeds the current kernel side.

use anyhow::{Context as _, anyhow};

fn main() -> anyhow::Result<()> {
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
