//! Service levels end to end on both engines: a manual clock stands in for
//! the wall clock, so each step happens at a known Helsinki minute.

use jiff::civil::date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use tuki_domain::sla::{
    CalendarDefinition, EscalationAction, EscalationTrigger, HolidayRule, OpeningHours,
    SlaEventKind, SlaKind, SlaState, WeeklyHours, WorkingInterval,
};
use tuki_domain::ticket::{ArticleKind, Priority, TicketState};
use tuki_store::sla::{CalendarInput, EscalationRuleInput, PolicyInput};
use tuki_store::testing::TestDb;
use tuki_store::tickets::articles::NewArticle;
use tuki_store::tickets::transfer::Transfer;
use tuki_store::tickets::{TicketFilter, TicketPatch, TicketSort};
use tuki_store::time::Clock;
use tuki_store::StoreError;

use crate::fixture::Desk;
use tuki_store::sla::{Calendars, EscalationRules, Policies};

/// Runs the store's own due jobs one round at a time, as the runner of
/// `tuki serve` does.
struct Runner(tuki_store::Store);

impl Runner {
    fn new(store: tuki_store::Store) -> Runner {
        Runner(store)
    }

    async fn tick(&self) -> tuki_store::Result<usize> {
        self.0.run_due_jobs("sla-test", 1).await
    }
}

fn helsinki(y: i16, m: i8, d: i8, h: i8, min: i8) -> Timestamp {
    date(y, m, d)
        .at(h, min, 0, 0)
        .to_zoned(TimeZone::get("Europe/Helsinki").unwrap())
        .unwrap()
        .timestamp()
}

fn office_hours() -> CalendarDefinition {
    CalendarDefinition {
        time_zone: "Europe/Helsinki".into(),
        hours: OpeningHours::Weekly(WeeklyHours::weekdays(&[WorkingInterval::new(
            "08:00", "16:00",
        )])),
        holidays: vec![HolidayRule::FinnishPublic],
    }
}

fn policy(calendar_id: i64, first: u32, resolution: u32) -> PolicyInput {
    PolicyInput {
        name: "Standard".into(),
        position: Some(100),
        priorities: vec![],
        organisation_id: None,
        category: None,
        channel: None,
        calendar_id,
        first_response_minutes: Some(first),
        next_response_minutes: Some(120),
        resolution_minutes: Some(resolution),
        warn_percent: None,
        active: None,
    }
}

fn reply(body: &str) -> NewArticle {
    NewArticle {
        kind: Some(ArticleKind::Reply),
        body: body.into(),
        internal: None,
    }
}

/// The desk with a manual clock at `start`, an office-hours calendar and
/// the standard policy.
async fn desk_at(db: &TestDb, start: Timestamp, first: u32, resolution: u32) -> (Desk, Clock) {
    let clock = Clock::manual(start);
    let store = db.store.clone().with_clock(clock.clone());
    let desk = Desk::new(store).await;
    let cal = desk
        .store
        .create::<Calendars>(
            &desk.admin,
            CalendarInput {
                name: "Helsinki office".into(),
                definition: office_hours(),
            },
        )
        .await
        .unwrap();
    desk.store
        .create::<Policies>(&desk.admin, policy(cal.id, first, resolution))
        .await
        .unwrap();
    (desk, clock)
}

fn events(sla: &tuki_store::sla::TicketSla, kind: SlaKind) -> Vec<SlaEventKind> {
    sla.events
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.event)
        .collect()
}

async fn friday_afternoon_request_is_due_monday_and_breach_escalates(db: TestDb) {
    // Friday 16 January 2026, 15:00 in Helsinki; 4 business hours.
    let (desk, clock) = desk_at(&db, helsinki(2026, 1, 16, 15, 0), 240, 2400).await;
    let s = &desk.store;
    let supervisor = desk.tier2.user_id.unwrap();
    s.set_group_supervisor(&desk.admin, desk.tier1_group, Some(supervisor))
        .await
        .unwrap();
    for (action, name) in [
        (EscalationAction::TransferNextTier, "Breach goes to tier 2"),
        (EscalationAction::NotifySupervisor, "Tell the supervisor"),
    ] {
        s.create::<EscalationRules>(
            &desk.admin,
            EscalationRuleInput {
                name: name.into(),
                position: None,
                policy_id: None,
                sla_kind: Some(SlaKind::FirstResponse),
                fires_on: EscalationTrigger::Breach,
                action,
                user_id: None,
                group_id: None,
                active: None,
            },
        )
        .await
        .unwrap();
    }

    let t = desk.ticket_for(&desk.alice, "Scanner offline").await;
    assert!(t.sla_policy_id.is_some());
    assert_eq!(t.sla_state, Some(SlaState::Running));
    // One hour on Friday, three on Monday from 08:00.
    assert_eq!(
        t.first_response_due_at,
        Some(helsinki(2026, 1, 19, 11, 0)),
        "due Monday 11:00"
    );
    assert_eq!(
        serde_json::to_value(s.ticket(&desk.tier1, t.id).await.unwrap()).unwrap(),
        serde_json::to_value(&t).unwrap(),
        "what a write returns is what a read returns"
    );

    // Monday 09:00: waiting on the customer stops the clock (2 h used).
    clock.set(helsinki(2026, 1, 19, 9, 0));
    let paused = s
        .update_ticket(
            &desk.tier1,
            t.id,
            TicketPatch {
                state: Some(TicketState::PendingCustomer),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(paused.sla_state, Some(SlaState::Paused));
    assert_eq!(paused.first_response_due_at, None);

    // Long past the original due time nothing breaches while paused.
    clock.set(helsinki(2026, 1, 19, 12, 0));
    let runner = Runner::new(s.clone());
    while runner.tick().await.unwrap() > 0 {}
    let still = s.ticket(&desk.tier1, t.id).await.unwrap();
    assert_eq!(still.sla_state, Some(SlaState::Paused));
    assert_eq!(still.group_id, Some(desk.tier1_group));

    // 13:00 the customer answers: the clock runs again, 2 h left.
    clock.set(helsinki(2026, 1, 19, 13, 0));
    s.add_article(&desk.alice, t.id, reply("Here is the model number."))
        .await
        .unwrap();
    let resumed = s.ticket(&desk.tier1, t.id).await.unwrap();
    assert_eq!(resumed.state, TicketState::Open);
    assert_eq!(
        resumed.first_response_due_at,
        Some(helsinki(2026, 1, 19, 15, 0))
    );
    assert_eq!(
        resumed.next_response_due_at, None,
        "no next-response clock while the first response is owed"
    );

    // 15:00: one runner tick finds the breach and escalates.
    clock.set(helsinki(2026, 1, 19, 15, 0));
    assert!(runner.tick().await.unwrap() >= 1);
    let escalated = s.ticket(&desk.tier2, t.id).await.unwrap();
    assert_eq!(escalated.sla_state, Some(SlaState::Breached));
    assert_eq!(escalated.group_id, Some(desk.tier2_group));

    let history = s.history(&desk.admin, t.id).await.unwrap();
    let transfer = history
        .iter()
        .find(|h| h.field == "group")
        .expect("the transfer is in the history");
    assert_eq!(transfer.actor_id, None, "Tuki itself moved it");
    assert_eq!(
        transfer.reason.as_deref(),
        Some("SLA first_response breach")
    );
    assert!(history.iter().any(|h| h.field == "sla"
        && h.new_value.as_deref() == Some("first_response breached")
        && h.at == helsinki(2026, 1, 19, 15, 0)));
    assert_eq!(
        history.iter().filter(|h| h.field == "escalation").count(),
        2
    );
    let notes = s.notifications_for_ticket(&desk.admin, t.id).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].user_id, supervisor);
    assert_eq!(notes[0].kind, "sla_breach");

    let sla = s.ticket_sla(&desk.admin, t.id).await.unwrap();
    assert_eq!(
        events(&sla, SlaKind::FirstResponse),
        vec![
            SlaEventKind::Started,
            SlaEventKind::Paused,
            SlaEventKind::Resumed,
            SlaEventKind::Warned,
            SlaEventKind::Breached
        ]
    );
    // The warning share (80 %, 192 min) was used up at 14:12.
    let warned = sla
        .events
        .iter()
        .find(|e| e.event == SlaEventKind::Warned)
        .unwrap();
    assert_eq!(warned.at, helsinki(2026, 1, 19, 14, 12));

    // Another tick changes nothing: the breach is recorded once.
    clock.set(helsinki(2026, 1, 19, 15, 30));
    while runner.tick().await.unwrap() > 0 {}
    let again = s.ticket_sla(&desk.admin, t.id).await.unwrap();
    assert_eq!(again.events.len(), sla.events.len());

    // SLA events are append-only in the schema itself.
    assert!(db
        .store
        .execute_raw_for_tests("DELETE FROM sla_events")
        .await
        .is_err());
    assert!(db
        .store
        .execute_raw_for_tests("UPDATE sla_events SET at = 0")
        .await
        .is_err());
}

async fn replies_meet_targets_and_resolution_records_metrics(db: TestDb) {
    // Tuesday 3 February 2026, 09:00.
    let (desk, clock) = desk_at(&db, helsinki(2026, 2, 3, 9, 0), 60, 960).await;
    let s = &desk.store;
    let t = desk.ticket_for(&desk.alice, "Dryer stops").await;
    assert_eq!(t.first_response_due_at, Some(helsinki(2026, 2, 3, 10, 0)));
    // 7 h on Tuesday, 8 on Wednesday, the last one Thursday morning.
    assert_eq!(t.resolution_due_at, Some(helsinki(2026, 2, 5, 9, 0)));

    // A note is no answer; a public reply at 09:30 meets the first response.
    clock.set(helsinki(2026, 2, 3, 9, 20));
    s.add_article(
        &desk.tier1,
        t.id,
        NewArticle {
            kind: Some(ArticleKind::Note),
            body: "Checking the manual".into(),
            internal: None,
        },
    )
    .await
    .unwrap();
    clock.set(helsinki(2026, 2, 3, 9, 30));
    s.add_article(&desk.tier1, t.id, reply("Is the filter clean?"))
        .await
        .unwrap();
    let sla = s.ticket_sla(&desk.tier1, t.id).await.unwrap();
    assert_eq!(
        events(&sla, SlaKind::FirstResponse),
        vec![SlaEventKind::Started, SlaEventKind::Met]
    );
    let fr = sla
        .clocks
        .iter()
        .find(|c| c.kind == SlaKind::FirstResponse)
        .unwrap();
    assert_eq!(fr.state, SlaState::Met);
    assert_eq!(fr.stopped_at, Some(helsinki(2026, 2, 3, 9, 30)));

    // The customer writes at 10:00: next response due in 2 business hours.
    clock.set(helsinki(2026, 2, 3, 10, 0));
    s.add_article(&desk.alice, t.id, reply("Yes, it is clean."))
        .await
        .unwrap();
    let t2 = s.ticket(&desk.tier1, t.id).await.unwrap();
    assert_eq!(t2.next_response_due_at, Some(helsinki(2026, 2, 3, 12, 0)));
    // More customer mail does not move the due time.
    clock.set(helsinki(2026, 2, 3, 10, 30));
    s.add_article(&desk.alice, t.id, reply("Any news?"))
        .await
        .unwrap();
    assert_eq!(
        s.ticket(&desk.tier1, t.id)
            .await
            .unwrap()
            .next_response_due_at,
        Some(helsinki(2026, 2, 3, 12, 0))
    );
    // The at-risk queue: open clocks, the soonest due first (the new
    // ticket's first response at 11:30 before this one's answer at 12:00).
    let other = desk.ticket_for(&desk.bob, "Sooner one").await;
    let page = s
        .tickets(
            &desk.tier1,
            &TicketFilter {
                at_risk: true,
                sort: TicketSort::DueSoonest,
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ids: Vec<i64> = page.items.iter().map(|t| t.id).collect();
    assert_eq!(ids, vec![other.id, t.id]);
    let resolved_elsewhere = s
        .tickets(
            &desk.tier1,
            &TicketFilter {
                sla_states: vec![SlaState::Breached],
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(resolved_elsewhere.items.is_empty());

    clock.set(helsinki(2026, 2, 3, 11, 0));
    s.add_article(&desk.tier1, t.id, reply("Replace the belt."))
        .await
        .unwrap();
    let sla = s.ticket_sla(&desk.tier1, t.id).await.unwrap();
    assert_eq!(
        events(&sla, SlaKind::NextResponse),
        vec![SlaEventKind::Started, SlaEventKind::Met]
    );

    // Resolved in tier 1 without a transfer: first-contact resolution.
    clock.set(helsinki(2026, 2, 3, 12, 0));
    let resolved = s
        .update_ticket(
            &desk.tier1,
            t.id,
            TicketPatch {
                state: Some(TicketState::Resolved),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(resolved.sla_state, Some(SlaState::Met));
    let m = s.ticket_metrics(&desk.tier1, t.id).await.unwrap().unwrap();
    assert!(m.first_contact_resolution);
    assert_eq!(m.transfers, 0);
    assert_eq!(m.tier1_seconds, 3 * 3600);
    assert!(s.ticket_metrics(&desk.alice, t.id).await.is_err());

    // Reopened a day later: resolution runs on from where it stopped.
    clock.set(helsinki(2026, 2, 4, 12, 0));
    let reopened = s
        .update_ticket(
            &desk.tier1,
            t.id,
            TicketPatch {
                state: Some(TicketState::Open),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(reopened.sla_state, Some(SlaState::Running));
    // 3 h of 16 were used on Tuesday; 13 h from Wednesday 12:00 on:
    // 4 + 8 + 1 business hours.
    assert_eq!(reopened.resolution_due_at, Some(helsinki(2026, 2, 6, 9, 0)));

    // Transferred to tier 2 and resolved there: no first-contact resolution.
    clock.set(helsinki(2026, 2, 4, 13, 0));
    s.transfer(
        &desk.tier1,
        t.id,
        Transfer {
            group_id: desk.tier2_group,
            reason: "Needs a technician".into(),
            owner_id: None,
        },
    )
    .await
    .unwrap();
    clock.set(helsinki(2026, 2, 4, 15, 0));
    s.update_ticket(
        &desk.tier2,
        t.id,
        TicketPatch {
            state: Some(TicketState::Resolved),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let m = s.ticket_metrics(&desk.tier2, t.id).await.unwrap().unwrap();
    assert!(!m.first_contact_resolution);
    assert_eq!(m.transfers, 1);
    assert_eq!(m.resolved_in_tier, Some(2));
    assert_eq!(m.tier2_seconds, 2 * 3600);
}

async fn policies_are_chosen_in_order_and_validated(db: TestDb) {
    let (desk, _clock) = desk_at(&db, helsinki(2026, 2, 3, 9, 0), 60, 960).await;
    let s = &desk.store;
    let cal = s.list::<Calendars>(&desk.admin).await.unwrap()[0].id;
    let urgent = s
        .create::<Policies>(
            &desk.admin,
            PolicyInput {
                name: "Urgent".into(),
                position: Some(1),
                priorities: vec![Priority::Urgent],
                first_response_minutes: Some(15),
                ..policy(cal, 15, 240)
            },
        )
        .await
        .unwrap();
    let mut new = crate::fixture::ticket("Server room flooding");
    new.requester_id = desk.alice.user_id;
    new.priority = Some(Priority::Urgent);
    let t = s.create_ticket(&desk.tier1, new).await.unwrap();
    assert_eq!(t.sla_policy_id, Some(urgent.id));
    assert_eq!(t.first_response_due_at, Some(helsinki(2026, 2, 3, 9, 15)));
    let normal = desk.ticket_for(&desk.alice, "Mouse squeaks").await;
    assert_ne!(normal.sla_policy_id, Some(urgent.id));

    // Input errors name their field.
    let err = s
        .create::<Policies>(&desk.admin, policy(9999, 10, 10))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref v) if v.field == "calendar_id"));
    let err = s
        .create::<Policies>(
            &desk.admin,
            PolicyInput {
                name: "None".into(),
                first_response_minutes: None,
                next_response_minutes: None,
                resolution_minutes: None,
                ..policy(cal, 1, 1)
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref v) if v.field == "first_response_minutes"));
    let mut bad = office_hours();
    bad.time_zone = "Europe/Turku".into();
    let err = s
        .create::<Calendars>(
            &desk.admin,
            CalendarInput {
                name: "Bad".into(),
                definition: bad,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref v) if v.field == "definition.time_zone"));
    let err = s
        .create::<Calendars>(
            &desk.admin,
            CalendarInput {
                name: "Helsinki office".into(),
                definition: office_hours(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }));
    // Only administrators manage service levels.
    assert!(matches!(
        s.list::<Calendars>(&desk.tier1).await,
        Err(StoreError::Forbidden(_))
    ));
    // A calendar in use cannot be deleted.
    assert!(matches!(
        s.delete::<Calendars>(&desk.admin, cal).await,
        Err(StoreError::Conflict { .. })
    ));
}

async fn the_sweep_schedules_checks_for_stale_states(db: TestDb) {
    let (desk, clock) = desk_at(&db, helsinki(2026, 2, 3, 9, 0), 60, 960).await;
    let s = &desk.store;
    let t = desk.ticket_for(&desk.alice, "Kettle trips the fuse").await;
    let fresh = s.recompute_sla().await.unwrap();
    assert_eq!((fresh.clocks, fresh.changed), (2, 0));
    // Past the first-response due time nothing has run yet: the stored
    // state is stale, the sweep finds it, one tick records it.
    clock.set(helsinki(2026, 2, 3, 10, 30));
    let stale = s.recompute_sla().await.unwrap();
    assert_eq!(stale.changed, 1);
    let runner = Runner::new(s.clone());
    while runner.tick().await.unwrap() > 0 {}
    assert_eq!(
        s.ticket(&desk.tier1, t.id).await.unwrap().sla_state,
        Some(SlaState::Breached)
    );
    assert_eq!(s.recompute_sla().await.unwrap().changed, 0);
}

tuki_store::on_both_engines!(
    the_sweep_schedules_checks_for_stale_states,
    friday_afternoon_request_is_due_monday_and_breach_escalates,
    replies_meet_targets_and_resolution_records_metrics,
    policies_are_chosen_in_order_and_validated,
);
