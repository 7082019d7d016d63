//! Table tests of the coverage decision.

use jiff::civil::{date, DateTime};
use jiff::tz::TimeZone;

use super::*;
use crate::sla::{CalendarDefinition, HolidayRule, OpeningHours, WeeklyHours, WorkingInterval};

fn hki(wall: &str) -> Timestamp {
    wall.parse::<DateTime>()
        .unwrap()
        .to_zoned(TimeZone::get("Europe/Helsinki").unwrap())
        .unwrap()
        .timestamp()
}

/// Monday to Friday 08:00–16:00 in Helsinki, Finnish holidays off.
fn office() -> BusinessCalendar {
    CalendarDefinition {
        time_zone: "Europe/Helsinki".into(),
        hours: OpeningHours::Weekly(WeeklyHours::weekdays(&[WorkingInterval::new(
            "08:00", "16:00",
        )])),
        holidays: vec![HolidayRule::FinnishPublic],
    }
    .validate()
    .unwrap()
}

fn washer(warranty_until: Option<Date>) -> AssetFacts {
    AssetFacts {
        id: 7,
        serial: "WM-1001".into(),
        product_id: Some(3),
        category: Some("Pesukoneet".into()),
        warranty_until,
    }
}

fn contract(id: i64, name: &str, covers: Covers, starts: Date, ends: Date) -> ContractFacts {
    ContractFacts {
        id,
        name: name.into(),
        kind: ContractKind::HourBank,
        starts_on: starts,
        ends_on: ends,
        minutes_left: 600,
        covers,
        response: ResponseWindow::BusinessHours,
    }
}

fn everything() -> Covers {
    Covers {
        everything: true,
        ..Covers::default()
    }
}

fn card() -> RateCardFacts {
    RateCardFacts {
        id: 1,
        name: "Perushinnasto".into(),
    }
}

struct Case<'a> {
    name: &'a str,
    at: &'a str,
    asset: Option<AssetFacts>,
    category: Option<&'a str>,
    organisation: bool,
    contracts: Vec<ContractFacts>,
    rate_card: bool,
    expect: Verdict,
}

fn run(case: &Case<'_>) -> Decision {
    let hours = office();
    let rate_card = card();
    let req = CoverageRequest {
        received_at: hki(case.at),
        asset: case.asset.as_ref(),
        category: case.category,
        has_organisation: case.organisation,
    };
    let record = OnRecord {
        contracts: &case.contracts,
        rate_card: case.rate_card.then_some(&rate_card),
        hours: &hours,
    };
    decide(&req, &record)
}

#[test]
fn the_table() {
    let year = (date(2026, 1, 1), date(2026, 12, 31));
    let cases = [
        Case {
            name: "warranty on its last day",
            at: "2026-03-12 15:00",
            asset: Some(washer(Some(date(2026, 3, 12)))),
            category: None,
            organisation: false,
            contracts: vec![],
            rate_card: true,
            expect: Verdict::Warranty {
                until: date(2026, 3, 12),
            },
        },
        Case {
            name: "warranty expired by one day: a private person is asked",
            at: "2026-03-13 09:00",
            asset: Some(washer(Some(date(2026, 3, 12)))),
            category: None,
            organisation: false,
            contracts: vec![],
            rate_card: true,
            expect: Verdict::NotCovered,
        },
        Case {
            // 00:30 in Helsinki is still the previous day in UTC; the day is
            // the calendar's.
            name: "the warranty's day is the desk's wall clock, not UTC",
            at: "2026-03-13 00:30",
            asset: Some(washer(Some(date(2026, 3, 12)))),
            category: None,
            organisation: true,
            contracts: vec![],
            rate_card: true,
            expect: Verdict::Billable {
                rate_card_id: 1,
                after_hours: true,
            },
        },
        Case {
            name: "warranty comes before a contract",
            at: "2026-03-10 10:00",
            asset: Some(washer(Some(date(2027, 3, 12)))),
            category: None,
            organisation: true,
            contracts: vec![contract(1, "Huolto", everything(), year.0, year.1)],
            rate_card: true,
            expect: Verdict::Warranty {
                until: date(2027, 3, 12),
            },
        },
        Case {
            name: "a contract starting tomorrow does not cover today",
            at: "2026-05-31 10:00",
            asset: None,
            category: None,
            organisation: true,
            contracts: vec![contract(1, "Kesä", everything(), date(2026, 6, 1), year.1)],
            rate_card: true,
            expect: Verdict::Billable {
                rate_card_id: 1,
                after_hours: true,
            },
        },
        Case {
            name: "a contract on its first day covers",
            at: "2026-06-01 10:00",
            asset: None,
            category: None,
            organisation: true,
            contracts: vec![contract(1, "Kesä", everything(), date(2026, 6, 1), year.1)],
            rate_card: true,
            expect: Verdict::Contract {
                contract_id: 1,
                minutes_left: Some(600),
            },
        },
        Case {
            name: "two contracts cover the same asset: the one naming the asset wins",
            at: "2026-04-01 10:00",
            asset: Some(washer(None)),
            category: None,
            organisation: true,
            contracts: vec![
                contract(1, "Yleis", everything(), year.0, date(2026, 6, 30)),
                contract(
                    2,
                    "Pesukone",
                    Covers {
                        assets: vec![7],
                        ..Covers::default()
                    },
                    year.0,
                    year.1,
                ),
            ],
            rate_card: true,
            expect: Verdict::Contract {
                contract_id: 2,
                minutes_left: Some(600),
            },
        },
        Case {
            name: "two contracts naming the asset alike: the one ending first wins",
            at: "2026-04-01 10:00",
            asset: Some(washer(None)),
            category: None,
            organisation: true,
            contracts: vec![
                contract(
                    1,
                    "Pitkä",
                    Covers {
                        products: vec![3],
                        ..Covers::default()
                    },
                    year.0,
                    year.1,
                ),
                contract(
                    2,
                    "Lyhyt",
                    Covers {
                        products: vec![3],
                        ..Covers::default()
                    },
                    year.0,
                    date(2026, 6, 30),
                ),
            ],
            rate_card: true,
            expect: Verdict::Contract {
                contract_id: 2,
                minutes_left: Some(600),
            },
        },
        Case {
            name: "an hour bank without hours left is passed over",
            at: "2026-04-01 10:00",
            asset: None,
            category: Some("verkko"),
            organisation: true,
            contracts: vec![ContractFacts {
                minutes_left: 0,
                ..contract(
                    1,
                    "Verkko",
                    Covers {
                        categories: vec!["Verkko".into()],
                        ..Covers::default()
                    },
                    year.0,
                    year.1,
                )
            }],
            rate_card: true,
            expect: Verdict::Billable {
                rate_card_id: 1,
                after_hours: false,
            },
        },
        Case {
            name: "a subscription counts no hours",
            at: "2026-04-01 10:00",
            asset: None,
            category: None,
            organisation: true,
            contracts: vec![ContractFacts {
                kind: ContractKind::Subscription,
                minutes_left: 0,
                ..contract(4, "Valvonta", everything(), year.0, year.1)
            }],
            rate_card: true,
            expect: Verdict::Contract {
                contract_id: 4,
                minutes_left: None,
            },
        },
        Case {
            // 29.11.2026 is a Sunday.
            name: "23:30 on a Sunday: billable with the on-call surcharge",
            at: "2026-11-29 23:30",
            asset: None,
            category: None,
            organisation: true,
            contracts: vec![],
            rate_card: true,
            expect: Verdict::Billable {
                rate_card_id: 1,
                after_hours: true,
            },
        },
        Case {
            name: "23:30 on a Sunday with a business-hours contract: covered, waits for Monday",
            at: "2026-11-29 23:30",
            asset: None,
            category: None,
            organisation: true,
            contracts: vec![contract(1, "Arki", everything(), year.0, year.1)],
            rate_card: true,
            expect: Verdict::Contract {
                contract_id: 1,
                minutes_left: Some(600),
            },
        },
        Case {
            name: "no rate card: ask",
            at: "2026-04-01 10:00",
            asset: None,
            category: None,
            organisation: true,
            contracts: vec![],
            rate_card: false,
            expect: Verdict::NotCovered,
        },
        Case {
            name: "the request's category is covered though the device's is another",
            at: "2026-04-01 10:00",
            asset: Some(washer(None)),
            category: Some("tulostimet"),
            organisation: true,
            contracts: vec![contract(
                1,
                "Tulostin",
                Covers {
                    categories: vec!["Tulostimet".into()],
                    ..Covers::default()
                },
                year.0,
                year.1,
            )],
            rate_card: true,
            expect: Verdict::Contract {
                contract_id: 1,
                minutes_left: Some(600),
            },
        },
    ];
    for case in &cases {
        let got = run(case);
        assert_eq!(got.verdict, case.expect, "{}: {:?}", case.name, got.reasons);
        assert!(!got.reasons.is_empty(), "{}", case.name);
    }
}

#[test]
fn reasons_say_why_in_both_languages() {
    let case = Case {
        name: "expired, contract tomorrow",
        at: "2026-05-31 10:00",
        asset: Some(washer(Some(date(2026, 5, 30)))),
        category: None,
        organisation: true,
        contracts: vec![contract(
            1,
            "Kesä",
            everything(),
            date(2026, 6, 1),
            date(2026, 12, 31),
        )],
        rate_card: true,
        expect: Verdict::Billable {
            rate_card_id: 1,
            after_hours: true,
        },
    };
    let got = run(&case);
    let fi: Vec<String> = got.reasons.iter().map(|r| r.text(Language::Fi)).collect();
    let en: Vec<String> = got.reasons.iter().map(|r| r.text(Language::En)).collect();
    assert_eq!(
        fi,
        [
            "Laitteen WM-1001 takuu päättyi 30.5.2026.",
            "Sopimus Kesä alkaa vasta 1.6.2026.",
            "Mikään voimassa oleva sopimus ei kata pyyntöä.",
            "Työ laskutetaan hinnaston Perushinnasto mukaan.",
            "Pyyntö tuli työajan ulkopuolella: päivystyslisä.",
        ]
    );
    assert_eq!(
        en[0],
        "The warranty of device WM-1001 ended on 30 May 2026."
    );
    assert_eq!(en[1], "Contract Kesä only starts on 1 Jun 2026.");
}

#[test]
fn the_sunday_night_contract_says_it_waits() {
    let hours = office();
    let contracts = [contract(
        1,
        "Arki",
        everything(),
        date(2026, 1, 1),
        date(2026, 12, 31),
    )];
    let d = decide(
        &CoverageRequest {
            received_at: hki("2026-11-29 23:30"),
            asset: None,
            category: None,
            has_organisation: true,
        },
        &OnRecord {
            contracts: &contracts,
            rate_card: None,
            hours: &hours,
        },
    );
    assert!(d.reasons.contains(&Reason::WaitsForBusinessHours {
        contract: "Arki".into()
    }));
    let all_hours = [ContractFacts {
        response: ResponseWindow::AllHours,
        ..contracts[0].clone()
    }];
    let d = decide(
        &CoverageRequest {
            received_at: hki("2026-11-29 23:30"),
            asset: None,
            category: None,
            has_organisation: true,
        },
        &OnRecord {
            contracts: &all_hours,
            rate_card: None,
            hours: &hours,
        },
    );
    assert!(!d
        .reasons
        .iter()
        .any(|r| matches!(r, Reason::WaitsForBusinessHours { .. })));
}

#[test]
fn dates_are_read_finnish_and_iso() {
    assert_eq!(
        parse_date("purchased_on", "12.3.2027").unwrap(),
        date(2027, 3, 12)
    );
    assert_eq!(
        parse_date("purchased_on", "2027-03-12").unwrap(),
        date(2027, 3, 12)
    );
    assert_eq!(
        parse_date("purchased_on", " 01.02.2026 ").unwrap(),
        date(2026, 2, 1)
    );
    for bad in [
        "31.2.2026",
        "1.257.2026",
        "12.3.27",
        "2027-3-12",
        "huomenna",
        "",
        "12.3",
    ] {
        let e = parse_date("purchased_on", bad).unwrap_err();
        assert_eq!(e.field, "purchased_on", "{bad}");
    }
    assert_eq!(show_date(date(2027, 3, 12), Language::Fi), "12.3.2027");
}

#[test]
fn a_warranty_ends_the_day_before_its_anniversary() {
    assert_eq!(warranty_end(date(2025, 3, 12), 24), date(2027, 3, 11));
    // Bought on the last day of January: a month later is the end of February.
    assert_eq!(warranty_end(date(2026, 1, 31), 1), date(2026, 2, 28));
    assert_eq!(warranty_end(date(2024, 2, 29), 12), date(2025, 2, 28));
}

#[test]
fn serial_numbers_are_compared_by_their_letters_and_digits() {
    assert_eq!(serial_key("wm-1001 a"), "WM1001A");
    assert_eq!(
        serials_in("Re: Laite SN: WM-1001, ei käynnisty (malli 800)"),
        vec!["WM1001".to_string()]
    );
    assert!(serials_in("Tulostin ei tulosta 2 sivua").is_empty());
    assert!(check_serial("serial", "--").is_err());
    assert_eq!(check_serial("serial", " AB-12 ").unwrap(), "AB-12");
}

#[test]
fn contracts_are_brought_up_before_they_end_and_when_hours_run_low() {
    let c = ContractFacts {
        minutes_left: 120,
        ..contract(
            1,
            "Pankki",
            everything(),
            date(2026, 1, 1),
            date(2026, 12, 31),
        )
    };
    // Thirty days before its last day, once.
    assert!(contract_reminders(&c, 60, date(2026, 11, 30), false, false).is_empty());
    assert_eq!(
        contract_reminders(&c, 60, date(2026, 12, 1), false, false),
        [ContractReminder::Expiring]
    );
    assert!(contract_reminders(&c, 60, date(2026, 12, 1), true, false).is_empty());
    // Hours at the low mark.
    let low = ContractFacts {
        minutes_left: 60,
        ..c.clone()
    };
    assert_eq!(
        contract_reminders(&low, 60, date(2026, 6, 1), false, false),
        [ContractReminder::LowBalance]
    );
    assert!(contract_reminders(&low, 60, date(2026, 6, 1), false, true).is_empty());
    // A subscription has no balance; an ended contract nothing.
    let sub = ContractFacts {
        kind: ContractKind::Subscription,
        minutes_left: 0,
        ..c.clone()
    };
    assert!(contract_reminders(&sub, 60, date(2026, 6, 1), false, false).is_empty());
    assert!(contract_reminders(&low, 60, date(2027, 1, 1), false, false).is_empty());
}
