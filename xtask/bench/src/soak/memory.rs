//! The daemon's footprint as the soak reads it: RSS and descriptors from `/proc`, and its
//! memory per run (anonymous, the database writer's page cache from `/metrics`, the rest).

use officegate_lab::{Lab, Role, addr};

use super::TOKEN;

/// A kB figure of `/proc/<pid>/status` (`VmRSS:`, `RssAnon:`, …).
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// One process's footprint: RSS (kB) and open descriptors.
pub(super) fn footprint(pid: Option<u32>) -> (u64, usize) {
    let Some(pid) = pid else { return (0, 0) };
    let rss = status_kb(pid, "VmRSS:").unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    (rss, fds)
}

/// One reading of the daemon's memory (kB): anonymous (heap, stacks), and the part of
/// it the database writer's page cache holds, from `/metrics`.
#[derive(Clone, Copy, Default)]
pub(super) struct Memory {
    pid: u32,
    anon: u64,
    sqlite: u64,
}

impl Memory {
    pub(super) fn read(lab: &Lab, pid: Option<u32>) -> Option<Memory> {
        let pid = pid?;
        let anon = status_kb(pid, "RssAnon:")?;
        let url = format!("http://{}:8080/metrics", addr::GW_LAN_V4);
        let header = format!("Authorization: Bearer {TOKEN}");
        let text = lab
            .sh(
                Role::Pc(2),
                &["curl", "-s", "-m", "10", "-H", &header, &url],
            )
            .ok()?;
        let sqlite: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("officegate_store_writer_cache_bytes "))
            .and_then(|v| v.trim().parse().ok())?;
        Some(Memory {
            pid,
            anon,
            sqlite: sqlite / 1024,
        })
    }

    /// What the daemon's own structures hold: the heap without the writer's page cache.
    fn rest(&self) -> u64 {
        self.anon.saturating_sub(self.sqlite)
    }
}

/// Per run of the daemon (between kills): its memory after a minute's warm-up and at
/// its end, as JSON.
pub(super) fn memory_by_run(samples: &[(f64, Memory)]) -> String {
    let mut runs: Vec<Vec<(f64, Memory)>> = Vec::new();
    for &(t, m) in samples {
        match runs.last_mut() {
            Some(r) if r[0].1.pid == m.pid => r.push((t, m)),
            _ => runs.push(vec![(t, m)]),
        }
    }
    let runs: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            let t0 = r[0].0;
            let warm = r.iter().find(|(t, _)| t - t0 >= 60.0)?.1;
            let (t_end, end) = *r.last()?;
            Some(format!(
                "{{\"minutes\": {:.1}, \"anon_kb\": [{}, {}], \"sqlite_kb\": [{}, {}], \"rest_kb\": [{}, {}]}}",
                (t_end - t0) / 60.0,
                warm.anon,
                end.anon,
                warm.sqlite,
                end.sqlite,
                warm.rest(),
                end.rest()
            ))
        })
        .collect();
    format!("[{}]", runs.join(", "))
}
