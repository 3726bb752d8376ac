//! Names of the pinned maps. They are the ELF symbol names of the maps in `gateway-ebpf`
//! and the file names under the pin directory. The `_V1` era is implicit: a change of a
//! key or value layout must give the map a new name, or a restarted daemon would reuse an
//! old pinned map with the wrong layout.

/// Address → device (`AddrInfo`). (`OG_PCS4/6` held a group and state per address.)
pub const ADDRS_V4: &str = "OG_ADDR4";
pub const ADDRS_V6: &str = "OG_ADDR6";
/// MAC (`mac_key`) → device slot.
pub const MACS: &str = "OG_MACS";
/// Slot → `DeviceInfo`.
pub const DEVICES: &str = "OG_DEVICES";
/// Free slots of the kernel's range, a queue the kernel pops a new device's slot from
/// and the daemon refills with the slots of devices it forgot.
pub const FREE_SLOTS: &str = "OG_FREESLOTS";
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
pub const DROPS: &str = "OG_DROPS";
pub const STATS: &str = "OG_STATS";
pub const WAN: &str = "OG_WAN";
pub const SNIFF: &str = "OG_SNIFF";
/// The reset program `og_lan_ingress` tail-calls on a drop (slot 0). Not pinned: each
/// load fills its own.
pub const RESET: &str = "OG_RESET";

/// Maps an older version pinned whose layout changed (the flow tables were LRU hash
/// maps; the config grew the flow hash's multipliers; PCs became devices). Removed at load, so they don't
/// hold kernel memory until the next reboot.
pub const RETIRED: [&str; 6] = [
    "OG_FLOWS4",
    "OG_FLOWS6",
    "OG_CONFIG",
    "OG_PCS4",
    "OG_PCS6",
    "OG_SLOTALLOC",
];

/// Every pinned map, for tools that list or remove them.
pub const ALL: [&str; 20] = [
    ADDRS_V4,
    ADDRS_V6,
    MACS,
    DEVICES,
    FREE_SLOTS,
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
    DROPS,
    STATS,
    WAN,
    SNIFF,
];
