//! Bad input gets a 4xx with a JSON body naming the field, never a 500.

use reqwest::Method;
use serde_json::{json, Value};
use tuki_domain::directory::Role;
use tuki_store::testing::TestDb;

use crate::spawn_app;

fn assert_error(
    status: u16,
    body: &Value,
    want_status: u16,
    want_code: &str,
    want_field: Option<&str>,
) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body["error"]["field"].as_str(), want_field, "{body}");
}

async fn bad_input_is_named(db: TestDb) {
    let app = spawn_app(db).await;
    let agent = app.user(Role::Agent, "a@desk.test", None).await;
    let group = app.group("Desk", 1, vec![agent.id], true).await;
    let a = Some(&agent);

    // Authentication.
    let (s, b) = app.json(None, Method::GET, "/api/v1/tickets", None).await;
    assert_error(s, &b, 401, "unauthorized", None);
    let res = app
        .client
        .get(format!("{}/api/v1/tickets", app.base))
        .bearer_auth("tuki_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let res = app
        .client
        .get(format!("{}/api/v1/tickets", app.base))
        .header("authorization", "Basic YTpi")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // Ticket creation: each bad field is named.
    let cases: Vec<(Value, &str)> = vec![
        (json!({"body": "x"}), "subject"),
        (json!({"subject": "x"}), "body"),
        (json!({"subject": "", "body": "x"}), "subject"),
        (json!({"subject": "x".repeat(300), "body": "x"}), "subject"),
        (json!({"subject": "a\nb", "body": "x"}), "subject"),
        (json!({"subject": "x", "body": "   "}), "body"),
        (
            json!({"subject": "x", "body": "x", "priority": "huge"}),
            "priority",
        ),
        (
            json!({"subject": "x", "body": "x", "channel": "fax"}),
            "channel",
        ),
        (
            json!({"subject": "x", "body": "x", "group_id": "one"}),
            "group_id",
        ),
        (
            json!({"subject": "x", "body": "x", "group_id": 999}),
            "group_id",
        ),
        (
            json!({"subject": "x", "body": "x", "requester_id": 999}),
            "requester_id",
        ),
        (
            json!({"subject": "x", "body": "x", "owner_id": 999}),
            "owner_id",
        ),
        (
            json!({"subject": "x", "body": "x", "tags": ["two words"]}),
            "tags",
        ),
        (json!({"subject": "x", "body": "x", "tags": "vip"}), "tags"),
        (json!({"subject": "x", "body": "x", "wat": 1}), "wat"),
        (json!({"subject": 5, "body": "x"}), "subject"),
        (
            json!({"subject": "x", "body": "x", "group_id": 1e30}),
            "group_id",
        ),
        (json!({"subject": "x", "body": "nul \u{0} byte"}), "body"),
        (json!([1, 2]), "body"),
    ];
    for (body, field) in cases {
        let (s, b) = app
            .json(a, Method::POST, "/api/v1/tickets", Some(body.clone()))
            .await;
        assert_error(s, &b, 422, "invalid", Some(field));
    }

    // Broken JSON and the wrong media type.
    let res = app
        .client
        .post(format!("{}/api/v1/tickets", app.base))
        .bearer_auth(&agent.token)
        .header("content-type", "application/json")
        .body("{\"subject\": ")
        .send()
        .await
        .unwrap();
    let s = res.status().as_u16();
    assert_error(s, &res.json().await.unwrap(), 400, "malformed", None);
    let res = app
        .client
        .post(format!("{}/api/v1/tickets", app.base))
        .bearer_auth(&agent.token)
        .header("content-type", "text/plain")
        .body("subject=x")
        .send()
        .await
        .unwrap();
    let s = res.status().as_u16();
    assert_error(
        s,
        &res.json().await.unwrap(),
        415,
        "unsupported_media_type",
        None,
    );
    // The server answers 413 without reading the rest and closes the
    // connection; a client of its own keeps that closed connection out of
    // the shared pool the next requests use.
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/tickets", app.base))
        .bearer_auth(&agent.token)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);

    // Query parameters.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=abc", "limit"),
        ("state=opened", "state"),
        ("priority=low,meh", "priority"),
        ("sort=name", "sort"),
        ("cursor=%%%", "cursor"),
        ("group_id=x", "group_id"),
        ("active=maybe", "active"),
        ("tag=a%20b", "tag"),
        ("colour=red", "colour"),
    ] {
        let (s, b) = app
            .json(a, Method::GET, &format!("/api/v1/tickets?{query}"), None)
            .await;
        assert_error(s, &b, 422, "invalid", Some(field));
    }

    // A NUL in a search is a mistake named `q` on both engines (PostgreSQL
    // refuses NUL in text outright).
    for path in ["/api/v1/tickets", "/api/v1/users", "/api/v1/organisations"] {
        let (s, b) = app
            .json(a, Method::GET, &format!("{path}?q=a%00b"), None)
            .await;
        assert_error(s, &b, 422, "invalid", Some("q"));
    }

    // Paths: unknown ids and non-numbers are not found; wrong methods say so.
    for path in [
        "/api/v1/tickets/999999",
        "/api/v1/tickets/abc",
        "/api/v1/tickets/-1",
        "/api/v1/tickets/99999999999999999999",
        "/api/v1/nothing",
        "/nothing",
    ] {
        let (s, b) = app.json(a, Method::GET, path, None).await;
        assert_error(s, &b, 404, "not_found", None);
    }
    let (s, b) = app.json(a, Method::DELETE, "/api/v1/tickets", None).await;
    assert_error(s, &b, 405, "method_not_allowed", None);

    // Disallowed transitions are conflicts naming the state.
    let (_, t) = app
        .json(
            a,
            Method::POST,
            "/api/v1/tickets",
            Some(json!({"subject": "x", "body": "y"})),
        )
        .await;
    let id = t["id"].as_i64().unwrap();
    let path = format!("/api/v1/tickets/{id}");
    let (s, _) = app
        .json(a, Method::PATCH, &path, Some(json!({"state": "closed"})))
        .await;
    assert_eq!(s, 200);
    let (s, b) = app
        .json(a, Method::PATCH, &path, Some(json!({"state": "resolved"})))
        .await;
    assert_error(s, &b, 409, "transition_not_allowed", Some("state"));
    let (s, b) = app
        .json(a, Method::PATCH, &path, Some(json!({"state": "new"})))
        .await;
    assert_error(s, &b, 409, "transition_not_allowed", Some("state"));
    let (s, b) = app
        .json(a, Method::PATCH, &path, Some(json!({"group_id": group})))
        .await;
    assert_error(s, &b, 422, "invalid", Some("group_id"));
    let (s, b) = app
        .json(
            a,
            Method::POST,
            &format!("{path}/transfer"),
            Some(json!({"group_id": group, "reason": ""})),
        )
        .await;
    assert_error(s, &b, 422, "invalid", Some("reason"));
    let (s, b) = app
        .json(
            a,
            Method::POST,
            &format!("{path}/transfer"),
            Some(json!({"group_id": group})),
        )
        .await;
    assert_error(s, &b, 422, "invalid", Some("reason"));

    // Directory input.
    for (body, field, status) in [
        (json!({"email": "nope", "name": "N"}), "email", 422),
        (
            json!({"email": "n@x.test", "name": "N", "phone": "040 123"}),
            "phone",
            422,
        ),
        (
            json!({"email": "n@x.test", "name": "N", "language": "sv"}),
            "language",
            422,
        ),
        (
            json!({"email": "n@x.test", "name": "N", "organisation_id": 77}),
            "organisation_id",
            422,
        ),
        (json!({"email": "a@desk.test", "name": "Dup"}), "email", 409),
    ] {
        let (s, b) = app.json(a, Method::POST, "/api/v1/users", Some(body)).await;
        assert_error(
            s,
            &b,
            status,
            if status == 409 { "conflict" } else { "invalid" },
            Some(field),
        );
    }
    let (s, b) = app
        .json(
            a,
            Method::POST,
            "/api/v1/organisations",
            Some(json!({"name": "X", "domains": ["not a domain"]})),
        )
        .await;
    assert_error(s, &b, 422, "invalid", Some("domains"));
}

/// A sweep of hostile inputs over every operation of the API that takes a
/// body, as the OpenAPI document lists them (the router serves the same
/// list): whatever comes back, it is never a 500 and always a JSON error
/// body.
async fn nothing_makes_a_500(db: TestDb) {
    let app = spawn_app(db).await;
    let admin = app.user(Role::Admin, "root@desk.test", None).await;
    // One of each kind of thing the paths name: ticket, group and user 1
    // exist (a body is read before its id is looked up, so a missing one
    // only shortens the way to a 404).
    app.group("Desk", 1, vec![], true).await;
    let (_, t) = app
        .json(
            Some(&admin),
            Method::POST,
            "/api/v1/tickets",
            Some(json!({"subject": "x", "body": "y"})),
        )
        .await;
    let id = t["id"].as_i64().unwrap();
    let weird: Vec<Value> = vec![
        json!(null),
        json!({}),
        json!("string"),
        json!([1, 2]),
        json!({"subject": null, "body": null}),
        json!({"group_id": i64::MAX, "reason": "r", "into_ticket_id": i64::MAX, "target_id": i64::MIN, "kind": "parent"}),
        json!({"group_id": 0, "reason": "\u{202e}", "into_ticket_id": -5, "target_id": 0, "kind": "related"}),
        json!({"name": "ä".repeat(5000), "tier": 9_999_999_999i64, "email": "@@", "domains": [""]}),
        json!({"owner_id": null, "category": null, "tags": [], "state": "open"}),
        json!({"tags": vec!["x"; 100]}),
        json!({"body": "x".repeat(200_000)}),
        json!({"name": "x\u{0}y", "address": "a@b.test", "definition": {"time_zone": "Mars/Olympus"}}),
        json!({"name": "p", "calendar_id": -1, "priorities": ["huge"], "warn_percent": 1000}),
        json!({"name": "m", "address": "m@x.test", "imap": {"host": "", "user": "", "port": 0}}),
        json!({"enabled": "yes", "event": "newCall", "call_id": "x", "from": 5}),
        json!({"minutes": i64::MAX, "over_balance": true, "worked_at": "9999-12-31T00:00:00Z"}),
        json!({"serial": "x\u{0}", "purchased_on": "99.99.99999", "warranty_until": "", "product_id": i64::MIN}),
        json!({"name": "c", "organisation_id": 1, "kind": "hour_bank", "starts_on": "1.1.10000", "ends_on": "1.257.2026",
               "included_minutes": -1, "covers": {"assets": [i64::MAX], "categories": [""]}, "hourly_cents": i64::MAX,
               "warranty_months": i64::MAX, "vat_basis_points": -1, "asset_id": i64::MAX}),
    ];
    let (_, doc) = app
        .json(Some(&admin), Method::GET, "/api/v1/openapi.json", None)
        .await;
    let mut swept = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("requestBody").is_none() {
                continue;
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let path = path
                .replace("{id}", &id.to_string())
                .replace("{number}", "1")
                .replace("{user_id}", &admin.id.to_string())
                .replace("{link_id}", "1")
                .replace("{entry_id}", "1")
                .replace("{kind}", "ack");
            for body in &weird {
                let (s, b) = app
                    .json(Some(&admin), method.clone(), &path, Some(body.clone()))
                    .await;
                assert!(s < 500, "{method} {path} {body}: {s} {b}");
                if s >= 400 {
                    assert!(b["error"]["code"].is_string(), "{method} {path}: {b}");
                }
            }
            swept.push(format!("{method} {path}"));
        }
    }
    // Every kind of write is in the sweep: tickets and their actions, the
    // directory, the administered resources, the telephone system's
    // events, preferences and tokens.
    assert!(
        swept.len() >= 24,
        "only {} operations swept: {swept:?}",
        swept.len()
    );
    for must in [
        "/tickets",
        "/transfer",
        "/merge",
        "/users",
        "/groups",
        "/sla/calendars",
        "/sla/policies",
        "/sla/escalation-rules",
        "/mailboxes",
        "/cti/events",
        "/notification-preferences",
        "/tokens",
        "/products",
        "/rate-cards",
        "/contracts",
        "/assets",
        "/coverage",
        "/time-entries",
    ] {
        assert!(
            swept.iter().any(|s| s.contains(must)),
            "{must} not swept: {swept:?}"
        );
    }
}

tuki_store::on_both_engines!(bad_input_is_named, nothing_makes_a_500);
