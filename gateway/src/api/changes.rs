//! Changes to the policy through the API: each is written back into `office.toml`
//! (`policy::edit`), applied by the daemon's file watch within a second, and recorded in
//! the action history with who made it.

use std::sync::Arc;

use axum::{
    Extension, Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{ApiError, ApiState, session::Principal};
use crate::{auth, policy::edit};

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

pub(super) fn edit_error(e: edit::EditError) -> ApiError {
    match e {
        edit::EditError::NoSuchPc(_) => ApiError(StatusCode::NOT_FOUND, e.to_string()),
        edit::EditError::BadTime(_) | edit::EditError::Invalid(_) => ApiError::bad(e),
        _ => ApiError::internal(e),
    }
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
        )
        .map_err(edit_error)?;
        let details = serde_json::json!({"until": b.until, "reason": b.reason});
        history(&st2, &p.name, "pc_block", &pc, details.clone());
        Ok(Json(
            serde_json::json!({"pc": pc, "blocked": true, "until": b.until}),
        ))
    })
    .await
    .map_err(ApiError::internal)?
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
        let n = edit::unblock_pc(&st2.policy_dir, &st2.storage_dir.join("lists"), &pc)
            .map_err(edit_error)?;
        history(
            &st2,
            &p.name,
            "pc_unblock",
            &pc,
            serde_json::json!({"removed": n}),
        );
        Ok(Json(serde_json::json!({"pc": pc, "removed": n})))
    })
    .await
    .map_err(ApiError::internal)?
}
