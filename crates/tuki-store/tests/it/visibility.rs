//! The SQL form of the access rules (used by lists) must agree with the
//! domain's `can_view_ticket` (used for single tickets) for every actor and
//! every kind of ticket.

use std::collections::BTreeSet;

use tuki_domain::access::{can_view_ticket, Actor, TicketAction};
use tuki_store::testing::TestDb;
use tuki_store::tickets::transfer::Transfer;
use tuki_store::tickets::{TicketFilter, TicketPatch};
use tuki_store::StoreError;

use crate::fixture::{ticket, Desk};

async fn lists_and_single_reads_agree(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let s = &db.store;
    // Tickets of every shape: each requester, each group, owned, followed.
    let mut ids = Vec::new();
    for (i, requester) in [&desk.alice, &desk.amir, &desk.bob, &desk.bella]
        .iter()
        .enumerate()
    {
        for group in [desk.tier1_group, desk.tier2_group] {
            let mut new = ticket(&format!("t{i}-{group}"));
            new.requester_id = requester.user_id;
            new.group_id = Some(group);
            ids.push(s.create_ticket(&desk.admin, new).await.unwrap().id);
        }
    }
    // Tier 1 follows one tier-2 ticket; an admin owns another one.
    s.follow(&desk.admin, ids[1], desk.tier1.user_id.unwrap())
        .await
        .unwrap();
    s.update_ticket(
        &desk.admin,
        ids[3],
        TicketPatch {
            owner_id: Some(desk.admin.user_id),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // A transferred ticket: tier 1 follows it by transferring.
    s.transfer(
        &desk.tier1,
        ids[4],
        Transfer {
            group_id: desk.tier2_group,
            reason: "specialist".into(),
            owner_id: None,
        },
    )
    .await
    .unwrap();

    let actors: [(&str, &Actor); 7] = [
        ("admin", &desk.admin),
        ("tier1", &desk.tier1),
        ("tier2", &desk.tier2),
        ("alice", &desk.alice),
        ("amir", &desk.amir),
        ("bob", &desk.bob),
        ("bella", &desk.bella),
    ];
    for (name, actor) in actors {
        let listed: BTreeSet<i64> = s
            .tickets(
                actor,
                &TicketFilter {
                    limit: 200,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .items
            .iter()
            .map(|t| t.id)
            .collect();
        let mut expected = BTreeSet::new();
        for id in &ids {
            let t = s.ticket(&desk.admin, *id).await.unwrap();
            let visible = can_view_ticket(actor, &t.facts(actor));
            if visible {
                expected.insert(*id);
            }
            match s.authorize(actor, *id, TicketAction::View).await {
                Ok(_) => assert!(visible, "{name} read {id}"),
                Err(StoreError::NotFound) => assert!(!visible, "{name} denied {id}"),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(listed, expected, "{name}");
        // The group filter shortcut gives the same answer as the full rule.
        for group in [desk.tier1_group, desk.tier2_group] {
            let by_group: BTreeSet<i64> = s
                .tickets(
                    actor,
                    &TicketFilter {
                        group_id: Some(group),
                        limit: 200,
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .items
                .iter()
                .map(|t| t.id)
                .collect();
            let mut want = BTreeSet::new();
            for id in &expected {
                if s.ticket(&desk.admin, *id).await.unwrap().group_id == Some(group) {
                    want.insert(*id);
                }
            }
            assert_eq!(by_group, want, "{name} group {group}");
        }
    }
    // Sanity: the rules are not trivially all-or-nothing.
    let count = |a: &Actor| {
        let s = s.clone();
        let a = a.clone();
        async move {
            s.tickets(
                &a,
                &TicketFilter {
                    limit: 200,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .items
            .len()
        }
    };
    assert_eq!(count(&desk.admin).await, 8);
    assert_eq!(
        count(&desk.tier1).await,
        5,
        "3 left in tier 1, plus a followed and a transferred one"
    );
    assert_eq!(
        count(&desk.alice).await,
        4,
        "Alice's organisation shares tickets"
    );
    assert_eq!(count(&desk.bob).await, 2, "Bob's organisation does not");
}

tuki_store::on_both_engines!(lists_and_single_reads_agree);
