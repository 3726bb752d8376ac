//! PCs with their live counters (the pinned maps) and their traffic today and this
//! month (the store).

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Extension,
    extract::{Query, State},
    response::Response,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

use super::{
    ApiError, ApiState,
    access::{Access, ApiRouter, gate},
    format::{Format, csv_response, respond},
    principal::Principal,
};
use crate::store;

pub fn routes() -> ApiRouter {
    gate(Access::ScopedRead, routes!(pcs))
}

/// One PC: the policy's name and group, its datapath state, live counters summed over its
/// addresses, and its traffic today and this month (the policy's time zone).
#[derive(Debug, Serialize, ToSchema)]
pub struct PcRow {
    pub name: String,
    pub group: String,
    pub addresses: Vec<String>,
    /// allowed, blocked, over-quota
    pub state: String,
    pub up_bytes: u64,
    pub down_bytes: u64,
    pub up_packets: u64,
    pub down_packets: u64,
    pub dropped_bytes: u64,
    pub today_bytes: u64,
    pub month_bytes: u64,
}

impl PcRow {
    /// A PC with no traffic counted yet.
    fn empty(name: String, group: String, addresses: Vec<String>) -> Self {
        PcRow {
            name,
            group,
            addresses,
            state: "allowed".into(),
            up_bytes: 0,
            down_bytes: 0,
            up_packets: 0,
            down_packets: 0,
            dropped_bytes: 0,
            today_bytes: 0,
            month_bytes: 0,
        }
    }
}

pub(super) fn state_name(code: u8) -> &'static str {
    match gateway_common::PcState::from_code(code) {
        Some(gateway_common::PcState::Allowed) => "allowed",
        Some(gateway_common::PcState::Blocked) => "blocked",
        Some(gateway_common::PcState::OverQuota) => "over-quota",
        None => "unknown",
    }
}

/// Every PC, with its traffic.
#[utoipa::path(get, path = "/api/v1/pcs", params(Format),
    responses((status = 200, description = "PCs, busiest first", body = [PcRow])))]
pub async fn pcs(
    State(st): State<Arc<ApiState>>,
    Extension(who): Extension<Principal>,
    Query(format): Query<Format>,
) -> Result<Response, ApiError> {
    // The maps' syscalls and the store's reads block: off the runtime, like every read.
    let rows = tokio::task::spawn_blocking(move || rows(&st, &who)).await??;
    if format.format.as_deref() == Some("csv") {
        // CSV cells hold no lists: addresses are space-separated there.
        let rows: Vec<PcCsv> = rows.into_iter().map(PcCsv::from).collect();
        return csv_response(&rows);
    }
    respond(rows, &format)
}

/// Every PC this caller may see, busiest first.
fn rows(st: &ApiState, who: &Principal) -> Result<Vec<PcRow>, ApiError> {
    let maps = crate::datapath::Maps::open(&st.pin_dir)?;
    let policy = st.policy.load();
    let now = jiff::Timestamp::now().to_zoned_datetime(policy.time_zone().clone());
    let (day, month) = crate::usage::periods(&now);
    let conn = store::open_read(&st.storage_dir).ok();
    let usage = |period: &str| -> BTreeMap<String, u64> {
        conn.as_ref()
            .and_then(|c| store::usage_in(c, period).ok())
            .unwrap_or_default()
            .into_iter()
            .collect()
    };
    let (today, this_month) = (usage(&day), usage(&month));
    let mut rows: BTreeMap<String, PcRow> = BTreeMap::new();
    for pc in policy.pcs() {
        let group = pc
            .group
            .map(|g| policy.groups()[g].name.clone())
            .unwrap_or_else(|| crate::policy::DEFAULT_GROUP.to_string());
        let addresses = pc.addresses.iter().map(|a| a.to_string()).collect();
        rows.insert(
            pc.name.clone(),
            PcRow::empty(pc.name.clone(), group, addresses),
        );
    }
    for d in maps.devices() {
        let name = st.names.device_label(&policy, &d);
        let row = rows.entry(name.clone()).or_insert_with(|| {
            // A device the policy does not list: the group its network is, else the one
            // the policy names for those.
            let group = policy
                .unlisted_group(&d.addrs)
                .map_or(crate::policy::DEFAULT_GROUP, |g| &policy.groups()[g].name)
                .to_string();
            PcRow::empty(name, group, Vec::new())
        });
        let c = &d.counters;
        row.up_bytes += c.up_bytes;
        row.down_bytes += c.down_bytes;
        row.up_packets += c.up_packets;
        row.down_packets += c.down_packets;
        row.dropped_bytes += c.dropped_bytes;
        for a in &d.addrs {
            if !row.addresses.contains(&a.to_string()) {
                row.addresses.push(a.to_string());
            }
        }
        if d.state != gateway_common::PcState::Allowed as u8 {
            row.state = state_name(d.state).to_string();
        }
    }
    for row in rows.values_mut() {
        row.today_bytes = today.get(&row.name).copied().unwrap_or(0);
        row.month_bytes = this_month.get(&row.name).copied().unwrap_or(0);
    }
    let visible = who.visible_pcs(&policy);
    let mut rows: Vec<PcRow> = rows
        .into_values()
        .filter(|r| visible.as_ref().is_none_or(|v| v.contains(&r.name)))
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.up_bytes + r.down_bytes));
    Ok(rows)
}

/// `PcRow` as a CSV line.
#[derive(Serialize)]
struct PcCsv {
    name: String,
    group: String,
    addresses: String,
    state: String,
    up_bytes: u64,
    down_bytes: u64,
    up_packets: u64,
    down_packets: u64,
    dropped_bytes: u64,
    today_bytes: u64,
    month_bytes: u64,
}

impl From<PcRow> for PcCsv {
    fn from(r: PcRow) -> Self {
        PcCsv {
            name: r.name,
            group: r.group,
            addresses: r.addresses.join(" "),
            state: r.state,
            up_bytes: r.up_bytes,
            down_bytes: r.down_bytes,
            up_packets: r.up_packets,
            down_packets: r.down_packets,
            dropped_bytes: r.dropped_bytes,
            today_bytes: r.today_bytes,
            month_bytes: r.month_bytes,
        }
    }
}
