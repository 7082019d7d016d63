//! Files on two nodes: two `tuki serve` on one PostgreSQL database, each
//! with a data folder of its own, keep files in the database (the
//! PostgreSQL default). A reply with a file written through node A is
//! downloaded intact from node B, and mailed with its file by node B, the
//! only one with an SMTP server (a real one: aiosmtpd on loopback).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tuki_store::testing::{Desk, TestDb};

use crate::two_servers::Server;

/// aiosmtpd writing each message it accepts to a folder; killed on drop.
struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    fn start() -> SmtpSink {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let python = std::env::var("TUKI_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tuki-worker/tests/smtp/sink.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python}: {e}"));
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "ready", "aiosmtpd did not start for {python}");
        SmtpSink { child, port, dir }
    }

    fn messages(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_written_on_one_node_is_served_and_mailed_by_the_other() {
    let db = TestDb::postgres().await;
    let desk = Desk::new(db.store.clone()).await;
    let ticket = desk.ticket_for(&desk.alice, "Firmware update").await;
    let session = db
        .store
        .create_session(desk.tier1.user_id.unwrap())
        .await
        .unwrap();
    let cookie = format!("tuki_session={}", session.token);

    let sink = SmtpSink::start();
    let data = tempfile::tempdir().unwrap();
    let smtp = format!("smtp://127.0.0.1:{}", sink.port);
    let a = Server::start(&db.url, &data.path().join("a"));
    let b = Server::start_with(&db.url, &data.path().join("b"), &[("TUKI_SMTP_URL", &smtp)]);

    // Through node A: a public reply with a firmware image of 2.5 MB.
    let firmware: Vec<u8> = (0..2_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut body = Vec::new();
    for (k, v) in [
        ("csrf", session.csrf.as_str()),
        ("kind", "reply"),
        ("body", "The firmware is attached."),
    ] {
        body.extend_from_slice(
            format!("--XB\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        b"--XB\r\nContent-Disposition: form-data; name=\"files\"; filename=\"fw-2.1.bin\"\r\n\
          Content-Type: application/octet-stream\r\n\r\n",
    );
    body.extend_from_slice(&firmware);
    body.extend_from_slice(b"\r\n--XB--\r\n");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .post(format!(
            "{}/agent/tickets/{}/article",
            a.base, ticket.number
        ))
        .header("cookie", &cookie)
        .header("content-type", "multipart/form-data; boundary=XB")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());

    // Node A wrote nothing to its data folder: the file is in the database.
    let files = db
        .store
        .ticket_attachments(&desk.tier1, ticket.id)
        .await
        .unwrap();
    assert_eq!(files.len(), 1);
    assert!(!data
        .path()
        .join("a")
        .join("attachments")
        .join(&files[0].sha256[..2])
        .exists());

    // Node B serves it byte for byte.
    let res = client
        .get(format!("{}/files/{}/fw-2.1.bin", b.base, files[0].id))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), firmware.as_slice());

    // Node B mails the reply to Alice with the file.
    let deadline = Instant::now() + Duration::from_secs(60);
    let reply = loop {
        let found = sink.messages().into_iter().find(|m| {
            let text = String::from_utf8_lossy(m);
            text.contains("alice@shared.test") && text.contains("Subject: Re:")
        });
        if let Some(m) = found {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "no reply mail within 60 s; got {} messages",
            sink.messages().len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let parsed = tuki_mail::parse(&reply).unwrap();
    let attached: Vec<_> = parsed
        .attachments
        .iter()
        .filter(|f| f.filename == "fw-2.1.bin")
        .collect();
    assert_eq!(attached.len(), 1, "{:?}", parsed.attachments.len());
    assert!(
        attached[0].bytes == firmware,
        "the mailed file is the uploaded one"
    );
    a.stop();
    b.stop();
}
