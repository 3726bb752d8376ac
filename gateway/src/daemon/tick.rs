//! The once-a-second work: count each PC's traffic (usage and per-minute rows), turn flows
//! into sites every `flow_interval_s`, prune old rows every hour, notice PCs crossing a
//! traffic limit, and keep the datapath's plan current. Recomputing the plan is cheap when
//! nothing changed: name verdicts are memoised (`PlanMemo`) and only a changed plan is
//! written.
//!
//! The timing decisions are small pure pieces (`Every`, `AnsweredView::due`,
//! `limit_changes`) so they are tested without a clock.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use tracing::{error, info};

use crate::{
    datapath::{Maps, Plan},
    policy::{PlanMemo, Policy},
    store::{Event, Store},
};

/// How often the plan reads newly answered names (a policy change reads them at once).
const ANSWERED_REREAD: Duration = Duration::from_secs(5);
/// How often rows past their retention are deleted.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// A job due every `period`, first at its first chance.
#[derive(Debug)]
pub struct Every {
    period: Duration,
    last: Option<Instant>,
}

impl Every {
    /// Due at once, then every `period`.
    pub fn now_then(period: Duration) -> Self {
        Every { period, last: None }
    }

    /// First due one `period` after `start`.
    pub fn after(period: Duration, start: Instant) -> Self {
        Every {
            period,
            last: Some(start),
        }
    }

    /// Whether the job is due at `at`; if so, the next is one period later.
    pub fn due(&mut self, at: Instant) -> bool {
        let due = self
            .last
            .is_none_or(|t| at.saturating_duration_since(t) >= self.period);
        if due {
            self.last = Some(at);
        }
        due
    }
}

/// The names the DNS filter answered, as the plan last read them. The set changes with
/// nearly every new name on a busy gateway; it is read again every few seconds, or at once
/// when the policy changed.
pub struct AnsweredView {
    names: Vec<(Arc<str>, Arc<[IpAddr]>)>,
    generation: u64,
    read_at: Instant,
    /// The policy they were read for.
    policy: Arc<Policy>,
}

impl AnsweredView {
    fn read(answered: &crate::dns::Answered, policy: Arc<Policy>, at: Instant) -> Self {
        AnsweredView {
            names: answered.snapshot(),
            generation: answered.generation(),
            read_at: at,
            policy,
        }
    }

    /// Whether to read the set again: it changed, and either the view is older than
    /// `ANSWERED_REREAD` or the policy is not the one it was read for.
    fn due(&self, generation: u64, policy: &Arc<Policy>, at: Instant) -> bool {
        self.generation != generation
            && (at.saturating_duration_since(self.read_at) >= ANSWERED_REREAD
                || !Arc::ptr_eq(policy, &self.policy))
    }
}

/// PCs (by index) that went over a limit, and those back under one, between two ticks.
fn limit_changes(
    before: &HashMap<usize, String>,
    now: &HashMap<usize, String>,
) -> (Vec<usize>, Vec<usize>) {
    let mut over: Vec<usize> = now
        .keys()
        .filter(|pc| !before.contains_key(pc))
        .copied()
        .collect();
    let mut under: Vec<usize> = before
        .keys()
        .filter(|pc| !now.contains_key(pc))
        .copied()
        .collect();
    over.sort_unstable();
    under.sort_unstable();
    (over, under)
}

/// What the tick keeps between seconds.
pub struct Tick {
    pub maps: Maps,
    /// Published every tick for the DNS rate limit (`dns::DeviceMap`).
    pub device_map: crate::dns::DeviceMap,
    /// The gateway's own addresses on the LAN: never dropped.
    pub gw_addrs: Vec<IpAddr>,
    pub store: Store,
    pub usage: crate::usage::Usage,
    pub names: crate::pcnames::PcNames,
    pub flows: crate::sites::Collector,
    pub flows_every: Every,
    pub prune_every: Every,
    pub retention: crate::store::Retention,
    pub answered: crate::dns::Answered,
    pub view: AnsweredView,
    pub memo: PlanMemo,
    /// The plan last written into the maps.
    pub applied: Plan,
    /// PCs over a traffic limit, with why.
    pub over: HashMap<usize, String>,
    /// Devices: who was met, forgetting idle ones.
    pub devices: super::devices::DeviceWatch,
    /// Held devices' HTTP to the block page.
    pub held: super::devices::HeldPage,
    /// PCs over a limit by name, with why, for the block page.
    pub over_page: crate::blockpage::Over,
}

impl Tick {
    /// Reads the answered names for the first plan.
    pub fn first_view(answered: &crate::dns::Answered, policy: Arc<Policy>) -> AnsweredView {
        AnsweredView::read(answered, policy, Instant::now())
    }

    pub fn run(&mut self, p: &Arc<Policy>, now: jiff::Timestamp) {
        let at = Instant::now();
        self.names.refresh();
        let flows_due = self.flows_every.due(at);
        self.count(p, now, flows_due);
        if self.prune_every.due(at) {
            self.store.prune(self.retention);
        }
        let now_over = p.over_limits(&|i| self.usage.of(&p.pcs()[i].name));
        self.report_limits(p, &now_over);
        if now_over != self.over {
            let by_name = now_over
                .iter()
                .map(|(i, why)| (p.pcs()[*i].name.clone(), why.clone()))
                .collect();
            self.over_page.store(Arc::new(by_name));
        }
        self.over = now_over;
        if self.view.due(self.answered.generation(), p, at) {
            self.view = AnsweredView::read(&self.answered, p.clone(), at);
        }
        let plan = p.datapath_plan(now, &self.view.names, &mut self.memo, &|i| {
            self.over.contains_key(&i)
        });
        // Only a changed plan is written: a PC blocked by hand (`officegate pc-state`)
        // stays so until the policy itself says something new about it.
        if plan != self.applied {
            match apply(&mut self.maps, &plan, &self.gw_addrs) {
                Ok(()) => {
                    info!(
                        pcs = plan.pcs.len(),
                        blocked = plan.blocked.len(),
                        "datapath plan applied"
                    );
                    self.applied = plan;
                    // A PC blocked or let go now: its HTTP to or away from the block
                    // page now too, not at the next second.
                    let devices = self.maps.devices();
                    self.lead_held_to_the_page(&devices);
                }
                Err(e) => error!("applying the plan failed: {e:#}"),
            }
        }
    }

    /// The PCs' counters into usage and per-minute rows; with `flows`, the flows into
    /// sites too.
    pub fn count(&mut self, p: &Policy, now: jiff::Timestamp, flows: bool) {
        let zoned = now.to_zoned_datetime(p.time_zone().clone());
        let devices = self.maps.devices();
        crate::policy::bindings::set(
            devices
                .iter()
                .filter_map(|d| d.macs.first().map(|m| (d, *m)))
                .flat_map(|(d, m)| d.addrs.iter().map(move |a| (*a, m)))
                .collect(),
        );
        self.device_map.store(std::sync::Arc::new(
            devices
                .iter()
                .flat_map(|d| d.addrs.iter().map(move |a| (*a, d.slot)))
                .collect(),
        ));
        self.usage.update(&devices, p, &self.names, &zoned);
        self.watch_devices(p, &devices);
        if flows {
            self.flows.collect(
                &self.maps.flows(),
                p,
                &self.names,
                &self.gw_addrs,
                zone_offset_min(p, now),
            );
        }
    }

    /// Logs and records PCs going over a traffic limit, and coming back under it (a new
    /// day or month, or a raised limit).
    fn report_limits(&self, policy: &Policy, now: &HashMap<usize, String>) {
        let event = |kind: &str, pc: usize, message: String| {
            self.store.event(Event {
                at_ms: crate::store::now_ms(),
                source: "limits".into(),
                kind: kind.into(),
                subject: policy.pcs()[pc].name.clone(),
                message,
                details: serde_json::json!({}),
            });
        };
        let (over, under) = limit_changes(&self.over, now);
        for pc in over {
            let why = &now[&pc];
            let msg = format!("{} is over its traffic limit: {why}", policy.pcs()[pc].name);
            tracing::warn!("{msg}");
            event("over_limit", pc, msg);
        }
        for pc in under.into_iter().filter(|pc| *pc < policy.pcs().len()) {
            let msg = format!("{} is back under its traffic limits", policy.pcs()[pc].name);
            info!("{msg}");
            event("under_limit", pc, msg);
        }
    }
}

/// The policy zone's offset from UTC at `now`, in minutes (daily statistics rows).
fn zone_offset_min(p: &Policy, now: jiff::Timestamp) -> i64 {
    now.to_zoned_datetime(p.time_zone().clone())
        .offset()
        .seconds() as i64
        / 60
}

/// Writes the plan into the maps, then bumps the generation once so every flow's cached
/// verdict is re-evaluated against the new sets. A PC that cannot be declared (a table
/// full even after shedding) is logged and the others still are: one PC never keeps the
/// policy, or the daemon's start, from applying.
pub fn apply(maps: &mut Maps, plan: &Plan, gateway: &[IpAddr]) -> anyhow::Result<()> {
    maps.set_gateway_addrs(gateway)?;
    maps.sync_blocked(&plan.blocked, plan.quic_blocked)?;
    let shed = maps.shed_addresses(&|a| plan.pcs.contains_key(a));
    if shed > 0 {
        tracing::warn!(
            addresses = shed,
            "the address table was nearly full: forgot the addresses idle longest"
        );
    }
    let mut listed = std::collections::HashSet::new();
    for pc in &plan.devices {
        match maps.declare_pc(&pc.addrs, &pc.macs, pc.group, pc.state) {
            Ok(slot) => {
                listed.insert(slot);
            }
            Err(e) => {
                tracing::error!(addresses = ?pc.addrs, "a PC of the policy is not in the datapath: {e}")
            }
        }
    }
    // A PC taken out of the policy must not keep its old group or block, and devices it
    // does not list follow its `unknown_devices`; counters stay.
    maps.set_unknown_group(plan.unknown_group)?;
    maps.reset_unlisted(&listed, &|addrs| plan.unlisted_group(addrs))?;
    maps.bump_generation()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_is_due_first_then_each_period() {
        let t0 = Instant::now();
        let mut e = Every::now_then(Duration::from_secs(10));
        assert!(e.due(t0));
        assert!(!e.due(t0 + Duration::from_secs(9)));
        assert!(e.due(t0 + Duration::from_secs(10)));
        assert!(!e.due(t0 + Duration::from_secs(19)));
        assert!(e.due(t0 + Duration::from_secs(25)));
        // The next period counts from when it ran, not from when it was due.
        assert!(!e.due(t0 + Duration::from_secs(34)));
        assert!(e.due(t0 + Duration::from_secs(35)));
    }

    #[test]
    fn every_after_waits_a_period_first() {
        let t0 = Instant::now();
        let mut e = Every::after(Duration::from_secs(10), t0);
        assert!(!e.due(t0));
        assert!(!e.due(t0 + Duration::from_secs(9)));
        assert!(e.due(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn answered_names_are_reread_when_changed_and_old_or_for_a_new_policy() {
        let t0 = Instant::now();
        let policy = || {
            let text = "version = 1\ntime_zone = \"UTC\"\n";
            Arc::new(
                crate::policy::load_text(std::path::Path::new("."), text)
                    .unwrap()
                    .0,
            )
        };
        let (p1, p2) = (policy(), policy());
        let answered = crate::dns::Answered::new(16, Duration::from_secs(60));
        let view = AnsweredView::read(&answered, p1.clone(), t0);
        let g = view.generation;
        // Unchanged: never.
        assert!(!view.due(g, &p1, t0 + Duration::from_secs(60)));
        assert!(!view.due(g, &p2, t0));
        // Changed: after the reread period, or at once for another policy.
        assert!(!view.due(g + 1, &p1, t0 + Duration::from_secs(4)));
        assert!(view.due(g + 1, &p1, t0 + ANSWERED_REREAD));
        assert!(view.due(g + 1, &p2, t0));
    }

    #[test]
    fn limit_changes_name_who_went_over_and_who_came_back() {
        let before: HashMap<usize, String> = [(1, "a".into()), (2, "b".into())].into();
        let now: HashMap<usize, String> = [(2, "b".into()), (3, "c".into())].into();
        assert_eq!(limit_changes(&before, &now), (vec![3], vec![1]));
        assert_eq!(limit_changes(&now, &now), (vec![], vec![]));
    }
}
