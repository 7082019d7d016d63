//! Email in: tickets from raw messages, threading, robots, bounces,
//! throttling, quarantine and exactly-once import, on both engines.

use jiff::SignedDuration;
use tuki_domain::ticket::{ArticleKind, Channel, TicketState};
use tuki_mail::ThreadBy;
use tuki_store::mail::{IngestOptions, IngestOutcome, Mailbox};
use tuki_store::testing::TestDb;

use crate::fixture::Desk;

fn message(from: &str, id: &str, subject: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: help@desk.test\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n{extra_headers}\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn setup(db: &TestDb) -> (Desk, Mailbox) {
    let desk = Desk::new(db.store.clone()).await;
    let mailbox = db
        .store
        .create_mailbox("help", "help@desk.test", Some(desk.tier2_group))
        .await
        .unwrap();
    (desk, mailbox)
}

async fn new_sender_becomes_a_customer_and_a_message_is_imported_once(db: TestDb) {
    let (desk, mb) = setup(&db).await;
    let store = &db.store;
    let opts = IngestOptions::default();
    let raw = message(
        "Nina Uusi <Nina@Shared.test>",
        "first@mail.shared.test",
        "Näyttö pimeänä",
        "",
        "Näyttö ei käynnisty.",
    );
    let out = store.ingest_mail(&raw, Some(&mb), &opts).await.unwrap();
    let IngestOutcome::Ticket { ticket_id, .. } = out else {
        panic!("expected a ticket, got {out:?}")
    };
    let t = store.ticket(&desk.admin, ticket_id).await.unwrap();
    assert_eq!(t.channel, Channel::Email);
    assert_eq!(t.subject, "Näyttö pimeänä");
    assert_eq!(t.group_id, Some(desk.tier2_group), "the mailbox's group");
    assert_eq!(t.state, TicketState::New);
    let nina = store
        .user_by_email(&desk.admin, "nina@shared.test")
        .await
        .unwrap();
    assert_eq!(nina.name, "Nina Uusi");
    assert_eq!(t.requester_id, nina.id);
    assert_eq!(
        nina.organisation_id,
        Some(desk.org_shared),
        "placed by domain"
    );
    assert_eq!(t.organisation_id, Some(desk.org_shared));
    let articles = store.articles(&desk.admin, ticket_id).await.unwrap();
    assert_eq!(articles.len(), 1);
    assert_eq!(articles[0].author_id, Some(nina.id));
    assert_eq!(articles[0].body, "Näyttö ei käynnisty.");

    // The same message again (a re-delivery, a second node, a restart
    // before the mailbox was cleaned): nothing new.
    for _ in 0..2 {
        assert_eq!(
            store.ingest_mail(&raw, Some(&mb), &opts).await.unwrap(),
            IngestOutcome::Duplicate
        );
    }
    assert_eq!(
        store.articles(&desk.admin, ticket_id).await.unwrap().len(),
        1
    );
    assert_eq!(
        store
            .mail_raw("first@mail.shared.test")
            .await
            .unwrap()
            .unwrap(),
        raw
    );
    let rec = store
        .mail_record("first@mail.shared.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.outcome, "ticket");
    assert!(rec.auto_answer_allowed);
}

async fn concurrent_deliveries_of_one_message_make_one_ticket(db: TestDb) {
    let (desk, mb) = setup(&db).await;
    let raw = message("alice@shared.test", "race@x", "Race", "", "Once only.");
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = db.store.clone();
        let raw = raw.clone();
        let mb = mb.clone();
        tasks.push(tokio::spawn(async move {
            store
                .ingest_mail(&raw, Some(&mb), &IngestOptions::default())
                .await
                .unwrap()
        }));
    }
    let mut tickets = 0;
    for t in tasks {
        match t.await.unwrap() {
            IngestOutcome::Ticket { .. } => tickets += 1,
            IngestOutcome::Duplicate => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(tickets, 1);
    let page = db
        .store
        .tickets(
            &desk.admin,
            &tuki_store::tickets::TicketFilter {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.iter().filter(|t| t.subject == "Race").count(), 1);
}

async fn replies_thread_by_reference_then_tag_then_reply_subject(db: TestDb) {
    let (desk, mb) = setup(&db).await;
    let store = &db.store;
    let opts = IngestOptions::default();
    let first = message(
        "alice@shared.test",
        "a1@shared.test",
        "Printer jams",
        "",
        "It jams.",
    );
    let IngestOutcome::Ticket {
        ticket_id, number, ..
    } = store.ingest_mail(&first, Some(&mb), &opts).await.unwrap()
    else {
        panic!()
    };

    // An agent answers; the state becomes open.
    store
        .add_article(
            &desk.tier2,
            ticket_id,
            tuki_store::articles::NewArticle {
                kind: None,
                body: "Try again.".into(),
                internal: None,
            },
        )
        .await
        .unwrap();
    // Tuki's outgoing answer had this Message-ID.
    store
        .record_sent_message_id("tuki-out-1@desk.test", ticket_id)
        .await
        .unwrap();

    // 1. References: a reply to Tuki's mail, quoting it.
    let reply = message(
        "alice@shared.test",
        "a2@shared.test",
        "Re: Printer jams",
        "In-Reply-To: <tuki-out-1@desk.test>\r\nReferences: <a1@shared.test> <tuki-out-1@desk.test>\r\n",
        "Still jams.\r\n\r\nOn Mon, 3 Mar 2025, Tuki <help@desk.test> wrote:\r\n> Try again.",
    );
    let out = store.ingest_mail(&reply, Some(&mb), &opts).await.unwrap();
    assert!(
        matches!(
            out,
            IngestOutcome::Article { ticket_id: t, by: ThreadBy::References, .. } if t == ticket_id
        ),
        "{out:?}"
    );
    let arts = store.articles(&desk.admin, ticket_id).await.unwrap();
    assert_eq!(
        arts.last().unwrap().body,
        "Still jams.",
        "quoted history trimmed"
    );
    assert_eq!(arts.last().unwrap().kind, ArticleKind::Reply);

    // 2. The subject tag, from a client that dropped the references; a
    // colleague (not the requester) answers, which mail allows.
    let tagged = message(
        "amir@shared.test",
        "a3@shared.test",
        &format!("AW: [Tuki #{number}] Printer jams"),
        "",
        "Same here.",
    );
    let out = store.ingest_mail(&tagged, Some(&mb), &opts).await.unwrap();
    assert!(
        matches!(
            out,
            IngestOutcome::Article { ticket_id: t, by: ThreadBy::SubjectTag, .. } if t == ticket_id
        ),
        "{out:?}"
    );

    // 3. Only a reply prefix and the same subject, from the requester.
    let bare = message(
        "alice@shared.test",
        "a4@shared.test",
        "VS: Printer jams",
        "",
        "Any news?",
    );
    let out = store.ingest_mail(&bare, Some(&mb), &opts).await.unwrap();
    assert!(
        matches!(
            out,
            IngestOutcome::Article { ticket_id: t, by: ThreadBy::ReplySubject, .. } if t == ticket_id
        ),
        "{out:?}"
    );
    // The same subject without a reply prefix, or from someone else, is new.
    for (from, id, subject) in [
        ("alice@shared.test", "a5@shared.test", "Printer jams"),
        ("bob@private.test", "b1@private.test", "Re: Printer jams"),
        (
            "alice@shared.test",
            "a6@shared.test",
            "[Tuki #999999] Printer jams",
        ),
    ] {
        let out = store
            .ingest_mail(&message(from, id, subject, "", "x"), Some(&mb), &opts)
            .await
            .unwrap();
        assert!(
            matches!(out, IngestOutcome::Ticket { .. }),
            "{subject}: {out:?}"
        );
    }
    // A tag naming a missing ticket is dropped from the new ticket's subject.
    let rec = store.mail_record("a6@shared.test").await.unwrap().unwrap();
    let t = store
        .ticket(&desk.admin, rec.ticket_id.unwrap())
        .await
        .unwrap();
    assert_eq!(t.subject, "Printer jams");
}

async fn robots_are_recorded_never_answered_and_do_not_reopen(db: TestDb) {
    let (desk, mb) = setup(&db).await;
    let store = &db.store;
    let opts = IngestOptions::default();
    let IngestOutcome::Ticket {
        ticket_id, number, ..
    } = store
        .ingest_mail(
            &message("bob@private.test", "b1@p", "Kone", "", "Rikki."),
            Some(&mb),
            &opts,
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    let before = store.ticket(&desk.admin, ticket_id).await.unwrap();
    let ooo = message(
        "bob@private.test",
        "b2@p",
        &format!("Automatic reply: [Tuki #{number}] Kone"),
        "Auto-Submitted: auto-replied\r\n",
        "I am away.",
    );
    let out = store.ingest_mail(&ooo, Some(&mb), &opts).await.unwrap();
    let IngestOutcome::Article { article_id, .. } = out else {
        panic!("{out:?}")
    };
    let rec = store.mail_record("b2@p").await.unwrap().unwrap();
    assert_eq!(rec.classification, "auto_reply");
    assert!(!rec.auto_answer_allowed);
    assert!(rec.reasons.contains("Auto-Submitted"));
    let arts = store.articles(&desk.admin, ticket_id).await.unwrap();
    let a = arts.iter().find(|a| a.id == article_id).unwrap();
    assert_eq!(a.kind, ArticleKind::Note);
    assert!(a.internal, "customers do not see their own auto-reply");
    let after = store.ticket(&desk.admin, ticket_id).await.unwrap();
    assert_eq!(after.state, before.state);

    // A newsletter still becomes a ticket (nothing is lost) but is marked.
    let bulk = message(
        "news@vendor.test",
        "n1@v",
        "Offers",
        "Precedence: bulk\r\n",
        "Buy.",
    );
    assert!(matches!(
        store.ingest_mail(&bulk, Some(&mb), &opts).await.unwrap(),
        IngestOutcome::Ticket { .. }
    ));
    let rec = store.mail_record("n1@v").await.unwrap().unwrap();
    assert_eq!(rec.classification, "bulk");
    assert!(!rec.auto_answer_allowed);
}

async fn a_bounce_attaches_to_its_ticket_and_flags_the_address(db: TestDb) {
    let (desk, mb) = setup(&db).await;
    let store = &db.store;
    let opts = IngestOptions::default();
    let IngestOutcome::Ticket { ticket_id, .. } = store
        .ingest_mail(
            &message("bella@private.test", "c1@p", "Laskutus", "", "Kysymys."),
            Some(&mb),
            &opts,
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    store
        .record_sent_message_id("tuki-out-9@desk.test", ticket_id)
        .await
        .unwrap();
    let dsn = "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.private.test\r\nTo: help@desk.test\r\n\
        Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@mx>\r\n\
        Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n\
        --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n\
        Final-Recipient: rfc822; bella@private.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
        --b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: help@desk.test\r\nMessage-ID: <tuki-out-9@desk.test>\r\n\r\n\
        --b--\r\n";
    let out = store
        .ingest_mail(dsn.as_bytes(), Some(&mb), &opts)
        .await
        .unwrap();
    assert_eq!(
        out,
        IngestOutcome::Bounce {
            ticket_id: Some(ticket_id),
            article_id: match &out {
                IngestOutcome::Bounce { article_id, .. } => *article_id,
                _ => None,
            },
            flagged: vec!["bella@private.test".into()],
        }
    );
    let flag = store
        .address_flag("Bella@private.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(flag.status.as_deref(), Some("5.1.1"));
    assert_eq!(flag.bounces, 1);
    assert_eq!(flag.last_ticket_id, Some(ticket_id));
    let arts = store.articles(&desk.admin, ticket_id).await.unwrap();
    let note = arts.last().unwrap();
    assert!(note.internal && note.body.contains("Delivery failed to bella@private.test"));
    let rec = store.mail_record("dsn1@mx").await.unwrap().unwrap();
    assert_eq!(rec.classification, "bounce");
    assert!(!rec.auto_answer_allowed);
    // No customer was made of the mailer daemon.
    assert!(store
        .user_by_email(&desk.admin, "mailer-daemon@mx.private.test")
        .await
        .is_err());
}

async fn a_flooding_sender_is_throttled_and_own_mail_is_a_loop(db: TestDb) {
    let (_desk, mb) = setup(&db).await;
    let store = &db.store;
    let opts = IngestOptions {
        throttle_max: 3,
        throttle_window: SignedDuration::from_mins(10),
        ..Default::default()
    };
    let mut outcomes = Vec::new();
    for i in 0..5 {
        let raw = message(
            "script@flood.test",
            &format!("f{i}@flood"),
            &format!("Alert {i}"),
            "",
            "x",
        );
        outcomes.push(store.ingest_mail(&raw, Some(&mb), &opts).await.unwrap());
    }
    let tickets = outcomes
        .iter()
        .filter(|o| matches!(o, IngestOutcome::Ticket { .. }))
        .count();
    assert_eq!(tickets, 3);
    assert_eq!(outcomes[3], IngestOutcome::Throttled);
    assert_eq!(outcomes[4], IngestOutcome::Throttled);
    let rec = store.mail_record("f4@flood").await.unwrap().unwrap();
    assert_eq!(rec.outcome, "throttled");
    assert!(
        store.mail_raw("f4@flood").await.unwrap().is_some(),
        "kept, not ticketed"
    );
    // A throttled message is still known: a re-delivery is a duplicate.
    let raw = message("script@flood.test", "f4@flood", "Alert 4", "", "x");
    assert_eq!(
        store.ingest_mail(&raw, Some(&mb), &opts).await.unwrap(),
        IngestOutcome::Duplicate
    );

    let own = message("help@desk.test", "own@desk", "Re: x", "", "echo");
    assert_eq!(
        store.ingest_mail(&own, Some(&mb), &opts).await.unwrap(),
        IngestOutcome::Loop
    );
}

async fn unparsable_mail_is_quarantined_and_can_be_retried(db: TestDb) {
    let (_desk, mb) = setup(&db).await;
    let store = &db.store;
    let opts = IngestOptions::default();
    let raw = b"To: help@desk.test\r\nSubject: no sender\r\n\r\nbody".to_vec();
    let out = store.ingest_mail(&raw, Some(&mb), &opts).await.unwrap();
    let IngestOutcome::Quarantined { quarantine_id, .. } = out else {
        panic!("{out:?}")
    };
    // The next message is not held up.
    let ok = message("alice@shared.test", "after@q", "After", "", "fine");
    assert!(matches!(
        store.ingest_mail(&ok, Some(&mb), &opts).await.unwrap(),
        IngestOutcome::Ticket { .. }
    ));
    let q = store.quarantined_mail().await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].id, quarantine_id);
    assert_eq!(q[0].size, raw.len());
    assert_eq!(q[0].mailbox_id, Some(mb.id));
    assert!(q[0].error.contains("sender"));
    let again = store.retry_quarantined(quarantine_id, &opts).await.unwrap();
    assert!(matches!(again, IngestOutcome::Quarantined { .. }));
    assert_eq!(store.quarantined_mail().await.unwrap()[0].attempts, 2);
}

async fn mailboxes_show_last_fetch_and_how_long_they_fail(db: TestDb) {
    let (_desk, mb) = setup(&db).await;
    let store = &db.store;
    store
        .mailbox_failed(mb.id, "connection refused")
        .await
        .unwrap();
    let first = store.mailbox("help").await.unwrap().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store.mailbox_failed(mb.id, "timeout").await.unwrap();
    let m = store.mailbox("help").await.unwrap().unwrap();
    assert_eq!(m.last_error.as_deref(), Some("timeout"));
    assert_eq!(
        m.failing_since, first.failing_since,
        "the run's first failure"
    );
    assert_eq!(
        store
            .mailboxes_failing_longer_than(SignedDuration::ZERO)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .mailboxes_failing_longer_than(SignedDuration::from_hours(1))
        .await
        .unwrap()
        .is_empty());
    store.mailbox_fetched(mb.id).await.unwrap();
    let m = store.mailbox("help").await.unwrap().unwrap();
    assert!(m.last_fetch_at.is_some());
    assert!(m.failing_since.is_none());
    assert_eq!(
        m.last_error.as_deref(),
        Some("timeout"),
        "kept for the record"
    );
    assert_eq!(store.mailboxes().await.unwrap().len(), 1);
}

tuki_store::on_both_engines!(
    new_sender_becomes_a_customer_and_a_message_is_imported_once,
    concurrent_deliveries_of_one_message_make_one_ticket,
    replies_thread_by_reference_then_tag_then_reply_subject,
    robots_are_recorded_never_answered_and_do_not_reopen,
    a_bounce_attaches_to_its_ticket_and_flags_the_address,
    a_flooding_sender_is_throttled_and_own_mail_is_a_loop,
    unparsable_mail_is_quarantined_and_can_be_retried,
    mailboxes_show_last_fetch_and_how_long_they_fail,
);
