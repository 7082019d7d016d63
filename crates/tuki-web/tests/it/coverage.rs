//! Who pays over the API: products, rate cards and contracts as
//! administered resources, devices registered by customers, the coverage of
//! a request and time booked on it; bad input is a 4xx naming the field.

use reqwest::Method;
use serde_json::{json, Value};
use tuki_domain::directory::Role;
use tuki_store::testing::TestDb;

use crate::spawn_app;

fn field(v: &Value) -> &str {
    v["error"]["field"].as_str().unwrap_or_default()
}

async fn a_customer_registers_a_device_and_the_request_is_covered(db: TestDb) {
    let app = spawn_app(db).await;
    let org = app.org("Kauppa Oy", false).await;
    let admin = app.user(Role::Admin, "admin@desk.test", None).await;
    let agent = app.user(Role::Agent, "agent@desk.test", None).await;
    app.group("Desk", 1, vec![agent.id], true).await;
    let customer = app
        .user(Role::Customer, "asiakas@kauppa.test", Some(org))
        .await;
    let other_org = app.org("Muu Oy", false).await;
    let other = app
        .user(Role::Customer, "muu@muu.test", Some(other_org))
        .await;

    let (s, product) = app
        .json(Some(&admin), Method::POST, "/api/v1/products", Some(json!({"name": "WM-800", "manufacturer": "Pesu", "category": "Pesukoneet", "warranty_months": 24})))
        .await;
    assert_eq!(s, 201, "{product}");
    let (s, card) = app
        .json(Some(&admin), Method::POST, "/api/v1/rate-cards", Some(json!({"name": "Perus", "hourly_cents": 9000, "on_call_surcharge_percent": 50, "is_default": true})))
        .await;
    assert_eq!(s, 201, "{card}");
    assert_eq!(card["vat_basis_points"], 2550);
    assert_eq!(card["minimum_unit_minutes"], 15);
    // Customers neither manage nor read rates.
    let (s, _) = app
        .json(Some(&customer), Method::GET, "/api/v1/rate-cards", None)
        .await;
    assert_eq!(s, 403);

    // Bad input names its field.
    for (body, f, status) in [
        (
            json!({"serial": "WM-1", "product_id": product["id"], "purchased_on": "31.2.2026"}),
            "purchased_on",
            422,
        ),
        (
            json!({"serial": "WM-1", "product_id": 9999}),
            "product_id",
            422,
        ),
        (json!({"serial": "-"}), "serial", 422),
        (
            json!({"serial": "WM-1", "warranty_until": "2030-01-01"}),
            "",
            403,
        ),
    ] {
        let (s, e) = app
            .json(Some(&customer), Method::POST, "/api/v1/assets", Some(body))
            .await;
        assert_eq!(s, status, "{e}");
        assert_eq!(field(&e), f, "{e}");
    }
    let (s, e) = app
        .json(
            Some(&admin),
            Method::POST,
            "/api/v1/rate-cards",
            Some(json!({"name": "X", "hourly_cents": 1, "vat_basis_points": 12000})),
        )
        .await;
    assert_eq!((s, field(&e)), (422, "vat_basis_points"), "{e}");
    let (s, e) = app
        .json(Some(&admin), Method::POST, "/api/v1/contracts", Some(json!({"name": "C", "organisation_id": org, "kind": "hour_bank", "starts_on": "2026-01-01", "ends_on": "eilen", "included_minutes": 600, "covers": {"everything": true}})))
        .await;
    assert_eq!((s, field(&e)), (422, "ends_on"), "{e}");

    let today = jiff::Zoned::now().date();
    let (s, device) = app
        .json(Some(&customer), Method::POST, "/api/v1/assets", Some(json!({"serial": "WM-1001", "product_id": product["id"], "purchased_on": today.to_string(), "purchased_from": "Kodinkone"})))
        .await;
    assert_eq!(s, 201, "{device}");
    let (s, e) = app
        .json(
            Some(&customer),
            Method::POST,
            "/api/v1/assets",
            Some(json!({"serial": "wm 1001"})),
        )
        .await;
    assert_eq!((s, field(&e)), (409, "serial"), "{e}");
    let (s, _) = app
        .json(
            Some(&other),
            Method::GET,
            &format!("/api/v1/assets/{}", device["id"]),
            None,
        )
        .await;
    assert_eq!(s, 404);

    let (s, t) = app
        .json(Some(&customer), Method::POST, "/api/v1/tickets", Some(json!({"subject": "Ei linkoa", "body": "Rumpu ei pyöri.", "asset_id": device["id"]})))
        .await;
    assert_eq!(s, 201, "{t}");
    let (s, c) = app
        .json(
            Some(&customer),
            Method::GET,
            &format!("/api/v1/tickets/{}/coverage?lang=fi", t["id"]),
            None,
        )
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["kind"], "warranty");
    assert_eq!(c["asset_serial"], "WM-1001");
    assert!(
        c["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("Laitteen WM-1001 takuu on voimassa"),
        "{c}"
    );
    let (s, _) = app
        .json(
            Some(&other),
            Method::GET,
            &format!("/api/v1/tickets/{}/coverage", t["id"]),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, e) = app
        .json(
            Some(&customer),
            Method::PUT,
            &format!("/api/v1/tickets/{}/coverage", t["id"]),
            Some(json!({"kind": "billable", "reason": "no"})),
        )
        .await;
    assert_eq!(s, 403, "{e}");
    let (s, c) = app
        .json(
            Some(&agent),
            Method::PUT,
            &format!("/api/v1/tickets/{}/coverage", t["id"]),
            Some(json!({"kind": "billable", "reason": "Dropped on the floor"})),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(
        (c["kind"].as_str(), c["decided_kind"].as_str()),
        (Some("billable"), Some("warranty"))
    );
}

async fn time_on_a_contract_request_draws_its_balance(db: TestDb) {
    let app = spawn_app(db).await;
    let org = app.org("Sopimus Oy", true).await;
    let admin = app.user(Role::Admin, "admin@desk.test", None).await;
    let agent = app.user(Role::Agent, "agent@desk.test", None).await;
    app.group("Desk", 1, vec![agent.id], true).await;
    let customer = app.user(Role::Customer, "it@sopimus.test", Some(org)).await;
    let year = jiff::Zoned::now().date().year();
    let (s, contract) = app
        .json(
            Some(&admin),
            Method::POST,
            "/api/v1/contracts",
            Some(json!({
            "name": "Tukipankki", "organisation_id": org, "kind": "hour_bank",
            "starts_on": format!("1.1.{year}"), "ends_on": format!("31.12.{year}"),
            "included_minutes": 120, "covers": {"everything": true}})),
        )
        .await;
    assert_eq!(s, 201, "{contract}");
    assert_eq!(contract["minutes_left"], 120);
    let (s, t) = app
        .json(
            Some(&customer),
            Method::POST,
            "/api/v1/tickets",
            Some(json!({"subject": "Palvelin hidas", "body": "Kaikki on hidasta."})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let path = format!("/api/v1/tickets/{}/time-entries", t["id"]);
    for (body, f) in [
        (json!({"minutes": -10}), "minutes"),
        (json!({"minutes": 0}), "minutes"),
        (json!({"minutes": 5000}), "minutes"),
        (json!({"minutes": "paljon"}), "minutes"),
    ] {
        let (s, e) = app
            .json(Some(&agent), Method::POST, &path, Some(body))
            .await;
        assert_eq!((s, field(&e)), (422, f), "{e}");
    }
    let (s, e) = app
        .json(
            Some(&customer),
            Method::POST,
            &path,
            Some(json!({"minutes": 10})),
        )
        .await;
    assert_eq!(s, 403, "{e}");
    let (s, entry) = app
        .json(
            Some(&agent),
            Method::POST,
            &path,
            Some(json!({"minutes": 90, "note": "Levyt vaihdettu"})),
        )
        .await;
    assert_eq!(s, 201, "{entry}");
    assert_eq!(entry["balance_after"], 30);
    let (s, e) = app
        .json(
            Some(&agent),
            Method::POST,
            &path,
            Some(json!({"minutes": 45})),
        )
        .await;
    assert_eq!((s, field(&e)), (409, "minutes"), "{e}");
    // The customer reads the balance, not the rates.
    let (s, balances) = app
        .json(
            Some(&customer),
            Method::GET,
            &format!("/api/v1/organisations/{org}/contracts"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{balances}");
    assert_eq!(balances[0]["minutes_left"], 30);
    assert!(balances[0].get("rate_card_id").is_none());
    let (s, c) = app
        .json(
            Some(&customer),
            Method::GET,
            &format!("/api/v1/tickets/{}/coverage", t["id"]),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        (c["kind"].as_str(), c["minutes_left"].as_i64()),
        (Some("contract"), Some(30))
    );
    let (s, list) = app.json(Some(&agent), Method::GET, &path, None).await;
    assert_eq!((s, list.as_array().unwrap().len()), (200, 1));
    let (s, _) = app
        .json(
            Some(&agent),
            Method::DELETE,
            &format!("{path}/{}", entry["id"]),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, c) = app
        .json(
            Some(&admin),
            Method::GET,
            &format!("/api/v1/contracts/{}", contract["id"]),
            None,
        )
        .await;
    assert_eq!(c["minutes_left"], 120);
}

/// A customer of `org` signed in to the portal.
async fn customer_browser(app: &crate::App, email: &str, org: i64) -> crate::Browser {
    use tuki_domain::access::Actor;
    let u = app
        .store
        .create_user(
            &Actor::system(),
            tuki_store::directory::NewUser {
                email: email.into(),
                name: "Asiakas".into(),
                phone: None,
                role: Some(Role::Customer),
                language: Some(tuki_domain::directory::Language::En),
                organisation_id: Some(org),
                password: None,
            },
        )
        .await
        .unwrap();
    let s = app.store.create_session(u.id).await.unwrap();
    crate::Browser {
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: app.base.clone(),
        cookie: format!("tuki_session={}", s.token),
        csrf: s.csrf,
    }
}

/// Who pays on the pages: administration with Finnish numbers and dates, a
/// device registered in the portal with its receipt, the request's line
/// "Covered by warranty until …", and an agent booking time on a contract
/// customer's request.
async fn who_pays_on_the_pages(db: TestDb) {
    use tuki_domain::directory::Language;
    use tuki_store::coverage::{Contracts, Products, RateCards};
    let app = spawn_app(db).await;
    let (admin, admin_actor) = app
        .signed_in(Role::Admin, "ada@desk.test", Language::En)
        .await;
    let org = app.org("Laite Oy", false).await;

    let (s, page) = admin
        .post(
            "/admin/products",
            &[
                ("name", "WM-800"),
                ("manufacturer", "Pesu"),
                ("category", "Pesukoneet"),
                ("warranty_months", "24"),
            ],
            true,
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{page}");
    assert!(page.contains("WM-800 was added."), "{page}");
    let (s, page) = admin
        .post(
            "/admin/rate-cards",
            &[
                ("name", "Perus"),
                ("hourly", "92,50"),
                ("on_call_surcharge_percent", "50"),
                ("call_out_fee", "45"),
                ("minimum_unit_minutes", "15"),
                ("vat", "25,5"),
                ("is_default", "1"),
            ],
            true,
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{page}");
    let card = &app.store.list::<RateCards>(&admin_actor).await.unwrap()[0];
    assert_eq!(
        (
            card.hourly_cents,
            card.call_out_fee_cents,
            card.vat_basis_points
        ),
        (9250, 4500, 2550)
    );
    assert!(page.contains("€92.50"), "{page}");

    let year = jiff::Zoned::now().date().year();
    let org_s = org.to_string();
    let mut contract = vec![
        ("name", "Tukipankki"),
        ("organisation_id", org_s.as_str()),
        ("kind", "hour_bank"),
        ("starts_on", "1.1.2000"),
        ("ends_on", "31.13.2000"),
        ("included_hours", "2,5"),
        ("everything", "1"),
        ("response", "business_hours"),
    ];
    let (s, page) = admin.post("/admin/contracts", &contract, true).await;
    assert_eq!(s, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(
        page.contains(r#"aria-describedby="ends_on-error""#),
        "{page}"
    );
    let starts = format!("1.1.{year}");
    let ends = format!("31.12.{year}");
    contract[3] = ("starts_on", &starts);
    contract[4] = ("ends_on", &ends);
    let (s, page) = admin.post("/admin/contracts", &contract, true).await;
    assert_eq!(s, reqwest::StatusCode::OK, "{page}");
    let c = &app.store.list::<Contracts>(&admin_actor).await.unwrap()[0];
    assert_eq!(c.included_minutes, 150);

    // A customer of another organisation registers a device with its receipt.
    let other_org = app.org("Koti", false).await;
    let customer = customer_browser(&app, "koti@koti.test", other_org).await;
    let product = app.store.list::<Products>(&admin_actor).await.unwrap()[0]
        .id
        .to_string();
    let today = jiff::Zoned::now().date();
    let bought = format!("{}.{}.{}", today.day(), today.month(), today.year());
    let res = crate::files::post_file(
        &customer,
        "/portal/devices",
        &[
            ("serial", "WM-5005"),
            ("product_id", &product),
            ("purchased_on", &bought),
            ("purchased_from", "Kodinkone"),
        ],
        b"%PDF-1.4 receipt",
    )
    .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("Device WM-5005 was registered."), "{page}");
    assert!(page.contains("/receipt\">log.txt</a>"), "{page}");
    let device = app
        .store
        .assets(&admin_actor, &Default::default())
        .await
        .unwrap()[0]
        .clone();
    let (s, receipt) = customer
        .get(&format!("/devices/{}/receipt", device.id))
        .await;
    assert_eq!(
        (s, receipt.as_str()),
        (reqwest::StatusCode::OK, "%PDF-1.4 receipt")
    );
    let (_, form) = customer.get("/portal/new").await;
    assert!(
        form.contains(&format!(
            r#"<option value="{}" >WM-5005 – WM-800</option>"#,
            device.id
        )) || form.contains("WM-5005 – WM-800"),
        "{form}"
    );
    let device_id = device.id.to_string();
    let res = customer
        .send_form(
            "/portal/new",
            &[
                ("subject", "Ei linkoa"),
                ("body", "Rumpu ei pyöri."),
                ("asset_id", &device_id),
            ],
            true,
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
    let to = res.headers()["location"].to_str().unwrap().to_string();
    let (_, page) = customer.get(&to).await;
    let until = tuki_domain::coverage::show_date(device.warranty_until.unwrap(), Language::En);
    assert!(
        page.contains(&format!("Covered by warranty until {until}")),
        "{page}"
    );

    // An agent books time on the contract customer's request; the balance drops.
    let (agent, agent_actor) = app
        .signed_in(Role::Agent, "agent@desk.test", Language::En)
        .await;
    app.group("Desk", 1, vec![agent_actor.user_id.unwrap()], true)
        .await;
    let contract_customer = customer_browser(&app, "it@laite.test", org).await;
    let res = contract_customer
        .send_form(
            "/portal/new",
            &[("subject", "Palvelin"), ("body", "Hidas.")],
            true,
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
    let number: i64 = res.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (s, bx) = agent
        .get(&format!("/agent/tickets/{number}/coverage"))
        .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{bx}");
    assert!(
        bx.contains("Covered by contract Tukipankki, 2 h 30 min left"),
        "{bx}"
    );
    let (s, page) = agent
        .post(
            &format!("/agent/tickets/{number}/time"),
            &[
                ("minutes", "45"),
                ("note", "Levy vaihdettu"),
                ("billable", "1"),
            ],
            true,
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::SEE_OTHER, "{page}");
    let (_, bx) = agent
        .get(&format!("/agent/tickets/{number}/coverage"))
        .await;
    assert!(
        bx.contains("Covered by contract Tukipankki, 1 h 45 min left"),
        "{bx}"
    );
    assert!(bx.contains("Levy vaihdettu"), "{bx}");
    // Past the balance the page says so, next to nothing booked.
    let (s, page) = agent
        .post(
            &format!("/agent/tickets/{number}/time"),
            &[("minutes", "600"), ("billable", "1")],
            true,
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::CONFLICT, "{page}");
    assert!(page.contains("1 h 45 min left"), "{page}");
    // The customer never reaches the agents' box.
    let (s, _) = contract_customer
        .get(&format!("/agent/tickets/{number}/coverage"))
        .await;
    assert!(s.is_client_error() || s.is_redirection(), "{s}");
}

tuki_store::on_both_engines!(
    a_customer_registers_a_device_and_the_request_is_covered,
    time_on_a_contract_request_draws_its_balance,
    who_pays_on_the_pages,
    the_technicians_calendar_feed_reads_in_a_real_parser,
    the_import_page_reports_rows_and_imports_when_asked,
    staff_find_and_edit_devices,
    phone_intake_names_the_device_by_serial,
);

/// A visit planned from a ticket appears in the technician's calendar feed,
/// read by a real iCalendar parser (PyPI's `icalendar`); moving it updates
/// the event, a new address stops the old one.
async fn the_technicians_calendar_feed_reads_in_a_real_parser(db: TestDb) {
    let app = spawn_app(db).await;
    let tech = app.user(Role::Agent, "tech@desk.test", None).await;
    app.group("Field", 1, vec![tech.id], true).await;
    let org = app.org("Asiakas Oy", false).await;
    let customer = app.user(Role::Customer, "c@asiakas.test", Some(org)).await;
    let (_, t) = app
        .json(
            Some(&customer),
            Method::POST,
            "/api/v1/tickets",
            Some(json!({"subject": "Pesukone vuotaa; lattia märkä", "body": "Vettä, paljon."})),
        )
        .await;
    let path = format!("/api/v1/tickets/{}/visits", t["id"]);
    let visit = json!({"technician_id": tech.id, "starts_at": "2026-12-02T06:00:00Z", "ends_at": "2026-12-02T08:00:00Z",
        "address": "Hämeenkatu 1, 33100 Tampere", "bring": "Tiiviste, letku; pihdit"});
    let (s, e) = app
        .json(Some(&tech), Method::POST, &path, Some(json!({"technician_id": customer.id, "starts_at": "2026-12-02T06:00:00Z", "ends_at": "2026-12-02T05:00:00Z", "address": "x"})))
        .await;
    assert_eq!((s, field(&e)), (422, "technician_id"), "{e}");
    let (s, e) = app
        .json(Some(&tech), Method::POST, &path, Some(json!({"technician_id": tech.id, "starts_at": "2026-12-02T06:00:00Z", "ends_at": "2026-12-02T05:00:00Z", "address": "x"})))
        .await;
    assert_eq!((s, field(&e)), (422, "ends_at"), "{e}");
    let (s, made) = app
        .json(Some(&tech), Method::POST, &path, Some(visit.clone()))
        .await;
    assert_eq!(s, 201, "{made}");
    let (s, _) = app
        .json(Some(&customer), Method::POST, &path, Some(visit.clone()))
        .await;
    assert_eq!(s, 403);

    let (s, feed) = app
        .json(Some(&tech), Method::POST, "/api/v1/calendar-feed", None)
        .await;
    assert_eq!(s, 201, "{feed}");
    let url = format!("{}{}", app.base, feed["url"].as_str().unwrap());
    let parse = |ics: String| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("feed.ics");
        std::fs::write(&file, ics).unwrap();
        let python = std::env::var("TUKI_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = r#"
import icalendar, json, sys
cal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())
out = []
for e in cal.walk('VEVENT'):
    out.append({'uid': str(e['UID']), 'summary': str(e['SUMMARY']), 'location': str(e['LOCATION']),
                'description': str(e['DESCRIPTION']), 'start': e.decoded('DTSTART').isoformat(),
                'end': e.decoded('DTEND').isoformat(), 'sequence': int(e['SEQUENCE']), 'status': str(e['STATUS'])})
print(json.dumps(out))
"#;
        let out = std::process::Command::new(python)
            .args(["-c", script, file.to_str().unwrap()])
            .output()
            .expect("TUKI_TEST_PYTHON with icalendar (scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/calendar"));
    let events = parse(res.text().await.unwrap());
    assert_eq!(events.as_array().unwrap().len(), 1, "{events}");
    let e = &events[0];
    assert_eq!(
        e["summary"],
        format!("#{} Pesukone vuotaa; lattia märkä", t["number"])
    );
    assert_eq!(e["location"], "Hämeenkatu 1, 33100 Tampere");
    assert_eq!(e["description"], "Tiiviste, letku; pihdit");
    assert_eq!(e["start"], "2026-12-02T06:00:00+00:00");
    assert_eq!(e["status"], "CONFIRMED");

    // Moved and then cancelled: the same event, a higher sequence.
    let mut moved = visit.clone();
    moved["starts_at"] = json!("2026-12-03T10:00:00Z");
    moved["ends_at"] = json!("2026-12-03T11:30:00Z");
    moved["state"] = json!("cancelled");
    let (s, _) = app
        .json(
            Some(&tech),
            Method::PUT,
            &format!("/api/v1/visits/{}", made["id"]),
            Some(moved),
        )
        .await;
    assert_eq!(s, 200);
    let events = parse(
        app.client
            .get(&url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(
        (events[0]["uid"].clone(), events[0]["sequence"].clone()),
        (json!(format!("visit-{}@tuki", made["id"])), json!(1))
    );
    assert_eq!(
        (events[0]["start"].as_str(), events[0]["status"].as_str()),
        (Some("2026-12-03T10:00:00+00:00"), Some("CANCELLED"))
    );

    // A new address; the old one is gone.
    let (_, again) = app
        .json(Some(&tech), Method::POST, "/api/v1/calendar-feed", None)
        .await;
    assert_ne!(again["url"], feed["url"]);
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 404);
}

/// The import page reports every wrong row with its row, column and reason,
/// imports nothing then, and the good rows when asked.
async fn the_import_page_reports_rows_and_imports_when_asked(db: TestDb) {
    use tuki_domain::directory::Language;
    let app = spawn_app(db).await;
    let (admin, actor) = app
        .signed_in(Role::Admin, "ada@desk.test", Language::Fi)
        .await;
    let csv = "nimi;valmistaja;luokka;takuu_kk\r\nKuivain K1;Pesu;Kuivaimet;36\r\nKuivain K2;Pesu;Kuivaimet;kolme\r\n";
    let res = crate::files::post_file(
        &admin,
        "/admin/import",
        &[("kind", "products")],
        csv.as_bytes(),
    )
    .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("Mitään ei tuotu"), "{page}");
    assert!(page.contains("<td>3</td><td>takuu_kk</td>"), "{page}");
    assert!(app
        .store
        .list::<tuki_store::coverage::Products>(&actor)
        .await
        .unwrap()
        .is_empty());
    let res = crate::files::post_file(
        &admin,
        "/admin/import",
        &[("kind", "products"), ("skip_bad", "1")],
        csv.as_bytes(),
    )
    .await;
    let page = res.text().await.unwrap();
    assert!(page.contains("tuotiin 1&#x2f;2 riviä"), "{page}");
    assert_eq!(
        app.store
            .list::<tuki_store::coverage::Products>(&actor)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Staff find devices by serial and override a warranty with a reason.
async fn staff_find_and_edit_devices(db: TestDb) {
    use tuki_domain::directory::Language;
    let app = spawn_app(db).await;
    let (agent, actor) = app
        .signed_in(Role::Agent, "agent@desk.test", Language::En)
        .await;
    let org = app.org("Laite Oy", false).await;
    let a = app
        .store
        .register_asset(
            &actor,
            tuki_store::coverage::AssetInput {
                serial: "PR-1234".into(),
                organisation_id: Some(org),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (s, page) = agent.get("/agent/devices?serial=pr12").await;
    assert_eq!(s, reqwest::StatusCode::OK);
    assert!(
        page.contains(&format!("href=\"&#x2f;agent&#x2f;devices&#x2f;{}\"", a.id))
            || page.contains("PR-1234"),
        "{page}"
    );
    let path = format!("/agent/devices/{}", a.id);
    let (s, page) = agent
        .post(
            &path,
            &[("serial", "PR-1234"), ("warranty_until", "31.12.2028")],
            true,
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    let (s, _) = agent
        .post(
            &path,
            &[
                ("serial", "PR-1234"),
                ("warranty_until", "31.12.2028"),
                ("warranty_reason", "Extended warranty sold"),
            ],
            true,
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::SEE_OTHER);
    let saved = app.store.asset(&actor, a.id).await.unwrap();
    assert_eq!(saved.warranty_until.unwrap().to_string(), "2028-12-31");
}

/// Phone intake names the caller's device by its serial number.
async fn phone_intake_names_the_device_by_serial(db: TestDb) {
    use tuki_domain::directory::Language;
    let app = spawn_app(db).await;
    let (agent, actor) = app
        .signed_in(Role::Agent, "agent@desk.test", Language::En)
        .await;
    app.group("Desk", 1, vec![actor.user_id.unwrap()], true)
        .await;
    let org = app.org("Soittaja Oy", false).await;
    let caller = app
        .user(Role::Customer, "soittaja@soittaja.test", Some(org))
        .await;
    let a = app
        .store
        .register_asset(
            &actor,
            tuki_store::coverage::AssetInput {
                serial: "TV-55-001".into(),
                organisation_id: Some(org),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let requester = caller.id.to_string();
    let form = [
        ("subject", "Kuva pätkii"),
        ("body", "Soitti aamulla."),
        ("requester_id", requester.as_str()),
        ("channel", "phone"),
    ];
    let mut wrong = form.to_vec();
    wrong.push(("serial", "XX-1"));
    let res = crate::files::post_file(&agent, "/agent/new", &wrong, b"").await;
    assert_eq!(res.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let mut right = form.to_vec();
    right.push(("serial", "tv 55 001"));
    let res = crate::files::post_file(&agent, "/agent/new", &right, b"").await;
    assert_eq!(
        res.status(),
        reqwest::StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap()
    );
    let number: i64 = res.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let system = tuki_domain::access::Actor::system();
    let t = app.store.ticket_by_number(&system, number).await.unwrap();
    let c = app
        .store
        .ticket_coverage(&system, t.id, Language::En)
        .await
        .unwrap();
    assert_eq!(c.asset_id, Some(a.id));
}
