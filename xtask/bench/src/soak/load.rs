//! The background load's processes: python3 scripts run in a PC's namespace (new flows,
//! the hostile PC, the form and login flood), killed when the soak ends.

use std::process::{Child, Stdio};

use officegate_lab::{Lab, Role};

/// Children killed when the soak ends, however it ends.
pub(super) struct Kids(pub(super) Vec<Child>);
impl Drop for Kids {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A python3 script run in `role`'s namespace, in the background.
pub(super) fn python(
    lab: &Lab,
    role: Role,
    script: &str,
    args: &[String],
) -> anyhow::Result<Child> {
    Ok(lab
        .command(role, "python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?)
}

/// UDP datagrams to random ports of the lab sites at `rate` a second: each a new flow.
pub(super) const FLOWS: &str = r#"
import random, socket, sys, time
rate, end = float(sys.argv[1]), time.time() + float(sys.argv[2])
sites = ["203.0.113.10", "203.0.113.11", "203.0.113.12", "203.0.113.13"]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n, t0 = 0, time.time()
while time.time() < end:
    if n < (time.time() - t0) * rate:
        s.sendto(b"x" * 64, (random.choice(sites), random.randint(1024, 65000)))
        n += 1
    else:
        time.sleep(0.001)
"#;

/// Frames from random IPv6 sources of the LAN's /64 (a PC's own MAC) at `rate` a second,
/// and 1,100 half-open connections to DNS, the block page and the API, held.
pub(super) const HOSTILE: &str = r#"
import os, socket, struct, sys, time
iface, mac_s, gw_mac, dst, rate, end, gw4 = sys.argv[1:8]
rate, end = float(rate), time.time() + float(end)
mac = lambda t: bytes(int(b, 16) for b in t.split(":"))
eth = mac(gw_mac) + mac(mac_s) + b"\x86\xdd"
dst = socket.inet_pton(socket.AF_INET6, dst)
prefix = socket.inet_pton(socket.AF_INET6, "fd0a:10::")[:8]
held = []
for i in range(1100):
    c = socket.socket()
    c.settimeout(0.2)
    try:
        c.connect((gw4, [53, 80, 8080][i % 3]))
        c.send(b"GET / HTTP/1.1\r\n")
        held.append(c)
    except OSError:
        c.close()
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
udp = struct.pack("!HHHH", 40000, 9, 8, 0)
n, t0 = 0, time.time()
while time.time() < end:
    if n < (time.time() - t0) * rate:
        ip6 = struct.pack("!IHBB", 6 << 28, 8, 17, 64) + prefix + os.urandom(8) + dst
        s.send(eth + ip6 + udp)
        n += 1
    else:
        time.sleep(0.001)
"#;

/// The block page's form and the API's login, each posted `rate` times a second.
pub(super) const FORMS: &str = r#"
import http.client, sys, time
gw, rate, end = sys.argv[1], float(sys.argv[2]), time.time() + float(sys.argv[3])
def post(port, path, ctype, body, headers={}):
    try:
        c = http.client.HTTPConnection(gw, port, timeout=5)
        c.request("POST", path, body, {"Content-Type": ctype, **headers})
        c.getresponse().read()
        c.close()
    except OSError:
        pass
while time.time() < end:
    t = time.time()
    post(80, "/.officegate/request", "application/x-www-form-urlencoded",
         "domain=social.example&reason=" + "x" * 2000, {"Host": "social.example", "Origin": "http://social.example"})
    post(8080, "/api/v1/login", "application/json", '{"name":"admin","password":"guess"}')
    time.sleep(max(0, 1 / rate - (time.time() - t)))
"#;
