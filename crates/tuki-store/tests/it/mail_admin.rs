//! Email channels for administrators: the mailbox list and adding one, the
//! quarantine (retry, discard without losing the raw source) and the outbox
//! ("send now"), on both engines.

use jiff::SignedDuration;
use tuki_store::mail::IngestOutcome;
use tuki_store::mail::NewMailbox;
use tuki_store::outbox::NewMail;
use tuki_store::outbox::OutboxState;
use tuki_store::testing::TestDb;
use tuki_store::time::Clock;
use tuki_store::{Engine, StoreError};

use crate::fixture::Desk;

/// The field a mistake names (invalid input or a clash).
fn field_of(e: &StoreError) -> Option<&str> {
    match e {
        StoreError::Invalid(v) => Some(v.field.as_str()),
        StoreError::Conflict { field, .. } => field.as_deref(),
        _ => None,
    }
}

const UNREADABLE: &[u8] = b"To: help@desk.test\r\nSubject: no sender\r\n\r\nbody";

/// Replaces the raw source of a quarantined message, as if the parser had
/// learnt to read it since (a bytea literal differs between the engines).
async fn fix_raw(db: &TestDb, id: i64, raw: &[u8]) {
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let literal = match db.store.engine() {
        Engine::Sqlite => format!("X'{hex}'"),
        Engine::Postgres => format!("decode('{hex}', 'hex')"),
    };
    db.store
        .execute_raw_for_tests(&format!(
            "UPDATE mail_quarantine SET raw = {literal} WHERE id = {id}"
        ))
        .await
        .unwrap();
}

async fn administrators_list_and_add_mailboxes_with_errors_naming_the_field(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let store = &db.store;
    let help = store
        .add_mailbox(
            &desk.admin,
            NewMailbox {
                name: " help ".into(),
                address: "Help@Desk.test".into(),
                group_id: Some(desk.tier2_group),
            },
        )
        .await
        .unwrap();
    assert_eq!(help.name, "help");
    assert_eq!(help.address, "help@desk.test");
    let intake = store
        .add_mailbox(
            &desk.admin,
            NewMailbox {
                name: "sales".into(),
                address: "sales@desk.test".into(),
                group_id: None,
            },
        )
        .await
        .unwrap();
    store
        .set_mailbox_imap(
            intake.id,
            Some(&tuki_store::mail::imap::ImapSettings {
                host: "imap.desk.test".into(),
                port: 993,
                security: tuki_store::mail::imap::ImapSecurity::Tls,
                user: "sales".into(),
                password: "secret".into(),
                folder: "INBOX".into(),
                move_to: None,
                poll_seconds: 60,
            }),
        )
        .await
        .unwrap();
    store
        .mailbox_failed(intake.id, "login refused")
        .await
        .unwrap();

    let list = store
        .list::<tuki_store::mail::Mailboxes>(&desk.admin)
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].mailbox.name, "help");
    assert_eq!(list[0].group_name.as_deref(), Some("Specialists"));
    assert!(list[0].imap.is_none(), "fed by the pipe only");
    assert_eq!(list[1].mailbox.name, "sales");
    assert_eq!(list[1].group_name, None, "the intake group");
    let imap = list[1].imap.as_ref().unwrap();
    assert_eq!((imap.host.as_str(), imap.port), ("imap.desk.test", 993));
    assert_eq!(list[1].mailbox.last_error.as_deref(), Some("login refused"));
    assert!(list[1].mailbox.failing_since.is_some());
    assert!(!serde_json::to_string(&list).unwrap().contains("secret"));

    for (new, field) in [
        (("", "x@desk.test", None), "name"),
        (("x", "not an address", None), "address"),
        (("x", "x@desk.test", Some(999_999)), "group_id"),
        (("help", "other@desk.test", None), "name"),
        (("other", "HELP@desk.test", None), "address"),
    ] {
        let e = store
            .add_mailbox(
                &desk.admin,
                NewMailbox {
                    name: new.0.into(),
                    address: new.1.into(),
                    group_id: new.2,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(field_of(&e), Some(field), "{new:?}: {e}");
    }
    assert_eq!(store.mailboxes().await.unwrap().len(), 2, "nothing added");

    for who in [&desk.tier1, &desk.alice] {
        assert!(matches!(
            store.list::<tuki_store::mail::Mailboxes>(who).await,
            Err(StoreError::Forbidden(_))
        ));
        assert!(matches!(
            store
                .add_mailbox(
                    who,
                    NewMailbox {
                        name: "mine".into(),
                        address: "mine@desk.test".into(),
                        group_id: None,
                    },
                )
                .await,
            Err(StoreError::Forbidden(_))
        ));
    }
}

async fn a_discarded_message_is_released_with_who_and_why_and_keeps_its_raw(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let store = &db.store;
    let mb = store
        .create_mailbox("help", "help@desk.test", None)
        .await
        .unwrap();
    let IngestOutcome::Quarantined {
        quarantine_id: first,
        ..
    } = store.ingest_mail(UNREADABLE, Some(&mb)).await.unwrap()
    else {
        panic!("not quarantined")
    };
    let IngestOutcome::Quarantined {
        quarantine_id: second,
        ..
    } = store.ingest_mail(UNREADABLE, None).await.unwrap()
    else {
        panic!("not quarantined")
    };

    let (list, total) = store.quarantine_entries(&desk.admin).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(
        list.iter().map(|q| q.id).collect::<Vec<_>>(),
        [first, second]
    );
    assert_eq!(list[0].mailbox_name.as_deref(), Some("help"));
    assert_eq!(list[1].mailbox_name, None);
    assert_eq!(list[0].size, UNREADABLE.len() as i64);
    assert_eq!(list[0].attempts, 1);
    assert!(list[0].error.contains("sender"));

    let q = store.quarantine_message(&desk.admin, first).await.unwrap();
    assert_eq!(q.raw, UNREADABLE);
    assert!(q.entry.released_at.is_none());

    let done = store
        .discard_quarantined(&desk.admin, first, Some("  spam from a broken robot "))
        .await
        .unwrap();
    assert!(done.released_at.is_some());
    assert_eq!(done.discarded_at, done.released_at);
    assert_eq!(done.released_by, desk.admin.user_id);
    assert_eq!(done.released_by_name.as_deref(), Some("admin"));
    assert_eq!(
        done.release_note.as_deref(),
        Some("spam from a broken robot")
    );

    // Gone from the list and from the CLI's list, but nothing is lost.
    let (list, total) = store.quarantine_entries(&desk.admin).await.unwrap();
    assert_eq!((list.len(), total), (1, 1));
    assert_eq!(list[0].id, second);
    assert_eq!(store.quarantined_mail().await.unwrap().len(), 1);
    let kept = store.quarantine_message(&desk.admin, first).await.unwrap();
    assert_eq!(kept.raw, UNREADABLE);
    assert!(kept.entry.discarded_at.is_some());

    // Released once: a second discard is a clash, a retry finds nothing.
    assert!(matches!(
        store.discard_quarantined(&desk.admin, first, None).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store.retry_quarantined_by(&desk.admin, first).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.discard_quarantined(&desk.admin, 999_999, None).await,
        Err(StoreError::NotFound)
    ));

    // Without a note it says "discarded".
    let done = store
        .discard_quarantined(&desk.admin, second, Some("   "))
        .await
        .unwrap();
    assert_eq!(done.release_note.as_deref(), Some("discarded"));
    assert_eq!(store.quarantine_entries(&desk.admin).await.unwrap().1, 0);

    // Only administrators.
    let IngestOutcome::Quarantined {
        quarantine_id: third,
        ..
    } = store.ingest_mail(UNREADABLE, None).await.unwrap()
    else {
        panic!("not quarantined")
    };
    for who in [&desk.tier1, &desk.alice] {
        assert!(matches!(
            store.quarantine_entries(who).await,
            Err(StoreError::Forbidden(_))
        ));
        assert!(matches!(
            store.quarantine_message(who, third).await,
            Err(StoreError::Forbidden(_))
        ));
        assert!(matches!(
            store.discard_quarantined(who, third, None).await,
            Err(StoreError::Forbidden(_))
        ));
        assert!(matches!(
            store.retry_quarantined_by(who, third).await,
            Err(StoreError::Forbidden(_))
        ));
    }
    assert_eq!(store.quarantine_entries(&desk.admin).await.unwrap().1, 1);
}

async fn a_retry_reports_the_ticket_and_who_released_the_message(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let store = &db.store;
    let mb = store
        .create_mailbox("help", "help@desk.test", Some(desk.tier2_group))
        .await
        .unwrap();
    let IngestOutcome::Quarantined {
        quarantine_id: id, ..
    } = store.ingest_mail(UNREADABLE, Some(&mb)).await.unwrap()
    else {
        panic!("not quarantined")
    };

    // Still unreadable: it stays, one attempt more, nobody recorded.
    let r = store.retry_quarantined_by(&desk.admin, id).await.unwrap();
    assert!(matches!(r.outcome, IngestOutcome::Quarantined { .. }));
    assert_eq!(r.ticket_number, None);
    let (list, _) = store.quarantine_entries(&desk.admin).await.unwrap();
    assert_eq!(list[0].attempts, 2);
    assert_eq!(list[0].released_by, None);

    // Readable now: a ticket of the mailbox's group, and the release says
    // who retried it.
    fix_raw(
        &db,
        id,
        b"From: Nina <nina@shared.test>\r\nTo: help@desk.test\r\nSubject: Screen dark\r\n\
          Message-ID: <fixed@shared.test>\r\n\r\nThe screen stays dark.\r\n",
    )
    .await;
    let r = store.retry_quarantined_by(&desk.admin, id).await.unwrap();
    let IngestOutcome::Ticket {
        ticket_id, number, ..
    } = r.outcome
    else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(r.ticket_number, Some(number));
    let t = store.ticket(&desk.admin, ticket_id).await.unwrap();
    assert_eq!(t.subject, "Screen dark");
    assert_eq!(t.group_id, Some(desk.tier2_group));
    let q = store.quarantine_message(&desk.admin, id).await.unwrap();
    assert!(q.entry.released_at.is_some());
    assert_eq!(q.entry.discarded_at, None, "imported, not discarded");
    assert_eq!(q.entry.released_by, desk.admin.user_id);
    assert_eq!(q.entry.release_note.as_deref(), Some("retried: ticket"));
    assert_eq!(store.quarantine_entries(&desk.admin).await.unwrap().1, 0);

    // A reply found by the subject tag reports its ticket's number too.
    let IngestOutcome::Quarantined {
        quarantine_id: reply,
        ..
    } = store.ingest_mail(UNREADABLE, Some(&mb)).await.unwrap()
    else {
        panic!("not quarantined")
    };
    fix_raw(
        &db,
        reply,
        format!(
            "From: nina@shared.test\r\nTo: help@desk.test\r\nSubject: Re: [Tuki #{number}] Screen dark\r\n\
             Message-ID: <fixed2@shared.test>\r\n\r\nStill dark.\r\n"
        )
        .as_bytes(),
    )
    .await;
    let r = store
        .retry_quarantined_by(&desk.admin, reply)
        .await
        .unwrap();
    assert!(
        matches!(r.outcome, IngestOutcome::Article { ticket_id: t, .. } if t == ticket_id),
        "{:?}",
        r.outcome
    );
    assert_eq!(r.ticket_number, Some(number));
}

fn mail(to: &str, subject: &str, ticket_id: Option<i64>) -> NewMail {
    NewMail {
        kind: "reply".into(),
        ticket_id,
        recipient: to.into(),
        subject: subject.into(),
        body: "Hello".into(),
        ..NewMail::default()
    }
}

async fn the_outbox_shows_queued_failing_and_sent_mail_and_sends_now(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let clock = Clock::manual(jiff::Timestamp::now());
    let store = db.store.clone().with_clock(clock.clone());
    let ticket = desk.ticket_for(&desk.alice, "Printer jams").await;
    let queued = store
        .enqueue_mail(mail("alice@shared.test", "Queued", Some(ticket.id)))
        .await
        .unwrap();
    let retrying = store
        .enqueue_mail(mail("bob@private.test", "Retrying", None))
        .await
        .unwrap();
    let given_up = store
        .enqueue_mail(mail("amir@shared.test", "Given up", None))
        .await
        .unwrap();
    let sent = store
        .enqueue_mail(mail("bella@private.test", "Sent", None))
        .await
        .unwrap();
    store
        .execute_raw_for_tests(&format!(
            "UPDATE jobs SET max_attempts = 1 WHERE id = (SELECT job_id FROM outbox WHERE id = {given_up})"
        ))
        .await
        .unwrap();
    // One sender round: the first three fail, the last goes.
    store
        .execute_raw_for_tests(&format!(
            "UPDATE jobs SET run_at = run_at + 3600000000 WHERE id = (SELECT job_id FROM outbox WHERE id = {queued})"
        ))
        .await
        .unwrap();
    let claimed = store
        .claim_mail("test", 10, SignedDuration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    for m in &claimed {
        if m.id == sent {
            assert!(store.mail_sent(m.id, "test").await.unwrap());
        } else {
            store
                .mail_failed(m, "test", "connection refused")
                .await
                .unwrap();
        }
    }

    let o = store.outbox_overview(&desk.admin, 50).await.unwrap();
    let ids = |v: &[tuki_store::outbox::OutboxEntry]| v.iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(&o.queued), [queued]);
    assert_eq!(ids(&o.failing), [retrying, given_up]);
    assert_eq!(ids(&o.sent), [sent]);
    assert_eq!((o.queued_total, o.failing_total), (1, 2));
    assert_eq!(o.queued[0].state, OutboxState::Queued);
    assert_eq!(o.queued[0].ticket_number, Some(ticket.number));
    assert_eq!(o.failing[0].state, OutboxState::Retrying);
    assert_eq!(o.failing[1].state, OutboxState::GivenUp);
    assert_eq!(
        o.failing[0].last_error.as_deref(),
        Some("connection refused")
    );
    assert!(o.failing[0].next_attempt_at > store.now());
    assert_eq!(o.sent[0].state, OutboxState::Sent);
    assert!(o.sent[0].sent_at.is_some());
    assert!(o.failing.iter().all(|m| m.can_send_now()) && !o.sent[0].can_send_now());

    // "Send now": due at once, the given-up one gets one more attempt.
    clock.advance(SignedDuration::from_secs(1));
    for id in [queued, retrying, given_up] {
        let m = store.send_outbox_now(&desk.admin, id).await.unwrap();
        assert_eq!(m.next_attempt_at, store.now());
        assert_eq!(m.failed_at, None);
        assert!(m.max_attempts > m.attempts, "{m:?}");
    }
    let again = store
        .claim_mail("test", 10, SignedDuration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|m| m.id).collect::<Vec<_>>(),
        [queued, retrying, given_up]
    );
    // A message a sender holds, or one sent already, is not sent again.
    assert!(matches!(
        store.send_outbox_now(&desk.admin, queued).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        store.outbox_entry(&desk.admin, queued).await.unwrap().state,
        OutboxState::Sending
    );
    assert!(matches!(
        store.send_outbox_now(&desk.admin, sent).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store.send_outbox_now(&desk.admin, 999_999).await,
        Err(StoreError::NotFound)
    ));
    // The given-up message failing once more is given up again.
    let last = again.iter().find(|m| m.id == given_up).unwrap();
    store
        .mail_failed(last, "test", "still refused")
        .await
        .unwrap();
    assert_eq!(
        store
            .outbox_entry(&desk.admin, given_up)
            .await
            .unwrap()
            .state,
        OutboxState::GivenUp
    );

    for who in [&desk.tier1, &desk.alice] {
        assert!(matches!(
            store.outbox_overview(who, 50).await,
            Err(StoreError::Forbidden(_))
        ));
        assert!(matches!(
            store.send_outbox_now(who, given_up).await,
            Err(StoreError::Forbidden(_))
        ));
    }
}

/// A permanent delivery failure about `address`, for the ticket tagged.
fn bounce_report(address: &str, number: i64, id: &str) -> Vec<u8> {
    format!(
        "From: MAILER-DAEMON@mx.private.test\r\nTo: help@desk.test\r\n\
         Subject: Undelivered Mail Returned to Sender [Tuki #{number}]\r\nMessage-ID: <{id}>\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n\
         --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n\
         Final-Recipient: rfc822; {address}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n"
    )
    .into_bytes()
}

async fn a_bounced_address_gets_mail_again_once_cleared(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let store = &db.store;
    let mb = store
        .create_mailbox("help", "help@desk.test", None)
        .await
        .unwrap();
    let request = b"From: bella@private.test\r\nTo: help@desk.test\r\nSubject: Lasku\r\n\
        Message-ID: <lasku@private.test>\r\n\r\nKysymys laskusta.\r\n";
    let IngestOutcome::Ticket {
        ticket_id, number, ..
    } = store.ingest_mail(request, Some(&mb)).await.unwrap()
    else {
        panic!("a new ticket")
    };
    store
        .ingest_mail(
            &bounce_report("bella@private.test", number, "dsn-1@mx"),
            Some(&mb),
        )
        .await
        .unwrap();
    assert!(matches!(
        store.bounced_addresses(&desk.tier1).await,
        Err(StoreError::Forbidden(_))
    ));
    let listed = store.bounced_addresses(&desk.admin).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|b| (
                b.address.as_str(),
                b.status.as_deref(),
                b.last_ticket_number
            ))
            .collect::<Vec<_>>(),
        [("bella@private.test", Some("5.1.1"), Some(number))]
    );

    // How many mails to Bella the outbox holds after an agent's reply.
    let replies_to_bella = || async {
        store.mail_events_to_outbox(100).await.unwrap();
        store
            .outbox_rows(500)
            .await
            .unwrap()
            .iter()
            .filter(|m| m.recipient == "bella@private.test" && m.kind == "reply")
            .count()
    };
    let reply = |body: &str| tuki_store::tickets::articles::NewArticle {
        kind: None,
        body: body.into(),
        internal: None,
    };
    store
        .add_article(&desk.admin, ticket_id, reply("Katsomme asiaa."))
        .await
        .unwrap();
    assert_eq!(replies_to_bella().await, 0, "no mail to a bounced address");

    // Cleared: the next reply goes out; only administrators clear.
    assert!(matches!(
        store
            .clear_address_flag(&desk.tier1, "bella@private.test")
            .await,
        Err(StoreError::Forbidden(_))
    ));
    let cleared = store
        .clear_address_flag(&desk.admin, " Bella@Private.test ")
        .await
        .unwrap();
    assert!(cleared.cleared_at.is_some());
    assert!(store
        .bounced_addresses(&desk.admin)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        store
            .clear_address_flag(&desk.admin, "bella@private.test")
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .add_article(&desk.admin, ticket_id, reply("Lasku on korjattu."))
        .await
        .unwrap();
    assert_eq!(replies_to_bella().await, 1);

    // A new permanent bounce blocks the address again.
    store
        .ingest_mail(
            &bounce_report("bella@private.test", number, "dsn-2@mx"),
            Some(&mb),
        )
        .await
        .unwrap();
    let again = store
        .address_flag("bella@private.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.bounces, again.cleared_at), (2, None));
    assert_eq!(store.bounced_addresses(&desk.admin).await.unwrap().len(), 1);
}

tuki_store::on_both_engines!(
    administrators_list_and_add_mailboxes_with_errors_naming_the_field,
    a_discarded_message_is_released_with_who_and_why_and_keeps_its_raw,
    a_retry_reports_the_ticket_and_who_released_the_message,
    the_outbox_shows_queued_failing_and_sent_mail_and_sends_now,
    a_bounced_address_gets_mail_again_once_cleared,
);
