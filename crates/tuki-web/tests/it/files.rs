//! Files sent with a form: a request that is refused leaves none behind in
//! the data folder (they used to be written before the request was checked).

use reqwest::header::{CONTENT_TYPE, COOKIE};
use reqwest::{Method, StatusCode};
use tuki_domain::directory::{Language, Role};
use tuki_store::testing::TestDb;

use crate::{App, Browser, Caller};

/// Tuki on a port of its own with its data folder in `dir`.
async fn spawn_with_files(db: TestDb, dir: &std::path::Path) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = tuki_web::AppState::new(db.store.clone())
        .with_web(tuki_web::pages::Web::new(dir.to_path_buf(), false));
    tokio::spawn(tuki_web::serve(listener, state, std::future::pending()));
    App {
        base,
        client: reqwest::Client::new(),
        store: db.store.clone(),
        _db: db,
    }
}

/// Posts a multipart form with one file.
async fn post_with_file(b: &Browser, path: &str, fields: &[(&str, &str)]) -> StatusCode {
    let mut body = String::new();
    for (k, v) in [("csrf", b.csrf.as_str())].iter().chain(fields) {
        body.push_str(&format!(
            "--XB\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    body.push_str(
        "--XB\r\nContent-Disposition: form-data; name=\"files\"; filename=\"log.txt\"\r\n\
         Content-Type: text/plain\r\n\r\nprinter error E-27\r\n--XB--\r\n",
    );
    b.client
        .post(format!("{}{path}", b.base))
        .header(COOKIE, &b.cookie)
        .header(CONTENT_TYPE, "multipart/form-data; boundary=XB")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

/// Every file under the data folder.
fn files_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

async fn refused_requests_leave_no_files(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with_files(db, dir.path()).await;
    let (customer, _) = app
        .signed_in(Role::Customer, "cora@customer.test", Language::En)
        .await;
    let (agent, _) = app
        .signed_in(Role::Agent, "aku@desk.test", Language::En)
        .await;
    // A request with an empty subject is refused, and so is its file.
    let status = post_with_file(&customer, "/portal/new", &[("subject", ""), ("body", "x")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(files_in(dir.path()), Vec::<std::path::PathBuf>::new());

    // An article on a ticket the agent cannot see: a 404, and no file.
    let dora = app.user(Role::Customer, "dora@customer.test", None).await;
    let other = app.ticket(dora.id, None, "Elsewhere").await;
    let status = post_with_file(
        &agent,
        &format!("/agent/tickets/{}/article", other.number),
        &[("kind", "note"), ("body", "Looked at it.")],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(files_in(dir.path()), Vec::<std::path::PathBuf>::new());

    // An accepted request keeps its file.
    let status = post_with_file(
        &customer,
        "/portal/new",
        &[("subject", "Printer"), ("body", "It shows E-27.")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(files_in(dir.path()).len(), 1);
}

/// The API lists a ticket's files (or one article's) and serves them, under
/// the pages' rules: customers never get the files of internal notes, and
/// nobody gets a file of a ticket they cannot see.
async fn the_api_lists_and_serves_a_tickets_files(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with_files(db, dir.path()).await;
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
    refused_requests_leave_no_files,
    the_api_lists_and_serves_a_tickets_files
);
