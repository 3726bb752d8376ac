//! Where lists live between loads: compiled list files kept while unchanged, and the
//! place of each URL's downloaded copy.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::SystemTime,
};

use super::CompiledList;

/// The downloaded copy of `url` in `cache`.
pub fn url_copy(cache: &Path, url: &str) -> PathBuf {
    cache.join(format!(
        "{:016x}.txt",
        xxhash_rust::xxh3::xxh3_64(url.as_bytes())
    ))
}

/// Compiled list files kept between loads: a file whose size and modification time did
/// not change is not parsed again, so a one-line policy change applies in milliseconds
/// instead of re-reading a million names. The daemon keeps one; `check` needs none.
#[derive(Default)]
pub struct ListCache {
    #[allow(clippy::type_complexity)]
    files: Mutex<HashMap<PathBuf, (SystemTime, u64, Arc<CompiledList>)>>,
}

impl ListCache {
    /// Forgets every file not in `keep` (lists the policy no longer names).
    pub fn retain(&self, keep: &[PathBuf]) {
        if let Ok(mut m) = self.files.lock() {
            m.retain(|p, _| keep.contains(p));
        }
    }
}

/// A list file compiled, from `cache` when it is unchanged there.
pub fn compiled(path: &Path, cache: Option<&ListCache>) -> std::io::Result<Arc<CompiledList>> {
    let meta = std::fs::metadata(path)?;
    let key = (meta.modified()?, meta.len());
    if let Some(c) = cache
        && let Ok(m) = c.files.lock()
        && let Some((t, len, list)) = m.get(path)
        && (*t, *len) == key
    {
        return Ok(list.clone());
    }
    let list = Arc::new(super::compile(&std::fs::read_to_string(path)?));
    if let Some(c) = cache
        && let Ok(mut m) = c.files.lock()
    {
        m.insert(path.to_path_buf(), (key.0, key.1, list.clone()));
    }
    Ok(list)
}
