//! The `officegate` command: the daemon (`run`) and tools around it.

use std::{net::IpAddr, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use gateway_common::PcState;
use officegate::{datapath::Maps, report};

/// mimalloc instead of glibc's malloc, for Rust and (its `override` feature) for SQLite's
/// own allocations: the statistics writer frees what the collectors allocated on other
/// threads, and glibc's arenas made that ~10% of its time (`_int_malloc`, `unlink_chunk`,
/// `_int_free` in a profile of `bench stats`); ingest went from 65–70k to 74k rows/s on
/// the same machine.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Office internet gateway.
///
/// Officegate runs on the one Linux machine an office reaches the internet through. An
/// eBPF/XDP datapath on the LAN interface counts every device's traffic to the byte and
/// drops what the policy blocks; a DNS filter answers the office's queries by group,
/// schedule and list; internet channels fail over to a backup; statistics, query logs and
/// an action history go to SQLite; an admin UI and API with roles, and a block page where
/// employees ask for access, are served beside it.
///
/// `officegate init` writes the settings for a machine; `officegate run` (the systemd
/// service `officegate`) is the daemon; the other commands read what it keeps or change
/// one thing at once.
#[derive(Parser)]
#[command(name = "officegate", version, after_long_help = officegate::manual::more_help())]
struct Cli {
    /// How log lines look: `human` (the default), or `json` — one object per line, for
    /// journald and log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: attach the datapath and serve until SIGINT/SIGTERM.
    ///
    /// Attaches the datapath to `[datapath] lan_interface` (taking over the programs a
    /// previous run left attached), applies the policy in `office.toml` beside the
    /// settings file, and starts what the settings turn on: the DNS filter, the block
    /// page, the admin API, the WAN monitor. Every second it counts, writes statistics,
    /// enforces limits and schedules, and re-reads changed files: a changed policy is
    /// loaded whole (a broken one is reported and the previous stays in force); changed
    /// `[dns]`, `[api]`, `[block_page]`, `[storage]` retention and `[devices]` settings
    /// apply at once; `[datapath]`, `[wan]`, `[names]`, `[alerts]` and `[storage] dir`
    /// are said to need a restart. Under systemd (`Type=notify`) it says ready once the
    /// datapath is attached and DNS answers, and feeds the watchdog from that loop.
    Run {
        /// The settings file; the policy (`office.toml`) is read from its directory.
        #[arg(long)]
        config: PathBuf,
        /// Start the policy clock at this instant (RFC 3339) and let it run from there:
        /// for tests and demos that cross a schedule boundary. Default: real time.
        #[arg(long)]
        clock_start: Option<jiff::Timestamp>,
    },
    /// Validate a policy directory (office.toml, the lists it names, and officegate.toml
    /// if present) or one daemon configuration file. Errors print as `file:line: message`.
    Check {
        /// A policy directory, or one settings file (`officegate.toml`).
        path: PathBuf,
    },
    /// Say whether a PC may reach a name at a time, and by which rule of which file.
    Explain {
        /// A PC's name or address.
        pc: String,
        /// The name it asks for.
        domain: String,
        /// When: RFC 3339 (`2026-11-26T10:00:00Z`) or local `2026-11-26 10:00` in the
        /// policy's time zone. Default: now.
        #[arg(long)]
        at: Option<String>,
        #[arg(long, default_value = "policies")]
        policy: PathBuf,
    },
    /// Per-PC counters from the pinned maps.
    Pcs {
        #[arg(long, default_value = "/sys/fs/bpf/officegate")]
        pin_dir: PathBuf,
        /// The policy directory, for the names of PCs and groups (without a loadable
        /// policy there: addresses and group numbers only).
        #[arg(long, default_value = "/etc/officegate")]
        policy: PathBuf,
        /// The DHCP lease file (`[names] dhcp_leases`), for PCs the policy lists by
        /// `hostname`.
        #[arg(long)]
        leases: Option<PathBuf>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Drops by reason and datapath events.
    Drops {
        #[arg(long, default_value = "/sys/fs/bpf/officegate")]
        pin_dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// The DNS query log, newest first.
    Queries {
        /// The daemon's configuration (for its storage directory).
        #[arg(long, default_value = "/etc/officegate/officegate.toml")]
        config: PathBuf,
        /// Only this client address.
        #[arg(long)]
        client: Option<String>,
        /// Only names containing this.
        #[arg(long)]
        name: Option<String>,
        /// Only this verdict: allowed, blocked, blocked_cname, failed.
        #[arg(long)]
        verdict: Option<String>,
        /// Only queries sent to another resolver and intercepted by the gateway.
        #[arg(long)]
        intercepted: bool,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Internet channels: state, latency, loss, the active one, recent events.
    Wan {
        #[command(subcommand)]
        command: WanCommand,
    },
    /// Users of the admin UI and API: add, list, remove, set a password.
    User {
        #[command(subcommand)]
        command: UserCommand,
        /// The daemon's configuration (for its storage directory).
        #[arg(long, default_value = "/etc/officegate/officegate.toml", global = true)]
        config: PathBuf,
    },
    /// Block, unblock or mark over quota one PC address, effective at once.
    PcState {
        address: IpAddr,
        #[arg(value_parser = ["allowed", "blocked", "over-quota"])]
        state: String,
        #[arg(long, default_value = "/sys/fs/bpf/officegate")]
        pin_dir: PathBuf,
    },
    /// Write settings for this machine: find its interfaces and routes, propose which is
    /// the LAN and which are the internet channels, check the kernel, print what it will
    /// write, then write `officegate.toml`, a starter `office.toml` (everyone in one
    /// `company` group with safe search, ads and bypass endpoints blocked) and its lists.
    Init(officegate::init::Options),
    /// Take the datapath off the interfaces: the programs stay attached while the daemon
    /// is stopped (so counting and blocking never pause); this removes their pinned
    /// links, and the rules that lead PCs' DNS and HTTP to the gateway. Run it with the
    /// daemon stopped. Counters (the pinned maps) stay.
    Detach {
        #[arg(long, default_value = "/sys/fs/bpf/officegate")]
        pin_dir: PathBuf,
    },
    /// Write the manual pages (roff): `officegate.8` and one `officegate-<command>.8` per
    /// command, from this help.
    #[command(hide = true)]
    Man {
        /// The directory to write them into.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from stdin with `--password-stdin`, otherwise
    /// generated and printed once.
    Add {
        name: String,
        #[arg(long, value_parser = ["admin", "auditor", "manager"])]
        role: String,
        /// For managers: the group whose subtree they see and manage.
        #[arg(long)]
        scope: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Every user with role and scope.
    List,
    /// Remove a user (and end their sessions).
    Del { name: String },
    /// Set a user's password (from stdin, or generated and printed); ends their sessions.
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum WanCommand {
    /// Each channel's state, latency, loss and traffic, the active one, and the last
    /// events, as the running daemon last published them.
    Status {
        /// The daemon's configuration (for its storage directory).
        #[arg(long, default_value = "/etc/officegate/officegate.toml")]
        config: PathBuf,
        #[arg(long)]
        json: bool,
        /// How many recent events to show.
        #[arg(long, default_value_t = 10)]
        events: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // hickory-server logs two info lines per query; the query log (SQLite) is where
        // queries go, so its chatter is cut to warnings.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(
                "info,hickory_server=warn,hickory_net=warn,hickory_proto=warn",
            )
        });
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        // Colours only on a terminal: the log files of the lab and of services stay plain.
        LogFormat::Human => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().with_current_span(false).init(),
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("officegate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run {
            config,
            clock_start,
        } => {
            let clock = clock_start
                .map(officegate::clock::Clock::starting_at)
                .unwrap_or_default();
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(officegate::daemon::run(&config, clock))
        }
        Command::Check { path } => officegate::cli::check(&path),
        Command::Explain {
            pc,
            domain,
            at,
            policy,
        } => officegate::cli::explain(&policy, &pc, &domain, at.as_deref()),
        Command::Pcs {
            pin_dir,
            policy,
            leases,
            json,
        } => {
            // Reading the leases makes `hostname` PCs known (`policy::bindings`).
            let _ = officegate::pcnames::PcNames::new(&officegate::pcnames::NamesConfig {
                dhcp_leases: leases,
            });
            let policy = match officegate::policy::load_dir(&policy) {
                Ok((p, _)) => Some(p),
                Err(_) => {
                    eprintln!(
                        "no policy loads from {}: groups shown by number (--policy DIR)",
                        policy.display()
                    );
                    None
                }
            };
            print!(
                "{}",
                report::pcs(&Maps::open(&pin_dir)?, json, policy.as_ref())
            );
            Ok(())
        }
        Command::Drops { pin_dir, json } => {
            print!("{}", report::drops(&Maps::open(&pin_dir)?, json));
            Ok(())
        }
        Command::Queries {
            config,
            client,
            name,
            verdict,
            intercepted,
            limit,
            offset,
            json,
        } => {
            let filter = officegate::store::QueryFilter {
                client,
                name,
                verdict,
                intercepted: intercepted.then_some(true),
                ..Default::default()
            };
            officegate::cli::queries(&config, &filter, limit, offset, json)
        }
        Command::Wan {
            command:
                WanCommand::Status {
                    config,
                    json,
                    events,
                },
        } => officegate::cli::wan_status(&config, json, events),
        Command::User { command, config } => {
            let dir = officegate::config::Config::load(&config)?.storage.dir;
            match command {
                UserCommand::Add {
                    name,
                    role,
                    scope,
                    password_stdin,
                } => {
                    officegate::cli::user_add(&dir, &name, &role, scope.as_deref(), password_stdin)
                }
                UserCommand::List => officegate::cli::user_list(&dir),
                UserCommand::Del { name } => officegate::cli::user_del(&dir, &name),
                UserCommand::Passwd {
                    name,
                    password_stdin,
                } => officegate::cli::user_passwd(&dir, &name, password_stdin),
            }
        }
        Command::Init(options) => officegate::init::run(&options),
        Command::Man { dir } => write_man(&dir),
        Command::Detach { pin_dir } => {
            use anyhow::Context as _;
            let n = officegate::datapath::links::detach_all(&pin_dir)
                .with_context(|| format!("removing the links pinned in {}", pin_dir.display()))?;
            use gateway_common::programs;
            let n = n + officegate::datapath::links::detach_netlink(&[
                programs::LAN_EGRESS,
                programs::WAN_EGRESS,
                programs::WAN_INGRESS,
            ]);
            for table in [
                officegate::bypass::TABLE,
                officegate::held::TABLE,
                officegate::guard::TABLE,
            ] {
                officegate::nft::remove_table_blocking(table)
                    .with_context(|| format!("removing the nftables table {table}"))?;
            }
            println!(
                "detached {n} program link(s); removed the bypass, held-device and connection-cap rules"
            );
            Ok(())
        }
        Command::PcState {
            address,
            state,
            pin_dir,
        } => {
            let state = match state.as_str() {
                "blocked" => PcState::Blocked,
                "over-quota" => PcState::OverQuota,
                _ => PcState::Allowed,
            };
            let mut maps = Maps::open(&pin_dir)?;
            if !maps.set_pc_state(address, state)? {
                anyhow::bail!("{address} is not a known PC address");
            }
            maps.bump_generation()?;
            if state == PcState::Allowed
                && let Some(d) = maps
                    .devices()
                    .into_iter()
                    .find(|d| d.addrs.contains(&address))
            {
                // Its HTTP no longer to the block page, at once.
                officegate::held::unlist_blocking(&d.macs);
            }
            Ok(())
        }
    }
}

/// `officegate man DIR`.
fn write_man(dir: &std::path::Path) -> anyhow::Result<()> {
    use clap::CommandFactory as _;
    officegate::manual::write(Cli::command(), dir)
}
