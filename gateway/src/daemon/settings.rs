//! `officegate.toml` while the daemon runs. The file is watched like the policy (its
//! modification time on the tick, and on SIGHUP); a changed file is read whole and
//! checked first — a broken one is reported (log and event) and the settings in force
//! stay. What changed is then applied section by section:
//!
//! - live: `[dns]` (the filter restarts with its new upstreams, listeners, limits; the
//!   cache starts empty), `[block_page]`, `[api]`, `[storage]` retention and flow
//!   interval, `[devices]`;
//! - at the next restart: `[datapath]`, `[wan]`, `[names]`, `[alerts]`, `[storage] dir` —
//!   said once per change (log and event `settings.needs_restart`), and the daemon goes on
//!   with what it started with for those.
//!
//! Sections are compared as TOML values, so reformatting or comments change nothing.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    time::SystemTime,
};

use crate::config::{Config, ConfigError};

/// The sections a running daemon applies; every other key waits for a restart.
const LIVE: [&str; 5] = ["dns", "api", "block_page", "storage", "devices"];
/// Keys of a live section that still wait for a restart.
const RESTART_KEYS: [(&str, &str); 1] = [("storage", "dir")];

/// The settings in force and what was last seen of their file.
pub struct Settings {
    path: PathBuf,
    seen: Option<SystemTime>,
    /// The file as the daemon started with it.
    started: toml::Table,
    /// The file as last read successfully.
    last: toml::Table,
    /// The settings in force: the file's live sections, the start's for the rest.
    pub config: Config,
    /// Changes waiting for a restart, as last said.
    pending: BTreeSet<String>,
}

/// A changed file, checked: the settings to put in force and what to do about them.
pub struct Change {
    pub config: Config,
    /// Live sections that changed since the last read.
    pub live: BTreeSet<&'static str>,
    /// Sections (or `section.key`s) that differ from the start, when that set changed
    /// since it was last said; empty otherwise.
    pub needs_restart: Vec<String>,
}

impl Settings {
    pub fn new(path: &Path, config: Config) -> Self {
        let table = read_table(path).unwrap_or_default();
        Settings {
            path: path.to_path_buf(),
            seen: mtime(path),
            started: table.clone(),
            last: table,
            config,
            pending: BTreeSet::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file changed since it was last read.
    pub fn changed(&self) -> bool {
        mtime(&self.path) != self.seen
    }

    /// Reads the file again. `Ok(None)`: nothing that matters changed. A broken file is
    /// an error and changes nothing (it is not read again until it changes).
    pub fn read(&mut self) -> Result<Option<Change>, ConfigError> {
        self.seen = mtime(&self.path);
        let new = Config::load(&self.path)?;
        let table = read_table(&self.path).unwrap_or_default();
        let live: BTreeSet<&'static str> = LIVE
            .into_iter()
            .filter(|s| table.get(*s) != self.last.get(*s))
            .collect();
        let pending = differing(&self.started, &table);
        let needs_restart = if pending != self.pending && !pending.is_empty() {
            pending.iter().cloned().collect()
        } else {
            Vec::new()
        };
        self.pending = pending;
        self.last = table;
        if live.is_empty() && needs_restart.is_empty() {
            return Ok(None);
        }
        Ok(Some(Change {
            config: in_force(&self.config, new),
            live,
            needs_restart,
        }))
    }
}

/// The sections (and restart-only keys of live sections) in which `b` differs from `a`
/// and which wait for a restart.
fn differing(a: &toml::Table, b: &toml::Table) -> BTreeSet<String> {
    let mut keys: BTreeSet<&String> = a.keys().collect();
    keys.extend(b.keys());
    let mut out = BTreeSet::new();
    for k in keys {
        if LIVE.contains(&k.as_str()) {
            for (section, key) in RESTART_KEYS.iter().filter(|(s, _)| s == k) {
                let of = |t: &toml::Table| t.get(*section).and_then(|s| s.get(*key)).cloned();
                if of(a) != of(b) {
                    out.insert(format!("{section}.{key}"));
                }
            }
        } else if a.get(k) != b.get(k) {
            out.insert(k.clone());
        }
    }
    out
}

/// The new file's live sections over the settings the daemon started with.
fn in_force(old: &Config, new: Config) -> Config {
    Config {
        version: old.version,
        datapath: old.datapath.clone(),
        wan: old.wan.clone(),
        names: old.names.clone(),
        alerts: old.alerts.clone(),
        storage: crate::config::StorageConfig {
            dir: old.storage.dir.clone(),
            ..new.storage
        },
        dns: new.dns,
        api: new.api,
        devices: new.devices,
        block_page: new.block_page,
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn read_table(path: &Path) -> Option<toml::Table> {
    std::fs::read_to_string(path).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str =
        "version = 1\n[datapath]\nlan_interface = \"lan0\"\n[dns]\nupstreams = [\"192.0.2.53\"]\n";

    fn settings(dir: &Path, text: &str) -> Settings {
        let path = dir.join("officegate.toml");
        std::fs::write(&path, text).unwrap();
        Settings::new(&path, Config::load(&path).unwrap())
    }

    /// Writes `text` with a modification time the watcher cannot miss.
    fn write(s: &Settings, text: &str) {
        std::fs::write(s.path(), text).unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(s.path())
            .unwrap()
            .set_modified(later)
            .unwrap();
    }

    #[test]
    fn live_sections_apply_and_the_rest_is_said_to_need_a_restart_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path(), BASE);
        assert!(!s.changed());
        // Only formatting and comments: nothing to do.
        write(&s, &format!("# a comment\n{}", BASE.replace(" = ", "=")));
        assert!(s.changed());
        assert!(s.read().unwrap().is_none());
        // An upstream and the interface change.
        let edited = BASE
            .replace("192.0.2.53", "192.0.2.54")
            .replace("lan0", "lan1");
        write(&s, &edited);
        let c = s.read().unwrap().expect("a change");
        assert_eq!(c.live, BTreeSet::from(["dns"]));
        assert_eq!(c.needs_restart, vec!["datapath".to_string()]);
        assert_eq!(c.config.dns.as_ref().unwrap().upstreams, ["192.0.2.54"]);
        assert_eq!(
            c.config.datapath.lan_interface, "lan0",
            "kept until restart"
        );
        // The pending restart is not said again with the next live change.
        write(&s, &format!("{edited}[storage]\nkeep_queries_days = 3\n"));
        let c = s.read().unwrap().expect("a change");
        assert_eq!(c.live, BTreeSet::from(["storage"]));
        assert!(c.needs_restart.is_empty());
        // The storage directory waits for a restart.
        write(
            &s,
            &format!("{edited}[storage]\nkeep_queries_days = 3\ndir = \"/x\"\n"),
        );
        let c = s.read().unwrap().expect("a change");
        assert_eq!(c.needs_restart, ["datapath", "storage.dir"]);
        assert_ne!(c.config.storage.dir, Path::new("/x"));
    }

    #[test]
    fn a_broken_file_is_an_error_and_is_not_read_again_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path(), BASE);
        write(&s, &format!("{BASE}bogus = 1\n"));
        let err = s.read().err().expect("rejected").to_string();
        assert!(err.contains("bogus"), "{err}");
        assert!(!s.changed());
    }
}
