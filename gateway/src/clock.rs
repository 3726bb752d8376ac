//! The daemon's notion of "now" for policy decisions (schedules, timed blocks). Real time
//! normally; `officegate run --clock-start <time>` starts it elsewhere and lets it run at
//! normal speed, so a test or a demo can cross a schedule boundary in seconds instead of
//! hours. Counters, logs and the database always use real time.

use jiff::{SignedDuration, Timestamp};

#[derive(Clone, Copy, Debug, Default)]
pub struct Clock {
    offset: SignedDuration,
}

impl Clock {
    pub fn real() -> Self {
        Clock::default()
    }

    /// A clock that reads `start` now and runs on from there.
    pub fn starting_at(start: Timestamp) -> Self {
        Clock {
            offset: start.duration_since(Timestamp::now()),
        }
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::now()
            .checked_add(self.offset)
            .unwrap_or_else(|_| Timestamp::now())
    }

    pub fn is_real(&self) -> bool {
        self.offset.is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_clock_runs_from_its_start() {
        let start: Timestamp = "2026-11-30T08:59:57Z".parse().unwrap();
        let c = Clock::starting_at(start);
        let d = c.now().duration_since(start);
        assert!(
            d >= SignedDuration::ZERO && d < SignedDuration::from_secs(1),
            "{d}"
        );
        assert!(Clock::real().is_real());
    }
}
