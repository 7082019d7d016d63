//! Scenario tests of the arithmetic and the clock, and property tests against
//! a minute-by-minute reference.

use std::collections::HashSet;

use jiff::civil::{date, Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use proptest::prelude::*;

use super::*;

fn helsinki() -> TimeZone {
    TimeZone::get("Europe/Helsinki").unwrap()
}

/// A Helsinki wall-clock time ("2025-03-14 15:00"); ambiguous times are
/// written with their offset instead (see [`at`]).
fn hki(wall: &str) -> Timestamp {
    wall.parse::<DateTime>()
        .unwrap()
        .to_zoned(helsinki())
        .unwrap()
        .timestamp()
}

/// An instant with an explicit offset: "2025-10-26T03:30+02:00".
fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn iv(start: &str, end: &str) -> WorkingInterval {
    WorkingInterval::new(start, end)
}

fn calendar(hours: OpeningHours, holidays: Vec<HolidayRule>) -> BusinessCalendar {
    CalendarDefinition {
        time_zone: "Europe/Helsinki".into(),
        hours,
        holidays,
    }
    .validate()
    .unwrap()
}

/// Monday to Friday 08:00–16:00 in Helsinki, Finnish holidays off.
fn office() -> BusinessCalendar {
    calendar(
        OpeningHours::Weekly(WeeklyHours::weekdays(&[iv("08:00", "16:00")])),
        vec![HolidayRule::FinnishPublic],
    )
}

/// The same intervals every day of the week, no holidays.
fn daily(intervals: &[WorkingInterval]) -> BusinessCalendar {
    let mut week = WeeklyHours::weekdays(intervals);
    week.saturday = intervals.to_vec();
    week.sunday = intervals.to_vec();
    calendar(OpeningHours::Weekly(week), vec![])
}

fn minutes(cal: &BusinessCalendar, a: Timestamp, b: Timestamp) -> i64 {
    business_minutes_between(cal, a, b)
}

#[test]
fn friday_afternoon_ticket_is_due_monday_late_morning() {
    let cal = office();
    let start = hki("2025-03-14 15:00");
    let due = add_business_minutes(&cal, start, 4 * 60);
    assert_eq!(due, hki("2025-03-17 11:00"));
    assert_eq!(minutes(&cal, start, due), 240);
}

#[test]
fn holidays_are_skipped() {
    let cal = office();
    let cases = [
        // Good Friday and Easter Monday 2025.
        ("2025-04-17 15:00", "2025-04-22 11:00"),
        // Midsummer Eve 2025 is a Friday.
        ("2025-06-19 15:00", "2025-06-23 11:00"),
        // Christmas Eve, Christmas Day and Boxing Day 2025 are Wednesday to Friday.
        ("2025-12-23 15:00", "2025-12-29 11:00"),
        // Ascension Day 2026 is Thursday 14 May.
        ("2026-05-13 15:00", "2026-05-15 11:00"),
        // New Year's Day 2027 is a Friday.
        ("2026-12-31 15:00", "2027-01-04 11:00"),
    ];
    for (start, due) in cases {
        assert_eq!(
            add_business_minutes(&cal, hki(start), 240),
            hki(due),
            "{start}"
        );
    }
    let mut with_own = vec![HolidayRule::FinnishPublic];
    with_own.push(HolidayRule::Date {
        date: date(2025, 3, 17),
    });
    with_own.push(HolidayRule::Yearly { month: 3, day: 18 });
    let cal = calendar(
        OpeningHours::Weekly(WeeklyHours::weekdays(&[iv("08:00", "16:00")])),
        with_own,
    );
    assert_eq!(
        add_business_minutes(&cal, hki("2025-03-14 15:00"), 240),
        hki("2025-03-19 11:00")
    );
    assert_eq!(
        add_business_minutes(&cal, hki("2026-03-13 15:00"), 240),
        hki("2026-03-16 11:00")
    );
}

#[test]
fn gaps_between_intervals_do_not_count() {
    let cal = calendar(
        OpeningHours::Weekly(WeeklyHours::weekdays(&[
            iv("08:00", "11:30"),
            iv("12:00", "16:00"),
        ])),
        vec![],
    );
    let monday = |t: &str| hki(&format!("2025-03-17 {t}"));
    assert_eq!(
        add_business_minutes(&cal, monday("11:00"), 60),
        monday("12:30")
    );
    // Ends with the interval: due at 11:30, not when the next one opens.
    assert_eq!(
        add_business_minutes(&cal, monday("11:00"), 30),
        monday("11:30")
    );
    assert_eq!(
        add_business_minutes(&cal, monday("11:45"), 10),
        monday("12:10")
    );
    assert_eq!(
        add_business_minutes(&cal, monday("15:30"), 60),
        hki("2025-03-18 08:30")
    );
    assert_eq!(minutes(&cal, monday("11:00"), monday("12:30")), 60);
    assert_eq!(minutes(&cal, monday("12:30"), monday("11:00")), -60);
    assert_eq!(
        minutes(&cal, monday("00:00"), hki("2025-03-24 00:00")),
        5 * 450
    );
    assert!(!cal.is_open_at(monday("11:30")));
    assert!(cal.is_open_at(monday("11:29")));
    assert!(cal.is_open_at(monday("12:00")));
}

#[test]
fn starts_outside_hours_wait_for_the_next_opening() {
    let cal = office();
    assert_eq!(
        add_business_minutes(&cal, hki("2025-03-15 10:00"), 1),
        hki("2025-03-17 08:01")
    );
    assert_eq!(
        add_business_minutes(&cal, hki("2025-03-17 06:00"), 1),
        hki("2025-03-17 08:01")
    );
    assert_eq!(
        add_business_minutes(&cal, hki("2025-03-17 16:00"), 1),
        hki("2025-03-18 08:01")
    );
    assert_eq!(
        add_business_minutes(&cal, hki("2025-03-15 10:00"), 0),
        hki("2025-03-15 10:00")
    );
    assert_eq!(
        add_business_minutes(&cal, hki("2025-03-15 10:00"), -5),
        hki("2025-03-15 10:00")
    );
    assert_eq!(
        minutes(&cal, hki("2025-03-15 10:00"), hki("2025-03-16 10:00")),
        0
    );
}

#[test]
fn sub_minute_instants_are_exact() {
    let cal = office();
    let start = hki("2025-03-17 09:00") + SignedDuration::from_millis(1500);
    let due = add_business_minutes(&cal, start, 90);
    assert_eq!(
        due,
        hki("2025-03-17 10:30") + SignedDuration::from_millis(1500)
    );
    assert_eq!(
        business_time_between(&cal, start, hki("2025-03-17 09:01")),
        SignedDuration::from_millis(58_500)
    );
    assert_eq!(minutes(&cal, start, hki("2025-03-17 09:01")), 0);
}

#[test]
fn round_the_clock_calendars_count_real_time() {
    let cal = BusinessCalendar::always_open(helsinki());
    let start = hki("2025-03-15 10:00");
    assert_eq!(
        add_business_minutes(&cal, start, 60),
        start + SignedDuration::from_hours(1)
    );
    // Europe/Helsinki, 26 October 2025: 04:00 summer time becomes 03:00 and
    // the day has 25 real hours; 30 March 2025 has 23.
    assert_eq!(
        minutes(&cal, hki("2025-10-26 00:00"), hki("2025-10-27 00:00")),
        25 * 60
    );
    assert_eq!(
        minutes(&cal, hki("2025-03-30 00:00"), hki("2025-03-31 00:00")),
        23 * 60
    );
    // A day of business time from Saturday noon ends at 11:00 wall time.
    assert_eq!(
        add_business_minutes(&cal, hki("2025-10-25 12:00"), 24 * 60),
        hki("2025-10-26 11:00")
    );
    assert_eq!(
        add_business_minutes(&cal, hki("2025-03-29 12:00"), 24 * 60),
        hki("2025-03-30 13:00")
    );
    // Huge targets stay cheap.
    let far = add_business_minutes(&cal, start, 10_000_000);
    assert_eq!(far, start + SignedDuration::from_mins(10_000_000));

    // The same through a definition, and with holidays closing whole days.
    let def = calendar(OpeningHours::AlwaysOpen, vec![]);
    assert_eq!(
        minutes(&def, hki("2025-10-26 00:00"), hki("2025-10-27 00:00")),
        25 * 60
    );
    let with_holidays = calendar(OpeningHours::AlwaysOpen, vec![HolidayRule::FinnishPublic]);
    assert_eq!(
        minutes(
            &with_holidays,
            hki("2025-12-23 23:00"),
            hki("2025-12-27 01:00")
        ),
        120
    );
    assert_eq!(
        add_business_minutes(&with_holidays, hki("2025-12-23 23:00"), 90),
        hki("2025-12-27 00:30")
    );
}

#[test]
fn office_hours_across_both_clock_changes() {
    let cal = office();
    // Friday before the spring change to Monday after it.
    let (start, due) = (hki("2025-03-28 15:00"), hki("2025-03-31 11:00"));
    assert_eq!(add_business_minutes(&cal, start, 240), due);
    assert_eq!(due.duration_since(start), SignedDuration::from_hours(67));
    // Friday before the autumn change to Monday after it.
    let (start, due) = (hki("2025-10-24 15:00"), hki("2025-10-27 11:00"));
    assert_eq!(add_business_minutes(&cal, start, 240), due);
    assert_eq!(due.duration_since(start), SignedDuration::from_hours(69));
    // A whole DST week holds the same business time as any other week.
    assert_eq!(
        minutes(&cal, hki("2025-03-24 00:00"), hki("2025-03-31 00:00")),
        5 * 480
    );
    assert_eq!(
        minutes(&cal, hki("2025-10-20 00:00"), hki("2025-10-27 00:00")),
        5 * 480
    );
}

#[test]
fn night_intervals_on_transition_nights() {
    let cal = daily(&[iv("02:00", "05:00")]);
    let day = |d: &str, next: &str| {
        minutes(
            &cal,
            hki(&format!("{d} 00:00")),
            hki(&format!("{next} 00:00")),
        )
    };
    // Spring: 03:00–03:59 never happens, so 02:00–05:00 holds two hours.
    assert_eq!(day("2025-03-29", "2025-03-30"), 180);
    assert_eq!(day("2025-03-30", "2025-03-31"), 120);
    // Autumn: 03:00–03:59 happens twice, so the interval holds four hours.
    assert_eq!(day("2025-10-26", "2025-10-27"), 240);
    assert_eq!(day("2025-10-27", "2025-10-28"), 180);

    // 150 minutes from 02:00 on the spring night: 02:00–03:00, 04:00–05:00,
    // then 30 minutes of the next night.
    assert_eq!(
        add_business_minutes(&cal, hki("2025-03-30 02:00"), 150),
        hki("2025-03-31 02:30")
    );
    assert_eq!(
        add_business_minutes(&cal, hki("2025-03-30 02:00"), 61),
        at("2025-03-30T04:01+03:00")
    );
    // 200 minutes from 02:00 on the autumn night: through 03:00–04:00 twice.
    assert_eq!(
        add_business_minutes(&cal, hki("2025-10-26 02:00"), 200),
        at("2025-10-26T04:20+02:00")
    );
    assert_eq!(
        add_business_minutes(&cal, hki("2025-10-26 02:00"), 90),
        at("2025-10-26T03:30+03:00")
    );
    assert_eq!(
        add_business_minutes(&cal, hki("2025-10-26 02:00"), 150),
        at("2025-10-26T03:30+02:00")
    );
}

#[test]
fn intervals_inside_the_gap_and_the_repeated_hour() {
    // Wholly inside the spring gap: nothing that night.
    let cal = daily(&[iv("03:15", "03:45")]);
    let night = |d: &str, next: &str| {
        minutes(
            &cal,
            hki(&format!("{d} 00:00")),
            hki(&format!("{next} 00:00")),
        )
    };
    assert_eq!(night("2025-03-29", "2025-03-30"), 30);
    assert_eq!(night("2025-03-30", "2025-03-31"), 0);
    // Inside the repeated hour: both passes count.
    assert_eq!(night("2025-10-26", "2025-10-27"), 60);

    // Starting in the gap: the interval begins when the gap ends.
    let cal = daily(&[iv("03:30", "05:00")]);
    assert_eq!(
        minutes(&cal, hki("2025-03-30 00:00"), hki("2025-03-31 00:00")),
        60
    );
    assert_eq!(
        add_business_minutes(&cal, hki("2025-03-30 00:00"), 1),
        at("2025-03-30T04:01+03:00")
    );

    // Boundaries inside the repeated hour: each pass of the wall clock
    // through 03:10–03:50 counts, 40 + 40 minutes in two pieces.
    let cal = daily(&[iv("03:10", "03:50")]);
    assert_eq!(
        minutes(&cal, hki("2025-10-26 00:00"), hki("2025-10-27 00:00")),
        80
    );
    assert!(cal.is_open_at(at("2025-10-26T03:20+03:00")));
    assert!(!cal.is_open_at(at("2025-10-26T03:55+03:00")));
    assert!(!cal.is_open_at(at("2025-10-26T03:05+02:00")));
    assert!(cal.is_open_at(at("2025-10-26T03:20+02:00")));
    assert_eq!(
        add_business_minutes(&cal, hki("2025-10-26 00:00"), 50),
        at("2025-10-26T03:20+02:00")
    );
}

#[test]
fn walking_is_per_interval_not_per_minute() {
    let cal = office();
    let start = hki("2025-03-14 15:00");
    let mut steps = 0;
    let _ = cal.walk(
        ns(start),
        ns(add_business_minutes(&cal, start, 10_000)),
        |_, _| {
            steps += 1;
            std::ops::ControlFlow::Continue(())
        },
    );
    // 10,000 minutes is 20.8 working days of 480 minutes.
    assert_eq!(steps, 22);
    let due = add_business_minutes(&cal, start, 1_000_000);
    assert_eq!(minutes(&cal, start, due), 1_000_000);
}

#[test]
fn a_calendar_that_never_opens_again_gives_never() {
    let holidays = (1..=12)
        .flat_map(|m| (1..=31).map(move |d| (m, d)))
        .filter(|(m, d)| Date::new(2000, *m, *d).is_ok())
        .map(|(month, day)| HolidayRule::Yearly { month, day })
        .collect();
    let cal = calendar(
        OpeningHours::Weekly(WeeklyHours::weekdays(&[iv("08:00", "16:00")])),
        holidays,
    );
    assert_eq!(
        add_business_minutes(&cal, hki("2025-03-14 15:00"), 1),
        Timestamp::MAX
    );
    let clock = SlaClock::start(hki("2025-03-14 15:00"), 60).unwrap();
    assert_eq!(clock.due_at(&cal), None);
    assert_eq!(
        evaluate(&cal, &clock, hki("2025-03-20 15:00"), 80).state,
        SlaState::Running
    );
}

// --- The clock -------------------------------------------------------------

#[test]
fn pauses_push_the_due_time_by_the_business_time_they_cover() {
    let cal = office();
    let mut clock = SlaClock::start(hki("2025-03-17 08:00"), 480).unwrap();
    assert_eq!(clock.due_at(&cal), Some(hki("2025-03-17 16:00")));
    // Waiting on the customer from 15:00 to 09:00 next morning covers two
    // business hours (15–16 and 08–09).
    assert!(clock.pause(hki("2025-03-17 15:00")));
    assert_eq!(clock.due_at(&cal), None);
    assert!(clock.resume(hki("2025-03-18 09:00")));
    assert_eq!(clock.due_at(&cal), Some(hki("2025-03-18 10:00")));
    assert_eq!(
        clock.elapsed_business_minutes(&cal, hki("2025-03-18 09:30")),
        450
    );
    // A pause outside business hours costs nothing.
    assert!(clock.pause(hki("2025-03-18 09:30")));
    assert!(clock.resume(hki("2025-03-18 09:30")));
    assert!(clock.pauses().len() == 1);
    assert_eq!(clock.due_at(&cal), Some(hki("2025-03-18 10:00")));
}

#[test]
fn the_clock_reports_its_states() {
    let cal = office();
    let t = |hm: &str| hki(&format!("2025-03-17 {hm}"));
    let clock = SlaClock::start(t("08:00"), 100).unwrap();
    let e = evaluate(&cal, &clock, t("08:30"), 80);
    assert_eq!(
        (e.state, e.warn_at, e.due_at, e.next_change),
        (
            SlaState::Running,
            Some(t("09:20")),
            Some(t("09:40")),
            Some(t("09:20"))
        )
    );
    let e = evaluate(&cal, &clock, t("09:20"), 80);
    assert_eq!(
        (e.state, e.next_change),
        (SlaState::Warned, Some(t("09:40")))
    );
    let e = evaluate(&cal, &clock, t("09:40"), 80);
    assert_eq!((e.state, e.next_change), (SlaState::Breached, None));
    assert_eq!(clock.fraction_used(&cal, t("09:20")), 0.8);
    // Without a warning threshold the next change is the due time.
    for pct in [0, 100, 255] {
        let e = evaluate(&cal, &clock, t("09:30"), pct);
        assert_eq!(
            (e.state, e.warn_at, e.next_change),
            (SlaState::Running, None, Some(t("09:40")))
        );
    }

    let mut met = clock.clone();
    met.stop(t("09:40"));
    assert_eq!(evaluate(&cal, &met, t("12:00"), 80).state, SlaState::Met);
    let mut late = clock.clone();
    late.stop(t("09:41"));
    assert_eq!(
        evaluate(&cal, &late, t("12:00"), 80).state,
        SlaState::Breached
    );
    // Before the stop happened the clock was still warned.
    assert_eq!(evaluate(&cal, &met, t("09:30"), 80).state, SlaState::Warned);

    let mut paused = clock.clone();
    paused.pause(t("09:00"));
    let e = evaluate(&cal, &paused, t("12:00"), 80);
    assert_eq!(
        (e.state, e.due_at, e.next_change),
        (SlaState::Paused, None, None)
    );
    paused.resume(t("12:00"));
    let e = evaluate(&cal, &paused, t("12:00"), 80);
    assert_eq!(
        (e.state, e.next_change),
        (SlaState::Running, Some(t("12:20")))
    );
    // As of a moment inside the (now closed) pause, the clock was paused.
    assert_eq!(
        evaluate(&cal, &paused, t("10:00"), 80).state,
        SlaState::Paused
    );
    assert_eq!(
        evaluate(&cal, &paused, t("08:59"), 80).state,
        SlaState::Running
    );
}

#[test]
fn a_breach_stays_a_breach() {
    let cal = office();
    let t = |hm: &str| hki(&format!("2025-03-17 {hm}"));
    let mut clock = SlaClock::start(t("08:00"), 60).unwrap();
    clock.pause(t("10:00"));
    let e = evaluate(&cal, &clock, t("11:00"), 80);
    assert_eq!((e.state, e.due_at), (SlaState::Breached, Some(t("09:00"))));
    clock.stop(t("11:00"));
    assert_eq!(
        evaluate(&cal, &clock, t("12:00"), 80).state,
        SlaState::Breached
    );
    assert_eq!(
        clock.pauses(),
        &[Pause {
            from: t("10:00"),
            until: t("11:00")
        }]
    );
    // Due Friday 16:00, answered on Saturday: late, though no business time
    // passed in between.
    let mut weekend = SlaClock::start(hki("2025-03-21 15:00"), 60).unwrap();
    weekend.stop(hki("2025-03-22 10:00"));
    assert_eq!(
        evaluate(&cal, &weekend, hki("2025-03-24 10:00"), 80).state,
        SlaState::Breached
    );
}

#[test]
fn clock_events_only_move_forward() {
    let t = |hm: &str| hki(&format!("2025-03-17 {hm}"));
    let mut clock = SlaClock::start(t("08:00"), 60).unwrap();
    assert!(!clock.resume(t("09:00")));
    assert!(clock.pause(t("07:00")));
    assert_eq!(clock.paused_since(), Some(t("08:00")));
    assert!(!clock.pause(t("09:00")));
    assert!(clock.resume(t("07:30")));
    assert!(clock.pauses().is_empty() && !clock.is_paused());
    assert!(clock.stop(t("09:00")));
    assert!(!clock.stop(t("10:00")));
    assert!(!clock.pause(t("10:00")));
    assert_eq!(clock.stopped_at(), Some(t("09:00")));
    assert_eq!(
        SlaClock::start(t("08:00"), 0).unwrap_err().field,
        "target_minutes"
    );
}

#[test]
fn stored_clocks_are_checked() {
    let t = |hm: &str| hki(&format!("2025-03-17 {hm}"));
    let p = |a: &str, b: &str| Pause {
        from: t(a),
        until: t(b),
    };
    let ok = SlaClock::from_parts(
        t("08:00"),
        60,
        vec![p("09:00", "10:00")],
        Some(t("11:00")),
        None,
    )
    .unwrap();
    assert_eq!(ok.pauses().len(), 1);
    let bad = [
        (
            SlaClock::from_parts(t("08:00"), 60, vec![p("07:00", "10:00")], None, None),
            "pauses[0]",
        ),
        (
            SlaClock::from_parts(
                t("08:00"),
                60,
                vec![p("09:00", "10:00"), p("09:30", "11:00")],
                None,
                None,
            ),
            "pauses[1]",
        ),
        (
            SlaClock::from_parts(
                t("08:00"),
                60,
                vec![p("09:00", "10:00")],
                Some(t("09:30")),
                None,
            ),
            "paused_since",
        ),
        (
            SlaClock::from_parts(t("08:00"), 60, vec![], Some(t("09:30")), Some(t("10:00"))),
            "paused_since",
        ),
        (
            SlaClock::from_parts(
                t("08:00"),
                60,
                vec![p("09:00", "10:00")],
                None,
                Some(t("09:59")),
            ),
            "stopped_at",
        ),
        (
            SlaClock::from_parts(t("08:00"), 0, vec![], None, None),
            "target_minutes",
        ),
    ];
    for (result, field) in bad {
        assert_eq!(result.unwrap_err().field, field);
    }
}

/// Run with `cargo test --release -p tuki-domain -- --ignored --nocapture`.
#[test]
#[ignore]
fn evaluation_speed() {
    let cal = office();
    let base = hki("2025-01-02 08:00");
    let clocks: Vec<SlaClock> = (0..100_000_i64)
        .map(|i| {
            let mut c = SlaClock::start(
                base + SignedDuration::from_mins(i * 7 % 200_000),
                60 + (i % 5000) as u32,
            )
            .unwrap();
            if i % 3 == 0 {
                c.pause(c.started_at() + SignedDuration::from_hours(3));
                c.resume(c.started_at() + SignedDuration::from_hours(30));
            }
            c
        })
        .collect();
    let now = hki("2025-05-01 12:00");
    let started = std::time::Instant::now();
    let breached = clocks
        .iter()
        .filter(|c| evaluate(&cal, c, now, 80).state == SlaState::Breached)
        .count();
    println!(
        "100,000 evaluations in {:?} ({breached} breached)",
        started.elapsed()
    );
}

// --- Properties ------------------------------------------------------------

/// A random calendar, kept in plain form as well so the reference can check
/// instants without going through the code under test.
#[derive(Debug, Clone)]
struct Plain {
    zone: &'static str,
    week: [Vec<(u16, u16)>; 7],
    dates: Vec<Date>,
    yearly: Vec<(i8, i8)>,
    finnish: bool,
}

impl Plain {
    fn calendar(&self) -> BusinessCalendar {
        let text = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        let day = |i: usize| {
            self.week[i]
                .iter()
                .map(|&(s, e)| iv(&text(s), &text(e)))
                .collect::<Vec<_>>()
        };
        let hours = WeeklyHours {
            monday: day(0),
            tuesday: day(1),
            wednesday: day(2),
            thursday: day(3),
            friday: day(4),
            saturday: day(5),
            sunday: day(6),
        };
        let mut holidays: Vec<HolidayRule> = self
            .dates
            .iter()
            .map(|&date| HolidayRule::Date { date })
            .collect();
        holidays.extend(
            self.yearly
                .iter()
                .map(|&(month, day)| HolidayRule::Yearly { month, day }),
        );
        if self.finnish {
            holidays.push(HolidayRule::FinnishPublic);
        }
        CalendarDefinition {
            time_zone: self.zone.into(),
            hours: OpeningHours::Weekly(hours),
            holidays,
        }
        .validate()
        .unwrap()
    }

    fn reference(&self) -> Reference {
        let mut closed: HashSet<Date> = self.dates.iter().copied().collect();
        for year in 2024..=2027 {
            for &(m, d) in &self.yearly {
                if let Ok(day) = Date::new(year, m, d) {
                    closed.insert(day);
                }
            }
            if self.finnish {
                closed.extend(finnish_holidays(year).into_iter().map(|(d, _)| d));
            }
        }
        Reference {
            zone: TimeZone::get(self.zone).unwrap(),
            week: self.week.clone(),
            closed,
        }
    }
}

/// Minute-by-minute business time, straight from the definition.
struct Reference {
    zone: TimeZone,
    week: [Vec<(u16, u16)>; 7],
    closed: HashSet<Date>,
}

impl Reference {
    fn open(&self, t: Timestamp) -> bool {
        let wall = self.zone.to_datetime(t);
        let minute = wall.hour() as u16 * 60 + wall.minute() as u16;
        let weekday = wall.weekday().to_monday_zero_offset() as usize;
        !self.closed.contains(&wall.date())
            && self.week[weekday]
                .iter()
                .any(|&(s, e)| s <= minute && minute < e)
    }

    /// Business minutes in [a, b) for instants on whole minutes.
    fn minutes(&self, a: Timestamp, b: Timestamp) -> i64 {
        let mut t = a;
        let mut n = 0;
        while t < b {
            n += i64::from(self.open(t));
            t += SignedDuration::from_mins(1);
        }
        n
    }
}

/// One weekday: up to three intervals on quarter hours, so the ends of the
/// day and the hours around clock changes come up often.
fn arb_day() -> impl Strategy<Value = Vec<(u16, u16)>> {
    prop::collection::btree_set(0u16..=96, 0..=6).prop_map(|set| {
        let marks: Vec<u16> = set.into_iter().map(|q| q * 15).collect();
        marks.chunks_exact(2).map(|c| (c[0], c[1])).collect()
    })
}

/// Weeks around clock changes: Helsinki (last Sundays of March and October),
/// New York (9 March, 2 November 2025), Lord Howe (half-hour changes on 6
/// April and 5 October 2025), and around Easter, Midsummer and Christmas.
const BASES: [&str; 10] = [
    "2025-03-24T00:00Z",
    "2025-10-20T00:00Z",
    "2025-03-03T00:00Z",
    "2025-10-27T00:00Z",
    "2025-04-01T00:00Z",
    "2025-09-29T00:00Z",
    "2025-04-14T00:00Z",
    "2025-06-16T00:00Z",
    "2025-12-18T00:00Z",
    "2026-03-23T00:00Z",
];

fn arb_start() -> impl Strategy<Value = Timestamp> {
    (0..BASES.len(), 0i64..(14 * 1440))
        .prop_map(|(b, m)| at(BASES[b]) + SignedDuration::from_mins(m))
}

fn arb_plain() -> impl Strategy<Value = Plain> {
    let zones = prop::sample::select(vec![
        "Europe/Helsinki",
        "Europe/Helsinki",
        "America/New_York",
        "Australia/Lord_Howe",
    ]);
    let week = [
        arb_day(),
        arb_day(),
        arb_day(),
        arb_day(),
        arb_day(),
        arb_day(),
        arb_day(),
    ];
    // Holidays fall in the weeks the starts are drawn from.
    let day = (0..BASES.len(), 0i64..40).prop_map(|(b, d)| {
        at(BASES[b])
            .to_zoned(TimeZone::UTC)
            .date()
            .checked_add(d.days())
            .unwrap()
    });
    (
        zones,
        week,
        prop::collection::vec(day.clone(), 0..5),
        prop::collection::vec(day, 0..3),
        any::<bool>(),
    )
        .prop_map(|(zone, mut week, dates, yearly, finnish)| {
            if week.iter().all(Vec::is_empty) {
                week[0] = vec![(480, 960)];
            }
            Plain {
                zone,
                week,
                dates,
                yearly: yearly.iter().map(|d| (d.month(), d.day())).collect(),
                finnish,
            }
        })
}

/// A clock with a few closed pauses, and maybe one still going on.
fn arb_clock() -> impl Strategy<Value = SlaClock> {
    (
        arb_start(),
        1u32..3000,
        prop::collection::vec((0i64..3000, 0i64..3000), 0..4),
        prop::option::of(0i64..3000),
    )
        .prop_map(|(start, target, pauses, open)| {
            let mut clock = SlaClock::start(start, target).unwrap();
            let mut t = start;
            for (gap, length) in pauses {
                t += SignedDuration::from_mins(gap);
                clock.pause(t);
                t += SignedDuration::from_mins(length);
                clock.resume(t);
            }
            if let Some(gap) = open {
                clock.pause(t + SignedDuration::from_mins(gap));
            }
            clock
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn more_minutes_are_never_due_earlier(plain in arb_plain(), start in arb_start(), a in 0i64..5000, b in 0i64..5000) {
        let cal = plain.calendar();
        let (less, more) = (a.min(b), a.max(b));
        prop_assert!(add_business_minutes(&cal, start, less) <= add_business_minutes(&cal, start, more));
    }

    #[test]
    fn adding_then_measuring_gives_the_minutes_back(plain in arb_plain(), start in arb_start(), nanos in 0i64..60_000_000_000, m in 0i64..20_000) {
        let cal = plain.calendar();
        let start = start + SignedDuration::from_nanos(nanos);
        let due = add_business_minutes(&cal, start, m);
        prop_assert_eq!(business_minutes_between(&cal, start, due), m);
        prop_assert_eq!(business_time_between(&cal, start, due), SignedDuration::from_mins(m));
        prop_assert_eq!(business_minutes_between(&cal, due, start), -m);
    }

    #[test]
    fn pausing_never_brings_the_due_time_forward(plain in arb_plain(), clock in arb_clock()) {
        let cal = plain.calendar();
        let unpaused = add_business_minutes(&cal, clock.started_at(), i64::from(clock.target_minutes()));
        match clock.due_at(&cal) {
            Some(due) => {
                prop_assert!(due >= unpaused);
                // Due exactly when the running time reaches the target.
                prop_assert_eq!(clock.business_time_elapsed(&cal, due), SignedDuration::from_mins(i64::from(clock.target_minutes())));
                prop_assert!(clock.business_time_elapsed(&cal, due - SignedDuration::from_nanos(1)) < SignedDuration::from_mins(i64::from(clock.target_minutes())));
            }
            None => prop_assert!(clock.is_paused()),
        }
    }

    #[test]
    fn the_state_changes_exactly_at_next_change(plain in arb_plain(), mut clock in arb_clock(), later in 0i64..6000, stop in prop::option::of(0i64..6000), pct in 0u8..=100) {
        let cal = plain.calendar();
        if let Some(stop) = stop {
            clock.stop(clock.started_at() + SignedDuration::from_mins(stop));
        }
        // Anywhere on the clock's life, events after `now` not yet counted:
        // running means short of the warning share, warned means past it.
        let now = clock.started_at() + SignedDuration::from_mins(later);
        let used = clock.fraction_used(&cal, now);
        let warning = (1..100).contains(&pct).then(|| f64::from(pct) / 100.0);
        match evaluate(&cal, &clock, now, pct).state {
            SlaState::Running => prop_assert!(used < warning.unwrap_or(1.0)),
            SlaState::Warned => prop_assert!(used >= warning.unwrap() - 1e-9 && used < 1.0),
            _ => {}
        }
        // After the last event, nothing but time changes the state, so it
        // changes exactly at `next_change`.
        let last = clock
            .stopped_at()
            .or(clock.paused_since())
            .or(clock.pauses().last().map(|p| p.until))
            .unwrap_or(clock.started_at());
        let now = last + SignedDuration::from_mins(later);
        let here = evaluate(&cal, &clock, now, pct);
        if let Some(next) = here.next_change {
            prop_assert!(next > now);
            prop_assert_eq!(evaluate(&cal, &clock, next - SignedDuration::from_nanos(1), pct).state, here.state);
            prop_assert_ne!(evaluate(&cal, &clock, next, pct).state, here.state);
        }
    }
}

proptest! {
    // Each case walks up to some 90,000 minutes one by one in the reference.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn agrees_with_minute_by_minute_reference(plain in arb_plain(), start in arb_start(), m in 1i64..3000, span in 0i64..(20 * 1440)) {
        let cal = plain.calendar();
        let reference = plain.reference();
        let end = start + SignedDuration::from_mins(span);
        prop_assert_eq!(business_minutes_between(&cal, start, end), reference.minutes(start, end));
        for probe in [start, end, start + SignedDuration::from_mins(span / 2)] {
            prop_assert_eq!(cal.is_open_at(probe), reference.open(probe), "{}", probe);
        }
        let due = add_business_minutes(&cal, start, m);
        if due.duration_since(start) <= SignedDuration::from_hours(45 * 24) {
            // Due is the end of the m-th business minute: m minutes up to it,
            // and the minute just before it is business time.
            prop_assert_eq!(reference.minutes(start, due), m);
            prop_assert!(reference.open(due - SignedDuration::from_mins(1)));
        }
    }
}
