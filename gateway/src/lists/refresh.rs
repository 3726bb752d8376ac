//! Keeping the downloaded copies of URL lists fresh: the daemon hands over the URL lists
//! of the policy in force ([`UrlSource`], from the loader's report) through a watch
//! channel, and [`keep_fresh`] downloads whatever is missing or older than its refresh
//! interval. It never reloads anything itself: a new copy is one of the policy's watched
//! files, so the daemon's file watch picks it up like an edit.
//!
//! When a download fails — at start-up or later — the previous copy stays in use (and the
//! log says how old it is); a list never downloaded yet loads without that source (empty
//! if it has no other) until its first download lands. The daemon starts either way: a
//! blocklist host being down must not take the office offline. A failed URL is tried
//! again after `FETCH_RETRY` (or its refresh interval, if shorter), not on every check.

use std::{collections::HashMap, path::PathBuf, time::Duration};

use tracing::{error, info};

/// A list file that comes from a URL, and where its downloaded copy lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlSource {
    pub list: String,
    pub url: String,
    pub copy: PathBuf,
    pub refresh: std::time::Duration,
}

impl UrlSource {
    /// `url` of list `list`, kept in `cache` (see [`super::url_copy`]) and downloaded again
    /// every `refresh_hours` (at least one).
    pub fn new(list: &str, url: &str, cache: &std::path::Path, refresh_hours: u64) -> Self {
        UrlSource {
            list: list.to_string(),
            url: url.to_string(),
            copy: super::url_copy(cache, url),
            refresh: Duration::from_secs(refresh_hours.max(1) * 3600),
        }
    }
}

/// How often URL lists are checked for staleness, and how soon a failed download is
/// tried again.
const FETCH_CHECK: Duration = Duration::from_secs(60);
const FETCH_RETRY: Duration = Duration::from_secs(600);

/// Keeps the copies of URL lists fresh: downloads those missing or older than their
/// refresh interval. A new copy is picked up by the file watch (a reload); a failed
/// download keeps the previous copy in use, and says so. Runs until `sources`' sender is
/// dropped.
pub async fn keep_fresh(mut sources: tokio::sync::watch::Receiver<Vec<UrlSource>>) {
    let mut failed: HashMap<String, std::time::Instant> = Default::default();
    loop {
        let current = sources.borrow_and_update().clone();
        for src in current {
            let age = std::fs::metadata(&src.copy)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok());
            let stale = age.is_none_or(|a| a >= src.refresh);
            let resting = failed
                .get(&src.url)
                .is_some_and(|t| t.elapsed() < FETCH_RETRY.min(src.refresh));
            if !stale || resting {
                continue;
            }
            info!(list = %src.list, url = %src.url, "downloading list");
            let started = std::time::Instant::now();
            let (url, copy) = (src.url.clone(), src.copy.clone());
            let result =
                tokio::task::spawn_blocking(move || super::fetch::download(&url, &copy)).await;
            match result {
                Ok(Ok(bytes)) => {
                    failed.remove(&src.url);
                    info!(
                        list = %src.list,
                        url = %src.url,
                        bytes,
                        ms = started.elapsed().as_millis() as u64,
                        "list downloaded"
                    );
                }
                Ok(Err(e)) => {
                    failed.insert(src.url.clone(), std::time::Instant::now());
                    match age {
                        Some(a) => tracing::warn!(
                            list = %src.list,
                            "list download failed, keeping the previous copy ({} min old): {e}",
                            a.as_secs() / 60
                        ),
                        None => tracing::warn!(
                            list = %src.list,
                            "list download failed and there is no previous copy: the list is empty for now: {e}"
                        ),
                    }
                }
                Err(e) => error!("list download task failed: {e}"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(FETCH_CHECK) => {}
            r = sources.changed() => if r.is_err() { return },
        }
    }
}
