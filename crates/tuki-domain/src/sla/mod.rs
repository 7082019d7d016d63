//! Service levels: business calendars and the SLA clock.
//!
//! A target such as "first response within 4 business hours" only means
//! something against a calendar: the desk's time zone, its working hours per
//! weekday and its holidays. This module answers the questions the store, the
//! web layer and the scheduler ask about such targets, as plain functions over
//! [`jiff::Timestamp`]s:
//!
//! * when is a target due ([`add_business_minutes`], [`SlaClock::due_at`]),
//! * how much business time lies between two instants
//!   ([`business_minutes_between`]),
//! * what state a clock is in now and when that will next change
//!   ([`evaluate`]), so a scheduler sleeps until then instead of polling.
//!
//! # What counts as business time
//!
//! An instant is business time when its wall-clock reading in the calendar's
//! zone falls on a working, non-holiday date inside one of that weekday's
//! working intervals. Everything follows from that one rule, including the
//! days when the clocks change (Europe/Helsinki: last Sunday of March
//! 03:00→04:00, last Sunday of October 04:00→03:00):
//!
//! * **Spring gap.** Wall times that do not exist are never business time. An
//!   interval 02:00–05:00 holds two real hours that night (02:00–03:00 and
//!   04:00–05:00); an interval lying wholly inside the gap holds none; an
//!   interval starting inside the gap effectively starts when the gap ends.
//! * **Autumn overlap.** Wall times that happen twice are business time both
//!   times, because the desk is staffed by the clock on the wall: an interval
//!   02:00–05:00 holds four real hours that night, and a 24/7 day has 25. An
//!   interval whose start or end lies inside the repeated hour counts each
//!   pass of the clock through it (03:10–03:50 gives 80 minutes, in two
//!   pieces).
//!
//! # Efficiency
//!
//! Arithmetic walks the calendar one working interval at a time, splitting the
//! time line only where the zone's offset changes, never minute by minute: a
//! due time 10,000 business minutes out costs a few dozen interval steps.
//! Evaluating a clock walks at most up to its due time, however old the
//! ticket, so it stays in the microseconds.

mod calendar;
mod clock;
mod holidays;
mod policy;
mod step;

#[cfg(test)]
mod tests;

pub use calendar::{
    BusinessCalendar, CalendarDefinition, HolidayRule, OpeningHours, WeeklyHours, WorkingInterval,
    WEEKDAYS,
};
pub use clock::{
    add_business_minutes, business_minutes_between, business_time_between, evaluate, Pause,
    SlaClock, SlaEvaluation, SlaState,
};
pub use holidays::{easter_sunday, finnish_holidays, FinnishHoliday};
pub use policy::{
    clock_moves, overall_state, raised, select_policy, tier_metrics, ClockMove, EscalationAction,
    EscalationTrigger, PolicyCandidate, PolicyConditions, PolicyFacts, SlaEventKind, SlaKind,
    TicketEvent, TierMetrics, TierMove,
};
pub use step::{step, ClockEvent, ClockRules, ClockWrite, SlaStep, StoredClock};

/// Instants are handled as nanoseconds since the Unix epoch: exact, and wide
/// enough for every [`jiff::Timestamp`].
const NS_PER_SECOND: i128 = 1_000_000_000;
const NS_PER_MINUTE: i128 = 60 * NS_PER_SECOND;
const NS_PER_DAY: i128 = 86_400 * NS_PER_SECOND;

fn ns(t: jiff::Timestamp) -> i128 {
    t.as_nanosecond()
}

/// Back from nanoseconds; anything past jiff's range is "never" (the last
/// representable instant), which only a calendar with no working time left
/// can produce.
fn timestamp(ns: i128) -> jiff::Timestamp {
    jiff::Timestamp::from_nanosecond(ns).unwrap_or(if ns < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    })
}

/// Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's
/// algorithm); the walk works in these because they are plain integers.
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month, day).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn date_to_days(date: jiff::civil::Date) -> i64 {
    days_from_civil(i64::from(date.year()), date.month() as u8, date.day() as u8)
}

/// Weekday of a day number, Monday = 0 (1970-01-01 was a Thursday).
fn weekday_of(days: i64) -> usize {
    (days + 3).rem_euclid(7) as usize
}
