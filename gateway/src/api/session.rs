//! Who is asking, and may they: the bearer token of `[api] token` (a machine with full
//! access, recorded as `api-token`), or a user's login session (the `og_session` cookie,
//! HttpOnly, SameSite=Strict). A session that changes anything must echo its CSRF token
//! in `X-CSRF-Token`. Roles: admin does everything; auditor reads everything and
//! changes nothing; a department manager sees and manages only the PCs of their group's
//! subtree: the gate lets them reach only routes that check the PC (`Principal::check_pc`)
//! or filter their rows (`Principal::visible_pcs`); every other route refuses them.

use std::{collections::HashSet, sync::Arc};

use axum::{
    Json,
    extract::{Query, Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, ApiState, same};
use crate::auth::{self, AuthError, Role};

pub const COOKIE: &str = "og_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The caller of a request, put in its extensions by `authenticate`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Principal {
    pub name: String,
    #[schema(value_type = String)]
    pub role: Role,
    pub scope: Option<String>,
    /// The session's CSRF token (absent for the bearer token): the UI reads it here after
    /// a page reload. Same-origin only: the session cookie is SameSite=Strict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf: Option<String>,
}

fn session_token(req: &Request) -> Option<String> {
    let raw = req.headers().get(header::COOKIE)?.to_str().ok()?;
    cookie::Cookie::split_parse(raw)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())
}

fn refuse(status: StatusCode, why: &str) -> Response {
    let mut r = ApiError(status, why.to_string()).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

impl Principal {
    /// The PCs this caller may see: `None` for all (admin, auditor, the token); for a
    /// manager, the names of the PCs in their group and its subgroups.
    pub fn visible_pcs(&self, policy: &crate::policy::Policy) -> Option<HashSet<String>> {
        if self.role != Role::Manager {
            return None;
        }
        let groups = policy.groups();
        let Some(top) = groups
            .iter()
            .position(|g| Some(&g.name) == self.scope.as_ref())
        else {
            return Some(HashSet::new());
        };
        let in_subtree = |mut g: Option<usize>| {
            let mut steps = 0;
            while let Some(i) = g {
                if i == top {
                    return true;
                }
                g = groups[i].parent;
                steps += 1;
                if steps > groups.len() {
                    return false;
                }
            }
            false
        };
        Some(
            policy
                .pcs()
                .iter()
                .filter(|p| in_subtree(p.group))
                .map(|p| p.name.clone())
                .collect(),
        )
    }

    /// Refuses (403) when the caller may not manage group `group`: a manager manages
    /// their own group and its subgroups.
    pub fn check_group(&self, policy: &crate::policy::Policy, group: &str) -> Result<(), ApiError> {
        if self.role != Role::Manager {
            return Ok(());
        }
        let groups = policy.groups();
        let mut at = groups.iter().position(|g| g.name == group);
        let mut steps = 0;
        while let Some(i) = at {
            if Some(&groups[i].name) == self.scope.as_ref() {
                return Ok(());
            }
            at = groups[i].parent;
            steps += 1;
            if steps > groups.len() {
                break;
            }
        }
        Err(ApiError(
            StatusCode::FORBIDDEN,
            format!("group {group} is outside your department"),
        ))
    }

    /// Refuses (403) when the caller may not see or manage PC `pc`.
    pub fn check_pc(&self, policy: &crate::policy::Policy, pc: &str) -> Result<(), ApiError> {
        match self.visible_pcs(policy) {
            Some(set) if !set.contains(pc) => Err(ApiError(
                StatusCode::FORBIDDEN,
                format!("{pc} is outside your department"),
            )),
            _ => Ok(()),
        }
    }

    /// For routes that show one PC or the whole office: a manager must name one of theirs.
    pub fn check_pc_param(
        &self,
        policy: &crate::policy::Policy,
        pc: Option<&str>,
    ) -> Result<(), ApiError> {
        match (self.role, pc) {
            (Role::Manager, None) => Err(ApiError(
                StatusCode::FORBIDDEN,
                "office-wide figures are not for managers: name one of your PCs (`pc=`)".into(),
            )),
            (_, Some(pc)) => self.check_pc(policy, pc),
            _ => Ok(()),
        }
    }
}

/// `/api/v1/groups/{group}/rules` or `/api/v1/groups/{group}/rules/{n}`: their handlers
/// check the group (`Principal::check_group`).
fn group_rules(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/v1/groups/") else {
        return false;
    };
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [g, "rules"] => !g.is_empty(),
        [g, "rules", n] => !g.is_empty() && n.parse::<usize>().is_ok(),
        _ => false,
    }
}

/// What each role may do. Managers reach only routes whose handlers check the PC or the
/// group.
fn allowed(role: Role, method: &Method, path: &str) -> bool {
    let pc_route = |suffix: &str| {
        path.strip_prefix("/api/v1/pcs/")
            .and_then(|rest| rest.strip_suffix(suffix))
            .is_some_and(|pc| !pc.is_empty() && !pc.contains('/'))
    };
    match role {
        Role::Admin => true,
        Role::Auditor => method == Method::GET || path == "/api/v1/logout",
        Role::Manager => match *method {
            Method::GET => {
                matches!(
                    path,
                    "/api/v1/me"
                        | "/api/v1/pcs"
                        | "/api/v1/top"
                        | "/api/v1/traffic"
                        | "/api/v1/sites"
                        | "/api/v1/requests"
                        | "/api/v1/explain"
                        | "/api/v1/policy"
                ) || pc_route("/hosts")
            }
            Method::POST => {
                path == "/api/v1/logout"
                    || pc_route("/block")
                    || group_rules(path)
                    || path.strip_prefix("/api/v1/requests/").is_some_and(|rest| {
                        rest.strip_suffix("/approve")
                            .or_else(|| rest.strip_suffix("/refuse"))
                            .is_some_and(|id| id.parse::<i64>().is_ok())
                    })
            }
            Method::DELETE => pc_route("/block") || group_rules(path),
            Method::PUT => path == "/api/v1/limits",
            _ => false,
        },
    }
}

pub async fn authenticate(
    State(st): State<Arc<ApiState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    // The UI's page and assets are public; the data behind them is not.
    if path == "/api/v1/login" || !(path.starts_with("/api/") || path == "/metrics") {
        return next.run(req).await;
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let principal = match (bearer, session_token(&req)) {
        (Some(t), _) if same(t.as_bytes(), st.token.as_bytes()) => Principal {
            name: "api-token".into(),
            role: Role::Admin,
            scope: None,
            csrf: None,
        },
        (None, Some(token)) => {
            let dir = st.storage_dir.clone();
            let found = tokio::task::spawn_blocking(move || {
                let conn = auth::open(&dir).map_err(|e| e.to_string())?;
                auth::session(&conn, &token, crate::store::now_ms()).map_err(|e| e.to_string())
            })
            .await;
            match found {
                Ok(Ok(Some((u, csrf)))) => Principal {
                    name: u.name,
                    role: u.role,
                    scope: u.scope,
                    csrf: Some(csrf),
                },
                Ok(Ok(None)) => {
                    return refuse(StatusCode::UNAUTHORIZED, "session expired; log in again");
                }
                Ok(Err(e)) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, &e),
                Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        }
        _ => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "log in (POST /api/v1/login) or send a valid bearer token",
            );
        }
    };
    let method = req.method().clone();
    if let Some(csrf) = &principal.csrf
        && !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS)
    {
        let given = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !same(given.as_bytes(), csrf.as_bytes()) {
            return refuse(StatusCode::FORBIDDEN, "missing or wrong X-CSRF-Token");
        }
    }
    if !allowed(principal.role, &method, req.uri().path()) {
        return refuse(
            StatusCode::FORBIDDEN,
            &format!("a {} may not do this", principal.role.as_str()),
        );
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginBody {
    pub name: String,
    pub password: String,
}

/// A successful login: the user, and the CSRF token to send with every change.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginReply {
    pub name: String,
    pub role: String,
    pub scope: Option<String>,
    pub csrf: String,
}

fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::BadLogin => ApiError(StatusCode::UNAUTHORIZED, e.to_string()),
        AuthError::Locked => ApiError(StatusCode::TOO_MANY_REQUESTS, e.to_string()),
        AuthError::Db(_) | AuthError::Hash(_) => ApiError::internal(e),
        AuthError::Exists(_) => ApiError(StatusCode::CONFLICT, e.to_string()),
        AuthError::NoSuchUser(_) => ApiError(StatusCode::NOT_FOUND, e.to_string()),
        _ => ApiError::bad(e),
    }
}

/// Runs `f` with a read-write connection on the blocking pool (argon2 and SQLite block).
async fn with_db<T: Send + 'static>(
    st: &ApiState,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T, AuthError> + Send + 'static,
) -> Result<T, ApiError> {
    let dir = st.storage_dir.clone();
    tokio::task::spawn_blocking(move || {
        let conn = auth::open(&dir).map_err(ApiError::internal)?;
        f(&conn).map_err(auth_error)
    })
    .await
    .map_err(ApiError::internal)?
}

/// The session cookie: HttpOnly, SameSite=Strict, and Secure when the API is served over
/// HTTPS (`[api] tls_cert`), so the browser never sends it in clear.
fn session_cookie(value: &str, max_age_s: i64, secure: bool) -> HeaderValue {
    let c = cookie::Cookie::build((COOKIE, value.to_string()))
        .http_only(true)
        .secure(secure)
        .same_site(cookie::SameSite::Strict)
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age_s))
        .build();
    HeaderValue::from_str(&c.to_string()).expect("a cookie is a valid header value")
}

/// Log in: sets the session cookie and returns the CSRF token. Five failures in a row
/// lock the account for 15 minutes (429).
#[utoipa::path(post, path = "/api/v1/login", request_body = LoginBody,
    responses((status = 200, description = "Logged in", body = LoginReply),
        (status = 401, description = "Wrong name or password"),
        (status = 429, description = "Locked after repeated failures")))]
pub async fn login(
    State(st): State<Arc<ApiState>>,
    Json(b): Json<LoginBody>,
) -> Result<Response, ApiError> {
    let (user, session) = with_db(&st, move |c| {
        auth::login(c, &b.name, &b.password, crate::store::now_ms())
    })
    .await?;
    let mut r = Json(LoginReply {
        name: user.name,
        role: user.role.as_str().into(),
        scope: user.scope,
        csrf: session.csrf,
    })
    .into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&session.token, auth::SESSION_IDLE_MS / 1000, st.tls),
    );
    Ok(r)
}

/// Log out: ends the session and clears the cookie.
#[utoipa::path(post, path = "/api/v1/logout", responses((status = 200, description = "Logged out")))]
pub async fn logout(State(st): State<Arc<ApiState>>, req: Request) -> Result<Response, ApiError> {
    if let Some(token) = session_token(&req) {
        with_db(&st, move |c| auth::logout(c, &token)).await?;
    }
    let mut r = Json(serde_json::json!({"ok": true})).into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0, st.tls));
    Ok(r)
}

/// Who I am.
#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, description = "The caller", body = Principal)))]
pub async fn me(axum::Extension(p): axum::Extension<Principal>) -> Json<Principal> {
    Json(p)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct HistoryParams {
    /// Default 100, at most 10000.
    pub limit: Option<usize>,
}

/// The action history: every change made through the API or the CLI, newest first.
#[utoipa::path(get, path = "/api/v1/actions", params(HistoryParams),
    responses((status = 200, description = "Newest first", body = [Object])))]
pub async fn actions(
    State(st): State<Arc<ApiState>>,
    Query(p): Query<HistoryParams>,
) -> Result<Json<Vec<auth::Action>>, ApiError> {
    let limit = p.limit.unwrap_or(100).min(10_000);
    Ok(Json(with_db(&st, move |c| auth::history(c, limit)).await?))
}

/// Users with their roles.
#[utoipa::path(get, path = "/api/v1/users", responses((status = 200, description = "Users", body = [Object])))]
pub async fn users(State(st): State<Arc<ApiState>>) -> Result<Json<Vec<auth::User>>, ApiError> {
    Ok(Json(with_db(&st, auth::users).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUser {
    pub name: String,
    pub password: String,
    /// admin, auditor or manager.
    pub role: String,
    /// For managers: the group whose subtree they manage.
    pub scope: Option<String>,
}

/// Add a user (admins only); recorded in the action history.
#[utoipa::path(post, path = "/api/v1/users", request_body = NewUser,
    responses((status = 200, description = "Added", body = Object)))]
pub async fn add_user(
    State(st): State<Arc<ApiState>>,
    axum::Extension(p): axum::Extension<Principal>,
    Json(u): Json<NewUser>,
) -> Result<Json<auth::User>, ApiError> {
    let user = with_db(&st, move |c| {
        let role = Role::parse(&u.role)?;
        let now = crate::store::now_ms();
        let user = auth::add_user(c, &u.name, &u.password, role, u.scope.as_deref(), now)?;
        auth::record(
            c,
            &auth::Action {
                at_ms: now,
                actor: p.name,
                action: "user_add".into(),
                subject: user.name.clone(),
                details: serde_json::json!({"role": user.role, "scope": user.scope}),
            },
        )?;
        Ok(user)
    })
    .await?;
    Ok(Json(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The role matrix over every route the router serves.
    #[test]
    fn roles_against_routes() {
        // Managers: only routes whose handlers check the PC (see the lab test for the
        // answers themselves).
        for path in [
            "/api/v1/pcs",
            "/api/v1/top",
            "/api/v1/traffic",
            "/api/v1/sites",
            "/api/v1/pcs/pc1/hosts",
        ] {
            assert!(allowed(Role::Manager, &Method::GET, path), "{path}");
        }
        assert!(allowed(
            Role::Manager,
            &Method::POST,
            "/api/v1/pcs/pc1/block"
        ));
        assert!(allowed(
            Role::Manager,
            &Method::DELETE,
            "/api/v1/pcs/pc1/block"
        ));
        assert!(!allowed(
            Role::Manager,
            &Method::POST,
            "/api/v1/pcs/a/b/block"
        ));
        let reads = [
            "/api/v1/queries",
            "/api/v1/unexplained",
            "/api/v1/report",
            "/api/v1/events",
            "/api/v1/wan",
            "/api/v1/actions",
            "/api/v1/users",
            "/metrics",
        ];
        for path in reads {
            assert!(allowed(Role::Admin, &Method::GET, path));
            assert!(allowed(Role::Auditor, &Method::GET, path));
            assert!(!allowed(Role::Manager, &Method::GET, path), "{path}");
        }
        for (m, path) in [
            (Method::POST, "/api/v1/users"),
            (Method::POST, "/api/v1/pcs/pc1/block"),
            (Method::DELETE, "/api/v1/pcs/pc1/block"),
        ] {
            assert!(allowed(Role::Admin, &m, path));
            assert!(!allowed(Role::Auditor, &m, path), "{m} {path}");
        }
        assert!(allowed(Role::Admin, &Method::POST, "/api/v1/users"));
        assert!(!allowed(Role::Auditor, &Method::POST, "/api/v1/users"));
        assert!(!allowed(Role::Manager, &Method::POST, "/api/v1/users"));
        for role in [Role::Admin, Role::Auditor, Role::Manager] {
            assert!(allowed(role, &Method::GET, "/api/v1/me"));
            assert!(allowed(role, &Method::POST, "/api/v1/logout"));
        }
    }
}
