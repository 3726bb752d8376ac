//! Traffic per PC: the datapath's per-device counters (monotonic totals, pinned) turned
//! into deltas against the totals last counted, summed per PC, and persisted with those
//! totals in one transaction — so a restart or a crash neither loses nor double-counts a
//! byte. They feed the day/month usage of traffic limits and the per-minute rows of the
//! statistics (`pc_minute`), which the API sums into hours, days and top lists.
//!
//! Periods are calendar days and months in the policy's time zone.

use std::collections::HashMap;

use crate::{
    datapath::DeviceEntry,
    policy::{PcUsage, Policy},
    store::{Store, UsageDelta},
};

pub struct Usage {
    store: Store,
    /// Counter totals (bytes up, bytes down) last counted, per device slot (stored as
    /// `#slot`; an address-keyed mark of an older version is ignored).
    marks: HashMap<u32, (u64, u64)>,
    day: String,
    month: String,
    /// Per PC name (or address, for addresses no PC claims): bytes this day, this month.
    per_pc: HashMap<String, PcUsage>,
}

/// The day and month keys of `now` (`d:2026-11-26`, `m:2026-11`).
pub fn periods(now: &jiff::ZonedDateTime) -> (String, String) {
    let d = now.date();
    (
        format!("d:{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
        format!("m:{:04}-{:02}", d.year(), d.month()),
    )
}

impl Usage {
    /// Picks up the usage and marks stored by an earlier run.
    pub fn load(store: Store, now: &jiff::ZonedDateTime) -> Self {
        let (day, month) = periods(now);
        let mut per_pc: HashMap<String, PcUsage> = HashMap::new();
        let mut marks = HashMap::new();
        let dir = store.path().parent().map(|p| p.to_path_buf());
        if let Some(conn) = dir.and_then(|d| crate::store::open_read(&d).ok()) {
            for (pc, b) in crate::store::usage_in(&conn, &day).unwrap_or_default() {
                per_pc.entry(pc).or_default().day = b;
            }
            for (pc, b) in crate::store::usage_in(&conn, &month).unwrap_or_default() {
                per_pc.entry(pc).or_default().month = b;
            }
            for (key, up, down) in crate::store::counter_marks(&conn).unwrap_or_default() {
                if let Some(slot) = key.strip_prefix('#').and_then(|s| s.parse().ok()) {
                    marks.insert(slot, (up, down));
                }
            }
        }
        Usage {
            store,
            marks,
            day,
            month,
            per_pc,
        }
    }

    /// Counts what the datapath counted since the last call.
    pub fn update(
        &mut self,
        entries: &[DeviceEntry],
        policy: &Policy,
        names: &crate::pcnames::PcNames,
        now: &jiff::ZonedDateTime,
    ) {
        let (day, month) = periods(now);
        if day != self.day {
            for u in self.per_pc.values_mut() {
                u.day = 0;
            }
            self.day = day;
        }
        if month != self.month {
            for u in self.per_pc.values_mut() {
                u.month = 0;
            }
            self.month = month;
        }
        #[derive(Default)]
        struct Delta {
            up: u64,
            down: u64,
            marks: Vec<(String, u64, u64)>,
        }
        let mut deltas: HashMap<String, Delta> = HashMap::new();
        for e in entries {
            let mut who = None;
            for (slot, c) in &e.parts {
                let (up, down) = (c.up_bytes, c.down_bytes);
                let (mu, md) = self.marks.get(slot).copied().unwrap_or((0, 0));
                // Totals only grow; a smaller one means the slot started again.
                let du = if up >= mu { up - mu } else { up };
                let dd = if down >= md { down - md } else { down };
                if du == 0 && dd == 0 {
                    continue;
                }
                self.marks.insert(*slot, (up, down));
                let who = who.get_or_insert_with(|| names.device_label(policy, e));
                let d = deltas.entry(who.clone()).or_default();
                d.up += du;
                d.down += dd;
                d.marks.push((format!("#{slot}"), up, down));
            }
        }
        // Minute rows are in real time (the policy clock only decides days and months).
        let minute = crate::store::now_ms().div_euclid(60_000);
        for (pc, d) in deltas {
            let u = self.per_pc.entry(pc.clone()).or_default();
            u.day += d.up + d.down;
            u.month += d.up + d.down;
            self.store.usage(UsageDelta {
                pc,
                day: self.day.clone(),
                month: self.month.clone(),
                minute,
                up: d.up,
                down: d.down,
                marks: d.marks,
            });
        }
    }

    /// Forgets the marks of slots the datapath forgot (their counters start again from
    /// zero for the next device).
    pub fn forget(&mut self, slots: &[u32]) {
        for s in slots {
            self.marks.remove(s);
        }
    }

    /// A device's new name takes its usage along (limits keep counting where they were).
    pub fn rename(&mut self, from: &str, to: &str) {
        if let Some(u) = self.per_pc.remove(from) {
            let t = self.per_pc.entry(to.to_string()).or_default();
            t.day += u.day;
            t.month += u.month;
        }
    }

    pub fn of(&self, pc: &str) -> PcUsage {
        self.per_pc.get(pc).copied().unwrap_or_default()
    }
}
