//! Schedules, groups and their rules: every name a rule uses (lists, categories,
//! schedules, parents) resolved to an index, or an error where it is written.

use std::collections::{HashMap, HashSet};

use super::{Ctx, PolicyError};
use crate::{
    lists::{self, DomainSet},
    policy::{
        compiled::{DEFAULT_GROUP, Group, NamedList, Rule},
        model::PolicyFile,
        schedule::{Schedule, parse_day, parse_hhmm},
    },
};

pub(super) fn schedules(p: &PolicyFile, cx: &mut Ctx) -> Vec<Schedule> {
    let mut schedules = Vec::new();
    for (name, s) in &p.schedules {
        let mut days = [false; 7];
        for d in &s.days {
            match parse_day(d.get_ref()) {
                Some(w) => days[w.to_monday_zero_offset() as usize] = true,
                None => cx.err(
                    d,
                    format!(
                        "schedule `{name}`: `{}` is not a day (mon…sun)",
                        d.get_ref()
                    ),
                ),
            }
        }
        if s.days.is_empty() {
            cx.err(&s.from, format!("schedule `{name}` has no days"));
        }
        let from = parse_hhmm(s.from.get_ref());
        let until = parse_hhmm(s.until.get_ref());
        if from.is_none() {
            cx.err(&s.from, format!("schedule `{name}`: `from` must be HH:MM"));
        }
        if until.is_none() {
            cx.err(
                &s.until,
                format!("schedule `{name}`: `until` must be HH:MM"),
            );
        }
        if from.is_some() && from == until {
            cx.err(
                &s.until,
                format!("schedule `{name}`: `from` and `until` are equal"),
            );
        }
        schedules.push(Schedule {
            name: name.clone(),
            days,
            from: from.unwrap_or(0),
            until: until.unwrap_or(0),
        });
    }
    schedules
}

/// The groups, and their ids by name.
pub(super) fn groups(
    p: &PolicyFile,
    cx: &mut Ctx,
    lists: &[NamedList],
    categories: &[NamedList],
    schedules: &[Schedule],
) -> (Vec<Group>, HashMap<String, usize>) {
    // Groups: names first, so parents may be declared after their children.
    let mut group_ids: HashMap<String, usize> = HashMap::new();
    for (i, g) in p.groups.iter().enumerate() {
        if g.name.get_ref() == DEFAULT_GROUP {
            cx.err(
                &g.name,
                "`default` is the implicit group of unlisted PCs; pick another name",
            );
        } else if group_ids.insert(g.name.get_ref().clone(), i).is_some() {
            cx.err(
                &g.name,
                format!("group `{}` is defined twice", g.name.get_ref()),
            );
        }
    }
    if let Some(g) = p.groups.get(gateway_common::MAX_GROUPS) {
        cx.err(
            &g.name,
            format!(
                "group `{}` is one too many: a policy has at most {} groups (each is one bit of the datapath's 64-bit group sets; the last is `default`)",
                g.name.get_ref(),
                gateway_common::MAX_GROUPS
            ),
        );
    }
    let mut groups = Vec::new();
    for g in &p.groups {
        let parent = g.parent.as_ref().and_then(|pn| {
            let id = group_ids.get(pn.get_ref()).copied();
            if id.is_none() {
                cx.err(
                    pn,
                    format!(
                        "group `{}`: unknown parent `{}`",
                        g.name.get_ref(),
                        pn.get_ref()
                    ),
                );
            }
            id
        });
        let mut rules = Vec::new();
        for r in &g.rules {
            let line = cx.line_of(r.span().start);
            let def = r.get_ref();
            let mut refs = Vec::new();
            for l in &def.lists {
                match lists.iter().position(|x| &x.name == l.get_ref()) {
                    Some(i) => refs.push((false, i)),
                    None => cx.err(l, format!("unknown list `{}`", l.get_ref())),
                }
            }
            for c in &def.categories {
                match categories.iter().position(|x| &x.name == c.get_ref()) {
                    Some(i) => refs.push((true, i)),
                    None => cx.err(c, format!("unknown category `{}`", c.get_ref())),
                }
            }
            let mut domains = DomainSet::default();
            let mut domain_names = Vec::new();
            for d in &def.domains {
                match lists::normalize(d.get_ref()) {
                    Ok(n) => {
                        domains.insert(n.as_bytes());
                        domain_names.push(n);
                    }
                    Err(e) => cx.err(d, e.to_string()),
                }
            }
            let schedule = def.schedule.as_ref().and_then(|s| {
                let id = schedules.iter().position(|x| &x.name == s.get_ref());
                if id.is_none() {
                    cx.err(s, format!("unknown schedule `{}`", s.get_ref()));
                }
                id
            });
            let mut addresses = Vec::new();
            for a in &def.addresses {
                match crate::parse::parse_net(a.get_ref()) {
                    Ok(net) => addresses.push(net),
                    Err(e) => cx.err(a, format!("address `{}`: {e}", a.get_ref())),
                }
            }
            if refs.is_empty() && domain_names.is_empty() && addresses.is_empty() {
                cx.errors.push(PolicyError {
                    file: cx.file.clone(),
                    line,
                    message: "a rule needs lists, categories, domains or addresses".into(),
                });
            }
            rules.push(Rule {
                action: def.action,
                refs,
                domains,
                domain_names,
                addresses,
                schedule,
                mode: def.mode,
                line,
            });
        }
        let mut networks = Vec::new();
        for n in &g.networks {
            match crate::parse::parse_net(n.get_ref()) {
                Ok(net) => networks.push(net),
                Err(e) => cx.err(n, format!("network `{}`: {e}", n.get_ref())),
            }
        }
        groups.push(Group {
            name: g.name.get_ref().clone(),
            parent,
            rules,
            safe_search: g.safe_search,
            block_quic: g.block_quic,
            networks,
        });
    }
    (groups, group_ids)
}

pub(super) fn check_cycles(groups: &[Group], p: &PolicyFile, cx: &mut Ctx) {
    for (start, def) in groups.iter().zip(&p.groups) {
        let mut seen = HashSet::new();
        let mut at = Some(start);
        while let Some(g) = at {
            if !seen.insert(g.name.as_str()) {
                cx.err(
                    &def.name,
                    format!("group `{}` is its own ancestor", start.name),
                );
                break;
            }
            at = g.parent.map(|i| &groups[i]);
        }
    }
}
