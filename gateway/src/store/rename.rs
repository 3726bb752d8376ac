//! A device's history follows it when its name changes: the admin renames its PC, places
//! an unlisted device as a PC, or its DHCP lease names it. The statistics are kept under
//! the name a device had when they were counted; the tick knows each device by its MAC
//! (the store's `devices` table remembers the name it last had, across restarts), and
//! when that name changes it queues a rename, which moves every row of the old name to
//! the new one — summed where the new name has rows for the same period already.
//!
//! Owns: the rename's SQL, one statement pair per table that holds a PC's name.

use rusqlite::{Transaction, params};

/// A table that holds a PC's name (or its id in `names`) in its `pc` column.
struct Keyed {
    table: &'static str,
    /// The key's columns besides `pc`.
    keys: &'static [&'static str],
    /// Columns moved as they are.
    carried: &'static [&'static str],
    /// Columns summed where the new name has the row already.
    sums: &'static [&'static str],
}

const BYTES: &[&str] = &["up_bytes", "down_bytes"];

const fn keyed(
    table: &'static str,
    keys: &'static [&'static str],
    carried: &'static [&'static str],
    sums: &'static [&'static str],
) -> Keyed {
    Keyed {
        table,
        keys,
        carried,
        sums,
    }
}

/// Tables keyed by the PC's name as text.
const BY_TEXT: [Keyed; 4] = [
    keyed("usage", &["period"], &[], &["bytes"]),
    keyed("pc_minute", &["minute"], &[], BYTES),
    keyed("pc_hour", &["hour"], &[], BYTES),
    keyed("pc_day", &["day"], &[], BYTES),
];

/// Tables keyed by the PC's id in `names`.
const BY_ID: [Keyed; 5] = [
    keyed("site_minute", &["minute", "host"], &["site", "via"], BYTES),
    keyed("site_hour", &["hour", "host"], &["site", "via"], BYTES),
    keyed("site_day", &["day", "host"], &["site", "via"], BYTES),
    keyed("site_pc_day", &["site", "day"], &[], BYTES),
    keyed("site_pc_hour", &["hour", "site"], &[], BYTES),
];

/// `INSERT … SELECT` of `from`'s rows under `to`, summing into rows `to` has already.
fn merge_sql(k: &Keyed) -> String {
    let Keyed {
        table,
        keys,
        carried,
        sums,
    } = k;
    let cols: Vec<&str> = keys
        .iter()
        .chain(carried.iter())
        .chain(sums.iter())
        .copied()
        .collect();
    let cols = cols.join(", ");
    let conflict = std::iter::once("pc")
        .chain(keys.iter().copied())
        .collect::<Vec<_>>()
        .join(", ");
    let add = sums
        .iter()
        .map(|c| format!("{c} = {c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    // The WHERE also settles SQLite's parse of an upsert after a SELECT.
    format!(
        "INSERT INTO {table} (pc, {cols}) SELECT ?2, {cols} FROM {table} WHERE pc = ?1
         ON CONFLICT ({conflict}) DO UPDATE SET {add}"
    )
}

/// Moves every row of PC name `from` to `to`, in the writer's transaction.
pub(super) fn rename_pc(tx: &Transaction, from: &str, to: &str) -> rusqlite::Result<()> {
    if from == to {
        return Ok(());
    }
    for k in &BY_TEXT {
        tx.execute(&merge_sql(k), params![from, to])?;
        tx.execute(&format!("DELETE FROM {} WHERE pc = ?1", k.table), [from])?;
    }
    tx.execute(
        "INSERT INTO unexplained (pc, remote, port, proto, reason, name, first_ms, last_ms,
             up_bytes, down_bytes)
         SELECT ?2, remote, port, proto, reason, name, first_ms, last_ms, up_bytes, down_bytes
         FROM unexplained WHERE pc = ?1
         ON CONFLICT (pc, remote, port, proto) DO UPDATE SET
             first_ms = min(first_ms, excluded.first_ms),
             last_ms = max(last_ms, excluded.last_ms),
             up_bytes = up_bytes + excluded.up_bytes,
             down_bytes = down_bytes + excluded.down_bytes",
        params![from, to],
    )?;
    tx.execute("DELETE FROM unexplained WHERE pc = ?1", [from])?;
    // The query log and access requests name the PC row by row.
    tx.execute(
        "UPDATE queries SET pc = ?2 WHERE pc = ?1",
        params![from, to],
    )?;
    tx.execute(
        "UPDATE requests SET pc = ?2 WHERE pc = ?1",
        params![from, to],
    )?;
    let id = |name: &str| -> rusqlite::Result<Option<i64>> {
        match tx.query_row("SELECT id FROM names WHERE name = ?1", [name], |r| r.get(0)) {
            Ok(id) => Ok(Some(id)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(e),
        }
    };
    let Some(old) = id(from)? else {
        return Ok(());
    };
    tx.execute("INSERT OR IGNORE INTO names (name) VALUES (?1)", [to])?;
    let new = id(to)?.expect("just inserted");
    for k in &BY_ID {
        tx.execute(&merge_sql(k), params![old, new])?;
        tx.execute(&format!("DELETE FROM {} WHERE pc = ?1", k.table), [old])?;
    }
    Ok(())
}
