//! Any request to the block page — method, path, Host, Origin, Sec-Fetch-Site,
//! Content-Type and body, from a LAN PC or from outside — is answered, never a panic; a
//! form post stores what the form's limits allow and no more.
//!
//! The input is lines: method, path, Host, Origin, Sec-Fetch-Site, Content-Type, one
//! byte choosing the sender, then the body (the rest). Invalid header bytes leave that
//! header out, as a client library would refuse to send them.
#![no_main]

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, OnceLock},
};

use axum::{body::Body, extract::ConnectInfo, http::Request};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;

const POLICY: &str = "version = 1\ntime_zone = \"UTC\"\n\n[[groups]]\nname = \"staff\"\n\n[[groups.rules]]\naction = \"block\"\ndomains = [\"social.example\"]\n\n[[pcs]]\nname = \"pc1\"\naddresses = [\"10.10.0.11\"]\ngroup = \"staff\"\n";

struct World {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let app = rt.block_on(async {
            let (policy, _) =
                officegate::policy::load_text(dir.path(), POLICY).expect("the policy loads");
            let store = officegate::store::Store::open(dir.path()).expect("the store opens");
            let state = officegate::blockpage::PageState {
                policy: Arc::new(arc_swap::ArcSwap::from_pointee(policy)),
                store,
                storage_dir: dir.path().to_path_buf(),
                clock: officegate::clock::Clock::default(),
                contact: "IT".into(),
                db: Default::default(),
                over: Default::default(),
                allow: vec![("10.10.0.0".parse().expect("an address"), 24)],
            };
            officegate::blockpage::router(Arc::new(state))
        });
        World { rt, app, dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let mut parts = data.splitn(8, |b| *b == b'\n');
    let mut next = || parts.next().unwrap_or_default();
    let (method, path, host, origin, site, ctype) = (next(), next(), next(), next(), next(), next());
    let from = next().first().copied().unwrap_or(0);
    let body = next().to_vec();
    let Ok(method) = axum::http::Method::from_bytes(method) else { return };
    let Ok(path) = std::str::from_utf8(path) else { return };
    let mut req = Request::builder().method(method).uri(path);
    for (name, value) in [
        ("host", host),
        ("origin", origin),
        ("sec-fetch-site", site),
        ("content-type", ctype),
    ] {
        if let Ok(v) = axum::http::HeaderValue::from_bytes(value) {
            req = req.header(name, v);
        }
    }
    let Ok(mut req) = req.body(Body::from(body)) else { return };
    let peer: IpAddr = match from % 3 {
        0 => [10, 10, 0, 11].into(),
        1 => [10, 10, 0, 99].into(),
        _ => [203, 0, 113, 7].into(),
    };
    req.extensions_mut()
        .insert(ConnectInfo(officegate::blockpage::Peer(SocketAddr::new(peer, 40000))));
    w.rt.block_on(async {
        let resp = w.app.clone().oneshot(req).await.expect("the router never fails");
        let _ = axum::body::to_bytes(resp.into_body(), 1 << 20).await;
    });
    // Whatever was posted, the database stays small (a form stores capped text).
    let db = w.dir.path().join("officegate.db");
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    assert!(size < 64 << 20, "the database grew to {size} bytes");
});
