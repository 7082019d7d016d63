//! Files sent with forms and served back: they stream into the store as
//! they arrive, on both backends; a refused request's files are left to the
//! sweep; the per-file limit, the quota and forms that take no files are
//! answered with a clear message; and a damaged file is refused, never
//! served as other bytes.

use jiff::SignedDuration;
use reqwest::header::{CONTENT_TYPE, COOKIE};
use reqwest::{Method, StatusCode};
use tuki_domain::directory::{Language, Role};
use tuki_store::files::{blob_path, FilesConfig, Location};
use tuki_store::testing::TestDb;

use crate::{App, Browser, Caller};

/// Tuki on a port of its own keeping files as `files` says.
async fn spawn_with_files(db: TestDb, files: FilesConfig) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = db.store.clone().with_files(files).unwrap();
    let state = tuki_web::AppState::new(store.clone()).with_web(tuki_web::pages::Web::new(false));
    tokio::spawn(tuki_web::serve(listener, state, std::future::pending()));
    App {
        base,
        client: reqwest::Client::new(),
        store,
        _db: db,
    }
}

fn keeping(to: Location, dir: &std::path::Path, grace: SignedDuration) -> FilesConfig {
    FilesConfig {
        folder: Some(dir.to_path_buf()),
        write_to: to,
        grace,
        ..FilesConfig::default()
    }
}

/// Posts a multipart form with one file, `log.txt` holding `content`.
pub async fn post_file(
    b: &Browser,
    path: &str,
    fields: &[(&str, &str)],
    content: &[u8],
) -> reqwest::Response {
    let mut body = Vec::new();
    for (k, v) in [("csrf", b.csrf.as_str())].iter().chain(fields) {
        body.extend_from_slice(
            format!("--XB\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        b"--XB\r\nContent-Disposition: form-data; name=\"files\"; filename=\"log.txt\"\r\n\
         Content-Type: text/plain\r\n\r\n",
    );
    body.extend_from_slice(content);
    body.extend_from_slice(b"\r\n--XB--\r\n");
    b.client
        .post(format!("{}{path}", b.base))
        .header(COOKIE, &b.cookie)
        .header(CONTENT_TYPE, "multipart/form-data; boundary=XB")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn post_with_file(b: &Browser, path: &str, fields: &[(&str, &str)]) -> StatusCode {
    post_file(b, path, fields, b"printer error E-27")
        .await
        .status()
}

async fn refused_requests_leave_their_files_to_the_sweep(db: TestDb) {
    for to in [Location::Folder, Location::Database] {
        let db = TestDb::new(db.store.engine()).await;
        let dir = tempfile::tempdir().unwrap();
        let app = spawn_with_files(db, keeping(to, dir.path(), SignedDuration::ZERO)).await;
        let (customer, _) = app
            .signed_in(Role::Customer, "cora@customer.test", Language::En)
            .await;
        let (agent, _) = app
            .signed_in(Role::Agent, "aku@desk.test", Language::En)
            .await;
        // A request with an empty subject is refused; its file is stored
        // (it arrived before the subject was read) but named by nothing.
        let res = post_file(
            &customer,
            "/portal/new",
            &[("subject", ""), ("body", "x")],
            b"one",
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        // An article on a ticket the agent cannot see: a 404.
        let dora = app.user(Role::Customer, "dora@customer.test", None).await;
        let other = app.ticket(dora.id, None, "Elsewhere").await;
        let res = post_file(
            &agent,
            &format!("/agent/tickets/{}/article", other.number),
            &[("kind", "note"), ("body", "Looked at it.")],
            b"two",
        )
        .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        // An accepted request keeps its file.
        let res = post_file(
            &customer,
            "/portal/new",
            &[("subject", "Printer"), ("body", "It shows E-27.")],
            b"three",
        )
        .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.store.file_usage().await.unwrap().blobs, 3);
        let swept = app.store.sweep_files().await.unwrap();
        assert_eq!((swept.blobs, swept.bytes), (2, 6), "{to:?}");
        let usage = app.store.file_usage().await.unwrap();
        assert_eq!((usage.blobs, usage.bytes), (1, 5));
    }
}

async fn limits_quota_and_forms_without_files_are_answered_plainly(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with_files(
        db,
        FilesConfig {
            folder: Some(dir.path().to_path_buf()),
            write_to: Location::Folder,
            file_max: 2 * 1024 * 1024,
            quota: Some(3 * 1024 * 1024),
            ..FilesConfig::default()
        },
    )
    .await;
    let (customer, _) = app
        .signed_in(Role::Customer, "cora@customer.test", Language::Fi)
        .await;
    let new = [("subject", "Printer"), ("body", "It shows E-27.")];
    // Over the per-file limit: 413, the file named, nothing kept.
    let res = post_file(
        &customer,
        "/portal/new",
        &new,
        &vec![b'x'; 2 * 1024 * 1024 + 1],
    )
    .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("Tiedosto log.txt on suurempi kuin 2 Mt"),
        "{page}"
    );
    assert_eq!(app.store.file_usage().await.unwrap().blobs, 0);
    // Under it, twice: the second passes the quota (507).
    let res = post_file(&customer, "/portal/new", &new, &vec![b'a'; 2 * 1024 * 1024]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = post_file(&customer, "/portal/new", &new, &vec![b'b'; 2 * 1024 * 1024]).await;
    assert_eq!(res.status(), StatusCode::INSUFFICIENT_STORAGE);
    let page = res.text().await.unwrap();
    assert!(page.contains("tiedostotila on täynnä"), "{page}");
    assert_eq!(app.store.file_usage().await.unwrap().blobs, 1);
    // A form that takes no files refuses one before storing it.
    let res = post_file(&customer, "/settings", &[("language", "fi")], b"x").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Tähän lomakkeeseen ei voi liittää tiedostoja"));
    assert_eq!(app.store.file_usage().await.unwrap().blobs, 1);
}

/// A file over several chunks goes in through the portal and comes back
/// byte for byte, from the pages and the API, on both backends; damaged,
/// it is refused with a clear error and the administrators are told.
async fn files_come_back_whole_or_not_at_all(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let engine = db.store.engine();
    for (seed, to) in [(7u8, Location::Folder), (8, Location::Database)] {
        let db = TestDb::new(engine).await;
        let app =
            spawn_with_files(db, keeping(to, dir.path(), SignedDuration::from_hours(24))).await;
        let admin = app.user(Role::Admin, "ada@desk.test", None).await;
        let admin = Caller {
            id: admin.id,
            token: app.store.create_token(admin.id, "t").await.unwrap().token,
        };
        let (customer, _) = app
            .signed_in(Role::Customer, "cora@customer.test", Language::En)
            .await;
        let content: Vec<u8> = (0..3 * 1024 * 1024 + 17)
            .map(|i: usize| (i % 251) as u8 ^ seed)
            .collect();
        let res = post_file(
            &customer,
            "/portal/new",
            &[("subject", "Logs"), ("body", "Attached.")],
            &content,
        )
        .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let (_, list) = app
            .json(Some(&admin), Method::GET, "/api/v1/tickets", None)
            .await;
        let ticket = list["items"][0]["id"].as_i64().unwrap();
        let (_, files) = app
            .json(
                Some(&admin),
                Method::GET,
                &format!("/api/v1/tickets/{ticket}/attachments"),
                None,
            )
            .await;
        let id = files[0]["id"].as_i64().unwrap();
        let sha256 = files[0]["sha256"].as_str().unwrap().to_string();
        let api = format!("{}/api/v1/attachments/{id}/content", app.base);
        let res = app
            .client
            .get(&api)
            .bearer_auth(&admin.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["content-length"],
            content.len().to_string().as_str()
        );
        assert_eq!(res.bytes().await.unwrap().as_ref(), content.as_slice());
        let page = customer
            .client
            .get(format!("{}/files/{id}/log.txt", app.base))
            .header(COOKIE, &customer.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(page.bytes().await.unwrap().as_ref(), content.as_slice());

        // Damage the stored bytes (same length, other content).
        match to {
            Location::Folder => {
                std::fs::write(blob_path(dir.path(), &sha256), vec![0u8; content.len()]).unwrap()
            }
            Location::Database => {
                app.store
                    .execute_raw_for_tests(&format!(
                        "UPDATE blob_chunks SET data = (SELECT c.data FROM blob_chunks c \
                         WHERE c.upload_id = blob_chunks.upload_id AND c.seq = 1) WHERE seq = 0 \
                         AND upload_id = (SELECT upload_id FROM blobs WHERE sha256 = '{sha256}')"
                    ))
                    .await
                    .unwrap();
            }
        }
        let res = app
            .client
            .get(&api)
            .bearer_auth(&admin.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "file_unavailable", "{body}");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("administrators have been told"));
        let (status, page) = customer.get(&format!("/files/{id}/log.txt")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(page.contains("missing or damaged"), "{page}");
        let told = app
            .store
            .notifications_for_ticket(&tuki_domain::access::Actor::system(), ticket)
            .await
            .unwrap();
        assert_eq!(
            told.iter().filter(|n| n.kind == "file_damaged").count(),
            1,
            "{told:?}"
        );
        // The administrators' overview lists it, in the API and on its page.
        let (s, overview) = app
            .json(Some(&admin), Method::GET, "/api/v1/files", None)
            .await;
        assert_eq!(s, 200, "{overview}");
        assert_eq!(overview["usage"]["damaged"], 1);
        assert_eq!(overview["usage"]["write_to"], to.as_str());
        assert_eq!(overview["damaged"][0]["sha256"], sha256.as_str());
        assert_eq!(overview["damaged"][0]["file_name"], "log.txt");
        let number = list["items"][0]["number"].as_i64().unwrap();
        assert_eq!(overview["damaged"][0]["ticket_number"], number);
        let (admin_browser, _) = app
            .signed_in(Role::Admin, "adele@desk.test", Language::Fi)
            .await;
        let (status, page) = admin_browser.get("/admin/files").await;
        assert_eq!(status, 200);
        assert!(
            page.contains("Puuttuvat tai vioittuneet tiedostot"),
            "{page}"
        );
        assert!(page.contains(&format!("/agent/tickets/{number}")), "{page}");
        let (status, _) = customer.get("/admin/files").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

/// The API lists a ticket's files (or one article's) and serves them, under
/// the pages' rules: customers never get the files of internal notes, and
/// nobody gets a file of a ticket they cannot see.
async fn the_api_lists_and_serves_a_tickets_files(db: TestDb) {
    let app = crate::spawn_app(db).await;
    let agent = app.user(Role::Agent, "aku@desk.test", None).await;
    app.group("Desk", 1, vec![agent.id], true).await;
    let (browser, customer) = app
        .signed_in(Role::Customer, "cora@customer.test", Language::En)
        .await;
    let customer = Caller {
        id: customer.user_id.unwrap(),
        token: app
            .store
            .create_token(customer.user_id.unwrap(), "t")
            .await
            .unwrap()
            .token,
    };
    let stranger = app.user(Role::Customer, "dora@other.test", None).await;
    let status = post_with_file(
        &browser,
        "/portal/new",
        &[("subject", "Printer"), ("body", "It shows E-27.")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, list) = app
        .json(Some(&customer), Method::GET, "/api/v1/tickets", None)
        .await;
    let ticket = list["items"][0]["id"].as_i64().unwrap();
    let number = list["items"][0]["number"].as_i64().unwrap();

    let files_of = |who: &Caller, query: &str| {
        let path = format!("/api/v1/tickets/{ticket}/attachments{query}");
        let who = who.clone();
        let app = &app;
        async move { app.json(Some(&who), Method::GET, &path, None).await }
    };
    let (s, files) = files_of(&customer, "").await;
    assert_eq!(s, 200, "{files}");
    assert_eq!(files.as_array().unwrap().len(), 1, "{files}");
    assert_eq!(files[0]["file_name"], "log.txt");
    let file = files[0]["id"].as_i64().unwrap();
    let content = |who: &Caller, id: i64| {
        let req = app
            .client
            .get(format!("{}/api/v1/attachments/{id}/content", app.base))
            .bearer_auth(&who.token);
        async move { req.send().await.unwrap() }
    };
    let res = content(&customer, file).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    assert_eq!(res.headers()["content-type"], "text/plain");
    assert_eq!(res.text().await.unwrap(), "printer error E-27");

    // Someone else's ticket: not found, its list and its file alike.
    assert_eq!(files_of(&stranger, "").await.0, 404);
    assert_eq!(content(&stranger, file).await.status(), 404);

    // An agent's internal note with a file: staff see both files, the
    // customer still one, and not the note's.
    let (agent_browser, _) = app
        .signed_in(Role::Agent, "toni@desk.test", Language::En)
        .await;
    app.store
        .add_group_member(
            &tuki_domain::access::Actor::system(),
            app.store
                .ticket(&tuki_domain::access::Actor::system(), ticket)
                .await
                .unwrap()
                .group_id
                .unwrap(),
            user_id_of(&app, "toni@desk.test").await,
        )
        .await
        .unwrap();
    let status = post_with_file(
        &agent_browser,
        &format!("/agent/tickets/{number}/article"),
        &[("kind", "note"), ("body", "Driver log attached.")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, staff_files) = files_of(&agent, "").await;
    assert_eq!(staff_files.as_array().unwrap().len(), 2, "{staff_files}");
    let note_file = staff_files[1]["id"].as_i64().unwrap();
    let note_article = staff_files[1]["article_id"].as_i64().unwrap();
    assert_eq!(files_of(&customer, "").await.1.as_array().unwrap().len(), 1);
    assert_eq!(content(&customer, note_file).await.status(), 404);
    assert_eq!(content(&agent, note_file).await.status(), 200);
    let (_, one) = files_of(&agent, &format!("?article_id={note_article}")).await;
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one[0]["id"], note_file);
}

async fn user_id_of(app: &App, email: &str) -> i64 {
    app.store
        .user_by_email(&tuki_domain::access::Actor::system(), email)
        .await
        .unwrap()
        .id
}

tuki_store::on_both_engines!(
    refused_requests_leave_their_files_to_the_sweep,
    limits_quota_and_forms_without_files_are_answered_plainly,
    files_come_back_whole_or_not_at_all,
    the_api_lists_and_serves_a_tickets_files
);
