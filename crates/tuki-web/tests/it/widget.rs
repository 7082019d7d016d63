//! The website's help widget over HTTP: only listed origins are answered
//! (CORS), only public published articles are shown, the honeypot and the
//! form's timing stop robots, a genuine request becomes a ticket on
//! channel `web` with its acknowledgement, and an address is rate-limited.

use jiff::SignedDuration;
use reqwest::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ORIGIN};
use reqwest::{Client, Method};
use serde_json::{json, Value};
use tuki_domain::directory::Role;
use tuki_store::testing::TestDb;
use tuki_store::time::Clock;

use crate::App;

const SHOP: &str = "http://shop.test:8080";

async fn call(
    app: &App,
    method: Method,
    path: &str,
    origin: Option<&str>,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let mut req = Client::new().request(method, format!("{}{path}", app.base));
    if let Some(o) = origin {
        req = req.header(ORIGIN, o);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let allow = res
        .headers()
        .get(ACCESS_CONTROL_ALLOW_ORIGIN)
        .map(|v| v.to_str().unwrap().to_string());
    let body = res.json().await.unwrap_or(Value::Null);
    (status, allow, body)
}

async fn form(app: &App) -> String {
    let (s, _, body) = call(app, Method::POST, "/widget/v1/forms", Some(SHOP), None).await;
    assert_eq!(s, 201, "{body}");
    body["token"].as_str().unwrap().to_string()
}

async fn tickets(app: &App) -> i64 {
    app.store.count_tickets().await.unwrap()
}

async fn the_widget_answers_listed_websites_and_stops_robots(db: TestDb) {
    let clock = Clock::manual("2026-12-01T08:00:00Z".parse().unwrap());
    let app = crate::spawn_app_with(db, |s| s.with_clock(clock.clone())).await;
    let admin = app.user(Role::Admin, "admin@desk.test", None).await;
    let agent = app.user(Role::Agent, "agent@desk.test", None).await;
    let (s, _) = app
        .json(
            Some(&admin),
            Method::PUT,
            "/api/v1/knowledge-settings",
            Some(json!({"public_without_sign_in": false, "widget_origins": [SHOP]})),
        )
        .await;
    assert_eq!(s, 200);
    let mut ids = Vec::new();
    for (title, visibility) in [
        ("Pesukone ei linkoa", "public"),
        ("Pesukoneen huoltokoodi", "internal"),
    ] {
        let (_, a) = app
            .json(
                Some(&agent),
                Method::POST,
                "/api/v1/knowledge",
                Some(json!({"title": title, "symptom": "Pesukone jää märäksi.", "solution": "Tasapainota rumpu.",
                    "language": "fi", "visibility": visibility})),
            )
            .await;
        let id = a["id"].as_i64().unwrap();
        app.json(
            Some(&agent),
            Method::POST,
            &format!("/api/v1/knowledge/{id}/state"),
            Some(json!({"state": "published"})),
        )
        .await;
        ids.push(id);
    }

    // Articles: the listed website gets public ones, with CORS naming it.
    let (s, allow, body) = call(
        &app,
        Method::GET,
        "/widget/v1/articles?q=pesukone",
        Some(SHOP),
        None,
    )
    .await;
    assert_eq!((s, allow.as_deref()), (200, Some(SHOP)), "{body}");
    let found: Vec<i64> = body["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(found, [ids[0]]);
    let (s, _, body) = call(
        &app,
        Method::GET,
        &format!("/widget/v1/articles/{}", ids[0]),
        Some(SHOP),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(body["solution_html"]
        .as_str()
        .unwrap()
        .contains("Tasapainota"));
    let (s, _, _) = call(
        &app,
        Method::GET,
        &format!("/widget/v1/articles/{}", ids[1]),
        Some(SHOP),
        None,
    )
    .await;
    assert_eq!(s, 404);
    // Another website, or none: refused, and no CORS header for the browser.
    for origin in [Some("http://evil.test"), Some("http://shop.test"), None] {
        let (s, allow, _) = call(
            &app,
            Method::GET,
            "/widget/v1/articles?q=pesukone",
            origin,
            None,
        )
        .await;
        assert_eq!((s, allow), (403, None), "{origin:?}");
    }
    let res = Client::new()
        .request(Method::OPTIONS, format!("{}/widget/v1/requests", app.base))
        .header(ORIGIN, SHOP)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        res.headers()["access-control-allow-headers"],
        "Content-Type"
    );
    let (s, _, _) = call(
        &app,
        Method::POST,
        &format!("/widget/v1/articles/{}/solved", ids[0]),
        Some(SHOP),
        None,
    )
    .await;
    assert_eq!(s, 200);

    // Robots: a form sent at once, the honeypot filled, a token used twice
    // or made up: the same answer, nothing filed.
    let before = tickets(&app).await;
    let request = |token: &str, website: &str| {
        json!({"name": "Maija Meikäläinen", "email": "maija@koti.test", "subject": "Pesukone ei linkoa",
            "body": "Pyykit jäävät märiksi.", "token": token, "website": website})
    };
    let fast = form(&app).await;
    let (s, _, _) = call(
        &app,
        Method::POST,
        "/widget/v1/requests",
        Some(SHOP),
        Some(request(&fast, "")),
    )
    .await;
    assert_eq!(s, 201);
    let trapped = form(&app).await;
    clock.advance(SignedDuration::from_secs(20));
    let (s, _, _) = call(
        &app,
        Method::POST,
        "/widget/v1/requests",
        Some(SHOP),
        Some(request(&trapped, "http://spam.test")),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _, _) = call(
        &app,
        Method::POST,
        "/widget/v1/requests",
        Some(SHOP),
        Some(request("made-up", "")),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(tickets(&app).await, before);

    // A person: the ticket on channel web, for a new customer, acknowledged.
    let genuine = form(&app).await;
    clock.advance(SignedDuration::from_secs(30));
    let (s, _, body) = call(
        &app,
        Method::POST,
        "/widget/v1/requests",
        Some(SHOP),
        Some(request(&genuine, "")),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(tickets(&app).await, before + 1);
    let (_, list) = app
        .json(Some(&admin), Method::GET, "/api/v1/tickets?q=linkoa", None)
        .await;
    let t = &list["items"][0];
    assert_eq!(t["channel"], "web", "{list}");
    assert_eq!(t["tags"], json!(["widget"]));
    let (_, who) = app
        .json(
            Some(&admin),
            Method::GET,
            &format!("/api/v1/users/{}", t["requester_id"]),
            None,
        )
        .await;
    assert_eq!(who["email"], "maija@koti.test");
    assert_eq!(who["role"], "customer");
    let acks: Vec<_> = app
        .store
        .outbox_rows(20)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.recipient == "maija@koti.test")
        .collect();
    // The acknowledgement is written by a job: run what is due.
    if acks.is_empty() {
        let store = app.store.clone();
        store
            .work_jobs(
                "test",
                tuki_store::jobs::STORE_KINDS,
                50,
                SignedDuration::from_mins(1),
                |job| {
                    let store = store.clone();
                    async move { store.run_store_job(&job, "test").await }
                },
            )
            .await
            .unwrap();
    }
    assert!(app
        .store
        .outbox_rows(20)
        .await
        .unwrap()
        .iter()
        .any(|m| m.recipient == "maija@koti.test" && m.kind == "ack"));
    // The token was used up.
    let (_, _, _) = call(
        &app,
        Method::POST,
        "/widget/v1/requests",
        Some(SHOP),
        Some(request(&genuine, "")),
    )
    .await;
    assert_eq!(tickets(&app).await, before + 1);

    // Mistakes name the field, readable by the website's page.
    let bad = form(&app).await;
    clock.advance(SignedDuration::from_secs(30));
    let mut wrong = request(&bad, "");
    wrong["email"] = json!("not an address");
    let (s, allow, body) = call(
        &app,
        Method::POST,
        "/widget/v1/requests",
        Some(SHOP),
        Some(wrong),
    )
    .await;
    assert_eq!((s, allow.as_deref()), (422, Some(SHOP)), "{body}");
    assert_eq!(body["error"]["field"], "email");

    // An address sends a few requests an hour, no more.
    let mut last = 0;
    for _ in 0..5 {
        let t = form(&app).await;
        clock.advance(SignedDuration::from_secs(10));
        last = call(
            &app,
            Method::POST,
            "/widget/v1/requests",
            Some(SHOP),
            Some(request(&t, "")),
        )
        .await
        .0;
    }
    assert_eq!(last, 429);
}

tuki_store::on_both_engines!(the_widget_answers_listed_websites_and_stops_robots);
