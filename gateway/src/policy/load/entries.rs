//! PCs and the entries that name them: `[[blocks]]`, `[[limits]]`, `[[exceptions]]`.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
};

use jiff::tz::TimeZone;
use toml::Spanned;

use super::{Ctx, PolicyError};
use crate::{
    lists::{self, DomainSet},
    policy::{
        compiled::{BlockTarget, Exception, Limit, LimitTarget, ManualBlock, Pc},
        model::PolicyFile,
        parse_time,
    },
};

pub(super) fn pcs(p: &PolicyFile, cx: &mut Ctx, group_ids: &HashMap<String, usize>) -> Vec<Pc> {
    let mut pcs = Vec::new();
    let mut names = HashSet::new();
    let mut addrs = HashMap::new();
    let mut macs = HashMap::new();
    let mut hostnames = HashMap::new();
    for pc in &p.pcs {
        if !names.insert(pc.name.get_ref().clone()) {
            cx.err(
                &pc.name,
                format!("PC `{}` is defined twice", pc.name.get_ref()),
            );
        }
        let mac = pc.mac.as_ref().and_then(|m| {
            let parsed = crate::datapath::parse_mac(m.get_ref());
            match parsed {
                None => cx.err(
                    m,
                    format!(
                        "PC `{}`: `{}` is not a device's MAC (aa:bb:cc:dd:ee:ff)",
                        pc.name.get_ref(),
                        m.get_ref()
                    ),
                ),
                Some(mac) => {
                    if let Some(other) = macs.insert(mac, pc.name.get_ref().clone()) {
                        cx.err(m, format!("MAC {} is also PC `{other}`'s", m.get_ref()));
                    }
                }
            }
            parsed
        });
        let addresses: &[IpAddr] = pc.addresses.as_ref().map_or(&[], |a| a.get_ref());
        if addresses.is_empty() && pc.mac.is_none() && pc.hostname.is_none() {
            cx.err(
                &pc.name,
                format!(
                    "PC `{}` has neither a MAC, an address nor a host name",
                    pc.name.get_ref()
                ),
            );
        }
        let hostname = pc.hostname.as_ref().and_then(|h| {
            let name = h.get_ref().to_ascii_lowercase();
            // As DHCP clients send them (and as `pcnames` keeps them from the lease file).
            let valid = !name.is_empty()
                && name.len() <= 63
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                cx.err(
                    h,
                    format!(
                        "PC `{}`: `{}` is not a DHCP host name (letters, digits, - and _)",
                        pc.name.get_ref(),
                        h.get_ref()
                    ),
                );
                return None;
            }
            if let Some(other) = hostnames.insert(name.clone(), pc.name.get_ref().clone()) {
                cx.err(h, format!("host name {name} is also PC `{other}`'s"));
            }
            Some(name)
        });
        for a in addresses {
            if let Some(other) = addrs.insert(*a, pc.name.get_ref().clone())
                && let Some(span) = &pc.addresses
            {
                cx.err(span, format!("address {a} is also PC `{other}`'s"));
            }
        }
        let group = pc.group.as_ref().and_then(|gn| {
            let id = group_ids.get(gn.get_ref()).copied();
            if id.is_none() {
                cx.err(
                    gn,
                    format!(
                        "PC `{}`: unknown group `{}`",
                        pc.name.get_ref(),
                        gn.get_ref()
                    ),
                );
            }
            id
        });
        pcs.push(Pc {
            name: pc.name.get_ref().clone(),
            addresses: addresses.to_vec(),
            macs: mac.into_iter().collect(),
            hostname,
            group,
        });
    }
    pcs
}

pub(super) fn blocks(
    p: &PolicyFile,
    cx: &mut Ctx,
    pcs: &[Pc],
    group_ids: &HashMap<String, usize>,
    tz: &TimeZone,
) -> Vec<ManualBlock> {
    let mut blocks = Vec::new();
    for b in &p.blocks {
        let target = match named_target(cx, pcs, group_ids, &b.pc, &b.group, "block") {
            Ok(Some(t)) => Some(t),
            Ok(None) => {
                cx.errors.push(PolicyError {
                    file: cx.file.clone(),
                    line: 0,
                    message: "a [[blocks]] entry names neither `pc` nor `group`".into(),
                });
                None
            }
            Err(()) => None,
        };
        let mut time = |t: &Option<Spanned<String>>| {
            t.as_ref().and_then(|t| match parse_time(t.get_ref(), tz) {
                Ok(ts) => Some(ts),
                Err(e) => {
                    cx.err(t, e);
                    None
                }
            })
        };
        let (from, until) = (time(&b.from), time(&b.until));
        if let Some(target) = target {
            blocks.push(ManualBlock {
                target,
                from,
                until,
                reason: b.reason.clone(),
            });
        }
    }
    blocks
}

pub(super) fn limits(
    p: &PolicyFile,
    cx: &mut Ctx,
    pcs: &[Pc],
    group_ids: &HashMap<String, usize>,
) -> Vec<Limit> {
    let mut limits = Vec::new();
    for l in &p.limits {
        let line = cx.line_of(l.span().start);
        let l = l.get_ref();
        let target = match (&l.pc, &l.group, l.company) {
            (Some(pc), None, false) => match pcs.iter().position(|x| &x.name == pc.get_ref()) {
                Some(i) => Some(LimitTarget::Pc(i)),
                None => {
                    cx.err(pc, format!("limit: unknown PC `{}`", pc.get_ref()));
                    None
                }
            },
            (None, Some(g), false) => match group_ids.get(g.get_ref()) {
                Some(i) => Some(LimitTarget::Group(*i)),
                None => {
                    cx.err(g, format!("limit: unknown group `{}`", g.get_ref()));
                    None
                }
            },
            (None, None, true) => Some(LimitTarget::Company),
            _ => {
                cx.err(
                    &l.bytes,
                    "a limit names exactly one of `pc`, `group` or `company = true`",
                );
                None
            }
        };
        let bytes = match l.bytes.get_ref().trim().parse::<bytesize::ByteSize>() {
            Ok(b) if b.as_u64() > 0 => Some(b.as_u64()),
            _ => {
                cx.err(
                    &l.bytes,
                    format!(
                        "limit: `{}` is not an amount of bytes (e.g. \"2 GB\", \"500 MiB\")",
                        l.bytes.get_ref()
                    ),
                );
                None
            }
        };
        if let (Some(target), Some(bytes)) = (target, bytes) {
            limits.push(Limit {
                target,
                per: l.per,
                bytes,
                line,
            });
        }
    }
    limits
}

pub(super) fn exceptions(
    p: &PolicyFile,
    cx: &mut Ctx,
    pcs: &[Pc],
    group_ids: &HashMap<String, usize>,
    tz: &TimeZone,
) -> Vec<Exception> {
    let mut exceptions = Vec::new();
    for e in &p.exceptions {
        let line = cx.line_of(e.span().start);
        let e = e.get_ref();
        let target = match named_target(cx, pcs, group_ids, &e.pc, &e.group, "exception") {
            Ok(Some(t)) => Some(t),
            Ok(None) => {
                cx.err(
                    &e.until,
                    "an [[exceptions]] entry names neither `pc` nor `group`",
                );
                None
            }
            Err(()) => None,
        };
        let mut domains = DomainSet::default();
        let mut domain_names = Vec::new();
        for d in &e.domains {
            match lists::normalize(d.get_ref()) {
                Ok(n) => {
                    domains.insert(n.as_bytes());
                    domain_names.push(n);
                }
                Err(err) => cx.err(d, err.to_string()),
            }
        }
        if e.domains.is_empty() {
            cx.err(
                &e.until,
                "an exception needs at least one name in `domains`",
            );
        }
        let until = match parse_time(e.until.get_ref(), tz) {
            Ok(t) => Some(t),
            Err(err) => {
                cx.err(&e.until, err);
                None
            }
        };
        if let (Some(target), Some(until)) = (target, until) {
            exceptions.push(Exception {
                target,
                domains,
                domain_names,
                until,
                reason: e.reason.clone(),
                granted_by: e.granted_by.clone(),
                line,
            });
        }
    }
    exceptions
}

/// The PC or the group an entry (`what`: block, exception) names. `Err`: a mistake, said
/// in `cx`; `Ok(None)`: it names neither (the caller says where that is wrong).
fn named_target(
    cx: &mut Ctx,
    pcs: &[Pc],
    group_ids: &HashMap<String, usize>,
    pc: &Option<Spanned<String>>,
    group: &Option<Spanned<String>>,
    what: &str,
) -> Result<Option<BlockTarget>, ()> {
    match (pc, group) {
        (Some(pc), None) => match pcs.iter().position(|x| &x.name == pc.get_ref()) {
            Some(i) => Ok(Some(BlockTarget::Pc(i))),
            None => {
                cx.err(pc, format!("{what}: unknown PC `{}`", pc.get_ref()));
                Err(())
            }
        },
        (None, Some(g)) => match group_ids.get(g.get_ref()) {
            Some(i) => Ok(Some(BlockTarget::Group(*i))),
            None => {
                cx.err(g, format!("{what}: unknown group `{}`", g.get_ref()));
                Err(())
            }
        },
        (Some(pc), Some(_)) => {
            cx.err(pc, format!("{what}: name a `pc` or a `group`, not both"));
            Err(())
        }
        (None, None) => Ok(None),
    }
}
