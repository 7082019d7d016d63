//! Email in: tickets from raw messages, threading, robots, bounces,
//! throttling, quarantine and exactly-once import, on both engines.

use jiff::SignedDuration;
use tuki_domain::ticket::{ArticleKind, Channel, TicketState};
use tuki_mail::ThreadBy;
use tuki_store::mail::{IngestOutcome, MailPolicy, Mailbox};
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
    let raw = message(
        "Nina Uusi <Nina@Shared.test>",
        "first@mail.shared.test",
        "Näyttö pimeänä",
        "",
        "Näyttö ei käynnisty.",
    );
    let out = store.ingest_mail(&raw, Some(&mb)).await.unwrap();
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
            store.ingest_mail(&raw, Some(&mb)).await.unwrap(),
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
            store.ingest_mail(&raw, Some(&mb)).await.unwrap()
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
    let first = message(
        "alice@shared.test",
        "a1@shared.test",
        "Printer jams",
        "",
        "It jams.",
    );
    let IngestOutcome::Ticket {
        ticket_id, number, ..
    } = store.ingest_mail(&first, Some(&mb)).await.unwrap()
    else {
        panic!()
    };

    // An agent answers; the state becomes open.
    store
        .add_article(
            &desk.tier2,
            ticket_id,
            tuki_store::tickets::articles::NewArticle {
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
    let out = store.ingest_mail(&reply, Some(&mb)).await.unwrap();
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
    let out = store.ingest_mail(&tagged, Some(&mb)).await.unwrap();
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
    let out = store.ingest_mail(&bare, Some(&mb)).await.unwrap();
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
            .ingest_mail(&message(from, id, subject, "", "x"), Some(&mb))
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
    let IngestOutcome::Ticket {
        ticket_id, number, ..
    } = store
        .ingest_mail(
            &message("bob@private.test", "b1@p", "Kone", "", "Rikki."),
            Some(&mb),
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
    let out = store.ingest_mail(&ooo, Some(&mb)).await.unwrap();
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
        store.ingest_mail(&bulk, Some(&mb)).await.unwrap(),
        IngestOutcome::Ticket { .. }
    ));
    let rec = store.mail_record("n1@v").await.unwrap().unwrap();
    assert_eq!(rec.classification, "bulk");
    assert!(!rec.auto_answer_allowed);
}

async fn a_bounce_attaches_to_its_ticket_and_flags_the_address(db: TestDb) {
    let (desk, mb) = setup(&db).await;
    let store = &db.store;
    let IngestOutcome::Ticket { ticket_id, .. } = store
        .ingest_mail(
            &message("bella@private.test", "c1@p", "Laskutus", "", "Kysymys."),
            Some(&mb),
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
    let out = store.ingest_mail(dsn.as_bytes(), Some(&mb)).await.unwrap();
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
    let store = &db
        .store
        .clone()
        .with_mail_policy(MailPolicy {
            throttle_max: 3,
            throttle_window: SignedDuration::from_mins(10),
            ..Default::default()
        })
        .unwrap();
    let mut outcomes = Vec::new();
    for i in 0..5 {
        let raw = message(
            "script@flood.test",
            &format!("f{i}@flood"),
            &format!("Alert {i}"),
            "",
            "x",
        );
        outcomes.push(store.ingest_mail(&raw, Some(&mb)).await.unwrap());
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
        store.ingest_mail(&raw, Some(&mb)).await.unwrap(),
        IngestOutcome::Duplicate
    );

    let own = message("help@desk.test", "own@desk", "Re: x", "", "echo");
    assert_eq!(
        store.ingest_mail(&own, Some(&mb)).await.unwrap(),
        IngestOutcome::Loop
    );
}

async fn unparsable_mail_is_quarantined_and_can_be_retried(db: TestDb) {
    let (_desk, mb) = setup(&db).await;
    let store = &db.store;
    let raw = b"To: help@desk.test\r\nSubject: no sender\r\n\r\nbody".to_vec();
    let out = store.ingest_mail(&raw, Some(&mb)).await.unwrap();
    let IngestOutcome::Quarantined { quarantine_id, .. } = out else {
        panic!("{out:?}")
    };
    // The next message is not held up.
    let ok = message("alice@shared.test", "after@q", "After", "", "fine");
    assert!(matches!(
        store.ingest_mail(&ok, Some(&mb)).await.unwrap(),
        IngestOutcome::Ticket { .. }
    ));
    let q = store.quarantined_mail().await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].id, quarantine_id);
    assert_eq!(q[0].size, raw.len());
    assert_eq!(q[0].mailbox_id, Some(mb.id));
    assert!(q[0].error.contains("sender"));
    let again = store.retry_quarantined(quarantine_id).await.unwrap();
    assert!(matches!(again, IngestOutcome::Quarantined { .. }));
    assert_eq!(store.quarantined_mail().await.unwrap()[0].attempts, 2);
    // Delivered again: the same entry, one more attempt.
    let out = store.ingest_mail(&raw, Some(&mb)).await.unwrap();
    assert!(
        matches!(out, IngestOutcome::Quarantined { quarantine_id: q, .. } if q == quarantine_id),
        "{out:?}"
    );
    let q = store.quarantined_mail().await.unwrap();
    assert_eq!((q.len(), q[0].attempts), (1, 3));
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

/// Messages imported before the morning: two from known customers, the
/// rest from one-off senders.
const EARLIER: usize = 62;

/// The mail of one busy morning, shaped to exercise everything a batch
/// must get right: new senders (one writing twice), replies by reference
/// to mail of the same batch and to earlier mail, a subject tag, a reply
/// subject, a robot, Tuki's own address, copies of one message, a flood,
/// an unparsable message and attachments.
fn morning(earlier_number: i64) -> Vec<Vec<u8>> {
    let mut m = Vec::new();
    m.push(message(
        "New One <new1@shared.test>",
        "b0@x",
        "Kahvinkeitin ei lämpene",
        "",
        "Ei lämpene.",
    ));
    m.push(message(
        "new1@shared.test",
        "b1@x",
        "Re: Kahvinkeitin ei lämpene",
        "In-Reply-To: <b0@x>\r\n",
        "Vieläkään.",
    ));
    m.push(message(
        "new2@nowhere.test",
        "b2@x",
        "Tulostin",
        "",
        "Jumissa.",
    ));
    m.push(message(
        "new2@nowhere.test",
        "b3@x",
        "Re: Tulostin",
        "",
        "Sama vika.",
    ));
    m.push(message(
        "alice@shared.test",
        "b4@x",
        &format!("Re: [Tuki #{earlier_number}] earlier"),
        "",
        "Tag.",
    ));
    m.push(message(
        "alice@shared.test",
        "b5@x",
        "Vastaus",
        "References: <e0@x>\r\n",
        "By reference to earlier mail.",
    ));
    m.push(message(
        "robot@shared.test",
        "b6@x",
        "Automatic reply",
        "Auto-Submitted: auto-replied\r\nIn-Reply-To: <b2@x>\r\n",
        "Away.",
    ));
    m.push(message("help@desk.test", "b7@x", "Re: echo", "", "Own."));
    m.push(message(
        "new1@shared.test",
        "b0@x",
        "Kahvinkeitin ei lämpene",
        "",
        "A second copy.",
    ));
    m.push(message(
        "bob@private.test",
        "e1@x",
        "earlier copy",
        "",
        "Already imported.",
    ));
    for i in 0..7 {
        m.push(message(
            "flood@nowhere.test",
            &format!("f{i}@x"),
            &format!("Hälytys {i}"),
            "",
            "Alarm.",
        ));
    }
    m.push(b"To: help@desk.test\r\nSubject: no sender\r\n\r\n?\r\n".to_vec());
    m.push(
        b"From: bella@private.test\r\nTo: help@desk.test\r\nSubject: Kuva\r\nMessage-ID: <b8@x>\r\n\
          MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\n\
          Content-Type: text/plain; charset=utf-8\r\n\r\nLiitteen\xc3\xa4 kuva.\r\n--m\r\n\
          Content-Type: image/png\r\nContent-Disposition: attachment; filename=\"screen.png\"\r\n\
          Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--m--\r\n"
            .to_vec(),
    );
    // More replies to earlier mail than one look-up statement takes.
    for k in 2..EARLIER {
        m.push(message(
            &format!("c{k}@nowhere.test"),
            &format!("r{k}@x"),
            "Re: kysymys",
            &format!("In-Reply-To: <e{k}@x>\r\n"),
            "Kiitos.",
        ));
    }
    m.push(message(
        "new2@nowhere.test",
        "b9@x",
        "Re: Tulostin",
        "References: <b2@x>\r\n",
        "Kolmas.",
    ));
    // A delivery report filed on the earlier ticket by its tag, and a
    // message that answers the report.
    m.push(
        format!(
            "From: MAILER-DAEMON@mx.nowhere.test\r\nTo: help@desk.test\r\n\
             Subject: Undelivered Mail Returned to Sender [Tuki #{earlier_number}]\r\nMessage-ID: <dsn@x>\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n\
             --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n\
             Final-Recipient: rfc822; gone@nowhere.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n"
        )
        .into_bytes(),
    );
    m.push(message(
        "alice@shared.test",
        "b10@x",
        "Re: Undelivered Mail Returned to Sender",
        "In-Reply-To: <dsn@x>\r\n",
        "Osoite vaihtui.",
    ));
    m
}

/// What a list of outcomes says, with tickets named by the message that
/// opened them ("e0" for earlier mail, "3" for the fourth of the morning).
fn described(outcomes: &[IngestOutcome], earlier: &[(i64, &str)]) -> Vec<String> {
    let mut opened: Vec<(i64, String)> = earlier
        .iter()
        .map(|(t, name)| (*t, name.to_string()))
        .collect();
    let mut out = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        let name = |t: &i64, opened: &Vec<(i64, String)>| {
            opened
                .iter()
                .find(|(id, _)| id == t)
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| format!("unknown ticket {t}"))
        };
        out.push(match o {
            IngestOutcome::Ticket { ticket_id, .. } => {
                opened.push((*ticket_id, i.to_string()));
                format!("{i}: new ticket")
            }
            IngestOutcome::Article { ticket_id, by, .. } => {
                format!("{i}: article on {} by {by:?}", name(ticket_id, &opened))
            }
            IngestOutcome::Quarantined { .. } => format!("{i}: quarantined"),
            IngestOutcome::Bounce {
                ticket_id, flagged, ..
            } => format!(
                "{i}: bounce on {} flagging {flagged:?}",
                ticket_id
                    .map(|t| name(&t, &opened))
                    .unwrap_or_else(|| "no ticket".into())
            ),
            other => format!("{i}: {other:?}"),
        });
    }
    out
}

async fn a_batch_imports_like_one_message_after_another(db: TestDb) {
    let engine = db.store.engine();
    let other = TestDb::new(engine).await;
    let mut results = Vec::new();
    for (n, db) in [&db, &other].into_iter().enumerate() {
        let (desk, mb) = setup(db).await;
        let store = &db
            .store
            .clone()
            .with_mail_policy(MailPolicy {
                throttle_max: 4,
                ..Default::default()
            })
            .unwrap();
        // Earlier mail, imported before the morning.
        let mut before = vec![
            (
                message("alice@shared.test", "e0@x", "earlier", "", "Before."),
                "e0".to_string(),
            ),
            (
                message("bob@private.test", "e1@x", "earlier copy", "", "Before."),
                "e1".to_string(),
            ),
        ];
        for k in 2..EARLIER {
            before.push((
                message(
                    &format!("c{k}@nowhere.test"),
                    &format!("e{k}@x"),
                    "kysymys",
                    "",
                    "?",
                ),
                format!("e{k}"),
            ));
        }
        let mut earlier = Vec::new();
        let mut number = 0;
        for (raw, name) in &before {
            let IngestOutcome::Ticket {
                ticket_id,
                number: num,
                ..
            } = store.ingest_mail(raw, Some(&mb)).await.unwrap()
            else {
                panic!("earlier mail opens tickets")
            };
            if name.as_str() == "e0" {
                number = num;
            }
            earlier.push((ticket_id, name.as_str()));
        }
        let morning = morning(number);
        let outcomes = if n == 0 {
            let mut outcomes = Vec::new();
            for raw in &morning {
                outcomes.push(store.ingest_mail(raw, Some(&mb)).await.unwrap());
            }
            outcomes
        } else {
            let raws: Vec<&[u8]> = morning.iter().map(Vec::as_slice).collect();
            store.ingest_mail_batch(&raws, Some(&mb)).await.unwrap()
        };
        let mut shape = described(&outcomes, &earlier);
        // What the tickets hold: articles, states and files.
        let mut tickets: Vec<i64> = earlier.iter().map(|(t, _)| *t).collect();
        tickets.extend(outcomes.iter().filter_map(|o| match o {
            IngestOutcome::Ticket { ticket_id, .. } => Some(*ticket_id),
            _ => None,
        }));
        for t in tickets {
            let ticket = store.ticket(&desk.admin, t).await.unwrap();
            let articles = store.articles(&desk.admin, t).await.unwrap();
            let files = store.ticket_attachments(&desk.admin, t).await.unwrap();
            shape.push(format!(
                "#{}: {} in {:?}, {} articles, files {:?}",
                ticket.number - number,
                ticket.subject,
                ticket.state,
                articles.len(),
                files
                    .iter()
                    .map(|f| (f.file_name.clone(), f.content_type.clone(), f.size))
                    .collect::<Vec<_>>()
            ));
        }
        results.push(shape);
    }
    assert_eq!(results[0], results[1], "batch and one-by-one agree");
    let shape = &results[1];
    let expect = [
        "0: new ticket",
        "1: article on 0 by References",
        "2: new ticket",
        "3: article on 2 by ReplySubject",
        "4: article on e0 by SubjectTag",
        "5: article on e0 by References",
        "6: article on 2 by References",
        "7: Loop",
        "8: Duplicate",
        "9: Duplicate",
        "10: new ticket",
        "13: new ticket",
        "14: Throttled",
        "17: quarantined",
        "18: new ticket",
        "78: article on e61 by References",
        "79: article on 2 by References",
        "80: bounce on e0 flagging [\"gone@nowhere.test\"]",
        "81: article on e0 by References",
    ];
    for e in expect {
        assert!(shape.iter().any(|s| s == e), "missing {e:?} in {shape:#?}");
    }
    assert!(
        shape
            .iter()
            .any(|s| s.contains("Kuva") && s.contains("screen.png") && s.contains("image/png")),
        "the attachment is listed on its ticket: {shape:#?}"
    );
}

async fn formatting_and_files_of_mail_are_kept(db: TestDb) {
    let (desk, mb) = setup(&db).await;
    // Files kept in a data folder (the database keeps them by default).
    let files = tempfile::tempdir().unwrap();
    let store = &db
        .store
        .clone()
        .with_files(tuki_store::files::FilesConfig {
            folder: Some(files.path().to_path_buf()),
            write_to: tuki_store::files::Location::Folder,
            ..Default::default()
        })
        .unwrap();
    let raw = b"From: bella@private.test\r\nTo: help@desk.test\r\nSubject: Kuva\r\nMessage-ID: <html@x>\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"r\"\r\n\r\n--r\r\n\
        Content-Type: text/html; charset=utf-8\r\n\r\n<p>Katso <b>kuva</b>: <img src=\"cid:pic@x\"></p>\
        <script>alert(1)</script><img src=\"https://tracker.test/t.png\">\r\n--r\r\n\
        Content-Type: image/png\r\nContent-ID: <pic@x>\r\nContent-Disposition: inline; filename=\"pic.png\"\r\n\
        Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--r--\r\n";
    let IngestOutcome::Ticket { ticket_id, .. } = store.ingest_mail(raw, Some(&mb)).await.unwrap()
    else {
        panic!("a new ticket")
    };
    let articles = store.articles(&desk.admin, ticket_id).await.unwrap();
    let html = articles[0].body_html.as_deref().expect("the HTML is kept");
    assert!(
        html.contains("<b>kuva</b>") && html.contains("cid:pic@x"),
        "{html}"
    );
    assert!(
        !html.contains("script") && !html.contains("tracker.test"),
        "{html}"
    );
    let listed = store
        .ticket_attachments(&desk.admin, ticket_id)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].file_name, "pic.png");
    assert_eq!(listed[0].content_type, "image/png");
    assert_eq!(listed[0].content_id.as_deref(), Some("pic@x"));
    assert_eq!(listed[0].article_id, articles[0].id);
    let bytes = std::fs::read(tuki_store::files::blob_path(
        files.path(),
        &listed[0].sha256,
    ))
    .unwrap();
    assert_eq!(bytes, b"\x89PNG\r\n\x1a\n", "the decoded file is stored");

    // A reply without files adds none, and has no HTML.
    let reply = message(
        "bella@private.test",
        "html-2@x",
        "Re: Kuva",
        "In-Reply-To: <html@x>\r\n",
        "Kiitos",
    );
    store.ingest_mail(&reply, Some(&mb)).await.unwrap();
    assert_eq!(
        store
            .ticket_attachments(&desk.admin, ticket_id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.articles(&desk.admin, ticket_id).await.unwrap()[1].body_html,
        None
    );
}

async fn mail_from_a_deactivated_customer_is_still_a_request(db: TestDb) {
    let (desk, mb) = setup(&db).await;
    let store = &db.store;
    // Bob left his company's account; his mail must not be refused, nor
    // block the mailbox (the pipe would answer "try again" for days).
    store
        .update_user(
            &desk.admin,
            desk.bob.user_id.unwrap(),
            tuki_store::directory::UserPatch {
                active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let raw = message(
        "bob@private.test",
        "gone@x",
        "Vielä yksi asia",
        "",
        "Hei taas.",
    );
    let out = store.ingest_mail(&raw, Some(&mb)).await.unwrap();
    let IngestOutcome::Ticket { ticket_id, .. } = out else {
        panic!("a new ticket, got {out:?}")
    };
    let t = store.ticket(&desk.admin, ticket_id).await.unwrap();
    assert_eq!(t.requester_id, desk.bob.user_id.unwrap());
    // People still cannot open tickets for him by hand.
    let err = store
        .create_ticket(
            &desk.tier1,
            tuki_store::tickets::NewTicket {
                requester_id: desk.bob.user_id,
                ..crate::fixture::ticket("Puhelu")
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no such user"), "{err}");
}

async fn a_message_that_keeps_failing_is_quarantined_and_the_rest_go_in(db: TestDb) {
    let (_desk, mb) = setup(&db).await;
    let store = &db.store;
    // A rule no message was meant to meet: no two articles alike. The
    // second message breaks it however often it is tried.
    store
        .execute_raw_for_tests("CREATE UNIQUE INDEX articles_one_of_a_kind ON articles (body)")
        .await
        .unwrap();
    let first = message("alice@shared.test", "k1@x", "Yksi", "", "Sama teksti.");
    let second = message("bob@private.test", "k2@x", "Kaksi", "", "Sama teksti.");
    let third = message("bella@private.test", "k3@x", "Kolme", "", "Eri teksti.");
    let out = store
        .ingest_mail_batch(&[&first, &second, &third], Some(&mb))
        .await
        .unwrap();
    assert!(matches!(out[0], IngestOutcome::Ticket { .. }), "{out:?}");
    let IngestOutcome::Quarantined {
        quarantine_id,
        error,
    } = &out[1]
    else {
        panic!("the second is quarantined: {out:?}")
    };
    assert!(error.starts_with("cannot be imported"), "{error}");
    assert!(matches!(out[2], IngestOutcome::Ticket { .. }), "{out:?}");
    let held = store.quarantined_mail().await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].id, *quarantine_id);
    assert_eq!(held[0].size, second.len(), "the raw message is kept");
    // Its Message-ID was not taken: once the cause is gone, a retry
    // imports it.
    assert!(store.mail_record("k2@x").await.unwrap().is_none());
    store
        .execute_raw_for_tests("DROP INDEX articles_one_of_a_kind")
        .await
        .unwrap();
    let again = store.retry_quarantined(*quarantine_id).await.unwrap();
    assert!(matches!(again, IngestOutcome::Ticket { .. }), "{again:?}");
}

async fn the_subject_tag_word_is_one_setting_for_mail_in_and_out(db: TestDb) {
    let (_desk, mb) = setup(&db).await;
    let tagged = |tag: &str| {
        db.store.clone().with_mail_policy(MailPolicy {
            tag: tag.into(),
            ..Default::default()
        })
    };
    let store = tagged("Helpdesk").unwrap();
    assert!(tagged("Tuki #").is_err());
    assert!(tagged("").is_err());
    let first = message(
        "new3@nowhere.test",
        "tag-1@x",
        "Skanneri",
        "",
        "Ei skannaa.",
    );
    let IngestOutcome::Ticket {
        ticket_id, number, ..
    } = store.ingest_mail(&first, Some(&mb)).await.unwrap()
    else {
        panic!("a new ticket")
    };
    // The acknowledgement carries the configured word.
    store.mail_events_to_outbox(100).await.unwrap();
    let ack = store
        .outbox_rows(100)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.ticket_id == Some(ticket_id) && m.kind == "ack")
        .expect("an acknowledgement");
    assert!(
        ack.subject.starts_with(&format!("[Helpdesk #{number}]")),
        "{}",
        ack.subject
    );
    // A colleague answering with only the tag joins the ticket by it.
    let tagged = message(
        "colleague@nowhere.test",
        "tag-2@x",
        &format!("VS: [Helpdesk #{number}] Skanneri"),
        "",
        "Sama täällä.",
    );
    let out = store.ingest_mail(&tagged, Some(&mb)).await.unwrap();
    assert!(
        matches!(out, IngestOutcome::Article { ticket_id: t, by: ThreadBy::SubjectTag, .. } if t == ticket_id),
        "{out:?}"
    );
    // The default word is not this desk's tag.
    let other = message(
        "someone@nowhere.test",
        "tag-3@x",
        &format!("[Tuki #{number}] Skanneri"),
        "",
        "?",
    );
    let out = store.ingest_mail(&other, Some(&mb)).await.unwrap();
    assert!(matches!(out, IngestOutcome::Ticket { .. }), "{out:?}");
}

/// Random mornings, seeded so a failure can be replayed: senders who write
/// several times, replies to random earlier mail (of the same batch or
/// before it), tags of earlier tickets, reply subjects, robots, Tuki's own
/// address, copies and floods, imported once in batches and once one by
/// one into a second database. Both must agree message for message.
async fn random_mail_imports_alike_in_batches_and_one_by_one(db: TestDb) {
    let other = TestDb::new(db.store.engine()).await;
    for seed in [7_u64, 1_234, 99_999, 31_337, 2_718_281] {
        let mut rng = seed;
        let mut next = |n: u64| {
            // xorshift64: enough to shuffle test mail, no crate needed.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let senders = [
            "alice@shared.test",
            "bob@private.test",
            "bella@private.test",
            "p1@nowhere.test",
            "p2@nowhere.test",
            "p3@shared.test",
            "p4@shared.test",
            "p5@nowhere.test",
            "p6@private.test",
            "p7@nowhere.test",
            "robot@nowhere.test",
            "help@desk.test",
        ];
        let topics = ["Tulostin", "Näyttö", "VPN", "Lisenssi"];
        let mut mail = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        for i in 0..90 {
            let from = senders[next(senders.len() as u64) as usize];
            let topic = topics[next(topics.len() as u64) as usize];
            let id = format!("s{seed}-{i}@x");
            let mut headers = String::new();
            let subject = match next(6) {
                0 | 1 if !ids.is_empty() => {
                    let to = &ids[next(ids.len() as u64) as usize];
                    headers.push_str(&format!("In-Reply-To: <{to}>\r\n"));
                    format!("Re: {topic}")
                }
                2 => format!("Re: {topic}"),
                3 => format!("[Tuki #{}] {topic}", 1 + next(40)),
                _ => topic.to_string(),
            };
            if from.starts_with("robot") {
                headers.push_str("Auto-Submitted: auto-replied\r\n");
            }
            let raw = message(from, &id, &subject, &headers, &format!("Viesti {i}."));
            if next(15) == 0 {
                mail.push(raw.clone());
            }
            mail.push(raw);
            ids.push(id);
        }
        let mut shapes = Vec::new();
        for (n, db) in [&db, &other].into_iter().enumerate() {
            let store = db
                .store
                .clone()
                .with_mail_policy(MailPolicy {
                    throttle_max: 6,
                    ..Default::default()
                })
                .unwrap();
            let mb = match store.mailbox("help").await.unwrap() {
                Some(mb) => mb,
                None => setup(db).await.1,
            };
            let outcomes = if n == 0 {
                let mut out = Vec::new();
                for raw in &mail {
                    out.push(store.ingest_mail(raw, Some(&mb)).await.unwrap());
                }
                out
            } else {
                let mut out = Vec::new();
                // Batches of uneven size, so mail refers across them too.
                let mut rest = &mail[..];
                while !rest.is_empty() {
                    let k = (1 + next(40) as usize).min(rest.len());
                    let raws: Vec<&[u8]> = rest[..k].iter().map(Vec::as_slice).collect();
                    out.extend(store.ingest_mail_batch(&raws, Some(&mb)).await.unwrap());
                    rest = &rest[k..];
                }
                out
            };
            shapes.push(described(&outcomes, &[]));
        }
        assert_eq!(shapes[0], shapes[1], "seed {seed}");
    }
}

/// Each message of a batch answers for itself: a person's new request is
/// acknowledged in reply to their own message, a robot's never, whichever
/// comes first in the batch.
async fn in_a_batch_each_message_decides_its_own_acknowledgement(db: TestDb) {
    let (_desk, mb) = setup(&db).await;
    let store = &db.store;
    for (round, human_first) in [(1, true), (2, false)] {
        let human = message(
            &format!("person{round}@nowhere.test"),
            &format!("person-{round}@x"),
            "Kone ei käynnisty",
            "",
            "Apua.",
        );
        let robot = message(
            &format!("news{round}@vendor.test"),
            &format!("robot-{round}@x"),
            "Offers",
            "Precedence: bulk\r\n",
            "Buy.",
        );
        let raws: Vec<&[u8]> = if human_first {
            vec![&human, &robot]
        } else {
            vec![&robot, &human]
        };
        let outcomes = store.ingest_mail_batch(&raws, Some(&mb)).await.unwrap();
        let ticket_of = |i: usize| match outcomes[i] {
            IngestOutcome::Ticket { ticket_id, .. } => ticket_id,
            ref o => panic!("a ticket, got {o:?}"),
        };
        let (person_ticket, robot_ticket) = if human_first {
            (ticket_of(0), ticket_of(1))
        } else {
            (ticket_of(1), ticket_of(0))
        };
        store.mail_events_to_outbox(100).await.unwrap();
        let outbox = store.outbox_rows(100).await.unwrap();
        let ack = outbox
            .iter()
            .find(|m| m.ticket_id == Some(person_ticket) && m.kind == "ack")
            .unwrap_or_else(|| panic!("round {round}: the person is acknowledged"));
        assert_eq!(
            ack.in_reply_to.as_deref(),
            Some(format!("person-{round}@x").as_str()),
            "round {round}: in reply to their own message"
        );
        assert!(
            !outbox.iter().any(|m| m.ticket_id == Some(robot_ticket)
                && m.recipient == format!("news{round}@vendor.test")),
            "round {round}: the robot gets nothing"
        );
    }
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
    a_batch_imports_like_one_message_after_another,
    formatting_and_files_of_mail_are_kept,
    mail_from_a_deactivated_customer_is_still_a_request,
    a_message_that_keeps_failing_is_quarantined_and_the_rest_go_in,
    the_subject_tag_word_is_one_setting_for_mail_in_and_out,
    random_mail_imports_alike_in_batches_and_one_by_one,
    in_a_batch_each_message_decides_its_own_acknowledgement,
);
