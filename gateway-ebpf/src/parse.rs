//! Header parsing: Ethernet (with up to two VLAN tags), ARP, IPv4, IPv6 (with extension
//! headers), and the ports of TCP/UDP/SCTP. Every read goes through `ptr_at`, the one
//! bounds check the verifier sees. A header that claims more than the frame holds is
//! `Malformed`; a protocol we don't look into is simply "no ports".

use core::mem;

// network-types gives the header layouts (sizes); fields are read at their offsets with
// one load each, see `load`.
use network_types::{
    arp::ArpHdr,
    eth::EthHdr,
    ip::{Ipv4Hdr, Ipv6Hdr},
    vlan::VlanHdr,
};

use crate::maps::bump;
use gateway_common::Stat;

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_ARP: u16 = 0x0806;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88A8;

pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
const IPPROTO_SCTP: u8 = 132;
const IPPROTO_UDPLITE: u8 = 136;

// IPv6 extension headers we step over to find the transport header.
const IPV6_HOPOPTS: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_AH: u8 = 51;
const IPV6_DSTOPTS: u8 = 60;
/// Extension headers walked before giving up and treating the packet as port-less. Real
/// traffic carries zero or one; the bound keeps the verifier's loop analysis short.
const IPV6_MAX_EXT: usize = 4;

pub struct Malformed;

/// The bounds check every packet read goes through.
#[inline(always)]
pub fn ptr_at<T>(start: usize, end: usize, offset: usize) -> Result<*const T, Malformed> {
    if start + offset + mem::size_of::<T>() > end {
        return Err(Malformed);
    }
    Ok((start + offset) as *const T)
}

/// One load of a `T` from the packet. Fields are read at their natural width even where
/// a VLAN tag or the 14-byte Ethernet header leaves them 2-byte aligned: x86-64 (and the
/// verifier on it) accepts unaligned packet loads, and a byte-wise `read_unaligned` cost
/// ~40 extra instructions per packet in the first measurement (bench datapath).
#[inline(always)]
fn load<T: Copy>(start: usize, end: usize, offset: usize) -> Result<T, Malformed> {
    let p = ptr_at::<T>(start, end, offset)?;
    // SAFETY: bounds checked above; see the comment on alignment.
    Ok(unsafe { core::ptr::read(p) })
}

/// Reads a field whose bounds the caller has already checked (`ptr_at` on the header).
#[inline(always)]
unsafe fn field<T: Copy>(header: usize, offset: usize) -> T {
    // SAFETY: the caller checked header..header+len, and offset + size_of::<T>() <= len.
    unsafe { core::ptr::read((header + offset) as *const T) }
}

#[derive(Clone, Copy)]
pub struct Ports {
    pub proto: u8,
    pub src: u16,
    pub dst: u16,
    /// Offset of the transport header in the frame (0: none, e.g. a later fragment). Only
    /// the WAN programs read it (TCP flags); the LAN path never does, so it costs nothing.
    pub l4: usize,
}

#[derive(Clone, Copy)]
pub enum Net {
    V4 {
        src: u32,
        dst: u32,
    },
    /// Addresses as two 64-bit words each, in memory order: two loads instead of four,
    /// and the flow key is built from whole words (see `account::FlowKey`).
    V6 {
        src: [u64; 2],
        dst: [u64; 2],
    },
    /// ARP, with sender and target protocol addresses (network order).
    Arp {
        sender: u32,
        target: u32,
    },
    /// Neither IP nor ARP: passed, counted only as `Stat::NonIp`.
    Other,
}

#[derive(Clone, Copy)]
pub struct Frame {
    pub net: Net,
    pub ports: Ports,
    /// Offset of the network header (after any VLAN tags); read only by `reset`.
    pub l3: usize,
}

/// Offsets of the MAC addresses in the frame; read only when a PC entry is created.
pub const DST_MAC_OFF: usize = 0;
pub const SRC_MAC_OFF: usize = 6;

/// `COUNT`: count VLAN tags and fragments (`Stat`); false when a frame is read again.
#[inline(always)]
pub fn parse<const COUNT: bool>(start: usize, end: usize) -> Result<Frame, Malformed> {
    let mut ether_type = u16::from_be(load::<u16>(start, end, 12)?);
    let mut off = EthHdr::LEN;
    // Up to two tags (802.1ad outer, 802.1Q inner). A third tag is left as "other".
    for _ in 0..2 {
        if ether_type != ETH_P_8021Q && ether_type != ETH_P_8021AD {
            break;
        }
        ether_type = u16::from_be(load::<u16>(start, end, off + 2)?);
        off += VlanHdr::LEN;
        if COUNT {
            bump(Stat::Vlan);
        }
    }
    let no_ports = Ports {
        proto: 0,
        src: 0,
        dst: 0,
        l4: 0,
    };
    let (net, ports) = match ether_type {
        ETH_P_IP => parse_v4::<COUNT>(start, end, off)?,
        ETH_P_IPV6 => parse_v6::<COUNT>(start, end, off)?,
        ETH_P_ARP => {
            let h = ptr_at::<ArpHdr>(start, end, off)? as usize;
            // Only Ethernet/IPv4 ARP carries addresses we can attribute.
            // SAFETY: the whole ARP header is in bounds.
            let (htype, ptype, lens) =
                unsafe { (field::<u16>(h, 0), field::<u16>(h, 2), field::<u16>(h, 4)) };
            if htype != 1u16.to_be()
                || ptype != ETH_P_IP.to_be()
                || lens != u16::from_ne_bytes([6, 4])
            {
                return Err(Malformed);
            }
            // SAFETY: as above (spa at 14, tpa at 24 of a 28-byte header).
            let net = unsafe {
                Net::Arp {
                    sender: field::<u32>(h, 14),
                    target: field::<u32>(h, 24),
                }
            };
            (net, no_ports)
        }
        _ => (Net::Other, no_ports),
    };
    Ok(Frame {
        net,
        ports,
        l3: off,
    })
}

#[inline(always)]
fn parse_v4<const COUNT: bool>(
    start: usize,
    end: usize,
    off: usize,
) -> Result<(Net, Ports), Malformed> {
    let h = ptr_at::<Ipv4Hdr>(start, end, off)? as usize;
    // SAFETY: the 20-byte header is in bounds; offsets per RFC 791.
    let (vihl, tot_len, frags, proto, src, dst) = unsafe {
        (
            field::<u8>(h, 0),
            u16::from_be(field::<u16>(h, 2)),
            u16::from_be(field::<u16>(h, 6)),
            field::<u8>(h, 9),
            field::<u32>(h, 12),
            field::<u32>(h, 16),
        )
    };
    let ihl = (vihl & 0x0f) as usize * 4;
    if vihl >> 4 != 4 || ihl < Ipv4Hdr::LEN || (tot_len as usize) < ihl {
        return Err(Malformed);
    }
    let net = Net::V4 { src, dst };
    if frags & 0x1fff != 0 {
        // Later fragments carry no transport header; they are still the same PC and remote.
        if COUNT {
            bump(Stat::Fragment);
        }
        return Ok((
            net,
            Ports {
                proto,
                src: 0,
                dst: 0,
                l4: 0,
            },
        ));
    }
    let ports = transport(start, end, off + ihl, proto)?;
    Ok((net, ports))
}

#[inline(always)]
fn parse_v6<const COUNT: bool>(
    start: usize,
    end: usize,
    off: usize,
) -> Result<(Net, Ports), Malformed> {
    let h = ptr_at::<Ipv6Hdr>(start, end, off)? as usize;
    // SAFETY: the 40-byte header is in bounds; addresses at 8 and 24 (RFC 8200), read as
    // two words each.
    let (ver, mut next, src, dst) = unsafe {
        (
            field::<u8>(h, 0) >> 4,
            field::<u8>(h, 6),
            field::<[u64; 2]>(h, 8),
            field::<[u64; 2]>(h, 24),
        )
    };
    if ver != 6 {
        return Err(Malformed);
    }
    let net = Net::V6 { src, dst };
    let mut l4 = off + Ipv6Hdr::LEN;
    for _ in 0..IPV6_MAX_EXT {
        let len = match next {
            IPV6_HOPOPTS | IPV6_ROUTING | IPV6_DSTOPTS => {
                let h: [u8; 2] = load(start, end, l4)?;
                next = h[0];
                (h[1] as usize + 1) * 8
            }
            IPV6_AH => {
                let h: [u8; 2] = load(start, end, l4)?;
                next = h[0];
                (h[1] as usize + 2) * 4
            }
            IPV6_FRAGMENT => {
                let h: [u8; 4] = load(start, end, l4)?;
                next = h[0];
                if u16::from_be_bytes([h[2], h[3]]) >> 3 != 0 {
                    if COUNT {
                        bump(Stat::Fragment);
                    }
                    return Ok((
                        net,
                        Ports {
                            proto: next,
                            src: 0,
                            dst: 0,
                            l4: 0,
                        },
                    ));
                }
                8
            }
            _ => break,
        };
        l4 += len;
    }
    let ports = transport(start, end, l4, next)?;
    Ok((net, ports))
}

#[inline(always)]
fn transport(start: usize, end: usize, off: usize, proto: u8) -> Result<Ports, Malformed> {
    match proto {
        IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP | IPPROTO_UDPLITE => {
            // All four begin with source and destination port.
            let p: [u16; 2] = load(start, end, off)?;
            Ok(Ports {
                proto,
                src: u16::from_be(p[0]),
                dst: u16::from_be(p[1]),
                l4: off,
            })
        }
        _ => Ok(Ports {
            proto,
            src: 0,
            dst: 0,
            l4: 0,
        }),
    }
}

/// The flags byte of the TCP header at `l4` (offset 13).
#[inline(always)]
pub fn tcp_flags(start: usize, end: usize, l4: usize) -> Result<u8, Malformed> {
    load::<u8>(start, end, l4 + 13)
}

/// Offset of the TCP payload: the header's length is its data-offset nibble × 4.
#[inline(always)]
pub fn tcp_payload(start: usize, end: usize, l4: usize) -> Result<usize, Malformed> {
    let doff = load::<u8>(start, end, l4 + 12)? >> 4;
    Ok(l4 + doff as usize * 4)
}

/// The first `N` bytes at `off`, if the frame holds them.
#[inline(always)]
pub fn bytes<const N: usize>(start: usize, end: usize, off: usize) -> Result<[u8; N], Malformed> {
    load::<[u8; N]>(start, end, off)
}
