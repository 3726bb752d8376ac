//! No way around the DNS filter: the gateway's own nftables table `officegate_bypass`.
//!
//! - Plain DNS (UDP and TCP port 53) a PC sends through the gateway to any other resolver
//!   is redirected (destination NAT) to the filter's intercept listeners
//!   (`[dns] intercept_port`, on the filter's addresses): conntrack turns the answer's
//!   source back into the server the PC asked, so the PC sees an ordinary answer — the
//!   filtered one. The filter knows these queries by the listener they land on
//!   (`dns::Via::Intercepted`): logged and counted as intercepted, answered or refused
//!   per `[dns] intercept`. Queries to the gateway's own addresses are left alone.
//! - DNS over TLS and over QUIC (port 853, TCP and UDP) forwarded from the LAN is refused
//!   at once — a TCP reset, an ICMP administratively-prohibited — so the PC's resolver
//!   library gives up in a round trip and falls back to plain DNS, which is intercepted.
//!
//! The datapath (XDP) sees these packets first and counts them as the PC's traffic to
//! the server it asked; the redirect happens after it, in the kernel's NAT hook.
//!
//! Owns: the table's rules. Must not: run nft itself (`nft`), or know the DNS filter's
//! insides (it is told where the intercept listeners are).

use std::net::SocketAddr;

use crate::config::{EncryptedDns, Intercept};

/// The daemon's table for these rules.
pub const TABLE: &str = "officegate_bypass";

/// What the table does, from `[datapath]` and `[dns]`.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The LAN interface: only what PCs send is touched.
    pub lan: String,
    pub intercept: Intercept,
    /// The filter's intercept listeners: the first IPv4 and the first IPv6 one are where
    /// redirected queries go. A family with none refuses instead of redirecting.
    pub to: Vec<SocketAddr>,
    pub encrypted_dns: EncryptedDns,
}

impl Rules {
    /// The table's chains, nft syntax; empty when there is nothing to do.
    pub fn body(&self) -> String {
        let lan = &self.lan;
        let mut dstnat = String::new();
        let mut forward = String::new();
        let dns = "meta l4proto { tcp, udp } th dport 53";
        if self.intercept != Intercept::Off {
            for (family, nat) in [("ipv4", "ip"), ("ipv6", "ip6")] {
                let target = self.to.iter().find(|a| a.is_ipv4() == (family == "ipv4"));
                match target {
                    // `fib daddr type != local`: queries to the gateway itself are its
                    // filter's already.
                    Some(to) => dstnat.push_str(&format!(
                        "\t\tiifname \"{lan}\" meta nfproto {family} {dns} fib daddr type != local dnat {nat} to {to}\n"
                    )),
                    None => forward.push_str(&reject(lan, family, 53)),
                }
            }
        }
        if self.encrypted_dns == EncryptedDns::Refuse {
            forward.push_str(&reject(lan, "", 853));
        }
        let mut body = String::new();
        if !dstnat.is_empty() {
            body.push_str(&format!(
                "\tchain dstnat {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n{dstnat}\t}}\n"
            ));
        }
        if !forward.is_empty() {
            body.push_str(&format!(
                "\tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;\n{forward}\t}}\n"
            ));
        }
        body
    }
}

/// Rules refusing TCP and UDP to `port` from the LAN at once (of one family, or both
/// for `""`): a reset for TCP, an ICMP administratively-prohibited for UDP.
fn reject(lan: &str, family: &str, port: u16) -> String {
    let only = if family.is_empty() {
        String::new()
    } else {
        format!("meta nfproto {family} ")
    };
    format!(
        "\t\tiifname \"{lan}\" {only}tcp dport {port} reject with tcp reset\n\t\tiifname \"{lan}\" {only}udp dport {port} reject with icmpx admin-prohibited\n"
    )
}

/// Writes the table (or removes it when the rules do nothing).
pub async fn install(rules: &Rules) -> std::io::Result<()> {
    let body = rules.body();
    if body.is_empty() {
        return remove().await;
    }
    crate::nft::replace_table(TABLE, &body).await
}

/// Removes the table (the daemon stopping).
pub async fn remove() -> std::io::Result<()> {
    crate::nft::remove_table(TABLE).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(intercept: Intercept, to: &[&str], encrypted_dns: EncryptedDns) -> Rules {
        Rules {
            lan: "lan0".into(),
            intercept,
            to: to.iter().map(|a| a.parse().unwrap()).collect(),
            encrypted_dns,
        }
    }

    #[test]
    fn each_family_is_redirected_to_its_listener_or_refused_without_one() {
        let body = rules(
            Intercept::Answer,
            &["10.10.0.1:10053"],
            EncryptedDns::Refuse,
        )
        .body();
        assert!(body.contains("meta nfproto ipv4 meta l4proto { tcp, udp } th dport 53 fib daddr type != local dnat ip to 10.10.0.1:10053"), "{body}");
        assert!(
            body.contains("meta nfproto ipv6 tcp dport 53 reject with tcp reset"),
            "{body}"
        );
        assert!(
            body.contains("iifname \"lan0\" udp dport 853 reject with icmpx admin-prohibited"),
            "{body}"
        );
        let both = rules(
            Intercept::Refuse,
            &["10.10.0.1:10053", "[fd00::1]:10053"],
            EncryptedDns::Allow,
        )
        .body();
        assert!(both.contains("dnat ip6 to [fd00::1]:10053"), "{both}");
        assert!(
            !both.contains("853") && !both.contains("chain forward"),
            "{both}"
        );
    }

    #[test]
    fn nothing_to_do_is_an_empty_table() {
        assert_eq!(rules(Intercept::Off, &[], EncryptedDns::Allow).body(), "");
    }
}
