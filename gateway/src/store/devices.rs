//! Every device ever seen on the LAN, by MAC: when it was first and last seen, the
//! addresses it last had and what it was called then. The datapath forgets idle devices
//! (their slots are reused); this table does not, so the Devices page lists every device
//! ever met and `devices.new` means new since the gateway was installed, not since it
//! started.
//!
//! Owns: the `devices` table's upsert and read.

use rusqlite::{Connection, Statement, params};
use serde::Serialize;

/// A device seen now (the tick queues one for a new device at once, and for a busy one
/// now and then).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceSeen {
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    pub at_ms: i64,
    pub addresses: Vec<String>,
    /// Its name then: the policy's, its DHCP name, else its MAC.
    pub name: String,
}

/// A device as the table keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeenDevice {
    pub mac: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub addresses: Vec<String>,
    pub name: String,
}

pub(super) const UPSERT: &str =
    "INSERT INTO devices (mac, first_seen_ms, last_seen_ms, addresses, name)
         VALUES (?1, ?2, ?2, ?3, ?4)
         ON CONFLICT (mac) DO UPDATE SET
             last_seen_ms = max(last_seen_ms, excluded.last_seen_ms),
             addresses = excluded.addresses, name = excluded.name";

pub(super) fn upsert(stmt: &mut Statement, d: &DeviceSeen) -> rusqlite::Result<()> {
    stmt.execute(params![d.mac, d.at_ms, d.addresses.join(" "), d.name])?;
    Ok(())
}

/// Every device ever seen, most recently seen first.
pub fn seen_devices(conn: &Connection) -> rusqlite::Result<Vec<SeenDevice>> {
    let mut stmt = conn.prepare(
        "SELECT mac, first_seen_ms, last_seen_ms, addresses, name FROM devices
         ORDER BY last_seen_ms DESC",
    )?;
    stmt.query_map([], |r| {
        let addresses: String = r.get(3)?;
        Ok(SeenDevice {
            mac: r.get(0)?,
            first_seen_ms: r.get(1)?,
            last_seen_ms: r.get(2)?,
            addresses: addresses.split_whitespace().map(String::from).collect(),
            name: r.get(4)?,
        })
    })?
    .collect()
}
