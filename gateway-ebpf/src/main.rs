//! Officegate's kernel programs.
//!
//! - `og_lan_ingress` (XDP, LAN interface): every frame a PC sends. Counts it on the PC
//!   and on its flow, and drops it when the PC's policy says so (a TCP segment is
//!   answered with a reset instead: `reset`).
//! - `og_lan_egress` (TC/TCX egress, LAN interface): every frame a PC receives, after NAT
//!   was undone. Same accounting, the PC being the destination.
//! - `og_wan_egress` / `og_wan_ingress` (TC/TCX, each WAN interface): per-channel traffic
//!   and TCP handshakes for the failover monitor (`wan.rs`). They never drop.
//!
//! Both are thin wrappers over `try_…` functions; the only error is a malformed frame,
//! which is counted and dropped (the kernel's own stack would drop it too).
#![no_std]
#![no_main]

mod account;
mod device;
mod maps;
mod parse;
mod reset;
mod sniff;
mod wan;

use aya_ebpf::{
    bindings::{TC_ACT_SHOT, TC_ACT_UNSPEC, xdp_action},
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};
use gateway_common::{DropReason, Stat, UNATTRIBUTED_SLOT};

use account::{Dir, Pkt};
use parse::{Malformed, Net};

#[xdp]
pub fn og_lan_ingress(ctx: XdpContext) -> u32 {
    let len = (ctx.data_end() - ctx.data()) as u64;
    match handle(ctx.data(), ctx.data_end(), Dir::Up, 1, len, Some(&ctx)) {
        Ok(0) => xdp_action::XDP_PASS,
        Ok(_) => {
            // A dropped TCP segment is answered with a reset, so the PC fails at once:
            // `og_lan_reset`, a tail call (a program of its own, with a stack of its
            // own). Returns only if it could not be called: then a plain drop.
            // SAFETY: the context is this program's; the map holds only `og_lan_reset`.
            let _ = unsafe { maps::RESET.tail_call(&ctx, 0) };
            xdp_action::XDP_DROP
        }
        Err(Malformed) => {
            maps::count_drop(DropReason::Malformed as u8, 1);
            xdp_action::XDP_DROP
        }
    }
}

#[classifier]
pub fn og_lan_egress(ctx: TcContext) -> i32 {
    // SAFETY: the context pointer is valid for the program's run.
    let skb = unsafe { &*ctx.skb.skb };
    // A GSO packet stands for several on the wire; count what the wire will carry.
    let packets = if skb.gso_segs > 1 {
        skb.gso_segs as u64
    } else {
        1
    };
    let len = skb.len as u64;
    // Headers may sit outside the linear part of the skb; pull them in once. The pull
    // invalidates every packet pointer, so data/data_end are read again after it.
    let linear = ctx.data_end() - ctx.data();
    if linear < 128 && (skb.len as usize) > linear {
        let want = if skb.len < 128 { skb.len } else { 128 };
        let _ = ctx.pull_data(want);
    }
    let (data, data_end) = (ctx.data(), ctx.data_end());
    // TC_ACT_UNSPEC (-1) passes the packet on to the next program under TCX (TC_ACT_OK
    // would end the chain) and means "default action: pass" under legacy clsact.
    match handle(data, data_end, Dir::Down, packets, len, None) {
        Ok(0) => TC_ACT_UNSPEC,
        Ok(_) => TC_ACT_SHOT,
        // The kernel built this packet: a header we can't read (beyond what could be
        // pulled) is our limit, not an attack. Pass it and say so.
        Err(Malformed) => {
            maps::bump(Stat::EgressUnparsed);
            TC_ACT_UNSPEC
        }
    }
}

#[classifier]
pub fn og_wan_egress(ctx: TcContext) -> i32 {
    wan::count(&ctx, wan::Side::Out)
}

#[classifier]
pub fn og_wan_ingress(ctx: TcContext) -> i32 {
    wan::count(&ctx, wan::Side::In)
}

/// Returns a `DropReason` code (0 passes).
#[inline(always)]
fn handle(
    start: usize,
    end: usize,
    dir: Dir,
    packets: u64,
    bytes: u64,
    xdp: Option<&XdpContext>,
) -> Result<u8, Malformed> {
    let frame = parse::parse::<true>(start, end)?;
    let up = dir == Dir::Up;
    let mac_off = if up {
        parse::SRC_MAC_OFF
    } else {
        parse::DST_MAC_OFF
    };
    let pkt = Pkt {
        dir,
        packets,
        bytes,
        start,
        end,
        mac_off,
    };
    let ports = &frame.ports;
    let remote_port = if up { ports.dst } else { ports.src };
    match frame.net {
        Net::V4 { src, dst } => {
            let (pc, remote) = if up { (src, dst) } else { (dst, src) };
            // 0.0.0.0 (DHCP) belongs to no PC; on egress, multicast and broadcast neither.
            if pc == 0 || (!up && is_multicast_v4(pc)) {
                return Ok(no_pc(up, &pkt));
            }
            let key = account::KeyV4::new(pc, remote, remote_port, ports.proto);
            let verdict = account::ipv4(&key, &pkt);
            if verdict == 0
                && let Some(ctx) = xdp
            {
                let flow = sniff::Flow {
                    family: 4,
                    pc: [pc, 0, 0, 0],
                    remote: [remote, 0, 0, 0],
                };
                sniff::maybe(ctx, ports.l4, ports.dst, ports.proto, flow);
            }
            Ok(verdict)
        }
        Net::V6 { src, dst } => {
            let (pc, remote) = if up { (src, dst) } else { (dst, src) };
            // Words in memory order: the address's first byte is the low byte of pc[0].
            if pc == [0; 2] || (!up && pc[0] as u8 == 0xff) {
                return Ok(no_pc(up, &pkt));
            }
            let key = account::KeyV6::new(pc, remote, remote_port, ports.proto);
            let verdict = account::ipv6(&key, &pkt);
            if verdict == 0
                && let Some(ctx) = xdp
            {
                let flow = sniff::Flow {
                    family: 6,
                    pc: account::addr6(pc),
                    remote: account::addr6(remote),
                };
                sniff::maybe(ctx, ports.l4, ports.dst, ports.proto, flow);
            }
            Ok(verdict)
        }
        Net::Arp { sender, target } => {
            // ARP is never dropped: a blocked PC must still reach the gateway.
            maps::bump(Stat::Arp);
            // A PC's own ARP (ingress) may create its entry; the gateway asking for an
            // address (egress) says nothing about whether a PC is there, so only look up.
            let slot = if up && sender != 0 {
                account::pc_entry(&maps::ADDRS_V4, &sender, &pkt).slot
            } else {
                let pc = if up { sender } else { target };
                // SAFETY: value copied out at once.
                match unsafe { maps::ADDRS_V4.get(&pc) } {
                    Some(info) => info.slot,
                    None => UNATTRIBUTED_SLOT,
                }
            };
            account::count_slot(slot, &pkt);
            Ok(0)
        }
        Net::Other => {
            maps::bump(Stat::NonIp);
            Ok(0)
        }
    }
}

#[inline(always)]
fn no_pc(up: bool, pkt: &Pkt) -> u8 {
    if !up {
        maps::bump(Stat::EgressMulticast);
    }
    account::count_slot(UNATTRIBUTED_SLOT, pkt);
    0
}

#[inline(always)]
fn is_multicast_v4(addr: u32) -> bool {
    let b = addr.to_ne_bytes();
    b[0] & 0xf0 == 0xe0 || b == [255, 255, 255, 255]
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

/// A frame `og_lan_ingress` drops: a TCP segment is rewritten into its reset and sent
/// back out of the interface it came in by; anything else is dropped. Reached only by
/// the tail call.
///
/// Sent with a redirect to that same interface, not XDP_TX: a veth (the lab, containers)
/// hands XDP_TX frames to its peer only once something else wakes the peer, unless the
/// peer runs an XDP program itself; a redirect is flushed at the end of the poll and
/// needs only the peer's NAPI. Real NICs take either; this is the drop path only.
#[xdp]
pub fn og_lan_reset(ctx: XdpContext) -> u32 {
    if !reset::answer(&ctx) {
        return xdp_action::XDP_DROP;
    }
    // SAFETY: the context pointer is valid for the program's run; plain helper call.
    let ifindex = unsafe { (*ctx.ctx).ingress_ifindex };
    unsafe { aya_ebpf::helpers::generated::bpf_redirect(ifindex, 0) as u32 }
}

/// Does nothing. Never attached by the daemon: it is the benchmark's floor, the cost of
/// running any XDP program at all (BENCHMARKS.md reports it beside ours).
#[xdp]
pub fn og_bench_empty(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}
