//! Small parsers the configuration and the policy share: where an error is (a line of a
//! file) and networks as both write them. A leaf: depends on nothing of the crate, so
//! `config` and `policy` need not depend on each other.

use std::net::IpAddr;

/// The 1-based line of byte `offset` in `text`.
pub fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// `a.b.c.d`, `a.b.c.d/n`, `x::y`, `x::y/n`, with host bits required to be zero.
pub fn parse_net(s: &str) -> Result<(IpAddr, u8), String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| "not an IP address".to_string())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p
            .trim()
            .parse::<u8>()
            .map_err(|_| "bad prefix length".to_string())?,
        None => max,
    };
    if prefix > max || prefix == 0 {
        return Err(format!("prefix length must be 1..={max}"));
    }
    let host_bits_zero = match addr {
        IpAddr::V4(a) => prefix == 32 || u32::from(a) & (u32::MAX >> prefix) == 0,
        IpAddr::V6(a) => prefix == 128 || u128::from(a) & (u128::MAX >> prefix) == 0,
    };
    if !host_bits_zero {
        return Err("host bits are set beyond the prefix".to_string());
    }
    Ok((addr, prefix))
}
