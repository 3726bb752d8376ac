//! Connections a PC may hold to the gateway itself. Every service the gateway runs for
//! the LAN (DNS over TCP, the block page, the admin UI and API, SSH) takes a socket per
//! connection, and a hostile PC could open them by the thousand and hold them half-sent
//! until the daemon runs out of descriptors — and DNS stops for everyone. So the kernel
//! refuses, with a reset, a new TCP connection from a LAN source that already has
//! `PER_SOURCE` open to the gateway (an IPv6 source counted by its /64, inside which a
//! PC picks addresses at will): an nftables table of the daemon's own (`officegate_guard`,
//! conntrack's `ct count`), written at start, left in place while the daemon is down,
//! removed by `officegate detach`.
//!
//! Owns: the guard table. Must not: know which services listen.

pub const TABLE: &str = "officegate_guard";
/// Connections one source may hold to the gateway. A browser opens six per host; a PC
/// running the admin UI, its DNS over TCP and a block page or two stays far below.
pub const PER_SOURCE: u32 = 64;

/// The table's chains for the LAN interface `lan`.
pub fn body(lan: &str) -> String {
    format!(
        "  set conn4 {{ type ipv4_addr; size 65535; flags dynamic; }}\n\
         \x20 set conn6 {{ type ipv6_addr; size 65535; flags dynamic; }}\n\
         \x20 chain input {{\n\
         \x20   type filter hook input priority filter; policy accept;\n\
         \x20   iifname \"{lan}\" tcp flags syn add @conn4 {{ ip saddr ct count over {PER_SOURCE} }} reject with tcp reset\n\
         \x20   iifname \"{lan}\" tcp flags syn add @conn6 {{ ip6 saddr and ffff:ffff:ffff:ffff:: ct count over {PER_SOURCE} }} reject with tcp reset\n\
         \x20 }}\n"
    )
}

/// Writes the table for `lan`.
pub async fn install(lan: &str) -> std::io::Result<()> {
    crate::nft::replace_table(TABLE, &body(lan)).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_rules_name_the_lan_and_the_cap() {
        let b = super::body("lan0");
        assert_eq!(b.matches("iifname \"lan0\"").count(), 2, "{b}");
        assert!(b.contains("ct count over 64"), "{b}");
    }
}
