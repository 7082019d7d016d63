//! Administered resources on their pages, the same for each: the list and
//! a form for a new one, the form holding one to change it, removal, a
//! notice of what was done, a mistake next to its field with the status
//! the API gives it (422 invalid, 409 a clash or a row still in use), and a
//! 404 page for an id that is not there.

use reqwest::StatusCode;
use tuki_domain::access::Actor;
use tuki_domain::directory::{Language, Role};
use tuki_store::mail::Mailboxes;
use tuki_store::sla::{Calendars, EscalationRules, Policies};
use tuki_store::testing::TestDb;

use crate::{spawn_app, App, Browser};

async fn admin(db: TestDb) -> (App, Browser, Actor) {
    let app = spawn_app(db).await;
    let (browser, actor) = app
        .signed_in(Role::Admin, "ada@desk.test", Language::En)
        .await;
    (app, browser, actor)
}

async fn calendars_policies_and_rules_are_added_changed_and_removed_on_their_pages(db: TestDb) {
    let (app, admin, actor) = admin(db).await;
    let store = &app.store;
    let office = [
        ("name", "Office"),
        ("time_zone", "Europe/Helsinki"),
        ("hours_monday", "08:00-16:00"),
    ];
    let (s, page) = admin.post("/admin/calendars", &office, true).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(page.contains("Office was added."), "{page}");
    let cal = store.list::<Calendars>(&actor).await.unwrap()[0].id;

    // The form holds the calendar; a mistake names the weekday, keeps what
    // was typed and changes nothing.
    let (s, page) = admin.get(&format!("/admin/calendars/{cal}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains(&format!(r#"action="/admin/calendars/{cal}""#)));
    assert!(
        page.contains(r#"name="hours_monday" value="08:00-16:00""#),
        "{page}"
    );
    let wrong = [
        ("name", "Office hours"),
        ("time_zone", "Europe/Helsinki"),
        ("hours_monday", "16:00-08:00"),
    ];
    let (s, page) = admin
        .post(&format!("/admin/calendars/{cal}"), &wrong, true)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains(r#"aria-describedby="hours_monday-error""#),
        "{page}"
    );
    assert!(
        page.contains(r#"id="hours_monday-error">Monday: "#),
        "{page}"
    );
    assert!(page.contains(r#"value="16:00-08:00""#));
    assert_eq!(
        store.get::<Calendars>(&actor, cal).await.unwrap().name,
        "Office"
    );
    let renamed = [
        ("name", "Office hours"),
        ("time_zone", "Europe/Helsinki"),
        ("hours_monday", "08:00-11:30, 12:00-16:00"),
    ];
    let (s, page) = admin
        .post(&format!("/admin/calendars/{cal}"), &renamed, true)
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(page.contains("Office hours was saved."), "{page}");
    assert_eq!(
        store.get::<Calendars>(&actor, cal).await.unwrap().name,
        "Office hours"
    );
    // A second calendar of the same name is a clash, as over the API.
    let (s, page) = admin.post("/admin/calendars", &renamed, true).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(page.contains(r#"id="name-error""#), "{page}");

    let cal_id = cal.to_string();
    let policy = [
        ("name", "Standard"),
        ("calendar_id", cal_id.as_str()),
        ("first_response_minutes", "60"),
        ("active", "1"),
    ];
    let (s, page) = admin.post("/admin/sla-policies", &policy, true).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let pol = store.list::<Policies>(&actor).await.unwrap()[0].id;
    let (s, page) = admin
        .post(
            "/admin/sla-policies",
            &[
                ("name", "Broken"),
                ("calendar_id", &cal_id),
                ("warn_percent", "many"),
            ],
            true,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains(r#"id="warn_percent-error""#), "{page}");

    // A calendar a policy uses cannot go; the page says so and keeps it.
    let (s, page) = admin
        .post(&format!("/admin/calendars/{cal}/delete"), &[], true)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(page.contains(r#"role="alert""#), "{page}");
    assert!(store.get::<Calendars>(&actor, cal).await.is_ok());

    let pol_id = pol.to_string();
    let rule = [
        ("name", "Breach: raise priority"),
        ("fires_on", "breach"),
        ("action", "raise_priority"),
        ("policy_id", pol_id.as_str()),
        ("active", "1"),
    ];
    let (s, page) = admin.post("/admin/escalations", &rule, true).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let r = store.list::<EscalationRules>(&actor).await.unwrap()[0].clone();
    let (_, page) = admin.get(&format!("/admin/escalations/{}", r.id)).await;
    assert!(
        page.contains(r#"<option value="breach" selected>"#),
        "{page}"
    );
    assert!(
        page.contains(&format!(r#"<option value="{pol}" selected>"#)),
        "{page}"
    );
    let mut changed = rule.to_vec();
    changed[0] = ("name", "Breach: tell the group");
    changed[2] = ("action", "notify_group");
    let (s, page) = admin
        .post(&format!("/admin/escalations/{}", r.id), &changed, true)
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let now = store.get::<EscalationRules>(&actor, r.id).await.unwrap();
    assert_eq!(
        (now.name.as_str(), now.action.as_str()),
        ("Breach: tell the group", "notify_group")
    );
    assert_eq!((now.policy_id, now.active), (Some(pol), true));

    for (path, id, name) in [
        ("/admin/escalations", r.id, "Breach: tell the group"),
        ("/admin/sla-policies", pol, "Standard"),
        ("/admin/calendars", cal, "Office hours"),
    ] {
        let (s, page) = admin.post(&format!("{path}/{id}/delete"), &[], true).await;
        assert_eq!(s, StatusCode::OK, "{path}: {page}");
        assert!(page.contains(&format!("{name} was removed.")), "{page}");
        // Gone: its page and its removal are 404s.
        assert_eq!(
            admin.get(&format!("{path}/{id}")).await.0,
            StatusCode::NOT_FOUND
        );
        let (s, _) = admin.post(&format!("{path}/{id}/delete"), &[], true).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    let (s, _) = admin
        .post("/admin/sla-policies/999999", &policy, true)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn a_mailboxs_imap_server_is_set_on_its_page_and_the_password_kept(db: TestDb) {
    let (app, admin, actor) = admin(db).await;
    let store = &app.store;
    let (s, page) = admin
        .post(
            "/admin/mailboxes",
            &[("name", "help"), ("address", "help@desk.test")],
            true,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let id = store.list::<Mailboxes>(&actor).await.unwrap()[0].mailbox.id;
    assert!(
        store.imap_mailbox(id).await.unwrap().is_none(),
        "fed by a pipe"
    );

    let path = format!("/admin/mailboxes/{id}");
    let mut server = vec![
        ("name", "help"),
        ("address", "help@desk.test"),
        ("imap_host", "127.0.0.1"),
        ("imap_port", "1143"),
        ("imap_security", "plain"),
        ("imap_user", "help"),
        ("imap_password", ""),
    ];
    // A new server needs a password.
    let (s, page) = admin.post(&path, &server, true).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains(r#"id="imap_password-error""#), "{page}");
    server[6] = ("imap_password", "s3cret");
    let (s, page) = admin.post(&path, &server, true).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(page.contains("help was saved."));
    assert!(!page.contains("s3cret"), "a password is never shown");
    let imap = store.imap_mailbox(id).await.unwrap().unwrap().imap;
    assert_eq!(
        (imap.host.as_str(), imap.port, imap.password.as_str()),
        ("127.0.0.1", 1143, "s3cret")
    );

    // Saved again without a password, the stored one stays.
    server[6] = ("imap_password", "");
    server.push(("imap_folder", "Support"));
    let (s, page) = admin.post(&path, &server, true).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let imap = store.imap_mailbox(id).await.unwrap().unwrap().imap;
    assert_eq!(
        (imap.folder.as_str(), imap.password.as_str()),
        ("Support", "s3cret")
    );
    let (_, page) = admin.get(&path).await;
    assert!(page.contains(r#"name="imap_user" value="help""#), "{page}");
    assert!(
        page.contains(r#"<option value="plain" selected>"#),
        "{page}"
    );

    // Without a server it is fed by a pipe again.
    let (s, _) = admin
        .post(
            &path,
            &[("name", "help"), ("address", "help@desk.test")],
            true,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(store.imap_mailbox(id).await.unwrap().is_none());
    let (s, page) = admin.post(&format!("{path}/delete"), &[], true).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("help was removed."), "{page}");
    assert!(store.list::<Mailboxes>(&actor).await.unwrap().is_empty());
}

tuki_store::on_both_engines!(
    calendars_policies_and_rules_are_added_changed_and_removed_on_their_pages,
    a_mailboxs_imap_server_is_set_on_its_page_and_the_password_kept,
);
