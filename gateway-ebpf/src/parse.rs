//! Header parsing: Ethernet (with up to two VLAN tags), ARP, IPv4, IPv6 (with extension
//! headers), and the ports of TCP/UDP/SCTP. Every read goes through `ptr_at`, the one
//! bounds check the verifier sees. A header that claims more than the frame holds is
//! `Malformed`; a protocol we don't look into is simply "no ports".

use core::mem;

use network_types::{
    arp::ArpHdr,
    eth::EthHdr,
    ip::{Ipv4Hdr, Ipv6Hdr},
    vlan::VlanHdr,
};

use crate::maps::{Addr6, bump};
use gateway_common::Stat;

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_ARP: u16 = 0x0806;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88A8;

const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
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

#[inline(always)]
fn read<T: Copy>(start: usize, end: usize, offset: usize) -> Result<T, Malformed> {
    let p = ptr_at::<T>(start, end, offset)?;
    // SAFETY: bounds checked above; unaligned because VLAN tags shift the headers by 4.
    Ok(unsafe { core::ptr::read_unaligned(p) })
}

pub struct Ports {
    pub proto: u8,
    pub src: u16,
    pub dst: u16,
}

pub enum Net {
    V4 {
        src: u32,
        dst: u32,
    },
    V6 {
        src: Addr6,
        dst: Addr6,
    },
    /// ARP, with sender and target protocol addresses (network order).
    Arp {
        sender: u32,
        target: u32,
    },
    /// Neither IP nor ARP: passed, counted only as `Stat::NonIp`.
    Other,
}

pub struct Frame {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub net: Net,
    pub ports: Ports,
}

#[inline(always)]
pub fn parse(start: usize, end: usize) -> Result<Frame, Malformed> {
    let eth: EthHdr = read(start, end, 0)?;
    let mut ether_type = u16::from_be(eth.ether_type);
    let mut off = EthHdr::LEN;
    // Up to two tags (802.1ad outer, 802.1Q inner). A third tag is left as "other".
    for _ in 0..2 {
        if ether_type != ETH_P_8021Q && ether_type != ETH_P_8021AD {
            break;
        }
        let vlan: VlanHdr = read(start, end, off)?;
        ether_type = u16::from_be(vlan.ether_type);
        off += VlanHdr::LEN;
        bump(Stat::Vlan);
    }
    let no_ports = Ports {
        proto: 0,
        src: 0,
        dst: 0,
    };
    let (net, ports) = match ether_type {
        ETH_P_IP => parse_v4(start, end, off)?,
        ETH_P_IPV6 => parse_v6(start, end, off)?,
        ETH_P_ARP => {
            let arp: ArpHdr = read(start, end, off)?;
            // Only Ethernet/IPv4 ARP carries addresses we can attribute.
            if arp.htype != [0, 1] || arp.ptype != [0x08, 0x00] || arp.hlen != 6 || arp.plen != 4 {
                return Err(Malformed);
            }
            let net = Net::Arp {
                sender: u32::from_ne_bytes(arp.spa),
                target: u32::from_ne_bytes(arp.tpa),
            };
            (net, no_ports)
        }
        _ => (Net::Other, no_ports),
    };
    Ok(Frame {
        src_mac: eth.src_addr,
        dst_mac: eth.dst_addr,
        net,
        ports,
    })
}

#[inline(always)]
fn parse_v4(start: usize, end: usize, off: usize) -> Result<(Net, Ports), Malformed> {
    let ip: Ipv4Hdr = read(start, end, off)?;
    let ihl = (ip.vihl & 0x0f) as usize * 4;
    if ip.vihl >> 4 != 4 || ihl < Ipv4Hdr::LEN || (u16::from_be_bytes(ip.tot_len) as usize) < ihl {
        return Err(Malformed);
    }
    let net = Net::V4 {
        src: u32::from_ne_bytes(ip.src_addr),
        dst: u32::from_ne_bytes(ip.dst_addr),
    };
    let frag_offset = u16::from_be_bytes(ip.frags) & 0x1fff;
    if frag_offset != 0 {
        // Later fragments carry no transport header; they are still the same PC and remote.
        bump(Stat::Fragment);
        return Ok((
            net,
            Ports {
                proto: ip.proto,
                src: 0,
                dst: 0,
            },
        ));
    }
    let ports = transport(start, end, off + ihl, ip.proto)?;
    Ok((net, ports))
}

#[inline(always)]
fn parse_v6(start: usize, end: usize, off: usize) -> Result<(Net, Ports), Malformed> {
    let ip: Ipv6Hdr = read(start, end, off)?;
    if ip.vcf[0] >> 4 != 6 {
        return Err(Malformed);
    }
    let net = Net::V6 {
        src: ip.src_addr,
        dst: ip.dst_addr,
    };
    let mut next = ip.next_hdr;
    let mut l4 = off + Ipv6Hdr::LEN;
    for _ in 0..IPV6_MAX_EXT {
        let len = match next {
            IPV6_HOPOPTS | IPV6_ROUTING | IPV6_DSTOPTS => {
                let h: [u8; 2] = read(start, end, l4)?;
                next = h[0];
                (h[1] as usize + 1) * 8
            }
            IPV6_AH => {
                let h: [u8; 2] = read(start, end, l4)?;
                next = h[0];
                (h[1] as usize + 2) * 4
            }
            IPV6_FRAGMENT => {
                let h: [u8; 4] = read(start, end, l4)?;
                next = h[0];
                if u16::from_be_bytes([h[2], h[3]]) >> 3 != 0 {
                    bump(Stat::Fragment);
                    return Ok((
                        net,
                        Ports {
                            proto: next,
                            src: 0,
                            dst: 0,
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
            let p: [u8; 4] = read(start, end, off)?;
            Ok(Ports {
                proto,
                src: u16::from_be_bytes([p[0], p[1]]),
                dst: u16::from_be_bytes([p[2], p[3]]),
            })
        }
        _ => Ok(Ports {
            proto,
            src: 0,
            dst: 0,
        }),
    }
}
