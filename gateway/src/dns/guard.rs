//! The answer's guard: DNS rebinding protection — a public name answered with a private
//! address is refused, so a web page can't point its own name at the office's printer or
//! router. Asked after the policy on both paths (the fast path keeps its verdict on the
//! cached answer: it depends on the name and addresses only). The per-client rate limit
//! lives with the LAN check in `access`.
//!
//! Owns: what counts as private, and the names allowed to answer it. Must not: answer.

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::atomic::Ordering,
};

/// Addresses a public name has no business answering with, wherever the office is.
pub fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => private_v4(a),
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return private_v4(v4);
            }
            let s = a.segments();
            // NAT64's well-known prefix (64:ff9b::/96, RFC 6052) reaches the IPv4 address
            // in its last 32 bits: a private one is the office's.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [.., a, b, c, d] = a.octets();
                return private_v4(Ipv4Addr::new(a, b, c, d));
            }
            // 64:ff9b:1::/48 is NAT64 for local use (RFC 8215): the network's own.
            (s[0], s[1], s[2]) == (0x64, 0xff9b, 1)
                || a.is_loopback()
                || a.is_unspecified()
                || (a.segments()[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local
                || (a.segments()[0] & 0xffc0) == 0xfe80 // fe80::/10 link local
        }
    }
}

fn private_v4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    a.is_private()
        || a.is_loopback()
        || a.is_link_local()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10, carrier-grade NAT
}

/// Names that are local by definition may answer local addresses.
const LOCAL_SUFFIXES: &[&str] = &[
    "localhost",
    "local",
    "lan",
    "home.arpa",
    "internal",
    "intranet",
];

pub struct Rebinding {
    pub enabled: bool,
    /// Domains (and their subdomains) allowed to answer private addresses, e.g. the
    /// company's own.
    pub allow: Vec<String>,
    /// The office's own networks (the LAN's, its global IPv6 prefix among them): an
    /// address in one is as private as 10.0.0.0/8, though the world can route it.
    pub own: Vec<(IpAddr, u8)>,
}

fn under(name: &str, domain: &str) -> bool {
    name == domain
        || (name.len() > domain.len()
            && name.ends_with(domain)
            && name.as_bytes()[name.len() - domain.len() - 1] == b'.')
}

impl Rebinding {
    /// The first private address `name` was answered with, if that is not allowed.
    pub fn violation(&self, name: &str, answers: &[IpAddr]) -> Option<IpAddr> {
        if !self.enabled
            || LOCAL_SUFFIXES.iter().any(|d| under(name, d))
            || self.allow.iter().any(|d| under(name, d))
        {
            return None;
        }
        answers.iter().copied().find(|a| {
            private(*a)
                || self
                    .own
                    .iter()
                    .any(|(net, len)| crate::datapath::net_contains(*net, *len, *a))
        })
    }

    /// Whether the cached answer `hit` to `name` is refused: asked once per answer and
    /// kept on it (it depends on the name and addresses only), for the fast path.
    #[inline]
    pub(super) fn refuses_cached(&self, name: &str, hit: &super::cache::Wire) -> bool {
        match hit.rebinding.load(Ordering::Relaxed) {
            0 => {
                let bad = self.violation(name, &hit.addrs).is_some();
                hit.rebinding.store(1 + u8::from(bad), Ordering::Relaxed);
                bad
            }
            v => v == 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges() {
        for a in [
            "10.1.2.3",
            "192.168.1.1",
            "172.20.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.1.2",
            "0.0.0.0",
            "fd00::1",
            "fe80::1",
            "::1",
            "::ffff:192.168.0.1",
            "64:ff9b::10.1.2.3",
            "64:ff9b::192.168.0.1",
            "64:ff9b:1::5",
        ] {
            assert!(private(a.parse().unwrap()), "{a}");
        }
        for a in [
            "203.0.113.10",
            "8.8.8.8",
            "2001:db8::1",
            "172.32.0.1",
            "64:ff9b::8.8.8.8",
        ] {
            assert!(!private(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn rebinding_spares_local_and_allowed_names() {
        let r = Rebinding {
            enabled: true,
            allow: vec!["corp.example".into()],
            own: vec![("2001:db8:10::1".parse().unwrap(), 64)],
        };
        let own: IpAddr = "2001:db8:10::7".parse().unwrap();
        assert_eq!(r.violation("evil.example", &[own]), Some(own));
        assert_eq!(r.violation("printer.corp.example", &[own]), None);
        let elsewhere: IpAddr = "2001:db8:11::7".parse().unwrap();
        assert_eq!(r.violation("evil.example", &[elsewhere]), None);
        let lan: IpAddr = "192.168.1.1".parse().unwrap();
        assert_eq!(r.violation("evil.example", &[lan]), Some(lan));
        assert_eq!(r.violation("printer.corp.example", &[lan]), None);
        assert_eq!(r.violation("nas.lan", &[lan]), None);
        assert_eq!(r.violation("notcorp.example", &[lan]), Some(lan));
        let public: IpAddr = "203.0.113.5".parse().unwrap();
        assert_eq!(r.violation("evil.example", &[public]), None);
        let off = Rebinding {
            enabled: false,
            allow: vec![],
            own: vec![],
        };
        assert_eq!(off.violation("evil.example", &[lan]), None);
    }
}
