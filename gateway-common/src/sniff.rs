//! Opening packets of web connections handed to the daemon (`SNIFF`).

use crate::Addr6;

/// Payload bytes a `Sniff` carries: a whole 1500-byte MTU segment's payload. A ClientHello
/// with a post-quantum key share (~1.8 kB) spans two segments; only the first is captured,
/// and the daemon reads what it can of it (the server name usually comes first).
pub const SNIFF_BYTES: usize = 1472;

/// What `SNIFF` carries: a packet from a PC to TCP port 443 or 80 whose payload starts like
/// a TLS ClientHello or an HTTP request (so a few per connection), with the flow it belongs
/// to. The daemon reads the server name (SNI) or the `Host` header from it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Sniff {
    /// IPv4 addresses sit in word 0, the rest zero (`family` says which).
    pub pc: Addr6,
    pub remote: Addr6,
    pub remote_port: u16,
    /// 4 or 6.
    pub family: u8,
    pub proto: u8,
    /// Bytes of `data` that are payload.
    pub len: u16,
    pub _pad: [u8; 10],
    pub data: [u8; SNIFF_BYTES],
}
