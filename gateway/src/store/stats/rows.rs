//! What the collectors hand the store: per-PC traffic deltas (`usage.rs`) and what the
//! flow collector counted per (PC, host) (`sites::collector`), with the counter totals that
//! produced them, so a restart continues exactly where the last commit left off.

/// Traffic counted since the last record: added to the PC's day and month, with the
/// counter totals that produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageDelta {
    pub pc: String,
    pub day: String,
    pub month: String,
    /// Unix minute the traffic is counted in.
    pub minute: i64,
    pub up: u64,
    pub down: u64,
    /// (address, up total, down total) as counted.
    pub marks: Vec<(String, u64, u64)>,
}

/// How a flow's site was named, most trusted first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The server name of the TLS ClientHello.
    Sni,
    /// The `Host` header of an HTTP request.
    Host,
    /// The name the gateway's DNS answered this PC with this address.
    Dns,
    /// Nothing named it: the site is the remote address.
    Address,
}

impl Via {
    pub const ALL: [Via; 4] = [Via::Sni, Via::Host, Via::Dns, Via::Address];

    /// Its code in the tables. Never renumbered.
    pub fn code(self) -> i64 {
        match self {
            Via::Sni => 0,
            Via::Host => 1,
            Via::Dns => 2,
            Via::Address => 3,
        }
    }

    pub fn from_code(c: i64) -> Via {
        Via::ALL
            .into_iter()
            .find(|v| v.code() == c)
            .unwrap_or(Via::Address)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Via::Sni => "sni",
            Via::Host => "host",
            Via::Dns => "dns",
            Via::Address => "address",
        }
    }
}

/// Bytes of one PC with one host in one minute.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteRow {
    pub pc: String,
    pub host: String,
    pub site: String,
    pub via: Via,
    pub up: u64,
    pub down: u64,
}

/// Bytes of a flow nobody can explain.
#[derive(Debug, Clone, PartialEq)]
pub struct UnexplainedRow {
    pub pc: String,
    pub remote: String,
    pub port: u16,
    pub proto: u8,
    /// `no_lookup` or `sni_mismatch`.
    pub reason: &'static str,
    /// The name the flow claimed (SNI, Host), if any.
    pub name: Option<String>,
    pub up: u64,
    pub down: u64,
}

/// What the flow collector counted since its last batch, with the flow totals that
/// produced it: committed together, so a restart continues exactly from here.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SitesBatch {
    pub minute: i64,
    pub at_ms: i64,
    /// The policy zone's offset from UTC, in minutes, for day rows.
    pub day_offset_min: i64,
    pub rows: Vec<SiteRow>,
    pub unexplained: Vec<UnexplainedRow>,
    /// (flow key, up total, down total).
    pub marks: Vec<(String, u64, u64)>,
    /// Keys of flows the datapath no longer holds: their marks go.
    pub forgotten: Vec<String>,
}
