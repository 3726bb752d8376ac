//! Devices as the datapath sees them: one per device slot, with every address and MAC
//! pointing at it (a PC's IPv4, IPv6, privacy and link-local addresses, a new DHCP lease,
//! are one device), with the
//! name the policy or the DHCP lease gives it, its group and its live counters. Devices
//! the policy does not list are here too: that is how an admin finds them.
//!
//! Owns: the devices view. Must not: change the policy (placing a device is an edit of
//! `office.toml`, like every change).

use std::sync::Arc;

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
    /// What it is called: the policy's name, else its DHCP host name, else its MAC.
    pub name: String,
    /// The host name its DHCP lease gave, if any.
    pub dhcp_name: Option<String>,
    /// Its group (for a device the policy does not list: `unknown_devices`' group).
    pub group: String,
    /// allowed, blocked, over-quota.
    pub state: String,
    /// New connections it sent with another device's address (spoofing), counted as its
    /// own.
    pub spoofed: u32,
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
    let mut rows: Vec<DeviceRow> = maps
        .devices()
        .into_iter()
        .map(|d| {
            let pc = d
                .macs
                .iter()
                .find_map(|m| policy.pc_with_mac(m))
                .or_else(|| d.addrs.iter().find_map(|a| policy.pc_at(*a)))
                .map(|i| policy.pcs()[i].name.clone());
            DeviceRow {
                mac: d
                    .macs
                    .first()
                    .map(crate::datapath::mac_text)
                    .unwrap_or_default(),
                addresses: d.addrs.iter().map(|a| a.to_string()).collect(),
                name: st.names.device_label(&policy, &d),
                dhcp_name: st.names.leased_name(&d.macs, &d.addrs),
                pc,
                group: policy
                    .datapath_group_name(d.group)
                    .unwrap_or("?")
                    .to_string(),
                state: state_name(d.state).to_string(),
                spoofed: d.spoofed,
                up_bytes: d.counters.up_bytes,
                down_bytes: d.counters.down_bytes,
                dropped_bytes: d.counters.dropped_bytes,
            }
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.up_bytes + r.down_bytes));
    Ok(rows)
}
