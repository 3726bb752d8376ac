//! Reading a policy directory: parse `office.toml`, check every cross-reference, load the
//! list files it names. All errors are collected (not just the first) and carry the file
//! and line they are about, so `officegate check` can print them as `file:line: message`.
//!
//! Split by part of the file: here the entry points, the error type and the order of the
//! checks; `groups.rs` (schedules, groups and their rules, cycles), `entries.rs` (PCs,
//! `[[blocks]]`, `[[limits]]`, `[[exceptions]]`), `lists.rs` (the list files and URL
//! lists a policy names, through `crate::lists`' cache).

use std::path::{Path, PathBuf};

use toml::Spanned;

use super::{POLICY_FILE, compiled::Policy, model::PolicyFile};
use crate::{
    lists::{ListCache, ListStats, UrlSource},
    parse::line_at,
};

mod entries;
mod groups;
mod lists;

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
    /// Lists fetched from URLs: what the daemon must keep downloaded (`lists::keep_fresh`).
    pub urls: Vec<UrlSource>,
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
    let lists = lists::load_lists(dir, &p.lists, cx, report);
    let categories = lists::load_lists(dir, &p.categories, cx, report);
    let schedules = groups::schedules(&p, cx);
    let (groups, group_ids) = groups::groups(&p, cx, &lists, &categories, &schedules);
    groups::check_cycles(&groups, &p, cx);
    let pcs = entries::pcs(&p, cx, &group_ids);
    let blocks = entries::blocks(&p, cx, &pcs, &group_ids, &tz);
    let limits = entries::limits(&p, cx, &pcs, &group_ids);
    let exceptions = entries::exceptions(&p, cx, &pcs, &group_ids, &tz);
    let unknown = p.unknown_devices.as_ref().and_then(|gn| {
        let id = group_ids.get(gn.get_ref()).copied();
        if id.is_none() && gn.get_ref() != crate::policy::DEFAULT_GROUP {
            cx.err(
                gn,
                format!("unknown_devices: unknown group `{}`", gn.get_ref()),
            );
        }
        id
    });
    let mut policy = Policy::new(
        tz, lists, categories, schedules, groups, pcs, blocks, exceptions, limits,
    );
    policy.unknown_group = unknown;
    policy
}
