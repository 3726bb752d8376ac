//! What `officegate init` finds on the machine: its network interfaces (addresses,
//! carrier, driver), its default routes, and whether the kernel can run the datapath.
//! Read from the kernel's own files (`/sys/class/net`, `/proc/net/route`,
//! `/proc/net/ipv6_route`) and `getifaddrs`: no tool to parse the output of.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::Path,
};

/// One network interface.
#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    pub name: String,
    pub addrs: Vec<(IpAddr, u8)>,
    /// Link up with a carrier.
    pub carrier: bool,
    /// The kernel driver (`virtio_net`, `igb`, `veth`…), when it has one.
    pub driver: Option<String>,
}

/// A default route.
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultRoute {
    pub interface: String,
    pub gateway: IpAddr,
    pub metric: u32,
}

/// What the kernel offers the datapath.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    pub release: String,
    /// BTF of the running kernel (`/sys/kernel/btf/vmlinux`).
    pub btf: bool,
    /// 6.6 or later: TCX and pinned program links (programs stay attached while the
    /// daemon is down).
    pub links: bool,
}

/// Ethernet-like interfaces (loopback and other link types left out), from `getifaddrs`
/// (netlink: right in whatever network namespace it runs). The driver comes from sysfs,
/// best effort.
pub fn interfaces() -> Vec<Interface> {
    use nix::net::if_::InterfaceFlags;
    let mut out: Vec<Interface> = Vec::new();
    let Ok(all) = nix::ifaddrs::getifaddrs() else {
        return out;
    };
    for a in all {
        // The link-layer entry says what kind of link it is: Ethernet (ARPHRD_ETHER).
        let Some(link) = a.address.as_ref().and_then(|s| s.as_link_addr()) else {
            continue;
        };
        if link.hatype() != 1 || a.flags.contains(InterfaceFlags::IFF_LOOPBACK) {
            continue;
        }
        if out.iter().any(|i| i.name == a.interface_name) {
            continue;
        }
        let driver = std::fs::read_link(
            Path::new("/sys/class/net")
                .join(&a.interface_name)
                .join("device/driver"),
        )
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
        out.push(Interface {
            addrs: crate::datapath::interface_nets(&a.interface_name),
            carrier: a.flags.contains(InterfaceFlags::IFF_RUNNING)
                && a.flags.contains(InterfaceFlags::IFF_UP),
            driver,
            name: a.interface_name,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The machine's default routes (IPv4 and IPv6), lowest metric first.
pub fn default_routes() -> Vec<DefaultRoute> {
    let mut out = parse_route_v4(&std::fs::read_to_string("/proc/net/route").unwrap_or_default());
    out.extend(parse_route_v6(
        &std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default(),
    ));
    out.sort_by_key(|r| r.metric);
    out
}

/// `/proc/net/route`: `Iface Destination Gateway Flags RefCnt Use Metric Mask …`, hex in
/// the kernel's (little-endian) byte order.
pub fn parse_route_v4(text: &str) -> Vec<DefaultRoute> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 || f[1] != "00000000" || f[7] != "00000000" {
                return None;
            }
            let gw = u32::from_str_radix(f[2], 16).ok()?;
            Some(DefaultRoute {
                interface: f[0].to_string(),
                gateway: IpAddr::V4(Ipv4Addr::from(gw.to_le_bytes())),
                metric: f[6].parse().ok()?,
            })
        })
        .collect()
}

/// `/proc/net/ipv6_route`: `dest plen src plen nexthop metric refcnt use flags iface`.
pub fn parse_route_v6(text: &str) -> Vec<DefaultRoute> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 10 || f[0] != "0".repeat(32) || f[1] != "00" || f[4] == "0".repeat(32) {
                return None;
            }
            let gw = u128::from_str_radix(f[4], 16).ok()?;
            Some(DefaultRoute {
                interface: f[9].to_string(),
                gateway: IpAddr::V6(Ipv6Addr::from(gw)),
                metric: u32::from_str_radix(f[5], 16).ok()?,
            })
        })
        .collect()
}

pub fn kernel() -> Kernel {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|r| r.trim().to_string())
        .unwrap_or_default();
    Kernel {
        btf: Path::new("/sys/kernel/btf/vmlinux").exists(),
        links: crate::datapath::links::pinnable(),
        release,
    }
}

/// An address for a LAN: private IPv4 (RFC 1918) or IPv6 unique local.
pub fn is_private(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.is_private(),
        IpAddr::V6(v6) => v6.segments()[0] & 0xfe00 == 0xfc00,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_routes_are_read_from_the_kernels_tables() {
        let v4 = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  wan0\t00000000\t01014064\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                  wan0\t00014064\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                  wan1\t00000000\t01024064\t0003\t0\t0\t100\t00000000\t0\t0\t0\n";
        let r = parse_route_v4(v4);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[1].interface, "wan1");
        assert_eq!(r[1].gateway, "100.64.2.1".parse::<IpAddr>().unwrap());
        assert_eq!(r[1].metric, 100);
        let v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd640001000000000000000000000001 00000400 00000001 00000000 00000003     wan0\n\
                  fd640001000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     wan0\n";
        let r = parse_route_v6(v6);
        assert_eq!(
            r,
            vec![DefaultRoute {
                interface: "wan0".into(),
                gateway: "fd64:1::1".parse().unwrap(),
                metric: 1024
            }]
        );
    }
}
