//! Retention: deleting what is past its age, hourly (queued by the daemon as a `Prune`,
//! run in the writer's transaction). Never a minute not yet rolled up into its hour and
//! day; the host tables keyed by PC or site first are deleted key range by key range.

use rusqlite::Transaction;

use super::sql::meta;

/// How long each resolution is kept, in days (0: forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub minutes_days: u32,
    pub hours_days: u32,
    pub days_days: u32,
    pub queries_days: u32,
    pub events_days: u32,
    /// The admins' action history.
    pub actions_days: u32,
    /// Access requests, by when they were last filed or decided.
    pub requests_days: u32,
    /// How long an admin session lives unused (`auth`); older ones are deleted.
    pub sessions_idle_ms: i64,
}

/// Deletes what is past its retention. Returns the rows deleted.
pub(in crate::store) fn prune(
    tx: &Transaction,
    now_ms: i64,
    r: &Retention,
) -> rusqlite::Result<usize> {
    let now_min = now_ms.div_euclid(60_000);
    let mut n = 0;
    let rolled = meta(tx, "rolled_minute")?.unwrap_or(i64::MIN);
    if r.minutes_days > 0 {
        // Never a minute not yet rolled up into hours and days: its bytes exist nowhere
        // else.
        let days_rolled = meta(tx, "days_rolled_minute")?.unwrap_or(rolled);
        let cut = (now_min - r.minutes_days as i64 * 1440)
            .min(rolled)
            .min(days_rolled);
        n += tx.execute("DELETE FROM pc_minute WHERE minute < ?1", [cut])?;
        n += tx.execute("DELETE FROM site_minute WHERE minute < ?1", [cut])?;
    }
    if r.hours_days > 0 {
        let cut = (now_min - r.hours_days as i64 * 1440) / 60;
        for t in ["pc_hour", "site_total_hour", "site_pc_hour"] {
            n += tx.execute(&format!("DELETE FROM {t} WHERE hour < ?1"), [cut])?;
        }
        n += delete_by_age(tx, "site_hour", "pc", "hour", cut)?;
    }
    if r.days_days > 0 {
        let cut = (now_min - r.days_days as i64 * 1440) / 1440;
        for t in ["pc_day", "site_total_day"] {
            n += tx.execute(&format!("DELETE FROM {t} WHERE day < ?1"), [cut])?;
        }
        n += delete_by_age(tx, "site_day", "pc", "day", cut)?;
        n += delete_by_age(tx, "site_pc_day", "site", "day", cut)?;
    }
    // Tables kept by the age of one time expression, each for its own number of days.
    const DAY_MS: i64 = 86_400_000;
    for (days, table, when) in [
        (r.queries_days, "queries", "at_ms"),
        // Flows no lookup explains: looked at beside the query log, kept as long.
        (r.queries_days, "unexplained", "last_ms"),
        (r.events_days, "events", "at_ms"),
        (r.actions_days, "actions", "at_ms"),
        (
            r.requests_days,
            "requests",
            "max(at_ms, coalesce(decided_ms, 0))",
        ),
    ] {
        if days > 0 {
            n += tx.execute(
                &format!("DELETE FROM {table} WHERE {when} < ?1"),
                [now_ms - i64::from(days) * DAY_MS],
            )?;
        }
    }
    // Sessions idle past their limit can never be used again.
    if r.sessions_idle_ms > 0 {
        n += tx.execute(
            "DELETE FROM sessions WHERE seen_ms < ?1",
            [now_ms - r.sessions_idle_ms],
        )?;
    }
    // Failed logins a day old count for nothing (a lock lasts minutes).
    n += tx.execute(
        "DELETE FROM login_failures WHERE max(last_ms, locked_until_ms) < ?1",
        [now_ms - 86_400_000],
    )?;
    // Marks of flows the datapath forgot (replaced in a full set) a day ago will never be
    // needed again.
    n += tx.execute(
        "DELETE FROM flow_marks WHERE seen_ms < ?1",
        [now_ms - 86_400_000],
    )?;
    Ok(n)
}

/// Deletes a table's rows before `cut` when it is keyed by `key` (PC or site) before its
/// time column `col`: one key range per PC or site, since a plain `WHERE {col} < cut`
/// would read all of it. The keys are found by hopping along the primary key
/// (`min(key) WHERE key > previous`), one seek each.
fn delete_by_age(
    tx: &Transaction,
    table: &str,
    key: &str,
    col: &str,
    cut: i64,
) -> rusqlite::Result<usize> {
    tx.execute(
        &format!(
            "WITH RECURSIVE keys(id) AS (
               SELECT min({key}) FROM {table}
               UNION ALL SELECT (SELECT min({key}) FROM {table} WHERE {key} > keys.id)
               FROM keys WHERE keys.id IS NOT NULL)
             DELETE FROM {table} WHERE {key} IN (SELECT id FROM keys WHERE id IS NOT NULL)
               AND {col} < ?1"
        ),
        [cut],
    )
}
