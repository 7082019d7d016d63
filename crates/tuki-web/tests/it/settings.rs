//! "My settings" over HTTP: agents switch the agents' mail, customers the
//! requester's mail and their language (the next page is in it); forms
//! without the session's CSRF token are refused, signed-out visitors are
//! sent to sign in, and hostile forms get a 4xx naming the field with
//! nothing saved.

use std::collections::BTreeMap;

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION};
use reqwest::{redirect, Client, StatusCode};
use tuki_domain::access::Actor;
use tuki_domain::directory::{Language, Role};
use tuki_store::testing::TestDb;

use crate::{spawn_app, App};

/// The mail switches on a settings page, in page order: (kind, ticked).
fn boxes(html: &str) -> Vec<(String, bool)> {
    input_states(html, r#"name="notify" value=""#)
}

/// The language radio buttons on a settings page: (code, chosen).
fn radios(html: &str) -> Vec<(String, bool)> {
    input_states(html, r#"name="language" value=""#)
}

fn input_states(html: &str, marker: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(marker) {
        rest = &rest[i + marker.len()..];
        let value = &rest[..rest.find('"').unwrap()];
        let tag_end = rest.find('>').unwrap();
        out.push((value.to_string(), rest[..tag_end].contains("checked")));
    }
    out
}

fn all_on(kinds: &[&str]) -> Vec<(String, bool)> {
    kinds.iter().map(|k| (k.to_string(), true)).collect()
}

/// What the store says the person's switches are.
async fn prefs(app: &App, actor: &Actor) -> BTreeMap<String, bool> {
    app.store
        .notification_prefs(actor)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.kind, p.enabled))
        .collect()
}

async fn language(app: &App, actor: &Actor) -> Language {
    app.store
        .user(actor, actor.user_id.unwrap())
        .await
        .unwrap()
        .language
}

/// A form's fields, in order.
type Form<'a> = Vec<(&'a str, &'a str)>;

const STAFF: &[&str] = &["new_ticket", "customer_reply", "assigned", "sla"];
const REQUESTER: &[&str] = &["ack", "reply", "resolved"];

async fn an_agent_turns_new_ticket_mail_off(db: TestDb) {
    let app = spawn_app(db).await;
    let (agent, actor) = app
        .signed_in(Role::Agent, "aku@desk.test", Language::En)
        .await;

    // The name in the console's header leads to the page.
    let (s, html) = agent.get("/agent").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(r#"<a href="/settings" class="me""#), "{html}");

    let (s, html) = agent.get("/settings").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(boxes(&html), all_on(STAFF));
    assert_eq!(
        radios(&html),
        vec![("fi".to_string(), false), ("en".to_string(), true)]
    );
    assert!(html.contains("New request in my groups"));
    assert!(html.contains("When a new request arrives in a group you belong to."));
    assert!(html.contains(r#"id="sidebar""#), "the console's layout");
    assert!(!html.contains(r#"id="saved""#));

    let res = agent
        .send_form(
            "/settings",
            &[
                ("language", "en"),
                ("notify", "customer_reply"),
                ("notify", "assigned"),
                ("notify", "sla"),
            ],
            true,
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/settings?saved=1");

    let p = prefs(&app, &actor).await;
    assert!(!p["new_ticket"], "{p:?}");
    for k in STAFF
        .iter()
        .chain(REQUESTER)
        .filter(|k| **k != "new_ticket")
    {
        assert!(p[*k], "{k} stays on: {p:?}");
    }
    assert_eq!(language(&app, &actor).await, Language::En);

    let (s, html) = agent.get("/settings?saved=1").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(r#"id="saved""#) && html.contains("Saved."));
    let mut want = all_on(STAFF);
    want[0].1 = false;
    assert_eq!(boxes(&html), want);

    // Ticking it again turns it back on.
    let all: Vec<(&str, &str)> = STAFF.iter().map(|k| ("notify", *k)).collect();
    let (s, _) = agent.post("/settings", &all, true).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(prefs(&app, &actor).await.values().all(|on| *on));
}

async fn a_customer_switches_requester_mail_and_language(db: TestDb) {
    let app = spawn_app(db).await;
    let (customer, actor) = app
        .signed_in(Role::Customer, "cia@customer.test", Language::En)
        .await;

    let (s, html) = customer.get("/portal").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(r#"<a href="/settings" class="me""#), "{html}");

    let (s, html) = customer.get("/settings").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(boxes(&html), all_on(REQUESTER), "only the requester's mail");
    assert!(html.contains("Acknowledgement of a new request"));
    assert!(!html.contains("New request in my groups"));
    assert!(html.contains("portal-top"), "the portal's layout");
    assert!(!html.contains(r#"id="sidebar""#));

    let (s, _) = customer
        .post(
            "/settings",
            &[
                ("language", "fi"),
                ("notify", "ack"),
                ("notify", "resolved"),
            ],
            true,
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(language(&app, &actor).await, Language::Fi);
    let p = prefs(&app, &actor).await;
    assert!(!p["reply"] && p["ack"] && p["resolved"], "{p:?}");
    assert!(STAFF.iter().all(|k| p[*k]), "{p:?}");

    // The next page is in Finnish.
    let (s, html) = customer.get("/settings?saved=1").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(r#"<html lang="fi">"#));
    assert!(html.contains("Omat asetukset") && html.contains("Tallennettu."));
    assert!(html.contains("Vahvistus uudesta pyynnöstä"));
    assert_eq!(
        radios(&html),
        vec![("fi".to_string(), true), ("en".to_string(), false)]
    );
    assert_eq!(
        boxes(&html),
        vec![
            ("ack".to_string(), true),
            ("reply".to_string(), false),
            ("resolved".to_string(), true)
        ]
    );
    let (_, html) = customer.get("/portal").await;
    assert!(html.contains(r#"<html lang="fi">"#) && html.contains("Omat pyyntöni"));

    // An agents' kind is not the customer's to switch.
    let (s, html) = customer
        .post("/settings", &[("notify", "new_ticket")], true)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Sähköposti-ilmoitukset") && html.contains("new_ticket"));
    assert_eq!(prefs(&app, &actor).await, p);

    // And back to English.
    let (s, _) = customer
        .post("/settings", &[("language", "en")], true)
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html) = customer.get("/settings").await;
    assert!(html.contains(r#"<html lang="en">"#) && html.contains("My settings"));
}

async fn settings_without_the_csrf_token_are_refused(db: TestDb) {
    let app = spawn_app(db).await;
    let (agent, actor) = app
        .signed_in(Role::Agent, "aku@desk.test", Language::En)
        .await;
    let form = [("language", "fi"), ("notify", "sla")];
    let (s, html) = agent.post("/settings", &form, false).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(html.contains("did not come from Tuki"), "{html}");
    let forged = [("csrf", "forged"), ("language", "fi"), ("notify", "sla")];
    assert_eq!(
        agent.post("/settings", &forged, false).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(language(&app, &actor).await, Language::En);
    assert!(prefs(&app, &actor).await.values().all(|on| *on));
}

async fn settings_are_for_signed_in_people_only(db: TestDb) {
    let app = spawn_app(db).await;
    let (agent, actor) = app
        .signed_in(Role::Agent, "aku@desk.test", Language::En)
        .await;
    let client = Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("{}/settings", app.base);
    for cookie in [None, Some("tuki_session=forged")] {
        let mut get = client.get(&url);
        let mut post = client
            .post(&url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("csrf={}&notify=sla", agent.csrf));
        if let Some(c) = cookie {
            get = get.header(COOKIE, c);
            post = post.header(COOKIE, c);
        }
        for res in [get.send().await.unwrap(), post.send().await.unwrap()] {
            assert_eq!(res.status(), StatusCode::SEE_OTHER);
            assert_eq!(res.headers()[LOCATION], "/login?next=%2Fsettings");
        }
    }
    assert!(prefs(&app, &actor).await.values().all(|on| *on));
}

async fn hostile_settings_forms_name_the_field_and_change_nothing(db: TestDb) {
    let app = spawn_app(db).await;
    let (agent, actor) = app
        .signed_in(Role::Agent, "aku@desk.test", Language::En)
        .await;
    let long = "x".repeat(100_000);
    let cases: Vec<(Form, StatusCode, &str)> = vec![
        (
            vec![("notify", "bogus")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Email notifications",
        ),
        // Checked before anything is written: the good kind is not saved
        // either (which would have turned the others off).
        (
            vec![("notify", "customer_reply"), ("notify", "bogus")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Email notifications",
        ),
        // A requester's kind is not shown to staff.
        (
            vec![("notify", "ack")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Email notifications",
        ),
        (
            vec![("notify", "<script>alert(1)</script>")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Email notifications",
        ),
        (
            vec![("notify", long.as_str())],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Email notifications",
        ),
        (
            vec![("language", "sv")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Language",
        ),
        (
            vec![("language", "")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Language",
        ),
        (
            vec![("language", "fi"), ("language", "en")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Language",
        ),
        (
            vec![("language", "fi"), ("role", "admin")],
            StatusCode::BAD_REQUEST,
            "role",
        ),
        (
            vec![("active", "0"), ("notify", "sla")],
            StatusCode::BAD_REQUEST,
            "active",
        ),
        (
            vec![("<img src=x onerror=alert(1)>", "1")],
            StatusCode::BAD_REQUEST,
            "&lt;img src=x onerror=alert(1)&gt;",
        ),
    ];
    for (fields, status, named) in &cases {
        let (s, html) = agent.post("/settings", fields, true).await;
        assert_eq!(s, *status, "{fields:?}: {html}");
        assert!(html.contains(named), "{fields:?} names {named}: {html}");
        assert!(!html.contains("<script>alert(1)"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.len() < 10_000, "long values are cut");
    }

    // Bodies that are not the page's form at all.
    let url = format!("{}/settings", app.base);
    let raw: Vec<(&str, String)> = vec![
        (
            "application/json",
            format!(r#"{{"csrf": "{}", "language": "fi"}}"#, agent.csrf),
        ),
        (
            "application/x-www-form-urlencoded",
            format!("csrf={}&language=%ZZ&%00=%FF", agent.csrf),
        ),
        (
            "multipart/form-data; boundary=XX",
            format!(
                "--XX\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n\
                 --XX\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\nfi\r\n\
                 --XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\
                 Content-Type: text/plain\r\n\r\nhello\r\n--XX--\r\n",
                agent.csrf
            ),
        ),
        ("multipart/form-data; boundary=XX", "--XX\r\ngarbage".into()),
    ];
    for (content_type, body) in raw {
        let res = agent
            .client
            .post(&url)
            .header(COOKIE, &agent.cookie)
            .header(CONTENT_TYPE, content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let s = res.status();
        assert!(s.is_client_error(), "{content_type} {body:?}: {s}");
    }

    assert_eq!(language(&app, &actor).await, Language::En);
    assert!(prefs(&app, &actor).await.values().all(|on| *on));
    let me = app
        .store
        .user(&actor, actor.user_id.unwrap())
        .await
        .unwrap();
    assert_eq!(me.role, Role::Agent);
}

/// After signing in, `next` leads only to a page of this site: a tab or a
/// backslash that browsers would read as another host, and a line break
/// that cannot stand in a header, send the person home instead (never a 500).
async fn sign_in_goes_only_to_pages_of_this_site(db: TestDb) {
    let app = spawn_app(db).await;
    let (agent, _) = app
        .signed_in(Role::Agent, "aku@desk.test", Language::En)
        .await;
    for (next, to) in [
        ("%2Fagent%2Ftickets%2F7", "/agent/tickets/7"),
        ("%2F%09%2Fevil.example%2F", "/"),
        ("%2F%5Cevil.example", "/"),
        ("%2F%2Fevil.example", "/"),
        ("https%3A%2F%2Fevil.example%2F", "/"),
        ("%2F%0a", "/"),
        ("%2F%0d%0aSet-Cookie%3A%20x%3Dy", "/"),
    ] {
        let res = agent
            .client
            .get(format!("{}/login?next={next}", app.base))
            .header(COOKIE, &agent.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(res.headers()[LOCATION], to, "{next}");
    }
}

/// From a ticket page an agent invites a requester who has no password
/// yet; for one who has, the page refuses, because the link would let the
/// agent sign in as them. An administrator's reset link says what it does.
async fn agents_invite_only_people_without_a_password(db: TestDb) {
    let app = spawn_app(db).await;
    let (agent, agent_actor) = app
        .signed_in(Role::Agent, "aku@desk.test", Language::En)
        .await;
    let system = Actor::system();
    app.store
        .create_group(
            &system,
            tuki_store::directory::NewGroup {
                name: "Front line".into(),
                tier: 1,
                form: None,
                description: None,
                is_intake: true,
                members: vec![agent_actor.user_id.unwrap()],
            },
        )
        .await
        .unwrap();
    let mut numbers = Vec::new();
    for (email, password) in [
        ("new@customer.test", None),
        ("known@customer.test", Some("a customer's own secret")),
    ] {
        let u = app
            .store
            .create_user(
                &system,
                tuki_store::directory::NewUser {
                    email: email.into(),
                    name: "Cora".into(),
                    phone: None,
                    role: Some(Role::Customer),
                    language: None,
                    organisation_id: None,
                    password: password.map(str::to_string),
                },
            )
            .await
            .unwrap();
        let t = app.ticket(u.id, None, "Printer offline").await;
        numbers.push((t.number, u.id));
    }
    let (status, page) = agent
        .post(
            &format!("/agent/tickets/{}/invite", numbers[0].0),
            &[],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("id=\"invite-link\""),
        "a link for the new customer"
    );
    let (status, page) = agent
        .post(
            &format!("/agent/tickets/{}/invite", numbers[1].0),
            &[],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        !page.contains("invite-link") && !page.contains("invite&#x2f;"),
        "no link for an account with a password"
    );

    let reset = app
        .store
        .create_invitation(&system, numbers[1].1)
        .await
        .unwrap();
    let res = agent
        .client
        .get(format!("{}/invite/{reset}", app.base))
        .send()
        .await
        .unwrap();
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"invite-reset\""), "{page}");
    assert!(page.contains("revokes your API tokens"), "{page}");
}

/// Every answer, page or API, carries the security headers: a policy that
/// allows scripts and styles only from Tuki and no framing by other sites,
/// no type sniffing, no referrer to other sites; HSTS only over HTTPS.
async fn every_answer_carries_the_security_headers(db: TestDb) {
    let app = spawn_app(db).await;
    for (path, https) in [
        ("/login", false),
        ("/login", true),
        ("/api/v1/tickets", false),
        ("/no/such/page", false),
    ] {
        let mut req = app.client.get(format!("{}{path}", app.base));
        if https {
            req = req.header("x-forwarded-proto", "https");
        }
        let res = req.send().await.unwrap();
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'self'",
            "script-src 'self';",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert_eq!(
            h.get("strict-transport-security").is_some(),
            https,
            "{path}: HSTS only over HTTPS"
        );
    }
}

tuki_store::on_both_engines!(
    an_agent_turns_new_ticket_mail_off,
    a_customer_switches_requester_mail_and_language,
    settings_without_the_csrf_token_are_refused,
    settings_are_for_signed_in_people_only,
    hostile_settings_forms_name_the_field_and_change_nothing,
    sign_in_goes_only_to_pages_of_this_site,
    agents_invite_only_people_without_a_password,
    every_answer_carries_the_security_headers,
);
