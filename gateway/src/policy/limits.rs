//! Traffic limits (`[[limits]]`): which PCs are over one, and why.

use std::collections::HashMap;

use super::compiled::{LimitTarget, PcUsage, Policy};

impl Policy {
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
}
