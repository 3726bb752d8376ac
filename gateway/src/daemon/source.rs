//! Where the policy comes from and how it is reloaded: the policy directory beside the
//! configuration file, its files' modification times, and the URL lists whose copies
//! `lists::keep_fresh` keeps fresh. A reload that fails keeps the previous policy in force and says why (an
//! event the UI shows).
//!
//! File changes are noticed by comparing modification times on the daemon's one-second
//! tick rather than through inotify (the `notify` crate): the tick exists anyway for the
//! clock, it sees editors' write-and-rename the same as in-place writes, and it needs no
//! thread.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context as _;
use arc_swap::ArcSwap;
use tracing::{error, info};

use crate::policy::{self, Policy};

/// The policy lives beside the daemon's configuration file.
pub fn policy_dir_of(config_path: &Path) -> PathBuf {
    match config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn load_policy(
    dir: &Path,
    cache: &Path,
    compiled: &policy::ListCache,
) -> anyhow::Result<(Policy, Watched, Vec<policy::UrlSource>)> {
    let started = std::time::Instant::now();
    let (policy, report) = policy::load_dir_with(dir, Some(cache), Some(compiled))
        .map_err(|errors| anyhow::anyhow!(policy::render(&errors)))?;
    compiled.retain(
        &report
            .files
            .iter()
            .map(|(f, _)| f.clone())
            .collect::<Vec<_>>(),
    );
    let (names, name_bytes) = policy.name_sets();
    info!(
        ms = started.elapsed().as_millis() as u64,
        rules = report.files.iter().map(|(_, s)| s.accepted).sum::<usize>(),
        names,
        name_bytes,
        "policy loaded"
    );
    // The downloaded copies of URL lists are among the files: a fresh download is noticed
    // like an edit and reloads the policy.
    let mut files = vec![dir.join(policy::POLICY_FILE)];
    files.extend(report.files.into_iter().map(|(f, _)| f));
    files.extend(report.urls.iter().map(|u| u.copy.clone()));
    Ok((policy, Watched::new(files), report.urls))
}

/// Where the policy comes from, and what was last seen of it.
pub struct Source {
    dir: PathBuf,
    /// Downloaded copies of URL lists.
    cache: PathBuf,
    /// List files compiled by the last load, reused while unchanged.
    compiled: policy::ListCache,
    watched: Watched,
    /// The URL lists of the policy in force, for the downloader.
    urls: tokio::sync::watch::Sender<Vec<policy::UrlSource>>,
}

impl Source {
    /// Loads the policy at start (it must be valid) and starts the downloader of its URL
    /// lists.
    pub fn open(dir: PathBuf, cache: PathBuf) -> anyhow::Result<(Self, Policy)> {
        let compiled = policy::ListCache::default();
        let (policy, watched, urls) =
            load_policy(&dir, &cache, &compiled).context("the policy must be valid at start")?;
        let (urls_tx, urls_rx) = tokio::sync::watch::channel(urls);
        tokio::spawn(crate::lists::keep_fresh(urls_rx));
        let source = Source {
            dir,
            cache,
            compiled,
            watched,
            urls: urls_tx,
        };
        Ok((source, policy))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a file of the policy changed since it was last read.
    pub fn changed(&self) -> bool {
        self.watched.changed()
    }

    /// Loads the policy again; whether a new one is in force. A broken one leaves the old
    /// in force. Either way an event says so (the UI shows the last reload's errors).
    pub fn reload(
        &mut self,
        policy: &ArcSwap<Policy>,
        store: &crate::store::Store,
        why: &str,
    ) -> bool {
        let event = |kind: &str, message: String| crate::store::Event {
            at_ms: crate::store::now_ms(),
            source: "policy".into(),
            kind: kind.into(),
            subject: self.dir.display().to_string(),
            message,
            details: serde_json::json!({ "why": why }),
        };
        match load_policy(&self.dir, &self.cache, &self.compiled) {
            Ok((p, w, urls)) => {
                info!(policy = %self.dir.display(), why, "policy reloaded");
                store.event(event("reloaded", format!("policy reloaded ({why})")));
                policy.store(Arc::new(p));
                self.watched = w;
                self.urls.send_if_modified(|u| {
                    let changed = *u != urls;
                    *u = urls;
                    changed
                });
                true
            }
            Err(e) => {
                // Remember what the broken files look like, so they are not reloaded (and
                // logged) again every tick; the next edit is noticed.
                self.watched.refresh();
                error!(
                    why,
                    "policy reload failed, the previous policy stays in force:\n{e:#}"
                );
                store.event(event("reload_failed", format!("{e:#}")));
                false
            }
        }
    }
}

/// The policy's files with the modification times they had when last read.
struct Watched {
    files: Vec<(PathBuf, Option<std::time::SystemTime>)>,
}

impl Watched {
    fn new(files: Vec<PathBuf>) -> Self {
        let mut w = Watched {
            files: files.into_iter().map(|f| (f, None)).collect(),
        };
        w.refresh();
        w
    }

    fn mtime(f: &Path) -> Option<std::time::SystemTime> {
        std::fs::metadata(f).and_then(|m| m.modified()).ok()
    }

    fn refresh(&mut self) {
        for (f, t) in &mut self.files {
            *t = Self::mtime(f);
        }
    }

    fn changed(&self) -> bool {
        self.files.iter().any(|(f, t)| Self::mtime(f) != *t)
    }
}
