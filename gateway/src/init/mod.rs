//! `officegate init`: settings for the machine it runs on. It finds the interfaces and
//! routes (`detect.rs`), proposes the LAN (the interface with a private address and no
//! default route) and the internet channels (the default routes' interfaces, lowest
//! metric first), checks the kernel, prints what it will write, and — confirmed, or with
//! `--yes` for scripted installs — writes `officegate.toml`, a starter `office.toml` and
//! its lists (`render.rs`), checked by the same loaders the daemon uses before a byte is
//! written. Existing files are never overwritten without `--force`.
//!
//! Owns: the proposal and the writing. Must not: touch the network (it only reads).

use std::{
    io::{BufRead, IsTerminal, Write},
    net::IpAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};

pub mod detect;
pub mod render;

use render::{Settings, Wan};

/// What the admin asked for on the command line (`officegate init`'s flags).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// Where the files go.
    #[arg(long, default_value = "/etc/officegate")]
    pub dir: PathBuf,
    /// The LAN interface (default: the one with a private address and no default route).
    #[arg(long)]
    pub lan: Option<String>,
    /// An internet channel, `IF` or `IF=GATEWAY`; repeat for failover, primary first
    /// (default: the interfaces of the default routes).
    #[arg(long = "wan")]
    pub wans: Vec<String>,
    /// A DNS upstream (`9.9.9.9`, `tls://9.9.9.9#dns.quad9.net`, `https://…`); repeat for
    /// more (default: Quad9 over TLS, Cloudflare over HTTPS, Quad9).
    #[arg(long = "upstream")]
    pub upstreams: Vec<String>,
    /// A channel health probe (`icmp:ADDR`, `dns:ADDR`, `tcp:ADDR:PORT`); repeat for more
    /// (default: Quad9 and Cloudflare).
    #[arg(long = "probe")]
    pub probes: Vec<String>,
    /// Where the daemon keeps its database and downloaded lists.
    #[arg(long, default_value = "/var/lib/officegate")]
    pub state_dir: String,
    #[arg(long, default_value = "/sys/fs/bpf/officegate")]
    pub pin_dir: String,
    /// The policy's time zone (default: the machine's).
    #[arg(long)]
    pub time_zone: Option<String>,
    /// Write without asking (scripted installs).
    #[arg(long)]
    pub yes: bool,
    /// Replace files that exist.
    #[arg(long)]
    pub force: bool,
}

/// The example's upstreams: encrypted first, a plain one last.
const UPSTREAMS: [&str; 3] = [
    "tls://9.9.9.9#dns.quad9.net",
    "https://1.1.1.1#cloudflare-dns.com",
    "9.9.9.9",
];
const PROBES: [&str; 3] = ["icmp:9.9.9.9", "dns:1.1.1.1", "tcp:1.1.1.1:443"];

/// The proposal: settings, and what was found, as lines for the admin.
pub fn propose(
    opts: &Options,
    interfaces: &[detect::Interface],
    routes: &[detect::DefaultRoute],
    kernel: &detect::Kernel,
) -> anyhow::Result<(Settings, Vec<String>)> {
    let mut said = Vec::new();
    said.push(format!(
        "kernel {}: BTF {}, program links {}",
        kernel.release,
        if kernel.btf {
            "yes"
        } else {
            "MISSING (the datapath cannot load)"
        },
        if kernel.links {
            "yes (the datapath stays attached while the daemon is down)"
        } else {
            "no (before 6.6: the datapath detaches when the daemon stops)"
        }
    ));
    let exists = |name: &str| interfaces.iter().any(|i| i.name == name);
    let wans: Vec<Wan> = if opts.wans.is_empty() {
        let mut seen: Vec<Wan> = Vec::new();
        for r in routes {
            match seen.iter_mut().find(|w| w.interface == r.interface) {
                Some(w) if r.gateway.is_ipv6() => w.gateway6 = w.gateway6.or(Some(r.gateway)),
                Some(w) => w.gateway = w.gateway.or(Some(r.gateway)),
                None => seen.push(Wan {
                    interface: r.interface.clone(),
                    gateway: r.gateway.is_ipv4().then_some(r.gateway),
                    gateway6: r.gateway.is_ipv6().then_some(r.gateway),
                }),
            }
        }
        seen
    } else {
        opts.wans
            .iter()
            .map(|w| {
                let (interface, gateway) = match w.split_once('=') {
                    Some((i, g)) => (
                        i.to_string(),
                        Some(g.parse::<IpAddr>().with_context(|| format!("--wan {w}"))?),
                    ),
                    None => (w.clone(), None),
                };
                // A channel named without its next hop takes its default routes' (the
                // one the machine uses now), as the proposal would.
                let via = |v4: bool| {
                    routes
                        .iter()
                        .find(|r| r.interface == interface && r.gateway.is_ipv4() == v4)
                        .map(|r| r.gateway)
                };
                let (gateway, gateway6) = match gateway {
                    Some(g) if g.is_ipv4() => (Some(g), via(false)),
                    Some(g) => (via(true), Some(g)),
                    None => (via(true), via(false)),
                };
                if gateway.is_none() {
                    bail!(
                        "internet channel `{interface}`: no IPv4 next hop known (no default route \
                         through it); name it: {interface}=ADDRESS"
                    );
                }
                Ok(Wan {
                    gateway,
                    gateway6,
                    interface,
                })
            })
            .collect::<anyhow::Result<_>>()?
    };
    for w in &wans {
        if !exists(&w.interface) {
            bail!("internet channel `{}`: no such interface", w.interface);
        }
    }
    let is_wan = |name: &str| wans.iter().any(|w| w.interface == name);
    let lan = match &opts.lan {
        Some(l) if exists(l) => l.clone(),
        Some(l) => bail!("LAN interface `{l}`: no such interface"),
        None => interfaces
            .iter()
            .filter(|i| !is_wan(&i.name))
            .find(|i| i.addrs.iter().any(|(a, _)| detect::is_private(a)))
            .map(|i| i.name.clone())
            .with_context(|| {
                let names: Vec<String> = interfaces
                    .iter()
                    .map(|i| {
                        let a: Vec<String> =
                            i.addrs.iter().map(|(a, p)| format!("{a}/{p}")).collect();
                        format!("{} ({})", i.name, a.join(" "))
                    })
                    .collect();
                format!(
                    "no LAN interface found (one with a private address and no default \
                     route) among: {}; name it with --lan",
                    names.join(", ")
                )
            })?,
    };
    if is_wan(&lan) {
        bail!("`{lan}` cannot be both the LAN and an internet channel");
    }
    for i in interfaces {
        let role = if i.name == lan {
            "LAN (the office's PCs)".to_string()
        } else if let Some(n) = wans.iter().position(|w| w.interface == i.name) {
            let w = &wans[n];
            format!(
                "internet channel {} via {}",
                n + 1,
                w.gateway
                    .or(w.gateway6)
                    .map_or("(no gateway known)".to_string(), |g| g.to_string())
            )
        } else {
            "not used".to_string()
        };
        let addrs: Vec<String> = i.addrs.iter().map(|(a, p)| format!("{a}/{p}")).collect();
        said.push(format!(
            "{:<12} {role}; {}; carrier {}; driver {}",
            i.name,
            if addrs.is_empty() {
                "no address".to_string()
            } else {
                addrs.join(" ")
            },
            if i.carrier { "yes" } else { "NO" },
            i.driver.as_deref().unwrap_or("-"),
        ));
    }
    if wans.is_empty() {
        said.push("no internet channel found (no default route): the PCs' traffic goes wherever this machine routes it".into());
    }
    let lan_v4 = interfaces
        .iter()
        .find(|i| i.name == lan)
        .and_then(|i| i.addrs.iter().map(|(a, _)| *a).find(IpAddr::is_ipv4));
    let pick = |given: &[String], default: &[&str]| {
        if given.is_empty() {
            default.iter().map(|s| s.to_string()).collect()
        } else {
            given.to_vec()
        }
    };
    let mut token = [0u8; 24];
    getrandom::fill(&mut token).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok((
        Settings {
            lan,
            lan_v4,
            wans,
            upstreams: pick(&opts.upstreams, &UPSTREAMS),
            probes: pick(&opts.probes, &PROBES),
            state_dir: opts.state_dir.clone(),
            pin_dir: opts.pin_dir.clone(),
            token: hex::encode(token),
        },
        said,
    ))
}

/// The machine's time zone (`/etc/timezone`, else the zone `/etc/localtime` links to),
/// else UTC.
fn time_zone() -> String {
    if let Ok(t) = std::fs::read_to_string("/etc/timezone")
        && jiff::tz::TimeZone::get(t.trim()).is_ok()
    {
        return t.trim().to_string();
    }
    jiff::tz::TimeZone::system()
        .iana_name()
        .unwrap_or("UTC")
        .to_string()
}

/// `officegate init`.
pub fn run(opts: &Options) -> anyhow::Result<()> {
    let (interfaces, routes, kernel) = (
        detect::interfaces(),
        detect::default_routes(),
        detect::kernel(),
    );
    // On a terminal, without --yes: the proposal is shown and each choice asked, the
    // proposal's answer being the default (Enter keeps it).
    let interactive = !opts.yes && std::io::stdin().is_terminal();
    let mut opts = opts.clone();
    let mut proposed = propose(&opts, &interfaces, &routes, &kernel);
    let (settings, said) = if !interactive {
        proposed?
    } else {
        loop {
            let (lan, wans) = match &proposed {
                Ok((s, said)) => {
                    print_found(said);
                    let wans: Vec<String> = s.wans.iter().map(Wan::flag).collect();
                    (s.lan.clone(), wans.join(" "))
                }
                Err(e) => {
                    println!("{e:#}");
                    (String::new(), opts.wans.join(" "))
                }
            };
            let new_lan = ask(&format!("LAN interface, the office's PCs' side [{lan}]: "))?;
            let new_wans = ask(&format!(
                "Internet channels, primary first, IF or IF=GATEWAY separated by spaces [{wans}]: "
            ))?;
            if !new_lan.is_empty() {
                opts.lan = Some(new_lan.clone());
            }
            if !new_wans.is_empty() {
                opts.wans = new_wans.split_whitespace().map(String::from).collect();
            }
            let changed = !(new_lan.is_empty() && new_wans.is_empty());
            if changed {
                proposed = propose(&opts, &interfaces, &routes, &kernel);
            }
            // Taken as it stands (Enter), or as changed — shown once more — when it holds;
            // asked again when it does not.
            match proposed {
                Ok((s, said)) => {
                    if changed {
                        print_found(&said);
                    }
                    break (s, said);
                }
                Err(e) => proposed = Err(e),
            }
        }
    };
    let tz = match opts.time_zone.clone() {
        Some(tz) => tz,
        None if interactive => loop {
            let found = time_zone();
            let tz = ask(&format!("Time zone of the office's schedules [{found}]: "))?;
            if tz.is_empty() {
                break found;
            }
            if jiff::tz::TimeZone::get(&tz).is_ok() {
                break tz;
            }
            println!("`{tz}` is not a time zone this machine knows (e.g. Europe/Berlin)");
        },
        None => time_zone(),
    };
    let files: Vec<(PathBuf, String)> = [
        ("officegate.toml", render::officegate_toml(&settings)),
        ("office.toml", render::office_toml(&tz)),
    ]
    .into_iter()
    .chain(render::LISTS.map(|(p, t)| (p, t.to_string())))
    .map(|(p, t)| (opts.dir.join(p), t))
    .collect();
    if !interactive {
        print_found(&said);
    }
    println!("Will write:");
    for (p, _) in &files {
        let note = if p.exists() {
            " (exists: kept unless --force)"
        } else {
            ""
        };
        println!("  {}{note}", p.display());
    }
    check(&opts.dir, &files)?;
    let taken: Vec<&PathBuf> = files
        .iter()
        .map(|(p, _)| p)
        .filter(|p| p.exists())
        .collect();
    if !taken.is_empty() && !opts.force {
        bail!(
            "{} exists already: nothing written (--force replaces it)",
            taken[0].display()
        );
    }
    if !opts.yes {
        if !std::io::stdin().is_terminal() {
            bail!("not a terminal: run with --yes to write these files");
        }
        if !ask("Write them? [y/N] ")?.eq_ignore_ascii_case("y") {
            bail!("nothing written");
        }
    }
    for (p, text) in &files {
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    println!(
        "Written. Start it: systemctl enable --now officegate (or: officegate run --config {}).",
        opts.dir.join("officegate.toml").display()
    );
    if let Some(a) = settings.lan_v4 {
        println!("The admin UI: http://{a}:8080/ — the first start logs the password of `admin`.");
    }
    Ok(())
}

fn print_found(said: &[String]) {
    println!("Found:");
    for l in said {
        println!("  {l}");
    }
}

/// Asks on the terminal; the answer's line, trimmed (empty: the default). A closed
/// input is an error, not a silent default. Plain lines rather than a prompt library:
/// what the admin types is echoed as typed, and a script can answer through a pty.
fn ask(question: &str) -> anyhow::Result<String> {
    print!("{question}");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer)? == 0 {
        bail!("no answer (input closed): nothing written");
    }
    Ok(answer.trim().to_string())
}

/// Loads what would be written, from a scratch copy, with the daemon's own loaders.
fn check(dir: &Path, files: &[(PathBuf, String)]) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir().context("a scratch directory")?;
    for (p, text) in files {
        let rel = p.strip_prefix(dir).unwrap_or(p);
        let to = scratch.path().join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&to, text)?;
    }
    crate::config::Config::load(&scratch.path().join("officegate.toml"))
        .context("the settings it would write do not load (a bug: please report it)")?;
    crate::policy::load_dir(scratch.path()).map_err(|errors| {
        anyhow::anyhow!(
            "the policy it would write does not load (a bug: please report it): {}",
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests;
