//! Search over HTTP: the API's ranked results and errors, the console's
//! search page and the portal's, each with the caller's own visibility.

use reqwest::Method;
use serde_json::json;
use tuki_domain::directory::{Language, Role};
use tuki_store::testing::TestDb;

use crate::spawn_app;

async fn search_api_and_pages(db: TestDb) {
    let app = spawn_app(db).await;
    let admin = app.user(Role::Admin, "admin@desk.test", None).await;
    let org = app.org("Kylmä Oy", false).await;
    let other_org = app.org("Muu Oy", false).await;
    let customer = app
        .user(Role::Customer, "asiakas@kylma.test", Some(org))
        .await;
    let stranger = app
        .user(Role::Customer, "vieras@muu.test", Some(other_org))
        .await;
    let fridge = app.ticket(customer.id, None, "Jääkaappi ei kylmennä").await;
    let theirs = app.ticket(stranger.id, None, "Jääkaapin ovi").await;
    let (s, _) = app
        .json(
            Some(&admin),
            Method::POST,
            &format!("/api/v1/tickets/{}/articles", fridge.id),
            Some(json!({"kind": "note", "body": "Kompressori vaihdettu, osa KX-77"})),
        )
        .await;
    assert_eq!(s, 201);

    // Staff: both tickets, by any form of the word; the internal note.
    let (s, body) = app
        .json(
            Some(&admin),
            Method::GET,
            "/api/v1/search?q=j%C3%A4%C3%A4kaappi%20",
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let numbers: Vec<i64> = body["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["ticket"]["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers.len(), 2, "{body}");
    let (_, body) = app
        .json(Some(&admin), Method::GET, "/api/v1/search?q=kx-77", None)
        .await;
    assert_eq!(body["tickets"][0]["ticket"]["id"], fridge.id);
    let marked: Vec<&str> = body["tickets"][0]["snippet"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["hit"] == true)
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(marked, ["KX", "77"]);
    // People and organisations for staff.
    let (_, body) = app
        .json(Some(&admin), Method::GET, "/api/v1/search?q=kylma", None)
        .await;
    assert_eq!(body["customers"][0]["kind"], "organisation", "{body}");
    assert_eq!(body["customers"][0]["id"], org);

    // The customer: their own ticket only, never by the internal note.
    let (_, body) = app
        .json(
            Some(&customer),
            Method::GET,
            "/api/v1/search?q=jaakaappi",
            None,
        )
        .await;
    let ids: Vec<i64> = body["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["ticket"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [fridge.id]);
    assert!(!ids.contains(&theirs.id));
    assert_eq!(body["customers"], json!([]));
    let (_, body) = app
        .json(
            Some(&customer),
            Method::GET,
            "/api/v1/search?q=kompressori",
            None,
        )
        .await;
    assert_eq!(body["tickets"], json!([]));

    // The ticket list's q is the same full text.
    let (s, body) = app
        .json(
            Some(&admin),
            Method::GET,
            "/api/v1/tickets?q=kompressori",
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["items"][0]["id"], fridge.id);

    // Mistakes name their field; none is a 500.
    for (path, field) in [
        ("/api/v1/search", "q"),
        ("/api/v1/search?q=%3F%21", "q"),
        ("/api/v1/search?q=a%00b", "q"),
        ("/api/v1/search?q=x&limit=101", "limit"),
        ("/api/v1/search?q=x&offset=-1", "offset"),
        ("/api/v1/search?q=x&created_from=yesterday", "created_from"),
        ("/api/v1/search?q=x&state=lost", "state"),
        ("/api/v1/tickets?created_before=1.12.2026", "created_before"),
    ] {
        let (s, body) = app.json(Some(&admin), Method::GET, path, None).await;
        assert_eq!(s, 422, "{path}: {body}");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
    }
    let (s, _) = app
        .json(None, Method::GET, "/api/v1/search?q=x", None)
        .await;
    assert_eq!(s, 401);
    // Dates filter.
    let (_, body) = app
        .json(
            Some(&admin),
            Method::GET,
            "/api/v1/search?q=jaakaappi&created_from=2999-01-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(body["tickets"], json!([]));

    // The console's search page: results with marked words, escaped.
    let (agent, _) = app
        .signed_in(Role::Admin, "paaja@desk.test", Language::Fi)
        .await;
    let (s, html) = agent.get("/agent/search?q=kompressori").await;
    assert_eq!(s, 200);
    assert!(html.contains("<mark>Kompressori</mark>"), "{html}");
    assert!(html.contains(&format!("/agent/tickets/{}", fridge.number)));
    let (s, html) = agent.get("/agent/search?q=%3F%21&group=&state=").await;
    assert_eq!(s, 200);
    assert!(html.contains("Kirjoita vähintään yksi"), "{html}");
    let (s, html) = agent.get("/agent/search?q=kaappi&from=1.1.2026").await;
    assert_eq!(s, 200);
    assert!(html.contains("VVVV-KK-PP"), "{html}");
    let (_, html) = agent
        .get("/agent/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        .await;
    assert!(!html.contains("<script>alert(1)"));

    // The portal: the customer's own requests.
    let (browser, me) = app
        .signed_in(Role::Customer, "toinen@kylma.test", Language::Fi)
        .await;
    let mine = app
        .ticket(me.user_id.unwrap(), None, "Pakastimen jääkaappiosa vuotaa")
        .await;
    let (s, html) = browser.get("/portal?q=jaakaappi").await;
    assert_eq!(s, 200);
    assert!(
        html.contains(&format!("/portal/tickets/{}", mine.number)),
        "{html}"
    );
    // Not this customer's own, and their organisation does not share.
    assert!(!html.contains(&format!("/portal/tickets/{}", fridge.number)));
    assert!(!html.contains(&format!("/portal/tickets/{}", theirs.number)));
}

tuki_store::on_both_engines!(search_api_and_pages);
