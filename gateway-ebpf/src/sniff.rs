//! Hands the opening packets of web connections to the daemon, which reads the site's
//! name from them (TLS SNI, HTTP `Host`) to attribute the flow's bytes to a site.
//!
//! Only packets from a PC to TCP port 443 or 80 whose payload *starts* like a TLS
//! ClientHello or an HTTP request are copied — a few per connection — so the cost for
//! every other packet is one port comparison. The copy is `bpf_xdp_load_bytes` straight
//! into the reserved ring-buffer entry: no stack buffer, no byte loop for the verifier.

use aya_ebpf::{helpers::generated::bpf_xdp_load_bytes, programs::XdpContext};
use gateway_common::{Addr6, SNIFF_BYTES, Sniff, Stat};

use crate::{
    maps::{SNIFF, bump},
    parse::{self, Malformed},
};

/// HTTP methods a request starts with, as the first four payload bytes.
const METHODS: [[u8; 4]; 8] = [
    *b"GET ", *b"POST", *b"HEAD", *b"PUT ", *b"DELE", *b"OPTI", *b"PATC", *b"CONN",
];

/// Where the flow of a captured packet comes from.
pub struct Flow {
    pub family: u8,
    pub pc: Addr6,
    pub remote: Addr6,
}

/// Copies the packet's payload to `SNIFF` if it opens a web connection.
#[inline(always)]
pub fn maybe(ctx: &XdpContext, l4: usize, dst_port: u16, proto: u8, flow: Flow) {
    if proto != parse::IPPROTO_TCP || (dst_port != 443 && dst_port != 80) || l4 == 0 {
        return;
    }
    let _ = capture(ctx, l4, dst_port, flow);
}

#[inline(always)]
fn capture(ctx: &XdpContext, l4: usize, dst_port: u16, flow: Flow) -> Result<(), Malformed> {
    let (start, end) = (ctx.data(), ctx.data_end());
    let payload = parse::tcp_payload(start, end, l4)?;
    let head: [u8; 6] = parse::bytes(start, end, payload)?;
    let opens = if dst_port == 443 {
        // A handshake record (0x16) of TLS 1.x (0x03 ..) holding a ClientHello (0x01).
        head[0] == 0x16 && head[1] == 0x03 && head[5] == 0x01
    } else {
        let h = [head[0], head[1], head[2], head[3]];
        METHODS.iter().any(|m| *m == h)
    };
    if !opens {
        return Ok(());
    }
    let avail = end - start - payload;
    let len = if avail > SNIFF_BYTES {
        SNIFF_BYTES
    } else {
        avail
    };
    // The verifier must see a length within the entry and not zero. The compiler knows
    // `len >= 6` (the read above) and would drop a zero check the verifier needs: a
    // volatile read hides what it knows, so both checks stay.
    // SAFETY: a read of a local.
    let len = unsafe { core::ptr::read_volatile(&len) };
    if len == 0 || len > SNIFF_BYTES {
        return Ok(());
    }
    let Some(mut entry) = SNIFF.reserve::<Sniff>(0) else {
        bump(Stat::SniffLost);
        return Ok(());
    };
    let e = entry.as_mut_ptr();
    // SAFETY: `e` is the reserved entry, sized for a `Sniff`; the header fields are
    // written in place, the payload copied by the helper into `data` (len ≤ its size).
    let copied = unsafe {
        (*e).pc = flow.pc;
        (*e).remote = flow.remote;
        (*e).remote_port = dst_port;
        (*e).family = flow.family;
        (*e).proto = parse::IPPROTO_TCP;
        (*e).len = len as u16;
        (*e)._pad = [0; 10];
        bpf_xdp_load_bytes(
            ctx.ctx,
            payload as u32,
            (*e).data.as_mut_ptr().cast(),
            len as u32,
        )
    };
    if copied != 0 {
        entry.discard(0);
        return Ok(());
    }
    entry.submit(0);
    bump(Stat::Sniffed);
    Ok(())
}
