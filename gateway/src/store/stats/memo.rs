//! What the writer remembers between transactions: the ids of names, and the minute rows
//! not yet rolled up (so the roll-up needn't read them back).

use rusqlite::Transaction;

use super::Map;

/// What the writer remembers between transactions (`clear` when one fails: it may hold
/// ids and rows that were never committed).
#[derive(Default)]
pub(in crate::store) struct Memo {
    /// Names to ids.
    names: Map<String, i64>,
    /// The minute rows not yet rolled up, as they are in the database, so the roll-up
    /// needn't read them back (~10% of the writer's time in `bench stats`). `None`
    /// until the first roll-up loads them (a new writer, or after a failure).
    pub(super) open: Option<OpenMinutes>,
}

#[derive(Default)]
pub(super) struct OpenMinutes {
    /// (minute, pc) → (up, down).
    pub(super) pcs: Map<(i64, String), (i64, i64)>,
    /// (minute, pc, host) → sums.
    pub(super) hosts: Map<(i64, i64, i64), HostSum>,
}

impl Memo {
    pub(in crate::store) fn clear(&mut self) {
        self.names.clear();
        self.open = None;
    }

    pub(super) fn id(&mut self, tx: &Transaction, name: &str) -> rusqlite::Result<i64> {
        if let Some(id) = self.names.get(name) {
            return Ok(*id);
        }
        tx.prepare_cached("INSERT OR IGNORE INTO names (name) VALUES (?1)")?
            .execute([name])?;
        let id: i64 = tx
            .prepare_cached("SELECT id FROM names WHERE name = ?1")?
            .query_row([name], |r| r.get(0))?;
        // Bounded: an office's month has some thousands of names; a flood of random
        // names only costs lookups again.
        if self.names.len() > 200_000 {
            self.names.clear();
        }
        self.names.insert(name.to_string(), id);
        Ok(id)
    }

    /// A PC's minute row was added to (`UsageSums::write`).
    pub(super) fn pc_minute(&mut self, minute: i64, pc: &str, up: i64, down: i64) {
        if let Some(open) = &mut self.open {
            add2(
                open.pcs.entry((minute, pc.to_string())).or_default(),
                up,
                down,
            );
        }
    }
}

/// A host row's sums over minutes: the most specific site seen, the most trusted naming.
pub(super) struct HostSum {
    pub(super) site: i64,
    pub(super) via: i64,
    pub(super) up: i64,
    pub(super) down: i64,
}

impl Default for HostSum {
    fn default() -> Self {
        HostSum {
            site: i64::MIN,
            via: i64::MAX,
            up: 0,
            down: 0,
        }
    }
}

impl HostSum {
    pub(super) fn merge(&mut self, o: &HostSum) {
        self.site = self.site.max(o.site);
        self.via = self.via.min(o.via);
        self.up += o.up;
        self.down += o.down;
    }
}

pub(super) fn add2(sum: &mut (i64, i64), up: i64, down: i64) {
    sum.0 += up;
    sum.1 += down;
}
