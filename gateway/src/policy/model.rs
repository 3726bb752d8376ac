//! The policy file (`policies/office.toml`) as data: what the employer writes. Every
//! field's default is on it; unknown fields are errors (`deny_unknown_fields`).
//!
//! ```toml
//! version = 1
//! time_zone = "Europe/Berlin"          # schedules are read in this zone; required
//!
//! [lists.ads]                           # named lists: files relative to this directory
//! files = ["lists/ads.txt"]
//!
//! [categories.social]                   # categories: named sets of lists
//! files = ["categories/social.txt"]
//!
//! [schedules.work-hours]                # weekly windows; from > until runs past midnight
//! days = ["mon", "tue", "wed", "thu", "fri"]
//! from = "09:00"
//! until = "18:00"
//!
//! [[groups]]                            # departments: a tree through `parent`
//! name = "company"
//! [[groups.rules]]
//! action = "block"                      # block | allow
//! lists = ["ads"]
//!
//! [[groups]]
//! name = "sales"
//! parent = "company"
//! [[groups.rules]]
//! action = "block"
//! categories = ["social"]
//! schedule = "work-hours"
//!
//! [[pcs]]
//! name = "pc1"
//! addresses = ["10.10.0.11", "fd0a:10::b"]
//! group = "sales"
//! ```

use std::{collections::BTreeMap, net::IpAddr};

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Format version. Required; only `1` exists.
    pub version: u32,
    /// IANA time zone name schedules are read in (e.g. `Europe/Berlin`, `UTC`). Required:
    /// a gateway's system zone is too easy to get wrong for "09:00–18:00" to be implicit.
    pub time_zone: Spanned<String>,
    /// Named blocklists. Default: none.
    #[serde(default)]
    pub lists: BTreeMap<String, ListDef>,
    /// Named categories (social networks, video, games…), each a set of list files.
    /// Default: none.
    #[serde(default)]
    pub categories: BTreeMap<String, ListDef>,
    /// Named weekly schedules. Default: none.
    #[serde(default)]
    pub schedules: BTreeMap<String, ScheduleDef>,
    /// Groups (departments), a tree. A PC in no group is in the implicit root `default`.
    /// Default: none.
    #[serde(default)]
    pub groups: Vec<GroupDef>,
    /// Known PCs. Default: none.
    #[serde(default)]
    pub pcs: Vec<PcDef>,
    /// The group of every device the policy does not list (a guest's phone, a PC with a
    /// new address): its rules, safe search, QUIC setting. Default: `default`, which has
    /// no rules — name the company's root group so nothing escapes them.
    #[serde(default)]
    pub unknown_devices: Option<Spanned<String>>,
    /// PCs or groups cut off by hand: all their traffic stops except to the gateway
    /// itself (DNS, block page). Default: none.
    #[serde(default)]
    pub blocks: Vec<BlockDef>,
    /// Traffic limits: a PC, a group (with its subgroups) or the whole company over its
    /// bytes for the day or month is cut off (over quota) until the period ends.
    /// Default: none.
    #[serde(default)]
    pub limits: Vec<Spanned<LimitDef>>,
    /// Timed exceptions, usually granted on an employee's access request: names a PC (or a
    /// group) may reach until a moment, whatever the group rules say. Default: none.
    #[serde(default)]
    pub exceptions: Vec<Spanned<ExceptionDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionDef {
    /// The PC (a name from `[[pcs]]`). Exactly one of `pc` and `group`.
    #[serde(default)]
    pub pc: Option<Spanned<String>>,
    /// The group, with its subgroups.
    #[serde(default)]
    pub group: Option<Spanned<String>>,
    /// The names allowed, each with its subdomains. Required, at least one.
    pub domains: Vec<Spanned<String>>,
    /// End (exclusive), RFC 3339 or `YYYY-MM-DD HH:MM` in the policy's zone. Required: an
    /// exception that never ends is a rule, and belongs in `[[groups.rules]]`.
    pub until: Spanned<String>,
    /// Why (the employee's reason). Default: empty.
    #[serde(default)]
    pub reason: String,
    /// Who granted it. Default: empty.
    #[serde(default)]
    pub granted_by: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitDef {
    /// The PC (a name from `[[pcs]]`). Exactly one of `pc`, `group` and `company`.
    #[serde(default)]
    pub pc: Option<Spanned<String>>,
    /// The group; its PCs and its subgroups' count together.
    #[serde(default)]
    pub group: Option<Spanned<String>>,
    /// Every PC of the office together. Default: false.
    #[serde(default)]
    pub company: bool,
    /// `day` or `month`: calendar periods in the policy's time zone. Required.
    pub per: Period,
    /// Bytes, upload and download together: `2 GB`, `500 MiB`, `1000000`. Required.
    pub bytes: Spanned<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Month,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockDef {
    /// The PC to block (a name from `[[pcs]]`). Exactly one of `pc` and `group`.
    #[serde(default)]
    pub pc: Option<Spanned<String>>,
    /// The group to block, with its subgroups. Exactly one of `pc` and `group`.
    #[serde(default)]
    pub group: Option<Spanned<String>>,
    /// Start, RFC 3339 or `YYYY-MM-DD HH:MM` in the policy's zone. Default: now.
    #[serde(default)]
    pub from: Option<Spanned<String>>,
    /// End (exclusive), same forms. Default: until removed.
    #[serde(default)]
    pub until: Option<Spanned<String>>,
    /// Why, for the block page and the action history. Default: empty.
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListDef {
    /// List files, relative to the policy directory, in any supported format
    /// (see `lists::parse`). Default: none.
    #[serde(default)]
    pub files: Vec<Spanned<String>>,
    /// One-line description shown in the UI and by `explain`. Default: empty.
    #[serde(default)]
    pub description: String,
    /// Resolve the list's names (through the upstreams, every 10 minutes and after each
    /// reload) so groups that block the list have their addresses blocked in the datapath
    /// too: for bypass endpoints (DoH/DoT resolvers, VPNs, proxies) that browsers and apps
    /// reach without asking the gateway. Meant for short lists. Default: false.
    #[serde(default)]
    pub resolve: bool,
    /// Lists downloaded from `http(s)://` URLs, kept fresh in the background (the last good
    /// copy stays in use when a download fails). Default: none.
    #[serde(default)]
    pub urls: Vec<Spanned<String>>,
    /// Hours between downloads of `urls`. Default: 24.
    #[serde(default = "default_refresh_hours")]
    pub refresh_hours: u64,
}

fn default_refresh_hours() -> u64 {
    24
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDef {
    /// Days the window starts on: `mon`…`sun`. Required, at least one.
    pub days: Vec<Spanned<String>>,
    /// Start, `HH:MM`, inclusive. Required.
    pub from: Spanned<String>,
    /// End, `HH:MM`, exclusive. Earlier than `from` means the next day. Required.
    pub until: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDef {
    /// Unique name. Required.
    pub name: Spanned<String>,
    /// The group this one belongs to, whose rules it inherits. Default: none (a root).
    #[serde(default)]
    pub parent: Option<Spanned<String>>,
    /// Rules, evaluated before the parent's: a group's allow relaxes a parent's block, its
    /// block tightens a parent's allow. Default: none.
    #[serde(default)]
    pub rules: Vec<Spanned<RuleDef>>,
    /// Enforce safe search on the major search engines and YouTube (Google, Bing,
    /// DuckDuckGo, YouTube: their names are answered with the engines' own safe
    /// endpoints). Default: inherited from the parent; off at the root.
    #[serde(default)]
    pub safe_search: Option<bool>,
    /// Block QUIC (UDP to port 443): browsers fall back to TCP, where the gateway sees
    /// the site's name. Default: inherited from the parent; off at the root.
    #[serde(default)]
    pub block_quic: Option<bool>,
    /// Address ranges (`10.10.5.0/24`, `fd00:5::/64`) whose devices, when the policy does
    /// not list them as PCs, are this group's (the guest Wi-Fi, a department's VLAN): the
    /// most specific range wins; a device in none is `unknown_devices`'. Default: none.
    #[serde(default)]
    pub networks: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Block,
    Allow,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BlockMode {
    /// Answer with the gateway's block-page address, so a browser shows why.
    #[default]
    Page,
    /// Answer NXDOMAIN: the name does not exist.
    Nxdomain,
    /// Answer 0.0.0.0 / `::`.
    Null,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    /// `block` or `allow`. Required.
    pub action: Action,
    /// Names from `[lists]`. Default: none.
    #[serde(default)]
    pub lists: Vec<Spanned<String>>,
    /// Names from `[categories]`. Default: none.
    #[serde(default)]
    pub categories: Vec<Spanned<String>>,
    /// Single names; each also covers its subdomains. Default: none.
    #[serde(default)]
    pub domains: Vec<Spanned<String>>,
    /// Addresses (`203.0.113.7`) and ranges (`198.51.100.0/24`), enforced in the
    /// datapath: `block` drops the group's packets to them, `allow` exempts the group
    /// from a parent's. Default: none.
    #[serde(default)]
    pub addresses: Vec<Spanned<String>>,
    /// Only while this schedule (from `[schedules]`) is on. Default: always.
    #[serde(default)]
    pub schedule: Option<Spanned<String>>,
    /// How a blocked name is answered. Default: `page`.
    #[serde(default)]
    pub mode: BlockMode,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcDef {
    /// Unique name. Required.
    pub name: Spanned<String>,
    /// Its MAC (`aa:bb:cc:dd:ee:ff`): the device, whatever addresses it takes (DHCP
    /// leases, IPv6 privacy addresses). `mac` or `addresses`, or both.
    #[serde(default)]
    pub mac: Option<Spanned<String>>,
    /// The host name its DHCP lease carries (`[names] dhcp_leases`): the device the
    /// office's DHCP server knows by that name, whatever its MAC — a PC whose network
    /// card was replaced stays itself. `mac`, `addresses` or `hostname`, or several.
    #[serde(default)]
    pub hostname: Option<Spanned<String>>,
    /// Its addresses, IPv4 and IPv6 (fixed ones). Addresses are bound to the MAC they are
    /// first seen with.
    #[serde(default)]
    pub addresses: Option<Spanned<Vec<IpAddr>>>,
    /// Its group. Default: the implicit root `default`, which has no rules.
    #[serde(default)]
    pub group: Option<Spanned<String>>,
}
