//! Program names (the functions in `gateway-ebpf`).

/// XDP on the LAN interface: sees what PCs send (uploads).
pub const LAN_INGRESS: &str = "og_lan_ingress";
/// TC (TCX) on the LAN interface's egress: sees what PCs receive (downloads), after
/// NAT has been undone, so the destination is the PC's own address.
pub const LAN_EGRESS: &str = "og_lan_egress";
/// TC (TCX) on each WAN interface's egress: counts what leaves by that channel (after
/// NAT), and the TCP SYNs that open connections through it.
pub const WAN_EGRESS: &str = "og_wan_egress";
/// TC (TCX) on each WAN interface's ingress: counts what arrives, and the SYN-ACKs
/// that answer those SYNs. SYNs out with no SYN-ACK back: a channel gone silent.
pub const WAN_INGRESS: &str = "og_wan_ingress";
/// Tail-called by `og_lan_ingress` for a frame it drops: a TCP segment becomes the reset
/// its sender gets back (XDP_TX). A program of its own so that it has a stack of its
/// own. Never attached.
pub const LAN_RESET: &str = "og_lan_reset";
/// An XDP program that only passes: the benchmark's floor. Never attached.
pub const BENCH_EMPTY: &str = "og_bench_empty";
