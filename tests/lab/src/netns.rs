//! Low-level namespace plumbing: create, list, enter and delete named network namespaces, find
//! the processes inside one, and run commands. Knows nothing of roles or topology.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Where `ip netns` keeps its bind-mounted namespace files.
pub const NETNS_DIR: &str = "/run/netns";
/// Per-namespace files that `ip netns exec` bind-mounts over /etc (resolv.conf).
pub const ETC_NETNS_DIR: &str = "/etc/netns";

pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Creates a named namespace. `ip netns add` is used rather than a raw unshare+bind-mount
/// because it also sets up /run/netns as a shared mount the way every other tool expects.
pub fn add(name: &str) -> Result<()> {
    run(Command::new("ip").args(["netns", "add", name])).map(drop)
}

/// Deletes a named namespace: the same unmount+unlink as `ip netns del`, without a process
/// per namespace. The kernel frees the namespace (and its veths) once no process is left in it.
pub fn delete(name: &str) -> Result<()> {
    let p = path(name);
    // EINVAL: not a mount point (half-created); ENOENT: already gone. Both are fine.
    match nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(e).with_context(|| format!("unmount {}", p.display())),
    }
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("remove {}", p.display())),
    }
}

/// Names of all namespaces in /run/netns.
pub fn list() -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// Pids whose (main thread's) network namespace is `name` — what `ip netns pids` prints.
pub fn pids_in(name: &str) -> Vec<i32> {
    let Ok(ns) = std::fs::metadata(path(name)) else {
        return Vec::new();
    };
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|m| m.dev() == ns.dev() && m.ino() == ns.ino())
        })
        .collect()
}

/// SIGKILLs every process left in the given namespaces (never this process) and waits briefly
/// for them to go, so deleting the namespace really frees it and its addresses.
pub fn kill_all_in(names: &[String]) {
    let me = std::process::id() as i32;
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let pids: Vec<i32> = names
            .iter()
            .flat_map(|n| pids_in(n))
            .filter(|&p| p != me)
            .collect();
        if pids.is_empty() || Instant::now() > deadline {
            return;
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        // A killed child of ours stays a zombie (and drops out of the list: a zombie has no
        // namespaces); others vanish once the kernel has torn them down.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` still runs. A zombie counts as dead: it will never run `Drop`, and
/// where pid 1 is not a reaping init (containers) a SIGKILLed owner can stay a zombie.
pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Field 3, after "pid (comm)"; comm may contain spaces and parentheses.
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next()),
            Some("Z" | "X")
        ),
        Err(_) => false,
    }
}

/// A `Command` whose child enters only the network namespace at `ns_path` (setns in
/// `pre_exec`), keeping the caller's mount namespace: /sys/fs/bpf, /etc and /tmp stay the
/// host's. Spawning fails with the open/setns error when the namespace is missing.
pub fn command(ns_path: &Path, program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    // Opened here, not in the child: between fork and exec only async-signal-safe calls are
    // allowed, and reporting a clear error is easier from the parent. O_CLOEXEC (std's
    // default) keeps the fd out of the program.
    let fd: std::result::Result<OwnedFd, i32> = File::open(ns_path)
        .map(OwnedFd::from)
        .map_err(|e| e.raw_os_error().unwrap_or(libc::ENOENT));
    // SAFETY: the closure only calls setns(2), which is async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || match &fd {
            Ok(fd) => {
                if libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            }
            Err(errno) => Err(io::Error::from_raw_os_error(*errno)),
        });
    }
    cmd
}

/// `ip netns exec <name> args...`: a fresh mount namespace with /etc/netns/<name>/* bound
/// over /etc, so resolv.conf points at the lab's resolver.
pub fn exec_command(name: &str, args: &[&str]) -> Result<Command> {
    let Some((program, rest)) = args.split_first() else {
        bail!("empty command")
    };
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", name, program]).args(rest);
    Ok(cmd)
}

/// Runs to completion with stdin closed; error (naming the command, with its output) unless
/// it exits 0. Returns stdout.
pub fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("spawn {}", describe(cmd)))?;
    check(cmd, out)
}

/// Like [`run`] but feeds `input` on stdin (for `ip -batch -` and `nft -f -`).
pub fn run_with_input(cmd: &mut Command, input: &str) -> Result<String> {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawn {}", describe(cmd)))?;
    // Small inputs only: written whole before reading, which a pipe buffer holds.
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    check(cmd, out).with_context(|| format!("input was:\n{input}"))
}

pub fn check(cmd: &Command, out: Output) -> Result<String> {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "`{}` failed ({}):\nstdout: {}\nstderr: {}",
            describe(cmd),
            out.status,
            stdout.trim_end(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(stdout)
}

pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
