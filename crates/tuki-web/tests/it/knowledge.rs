//! The knowledge base over HTTP: the API (write, revise, publish, read as
//! staff, customer and nobody; feedback, use, suggestions, settings), the
//! console's pages (write, publish, history with a diff, the ticket page's
//! suggestion and "insert solution"), and the help pages (without signing
//! in only where the desk allows it; "This solved my problem").

use reqwest::header::{COOKIE, LOCATION};
use reqwest::Method;
use serde_json::{json, Value};
use tuki_domain::directory::{Language, Role};
use tuki_store::testing::TestDb;

use crate::spawn_app;

fn article(title: &str, symptom: &str, solution: &str, visibility: &str) -> Value {
    json!({
        "title": title, "symptom": symptom, "solution": solution,
        "products": ["printer"], "category": "Printing",
        "language": "fi", "visibility": visibility,
    })
}

async fn knowledge_api_and_pages(db: TestDb) {
    let app = spawn_app(db).await;
    let admin = app.user(Role::Admin, "admin@desk.test", None).await;
    let agent = app.user(Role::Agent, "agent@desk.test", None).await;
    let org = app.org("Kylmä Oy", false).await;
    let customer = app
        .user(Role::Customer, "asiakas@kylma.test", Some(org))
        .await;

    // Written as a draft, revised, published.
    let (s, a) = app
        .json(
            Some(&agent),
            Method::POST,
            "/api/v1/knowledge",
            Some(article(
                "Tulostimen paperitukos",
                "Tulostin pysähtyy ja näyttää virheen **E15**.",
                "1. Avaa takaluukku\n2. Poista rypistynyt arkki",
                "public",
            )),
        )
        .await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(a["state"], "draft");
    let id = a["id"].as_i64().unwrap();
    let mut changed = article(
        "Tulostimen paperitukos",
        "Tulostin pysähtyy ja näyttää virheen **E15**.",
        "1. Avaa takaluukku\n2. Poista rypistynyt arkki\n3. Sulje luukku",
        "public",
    );
    changed["base_revision"] = json!(1);
    let (s, b) = app
        .json(
            Some(&agent),
            Method::PUT,
            &format!("/api/v1/knowledge/{id}"),
            Some(changed.clone()),
        )
        .await;
    assert_eq!((s, b["revision"].as_i64()), (200, Some(2)), "{b}");
    // The same edit on revision 1 again: someone else's change is not lost.
    changed["solution"] = json!("toinen");
    let (s, e) = app
        .json(
            Some(&admin),
            Method::PUT,
            &format!("/api/v1/knowledge/{id}"),
            Some(changed),
        )
        .await;
    assert_eq!(
        (s, &e["error"]["field"]),
        (409, &json!("base_revision")),
        "{e}"
    );
    let (s, _) = app
        .json(
            Some(&agent),
            Method::POST,
            &format!("/api/v1/knowledge/{id}/state"),
            Some(json!({"state": "published"})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, diff) = app
        .json(
            Some(&agent),
            Method::GET,
            &format!("/api/v1/knowledge/{id}/revisions/2"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert!(diff["lines"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["change"] == "added" && l["text"] == "3. Sulje luukku"));

    // An internal article: staff only.
    let (_, internal) = app
        .json(
            Some(&agent),
            Method::POST,
            "/api/v1/knowledge",
            Some(article(
                "Tulostimen huoltotila",
                "Tulostin jumittuu logoon.",
                "Huoltokoodi 4711.",
                "internal",
            )),
        )
        .await;
    let internal_id = internal["id"].as_i64().unwrap();
    app.json(
        Some(&agent),
        Method::POST,
        &format!("/api/v1/knowledge/{internal_id}/state"),
        Some(json!({"state": "published"})),
    )
    .await;
    let (s, _) = app
        .json(
            Some(&customer),
            Method::GET,
            &format!("/api/v1/knowledge/{internal_id}"),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, hits) = app
        .json(
            Some(&customer),
            Method::GET,
            "/api/v1/knowledge?q=tulostin",
            None,
        )
        .await;
    assert_eq!(s, 200);
    let ids: Vec<i64> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["article"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [id]);
    let (s, e) = app
        .json(
            Some(&customer),
            Method::POST,
            "/api/v1/knowledge",
            Some(article("x", "y", "z", "public")),
        )
        .await;
    assert_eq!(s, 403, "{e}");
    // Mistakes name the field.
    for (body, field) in [
        (article("", "y", "z", "public"), "title"),
        (
            json!({"title": "x", "symptom": "y", "language": "sv", "visibility": "public"}),
            "language",
        ),
        (
            json!({"title": "x", "symptom": "y", "language": "fi", "visibility": "public", "owner_id": 999999}),
            "owner_id",
        ),
    ] {
        let (s, e) = app
            .json(Some(&agent), Method::POST, "/api/v1/knowledge", Some(body))
            .await;
        assert_eq!((s, &e["error"]["field"]), (422, &json!(field)), "{e}");
    }

    // Feedback and use in a reply, suggestions for a ticket.
    let (s, fb) = app
        .json(
            Some(&customer),
            Method::POST,
            &format!("/api/v1/knowledge/{id}/feedback"),
            Some(json!({"helpful": true})),
        )
        .await;
    assert_eq!((s, fb["helpful"].as_i64()), (200, Some(1)));
    let t = app
        .ticket(customer.id, None, "Paperi jumissa tulostimessa, virhe E15")
        .await;
    let (s, suggested) = app
        .json(
            Some(&admin),
            Method::GET,
            &format!("/api/v1/tickets/{}/suggestions", t.id),
            None,
        )
        .await;
    assert_eq!(s, 200, "{suggested}");
    assert_eq!(suggested[0]["article"]["id"], id, "{suggested}");
    let (s, used) = app
        .json(
            Some(&admin),
            Method::POST,
            &format!("/api/v1/knowledge/{id}/use"),
            Some(json!({"ticket_id": t.id})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(used["public"], true);

    // Settings: administrators only; origins checked.
    let (s, _) = app
        .json(
            Some(&agent),
            Method::GET,
            "/api/v1/knowledge-settings",
            None,
        )
        .await;
    assert_eq!(s, 403);
    let (s, e) = app
        .json(
            Some(&admin),
            Method::PUT,
            "/api/v1/knowledge-settings",
            Some(json!({"public_without_sign_in": false, "widget_origins": ["not an origin"]})),
        )
        .await;
    assert_eq!((s, &e["error"]["field"]), (422, &json!("widget_origins")));

    // The console: the ticket page's suggestion, inserted into the reply.
    let (browser, _) = app
        .signed_in(Role::Admin, "tuki@desk.test", Language::Fi)
        .await;
    let (s, html) = browser
        .get(&format!("/agent/tickets/{}/similar", t.number))
        .await;
    assert_eq!(s, 200);
    assert!(html.contains(&format!("/agent/knowledge/{id}")), "{html}");
    assert!(html.contains("Lisää ratkaisu vastaukseen"), "{html}");
    let res = browser
        .client
        .post(format!(
            "{}/agent/tickets/{}/knowledge/{id}",
            app.base, t.number
        ))
        .header(COOKIE, &browser.cookie)
        .header("x-tuki-insert", "1")
        .form(&[("csrf", browser.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.starts_with("1. Avaa takaluukku"), "{text}");
    assert!(text.contains(&format!("/help/{id}")), "{text}");
    // Without the page's script: the ticket opens with the reply filled.
    let res = browser
        .send_form(
            &format!("/agent/tickets/{}/knowledge/{id}", t.number),
            &[],
            true,
        )
        .await;
    assert_eq!(res.status(), 303);
    let to = res.headers()[LOCATION].to_str().unwrap().to_string();
    let (_, html) = browser.get(to.trim_end_matches("#composer")).await;
    assert!(
        html.contains("3. Sulje luukku\n\nTulostimen paperitukos: http"),
        "{html}"
    );
    let (_, a) = app
        .json(
            Some(&admin),
            Method::GET,
            &format!("/api/v1/knowledge/{id}"),
            None,
        )
        .await;
    assert_eq!(a["uses"], 3);

    // Writing through the pages: a mistake is shown on the form.
    let (s, html) = browser
        .post(
            "/agent/knowledge/new",
            &[
                ("title", ""),
                ("symptom", "x"),
                ("language", "fi"),
                ("visibility", "public"),
            ],
            true,
        )
        .await;
    assert_eq!(s, 422);
    assert!(html.contains("Otsikko"), "{html}");
    let res = browser
        .send_form(
            "/agent/knowledge/new",
            &[
                ("title", "Näyttö välkkyy"),
                ("symptom", "Kuva välkkyy <script>alert(1)</script>"),
                ("solution", "Vaihda kaapeli."),
                ("products", "näyttö, kaapeli"),
                ("language", "fi"),
                ("visibility", "public"),
                ("review_by", "2027-06-01"),
            ],
            true,
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = res.headers()[LOCATION].to_str().unwrap().to_string();
    let (s, html) = browser.get(&page).await;
    assert_eq!(s, 200);
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(html.contains("2027-06-01"), "{html}");
    let new_id: i64 = page.rsplit('/').next().unwrap().parse().unwrap();
    let (s, _) = browser
        .post(
            &format!("/agent/knowledge/{new_id}/state"),
            &[("state", "published")],
            true,
        )
        .await;
    assert_eq!(s, 303);
    // A file added with an edit is listed and served with its article.
    let res = crate::files::post_file(
        &browser,
        &format!("/agent/knowledge/{new_id}/edit"),
        &[
            ("title", "Näyttö välkkyy"),
            ("symptom", "Kuva välkkyy."),
            ("solution", "Vaihda kaapeli."),
            ("language", "fi"),
            ("visibility", "public"),
        ],
        b"cable diagram",
    )
    .await;
    assert_eq!(res.status(), 303);
    let (_, html) = browser.get(&page).await;
    assert!(html.contains("log.txt"), "{html}");
    let file_url = html
        .replace("&#x2f;", "/")
        .split("href=\"")
        .find(|p| p.starts_with("/knowledge/files/"))
        .and_then(|p| p.split('"').next())
        .unwrap()
        .to_string();
    let (s, body) = browser.get(&file_url).await;
    assert_eq!((s.as_u16(), body.as_str()), (200, "cable diagram"));
    let (s, html) = browser
        .get(&format!("/agent/knowledge/{new_id}/revisions"))
        .await;
    assert_eq!(s, 200);
    assert!(html.contains("Historia"), "{html}");
    let (s, html) = browser.get("/agent/knowledge?q=valkkyy").await;
    assert_eq!(s, 200);
    assert!(
        html.contains(&format!("/agent/knowledge/{new_id}")),
        "{html}"
    );
    // A form without its token is refused.
    let (s, _) = browser
        .post(
            &format!("/agent/knowledge/{new_id}/state"),
            &[("state", "archived")],
            false,
        )
        .await;
    assert_eq!(s, 403);

    // Help pages: sign-in first, until the desk opens them to everyone.
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = anonymous
        .get(format!("{}/help", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    app.json(
        Some(&admin),
        Method::PUT,
        "/api/v1/knowledge-settings",
        Some(json!({"public_without_sign_in": true, "widget_origins": []})),
    )
    .await;
    let res = anonymous
        .get(format!("{}/help?q=tulostin", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains(&format!("/help/{id}")), "{html}");
    assert!(!html.contains(&format!("/help/{internal_id}")), "{html}");
    let res = anonymous
        .get(format!("{}/help/{internal_id}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = anonymous
        .get(format!("{}/help/{id}", app.base))
        .send()
        .await
        .unwrap();
    let html = res.text().await.unwrap();
    assert!(html.contains("<li>Avaa takaluukku</li>"), "{html}");
    // Feedback without a session: only from Tuki's own pages.
    let res = anonymous
        .post(format!("{}/help/{id}/feedback", app.base))
        .header("origin", "https://evil.example")
        .form(&[("helpful", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = anonymous
        .post(format!("{}/help/{id}/feedback", app.base))
        .header("sec-fetch-site", "same-origin")
        .form(&[("helpful", "no")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    // The portal: suggestions while writing, and "This solved my problem".
    let (portal, _) = app
        .signed_in(Role::Customer, "toinen@kylma.test", Language::Fi)
        .await;
    let (s, html) = portal
        .get("/portal/new/suggest?subject=Tulostimessa%20virhe%20E15&body=pys%C3%A4htyy%20kesken")
        .await;
    assert_eq!(s, 200);
    assert!(html.contains(&format!("/portal/solved/{id}")), "{html}");
    assert!(
        !html.contains(&format!("/portal/solved/{internal_id}")),
        "{html}"
    );
    let res = portal
        .send_form(&format!("/portal/solved/{id}"), &[], true)
        .await;
    assert_eq!(res.status(), 303);
    let (_, html) = portal.get("/portal?solved=1").await;
    assert!(html.contains("Pyyntöä ei lähetetty"), "{html}");
    let (_, a) = app
        .json(
            Some(&admin),
            Method::GET,
            &format!("/api/v1/knowledge/{id}"),
            None,
        )
        .await;
    assert_eq!(a["deflections"], 1);
    assert_eq!(a["not_helpful"], 1);
}

tuki_store::on_both_engines!(knowledge_api_and_pages);
