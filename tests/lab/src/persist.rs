//! Labs that outlive their owner (`cargo xtask lab up`): a JSON record per lab in
//! /run/officegate-lab (tmpfs: a reboot forgets it, as it forgets the namespaces), and the
//! matching `down` and `status`. The dead-owner sweep leaves recorded labs alone.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::{Lab, names, netns};

pub const STATE_DIR: &str = "/run/officegate-lab";

#[derive(Debug, Serialize, Deserialize)]
struct State {
    prefix: String,
    owner_pid: u32,
    pcs: usize,
    dir: PathBuf,
    namespaces: Vec<String>,
    etc_dirs: Vec<PathBuf>,
    processes: Vec<Process>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Process {
    name: String,
    pid: u32,
    /// /proc/<pid>/comm at persist time: `down` kills the pid only if it still matches, so a
    /// reused pid is never hit.
    comm: String,
}

fn state_path(prefix: &str) -> PathBuf {
    Path::new(STATE_DIR).join(format!("{prefix}.json"))
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The recorded process still runs (not a zombie, pid not reused by another program).
fn running(p: &Process) -> bool {
    !p.comm.is_empty() && netns::pid_alive(p.pid as i32) && comm(p.pid) == p.comm
}

pub fn save(lab: &Lab) -> Result<PathBuf> {
    let state = State {
        prefix: lab.prefix.clone(),
        owner_pid: std::process::id(),
        pcs: lab.pcs,
        dir: lab.dir.clone(),
        namespaces: lab.namespaces.clone(),
        etc_dirs: lab.etc_dirs.clone(),
        processes: lab
            .procs
            .records()
            .into_iter()
            .map(|(name, pid)| Process {
                name,
                pid,
                comm: comm(pid),
            })
            .collect(),
    };
    std::fs::create_dir_all(STATE_DIR).with_context(|| format!("create {STATE_DIR}"))?;
    let path = state_path(&lab.prefix);
    std::fs::write(&path, serde_json::to_string_pretty(&state)?)
        .with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

/// Prefixes with a state file, sorted.
pub fn list() -> Result<Vec<String>> {
    let rd = match std::fs::read_dir(STATE_DIR) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).context(STATE_DIR),
    };
    let mut out: Vec<String> = rd
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(String::from)
        })
        .collect();
    out.sort();
    Ok(out)
}

fn load(prefix: &str) -> Result<Option<State>> {
    let path = state_path(prefix);
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(Some(
            serde_json::from_str(&s).with_context(|| format!("parse {}", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

/// Tears down the lab `prefix`: recorded processes, then whatever else is in its namespaces
/// (also live ones the record doesn't know, e.g. from a crashed owner), its files and record.
pub fn down(prefix: &str) -> Result<()> {
    // The maps a daemon in this lab pinned go with the lab.
    let _ = std::fs::remove_dir_all(crate::officegate::pin_dir_for_prefix(prefix));
    let state = load(prefix)?;
    let mut namespaces: Vec<String> = names::live_labs()
        .remove(prefix)
        .map(|(_, ns)| ns)
        .unwrap_or_default();
    if state.is_none() && namespaces.is_empty() {
        bail!("no lab with prefix {prefix:?} (see `cargo xtask lab status`)");
    }
    let mut etc_dirs: Vec<PathBuf> = namespaces.iter().map(|n| names::etc_dir(n)).collect();
    if let Some(s) = &state {
        for p in &s.processes {
            if running(p) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p.pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        // Not our children: wait until the kernel has made them zombies (init reaps them).
        for _ in 0..100 {
            if !s.processes.iter().any(running) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for ns in &s.namespaces {
            if !namespaces.contains(ns) {
                namespaces.push(ns.clone());
            }
        }
        etc_dirs.extend(s.etc_dirs.iter().cloned());
    }
    names::remove_lab(&namespaces, &etc_dirs);
    names::remove_temp_dirs(prefix);
    if let Some(s) = &state {
        // The recorded dir, in case TMPDIR differs now; checked by name before `rm -r`.
        let ours = format!("{}{prefix}-", names::TEMP_DIR_PREFIX);
        if s.dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(&ours))
        {
            let _ = std::fs::remove_dir_all(&s.dir);
        }
        std::fs::remove_file(state_path(prefix))?;
    }
    Ok(())
}

pub fn status() -> Result<String> {
    let mut out = String::new();
    let persisted = list()?;
    let live = names::live_labs();
    let _ = writeln!(out, "persisted labs ({STATE_DIR}):");
    if persisted.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for prefix in &persisted {
        match load(prefix) {
            Ok(Some(s)) => {
                let running = s.processes.iter().filter(|p| running(p)).count();
                let ns_live = s
                    .namespaces
                    .iter()
                    .filter(|n| netns::path(n).exists())
                    .count();
                let _ = writeln!(
                    out,
                    "  {prefix}: {} PCs, namespaces {ns_live}/{} live, services {running}/{} running, dir {}",
                    s.pcs,
                    s.namespaces.len(),
                    s.processes.len(),
                    s.dir.display()
                );
            }
            Ok(None) => {}
            Err(e) => {
                let _ = writeln!(out, "  {prefix}: unreadable record: {e:#}");
            }
        }
    }
    let _ = writeln!(out, "live lab namespaces:");
    if live.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for (prefix, (pid, namespaces)) in &live {
        let owner = if persisted.contains(prefix) {
            "persisted"
        } else if netns::pid_alive(*pid) {
            "owner running"
        } else {
            "owner dead: swept by the next lab up, or `lab down`"
        };
        let roles: Vec<&str> = namespaces
            .iter()
            .map(|n| {
                n.strip_prefix(prefix.as_str())
                    .unwrap_or(n)
                    .trim_start_matches('-')
            })
            .collect();
        let _ = writeln!(out, "  {prefix} (pid {pid}, {owner}): {}", roles.join(" "));
    }
    Ok(out)
}
