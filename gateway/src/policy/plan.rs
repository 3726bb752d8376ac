//! What the kernel must hold at a moment: per group, the blocked addresses and ranges
//! (from group rules only, and from the addresses recently answered for names the group
//! may not reach now), and per PC address its group and state.

use std::{collections::HashMap, net::IpAddr};

use jiff::Timestamp;

use super::{
    compiled::{BlockTarget, Exception, Policy},
    model::Action,
};

/// Name verdicts per group remembered between plans (see `Policy::datapath_plan`).
#[derive(Default)]
pub struct PlanMemo {
    key: Option<(u64, u128)>,
    verdicts: HashMap<(usize, std::sync::Arc<str>), bool>,
}

impl Policy {
    /// Which schedules are on at `now`, as a bit set: with the policy itself, all that a
    /// group's verdict on a name depends on.
    pub fn schedule_mask(&self, now: &jiff::ZonedDateTime) -> u128 {
        self.schedules
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_on(now))
            .fold(0u128, |m, (i, _)| m | (1u128 << (i % 128)))
    }

    /// What the datapath must hold at `at`: per group, the addresses its active rules block
    /// (a group's own rules after its ancestors', so a child's `allow` lifts a parent's
    /// block), the addresses recently `answered` for names the group's policy blocks now
    /// (unless one of them also served a name it allows), and per PC address its group and
    /// whether a manual block applies. Datapath group ids are 1 + the group's index; 0 is
    /// `default`. `memo` keeps name verdicts between calls while the policy and the set of
    /// active schedules stay the same, so each answered name is judged once per change.
    pub fn datapath_plan(
        &self,
        at: Timestamp,
        answered: &[(std::sync::Arc<str>, std::sync::Arc<[IpAddr]>)],
        memo: &mut PlanMemo,
        over_quota: &dyn Fn(usize) -> bool,
    ) -> crate::datapath::Plan {
        use gateway_common::{PcState, group_bit};
        let now = at.to_zoned_datetime(self.tz.clone());
        let mut plan = crate::datapath::Plan::default();
        let memo_key = (self.id, self.schedule_mask(&now));
        if memo.key != Some(memo_key) {
            memo.key = Some(memo_key);
            memo.verdicts.clear();
        }
        plan.unknown_group = self.unknown_group.map_or(0, |g| g as u8 + 1);
        plan.networks = self
            .groups
            .iter()
            .enumerate()
            .flat_map(|(gi, g)| g.networks.iter().map(move |n| (*n, gi as u8 + 1)))
            .collect();
        for (gi, _) in self.groups.iter().enumerate() {
            if self.block_quic(gi) {
                plan.quic_blocked |= group_bit(gi as u8 + 1);
            }
            let mut chain = vec![gi];
            while let Some(p) = self.groups[*chain.last().unwrap_or(&gi)].parent {
                if chain.contains(&p) {
                    break; // cycles are refused at load; never loop regardless
                }
                chain.push(p);
            }
            let mut set = std::collections::BTreeSet::new();
            for g in chain.iter().rev() {
                for r in &self.groups[*g].rules {
                    if r.schedule.is_some_and(|s| !self.schedules[s].is_on(&now)) {
                        continue;
                    }
                    for a in &r.addresses {
                        match r.action {
                            Action::Block => set.insert(*a),
                            Action::Allow => set.remove(a),
                        };
                    }
                }
            }
            // Timed exceptions reaching a PC of this group: the addresses of their names
            // stay open for the whole group (the sets are per group; the DNS filter still
            // refuses the name to the group's other PCs).
            let excepted: Vec<&Exception> = self
                .exceptions
                .iter()
                .filter(|e| at < e.until)
                .filter(|e| match e.target {
                    BlockTarget::Pc(i) => self.pcs[i].group == Some(gi),
                    BlockTarget::Group(g) => self.in_group(Some(gi), g),
                })
                .collect();
            // Addresses answered for names this group may not reach now, minus those
            // that also serve a name it may (a shared CDN address stays reachable).
            let mut blocked_answers = std::collections::BTreeSet::new();
            let mut allowed_answers = std::collections::HashSet::new();
            for (name, addrs) in answered {
                let blocks = *memo.verdicts.entry((gi, name.clone())).or_insert_with(|| {
                    self.first_match(Some(gi), name, &now)
                        .is_some_and(|(_, r, _)| r.action == Action::Block)
                }) && !excepted
                    .iter()
                    .any(|e| e.domains.matching_suffix(name.as_bytes()).is_some());
                for a in addrs.iter() {
                    if blocks {
                        blocked_answers.insert(*a);
                    } else {
                        allowed_answers.insert(*a);
                    }
                }
            }
            for a in blocked_answers {
                if !allowed_answers.contains(&a) {
                    let prefix = if a.is_ipv4() { 32 } else { 128 };
                    set.insert((a, prefix));
                }
            }
            let Ok(id) = u8::try_from(gi + 1) else {
                continue;
            };
            for a in set {
                *plan.blocked.entry(a).or_insert(0) |= group_bit(id);
            }
        }
        for (pi, pc) in self.pcs.iter().enumerate() {
            let group = pc
                .group
                .and_then(|g| u8::try_from(g + 1).ok())
                .unwrap_or(gateway_common::DEFAULT_GROUP);
            let state = if self.manual_block(pi, at).is_some() {
                PcState::Blocked
            } else if over_quota(pi) {
                PcState::OverQuota
            } else {
                PcState::Allowed
            };
            for a in &pc.addresses {
                plan.pcs.insert(*a, (group, state));
            }
            plan.devices.push(crate::datapath::PlannedPc {
                addrs: pc.addresses.clone(),
                macs: self.macs_of(pi),
                group,
                state,
            });
        }
        plan
    }
}
