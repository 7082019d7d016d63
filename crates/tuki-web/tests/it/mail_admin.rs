//! The administrators' email pages over HTTP: mailboxes, quarantine and the
//! outbox are for administrators only (403 for everyone else), refuse forms
//! without the session's CSRF token, show errors next to the form field,
//! escape the raw source, and retry, discard and "send now" as they say.

use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE, COOKIE, LOCATION};
use reqwest::StatusCode;
use tuki_domain::access::Actor;
use tuki_domain::directory::{Language, Role};
use tuki_store::mail::IngestOutcome;
use tuki_store::outbox::NewMail;
use tuki_store::testing::TestDb;
use tuki_store::Engine;

use crate::{spawn_app, App, Browser};

struct Desk {
    app: App,
    admin: Browser,
    admin_actor: Actor,
    agent: Browser,
    customer: Browser,
}

async fn desk(db: TestDb) -> Desk {
    let app = spawn_app(db).await;
    let (admin, admin_actor) = app
        .signed_in(Role::Admin, "ada@desk.test", Language::En)
        .await;
    let (agent, _) = app
        .signed_in(Role::Agent, "aku@desk.test", Language::En)
        .await;
    let (customer, _) = app
        .signed_in(Role::Customer, "cia@customer.test", Language::En)
        .await;
    app.group("Service desk", 1, vec![], true).await;
    Desk {
        app,
        admin,
        admin_actor,
        agent,
        customer,
    }
}

/// A message Tuki cannot read (no sender), with markup in it.
const UNREADABLE: &[u8] =
    b"To: help@desk.test\r\nSubject: <script>alert(1)</script>\r\n\r\nbody & more";

async fn quarantine(d: &Desk, raw: &[u8]) -> i64 {
    match d.app.store.ingest_mail(raw, None).await.unwrap() {
        IngestOutcome::Quarantined { quarantine_id, .. } => quarantine_id,
        other => panic!("not quarantined: {other:?}"),
    }
}

/// Replaces a quarantined message's source, as if the parser could read it
/// now (bytea literals differ between the engines).
async fn fix_raw(d: &Desk, id: i64, raw: &[u8]) {
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let literal = match d.app.store.engine() {
        Engine::Sqlite => format!("X'{hex}'"),
        Engine::Postgres => format!("decode('{hex}', 'hex')"),
    };
    d.app
        .store
        .execute_raw_for_tests(&format!(
            "UPDATE mail_quarantine SET raw = {literal} WHERE id = {id}"
        ))
        .await
        .unwrap();
}

async fn mail_pages_are_for_administrators_only(db: TestDb) {
    let d = desk(db).await;
    let q = quarantine(&d, UNREADABLE).await;
    let out = d
        .app
        .store
        .enqueue_mail(NewMail {
            kind: "reply".into(),
            recipient: "cia@customer.test".into(),
            subject: "Hello".into(),
            body: "Hi".into(),
            ..NewMail::default()
        })
        .await
        .unwrap();
    let pages = [
        "/admin/mailboxes".to_string(),
        "/admin/quarantine".into(),
        format!("/admin/quarantine/{q}"),
        format!("/admin/quarantine/{q}/raw"),
        "/admin/outbox".into(),
    ];
    let forms = [
        (
            "/admin/mailboxes".to_string(),
            vec![("name", "x"), ("address", "x@desk.test")],
        ),
        (format!("/admin/quarantine/{q}/retry"), vec![]),
        (format!("/admin/quarantine/{q}/discard"), vec![]),
        (format!("/admin/outbox/{out}/send"), vec![]),
        (
            "/admin/bounces/clear".to_string(),
            vec![("address", "cia@customer.test")],
        ),
    ];
    for who in [&d.agent, &d.customer] {
        for p in &pages {
            let (s, body) = who.get(p).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
            assert!(!body.contains("alert(1)"), "{p}");
        }
        for (p, fields) in &forms {
            assert_eq!(
                who.post(p, fields, true).await.0,
                StatusCode::FORBIDDEN,
                "{p}"
            );
        }
    }
    for p in &pages {
        assert_eq!(d.admin.get(p).await.0, StatusCode::OK, "{p}");
    }
    // Nothing changed.
    assert!(d.app.store.mailboxes().await.unwrap().is_empty());
    let (list, _) = d
        .app
        .store
        .quarantine_entries(&d.admin_actor)
        .await
        .unwrap();
    assert_eq!((list.len(), list[0].attempts), (1, 1));
    // Without a session: to the sign-in page.
    let res = d
        .admin
        .client
        .get(format!("{}/admin/quarantine", d.app.base))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection());
    assert!(res.headers()[LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/login"));
}

async fn mail_forms_without_the_csrf_token_are_refused(db: TestDb) {
    let d = desk(db).await;
    let q = quarantine(&d, UNREADABLE).await;
    let out = d
        .app
        .store
        .enqueue_mail(NewMail {
            kind: "reply".into(),
            recipient: "cia@customer.test".into(),
            subject: "Hello".into(),
            body: "Hi".into(),
            ..NewMail::default()
        })
        .await
        .unwrap();
    let before = d.app.store.outbox_rows(10).await.unwrap()[0].next_attempt_at;
    for (p, fields) in [
        (
            "/admin/mailboxes".to_string(),
            vec![("name", "help"), ("address", "help@desk.test")],
        ),
        (format!("/admin/quarantine/{q}/retry"), vec![]),
        (format!("/admin/quarantine/{q}/discard"), vec![]),
        (format!("/admin/outbox/{out}/send"), vec![]),
    ] {
        let (s, _) = d.admin.post(&p, &fields, false).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{p} without a token");
        let mut wrong = fields.clone();
        wrong.push(("csrf", "not-the-token"));
        let (s, _) = d.admin.post(&p, &wrong, false).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{p} with a wrong token");
    }
    assert!(d.app.store.mailboxes().await.unwrap().is_empty());
    let (list, _) = d
        .app
        .store
        .quarantine_entries(&d.admin_actor)
        .await
        .unwrap();
    assert_eq!((list.len(), list[0].attempts), (1, 1));
    assert_eq!(
        d.app.store.outbox_rows(10).await.unwrap()[0].next_attempt_at,
        before
    );
}

async fn an_administrator_adds_a_mailbox_and_sees_mistakes_next_to_the_field(db: TestDb) {
    let d = desk(db).await;
    let (s, body) = d
        .admin
        .post(
            "/admin/mailboxes",
            &[("name", "help"), ("address", "not an address")],
            true,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"id="address-error""#), "{body}");
    assert!(body.contains(r#"aria-invalid="true" aria-describedby="address-error""#));
    assert!(!body.contains(r#"id="name-error""#));
    assert!(
        body.contains(r#"value="not an address""#),
        "what was typed stays"
    );

    let (s, body) = d
        .admin
        .post(
            "/admin/mailboxes",
            &[
                ("name", "help"),
                ("address", "Help@Desk.test"),
                ("group_id", ""),
            ],
            true,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains("Mailbox help &lt;help@desk.test&gt; was added."),
        "{body}"
    );
    let m = d.app.store.mailbox("help").await.unwrap().unwrap();
    assert_eq!(m.group_id, None);

    // A name or an address another mailbox has is a clash (409, as over
    // the API); a mistake in what was typed is a 422.
    for (fields, field, status) in [
        (
            vec![("name", "help"), ("address", "other@desk.test")],
            "name",
            StatusCode::CONFLICT,
        ),
        (
            vec![("name", "other"), ("address", "help@desk.test")],
            "address",
            StatusCode::CONFLICT,
        ),
        (
            vec![
                ("name", "other"),
                ("address", "other@desk.test"),
                ("group_id", "999999"),
            ],
            "group_id",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            vec![("name", " "), ("address", "other@desk.test")],
            "name",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (s, body) = d.admin.post("/admin/mailboxes", &fields, true).await;
        assert_eq!(s, status, "{fields:?}");
        assert!(
            body.contains(&format!(r#"id="{field}-error""#)),
            "{fields:?}: {body}"
        );
    }
    assert_eq!(d.app.store.mailboxes().await.unwrap().len(), 1);

    // A failing mailbox is highlighted with the time it started failing.
    d.app
        .store
        .mailbox_failed(m.id, "connection <refused>")
        .await
        .unwrap();
    let (_, body) = d.admin.get("/admin/mailboxes").await;
    assert!(body.contains(&format!(r#"<tr id="mailbox-{}" class="failing">"#, m.id)));
    assert!(body.contains("Failing since"));
    assert!(body.contains("connection &lt;refused&gt;"));
    assert!(body.contains("Intake group (Service desk)"));

    // The server whose IMAP poller holds the mailbox is named, and so is
    // one whose lease ran out (it crashed; another takes over).
    assert!(!body.contains("Polled by"));
    let store = &d.app.store;
    let minute = jiff::SignedDuration::from_mins(1);
    assert!(store
        .take_mailbox_lease(m.id, "web1-42-0a1b2c3d", minute)
        .await
        .unwrap());
    let (_, body) = d.admin.get("/admin/mailboxes").await;
    assert!(body.contains("Polled by web1-42-0a1b2c3d until"), "{body}");
    assert!(store
        .release_mailbox_lease(m.id, "web1-42-0a1b2c3d")
        .await
        .unwrap());
    assert!(store
        .take_mailbox_lease(m.id, "web2-7-00ff00ff", -minute)
        .await
        .unwrap());
    let (_, body) = d.admin.get("/admin/mailboxes").await;
    assert!(
        body.contains("The lease of web2-7-00ff00ff ran out at"),
        "{body}"
    );
    assert!(!body.contains("Polled by"));
}

async fn an_administrator_reads_retries_and_discards_quarantined_mail(db: TestDb) {
    let d = desk(db).await;
    let first = quarantine(&d, UNREADABLE).await;
    let mut big = UNREADABLE.to_vec();
    big.extend(std::iter::repeat_n(b'x', 70 * 1024));
    big.extend(b"THE-END");
    let second = quarantine(&d, &big).await;

    let (s, body) = d.admin.get("/admin/quarantine").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains(&format!(r#"<tr id="quarantine-{first}">"#)));
    assert!(body.contains(&format!(r#"<tr id="quarantine-{second}">"#)));
    assert!(body.contains("missing sender") || body.contains("sender"));

    // The source is shown escaped, and cut; the download has all of it.
    let (s, body) = d.admin.get(&format!("/admin/quarantine/{first}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
            || body.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
    );
    assert!(!body.contains("<script>alert(1)"));
    assert!(body.contains("body &amp; more"));
    let (_, body) = d.admin.get(&format!("/admin/quarantine/{second}")).await;
    assert!(!body.contains("THE-END"), "only the first 64 KiB");
    assert!(body.contains("only the first 64 kB are shown"));
    let res = d
        .admin
        .client
        .get(format!("{}/admin/quarantine/{second}/raw", d.app.base))
        .header(COOKIE, &d.admin.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "message/rfc822");
    assert_eq!(
        res.headers()[CONTENT_DISPOSITION],
        format!("attachment; filename=\"quarantine-{second}.eml\"")
    );
    assert_eq!(res.bytes().await.unwrap().as_ref(), big.as_slice());

    // A retry that still cannot read it says so; the message stays.
    let (s, body) = d
        .admin
        .post(&format!("/admin/quarantine/{first}/retry"), &[], true)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains(&format!("Message {first} still cannot be read")),
        "{body}"
    );
    assert!(body.contains(&format!(r#"<tr id="quarantine-{first}">"#)));

    // Readable now: a request, linked from the answer, and off the list.
    fix_raw(
        &d,
        first,
        b"From: Nina <nina@customer.test>\r\nTo: help@desk.test\r\nSubject: Screen dark\r\n\
          Message-ID: <fixed@customer.test>\r\n\r\nThe screen stays dark.\r\n",
    )
    .await;
    let (s, body) = d
        .admin
        .post(
            &format!("/admin/quarantine/{first}/retry"),
            &[("back", "message")],
            true,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let t = d
        .app
        .store
        .tickets(&d.admin_actor, &Default::default())
        .await
        .unwrap();
    assert_eq!(t.items.len(), 1);
    let number = t.items[0].number;
    assert!(
        body.contains(&format!(
            "Message {first} was imported as request #{number}."
        )),
        "{body}"
    );
    assert!(body.contains(&format!(r#"<a href="/agent/tickets/{number}">"#)));
    assert!(body.contains("after a retry"), "the message page: {body}");
    let (_, body) = d.admin.get("/admin/quarantine").await;
    assert!(!body.contains(&format!(r#"<tr id="quarantine-{first}">"#)));
    // Retried again: it is no longer there.
    let (s, body) = d
        .admin
        .post(&format!("/admin/quarantine/{first}/retry"), &[], true)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("no longer in quarantine"));

    // Discarded with a note: off the list, source kept, who and why shown.
    let (s, body) = d
        .admin
        .post(
            &format!("/admin/quarantine/{second}/discard"),
            &[("note", "junk <from> a robot"), ("back", "message")],
            true,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains(&format!("Message {second} was discarded.")));
    assert!(!body.contains(&format!(r#"<tr id="quarantine-{second}">"#)));
    assert!(body.contains("No messages in quarantine."));
    let (s, body) = d.admin.get(&format!("/admin/quarantine/{second}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("by ada: junk &lt;from&gt; a robot"), "{body}");
    assert!(
        !body.contains(&format!("/admin/quarantine/{second}/retry")),
        "no buttons"
    );
    let q = d
        .app
        .store
        .quarantine_message(&d.admin_actor, second)
        .await
        .unwrap();
    assert_eq!(q.raw, big);
    assert_eq!(q.entry.released_by, d.admin_actor.user_id);
    // Twice is refused as a clash (409, as over the API); an unknown
    // message is a 404.
    let (s, _) = d
        .admin
        .post(&format!("/admin/quarantine/{second}/discard"), &[], true)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        d.admin
            .post("/admin/quarantine/999999/discard", &[], true)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        d.admin.get("/admin/quarantine/999999").await.0,
        StatusCode::NOT_FOUND
    );
}

async fn the_outbox_page_lists_mail_and_sends_failing_mail_now(db: TestDb) {
    let d = desk(db).await;
    let store = &d.app.store;
    let mail = |to: &str, subject: &str| NewMail {
        kind: "reply".into(),
        recipient: to.into(),
        subject: subject.into(),
        body: "Hi".into(),
        ..NewMail::default()
    };
    let failing = store
        .enqueue_mail(mail("nina@customer.test", "Failing <one>"))
        .await
        .unwrap();
    let sent = store
        .enqueue_mail(mail("olli@customer.test", "Sent one"))
        .await
        .unwrap();
    let claimed = store
        .claim_mail("test", 10, jiff::SignedDuration::from_secs(60))
        .await
        .unwrap();
    for m in &claimed {
        if m.id == sent {
            store.mail_sent(m.id, "test").await.unwrap();
        } else {
            store
                .mail_failed(m, "test", "550 <no> such user")
                .await
                .unwrap();
        }
    }
    let queued = store
        .enqueue_mail(mail("pia@customer.test", "Queued one"))
        .await
        .unwrap();

    let (s, body) = d.admin.get("/admin/outbox").await;
    assert_eq!(s, StatusCode::OK);
    let section = |id: &str| {
        let start = body.find(&format!(r#"id="{id}""#)).unwrap();
        let end = body[start..].find("</table>").unwrap() + start;
        body[start..end].to_string()
    };
    let f = section("outbox-failing");
    assert!(f.contains("nina@customer.test") && f.contains("Failing &lt;one&gt;"));
    assert!(f.contains("550 &lt;no&gt; such user"));
    assert!(f.contains(&format!("/admin/outbox/{failing}/send")));
    let q = section("outbox-queued");
    assert!(q.contains("pia@customer.test"));
    assert!(q.contains(&format!("/admin/outbox/{queued}/send")));
    let s_ = section("outbox-sent");
    assert!(s_.contains("olli@customer.test"));
    assert!(!s_.contains("/send"), "sent mail has no button");

    // "Send now": due at once.
    let (s, body) = d
        .admin
        .post(&format!("/admin/outbox/{failing}/send"), &[], true)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains(&format!(
            "Mail {failing} to nina@customer.test will be sent within seconds."
        )),
        "{body}"
    );
    let row = store
        .outbox_rows(10)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.id == failing)
        .unwrap();
    assert!(row.next_attempt_at <= store.now());
    // Sent mail is not sent again (a clash: 409, as over the API); an
    // unknown one is a 404.
    let (s, body) = d
        .admin
        .post(&format!("/admin/outbox/{sent}/send"), &[], true)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(body.contains("was sent already"));
    assert_eq!(
        d.admin.post("/admin/outbox/999999/send", &[], true).await.0,
        StatusCode::NOT_FOUND
    );
}

/// Every administration page, not only the mail ones, answers agents and
/// customers with the same "forbidden" page, and changes nothing for them.
async fn every_admin_page_is_for_administrators_only(db: TestDb) {
    let d = desk(db).await;
    let me = d.admin_actor.user_id.unwrap();
    let pages = [
        "/admin".to_string(),
        "/admin/users".into(),
        format!("/admin/users/{me}"),
        "/admin/organisations".into(),
        "/admin/groups".into(),
        "/admin/calendars".into(),
        "/admin/sla-policies".into(),
        "/admin/escalations".into(),
        "/admin/mailboxes".into(),
        "/admin/quarantine".into(),
        "/admin/outbox".into(),
    ];
    for who in [&d.agent, &d.customer] {
        for p in &pages {
            assert_eq!(who.get(p).await.0, StatusCode::FORBIDDEN, "{p}");
        }
        let (s, _) = who
            .post(
                &format!("/admin/users/{me}"),
                &[
                    ("name", "Taken over"),
                    ("email", "x@desk.test"),
                    ("role", "agent"),
                ],
                true,
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    for p in &pages[1..] {
        assert_eq!(d.admin.get(p).await.0, StatusCode::OK, "{p}");
    }
    let admin = d.app.store.user(&d.admin_actor, me).await.unwrap();
    assert_ne!(admin.name, "Taken over");
}

/// An address whose mail bounced for good is listed on the mailboxes page,
/// and the administrator lets mail go to it again.
async fn an_administrator_lets_mail_go_to_a_bounced_address_again(db: TestDb) {
    let d = desk(db).await;
    let store = &d.app.store;
    let report = b"From: MAILER-DAEMON@mx.customer.test\r\nTo: help@desk.test\r\n\
        Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn@mx>\r\n\
        Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n\
        --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n\
        Final-Recipient: rfc822; <b>cia</b>@customer.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n";
    store.ingest_mail(report, None).await.unwrap();
    let flagged = store.bounced_addresses(&d.admin_actor).await.unwrap();
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    let address = flagged[0].address.clone();

    let (s, page) = d.admin.get("/admin/mailboxes").await;
    assert_eq!(s, StatusCode::OK);
    let section = &page[page.find("id=\"bounced\"").unwrap()..];
    assert!(section.contains("5.1.1"), "{section}");
    assert!(!page.contains("<b>cia</b>"), "the address is escaped");
    // Without the form's token nothing changes.
    let (s, _) = d
        .admin
        .post("/admin/bounces/clear", &[("address", &address)], false)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        store.bounced_addresses(&d.admin_actor).await.unwrap().len(),
        1
    );
    let (s, page) = d
        .admin
        .post("/admin/bounces/clear", &[("address", &address)], true)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("id=\"done\""), "{page}");
    assert!(store
        .bounced_addresses(&d.admin_actor)
        .await
        .unwrap()
        .is_empty());
    // Clearing it again says it is not blocked.
    let (s, page) = d
        .admin
        .post("/admin/bounces/clear", &[("address", &address)], true)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("class=\"error\" role=\"status\" id=\"done\""),
        "{page}"
    );
}

tuki_store::on_both_engines!(
    mail_pages_are_for_administrators_only,
    mail_forms_without_the_csrf_token_are_refused,
    an_administrator_adds_a_mailbox_and_sees_mistakes_next_to_the_field,
    an_administrator_reads_retries_and_discards_quarantined_mail,
    the_outbox_page_lists_mail_and_sends_failing_mail_now,
    every_admin_page_is_for_administrators_only,
    an_administrator_lets_mail_go_to_a_bounced_address_again,
);
