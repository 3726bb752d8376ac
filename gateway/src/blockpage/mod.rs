//! The block page: what an employee sees when the DNS filter sent their browser to the
//! gateway instead of a blocked site (`mode = "page"`, the default). It says which site,
//! which rule of which group blocked it (the list or category and its description), the
//! PC's group and who to contact, and lets the employee ask for access with a reason
//! (`crate::requests`; the admin decides in the UI).
//!
//! Plain HTTP on the gateway's LAN addresses, port 80. HTTPS to a blocked name reaches
//! the same address on 443, where by default nothing listens: the kernel refuses the
//! connection at once (RST), so browsers fail fast instead of waiting or showing
//! certificate warnings. Offices that install their own root CA on their PCs can have the
//! page over HTTPS too (`tls.rs`: a certificate minted per blocked name).
//!
//! Everything the request carries is untrusted: the `Host` header is reduced to a valid
//! DNS name (or nothing) before use, every value is HTML-escaped by `maud`, the page never
//! redirects anywhere, and filing a request is checked against the policy again (only a
//! name blocked for this PC right now can be asked for).

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use arc_swap::ArcSwap;
use axum::{
    Router,
    extract::{ConnectInfo, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

mod form;
pub mod tls;

use form::file_request;

use crate::{
    policy::{Decision, Matched, Policy, Verdict},
    requests,
    store::Store,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockPageConfig {
    /// Serve the page. Default: true (when the DNS filter runs).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Where to listen. Default: every LAN address of the gateway, port 80 (the address
    /// the DNS filter answers blocked names with).
    #[serde(default)]
    pub listen: Vec<SocketAddr>,
    /// Who employees should talk to, shown on the page. Default: "your IT department".
    #[serde(default = "default_contact")]
    pub contact: String,
    /// The office's own root CA (PEM certificate and key), installed on its PCs: with both
    /// set, the page is also served over HTTPS (port 443) with a certificate minted for
    /// each blocked name. Default: none (HTTPS to a blocked name is refused at once).
    #[serde(default)]
    pub ca_cert: Option<std::path::PathBuf>,
    #[serde(default)]
    pub ca_key: Option<std::path::PathBuf>,
}

fn yes() -> bool {
    true
}

fn default_contact() -> String {
    "your IT department".into()
}

impl Default for BlockPageConfig {
    fn default() -> Self {
        BlockPageConfig {
            enabled: true,
            listen: Vec::new(),
            contact: default_contact(),
            ca_cert: None,
            ca_key: None,
        }
    }
}

/// PCs over a traffic limit, by name, with why (the tick's; the page says it).
pub type Over = Arc<ArcSwap<std::collections::HashMap<String, String>>>;

pub struct PageState {
    pub policy: Arc<ArcSwap<Policy>>,
    pub store: Store,
    pub storage_dir: std::path::PathBuf,
    pub clock: crate::clock::Clock,
    pub contact: String,
    /// The page's own database connection, opened on first use and kept: every ad a
    /// blocked page embeds lands here too, so opening one per view would be the cost.
    pub db: std::sync::Mutex<Option<rusqlite::Connection>>,
    pub over: Over,
    /// Networks the page answers (the LAN's, or `[dns] allow`): a global IPv6 prefix on
    /// the LAN is reachable from the internet side too, and the page is nobody's there.
    pub allow: Vec<(IpAddr, u8)>,
}

impl PageState {
    /// The kept connection (opened now if it is not yet).
    fn db(&self) -> Result<std::sync::MutexGuard<'_, Option<rusqlite::Connection>>, String> {
        let mut g = self.db.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            *g = Some(crate::auth::open(&self.storage_dir).map_err(|e| e.to_string())?);
        }
        Ok(g)
    }
}

pub use crate::httpd::Peer;

/// The path the request form posts to: under a dot-name no site uses, so any path of the
/// blocked site shows the page.
pub const REQUEST_PATH: &str = "/.officegate/request";
/// The largest request form body read: the fields, URL-encoded (up to 3 bytes per
/// byte, 4 bytes per character), with room to spare.
const BODY_LIMIT: usize = 16 * 1024;

pub async fn serve(
    listen: &[SocketAddr],
    minter: Option<tls::Minter>,
    state: PageState,
) -> anyhow::Result<CancellationToken> {
    let app = router(Arc::new(state));
    let token = CancellationToken::new();
    if let Some(minter) = minter {
        let acceptor = tls::acceptor(Arc::new(minter));
        for addr in listen {
            let addr = SocketAddr::new(addr.ip(), 443);
            let tcp = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("[block_page] cannot listen on {addr}: {e}"))?;
            let listener = tls::TlsListener::new(tcp, acceptor.clone())?;
            let (app, stop) = (app.clone(), token.clone());
            tokio::spawn(crate::httpd::serve(listener, app, stop));
        }
    }
    for &addr in listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("[block_page] cannot listen on {addr}: {e}"))?;
        let (app, stop) = (app.clone(), token.clone());
        tokio::spawn(crate::httpd::serve(listener, app, stop));
    }
    Ok(token)
}

pub fn router(state: Arc<PageState>) -> Router {
    Router::new()
        .route(REQUEST_PATH, post(file_request))
        .fallback(show)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            only_the_lan,
        ))
        // A site name and a reason of at most `requests::MAX_REASON` characters: anything
        // much bigger is refused before it is read (413).
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Refuses (403) anyone outside the networks the page is for.
async fn only_the_lan(
    State(st): State<Arc<PageState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let inside =
        req.extensions()
            .get::<ConnectInfo<Peer>>()
            .is_some_and(|ConnectInfo(Peer(peer))| {
                let ip = peer.ip().to_canonical();
                st.allow
                    .iter()
                    .any(|(net, len)| crate::datapath::net_contains(*net, *len, ip))
            });
    if !inside {
        return StatusCode::FORBIDDEN.into_response();
    }
    next.run(req).await
}

/// The site the browser asked for: the `Host` header reduced to a valid DNS name. An
/// address, a port or anything that is not a name gives `None`.
pub fn site_of(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(header::HOST)?.to_str().ok()?;
    let authority: axum::http::uri::Authority = raw.parse().ok()?;
    let host = authority.host();
    if host.starts_with('[') || host.parse::<IpAddr>().is_ok() {
        return None;
    }
    crate::lists::normalize(host).ok()
}

/// Why a decision blocked, in words: (what matched, the rule's place).
fn why(d: &Decision) -> (String, String) {
    let Some(r) = &d.rule else {
        return (String::new(), String::new());
    };
    let what = match &r.matched {
        Matched::Domain(n) => format!("the site {n} is on the group's own list"),
        Matched::List {
            category,
            name,
            description,
            ..
        } => {
            let kind = if *category { "category" } else { "list" };
            if description.is_empty() {
                format!("{kind} “{name}”")
            } else {
                format!("{kind} “{name}” ({description})")
            }
        }
        Matched::Exception { domain, .. } => format!("an exception for {domain}"),
    };
    let place = match &r.schedule {
        Some(s) => format!("a rule of group “{}”, during “{s}”", r.group),
        None => format!("a rule of group “{}”", r.group),
    };
    (what, place)
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2430;margin:0}\
main{max-width:38rem;margin:8vh auto;background:#fff;border-radius:10px;padding:2rem 2.4rem;\
box-shadow:0 2px 12px #0002}h1{font-size:1.5rem;margin:0 0 1rem}dt{font-weight:600;color:#5a6372}\
dd{margin:0 0 .6rem}textarea{width:100%;min-height:5rem;font:inherit;box-sizing:border-box}\
button{font:inherit;padding:.5rem 1.2rem;border:0;border-radius:6px;background:#2457d6;color:#fff;\
cursor:pointer}.note{background:#eef3ff;border-radius:6px;padding:.6rem .9rem}small{color:#5a6372}";

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { main { (body) } }
        }
    }
}

fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut r = (status, markup).into_response();
    let h = r.headers_mut();
    // Never cached: the verdict changes when a block is lifted or a request approved.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Nothing on this page loads from elsewhere or runs script.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Says what answered, to a script as to an admin reading headers: the gateway's block
    // page, not the site.
    h.insert(PAGE_HEADER, HeaderValue::from_static("block-page"));
    r
}

/// The header every answer of the block page carries (`block-page`).
pub const PAGE_HEADER: &str = "x-officegate";

/// The PC's name as requests record it: the policy's name, or the address.
fn pc_label(d: &Decision, addr: IpAddr) -> String {
    d.pc.clone().unwrap_or_else(|| addr.to_string())
}

async fn show(
    State(st): State<Arc<PageState>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    let addr = peer.ip().to_canonical();
    let policy = st.policy.load_full();
    let now = st.clock.now();
    let tz = policy.time_zone().clone();
    // A PC cut off by hand reaches only the gateway: say so, whatever it asked for.
    if let Some(pc) = policy.pc_at(addr)
        && let Some(b) = policy.manual_block(pc, now)
    {
        let until = b.until.map(|u| {
            u.to_zoned_datetime(tz.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        });
        let body = html! {
            h1 { "This computer is blocked" }
            dl {
                dt { "Computer" } dd { (policy.pcs()[pc].name) }
                @if !b.reason.is_empty() { dt { "Reason" } dd { (b.reason) } }
                dt { "Until" } dd { (until.unwrap_or_else(|| "lifted by IT".into())) }
            }
            p { "Please contact " (st.contact) "." }
        };
        return respond(StatusCode::FORBIDDEN, page("Computer blocked", body));
    }
    // Over its traffic limit: cut off like a blocked PC until the limit's period ends.
    if let Some(pc) = policy.pc_at(addr)
        && let Some(why) = st.over.load().get(&policy.pcs()[pc].name)
    {
        // The tick's words are the admin's (they end with the policy line): the
        // employee gets the figures.
        let why = why.split(" (office.toml").next().unwrap_or(why);
        let until = if why.ends_with("this day") {
            "midnight, when a new day's allowance starts"
        } else {
            "the first of next month, when a new allowance starts"
        };
        let body = html! {
            h1 { "This computer has used its internet allowance" }
            dl {
                dt { "Computer" } dd { (policy.pcs()[pc].name) }
                dt { "Reason" } dd { (why) }
                dt { "Until" } dd { (until) }
            }
            p { "Please contact " (st.contact) " if you need more." }
        };
        return respond(StatusCode::FORBIDDEN, page("Allowance used", body));
    }
    let Some(site) = site_of(&headers) else {
        let body = html! {
            h1 { "Officegate" }
            p { "This is the office's internet gateway. If a site did not open, please contact "
                (st.contact) "." }
        };
        return respond(StatusCode::OK, page("Officegate", body));
    };
    // `evaluate`, not `explain`: the page does not show the list's line, and every ad
    // a blocked page embeds lands here — re-reading a list file per hit would be costly.
    let d = policy.evaluate(addr, &site, now);
    let pc = pc_label(&d, addr);
    let previous = {
        let (st, pc, site) = (st.clone(), pc.clone(), site.clone());
        tokio::task::spawn_blocking(move || {
            let db = st.db().ok()?;
            requests::latest(db.as_ref()?, &pc, &site).ok().flatten()
        })
        .await
        .ok()
        .flatten()
    };
    if d.verdict == Verdict::Allowed {
        let body = html! {
            h1 { (site) " is not blocked" }
            p { "This computer may open " (site) " now. Reload the page; if it still shows this, "
                "your browser may remember the old answer for a few seconds." }
        };
        return respond(StatusCode::OK, page("Not blocked", body));
    }
    let (what, place) = why(&d);
    let body = html! {
        h1 { "Access to " (site) " is blocked" }
        dl {
            dt { "Site" } dd { (site) }
            dt { "Blocked by" } dd { (what) }
            dt { "Rule" } dd { (place) }
            dt { "Computer" } dd { (pc) " (group “" (d.group) "”)" }
        }
        p { "Questions? Contact " (st.contact) "." }
        @match &previous {
            Some(r) if r.state == requests::State::Pending => {
                p.note { "You asked for access on "
                    (fmt_ms(r.at_ms, &tz)) "; your request #" (r.id) " is waiting for a decision." }
            }
            Some(r) if r.state == requests::State::Refused => {
                p.note { "Your request #" (r.id) " was refused"
                    @if let Some(n) = &r.note { ": " (n) } "." }
            }
            _ => {}
        }
        h2 { "Request access" }
        form method="post" action=(REQUEST_PATH) {
            input type="hidden" name="site" value=(site);
            label for="reason" { "Why do you need this site for your work?" }
            textarea id="reason" name="reason" maxlength=(requests::MAX_REASON) required {}
            p { button type="submit" { "Ask for access" } }
        }
    };
    respond(StatusCode::FORBIDDEN, page("Blocked", body))
}

fn fmt_ms(ms: i64, tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned_datetime(tz.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(v: &str) -> Option<String> {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(v).unwrap());
        site_of(&h)
    }

    #[test]
    fn the_host_header_is_reduced_to_a_name_or_nothing() {
        assert_eq!(
            host("WWW.Facebook.com:80").as_deref(),
            Some("www.facebook.com")
        );
        assert_eq!(host("facebook.com.").as_deref(), Some("facebook.com"));
        assert_eq!(host("10.10.0.1"), None);
        assert_eq!(host("[fd0a:10::1]:80"), None);
        assert_eq!(host("<script>alert(1)</script>"), None);
        assert_eq!(host("a\"b.com"), None);
        assert_eq!(host("evil.com/@x"), None);
    }
}
