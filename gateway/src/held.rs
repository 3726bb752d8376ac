//! The block page for a held device — blocked by hand or by schedule, or over its traffic
//! limit: the gateway's own nftables table `officegate_held`.
//!
//! The datapath refuses everything a held device sends through the gateway. To show its
//! employee why (and until when) instead of a bare refusal, the device's plain HTTP (TCP
//! to port 80, any address) is led to the block page by destination NAT; conntrack gives
//! the page's answers the site's address back, so the browser shows the page in place of
//! the site. HTTPS stays refused at once (a reset from the datapath): no certificate could
//! stand for every site.
//!
//! Order makes it safe: the datapath passes a held device's HTTP only when the device's
//! state carries `STATE_PAGE`, which the daemon sets after this table lists the device's
//! MAC; the table's forward chain drops (TCP: resets) whatever else a listed device sends
//! through, so a segment passed for the page never leaves the LAN.
//!
//! Owns: the table's rules and the held set. Must not: run nft itself (`nft`), or judge
//! who is held (the datapath's state says).

use std::{collections::BTreeSet, net::SocketAddr};

/// The daemon's table for these rules.
pub const TABLE: &str = "officegate_held";

/// Where a held device's HTTP goes.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The LAN interface: only what devices send is touched.
    pub lan: String,
    /// The block page's listeners: the first IPv4 and the first IPv6 one are where held
    /// devices' HTTP goes. A family with none is refused (reset) instead.
    pub page: Vec<SocketAddr>,
}

impl Rules {
    /// The table's set and chains, nft syntax, for the held devices `macs`; empty when
    /// none is held.
    pub fn body(&self, macs: &BTreeSet<[u8; 6]>) -> String {
        if macs.is_empty() {
            return String::new();
        }
        let lan = &self.lan;
        let elements = macs
            .iter()
            .map(crate::datapath::mac_text)
            .collect::<Vec<_>>()
            .join(", ");
        let mut dstnat = String::new();
        for (family, nat) in [("ipv4", "ip"), ("ipv6", "ip6")] {
            if let Some(to) = self.page.iter().find(|a| a.is_ipv4() == (family == "ipv4")) {
                // `fib daddr type != local`: the gateway's own page needs no detour.
                dstnat.push_str(&format!(
                    "\t\tiifname \"{lan}\" ether saddr @held meta nfproto {family} tcp dport 80 fib daddr type != local dnat {nat} to {to}\n"
                ));
            }
        }
        format!(
            "\tset held {{\n\t\ttype ether_addr\n\t\telements = {{ {elements} }}\n\t}}\n\
             \tchain dstnat {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n{dstnat}\t}}\n\
             \tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;\n\
             \t\tiifname \"{lan}\" ether saddr @held meta l4proto tcp reject with tcp reset\n\
             \t\tiifname \"{lan}\" ether saddr @held drop\n\t}}\n"
        )
    }

    /// Writes the table for `macs` (or removes it when none is held). Blocking: the tick
    /// calls it, and only when the held set changed.
    pub fn install(&self, macs: &BTreeSet<[u8; 6]>) -> std::io::Result<()> {
        let body = self.body(macs);
        if body.is_empty() {
            return crate::nft::remove_table_blocking(TABLE);
        }
        crate::nft::replace_table_blocking(TABLE, &body)
    }
}

/// Takes `macs` out of the held set now, if the table is there (`officegate pc-state …
/// allowed`: the daemon would within a second, this is at once). Errors are the table's
/// absence, not worth reporting.
pub fn unlist_blocking(macs: &[[u8; 6]]) {
    for m in macs {
        let script = format!(
            "delete element inet {TABLE} held {{ {} }}\n",
            crate::datapath::mac_text(m)
        );
        let _ = crate::nft::run_script_blocking(&script);
    }
}

/// Removes the table (the daemon stopping).
pub async fn remove() -> std::io::Result<()> {
    crate::nft::remove_table(TABLE).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_devices_http_goes_to_the_page_and_the_rest_is_refused() {
        let rules = Rules {
            lan: "lan0".into(),
            page: vec!["10.10.0.1:80".parse().unwrap()],
        };
        assert_eq!(rules.body(&BTreeSet::new()), "");
        let macs = [[2, 0, 0, 0, 0, 0x0c], [2, 0, 0, 0, 0, 0x0b]].into();
        let body = rules.body(&macs);
        assert!(
            body.contains("elements = { 02:00:00:00:00:0b, 02:00:00:00:00:0c }"),
            "{body}"
        );
        assert!(body.contains("iifname \"lan0\" ether saddr @held meta nfproto ipv4 tcp dport 80 fib daddr type != local dnat ip to 10.10.0.1:80"), "{body}");
        assert!(
            !body.contains("ip6 to"),
            "no IPv6 page, no IPv6 redirect: {body}"
        );
        assert!(
            body.contains("ether saddr @held meta l4proto tcp reject with tcp reset"),
            "{body}"
        );
    }
}
