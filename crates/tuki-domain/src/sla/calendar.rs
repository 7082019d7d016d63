//! Business calendars: when the desk works, on its own wall clock.
//!
//! An administrator describes a calendar as a [`CalendarDefinition`] (what the
//! API and the admin form carry); [`CalendarDefinition::validate`] checks it
//! once and yields a [`BusinessCalendar`], the form the arithmetic runs on.

use std::ops::ControlFlow;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::holidays::is_finnish_holiday;
use super::{
    civil_from_days, date_to_days, ns, weekday_of, NS_PER_DAY, NS_PER_MINUTE, NS_PER_SECOND,
};
use crate::ValidationError;

/// The weekdays' names as calendars spell them, Monday first.
pub const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const MINUTES_PER_DAY: u16 = 24 * 60;

/// One stretch of working time within a day, as wall-clock times of the
/// calendar's zone ("08:00" to "11:30"). The end may be "24:00" so that a day
/// can run up to midnight; a shift past midnight is two intervals, one on each
/// day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingInterval {
    pub start: String,
    pub end: String,
}

impl WorkingInterval {
    pub fn new(start: impl Into<String>, end: impl Into<String>) -> Self {
        Self {
            start: start.into(),
            end: end.into(),
        }
    }
}

/// Working intervals for each weekday; a day without any is a day off.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WeeklyHours {
    #[serde(default)]
    pub monday: Vec<WorkingInterval>,
    #[serde(default)]
    pub tuesday: Vec<WorkingInterval>,
    #[serde(default)]
    pub wednesday: Vec<WorkingInterval>,
    #[serde(default)]
    pub thursday: Vec<WorkingInterval>,
    #[serde(default)]
    pub friday: Vec<WorkingInterval>,
    #[serde(default)]
    pub saturday: Vec<WorkingInterval>,
    #[serde(default)]
    pub sunday: Vec<WorkingInterval>,
}

impl WeeklyHours {
    /// The same intervals Monday to Friday and the weekend off: the usual
    /// office week.
    pub fn weekdays(intervals: &[WorkingInterval]) -> Self {
        Self {
            monday: intervals.to_vec(),
            tuesday: intervals.to_vec(),
            wednesday: intervals.to_vec(),
            thursday: intervals.to_vec(),
            friday: intervals.to_vec(),
            ..Self::default()
        }
    }

    /// The intervals of the `i`-th weekday, Monday first (0 to 6).
    pub fn day_mut(&mut self, i: usize) -> &mut Vec<WorkingInterval> {
        match i {
            0 => &mut self.monday,
            1 => &mut self.tuesday,
            2 => &mut self.wednesday,
            3 => &mut self.thursday,
            4 => &mut self.friday,
            5 => &mut self.saturday,
            _ => &mut self.sunday,
        }
    }

    /// Monday first, as ISO 8601 and Finnish calendars count (the names
    /// are [`WEEKDAYS`]).
    pub fn days(&self) -> [&[WorkingInterval]; 7] {
        [
            &self.monday,
            &self.tuesday,
            &self.wednesday,
            &self.thursday,
            &self.friday,
            &self.saturday,
            &self.sunday,
        ]
    }
}

/// When the desk is staffed: around the clock, or by weekly hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OpeningHours {
    /// Every instant counts (holidays, if any, still close whole days).
    AlwaysOpen,
    Weekly(WeeklyHours),
}

/// A day on which the desk is closed even though the weekday is a working one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HolidayRule {
    /// A single date, such as a company training day.
    Date { date: Date },
    /// The same month and day every year, such as a local festival. 29
    /// February closes only leap years.
    Yearly { month: i8, day: i8 },
    /// Finland's public holidays and the Christmas and Midsummer Eves,
    /// computed per year (see [`super::finnish_holidays`]).
    FinnishPublic,
}

/// A business calendar as an administrator writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarDefinition {
    /// IANA name of the zone whose wall clock the hours follow, such as
    /// `Europe/Helsinki`.
    pub time_zone: String,
    pub hours: OpeningHours,
    #[serde(default)]
    pub holidays: Vec<HolidayRule>,
}

impl CalendarDefinition {
    /// Checks the definition and builds the calendar the arithmetic uses. The
    /// error names the offending field the way the definition spells it, e.g.
    /// `hours.monday[1].end`.
    pub fn validate(&self) -> Result<BusinessCalendar, ValidationError> {
        let zone = TimeZone::get(self.time_zone.trim()).map_err(|_| {
            ValidationError::new(
                "time_zone",
                format!(
                    "unknown time zone {:?}; use an IANA name like Europe/Helsinki",
                    self.time_zone
                ),
            )
        })?;
        let week = match &self.hours {
            OpeningHours::AlwaysOpen => std::array::from_fn(|_| vec![(0, MINUTES_PER_DAY)]),
            OpeningHours::Weekly(weekly) => {
                let mut week: [Vec<(u16, u16)>; 7] = Default::default();
                for (i, intervals) in weekly.days().into_iter().enumerate() {
                    week[i] = day_intervals(WEEKDAYS[i], intervals)?;
                }
                if week.iter().all(Vec::is_empty) {
                    return Err(ValidationError::new(
                        "hours",
                        "at least one working interval is needed (or choose always open)",
                    ));
                }
                week
            }
        };
        let mut holidays = Holidays::default();
        for (i, rule) in self.holidays.iter().enumerate() {
            match *rule {
                HolidayRule::Date { date } => holidays.dates.push(date_to_days(date)),
                HolidayRule::Yearly { month, day } => {
                    if !(1..=12).contains(&month) {
                        return Err(ValidationError::new(
                            format!("holidays[{i}].month"),
                            "must be a month from 1 to 12",
                        ));
                    }
                    // 2000 was a leap year, so 29 February passes.
                    if Date::new(2000, month, day).is_err() {
                        return Err(ValidationError::new(
                            format!("holidays[{i}].day"),
                            "must be a day of that month",
                        ));
                    }
                    holidays.yearly.push((month as u8, day as u8));
                }
                HolidayRule::FinnishPublic => holidays.finnish = true,
            }
        }
        holidays.dates.sort_unstable();
        holidays.dates.dedup();
        holidays.yearly.sort_unstable();
        holidays.yearly.dedup();
        let round_the_clock = holidays.is_empty()
            && week
                .iter()
                .all(|day| day.as_slice() == [(0, MINUTES_PER_DAY)]);
        Ok(BusinessCalendar {
            zone,
            week,
            holidays,
            round_the_clock,
        })
    }
}

/// Parses and checks one weekday's intervals: sorted, non-overlapping, with
/// touching ones (08:00–12:00, 12:00–16:00) merged.
fn day_intervals(
    day: &str,
    intervals: &[WorkingInterval],
) -> Result<Vec<(u16, u16)>, ValidationError> {
    let mut parsed = Vec::with_capacity(intervals.len());
    for (i, interval) in intervals.iter().enumerate() {
        let field = |part: &str| format!("hours.{day}[{i}].{part}");
        let start = minute_of_day(&interval.start, false)
            .ok_or_else(|| ValidationError::new(field("start"), "must be a time like 08:00"))?;
        let end = minute_of_day(&interval.end, true).ok_or_else(|| {
            ValidationError::new(
                field("end"),
                "must be a time like 16:00 (24:00 for midnight)",
            )
        })?;
        if end <= start {
            return Err(ValidationError::new(
                field("end"),
                format!("must be after the start {}", clock_text(start)),
            ));
        }
        parsed.push((start, end));
    }
    parsed.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::with_capacity(parsed.len());
    for (start, end) in parsed {
        match merged.last_mut() {
            Some(last) if start < last.1 => {
                return Err(ValidationError::new(
                    format!("hours.{day}"),
                    format!(
                        "intervals {}–{} and {}–{} overlap",
                        clock_text(last.0),
                        clock_text(last.1),
                        clock_text(start),
                        clock_text(end)
                    ),
                ));
            }
            Some(last) if start == last.1 => last.1 = end,
            _ => merged.push((start, end)),
        }
    }
    Ok(merged)
}

/// "08:00" (or "8:00") to minutes after midnight; "24:00" only as an end.
fn minute_of_day(raw: &str, is_end: bool) -> Option<u16> {
    let (h, m) = raw.trim().split_once(':')?;
    let number = |s: &str, len: std::ops::RangeInclusive<usize>| {
        (len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
    };
    let (h, m) = (number(h, 1..=2)?, number(m, 2..=2)?);
    let minute = h * 60 + m;
    (m < 60 && (minute < MINUTES_PER_DAY || (is_end && minute == MINUTES_PER_DAY)))
        .then_some(minute)
}

fn clock_text(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// Holidays in the form the walk checks quickly: one-off dates as sorted day
/// numbers, yearly ones as (month, day).
#[derive(Debug, Clone, Default)]
struct Holidays {
    dates: Vec<i64>,
    yearly: Vec<(u8, u8)>,
    finnish: bool,
}

impl Holidays {
    fn is_empty(&self) -> bool {
        self.dates.is_empty() && self.yearly.is_empty() && !self.finnish
    }

    fn contains(&self, days: i64) -> bool {
        if self.dates.binary_search(&days).is_ok() {
            return true;
        }
        if self.yearly.is_empty() && !self.finnish {
            return false;
        }
        let (year, month, day) = civil_from_days(days);
        self.yearly.binary_search(&(month, day)).is_ok()
            || (self.finnish && is_finnish_holiday(days, year, month, day))
    }

    /// The last one-off holiday; after it only yearly rules close days.
    fn last_date(&self) -> i64 {
        self.dates.last().copied().unwrap_or(i64::MIN)
    }
}

/// A validated business calendar: the zone, the working intervals of each
/// weekday in minutes after local midnight, and the holidays.
#[derive(Debug, Clone)]
pub struct BusinessCalendar {
    zone: TimeZone,
    /// Monday first; each day's intervals sorted, disjoint and not touching.
    week: [Vec<(u16, u16)>; 7],
    holidays: Holidays,
    /// Every instant is business time, so the walk can skip the calendar.
    round_the_clock: bool,
}

/// After this many days in a row without working time, and past the last
/// one-off holiday, yearly holidays must be closing every working day: the
/// desk never opens again. A full 400-year Gregorian cycle, so no real
/// calendar comes near it; it only keeps a degenerate one from walking to the
/// end of time.
const NEVER_OPEN_AFTER_DAYS: i64 = 146_097;

impl BusinessCalendar {
    /// A 24/7 calendar without holidays: business time is real time.
    pub fn always_open(zone: TimeZone) -> Self {
        Self {
            zone,
            week: std::array::from_fn(|_| vec![(0, MINUTES_PER_DAY)]),
            holidays: Holidays::default(),
            round_the_clock: true,
        }
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.zone
    }

    /// Whether the calendar's holidays close this date (whatever its weekday).
    pub fn is_holiday(&self, date: Date) -> bool {
        self.holidays.contains(date_to_days(date))
    }

    /// Whether an instant is business time: its wall-clock reading in the
    /// calendar's zone falls on a working, non-holiday day inside one of the
    /// day's intervals.
    pub fn is_open_at(&self, at: Timestamp) -> bool {
        if self.round_the_clock {
            return true;
        }
        let local = ns(at) + i128::from(self.zone.to_offset(at).seconds()) * NS_PER_SECOND;
        let day = local.div_euclid(NS_PER_DAY);
        let into_day = local - day * NS_PER_DAY;
        let day = day as i64;
        let intervals = &self.week[weekday_of(day)];
        intervals.iter().any(|&(s, e)| {
            i128::from(s) * NS_PER_MINUTE <= into_day && into_day < i128::from(e) * NS_PER_MINUTE
        }) && !self.holidays.contains(day)
    }

    /// Calls `visit` with each stretch of business time within `[from, until)`
    /// (nanoseconds since the epoch), in order, until it breaks.
    ///
    /// The time line is cut where the zone's offset changes; between cuts the
    /// wall clock is the instant plus a fixed offset, so each working interval
    /// of each local day maps to one stretch of instants, clipped to the piece
    /// of time line at hand. That is exactly "the instants whose wall-clock
    /// reading lies in an interval", which settles the DST gap and overlap
    /// without special cases.
    pub(super) fn walk(
        &self,
        from: i128,
        until: i128,
        mut visit: impl FnMut(i128, i128) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let until = until.min(ns(Timestamp::MAX));
        let from = from.max(ns(Timestamp::MIN));
        if from >= until {
            return ControlFlow::Continue(());
        }
        if self.round_the_clock {
            return visit(from, until);
        }
        let mut cursor = from;
        let mut last_open_day: Option<i64> = None;
        while cursor < until {
            let at = super::timestamp(cursor);
            let offset = i128::from(self.zone.to_offset(at).seconds()) * NS_PER_SECOND;
            let segment_end = match self.zone.following(at).next() {
                Some(transition) => ns(transition.timestamp()).min(until),
                None => until,
            };
            let local_end = segment_end + offset;
            let mut day = (cursor + offset).div_euclid(NS_PER_DAY) as i64;
            let last_open = last_open_day.get_or_insert(day);
            loop {
                let midnight = i128::from(day) * NS_PER_DAY - offset;
                if midnight + offset >= local_end {
                    break;
                }
                let intervals = &self.week[weekday_of(day)];
                if !intervals.is_empty() && !self.holidays.contains(day) {
                    for &(start, end) in intervals {
                        let a = (midnight + i128::from(start) * NS_PER_MINUTE).max(cursor);
                        let b = (midnight + i128::from(end) * NS_PER_MINUTE).min(segment_end);
                        if a < b {
                            *last_open = day;
                            visit(a, b)?;
                        }
                    }
                }
                if day - *last_open > NEVER_OPEN_AFTER_DAYS && day > self.holidays.last_date() {
                    return ControlFlow::Continue(());
                }
                day += 1;
            }
            cursor = segment_end;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly(hours: WeeklyHours) -> CalendarDefinition {
        CalendarDefinition {
            time_zone: "Europe/Helsinki".into(),
            hours: OpeningHours::Weekly(hours),
            holidays: vec![],
        }
    }

    fn iv(s: &str, e: &str) -> WorkingInterval {
        WorkingInterval::new(s, e)
    }

    #[test]
    fn parses_wall_times() {
        assert_eq!(minute_of_day("08:00", false), Some(480));
        assert_eq!(minute_of_day(" 8:30 ", false), Some(510));
        assert_eq!(minute_of_day("24:00", true), Some(1440));
        for bad in [
            "24:00", "23:60", "8", "08:0", "008:00", "-1:00", "+1:00", "ab:cd", "",
        ] {
            assert_eq!(minute_of_day(bad, false), None, "{bad:?}");
        }
        assert_eq!(minute_of_day("24:01", true), None);
    }

    #[test]
    fn unknown_time_zone_names_the_field() {
        let mut def = weekly(WeeklyHours::weekdays(&[iv("08:00", "16:00")]));
        def.time_zone = "Europe/Hellsinki".into();
        assert_eq!(def.validate().unwrap_err().field, "time_zone");
        def.time_zone = String::new();
        assert_eq!(def.validate().unwrap_err().field, "time_zone");
        def.time_zone = "UTC".into();
        assert!(def.validate().is_ok());
    }

    #[test]
    fn malformed_and_overlapping_intervals_name_the_field() {
        let cases = [
            (vec![iv("25:00", "26:00")], "hours.tuesday[0].start"),
            (
                vec![iv("08:00", "16:00"), iv("12:00", "12:00")],
                "hours.tuesday[1].end",
            ),
            (vec![iv("16:00", "08:00")], "hours.tuesday[0].end"),
            (vec![iv("08:00", "4pm")], "hours.tuesday[0].end"),
            (
                vec![iv("12:00", "16:00"), iv("08:00", "12:30")],
                "hours.tuesday",
            ),
            (
                vec![iv("08:00", "16:00"), iv("09:00", "10:00")],
                "hours.tuesday",
            ),
        ];
        for (intervals, field) in cases {
            let def = weekly(WeeklyHours {
                monday: vec![iv("08:00", "16:00")],
                tuesday: intervals.clone(),
                ..Default::default()
            });
            let err = def.validate().unwrap_err();
            assert_eq!(err.field, field, "{intervals:?}: {err}");
        }
        let err = weekly(WeeklyHours {
            monday: vec![iv("12:00", "16:00"), iv("08:00", "12:30")],
            ..Default::default()
        })
        .validate()
        .unwrap_err();
        assert_eq!(err.message, "intervals 08:00–12:30 and 12:00–16:00 overlap");
    }

    #[test]
    fn a_calendar_needs_some_working_time() {
        assert_eq!(
            weekly(WeeklyHours::default()).validate().unwrap_err().field,
            "hours"
        );
    }

    #[test]
    fn touching_intervals_merge() {
        let cal = weekly(WeeklyHours::weekdays(&[
            iv("12:00", "16:00"),
            iv("08:00", "12:00"),
        ]))
        .validate()
        .unwrap();
        assert_eq!(cal.week[0], vec![(480, 960)]);
        assert!(cal.week[5].is_empty());
    }

    #[test]
    fn yearly_holidays_are_checked() {
        let mut def = weekly(WeeklyHours::weekdays(&[iv("08:00", "16:00")]));
        def.holidays = vec![
            HolidayRule::FinnishPublic,
            HolidayRule::Yearly { month: 2, day: 30 },
        ];
        assert_eq!(def.validate().unwrap_err().field, "holidays[1].day");
        def.holidays = vec![HolidayRule::Yearly { month: 13, day: 1 }];
        assert_eq!(def.validate().unwrap_err().field, "holidays[0].month");
        def.holidays = vec![
            HolidayRule::Yearly { month: 2, day: 29 },
            HolidayRule::Date {
                date: jiff::civil::date(2025, 8, 15),
            },
            HolidayRule::FinnishPublic,
        ];
        let cal = def.validate().unwrap();
        for (date, closed) in [
            ((2024, 2, 29), true),
            ((2025, 2, 28), false),
            ((2025, 8, 15), true),
            ((2026, 8, 14), false),
            ((2026, 6, 19), true),
            ((2026, 6, 18), false),
        ] {
            let d = jiff::civil::date(date.0, date.1, date.2);
            assert_eq!(cal.is_holiday(d), closed, "{d}");
        }
    }

    #[test]
    fn always_open_definitions_skip_the_calendar_unless_holidays_close_days() {
        let mut def = CalendarDefinition {
            time_zone: "Europe/Helsinki".into(),
            hours: OpeningHours::AlwaysOpen,
            holidays: vec![],
        };
        assert!(def.validate().unwrap().round_the_clock);
        def.holidays.push(HolidayRule::FinnishPublic);
        assert!(!def.validate().unwrap().round_the_clock);
    }
}
