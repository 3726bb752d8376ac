//! The WAN side: per-interface packet/byte counts and TCP handshake counts, the failover
//! monitor's passive signal (connections opened through a channel vs connections answered).
//!
//! Never drops: whatever happens here, the packet passes (TC_ACT_UNSPEC, so programs after
//! ours still run under TCX).

use aya_ebpf::{bindings::TC_ACT_UNSPEC, programs::TcContext};
use gateway_common::WanCounters;

use crate::{maps::WAN, parse};

const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Out,
    In,
}

#[inline(always)]
pub fn count(ctx: &TcContext, side: Side) -> i32 {
    // SAFETY: the context pointer is valid for the program's run.
    let skb = unsafe { &*ctx.skb.skb };
    let ifindex = skb.ifindex;
    let len = skb.len as u64;
    let packets = if skb.gso_segs > 1 {
        skb.gso_segs as u64
    } else {
        1
    };
    let Some(c) = counters(ifindex) else {
        return TC_ACT_UNSPEC;
    };
    // SAFETY: per-CPU value; only this CPU writes it while this program runs.
    let c = unsafe { &mut *c };
    match side {
        Side::Out => {
            c.packets_out += packets;
            c.bytes_out += len;
        }
        Side::In => {
            c.packets_in += packets;
            c.bytes_in += len;
        }
    }
    // Handshake flags: only the headers in the linear part are looked at. A SYN or SYN-ACK
    // carries no payload worth paging in, so it is always linear in practice.
    let (start, end) = (ctx.data(), ctx.data_end());
    let Ok(frame) = parse::parse::<true>(start, end) else {
        return TC_ACT_UNSPEC;
    };
    if frame.ports.proto != parse::IPPROTO_TCP || frame.ports.l4 == 0 {
        return TC_ACT_UNSPEC;
    }
    let Ok(flags) = parse::tcp_flags(start, end, frame.ports.l4) else {
        return TC_ACT_UNSPEC;
    };
    match side {
        Side::Out if flags & (TCP_SYN | TCP_ACK) == TCP_SYN => c.syn_out += 1,
        Side::In if flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK => c.synack_in += 1,
        _ => {}
    }
    TC_ACT_UNSPEC
}

/// This CPU's counters of `ifindex`, created on first use (the map is small and keyed by
/// the few WAN interfaces the daemon attaches to).
#[inline(always)]
fn counters(ifindex: u32) -> Option<*mut WanCounters> {
    if let Some(p) = WAN.get_ptr_mut(&ifindex) {
        return Some(p);
    }
    let _ = WAN.insert(&ifindex, &WanCounters::default(), 0);
    WAN.get_ptr_mut(&ifindex)
}
