//! Names of the pinned maps. They are the ELF symbol names of the maps in `gateway-ebpf`
//! and the file names under the pin directory. The `_V1` era is implicit: a change of a
//! key or value layout must give the map a new name, or a restarted daemon would reuse an
//! old pinned map with the wrong layout.

pub const PCS_V4: &str = "OG_PCS4";
pub const PCS_V6: &str = "OG_PCS6";
pub const PC_STATS: &str = "OG_PCSTATS";
pub const CONFIG: &str = "OG_CONFIG2";
pub const FLOWS_V4: &str = "OG_FLOWTAB4";
pub const FLOWS_V6: &str = "OG_FLOWTAB6";
pub const BLOCK_V4: &str = "OG_BLOCK4";
pub const BLOCK_V6: &str = "OG_BLOCK6";
pub const BLOCK_CIDR_V4: &str = "OG_BCIDR4";
pub const BLOCK_CIDR_V6: &str = "OG_BCIDR6";
pub const GW_ADDR_V4: &str = "OG_GWADDR4";
pub const GW_ADDR_V6: &str = "OG_GWADDR6";
pub const GROUPS: &str = "OG_GROUPS";
pub const SLOT_ALLOC: &str = "OG_SLOTALLOC";
pub const DROPS: &str = "OG_DROPS";
pub const STATS: &str = "OG_STATS";
pub const WAN: &str = "OG_WAN";
pub const SNIFF: &str = "OG_SNIFF";
/// The reset program `og_lan_ingress` tail-calls on a drop (slot 0). Not pinned: each
/// load fills its own.
pub const RESET: &str = "OG_RESET";

/// Maps an older version pinned whose layout changed (the flow tables were LRU hash
/// maps; the config grew the flow hash's multipliers). Removed at load, so they don't
/// hold kernel memory until the next reboot.
pub const RETIRED: [&str; 3] = ["OG_FLOWS4", "OG_FLOWS6", "OG_CONFIG"];

/// Every pinned map, for tools that list or remove them.
pub const ALL: [&str; 18] = [
    PCS_V4,
    PCS_V6,
    PC_STATS,
    CONFIG,
    FLOWS_V4,
    FLOWS_V6,
    BLOCK_V4,
    BLOCK_V6,
    BLOCK_CIDR_V4,
    BLOCK_CIDR_V6,
    GW_ADDR_V4,
    GW_ADDR_V6,
    GROUPS,
    SLOT_ALLOC,
    DROPS,
    STATS,
    WAN,
    SNIFF,
];
