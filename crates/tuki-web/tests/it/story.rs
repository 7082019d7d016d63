//! The story from the README: create a ticket, read it, list it, transfer it
//! to tier 2 with a reason, read its history.

use reqwest::Method;
use serde_json::json;
use tuki_domain::directory::Role;
use tuki_store::testing::TestDb;

use crate::spawn_app;

async fn register_transfer_and_read_history(db: TestDb) {
    let app = spawn_app(db).await;
    let (status, body) = app.json(None, Method::GET, "/health", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    let admin = app.user(Role::Admin, "admin@desk.test", None).await;
    let agent = app.user(Role::Agent, "first@desk.test", None).await;
    let specialist = app.user(Role::Agent, "second@desk.test", None).await;
    let (s, t1) = app
        .json(Some(&admin), Method::POST, "/api/v1/groups", Some(json!({"name": "Service desk", "tier": 1, "is_intake": true, "members": [agent.id]})))
        .await;
    assert_eq!(s, 201, "{t1}");
    let (_, t2) = app
        .json(Some(&admin), Method::POST, "/api/v1/groups", Some(json!({"name": "Specialists", "tier": 2, "form": "virtual", "members": [specialist.id]})))
        .await;
    let (s, org) = app
        .json(
            Some(&agent),
            Method::POST,
            "/api/v1/organisations",
            Some(json!({"name": "Kodinkone Oy", "domains": ["kodinkone.test"]})),
        )
        .await;
    assert_eq!(s, 201, "{org}");
    let (s, customer) = app
        .json(Some(&agent), Method::POST, "/api/v1/users", Some(json!({"email": "maija@kodinkone.test", "name": "Maija Meikäläinen", "phone": "+358 40 111 2222", "language": "fi"})))
        .await;
    assert_eq!(s, 201, "{customer}");
    assert_eq!(
        customer["organisation_id"], org["id"],
        "placed by mail domain"
    );
    assert_eq!(customer["role"], "customer");

    let (s, found) = app
        .json(
            Some(&agent),
            Method::GET,
            "/api/v1/users?phone=%2B358401112222",
            None,
        )
        .await;
    assert_eq!(
        (s, found["items"][0]["id"].clone()),
        (200, customer["id"].clone())
    );

    let (s, ticket) = app
        .json(
            Some(&agent),
            Method::POST,
            "/api/v1/tickets",
            Some(json!({
                "subject": "Astianpesukone vuotaa",
                "body": "Asiakas soitti: vettä lattialla.",
                "requester_id": customer["id"],
                "channel": "phone",
                "priority": "high",
                "tags": ["Dishwasher"],
            })),
        )
        .await;
    assert_eq!(s, 201, "{ticket}");
    assert_eq!(ticket["number"], 1);
    assert_eq!(ticket["state"], "new");
    assert_eq!(ticket["group_id"], t1["id"]);
    assert_eq!(ticket["tags"], json!(["dishwasher"]));
    let id = ticket["id"].as_i64().unwrap();

    let (s, read) = app
        .json(
            Some(&agent),
            Method::GET,
            &format!("/api/v1/tickets/{id}"),
            None,
        )
        .await;
    assert_eq!(
        (s, &read),
        (200, &ticket),
        "what create returned is what a read returns"
    );
    let (_, by_number) = app
        .json(
            Some(&agent),
            Method::GET,
            "/api/v1/tickets/by-number/1",
            None,
        )
        .await;
    assert_eq!(by_number["id"], id);

    let (s, list) = app
        .json(
            Some(&agent),
            Method::GET,
            "/api/v1/tickets?state=new&priority=high,urgent&q=PESUKONE",
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    let (s, note) = app
        .json(
            Some(&agent),
            Method::POST,
            &format!("/api/v1/tickets/{id}/articles"),
            Some(json!({"kind": "note", "body": "Checked the warranty: valid."})),
        )
        .await;
    assert_eq!((s, note["internal"].as_bool()), (201, Some(true)));

    let (s, moved) = app
        .json(
            Some(&agent),
            Method::POST,
            &format!("/api/v1/tickets/{id}/transfer"),
            Some(json!({"group_id": t2["id"], "reason": "Pump replacement needs a specialist"})),
        )
        .await;
    assert_eq!(s, 200, "{moved}");
    assert_eq!(moved["group_id"], t2["id"]);
    assert_eq!(moved["followers"], json!([agent.id]));

    // Tier 2 sees it in its queue; tier 1 still sees it as follower.
    let (_, queue) = app
        .json(
            Some(&specialist),
            Method::GET,
            &format!(
                "/api/v1/tickets?group_id={}&active=true&sort=-priority",
                t2["id"]
            ),
            None,
        )
        .await;
    assert_eq!(queue["items"][0]["id"], id);
    let (s, _) = app
        .json(
            Some(&agent),
            Method::GET,
            &format!("/api/v1/tickets/{id}"),
            None,
        )
        .await;
    assert_eq!(s, 200);

    let (s, reply) = app
        .json(
            Some(&specialist),
            Method::POST,
            &format!("/api/v1/tickets/{id}/articles"),
            Some(json!({"body": "A technician comes on Monday."})),
        )
        .await;
    assert_eq!((s, reply["kind"].as_str()), (201, Some("reply")));

    let (s, history) = app
        .json(
            Some(&agent),
            Method::GET,
            &format!("/api/v1/tickets/{id}/history"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let fields: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec!["created", "article", "group", "follower", "article", "state"]
    );
    assert_eq!(history[2]["reason"], "Pump replacement needs a specialist");
    assert_eq!(history[2]["actor_id"], agent.id);
    assert_eq!(history[5]["new_value"], "open");

    let (s, links) = app
        .json(
            Some(&agent),
            Method::GET,
            &format!("/api/v1/tickets/{id}/links"),
            None,
        )
        .await;
    assert_eq!((s, links), (200, json!([])));
    let (s, me) = app
        .json(Some(&agent), Method::GET, "/api/v1/me", None)
        .await;
    assert_eq!((s, me["email"].as_str()), (200, Some("first@desk.test")));
}

async fn merge_link_and_follow_over_http(db: TestDb) {
    let app = spawn_app(db).await;
    let agent = app.user(Role::Agent, "a@desk.test", None).await;
    let other = app.user(Role::Agent, "b@desk.test", None).await;
    app.group("Desk", 1, vec![agent.id, other.id], true).await;
    let customer = app.user(Role::Customer, "c@example.test", None).await;
    let mut ids = Vec::new();
    for subject in ["No network", "No network either", "Router broken"] {
        let (_, t) = app
            .json(
                Some(&agent),
                Method::POST,
                "/api/v1/tickets",
                Some(json!({"subject": subject, "body": "…", "requester_id": customer.id})),
            )
            .await;
        ids.push(t["id"].as_i64().unwrap());
    }
    let (s, links) = app
        .json(
            Some(&agent),
            Method::POST,
            &format!("/api/v1/tickets/{}/links", ids[2]),
            Some(json!({"target_id": ids[0], "kind": "parent"})),
        )
        .await;
    assert_eq!(s, 201, "{links}");
    assert_eq!(links[0]["relation"], "child");
    let link_id = links[0]["id"].as_i64().unwrap();
    let (s, _) = app
        .json(
            Some(&agent),
            Method::PUT,
            &format!("/api/v1/tickets/{}/followers/{}", ids[1], other.id),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, survivor) = app
        .json(
            Some(&agent),
            Method::POST,
            &format!("/api/v1/tickets/{}/merge", ids[1]),
            Some(json!({"into_ticket_id": ids[0]})),
        )
        .await;
    assert_eq!(s, 200, "{survivor}");
    assert_eq!(survivor["followers"], json!([other.id]));
    let (_, merged) = app
        .json(
            Some(&agent),
            Method::GET,
            &format!("/api/v1/tickets/{}", ids[1]),
            None,
        )
        .await;
    assert_eq!(
        (merged["state"].as_str(), merged["merged_into_id"].as_i64()),
        (Some("closed"), Some(ids[0]))
    );
    let (s, articles) = app
        .json(
            Some(&customer),
            Method::GET,
            &format!("/api/v1/tickets/{}/articles", ids[1]),
            None,
        )
        .await;
    assert_eq!((s, articles.as_array().unwrap().len()), (200, 1));
    let (s, _) = app
        .json(
            Some(&agent),
            Method::DELETE,
            &format!("/api/v1/tickets/{}/links/{link_id}", ids[2]),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .json(
            Some(&agent),
            Method::DELETE,
            &format!("/api/v1/tickets/{}/links/{link_id}", ids[2]),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, t) = app
        .json(
            Some(&agent),
            Method::DELETE,
            &format!("/api/v1/tickets/{}/followers/{}", ids[0], other.id),
            None,
        )
        .await;
    assert_eq!((s, t["followers"].clone()), (200, json!([])));
}

async fn pages_of_tickets_follow_the_cursor(db: TestDb) {
    let app = spawn_app(db).await;
    let agent = app.user(Role::Agent, "a@desk.test", None).await;
    app.group("Desk", 1, vec![agent.id], true).await;
    for i in 0..7 {
        let (s, _) = app
            .json(
                Some(&agent),
                Method::POST,
                "/api/v1/tickets",
                Some(json!({"subject": format!("T{i}"), "body": "b"})),
            )
            .await;
        assert_eq!(s, 201);
    }
    let mut seen = Vec::new();
    let mut url = "/api/v1/tickets?limit=3&sort=created".to_string();
    loop {
        let (s, page) = app.json(Some(&agent), Method::GET, &url, None).await;
        assert_eq!(s, 200);
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["subject"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/tickets?limit=3&sort=created&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, (0..7).map(|i| format!("T{i}")).collect::<Vec<_>>());
}

/// A user manages their own API tokens; a revoked token stops working at
/// once, and nobody reaches another user's tokens.
async fn tokens_are_created_listed_and_revoked(db: TestDb) {
    let app = spawn_app(db).await;
    let agent = app.user(Role::Agent, "a@desk.test", None).await;
    let other = app.user(Role::Agent, "b@desk.test", None).await;
    let (s, created) = app
        .json(
            Some(&agent),
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "Laptop"})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    assert!(created["token"].as_str().unwrap().starts_with("tuki_"));
    let laptop = crate::Caller {
        id: agent.id,
        token: created["token"].as_str().unwrap().to_string(),
    };
    let (s, me) = app
        .json(Some(&laptop), Method::GET, "/api/v1/me", None)
        .await;
    assert_eq!((s, me["id"].as_i64()), (200, Some(agent.id)));
    let (_, list) = app
        .json(Some(&agent), Method::GET, "/api/v1/tokens", None)
        .await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Laptop", "test"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("token").is_none()),
        "never the token itself"
    );
    let (s, b) = app
        .json(
            Some(&agent),
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": " "})),
        )
        .await;
    assert_eq!((s, b["error"]["field"].as_str()), (422, Some("name")));
    let id = created["id"].as_i64().unwrap();
    let (s, _) = app
        .json(
            Some(&other),
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            None,
        )
        .await;
    assert_eq!(s, 404, "another user's token is not found");
    let (s, _) = app
        .json(
            Some(&agent),
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .json(Some(&laptop), Method::GET, "/api/v1/me", None)
        .await;
    assert_eq!(s, 401, "a revoked token stops working at once");
    let (_, list) = app
        .json(Some(&agent), Method::GET, "/api/v1/tokens", None)
        .await;
    assert!(list[0]["revoked_at"].is_string());
}

tuki_store::on_both_engines!(
    tokens_are_created_listed_and_revoked,
    register_transfer_and_read_history,
    merge_link_and_follow_over_http,
    pages_of_tickets_follow_the_cursor
);
