//! Who is asking: the bearer token of `[api] token` (a machine with full access,
//! recorded as `api-token`), or a user's login session (the `og_session` cookie,
//! HttpOnly, SameSite=Strict). A session that changes anything must echo its CSRF token
//! in `X-CSRF-Token`. `authenticate` runs on every request and puts the `Principal` in
//! it; what each role may then call is stated beside each route (`access::gate`).
//! Routes: log in, log out, who am I.

use std::sync::Arc;

use axum::{
    Extension, Json,
    extract::{ConnectInfo, Request, State},
    http::{HeaderValue, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;

use super::{
    ApiError, ApiState,
    access::{Access, ApiRouter, Doc, gate, may},
    db,
    principal::Principal,
    same,
};
use crate::{
    auth::{self, Role},
    blockpage::Peer,
};

pub const COOKIE: &str = "og_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

pub fn routes() -> ApiRouter {
    // The log-in is the one API route without a caller: `authenticate` lets it through.
    ApiRouter::new()
        .routes(routes!(login))
        .merge(gate(Access::Anyone, routes!(logout)))
        .merge(gate(Access::Anyone, routes!(me)))
}

fn session_token(req: &Request) -> Option<String> {
    let raw = req.headers().get(header::COOKIE)?.to_str().ok()?;
    cookie::Cookie::split_parse(raw)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())
}

/// The middleware in front of every route: the UI's page and assets and the log-in are
/// public; everything else under `/api/` and `/metrics` needs a caller.
pub async fn authenticate(
    State(st): State<Arc<ApiState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    if path == "/api/v1/login" || !(path.starts_with("/api/") || path == "/metrics") {
        return next.run(req).await;
    }
    // Only owned pieces of the request cross the await: a `&Request` is not `Send`.
    let asked = Asked {
        bearer: req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string),
        session: session_token(&req),
        changes: !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS),
        csrf: req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
    };
    match caller(&st, asked).await {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// What a request says about its caller.
struct Asked {
    bearer: Option<String>,
    session: Option<String>,
    /// Not a GET/HEAD/OPTIONS: a session must echo its CSRF token.
    changes: bool,
    csrf: String,
}

async fn caller(st: &ApiState, asked: Asked) -> Result<Principal, ApiError> {
    let principal = match (asked.bearer.as_deref(), asked.session) {
        (Some(t), _) if same(t.as_bytes(), st.token.as_bytes()) => Principal {
            name: "api-token".into(),
            role: Role::Admin,
            scope: None,
            csrf: None,
        },
        (None, Some(token)) => {
            let found = db::write(st, move |c| {
                auth::session(c, &token, crate::store::now_ms())
            })
            .await?;
            let Some((u, csrf)) = found else {
                return Err(ApiError::Unauthorized(
                    "session expired; log in again".into(),
                ));
            };
            Principal {
                name: u.name,
                role: u.role,
                scope: u.scope,
                csrf: Some(csrf),
            }
        }
        _ => {
            return Err(ApiError::Unauthorized(
                "log in (POST /api/v1/login) or send a valid bearer token".into(),
            ));
        }
    };
    if let Some(csrf) = &principal.csrf
        && asked.changes
        && !same(asked.csrf.as_bytes(), csrf.as_bytes())
    {
        return Err(ApiError::forbidden("missing or wrong X-CSRF-Token"));
    }
    Ok(principal)
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
/// of one name from one address (an IPv6 /64) lock that name for that address for 15
/// minutes (429); an address trying too often is refused before any check (429), and so
/// is a log-in while too many are being checked (503).
#[utoipa::path(post, path = "/api/v1/login", request_body = LoginBody,
    responses((status = 200, description = "Logged in", body = LoginReply),
        (status = 401, description = "Wrong name or password"),
        (status = 429, description = "Locked after repeated failures, or too many tries"),
        (status = 503, description = "Too many log-ins at once")))]
pub async fn login(
    State(st): State<Arc<ApiState>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Json(b): Json<LoginBody>,
) -> Result<Response, ApiError> {
    let source = super::logins::source(peer.ip());
    let _hashing = st.logins.admit(source).await?;
    // argon2 is slow on purpose: on the blocking pool, like every database call.
    let (user, session) = db::write(&st, move |c| {
        auth::login(
            c,
            &b.name,
            &b.password,
            &source.to_string(),
            crate::store::now_ms(),
        )
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
        db::write(&st, move |c| auth::logout(c, &token)).await?;
    }
    let mut r = Json(serde_json::json!({"ok": true})).into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0, st.tls));
    Ok(r)
}

/// The caller, and every route their role may call.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub who: Principal,
    /// `METHOD /path/template` of each route open to this role (e.g.
    /// `POST /api/v1/pcs/{pc}/block`): the UI shows what these allow and nothing else.
    /// A manager's routes still answer only for their department.
    pub may: Vec<String>,
}

/// Who I am, and what I may do.
#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, description = "The caller", body = Me)))]
pub async fn me(Extension(p): Extension<Principal>, Extension(doc): Extension<Doc>) -> Json<Me> {
    let may = may(&doc.0, p.role);
    Json(Me { who: p, may })
}
