//! Every address, name and interface of the lab, in one place, so tests, benchmarks and the
//! demo never spell an address twice. The lab's topology and services are built from these.
//!
//! Plan: the LAN is 10.10.0.0/24 + fd0a:10::/64; the gateway's WAN links are 100.64.1.0/24 +
//! fd64:1::/64 (primary ISP) and 100.64.2.0/24 + fd64:2::/64 (backup ISP); each ISP reaches
//! the internet over 198.18.N.0/24 + fd18:N::/64. On every point-to-point link the upstream
//! side is `.1`/`::1`. Services live on 203.0.113.0/24 + 2001:db8:113::/64 (documentation
//! ranges, so nothing can be mistaken for a real host).

use std::net::{Ipv4Addr, Ipv6Addr};

// Interface names (each ≤ 15 chars, and each lives in its own namespace, so no collisions).
/// The gateway's LAN interface (toward the switch).
pub const LAN_IF: &str = "lan0";
/// The gateway's interface toward the primary ISP.
pub const WAN_PRIMARY_IF: &str = "wan0";
/// The gateway's interface toward the backup ISP.
pub const WAN_BACKUP_IF: &str = "wan1";
/// Each PC's only interface.
pub const PC_IF: &str = "eth0";
/// The switch's bridge.
pub const SWITCH_BRIDGE: &str = "br0";
/// The switch port facing the gateway.
pub const SWITCH_PORT_GW: &str = "sw-gw";
/// An ISP's interface toward the gateway.
pub const ISP_DOWN_IF: &str = "down0";
/// An ISP's interface toward the internet.
pub const ISP_UP_IF: &str = "up0";
/// The internet's interface toward the primary ISP.
pub const INET_ISP1_IF: &str = "isp1";
/// The internet's interface toward the backup ISP.
pub const INET_ISP2_IF: &str = "isp2";
/// The internet's interface holding every service address. Loopback, not a dummy device:
/// this project's kernel is built without CONFIG_DUMMY, and addresses on lo are just as local.
pub const INET_SVC_IF: &str = "lo";

/// The switch port facing PC `i` (1-based).
pub fn switch_port_pc(i: usize) -> String {
    format!("sw-pc{i}")
}

// LAN.
pub const LAN_PREFIX_LEN_V4: u8 = 24;
pub const LAN_PREFIX_LEN_V6: u8 = 64;
pub const GW_LAN_V4: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 1);
pub const GW_LAN_V6: Ipv6Addr = Ipv6Addr::new(0xfd0a, 0x10, 0, 0, 0, 0, 0, 1);
/// Fixed so tests can match the gateway's frames.
pub const GW_LAN_MAC: [u8; 6] = [0x02, 0x00, 0x0a, 0x0a, 0x00, 0x01];

/// Largest PC count: PC addresses are 10.10.0.(10+i), and .255 is broadcast.
pub const MAX_PCS: usize = 200;

/// PC `i`'s IPv4 address (1-based): 10.10.0.(10+i).
pub fn pc_v4(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 10, 0, host_byte(i))
}
/// PC `i`'s IPv6 address (1-based): fd0a:10::(10+i) written in hex, e.g. fd0a:10::b for pc1.
pub fn pc_v6(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfd0a, 0x10, 0, 0, 0, 0, 0, u16::from(host_byte(i)))
}
/// PC `i`'s MAC (1-based): 02:00:0a:0a:00:(10+i), locally administered and fixed so tests
/// can key per-PC state on it.
pub fn pc_mac(i: usize) -> [u8; 6] {
    [0x02, 0x00, 0x0a, 0x0a, 0x00, host_byte(i)]
}
fn host_byte(i: usize) -> u8 {
    assert!(
        (1..=MAX_PCS).contains(&i),
        "PC index {i} out of 1..={MAX_PCS}"
    );
    (10 + i) as u8
}

/// MAC as `aa:bb:cc:dd:ee:ff`.
pub fn mac_string(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

// WAN: gateway ↔ ISPs (gateway is .2, ISP .1).
pub const WAN_PREFIX_LEN_V4: u8 = 24;
pub const WAN_PREFIX_LEN_V6: u8 = 64;
pub const GW_WAN_PRIMARY_V4: Ipv4Addr = Ipv4Addr::new(100, 64, 1, 2);
pub const GW_WAN_PRIMARY_V6: Ipv6Addr = Ipv6Addr::new(0xfd64, 1, 0, 0, 0, 0, 0, 2);
pub const ISP1_DOWN_V4: Ipv4Addr = Ipv4Addr::new(100, 64, 1, 1);
pub const ISP1_DOWN_V6: Ipv6Addr = Ipv6Addr::new(0xfd64, 1, 0, 0, 0, 0, 0, 1);
pub const GW_WAN_BACKUP_V4: Ipv4Addr = Ipv4Addr::new(100, 64, 2, 2);
pub const GW_WAN_BACKUP_V6: Ipv6Addr = Ipv6Addr::new(0xfd64, 2, 0, 0, 0, 0, 0, 2);
pub const ISP2_DOWN_V4: Ipv4Addr = Ipv4Addr::new(100, 64, 2, 1);
pub const ISP2_DOWN_V6: Ipv6Addr = Ipv6Addr::new(0xfd64, 2, 0, 0, 0, 0, 0, 1);
pub const WAN_PRIMARY_NET_V4: &str = "100.64.1.0/24";
pub const WAN_PRIMARY_NET_V6: &str = "fd64:1::/64";
pub const WAN_BACKUP_NET_V4: &str = "100.64.2.0/24";
pub const WAN_BACKUP_NET_V6: &str = "fd64:2::/64";

// ISP uplinks: ISP ↔ internet (internet is .1, ISP .2).
pub const INET_ISP1_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
pub const INET_ISP1_V6: Ipv6Addr = Ipv6Addr::new(0xfd18, 1, 0, 0, 0, 0, 0, 1);
pub const ISP1_UP_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 2);
pub const ISP1_UP_V6: Ipv6Addr = Ipv6Addr::new(0xfd18, 1, 0, 0, 0, 0, 0, 2);
pub const INET_ISP2_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);
pub const INET_ISP2_V6: Ipv6Addr = Ipv6Addr::new(0xfd18, 2, 0, 0, 0, 0, 0, 1);
pub const ISP2_UP_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 2);
pub const ISP2_UP_V6: Ipv6Addr = Ipv6Addr::new(0xfd18, 2, 0, 0, 0, 0, 0, 2);

// Services on the internet's `INET_SVC_IF`.
const fn svc_v4(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, last)
}
const fn svc_v6(last: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0x113, 0, 0, 0, 0, last)
}
/// Upstream resolver (unbound, UDP+TCP 53): every name → CATCH_ALL, lab sites → their address.
pub const RESOLVER_V4: Ipv4Addr = svc_v4(53);
pub const RESOLVER_V6: Ipv6Addr = svc_v6(0x53);
/// The address every name not listed in [`SITES`] resolves to; nginx answers any Host there.
pub const CATCH_ALL_V4: Ipv4Addr = svc_v4(99);
pub const CATCH_ALL_V6: Ipv6Addr = svc_v6(0x99);
pub const SITE_NEWS_V4: Ipv4Addr = svc_v4(10);
pub const SITE_NEWS_V6: Ipv6Addr = svc_v6(0x10);
pub const SITE_VIDEO_V4: Ipv4Addr = svc_v4(11);
pub const SITE_VIDEO_V6: Ipv6Addr = svc_v6(0x11);
pub const SITE_SOCIAL_V4: Ipv4Addr = svc_v4(12);
pub const SITE_SOCIAL_V6: Ipv6Addr = svc_v6(0x12);
/// One address, two names told apart by SNI / Host: shop.example and cdn.example.
pub const SITE_SHARED_V4: Ipv4Addr = svc_v4(20);
pub const SITE_SHARED_V6: Ipv6Addr = svc_v6(0x20);
/// DNS-over-TLS (853) and DNS-over-HTTPS (443, [`DOH_PATH`]) "bypass" resolver; it also
/// answers plain DNS on 53.
pub const DOH_V4: Ipv4Addr = svc_v4(254);
pub const DOH_V6: Ipv6Addr = svc_v6(0x254);
pub const DOT_V4: Ipv4Addr = DOH_V4;
pub const DOT_V6: Ipv6Addr = DOH_V6;
pub const DOH_NAME: &str = "dns.bypass.example";
/// A name of the real public `doh-vpn-proxy-bypass` list, which the lab's resolver
/// answers with the bypass resolver's addresses: the endpoint an employee would try.
pub const DOH_LISTED_NAME: &str = "cloudflare-dns.com";
pub const DOH_PATH: &str = "/dns-query";
pub const DOT_PORT: u16 = 853;
pub const DOH_PORT: u16 = 443;
/// iperf3 servers: PC `i` uses port `IPERF_BASE_PORT + i - 1` (iperf3 serves one client at a time).
pub const IPERF_V4: Ipv4Addr = svc_v4(5);
pub const IPERF_V6: Ipv6Addr = svc_v6(0x5);
pub const IPERF_BASE_PORT: u16 = 5201;
/// iperf3 port reserved for PC `i` (1-based).
pub fn iperf_port(i: usize) -> u16 {
    IPERF_BASE_PORT + (i as u16) - 1
}

/// A name whose TXT answer (20 records of 200 bytes) is far larger than a UDP answer
/// should be.
pub const BIG_NAME: &str = "big.example";
/// A zone the bypass resolver (the lab's DoT/DoH upstream) asks of [`SLOW_PORT`] on its
/// own address: a test that listens there and never answers makes every name under it
/// slow; with nothing listening they fail at once.
pub const SLOW_NAME: &str = "slow.example";
pub const SLOW_PORT: u16 = 5353;
/// A public name the lab resolver answers with a private address (a DNS rebinding attempt).
pub const REBIND_NAME: &str = "rebind.example";
pub const REBIND_V4: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 7);
/// The company's own name that legitimately answers a private address.
pub const INTRANET_NAME: &str = "intranet.corp.example";
pub const INTRANET_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 7);
/// Public names answered (AAAA) with an office PC behind NAT64 (`64:ff9b::10.10.0.7`),
/// and with an address of [`OFFICE_GLOBAL_V6_NET`].
pub const REBIND_NAT64_NAME: &str = "rebind64.example";
pub const REBIND_NAT64_V6: Ipv6Addr = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0x0a0a, 0x0007);
pub const REBIND_OWN_V6_NAME: &str = "rebind-own.example";
pub const REBIND_OWN_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 7);
/// A global-looking prefix a test may give the office LAN besides its ULA one.
pub const OFFICE_GLOBAL_V6_NET: &str = "2001:db8:10::1/64";

/// Paths every site serves besides `/` (a page naming the site): `/health` returns `ok`; the
/// files are exactly 1,000,000 and 10,000,000 bytes.
pub const HEALTH_PATH: &str = "/health";
/// Answers with the client's address as the site sees it: which WAN a connection left by.
pub const WHOAMI_PATH: &str = "/whoami";
pub const FILE_1M: &str = "/1m.bin";
pub const FILE_10M: &str = "/10m.bin";

/// A web site on the lab internet (HTTP 80 + HTTPS 443, SNI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Site {
    pub name: &'static str,
    pub v4: Ipv4Addr,
    pub v6: Ipv6Addr,
}

pub const SITE_NEWS: Site = Site {
    name: "news.example",
    v4: SITE_NEWS_V4,
    v6: SITE_NEWS_V6,
};
pub const SITE_VIDEO: Site = Site {
    name: "video.example",
    v4: SITE_VIDEO_V4,
    v6: SITE_VIDEO_V6,
};
pub const SITE_SOCIAL: Site = Site {
    name: "social.example",
    v4: SITE_SOCIAL_V4,
    v6: SITE_SOCIAL_V6,
};
pub const SITE_SHOP: Site = Site {
    name: "shop.example",
    v4: SITE_SHARED_V4,
    v6: SITE_SHARED_V6,
};
pub const SITE_CDN: Site = Site {
    name: "cdn.example",
    v4: SITE_SHARED_V4,
    v6: SITE_SHARED_V6,
};

/// Every named site; the resolver answers each name (and its subdomains) with its address.
pub const SITES: &[Site] = &[SITE_NEWS, SITE_VIDEO, SITE_SOCIAL, SITE_SHOP, SITE_CDN];

/// Every address on the internet's service interface.
pub fn service_addrs() -> (Vec<Ipv4Addr>, Vec<Ipv6Addr>) {
    let mut v4 = vec![RESOLVER_V4, CATCH_ALL_V4, DOH_V4, IPERF_V4];
    let mut v6 = vec![RESOLVER_V6, CATCH_ALL_V6, DOH_V6, IPERF_V6];
    for s in SITES {
        if !v4.contains(&s.v4) {
            v4.push(s.v4);
            v6.push(s.v6);
        }
    }
    (v4, v6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pc_addresses_follow_the_plan() {
        assert_eq!(pc_v4(1), Ipv4Addr::new(10, 10, 0, 11));
        assert_eq!(pc_v6(1).to_string(), "fd0a:10::b");
        assert_eq!(mac_string(pc_mac(1)), "02:00:0a:0a:00:0b");
        assert_eq!(iperf_port(3), 5203);
        assert_eq!(RESOLVER_V6.to_string(), "2001:db8:113::53");
    }

    #[test]
    fn service_addresses_are_distinct() {
        let (v4, v6) = service_addrs();
        assert_eq!(v4.len(), 8);
        assert_eq!(v6.len(), 8);
    }
}
