//! The policy in force, as the UI shows it (groups as a tree with their rules, lists and
//! categories with their sizes and when each file last changed, schedules, limits, manual
//! blocks, timed exceptions), and the `explain` engine: what would happen to a name for a
//! PC at a moment, and why.

use std::sync::Arc;

use axum::{
    Extension, Json,
    extract::{Query, State},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;

use super::{
    ApiError, ApiState,
    access::{Access, ApiRouter, gate},
    principal::Principal,
};
use crate::policy::{self, Action, BlockTarget, LimitTarget, Matched, Policy, Verdict};

pub fn routes() -> ApiRouter {
    // A manager sees their department's part of the policy and explains for their PCs.
    ApiRouter::new()
        .merge(gate(Access::ScopedRead, routes!(policy)))
        .merge(gate(Access::ScopedRead, routes!(explain)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    pub action: String,
    pub lists: Vec<String>,
    pub categories: Vec<String>,
    pub domains: Vec<String>,
    pub addresses: Vec<String>,
    pub schedule: Option<String>,
    /// How a block answers: `page`, `nxdomain`, `null`.
    pub mode: String,
    /// Line in office.toml.
    pub line: usize,
    /// Its number in the group (for `DELETE /api/v1/groups/{group}/rules/{index}`).
    pub index: usize,
    /// Its identity (a hash of what it says): `?id=` on that DELETE removes this rule
    /// wherever it has moved, or answers 409 if it is gone.
    pub id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    pub name: String,
    pub parent: Option<String>,
    pub safe_search: Option<bool>,
    pub pcs: Vec<String>,
    pub rules: Vec<RuleView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListFileView {
    pub path: String,
    pub rules: usize,
    pub rejected: usize,
    /// When the file last changed (for a URL list: its last download), Unix ms.
    pub modified_ms: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListView {
    pub name: String,
    pub category: bool,
    pub description: String,
    pub files: Vec<ListFileView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimedView {
    /// `pc NAME`, `group NAME` or `company`.
    pub target: String,
    pub detail: String,
    pub until: Option<String>,
    pub active: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    pub time_zone: String,
    pub groups: Vec<GroupView>,
    pub lists: Vec<ListView>,
    /// `name: days from–until`.
    pub schedules: Vec<String>,
    pub limits: Vec<TimedView>,
    pub blocks: Vec<TimedView>,
    pub exceptions: Vec<TimedView>,
}

fn target(p: &Policy, t: BlockTarget) -> String {
    match t {
        BlockTarget::Pc(i) => format!("pc {}", p.pcs()[i].name),
        BlockTarget::Group(g) => format!("group {}", p.groups()[g].name),
    }
}

fn local(p: &Policy, t: jiff::Timestamp) -> String {
    t.to_zoned_datetime(p.time_zone().clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

fn modified_ms(path: &std::path::Path) -> Option<i64> {
    let m = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(m.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64)
}

pub fn view(p: &Policy, now: jiff::Timestamp) -> PolicyView {
    let groups = p
        .groups()
        .iter()
        .enumerate()
        .map(|(gi, g)| GroupView {
            name: g.name.clone(),
            parent: g.parent.map(|i| p.groups()[i].name.clone()),
            safe_search: g.safe_search,
            pcs: p
                .pcs()
                .iter()
                .filter(|pc| pc.group == Some(gi))
                .map(|pc| pc.name.clone())
                .collect(),
            rules: g
                .rules
                .iter()
                .enumerate()
                .map(|(index, r)| {
                    let named = |want: bool| {
                        r.refs
                            .iter()
                            .filter(|(c, _)| *c == want)
                            .map(|&(c, i)| {
                                if c {
                                    p.categories()[i].name.clone()
                                } else {
                                    p.lists()[i].name.clone()
                                }
                            })
                            .collect()
                    };
                    RuleView {
                        action: match r.action {
                            Action::Allow => "allow".into(),
                            Action::Block => "block".into(),
                        },
                        lists: named(false),
                        categories: named(true),
                        domains: r.domain_names.clone(),
                        addresses: r
                            .addresses
                            .iter()
                            .map(|(a, l)| format!("{a}/{l}"))
                            .collect(),
                        schedule: r.schedule.map(|s| p.schedules()[s].name.clone()),
                        mode: format!("{:?}", r.mode).to_lowercase(),
                        line: r.line,
                        index,
                        id: p.rule_id(r),
                    }
                })
                .collect(),
        })
        .collect();
    let lists = p
        .lists()
        .iter()
        .map(|l| (false, l))
        .chain(p.categories().iter().map(|l| (true, l)))
        .map(|(category, l)| ListView {
            name: l.name.clone(),
            category,
            description: l.description.clone(),
            files: l
                .files
                .iter()
                .map(|(path, c)| ListFileView {
                    path: path.display().to_string(),
                    rules: c.stats.rules,
                    rejected: c.stats.rejected,
                    modified_ms: modified_ms(path),
                })
                .collect(),
        })
        .collect();
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
    let schedules = p
        .schedules()
        .iter()
        .map(|s| {
            let days: Vec<_> = DAYS
                .iter()
                .zip(s.days)
                .filter(|(_, on)| *on)
                .map(|(d, _)| *d)
                .collect();
            format!(
                "{}: {} {}–{}",
                s.name,
                days.join(","),
                hm(s.from),
                hm(s.until)
            )
        })
        .collect();
    let limits = p
        .limits()
        .iter()
        .map(|l| TimedView {
            target: match l.target {
                LimitTarget::Pc(i) => format!("pc {}", p.pcs()[i].name),
                LimitTarget::Group(g) => format!("group {}", p.groups()[g].name),
                LimitTarget::Company => "company".into(),
            },
            detail: format!(
                "{} per {}",
                bytesize::ByteSize::b(l.bytes),
                match l.per {
                    policy::Period::Day => "day",
                    policy::Period::Month => "month",
                }
            ),
            until: None,
            active: true,
        })
        .collect();
    let blocks = p
        .blocks()
        .iter()
        .map(|b| TimedView {
            target: target(p, b.target),
            detail: b.reason.clone(),
            until: b.until.map(|u| local(p, u)),
            active: b.from.is_none_or(|f| now >= f) && b.until.is_none_or(|u| now < u),
        })
        .collect();
    let exceptions = p
        .exceptions()
        .iter()
        .map(|e| TimedView {
            target: target(p, e.target),
            detail: format!(
                "{} (granted by {}{})",
                e.domain_names.join(", "),
                e.granted_by,
                if e.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", e.reason)
                }
            ),
            until: Some(local(p, e.until)),
            active: now < e.until,
        })
        .collect();
    PolicyView {
        time_zone: p.time_zone().iana_name().unwrap_or("UTC").to_string(),
        groups,
        lists,
        schedules,
        limits,
        blocks,
        exceptions,
    }
}

/// The policy in force.
#[utoipa::path(get, path = "/api/v1/policy",
    responses((status = 200, description = "The policy in force", body = PolicyView)))]
pub async fn policy(
    State(st): State<Arc<ApiState>>,
    Extension(who): Extension<Principal>,
) -> Json<PolicyView> {
    let p = st.policy.load();
    let mut v = view(&p, st.clock.now());
    // A manager sees their department: its groups (their top one as a root), and the
    // limits, blocks and exceptions of its PCs and groups. Lists and schedules are shared.
    if let Some(pcs) = who.visible_pcs(&p) {
        let mine = |g: &str| who.check_group(&p, g).is_ok();
        v.groups.retain(|g| mine(&g.name));
        for g in &mut v.groups {
            if g.parent.as_deref().is_some_and(|parent| !mine(parent)) {
                g.parent = None;
            }
        }
        let target_mine = |t: &TimedView| match t.target.split_once(' ') {
            Some(("pc", n)) => pcs.contains(n),
            Some(("group", n)) => mine(n),
            _ => false,
        };
        v.limits.retain(target_mine);
        v.blocks.retain(target_mine);
        v.exceptions.retain(target_mine);
    }
    Json(v)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ExplainParams {
    /// A PC's name or address.
    pub pc: String,
    /// The name to test.
    pub domain: String,
    /// When: RFC 3339 or `YYYY-MM-DD HH:MM` in the policy's zone. Default: now.
    pub at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainView {
    /// `allowed` or `blocked`.
    pub verdict: String,
    pub pc: Option<String>,
    pub group: String,
    /// The deciding rule in one line, or none.
    pub rule: Option<String>,
    /// What matched: the list file and line, the domain, or the exception.
    pub matched: Option<String>,
    pub at: String,
}

/// What would happen to a name for a PC at a moment, and why.
#[utoipa::path(get, path = "/api/v1/explain", params(ExplainParams),
    responses((status = 200, description = "The decision", body = ExplainView)))]
pub async fn explain(
    State(st): State<Arc<ApiState>>,
    Extension(who): Extension<Principal>,
    Query(q): Query<ExplainParams>,
) -> Result<Json<ExplainView>, ApiError> {
    let p = st.policy.load_full();
    let pc = p
        .find_pc(&q.pc)
        .ok_or_else(|| ApiError::NotFound(format!("no PC `{}`", q.pc)))?;
    who.check_pc(&p, &pc.name)?;
    let name = crate::lists::normalize(&q.domain).map_err(ApiError::bad)?;
    let at = match q.at.as_deref().map(str::trim) {
        None | Some("") => st.clock.now(),
        Some(t) => policy::parse_time(t, p.time_zone()).map_err(ApiError::bad)?,
    };
    let pc_name = pc.name.clone();
    // `explain` may read a list file again to find the line: off the async threads.
    let d = tokio::task::spawn_blocking(move || {
        let pc = p.find_pc(&pc_name);
        (p.explain(pc, &name, at), local(&p, at))
    })
    .await?;
    let (d, at) = d;
    Ok(Json(ExplainView {
        verdict: match d.verdict {
            Verdict::Allowed => "allowed".into(),
            Verdict::Blocked(_) => "blocked".into(),
        },
        pc: d.pc.clone(),
        group: d.group.clone(),
        rule: d.rule.as_ref().map(|r| r.summary()),
        matched: d.rule.as_ref().map(|r| match &r.matched {
            Matched::Domain(n) => format!("domain {n} in the rule itself"),
            Matched::List { file, line, .. } => format!(
                "{}{}",
                file.display(),
                line.map(|l| format!(":{l}")).unwrap_or_default()
            ),
            Matched::Exception {
                domain, granted_by, ..
            } => format!("exception for {domain} granted by {granted_by}"),
        }),
        at,
    }))
}
