//! The caller of a request (`Principal`), put in its extensions by
//! `session::authenticate`, and what a department manager may see of the office: the PCs
//! of their group's subtree. Handlers of `ScopedRead`/`ScopedChange` routes ask it.

use std::collections::HashSet;

use serde::Serialize;
use utoipa::ToSchema;

use super::ApiError;
use crate::auth::Role;

/// The caller of a request, put in its extensions by `authenticate`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Principal {
    pub name: String,
    #[schema(value_type = String)]
    pub role: Role,
    pub scope: Option<String>,
    /// The session's CSRF token (absent for the bearer token): the UI reads it here after
    /// a page reload. Same-origin only: the session cookie is SameSite=Strict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf: Option<String>,
}

impl Principal {
    /// The PCs this caller may see: `None` for all (admin, auditor, the token); for a
    /// manager, the names of the PCs in their group and its subgroups.
    pub fn visible_pcs(&self, policy: &crate::policy::Policy) -> Option<HashSet<String>> {
        if self.role != Role::Manager {
            return None;
        }
        let groups = policy.groups();
        let Some(top) = groups
            .iter()
            .position(|g| Some(&g.name) == self.scope.as_ref())
        else {
            return Some(HashSet::new());
        };
        let in_subtree = |mut g: Option<usize>| {
            let mut steps = 0;
            while let Some(i) = g {
                if i == top {
                    return true;
                }
                g = groups[i].parent;
                steps += 1;
                if steps > groups.len() {
                    return false;
                }
            }
            false
        };
        Some(
            policy
                .pcs()
                .iter()
                .filter(|p| in_subtree(p.group))
                .map(|p| p.name.clone())
                .collect(),
        )
    }

    /// Refuses (403) when the caller may not manage group `group`: a manager manages
    /// their own group and its subgroups.
    pub fn check_group(&self, policy: &crate::policy::Policy, group: &str) -> Result<(), ApiError> {
        if self.role != Role::Manager {
            return Ok(());
        }
        let groups = policy.groups();
        let mut at = groups.iter().position(|g| g.name == group);
        let mut steps = 0;
        while let Some(i) = at {
            if Some(&groups[i].name) == self.scope.as_ref() {
                return Ok(());
            }
            at = groups[i].parent;
            steps += 1;
            if steps > groups.len() {
                break;
            }
        }
        Err(ApiError::forbidden(format!(
            "group {group} is outside your department"
        )))
    }

    /// Refuses (403) when the caller may not see or manage PC `pc`.
    pub fn check_pc(&self, policy: &crate::policy::Policy, pc: &str) -> Result<(), ApiError> {
        match self.visible_pcs(policy) {
            Some(set) if !set.contains(pc) => Err(ApiError::forbidden(format!(
                "{pc} is outside your department"
            ))),
            _ => Ok(()),
        }
    }

    /// For routes that show one PC or the whole office: a manager must name one of theirs.
    pub fn check_pc_param(
        &self,
        policy: &crate::policy::Policy,
        pc: Option<&str>,
    ) -> Result<(), ApiError> {
        match (self.role, pc) {
            (Role::Manager, None) => Err(ApiError::forbidden(
                "office-wide figures are not for managers: name one of your PCs (`pc=`)",
            )),
            (_, Some(pc)) => self.check_pc(policy, pc),
            _ => Ok(()),
        }
    }
}
