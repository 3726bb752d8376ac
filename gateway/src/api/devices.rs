//! Devices as the datapath sees them: one per device slot, with every address and MAC
//! pointing at it (a PC's IPv4, IPv6, privacy and link-local addresses, a new DHCP lease,
//! are one device), with the
//! name the policy or the DHCP lease gives it, its group and its live counters. Devices
//! the policy does not list are here too: that is how an admin finds them.
//!
//! Owns: the devices view, and placing a device (naming it and putting it in a group: an
//! edit of `office.toml` through `policy::edit`, like every change).

use std::sync::Arc;

use axum::{
    Extension, Json,
    extract::{Path, Query, State},
    response::Response,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;

use super::{
    ApiError, ApiState,
    access::{Access, ApiRouter, gate},
    changes::history,
    format::{Format, respond},
    pcs::state_name,
    principal::Principal,
};
use crate::policy::edit;

pub fn routes() -> ApiRouter {
    // Placing a device decides which rules a machine gets, and devices outside the
    // policy are in no department: admins only.
    ApiRouter::new()
        .merge(gate(Access::Read, routes!(devices)))
        .merge(gate(Access::Admin, routes!(place)))
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
    /// allowed, blocked, over-quota; `forgotten`: seen before, idle so long that the
    /// datapath let it go (it gets a slot again when it comes back).
    pub state: String,
    /// When this gateway first and last saw it (Unix ms; last seen is written every 30 s
    /// while it sends). None for a listed PC's address not seen yet.
    pub first_seen_ms: Option<i64>,
    pub last_seen_ms: Option<i64>,
    /// New connections it sent with another device's address (spoofing), counted as its
    /// own.
    pub spoofed: u32,
    pub up_bytes: u64,
    pub down_bytes: u64,
    pub dropped_bytes: u64,
}

/// Every device ever seen: those the datapath knows, busiest first, then the forgotten
/// ones, most recently seen first.
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
    let mut seen: std::collections::HashMap<String, crate::store::SeenDevice> =
        crate::store::open_read(&st.storage_dir)
            .ok()
            .and_then(|c| crate::store::seen_devices(&c).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|d| (d.mac.clone(), d))
            .collect();
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
            let mac = d
                .macs
                .first()
                .map(crate::datapath::mac_text)
                .unwrap_or_default();
            let seen = seen.remove(&mac);
            DeviceRow {
                first_seen_ms: seen.as_ref().map(|s| s.first_seen_ms),
                last_seen_ms: seen.as_ref().map(|s| s.last_seen_ms),
                mac,
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
    let mut gone: Vec<_> = seen.into_values().collect();
    gone.sort_by_key(|d| std::cmp::Reverse(d.last_seen_ms));
    rows.extend(gone.into_iter().map(|d| forgotten(&policy, d)));
    Ok(rows)
}

/// A device seen before that the datapath no longer holds.
fn forgotten(policy: &crate::policy::Policy, d: crate::store::SeenDevice) -> DeviceRow {
    let pc = crate::datapath::parse_mac(&d.mac)
        .and_then(|m| policy.pc_with_mac(&m))
        .map(|i| &policy.pcs()[i]);
    let group = match pc {
        Some(pc) => pc.group.map_or(crate::policy::DEFAULT_GROUP, |g| {
            policy.groups()[g].name.as_str()
        }),
        None => {
            let addrs: Vec<std::net::IpAddr> =
                d.addresses.iter().filter_map(|a| a.parse().ok()).collect();
            policy
                .unlisted_group(&addrs)
                .map_or(crate::policy::DEFAULT_GROUP, |g| &policy.groups()[g].name)
        }
    };
    DeviceRow {
        pc: pc.map(|p| p.name.clone()),
        name: pc.map_or(d.name, |p| p.name.clone()),
        mac: d.mac,
        addresses: d.addresses,
        dhcp_name: None,
        group: group.to_string(),
        state: "forgotten".into(),
        first_seen_ms: Some(d.first_seen_ms),
        last_seen_ms: Some(d.last_seen_ms),
        spoofed: 0,
        up_bytes: 0,
        down_bytes: 0,
        dropped_bytes: 0,
    }
}

/// A name and a group for a device.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceBody {
    /// Its PC name in the policy (unique).
    pub name: String,
    /// Its group; empty or `default`: no group.
    #[serde(default)]
    pub group: Option<String>,
}

/// Name a device and place it in a group: it becomes (or stays) a PC of the policy known
/// by its MAC, so its rules follow it whatever addresses it takes.
#[utoipa::path(put, path = "/api/v1/devices/{mac}", request_body = PlaceBody,
    params(("mac" = String, Path, description = "The device's MAC, aa:bb:cc:dd:ee:ff")),
    responses((status = 200, description = "Written to office.toml; applied within a second", body = Object)))]
pub async fn place(
    State(st): State<Arc<ApiState>>,
    Extension(who): Extension<Principal>,
    Path(mac): Path<String>,
    Json(body): Json<PlaceBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mac = crate::datapath::parse_mac(&mac)
        .ok_or_else(|| ApiError::bad(format!("`{mac}` is not a MAC (aa:bb:cc:dd:ee:ff)")))?;
    tokio::task::spawn_blocking(move || {
        let policy = st.policy.load();
        // The PC it is listed as today: by its MAC, else by an address the datapath saw
        // it with (a PC listed by address only gets its MAC added, not a twin).
        let listed = policy.pc_with_mac(&mac).or_else(|| {
            let maps = crate::datapath::Maps::open(&st.pin_dir).ok()?;
            maps.devices()
                .into_iter()
                .find(|d| d.macs.contains(&mac))
                .and_then(|d| d.addrs.iter().find_map(|a| policy.pc_at(*a)))
        });
        let listed_as = listed.map(|i| policy.pcs()[i].name.clone());
        edit::place_device(
            &st.policy_dir,
            &st.storage_dir.join("lists"),
            &policy,
            &edit::Placement {
                mac,
                listed_as: listed_as.as_deref(),
                name: &body.name,
                group: body.group.as_deref(),
            },
        )?;
        let mac = crate::datapath::mac_text(&mac);
        let details = serde_json::json!({
            "name": body.name.trim(), "group": body.group, "was": listed_as,
        });
        history(&st, &who.name, "device_place", &mac, details);
        Ok(Json(serde_json::json!({
            "mac": mac, "pc": body.name.trim(), "group": body.group,
        })))
    })
    .await?
}
