//! Blocklists: parsing list files in the formats Pi-hole, AdGuard Home, dnsmasq, Unbound and
//! DNSCrypt users share, matching names against them in little memory, and keeping them
//! (compiled files between loads, downloaded copies of URL lists fresh).
//!
//! Pieces, kept apart as blocky keeps its `lists/{downloader,parsers,list_cache}`:
//! - `parse.rs` reads one line in any format; `set.rs` is the compact name set; here,
//!   `compile` turns a file into a `Matcher` for its rules and one for its `@@`
//!   exceptions;
//! - `cache.rs`: compiled files reused while unchanged (`ListCache`), and where a URL's
//!   downloaded copy lives (`url_copy`);
//! - `fetch.rs` downloads one URL into its copy; `refresh.rs` is the daemon's task that
//!   keeps every copy fresh (`keep_fresh`), with the strategy for failed downloads.
//!
//! Owns: line syntax, name normalisation, the compact name set, regex rules, the life of a
//! list file (download, cache, refresh).
//! Must not: decide who a list applies to or when (that is the policy engine's job), nor
//! reload the policy (a fresh copy is noticed by the daemon's file watch). Parsing never
//! fetches anything, so a failed download never touches parsing.
//!
//! Semantics (documented for users in policies/README.md): every name rule blocks the name
//! **and its subdomains**, whatever the format it came in — `example.com`,
//! `0.0.0.0 example.com`, `||example.com^`, `*.example.com`, `local=/example.com/` and
//! `local-zone: "example.com." …` are the same rule. So the same list published in
//! several formats gives the same verdicts. `@@` rules are exceptions, which win over
//! blocks. `/regex/` and AdBlock patterns with `*` are matched as regular expressions.

mod cache;
pub mod fetch;
mod parse;
mod refresh;
mod set;

pub use cache::{ListCache, compiled, url_copy};
pub use parse::{LineError, ListStats, Rule, normalize, parse_line, parse_list};
pub use refresh::{UrlSource, keep_fresh};
pub use set::{DomainSet, name_hash};

/// Names and patterns, matched together.
#[derive(Default)]
pub struct Matcher {
    pub names: DomainSet,
    pub patterns: Option<regex::RegexSet>,
}

impl Matcher {
    /// Whether `name` (normalised: lower case, no trailing dot) or one of its parent
    /// domains is listed, or a pattern matches it.
    pub fn matches(&self, name: &str) -> bool {
        self.names.contains_name_or_parent(name.as_bytes())
            || self.patterns.as_ref().is_some_and(|p| p.is_match(name))
    }

    fn build(names: DomainSet, patterns: Vec<String>) -> Self {
        // A pattern the regex engine refuses was already reported by the parser (it
        // compiles each); RegexSet::new fails as a whole, so keep only good ones.
        let patterns: Vec<String> = patterns
            .into_iter()
            .filter(|p| regex::Regex::new(p).is_ok())
            .collect();
        let patterns = if patterns.is_empty() {
            None
        } else {
            regex::RegexSet::new(&patterns).ok()
        };
        Matcher { names, patterns }
    }
}

/// A list file loaded for matching: its rules and, apart, its `@@` exceptions.
pub struct CompiledList {
    pub block: Matcher,
    pub allow: Matcher,
    pub stats: ListStats,
}

/// Parses `text` once into its rules and its exceptions. A line that can't be parsed is
/// counted and reported in `stats.errors`, never fatal.
pub fn compile(text: &str) -> CompiledList {
    let mut names = DomainSet::with_capacity(text.len() / 24);
    let mut allow_names = DomainSet::default();
    let (mut patterns, mut allow_patterns) = (Vec::new(), Vec::new());
    let stats = parse_list(text, |_, is_allow, rule| match (is_allow, rule) {
        (false, Rule::Name(n)) => names.insert(n.as_bytes()),
        (false, Rule::Regex(r)) => patterns.push(r),
        (true, Rule::Name(n)) => allow_names.insert(n.as_bytes()),
        (true, Rule::Regex(r)) => allow_patterns.push(r),
    });
    CompiledList {
        block: Matcher::build(names, patterns),
        allow: Matcher::build(allow_names, allow_patterns),
        stats,
    }
}

impl CompiledList {
    /// Blocked by this list: listed, and not excepted by the list's own `@@` rules.
    pub fn matches(&self, name: &str) -> bool {
        self.block.matches(name) && !self.allow.matches(name)
    }
}
