//! The daemon's configuration file (TOML). Unknown fields are rejected everywhere, every
//! field's default is stated on it, and `version` exists from day one so the format can
//! change without guessing.
//!
//! This file (`officegate.toml`) holds the daemon's settings. Who may reach what — PCs,
//! groups, rules — is the policy (`office.toml` in the same directory, see `policy`).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::{
    datapath::{AttachMode, TcHook},
    parse::{line_at, parse_net},
};

pub const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format version. Required; only `1` exists.
    pub version: u32,
    pub datapath: DatapathConfig,
    /// The DNS filter. Default: off (no `[dns]` table).
    #[serde(default)]
    pub dns: Option<DnsConfig>,
    /// Internet channels and failover. Default: off (routes are left alone).
    #[serde(default)]
    pub wan: Option<crate::wan::WanConfig>,
    #[serde(default)]
    pub storage: StorageConfig,
    /// The admin API and `/metrics`. Default: off.
    #[serde(default)]
    pub api: Option<crate::api::ApiConfig>,
    /// Chosen events POSTed as JSON to a webhook. Default: off.
    #[serde(default)]
    pub alerts: Option<crate::alerts::AlertsConfig>,
    /// Where names of PCs the policy does not list come from. Default: their addresses.
    #[serde(default)]
    pub names: crate::pcnames::NamesConfig,
    /// Devices the datapath meets. Default: forgotten after 7 days unused.
    #[serde(default)]
    pub devices: DevicesConfig,
    /// The page employees see for a blocked site, and their access requests. Default: on,
    /// on the LAN addresses, port 80.
    #[serde(default)]
    pub block_page: crate::blockpage::BlockPageConfig,
}

/// `[devices]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesConfig {
    /// Seconds after which a device the policy does not list, whose counters stood still
    /// that long, is forgotten (its slot goes back for new devices; its history stays),
    /// and after which an address no new connection used is dropped from its device (a
    /// listed address never is). Address and MAC churn can so never fill the datapath's
    /// tables. Default 604800 (7 days).
    #[serde(default = "default_forget_after")]
    pub forget_after_s: u32,
}

impl Default for DevicesConfig {
    fn default() -> Self {
        DevicesConfig {
            forget_after_s: default_forget_after(),
        }
    }
}

fn default_forget_after() -> u32 {
    7 * 24 * 3600
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Where the database (`officegate.db`) and state files live. Default:
    /// `/var/lib/officegate`.
    #[serde(default = "default_storage_dir")]
    pub dir: PathBuf,
    /// Seconds between two reads of the datapath's per-flow counters (sites per PC).
    /// Default 10.
    #[serde(default = "default_flow_interval")]
    pub flow_interval_s: u64,
    /// Days each resolution of the statistics is kept (0: forever). Defaults: minutes 7,
    /// hours 90, days 1095 (three years), the DNS query log 30, events 365.
    #[serde(default = "default_keep_minutes")]
    pub keep_minutes_days: u32,
    #[serde(default = "default_keep_hours")]
    pub keep_hours_days: u32,
    #[serde(default = "default_keep_days")]
    pub keep_days_days: u32,
    #[serde(default = "default_keep_queries")]
    pub keep_queries_days: u32,
    #[serde(default = "default_keep_events")]
    pub keep_events_days: u32,
    /// Days the admins' action history is kept. Default 1095 (three years).
    #[serde(default = "default_keep_days")]
    pub keep_actions_days: u32,
    /// Days an access request is kept after it was last filed or decided. Default 365.
    #[serde(default = "default_keep_events")]
    pub keep_requests_days: u32,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            dir: default_storage_dir(),
            flow_interval_s: default_flow_interval(),
            keep_minutes_days: default_keep_minutes(),
            keep_hours_days: default_keep_hours(),
            keep_days_days: default_keep_days(),
            keep_queries_days: default_keep_queries(),
            keep_events_days: default_keep_events(),
            keep_actions_days: default_keep_days(),
            keep_requests_days: default_keep_events(),
        }
    }
}

impl StorageConfig {
    pub fn retention(&self) -> crate::store::Retention {
        crate::store::Retention {
            minutes_days: self.keep_minutes_days,
            hours_days: self.keep_hours_days,
            days_days: self.keep_days_days,
            queries_days: self.keep_queries_days,
            events_days: self.keep_events_days,
            actions_days: self.keep_actions_days,
            requests_days: self.keep_requests_days,
            sessions_idle_ms: crate::auth::SESSION_IDLE_MS,
        }
    }
}

fn default_flow_interval() -> u64 {
    10
}
fn default_keep_minutes() -> u32 {
    7
}
fn default_keep_hours() -> u32 {
    90
}
fn default_keep_days() -> u32 {
    1095
}
fn default_keep_queries() -> u32 {
    30
}
fn default_keep_events() -> u32 {
    365
}

fn default_storage_dir() -> PathBuf {
    PathBuf::from("/var/lib/officegate")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// Upstream resolvers, tried in order: `IP[:port]` (plain DNS; TCP when an answer is
    /// truncated), `tls://IP[:port]#name` (DNS over TLS, port 853), or
    /// `https://IP[:port][/path]#name` (DNS over HTTPS, port 443, path `/dns-query`).
    /// Required, at least one.
    pub upstreams: Vec<String>,
    /// A PEM file of extra root certificates for TLS/HTTPS upstreams (a company CA), on
    /// top of Mozilla's. Default: none.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Addresses to answer on. Default: every address of the LAN interface, port 53.
    #[serde(default)]
    pub listen: Vec<SocketAddr>,
    /// Networks allowed to ask, as `10.10.0.0/24`. Default: the LAN interface's networks.
    /// Anyone else gets REFUSED: the gateway is never an open resolver.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Answers kept in the cache; an answer counts once per 512 bytes it holds, so this
    /// bounds the cache's memory too (about 50 MB at the default). Default: 50,000.
    #[serde(default = "default_cache")]
    pub cache_entries: u64,
    /// Queries per second one device may send (with bursts of `rate_limit_burst`), all its
    /// addresses together; beyond that it gets REFUSED. 0: no limit. Default: 200 per second, bursts of 1,000.
    #[serde(default = "default_rate")]
    pub rate_limit_qps: u32,
    #[serde(default = "default_burst")]
    pub rate_limit_burst: u32,
    /// Refuse answers that point a public name at a private address (10/8, 192.168/16,
    /// fc00::/7, loopback, link-local…). Default: true.
    #[serde(default = "default_true")]
    pub rebinding_protection: bool,
    /// Domains (with their subdomains) allowed to answer private addresses: the company's
    /// own. `*.lan`, `*.local`, `*.home.arpa`, `*.internal`, `localhost` always are.
    /// Default: none.
    #[serde(default)]
    pub rebinding_allow: Vec<String>,
    /// DNS a PC sends through the gateway to any other resolver (UDP and TCP port 53):
    /// `answer` — the gateway's filter answers it, and the PC sees the answer come from the
    /// server it asked; `refuse` — answered REFUSED; `off` — passed on untouched. Answered
    /// or refused, it is counted and logged as intercepted. Default: answer.
    #[serde(default)]
    pub intercept: Intercept,
    /// The gateway's port intercepted queries are redirected to (on the DNS filter's
    /// addresses), so the filter knows them from queries asked of it. Default: 10053.
    #[serde(default = "default_intercept_port")]
    pub intercept_port: u16,
    /// DNS over TLS and DNS over QUIC (port 853, TCP and UDP) from the LAN to any server:
    /// `refuse` — a TCP reset or an ICMP administratively-prohibited at once, so the PC
    /// falls back to plain DNS, which is intercepted; `allow`. Default: refuse.
    #[serde(default)]
    pub encrypted_dns: EncryptedDns,
}

/// `[dns] intercept`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Intercept {
    #[default]
    Answer,
    Refuse,
    Off,
}

/// `[dns] encrypted_dns`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncryptedDns {
    #[default]
    Refuse,
    Allow,
}

fn default_intercept_port() -> u16 {
    10053
}

fn default_cache() -> u64 {
    50_000
}
fn default_rate() -> u32 {
    200
}
fn default_burst() -> u32 {
    1_000
}
fn default_true() -> bool {
    true
}

impl DnsConfig {
    /// The upstreams, parsed.
    pub fn upstream_specs(&self) -> Result<Vec<crate::dns::UpstreamSpec>, String> {
        self.upstreams
            .iter()
            .map(|u| u.parse().map_err(|e| format!("[dns] upstreams: {e}")))
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatapathConfig {
    /// The interface towards the office LAN. Required.
    pub lan_interface: String,
    /// `native`, `generic` or `auto`. Default: `auto`.
    #[serde(default = "default_mode")]
    pub xdp_mode: AttachMode,
    /// Where the TC programs attach (the LAN's download side, the WAN counters): `tcx`
    /// (Linux 6.6), `netlink` (the older `clsact` hook) or `auto` (TCX where the kernel
    /// has it). Either way they stay attached while the daemon is down. Default: `auto`.
    #[serde(default = "default_tc_hook")]
    pub tc_hook: TcHook,
    /// bpffs directory where maps are pinned. Default: `/sys/fs/bpf/officegate`.
    #[serde(default = "default_pin_dir")]
    pub pin_dir: PathBuf,
}

fn default_mode() -> AttachMode {
    AttachMode::Auto
}

fn default_tc_hook() -> TcHook {
    TcHook::Auto
}

fn default_pin_dir() -> PathBuf {
    PathBuf::from("/sys/fs/bpf/officegate")
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            line: e.span().map(|s| line_at(text, s.start)).unwrap_or(0),
            message: e.message().to_string(),
        })?;
        if let Some(dns) = &config.dns {
            let problem = match dns.upstream_specs() {
                Err(e) => Some(e),
                Ok(u) if u.is_empty() => Some("[dns] needs at least one upstream".to_string()),
                Ok(_) if dns.intercept_port == 53 || dns.intercept_port == 0 => Some(
                    "[dns] intercept_port must be a port other than 53 (and not 0)".to_string(),
                ),
                Ok(_) => dns.allow.iter().find_map(|n| {
                    parse_net(n)
                        .err()
                        .map(|e| format!("[dns] allow `{n}`: {e}"))
                }),
            };
            if let Some(message) = problem {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message,
                });
            }
        }
        if let Some(wan) = &config.wan
            && let Err(message) = wan.validate()
        {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            });
        }
        if let Some(api) = &config.api
            && let Err(message) = api.validate()
        {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            });
        }
        if let Some(alerts) = &config.alerts
            && let Err(message) = alerts.validate()
        {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            });
        }
        if config.version != VERSION {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "version {} is not supported (expected {VERSION})",
                    config.version
                ),
            });
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../policies/officegate.toml");

    #[test]
    fn example_config_loads() {
        let c = Config::parse(Path::new("officegate.toml"), EXAMPLE).expect("example is valid");
        assert_eq!(c.datapath.lan_interface, "lan0");
        let wan = c.wan.expect("the example has channels");
        assert_eq!(wan.channels.len(), 2);
        assert_eq!(wan.table_of(1), 102);
    }

    #[test]
    fn wan_channels_are_checked() {
        let bad_probe = EXAMPLE.replacen("icmp:", "ping:", 1);
        let err = Config::parse(Path::new("x.toml"), &bad_probe).unwrap_err();
        assert!(err.to_string().contains("unknown probe kind"), "{err}");
        let twice = EXAMPLE.replace("name = \"backup\"", "name = \"primary\"");
        let err = Config::parse(Path::new("x.toml"), &twice).unwrap_err();
        assert!(err.to_string().contains("used twice"), "{err}");
    }

    #[test]
    fn unknown_fields_are_rejected_everywhere() {
        // Inject an unknown key into each table of the example; each must fail.
        for table in [
            "",
            "[datapath]",
            "[dns]",
            "[wan]",
            "[[wan.channels]]",
            "[storage]",
        ] {
            let text = if table.is_empty() {
                format!("bogus = 1\n{EXAMPLE}")
            } else {
                EXAMPLE.replacen(table, &format!("{table}\nbogus = 1"), 1)
            };
            let err = Config::parse(Path::new("x.toml"), &text).expect_err(table);
            assert!(err.to_string().contains("bogus"), "{table}: {err}");
        }
    }

    #[test]
    fn an_unknown_field_at_column_0_names_its_own_line() {
        let text = "version = 1\n[datapath]\nbogus = 1\nlan_interface = \"lan0\"\n";
        let err = Config::parse(Path::new("x.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.toml:3:"), "{err}");
    }

    #[test]
    fn errors_name_the_line() {
        let text = "version = 1\n[datapath]\nlan_interface = 5\n";
        let err = Config::parse(Path::new("x.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.toml:3:"), "{err}");
    }

    #[test]
    fn nets() {
        assert_eq!(parse_net("10.0.0.0/8").unwrap().1, 8);
        assert_eq!(parse_net("203.0.113.7").unwrap().1, 32);
        assert_eq!(parse_net("2001:db8::/32").unwrap().1, 32);
        assert!(parse_net("10.0.0.1/8").is_err());
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("nope").is_err());
    }
}
