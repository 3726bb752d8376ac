//! A channel's health from its probe rounds and the datapath's passive signal, with the
//! hysteresis that keeps the office from flapping; and the choice of the channel that
//! carries the traffic. Pure logic over explicit times, so every rule is unit-tested.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use serde::Serialize;

use super::config::{Failback, WanConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Not judged yet (the daemon just started).
    Unknown,
    Up,
    /// Up and carrying traffic if chosen, but losing probes, slow, or suspect.
    Degraded,
    Down,
    /// Down, and held down: it failed too often lately.
    Flapping,
}

impl State {
    /// Whether the channel may carry the office's traffic.
    pub fn usable(self) -> bool {
        matches!(self, State::Up | State::Degraded)
    }
}

/// One probe round of one channel.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Round {
    pub sent: u32,
    pub answered: u32,
    /// Fastest answer of the round.
    pub rtt: Option<Duration>,
}

impl Round {
    pub fn failed(&self) -> bool {
        self.answered == 0
    }
}

/// The thresholds of `[wan]`, as durations.
#[derive(Debug, Clone)]
pub struct Thresholds {
    pub down_after: u32,
    pub up_after: u32,
    pub hold_down: Duration,
    pub window: usize,
    pub max_loss_pct: u32,
    pub max_latency: Duration,
    pub flap_count: usize,
    pub flap_window: Duration,
    pub flap_hold: Duration,
    pub passive_min_syns: u64,
    pub passive_window: Duration,
}

impl From<&WanConfig> for Thresholds {
    fn from(c: &WanConfig) -> Self {
        Thresholds {
            down_after: c.down_after,
            up_after: c.up_after,
            hold_down: Duration::from_secs(c.hold_down_s),
            window: c.window,
            max_loss_pct: c.max_loss_pct,
            max_latency: Duration::from_millis(c.max_latency_ms),
            flap_count: c.flap_count,
            flap_window: Duration::from_secs(c.flap_window_s),
            flap_hold: Duration::from_secs(c.flap_hold_s),
            passive_min_syns: c.passive_min_syns,
            passive_window: Duration::from_millis(c.passive_window_ms),
        }
    }
}

/// A change of a channel's state, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Health {
    pub state: State,
    pub since: Instant,
    pub reason: String,
    fail_run: u32,
    ok_run: u32,
    rounds: VecDeque<Round>,
    /// When each failure episode began to count (fail run reaching `down_after`).
    failures: VecDeque<Instant>,
    /// (time, SYNs out, SYN-ACKs in) samples of the datapath's counters.
    passive: VecDeque<(Instant, u64, u64)>,
    suspect: Option<String>,
    /// The interface's carrier as last seen (true until told otherwise).
    carrier: bool,
}

/// Figures for status and events.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Figures {
    pub loss_pct: f64,
    pub latency_ms: Option<f64>,
    pub rounds: usize,
}

impl Health {
    pub fn new(now: Instant) -> Self {
        Health {
            state: State::Unknown,
            since: now,
            reason: "starting".into(),
            fail_run: 0,
            ok_run: 0,
            rounds: VecDeque::new(),
            failures: VecDeque::new(),
            passive: VecDeque::new(),
            suspect: None,
            carrier: true,
        }
    }

    pub fn figures(&self) -> Figures {
        let (sent, answered) = self
            .rounds
            .iter()
            .fold((0u32, 0u32), |(s, a), r| (s + r.sent, a + r.answered));
        let mut rtts: Vec<Duration> = self.rounds.iter().filter_map(|r| r.rtt).collect();
        rtts.sort();
        Figures {
            loss_pct: if sent == 0 {
                0.0
            } else {
                100.0 * f64::from(sent - answered) / f64::from(sent)
            },
            latency_ms: rtts.get(rtts.len() / 2).map(|d| d.as_secs_f64() * 1000.0),
            rounds: self.rounds.len(),
        }
    }

    pub fn suspect(&self) -> Option<&str> {
        self.suspect.as_deref()
    }

    /// Whether the channel is held down for flapping at `now`.
    fn flapping(&self, now: Instant, t: &Thresholds) -> bool {
        let recent = self
            .failures
            .iter()
            .filter(|f| now.duration_since(**f) <= t.flap_window)
            .count();
        let last = self.failures.back();
        t.flap_count > 0
            && recent >= t.flap_count
            && last.is_some_and(|l| now.duration_since(*l) < t.flap_hold)
    }

    /// The datapath's counters of this channel at `now` (monotonic totals).
    pub fn passive_sample(&mut self, now: Instant, syn_out: u64, synack_in: u64, t: &Thresholds) {
        self.passive.push_back((now, syn_out, synack_in));
        while self
            .passive
            .front()
            .is_some_and(|(at, _, _)| now.duration_since(*at) > t.passive_window)
        {
            self.passive.pop_front();
        }
        let (first, last) = (self.passive.front(), self.passive.back());
        self.suspect = match (first, last) {
            (Some((_, s0, a0)), Some((_, s1, a1))) if t.passive_min_syns > 0 => {
                let syns = s1.saturating_sub(*s0);
                let acks = a1.saturating_sub(*a0);
                (syns >= t.passive_min_syns && acks == 0).then(|| {
                    format!(
                        "{syns} TCP SYNs out, no SYN-ACK back in {} ms",
                        t.passive_window.as_millis()
                    )
                })
            }
            _ => None,
        };
    }

    /// The interface's carrier at `now`. Losing it takes the channel down at once: no
    /// probe can get through a link without carrier, so there is nothing to wait for.
    pub fn carrier(&mut self, up: bool, now: Instant, t: &Thresholds) -> Option<Transition> {
        let was = std::mem::replace(&mut self.carrier, up);
        if up || !was {
            return None;
        }
        self.ok_run = 0;
        if self.fail_run < t.down_after {
            self.fail_run = t.down_after;
            self.failures.push_back(now);
        }
        if matches!(self.state, State::Down | State::Flapping) {
            return None;
        }
        let from = self.state;
        self.state = State::Down;
        self.since = now;
        self.reason = "link down (no carrier)".into();
        Some(Transition {
            from,
            to: State::Down,
            reason: self.reason.clone(),
        })
    }

    /// Takes one probe round. `others_usable`: whether another channel could carry the
    /// traffic (if none, a recovering channel skips its hold-down: something beats nothing).
    pub fn record(
        &mut self,
        round: Round,
        now: Instant,
        t: &Thresholds,
        others_usable: bool,
    ) -> Option<Transition> {
        // A round that raced the carrier loss may still carry an answer; without carrier
        // nothing can come back.
        let round = if self.carrier {
            round
        } else {
            Round {
                answered: 0,
                rtt: None,
                ..round
            }
        };
        self.rounds.push_back(round);
        while self.rounds.len() > t.window {
            self.rounds.pop_front();
        }
        if round.failed() {
            self.fail_run += 1;
            self.ok_run = 0;
            if self.fail_run == t.down_after {
                self.failures.push_back(now);
                while self.failures.len() > t.flap_count.max(1) * 4 {
                    self.failures.pop_front();
                }
            }
        } else {
            self.ok_run += 1;
            self.fail_run = 0;
        }
        let next = self.next_state(now, t, others_usable);
        let (to, reason) = next?;
        let from = self.state;
        self.state = to;
        self.since = now;
        self.reason = reason.clone();
        Some(Transition { from, to, reason })
    }

    fn next_state(
        &self,
        now: Instant,
        t: &Thresholds,
        others_usable: bool,
    ) -> Option<(State, String)> {
        let f = self.figures();
        match self.state {
            State::Unknown => {
                if self.ok_run >= 1 {
                    Some((State::Up, "first probe answered".into()))
                } else if self.fail_run >= t.down_after {
                    Some((
                        State::Down,
                        format!("{} probe rounds unanswered", self.fail_run),
                    ))
                } else {
                    None
                }
            }
            State::Up | State::Degraded => {
                if self.fail_run >= t.down_after {
                    return Some((
                        State::Down,
                        format!(
                            "{} probe rounds in a row unanswered (loss {:.0}%)",
                            self.fail_run, f.loss_pct
                        ),
                    ));
                }
                if let Some(s) = &self.suspect
                    && self.fail_run >= 1
                {
                    return Some((State::Down, format!("{s}, and a probe round unanswered")));
                }
                let degraded = self.degraded_reason(&f, t);
                match (self.state, degraded) {
                    (State::Up, Some(r)) => Some((State::Degraded, r)),
                    (State::Degraded, None) => {
                        Some((State::Up, "loss and latency back within limits".into()))
                    }
                    _ => None,
                }
            }
            State::Down | State::Flapping => {
                let flapping = self.flapping(now, t);
                let held = |since: Option<&Instant>, hold: Duration| {
                    since.is_some_and(|s| now.duration_since(*s) < hold)
                };
                let recovered = self.ok_run >= t.up_after;
                let hold_over = !held(self.failures.back(), t.hold_down);
                if recovered && (!others_usable || (hold_over && !flapping)) {
                    let why = if others_usable {
                        format!(
                            "{} probe rounds answered in a row, hold-down over",
                            self.ok_run
                        )
                    } else {
                        format!(
                            "{} probe rounds answered in a row (no other channel up: no hold-down)",
                            self.ok_run
                        )
                    };
                    return Some((State::Up, why));
                }
                match (self.state, flapping) {
                    (State::Down, true) => Some((
                        State::Flapping,
                        format!(
                            "failed {} times within {} s: held down for {} s",
                            t.flap_count,
                            t.flap_window.as_secs(),
                            t.flap_hold.as_secs()
                        ),
                    )),
                    (State::Flapping, false) => Some((
                        State::Down,
                        "flap hold over, waiting for a clean run".into(),
                    )),
                    _ => None,
                }
            }
        }
    }

    fn degraded_reason(&self, f: &Figures, t: &Thresholds) -> Option<String> {
        if let Some(s) = &self.suspect {
            return Some(s.clone());
        }
        // Loss only counts over a full window: one lost round at start is not 33% loss.
        if f.rounds >= t.window && f.loss_pct > f64::from(t.max_loss_pct) {
            return Some(format!(
                "loss {:.0}% over {} rounds (limit {}%)",
                f.loss_pct, f.rounds, t.max_loss_pct
            ));
        }
        match f.latency_ms {
            Some(ms) if ms > t.max_latency.as_secs_f64() * 1000.0 => Some(format!(
                "median latency {ms:.0} ms (limit {} ms)",
                t.max_latency.as_millis()
            )),
            _ => None,
        }
    }
}

/// Which channel should carry the traffic: `channels` as (priority, state) in config
/// order, `current` the one carrying it now. `None`: leave things as they are (nothing is
/// usable, or nothing is known yet).
pub fn select(
    channels: &[(u32, State)],
    current: Option<usize>,
    failback: Failback,
    force_best: bool,
) -> Option<usize> {
    let best = channels
        .iter()
        .enumerate()
        .filter(|(_, (_, s))| s.usable())
        .min_by_key(|(i, (p, _))| (*p, *i))
        .map(|(i, _)| i)?;
    match (current, failback) {
        (Some(c), Failback::Manual) if !force_best && channels[c].1.usable() => Some(c),
        _ => Some(best),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Thresholds {
        Thresholds {
            down_after: 3,
            up_after: 5,
            hold_down: Duration::from_secs(10),
            window: 10,
            max_loss_pct: 20,
            max_latency: Duration::from_millis(500),
            flap_count: 3,
            flap_window: Duration::from_secs(60),
            flap_hold: Duration::from_secs(60),
            passive_min_syns: 3,
            passive_window: Duration::from_millis(500),
        }
    }

    const OK: Round = Round {
        sent: 3,
        answered: 3,
        rtt: Some(Duration::from_millis(2)),
    };
    const LOST: Round = Round {
        sent: 3,
        answered: 0,
        rtt: None,
    };
    const STEP: Duration = Duration::from_millis(100);

    /// Feeds rounds 100 ms apart from `*now`; returns the transitions.
    fn feed(h: &mut Health, now: &mut Instant, rounds: &[Round], others: bool) -> Vec<State> {
        let mut out = Vec::new();
        for r in rounds {
            *now += STEP;
            if let Some(tr) = h.record(*r, *now, &t(), others) {
                out.push(tr.to);
            }
        }
        out
    }

    #[test]
    fn down_after_a_short_run_up_after_a_long_one_and_the_hold_down() {
        let mut now = Instant::now();
        let mut h = Health::new(now);
        assert_eq!(feed(&mut h, &mut now, &[OK], true), [State::Up]);
        assert_eq!(feed(&mut h, &mut now, &[LOST, LOST], true), []);
        assert_eq!(feed(&mut h, &mut now, &[LOST], true), [State::Down]);
        // Five good rounds are enough answers, but the hold-down (10 s) is not over.
        assert_eq!(feed(&mut h, &mut now, &[OK; 5], true), []);
        now += Duration::from_secs(10);
        assert_eq!(feed(&mut h, &mut now, &[OK], true), [State::Up]);
    }

    #[test]
    fn with_no_other_channel_a_recovering_one_skips_the_hold_down() {
        let mut now = Instant::now();
        let mut h = Health::new(now);
        feed(&mut h, &mut now, &[OK, LOST, LOST, LOST], false);
        assert_eq!(h.state, State::Down);
        assert_eq!(feed(&mut h, &mut now, &[OK; 5], false), [State::Up]);
    }

    #[test]
    fn an_answer_breaks_the_failure_run() {
        let mut now = Instant::now();
        let mut h = Health::new(now);
        let rounds = [OK, LOST, LOST, OK, LOST, LOST, OK];
        assert_eq!(feed(&mut h, &mut now, &rounds, true), [State::Up]);
    }

    #[test]
    fn a_flapping_channel_is_held_down_even_after_a_clean_run() {
        let mut now = Instant::now();
        let mut h = Health::new(now);
        feed(&mut h, &mut now, &[OK], true);
        // Three failure episodes with clean runs between them, all within a minute.
        for _ in 0..3 {
            feed(&mut h, &mut now, &[LOST; 3], true);
            now += Duration::from_secs(11);
            feed(&mut h, &mut now, &[OK; 5], true);
        }
        assert_eq!(h.state, State::Flapping, "{}", h.reason);
        // Clean for long past the hold-down, but not past the flap hold.
        now += Duration::from_secs(20);
        assert_eq!(feed(&mut h, &mut now, &[OK; 5], true), []);
        now += Duration::from_secs(60);
        let changes = feed(&mut h, &mut now, &[OK], true);
        assert_eq!(changes, [State::Up]);
    }

    #[test]
    fn loss_and_latency_degrade_without_taking_down() {
        let mut now = Instant::now();
        let mut h = Health::new(now);
        let half = Round {
            sent: 2,
            answered: 1,
            rtt: Some(Duration::from_millis(3)),
        };
        let changes = feed(&mut h, &mut now, &[half; 10], true);
        assert_eq!(changes, [State::Up, State::Degraded]);
        let changes = feed(&mut h, &mut now, &[OK; 10], true);
        assert_eq!(changes, [State::Up]);
        let slow = Round {
            rtt: Some(Duration::from_millis(800)),
            ..OK
        };
        assert_eq!(feed(&mut h, &mut now, &[slow; 6], true), [State::Degraded]);
    }

    #[test]
    fn passive_suspicion_takes_down_at_the_first_lost_round() {
        let mut now = Instant::now();
        let mut h = Health::new(now);
        feed(&mut h, &mut now, &[OK], true);
        h.passive_sample(now, 100, 50, &t());
        now += STEP;
        h.passive_sample(now, 104, 50, &t());
        assert!(h.suspect().is_some());
        assert_eq!(feed(&mut h, &mut now, &[LOST], true), [State::Down]);
        // SYN-ACKs coming back clear the suspicion.
        now += Duration::from_secs(1);
        h.passive_sample(now, 110, 60, &t());
        now += STEP;
        h.passive_sample(now, 112, 62, &t());
        assert!(h.suspect().is_none());
    }

    #[test]
    fn losing_the_carrier_takes_down_at_once_and_recovery_still_needs_a_clean_run() {
        let mut now = Instant::now();
        let mut h = Health::new(now);
        feed(&mut h, &mut now, &[OK], false);
        let tr = h.carrier(false, now, &t()).expect("a transition");
        assert_eq!((tr.from, tr.to), (State::Up, State::Down));
        assert!(
            h.carrier(false, now, &t()).is_none(),
            "only the edge counts"
        );
        // Rounds that finish without carrier count as lost even if they saw an answer.
        assert_eq!(feed(&mut h, &mut now, &[OK; 5], false), []);
        assert!(h.carrier(true, now, &t()).is_none());
        assert_eq!(feed(&mut h, &mut now, &[OK; 5], false), [State::Up]);
    }

    #[test]
    fn selection_prefers_priority_and_honours_manual_failback() {
        use State::*;
        let chans = [(1, Down), (2, Up)];
        assert_eq!(select(&chans, Some(0), Failback::Auto, false), Some(1));
        let chans = [(1, Up), (2, Up)];
        assert_eq!(select(&chans, Some(1), Failback::Auto, false), Some(0));
        assert_eq!(select(&chans, Some(1), Failback::Manual, false), Some(1));
        assert_eq!(select(&chans, Some(1), Failback::Manual, true), Some(0));
        let chans = [(1, Down), (2, Flapping)];
        assert_eq!(select(&chans, Some(0), Failback::Auto, false), None);
        let chans = [(5, Degraded), (2, Unknown)];
        assert_eq!(select(&chans, None, Failback::Auto, false), Some(0));
    }
}
