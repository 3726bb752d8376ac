//! Lab names and their lifetime: unique prefixes `og-<pid>-<counter>`, namespace names
//! `<prefix>-<role>`, and removal of a lab's namespaces/files — including the leftovers of
//! owners that died without running `Drop` (SIGKILL, abort, power cut of a test runner).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Role, netns, persist};

/// Every lab namespace starts with this.
pub const NS_PREFIX: &str = "og-";
/// Lab temp dirs are `<tmp>/officegate-lab-<prefix>-XXXXXX`.
pub const TEMP_DIR_PREFIX: &str = "officegate-lab-";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A prefix no live namespace uses. The pid makes it unique across processes; the counter
/// across labs of one process. If a dead process with our pid left namespaces behind (pid
/// reuse: the sweep can't tell them from ours), skip to the next counter.
pub fn allocate_prefix() -> String {
    let pid = std::process::id();
    let live = netns::list();
    loop {
        let prefix = format!(
            "{NS_PREFIX}{pid}-{}",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dash = format!("{prefix}-");
        if !live.iter().any(|n| n.starts_with(&dash)) {
            return prefix;
        }
    }
}

pub fn ns_name(prefix: &str, role: Role) -> String {
    format!("{prefix}-{}", role.short())
}

/// `og-<pid>-<n>-<role>` → (`og-<pid>-<n>`, pid).
pub fn parse(name: &str) -> Option<(String, i32)> {
    let rest = name.strip_prefix(NS_PREFIX)?;
    let mut parts = rest.splitn(3, '-');
    let pid: i32 = parts.next()?.parse().ok()?;
    let n: usize = parts.next()?.parse().ok()?;
    parts.next().filter(|r| !r.is_empty())?;
    Some((format!("{NS_PREFIX}{pid}-{n}"), pid))
}

/// Live lab namespaces grouped by prefix, with the owner pid.
pub fn live_labs() -> BTreeMap<String, (i32, Vec<String>)> {
    let mut labs: BTreeMap<String, (i32, Vec<String>)> = BTreeMap::new();
    for name in netns::list() {
        if let Some((prefix, pid)) = parse(&name) {
            labs.entry(prefix).or_insert((pid, Vec::new())).1.push(name);
        }
    }
    labs
}

/// Removes labs whose owner is gone and that were not persisted. Best effort: another
/// process may be sweeping the same leftovers at the same moment.
pub fn sweep_dead_owners() {
    let persisted = persist::list().unwrap_or_default();
    let mut dead_pids = Vec::new();
    for (prefix, (pid, namespaces)) in live_labs() {
        if netns::pid_alive(pid) || persisted.contains(&prefix) {
            continue;
        }
        let etc: Vec<PathBuf> = namespaces.iter().map(|n| etc_dir(n)).collect();
        remove_lab(&namespaces, &etc);
        dead_pids.push(pid);
    }
    // Files outlive namespaces when the owner died mid-teardown: sweep them by pid too.
    sweep_files(Path::new(netns::ETC_NETNS_DIR), NS_PREFIX, &persisted);
    sweep_files(
        &std::env::temp_dir(),
        &format!("{TEMP_DIR_PREFIX}{NS_PREFIX}"),
        &persisted,
    );
    // Pinned maps of a dead owner's daemon (`officegate-og-<pid>-<n>`) and of its
    // BPF_PROG_TEST_RUN tests (`og-test-<pid>-<n>-<tag>`): each holds preallocated kernel
    // memory until removed.
    let bpffs = Path::new(crate::officegate::BPFFS);
    sweep_files(
        bpffs,
        &format!("{}{NS_PREFIX}", crate::officegate::PIN_DIR_PREFIX),
        &persisted,
    );
    sweep_files(bpffs, "og-test-", &persisted);
}

/// Removes `<dir>/<start><pid>-<n>-...` entries whose pid is dead and not persisted.
fn sweep_files(dir: &Path, start: &str, persisted: &[String]) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in rd.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(start) else {
            continue;
        };
        let Some((prefix, pid)) = parse(&format!("{NS_PREFIX}{rest}")) else {
            continue;
        };
        if !netns::pid_alive(pid) && !persisted.contains(&prefix) && entry.path().is_dir() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Removes `<tmp>/officegate-lab-<prefix>-*` (the lab dir of `prefix`).
pub fn remove_temp_dirs(prefix: &str) {
    let start = format!("{TEMP_DIR_PREFIX}{prefix}-");
    let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in rd.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&start) && entry.path().is_dir() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// /etc/netns/<ns>.
pub fn etc_dir(ns: &str) -> PathBuf {
    Path::new(netns::ETC_NETNS_DIR).join(ns)
}

/// Kills what is left in the namespaces, deletes them and the /etc/netns dirs. Errors are
/// ignored: teardown runs from `Drop` and must do as much as it can.
pub fn remove_lab(namespaces: &[String], etc_dirs: &[PathBuf]) {
    netns::kill_all_in(namespaces);
    for ns in namespaces {
        if let Err(e) = netns::delete(ns) {
            eprintln!("officegate-lab: deleting namespace {ns}: {e:#}");
        }
    }
    for d in etc_dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespace_names() {
        assert_eq!(parse("og-4242-0-gw"), Some(("og-4242-0".into(), 4242)));
        assert_eq!(parse("og-1-12-pc3"), Some(("og-1-12".into(), 1)));
        assert_eq!(parse("og-x-0-gw"), None);
        assert_eq!(parse("og-1-0-"), None);
        assert_eq!(parse("other"), None);
        assert_eq!(ns_name("og-7-1", Role::Pc(2)), "og-7-1-pc2");
    }
}
