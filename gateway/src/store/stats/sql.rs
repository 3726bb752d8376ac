//! SQL pieces both sides of the statistics share: multi-row upserts, the `meta` table's
//! bookmarks, row readers.

use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};

/// Rows per execution of `upsert_rows`' statement.
const CHUNK: usize = 64;

/// Inserts (or upserts) `rows` with `head` (`INSERT INTO t (cols)`) and `tail` (its
/// `ON CONFLICT` clause, or empty), `CHUNK` rows per execution of one multi-row statement.
///
/// One statement per row descended each b-tree from its root for every row and paid the
/// execution's set-up (binding, opening cursors, reset) each time. Within one execution
/// SQLite keeps its cursors, and a key past the end of the current leaf (rows written in
/// key order, or the newest minute) is appended without a descent.
///
/// Rows of integers are bound as they are (`[i64; N]`): converting every row to
/// `Value`s first cost the roll-ups an allocation of megabytes per minute, freshly
/// faulted in (~5% of the writer in `bench stats`).
pub(super) fn upsert_rows<T: rusqlite::ToSql, const N: usize>(
    tx: &Transaction,
    head: &str,
    tail: &str,
    rows: &[[T; N]],
) -> rusqlite::Result<()> {
    let values = |n: usize| {
        let one = format!("({})", ["?"; N].join(","));
        vec![one; n].join(",")
    };
    let mut chunks = rows.chunks_exact(CHUNK);
    if rows.len() >= CHUNK {
        let mut stmt = tx.prepare_cached(&format!("{head} VALUES {} {tail}", values(CHUNK)))?;
        for chunk in &mut chunks {
            stmt.execute(params_from_iter(chunk.iter().flatten()))?;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut stmt = tx.prepare_cached(&format!("{head} VALUES {} {tail}", values(1)))?;
        for row in rest {
            stmt.execute(params_from_iter(row.iter()))?;
        }
    }
    Ok(())
}

/// The upsert tail that adds a row's bytes to the row already there.
pub(super) const ADD: &str = "ON CONFLICT DO UPDATE SET up_bytes = up_bytes + excluded.up_bytes,
                   down_bytes = down_bytes + excluded.down_bytes";

/// A value of the `meta` table.
pub(super) fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

/// Sets a value of the `meta` table.
pub(super) fn set_meta(tx: &Transaction, key: &str, value: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

/// A row of (text, integer, integer) — a name or key with two byte counts.
pub(super) fn read3(r: &rusqlite::Row) -> rusqlite::Result<(String, u64, u64)> {
    Ok((
        r.get::<_, String>(0)?,
        r.get::<_, i64>(1)? as u64,
        r.get::<_, i64>(2)? as u64,
    ))
}

/// The id of a name, if it was ever stored.
pub(super) fn name_id(conn: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM names WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()
}
