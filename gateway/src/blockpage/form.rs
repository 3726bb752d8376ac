//! The block page's request form: an employee asks for access to the site blocked for
//! their PC, with a reason. Checked before anything is kept: posted from the page itself
//! (not another site's), for a name blocked for this PC now; the reason is clipped, a
//! request asked again updates the pending one (`crate::requests`).

use std::sync::Arc;

use axum::{
    Form,
    extract::{ConnectInfo, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
};
use maud::html;
use serde::Deserialize;

use super::{PageState, Peer, page, pc_label, respond, why};
use crate::{policy::Verdict, requests};

/// Whether a form post comes from a page of the site it names in `Host` (the block page
/// itself): a browser says where a cross-site POST comes from (`Origin`, and
/// `Sec-Fetch-Site`), so a page elsewhere cannot file requests in an employee's name.
/// A client that says neither (a script, curl) is taken at its word.
fn same_site(headers: &HeaderMap) -> bool {
    let text = |h| headers.get(h).and_then(|v: &HeaderValue| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && site != "same-origin"
        && site != "none"
    {
        return false;
    }
    match (text(header::ORIGIN.as_str()), text(header::HOST.as_str())) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
    }
}

#[derive(Debug, Deserialize)]
pub struct RequestForm {
    site: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn file_request(
    State(st): State<Arc<PageState>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Form(f): Form<RequestForm>,
) -> Response {
    let addr = peer.ip().to_canonical();
    let policy = st.policy.load_full();
    let refuse = |status, msg: &str| {
        let body = html! { h1 { "Request not sent" } p { (msg) } };
        respond(status, page("Request not sent", body))
    };
    if !same_site(&headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "This form was sent from another site's page. Use the form on the block page.",
        );
    }
    let Ok(site) = crate::lists::normalize(&f.site) else {
        return refuse(StatusCode::BAD_REQUEST, "That is not a site name.");
    };
    let d = policy.evaluate(addr, &site, st.clock.now());
    if d.verdict == Verdict::Allowed {
        return refuse(
            StatusCode::BAD_REQUEST,
            "This site is not blocked for this computer; there is nothing to ask for.",
        );
    }
    let pc = pc_label(&d, addr);
    let (what, place) = why(&d);
    let blocked_by = format!("{what}, {place}");
    // Clipped before it goes anywhere: the request, the action history, the event.
    let reason = requests::clip_reason(&f.reason);
    let filed = {
        let (st, pc, site, reason, blocked_by) = (
            st.clone(),
            pc.clone(),
            site.clone(),
            reason.clone(),
            blocked_by.clone(),
        );
        let address = addr.to_string();
        tokio::task::spawn_blocking(move || {
            let db = st.db()?;
            let conn = db.as_ref().ok_or("no database")?;
            let r = requests::NewRequest {
                pc: &pc,
                address: &address,
                domain: &site,
                reason: &reason,
                blocked_by: &blocked_by,
            };
            let (id, new) =
                requests::file(conn, &r, crate::store::now_ms()).map_err(|e| e.to_string())?;
            if !new {
                // Asked again: the pending request's reason was updated, nothing new
                // happened that the history must keep (and a PC posting in a loop would
                // otherwise add a row each time).
                return Ok((id, new));
            }
            let a = crate::auth::Action {
                at_ms: crate::store::now_ms(),
                actor: format!("{pc} (block page)"),
                action: "request_file".into(),
                subject: site.clone(),
                details: serde_json::json!({"request": id, "reason": reason, "address": address}),
            };
            if let Err(e) = crate::auth::record(conn, &a) {
                tracing::error!("action history: {e}");
            }
            Ok::<_, String>((id, new))
        })
        .await
    };
    match filed {
        Ok(Ok((id, new))) => {
            if new {
                st.store.event(crate::store::Event {
                    at_ms: crate::store::now_ms(),
                    source: "requests".into(),
                    kind: "new".into(),
                    subject: site.clone(),
                    message: format!("{pc} asks for {site}: {reason}"),
                    details: serde_json::json!({
                        "request": id, "pc": pc, "site": site,
                        "reason": reason, "blocked_by": blocked_by,
                    }),
                });
            }
            let body = html! {
                h1 { "Request sent" }
                p.note { "Your request #" (id) " for " (site) " is waiting for IT. "
                    "Once approved, the site opens from this computer within a second." }
                p { small { "Questions? Contact " (st.contact) "." } }
            };
            respond(StatusCode::OK, page("Request sent", body))
        }
        Ok(Err(e)) => refuse(StatusCode::TOO_MANY_REQUESTS, &e),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
