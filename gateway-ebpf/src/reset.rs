//! Fail fast: a TCP packet the policy drops on LAN ingress is turned, in place, into the
//! reset its sender would get from a closed port, and sent back out the LAN interface
//! (`og_lan_reset`). A blocked connection then fails at once ("connection refused") instead of
//! hanging until the browser gives up.
//!
//! Only the drop path comes here, so the per-packet cost of passing traffic is unchanged.
//! Handled: Ethernet (VLAN tags kept), IPv4 without options, IPv6 with TCP right after
//! its header. Anything else, a RST itself, or a frame too short, stays a plain drop.
//! The reset is counted as `Stat::Resets`; the dropped packet was counted by `account`.
//! Headers are read and written with `bpf_xdp_load_bytes`/`bpf_xdp_store_bytes`: their
//! offsets vary (VLAN tags), and the helpers check bounds at run time, where packet
//! pointers at variable offsets made the verifier lose the range LLVM had checked.

use aya_ebpf::{
    helpers::generated::{bpf_xdp_adjust_tail, bpf_xdp_load_bytes, bpf_xdp_store_bytes},
    programs::XdpContext,
};
use gateway_common::Stat;

use crate::{
    maps::bump,
    parse::{self, IPPROTO_TCP, Net},
};

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;
const TCP_LEN: usize = 20;

/// `N` bytes of the frame at `off`.
#[inline(always)]
fn load<const N: usize>(ctx: &XdpContext, off: usize) -> Option<[u8; N]> {
    let mut b = [0u8; N];
    // SAFETY: the helper checks `off..off + N` against the frame and writes `b` only.
    let r = unsafe { bpf_xdp_load_bytes(ctx.ctx, off as u32, b.as_mut_ptr().cast(), N as u32) };
    (r == 0).then_some(b)
}

/// Writes `b` into the frame at `off` (by reference: a copy would take stack).
#[inline(always)]
fn store<const N: usize>(ctx: &XdpContext, off: usize, b: &[u8; N]) -> Option<()> {
    // SAFETY: the helper checks `off..off + N` against the frame and only reads `b` (its
    // signature says mutable).
    let r = unsafe { bpf_xdp_store_bytes(ctx.ctx, off as u32, b.as_ptr() as *mut _, N as u32) };
    (r == 0).then_some(())
}

/// The dropped segment: where its headers are, and its TCP header.
struct Seg {
    l3: usize,
    l4: usize,
    /// Its TCP header's length.
    doff: usize,
    old: [u8; TCP_LEN],
}

/// Rewrites the frame in `ctx` into the TCP reset answering it. True: send it back;
/// false: drop it as it is.
///
/// The frame is parsed again, quietly (its VLAN tags were counted once): this runs in
/// `og_lan_reset`, tail-called with a stack of its own — inlined into the packet path,
/// its buffers went on top of that path's stack, past BPF's 512 bytes.
#[inline(always)]
pub fn answer(ctx: &XdpContext) -> bool {
    let Ok(frame) = parse::parse::<false>(ctx.data(), ctx.data_end()) else {
        return false;
    };
    let (l3, l4) = (frame.l3, frame.ports.l4);
    if frame.ports.proto != IPPROTO_TCP || l4 == 0 || l4 > 128 {
        return false;
    }
    let Some(old) = load::<TCP_LEN>(ctx, l4) else {
        return false;
    };
    if old[13] & RST != 0 {
        return false;
    }
    let seg = Seg {
        l3,
        l4,
        doff: (old[12] >> 4) as usize * 4,
        old,
    };
    let written = match frame.net {
        Net::V4 { .. } if l4 == l3 + 20 => v4(ctx, &seg),
        Net::V6 { .. } if l4 == l3 + 40 => v6(ctx, &seg),
        _ => false,
    };
    if !written || !swap_macs(ctx) {
        return false;
    }
    // Cut the frame after the new TCP header (the payload goes).
    let len = ctx.data_end() - ctx.data();
    let delta = (l4 + TCP_LEN) as i32 - len as i32;
    // SAFETY: plain helper call on this program's context; no packet pointer is used
    // after it.
    if delta < 0 && unsafe { bpf_xdp_adjust_tail(ctx.ctx, delta) } != 0 {
        return false;
    }
    bump(Stat::Resets);
    true
}

/// The reset's TCP header for `old` (the dropped segment, `doff` its header length,
/// `payload` its data length): as a closed port answers (RFC 9293 3.10.7.1).
#[inline(always)]
fn reset_header(old: &[u8; TCP_LEN], payload: u32) -> [u8; TCP_LEN] {
    let flags = old[13];
    let mut h = [0u8; TCP_LEN];
    // Ports swapped.
    h[0] = old[2];
    h[1] = old[3];
    h[2] = old[0];
    h[3] = old[1];
    if flags & ACK != 0 {
        // seq = their ack, no ACK.
        h[4] = old[8];
        h[5] = old[9];
        h[6] = old[10];
        h[7] = old[11];
        h[13] = RST;
    } else {
        // seq = 0, ack = their seq + what they sent (SYN and FIN count one each).
        let seq = u32::from_be_bytes([old[4], old[5], old[6], old[7]]);
        let len = payload + (flags & SYN != 0) as u32 + (flags & FIN != 0) as u32;
        let ack = seq.wrapping_add(len).to_be_bytes();
        h[8] = ack[0];
        h[9] = ack[1];
        h[10] = ack[2];
        h[11] = ack[3];
        h[13] = RST | ACK;
    }
    h[12] = (TCP_LEN as u8 / 4) << 4;
    h
}

/// The IPv4 reset: a 20-byte IP header (no options, `answer` checked) and the TCP header,
/// in place. Small buffers only: this frame sits on top of the packet path's.
#[inline(always)]
fn v4(ctx: &XdpContext, seg: &Seg) -> bool {
    let (Some(first), Some(src), Some(dst)) = (
        load::<4>(ctx, seg.l3),
        load::<4>(ctx, seg.l3 + 12),
        load::<4>(ctx, seg.l3 + 16),
    ) else {
        return false;
    };
    if first[0] != 0x45 {
        return false;
    }
    let total = u16::from_be_bytes([first[2], first[3]]) as usize;
    let Some(payload) = total.checked_sub(20 + seg.doff) else {
        return false;
    };
    // Version 4, 20-byte header, 40 bytes long, don't fragment, TTL 64, TCP.
    let mut head = [0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, IPPROTO_TCP, 0, 0];
    let addrs = sum(&src) + sum(&dst);
    let c = fold(sum(&head) + addrs).to_be_bytes();
    head[10] = c[0];
    head[11] = c[1];
    let mut t = reset_header(&seg.old, payload as u32);
    let c = fold(addrs + IPPROTO_TCP as u32 + TCP_LEN as u32 + sum(&t)).to_be_bytes();
    t[16] = c[0];
    t[17] = c[1];
    // Source and destination swapped.
    store(ctx, seg.l3, &head).is_some()
        && store(ctx, seg.l3 + 12, &dst).is_some()
        && store(ctx, seg.l3 + 16, &src).is_some()
        && store(ctx, seg.l4, &t).is_some()
}

/// The IPv6 reset: the fixed header (TCP right after it, `answer` checked) and the TCP
/// header, in place.
#[inline(always)]
fn v6(ctx: &XdpContext, seg: &Seg) -> bool {
    let (Some(first), Some(src), Some(dst)) = (
        load::<8>(ctx, seg.l3),
        load::<16>(ctx, seg.l3 + 8),
        load::<16>(ctx, seg.l3 + 24),
    ) else {
        return false;
    };
    if first[0] >> 4 != 6 || first[6] != IPPROTO_TCP {
        return false;
    }
    let plen = u16::from_be_bytes([first[4], first[5]]) as usize;
    let Some(payload) = plen.checked_sub(seg.doff) else {
        return false;
    };
    let mut t = reset_header(&seg.old, payload as u32);
    let pseudo = sum(&src) + sum(&dst) + IPPROTO_TCP as u32 + TCP_LEN as u32;
    let c = fold(pseudo + sum(&t)).to_be_bytes();
    t[16] = c[0];
    t[17] = c[1];
    // Version 6, no traffic class or flow label, 20 bytes of TCP, hop limit 64; source
    // and destination swapped.
    store(
        ctx,
        seg.l3,
        &[0x60, 0, 0, 0, 0, TCP_LEN as u8, IPPROTO_TCP, 64],
    )
    .is_some()
        && store(ctx, seg.l3 + 8, &dst).is_some()
        && store(ctx, seg.l3 + 24, &src).is_some()
        && store(ctx, seg.l4, &t).is_some()
}

/// The one's-complement sum of big-endian 16-bit words, unfolded.
#[inline(always)]
fn sum<const N: usize>(b: &[u8; N]) -> u32 {
    let mut s = 0u32;
    let mut i = 0;
    while i + 1 < N {
        s += u16::from_be_bytes([b[i], b[i + 1]]) as u32;
        i += 2;
    }
    s
}

/// The Internet checksum of a sum.
#[inline(always)]
fn fold(mut s: u32) -> u16 {
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    !(s as u16)
}

/// The reset goes back where the segment came from.
#[inline(always)]
fn swap_macs(ctx: &XdpContext) -> bool {
    let Some(m) = load::<12>(ctx, 0) else {
        return false;
    };
    let swapped = [
        m[6], m[7], m[8], m[9], m[10], m[11], m[0], m[1], m[2], m[3], m[4], m[5],
    ];
    store(ctx, 0, &swapped).is_some()
}
