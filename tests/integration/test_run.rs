//! The kernel programs on crafted frames (BPF_PROG_TEST_RUN): verdicts, per-PC and
//! per-flow counters, drop reasons — exact. No NIC, no namespace: the kernel runs the
//! program on the bytes we give it.

use std::{collections::BTreeMap, net::IpAddr};

use aya::programs::{TestRun, TestRunOptions};
use etherparse::{PacketBuilder, VlanId};
use gateway_common::{
    Counters, DropReason, FLOW_USED, FLOW_WAYS, FlowKeyV4, PcState, Stat, capacity, flow_key_words,
    flow_set_index, group_bit,
};
use officegate::datapath::{Datapath, Maps};

use crate::support::pins::load;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
/// A dropped TCP segment comes back as its reset (`og_lan_reset`: redirected out of the
/// interface it came in by).
const XDP_BACK: u32 = 4;
/// TC_ACT_UNSPEC (-1): pass, and let the next TCX program run.
const TC_ACT_PASS: u32 = u32::MAX;
const TC_ACT_SHOT: u32 = 2;

const PC_MAC: [u8; 6] = [0x02, 0, 0x0a, 0x0a, 0, 0x0b];
const GW_MAC: [u8; 6] = [0x02, 0, 0x0a, 0x0a, 0, 0x01];
const PC: [u8; 4] = [10, 10, 0, 11];
const PC2: [u8; 4] = [10, 10, 0, 12];
const GW: [u8; 4] = [10, 10, 0, 1];
const SITE: [u8; 4] = [203, 0, 113, 10];
const BLOCKED: [u8; 4] = [203, 0, 113, 12];
const RANGE_HOST: [u8; 4] = [198, 51, 100, 77];
const PC6: [u8; 16] = [0xfd, 0x0a, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b];
const SITE6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0x01, 0x13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];
const BLOCKED6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0x01, 0x13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12,
];

const RESTRICTED: u8 = 1;
const OPEN: u8 = 2;

fn ip(b: &[u8]) -> IpAddr {
    match b.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(b).unwrap()),
        _ => IpAddr::from(<[u8; 16]>::try_from(b).unwrap()),
    }
}

/// A LAN device's MAC, from its address's last byte (PC's is `PC_MAC`).
fn mac_of(addr: &[u8]) -> [u8; 6] {
    [0x02, 0, 0x0a, 0x0a, 0, *addr.last().unwrap()]
}

fn on_lan(addr: &[u8]) -> bool {
    addr.starts_with(&[10, 10]) || addr.starts_with(&[0xfd, 0x0a])
}

/// The frame's MACs as the LAN carries them: a device's own towards the gateway, the
/// device's as the destination on the way back.
fn macs(src: &[u8], dst: &[u8]) -> ([u8; 6], [u8; 6]) {
    if on_lan(src) || !on_lan(dst) {
        (mac_of(src), GW_MAC)
    } else {
        (GW_MAC, mac_of(dst))
    }
}

fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: usize) -> Vec<u8> {
    let mut v = Vec::new();
    let (from, to) = macs(&src, &dst);
    PacketBuilder::ethernet2(from, to)
        .ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, &vec![0u8; payload])
        .unwrap();
    v
}

fn tcp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    let (from, to) = macs(&src, &dst);
    PacketBuilder::ethernet2(from, to)
        .ipv4(src, dst, 64)
        .tcp(sport, dport, 1, 1000)
        .write(&mut v, &[1, 2, 3])
        .unwrap();
    v
}

fn icmp4(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut v = Vec::new();
    let (from, to) = macs(&src, &dst);
    PacketBuilder::ethernet2(from, to)
        .ipv4(src, dst, 64)
        .icmpv4_echo_request(7, 1)
        .write(&mut v, &[0; 56])
        .unwrap();
    v
}

fn tcp6(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    let (from, to) = macs(&src, &dst);
    PacketBuilder::ethernet2(from, to)
        .ipv6(src, dst, 64)
        .tcp(sport, dport, 1, 1000)
        .write(&mut v, &[])
        .unwrap();
    v
}

fn udp6(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    let (from, to) = macs(&src, &dst);
    PacketBuilder::ethernet2(from, to)
        .ipv6(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, &[9; 20])
        .unwrap();
    v
}

/// Inserts an 8-byte hop-by-hop options header (PadN) in front of the transport header.
fn with_hop_by_hop(mut frame: Vec<u8>) -> Vec<u8> {
    let ip = 14;
    let next = frame[ip + 6];
    frame[ip + 6] = 0; // next header: hop-by-hop
    let plen = u16::from_be_bytes([frame[ip + 4], frame[ip + 5]]) + 8;
    frame[ip + 4..ip + 6].copy_from_slice(&plen.to_be_bytes());
    let ext = [next, 0, 1, 4, 0, 0, 0, 0];
    frame.splice(ip + 40..ip + 40, ext);
    frame
}

fn vlan4(double: bool) -> Vec<u8> {
    let mut v = Vec::new();
    let eth = PacketBuilder::ethernet2(PC_MAC, GW_MAC);
    let step = if double {
        eth.double_vlan(VlanId::try_new(100).unwrap(), VlanId::try_new(200).unwrap())
    } else {
        eth.single_vlan(VlanId::try_new(100).unwrap())
    };
    step.ipv4(PC, SITE, 64)
        .udp(5000, 53)
        .write(&mut v, &[0; 30])
        .unwrap();
    v
}

fn arp_request(sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&[0xff; 6]);
    v.extend_from_slice(&mac_of(&sender));
    v.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    v.extend_from_slice(&mac_of(&sender));
    v.extend_from_slice(&sender);
    v.extend_from_slice(&[0; 6]);
    v.extend_from_slice(&target);
    v.resize(60, 0);
    v
}

fn xdp(dp: &Datapath, frame: &[u8], repeat: u32) -> u32 {
    let opts = TestRunOptions {
        data_in: Some(frame),
        repeat,
        ..TestRunOptions::default()
    };
    dp.xdp().test_run(opts).expect("XDP test run").return_value
}

fn tc(dp: &Datapath, frame: &[u8]) -> u32 {
    let opts = TestRunOptions {
        data_in: Some(frame),
        ..TestRunOptions::default()
    };
    dp.tc().test_run(opts).expect("TC test run").return_value
}

fn pc(maps: &Maps, addr: IpAddr) -> Counters {
    maps.pcs()
        .into_iter()
        .find(|e| e.addr == addr)
        .map(|e| e.counters)
        .unwrap_or_default()
}

fn drop_count(maps: &Maps, reason: DropReason) -> u64 {
    maps.drops()
        .into_iter()
        .find(|(r, _)| *r == reason)
        .map(|(_, n)| n)
        .unwrap()
}

fn stat(maps: &Maps, s: Stat) -> u64 {
    maps.stats()
        .into_iter()
        .find(|(x, _)| *x == s)
        .map(|(_, n)| n)
        .unwrap()
}

/// Two groups: RESTRICTED blocks BLOCKED, BLOCKED6 and 198.51.100.0/24; OPEN nothing.
/// PC is in RESTRICTED, PC2 in OPEN; GW is the gateway.
fn policy(maps: &mut Maps) {
    let mut blocked = BTreeMap::new();
    blocked.insert((ip(&BLOCKED), 32), group_bit(RESTRICTED));
    blocked.insert((ip(&BLOCKED6), 128), group_bit(RESTRICTED));
    blocked.insert((ip(&[198, 51, 100, 0]), 24), group_bit(RESTRICTED));
    // A range that covers the gateway: the gateway must still be reachable.
    blocked.insert((ip(&[10, 10, 0, 0]), 30), group_bit(RESTRICTED));
    maps.sync_blocked(&blocked, 0).unwrap();
    maps.set_gateway_addrs(&[ip(&GW)]).unwrap();
    maps.set_pc(ip(&PC), RESTRICTED, PcState::Allowed).unwrap();
    maps.set_pc(ip(&PC6), RESTRICTED, PcState::Allowed).unwrap();
    maps.set_pc(ip(&PC2), OPEN, PcState::Allowed).unwrap();
    maps.bump_generation().unwrap();
}

#[test]
fn upload_is_counted_per_pc_and_flow_exactly() {
    let (_dir, dp, mut maps) = load("count", true);
    policy(&mut maps);
    let f = udp4(PC, SITE, 40000, 443, 100);
    assert_eq!(xdp(&dp, &f, 1000), XDP_PASS);
    let t = tcp4(PC, SITE, 40001, 80);
    assert_eq!(xdp(&dp, &t, 1), XDP_PASS);
    let c = pc(&maps, ip(&PC));
    assert_eq!(c.up_packets, 1001);
    assert_eq!(c.up_bytes, 1000 * f.len() as u64 + t.len() as u64);
    assert_eq!((c.down_packets, c.dropped_packets), (0, 0));
    let flows = maps.flows();
    let udp = flows
        .iter()
        .find(|x| x.proto == 17 && x.remote == ip(&SITE))
        .expect("udp flow");
    assert_eq!(
        (udp.pc, udp.remote_port, udp.counters.up_packets),
        (ip(&PC), 443, 1000)
    );
    let tcp = flows.iter().find(|x| x.proto == 6).expect("tcp flow");
    assert_eq!((tcp.remote_port, tcp.counters.up_packets), (80, 1));
    // The first packet of each flow evaluated policy; the other 999 used the cache.
    assert_eq!(stat(&maps, Stat::FlowMiss), 2);
}

#[test]
fn blocked_address_drops_for_its_group_only() {
    let (_dir, dp, mut maps) = load("block", true);
    policy(&mut maps);
    let to_blocked = udp4(PC, BLOCKED, 40000, 443, 10);
    assert_eq!(xdp(&dp, &to_blocked, 5), XDP_DROP);
    assert_eq!(drop_count(&maps, DropReason::BlockedAddress), 5);
    let c = pc(&maps, ip(&PC));
    assert_eq!(
        (c.up_packets, c.dropped_packets, c.dropped_bytes),
        (0, 5, 5 * to_blocked.len() as u64)
    );
    // The same destination from a PC of the open group passes.
    assert_eq!(xdp(&dp, &udp4(PC2, BLOCKED, 40000, 443, 10), 1), XDP_PASS);
    // A range: blocked for the restricted group, open for the other.
    assert_eq!(xdp(&dp, &tcp4(PC, RANGE_HOST, 1234, 443), 1), XDP_BACK);
    assert_eq!(drop_count(&maps, DropReason::BlockedRange), 1);
    assert_eq!(xdp(&dp, &tcp4(PC2, RANGE_HOST, 1234, 443), 1), XDP_PASS);
    // The gateway is inside a blocked range, yet always reachable.
    assert_eq!(xdp(&dp, &udp4(PC, GW, 40000, 53, 30), 1), XDP_PASS);
    // IPv6 exact block.
    assert_eq!(xdp(&dp, &tcp6(PC6, BLOCKED6, 40000, 443), 1), XDP_BACK);
    assert_eq!(drop_count(&maps, DropReason::BlockedAddress), 6);
    assert_eq!(xdp(&dp, &tcp6(PC6, SITE6, 40000, 443), 1), XDP_PASS);
}

#[test]
fn quic_is_dropped_for_groups_that_block_it_and_nothing_else_is() {
    let (_dir, dp, mut maps) = load("quic", true);
    policy(&mut maps);
    // The restricted group now blocks QUIC too (written with the blocked sets).
    let mut blocked = BTreeMap::new();
    blocked.insert((ip(&BLOCKED), 32), group_bit(RESTRICTED));
    maps.sync_blocked(&blocked, group_bit(RESTRICTED)).unwrap();
    maps.bump_generation().unwrap();
    assert_eq!(xdp(&dp, &udp4(PC, SITE, 40000, 443, 1200), 3), XDP_DROP);
    assert_eq!(drop_count(&maps, DropReason::Quic), 3);
    assert_eq!(xdp(&dp, &udp6(PC6, SITE6, 40000, 443), 1), XDP_DROP);
    assert_eq!(drop_count(&maps, DropReason::Quic), 4);
    // TCP to 443 (where the name is seen), other UDP, and the open group: untouched.
    assert_eq!(xdp(&dp, &tcp4(PC, SITE, 40001, 443), 1), XDP_PASS);
    assert_eq!(xdp(&dp, &udp4(PC, SITE, 40002, 4433, 100), 1), XDP_PASS);
    assert_eq!(xdp(&dp, &udp4(PC2, SITE, 40000, 443, 1200), 1), XDP_PASS);
    // An address block still reads as one.
    assert_eq!(xdp(&dp, &udp4(PC, BLOCKED, 40003, 443, 100), 1), XDP_DROP);
    assert_eq!(drop_count(&maps, DropReason::BlockedAddress), 1);
    // Lifted: the open flow's cached verdict goes with the next generation.
    maps.sync_blocked(&blocked, 0).unwrap();
    maps.bump_generation().unwrap();
    assert_eq!(xdp(&dp, &udp4(PC, SITE, 40000, 443, 1200), 1), XDP_PASS);
}

/// The frame the program sent back, and its action.
fn xdp_out(dp: &Datapath, frame: &[u8]) -> (u32, Vec<u8>) {
    let mut out = vec![0u8; 1600];
    let opts = TestRunOptions {
        data_in: Some(frame),
        data_out: Some(&mut out),
        ..TestRunOptions::default()
    };
    let r = dp.xdp().test_run(opts).expect("XDP test run");
    out.truncate(r.data_size_out as usize);
    (r.return_value, out)
}

#[test]
fn a_blocked_tcp_segment_is_answered_with_a_reset_and_other_drops_stay_silent() {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let (_dir, dp, mut maps) = load("reset", true);
    policy(&mut maps);
    // A SYN with data to a blocked address: a RST+ACK acknowledging the SYN and the data.
    let mut syn = Vec::new();
    etherparse::PacketBuilder::ethernet2(PC_MAC, GW_MAC)
        .ipv4(PC, BLOCKED, 64)
        .tcp(40000, 443, 1000, 64000)
        .syn()
        .write(&mut syn, &[7; 30])
        .unwrap();
    let (action, out) = xdp_out(&dp, &syn);
    assert_eq!(action, XDP_BACK);
    assert_eq!(out.len(), 14 + 20 + 20, "cut after the TCP header");
    let p = SlicedPacket::from_ethernet(&out).unwrap();
    let eth = p.link.as_ref().unwrap().to_header().unwrap();
    let eth = match eth {
        etherparse::LinkHeader::Ethernet2(e) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!((eth.source, eth.destination), (GW_MAC, PC_MAC));
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!("not IPv4")
    };
    let iph = ip.header().to_header();
    assert_eq!((iph.source, iph.destination), (BLOCKED, PC));
    assert_eq!(
        iph.header_checksum,
        iph.calc_header_checksum(),
        "IP checksum"
    );
    let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
        panic!("not TCP")
    };
    let th = tcp.to_header();
    assert!(th.rst && th.ack && !th.syn);
    assert_eq!((th.source_port, th.destination_port), (443, 40000));
    assert_eq!(
        (th.sequence_number, th.acknowledgment_number),
        (0, 1000 + 1 + 30)
    );
    assert_eq!(
        th.checksum,
        th.calc_checksum_ipv4(&iph, &[]).unwrap(),
        "TCP checksum"
    );
    // An ACK (a connection open before the block): RST with their ack as sequence.
    let mut ack = Vec::new();
    etherparse::PacketBuilder::ethernet2(PC_MAC, GW_MAC)
        .ipv6(PC6, BLOCKED6, 64)
        .tcp(40001, 443, 5000, 64000)
        .ack(777)
        .write(&mut ack, &[1; 10])
        .unwrap();
    let (action, out) = xdp_out(&dp, &ack);
    assert_eq!(action, XDP_BACK);
    let p = SlicedPacket::from_ethernet(&out).unwrap();
    let Some(NetSlice::Ipv6(ip)) = &p.net else {
        panic!("not IPv6")
    };
    let iph = ip.header().to_header();
    assert_eq!(
        (iph.source, iph.destination, iph.payload_length),
        (BLOCKED6, PC6, 20)
    );
    let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
        panic!("not TCP")
    };
    let th = tcp.to_header();
    assert!(th.rst && !th.ack);
    assert_eq!(th.sequence_number, 777);
    assert_eq!(
        th.checksum,
        th.calc_checksum_ipv6(&iph, &[]).unwrap(),
        "TCP checksum"
    );
    assert_eq!(stat(&maps, Stat::Resets), 2);
    // Dropped UDP and a dropped reset get no answer.
    assert_eq!(xdp(&dp, &udp4(PC, BLOCKED, 40000, 443, 10), 1), XDP_DROP);
    let mut rst = Vec::new();
    etherparse::PacketBuilder::ethernet2(PC_MAC, GW_MAC)
        .ipv4(PC, BLOCKED, 64)
        .tcp(40002, 443, 1, 0)
        .rst()
        .write(&mut rst, &[])
        .unwrap();
    assert_eq!(xdp(&dp, &rst, 1), XDP_DROP);
    assert_eq!(stat(&maps, Stat::Resets), 2);
    // Every one counted as dropped, on its PC.
    assert_eq!(drop_count(&maps, DropReason::BlockedAddress), 4);
}

#[test]
fn pc_state_blocks_everything_but_the_gateway() {
    let (_dir, dp, mut maps) = load("state", true);
    policy(&mut maps);
    let f = udp4(PC2, SITE, 40000, 443, 10);
    assert_eq!(xdp(&dp, &f, 1), XDP_PASS);
    // Blocking takes effect on the already cached flow once the generation moves.
    assert!(maps.set_pc_state(ip(&PC2), PcState::Blocked).unwrap());
    maps.bump_generation().unwrap();
    assert_eq!(xdp(&dp, &f, 3), XDP_DROP);
    assert_eq!(drop_count(&maps, DropReason::PcBlocked), 3);
    assert_eq!(
        xdp(&dp, &udp4(PC2, GW, 40000, 53, 30), 1),
        XDP_PASS,
        "DNS to the gateway"
    );
    // Downloads to a blocked PC are dropped too, except from the gateway.
    assert_eq!(tc(&dp, &udp4(SITE, PC2, 443, 40000, 10)), TC_ACT_SHOT);
    assert_eq!(tc(&dp, &udp4(GW, PC2, 53, 40000, 10)), TC_ACT_PASS);
    maps.set_pc_state(ip(&PC2), PcState::OverQuota).unwrap();
    maps.bump_generation().unwrap();
    assert_eq!(xdp(&dp, &f, 1), XDP_DROP);
    assert_eq!(drop_count(&maps, DropReason::PcOverQuota), 1);
    maps.set_pc_state(ip(&PC2), PcState::Allowed).unwrap();
    maps.bump_generation().unwrap();
    assert_eq!(xdp(&dp, &f, 1), XDP_PASS);
    let c = pc(&maps, ip(&PC2));
    assert_eq!((c.up_packets, c.dropped_packets, c.down_packets), (3, 5, 1));
}

/// A held device's HTTP passes only once the daemon readied the block page for it
/// (`STATE_PAGE`: its MAC is in the `officegate_held` table the kernel's NAT reads): then
/// its TCP to port 80 and the page's answers pass, and nothing else does.
#[test]
fn a_held_device_passes_only_its_http_and_only_once_readied_for_the_page() {
    let (_dir, dp, mut maps) = load("page", true);
    policy(&mut maps);
    let slot = maps
        .pcs()
        .into_iter()
        .find(|p| p.addr == ip(&PC2))
        .expect("pc2 declared")
        .info
        .slot;
    assert!(
        !maps.set_page(slot, true).unwrap(),
        "an allowed device is never readied"
    );
    maps.set_pc_state(ip(&PC2), PcState::Blocked).unwrap();
    maps.bump_generation().unwrap();
    let http = tcp4(PC2, SITE, 40000, 80);
    assert_ne!(
        xdp(&dp, &http, 1),
        XDP_PASS,
        "not readied: refused like the rest"
    );
    assert!(maps.set_page(slot, true).unwrap());
    maps.bump_generation().unwrap();
    assert_eq!(xdp(&dp, &http, 1), XDP_PASS);
    assert_eq!(
        tc(&dp, &tcp4(SITE, PC2, 80, 40000)),
        TC_ACT_PASS,
        "the page's answer"
    );
    assert_ne!(xdp(&dp, &tcp4(PC2, SITE, 40001, 443), 1), XDP_PASS, "HTTPS");
    assert_eq!(
        xdp(&dp, &udp4(PC2, SITE, 40002, 80, 10), 1),
        XDP_DROP,
        "UDP to 80"
    );
    // The policy saying the same again keeps it readied; a new state drops the mark.
    maps.declare_pc(&[ip(&PC2)], &[], OPEN, PcState::Blocked)
        .unwrap();
    maps.bump_generation().unwrap();
    assert_eq!(xdp(&dp, &tcp4(PC2, SITE, 40003, 80), 1), XDP_PASS);
    maps.declare_pc(&[ip(&PC2)], &[], OPEN, PcState::OverQuota)
        .unwrap();
    maps.bump_generation().unwrap();
    assert_ne!(xdp(&dp, &tcp4(PC2, SITE, 40004, 80), 1), XDP_PASS);
    // Let go: everything passes, and the mark cannot come back.
    maps.set_pc_state(ip(&PC2), PcState::Allowed).unwrap();
    maps.bump_generation().unwrap();
    assert_eq!(xdp(&dp, &tcp4(PC2, SITE, 40005, 443), 1), XDP_PASS);
    assert!(!maps.set_page(slot, true).unwrap());
}

#[test]
fn new_block_applies_to_open_flows_after_generation_bump() {
    let (_dir, dp, mut maps) = load("gen", true);
    policy(&mut maps);
    let f = tcp4(PC, SITE, 40000, 443);
    assert_eq!(xdp(&dp, &f, 1), XDP_PASS);
    let mut blocked = BTreeMap::new();
    blocked.insert((ip(&SITE), 32), group_bit(RESTRICTED));
    maps.sync_blocked(&blocked, 0).unwrap();
    // Until the daemon bumps the generation, the flow keeps its cached verdict.
    assert_eq!(xdp(&dp, &f, 1), XDP_PASS);
    maps.bump_generation().unwrap();
    assert_eq!(xdp(&dp, &f, 1), XDP_BACK, "dropped, answered with a reset");
    // And the sync removed the old entries: BLOCKED is open now.
    assert_eq!(xdp(&dp, &tcp4(PC, BLOCKED, 40000, 443), 1), XDP_PASS);
}

#[test]
fn flow_cache_off_gives_the_same_verdicts() {
    let (_dir, dp, mut maps) = load("nocache", false);
    policy(&mut maps);
    assert_eq!(xdp(&dp, &udp4(PC, BLOCKED, 1, 2, 10), 10), XDP_DROP);
    assert_eq!(xdp(&dp, &udp4(PC, SITE, 1, 2, 10), 10), XDP_PASS);
    assert_eq!(
        stat(&maps, Stat::FlowMiss),
        20,
        "every packet evaluates policy"
    );
    assert_eq!(pc(&maps, ip(&PC)).up_packets, 10);
}

#[test]
fn download_is_counted_on_egress() {
    let (_dir, dp, mut maps) = load("down", true);
    policy(&mut maps);
    let f = udp4(SITE, PC, 443, 40000, 500);
    for _ in 0..3 {
        assert_eq!(tc(&dp, &f), TC_ACT_PASS);
    }
    let c = pc(&maps, ip(&PC));
    assert_eq!(
        (c.down_packets, c.down_bytes, c.up_packets),
        (3, 3 * f.len() as u64, 0)
    );
    // The download lands on the same flow as the upload: (PC, remote, proto, remote port).
    assert_eq!(xdp(&dp, &udp4(PC, SITE, 40000, 443, 10), 1), XDP_PASS);
    let flows: Vec<_> = maps
        .flows()
        .into_iter()
        .filter(|x| x.pc == ip(&PC))
        .collect();
    assert_eq!(flows.len(), 1, "{flows:?}");
    assert_eq!(
        (flows[0].counters.up_packets, flows[0].counters.down_packets),
        (1, 3)
    );
    // A blocked remote can't send to the PC either.
    assert_eq!(tc(&dp, &udp4(BLOCKED, PC, 443, 40000, 10)), TC_ACT_SHOT);
    // Broadcast and multicast belong to no PC.
    assert_eq!(
        tc(&dp, &udp4(GW, [255, 255, 255, 255], 67, 68, 10)),
        TC_ACT_PASS
    );
    assert_eq!(stat(&maps, Stat::EgressMulticast), 1);
}

#[test]
fn ipv6_with_extension_headers_and_icmp() {
    let (_dir, dp, mut maps) = load("v6", true);
    policy(&mut maps);
    let f = with_hop_by_hop(udp6(PC6, SITE6, 40000, 8443));
    assert_eq!(xdp(&dp, &f, 1), XDP_PASS);
    let hbh_blocked = with_hop_by_hop(udp6(PC6, BLOCKED6, 40000, 8443));
    assert_eq!(xdp(&dp, &hbh_blocked, 1), XDP_DROP);
    let flows = maps.flows();
    let flow = flows
        .iter()
        .find(|x| x.remote == ip(&SITE6))
        .expect("v6 flow");
    assert_eq!(
        (flow.proto, flow.remote_port),
        (17, 8443),
        "ports found past the extension header"
    );
    let c = pc(&maps, ip(&PC6));
    assert_eq!(
        (c.up_packets, c.up_bytes, c.dropped_packets),
        (1, f.len() as u64, 1)
    );
    assert_eq!(xdp(&dp, &icmp4(PC, SITE), 2), XDP_PASS);
    assert!(
        maps.flows()
            .iter()
            .any(|x| x.proto == 1 && x.remote_port == 0 && x.counters.up_packets == 2)
    );
}

#[test]
fn vlan_tagged_frames_are_parsed() {
    let (_dir, dp, mut maps) = load("vlan", true);
    policy(&mut maps);
    assert_eq!(xdp(&dp, &vlan4(false), 1), XDP_PASS);
    assert_eq!(xdp(&dp, &vlan4(true), 1), XDP_PASS);
    assert_eq!(pc(&maps, ip(&PC)).up_packets, 2);
    assert_eq!(stat(&maps, Stat::Vlan), 3, "one tag + two tags");
    assert!(
        maps.flows()
            .iter()
            .any(|x| x.remote_port == 53 && x.counters.up_packets == 2)
    );
}

#[test]
fn arp_and_non_ip_pass_and_are_attributed() {
    let (_dir, dp, mut maps) = load("arp", true);
    policy(&mut maps);
    maps.set_pc_state(ip(&PC), PcState::Blocked).unwrap();
    maps.bump_generation().unwrap();
    // A blocked PC still resolves the gateway.
    assert_eq!(xdp(&dp, &arp_request(PC, GW), 1), XDP_PASS);
    assert_eq!(pc(&maps, ip(&PC)).up_packets, 1);
    let mut lldp = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e];
    lldp.extend_from_slice(&PC_MAC);
    lldp.extend_from_slice(&[0x88, 0xcc]);
    lldp.resize(60, 0);
    assert_eq!(xdp(&dp, &lldp, 1), XDP_PASS);
    assert_eq!(stat(&maps, Stat::NonIp), 1);
    assert_eq!(stat(&maps, Stat::Arp), 1);
}

#[test]
fn malformed_frames_are_dropped_and_counted() {
    let (_dir, dp, mut maps) = load("malformed", true);
    policy(&mut maps);
    let good = tcp4(PC, SITE, 40000, 443);
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        // (Frames shorter than an Ethernet header can't be tested: BPF_PROG_TEST_RUN
        // refuses them, as no driver would deliver one.)
        ("truncated IPv4 header", good[..14 + 12].to_vec()),
        ("truncated TCP ports", good[..14 + 20 + 2].to_vec()),
        (
            "truncated IPv6 header",
            tcp6(PC6, SITE6, 1, 2)[..14 + 30].to_vec(),
        ),
        ("truncated VLAN tag", vlan4(false)[..16].to_vec()),
        ("ARP too short", arp_request(PC, GW)[..20].to_vec()),
    ];
    let mut bad_ihl = good.clone();
    bad_ihl[14] = 0x43; // IHL 3 words < 20 bytes
    cases.push(("IHL below 5", bad_ihl));
    let mut bad_version = good.clone();
    bad_version[14] = 0x65; // ethertype IPv4, version 6
    cases.push(("IPv4 ethertype with version 6", bad_version));
    let mut long_ihl = good.clone();
    long_ihl[14] = 0x4f; // 60-byte header: the ports fall beyond the frame
    long_ihl.truncate(14 + 60);
    cases.push(("options push ports past the end", long_ihl));
    for (name, frame) in &cases {
        assert_eq!(xdp(&dp, frame, 1), XDP_DROP, "{name}");
    }
    assert_eq!(drop_count(&maps, DropReason::Malformed), cases.len() as u64);
    assert_eq!(
        pc(&maps, ip(&PC)),
        Counters::default(),
        "malformed frames count on no PC"
    );
    // A non-first fragment has no ports and is still a packet of its PC.
    let mut frag = udp4(PC, SITE, 1, 2, 40);
    frag[14 + 6] = 0x00;
    frag[14 + 7] = 0x10; // offset 16 * 8 bytes
    assert_eq!(xdp(&dp, &frag, 1), XDP_PASS);
    assert_eq!(stat(&maps, Stat::Fragment), 1);
    assert!(
        maps.flows()
            .iter()
            .any(|x| x.proto == 17 && x.remote_port == 0)
    );
}

#[test]
fn unknown_pcs_are_learned_with_their_mac() {
    let (_dir, dp, maps) = load("learn", true);
    let stranger = [10, 10, 0, 99];
    assert_eq!(xdp(&dp, &udp4(stranger, SITE, 1, 2, 10), 4), XDP_PASS);
    let e = maps
        .pcs()
        .into_iter()
        .find(|e| e.addr == ip(&stranger))
        .expect("learned");
    assert_eq!(e.info.mac, mac_of(&stranger));
    assert_eq!(e.info.group, gateway_common::DEFAULT_GROUP);
    assert!(e.info.slot >= gateway_common::capacity::LEARNED_SLOT_BASE);
    assert_eq!(e.counters.up_packets, 4);
}

#[test]
fn unknown_devices_are_learned_into_the_policys_group_and_follow_its_change() {
    let (_dir, dp, mut maps) = load("unknown", true);
    policy(&mut maps);
    maps.set_unknown_group(RESTRICTED).unwrap();
    maps.bump_generation().unwrap();
    let stranger = [10, 10, 0, 98];
    // At once, from its first packet: the restricted group's blocked address drops.
    assert_eq!(xdp(&dp, &udp4(stranger, BLOCKED, 1, 2, 10), 1), XDP_DROP);
    let group = |maps: &Maps| {
        maps.pcs()
            .into_iter()
            .find(|e| e.addr == ip(&stranger))
            .expect("learned")
            .info
            .group
    };
    assert_eq!(group(&maps), RESTRICTED);
    // The policy names another group: learned devices move on the next apply.
    maps.set_unknown_group(OPEN).unwrap();
    // (Every other device is the policy's own PCs: kept.)
    let listed: std::collections::HashSet<u32> = maps
        .pcs()
        .into_iter()
        .filter(|e| e.addr != ip(&stranger))
        .map(|e| e.info.slot)
        .collect();
    maps.reset_unlisted(&listed, &|_| OPEN).unwrap();
    maps.bump_generation().unwrap();
    assert_eq!(group(&maps), OPEN);
    assert_eq!(xdp(&dp, &udp4(stranger, BLOCKED, 1, 2, 10), 1), XDP_PASS);
}

#[test]
fn counters_survive_a_reload_on_the_same_pins() {
    let (dir, dp, mut maps) = load("reload", true);
    policy(&mut maps);
    let seed = maps.flow_seed().unwrap();
    assert!(seed.iter().all(|s| s % 2 == 1), "drawn, odd: {seed:x?}");
    assert_eq!(xdp(&dp, &udp4(PC, SITE, 1, 2, 10), 7), XDP_PASS);
    drop(maps);
    drop(dp);
    // A new load on the same pin directory is a daemon restart.
    let dp = Datapath::load(&officegate::datapath::LoadOptions {
        pin_dir: dir.0.clone(),
        flow_cache: true,
    })
    .expect("reload");
    let mut maps = dp.maps().unwrap();
    assert_eq!(pc(&maps, ip(&PC)).up_packets, 7);
    assert_eq!(
        maps.flow_seed().unwrap(),
        seed,
        "the flow hash is kept with the maps"
    );
    policy(&mut maps);
    assert_eq!(xdp(&dp, &udp4(PC, SITE, 1, 2, 10), 3), XDP_PASS);
    assert_eq!(
        pc(&maps, ip(&PC)).up_packets,
        10,
        "same slot, totals continue"
    );
    let flows: Vec<_> = maps
        .flows()
        .into_iter()
        .filter(|f| f.pc == ip(&PC))
        .collect();
    assert_eq!(flows.len(), 1, "{flows:?}");
    assert_eq!(flows[0].counters.up_packets, 10, "the flow continues too");
    assert_eq!(
        xdp(&dp, &udp4(PC, BLOCKED, 1, 2, 10), 1),
        XDP_DROP,
        "sets survive too"
    );
}

/// The flow table is set-associative (`gateway_common::FlowSet`): a new flow in a full set
/// takes the place of the one `hand` points at (round robin). The PC's totals never lose
/// a packet; the flows held are exactly the last `FLOW_WAYS` placed.
#[test]
fn a_full_flow_set_replaces_its_oldest_flow_and_the_pc_keeps_every_packet() {
    let (_dir, dp, mut maps) = load("fullset", true);
    policy(&mut maps);
    let seed = maps.flow_seed().unwrap();
    let set_of = |remote: [u8; 4], port: u16| {
        let key = FlowKeyV4 {
            pc: u32::from_ne_bytes(PC2),
            remote: u32::from_ne_bytes(remote),
            remote_port: port,
            proto: 17,
            used: FLOW_USED,
        };
        flow_set_index(
            &flow_key_words::<_, 2>(&key),
            &seed,
            capacity::FLOW_SET_BITS_V4,
        )
    };
    // Flows of PC2 (its group blocks nothing) whose keys all land in SITE:1's set.
    let target = set_of(SITE, 1);
    let mut flows = vec![(SITE, 1u16)];
    'search: for last in 1..=254u8 {
        for port in 1..=u16::MAX {
            let r = [203, 0, 113, last];
            if (r, port) != (SITE, 1) && set_of(r, port) == target {
                flows.push((r, port));
                if flows.len() == FLOW_WAYS + 2 {
                    break 'search;
                }
            }
        }
    }
    assert_eq!(flows.len(), FLOW_WAYS + 2);
    for (r, port) in &flows {
        assert_eq!(xdp(&dp, &udp4(PC2, *r, 40000, *port, 10), 1), XDP_PASS);
    }
    assert_eq!(pc(&maps, ip(&PC2)).up_packets, flows.len() as u64);
    assert_eq!(stat(&maps, Stat::FlowMiss), flows.len() as u64);
    let held: std::collections::BTreeSet<(IpAddr, u16)> = maps
        .flows()
        .iter()
        .filter(|f| f.pc == ip(&PC2))
        .map(|f| (f.remote, f.remote_port))
        .collect();
    let last: std::collections::BTreeSet<(IpAddr, u16)> =
        flows[2..].iter().map(|(r, p)| (ip(r), *p)).collect();
    assert_eq!(held, last, "the first two placed were replaced");
    // A held flow is found again (no policy evaluation); a replaced one is placed anew.
    xdp(&dp, &udp4(PC2, flows[2].0, 40000, flows[2].1, 10), 1);
    assert_eq!(stat(&maps, Stat::FlowMiss), flows.len() as u64);
    xdp(&dp, &udp4(PC2, flows[0].0, 40000, flows[0].1, 10), 1);
    assert_eq!(stat(&maps, Stat::FlowMiss), flows.len() as u64 + 1);
}

/// Each CPU has its own part of the flow table: the flow is listed once per part, each
/// with what that CPU counted (the collector keeps a mark per part and sums them).
#[test]
fn a_flow_counted_on_two_cpus_is_one_flow() {
    let allowed = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).unwrap();
    let cpus: Vec<usize> = (0..nix::sched::CpuSet::count())
        .filter(|c| allowed.is_set(*c).unwrap_or(false))
        .take(2)
        .collect();
    let (_dir, dp, mut maps) = load("twocpus", true);
    policy(&mut maps);
    let on = |cpu: usize| {
        let mut set = nix::sched::CpuSet::new();
        set.set(cpu).unwrap();
        nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).unwrap();
    };
    let f = udp4(PC, SITE, 40000, 443, 10);
    for (i, cpu) in cpus.iter().enumerate() {
        on(*cpu);
        assert_eq!(xdp(&dp, &f, 3 + i as u32), XDP_PASS);
    }
    let expected = if cpus.len() == 2 { 7 } else { 3 };
    let flows: Vec<_> = maps
        .flows()
        .into_iter()
        .filter(|f| f.pc == ip(&PC))
        .collect();
    assert_eq!(flows.len(), cpus.len(), "one part per CPU: {flows:?}");
    let sets: std::collections::BTreeSet<u32> = flows.iter().map(|f| f.set).collect();
    assert_eq!(
        sets.len(),
        flows.len(),
        "each in a set of its own CPU's part"
    );
    assert_eq!(
        flows.iter().map(|f| f.counters.up_packets).sum::<u64>(),
        expected
    );
    assert_eq!(
        stat(&maps, Stat::FlowMiss),
        cpus.len() as u64,
        "one first packet per CPU"
    );
}

#[test]
fn nested_ranges_of_different_groups_both_apply() {
    let (_dir, dp, mut maps) = load("nested", true);
    maps.set_pc(ip(&PC), RESTRICTED, PcState::Allowed).unwrap();
    maps.set_pc(ip(&PC2), OPEN, PcState::Allowed).unwrap();
    let mut blocked = BTreeMap::new();
    // RESTRICTED blocks the /16, OPEN only a /24 inside it: the trie's longest match is
    // the /24, which must still carry RESTRICTED's bit.
    blocked.insert((ip(&[198, 51, 0, 0]), 16), group_bit(RESTRICTED));
    blocked.insert((ip(&[198, 51, 100, 0]), 24), group_bit(OPEN));
    maps.sync_blocked(&blocked, 0).unwrap();
    maps.bump_generation().unwrap();
    assert_eq!(
        xdp(&dp, &tcp4(PC, RANGE_HOST, 1, 443), 1),
        XDP_BACK,
        "restricted, inside both"
    );
    assert_eq!(
        xdp(&dp, &tcp4(PC2, RANGE_HOST, 1, 443), 1),
        XDP_BACK,
        "open, inside its /24"
    );
    assert_eq!(
        xdp(&dp, &tcp4(PC2, [198, 51, 7, 7], 1, 443), 1),
        XDP_PASS,
        "open, outside its /24"
    );
    assert_eq!(
        xdp(&dp, &tcp4(PC, [198, 51, 7, 7], 1, 443), 1),
        XDP_BACK,
        "restricted, in the /16"
    );
}

#[test]
fn a_blocked_pc_keeps_neighbour_discovery_and_dhcp() {
    let (_dir, dp, mut maps) = load("nd", true);
    policy(&mut maps);
    maps.set_pc_state(ip(&PC6), PcState::Blocked).unwrap();
    maps.set_pc_state(ip(&PC), PcState::Blocked).unwrap();
    maps.bump_generation().unwrap();
    // Neighbour solicitation for the gateway's address, to its solicited-node group.
    let mut ns = Vec::new();
    let solicited = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 1];
    PacketBuilder::ethernet2(PC_MAC, [0x33, 0x33, 0xff, 0, 0, 1])
        .ipv6(PC6, solicited, 255)
        .icmpv6(etherparse::Icmpv6Type::Unknown {
            type_u8: 135,
            code_u8: 0,
            bytes5to8: [0; 4],
        })
        .write(&mut ns, &[0; 20])
        .unwrap();
    assert_eq!(xdp(&dp, &ns, 1), XDP_PASS, "NS to ff02::1:ff00:1");
    // DHCP to the broadcast address.
    assert_eq!(
        xdp(&dp, &udp4(PC, [255, 255, 255, 255], 68, 67, 200), 1),
        XDP_PASS
    );
    // Anything else stays blocked (TCP: answered with a reset).
    assert_eq!(xdp(&dp, &tcp6(PC6, SITE6, 1, 443), 1), XDP_BACK);
}

#[test]
fn egress_arp_requests_do_not_invent_pcs_or_macs() {
    let (_dir, dp, mut maps) = load("egress-arp", true);
    policy(&mut maps);
    // The gateway asks who has 10.10.0.77 (nobody configured, never seen): broadcast.
    let mut req = arp_request(GW, [10, 10, 0, 77]);
    req[..6].copy_from_slice(&[0xff; 6]);
    req[6..12].copy_from_slice(&GW_MAC);
    assert_eq!(tc(&dp, &req), TC_ACT_PASS);
    assert!(
        !maps.pcs().iter().any(|e| e.addr == ip(&[10, 10, 0, 77])),
        "no PC invented"
    );
    // For a configured PC, the request counts as its download but leaves its MAC unknown.
    let mut req = arp_request(GW, PC2);
    req[..6].copy_from_slice(&[0xff; 6]);
    assert_eq!(tc(&dp, &req), TC_ACT_PASS);
    let e = maps.pcs().into_iter().find(|e| e.addr == ip(&PC2)).unwrap();
    assert_eq!((e.info.mac, e.counters.down_packets), ([0; 6], 1));
}

/// A frame from `src` with the MAC `mac`.
fn udp4_from(mac: [u8; 6], src: [u8; 4], dst: [u8; 4], sport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(mac, GW_MAC)
        .ipv4(src, dst, 64)
        .udp(sport, 53)
        .write(&mut v, &[0; 10])
        .unwrap();
    v
}

#[test]
fn a_device_is_one_slot_whatever_its_addresses() {
    let (_dir, dp, mut maps) = load("one-device", true);
    policy(&mut maps);
    // A device the policy does not list: a first lease, a new lease, an IPv6 address.
    let m = [0x02, 0xee, 0, 0, 0, 1];
    let (a1, a2) = ([10, 10, 0, 50], [10, 10, 0, 51]);
    assert_eq!(xdp(&dp, &udp4_from(m, a1, SITE, 1), 3), XDP_PASS);
    assert_eq!(xdp(&dp, &udp4_from(m, a2, SITE, 2), 2), XDP_PASS);
    let mut v6 = Vec::new();
    PacketBuilder::ethernet2(m, GW_MAC)
        .ipv6(
            [
                0xfd, 0x0a, 0, 0x10, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 0x99,
            ],
            SITE6,
            64,
        )
        .udp(3, 53)
        .write(&mut v6, &[0; 10])
        .unwrap();
    assert_eq!(xdp(&dp, &v6, 1), XDP_PASS);
    let devices: Vec<_> = maps
        .devices()
        .into_iter()
        .filter(|d| d.macs.contains(&m))
        .collect();
    assert_eq!(devices.len(), 1, "one device: {devices:?}");
    assert_eq!(devices[0].addrs.len(), 3);
    assert_eq!(devices[0].counters.up_packets, 6, "one set of counters");
    assert!(devices[0].slot >= capacity::LEARNED_SLOT_BASE);

    // A PC the policy names by MAC only: any address it takes has its group's rules.
    let listed = [0x02, 0xee, 0, 0, 0, 2];
    let slot = maps
        .declare_pc(&[], &[listed], RESTRICTED, PcState::Allowed)
        .unwrap();
    maps.bump_generation().unwrap();
    let a3 = [10, 10, 0, 77];
    assert_eq!(xdp(&dp, &udp4_from(listed, a3, BLOCKED, 4), 1), XDP_DROP);
    assert_eq!(xdp(&dp, &udp4_from(listed, a3, SITE, 5), 1), XDP_PASS);
    let d = maps.devices().into_iter().find(|d| d.slot == slot).unwrap();
    assert_eq!(d.addrs, vec![ip(&a3)]);
    assert_eq!((d.counters.up_packets, d.counters.dropped_packets), (1, 1));
    // Blocked by hand: one write for the device, every address of it.
    maps.set_pc_state(ip(&a3), PcState::Blocked).unwrap();
    maps.bump_generation().unwrap();
    let a4 = [10, 10, 0, 78];
    assert_eq!(xdp(&dp, &udp4_from(listed, a4, SITE, 6), 1), XDP_DROP);
}

#[test]
fn a_device_forging_anothers_address_gets_only_its_own_rights() {
    let (_dir, dp, mut maps) = load("spoof", true);
    policy(&mut maps);
    // Both PCs are seen first with their own MACs: each address is bound.
    assert_eq!(xdp(&dp, &udp4(PC, SITE, 1, 53, 10), 1), XDP_PASS);
    assert_eq!(xdp(&dp, &udp4(PC2, SITE, 1, 53, 10), 1), XDP_PASS);
    let before = pc(&maps, ip(&PC2));
    // PC (restricted) sends as PC2 (open) to an address its own group blocks.
    let forged = udp4_from(mac_of(&PC), PC2, BLOCKED, 2);
    assert_eq!(xdp(&dp, &forged, 5), XDP_DROP, "PC's rights, not PC2's");
    assert_eq!(pc(&maps, ip(&PC2)), before, "nothing charged to PC2");
    assert_eq!(stat(&maps, Stat::Spoofed), 1, "one new flow, counted once");
    let me = maps
        .devices()
        .into_iter()
        .find(|d| d.addrs.contains(&ip(&PC)))
        .unwrap();
    assert_eq!(me.spoofed, 1, "reported on the sender");
    assert_eq!(me.counters.dropped_packets, 5);
}

/// A DHCP lease decides whose an address is: a device that grabbed a leased address
/// before its owner spoke loses it to the owner (the daemon's `bind_leases`), is judged as
/// itself when it sends with it again, and the owner's first packet finds the address
/// reserved for it.
#[test]
fn a_leased_address_is_its_macs_whoever_sent_with_it_first() {
    let (_dir, dp, mut maps) = load("lease", true);
    policy(&mut maps);
    let (owner, spoofer) = ([2, 0, 0, 0, 0, 0x51], [2, 0, 0, 0, 0, 0x52]);
    let (leased, own) = ([10, 10, 0, 77], [10, 10, 0, 78]);
    let device_with = |maps: &Maps, mac: [u8; 6]| {
        maps.devices()
            .into_iter()
            .find(|d| d.macs.contains(&mac))
            .unwrap_or_else(|| panic!("{mac:?} in {:#?}", maps.devices()))
    };
    assert_eq!(xdp(&dp, &udp4_from(spoofer, own, SITE, 1), 1), XDP_PASS);
    // First seen with the spoofer: first-seen would make it the spoofer's for good.
    assert_eq!(xdp(&dp, &udp4_from(spoofer, leased, SITE, 2), 1), XDP_PASS);
    assert!(device_with(&maps, spoofer).addrs.contains(&ip(&leased)));
    let lease = [(ip(&leased), owner)];
    assert_eq!(maps.bind_leases(&lease).unwrap(), 1);
    assert_eq!(maps.bind_leases(&lease).unwrap(), 0, "bound: nothing to do");
    maps.bump_generation().unwrap();
    assert!(!device_with(&maps, spoofer).addrs.contains(&ip(&leased)));
    // The spoofer again: its own rights, counted as spoofing.
    assert_eq!(xdp(&dp, &udp4_from(spoofer, leased, SITE, 3), 1), XDP_PASS);
    assert_eq!(stat(&maps, Stat::Spoofed), 1);
    assert_eq!(device_with(&maps, spoofer).spoofed, 1);
    // The owner's first packet: a device of its own, holding the address. (To another
    // remote: a flow already cached is not judged again per packet, whoever sends on it.)
    let other = [203, 0, 113, 99];
    assert_eq!(xdp(&dp, &udp4_from(owner, leased, other, 4), 2), XDP_PASS);
    let o = device_with(&maps, owner);
    assert_eq!(o.addrs, vec![ip(&leased)]);
    assert_eq!(o.counters.up_packets, 2);
    assert_eq!(stat(&maps, Stat::Spoofed), 1, "the owner is no spoofer");
    // A lease for a device already known binds the address to it at once.
    let next = [10, 10, 0, 79];
    assert_eq!(maps.bind_leases(&[(ip(&next), owner)]).unwrap(), 1);
    assert!(device_with(&maps, owner).addrs.contains(&ip(&next)));
}

#[test]
fn address_and_mac_churn_leave_the_tables_usable() {
    use officegate::datapath::Reclaimer;
    let (_dir, dp, mut maps) = load("churn", true);
    policy(&mut maps);
    let mut reclaimer = Reclaimer::default();
    let listed: std::collections::HashSet<u32> = maps.devices().iter().map(|d| d.slot).collect();
    let listed_addr = |a: &IpAddr| [ip(&PC), ip(&PC2), ip(&PC6)].contains(a);
    // 100,000 devices, each with its own MAC and address, more than there are slots
    // (49,152 for devices the kernel meets); the daemon's reclaimer runs between batches
    // (forgetting at once: idle time 0).
    let mut forgotten = 0;
    for i in 0u32..100_000 {
        let b = i.to_be_bytes();
        let mac = [0x02, 0xcc, 0, b[1], b[2], b[3]];
        let addr = [10, 100 + b[1], b[2], b[3]];
        assert_eq!(xdp(&dp, &udp4_from(mac, addr, SITE, 9), 1), XDP_PASS);
        if i % 5_000 == 4_999 {
            let r = reclaimer
                .reclaim(&mut maps, 0, &listed, &listed_addr)
                .unwrap();
            forgotten += r.devices.len();
        }
    }
    assert_eq!(stat(&maps, Stat::SlotsExhausted), 0);
    assert_eq!(forgotten, 100_000, "every churned device forgotten");
    // The policy's PCs are untouched, and a new device gets a slot of its own.
    assert!(maps.pcs().iter().any(|e| e.addr == ip(&PC)));
    let newcomer = [0x02, 0xdd, 0, 0, 0, 1];
    assert_eq!(
        xdp(&dp, &udp4_from(newcomer, [10, 10, 0, 200], SITE, 9), 1),
        XDP_PASS
    );
    let d = maps
        .devices()
        .into_iter()
        .find(|d| d.macs.contains(&newcomer))
        .expect("met");
    assert!(d.slot >= capacity::LEARNED_SLOT_BASE && d.counters.up_packets == 1);
}

#[test]
fn a_listed_pc_met_first_under_another_address_becomes_one_device() {
    let (_dir, dp, mut maps) = load("join", true);
    policy(&mut maps);
    // PC's IPv6 privacy address speaks before its listed IPv4 one: a device of its own,
    // in the unknown devices' group (default here), so BLOCKED6 passes.
    let privacy = [
        0xfd, 0x0a, 0, 0x10, 0, 0, 0, 0, 0xab, 0xcd, 0, 0, 0, 0, 0, 0x0b,
    ];
    assert_eq!(xdp(&dp, &udp6(privacy, BLOCKED6, 1, 53), 2), XDP_PASS);
    // Then its listed address, with the same MAC: the MAC is the listed PC's now.
    assert_eq!(xdp(&dp, &udp4(PC, SITE, 1, 53, 10), 1), XDP_PASS);
    assert_eq!(maps.join_by_mac().unwrap(), 1);
    maps.bump_generation().unwrap();
    // The privacy address follows the PC's rules and counts on the PC.
    assert_eq!(xdp(&dp, &udp6(privacy, BLOCKED6, 2, 53), 1), XDP_DROP);
    let mine: Vec<_> = maps
        .devices()
        .into_iter()
        .filter(|d| d.addrs.contains(&ip(&PC)))
        .collect();
    assert_eq!(mine.len(), 1);
    assert!(mine[0].addrs.contains(&ip(&privacy)), "{mine:?}");
    let c = mine[0].counters;
    assert_eq!(
        (c.up_packets, c.dropped_packets),
        (3, 1),
        "nothing lost in the join"
    );
    assert_eq!(mine[0].parts.len(), 2);
}
