//! The wiring: namespaces, veths, the bridge, addresses, routes, sysctls, offloads, the
//! gateway's NAT and each namespace's resolv.conf. Services are `services`' job.
//!
//! Veths are created directly inside namespaces (`ip -n A link add X ... peer name Y netns
//! B`), so interface names never pass through the host's namespace and two labs can use the
//! same names at once. Each namespace is configured with one `ip -batch` to keep start-up fast.

use std::fmt::Write as _;

use anyhow::{Context, Result};

use crate::addr::{self, mac_string};
use crate::{Lab, Role, names, netns};

pub fn build(lab: &mut Lab) -> Result<()> {
    for role in lab.roles() {
        let ns = lab.ns(role);
        netns::add(&ns)?;
        lab.namespaces.push(ns);
    }
    for role in lab.roles() {
        sysctls(lab, role)?;
    }
    for role in lab.roles() {
        ip_batch(lab, role, &links(lab, role))?;
    }
    for role in lab.roles() {
        ip_batch(lab, role, &config(lab, role))?;
        offloads_off(lab, role)?;
    }
    nat(lab)?;
    resolv_conf(lab)
}

/// Set before any interface exists, so every interface inherits `default.*`: no DAD (addresses
/// usable at once), no RA/RS (a quiet lab whose counters tests can reason about).
fn sysctls(lab: &Lab, role: Role) -> Result<()> {
    let mut keys = vec![
        "net.ipv6.conf.all.accept_dad=0",
        "net.ipv6.conf.default.accept_dad=0",
        "net.ipv6.conf.all.accept_ra=0",
        "net.ipv6.conf.default.accept_ra=0",
        "net.ipv6.conf.all.router_solicitations=0",
        "net.ipv6.conf.default.router_solicitations=0",
        // MLD reports for the solicited-node groups are unavoidable, but their repeats would
        // trickle out for seconds (1 s interval); 10 ms finishes them before `up` returns.
        "net.ipv6.conf.all.mldv1_unsolicited_report_interval=10",
        "net.ipv6.conf.default.mldv1_unsolicited_report_interval=10",
        "net.ipv6.conf.all.mldv2_unsolicited_report_interval=10",
        "net.ipv6.conf.default.mldv2_unsolicited_report_interval=10",
        // Failover tests route asymmetrically for a moment; strict rp_filter would drop that.
        "net.ipv4.conf.all.rp_filter=0",
        "net.ipv4.conf.default.rp_filter=0",
        // A link taken down by a failover test must come back with its IPv6 addresses.
        "net.ipv6.conf.all.keep_addr_on_down=1",
        "net.ipv6.conf.default.keep_addr_on_down=1",
    ];
    match role {
        Role::Gateway | Role::IspPrimary | Role::IspBackup => {
            keys.extend(["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]);
        }
        // A pure L2 switch: no addresses of its own, and bridged frames must not be
        // diverted through netfilter if the host loaded br_netfilter (keys absent otherwise,
        // hence `-e`).
        Role::Switch => keys.extend([
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
            "net.bridge.bridge-nf-call-iptables=0",
            "net.bridge.bridge-nf-call-ip6tables=0",
            "net.bridge.bridge-nf-call-arptables=0",
        ]),
        _ => {}
    }
    let mut cmd = lab.command(role, "sysctl");
    cmd.args(["-q", "-e", "-w"]).args(&keys);
    netns::run(&mut cmd).map(drop)
}

/// Links created from `role`'s side (each veth once, from one end).
fn links(lab: &Lab, role: Role) -> String {
    let mut b = String::new();
    let sw = lab.ns(Role::Switch);
    let inet = lab.ns(Role::Internet);
    match role {
        Role::Switch => {
            let _ = writeln!(
                b,
                "link add {} type bridge stp_state 0 mcast_snooping 0",
                addr::SWITCH_BRIDGE
            );
        }
        Role::Gateway => {
            let _ = writeln!(
                b,
                "link add {} address {} type veth peer name {} netns {sw}",
                addr::LAN_IF,
                mac_string(addr::GW_LAN_MAC),
                addr::SWITCH_PORT_GW
            );
            for (wan, isp) in [
                (addr::WAN_PRIMARY_IF, Role::IspPrimary),
                (addr::WAN_BACKUP_IF, Role::IspBackup),
            ] {
                let _ = writeln!(
                    b,
                    "link add {wan} type veth peer name {} netns {}",
                    addr::ISP_DOWN_IF,
                    lab.ns(isp)
                );
            }
        }
        Role::Pc(i) => {
            let _ = writeln!(
                b,
                "link add {} address {} type veth peer name {} netns {sw}",
                addr::PC_IF,
                mac_string(addr::pc_mac(i)),
                addr::switch_port_pc(i)
            );
        }
        Role::IspPrimary | Role::IspBackup => {
            let peer = if role == Role::IspPrimary {
                addr::INET_ISP1_IF
            } else {
                addr::INET_ISP2_IF
            };
            let _ = writeln!(
                b,
                "link add {} type veth peer name {peer} netns {inet}",
                addr::ISP_UP_IF
            );
        }
        // Service addresses go on lo (see `addr::INET_SVC_IF`): nothing to create.
        Role::Internet => {}
    }
    b
}

/// Addresses, link state and routes of `role`, once every link exists.
fn config(lab: &Lab, role: Role) -> String {
    let mut b = String::from("link set lo up\n");
    // `nodad` on v6 addresses: usable at once, even if the sysctl default was missed.
    let addr4 = |b: &mut String, ip: &dyn std::fmt::Display, len: u8, dev: &str| {
        let _ = writeln!(b, "addr add {ip}/{len} dev {dev}");
    };
    let addr6 = |b: &mut String, ip: &dyn std::fmt::Display, len: u8, dev: &str| {
        let _ = writeln!(b, "addr add {ip}/{len} dev {dev} nodad");
    };
    let up = |b: &mut String, dev: &str| {
        let _ = writeln!(b, "link set {dev} up");
    };
    let route = |b: &mut String, dst: &str, via: &dyn std::fmt::Display| {
        let _ = writeln!(b, "route add {dst} via {via}");
    };
    match role {
        Role::Switch => {
            let mut ports = vec![addr::SWITCH_PORT_GW.to_string()];
            ports.extend((1..=lab.pcs).map(addr::switch_port_pc));
            for p in &ports {
                let _ = writeln!(b, "link set {p} master {}", addr::SWITCH_BRIDGE);
                up(&mut b, p);
            }
            up(&mut b, addr::SWITCH_BRIDGE);
        }
        Role::Gateway => {
            addr4(
                &mut b,
                &addr::GW_LAN_V4,
                addr::LAN_PREFIX_LEN_V4,
                addr::LAN_IF,
            );
            addr6(
                &mut b,
                &addr::GW_LAN_V6,
                addr::LAN_PREFIX_LEN_V6,
                addr::LAN_IF,
            );
            addr4(
                &mut b,
                &addr::GW_WAN_PRIMARY_V4,
                addr::WAN_PREFIX_LEN_V4,
                addr::WAN_PRIMARY_IF,
            );
            addr6(
                &mut b,
                &addr::GW_WAN_PRIMARY_V6,
                addr::WAN_PREFIX_LEN_V6,
                addr::WAN_PRIMARY_IF,
            );
            addr4(
                &mut b,
                &addr::GW_WAN_BACKUP_V4,
                addr::WAN_PREFIX_LEN_V4,
                addr::WAN_BACKUP_IF,
            );
            addr6(
                &mut b,
                &addr::GW_WAN_BACKUP_V6,
                addr::WAN_PREFIX_LEN_V6,
                addr::WAN_BACKUP_IF,
            );
            for dev in [addr::LAN_IF, addr::WAN_PRIMARY_IF, addr::WAN_BACKUP_IF] {
                up(&mut b, dev);
            }
            // Primary only; failover is the daemon's (or a test's) business.
            route(&mut b, "default", &addr::ISP1_DOWN_V4);
            route(&mut b, "default", &addr::ISP1_DOWN_V6);
        }
        Role::Pc(i) => {
            addr4(
                &mut b,
                &addr::pc_v4(i),
                addr::LAN_PREFIX_LEN_V4,
                addr::PC_IF,
            );
            addr6(
                &mut b,
                &addr::pc_v6(i),
                addr::LAN_PREFIX_LEN_V6,
                addr::PC_IF,
            );
            up(&mut b, addr::PC_IF);
            route(&mut b, "default", &addr::GW_LAN_V4);
            route(&mut b, "default", &addr::GW_LAN_V6);
        }
        Role::IspPrimary | Role::IspBackup => {
            let primary = role == Role::IspPrimary;
            let (d4, d6) = if primary {
                (addr::ISP1_DOWN_V4, addr::ISP1_DOWN_V6)
            } else {
                (addr::ISP2_DOWN_V4, addr::ISP2_DOWN_V6)
            };
            let (u4, u6, i4, i6) = if primary {
                (
                    addr::ISP1_UP_V4,
                    addr::ISP1_UP_V6,
                    addr::INET_ISP1_V4,
                    addr::INET_ISP1_V6,
                )
            } else {
                (
                    addr::ISP2_UP_V4,
                    addr::ISP2_UP_V6,
                    addr::INET_ISP2_V4,
                    addr::INET_ISP2_V6,
                )
            };
            addr4(&mut b, &d4, addr::WAN_PREFIX_LEN_V4, addr::ISP_DOWN_IF);
            addr6(&mut b, &d6, addr::WAN_PREFIX_LEN_V6, addr::ISP_DOWN_IF);
            addr4(&mut b, &u4, 24, addr::ISP_UP_IF);
            addr6(&mut b, &u6, 64, addr::ISP_UP_IF);
            up(&mut b, addr::ISP_DOWN_IF);
            up(&mut b, addr::ISP_UP_IF);
            route(&mut b, "default", &i4);
            route(&mut b, "default", &i6);
        }
        Role::Internet => {
            addr4(&mut b, &addr::INET_ISP1_V4, 24, addr::INET_ISP1_IF);
            addr6(&mut b, &addr::INET_ISP1_V6, 64, addr::INET_ISP1_IF);
            addr4(&mut b, &addr::INET_ISP2_V4, 24, addr::INET_ISP2_IF);
            addr6(&mut b, &addr::INET_ISP2_V6, 64, addr::INET_ISP2_IF);
            let (v4, v6) = addr::service_addrs();
            for ip in v4 {
                addr4(&mut b, &ip, 32, addr::INET_SVC_IF);
            }
            for ip in v6 {
                addr6(&mut b, &ip, 128, addr::INET_SVC_IF);
            }
            for dev in [addr::INET_ISP1_IF, addr::INET_ISP2_IF] {
                up(&mut b, dev);
            }
            // Back to the gateways' WAN addresses; the LAN is NATed and never seen here.
            // `src`: a socket bound to the wildcard (iperf3's UDP server) answers from the
            // iperf address, not from the ISP link's, or its connected-UDP client ignores it.
            for (net, via) in [
                (addr::WAN_PRIMARY_NET_V4, addr::ISP1_UP_V4),
                (addr::WAN_BACKUP_NET_V4, addr::ISP2_UP_V4),
            ] {
                let _ = writeln!(b, "route add {net} via {via} src {}", addr::IPERF_V4);
            }
            for (net, via) in [
                (addr::WAN_PRIMARY_NET_V6, addr::ISP1_UP_V6),
                (addr::WAN_BACKUP_NET_V6, addr::ISP2_UP_V6),
            ] {
                let _ = writeln!(b, "route add {net} via {via} src {}", addr::IPERF_V6);
            }
        }
    }
    b
}

fn ip_batch(lab: &Lab, role: Role, script: &str) -> Result<()> {
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["-n", &lab.ns(role), "-batch", "-"]);
    netns::run_with_input(&mut cmd, script).map(drop)
}

/// Veth offloads off, so the kernel's interface counters count wire-sized packets (with TSO/GSO
/// a 64 KB super-packet counts once) and XDP sees real frames. Unsupported ones are ignored.
fn offloads_off(lab: &Lab, role: Role) -> Result<()> {
    let veths: Vec<String> = match role {
        Role::Switch => std::iter::once(addr::SWITCH_PORT_GW.to_string())
            .chain((1..=lab.pcs).map(addr::switch_port_pc))
            .collect(),
        Role::Gateway => [addr::LAN_IF, addr::WAN_PRIMARY_IF, addr::WAN_BACKUP_IF]
            .map(String::from)
            .to_vec(),
        Role::Pc(_) => vec![addr::PC_IF.into()],
        Role::IspPrimary | Role::IspBackup => {
            vec![addr::ISP_DOWN_IF.into(), addr::ISP_UP_IF.into()]
        }
        Role::Internet => vec![addr::INET_ISP1_IF.into(), addr::INET_ISP2_IF.into()],
    };
    // One shell per namespace instead of one ethtool process per interface.
    let script: String = veths
        .iter()
        .map(|v| format!("ethtool -K {v} tso off gso off gro off 2>/dev/null; "))
        .collect();
    // The gateway's datapath answers a dropped TCP segment with a reset redirected back
    // out of its LAN veth, which a veth delivers only when its peer runs NAPI: GRO on the
    // switch's port does that (a real NIC needs nothing).
    let napi = if role == Role::Switch {
        format!("ethtool -K {} gro on; ", addr::SWITCH_PORT_GW)
    } else {
        String::new()
    };
    let mut cmd = lab.command(role, "sh");
    cmd.args(["-c", &format!("{script}{napi}true")]);
    netns::run(&mut cmd).map(drop)
}

/// Masquerade out of both WAN links, both families, in a table of its own so the daemon's
/// tables never clash with it.
fn nat(lab: &Lab) -> Result<()> {
    let rules = format!(
        "table inet officegate_lab_nat {{\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\toifname {{ \"{}\", \"{}\" }} masquerade\n\
         \t}}\n\
         }}\n",
        addr::WAN_PRIMARY_IF,
        addr::WAN_BACKUP_IF
    );
    let mut cmd = lab.command(Role::Gateway, "nft");
    cmd.args(["-f", "-"]);
    netns::run_with_input(&mut cmd, &rules)
        .map(drop)
        .context("gateway NAT")
}

/// resolv.conf for `ip netns exec`: PCs ask the gateway (where Officegate's DNS runs); the
/// other machines ask the lab resolver directly, so no query ever heads for the host's
/// resolver (unreachable from the lab anyway). The switch has no addresses and gets none.
fn resolv_conf(lab: &mut Lab) -> Result<()> {
    for role in lab.roles() {
        let server = match role {
            Role::Switch => continue,
            Role::Pc(_) => addr::GW_LAN_V4,
            _ => addr::RESOLVER_V4,
        };
        let dir = names::etc_dir(&lab.ns(role));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        lab.etc_dirs.push(dir.clone());
        std::fs::write(dir.join("resolv.conf"), format!("nameserver {server}\n"))
            .with_context(|| format!("write {}/resolv.conf", dir.display()))?;
    }
    Ok(())
}
