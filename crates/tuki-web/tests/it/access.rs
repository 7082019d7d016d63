//! Authorisation as a matrix: role × resource × action, over HTTP.

use reqwest::Method;
use serde_json::{json, Value};
use tuki_domain::directory::Role;
use tuki_store::testing::TestDb;

use crate::{spawn_app, App, Caller};

struct Cast {
    admin: Caller,
    member: Caller,
    outsider: Caller,
    requester: Caller,
    colleague_shared: Caller,
    colleague_private: Caller,
    stranger: Caller,
    group: i64,
    other_group: i64,
    /// The requester's organisation, which shares tickets.
    org_shared: i64,
    org_private: i64,
}

async fn cast(app: &App) -> Cast {
    let admin = app.user(Role::Admin, "admin@desk.test", None).await;
    let member = app.user(Role::Agent, "member@desk.test", None).await;
    let outsider = app.user(Role::Agent, "outsider@desk.test", None).await;
    let group = app.group("Desk", 1, vec![member.id], true).await;
    let other_group = app.group("Field", 2, vec![outsider.id], false).await;
    let org_shared = app.org("Shared Oy", true).await;
    let org_private = app.org("Private Oy", false).await;
    let requester = app
        .user(Role::Customer, "req@shared.test", Some(org_shared))
        .await;
    let colleague_shared = app
        .user(Role::Customer, "col@shared.test", Some(org_shared))
        .await;
    let colleague_private = app
        .user(Role::Customer, "col@private.test", Some(org_private))
        .await;
    let stranger = app
        .user(Role::Customer, "stranger@private.test", Some(org_private))
        .await;
    Cast {
        admin,
        member,
        outsider,
        requester,
        colleague_shared,
        colleague_private,
        stranger,
        group,
        other_group,
        org_shared,
        org_private,
    }
}

/// Each action on a fresh ticket of the requester, in the member's group.
async fn act(app: &App, c: &Cast, who: &Caller, action: &str) -> u16 {
    let (_, t) = app
        .json(Some(&c.admin), Method::POST, "/api/v1/tickets", Some(json!({"subject": "Matrix", "body": "b", "requester_id": c.requester.id, "group_id": c.group})))
        .await;
    let (_, other) = app
        .json(Some(&c.admin), Method::POST, "/api/v1/tickets", Some(json!({"subject": "Other", "body": "b", "requester_id": c.requester.id, "group_id": c.group})))
        .await;
    let id = t["id"].as_i64().unwrap();
    let p = format!("/api/v1/tickets/{id}");
    let (method, path, body): (Method, String, Option<Value>) = match action {
        "view" => (Method::GET, p, None),
        "articles" => (Method::GET, format!("{p}/articles"), None),
        "reply" => (
            Method::POST,
            format!("{p}/articles"),
            Some(json!({"kind": "reply", "body": "hi"})),
        ),
        "note" => (
            Method::POST,
            format!("{p}/articles"),
            Some(json!({"kind": "note", "body": "hi"})),
        ),
        "close" => (Method::PATCH, p, Some(json!({"state": "closed"}))),
        "priority" => (Method::PATCH, p, Some(json!({"priority": "urgent"}))),
        "transfer" => (
            Method::POST,
            format!("{p}/transfer"),
            Some(json!({"group_id": c.other_group, "reason": "r"})),
        ),
        "merge" => (
            Method::POST,
            format!("{p}/merge"),
            Some(json!({"into_ticket_id": other["id"]})),
        ),
        "link" => (
            Method::POST,
            format!("{p}/links"),
            Some(json!({"target_id": other["id"], "kind": "related"})),
        ),
        "follow" => (Method::PUT, format!("{p}/followers/{}", c.member.id), None),
        "history" => (Method::GET, format!("{p}/history"), None),
        _ => unreachable!(),
    };
    let (s, _) = app.json(Some(who), method, &path, body).await;
    s
}

async fn ticket_matrix(db: TestDb) {
    let app = spawn_app(db).await;
    let c = cast(&app).await;
    let actions = [
        "view", "articles", "reply", "note", "close", "priority", "transfer", "merge", "link",
        "follow", "history",
    ];
    let staff = [200, 200, 201, 201, 200, 200, 200, 200, 201, 200, 200];
    let customer = [200, 200, 201, 403, 200, 403, 403, 403, 403, 403, 403];
    let hidden = [404; 11];
    let rows: [(&str, &Caller, [u16; 11]); 7] = [
        ("admin", &c.admin, staff),
        ("member agent", &c.member, staff),
        ("agent of another group", &c.outsider, hidden),
        ("requester", &c.requester, customer),
        (
            "colleague, sharing organisation",
            &c.colleague_shared,
            customer,
        ),
        (
            "customer of a private organisation",
            &c.colleague_private,
            hidden,
        ),
        ("stranger", &c.stranger, hidden),
    ];
    for (name, who, expected) in rows {
        for (action, want) in actions.iter().zip(expected) {
            assert_eq!(act(&app, &c, who, action).await, want, "{name} {action}");
        }
    }
}

async fn customers_see_only_their_organisation(db: TestDb) {
    let app = spawn_app(db).await;
    let c = cast(&app).await;
    // Stranger's own ticket, invisible to the requester's organisation.
    let (_, theirs) = app
        .json(
            Some(&c.stranger),
            Method::POST,
            "/api/v1/tickets",
            Some(json!({"subject": "Mine", "body": "b"})),
        )
        .await;
    let (_, ours) = app
        .json(
            Some(&c.requester),
            Method::POST,
            "/api/v1/tickets",
            Some(json!({"subject": "Ours", "body": "b"})),
        )
        .await;
    assert_eq!(theirs["organisation_id"], c.org_private);
    assert_eq!(ours["organisation_id"], c.org_shared);
    let (s, b) = app
        .json(
            Some(&c.requester),
            Method::GET,
            &format!("/api/v1/tickets/{}", theirs["id"]),
            None,
        )
        .await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("not_found")));
    let (s, _) = app
        .json(
            Some(&c.requester),
            Method::GET,
            &format!("/api/v1/tickets/{}/articles", theirs["id"]),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .json(
            Some(&c.colleague_shared),
            Method::GET,
            &format!("/api/v1/tickets/{}", ours["id"]),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (_, list) = app
        .json(
            Some(&c.colleague_shared),
            Method::GET,
            "/api/v1/tickets",
            None,
        )
        .await;
    let ids: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert_eq!(ids, vec![&ours["id"]]);
    let (_, list) = app
        .json(
            Some(&c.colleague_private),
            Method::GET,
            "/api/v1/tickets",
            None,
        )
        .await;
    assert_eq!(
        list["items"],
        json!([]),
        "a private organisation does not share"
    );
    // Filters cannot widen what a customer sees.
    let (_, list) = app
        .json(
            Some(&c.requester),
            Method::GET,
            &format!("/api/v1/tickets?organisation_id={}", c.org_private),
            None,
        )
        .await;
    assert_eq!(list["items"], json!([]));
    // Internal notes stay internal.
    app.json(
        Some(&c.member),
        Method::POST,
        &format!("/api/v1/tickets/{}/articles", ours["id"]),
        Some(json!({"kind": "note", "body": "secret"})),
    )
    .await;
    let (_, arts) = app
        .json(
            Some(&c.requester),
            Method::GET,
            &format!("/api/v1/tickets/{}/articles", ours["id"]),
            None,
        )
        .await;
    assert!(arts
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["internal"] == false));
    let (_, arts) = app
        .json(
            Some(&c.member),
            Method::GET,
            &format!("/api/v1/tickets/{}/articles", ours["id"]),
            None,
        )
        .await;
    assert_eq!(arts.as_array().unwrap().len(), 2);
}

async fn directory_matrix(db: TestDb) {
    let app = spawn_app(db).await;
    let c = cast(&app).await;
    let new_agent =
        |n: u32| json!({"email": format!("agent{n}@desk.test"), "name": "New", "role": "agent"});
    let new_customer = |n: u32| json!({"email": format!("cust{n}@x.test"), "name": "New"});
    let new_group = |n: u32| json!({"name": format!("G{n}"), "tier": 2});
    let mut n = 0;
    for (name, who, expect) in [
        ("admin", &c.admin, [200, 201, 201, 200, 201, 200, 200, 200]),
        ("agent", &c.member, [200, 403, 201, 200, 403, 200, 200, 403]),
        (
            "customer",
            &c.requester,
            [403, 403, 403, 403, 403, 200, 404, 403],
        ),
    ] {
        n += 1;
        let got = [
            app.json(Some(who), Method::GET, "/api/v1/users", None)
                .await
                .0,
            app.json(Some(who), Method::POST, "/api/v1/users", Some(new_agent(n)))
                .await
                .0,
            app.json(
                Some(who),
                Method::POST,
                "/api/v1/users",
                Some(new_customer(n)),
            )
            .await
            .0,
            app.json(Some(who), Method::GET, "/api/v1/groups", None)
                .await
                .0,
            app.json(
                Some(who),
                Method::POST,
                "/api/v1/groups",
                Some(new_group(n)),
            )
            .await
            .0,
            app.json(
                Some(who),
                Method::GET,
                &format!("/api/v1/organisations/{}", c.org_shared),
                None,
            )
            .await
            .0,
            app.json(
                Some(who),
                Method::GET,
                &format!("/api/v1/organisations/{}", c.org_private),
                None,
            )
            .await
            .0,
            app.json(
                Some(who),
                Method::PUT,
                &format!("/api/v1/groups/{}/members/{}", c.group, c.outsider.id),
                None,
            )
            .await
            .0,
        ];
        assert_eq!(got, expect, "{name}");
    }
    // Everyone may read themself; customers nobody else.
    assert_eq!(
        app.json(
            Some(&c.requester),
            Method::GET,
            &format!("/api/v1/users/{}", c.requester.id),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.json(
            Some(&c.requester),
            Method::GET,
            &format!("/api/v1/users/{}", c.stranger.id),
            None
        )
        .await
        .0,
        404
    );
    // An agent cannot promote a customer to admin.
    let (s, _) = app
        .json(
            Some(&c.member),
            Method::PATCH,
            &format!("/api/v1/users/{}", c.requester.id),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(s, 403);
}

tuki_store::on_both_engines!(
    ticket_matrix,
    customers_see_only_their_organisation,
    directory_matrix
);
