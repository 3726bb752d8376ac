//! Stage 2 of the chain: the policy's verdict for this PC, this name, now — first on the
//! name asked, then (once there is an answer) on each CNAME target in it, since trackers
//! hide behind CNAMEs. A block is a `Break` carrying the rule's mode (answered by
//! `block`); an allowed name `Continue`s to the cache or the upstreams.
//!
//! Two ways to ask, one policy: the full path (`handler`) takes the whole `Decision`
//! (PC, group, rule: the query log's fields) for every query, as it logs every query.
//! The fast path (`fast`) asks for the verdict alone (`Policy::verdict_memo`: no names or
//! strings built) and builds the decision only for the first record of a repeat
//! (`record`); and a cached answer may carry its verdict already (`known`), so the
//! allowed names a busy office repeats most skip the list look-ups altogether.
//!
//! Owns: how the chain asks the policy. Must not: answer, or change the policy.

use std::{net::IpAddr, ops::ControlFlow, sync::atomic::Ordering};

use jiff::Timestamp;

use super::cache;
use crate::policy::{BlockMode, Decision, Policy, Verdict};

/// One query's question to the policy: which policy (loaded once per query, so a
/// reload mid-query can't split its verdicts), which PC, when.
pub(super) struct Ask<'a> {
    pub policy: &'a Policy,
    pub client: IpAddr,
    pub now: Timestamp,
    /// Asked of the gateway, or intercepted on its way to another resolver.
    pub via: super::filter::Via,
}

impl Ask<'_> {
    /// The full path: the decision on `name` (for the log) and whether it blocks.
    pub(super) fn decide(&self, name: &str) -> (Decision, ControlFlow<BlockMode>) {
        let d = self.policy.evaluate(self.client, name, self.now);
        let flow = match d.verdict {
            Verdict::Blocked(mode) => ControlFlow::Break(mode),
            Verdict::Allowed => ControlFlow::Continue(()),
        };
        (d, flow)
    }

    /// The full path: the first of `targets` (CNAME targets, lower case, no trailing dot)
    /// the policy blocks, with its decision.
    pub(super) fn decide_cnames<'t>(
        &self,
        targets: impl IntoIterator<Item = &'t str>,
    ) -> ControlFlow<(BlockMode, Decision, &'t str)> {
        for t in targets {
            if let (d, ControlFlow::Break(mode)) = self.decide(t) {
                return ControlFlow::Break((mode, d, t));
            }
        }
        ControlFlow::Continue(())
    }

    /// The fast path: the verdict on `name` alone; an allowed one carries whether it
    /// may be remembered for every PC of the class (no schedule met on the way).
    #[inline]
    pub(super) fn verdict(&self, name: &str) -> ControlFlow<BlockMode, bool> {
        match self.policy.verdict_memo(self.client, name, self.now) {
            (Verdict::Blocked(mode), _) => ControlFlow::Break(mode),
            (Verdict::Allowed, timeless) => ControlFlow::Continue(timeless),
        }
    }

    /// The fast path: the first of a cached answer's CNAME targets the policy blocks;
    /// if none, whether all of them may be remembered (as `verdict`).
    #[inline]
    pub(super) fn verdict_cnames<'t>(
        &self,
        targets: &'t [String],
    ) -> ControlFlow<(BlockMode, &'t str), bool> {
        let mut timeless = true;
        for t in targets {
            match self.verdict(t) {
                ControlFlow::Break(mode) => return ControlFlow::Break((mode, t)),
                ControlFlow::Continue(memo) => timeless &= memo,
            }
        }
        ControlFlow::Continue(timeless)
    }
}

/// Whether the rules are already known to allow `hit` (its name and CNAME targets) to
/// PCs of `class` (`Policy::rules_class`): then no rule needs asking. The policy's id is
/// part of the class, so a reload forgets.
#[inline]
pub(super) fn known(hit: &cache::Wire, class: Option<u64>) -> bool {
    class.is_some_and(|c| hit.allowed_for.load(Ordering::Relaxed) == c)
}

/// Remembers on `hit` that the rules allow it to PCs of `class`, whatever the time.
#[inline]
pub(super) fn learn(hit: &cache::Wire, class: Option<u64>) {
    if let Some(c) = class {
        hit.allowed_for.store(c, Ordering::Relaxed);
    }
}
