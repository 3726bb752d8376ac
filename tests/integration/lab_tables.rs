//! The datapath's tables under a PC that sends from random source addresses: the kernel
//! learns each as an address of that PC until the address table (65,536 per family) is
//! full. The policy must still apply (a PC's new address reaches the datapath), and the
//! daemon must still start.

use officegate_lab::{Role, addr};

use crate::support::office::office;

/// Sends `n` UDP frames over IPv6 from random addresses of the LAN's /64 to a lab site,
/// through the gateway's MAC, from this PC's own MAC (a raw socket: the PC's stack would
/// not send from addresses it does not hold).
const RANDOM_SOURCES: &str = r#"
import os, socket, struct, sys
iface, n, src_mac, gw_mac, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
mac = lambda t: bytes(int(b, 16) for b in t.split(":"))
eth = mac(gw_mac) + mac(src_mac) + b"\x86\xdd"
dst = socket.inet_pton(socket.AF_INET6, dst)
prefix = socket.inet_pton(socket.AF_INET6, "fd0a:10::")[:8]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
udp = struct.pack("!HHHH", 40000, 9, 8, 0)
for i in range(n):
    src = prefix + os.urandom(8)
    ip6 = struct.pack("!IHBB", 6 << 28, len(udp), 17, 64) + src + dst
    s.send(eth + ip6 + udp)
print("sent", n)
"#;

/// `officegate pcs --json`: the device holding `address`, with all its addresses.
fn addresses_of_device_with(o: &crate::support::office::Office, address: &str) -> Vec<String> {
    let out = o.og.tool(&["pcs", "--json"]).expect("officegate pcs");
    out.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
        .find_map(|v| {
            let addrs: Vec<String> = v["addresses"]
                .as_array()?
                .iter()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect();
            addrs.iter().any(|a| a == address).then_some(addrs)
        })
        .unwrap_or_default()
}

#[test]
fn a_full_address_table_neither_stops_the_policy_nor_a_restart() {
    let mut o = office();
    let lab = &o.lab;
    let out = lab
        .exec(
            Role::Pc(3),
            &[
                "python3",
                "-c",
                RANDOM_SOURCES,
                addr::PC_IF,
                "70000",
                &addr::mac_string(addr::pc_mac(3)),
                &addr::mac_string(addr::GW_LAN_MAC),
                &addr::SITE_NEWS_V6.to_string(),
            ],
        )
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The admin gives pc2 another address.
    let extra = "fd0a:10::beef";
    let policy = std::fs::read_to_string(o.og.policy_path()).unwrap();
    let pc2 = format!("\"{}\", \"{}\"", addr::pc_v4(2), addr::pc_v6(2));
    assert!(policy.contains(&pc2), "{policy}");
    let policy = policy.replace(&pc2, &format!("{pc2}, \"{extra}\""));
    std::fs::write(o.og.policy_path(), policy).unwrap();
    o.og.reload().unwrap();
    let pc2_v4 = addr::pc_v4(2).to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !addresses_of_device_with(&o, &pc2_v4)
        .iter()
        .any(|a| a == extra)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "pc2's new address never reached the datapath:\n{}",
            o.og.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    // And the daemon starts again over the same pinned tables.
    o.og.stop().unwrap();
    o.og.restart().expect("restart over a full address table");
    assert!(
        addresses_of_device_with(&o, &pc2_v4)
            .iter()
            .any(|a| a == extra),
        "{}",
        o.og.log_text()
    );
}

/// Sends `n` UDP frames over IPv4 from this PC's own address to random (address, port)s of
/// the /24 `net` (e.g. `203.0.113`): each a flow of its own to the datapath.
const SCAN: &str = r#"
import os, socket, struct, sys
iface, n, src_mac, gw_mac, src = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
net = bytes(int(b) for b in sys.argv[6].split("."))
mac = lambda t: bytes(int(b, 16) for b in t.split(":"))
eth = mac(gw_mac) + mac(src_mac) + b"\x08\x00"
src = socket.inet_aton(src)
def csum(h):
    s = sum(struct.unpack("!10H", h))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
for i in range(n):
    r = os.urandom(3)
    dst = net + bytes([r[0]])
    udp = struct.pack("!HHHH", 40000, 1 + (r[1] << 8 | r[2]) % 65535, 8, 0)
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, i & 0xffff, 0, 64, 17, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    s.send(eth + h + udp)
"#;

/// A PC opening hundreds of thousands of flows (a port scan, a worm) leaves the database
/// bounded: what is kept of flows the datapath has forgotten goes with them, and the
/// unexplained-flow list is capped.
#[test]
fn a_pc_scanning_hundreds_of_thousands_of_flows_leaves_the_database_bounded() {
    let o = crate::support::office::office_with(|lab, config| {
        format!(
            "{config}\n[storage]\ndir = \"{}\"\nflow_interval_s = 1\n",
            lab.dir().join("state").display()
        )
    });
    let lab = &o.lab;
    for _ in 0..4 {
        let out = lab
            .exec(
                Role::Pc(2),
                &[
                    "python3",
                    "-c",
                    SCAN,
                    addr::PC_IF,
                    "100000",
                    &addr::mac_string(addr::pc_mac(2)),
                    &addr::mac_string(addr::GW_LAN_MAC),
                    &addr::pc_v4(2).to_string(),
                    "203.0.113",
                ],
            )
            .expect("python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A collection or two between the waves.
        std::thread::sleep(std::time::Duration::from_millis(2500));
    }
    std::thread::sleep(std::time::Duration::from_secs(3));
    let db = rusqlite::Connection::open(lab.dir().join("state").join("officegate.db")).unwrap();
    let count = |table: &str| -> i64 {
        db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    let (marks, unexplained) = (count("flow_marks"), count("unexplained"));
    // The datapath holds at most 2^15 sets x 4 ways of IPv4 flows per CPU.
    let cpus = std::thread::available_parallelism().unwrap().get() as i64;
    assert!(
        marks <= 131_072 * cpus,
        "flow_marks {marks}, unexplained {unexplained}\n{}",
        o.og.log_text()
    );
    assert!(unexplained <= 100_000, "unexplained {unexplained}");
    // The PC's own traffic is still counted: the scan's bytes are in its totals.
    assert_eq!(
        crate::support::dns::short(lab, 2, "news.example", "A"),
        addr::SITE_NEWS_V4.to_string()
    );
}

/// Sends `n` UDP datagrams of 100 bytes from port 40001 to (address, 9): one flow.
const ONE_FLOW: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 40001))
for _ in range(int(sys.argv[2])):
    s.sendto(b"x" * 100, (sys.argv[1], 9))
"#;

/// The bytes the statistics charge pc2 with to `host`.
fn site_bytes(lab: &officegate_lab::Lab, host: &str) -> i64 {
    let db = rusqlite::Connection::open(lab.dir().join("state").join("officegate.db")).unwrap();
    db.query_row(
        "SELECT coalesce(sum(s.up_bytes), 0) FROM site_minute s JOIN names p ON p.id = s.pc
           JOIN names h ON h.id = s.host WHERE p.name = 'pc2' AND h.name = ?1",
        [host],
        |r| r.get(0),
    )
    .unwrap()
}

/// A flow seen by two CPUs is held once per CPU; when one CPU's part is replaced (its set
/// filled by a flood of other flows) and starts again, the site statistics count what it
/// counts anew — not the other CPU's part a second time.
#[test]
fn a_flow_part_replaced_on_one_cpu_is_not_counted_twice() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("one CPU: nothing to test");
        return;
    }
    let o = crate::support::office::office_with(|lab, config| {
        format!(
            "{config}\n[storage]\ndir = \"{}\"\nflow_interval_s = 1\n",
            lab.dir().join("state").display()
        )
    });
    let lab = &o.lab;
    let news = addr::SITE_NEWS_V4.to_string();
    let on_cpu = |cpu: &str, script: &str, args: &[&str]| {
        let mut all = vec!["taskset", "-c", cpu, "python3", "-c", script];
        all.extend_from_slice(args);
        let out = lab.exec(Role::Pc(2), &all).expect("python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let settle = || std::thread::sleep(std::time::Duration::from_millis(3000));
    on_cpu("0", ONE_FLOW, &[&news, "100"]);
    on_cpu("1", ONE_FLOW, &[&news, "100"]);
    settle();
    let both = site_bytes(lab, &news);
    assert!(both > 0 && both % 200 == 0, "{both}");
    let packet = both / 200;
    // A flood of other flows on CPU 1 (to 198.51.100.0/24: no lab site) replaces its
    // part of the flow.
    on_cpu(
        "1",
        SCAN,
        &[
            addr::PC_IF,
            "400000",
            &addr::mac_string(addr::pc_mac(2)),
            &addr::mac_string(addr::GW_LAN_MAC),
            &addr::pc_v4(2).to_string(),
            "198.51.100",
        ],
    );
    settle();
    on_cpu("1", ONE_FLOW, &[&news, "10"]);
    // The writer may still be busy with the flood's flows: wait for the new bytes, then
    // for anything counted twice to follow them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while site_bytes(lab, &news) == both && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    settle();
    assert_eq!(site_bytes(lab, &news), both + 10 * packet);
}
