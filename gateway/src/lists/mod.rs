//! Blocklists: parsing list files in the formats Pi-hole, AdGuard Home, dnsmasq, Unbound and
//! DNSCrypt users share, and matching names against them in little memory.
//!
//! Owns: line syntax, name normalisation, the compact name set, regex rules.
//! Must not: decide who a list applies to or when (that is the policy engine's job), or
//! fetch anything (downloads are separate, so a failed download never touches parsing).
//!
//! Semantics (documented for users in policies/README.md): every name rule blocks the name
//! **and its subdomains**, whatever the format it came in — `example.com`,
//! `0.0.0.0 example.com`, `||example.com^`, `*.example.com`, `local=/example.com/` and
//! `local-zone: "example.com." …` are the same rule. So the same list published in
//! several formats gives the same verdicts. `@@` rules are exceptions, which win over
//! blocks. `/regex/` and AdBlock patterns with `*` are matched as regular expressions.

mod parse;
mod set;

pub use parse::{LineError, ListStats, Rule, parse_list};
pub use set::{DomainSet, name_hash};

/// A list loaded for matching: exact-suffix names in a compact set, patterns as regexes.
pub struct CompiledList {
    pub names: DomainSet,
    pub patterns: Option<regex::RegexSet>,
    pub stats: ListStats,
}

/// Parses `text` and keeps its blocking rules (or, with `allow`, its `@@` exceptions).
/// A line that can't be parsed is counted and reported in `stats.errors`, never fatal.
pub fn compile(text: &str, allow: bool) -> CompiledList {
    let mut names = DomainSet::with_capacity(text.len() / 24);
    let mut patterns = Vec::new();
    let stats = parse_list(text, |_, is_allow, rule| {
        if is_allow != allow {
            return;
        }
        match rule {
            Rule::Name(n) => names.insert(n.as_bytes()),
            Rule::Regex(r) => patterns.push(r),
        }
    });
    // A pattern that parsed but the regex engine refuses was already counted as accepted;
    // RegexSet::new fails as a whole, so build it from the ones that compile alone.
    let patterns: Vec<String> = patterns
        .into_iter()
        .filter(|p| regex::Regex::new(p).is_ok())
        .collect();
    let patterns = if patterns.is_empty() {
        None
    } else {
        regex::RegexSet::new(&patterns).ok()
    };
    CompiledList {
        names,
        patterns,
        stats,
    }
}

impl CompiledList {
    /// Whether `name` (lower-case, no trailing dot) or one of its parent domains is listed,
    /// or a pattern matches it.
    pub fn matches(&self, name: &str) -> bool {
        self.names.contains_name_or_parent(name.as_bytes())
            || self.patterns.as_ref().is_some_and(|p| p.is_match(name))
    }
}
