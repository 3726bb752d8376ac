//! Evaluating the policy for one PC, one name, one moment.
//!
//! Order (documented for users in policies/README.md): start at the PC's group and walk
//! up to the root. At each group, an active `allow` rule that matches allows; otherwise an
//! active `block` rule that matches blocks; otherwise ask the parent. So a department's
//! rules come before its parent's — it can relax (allow) or tighten (block) them — and
//! within one group an exception always wins over a block. No rule matching anywhere
//! allows.

use std::{net::IpAddr, path::PathBuf};

use jiff::Timestamp;

use super::{
    compiled::{BlockTarget, DEFAULT_GROUP, NamedList, Pc, Policy, Rule},
    model::{Action, BlockMode},
};
use crate::lists::parse_line;

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
    /// The decision for a PC at `addr` asking for `name` at `at`.
    /// `name` may carry upper case and a trailing dot; it is normalised here.
    pub fn evaluate(&self, addr: IpAddr, name: &str, at: Timestamp) -> Decision {
        let pc = self.pc_at(addr).map(|i| &self.pcs[i]);
        self.evaluate_from(self.start_group(addr), pc, name, at)
    }

    /// `evaluate` for a PC of the policy (`None`: an unlisted device in no network).
    pub fn evaluate_for(&self, pc: Option<&Pc>, name: &str, at: Timestamp) -> Decision {
        let start = match pc {
            Some(p) => p.group,
            None => self.unknown_group,
        };
        self.evaluate_from(start, pc, name, at)
    }

    fn evaluate_from(
        &self,
        start: Option<usize>,
        pc: Option<&Pc>,
        name: &str,
        at: Timestamp,
    ) -> Decision {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let now = at.to_zoned_datetime(self.tz.clone());
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
        let pc = self.pc_at(addr);
        if !self.exceptions.is_empty()
            && pc.is_some_and(|i| self.exception_for(i, name, at).is_some())
        {
            return (Verdict::Allowed, false);
        }
        let start = match pc {
            Some(i) => self.pcs[i].group,
            None => self.unlisted_group_at(addr),
        };
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
        let group = match self.start_group(addr) {
            None => 0,
            Some(g) if g < 0xffff => g as u64 + 1,
            Some(_) => return None,
        };
        // Ids count up from 1 per load: far below 2^48.
        Some(self.id << 16 | group)
    }

    /// The rule that decides `name` (normalised) for a PC of group `start` at `now`: the
    /// group's active allow rules, then its active block rules, then its parent's.
    pub(super) fn first_match(
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
