//! Who pays: devices and warranties, contracts, the coverage decision at
//! intake and on changes, overrides, and time drawn from hour banks.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use tuki_domain::coverage::{ContractKind, CoverageKind, Covers, ResponseWindow};
use tuki_domain::directory::Language;
use tuki_domain::sla::{
    CalendarDefinition, HolidayRule, OpeningHours, WeeklyHours, WorkingInterval,
};
use tuki_store::coverage::{
    AssetFilter, AssetInput, ContractInput, Contracts, CoverageOverrideInput, CoverageSettings,
    ProductInput, Products, RateCardInput, RateCards, TicketAssetInput, TimeEntryInput,
};
use tuki_store::sla::{CalendarInput, Calendars};
use tuki_store::testing::TestDb;
use tuki_store::tickets::{NewTicket, TicketPatch};
use tuki_store::time::Clock;
use tuki_store::StoreError;

use crate::fixture::{ticket, Desk};

fn hki(wall: &str) -> Timestamp {
    wall.parse::<DateTime>()
        .unwrap()
        .to_zoned(TimeZone::get("Europe/Helsinki").unwrap())
        .unwrap()
        .timestamp()
}

/// A desk with a 24-month product, a default rate card on office hours and
/// an hour bank of `minutes` for the sharing organisation covering the
/// "Verkko" category. Its clock stands at Wednesday 2026-06-10 10:00.
async fn billing_desk(db: &TestDb, minutes: i64) -> (Desk, Clock, i64, i64) {
    let clock = Clock::manual(hki("2026-06-10 10:00"));
    let desk = Desk::new(db.store.clone().with_clock(clock.clone())).await;
    let cal = desk
        .store
        .create::<Calendars>(
            &desk.admin,
            CalendarInput {
                name: "Office".into(),
                definition: CalendarDefinition {
                    time_zone: "Europe/Helsinki".into(),
                    hours: OpeningHours::Weekly(WeeklyHours::weekdays(&[WorkingInterval::new(
                        "08:00", "16:00",
                    )])),
                    holidays: vec![HolidayRule::FinnishPublic],
                },
            },
        )
        .await
        .unwrap();
    desk.store
        .create::<RateCards>(
            &desk.admin,
            RateCardInput {
                name: "Perus".into(),
                hourly_cents: 9000,
                on_call_surcharge_percent: 50,
                call_out_fee_cents: 4500,
                minimum_unit_minutes: Some(15),
                vat_basis_points: None,
                calendar_id: Some(cal.id),
                is_default: true,
            },
        )
        .await
        .unwrap();
    let product = desk
        .store
        .create::<Products>(
            &desk.admin,
            ProductInput {
                name: "WM-800".into(),
                manufacturer: "Pesu Oy".into(),
                category: "Pesukoneet".into(),
                warranty_months: 24,
            },
        )
        .await
        .unwrap();
    let contract = desk
        .store
        .create::<Contracts>(&desk.admin, contract(desk.org_shared, minutes))
        .await
        .unwrap();
    (desk, clock, product.id, contract.id)
}

fn contract(org: i64, minutes: i64) -> ContractInput {
    ContractInput {
        name: "Verkkotuki 2026".into(),
        organisation_id: org,
        kind: ContractKind::HourBank,
        starts_on: "1.1.2026".into(),
        ends_on: "2026-12-31".into(),
        included_minutes: minutes,
        covers: Covers {
            categories: vec!["Verkko".into()],
            ..Covers::default()
        },
        response: Some(ResponseWindow::BusinessHours),
        sla_policy_id: None,
        rate_card_id: None,
        low_balance_minutes: None,
    }
}

fn device(serial: &str, product: i64, purchased: &str) -> AssetInput {
    AssetInput {
        serial: serial.into(),
        product_id: Some(product),
        purchased_on: Some(purchased.into()),
        purchased_from: "Kodinkone Oy".into(),
        ..AssetInput::default()
    }
}

fn about(subject: &str, category: Option<&str>, asset: Option<i64>) -> NewTicket {
    NewTicket {
        category: category.map(Into::into),
        asset_id: asset,
        ..ticket(subject)
    }
}

async fn every_request_is_decided_at_intake(db: TestDb) {
    let (desk, _clock, product, contract_id) = billing_desk(&db, 600).await;
    let s = &desk.store;
    let washer = s
        .register_asset(&desk.alice, device("WM-1001", product, "12.3.2025"))
        .await
        .unwrap();
    assert_eq!(washer.warranty_until.unwrap().to_string(), "2027-03-11");
    assert_eq!(washer.owner_id, desk.alice.user_id);
    assert_eq!(washer.organisation_id, Some(desk.org_shared));

    // Naming the device: warranty.
    let t = s
        .create_ticket(&desk.alice, about("Ei linkoa", None, Some(washer.id)))
        .await
        .unwrap();
    let c = s
        .ticket_coverage(&desk.alice, t.id, Language::Fi)
        .await
        .unwrap();
    assert_eq!(c.kind, CoverageKind::Warranty);
    assert_eq!(c.until.unwrap().to_string(), "2027-03-11");
    assert_eq!(
        c.reasons,
        ["Laitteen WM-1001 takuu on voimassa 11.3.2027 asti."]
    );

    // A serial number in the text names the device too.
    let t = s
        .create_ticket(&desk.amir, about("Laite wm-1001 vuotaa", None, None))
        .await
        .unwrap();
    let c = s
        .ticket_coverage(&desk.tier1, t.id, Language::En)
        .await
        .unwrap();
    assert_eq!(
        (c.kind, c.asset_id),
        (CoverageKind::Warranty, Some(washer.id))
    );

    // The category the contract covers: the contract, with its balance.
    let t = s
        .create_ticket(&desk.alice, about("VPN ei toimi", Some("verkko"), None))
        .await
        .unwrap();
    let c = s
        .ticket_coverage(&desk.tier1, t.id, Language::En)
        .await
        .unwrap();
    assert_eq!(c.kind, CoverageKind::Contract);
    assert_eq!(c.contract_id, Some(contract_id));
    assert_eq!(c.minutes_left, Some(600));

    // Another organisation: billable at the default card, in office hours.
    let t = s
        .create_ticket(&desk.bob, about("VPN ei toimi", Some("Verkko"), None))
        .await
        .unwrap();
    let c = s
        .ticket_coverage(&desk.bob, t.id, Language::En)
        .await
        .unwrap();
    assert_eq!((c.kind, c.after_hours), (CoverageKind::Billable, false));
    assert!(c.overridden.is_none());

    // Someone else's device cannot be named.
    let e = s
        .create_ticket(&desk.bob, about("Pesukone", None, Some(washer.id)))
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ref v) if v.field == "asset_id"),
        "{e:?}"
    );
    // Nor can a customer read another organisation's request's coverage.
    let e = s
        .ticket_coverage(&desk.bob, c.ticket_id - 1, Language::En)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound), "{e:?}");

    // A desk that bills nobody turns the decisions off: new requests stay
    // undecided until their device is named.
    assert!(s
        .set_coverage_settings(&desk.tier1, CoverageSettings { decide: false })
        .await
        .is_err());
    s.set_coverage_settings(&desk.admin, CoverageSettings { decide: false })
        .await
        .unwrap();
    let t = s
        .create_ticket(&desk.alice, about("VPN taas", Some("Verkko"), None))
        .await
        .unwrap();
    assert!(matches!(
        s.ticket_coverage(&desk.tier1, t.id, Language::En).await,
        Err(StoreError::NotFound)
    ));
    let c = s
        .set_ticket_asset(
            &desk.tier1,
            t.id,
            TicketAssetInput {
                asset_id: Some(washer.id),
            },
            Language::En,
        )
        .await
        .unwrap();
    assert_eq!(c.kind, CoverageKind::Warranty);
    s.set_coverage_settings(&desk.admin, CoverageSettings { decide: true })
        .await
        .unwrap();
    assert!(s.coverage_settings().await.unwrap().decide);
}

async fn changes_decide_again_and_agents_override_with_a_reason(db: TestDb) {
    let (desk, clock, product, contract_id) = billing_desk(&db, 600).await;
    let s = &desk.store;
    // Sunday 23:30: billable with the surcharge.
    clock.set(hki("2026-06-14 23:30"));
    let t = s
        .create_ticket(&desk.alice, about("Kone sekaisin", None, None))
        .await
        .unwrap();
    let c = s
        .ticket_coverage(&desk.tier1, t.id, Language::En)
        .await
        .unwrap();
    assert_eq!((c.kind, c.after_hours), (CoverageKind::Billable, true));
    assert!(
        c.reasons.iter().any(|r| r.contains("on-call surcharge")),
        "{:?}",
        c.reasons
    );

    // The category changes to one the contract covers.
    clock.set(hki("2026-06-15 09:00"));
    s.update_ticket(
        &desk.tier1,
        t.id,
        TicketPatch {
            category: Some(Some("Verkko".into())),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let c = s
        .ticket_coverage(&desk.tier1, t.id, Language::En)
        .await
        .unwrap();
    assert_eq!(
        (c.kind, c.contract_id),
        (CoverageKind::Contract, Some(contract_id))
    );

    // The device named later: its warranty comes first.
    let washer = s
        .register_asset(
            &desk.tier1,
            AssetInput {
                organisation_id: Some(desk.org_shared),
                ..device("WM-2002", product, "2026-06-01")
            },
        )
        .await
        .unwrap();
    let c = s
        .set_ticket_asset(
            &desk.tier1,
            t.id,
            TicketAssetInput {
                asset_id: Some(washer.id),
            },
            Language::En,
        )
        .await
        .unwrap();
    assert_eq!(c.kind, CoverageKind::Warranty);

    // An agent overrides it, with a reason; Tuki's own decision stays.
    let e = s
        .override_coverage(
            &desk.tier1,
            t.id,
            CoverageOverrideInput {
                kind: Some(CoverageKind::Billable),
                contract_id: None,
                reason: " ".into(),
            },
            Language::En,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ref v) if v.field == "reason"),
        "{e:?}"
    );
    let c = s
        .override_coverage(
            &desk.tier1,
            t.id,
            CoverageOverrideInput {
                kind: Some(CoverageKind::Billable),
                contract_id: None,
                reason: "Water damage is not under warranty".into(),
            },
            Language::En,
        )
        .await
        .unwrap();
    assert_eq!(
        (c.kind, c.decided_kind),
        (CoverageKind::Billable, CoverageKind::Warranty)
    );
    assert_eq!(
        c.overridden.as_ref().unwrap().reason,
        "Water damage is not under warranty"
    );
    // The customer sees what applies, not the agents' reasoning.
    let seen = s
        .ticket_coverage(&desk.alice, t.id, Language::En)
        .await
        .unwrap();
    assert_eq!(seen.kind, CoverageKind::Billable);
    assert!(seen.overridden.is_none());
    let e = s
        .override_coverage(
            &desk.alice,
            t.id,
            CoverageOverrideInput {
                kind: None,
                contract_id: None,
                reason: String::new(),
            },
            Language::En,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Forbidden(_)), "{e:?}");

    let history = s.history(&desk.tier1, t.id).await.unwrap();
    let cov = history.iter().find(|h| h.field == "coverage").unwrap();
    assert_eq!(
        (cov.old_value.as_deref(), cov.new_value.as_deref()),
        (Some("warranty"), Some("billable"))
    );
    assert_eq!(
        cov.reason.as_deref(),
        Some("Water damage is not under warranty")
    );
    assert!(history.iter().any(|h| h.field == "asset"));

    // A product's longer warranty reaches its devices.
    let p = s.get::<Products>(&desk.admin, product).await.unwrap();
    s.replace::<Products>(
        &desk.admin,
        product,
        ProductInput {
            name: p.name,
            manufacturer: p.manufacturer,
            category: p.category,
            warranty_months: 36,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        s.asset(&desk.tier1, washer.id)
            .await
            .unwrap()
            .warranty_until
            .unwrap()
            .to_string(),
        "2029-05-31"
    );
}

async fn devices_are_their_owners_and_inputs_name_their_mistakes(db: TestDb) {
    let (desk, _clock, product, _) = billing_desk(&db, 600).await;
    let s = &desk.store;
    let mine = s
        .register_asset(&desk.bob, device("PR-77 A", product, "2026-01-02"))
        .await
        .unwrap();
    // Another organisation sees nothing of it.
    assert!(matches!(
        s.asset(&desk.alice, mine.id).await,
        Err(StoreError::NotFound)
    ));
    let listed = s
        .assets(&desk.alice, &AssetFilter::default())
        .await
        .unwrap();
    assert!(listed.iter().all(|a| a.id != mine.id));
    // Staff find it as they type, whatever the dashes and case.
    let found = s
        .assets(
            &desk.tier1,
            &AssetFilter {
                serial: Some("pr77".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.iter().map(|a| a.id).collect::<Vec<_>>(), [mine.id]);

    for (input, field) in [
        (device("PR 77-a", product, "2026-01-02"), "serial"),
        (device("XY-1", product, "31.2.2026"), "purchased_on"),
        (device("XY-2", product + 1000, "2026-01-02"), "product_id"),
        (device("", product, "2026-01-02"), "serial"),
    ] {
        let e = s.register_asset(&desk.bob, input).await.unwrap_err();
        match e {
            StoreError::Invalid(v) => assert_eq!(v.field, field),
            StoreError::Conflict { field: f, .. } => assert_eq!(f.as_deref(), Some(field)),
            other => panic!("{field}: {other:?}"),
        }
    }
    // Customers cannot override a warranty; staff must say why.
    let e = s
        .register_asset(
            &desk.bob,
            AssetInput {
                warranty_until: Some("2030-01-01".into()),
                ..device("XY-3", product, "2026-01-02")
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Forbidden(_)), "{e:?}");
    let e = s
        .update_asset(
            &desk.tier1,
            mine.id,
            AssetInput {
                warranty_until: Some("2030-01-01".into()),
                ..device("PR-77 A", product, "2026-01-02")
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ref v) if v.field == "warranty_reason"),
        "{e:?}"
    );
    let a = s
        .update_asset(
            &desk.tier1,
            mine.id,
            AssetInput {
                warranty_until: Some("1.1.2030".into()),
                warranty_reason: Some("Extended warranty bought".into()),
                organisation_id: Some(desk.org_private),
                owner_id: desk.bob.user_id,
                ..device("PR-77 A", product, "2026-01-02")
            },
        )
        .await
        .unwrap();
    assert_eq!(a.warranty_until.unwrap().to_string(), "2030-01-01");

    // Contracts' inputs too.
    let mut bad = contract(desk.org_private, 60);
    bad.ends_on = "2025-12-31".into();
    let e = s.create::<Contracts>(&desk.admin, bad).await.unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ref v) if v.field == "ends_on"),
        "{e:?}"
    );
    let mut bad = contract(desk.org_private, 60);
    bad.covers = Covers::default();
    let e = s.create::<Contracts>(&desk.admin, bad).await.unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ref v) if v.field == "covers"),
        "{e:?}"
    );
    let e = s
        .create::<RateCards>(
            &desk.admin,
            RateCardInput {
                name: "X".into(),
                hourly_cents: 1,
                on_call_surcharge_percent: 0,
                call_out_fee_cents: 0,
                minimum_unit_minutes: None,
                vat_basis_points: Some(10_001),
                calendar_id: None,
                is_default: false,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ref v) if v.field == "vat_basis_points"),
        "{e:?}"
    );
    // Customers read their own organisation's balances, not others'.
    assert_eq!(
        s.organisation_contracts(&desk.alice, desk.org_shared)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        s.organisation_contracts(&desk.bob, desk.org_shared).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.list::<RateCards>(&desk.alice).await,
        Err(StoreError::Forbidden(_))
    ));
}

async fn time_draws_the_hour_bank_down_and_stops_at_zero(db: TestDb) {
    let (desk, _clock, _, contract_id) = billing_desk(&db, 60).await;
    let s = &desk.store;
    let t = s
        .create_ticket(&desk.alice, about("Verkko katkeilee", Some("Verkko"), None))
        .await
        .unwrap();
    let book = |minutes: i64, over: bool| TimeEntryInput {
        minutes,
        billable: None,
        note: "Etätuki".into(),
        worked_at: None,
        over_balance: over,
    };
    let e = s
        .log_time(&desk.tier1, t.id, book(-5, false), Language::En)
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ref v) if v.field == "minutes"),
        "{e:?}"
    );
    let e = s
        .log_time(&desk.alice, t.id, book(5, false), Language::En)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Forbidden(_)), "{e:?}");

    let first = s
        .log_time(&desk.tier1, t.id, book(45, false), Language::En)
        .await
        .unwrap();
    assert_eq!(
        (first.contract_id, first.balance_after),
        (Some(contract_id), Some(15))
    );
    let e = s
        .log_time(&desk.tier1, t.id, book(30, false), Language::En)
        .await
        .unwrap_err();
    match e {
        StoreError::Conflict { field, message } => {
            assert_eq!(field.as_deref(), Some("minutes"));
            assert!(message.contains("15 min left"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Internal work does not touch the balance.
    let internal = s
        .log_time(
            &desk.tier1,
            t.id,
            TimeEntryInput {
                billable: Some(false),
                ..book(30, false)
            },
            Language::En,
        )
        .await
        .unwrap();
    assert_eq!((internal.contract_id, internal.balance_after), (None, None));
    // Past the balance only on purpose.
    let over = s
        .log_time(&desk.tier1, t.id, book(30, true), Language::En)
        .await
        .unwrap();
    assert_eq!((over.balance_after, over.over_balance), (Some(-15), true));
    let c = s.get::<Contracts>(&desk.admin, contract_id).await.unwrap();
    assert_eq!(c.minutes_left, -15);
    // Removing a booking gives its minutes back.
    s.delete_time_entry(&desk.tier1, t.id, over.id)
        .await
        .unwrap();
    assert_eq!(
        s.get::<Contracts>(&desk.admin, contract_id)
            .await
            .unwrap()
            .minutes_left,
        15
    );
    assert_eq!(s.time_entries(&desk.tier1, t.id).await.unwrap().len(), 2);
    // Raising the included hours keeps what was used.
    let mut more = contract(desk.org_shared, 120);
    more.name = c.name.clone();
    assert_eq!(
        s.replace::<Contracts>(&desk.admin, contract_id, more)
            .await
            .unwrap()
            .minutes_left,
        75
    );
}

/// Two agents book the last hour at the same moment: one gets it, the
/// other is told; the balance is never below zero.
async fn the_last_hour_is_booked_once(db: TestDb) {
    let (desk, _clock, _, contract_id) = billing_desk(&db, 60).await;
    let s = &desk.store;
    let t = s
        .create_ticket(&desk.alice, about("Verkko alas", Some("Verkko"), None))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = s.clone();
        let who = if i % 2 == 0 {
            desk.tier1.clone()
        } else {
            desk.admin.clone()
        };
        tasks.push(tokio::spawn(async move {
            store
                .log_time(
                    &who,
                    t.id,
                    TimeEntryInput {
                        minutes: 60,
                        billable: None,
                        note: String::new(),
                        worked_at: None,
                        over_balance: false,
                    },
                    Language::En,
                )
                .await
        }));
    }
    let mut booked = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(e) => {
                booked += 1;
                assert_eq!(e.balance_after, Some(0));
            }
            Err(StoreError::Conflict { .. }) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(booked, 1);
    assert_eq!(
        s.get::<Contracts>(&desk.admin, contract_id)
            .await
            .unwrap()
            .minutes_left,
        0
    );
    let total: i64 = s
        .time_entries(&desk.tier1, t.id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.minutes)
        .sum();
    assert_eq!(total, 60);
}

tuki_store::on_both_engines!(
    every_request_is_decided_at_intake,
    changes_decide_again_and_agents_override_with_a_reason,
    devices_are_their_owners_and_inputs_name_their_mistakes,
    time_draws_the_hour_bank_down_and_stops_at_zero,
    the_last_hour_is_booked_once,
    a_statement_sorts_who_paid_and_invoicing_locks_it,
    a_contract_brings_its_service_level,
    the_person_on_call_gets_the_night_request,
    an_import_names_every_wrong_row_and_is_never_half_silent,
    a_serial_number_in_a_mail_names_the_device,
    contracts_remind_of_renewal_and_low_hours_once,
    a_done_visit_is_a_call_out_fee_on_the_statement,
);

/// A month's statement: warranty work free, contract hours before and
/// after, billable work and parts priced; invoicing locks it.
async fn a_statement_sorts_who_paid_and_invoicing_locks_it(db: TestDb) {
    use tuki_store::coverage::{MaterialInput, MaterialUseInput, Materials, StatementQuery};
    let (desk, clock, product, contract_id) = billing_desk(&db, 600).await;
    let s = &desk.store;
    let washer = s
        .register_asset(&desk.alice, device("WM-3003", product, "2026-05-01"))
        .await
        .unwrap();
    let under_warranty = s
        .create_ticket(&desk.alice, about("Vuotaa", None, Some(washer.id)))
        .await
        .unwrap();
    let on_contract = s
        .create_ticket(&desk.alice, about("VPN", Some("Verkko"), None))
        .await
        .unwrap();
    // Billable: outside the contract's category, at night.
    clock.set(hki("2026-06-13 23:00"));
    let billable = s
        .create_ticket(&desk.alice, about("Tulostin", Some("Tulostimet"), None))
        .await
        .unwrap();
    clock.set(hki("2026-06-15 10:00"));
    let hose = s
        .create::<Materials>(
            &desk.admin,
            MaterialInput {
                name: "Letku".into(),
                unit: "kpl".into(),
                unit_price_cents: 1250,
                vat_basis_points: None,
                active: None,
            },
        )
        .await
        .unwrap();
    let book = |minutes: i64| TimeEntryInput {
        minutes,
        billable: None,
        note: String::new(),
        worked_at: None,
        over_balance: false,
    };
    s.log_time(&desk.tier1, under_warranty.id, book(40), Language::Fi)
        .await
        .unwrap();
    s.log_time(&desk.tier1, on_contract.id, book(30), Language::Fi)
        .await
        .unwrap();
    s.log_time(&desk.tier1, on_contract.id, book(70), Language::Fi)
        .await
        .unwrap();
    let night = s
        .log_time(&desk.tier1, billable.id, book(20), Language::Fi)
        .await
        .unwrap();
    let e = s
        .use_material(
            &desk.tier1,
            billable.id,
            MaterialUseInput {
                material_id: hose.id,
                quantity: "-1".into(),
                note: String::new(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ref v) if v.field == "quantity"),
        "{e:?}"
    );
    let used = s
        .use_material(
            &desk.tier1,
            billable.id,
            MaterialUseInput {
                material_id: hose.id,
                quantity: "2".into(),
                note: String::new(),
            },
        )
        .await
        .unwrap();
    assert_eq!(used.quantity_milli, 2000);

    let june = StatementQuery {
        organisation_id: desk.org_shared,
        from: "1.6.2026".into(),
        to: "30.6.2026".into(),
    };
    let draft = s
        .statement_draft(&desk.alice, &june, Language::Fi)
        .await
        .unwrap();
    let st = &draft.statement;
    assert_eq!(st.warranty.len(), 1);
    assert_eq!(st.contracts.len(), 1);
    let c = &st.contracts[0];
    assert_eq!(
        (c.contract_id, c.minutes, c.balance_before, c.balance_after),
        (contract_id, 100, Some(600), Some(500))
    );
    // 20 min → 30 min at 90 €/h = 45 €, on-call +50 % = 22,50 €, two hoses 25 €.
    let nets: Vec<i64> = st.billable.iter().map(|l| l.net_cents).collect();
    assert_eq!(nets, [4500, 2250, 2500]);
    assert_eq!((st.totals.net_cents, st.totals.vat_cents), (9250, 2359));
    // Another organisation's customer sees nothing of it.
    assert!(matches!(
        s.statement_draft(&desk.bob, &june, Language::Fi).await,
        Err(StoreError::NotFound)
    ));
    let bad = StatementQuery {
        from: "1.6.2026".into(),
        to: "31.5.2026".into(),
        ..june.clone()
    };
    assert!(
        matches!(s.statement_draft(&desk.tier1, &bad, Language::Fi).await, Err(StoreError::Invalid(ref v)) if v.field == "to")
    );

    // Invoicing: administrators only; it records the totals and locks the lines.
    assert!(matches!(
        s.invoice_statement(&desk.tier1, &june, Language::Fi).await,
        Err(StoreError::Forbidden(_))
    ));
    let invoiced = s
        .invoice_statement(&desk.admin, &june, Language::Fi)
        .await
        .unwrap();
    let id = invoiced.id.unwrap();
    assert_eq!(invoiced.statement.totals.gross_cents, st.totals.gross_cents);
    let e = s
        .delete_time_entry(&desk.tier1, billable.id, night.id)
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict { ref message, .. } if message.contains(&format!("#{id}"))),
        "{e:?}"
    );
    let e = s
        .delete_material_use(&desk.tier1, billable.id, used.id)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict { .. }), "{e:?}");
    let e = s
        .log_time(&desk.tier1, billable.id, book(5), Language::Fi)
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict { field: Some(ref f), .. } if f == "worked_at"),
        "{e:?}"
    );
    let e = s
        .invoice_statement(&desk.admin, &june, Language::Fi)
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict { field: Some(ref f), .. } if f == "from"),
        "{e:?}"
    );
    // The invoiced statement reads as invoiced; the period's draft is empty.
    let again = s.statement(&desk.alice, id, Language::En).await.unwrap();
    assert_eq!(again.statement.totals.gross_cents, st.totals.gross_cents);
    assert!(matches!(
        s.statement(&desk.bob, id, Language::En).await,
        Err(StoreError::NotFound)
    ));
    let empty = s
        .statement_draft(&desk.tier1, &june, Language::Fi)
        .await
        .unwrap();
    assert_eq!(empty.statement.totals.gross_cents, 0);
    // July is open again.
    clock.set(hki("2026-07-01 09:00"));
    s.log_time(&desk.tier1, billable.id, book(5), Language::Fi)
        .await
        .unwrap();
}

/// A contract's service level comes before the ordinary policy rules.
async fn a_contract_brings_its_service_level(db: TestDb) {
    use tuki_store::sla::{Policies, PolicyInput};
    let (desk, _clock, _, contract_id) = billing_desk(&db, 600).await;
    let s = &desk.store;
    let cal = s.list::<Calendars>(&desk.admin).await.unwrap()[0].id;
    let policy = |name: &str, position: i64, first: u32| PolicyInput {
        name: name.into(),
        position: Some(position),
        priorities: vec![],
        organisation_id: None,
        category: None,
        channel: None,
        calendar_id: cal,
        first_response_minutes: Some(first),
        next_response_minutes: None,
        resolution_minutes: None,
        warn_percent: None,
        active: None,
    };
    let ordinary = s
        .create::<Policies>(&desk.admin, policy("Ordinary", 10, 480))
        .await
        .unwrap();
    let premium = s
        .create::<Policies>(&desk.admin, policy("Premium", 100, 60))
        .await
        .unwrap();
    let mut c = contract(desk.org_shared, 600);
    c.sla_policy_id = Some(premium.id);
    s.replace::<Contracts>(&desk.admin, contract_id, c)
        .await
        .unwrap();
    let covered = s
        .create_ticket(&desk.alice, about("VPN", Some("Verkko"), None))
        .await
        .unwrap();
    assert_eq!(covered.sla_policy_id, Some(premium.id));
    let other = s
        .create_ticket(&desk.bob, about("VPN", Some("Verkko"), None))
        .await
        .unwrap();
    assert_eq!(other.sla_policy_id, Some(ordinary.id));
}

/// A request outside business hours goes to the person on duty, who is
/// told by mail; an exception takes precedence; in office hours nobody is
/// called.
async fn the_person_on_call_gets_the_night_request(db: TestDb) {
    use tuki_store::oncall::{
        OnCallExceptionInput, OnCallExceptions, OnCallShiftInput, OnCallShifts,
    };
    let (desk, clock, _, _) = billing_desk(&db, 600).await;
    let s = &desk.store;
    let second = desk.tier2.user_id.unwrap();
    let first = desk.tier1.user_id.unwrap();
    let shift = |weekday: &str, start: &str, end: &str| OnCallShiftInput {
        user_id: second,
        weekday: weekday.into(),
        start: start.into(),
        end: end.into(),
    };
    let e = s
        .create::<OnCallShifts>(&desk.admin, shift("sunday", "16:00", "08:00"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ref v) if v.field == "end"),
        "{e:?}"
    );
    let e = s
        .create::<OnCallShifts>(
            &desk.admin,
            OnCallShiftInput {
                user_id: desk.alice.user_id.unwrap(),
                ..shift("sunday", "00:00", "24:00")
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ref v) if v.field == "user_id"),
        "{e:?}"
    );
    s.create::<OnCallShifts>(&desk.admin, shift("sunday", "00:00", "24:00"))
        .await
        .unwrap();

    let mail_jobs = || async {
        let filter = tuki_store::jobs::JobFilter {
            status: None,
            kind: Some("ticket_mail".into()),
            limit: 1000,
        };
        s.jobs(&desk.admin, &filter).await.unwrap().len()
    };
    let before = mail_jobs().await;
    clock.set(hki("2026-06-14 23:30"));
    let night = s
        .create_ticket(&desk.alice, about("Palvelin alhaalla", None, None))
        .await
        .unwrap();
    assert_eq!(night.owner_id, Some(second));
    let history = s.history(&desk.admin, night.id).await.unwrap();
    let owner = history.iter().find(|h| h.field == "owner").unwrap();
    assert_eq!(
        (owner.new_value.as_deref(), owner.reason.as_deref()),
        (Some(second.to_string().as_str()), Some("on call"))
    );
    // The person on duty can see it and is told by mail.
    s.ticket(&desk.tier2, night.id).await.unwrap();
    // Two mails to expand: the acknowledgement and the notice to the person
    // on duty.
    assert_eq!(mail_jobs().await - before, 2);

    // A swap for the night takes precedence.
    s.create::<OnCallExceptions>(
        &desk.admin,
        OnCallExceptionInput {
            user_id: first,
            starts_at: "14.6.2026 22:00".into(),
            ends_at: "2026-06-15 08:00".into(),
            note: "Vaihto".into(),
        },
    )
    .await
    .unwrap();
    clock.set(hki("2026-06-14 23:45"));
    let swapped = s
        .create_ticket(&desk.alice, about("Taas alhaalla", None, None))
        .await
        .unwrap();
    assert_eq!(swapped.owner_id, Some(first));
    let e = s
        .create::<OnCallExceptions>(
            &desk.admin,
            OnCallExceptionInput {
                user_id: first,
                starts_at: "15.6.2026 08:00".into(),
                ends_at: "15.6.2026 07:00".into(),
                note: String::new(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ref v) if v.field == "ends_at"),
        "{e:?}"
    );

    // In office hours nobody is called.
    clock.set(hki("2026-06-15 10:00"));
    let day = s
        .create_ticket(&desk.alice, about("Päivällä", None, None))
        .await
        .unwrap();
    assert_eq!(day.owner_id, None);
}

/// A Finnish spreadsheet's CSV (Windows-1252, semicolons, d.m.yyyy) with
/// wrong rows imports nothing and names every mistake; asked to, it imports
/// the good rows only.
async fn an_import_names_every_wrong_row_and_is_never_half_silent(db: TestDb) {
    use tuki_store::coverage::ImportKind;
    let (desk, _clock, _, _) = billing_desk(&db, 600).await;
    let s = &desk.store;
    // "Sarjanumero;Tuote;Ostopäivä;Myyjä;Organisaatio" in Windows-1252.
    let mut file = b"Sarjanumero;Tuote;Ostop\xe4iv\xe4;Myyj\xe4;Organisaatio\r\n".to_vec();
    file.extend_from_slice(b"WM-9001;WM-800;12.3.2026;Kodinkone \xc4;Shared Oy\r\n");
    file.extend_from_slice(b"WM-9002;WM-999;12.3.2026;;Shared Oy\r\n");
    file.extend_from_slice(b"WM-9003;WM-800;31.2.2026;;\r\n");
    file.extend_from_slice(b"wm 9001;WM-800;1.1.2026;;\r\n");
    file.extend_from_slice(b"WM-9004;WM-800;1.1.2026;;Nobody Oy\r\n");
    file.extend_from_slice(b"WM-9005;;;;\r\n");
    let e = s
        .import_csv(&desk.tier1, ImportKind::Assets, &file, false, |_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Forbidden(_)), "{e:?}");
    let report = s
        .import_csv(&desk.admin, ImportKind::Assets, &file, false, |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (report.rows, report.imported, report.encoding.as_str()),
        (6, 0, "Windows-1252")
    );
    let found: Vec<(usize, &str)> = report
        .errors
        .iter()
        .map(|e| (e.row, e.column.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (3, "Tuote"),
            (4, "Ostopäivä"),
            (5, "Sarjanumero"),
            (6, "Organisaatio")
        ]
    );
    assert!(
        report.errors[2].message.contains("row 2"),
        "{:?}",
        report.errors[2]
    );
    assert!(s
        .assets(&desk.admin, &AssetFilter::default())
        .await
        .unwrap()
        .is_empty());

    let report = s
        .import_csv(&desk.admin, ImportKind::Assets, &file, true, |_, _| {})
        .await
        .unwrap();
    assert_eq!((report.imported, report.errors.len()), (2, 4));
    let a = s
        .assets(
            &desk.admin,
            &AssetFilter {
                serial: Some("WM9001".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(a[0].purchased_from, "Kodinkone Ä");
    assert_eq!(a[0].warranty_until.unwrap().to_string(), "2028-03-11");
    assert_eq!(a[0].organisation_id, Some(desk.org_shared));
    // Importing again finds the serial numbers registered.
    let again = s
        .import_csv(&desk.admin, ImportKind::Assets, &file, true, |_, _| {})
        .await
        .unwrap();
    assert_eq!(again.imported, 0);

    let contracts = "nimi,organisaatio,tyyppi,alkaa,päättyy,tunnit,luokat\nTuki 2027,Private Ab,tuntipankki,1.1.2027,31.12.2027,\"12,5\",\"Verkko, Tulostimet\"\nVäärä,Private Ab,leasing,1.1.2027,31.12.2027,1,\n";
    let report = s
        .import_csv(
            &desk.admin,
            ImportKind::Contracts,
            contracts.as_bytes(),
            false,
            |_, _| {},
        )
        .await
        .unwrap();
    assert_eq!(
        (report.imported, report.errors.len()),
        (0, 1),
        "{:?}",
        report.errors
    );
    assert_eq!(
        (report.errors[0].row, report.errors[0].column.as_str()),
        (3, "tyyppi")
    );
    let report = s
        .import_csv(
            &desk.admin,
            ImportKind::Contracts,
            contracts.as_bytes(),
            true,
            |_, _| {},
        )
        .await
        .unwrap();
    assert_eq!(report.imported, 1);
    let c = s
        .list::<Contracts>(&desk.admin)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name == "Tuki 2027")
        .unwrap();
    assert_eq!((c.included_minutes, c.covers.categories.len()), (750, 2));

    let products = "name;manufacturer;category;warranty_months\nKuivain K1;Pesu;Kuivaimet;36\nKuivain K2;Pesu;Kuivaimet;kolme\n";
    let report = s
        .import_csv(
            &desk.admin,
            ImportKind::Products,
            products.as_bytes(),
            false,
            |_, _| {},
        )
        .await
        .unwrap();
    assert_eq!(
        (
            report.imported,
            report.errors[0].row,
            report.errors[0].column.as_str()
        ),
        (0, 3, "warranty_months")
    );
}

/// A mail naming a device's serial number is decided on that device.
async fn a_serial_number_in_a_mail_names_the_device(db: TestDb) {
    use tuki_store::mail::IngestOutcome;
    let (desk, _clock, product, _) = billing_desk(&db, 600).await;
    let s = &desk.store;
    let washer = s
        .register_asset(&desk.alice, device("WM-7007", product, "2026-05-01"))
        .await
        .unwrap();
    let raw = "From: Alice <alice@shared.test>\r\nTo: help@desk.test\r\nSubject: Pesukone ei linkoa\r\n\
               Message-ID: <serial@mail.shared.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
               Koneen sarjanumero on wm-7007. Rumpu ei pyöri.\r\n";
    let out = s.ingest_mail(raw.as_bytes(), None).await.unwrap();
    let IngestOutcome::Ticket { ticket_id, .. } = out else {
        panic!("expected a ticket, got {out:?}")
    };
    let c = s
        .ticket_coverage(&desk.admin, ticket_id, Language::En)
        .await
        .unwrap();
    assert_eq!(
        (c.kind, c.asset_id),
        (CoverageKind::Warranty, Some(washer.id))
    );
}

/// A contract ending within 30 days and an hour bank at its low mark are
/// brought up once, to administrators and the organisation's members;
/// renewing makes the renewal reminder due again only near the new end.
async fn contracts_remind_of_renewal_and_low_hours_once(db: TestDb) {
    let (desk, clock, _, contract_id) = billing_desk(&db, 600).await;
    let s = &desk.store;
    clock.set(hki("2026-12-05 10:00"));
    // Administrators and the sharing organisation's two members, for each
    // reminder: it ends on 31.12. and, below, runs low.
    assert_eq!(s.remind_contracts().await.unwrap(), 3);
    assert_eq!(s.remind_contracts().await.unwrap(), 0);
    let t = s
        .create_ticket(&desk.alice, about("Verkko", Some("Verkko"), None))
        .await
        .unwrap();
    s.log_time(
        &desk.tier1,
        t.id,
        TimeEntryInput {
            minutes: 500,
            billable: None,
            note: String::new(),
            worked_at: None,
            over_balance: false,
        },
        Language::En,
    )
    .await
    .unwrap();
    assert_eq!(s.remind_contracts().await.unwrap(), 3);
    assert_eq!(s.remind_contracts().await.unwrap(), 0);
    // Renewed for next year: nothing until a month before the new end.
    let mut renewed = contract(desk.org_shared, 600);
    renewed.ends_on = "31.12.2027".into();
    s.replace::<Contracts>(&desk.admin, contract_id, renewed)
        .await
        .unwrap();
    assert_eq!(s.remind_contracts().await.unwrap(), 0);
}

/// A done site visit of a billable request is a call-out fee on the
/// statement; one on a contract's request is not; invoicing locks it.
async fn a_done_visit_is_a_call_out_fee_on_the_statement(db: TestDb) {
    use tuki_store::coverage::StatementQuery;
    use tuki_store::visits::{SiteVisitInput, VisitState};
    let (desk, clock, _, _) = billing_desk(&db, 600).await;
    let s = &desk.store;
    let billable = s
        .create_ticket(&desk.alice, about("Tulostin", Some("Tulostimet"), None))
        .await
        .unwrap();
    let covered = s
        .create_ticket(&desk.alice, about("Verkko", Some("Verkko"), None))
        .await
        .unwrap();
    let visit = |state| SiteVisitInput {
        technician_id: desk.tier1.user_id.unwrap(),
        starts_at: hki("2026-06-11 09:00"),
        ends_at: hki("2026-06-11 10:00"),
        address: "Hämeenkatu 1".into(),
        bring: String::new(),
        state: Some(state),
    };
    let v = s
        .plan_visit(&desk.tier1, billable.id, visit(VisitState::Planned))
        .await
        .unwrap();
    s.plan_visit(&desk.tier1, covered.id, visit(VisitState::Done))
        .await
        .unwrap();
    let june = StatementQuery {
        organisation_id: desk.org_shared,
        from: "1.6.2026".into(),
        to: "30.6.2026".into(),
    };
    let before = s
        .statement_draft(&desk.admin, &june, Language::Fi)
        .await
        .unwrap();
    assert!(
        before.statement.billable.is_empty(),
        "a planned visit is not billed yet"
    );
    s.update_visit(&desk.tier1, v.id, visit(VisitState::Done))
        .await
        .unwrap();
    let after = s
        .statement_draft(&desk.admin, &june, Language::Fi)
        .await
        .unwrap();
    let lines: Vec<(&str, i64)> = after
        .statement
        .billable
        .iter()
        .map(|l| (l.text.as_str(), l.net_cents))
        .collect();
    assert_eq!(lines, [("Käyntimaksu", 4500)]);
    clock.set(hki("2026-07-02 10:00"));
    s.invoice_statement(&desk.admin, &june, Language::Fi)
        .await
        .unwrap();
    let e = s
        .update_visit(&desk.tier1, v.id, visit(VisitState::Cancelled))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict { .. }), "{e:?}");
}
