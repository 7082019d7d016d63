//! Files sent with a form: a request that is refused leaves none behind in
//! the data folder (they used to be written before the request was checked).

use reqwest::header::{CONTENT_TYPE, COOKIE};
use reqwest::StatusCode;
use tuki_domain::directory::{Language, Role};
use tuki_store::testing::TestDb;

use crate::{App, Browser};

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

tuki_store::on_both_engines!(refused_requests_leave_no_files);
