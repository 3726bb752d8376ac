//! Downloading list files from URLs (ureq: blocking, rustls with Mozilla's roots — run on
//! tokio's blocking pool). The copy is written beside its final name and renamed over it,
//! so the loader never reads half a download, and a failed download leaves the previous
//! copy in place.

use std::{path::Path, time::Duration};

/// The biggest list accepted (the largest public lists are ~30 MB).
const MAX_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {source}")]
    Http {
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("{path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Downloads `url` into `dest`; returns the bytes written.
pub fn download(url: &str, dest: &Path) -> Result<u64, FetchError> {
    let http = |source| FetchError::Http {
        url: url.to_string(),
        source: Box::new(source),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let text = agent
        .get(url)
        .call()
        .map_err(http)?
        .body_mut()
        .with_config()
        .limit(MAX_BYTES)
        .read_to_string()
        .map_err(http)?;
    let write = |source| FetchError::Write {
        path: dest.display().to_string(),
        source,
    };
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    let tmp = dest.with_extension("part");
    std::fs::write(&tmp, &text).map_err(write)?;
    std::fs::rename(&tmp, dest).map_err(write)?;
    Ok(text.len() as u64)
}
