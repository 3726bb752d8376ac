//! Reading a policy directory: parse `office.toml`, check every cross-reference, load the
//! list files it names. All errors are collected (not just the first) and carry the file
//! and line they are about, so `officegate check` can print them as `file:line: message`.

use std::sync::Arc;

use crate::lists::CompiledList;
use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
};

use toml::Spanned;

use super::{
    POLICY_FILE,
    engine::{
        BlockTarget, Exception, Group, Limit, LimitTarget, ManualBlock, NamedList, Pc, Policy, Rule,
    },
    model::{ListDef, PolicyFile},
    schedule::{Schedule, parse_day, parse_hhmm},
};
use crate::{
    config::line_at,
    lists::{self, DomainSet, ListStats},
};

/// One problem, at a place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
pub struct PolicyError {
    pub file: PathBuf,
    /// 1-based; 0 when the whole file is meant.
    pub line: usize,
    pub message: String,
}

/// All errors as one text, a `file:line: message` per line.
pub fn render(errors: &[PolicyError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// What loading found besides errors: each list file with its line counts.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub files: Vec<(PathBuf, ListStats)>,
    /// Lists fetched from URLs: what the daemon must keep downloaded.
    pub urls: Vec<UrlSource>,
}

/// A list file that comes from a URL, and where its downloaded copy lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlSource {
    pub list: String,
    pub url: String,
    pub copy: PathBuf,
    pub refresh: std::time::Duration,
}

/// The downloaded copy of `url` in `cache`.
pub fn url_copy(cache: &Path, url: &str) -> PathBuf {
    cache.join(format!(
        "{:016x}.txt",
        xxhash_rust::xxh3::xxh3_64(url.as_bytes())
    ))
}

/// Compiled list files kept between loads: a file whose size and modification time did
/// not change is not parsed again, so a one-line policy change applies in milliseconds
/// instead of re-reading a million names. The daemon keeps one; `check` needs none.
#[derive(Default)]
pub struct ListCache {
    #[allow(clippy::type_complexity)]
    files: std::sync::Mutex<
        std::collections::HashMap<PathBuf, (std::time::SystemTime, u64, Arc<CompiledList>)>,
    >,
}

impl ListCache {
    /// Forgets every file not in `keep` (lists the policy no longer names).
    pub fn retain(&self, keep: &[PathBuf]) {
        if let Ok(mut m) = self.files.lock() {
            m.retain(|p, _| keep.contains(p));
        }
    }
}

/// A list file compiled, from `cache` when it is unchanged there.
fn compiled(path: &Path, cache: Option<&ListCache>) -> std::io::Result<Arc<CompiledList>> {
    let meta = std::fs::metadata(path)?;
    let key = (meta.modified()?, meta.len());
    if let Some(c) = cache
        && let Ok(m) = c.files.lock()
        && let Some((t, len, list)) = m.get(path)
        && (*t, *len) == key
    {
        return Ok(list.clone());
    }
    let list = Arc::new(lists::compile(&std::fs::read_to_string(path)?));
    if let Some(c) = cache
        && let Ok(mut m) = c.files.lock()
    {
        m.insert(path.to_path_buf(), (key.0, key.1, list.clone()));
    }
    Ok(list)
}

struct Ctx<'a> {
    file: PathBuf,
    text: &'a str,
    errors: Vec<PolicyError>,
    compiled: Option<&'a ListCache>,
    /// Where downloaded copies of URL lists are (the daemon's storage); `None` (`check`,
    /// `explain`): URL lists load empty.
    list_cache: Option<PathBuf>,
}

impl Ctx<'_> {
    /// The line of the first non-blank character at or after `offset` (a table's span
    /// starts at the newline before its header).
    fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        let skip = self.text[offset..].len() - self.text[offset..].trim_start().len();
        line_at(self.text, offset + skip)
    }

    fn err<T>(&mut self, at: &Spanned<T>, message: impl Into<String>) {
        let line = self.line_of(at.span().start);
        self.errors.push(PolicyError {
            file: self.file.clone(),
            line,
            message: message.into(),
        });
    }
}

/// Loads `dir/office.toml` and the lists it names.
pub fn load_dir(dir: &Path) -> Result<(Policy, LoadReport), Vec<PolicyError>> {
    load_dir_with(dir, None, None)
}

/// `load_dir`, reading URL lists from their downloaded copies in `list_cache`, and
/// reusing unchanged list files compiled by an earlier load (`compiled`).
pub fn load_dir_with(
    dir: &Path,
    list_cache: Option<&Path>,
    compiled: Option<&ListCache>,
) -> Result<(Policy, LoadReport), Vec<PolicyError>> {
    let file = dir.join(POLICY_FILE);
    let text = std::fs::read_to_string(&file).map_err(|e| {
        vec![PolicyError {
            file: file.clone(),
            line: 0,
            message: format!("cannot read: {e}"),
        }]
    })?;
    load_text_with(dir, &text, list_cache, compiled)
}

/// Loads a policy whose `office.toml` text is given; list files are read from `dir`.
pub fn load_text(dir: &Path, text: &str) -> Result<(Policy, LoadReport), Vec<PolicyError>> {
    load_text_with(dir, text, None, None)
}

pub fn load_text_with(
    dir: &Path,
    text: &str,
    list_cache: Option<&Path>,
    compiled: Option<&ListCache>,
) -> Result<(Policy, LoadReport), Vec<PolicyError>> {
    let file = dir.join(POLICY_FILE);
    let parsed: PolicyFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_at(text, s.start)).unwrap_or(0);
        vec![PolicyError {
            file: file.clone(),
            line,
            message: e.message().to_string(),
        }]
    })?;
    let mut cx = Ctx {
        file,
        text,
        errors: Vec::new(),
        compiled,
        list_cache: list_cache.map(Path::to_path_buf),
    };
    let mut report = LoadReport::default();
    let policy = build(dir, parsed, &mut cx, &mut report);
    if cx.errors.is_empty() {
        Ok((policy, report))
    } else {
        Err(cx.errors)
    }
}

fn build(dir: &Path, p: PolicyFile, cx: &mut Ctx, report: &mut LoadReport) -> Policy {
    if p.version != 1 {
        cx.errors.push(PolicyError {
            file: cx.file.clone(),
            line: 1,
            message: format!("version {} is not supported (expected 1)", p.version),
        });
    }
    let tz = match jiff::tz::TimeZone::get(p.time_zone.get_ref()) {
        Ok(tz) => tz,
        Err(e) => {
            cx.err(
                &p.time_zone,
                format!("unknown time zone `{}`: {e}", p.time_zone.get_ref()),
            );
            jiff::tz::TimeZone::UTC
        }
    };
    let lists = load_lists(dir, &p.lists, cx, report);
    let categories = load_lists(dir, &p.categories, cx, report);

    let mut schedules = Vec::new();
    for (name, s) in &p.schedules {
        let mut days = [false; 7];
        for d in &s.days {
            match parse_day(d.get_ref()) {
                Some(w) => days[w.to_monday_zero_offset() as usize] = true,
                None => cx.err(
                    d,
                    format!(
                        "schedule `{name}`: `{}` is not a day (mon…sun)",
                        d.get_ref()
                    ),
                ),
            }
        }
        if s.days.is_empty() {
            cx.err(&s.from, format!("schedule `{name}` has no days"));
        }
        let from = parse_hhmm(s.from.get_ref());
        let until = parse_hhmm(s.until.get_ref());
        if from.is_none() {
            cx.err(&s.from, format!("schedule `{name}`: `from` must be HH:MM"));
        }
        if until.is_none() {
            cx.err(
                &s.until,
                format!("schedule `{name}`: `until` must be HH:MM"),
            );
        }
        if from.is_some() && from == until {
            cx.err(
                &s.until,
                format!("schedule `{name}`: `from` and `until` are equal"),
            );
        }
        schedules.push(Schedule {
            name: name.clone(),
            days,
            from: from.unwrap_or(0),
            until: until.unwrap_or(0),
        });
    }

    // Groups: names first, so parents may be declared after their children.
    let mut group_ids: HashMap<String, usize> = HashMap::new();
    for (i, g) in p.groups.iter().enumerate() {
        if g.name.get_ref() == super::engine::DEFAULT_GROUP {
            cx.err(
                &g.name,
                "`default` is the implicit group of unlisted PCs; pick another name",
            );
        } else if group_ids.insert(g.name.get_ref().clone(), i).is_some() {
            cx.err(
                &g.name,
                format!("group `{}` is defined twice", g.name.get_ref()),
            );
        }
    }
    let mut groups = Vec::new();
    for g in &p.groups {
        let parent = g.parent.as_ref().and_then(|pn| {
            let id = group_ids.get(pn.get_ref()).copied();
            if id.is_none() {
                cx.err(
                    pn,
                    format!(
                        "group `{}`: unknown parent `{}`",
                        g.name.get_ref(),
                        pn.get_ref()
                    ),
                );
            }
            id
        });
        let mut rules = Vec::new();
        for r in &g.rules {
            let line = cx.line_of(r.span().start);
            let def = r.get_ref();
            let mut refs = Vec::new();
            for l in &def.lists {
                match lists.iter().position(|x| &x.name == l.get_ref()) {
                    Some(i) => refs.push((false, i)),
                    None => cx.err(l, format!("unknown list `{}`", l.get_ref())),
                }
            }
            for c in &def.categories {
                match categories.iter().position(|x| &x.name == c.get_ref()) {
                    Some(i) => refs.push((true, i)),
                    None => cx.err(c, format!("unknown category `{}`", c.get_ref())),
                }
            }
            let mut domains = DomainSet::default();
            let mut domain_names = Vec::new();
            for d in &def.domains {
                match lists::normalize(d.get_ref()) {
                    Ok(n) => {
                        domains.insert(n.as_bytes());
                        domain_names.push(n);
                    }
                    Err(e) => cx.err(d, e.to_string()),
                }
            }
            let schedule = def.schedule.as_ref().and_then(|s| {
                let id = schedules.iter().position(|x| &x.name == s.get_ref());
                if id.is_none() {
                    cx.err(s, format!("unknown schedule `{}`", s.get_ref()));
                }
                id
            });
            let mut addresses = Vec::new();
            for a in &def.addresses {
                match crate::config::parse_net(a.get_ref()) {
                    Ok(net) => addresses.push(net),
                    Err(e) => cx.err(a, format!("address `{}`: {e}", a.get_ref())),
                }
            }
            if refs.is_empty() && domain_names.is_empty() && addresses.is_empty() {
                cx.errors.push(PolicyError {
                    file: cx.file.clone(),
                    line,
                    message: "a rule needs lists, categories, domains or addresses".into(),
                });
            }
            rules.push(Rule {
                action: def.action,
                refs,
                domains,
                domain_names,
                addresses,
                schedule,
                mode: def.mode,
                line,
            });
        }
        groups.push(Group {
            name: g.name.get_ref().clone(),
            parent,
            rules,
            safe_search: g.safe_search,
        });
    }
    check_cycles(&groups, &p, cx);

    let mut pcs = Vec::new();
    let mut names = HashSet::new();
    let mut addrs = HashMap::new();
    for pc in &p.pcs {
        if !names.insert(pc.name.get_ref().clone()) {
            cx.err(
                &pc.name,
                format!("PC `{}` is defined twice", pc.name.get_ref()),
            );
        }
        if pc.addresses.get_ref().is_empty() {
            cx.err(
                &pc.addresses,
                format!("PC `{}` has no address", pc.name.get_ref()),
            );
        }
        for a in pc.addresses.get_ref() {
            if let Some(other) = addrs.insert(*a, pc.name.get_ref().clone()) {
                cx.err(&pc.addresses, format!("address {a} is also PC `{other}`'s"));
            }
        }
        let group = pc.group.as_ref().and_then(|gn| {
            let id = group_ids.get(gn.get_ref()).copied();
            if id.is_none() {
                cx.err(
                    gn,
                    format!(
                        "PC `{}`: unknown group `{}`",
                        pc.name.get_ref(),
                        gn.get_ref()
                    ),
                );
            }
            id
        });
        pcs.push(Pc {
            name: pc.name.get_ref().clone(),
            addresses: pc.addresses.get_ref().clone(),
            group,
        });
    }
    let mut blocks = Vec::new();
    for b in &p.blocks {
        let target = match named_target(cx, &pcs, &group_ids, &b.pc, &b.group, "block") {
            Ok(Some(t)) => Some(t),
            Ok(None) => {
                cx.errors.push(PolicyError {
                    file: cx.file.clone(),
                    line: 0,
                    message: "a [[blocks]] entry names neither `pc` nor `group`".into(),
                });
                None
            }
            Err(()) => None,
        };
        let mut time = |t: &Option<Spanned<String>>| {
            t.as_ref()
                .and_then(|t| match super::parse_time(t.get_ref(), &tz) {
                    Ok(ts) => Some(ts),
                    Err(e) => {
                        cx.err(t, e);
                        None
                    }
                })
        };
        let (from, until) = (time(&b.from), time(&b.until));
        if let Some(target) = target {
            blocks.push(ManualBlock {
                target,
                from,
                until,
                reason: b.reason.clone(),
            });
        }
    }
    let mut limits = Vec::new();
    for l in &p.limits {
        let line = cx.line_of(l.span().start);
        let l = l.get_ref();
        let target = match (&l.pc, &l.group, l.company) {
            (Some(pc), None, false) => match pcs.iter().position(|x| &x.name == pc.get_ref()) {
                Some(i) => Some(LimitTarget::Pc(i)),
                None => {
                    cx.err(pc, format!("limit: unknown PC `{}`", pc.get_ref()));
                    None
                }
            },
            (None, Some(g), false) => match group_ids.get(g.get_ref()) {
                Some(i) => Some(LimitTarget::Group(*i)),
                None => {
                    cx.err(g, format!("limit: unknown group `{}`", g.get_ref()));
                    None
                }
            },
            (None, None, true) => Some(LimitTarget::Company),
            _ => {
                cx.err(
                    &l.bytes,
                    "a limit names exactly one of `pc`, `group` or `company = true`",
                );
                None
            }
        };
        let bytes = match l.bytes.get_ref().trim().parse::<bytesize::ByteSize>() {
            Ok(b) if b.as_u64() > 0 => Some(b.as_u64()),
            _ => {
                cx.err(
                    &l.bytes,
                    format!(
                        "limit: `{}` is not an amount of bytes (e.g. \"2 GB\", \"500 MiB\")",
                        l.bytes.get_ref()
                    ),
                );
                None
            }
        };
        if let (Some(target), Some(bytes)) = (target, bytes) {
            limits.push(Limit {
                target,
                per: l.per,
                bytes,
                line,
            });
        }
    }
    let mut exceptions = Vec::new();
    for e in &p.exceptions {
        let line = cx.line_of(e.span().start);
        let e = e.get_ref();
        let target = match named_target(cx, &pcs, &group_ids, &e.pc, &e.group, "exception") {
            Ok(Some(t)) => Some(t),
            Ok(None) => {
                cx.err(
                    &e.until,
                    "an [[exceptions]] entry names neither `pc` nor `group`",
                );
                None
            }
            Err(()) => None,
        };
        let mut domains = DomainSet::default();
        let mut domain_names = Vec::new();
        for d in &e.domains {
            match lists::normalize(d.get_ref()) {
                Ok(n) => {
                    domains.insert(n.as_bytes());
                    domain_names.push(n);
                }
                Err(err) => cx.err(d, err.to_string()),
            }
        }
        if e.domains.is_empty() {
            cx.err(
                &e.until,
                "an exception needs at least one name in `domains`",
            );
        }
        let until = match super::parse_time(e.until.get_ref(), &tz) {
            Ok(t) => Some(t),
            Err(err) => {
                cx.err(&e.until, err);
                None
            }
        };
        if let (Some(target), Some(until)) = (target, until) {
            exceptions.push(Exception {
                target,
                domains,
                domain_names,
                until,
                reason: e.reason.clone(),
                granted_by: e.granted_by.clone(),
                line,
            });
        }
    }
    Policy::new(
        tz, lists, categories, schedules, groups, pcs, blocks, exceptions, limits,
    )
}

/// The PC or the group an entry (`what`: block, exception) names. `Err`: a mistake, said
/// in `cx`; `Ok(None)`: it names neither (the caller says where that is wrong).
fn named_target(
    cx: &mut Ctx,
    pcs: &[Pc],
    group_ids: &HashMap<String, usize>,
    pc: &Option<Spanned<String>>,
    group: &Option<Spanned<String>>,
    what: &str,
) -> Result<Option<BlockTarget>, ()> {
    match (pc, group) {
        (Some(pc), None) => match pcs.iter().position(|x| &x.name == pc.get_ref()) {
            Some(i) => Ok(Some(BlockTarget::Pc(i))),
            None => {
                cx.err(pc, format!("{what}: unknown PC `{}`", pc.get_ref()));
                Err(())
            }
        },
        (None, Some(g)) => match group_ids.get(g.get_ref()) {
            Some(i) => Ok(Some(BlockTarget::Group(*i))),
            None => {
                cx.err(g, format!("{what}: unknown group `{}`", g.get_ref()));
                Err(())
            }
        },
        (Some(pc), Some(_)) => {
            cx.err(pc, format!("{what}: name a `pc` or a `group`, not both"));
            Err(())
        }
        (None, None) => Ok(None),
    }
}

fn check_cycles(groups: &[Group], p: &PolicyFile, cx: &mut Ctx) {
    for (start, def) in groups.iter().zip(&p.groups) {
        let mut seen = HashSet::new();
        let mut at = Some(start);
        while let Some(g) = at {
            if !seen.insert(g.name.as_str()) {
                cx.err(
                    &def.name,
                    format!("group `{}` is its own ancestor", start.name),
                );
                break;
            }
            at = g.parent.map(|i| &groups[i]);
        }
    }
}

fn load_lists(
    dir: &Path,
    defs: &std::collections::BTreeMap<String, ListDef>,
    cx: &mut Ctx,
    report: &mut LoadReport,
) -> Vec<NamedList> {
    let mut out = Vec::new();
    for (name, def) in defs {
        let mut files = Vec::new();
        let mut resolve_names = Vec::new();
        for f in &def.files {
            let path = dir.join(f.get_ref());
            if def.resolve {
                // Kept only for lists marked `resolve` (small ones: bypass endpoints); the
                // matcher itself holds hashes, not names.
                if let Ok(text) = std::fs::read_to_string(&path) {
                    lists::parse_list(&text, |_, allow, rule| {
                        if let (false, lists::Rule::Name(n)) = (allow, rule) {
                            resolve_names.push(n);
                        }
                    });
                }
            }
            match compiled(&path, cx.compiled) {
                Ok(list) => {
                    report.files.push((path.clone(), list.stats.clone()));
                    files.push((path, list));
                }
                Err(e) => cx.err(
                    f,
                    format!("list `{name}`: cannot read {}: {e}", path.display()),
                ),
            }
        }
        for u in &def.urls {
            let url = u.get_ref();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                cx.err(u, format!("list `{name}`: `{url}` is not an http(s) URL"));
                continue;
            }
            let Some(cache) = &cx.list_cache else {
                continue;
            };
            let copy = url_copy(cache, url);
            report.urls.push(UrlSource {
                list: name.clone(),
                url: url.clone(),
                copy: copy.clone(),
                refresh: std::time::Duration::from_secs(def.refresh_hours.max(1) * 3600),
            });
            // Not downloaded yet: the list starts without this source; the daemon
            // reloads once the download lands.
            if let Ok(list) = compiled(&copy, cx.compiled) {
                report.files.push((copy.clone(), list.stats.clone()));
                files.push((copy, list));
            }
        }
        out.push(NamedList {
            name: name.clone(),
            description: def.description.clone(),
            files,
            resolve_names,
        });
    }
    out
}
