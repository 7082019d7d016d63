use std::collections::HashSet;

use tuki_domain::access::Actor;
use tuki_domain::ticket::{ArticleKind, LinkKind, Priority, TicketState};
use tuki_store::testing::TestDb;
use tuki_store::tickets::articles::NewArticle;
use tuki_store::tickets::links::{Merge, NewLink, Relation};
use tuki_store::tickets::transfer::Transfer;
use tuki_store::tickets::{TicketFilter, TicketPatch, TicketSort};
use tuki_store::StoreError;

use crate::fixture::{ticket, Desk};

fn fields(h: &[tuki_store::tickets::history::HistoryEvent]) -> Vec<&str> {
    h.iter().map(|e| e.field.as_str()).collect()
}

async fn a_phone_request_moves_through_the_tiers(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let s = &db.store;
    let t = desk.ticket_for(&desk.alice, "Dishwasher shows E15").await;
    assert_eq!(t.state, TicketState::New);
    assert_eq!(
        t.group_id,
        Some(desk.tier1_group),
        "lands in the intake group"
    );
    assert_eq!(t.organisation_id, Some(desk.org_shared));
    assert_eq!(
        s.articles(&desk.tier1, t.id).await.unwrap()[0].kind,
        ArticleKind::Phone
    );

    s.add_article(
        &desk.tier1,
        t.id,
        NewArticle {
            kind: Some(ArticleKind::Note),
            body: "Pump noise on the call.".into(),
            internal: None,
        },
    )
    .await
    .unwrap();
    // Tier 2 cannot see it yet.
    assert!(matches!(
        s.ticket(&desk.tier2, t.id).await,
        Err(StoreError::NotFound)
    ));

    let moved = s
        .transfer(
            &desk.tier1,
            t.id,
            Transfer {
                group_id: desk.tier2_group,
                reason: "Needs a pump specialist".into(),
                owner_id: desk.tier2.user_id,
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.group_id, Some(desk.tier2_group));
    assert_eq!(moved.owner_id, desk.tier2.user_id);
    assert_eq!(
        moved.followers,
        vec![desk.tier1.user_id.unwrap()],
        "the first agent keeps following"
    );
    // Both agents see it now: tier 2 as members, tier 1 as follower.
    assert_eq!(s.ticket(&desk.tier2, t.id).await.unwrap().id, t.id);
    assert_eq!(s.ticket(&desk.tier1, t.id).await.unwrap().id, t.id);

    let reply = s
        .add_article(
            &desk.tier2,
            t.id,
            NewArticle {
                kind: None,
                body: "Please clean the filter.".into(),
                internal: None,
            },
        )
        .await
        .unwrap();
    assert!(!reply.internal);
    assert_eq!(
        s.ticket(&desk.admin, t.id).await.unwrap().state,
        TicketState::Open,
        "first reply opens it"
    );

    // The customer sees the reply but not the note.
    let seen = s.articles(&desk.alice, t.id).await.unwrap();
    assert_eq!(
        seen.iter().map(|a| a.kind).collect::<Vec<_>>(),
        vec![ArticleKind::Phone, ArticleKind::Reply]
    );

    s.update_ticket(
        &desk.tier2,
        t.id,
        TicketPatch {
            state: Some(TicketState::PendingCustomer),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.add_article(
        &desk.alice,
        t.id,
        NewArticle {
            kind: None,
            body: "Cleaned it, still leaks.".into(),
            internal: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        s.ticket(&desk.admin, t.id).await.unwrap().state,
        TicketState::Open,
        "a customer's answer reopens"
    );

    let h = s.history(&desk.admin, t.id).await.unwrap();
    assert_eq!(
        fields(&h),
        vec![
            "created", "article", "group", "owner", "follower", "article", "state", "state",
            "article", "state"
        ]
    );
    let transfer = &h[2];
    assert_eq!(transfer.reason.as_deref(), Some("Needs a pump specialist"));
    assert_eq!(transfer.old_value, Some(desk.tier1_group.to_string()));
    assert_eq!(transfer.actor_id, desk.tier1.user_id);
    // Customers may not read the history.
    assert!(matches!(
        s.history(&desk.alice, t.id).await,
        Err(StoreError::Forbidden(_))
    ));
}

async fn history_is_append_only(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let t = desk.ticket_for(&desk.bob, "Laptop battery").await;
    let url = db.url.clone();
    let raw = tuki_store::Store::connect(&url).await.unwrap();
    for sql in [
        "UPDATE ticket_history SET field = 'x'",
        "DELETE FROM ticket_history",
    ] {
        let err = raw.execute_raw_for_tests(sql).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(db.store.history(&desk.admin, t.id).await.unwrap().len(), 1);
}

async fn the_state_machine_is_enforced(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let s = &db.store;
    let t = desk.ticket_for(&desk.alice, "VPN").await;
    let set = |state| TicketPatch {
        state: Some(state),
        ..Default::default()
    };
    s.update_ticket(&desk.tier1, t.id, set(TicketState::Resolved))
        .await
        .unwrap();
    let resolved = s.ticket(&desk.tier1, t.id).await.unwrap();
    assert!(resolved.resolved_at.is_some());
    let err = s
        .update_ticket(&desk.tier1, t.id, set(TicketState::PendingCustomer))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Transition(_)), "{err:?}");
    let err = s
        .update_ticket(&desk.tier1, t.id, set(TicketState::New))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Transition(_)));
    // A customer may close, but not resolve.
    let reopened = s
        .update_ticket(&desk.alice, t.id, set(TicketState::Open))
        .await
        .unwrap();
    assert_eq!(reopened.resolved_at, None);
    assert!(matches!(
        s.update_ticket(&desk.alice, t.id, set(TicketState::Resolved))
            .await,
        Err(StoreError::Transition(_))
    ));
    let closed = s
        .update_ticket(&desk.alice, t.id, set(TicketState::Closed))
        .await
        .unwrap();
    assert!(closed.closed_at.is_some());
    // ...and not edit anything else.
    let err = s
        .update_ticket(
            &desk.alice,
            t.id,
            TicketPatch {
                priority: Some(Priority::Urgent),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Forbidden(_)));
    // A closed ticket cannot be transferred until reopened.
    let err = s
        .transfer(
            &desk.tier1,
            t.id,
            Transfer {
                group_id: desk.tier2_group,
                reason: "x".into(),
                owner_id: None,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }));
    // A no-op change writes no history.
    let before = s.history(&desk.admin, t.id).await.unwrap().len();
    s.update_ticket(&desk.tier1, t.id, set(TicketState::Closed))
        .await
        .unwrap();
    assert_eq!(s.history(&desk.admin, t.id).await.unwrap().len(), before);
}

async fn edits_are_validated_and_recorded(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let s = &db.store;
    let t = desk.ticket_for(&desk.alice, "Projector flickers").await;
    let patch = TicketPatch {
        subject: Some("Projector in 204 flickers".into()),
        priority: Some(Priority::High),
        category: Some(Some("Hardware".into())),
        owner_id: Some(desk.tier1.user_id),
        tags: Some(vec!["Projector".into(), "room-204".into()]),
        state: None,
    };
    let t2 = s.update_ticket(&desk.tier1, t.id, patch).await.unwrap();
    assert_eq!(t2.tags, vec!["projector", "room-204"]);
    assert_eq!(t2.owner_id, desk.tier1.user_id);
    let h = s.history(&desk.admin, t.id).await.unwrap();
    assert_eq!(
        fields(&h),
        vec!["created", "subject", "category", "priority", "owner", "tag", "tag"]
    );
    // The owner must be in the group.
    let err = s
        .update_ticket(
            &desk.tier1,
            t.id,
            TicketPatch {
                owner_id: Some(desk.tier2.user_id),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref v) if v.field == "owner_id"));
    let err = s
        .update_ticket(
            &desk.tier1,
            t.id,
            TicketPatch {
                subject: Some("  ".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref v) if v.field == "subject"));
    let err = s
        .update_ticket(
            &desk.tier1,
            t.id,
            TicketPatch {
                tags: Some(vec!["two words".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref v) if v.field == "tags"));
    // Unassign with null, drop a tag.
    let t3 = s
        .update_ticket(
            &desk.tier1,
            t.id,
            TicketPatch {
                owner_id: Some(None),
                tags: Some(vec!["projector".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(t3.owner_id, None);
    assert_eq!(t3.tags, vec!["projector"]);
    let fetched = s.ticket(&desk.tier1, t.id).await.unwrap();
    assert_eq!(
        serde_json::to_value(&fetched).unwrap(),
        serde_json::to_value(&t3).unwrap(),
        "what a write returns is what a read returns"
    );
}

async fn merge_closes_the_duplicate_and_keeps_its_articles(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let s = &db.store;
    let keep = desk.ticket_for(&desk.alice, "Printer jams").await;
    let dup = desk.ticket_for(&desk.alice, "Printer jams again").await;
    s.update_ticket(
        &desk.tier1,
        dup.id,
        TicketPatch {
            tags: Some(vec!["printer".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.follow(&desk.tier1, dup.id, desk.tier2.user_id.unwrap())
        .await
        .unwrap();
    let survivor = s
        .merge(
            &desk.tier1,
            dup.id,
            Merge {
                into_ticket_id: keep.id,
            },
        )
        .await
        .unwrap();
    assert_eq!(survivor.id, keep.id);
    assert_eq!(survivor.tags, vec!["printer"]);
    assert!(survivor.followers.contains(&desk.tier2.user_id.unwrap()));
    let merged = s.ticket(&desk.tier1, dup.id).await.unwrap();
    assert_eq!(merged.state, TicketState::Closed);
    assert_eq!(merged.merged_into_id, Some(keep.id));
    assert_eq!(
        s.articles(&desk.alice, dup.id).await.unwrap().len(),
        1,
        "articles stay readable"
    );
    assert!(fields(&s.history(&desk.admin, keep.id).await.unwrap()).contains(&"merged_from"));
    // Merged tickets stay closed and cannot be merged again.
    let err = s
        .update_ticket(
            &desk.tier1,
            dup.id,
            TicketPatch {
                state: Some(TicketState::Open),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }));
    let third = desk.ticket_for(&desk.alice, "Third").await;
    assert!(matches!(
        s.merge(
            &desk.tier1,
            dup.id,
            Merge {
                into_ticket_id: third.id
            }
        )
        .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        s.merge(
            &desk.tier1,
            third.id,
            Merge {
                into_ticket_id: dup.id
            }
        )
        .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        s.merge(
            &desk.tier1,
            third.id,
            Merge {
                into_ticket_id: third.id
            }
        )
        .await,
        Err(StoreError::Invalid(_))
    ));
    // Customers may not merge.
    assert!(matches!(
        s.merge(
            &desk.alice,
            third.id,
            Merge {
                into_ticket_id: keep.id
            }
        )
        .await,
        Err(StoreError::Forbidden(_))
    ));
}

async fn links_read_from_both_ends(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let s = &db.store;
    let outage = desk.ticket_for(&desk.alice, "Mail server down").await;
    let report = desk.ticket_for(&desk.bob, "Cannot send mail").await;
    let links = s
        .add_link(
            &desk.tier1,
            outage.id,
            NewLink {
                target_id: report.id,
                kind: LinkKind::Parent,
            },
        )
        .await
        .unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].relation, Relation::Child);
    let from_child = s.links(&desk.tier1, report.id).await.unwrap();
    assert_eq!(
        (from_child[0].relation, from_child[0].ticket_id),
        (Relation::Parent, outage.id)
    );
    // The same link again, or reversed, is a conflict.
    assert!(matches!(
        s.add_link(
            &desk.tier1,
            report.id,
            NewLink {
                target_id: outage.id,
                kind: LinkKind::Parent
            }
        )
        .await,
        Err(StoreError::Conflict { .. })
    ));
    s.add_link(
        &desk.tier1,
        report.id,
        NewLink {
            target_id: outage.id,
            kind: LinkKind::Related,
        },
    )
    .await
    .unwrap();
    assert!(matches!(
        s.add_link(
            &desk.tier1,
            outage.id,
            NewLink {
                target_id: report.id,
                kind: LinkKind::Related
            }
        )
        .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        s.add_link(
            &desk.tier1,
            outage.id,
            NewLink {
                target_id: outage.id,
                kind: LinkKind::Related
            }
        )
        .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.add_link(&desk.tier1, outage.id, NewLink { target_id: 999_999, kind: LinkKind::Related }).await,
        Err(StoreError::Invalid(ref v)) if v.field == "target_id"
    ));
    // Bob sees the link list of his ticket, but not Alice's ticket in it.
    assert!(s.links(&desk.bob, report.id).await.unwrap().is_empty());
    let link_id = from_child[0].id;
    s.remove_link(&desk.tier1, report.id, link_id)
        .await
        .unwrap();
    assert_eq!(s.links(&desk.tier1, report.id).await.unwrap().len(), 1);
    assert_eq!(
        fields(&s.history(&desk.admin, outage.id).await.unwrap())
            .iter()
            .filter(|f| **f == "link")
            .count(),
        3
    );
}

async fn lists_filter_sort_and_page(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let s = &db.store;
    let mut ids = Vec::new();
    for i in 0..23 {
        let mut new = ticket(&format!(
            "Request {i} {}",
            if i % 5 == 0 { "Näyttö" } else { "printer" }
        ));
        new.requester_id = if i % 2 == 0 {
            desk.alice.user_id
        } else {
            desk.bob.user_id
        };
        new.priority = Some(Priority::ALL[i % 4]);
        new.tags = if i % 3 == 0 {
            vec!["vip".into()]
        } else {
            vec![]
        };
        new.group_id = Some(if i % 4 == 0 {
            desk.tier2_group
        } else {
            desk.tier1_group
        });
        ids.push(s.create_ticket(&desk.admin, new).await.unwrap().id);
    }
    s.update_ticket(
        &desk.admin,
        ids[3],
        TicketPatch {
            state: Some(TicketState::Resolved),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let all = |f: TicketFilter| {
        let s = s.clone();
        let admin = desk.admin.clone();
        async move {
            let mut out = Vec::new();
            let mut f = f;
            loop {
                let page = s.tickets(&admin, &f).await.unwrap();
                out.extend(page.items.iter().map(|t| t.id));
                match page.next_cursor {
                    Some(c) => f.cursor = Some(c),
                    None => break out,
                }
            }
        }
    };
    let base = TicketFilter {
        limit: 5,
        ..Default::default()
    };
    let newest = all(base.clone()).await;
    assert_eq!(newest.len(), 23);
    assert_eq!(newest, ids.iter().rev().copied().collect::<Vec<_>>());
    for sort in [
        TicketSort::PriorityDesc,
        TicketSort::PriorityAsc,
        TicketSort::UpdatedDesc,
        TicketSort::UpdatedAsc,
        TicketSort::OldestFirst,
    ] {
        let got = all(TicketFilter {
            sort,
            ..base.clone()
        })
        .await;
        assert_eq!(
            got.iter().collect::<HashSet<_>>().len(),
            23,
            "{sort:?}: every ticket exactly once"
        );
        if sort == TicketSort::PriorityDesc {
            let first = s.ticket(&desk.admin, got[0]).await.unwrap();
            assert_eq!(first.priority, Priority::Urgent);
        }
    }
    assert_eq!(
        all(TicketFilter {
            group_id: Some(desk.tier2_group),
            ..base.clone()
        })
        .await
        .len(),
        6
    );
    assert_eq!(
        all(TicketFilter {
            active: Some(false),
            ..base.clone()
        })
        .await,
        vec![ids[3]]
    );
    assert_eq!(
        all(TicketFilter {
            states: vec![TicketState::Resolved, TicketState::Closed],
            ..base.clone()
        })
        .await,
        vec![ids[3]]
    );
    assert_eq!(
        all(TicketFilter {
            tag: Some("VIP".into()),
            ..base.clone()
        })
        .await
        .len(),
        8
    );
    assert_eq!(
        all(TicketFilter {
            text: Some("näyttö".into()),
            ..base.clone()
        })
        .await
        .len(),
        5
    );
    assert_eq!(
        all(TicketFilter {
            text: Some("100%_".into()),
            ..base.clone()
        })
        .await
        .len(),
        0,
        "LIKE wildcards are literal"
    );
    assert_eq!(
        all(TicketFilter {
            requester_id: desk.alice.user_id,
            ..base.clone()
        })
        .await
        .len(),
        12
    );
    assert_eq!(
        all(TicketFilter {
            organisation_id: Some(desk.org_private),
            ..base.clone()
        })
        .await
        .len(),
        11
    );
    assert_eq!(
        all(TicketFilter {
            priorities: vec![Priority::Urgent],
            ..base.clone()
        })
        .await
        .len(),
        5
    );
    assert_eq!(
        all(TicketFilter {
            unassigned: true,
            ..base.clone()
        })
        .await
        .len(),
        23
    );
    let err = s
        .tickets(
            &desk.admin,
            &TicketFilter {
                cursor: Some("garbage".into()),
                ..base.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref v) if v.field == "cursor"));
}

async fn numbers_are_sequential_under_concurrency(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = db.store.clone();
        let actor: Actor = desk.tier1.clone();
        let mut new = ticket(&format!("Concurrent {i}"));
        new.requester_id = desk.alice.user_id;
        tasks.push(tokio::spawn(async move {
            s.create_ticket(&actor, new).await.unwrap().number
        }));
    }
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(t.await.unwrap());
    }
    numbers.sort();
    assert_eq!(numbers, (1..=40).collect::<Vec<i64>>());
}

/// Concurrent creations share transactions on SQLite (group commit); a bad
/// one among them gets its own error and costs the others nothing.
async fn concurrent_creates_get_their_own_answers(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let s = db.store.clone();
        let actor = desk.tier1.clone();
        let mut new = ticket(&format!("Batch {i}"));
        // Every tenth names a requester that does not exist.
        new.requester_id = if i % 10 == 7 {
            Some(999_999)
        } else {
            desk.alice.user_id
        };
        tasks.push(tokio::spawn(async move {
            (i, s.create_ticket(&actor, new).await)
        }));
    }
    let mut numbers = Vec::new();
    for t in tasks {
        let (i, result) = t.await.unwrap();
        match result {
            Ok(t) => {
                assert_ne!(i % 10, 7);
                assert_eq!(t.subject, format!("Batch {i}"));
                let read = db.store.ticket(&desk.admin, t.id).await.unwrap();
                assert_eq!(read.subject, t.subject, "committed before the answer");
                numbers.push(t.number);
            }
            Err(StoreError::Invalid(v)) => {
                assert_eq!((i % 10, v.field.as_str()), (7, "requester_id"));
            }
            Err(e) => panic!("{e}"),
        }
    }
    numbers.sort();
    assert_eq!(numbers.len(), 54);
    numbers.dedup();
    assert_eq!(numbers.len(), 54, "numbers are unique");
}

async fn customers_create_only_for_themselves(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let s = &db.store;
    let mine = s
        .create_ticket(&desk.alice, ticket("My screen"))
        .await
        .unwrap();
    assert_eq!(mine.requester_id, desk.alice.user_id.unwrap());
    assert_eq!(mine.channel, tuki_domain::ticket::Channel::Api);
    let mut for_bob = ticket("For Bob");
    for_bob.requester_id = desk.bob.user_id;
    assert!(matches!(
        s.create_ticket(&desk.alice, for_bob).await,
        Err(StoreError::Forbidden(_))
    ));
    let mut urgent = ticket("Urgent!");
    urgent.priority = Some(Priority::Urgent);
    assert!(matches!(
        s.create_ticket(&desk.alice, urgent).await,
        Err(StoreError::Forbidden(_))
    ));
    let mut phone = ticket("By phone");
    phone.channel = Some(tuki_domain::ticket::Channel::Phone);
    assert!(
        matches!(s.create_ticket(&desk.alice, phone).await, Err(StoreError::Invalid(ref v)) if v.field == "channel")
    );
    let note = NewArticle {
        kind: Some(ArticleKind::Note),
        body: "secret".into(),
        internal: None,
    };
    assert!(matches!(
        s.add_article(&desk.alice, mine.id, note).await,
        Err(StoreError::Forbidden(_))
    ));
    let bad = NewArticle {
        kind: Some(ArticleKind::Reply),
        body: "x".into(),
        internal: Some(true),
    };
    assert!(
        matches!(s.add_article(&desk.tier1, mine.id, bad).await, Err(StoreError::Invalid(ref v)) if v.field == "internal")
    );
    let mut nul = ticket("nul");
    nul.body = "a\u{0}b".into();
    assert!(
        matches!(s.create_ticket(&desk.alice, nul).await, Err(StoreError::Invalid(ref v)) if v.field == "body")
    );
}

tuki_store::on_both_engines!(
    a_phone_request_moves_through_the_tiers,
    history_is_append_only,
    the_state_machine_is_enforced,
    edits_are_validated_and_recorded,
    merge_closes_the_duplicate_and_keeps_its_articles,
    links_read_from_both_ends,
    lists_filter_sort_and_page,
    numbers_are_sequential_under_concurrency,
    concurrent_creates_get_their_own_answers,
    customers_create_only_for_themselves,
);
