//! Per-WAN-interface counters (`WAN`).

/// Traffic of one WAN interface (value of the per-CPU `WAN` hash, keyed by ifindex): the
/// failover monitor's passive signal, and each channel's share of the traffic.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WanCounters {
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
    /// TCP segments out with SYN and without ACK: connections being opened.
    pub syn_out: u64,
    /// TCP segments in with SYN and ACK: connections answered.
    pub synack_in: u64,
}

impl WanCounters {
    pub fn add(&mut self, o: &WanCounters) {
        self.packets_out += o.packets_out;
        self.bytes_out += o.bytes_out;
        self.packets_in += o.packets_in;
        self.bytes_in += o.bytes_in;
        self.syn_out += o.syn_out;
        self.synack_in += o.synack_in;
    }
}
