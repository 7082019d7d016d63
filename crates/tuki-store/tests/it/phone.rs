//! The phone channel: CTI events keep the call log, the caller is found by
//! number with their open requests, and a request is registered from a
//! call, on both engines.

use tuki_domain::directory::Role;
use tuki_domain::ticket::Channel;
use tuki_store::phone::{normalize_number, CallTicket, CtiEvent};
use tuki_store::testing::TestDb;
use tuki_store::StoreError;

use crate::fixture::{ticket, user, Desk};

fn ev(event: &str, call_id: &str) -> CtiEvent {
    CtiEvent {
        event: event.into(),
        call_id: call_id.into(),
        direction: None,
        from: None,
        to: None,
        user: None,
        cause: None,
        group: None,
    }
}

fn new_call(call_id: &str, from: &str, to: &str) -> CtiEvent {
    CtiEvent {
        direction: Some("in".into()),
        from: Some(from.into()),
        to: Some(to.into()),
        ..ev("newCall", call_id)
    }
}

async fn calls_are_logged_looked_up_and_become_requests(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let store = &db.store;
    let mut new = user(Role::Customer, "pekka@shared.test", Some(desk.org_shared));
    new.phone = Some("+358 40 123 4567".into());
    let pekka = store.create_user(&desk.admin, new).await.unwrap();
    let mut open = ticket("Dishwasher leaks");
    open.requester_id = Some(pekka.id);
    let open = store.create_ticket(&desk.tier1, open).await.unwrap();

    // The exchange reports a call; the caller is known by number.
    let call = store
        .cti_event(
            &desk.tier1,
            new_call("c-1", "00358 40 123 4567", "+358 9 123 4567"),
        )
        .await
        .unwrap();
    assert_eq!(call.caller, "+358401234567");
    assert_eq!(call.callee, "+35891234567");
    assert_eq!(call.customer_id, Some(pekka.id));
    assert_eq!(call.outcome, "ringing");
    // A repeated newCall changes nothing.
    let again = store
        .cti_event(
            &desk.tier1,
            new_call("c-1", "+358401234567", "+35891234567"),
        )
        .await
        .unwrap();
    assert_eq!(again.id, call.id);

    let answered = store
        .cti_event(
            &desk.tier1,
            CtiEvent {
                user: Some("first@desk.test".into()),
                ..ev("answer", "c-1")
            },
        )
        .await
        .unwrap();
    assert_eq!(answered.agent_id, desk.tier1.user_id);
    assert_eq!(answered.outcome, "talking");
    assert!(answered.answered_at.is_some());
    let ended = store
        .cti_event(
            &desk.tier1,
            CtiEvent {
                cause: Some("normalClearing".into()),
                ..ev("hangup", "c-1")
            },
        )
        .await
        .unwrap();
    assert_eq!(ended.outcome, "answered");
    assert!(ended.ended_at.is_some());

    // Look-up: the customer's card and open requests.
    let found = store
        .lookup_caller(&desk.tier1, "+358 40 1234567")
        .await
        .unwrap();
    assert_eq!(found.customer.as_ref().map(|c| c.id), Some(pekka.id));
    assert_eq!(
        found.open_tickets.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![open.id]
    );
    let nobody = store
        .lookup_caller(&desk.tier1, "+35850999888")
        .await
        .unwrap();
    assert!(nobody.customer.is_none() && nobody.open_tickets.is_empty());
    assert!(matches!(
        store.lookup_caller(&desk.tier1, "12").await,
        Err(StoreError::Invalid(_))
    ));

    // A request from the call: the caller is the requester, phone channel.
    let (t, linked) = store
        .ticket_from_call(&desk.tier1, call.id, CallTicket::default())
        .await
        .unwrap();
    assert_eq!(t.requester_id, pekka.id);
    assert_eq!(t.channel, Channel::Phone);
    assert_eq!(t.subject, "Phone call from +358401234567");
    assert_eq!(linked.ticket_id, Some(t.id));
    assert!(matches!(
        store
            .ticket_from_call(&desk.tier1, call.id, CallTicket::default())
            .await,
        Err(StoreError::Conflict { .. })
    ));

    // A missed call from an unknown number needs a named requester.
    store
        .cti_event(
            &desk.tier1,
            new_call("c-2", "+4420794600000", "+35891234567"),
        )
        .await
        .unwrap();
    let missed = store
        .cti_event(
            &desk.tier1,
            CtiEvent {
                cause: Some("noAnswer".into()),
                ..ev("hangup", "c-2")
            },
        )
        .await
        .unwrap();
    assert_eq!(missed.outcome, "missed");
    assert_eq!(missed.customer_id, None);
    assert!(matches!(
        store
            .ticket_from_call(&desk.tier1, missed.id, CallTicket::default())
            .await,
        Err(StoreError::Invalid(_))
    ));
    let (t2, _) = store
        .ticket_from_call(
            &desk.tier1,
            missed.id,
            CallTicket {
                requester_id: Some(pekka.id),
                subject: Some("Called back about the dishwasher".into()),
                ..CallTicket::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(t2.subject, "Called back about the dishwasher");

    // A hangup for a call Tuki never saw still leaves a row.
    let orphan = store
        .cti_event(&desk.tier1, ev("hangup", "c-3"))
        .await
        .unwrap();
    assert_eq!(orphan.outcome, "missed");

    let log = store.calls(&desk.tier1, 10).await.unwrap();
    assert_eq!(log.len(), 3);

    // Customers do not see or post calls; bad events are named.
    assert!(matches!(
        store
            .cti_event(
                &desk.alice,
                new_call("c-4", "+358401234567", "+35891234567")
            )
            .await,
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        store.calls(&desk.alice, 10).await,
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        store.cti_event(&desk.tier1, ev("ring", "c-5")).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.cti_event(&desk.tier1, ev("newCall", "c-6")).await,
        Err(StoreError::Invalid(_))
    ));
}

#[test]
fn numbers_are_normalised_to_e164_when_they_are_numbers() {
    assert_eq!(normalize_number("+358 (40) 123-4567"), "+358401234567");
    assert_eq!(normalize_number("00358401234567"), "+358401234567");
    assert_eq!(normalize_number("201"), "201");
}

tuki_store::on_both_engines!(calls_are_logged_looked_up_and_become_requests);
