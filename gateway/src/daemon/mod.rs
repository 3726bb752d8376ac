//! `officegate run`: the daemon's life. Start the services (`start.rs`: the datapath with
//! its pinned maps, so counters continue; the policy; the store; DNS, block page, API,
//! the WAN monitor), then wake every second, on SIGHUP (policy or settings changed), on SIGUSR1
//! (manual failback) — each wake runs the `Tick` (`tick.rs`: counters, statistics,
//! limits, the datapath plan) — until SIGINT/SIGTERM, then stop the services in order
//! (`Services::stop`).
//!
//! A policy that fails to load is logged with every error and the previous one stays in
//! force: a typo never opens or closes the office's internet (`source.rs`).
//!
//! Owns: the order things start and stop in. Must not own what a service does.

mod devices;
mod services;
mod settings;
mod source;
mod start;
mod tick;

use std::path::Path;

use tokio::signal::unix::{Signal, SignalKind, signal};

pub use tick::apply;

/// How often the daemon wakes: schedules and timed blocks move with the clock, newly
/// answered addresses of blocked names must reach the datapath within a second, and the
/// policy's files are checked for changes.
const TICK: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn run(config_path: &Path, clock: crate::clock::Clock) -> anyhow::Result<()> {
    // First of all: a SIGHUP's default action ends the process, and one can come while
    // the datapath attaches (a policy tool, logrotate). From here on it waits in the
    // stream until the loop reads it. Nothing is logged before this line.
    let mut signals = Signals::new()?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "officegate starting");
    if !clock.is_real() {
        tracing::warn!(now = %clock.now(), "policy clock set by --clock-start (tests and demos only)");
    }
    raise_open_files();
    let mut d = start::Daemon::start(config_path, clock).await?;
    let mut every = tokio::time::interval(TICK);
    // The datapath is attached and the services listen: ready, for systemd
    // (`Type=notify`) when it started us; nothing otherwise.
    tell(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status("filtering"),
    ]);
    tracing::info!("officegate ready: filtering");
    loop {
        match signals.wake(&mut every).await {
            Wake::Stop => break,
            Wake::Reload => {
                d.reload("SIGHUP");
                d.reload_settings("SIGHUP", true).await;
            }
            Wake::Failback => d.services.failback(),
            Wake::Tick => {
                d.reload_if_changed();
                d.reload_settings("file changed", false).await;
            }
        }
        d.tick();
        // From the loop that applies the policy: a daemon stuck anywhere in it stops
        // feeding the watchdog (`WatchdogSec`) and is restarted.
        tell(&[sd_notify::NotifyState::Watchdog]);
    }
    tell(&[sd_notify::NotifyState::Stopping]);
    d.stop().await;
    Ok(())
}

/// Lifts the soft limit of open files to the hard one: a service starts with 1,024, and
/// every DNS, block page and API connection takes one (the per-PC cap, `guard`, keeps
/// one PC from taking them all; the office's PCs together need more than 1,024).
fn raise_open_files() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::debug!(from = soft, to = hard, "open files limit raised"),
            Err(e) => tracing::warn!("open files limit stays at {soft}: {e}"),
        },
        Ok(_) => {}
        Err(e) => tracing::warn!("open files limit: {e}"),
    }
}

/// Tells the service manager (`$NOTIFY_SOCKET`) how the daemon is; a no-op when nothing
/// listens.
fn tell(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::debug!("service manager notification: {e}");
    }
}

/// Why the loop woke.
enum Wake {
    Stop,
    Reload,
    /// Manual failback (`failback = "manual"`): back to the best channel now.
    Failback,
    Tick,
}

struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
    usr1: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
        })
    }

    async fn wake(&mut self, every: &mut tokio::time::Interval) -> Wake {
        tokio::select! {
            _ = self.term.recv() => Wake::Stop,
            _ = self.int.recv() => Wake::Stop,
            _ = self.hup.recv() => Wake::Reload,
            _ = self.usr1.recv() => Wake::Failback,
            _ = every.tick() => Wake::Tick,
        }
    }
}
