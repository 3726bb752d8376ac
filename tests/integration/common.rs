//! Helpers shared by the integration tests.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
};

use officegate::datapath::{Datapath, LoadOptions, Maps};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A unique bpffs pin directory, removed (with its maps) on drop, even on panic.
pub struct PinDir(pub PathBuf);

impl PinDir {
    pub fn new(tag: &str) -> Self {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        PinDir(PathBuf::from(format!(
            "/sys/fs/bpf/og-test-{}-{n}-{tag}",
            std::process::id()
        )))
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = officegate::datapath::remove_pins(&self.0);
    }
}

/// A loaded (not attached) datapath with fresh maps.
pub fn load(tag: &str, flow_cache: bool) -> (PinDir, Datapath, Maps) {
    let dir = PinDir::new(tag);
    let dp = Datapath::load(&LoadOptions {
        pin_dir: dir.0.clone(),
        flow_cache,
    })
    .unwrap_or_else(|e| panic!("loading the datapath: {e}"));
    let maps = dp.maps().expect("open maps");
    (dir, dp, maps)
}
