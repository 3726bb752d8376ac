//! Slow clients: a PC that opens connections to the gateway's web services and then sends
//! nothing, half a request head, or a body a byte at a time holds each connection for
//! seconds, not forever (`httpd.rs`: a head within 10 s, an answer within 30 s).

use officegate_lab::{Role, addr};

use crate::support::http::office_with_api;

/// Opens connections to the block page (80) and the API (8080) that send nothing, half a
/// head, or a whole head and part of the body it announces; waits up to `limit` seconds
/// for the gateway to close each and prints `port:kind=closed|open|answered:<status>` per
/// connection.
const SLOW: &str = r#"
import select, socket, sys, time
gw, limit = sys.argv[1], float(sys.argv[2])
sends = {
    "silent": b"",
    "half_head": b"GET / HTTP/1.1\r\nHost: x\r\n",
}
# A form post to the block page, a login to the API: both read the body they announce.
posts = {
    80: b"POST /.officegate/request HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ndomain=",
    8080: b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"name\":",
}
conns = {}
for port in (80, 8080):
    for kind, data in [*sends.items(), ("half_body", posts[port])]:
        s = socket.create_connection((gw, port), timeout=5)
        s.sendall(data)
        conns[s] = (port, kind, b"")
deadline, result = time.time() + limit, {}
while conns and time.time() < deadline:
    ready, _, _ = select.select(list(conns), [], [], 0.5)
    for s in ready:
        port, kind, got = conns[s]
        try:
            chunk = s.recv(4096)
        except OSError:
            chunk = b""
        if chunk:
            conns[s] = (port, kind, got + chunk)
            continue
        head = got.split(b"\r\n", 1)[0].decode(errors="replace")
        result[(port, kind)] = "answered:" + head.split(" ")[1] if head else "closed"
        del conns[s]
for port, kind, _ in conns.values():
    result[(port, kind)] = "open"
print(" ".join(f"{p}:{k}={v}" for (p, k), v in sorted(result.items())))
"#;

#[test]
fn connections_that_never_finish_a_request_are_closed() {
    let o = office_with_api();
    let gw = addr::GW_LAN_V4.to_string();
    let out = o
        .lab
        .command(Role::Pc(1), "python3")
        .args(["-c", SLOW, &gw, "45"])
        .output()
        .expect("python3");
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{line}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(results.len(), 6, "{line}");
    for r in results {
        let (_, how) = r.split_once('=').unwrap();
        // Closed, or told it took too long (408); never left open.
        assert!(how == "closed" || how == "answered:408", "{line}");
    }
    // The services still answer a normal request.
    assert_eq!(
        crate::support::http::get(&o, "/api/v1/pcs", Some(crate::support::http::TOKEN)).0,
        200,
        "{}",
        o.og.log_text()
    );
}
