//! Business-time arithmetic and the SLA clock: business time running towards
//! a target, standing still while the desk waits on the customer.

use std::borrow::Cow;
use std::ops::ControlFlow;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{ns, timestamp, BusinessCalendar, NS_PER_MINUTE};
use crate::{string_enum, ValidationError};

/// The instant `minutes` of business time after `start`: the due time of a
/// target that starts then.
///
/// A start outside working hours waits for the next working interval. The
/// result is the end of the last business minute, so a target that runs out
/// with the working day is due at closing time (Friday 16:00), not at the
/// next opening. Zero or negative minutes give `start` itself. If the
/// calendar has no working time left at all (only possible when yearly
/// holidays close every working day), the answer is [`Timestamp::MAX`]:
/// never.
pub fn add_business_minutes(cal: &BusinessCalendar, start: Timestamp, minutes: i64) -> Timestamp {
    if minutes <= 0 {
        return start;
    }
    let [due] = reach(
        cal,
        [(ns(start), i128::MAX)],
        [i128::from(minutes) * NS_PER_MINUTE],
    );
    due.map_or(Timestamp::MAX, timestamp)
}

/// Business time from `a` to `b`, exact to the nanosecond; negative when `b`
/// is before `a`.
pub fn business_time_between(cal: &BusinessCalendar, a: Timestamp, b: Timestamp) -> SignedDuration {
    let (from, until, sign) = if a <= b {
        (ns(a), ns(b), 1)
    } else {
        (ns(b), ns(a), -1)
    };
    let mut total = 0;
    let _ = cal.walk(from, until, |s, e| {
        total += e - s;
        ControlFlow::Continue(())
    });
    SignedDuration::from_nanos_i128(sign * total)
}

/// Whole business minutes from `a` to `b` (a started minute does not count;
/// negative when `b` is before `a`).
pub fn business_minutes_between(cal: &BusinessCalendar, a: Timestamp, b: Timestamp) -> i64 {
    (business_time_between(cal, a, b).as_nanos() / NS_PER_MINUTE) as i64
}

/// Walks the business time inside `windows` (ordered, disjoint) and returns
/// the instant at which the running total first reaches each goal. Goals are
/// positive and ascending; the walk stops as soon as the last one is reached,
/// so its cost is bounded by the goal, not by how far the windows reach.
fn reach<const N: usize>(
    cal: &BusinessCalendar,
    windows: impl IntoIterator<Item = (i128, i128)>,
    goals: [i128; N],
) -> [Option<i128>; N] {
    debug_assert!(goals.iter().all(|g| *g > 0) && goals.windows(2).all(|w| w[0] <= w[1]));
    let mut found = [None; N];
    let mut next = 0;
    let mut total = 0;
    for (from, until) in windows {
        let flow = cal.walk(from, until, |a, b| {
            while next < N && total + (b - a) >= goals[next] {
                found[next] = Some(a + (goals[next] - total));
                next += 1;
            }
            total += b - a;
            if next == N {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        if flow.is_break() {
            break;
        }
    }
    found
}

string_enum! {
    /// Where a service-level target stands.
    ///
    /// `running`: time is counting and less than the warning share is used;
    /// `warned`: the warning share is used up but the target is not;
    /// `paused`: the desk is waiting on someone else, so time stands still;
    /// `breached`: the due time has come without the target being met (or it
    /// was met late); `met`: met in time.
    SlaState {
        Running = "running",
        Paused = "paused",
        Warned = "warned",
        Breached = "breached",
        Met = "met",
    }
}

/// A stretch during which the clock stood still (the ticket was waiting on
/// the customer or a third party).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub from: Timestamp,
    pub until: Timestamp,
}

/// One service-level target of one ticket (first response, resolution, ...):
/// when it started, how many business minutes it allows, when it stood still
/// and when it was met.
///
/// Events only move forward: an event stamped before the clock's last one
/// (two nodes whose clocks differ by a little) is taken as happening at that
/// last event, so the recorded past is never rewritten. Pausing a paused
/// clock, resuming a running one and anything on a stopped clock change
/// nothing, so the shell may repeat them freely (a ticket moving from
/// "pending customer" to "pending third party" pauses twice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ClockParts")]
pub struct SlaClock {
    started_at: Timestamp,
    target_minutes: u32,
    /// Closed pauses in order, all after `started_at`.
    pauses: Vec<Pause>,
    /// The pause still going on, if any.
    paused_since: Option<Timestamp>,
    /// When the target was met (a reply sent, the ticket resolved).
    stopped_at: Option<Timestamp>,
}

/// The stored form, checked on the way in.
#[derive(Deserialize)]
struct ClockParts {
    started_at: Timestamp,
    target_minutes: u32,
    #[serde(default)]
    pauses: Vec<Pause>,
    #[serde(default)]
    paused_since: Option<Timestamp>,
    #[serde(default)]
    stopped_at: Option<Timestamp>,
}

impl TryFrom<ClockParts> for SlaClock {
    type Error = ValidationError;

    fn try_from(p: ClockParts) -> Result<Self, ValidationError> {
        SlaClock::from_parts(
            p.started_at,
            p.target_minutes,
            p.pauses,
            p.paused_since,
            p.stopped_at,
        )
    }
}

impl SlaClock {
    /// A running clock.
    pub fn start(started_at: Timestamp, target_minutes: u32) -> Result<Self, ValidationError> {
        if target_minutes == 0 {
            return Err(ValidationError::new(
                "target_minutes",
                "must be at least one minute",
            ));
        }
        Ok(Self {
            started_at,
            target_minutes,
            pauses: Vec::new(),
            paused_since: None,
            stopped_at: None,
        })
    }

    /// A clock read back from storage, with its events checked to be in order.
    pub fn from_parts(
        started_at: Timestamp,
        target_minutes: u32,
        pauses: Vec<Pause>,
        paused_since: Option<Timestamp>,
        stopped_at: Option<Timestamp>,
    ) -> Result<Self, ValidationError> {
        let mut clock = Self::start(started_at, target_minutes)?;
        let mut last = started_at;
        for (i, pause) in pauses.iter().enumerate() {
            if pause.from < last || pause.until < pause.from {
                return Err(ValidationError::new(
                    format!("pauses[{i}]"),
                    "pauses must follow the start and each other in order",
                ));
            }
            last = pause.until;
        }
        if paused_since.is_some_and(|p| p < last) {
            return Err(ValidationError::new(
                "paused_since",
                "must not be before the last event",
            ));
        }
        if let Some(stop) = stopped_at {
            if paused_since.is_some() {
                return Err(ValidationError::new(
                    "paused_since",
                    "a stopped clock is not paused",
                ));
            }
            if stop < last {
                return Err(ValidationError::new(
                    "stopped_at",
                    "must not be before the last event",
                ));
            }
        }
        clock.pauses = pauses;
        clock.paused_since = paused_since;
        clock.stopped_at = stopped_at;
        Ok(clock)
    }

    pub fn started_at(&self) -> Timestamp {
        self.started_at
    }
    pub fn target_minutes(&self) -> u32 {
        self.target_minutes
    }
    pub fn pauses(&self) -> &[Pause] {
        &self.pauses
    }
    pub fn paused_since(&self) -> Option<Timestamp> {
        self.paused_since
    }
    pub fn stopped_at(&self) -> Option<Timestamp> {
        self.stopped_at
    }
    pub fn is_paused(&self) -> bool {
        self.paused_since.is_some()
    }

    fn last_event(&self) -> Timestamp {
        self.stopped_at
            .or(self.paused_since)
            .or(self.pauses.last().map(|p| p.until))
            .unwrap_or(self.started_at)
    }

    /// Stops time at `at`. Returns whether anything changed.
    pub fn pause(&mut self, at: Timestamp) -> bool {
        if self.stopped_at.is_some() || self.paused_since.is_some() {
            return false;
        }
        self.paused_since = Some(at.max(self.last_event()));
        true
    }

    /// Lets time run again from `at`. Returns whether anything changed.
    pub fn resume(&mut self, at: Timestamp) -> bool {
        let Some(from) = self.paused_since.take() else {
            return false;
        };
        let until = at.max(from);
        if until > from {
            self.pauses.push(Pause { from, until });
        }
        true
    }

    /// The target is met at `at` (ending a pause that is still going on).
    /// Returns whether anything changed.
    pub fn stop(&mut self, at: Timestamp) -> bool {
        if self.stopped_at.is_some() {
            return false;
        }
        let at = at.max(self.last_event());
        self.resume(at);
        self.stopped_at = Some(at);
        true
    }

    /// A stopped clock runs again from `at` (a resolved ticket reopened):
    /// the time it stood stopped is kept as a pause, so it does not count.
    /// Returns whether anything changed.
    pub fn reopen(&mut self, at: Timestamp) -> bool {
        let Some(stop) = self.stopped_at.take() else {
            return false;
        };
        let until = at.max(stop);
        if until > stop {
            self.pauses.push(Pause { from: stop, until });
        }
        true
    }

    fn target_ns(&self) -> i128 {
        i128::from(self.target_minutes) * NS_PER_MINUTE
    }

    /// The stretches in which the clock runs, ignoring any stop: from the
    /// start to the first pause, between pauses, and from the last resume on
    /// (unless a pause is still going on).
    fn running_windows(&self) -> impl Iterator<Item = (i128, i128)> + '_ {
        let starts = std::iter::once(self.started_at).chain(self.pauses.iter().map(|p| p.until));
        let ends = self
            .pauses
            .iter()
            .map(|p| p.from)
            .chain(std::iter::once(self.paused_since.unwrap_or(Timestamp::MAX)));
        starts.zip(ends).map(|(s, e)| (ns(s), ns(e)))
    }

    /// When the target is (or was) due: the instant at which the running
    /// business time reaches the target. Each pause pushes it later by the
    /// business time it covered; a pause after the due time changes nothing.
    /// `None` while a pause is going on short of the target, since the due
    /// time then depends on when the clock resumes.
    pub fn due_at(&self, cal: &BusinessCalendar) -> Option<Timestamp> {
        let [due] = reach(cal, self.running_windows(), [self.target_ns()]);
        due.map(timestamp)
    }

    /// Business time the clock has run by `now` (up to its stop, if any).
    pub fn business_time_elapsed(&self, cal: &BusinessCalendar, now: Timestamp) -> SignedDuration {
        let limit = ns(self.stopped_at.map_or(now, |s| s.min(now)));
        let mut total = 0;
        for (from, until) in self.running_windows() {
            if from >= limit {
                break;
            }
            let _ = cal.walk(from, until.min(limit), |a, b| {
                total += b - a;
                ControlFlow::Continue(())
            });
        }
        SignedDuration::from_nanos_i128(total)
    }

    /// Whole business minutes the clock has run by `now`.
    pub fn elapsed_business_minutes(&self, cal: &BusinessCalendar, now: Timestamp) -> i64 {
        (self.business_time_elapsed(cal, now).as_nanos() / NS_PER_MINUTE) as i64
    }

    /// The share of the target used by `now`: 0.8 is the usual warning point,
    /// above 1.0 the target is breached.
    pub fn fraction_used(&self, cal: &BusinessCalendar, now: Timestamp) -> f64 {
        self.business_time_elapsed(cal, now).as_nanos() as f64 / self.target_ns() as f64
    }

    /// The clock as it stood at `now`: events after it have not happened yet.
    /// Borrowed in the usual case where `now` is after every event.
    fn as_of(&self, now: Timestamp) -> Cow<'_, SlaClock> {
        if now >= self.last_event() {
            return Cow::Borrowed(self);
        }
        let mut clock = SlaClock {
            pauses: Vec::new(),
            paused_since: None,
            stopped_at: None,
            ..*self
        };
        for pause in &self.pauses {
            if pause.from > now {
                break;
            }
            if pause.until > now {
                clock.paused_since = Some(pause.from);
                return Cow::Owned(clock);
            }
            clock.pauses.push(*pause);
        }
        clock.paused_since = self.paused_since.filter(|p| *p <= now);
        Cow::Owned(clock)
    }
}

/// What [`evaluate`] finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaEvaluation {
    pub state: SlaState,
    /// When the target is (or was) due; `None` while paused short of it.
    pub due_at: Option<Timestamp>,
    /// When the warning share is (or was) used up; `None` without a warning
    /// threshold or while paused short of it.
    pub warn_at: Option<Timestamp>,
    /// The next instant at which the state changes if nothing else happens:
    /// the warning or the due time. `None` when only an event (a resume, a
    /// stop) can change it. At exactly this instant [`evaluate`] already
    /// returns the new state, so a scheduler sleeps until then.
    pub next_change: Option<Timestamp>,
}

/// The state of a clock at `now`, counting only the events up to `now`, and
/// when it will next change.
///
/// `warn_percent` is the share of the target after which the clock is
/// `warned` (80 is usual); 0 or 100 and above mean no warning. The target is
/// breached from its due instant on; a stop at or before the due instant
/// counts as met. A breach stays a breach whatever happens later, so it wins
/// over a pause; a pause wins over a warning.
pub fn evaluate(
    cal: &BusinessCalendar,
    clock: &SlaClock,
    now: Timestamp,
    warn_percent: u8,
) -> SlaEvaluation {
    let clock = clock.as_of(now);
    let target = clock.target_ns();
    let (warn_at, due_at) = if (1..100).contains(&warn_percent) {
        let [warn, due] = reach(
            cal,
            clock.running_windows(),
            [target * i128::from(warn_percent) / 100, target],
        );
        (warn, due)
    } else {
        (None, reach(cal, clock.running_windows(), [target])[0])
    };
    let now_ns = ns(now);
    let (state, next_change) = if let Some(stop) = clock.stopped_at {
        let late = due_at.is_some_and(|due| ns(stop) > due);
        (
            if late {
                SlaState::Breached
            } else {
                SlaState::Met
            },
            None,
        )
    } else if due_at.is_some_and(|due| due <= now_ns) {
        (SlaState::Breached, None)
    } else if clock.paused_since.is_some() {
        (SlaState::Paused, None)
    } else if warn_at.is_some_and(|warn| warn <= now_ns) {
        (SlaState::Warned, due_at)
    } else {
        (SlaState::Running, warn_at.or(due_at))
    };
    SlaEvaluation {
        state,
        due_at: due_at.map(timestamp),
        warn_at: warn_at.map(timestamp),
        next_change: next_change.map(timestamp),
    }
}
