//! What the filter did with one query, as one enum: the query log's `verdict`, the
//! `/metrics` counter's label and the fast path's repeat key all come from it. The words
//! themselves are written here and nowhere else (`as_str`); the log, the API and the UI
//! read them back, so they never change.
//!
//! Owns: the outcome and its words. Must not: know how a query is answered.

/// The outcome of one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Answered: forwarded, or from the cache.
    Allowed,
    /// The policy blocks the name asked.
    Blocked,
    /// The policy blocks a CNAME target of the answer (trackers hide behind CNAMEs).
    BlockedCname,
    /// A public name answered a private address: refused (rebinding protection).
    Rebinding,
    /// No upstream answered: SERVFAIL.
    Failed,
    /// Outside the LAN or over its rate limit: REFUSED, counted but never logged.
    Refused,
}

impl Outcome {
    /// Every outcome, in the order `/metrics` lists them.
    pub const ALL: [Outcome; 6] = [
        Outcome::Allowed,
        Outcome::Blocked,
        Outcome::BlockedCname,
        Outcome::Rebinding,
        Outcome::Failed,
        Outcome::Refused,
    ];

    /// The word in the query log, the API and `/metrics`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Blocked => "blocked",
            Outcome::BlockedCname => "blocked_cname",
            Outcome::Rebinding => "rebinding",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
        }
    }

    /// The query log's `rcode` of an outcome the filter answered itself; `None` for an
    /// answer relayed from upstream or the cache (its own RCODE is logged).
    pub const fn log_rcode(self) -> Option<&'static str> {
        match self {
            Outcome::Blocked | Outcome::BlockedCname => Some("BLOCKED"),
            Outcome::Failed => Some("SERVFAIL"),
            Outcome::Rebinding | Outcome::Refused => Some("REFUSED"),
            Outcome::Allowed => None,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_are_the_logs() {
        let words: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            words,
            [
                "allowed",
                "blocked",
                "blocked_cname",
                "rebinding",
                "failed",
                "refused"
            ]
        );
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(
                *o as usize, i,
                "ALL is in declaration order (stats index by it)"
            );
        }
    }
}
