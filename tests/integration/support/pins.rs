//! bpffs pin directories (unique per run, removed on drop) and a loaded datapath for the
//! BPF_PROG_TEST_RUN tests (`test_run`), which must stay on one CPU.

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

/// Keeps this test thread on one CPU. The flow cache is per CPU: a test that runs two
/// packets and expects the second to hit the first one's cache entry must not move to the
/// other core in between (the other CPU's copy would re-evaluate).
pub fn pin_to_one_cpu() {
    let mut set = nix::sched::CpuSet::new();
    let cpu = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .ok()
        .and_then(|s| (0..nix::sched::CpuSet::count()).find(|c| s.is_set(*c).unwrap_or(false)))
        .unwrap_or(0);
    set.set(cpu).expect("cpu index");
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).expect("sched_setaffinity");
}

/// A loaded (not attached) datapath with fresh maps; the calling thread is pinned to one
/// CPU (see `pin_to_one_cpu`).
pub fn load(tag: &str, flow_cache: bool) -> (PinDir, Datapath, Maps) {
    pin_to_one_cpu();
    let dir = PinDir::new(tag);
    let dp = Datapath::load(&LoadOptions {
        pin_dir: dir.0.clone(),
        flow_cache,
    })
    .unwrap_or_else(|e| panic!("loading the datapath: {e}"));
    let maps = dp.maps().expect("open maps");
    (dir, dp, maps)
}
