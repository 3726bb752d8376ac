//! unbound configs. There is no internet, so nothing recurses: a `redirect` local zone on "."
//! answers every name with the catch-all address, and one redirect zone per lab site answers
//! the site and all its subdomains. Only the iterator module is loaded and no trust anchor is
//! configured, so unbound never tries to fetch root hints or keys.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::{addr, tls};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The upstream resolver, plain DNS on 53 (UDP+TCP).
    Resolver,
    /// The DoT (853) and DoH (443, /dns-query) resolver employees might use to bypass the
    /// gateway; also plain 53.
    Bypass,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Resolver => "unbound-resolver",
            Kind::Bypass => "unbound-bypass",
        }
    }
}

pub fn write_config(dir: &Path, kind: Kind) -> Result<PathBuf> {
    let path = dir.join(format!("{}.conf", kind.name()));
    std::fs::write(&path, config(dir, kind))
        .with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

fn config(dir: &Path, kind: Kind) -> String {
    let d = dir.display();
    let mut c = String::from("server:\n");
    match kind {
        Kind::Resolver => {
            let _ = writeln!(c, "  interface: {}@53", addr::RESOLVER_V4);
            let _ = writeln!(c, "  interface: {}@53", addr::RESOLVER_V6);
        }
        Kind::Bypass => {
            for port in [53, addr::DOT_PORT, addr::DOH_PORT] {
                let _ = writeln!(c, "  interface: {}@{port}", addr::DOH_V4);
                let _ = writeln!(c, "  interface: {}@{port}", addr::DOH_V6);
            }
            // Advertises more than the usual 1,232 bytes, as some public resolvers do: the
            // gateway must still cap what it sends its clients over UDP.
            let _ = writeln!(c, "  edns-buffer-size: 4096");
            // unbound picks TLS / HTTPS per listener by matching these ports.
            let _ = writeln!(c, "  tls-port: {}", addr::DOT_PORT);
            let _ = writeln!(c, "  https-port: {}", addr::DOH_PORT);
            let _ = writeln!(c, "  http-endpoint: \"{}\"", addr::DOH_PATH);
            let _ = writeln!(
                c,
                "  tls-service-key: \"{}\"",
                tls::server_key(dir).display()
            );
            let _ = writeln!(
                c,
                "  tls-service-pem: \"{}\"",
                tls::server_cert(dir).display()
            );
        }
    }
    let _ = write!(
        c,
        "  do-daemonize: no
  username: \"\"
  chroot: \"\"
  directory: \"{d}\"
  pidfile: \"{d}/{name}.pid\"
  use-syslog: no
  logfile: \"\"
  log-time-ascii: yes
  verbosity: 1
  num-threads: 1
  module-config: \"iterator\"
  do-ip4: yes
  do-ip6: yes
  do-udp: yes
  do-tcp: yes
  access-control: 0.0.0.0/0 allow
  access-control: ::/0 allow
  local-zone: \".\" redirect
  local-data: \". 60 IN A {ca4}\"
  local-data: \". 60 IN AAAA {ca6}\"
",
        name = kind.name(),
        ca4 = addr::CATCH_ALL_V4,
        ca6 = addr::CATCH_ALL_V6,
    );
    let mut named: Vec<(&str, std::net::Ipv4Addr, std::net::Ipv6Addr)> =
        addr::SITES.iter().map(|s| (s.name, s.v4, s.v6)).collect();
    named.push((addr::DOH_NAME, addr::DOH_V4, addr::DOH_V6));
    named.push((addr::DOH_LISTED_NAME, addr::DOH_V4, addr::DOH_V6));
    for (name, v4, v6) in named {
        let _ = writeln!(c, "  local-zone: \"{name}.\" redirect");
        let _ = writeln!(c, "  local-data: \"{name}. 60 IN A {v4}\"");
        let _ = writeln!(c, "  local-data: \"{name}. 60 IN AAAA {v6}\"");
    }
    // Names answering private addresses, for the gateway's rebinding protection (A only).
    for (name, v4) in [
        (addr::REBIND_NAME, addr::REBIND_V4),
        (addr::INTRANET_NAME, addr::INTRANET_V4),
    ] {
        let _ = writeln!(c, "  local-zone: \"{name}.\" redirect");
        let _ = writeln!(c, "  local-data: \"{name}. 60 IN A {v4}\"");
    }
    for (name, v6) in [
        (addr::REBIND_NAT64_NAME, addr::REBIND_NAT64_V6),
        (addr::REBIND_OWN_V6_NAME, addr::REBIND_OWN_V6),
    ] {
        let _ = writeln!(c, "  local-zone: \"{name}.\" redirect");
        let _ = writeln!(c, "  local-data: \"{name}. 60 IN AAAA {v6}\"");
    }
    let _ = writeln!(c, "  local-zone: \"{}.\" static", addr::BIG_NAME);
    for i in 0..20 {
        let _ = writeln!(
            c,
            "  local-data: '{}. 60 IN TXT \"{i:02}{}\"'",
            addr::BIG_NAME,
            "x".repeat(198)
        );
    }
    if kind == Kind::Bypass {
        let _ = writeln!(c, "  local-zone: \"{}.\" transparent", addr::SLOW_NAME);
        let _ = writeln!(
            c,
            "stub-zone:\n  name: \"{}.\"\n  stub-addr: {}@{}",
            addr::SLOW_NAME,
            addr::DOH_V4,
            addr::SLOW_PORT
        );
    }
    c.push_str("remote-control:\n  control-enable: no\n");
    c
}
