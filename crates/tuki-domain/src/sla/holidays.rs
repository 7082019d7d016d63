//! Public holidays that calendars can generate instead of listing every date.
//!
//! Finland's holidays move with Easter and with the weekday of midsummer and
//! of All Saints, so an administrator typing them in each year would get some
//! wrong; the calendar computes them for whatever year the arithmetic reaches.

use jiff::civil::{date, Date};

use super::{days_from_civil, weekday_of};
use crate::string_enum;

string_enum! {
    /// Finland's public holidays, together with Christmas Eve and Midsummer
    /// Eve, which are not statutory but on which practically every office is
    /// closed.
    FinnishHoliday {
        NewYearsDay = "new_years_day",
        Epiphany = "epiphany",
        GoodFriday = "good_friday",
        EasterSunday = "easter_sunday",
        EasterMonday = "easter_monday",
        MayDay = "may_day",
        AscensionDay = "ascension_day",
        Whitsun = "whitsun",
        MidsummerEve = "midsummer_eve",
        MidsummerDay = "midsummer_day",
        AllSaintsDay = "all_saints_day",
        IndependenceDay = "independence_day",
        ChristmasEve = "christmas_eve",
        ChristmasDay = "christmas_day",
        BoxingDay = "boxing_day",
    }
}

impl FinnishHoliday {
    pub fn name_fi(self) -> &'static str {
        use FinnishHoliday::*;
        match self {
            NewYearsDay => "uudenvuodenpäivä",
            Epiphany => "loppiainen",
            GoodFriday => "pitkäperjantai",
            EasterSunday => "pääsiäispäivä",
            EasterMonday => "toinen pääsiäispäivä",
            MayDay => "vappu",
            AscensionDay => "helatorstai",
            Whitsun => "helluntaipäivä",
            MidsummerEve => "juhannusaatto",
            MidsummerDay => "juhannuspäivä",
            AllSaintsDay => "pyhäinpäivä",
            IndependenceDay => "itsenäisyyspäivä",
            ChristmasEve => "jouluaatto",
            ChristmasDay => "joulupäivä",
            BoxingDay => "tapaninpäivä",
        }
    }

    pub fn name_en(self) -> &'static str {
        use FinnishHoliday::*;
        match self {
            NewYearsDay => "New Year's Day",
            Epiphany => "Epiphany",
            GoodFriday => "Good Friday",
            EasterSunday => "Easter Sunday",
            EasterMonday => "Easter Monday",
            MayDay => "May Day",
            AscensionDay => "Ascension Day",
            Whitsun => "Whitsun",
            MidsummerEve => "Midsummer Eve",
            MidsummerDay => "Midsummer Day",
            AllSaintsDay => "All Saints' Day",
            IndependenceDay => "Independence Day",
            ChristmasEve => "Christmas Eve",
            ChristmasDay => "Christmas Day",
            BoxingDay => "Boxing Day",
        }
    }
}

/// (month, day) of Easter Sunday in the Gregorian calendar (the anonymous
/// "Meeus/Jones/Butcher" algorithm). Meaningful from 1583 on; earlier years
/// still get a valid March or April date, so nothing can panic.
fn easter_month_day(year: i64) -> (u8, u8) {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let (d, e) = (b.div_euclid(4), b.rem_euclid(4));
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let n = h + l - 7 * m + 114;
    ((n / 31) as u8, (n % 31 + 1) as u8)
}

/// Easter Sunday of a year, which Good Friday, Easter Monday, Ascension Day
/// and Whitsun follow.
pub fn easter_sunday(year: i16) -> Date {
    let (m, d) = easter_month_day(i64::from(year));
    date(year, m as i8, d as i8)
}

/// Finland's holidays of one year in date order, for showing an
/// administrator what the generated rule closes.
pub fn finnish_holidays(year: i16) -> Vec<(Date, FinnishHoliday)> {
    use FinnishHoliday::*;
    let easter = easter_sunday(year);
    let after_easter = |days: i64| {
        easter
            .checked_add(jiff::Span::new().days(days))
            .expect("Easter is far from the ends of time")
    };
    // The first day in a window of a month that falls on a weekday (Monday = 0).
    let first = |month: i8, from: i8, weekday: usize| {
        (from..from + 7)
            .map(|d| {
                let (m, d) = if d > 31 {
                    (month + 1, d - 31)
                } else {
                    (month, d)
                };
                date(year, m, d)
            })
            .find(|day| weekday_of(super::date_to_days(*day)) == weekday)
            .expect("every weekday occurs in seven days")
    };
    let mut days = vec![
        (date(year, 1, 1), NewYearsDay),
        (date(year, 1, 6), Epiphany),
        (after_easter(-2), GoodFriday),
        (easter, EasterSunday),
        (after_easter(1), EasterMonday),
        (date(year, 5, 1), MayDay),
        (after_easter(39), AscensionDay),
        (after_easter(49), Whitsun),
        (first(6, 19, 4), MidsummerEve),
        (first(6, 20, 5), MidsummerDay),
        (first(10, 31, 5), AllSaintsDay),
        (date(year, 12, 6), IndependenceDay),
        (date(year, 12, 24), ChristmasEve),
        (date(year, 12, 25), ChristmasDay),
        (date(year, 12, 26), BoxingDay),
    ];
    days.sort_by_key(|(d, _)| *d);
    days
}

/// Whether a day (given both as a day number and as its civil parts, which
/// the caller has at hand) is one of [`finnish_holidays`]. Called for every
/// working day a calendar walks, so it computes Easter only in the months
/// Easter can touch.
pub(super) fn is_finnish_holiday(days: i64, year: i64, month: u8, day: u8) -> bool {
    let weekday = weekday_of(days);
    match (month, day) {
        (1, 1) | (1, 6) | (5, 1) | (12, 6) | (12, 24) | (12, 25) | (12, 26) => return true,
        // Midsummer Eve: the Friday of 19–25 June; Midsummer Day the Saturday after.
        (6, 19..=25) if weekday == 4 => return true,
        (6, 20..=26) if weekday == 5 => return true,
        // All Saints' Day: the Saturday of 31 October – 6 November.
        (10, 31) | (11, 1..=6) if weekday == 5 => return true,
        _ => {}
    }
    // Good Friday (Easter − 2, earliest 20 March) to Whitsun (Easter + 49,
    // latest 13 June).
    if !(3..=6).contains(&month) {
        return false;
    }
    let (em, ed) = easter_month_day(year);
    let from_easter = days - days_from_civil(year, em, ed);
    matches!(from_easter, -2 | 0 | 1 | 39 | 49)
}

#[cfg(test)]
mod tests {
    use super::*;
    use FinnishHoliday::*;

    /// The published list (Finnish public holidays plus Christmas and
    /// Midsummer Eves), written out by hand rather than derived.
    const PUBLISHED: &[(i16, [(i8, i8); 15])] = &[
        (
            2025,
            [
                (1, 1),
                (1, 6),
                (4, 18),
                (4, 20),
                (4, 21),
                (5, 1),
                (5, 29),
                (6, 8),
                (6, 20),
                (6, 21),
                (11, 1),
                (12, 6),
                (12, 24),
                (12, 25),
                (12, 26),
            ],
        ),
        (
            2026,
            [
                (1, 1),
                (1, 6),
                (4, 3),
                (4, 5),
                (4, 6),
                (5, 1),
                (5, 14),
                (5, 24),
                (6, 19),
                (6, 20),
                (10, 31),
                (12, 6),
                (12, 24),
                (12, 25),
                (12, 26),
            ],
        ),
        (
            2027,
            [
                (1, 1),
                (1, 6),
                (3, 26),
                (3, 28),
                (3, 29),
                (5, 1),
                (5, 6),
                (5, 16),
                (6, 25),
                (6, 26),
                (11, 6),
                (12, 6),
                (12, 24),
                (12, 25),
                (12, 26),
            ],
        ),
        (
            2028,
            [
                (1, 1),
                (1, 6),
                (4, 14),
                (4, 16),
                (4, 17),
                (5, 1),
                (5, 25),
                (6, 4),
                (6, 23),
                (6, 24),
                (11, 4),
                (12, 6),
                (12, 24),
                (12, 25),
                (12, 26),
            ],
        ),
        (
            2029,
            [
                (1, 1),
                (1, 6),
                (3, 30),
                (4, 1),
                (4, 2),
                (5, 1),
                (5, 10),
                (5, 20),
                (6, 22),
                (6, 23),
                (11, 3),
                (12, 6),
                (12, 24),
                (12, 25),
                (12, 26),
            ],
        ),
        (
            2030,
            [
                (1, 1),
                (1, 6),
                (4, 19),
                (4, 21),
                (4, 22),
                (5, 1),
                (5, 30),
                (6, 9),
                (6, 21),
                (6, 22),
                (11, 2),
                (12, 6),
                (12, 24),
                (12, 25),
                (12, 26),
            ],
        ),
    ];
    const ORDER: [FinnishHoliday; 15] = [
        NewYearsDay,
        Epiphany,
        GoodFriday,
        EasterSunday,
        EasterMonday,
        MayDay,
        AscensionDay,
        Whitsun,
        MidsummerEve,
        MidsummerDay,
        AllSaintsDay,
        IndependenceDay,
        ChristmasEve,
        ChristmasDay,
        BoxingDay,
    ];

    #[test]
    fn finnish_holidays_2025_to_2030_match_the_published_list() {
        for (year, days) in PUBLISHED {
            let expected: Vec<(Date, FinnishHoliday)> = days
                .iter()
                .zip(ORDER)
                .map(|((m, d), h)| (date(*year, *m, *d), h))
                .collect();
            assert_eq!(finnish_holidays(*year), expected, "{year}");
        }
    }

    #[test]
    fn easter_sundays() {
        let published = [
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2028, 4, 16),
            (2029, 4, 1),
            (2030, 4, 21),
            (2038, 4, 25),
            (2285, 3, 22),
        ];
        for (y, m, d) in published {
            assert_eq!(easter_sunday(y), date(y, m, d));
        }
    }

    /// The day-number check the walk uses agrees with the list, day by day,
    /// over years where Easter falls as early and as late as it can.
    #[test]
    fn day_check_agrees_with_the_list() {
        for year in [
            1818_i16, 1943, 2000, 2008, 2024, 2025, 2026, 2027, 2038, 2100,
        ] {
            let listed: Vec<Date> = finnish_holidays(year).into_iter().map(|(d, _)| d).collect();
            let mut day = date(year, 1, 1);
            while day.year() == year {
                let n = super::super::date_to_days(day);
                let got =
                    is_finnish_holiday(n, i64::from(year), day.month() as u8, day.day() as u8);
                assert_eq!(got, listed.contains(&day), "{day}");
                day = day.tomorrow().unwrap();
            }
        }
    }

    #[test]
    fn midsummer_and_all_saints_fall_on_their_weekdays() {
        for year in 2000..2100 {
            for (day, holiday) in finnish_holidays(year) {
                let weekday = day.weekday();
                match holiday {
                    MidsummerEve => assert_eq!(weekday, jiff::civil::Weekday::Friday),
                    MidsummerDay | AllSaintsDay => {
                        assert_eq!(weekday, jiff::civil::Weekday::Saturday)
                    }
                    GoodFriday => assert_eq!(weekday, jiff::civil::Weekday::Friday),
                    AscensionDay => assert_eq!(weekday, jiff::civil::Weekday::Thursday),
                    EasterSunday | Whitsun => assert_eq!(weekday, jiff::civil::Weekday::Sunday),
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn names() {
        assert_eq!(MidsummerEve.name_fi(), "juhannusaatto");
        assert_eq!(AllSaintsDay.name_en(), "All Saints' Day");
        assert_eq!(
            FinnishHoliday::parse("holiday", "boxing_day"),
            Ok(BoxingDay)
        );
    }
}
