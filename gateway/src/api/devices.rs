//! Devices as the datapath sees them: every address it knows, grouped by the MAC its
//! frames carry (a PC's IPv4, IPv6 and link-local addresses are one device), with the
//! name the policy or the DHCP lease gives it, its group and its live counters. Devices
//! the policy does not list are here too: that is how an admin finds them.
//!
//! Owns: the devices view. Must not: change the policy (placing a device is an edit of
//! `office.toml`, like every change).

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    extract::{Query, State},
    response::Response,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

use super::{
    ApiError, ApiState,
    access::{Access, ApiRouter, gate},
    format::{Format, respond},
    pcs::state_name,
};

pub fn routes() -> ApiRouter {
    gate(Access::Read, routes!(devices))
}

/// One device: its MAC and every address seen with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceRow {
    /// `aa:bb:cc:dd:ee:ff`; empty for an address seen with no MAC yet.
    pub mac: String,
    pub addresses: Vec<String>,
    /// The PC the policy lists it as, if any.
    pub pc: Option<String>,
    /// What it is called: the policy's name, else its DHCP host name, else an address.
    pub name: String,
    /// Its group (for a device the policy does not list: `unknown_devices`' group).
    pub group: String,
    /// allowed, blocked, over-quota (the strictest of its addresses).
    pub state: String,
    pub up_bytes: u64,
    pub down_bytes: u64,
    pub dropped_bytes: u64,
}

/// Every device the datapath knows, busiest first.
#[utoipa::path(get, path = "/api/v1/devices", params(Format),
    responses((status = 200, description = "Devices, busiest first", body = [DeviceRow])))]
pub async fn devices(
    State(st): State<Arc<ApiState>>,
    Query(format): Query<Format>,
) -> Result<Response, ApiError> {
    // The maps' syscalls block: off the runtime.
    let rows = tokio::task::spawn_blocking(move || rows(&st)).await??;
    respond(rows, &format)
}

fn rows(st: &ApiState) -> Result<Vec<DeviceRow>, ApiError> {
    let maps = crate::datapath::Maps::open(&st.pin_dir)?;
    let policy = st.policy.load();
    let mut by_mac: BTreeMap<String, DeviceRow> = BTreeMap::new();
    for e in maps.pcs() {
        let mac = if e.info.mac == [0; 6] {
            String::new()
        } else {
            e.info
                .mac
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        // An address without a MAC is a device of its own until its MAC is seen.
        let key = if mac.is_empty() {
            e.addr.to_string()
        } else {
            mac.clone()
        };
        let row = by_mac.entry(key).or_insert_with(|| DeviceRow {
            mac,
            addresses: Vec::new(),
            pc: None,
            name: st.names.label(&policy, e.addr),
            group: policy
                .datapath_group_name(e.info.group)
                .unwrap_or("?")
                .to_string(),
            state: "allowed".into(),
            up_bytes: 0,
            down_bytes: 0,
            dropped_bytes: 0,
        });
        row.addresses.push(e.addr.to_string());
        if let Some(i) = policy.pc_at(e.addr) {
            // A listed address names the device, whatever address was met first.
            let name = policy.pcs()[i].name.clone();
            row.name = name.clone();
            row.pc = Some(name);
        }
        if e.info.state != gateway_common::PcState::Allowed as u8 {
            row.state = state_name(e.info.state).to_string();
        }
        row.up_bytes += e.counters.up_bytes;
        row.down_bytes += e.counters.down_bytes;
        row.dropped_bytes += e.counters.dropped_bytes;
    }
    let mut rows: Vec<DeviceRow> = by_mac.into_values().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.up_bytes + r.down_bytes));
    Ok(rows)
}
