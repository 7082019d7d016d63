//! The on-call rota (päivystysvuorot): who is on duty when. A weekly
//! pattern of shifts on the desk's wall clock, and exceptions (a swap, a
//! holiday cover) that take precedence for their time. A request that comes
//! outside business hours goes to the person on duty.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::sla::WEEKDAYS;
use crate::ValidationError;

/// One shift of the weekly pattern: a weekday and a stretch of its wall
/// clock, in minutes after midnight (a night shift is two: until 24:00 and
/// from 00:00 of the next day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    pub user_id: i64,
    /// 0 is Monday.
    pub weekday: u8,
    pub start_minute: u16,
    pub end_minute: u16,
}

/// Someone on duty in place of the pattern, from one instant to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exception {
    pub id: i64,
    pub user_id: i64,
    pub from: Timestamp,
    pub until: Timestamp,
}

/// "08:00" as minutes after midnight; "24:00" ends a day.
pub fn parse_clock(field: &str, raw: &str) -> Result<u16, ValidationError> {
    let bad = || ValidationError::new(field, "must be a time such as 16:00");
    let (h, m) = raw.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 || h > 24 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// "monday".."sunday" as 0..6.
pub fn parse_weekday(field: &str, raw: &str) -> Result<u8, ValidationError> {
    WEEKDAYS
        .iter()
        .position(|d| d.eq_ignore_ascii_case(raw.trim()))
        .map(|i| i as u8)
        .ok_or_else(|| {
            ValidationError::new(field, format!("must be one of: {}", WEEKDAYS.join(", ")))
        })
}

/// Checks a shift's times: the start before the end.
pub fn check_shift(start: u16, end: u16) -> Result<(), ValidationError> {
    if start >= end {
        return Err(ValidationError::new(
            "end",
            "must be after the start (a night shift is two shifts, until 24:00 and from 00:00)",
        ));
    }
    Ok(())
}

/// Who is on duty at `at`: the latest exception covering it, else the
/// earliest-starting shift of the pattern covering the wall-clock time in
/// `zone`; `None` when nobody is.
pub fn on_duty(
    shifts: &[Shift],
    exceptions: &[Exception],
    at: Timestamp,
    zone: &TimeZone,
) -> Option<i64> {
    if let Some(e) = exceptions
        .iter()
        .filter(|e| e.from <= at && at < e.until)
        .max_by_key(|e| (e.from, e.id))
    {
        return Some(e.user_id);
    }
    let local = at.to_zoned(zone.clone());
    let weekday = match local.weekday() {
        Weekday::Monday => 0,
        Weekday::Tuesday => 1,
        Weekday::Wednesday => 2,
        Weekday::Thursday => 3,
        Weekday::Friday => 4,
        Weekday::Saturday => 5,
        Weekday::Sunday => 6,
    };
    let minute = local.hour() as u16 * 60 + local.minute() as u16;
    shifts
        .iter()
        .filter(|s| s.weekday == weekday && s.start_minute <= minute && minute < s.end_minute)
        .min_by_key(|s| (s.start_minute, s.user_id))
        .map(|s| s.user_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::DateTime;

    fn hki(wall: &str) -> Timestamp {
        wall.parse::<DateTime>()
            .unwrap()
            .to_zoned(TimeZone::get("Europe/Helsinki").unwrap())
            .unwrap()
            .timestamp()
    }

    fn rota() -> Vec<Shift> {
        // Weeknights: Aino until midnight, Bertta after it; weekends Aino.
        let mut v = Vec::new();
        for d in 0..5 {
            v.push(Shift {
                user_id: 1,
                weekday: d,
                start_minute: 16 * 60,
                end_minute: 24 * 60,
            });
            v.push(Shift {
                user_id: 2,
                weekday: d,
                start_minute: 0,
                end_minute: 8 * 60,
            });
        }
        for d in 5..7 {
            v.push(Shift {
                user_id: 1,
                weekday: d,
                start_minute: 0,
                end_minute: 24 * 60,
            });
        }
        v
    }

    #[test]
    fn the_pattern_and_its_exceptions() {
        let zone = TimeZone::get("Europe/Helsinki").unwrap();
        // 29.11.2026 is a Sunday, 30.11. a Monday.
        assert_eq!(
            on_duty(&rota(), &[], hki("2026-11-29 23:30"), &zone),
            Some(1)
        );
        assert_eq!(
            on_duty(&rota(), &[], hki("2026-11-30 03:00"), &zone),
            Some(2)
        );
        assert_eq!(on_duty(&rota(), &[], hki("2026-11-30 10:00"), &zone), None);
        assert_eq!(
            on_duty(&rota(), &[], hki("2026-11-30 16:00"), &zone),
            Some(1)
        );
        let swap = Exception {
            id: 1,
            user_id: 3,
            from: hki("2026-11-29 18:00"),
            until: hki("2026-11-30 08:00"),
        };
        assert_eq!(
            on_duty(&rota(), &[swap], hki("2026-11-29 23:30"), &zone),
            Some(3)
        );
        assert_eq!(
            on_duty(&rota(), &[swap], hki("2026-11-30 08:00"), &zone),
            None
        );
        // A later exception over an earlier one.
        let cover = Exception {
            id: 2,
            user_id: 4,
            from: hki("2026-11-29 22:00"),
            until: hki("2026-11-30 01:00"),
        };
        assert_eq!(
            on_duty(&rota(), &[swap, cover], hki("2026-11-29 23:30"), &zone),
            Some(4)
        );
    }

    #[test]
    fn times_and_days_are_read_as_typed() {
        assert_eq!(parse_clock("start", "08:30").unwrap(), 510);
        assert_eq!(parse_clock("end", "24:00").unwrap(), 1440);
        assert!(parse_clock("end", "24:01").is_err());
        assert!(parse_clock("start", "8").is_err());
        assert_eq!(parse_weekday("weekday", "Sunday").unwrap(), 6);
        assert_eq!(parse_weekday("weekday", "x").unwrap_err().field, "weekday");
        assert!(check_shift(600, 600).is_err());
    }
}
