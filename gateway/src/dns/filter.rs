//! The filter: every stage of the chain with its own state, shared by the UDP loop
//! (`udp`: the fast path in `fast`, the rest through hickory) and hickory-server's TCP
//! side (`handler`). Both walk the same stages in the same order:
//!
//! 1. `access` — LAN clients only (else REFUSED), and the client's rate limit;
//! 2. `decide` — the policy's verdict for this PC, this name, now;
//! 3. `block` — a blocked name's answer (a `Break` of stage 2), TTL 10 s;
//! 4. the answer cache (`cache`), else the upstreams (`upstream`; cached then);
//! 5. `decide` again on the answer's CNAME targets (a block is answered by `block`), then
//!    rebinding protection (`guard`);
//! 6. `remember` the allowed answer for the datapath plan and site attribution;
//! 7. `record` it: counters and the query log.
//!
//! The fast path answers the commonest cases (a blocked name, a cached answer) with its
//! own wire encoder and hands everything else to the full path unchanged, so the two
//! never disagree on a decision.
//!
//! Owns: the assembled filter. Must not: hold anything a stage could own itself.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::{
    access::Access, block::Block, cache::Cache, guard::Rebinding, record::Log, remember::Remember,
    upstream::Upstreams,
};
use crate::policy::Policy;

/// How a query reached the filter: asked of the gateway, or sent by the PC to another
/// resolver and redirected here by the gateway's nftables rules (`crate::bypass`), which
/// land it on listeners of its own so the two are told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Via {
    Asked,
    Intercepted,
}

pub struct Filter {
    /// Read at each query, so a reload is seen by the next query and none is dropped
    /// during the swap.
    pub policy: Arc<ArcSwap<Policy>>,
    /// "Now" for policy decisions.
    pub clock: crate::clock::Clock,
    pub access: Access,
    pub block: Block,
    pub cache: Cache,
    pub upstreams: Arc<Upstreams>,
    pub rebinding: Rebinding,
    pub remember: Remember,
    pub log: Log,
}
