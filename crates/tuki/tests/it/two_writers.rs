//! Two processes writing one SQLite file, as a mail server and Tuki do: a
//! `tuki serve` takes API writes while messages are piped into
//! `tuki mail ingest`, unreadable ones (quarantined: a read, then a write)
//! among them. Every write transaction of the store begins as a writer
//! (`BEGIN IMMEDIATE`), so none fails with "database is locked"
//! (SQLITE_BUSY_SNAPSHOT, which the busy timeout does not cover) when the
//! other process commits between its read and its write: every pipe exits
//! 0 and every API write is answered 201.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tuki_domain::access::Actor;
use tuki_domain::directory::Role;
use tuki_store::directory::NewUser;
use tuki_store::testing::TestDb;

use crate::two_servers::Server;

/// Messages piped per kind (readable and unreadable).
const MESSAGES: usize = 20;

/// Pipes `raw` into `tuki mail ingest` and returns its exit code.
fn pipe(db_url: &str, data_dir: &std::path::Path, raw: String) -> i32 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tuki"))
        .args(["mail", "ingest"])
        .env("TUKI_DATABASE_URL", db_url)
        .env("TUKI_DATA_DIR", data_dir)
        .env("TUKI_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tuki mail ingest");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(raw.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    if code != 0 {
        eprintln!(
            "tuki mail ingest exited {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_processes_write_one_file_and_none_is_refused() {
    let db = TestDb::sqlite().await;
    let admin = db
        .store
        .create_user(
            &Actor::system(),
            NewUser {
                email: "root@desk.test".into(),
                name: "Root".into(),
                phone: None,
                role: Some(Role::Admin),
                language: None,
                organisation_id: None,
                password: None,
            },
        )
        .await
        .unwrap();
    let token = db.store.create_token(admin.id, "test").await.unwrap().token;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&db.url, data.path());

    // API writers: tickets created one after another by four clients until
    // the pipes are done.
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (stop, base, token) = (stop.clone(), server.base.clone(), token.clone());
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (mut ok, mut refused) = (0usize, Vec::new());
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) || ok == 0 {
                n += 1;
                let res = client
                    .post(format!("{base}/api/v1/tickets"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"subject": format!("API {w}.{n}"), "body": "x"}))
                    .send()
                    .await
                    .unwrap();
                if res.status() == 201 {
                    ok += 1;
                } else {
                    refused.push(format!("{}: {}", res.status(), res.text().await.unwrap()));
                }
            }
            (ok, refused)
        }));
    }

    // The mail server: readable and unreadable messages, four pipes at a time.
    let mut messages = Vec::new();
    for i in 0..MESSAGES {
        messages.push(format!(
            "From: customer{i}@example.test\r\nTo: desk@desk.test\r\nSubject: Printer {i}\r\n\
             Message-ID: <m{i}@example.test>\r\n\r\nIt jams again ({i}).\r\n"
        ));
        // No sender: the store reads its quarantine, then writes to it.
        messages.push(format!(
            "Subject: no sender {i}\r\nMessage-ID: <broken{i}@example.test>\r\n\r\nWho am I? {i}\r\n"
        ));
    }
    let mut codes = Vec::new();
    for chunk in messages.chunks(4) {
        let runs: Vec<_> = chunk
            .iter()
            .map(|raw| {
                let (url, dir, raw) = (db.url.clone(), data.path().to_path_buf(), raw.clone());
                tokio::task::spawn_blocking(move || pipe(&url, &dir, raw))
            })
            .collect();
        for r in runs {
            codes.push(r.await.unwrap());
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut api_ok = 0;
    for w in writers {
        let (ok, refused) = w.await.unwrap();
        assert!(refused.is_empty(), "API writes refused: {refused:?}");
        api_ok += ok;
    }
    server.stop();

    let failed = codes.iter().filter(|c| **c != 0).count();
    assert_eq!(
        failed,
        0,
        "pipes that did not exit 0: {failed} of {}",
        codes.len()
    );
    assert!(api_ok > 0);
    let quarantined = db.store.quarantined_mail().await.unwrap();
    assert_eq!(quarantined.len(), MESSAGES, "{quarantined:?}");
    let tickets = db.store.count_tickets().await.unwrap();
    assert_eq!(tickets as usize, MESSAGES + api_ok);
    eprintln!("{api_ok} API tickets written beside {} pipes", codes.len());
}
