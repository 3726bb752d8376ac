//! The blocked sets: exact addresses (`BLOCK_*`), ranges (`BLOCK_CIDR_*`) with the
//! per-group flags saying who has ranges and who blocks QUIC (`GROUPS`), and the gateway's own addresses
//! (`GW_ADDR_*`), which no drop applies to.

use std::{collections::BTreeMap, net::IpAddr};

use aya::maps::{HashMap, MapData, lpm_trie::Key, lpm_trie::LpmTrie};
use gateway_common::{
    Addr6, GROUP_BLOCK_QUIC, GROUP_HAS_RANGES_V4, GROUP_HAS_RANGES_V6, GroupInfo,
    addr6_from_octets, capacity, maps as names,
};

use super::{Maps, map_err, v4_from_key, v4_key, v6_from_key};
use crate::datapath::DatapathError;

impl Maps {
    /// Replaces the whole blocked set: `wanted` maps each address or range
    /// (address, prefix length) to the mask of groups it is blocked for. Entries not in
    /// `wanted` are removed. `quic`: the mask of groups that block QUIC. Returns how many
    /// entries were written.
    pub fn sync_blocked(
        &mut self,
        wanted: &BTreeMap<(IpAddr, u8), u64>,
        quic: u64,
    ) -> Result<usize, DatapathError> {
        let err4 = map_err(names::BLOCK_V4);
        let err6 = map_err(names::BLOCK_V6);
        let errc4 = map_err(names::BLOCK_CIDR_V4);
        let errc6 = map_err(names::BLOCK_CIDR_V6);
        // Remove what is no longer wanted first, then write the rest.
        let v4 = |k: u32, len: u8| wanted.contains_key(&(IpAddr::V4(v4_from_key(k)), len));
        let v6 = |k: Addr6, len: u8| wanted.contains_key(&(IpAddr::V6(v6_from_key(k)), len));
        remove_where(&mut self.block4, names::BLOCK_V4, |k| !v4(*k, 32))?;
        remove_where(&mut self.block6, names::BLOCK_V6, |k| !v6(*k, 128))?;
        remove_where(&mut self.cidr4, names::BLOCK_CIDR_V4, |k| {
            !v4(k.data(), k.prefix_len() as u8)
        })?;
        remove_where(&mut self.cidr6, names::BLOCK_CIDR_V6, |k| {
            !v6(k.data(), k.prefix_len() as u8)
        })?;

        // The trie answers with the longest matching range only, so a range must carry the
        // groups of every shorter range containing it, or group A's 10.0.0.0/8 would stop
        // applying inside group B's 10.1.0.0/16.
        let ranges: Vec<(IpAddr, u8, u64)> = wanted
            .iter()
            .filter(|((a, p), _)| *p < if a.is_ipv4() { 32 } else { 128 })
            .map(|((a, p), m)| (*a, *p, *m))
            .collect();
        let inherited = |addr: IpAddr, prefix: u8, mask: u64| -> u64 {
            ranges
                .iter()
                .filter(|(a, p, _)| *p < prefix && net_contains(*a, *p, addr))
                .fold(mask, |m, (_, _, other)| m | other)
        };
        let mut range_groups = [0u32; capacity::GROUPS as usize];
        for (&(addr, prefix), &mask) in wanted {
            // Exact addresses inside a range get its groups too: not needed for the verdict
            // (the trie is still asked after an exact miss), but the exact hit then saves
            // the trie walk.
            let mask = inherited(addr, prefix, mask);
            match addr {
                IpAddr::V4(a) if prefix >= 32 => {
                    self.block4.insert(v4_key(a), mask, 0).map_err(err4)?
                }
                IpAddr::V6(a) if prefix >= 128 => self
                    .block6
                    .insert(addr6_from_octets(a.octets()), mask, 0)
                    .map_err(err6)?,
                IpAddr::V4(a) => {
                    self.cidr4
                        .insert(&Key::new(prefix.into(), v4_key(a)), mask, 0)
                        .map_err(errc4)?;
                    mark(&mut range_groups, mask, GROUP_HAS_RANGES_V4);
                }
                IpAddr::V6(a) => {
                    self.cidr6
                        .insert(
                            &Key::new(prefix.into(), addr6_from_octets(a.octets())),
                            mask,
                            0,
                        )
                        .map_err(errc6)?;
                    mark(&mut range_groups, mask, GROUP_HAS_RANGES_V6);
                }
            }
        }
        mark(&mut range_groups, quic, GROUP_BLOCK_QUIC);
        for (id, flags) in range_groups.iter().enumerate() {
            let info = GroupInfo { flags: *flags };
            self.groups
                .set(id as u32, info, 0)
                .map_err(map_err(names::GROUPS))?;
        }
        Ok(wanted.len())
    }

    /// The gateway's own addresses, which no drop ever applies to.
    pub fn set_gateway_addrs(&mut self, addrs: &[IpAddr]) -> Result<(), DatapathError> {
        remove_where(&mut self.gw4, names::GW_ADDR_V4, |_| true)?;
        remove_where(&mut self.gw6, names::GW_ADDR_V6, |_| true)?;
        for a in addrs {
            match a {
                IpAddr::V4(a) => self.gw4.insert(v4_key(*a), 1, 0),
                IpAddr::V6(a) => self.gw6.insert(addr6_from_octets(a.octets()), 1, 0),
            }
            .map_err(|source| DatapathError::Map {
                name: if a.is_ipv4() {
                    names::GW_ADDR_V4
                } else {
                    names::GW_ADDR_V6
                },
                source,
            })?;
        }
        Ok(())
    }
}

/// Whether `net/prefix` contains `addr` (same family only).
/// Of `nets` (a range and what it stands for), what the most specific range holding one
/// of `addrs` stands for.
pub fn most_specific<G: Copy>(
    nets: impl IntoIterator<Item = ((IpAddr, u8), G)>,
    addrs: &[IpAddr],
) -> Option<G> {
    let mut best: Option<(u8, G)> = None;
    for ((net, prefix), g) in nets {
        if best.is_none_or(|(p, _)| prefix > p)
            && addrs.iter().any(|a| net_contains(net, prefix, *a))
        {
            best = Some((prefix, g));
        }
    }
    best.map(|(_, g)| g)
}

pub fn net_contains(net: IpAddr, prefix: u8, addr: IpAddr) -> bool {
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            u32::from(n) & m == u32::from(a) & m
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            u128::from(n) & m == u128::from(a) & m
        }
        _ => false,
    }
}

/// The two kinds of keyed maps the daemon prunes (hash maps and LPM tries).
trait Keyed<K> {
    fn all_keys(&self) -> Vec<K>;
    fn delete(&mut self, key: &K) -> Result<(), aya::maps::MapError>;
}

impl<K: aya::Pod, V: aya::Pod> Keyed<K> for HashMap<MapData, K, V> {
    fn all_keys(&self) -> Vec<K> {
        self.keys().filter_map(|k| k.ok()).collect()
    }
    fn delete(&mut self, key: &K) -> Result<(), aya::maps::MapError> {
        self.remove(key)
    }
}

impl<K: aya::Pod, V: aya::Pod> Keyed<Key<K>> for LpmTrie<MapData, K, V> {
    fn all_keys(&self) -> Vec<Key<K>> {
        self.keys().filter_map(|k| k.ok()).collect()
    }
    fn delete(&mut self, key: &Key<K>) -> Result<(), aya::maps::MapError> {
        self.remove(key)
    }
}

/// Deletes every key `unwanted` picks. Keys are collected first: deleting while the kernel
/// iterates would restart the walk.
fn remove_where<K, M: Keyed<K>>(
    map: &mut M,
    name: &'static str,
    unwanted: impl Fn(&K) -> bool,
) -> Result<(), DatapathError> {
    for k in map.all_keys().into_iter().filter(|k| unwanted(k)) {
        map.delete(&k)
            .map_err(|source| DatapathError::Map { name, source })?;
    }
    Ok(())
}

fn mark(groups: &mut [u32], mask: u64, flag: u32) {
    for (id, g) in groups.iter_mut().enumerate() {
        if mask & (1u64 << id) != 0 {
            *g |= flag;
        }
    }
}
