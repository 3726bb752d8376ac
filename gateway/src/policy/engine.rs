//! Evaluating the policy for one PC, one name, one moment.
//!
//! Order (documented for users in policies/README.md): start at the PC's group and walk
//! up to the root. At each group, an active `allow` rule that matches allows; otherwise an
//! active `block` rule that matches blocks; otherwise ask the parent. So a department's
//! rules come before its parent's — it can relax (allow) or tighten (block) them — and
//! within one group an exception always wins over a block. No rule matching anywhere
//! allows.

use std::{collections::HashMap, net::IpAddr, path::PathBuf};

use jiff::{Timestamp, tz::TimeZone};

use super::{
    model::{Action, BlockMode},
    schedule::Schedule,
};
use crate::lists::{CompiledList, DomainSet, parse_line};

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
}

/// Name verdicts per group remembered between plans (see `Policy::datapath_plan`).
#[derive(Default)]
pub struct PlanMemo {
    key: Option<(u64, u128)>,
    verdicts: HashMap<(usize, std::sync::Arc<str>), bool>,
}

pub struct Pc {
    pub name: String,
    pub addresses: Vec<IpAddr>,
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
    id: u64,
    tz: TimeZone,
    blocks: Vec<ManualBlock>,
    exceptions: Vec<Exception>,
    limits: Vec<Limit>,
    lists: Vec<NamedList>,
    categories: Vec<NamedList>,
    schedules: Vec<Schedule>,
    groups: Vec<Group>,
    pcs: Vec<Pc>,
    by_addr: HashMap<IpAddr, usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Blocked(BlockMode),
}

/// What matched, for people: which rule of which group, and through what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matched {
    /// The rule's own `domains` entry.
    Domain(String),
    /// A list or category file; `line` is the first line of the file that lists the name
    /// (or a pattern matching it), found by reading the file again.
    List {
        category: bool,
        name: String,
        description: String,
        file: PathBuf,
        line: Option<usize>,
    },
    /// A timed exception (`[[exceptions]]`) for this name, until `until`.
    Exception {
        domain: String,
        until: Timestamp,
        granted_by: String,
    },
}

/// How a rule matched, borrowed from the policy (`Matched` is its owned copy).
enum Hit<'a> {
    Domain(&'a [u8]),
    List {
        category: bool,
        list: &'a NamedList,
        file: &'a PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// The PC as the policy knows it (`None`: unlisted address).
    pub pc: Option<String>,
    pub group: String,
    /// `None` when no rule matched.
    pub rule: Option<RuleRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub group: String,
    pub line: usize,
    pub action: Action,
    pub schedule: Option<String>,
    pub matched: Matched,
}

impl RuleRef {
    /// One line for logs and the query log: `block in staff (line 12) by list ads`.
    pub fn summary(&self) -> String {
        let action = match self.action {
            Action::Allow => "allow",
            Action::Block => "block",
        };
        let when = self
            .schedule
            .as_ref()
            .map(|s| format!(" during {s}"))
            .unwrap_or_default();
        let what = match &self.matched {
            Matched::Domain(n) => format!("domain {n}"),
            Matched::List { category, name, .. } => {
                format!("{} {name}", if *category { "category" } else { "list" })
            }
            Matched::Exception { domain, until, .. } => {
                format!("exception for {domain} until {until}")
            }
        };
        format!(
            "{action}{when} in {} (line {}) by {what}",
            self.group, self.line
        )
    }
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
        for (i, pc) in pcs.iter().enumerate() {
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
        }
    }

    /// The PC that owns `addr`, by index.
    pub fn pc_at(&self, addr: IpAddr) -> Option<usize> {
        self.by_addr.get(&addr).copied()
    }

    /// PCs over a traffic limit given each PC's `usage` (by PC index), with why.
    pub fn over_limits(&self, usage: &dyn Fn(usize) -> PcUsage) -> HashMap<usize, String> {
        use super::model::Period;
        let mut over = HashMap::new();
        for l in &self.limits {
            let members: Vec<usize> = match l.target {
                LimitTarget::Pc(i) => vec![i],
                LimitTarget::Group(g) => (0..self.pcs.len())
                    .filter(|i| self.in_group(self.pcs[*i].group, g))
                    .collect(),
                LimitTarget::Company => (0..self.pcs.len()).collect(),
            };
            let used: u64 = members
                .iter()
                .map(|i| match l.per {
                    Period::Day => usage(*i).day,
                    Period::Month => usage(*i).month,
                })
                .sum();
            if used < l.bytes {
                continue;
            }
            let who = match l.target {
                LimitTarget::Pc(i) => format!("PC {}", self.pcs[i].name),
                LimitTarget::Group(g) => format!("group {}", self.groups[g].name),
                LimitTarget::Company => "the company".to_string(),
            };
            let per = match l.per {
                Period::Day => "day",
                Period::Month => "month",
            };
            for i in members {
                over.entry(i).or_insert_with(|| {
                    format!(
                        "{who} used {used} of its {} bytes this {per} (office.toml line {})",
                        l.bytes, l.line
                    )
                });
            }
        }
        over
    }

    /// Whether safe search is enforced for the PC at `addr`: its group's setting, else the
    /// nearest ancestor's; off for `default` and when nobody says.
    pub fn safe_search(&self, addr: IpAddr) -> bool {
        let mut g = self.by_addr.get(&addr).and_then(|i| self.pcs[*i].group);
        let mut hops = 0;
        while let Some(gi) = g {
            if let Some(on) = self.groups[gi].safe_search {
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
            Ok(a) => self.by_addr.get(&a).map(|i| &self.pcs[*i]),
            Err(_) => self.pcs.iter().find(|p| p.name == who),
        }
    }

    pub fn pcs(&self) -> &[Pc] {
        &self.pcs
    }

    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The decision for a PC at `addr` asking for `name` at `at`.
    /// `name` may carry upper case and a trailing dot; it is normalised here.
    pub fn evaluate(&self, addr: IpAddr, name: &str, at: Timestamp) -> Decision {
        let pc = self.by_addr.get(&addr).map(|i| &self.pcs[*i]);
        self.evaluate_for(pc, name, at)
    }

    pub fn evaluate_for(&self, pc: Option<&Pc>, name: &str, at: Timestamp) -> Decision {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let now = at.to_zoned_datetime(self.tz.clone());
        let start = pc.and_then(|p| p.group);
        let group_name = start
            .map(|g| self.groups[g].name.clone())
            .unwrap_or_else(|| DEFAULT_GROUP.into());
        // (`pc_index` walks the PC list: only worth it when there are exceptions.)
        let excepted = pc
            .filter(|_| !self.exceptions.is_empty())
            .and_then(|p| self.pc_index(p))
            .and_then(|i| self.exception_for(i, &name, at));
        if let Some((e, suffix)) = excepted {
            return Decision {
                verdict: Verdict::Allowed,
                pc: pc.map(|p| p.name.clone()),
                group: group_name,
                rule: Some(RuleRef {
                    group: match e.target {
                        BlockTarget::Pc(_) => "exception".into(),
                        BlockTarget::Group(g) => self.groups[g].name.clone(),
                    },
                    line: e.line,
                    action: Action::Allow,
                    schedule: None,
                    matched: Matched::Exception {
                        domain: suffix,
                        until: e.until,
                        granted_by: e.granted_by.clone(),
                    },
                }),
            };
        }
        let (verdict, rule) = match self.first_match(start, &name, &now) {
            Some((gi, r, matched)) => {
                let verdict = match r.action {
                    Action::Allow => Verdict::Allowed,
                    Action::Block => Verdict::Blocked(r.mode),
                };
                let rule = RuleRef {
                    group: self.groups[gi].name.clone(),
                    line: r.line,
                    action: r.action,
                    schedule: r.schedule.map(|s| self.schedules[s].name.clone()),
                    matched,
                };
                (verdict, Some(rule))
            }
            None => (Verdict::Allowed, None),
        };
        Decision {
            verdict,
            pc: pc.map(|p| p.name.clone()),
            group: group_name,
            rule,
        }
    }

    /// This policy's identity: unique per load in this process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The verdict alone for a PC at `addr` asking for `name` (lower case, no trailing
    /// dot) at `at`: what `evaluate` decides, without building the decision's names and
    /// strings. The DNS fast path asks this for every query and `evaluate` only for the
    /// query log's first record of a repeat.
    pub fn verdict(&self, addr: IpAddr, name: &str, at: Timestamp) -> Verdict {
        self.verdict_memo(addr, name, at).0
    }

    /// `verdict`, and whether it may be remembered for every PC of the same
    /// `rules_class`: true when the rules alone allow the name and no rule on a schedule
    /// was met on the way (so the time can't change it). An exception's allowance is
    /// never remembered: it is one PC's, and it ends.
    pub fn verdict_memo(&self, addr: IpAddr, name: &str, at: Timestamp) -> (Verdict, bool) {
        let pc = self.by_addr.get(&addr).copied();
        if !self.exceptions.is_empty()
            && pc.is_some_and(|i| self.exception_for(i, name, at).is_some())
        {
            return (Verdict::Allowed, false);
        }
        let start = pc.and_then(|i| self.pcs[i].group);
        let mut timed = false;
        let rule = self.first_rule(start, name, || {
            timed = true;
            at.to_zoned_datetime(self.tz.clone())
        });
        match rule {
            Some((_, r)) if r.action == Action::Block => (Verdict::Blocked(r.mode), false),
            _ => (Verdict::Allowed, !timed),
        }
    }

    /// Which PCs share their rules under this policy: the policy's identity and the
    /// group a PC at `addr` starts from. Never 0 (the memo's "unknown"); `None` past
    /// 65,534 groups.
    pub fn rules_class(&self, addr: IpAddr) -> Option<u64> {
        let group = match self.by_addr.get(&addr).and_then(|&i| self.pcs[i].group) {
            None => 0,
            Some(g) if g < 0xffff => g as u64 + 1,
            Some(_) => return None,
        };
        // Ids count up from 1 per load: far below 2^48.
        Some(self.id << 16 | group)
    }

    /// The rule that decides `name` (normalised) for a PC of group `start` at `now`: the
    /// group's active allow rules, then its active block rules, then its parent's.
    fn first_match(
        &self,
        start: Option<usize>,
        name: &str,
        now: &jiff::ZonedDateTime,
    ) -> Option<(usize, &Rule, Matched)> {
        let (gi, r) = self.first_rule(start, name, || now.clone())?;
        Some((gi, r, self.rule_matches(r, name)?))
    }

    /// `first_match` without saying how the rule matched; `now` is only worked out if a
    /// rule on a schedule is met (a time-zone conversion per query otherwise).
    fn first_rule(
        &self,
        start: Option<usize>,
        name: &str,
        now: impl FnOnce() -> jiff::ZonedDateTime,
    ) -> Option<(usize, &Rule)> {
        let mut now = Some(now);
        let mut zoned: Option<jiff::ZonedDateTime> = None;
        let mut at_group = start;
        while let Some(gi) = at_group {
            let g = &self.groups[gi];
            for wanted in [Action::Allow, Action::Block] {
                for r in g.rules.iter().filter(|r| r.action == wanted) {
                    if let Some(s) = r.schedule {
                        if zoned.is_none() {
                            zoned = now.take().map(|f| f());
                        }
                        if !zoned.as_ref().is_some_and(|z| self.schedules[s].is_on(z)) {
                            continue;
                        }
                    }
                    if self.rule_hits(r, name) {
                        return Some((gi, r));
                    }
                }
            }
            at_group = g.parent;
        }
        None
    }

    /// Whether rule `r` matches `name` (as `rule_matches`, without copying how).
    fn rule_hits(&self, r: &Rule, name: &str) -> bool {
        self.rule_hit(r, name).is_some()
    }

    /// Which schedules are on at `now`, as a bit set: with the policy itself, all that a
    /// group's verdict on a name depends on.
    pub fn schedule_mask(&self, now: &jiff::ZonedDateTime) -> u128 {
        self.schedules
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_on(now))
            .fold(0u128, |m, (i, _)| m | (1u128 << (i % 128)))
    }

    fn rule_matches(&self, r: &Rule, name: &str) -> Option<Matched> {
        Some(match self.rule_hit(r, name)? {
            Hit::Domain(suffix) => Matched::Domain(String::from_utf8_lossy(suffix).into_owned()),
            Hit::List {
                category,
                list,
                file,
            } => Matched::List {
                category,
                name: list.name.clone(),
                description: list.description.clone(),
                file: file.clone(),
                line: None,
            },
        })
    }

    /// Where rule `r` matches `name`, borrowed.
    fn rule_hit<'a>(&'a self, r: &'a Rule, name: &'a str) -> Option<Hit<'a>> {
        if let Some(suffix) = r.domains.matching_suffix(name.as_bytes()) {
            return Some(Hit::Domain(suffix));
        }
        for &(category, i) in &r.refs {
            let list = if category {
                &self.categories[i]
            } else {
                &self.lists[i]
            };
            // An allow rule uses the list's names as exceptions; a block rule honours the
            // list's own `@@` exceptions.
            for (file, compiled) in &list.files {
                let hit = match r.action {
                    Action::Allow => compiled.block.matches(name),
                    Action::Block => compiled.matches(name),
                };
                if hit {
                    return Some(Hit::List {
                        category,
                        list,
                        file,
                    });
                }
            }
        }
        None
    }

    /// What the datapath must hold at `at`: per group, the addresses its active rules block
    /// (a group's own rules after its ancestors', so a child's `allow` lifts a parent's
    /// block), the addresses recently `answered` for names the group's policy blocks now
    /// (unless one of them also served a name it allows), and per PC address its group and
    /// whether a manual block applies. Datapath group ids are 1 + the group's index; 0 is
    /// `default`. `memo` keeps name verdicts between calls while the policy and the set of
    /// active schedules stay the same, so each answered name is judged once per change.
    pub fn datapath_plan(
        &self,
        at: Timestamp,
        answered: &[(std::sync::Arc<str>, std::sync::Arc<[IpAddr]>)],
        memo: &mut PlanMemo,
        over_quota: &dyn Fn(usize) -> bool,
    ) -> crate::datapath::Plan {
        use gateway_common::{PcState, group_bit};
        let now = at.to_zoned_datetime(self.tz.clone());
        let mut plan = crate::datapath::Plan::default();
        let memo_key = (self.id, self.schedule_mask(&now));
        if memo.key != Some(memo_key) {
            memo.key = Some(memo_key);
            memo.verdicts.clear();
        }
        for (gi, _) in self.groups.iter().enumerate() {
            let mut chain = vec![gi];
            while let Some(p) = self.groups[*chain.last().unwrap_or(&gi)].parent {
                if chain.contains(&p) {
                    break; // cycles are refused at load; never loop regardless
                }
                chain.push(p);
            }
            let mut set = std::collections::BTreeSet::new();
            for g in chain.iter().rev() {
                for r in &self.groups[*g].rules {
                    if r.schedule.is_some_and(|s| !self.schedules[s].is_on(&now)) {
                        continue;
                    }
                    for a in &r.addresses {
                        match r.action {
                            Action::Block => set.insert(*a),
                            Action::Allow => set.remove(a),
                        };
                    }
                }
            }
            // Timed exceptions reaching a PC of this group: the addresses of their names
            // stay open for the whole group (the sets are per group; the DNS filter still
            // refuses the name to the group's other PCs).
            let excepted: Vec<&Exception> = self
                .exceptions
                .iter()
                .filter(|e| at < e.until)
                .filter(|e| match e.target {
                    BlockTarget::Pc(i) => self.pcs[i].group == Some(gi),
                    BlockTarget::Group(g) => self.in_group(Some(gi), g),
                })
                .collect();
            // Addresses answered for names this group may not reach now, minus those
            // that also serve a name it may (a shared CDN address stays reachable).
            let mut blocked_answers = std::collections::BTreeSet::new();
            let mut allowed_answers = std::collections::HashSet::new();
            for (name, addrs) in answered {
                let blocks = *memo.verdicts.entry((gi, name.clone())).or_insert_with(|| {
                    self.first_match(Some(gi), name, &now)
                        .is_some_and(|(_, r, _)| r.action == Action::Block)
                }) && !excepted
                    .iter()
                    .any(|e| e.domains.matching_suffix(name.as_bytes()).is_some());
                for a in addrs.iter() {
                    if blocks {
                        blocked_answers.insert(*a);
                    } else {
                        allowed_answers.insert(*a);
                    }
                }
            }
            for a in blocked_answers {
                if !allowed_answers.contains(&a) {
                    let prefix = if a.is_ipv4() { 32 } else { 128 };
                    set.insert((a, prefix));
                }
            }
            let Ok(id) = u8::try_from(gi + 1) else {
                continue;
            };
            for a in set {
                *plan.blocked.entry(a).or_insert(0) |= group_bit(id);
            }
        }
        for (pi, pc) in self.pcs.iter().enumerate() {
            let group = pc
                .group
                .and_then(|g| u8::try_from(g + 1).ok())
                .unwrap_or(gateway_common::DEFAULT_GROUP);
            let state = if self.manual_block(pi, at).is_some() {
                PcState::Blocked
            } else if over_quota(pi) {
                PcState::OverQuota
            } else {
                PcState::Allowed
            };
            for a in &pc.addresses {
                plan.pcs.insert(*a, (group, state));
            }
        }
        plan
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
    fn in_group(&self, start: Option<usize>, g: usize) -> bool {
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

    /// Like `evaluate_for`, and finds the line of the list file that matched. Reads the
    /// file again: explanations are rare, keeping every line's number in memory is not.
    pub fn explain(&self, pc: Option<&Pc>, name: &str, at: Timestamp) -> Decision {
        let mut d = self.evaluate_for(pc, name, at);
        if let Some(RuleRef {
            matched: Matched::List { file, line, .. },
            ..
        }) = &mut d.rule
        {
            *line = find_line(file, &name.trim_end_matches('.').to_ascii_lowercase());
        }
        d
    }
}

/// The first line of `file` whose rule covers `name`.
fn find_line(file: &std::path::Path, name: &str) -> Option<usize> {
    let text = std::fs::read_to_string(file).ok()?;
    for (i, line) in text.lines().enumerate() {
        let mut hit = false;
        let _ = parse_line(line, |_, rule| {
            hit |= match rule {
                crate::lists::Rule::Name(n) => name == n || name.ends_with(&format!(".{n}")),
                crate::lists::Rule::Regex(re) => {
                    regex::Regex::new(&re).is_ok_and(|r| r.is_match(name))
                }
            }
        });
        if hit {
            return Some(i + 1);
        }
    }
    None
}
