//! The policy as the loader builds it: names resolved to indices (groups, lists,
//! schedules, PCs), list files compiled, every cross-reference already checked. Holds the
//! plain accessors and the lookups the other parts share (a PC's address, a group's
//! ancestry, manual blocks and timed exceptions in force).
//!
//! Evaluating a name is `engine.rs`'s job, the kernel's sets `plan.rs`'s, traffic limits
//! `limits.rs`'s; building it is `load/`'s.

use std::{collections::HashMap, net::IpAddr, path::PathBuf};

use jiff::{Timestamp, tz::TimeZone};

use super::{
    model::{Action, BlockMode},
    schedule::Schedule,
};
use crate::lists::{CompiledList, DomainSet};

/// The group of PCs nobody listed. It has no rules.
pub const DEFAULT_GROUP: &str = "default";

pub struct NamedList {
    pub name: String,
    pub description: String,
    pub files: Vec<(PathBuf, std::sync::Arc<CompiledList>)>,
    /// The plain names of a list marked `resolve` (the daemon resolves them so their
    /// addresses are blocked in the datapath too); empty otherwise.
    pub resolve_names: Vec<String>,
}

pub struct Rule {
    pub action: Action,
    /// (is_category, index) into the policy's lists or categories.
    pub refs: Vec<(bool, usize)>,
    pub domains: DomainSet,
    pub domain_names: Vec<String>,
    /// (address, prefix length), enforced in the datapath.
    pub addresses: Vec<(IpAddr, u8)>,
    pub schedule: Option<usize>,
    pub mode: BlockMode,
    /// Line of the rule in `office.toml`.
    pub line: usize,
}

pub struct Group {
    pub name: String,
    pub parent: Option<usize>,
    pub rules: Vec<Rule>,
    /// `None`: as the parent.
    pub safe_search: Option<bool>,
    /// `None`: as the parent.
    pub block_quic: Option<bool>,
    /// Ranges whose unlisted devices are this group's (`networks`).
    pub networks: Vec<(IpAddr, u8)>,
}

pub struct Pc {
    pub name: String,
    pub addresses: Vec<IpAddr>,
    /// Its MACs (`mac` in the file): every address seen with one of them is this PC's.
    pub macs: Vec<[u8; 6]>,
    /// Its DHCP host name (`hostname`, lower case): the MACs leased under it are its.
    pub hostname: Option<String>,
    pub group: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockTarget {
    Pc(usize),
    Group(usize),
}

pub enum LimitTarget {
    Pc(usize),
    Group(usize),
    Company,
}

pub struct Limit {
    pub target: LimitTarget,
    pub per: super::model::Period,
    pub bytes: u64,
    /// Line of the limit in `office.toml`.
    pub line: usize,
}

/// A PC's traffic so far in the current day and month (bytes up and down).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PcUsage {
    pub day: u64,
    pub month: u64,
}

pub struct ManualBlock {
    pub target: BlockTarget,
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub reason: String,
}

impl ManualBlock {
    fn active(&self, at: Timestamp) -> bool {
        self.from.is_none_or(|f| at >= f) && self.until.is_none_or(|u| at < u)
    }
}

/// A timed exception (`[[exceptions]]`): `domains` allowed for a PC or a group until
/// `until`, before any group rule is asked.
pub struct Exception {
    pub target: BlockTarget,
    pub domains: DomainSet,
    pub domain_names: Vec<String>,
    pub until: Timestamp,
    pub reason: String,
    pub granted_by: String,
    /// Line of the entry in `office.toml`.
    pub line: usize,
}

pub struct Policy {
    /// Unique per loaded policy (never reused, unlike an address): keys `PlanMemo`.
    pub(super) id: u64,
    pub(super) tz: TimeZone,
    pub(super) blocks: Vec<ManualBlock>,
    pub(super) exceptions: Vec<Exception>,
    pub(super) limits: Vec<Limit>,
    pub(super) lists: Vec<NamedList>,
    pub(super) categories: Vec<NamedList>,
    pub(super) schedules: Vec<Schedule>,
    pub(super) groups: Vec<Group>,
    pub(super) pcs: Vec<Pc>,
    pub(super) by_addr: HashMap<IpAddr, usize>,
    pub(super) by_mac: HashMap<[u8; 6], usize>,
    pub(super) by_hostname: HashMap<String, usize>,
    /// The group of devices the policy does not list (`unknown_devices`); `None`:
    /// `default`.
    pub(super) unknown_group: Option<usize>,
}

impl Policy {
    // Called once, by the loader, with everything it built: a struct would only rename it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        tz: TimeZone,
        lists: Vec<NamedList>,
        categories: Vec<NamedList>,
        schedules: Vec<Schedule>,
        groups: Vec<Group>,
        pcs: Vec<Pc>,
        blocks: Vec<ManualBlock>,
        exceptions: Vec<Exception>,
        limits: Vec<Limit>,
    ) -> Self {
        let mut by_addr = HashMap::new();
        let mut by_mac = HashMap::new();
        let mut by_hostname = HashMap::new();
        for (i, pc) in pcs.iter().enumerate() {
            if let Some(h) = &pc.hostname {
                by_hostname.insert(h.clone(), i);
            }
            for m in &pc.macs {
                by_mac.insert(*m, i);
            }
            for a in &pc.addresses {
                by_addr.insert(*a, i);
            }
        }
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Policy {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            tz,
            blocks,
            exceptions,
            limits,
            lists,
            categories,
            schedules,
            groups,
            pcs,
            by_addr,
            by_mac,
            by_hostname,
            unknown_group: None,
        }
    }

    /// The group a device at `addr` starts from: a listed PC's own (`None`: `default`),
    /// else the policy's group for devices it does not list.
    pub(super) fn start_group(&self, addr: IpAddr) -> Option<usize> {
        match self.pc_at(addr) {
            Some(i) => self.pcs[i].group,
            None => self.unlisted_group_at(addr),
        }
    }

    /// `unlisted_group` of the device at `addr` (all its addresses, `bindings`).
    pub fn unlisted_group_at(&self, addr: IpAddr) -> Option<usize> {
        if !self.has_networks() {
            return self.unknown_group;
        }
        self.unlisted_group(&super::bindings::device_addrs(addr))
    }

    /// The group of a device the policy does not list, with these addresses: the group
    /// of the most specific of the groups' `networks` one of them is in, else the
    /// `unknown_devices` group.
    pub fn unlisted_group(&self, addrs: &[IpAddr]) -> Option<usize> {
        if !self.has_networks() {
            return self.unknown_group;
        }
        let nets = self
            .groups
            .iter()
            .enumerate()
            .flat_map(|(gi, g)| g.networks.iter().map(move |n| (*n, gi)));
        crate::datapath::most_specific(nets, addrs).or(self.unknown_group)
    }

    /// The same as a datapath group id (0 `default`, else 1 + the group's index).
    pub fn unlisted_datapath_group(&self, addrs: &[IpAddr]) -> u8 {
        self.unlisted_group(addrs).map_or(0, |g| g as u8 + 1)
    }

    /// Whether any group names `networks`.
    pub fn has_networks(&self) -> bool {
        self.groups.iter().any(|g| !g.networks.is_empty())
    }

    /// The name of a datapath group id (`datapath_plan`: 0 is `default`, else 1 + the
    /// group's index); `None` for an id this policy has no group for.
    pub fn datapath_group_name(&self, id: u8) -> Option<&str> {
        match id {
            0 => Some(DEFAULT_GROUP),
            n => self.groups.get(n as usize - 1).map(|g| g.name.as_str()),
        }
    }

    /// The name of the group devices the policy does not list fall into.
    pub fn unknown_group_name(&self) -> &str {
        self.unknown_group
            .map_or(DEFAULT_GROUP, |g| self.groups[g].name.as_str())
    }

    /// The PC that owns `addr`, by index: the PC that lists the address, else the PC
    /// whose MAC the datapath saw the address with (`bindings`).
    pub fn pc_at(&self, addr: IpAddr) -> Option<usize> {
        if let Some(i) = self.by_addr.get(&addr) {
            return Some(*i);
        }
        if self.by_mac.is_empty() && self.by_hostname.is_empty() {
            return None;
        }
        super::bindings::mac_of(addr).and_then(|m| self.pc_with_mac(&m))
    }

    /// The PC a MAC names, by index: the PC listing it, else the PC listing the host name
    /// its DHCP lease gave.
    pub fn pc_with_mac(&self, mac: &[u8; 6]) -> Option<usize> {
        if let Some(i) = self.by_mac.get(mac) {
            return Some(*i);
        }
        if self.by_hostname.is_empty() {
            return None;
        }
        super::bindings::hostname_of(mac).and_then(|h| self.by_hostname.get(&h).copied())
    }

    /// A PC's MACs: those it lists and those leased under its host name.
    pub fn macs_of(&self, pc: usize) -> Vec<[u8; 6]> {
        let p = &self.pcs[pc];
        let mut macs = p.macs.clone();
        if let Some(h) = &p.hostname {
            for m in super::bindings::macs_named(h) {
                if !macs.contains(&m) {
                    macs.push(m);
                }
            }
        }
        macs
    }

    /// Whether safe search is enforced for the PC at `addr`: its group's setting, else the
    /// nearest ancestor's; off for `default` and when nobody says.
    pub fn safe_search(&self, addr: IpAddr) -> bool {
        self.inherited(self.start_group(addr), |g| g.safe_search)
    }

    /// Whether group `gi` blocks QUIC: its setting, else the nearest ancestor's; off when
    /// nobody says.
    pub fn block_quic(&self, gi: usize) -> bool {
        self.inherited(Some(gi), |g| g.block_quic)
    }

    /// A group's on/off setting, else its nearest ancestor's; off when nobody says.
    fn inherited(&self, mut g: Option<usize>, setting: impl Fn(&Group) -> Option<bool>) -> bool {
        let mut hops = 0;
        while let Some(gi) = g {
            if let Some(on) = setting(&self.groups[gi]) {
                return on;
            }
            g = self.groups[gi].parent;
            hops += 1;
            if hops > self.groups.len() {
                break;
            }
        }
        false
    }

    /// Names of every list and category marked `resolve`.
    pub fn names_to_resolve(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .lists
            .iter()
            .chain(&self.categories)
            .flat_map(|l| l.resolve_names.iter().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// A PC by name or by one of its addresses.
    pub fn find_pc(&self, who: &str) -> Option<&Pc> {
        match who.parse::<IpAddr>() {
            Ok(a) => self.pc_at(a).map(|i| &self.pcs[i]),
            Err(_) => self.pcs.iter().find(|p| p.name == who),
        }
    }

    pub fn pcs(&self) -> &[Pc] {
        &self.pcs
    }

    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// A rule's identity for edits: a hash of what it says, not of where it stands, so
    /// a removal made from a listing takes the rule that was listed even if others moved
    /// it since (16 hex digits).
    pub fn rule_id(&self, r: &Rule) -> String {
        let refs: Vec<&str> = r
            .refs
            .iter()
            .map(|&(category, i)| {
                if category {
                    self.categories[i].name.as_str()
                } else {
                    self.lists[i].name.as_str()
                }
            })
            .collect();
        let addresses: Vec<String> = r
            .addresses
            .iter()
            .map(|(a, l)| format!("{a}/{l}"))
            .collect();
        let text = format!(
            "{:?}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{:?}",
            r.action,
            refs.join("\u{1e}"),
            r.domain_names.join("\u{1e}"),
            addresses.join("\u{1e}"),
            r.schedule.map_or("", |s| self.schedules[s].name.as_str()),
            r.mode,
        );
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
    }

    /// This policy's identity: unique per load in this process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The manual block in force for PC number `pc` at `at`, if any.
    pub fn manual_block(&self, pc: usize, at: Timestamp) -> Option<&ManualBlock> {
        let group = self.pcs.get(pc)?.group;
        self.blocks
            .iter()
            .filter(|b| b.active(at))
            .find(|b| match b.target {
                BlockTarget::Pc(i) => i == pc,
                BlockTarget::Group(g) => self.in_group(group, g),
            })
    }

    /// The timed exception that lets PC number `pc` reach `name` (normalised) at `at`, and
    /// the listed name that matched.
    pub fn exception_for(
        &self,
        pc: usize,
        name: &str,
        at: Timestamp,
    ) -> Option<(&Exception, String)> {
        let group = self.pcs.get(pc)?.group;
        self.exceptions
            .iter()
            .filter(|e| at < e.until)
            .filter(|e| match e.target {
                BlockTarget::Pc(i) => i == pc,
                BlockTarget::Group(g) => self.in_group(group, g),
            })
            .find_map(|e| {
                let s = e.domains.matching_suffix(name.as_bytes())?;
                Some((e, String::from_utf8_lossy(s).into_owned()))
            })
    }

    /// The names the policy's lists hold and the bytes their sets take (each list file
    /// once, however many lists and categories share it; rules' own names too): the
    /// memory per blocked name, measured rather than guessed from RSS.
    pub fn name_sets(&self) -> (usize, usize) {
        let mut seen = std::collections::HashSet::new();
        let (mut names, mut bytes) = (0, 0);
        for l in self.lists.iter().chain(&self.categories) {
            for (_, c) in &l.files {
                if seen.insert(std::sync::Arc::as_ptr(c)) {
                    for set in [&c.block.names, &c.allow.names] {
                        names += set.len();
                        bytes += set.heap_bytes();
                    }
                }
            }
        }
        for set in self
            .groups
            .iter()
            .flat_map(|g| g.rules.iter().map(|r| &r.domains))
            .chain(self.exceptions.iter().map(|e| &e.domains))
        {
            names += set.len();
            bytes += set.heap_bytes();
        }
        (names, bytes)
    }

    pub fn lists(&self) -> &[NamedList] {
        &self.lists
    }

    pub fn categories(&self) -> &[NamedList] {
        &self.categories
    }

    pub fn schedules(&self) -> &[Schedule] {
        &self.schedules
    }

    pub fn blocks(&self) -> &[ManualBlock] {
        &self.blocks
    }

    pub fn limits(&self) -> &[Limit] {
        &self.limits
    }

    /// Every timed exception, expired ones included (until they are cleaned up).
    pub fn exceptions(&self) -> &[Exception] {
        &self.exceptions
    }

    /// The index of a PC found by `find_pc`.
    pub fn pc_index(&self, pc: &Pc) -> Option<usize> {
        self.pcs.iter().position(|p| std::ptr::eq(p, pc))
    }

    /// Whether group `g` is `start` or one of its ancestors.
    pub(super) fn in_group(&self, start: Option<usize>, g: usize) -> bool {
        let mut at = start;
        let mut steps = 0;
        while let Some(i) = at {
            if i == g {
                return true;
            }
            at = self.groups[i].parent;
            steps += 1;
            if steps > self.groups.len() {
                return false;
            }
        }
        false
    }
}
