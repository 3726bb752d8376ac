//! The monitor's state as the daemon publishes it (`<storage dir>/wan-status.json`,
//! rewritten atomically every second and on every change) and as `officegate wan status`
//! prints it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const STATUS_FILE: &str = "wan-status.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChannelStatus {
    pub name: String,
    pub interface: String,
    pub priority: u32,
    /// unknown, up, degraded, down, flapping
    pub state: String,
    pub since_ms: i64,
    pub reason: String,
    pub active: bool,
    pub loss_pct: f64,
    pub latency_ms: Option<f64>,
    /// The passive signal's complaint, if any.
    pub suspect: Option<String>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub syn_out: u64,
    pub synack_in: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WanStatus {
    pub updated_ms: i64,
    /// The channel carrying the traffic (None before the first decision).
    pub active: Option<String>,
    /// No channel is usable.
    pub all_down: bool,
    /// Switches since the daemon started.
    pub switches: u64,
    pub channels: Vec<ChannelStatus>,
}

pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(STATUS_FILE)
}

/// Write-then-rename, so a reader never sees half a file.
pub fn write(dir: &Path, status: &WanStatus) -> std::io::Result<()> {
    let tmp = dir.join(format!("{STATUS_FILE}.tmp"));
    let body = serde_json::to_vec_pretty(status).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, path_in(dir))
}

pub fn read(dir: &Path) -> Result<WanStatus, String> {
    let p = path_in(dir);
    let text = std::fs::read(&p).map_err(|e| {
        format!(
            "{}: {e} (is the daemon running with a [wan] section?)",
            p.display()
        )
    })?;
    serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", p.display()))
}

/// The table `officegate wan status` prints.
pub fn render(s: &WanStatus, now_ms: i64) -> String {
    let mut out = String::new();
    let age = (now_ms - s.updated_ms) as f64 / 1000.0;
    out.push_str(&format!(
        "active: {}{}   switches: {}   updated {:.1} s ago{}\n",
        s.active.as_deref().unwrap_or("(none yet)"),
        if s.all_down {
            "   ALL CHANNELS DOWN"
        } else {
            ""
        },
        s.switches,
        age,
        if age > 5.0 {
            " (stale: is the daemon running?)"
        } else {
            ""
        }
    ));
    out.push_str(&format!(
        "{:<2}{:<12} {:<10} {:>4} {:<9} {:>7} {:>9} {:>12} {:>12}  {}\n",
        "", "CHANNEL", "INTERFACE", "PRIO", "STATE", "LOSS%", "LATENCY", "IN", "OUT", "REASON"
    ));
    for c in &s.channels {
        out.push_str(&format!(
            "{:<2}{:<12} {:<10} {:>4} {:<9} {:>7.1} {:>9} {:>12} {:>12}  {}{}\n",
            if c.active { "*" } else { "" },
            c.name,
            c.interface,
            c.priority,
            c.state,
            c.loss_pct,
            c.latency_ms
                .map(|l| format!("{l:.1} ms"))
                .unwrap_or_else(|| "-".into()),
            c.bytes_in,
            c.bytes_out,
            c.reason,
            c.suspect
                .as_deref()
                .map(|s| format!(" [passive: {s}]"))
                .unwrap_or_default()
        ));
    }
    out
}
