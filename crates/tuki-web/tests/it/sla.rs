//! Service levels over HTTP: calendars, policies, escalation rules and jobs
//! are for administrators only; invalid calendars and policies are 422s
//! naming the field; a ticket's `/sla` shows its due times.

use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use serde_json::{json, Value};
use tuki_domain::directory::Role;
use tuki_store::testing::TestDb;

use crate::{spawn_app, App, Caller};

fn office(name: &str) -> Value {
    json!({
        "name": name,
        "definition": {
            "time_zone": "Europe/Helsinki",
            "hours": {"kind": "weekly", "monday": [{"start": "08:00", "end": "16:00"}],
                      "friday": [{"start": "08:00", "end": "12:00"}, {"start": "13:00", "end": "16:00"}]},
            "holidays": [{"kind": "finnish_public"}, {"kind": "yearly", "month": 12, "day": 27}],
        }
    })
}

fn always(name: &str) -> Value {
    json!({"name": name, "definition": {"time_zone": "UTC", "hours": {"kind": "always_open"}}})
}

async fn created(app: &App, who: &Caller, path: &str, body: Value) -> Value {
    let (s, v) = app.json(Some(who), Method::POST, path, Some(body)).await;
    assert_eq!(s, 201, "POST {path}: {v}");
    v
}

fn assert_invalid(status: u16, body: &Value, field: &str) {
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], field, "{body}");
}

async fn administrators_only(db: TestDb) {
    let app = spawn_app(db).await;
    let admin = app.user(Role::Admin, "admin@desk.test", None).await;
    let agent = app.user(Role::Agent, "agent@desk.test", None).await;
    let org = app.org("Acme Oy", false).await;
    let customer = app.user(Role::Customer, "cora@acme.test", Some(org)).await;

    let cal = created(&app, &admin, "/api/v1/sla/calendars", office("Office")).await;
    let cal_id = cal["id"].as_i64().unwrap();
    let policy = created(
        &app,
        &admin,
        "/api/v1/sla/policies",
        json!({"name": "Standard", "calendar_id": cal_id, "first_response_minutes": 240}),
    )
    .await;
    let policy_id = policy["id"].as_i64().unwrap();
    let rule = created(
        &app,
        &admin,
        "/api/v1/sla/escalation-rules",
        json!({"name": "Breach to tier 2", "fires_on": "breach", "action": "transfer_next_tier"}),
    )
    .await;
    let rule_id = rule["id"].as_i64().unwrap();

    let reads = [
        "/api/v1/sla/calendars".to_string(),
        format!("/api/v1/sla/calendars/{cal_id}"),
        "/api/v1/sla/policies".to_string(),
        format!("/api/v1/sla/policies/{policy_id}"),
        "/api/v1/sla/escalation-rules".to_string(),
        format!("/api/v1/sla/escalation-rules/{rule_id}"),
        "/api/v1/jobs".to_string(),
    ];
    for path in &reads {
        let (s, body) = app.json(Some(&admin), Method::GET, path, None).await;
        assert_eq!(s, 200, "admin GET {path}: {body}");
        for who in [&agent, &customer] {
            let (s, body) = app.json(Some(who), Method::GET, path, None).await;
            assert_eq!(s, 403, "GET {path}: {body}");
            assert_eq!(body["error"]["code"], "forbidden", "{body}");
        }
        let (s, _) = app.json(None, Method::GET, path, None).await;
        assert_eq!(s, 401, "anonymous GET {path}");
    }
    let writes = [
        (
            Method::POST,
            "/api/v1/sla/calendars".to_string(),
            office("Mine"),
        ),
        (
            Method::PUT,
            format!("/api/v1/sla/calendars/{cal_id}"),
            office("Mine"),
        ),
        (
            Method::POST,
            "/api/v1/sla/policies".to_string(),
            json!({"name": "Mine", "calendar_id": cal_id, "resolution_minutes": 60}),
        ),
        (
            Method::PUT,
            format!("/api/v1/sla/policies/{policy_id}"),
            json!({"name": "Mine", "calendar_id": cal_id, "resolution_minutes": 60}),
        ),
        (
            Method::POST,
            "/api/v1/sla/escalation-rules".to_string(),
            json!({"name": "Mine", "fires_on": "warning", "action": "notify_owner"}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/sla/escalation-rules/{rule_id}"),
            Value::Null,
        ),
        (
            Method::DELETE,
            format!("/api/v1/sla/policies/{policy_id}"),
            Value::Null,
        ),
        (
            Method::DELETE,
            format!("/api/v1/sla/calendars/{cal_id}"),
            Value::Null,
        ),
    ];
    for (method, path, body) in &writes {
        let body = (!body.is_null()).then(|| body.clone());
        for who in [&agent, &customer] {
            let (s, b) = app
                .json(Some(who), method.clone(), path, body.clone())
                .await;
            assert_eq!(s, 403, "{method} {path}: {b}");
        }
    }
    // Nothing changed.
    let (_, cals) = app
        .json(Some(&admin), Method::GET, "/api/v1/sla/calendars", None)
        .await;
    assert_eq!(cals.as_array().unwrap().len(), 1, "{cals}");
    assert_eq!(cals[0]["name"], "Office");
    // A calendar still in use by a policy is a conflict, not a 500.
    let (s, b) = app
        .json(
            Some(&admin),
            Method::DELETE,
            &format!("/api/v1/sla/calendars/{cal_id}"),
            None,
        )
        .await;
    assert_eq!(s, 409, "{b}");
    // The jobs list knows its filters.
    let (s, b) = app
        .json(Some(&admin), Method::GET, "/api/v1/jobs?status=later", None)
        .await;
    assert_invalid(s, &b, "status");
}

async fn invalid_input_names_the_field(db: TestDb) {
    let app = spawn_app(db).await;
    let admin = app.user(Role::Admin, "admin@desk.test", None).await;
    let post = |path: &'static str, body: Value| {
        let app = &app;
        let admin = &admin;
        async move { app.json(Some(admin), Method::POST, path, Some(body)).await }
    };
    let cal = "/api/v1/sla/calendars";
    let mut bad_zone = office("Mars");
    bad_zone["definition"]["time_zone"] = json!("Mars/Olympus_Mons");
    let (s, b) = post(cal, bad_zone).await;
    assert_invalid(s, &b, "definition.time_zone");
    let mut backwards = office("Backwards");
    backwards["definition"]["hours"]["friday"][1] = json!({"start": "16:00", "end": "13:00"});
    let (s, b) = post(cal, backwards).await;
    assert_eq!(s, 422, "{b}");
    assert!(
        b["error"]["field"]
            .as_str()
            .unwrap()
            .starts_with("definition.hours.friday[1]"),
        "{b}"
    );
    let mut no_hours = office("Closed");
    no_hours["definition"]["hours"] = json!({"kind": "weekly"});
    let (s, b) = post(cal, no_hours).await;
    assert_invalid(s, &b, "definition.hours");
    let mut bad_holiday = office("Holiday");
    bad_holiday["definition"]["holidays"] = json!([{"kind": "yearly", "month": 13, "day": 1}]);
    let (s, b) = post(cal, bad_holiday).await;
    assert_invalid(s, &b, "definition.holidays[0].month");
    let (s, b) = post(
        cal,
        json!({"name": " ", "definition": always("x")["definition"]}),
    )
    .await;
    assert_invalid(s, &b, "name");

    let ok = created(&app, &admin, cal, always("Always")).await;
    let cal_id = ok["id"].as_i64().unwrap();
    let (s, b) = post(cal, always("Always")).await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["error"]["field"], "name", "{b}");

    let pol = "/api/v1/sla/policies";
    let (s, b) = post(
        pol,
        json!({"name": "P", "calendar_id": cal_id + 1000, "first_response_minutes": 60}),
    )
    .await;
    assert_invalid(s, &b, "calendar_id");
    let (s, b) = post(pol, json!({"name": "P", "calendar_id": cal_id})).await;
    assert_invalid(s, &b, "first_response_minutes");
    let (s, b) = post(
        pol,
        json!({"name": "P", "calendar_id": cal_id, "resolution_minutes": 0}),
    )
    .await;
    assert_invalid(s, &b, "resolution_minutes");
    let (s, b) = post(
        pol,
        json!({"name": "P", "calendar_id": cal_id, "resolution_minutes": 60, "warn_percent": 101}),
    )
    .await;
    assert_invalid(s, &b, "warn_percent");
    let (s, b) = post(
        pol,
        json!({"name": "P", "calendar_id": cal_id, "resolution_minutes": 60, "organisation_id": 999999}),
    )
    .await;
    assert_invalid(s, &b, "organisation_id");
    let (s, b) = post(
        pol,
        json!({"name": "P", "calendar_id": cal_id, "resolution_minutes": 60, "priorities": ["whenever"]}),
    )
    .await;
    assert_eq!(s, 422, "{b}");

    let (s, b) = post(
        "/api/v1/sla/escalation-rules",
        json!({"name": "R", "fires_on": "breach", "action": "notify_user"}),
    )
    .await;
    assert_invalid(s, &b, "user_id");
}

async fn ticket_sla_shows_due_times(db: TestDb) {
    let app = spawn_app(db).await;
    let admin = app.user(Role::Admin, "admin@desk.test", None).await;
    let agent = app.user(Role::Agent, "agent@desk.test", None).await;
    app.group("Desk", 1, vec![agent.id], true).await;
    let org = app.org("Acme Oy", false).await;
    let customer = app.user(Role::Customer, "cora@acme.test", Some(org)).await;
    let other = app.user(Role::Customer, "olli@other.test", None).await;
    let cal = created(&app, &admin, "/api/v1/sla/calendars", always("24/7")).await;
    let policy = created(
        &app,
        &admin,
        "/api/v1/sla/policies",
        json!({"name": "Urgent", "calendar_id": cal["id"], "priorities": ["urgent", "high"],
               "first_response_minutes": 30, "resolution_minutes": 480, "position": 1}),
    )
    .await;
    created(
        &app,
        &admin,
        "/api/v1/sla/policies",
        json!({"name": "Everything else", "calendar_id": cal["id"], "first_response_minutes": 240,
               "position": 2}),
    )
    .await;

    let ticket = created(
        &app,
        &agent,
        "/api/v1/tickets",
        json!({"subject": "Printer on fire", "body": "Smoke.", "requester_id": customer.id,
               "channel": "phone", "priority": "urgent"}),
    )
    .await;
    let id = ticket["id"].as_i64().unwrap();
    let at: Timestamp = ticket["created_at"].as_str().unwrap().parse().unwrap();
    let due = |v: &Value| -> Timestamp { v.as_str().unwrap().parse().unwrap() };
    assert_eq!(ticket["sla_policy_id"], policy["id"], "{ticket}");
    assert_eq!(ticket["sla_state"], "running", "{ticket}");
    assert_eq!(
        due(&ticket["first_response_due_at"]),
        at + SignedDuration::from_mins(30)
    );
    assert_eq!(
        due(&ticket["resolution_due_at"]),
        at + SignedDuration::from_mins(480)
    );

    let path = format!("/api/v1/tickets/{id}/sla");
    for who in [&agent, &admin, &customer] {
        let (s, sla) = app.json(Some(who), Method::GET, &path, None).await;
        assert_eq!(s, 200, "{sla}");
        assert_eq!(sla["ticket_id"], id);
        assert_eq!(sla["policy_id"], policy["id"]);
        assert_eq!(sla["state"], "running");
        let clock = |kind: &str| {
            sla["clocks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["kind"] == kind)
                .cloned()
                .unwrap_or_else(|| panic!("no {kind} clock in {sla}"))
        };
        let first = clock("first_response");
        assert_eq!(first["state"], "running");
        assert_eq!(first["target_minutes"], 30);
        assert_eq!(due(&first["due_at"]), at + SignedDuration::from_mins(30));
        let resolution = clock("resolution");
        assert_eq!(
            due(&resolution["due_at"]),
            at + SignedDuration::from_mins(480)
        );
        assert!(
            sla["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["kind"] == "first_response" && e["event"] == "started"),
            "{sla}"
        );
    }
    // Invisible tickets are 404s, as everywhere else.
    let (s, _) = app.json(Some(&other), Method::GET, &path, None).await;
    assert_eq!(s, 404);
    let (s, _) = app
        .json(
            Some(&agent),
            Method::GET,
            "/api/v1/tickets/999999/sla",
            None,
        )
        .await;
    assert_eq!(s, 404);

    // The at-risk list is sorted by the soonest due time.
    let later = created(
        &app,
        &agent,
        "/api/v1/tickets",
        json!({"subject": "Mouse squeaks", "body": "Squeak.", "requester_id": customer.id,
               "channel": "web", "priority": "low"}),
    )
    .await;
    assert_eq!(
        due(&later["first_response_due_at"]),
        due(&later["created_at"]) + SignedDuration::from_mins(240)
    );
    let (s, list) = app
        .json(
            Some(&agent),
            Method::GET,
            "/api/v1/tickets?at_risk=true&sort=due",
            None,
        )
        .await;
    assert_eq!(s, 200, "{list}");
    let ids: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![id, later["id"].as_i64().unwrap()], "{list}");
}

tuki_store::on_both_engines!(
    administrators_only,
    invalid_input_names_the_field,
    ticket_sla_shows_due_times,
);
