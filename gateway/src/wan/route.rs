//! Moving the office between channels: routes and rules over rtnetlink, and clearing the
//! connection-tracking entries of the channel left behind.
//!
//! Each channel has a routing table of its own with its default route, and two rules
//! pointing at it: sockets bound to its interface (the probes) and packets from its
//! addresses (replies to connections that came in through it). So probes always leave by
//! their channel, and switching is one route replace in the main table.
//!
//! NAT needs no move: the daemon's nftables table masquerades whatever leaves by any
//! channel's interface (`ensure_nat`), and the conntrack flush makes every flow pick up the
//! new channel's address on its next packet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_route::{route::RouteProtocol, rule::RuleAction};
use rtnetlink::{Handle, RouteMessageBuilder};

/// Priority of the first channel's `oif` rule; its `from` rules follow at +100. Well
/// before the main table (32766), far from the local table (0).
const RULE_PRIORITY: u32 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("netlink: {0}")]
    Netlink(#[from] rtnetlink::Error),
    #[error("opening a netlink socket: {0}")]
    Socket(#[from] std::io::Error),
    #[error("no interface `{0}`")]
    NoInterface(String),
}

fn has_carrier(f: netlink_packet_route::link::LinkFlags) -> bool {
    use netlink_packet_route::link::LinkFlags;
    f.contains(LinkFlags::Up) && f.contains(LinkFlags::LowerUp)
}

/// The kernel's link events (rtnetlink's link multicast group): an interface losing its
/// carrier is known the moment the kernel knows it, not at the next poll.
pub struct LinkEvents {
    /// (interface index, up with carrier) per change.
    rx: futures_util::stream::BoxStream<'static, (u32, bool)>,
}

impl LinkEvents {
    /// Must be called inside a tokio runtime: the netlink socket runs as a task.
    pub fn open() -> Result<Self, RouteError> {
        use futures_util::StreamExt as _;
        use netlink_packet_route::RouteNetlinkMessage as M;
        use rtnetlink::{packet_core::NetlinkPayload, sys::AsyncSocket as _};
        let (mut conn, _handle, rx) = rtnetlink::new_connection()?;
        conn.socket_mut()
            .socket_mut()
            .bind(&rtnetlink::sys::SocketAddr::new(
                0,
                rtnetlink::constants::RTMGRP_LINK,
            ))?;
        tokio::spawn(conn);
        let rx = rx
            .filter_map(|(msg, _)| async move {
                match msg.payload {
                    NetlinkPayload::InnerMessage(M::NewLink(l)) => {
                        Some((l.header.index, has_carrier(l.header.flags)))
                    }
                    // A removed interface has no carrier.
                    NetlinkPayload::InnerMessage(M::DelLink(l)) => Some((l.header.index, false)),
                    _ => None,
                }
            })
            .boxed();
        Ok(LinkEvents { rx })
    }

    /// The next change. `None`: the socket is gone (e.g. its buffer overflowed); open
    /// another.
    pub async fn next(&mut self) -> Option<(u32, bool)> {
        use futures_util::StreamExt as _;
        self.rx.next().await
    }
}

/// What routing needs to know of a channel.
#[derive(Debug, Clone)]
pub struct ChannelRoute {
    pub index: usize,
    pub interface: String,
    pub gateway: Ipv4Addr,
    pub gateway6: Option<Ipv6Addr>,
    pub table: u32,
}

pub struct Router {
    handle: Handle,
}

fn exists(e: &rtnetlink::Error) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.raw_code().abs() == libc::EEXIST)
}

fn ifindex(name: &str) -> Result<u32, RouteError> {
    nix::net::if_::if_nametoindex(name).map_err(|_| RouteError::NoInterface(name.to_string()))
}

impl Router {
    /// Must be called inside a tokio runtime: the netlink connection runs as a task.
    pub fn new() -> Result<Self, RouteError> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        Ok(Router { handle })
    }

    /// The channel's own table and its rules. Idempotent (a restart finds them in place).
    pub async fn prepare(&self, ch: &ChannelRoute) -> Result<(), RouteError> {
        let idx = ifindex(&ch.interface)?;
        self.default_route(ch, idx, Some(ch.table)).await?;
        let prio = RULE_PRIORITY + ch.index as u32;
        let v4 = self
            .handle
            .rule()
            .add()
            .v4()
            .output_interface(ch.interface.clone())
            .table_id(ch.table)
            .action(RuleAction::ToTable)
            .priority(prio)
            .execute()
            .await;
        let v6 = self
            .handle
            .rule()
            .add()
            .v6()
            .output_interface(ch.interface.clone())
            .table_id(ch.table)
            .action(RuleAction::ToTable)
            .priority(prio)
            .execute()
            .await;
        for r in [v4, v6] {
            match r {
                Err(e) if !exists(&e) => return Err(e.into()),
                _ => {}
            }
        }
        for (addr, _) in crate::datapath::interface_nets(&ch.interface) {
            let prio = prio + 100;
            let r = match addr {
                IpAddr::V4(a) => {
                    self.handle
                        .rule()
                        .add()
                        .v4()
                        .source_prefix(a, 32)
                        .table_id(ch.table)
                        .action(RuleAction::ToTable)
                        .priority(prio)
                        .execute()
                        .await
                }
                IpAddr::V6(a) if !a.is_unicast_link_local() => {
                    self.handle
                        .rule()
                        .add()
                        .v6()
                        .source_prefix(a, 128)
                        .table_id(ch.table)
                        .action(RuleAction::ToTable)
                        .priority(prio)
                        .execute()
                        .await
                }
                IpAddr::V6(_) => Ok(()),
            };
            match r {
                Err(e) if !exists(&e) => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether the interface is up with carrier (`None`: could not tell).
    pub async fn carrier(&self, ifindex: u32) -> Option<bool> {
        use futures_util::TryStreamExt;
        let mut links = self.handle.link().get().match_index(ifindex).execute();
        let link = links.try_next().await.ok()??;
        Some(has_carrier(link.header.flags))
    }

    /// Points the main table's default routes at this channel.
    pub async fn use_channel(&self, ch: &ChannelRoute) -> Result<(), RouteError> {
        let idx = ifindex(&ch.interface)?;
        self.default_route(ch, idx, None).await
    }

    async fn default_route(
        &self,
        ch: &ChannelRoute,
        idx: u32,
        table: Option<u32>,
    ) -> Result<(), RouteError> {
        let mut v4 = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(ch.gateway)
            .output_interface(idx)
            .protocol(RouteProtocol::Static);
        if let Some(t) = table {
            v4 = v4.table_id(t);
        }
        self.handle
            .route()
            .add(v4.build())
            .replace()
            .execute()
            .await?;
        if let Some(gw6) = ch.gateway6 {
            let mut v6 = RouteMessageBuilder::<Ipv6Addr>::new()
                .gateway(gw6)
                .output_interface(idx)
                .protocol(RouteProtocol::Static);
            if let Some(t) = table {
                v6 = v6.table_id(t);
            }
            self.handle
                .route()
                .add(v6.build())
                .replace()
                .execute()
                .await?;
        }
        Ok(())
    }
}

/// Deletes the connection-tracking entries whose replies come back to `interface`'s
/// addresses (masqueraded PC flows and the gateway's own), returning how many went.
///
/// Through the `conntrack` tool (conntrack-tools): there is no maintained Rust crate for
/// ctnetlink, and a switch happens seldom enough that a process spawn costs nothing.
pub async fn flush_conntrack(interface: &str) -> Result<u64, std::io::Error> {
    let mut deleted = 0;
    for (addr, _) in crate::datapath::interface_nets(interface) {
        if let IpAddr::V6(a) = addr
            && a.is_unicast_link_local()
        {
            continue;
        }
        let family = if addr.is_ipv4() { "ipv4" } else { "ipv6" };
        let out = tokio::process::Command::new("conntrack")
            .args(["-D", "-f", family, "--reply-dst", &addr.to_string()])
            .output()
            .await?;
        // "conntrack v1.4.7 (conntrack-tools): N flow entries have been deleted."
        let text = String::from_utf8_lossy(&out.stderr);
        deleted += text
            .split_whitespace()
            .zip(text.split_whitespace().skip(1))
            .find(|(_, w)| *w == "flow")
            .and_then(|(n, _)| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(deleted)
}

/// The daemon's own NAT table.
pub const NAT_TABLE: &str = "officegate_nat";

/// Masquerades the office's traffic out of every channel's interface, in a table of the
/// daemon's own (replaced whole, so a restart with other channels leaves nothing stale).
pub async fn ensure_nat(interfaces: &[String]) -> Result<(), std::io::Error> {
    let names: Vec<String> = interfaces.iter().map(|i| format!("\"{i}\"")).collect();
    let body = format!(
        "\tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\toifname {{ {} }} masquerade\n\t}}\n",
        names.join(", ")
    );
    crate::nft::replace_table(NAT_TABLE, &body).await
}
