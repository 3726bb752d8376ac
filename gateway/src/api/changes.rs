//! Changes to the policy through the API: each is written back into `office.toml`
//! (`policy::edit`), applied by the daemon's file watch within a second, and recorded in
//! the action history with who made it.

use std::sync::Arc;

use axum::{
    Extension, Json,
    extract::{Path, Query, State},
};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

use super::{
    ApiError, ApiState,
    access::{Access, ApiRouter, gate},
    principal::Principal,
};
use crate::{auth, policy::edit};

pub fn routes() -> ApiRouter {
    // Managers reach these for their department: each handler checks the PC or group.
    ApiRouter::new()
        .merge(gate(Access::ScopedChange, routes!(block, unblock)))
        .merge(gate(Access::ScopedChange, routes!(add_rule)))
        .merge(gate(Access::ScopedChange, routes!(remove_rule)))
        .merge(gate(Access::ScopedChange, routes!(set_limit)))
        // Schedules are shared by every group: admins only.
        .merge(gate(Access::Admin, routes!(set_schedule)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockBody {
    /// End of the block: RFC 3339 or `YYYY-MM-DD HH:MM` in the policy's zone. Default:
    /// until unblocked.
    pub until: Option<String>,
    /// Why, shown on the block page and in the history.
    #[serde(default)]
    pub reason: String,
}

pub(super) fn history(
    st: &ApiState,
    who: &str,
    action: &str,
    subject: &str,
    details: serde_json::Value,
) {
    let a = auth::Action {
        at_ms: crate::store::now_ms(),
        actor: who.to_string(),
        action: action.to_string(),
        subject: subject.to_string(),
        details,
    };
    match auth::open(&st.storage_dir) {
        Ok(conn) => {
            if let Err(e) = auth::record(&conn, &a) {
                tracing::error!("action history: {e}");
            }
        }
        Err(e) => tracing::error!("action history: {e}"),
    }
}

/// Block a PC now, until a time or until unblocked.
#[utoipa::path(post, path = "/api/v1/pcs/{pc}/block", request_body = BlockBody,
    params(("pc" = String, Path, description = "The PC's name in the policy")),
    responses((status = 200, description = "Written to office.toml; applied within a second", body = Object)))]
pub async fn block(
    State(st): State<Arc<ApiState>>,
    Extension(p): Extension<Principal>,
    Path(pc): Path<String>,
    body: Option<Json<BlockBody>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    p.check_pc(&st.policy.load(), &pc)?;
    let b = body.map(|Json(b)| b).unwrap_or_default();
    let st2 = st.clone();
    tokio::task::spawn_blocking(move || {
        let policy = st2.policy.load();
        edit::block_pc(
            &st2.policy_dir,
            &st2.storage_dir.join("lists"),
            &policy,
            &pc,
            b.until.as_deref(),
            &b.reason,
        )?;
        let details = serde_json::json!({"until": b.until, "reason": b.reason});
        history(&st2, &p.name, "pc_block", &pc, details.clone());
        Ok(Json(
            serde_json::json!({"pc": pc, "blocked": true, "until": b.until}),
        ))
    })
    .await?
}

/// Lift every manual block of a PC.
#[utoipa::path(delete, path = "/api/v1/pcs/{pc}/block",
    params(("pc" = String, Path, description = "The PC's name in the policy")),
    responses((status = 200, description = "Blocks removed from office.toml", body = Object)))]
pub async fn unblock(
    State(st): State<Arc<ApiState>>,
    Extension(p): Extension<Principal>,
    Path(pc): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    p.check_pc(&st.policy.load(), &pc)?;
    let st2 = st.clone();
    tokio::task::spawn_blocking(move || {
        let n = edit::unblock_pc(&st2.policy_dir, &st2.storage_dir.join("lists"), &pc)?;
        history(
            &st2,
            &p.name,
            "pc_unblock",
            &pc,
            serde_json::json!({"removed": n}),
        );
        Ok(Json(serde_json::json!({"pc": pc, "removed": n})))
    })
    .await?
}

/// A rule to add to a group.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    /// `block` or `allow`.
    pub action: String,
    /// Names (each with its subdomains).
    #[serde(default)]
    pub domains: Vec<String>,
    /// Names from `[categories]`.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Names from `[lists]`.
    #[serde(default)]
    pub lists: Vec<String>,
    /// A schedule's name: the rule applies only then.
    pub schedule: Option<String>,
}

/// Runs one policy edit off the async threads, then records it in the history.
async fn edit_and_record(
    st: Arc<ApiState>,
    who: Principal,
    action: &'static str,
    subject: String,
    details: serde_json::Value,
    f: impl FnOnce(&std::path::Path, &std::path::Path) -> Result<(), edit::EditError> + Send + 'static,
) -> Result<Json<serde_json::Value>, ApiError> {
    tokio::task::spawn_blocking(move || {
        f(&st.policy_dir, &st.storage_dir.join("lists"))?;
        history(&st, &who.name, action, &subject, details.clone());
        Ok(Json(
            serde_json::json!({"done": action, "subject": subject, "details": details}),
        ))
    })
    .await?
}

/// Block or allow sites, categories or lists for a group (and its subgroups).
#[utoipa::path(post, path = "/api/v1/groups/{group}/rules", request_body = RuleBody,
    params(("group" = String, Path, description = "The group")),
    responses((status = 200, description = "Written to office.toml; applied within a second", body = Object)))]
pub async fn add_rule(
    State(st): State<Arc<ApiState>>,
    Extension(p): Extension<Principal>,
    Path(group): Path<String>,
    Json(b): Json<RuleBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    p.check_group(&st.policy.load(), &group)?;
    if b.domains.is_empty() && b.categories.is_empty() && b.lists.is_empty() {
        return Err(ApiError::bad("a rule needs domains, categories or lists"));
    }
    let details = serde_json::json!({
        "action": b.action, "domains": b.domains, "categories": b.categories,
        "lists": b.lists, "schedule": b.schedule,
    });
    let rule = edit::NewRule {
        action: b.action,
        domains: b.domains,
        categories: b.categories,
        lists: b.lists,
        schedule: b.schedule,
    };
    let g = group.clone();
    edit_and_record(st, p, "rule_add", group, details, move |dir, cache| {
        edit::add_rule(dir, cache, &g, &rule)
    })
    .await
}

/// Which rule to remove, beyond its number.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RuleQuery {
    /// The rule's `id` as `/api/v1/policy` listed it: that rule is removed wherever it
    /// stands now (409 if it is gone); without it, whatever rule has the number.
    pub id: Option<String>,
}

/// Remove a group's rule by its number (0-based, as `/api/v1/policy` lists them), or
/// better by its identity (`?id=`): a listing may be stale by the time an admin clicks.
#[utoipa::path(delete, path = "/api/v1/groups/{group}/rules/{index}",
    params(("group" = String, Path, description = "The group"),
        ("index" = usize, Path, description = "The rule's number in the group"),
        RuleQuery),
    responses((status = 200, description = "Removed from office.toml", body = Object),
        (status = 409, description = "The rule changed since it was listed")))]
pub async fn remove_rule(
    State(st): State<Arc<ApiState>>,
    Extension(p): Extension<Principal>,
    Path((group, index)): Path<(String, usize)>,
    Query(q): Query<RuleQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    p.check_group(&st.policy.load(), &group)?;
    let g = group.clone();
    edit_and_record(
        st,
        p,
        "rule_remove",
        group,
        serde_json::json!({"index": index, "id": q.id}),
        move |dir, cache| edit::remove_rule(dir, cache, &g, index, q.id.as_deref()),
    )
    .await
}

/// A traffic limit to set or remove.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitBody {
    /// Exactly one of `pc`, `group`, `company`.
    pub pc: Option<String>,
    pub group: Option<String>,
    #[serde(default)]
    pub company: bool,
    /// `day` or `month`.
    pub per: String,
    /// `2 GB`, `500 MiB`…; absent or null removes the limit.
    pub bytes: Option<String>,
}

/// Set or remove a traffic limit for a PC, a group or the whole company.
#[utoipa::path(put, path = "/api/v1/limits", request_body = LimitBody,
    responses((status = 200, description = "Written to office.toml; applied within a second", body = Object)))]
pub async fn set_limit(
    State(st): State<Arc<ApiState>>,
    Extension(p): Extension<Principal>,
    Json(b): Json<LimitBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let policy = st.policy.load();
    let subject = match (&b.pc, &b.group, b.company) {
        (Some(pc), None, false) => {
            p.check_pc(&policy, pc)?;
            format!("pc {pc}")
        }
        (None, Some(g), false) => {
            p.check_group(&policy, g)?;
            format!("group {g}")
        }
        (None, None, true) if p.role == crate::auth::Role::Admin => "company".to_string(),
        (None, None, true) => {
            return Err(ApiError::forbidden(
                "only an admin limits the whole company",
            ));
        }
        _ => {
            return Err(ApiError::bad(
                "name exactly one of `pc`, `group`, `company`",
            ));
        }
    };
    let details = serde_json::json!({"per": b.per, "bytes": b.bytes});
    edit_and_record(st, p, "limit_set", subject, details, move |dir, cache| {
        let target = match (&b.pc, &b.group) {
            (Some(pc), _) => edit::LimitFor::Pc(pc),
            (_, Some(g)) => edit::LimitFor::Group(g),
            _ => edit::LimitFor::Company,
        };
        edit::set_limit(dir, cache, target, &b.per, b.bytes.as_deref())
    })
    .await
}

/// A weekly schedule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// `mon`…`sun`.
    pub days: Vec<String>,
    /// `HH:MM`.
    pub from: String,
    /// `HH:MM`; earlier than `from` means the next day.
    pub until: String,
}

/// Define or change a weekly schedule (shared by every group: admins only).
#[utoipa::path(put, path = "/api/v1/schedules/{name}", request_body = ScheduleBody,
    params(("name" = String, Path, description = "The schedule")),
    responses((status = 200, description = "Written to office.toml; applied within a second", body = Object)))]
pub async fn set_schedule(
    State(st): State<Arc<ApiState>>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Json(b): Json<ScheduleBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let details = serde_json::json!({"days": b.days, "from": b.from, "until": b.until});
    let n = name.clone();
    edit_and_record(st, p, "schedule_set", name, details, move |dir, cache| {
        edit::set_schedule(dir, cache, &n, &b.days, &b.from, &b.until)
    })
    .await
}
