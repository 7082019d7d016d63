//! Live updates from outside a server's own pages: a ticket changed by
//! something else (the mail pipe, a job, another server) and a call
//! announced on another server reach the consoles connected here.

use std::time::Duration;

use reqwest::header::COOKIE;
use tuki_domain::access::Actor;
use tuki_domain::directory::{Language, Role};
use tuki_store::testing::TestDb;

use crate::spawn_app;

/// The events of one console's stream, as `event:data` lines.
struct Console {
    res: reqwest::Response,
    buffer: String,
}

impl Console {
    /// Waits for an event of `kind` with `data`, up to ten seconds.
    async fn hears(&mut self, kind: &str, data: &str) {
        let want = format!("event: {kind}\ndata: {data}\n");
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        while !self.buffer.contains(&want) {
            let chunk = tokio::time::timeout_at(until, self.res.chunk())
                .await
                .unwrap_or_else(|_| panic!("no {kind} {data} within 10 s; heard {:?}", self.buffer))
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

async fn consoles_hear_of_changes_made_elsewhere(db: TestDb) {
    let app = spawn_app(db).await;
    // A second server on the same database.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(tuki_web::serve(
        listener,
        tuki_web::AppState::new(app.store.clone()),
        std::future::pending(),
    ));
    let (agent, actor) = app
        .signed_in(Role::Agent, "tia@desk.test", Language::En)
        .await;
    let phone = app.user(Role::Agent, "pbx@desk.test", None).await;
    // Tia works in the intake group; another group's tickets are not hers
    // to hear of.
    app.group("Front line", 1, vec![actor.user_id.unwrap()], true)
        .await;
    let elsewhere = app.group("Specialists", 2, vec![], false).await;
    let res = reqwest::Client::new()
        .get(format!("{second}/agent/events"))
        .header(COOKIE, &agent.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut console = Console {
        res,
        buffer: String::new(),
    };
    // Both servers' followers have read where the feed stands.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    // Tickets written without any server, as `tuki mail ingest` does: one
    // in a group Tia is not in, which she does not hear of (its number
    // would tell her of a ticket she gets a 404 for), then one in hers.
    let requester = app.user(Role::Customer, "cora@customer.test", None).await;
    let hidden = app
        .ticket(requester.id, Some(elsewhere), "Server room")
        .await;
    let t = app
        .store
        .create_ticket(
            &Actor::system(),
            tuki_store::tickets::NewTicket {
                subject: "Printer offline".into(),
                body: "Since this morning.".into(),
                requester_id: Some(requester.id),
                channel: None,
                category: None,
                priority: None,
                group_id: None,
                owner_id: None,
                tags: vec![],
                article_kind: None,
                asset_id: None,
            },
        )
        .await
        .unwrap();
    console.hears("ticket", &t.number.to_string()).await;
    assert!(
        !console
            .buffer
            .contains(&format!("data: {}\n", hidden.number)),
        "{:?}",
        console.buffer
    );

    // A call rings the agent through the first server; the console on the
    // second pops it up, and hears when it ends.
    let (status, call) = app
        .json(
            Some(&phone),
            reqwest::Method::POST,
            "/api/v1/cti/events",
            Some(serde_json::json!({
                "event": "newCall", "call_id": "c-1", "direction": "in",
                "from": "+358401234567", "to": "+35891234567", "user": "tia@desk.test"
            })),
        )
        .await;
    assert_eq!(status, 200, "{call}");
    let id = call["id"].as_i64().unwrap().to_string();
    assert_eq!(call["agent_id"].as_i64(), actor.user_id, "{call}");
    console.hears("call", &id).await;
    let (status, _) = app
        .json(
            Some(&phone),
            reqwest::Method::POST,
            "/api/v1/cti/events",
            Some(serde_json::json!({ "event": "hangup", "call_id": "c-1", "cause": "cancel" })),
        )
        .await;
    assert_eq!(status, 200);
    console.hears("hangup", &id).await;
    // Heard once each, though both servers follow the feed.
    assert_eq!(
        console
            .buffer
            .matches(&format!("event: call\ndata: {id}\n"))
            .count(),
        1
    );
}

tuki_store::on_both_engines!(consoles_hear_of_changes_made_elsewhere);
