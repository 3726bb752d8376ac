//! Every table of the daemon's database, as the ordered list of migrations that builds
//! it (`rusqlite_migration`, numbered by SQLite's `user_version`).
//!
//! Owns: the schema, in one place, for the store, the statistics, users and access
//! requests alike. Must not touch: a migration once released — its text and its place in
//! the list are what existing databases were built with (a change is a new migration
//! appended at the end).

use rusqlite_migration::{M, Migrations};

pub(super) fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            "CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            at_ms INTEGER NOT NULL,
            source TEXT NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            message TEXT NOT NULL,
            details TEXT NOT NULL
        );
        CREATE INDEX events_at ON events(at_ms);
        CREATE INDEX events_source_at ON events(source, at_ms);",
        ),
        // The DNS query log. `answers`: the A/AAAA addresses answered, space-separated.
        M::up(
            "CREATE TABLE queries (
            id INTEGER PRIMARY KEY,
            at_ms INTEGER NOT NULL,
            client TEXT NOT NULL,
            pc TEXT,
            grp TEXT NOT NULL,
            name TEXT NOT NULL,
            qtype TEXT NOT NULL,
            verdict TEXT NOT NULL,
            rule TEXT,
            answers TEXT NOT NULL,
            upstream TEXT,
            latency_us INTEGER NOT NULL,
            rcode TEXT NOT NULL
        );
        CREATE INDEX queries_at ON queries(at_ms);
        CREATE INDEX queries_client_at ON queries(client, at_ms);
        CREATE INDEX queries_name_at ON queries(name, at_ms);",
        ),
        // Traffic per PC per period (`d:2026-11-26`, `m:2026-11`, in the policy's zone),
        // and the datapath counter totals last counted per address: together they make
        // usage survive restarts without counting anything twice.
        M::up(
            "CREATE TABLE usage (
            pc TEXT NOT NULL,
            period TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            PRIMARY KEY (pc, period)
        );
        CREATE TABLE counter_marks (
            addr TEXT PRIMARY KEY,
            total INTEGER NOT NULL
        );",
        ),
        // Name search is by substring (`instr`), which no index serves: the name index
        // only cost every insert.
        M::up("DROP INDEX queries_name_at;"),
        // Per-minute traffic per PC (Unix minutes), and the marks split by direction.
        M::up(
            "CREATE TABLE pc_minute (
            pc TEXT NOT NULL,
            minute INTEGER NOT NULL,
            up_bytes INTEGER NOT NULL,
            down_bytes INTEGER NOT NULL,
            PRIMARY KEY (pc, minute)
        );
        CREATE INDEX pc_minute_minute ON pc_minute(minute);
        ALTER TABLE counter_marks ADD COLUMN up INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE counter_marks ADD COLUMN down INTEGER NOT NULL DEFAULT 0;",
        ),
        // Hourly and daily roll-ups, sites per PC, unexplained flows: see `STATS`.
        M::up(STATS),
        // Users, sessions and the action history: see `USERS`.
        M::up(USERS),
        // Access requests from the block page: see `REQUESTS`.
        M::up(REQUESTS),
        // Identical queries of one client within a second are one row (`dns::repeats`).
        M::up("ALTER TABLE queries ADD COLUMN count INTEGER NOT NULL DEFAULT 1;"),
        // Host rows keyed by PC first: see `HOST_KEYS`.
        M::up(HOST_KEYS),
        // A site's PCs by hour in a table of their own: see `SITE_PC_HOURS`.
        M::up(SITE_PC_HOURS),
        // Queries a PC sent to another resolver, answered by the filter (`[dns] intercept`).
        M::up("ALTER TABLE queries ADD COLUMN intercepted INTEGER NOT NULL DEFAULT 0;"),
        // Every device ever seen on the LAN, by MAC: see `store::devices`.
        M::up(
            "CREATE TABLE devices (
            mac TEXT PRIMARY KEY,
            first_seen_ms INTEGER NOT NULL,
            last_seen_ms INTEGER NOT NULL,
            addresses TEXT NOT NULL,
            name TEXT NOT NULL
        ) WITHOUT ROWID;",
        ),
        // Failed logins per (name, source): a lock holds one name for one source only,
        // so a PC guessing passwords cannot lock the admin out. (`users.failed` and
        // `users.locked_until_ms` are no longer used.)
        M::up(
            "CREATE TABLE login_failures (
            name TEXT NOT NULL,
            source TEXT NOT NULL,
            failed INTEGER NOT NULL,
            locked_until_ms INTEGER NOT NULL,
            last_ms INTEGER NOT NULL,
            PRIMARY KEY (name, source)
        ) WITHOUT ROWID;",
        ),
        // The block page looks up a PC's latest request for a site on every view.
        M::up("CREATE INDEX requests_pc_domain ON requests(pc, domain, at_ms);"),
    ])
}

/// Migration 6. The statistics' tables (see `stats`): hourly and daily roll-ups of the
/// minute rows, sites per PC with their names in `names`, unexplained flows, flow marks
/// and the writer's bookmarks in `meta`.
const STATS: &str = "
CREATE TABLE pc_minute_new (
    minute INTEGER NOT NULL, pc TEXT NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (minute, pc)) WITHOUT ROWID;
INSERT INTO pc_minute_new SELECT minute, pc, up_bytes, down_bytes FROM pc_minute;
DROP TABLE pc_minute;
ALTER TABLE pc_minute_new RENAME TO pc_minute;
CREATE INDEX pc_minute_pc ON pc_minute(pc, minute);
CREATE TABLE pc_hour (
    hour INTEGER NOT NULL, pc TEXT NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (hour, pc)) WITHOUT ROWID;
CREATE INDEX pc_hour_pc ON pc_hour(pc, hour);
CREATE TABLE pc_day (
    day INTEGER NOT NULL, pc TEXT NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (day, pc)) WITHOUT ROWID;
CREATE INDEX pc_day_pc ON pc_day(pc, day);
CREATE TABLE site_pc_day (
    site INTEGER NOT NULL, day INTEGER NOT NULL, pc INTEGER NOT NULL,
    PRIMARY KEY (site, day, pc)) WITHOUT ROWID;
CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE site_minute (
    minute INTEGER NOT NULL, pc INTEGER NOT NULL, host INTEGER NOT NULL,
    site INTEGER NOT NULL, via INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (minute, pc, host)) WITHOUT ROWID;
CREATE TABLE site_hour (
    hour INTEGER NOT NULL, pc INTEGER NOT NULL, host INTEGER NOT NULL,
    site INTEGER NOT NULL, via INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (hour, pc, host)) WITHOUT ROWID;
CREATE INDEX site_hour_pc ON site_hour(pc, hour);
CREATE INDEX site_hour_site ON site_hour(site, hour);
CREATE TABLE site_day (
    day INTEGER NOT NULL, pc INTEGER NOT NULL, host INTEGER NOT NULL,
    site INTEGER NOT NULL, via INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (day, pc, host)) WITHOUT ROWID;
CREATE INDEX site_day_pc ON site_day(pc, day);
CREATE INDEX site_day_site ON site_day(site, day);
CREATE TABLE site_total_hour (
    hour INTEGER NOT NULL, site INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (hour, site)) WITHOUT ROWID;
CREATE TABLE site_total_day (
    day INTEGER NOT NULL, site INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (day, site)) WITHOUT ROWID;
CREATE TABLE unexplained (
    pc TEXT NOT NULL, remote TEXT NOT NULL, port INTEGER NOT NULL, proto INTEGER NOT NULL,
    reason TEXT NOT NULL, name TEXT,
    first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (pc, remote, port, proto));
CREATE INDEX unexplained_last ON unexplained(last_ms);
CREATE TABLE flow_marks (
    flow TEXT PRIMARY KEY, up INTEGER NOT NULL, down INTEGER NOT NULL,
    seen_ms INTEGER NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

/// Migration 7. Users of the admin UI and API, their login sessions and the action
/// history: see `crate::auth`.
const USERS: &str = "
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL,
    role TEXT NOT NULL,
    scope TEXT,
    created_ms INTEGER NOT NULL,
    failed INTEGER NOT NULL DEFAULT 0,
    locked_until_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    seen_ms INTEGER NOT NULL);
CREATE TABLE actions (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL);
CREATE INDEX actions_at ON actions(at_ms);
";

/// Migration 8. Access requests from the block page: see `crate::requests`.
const REQUESTS: &str = "
CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    pc TEXT NOT NULL,
    address TEXT NOT NULL,
    domain TEXT NOT NULL,
    reason TEXT NOT NULL,
    blocked_by TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    decided_by TEXT,
    decided_ms INTEGER,
    until TEXT,
    note TEXT);
CREATE INDEX requests_state ON requests(state, at_ms);
";

/// Migration 10. Fewer b-trees per rolled-up host row (each one cost the roll-up a seek
/// and an insert per row; `bench stats`):
/// - hour and day host rows keyed by (PC, bucket, host) instead of (bucket, PC, host) with
///   a (PC, bucket) index: they are only ever read per PC or per site, never a whole
///   period of every PC, so the bucket-first key served nothing. Deleting by age walks
///   the key PC by PC (see `prune`).
/// - day host rows lose their (site, day) index: `site_pc_day` gains bytes and answers a
///   site's PCs over days itself, from rows already summed over the site's hosts.
const HOST_KEYS: &str = "
CREATE TABLE site_hour_new (
    hour INTEGER NOT NULL, pc INTEGER NOT NULL, host INTEGER NOT NULL,
    site INTEGER NOT NULL, via INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (pc, hour, host)) WITHOUT ROWID;
INSERT INTO site_hour_new SELECT hour, pc, host, site, via, up_bytes, down_bytes
    FROM site_hour;
DROP TABLE site_hour;
ALTER TABLE site_hour_new RENAME TO site_hour;
CREATE INDEX site_hour_site ON site_hour(site, hour);
CREATE TABLE site_day_new (
    day INTEGER NOT NULL, pc INTEGER NOT NULL, host INTEGER NOT NULL,
    site INTEGER NOT NULL, via INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (pc, day, host)) WITHOUT ROWID;
INSERT INTO site_day_new SELECT day, pc, host, site, via, up_bytes, down_bytes
    FROM site_day;
DROP TABLE site_day;
ALTER TABLE site_day_new RENAME TO site_day;
CREATE TABLE site_pc_day_new (
    site INTEGER NOT NULL, day INTEGER NOT NULL, pc INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (site, day, pc)) WITHOUT ROWID;
INSERT INTO site_pc_day_new SELECT site, day, pc, SUM(up_bytes), SUM(down_bytes)
    FROM site_day GROUP BY site, day, pc;
DROP TABLE site_pc_day;
ALTER TABLE site_pc_day_new RENAME TO site_pc_day;
";

/// Migration 11. Two secondary indexes fewer: each cost every minute's inserts a second,
/// scattered b-tree insert (`bench stats`: ingest +31% without the first, +49% without
/// the second).
/// - `pc_minute_pc`: one PC's minutes are read by seeking each minute of the key
///   (minute, pc) instead (`rows_of`): a day by minute is 1,440 seeks.
/// - `site_hour_site`: a site's PCs over hours come from `site_pc_hour`, summed over the
///   site's hosts and written once per hour when the hour is over, keyed hour first, so
///   each hour's rows are appended at the end of the table (`roll_up`). The hour in
///   progress is read from its minutes (`site_pc_union`). `site_pc_hours_to` is the first
///   hour not yet in it.
const SITE_PC_HOURS: &str = "
DROP INDEX pc_minute_pc;
DROP INDEX site_hour_site;
CREATE TABLE site_pc_hour (
    hour INTEGER NOT NULL, site INTEGER NOT NULL, pc INTEGER NOT NULL,
    up_bytes INTEGER NOT NULL, down_bytes INTEGER NOT NULL,
    PRIMARY KEY (hour, site, pc)) WITHOUT ROWID;
INSERT INTO meta (key, value)
    SELECT 'site_pc_hours_to', value / 60 FROM meta WHERE key = 'rolled_minute';
INSERT INTO site_pc_hour SELECT hour, site, pc, SUM(up_bytes), SUM(down_bytes)
    FROM site_hour WHERE hour < (SELECT value FROM meta WHERE key = 'site_pc_hours_to')
    GROUP BY hour, site, pc;
";

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().expect("valid migrations");
    }
}
