//! Email out against a real SMTP server: Python's aiosmtpd on loopback
//! (`tests/smtp/sink.py`, which writes each accepted message to a folder).
//! The outbox is written with the ticket, sent by the sender task with the
//! threading headers, and kept and retried while the server is down. Over
//! STARTTLS and TLS the server's certificate, signed by a throwaway private
//! CA, is trusted only when that CA is configured; otherwise the mail stays
//! queued with the certificate error.
//!
//! The Python interpreter is `TUKI_TEST_PYTHON` (scripts/test.sh sets one
//! with aiosmtpd installed) or `python3`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use jiff::SignedDuration;
use tuki_domain::ticket::ArticleKind;
use tuki_mail::ThreadBy;
use tuki_store::attachments::NewAttachment;
use tuki_store::files::{blob_path, FilesConfig, Location};
use tuki_store::mail::{IngestOutcome, Mailbox};
use tuki_store::outbox::NewMail;
use tuki_store::testing::{TestCa, TestDb};
use tuki_store::tickets::articles::NewArticle;
use tuki_store::time::Clock;
use tuki_store::Store;
use tuki_worker::{Sender, SmtpConfig, ATTACH_MAX_BYTES};

use tuki_store::testing::Desk;

/// A running aiosmtpd, stopped when dropped.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SmtpSink {
    /// A server without TLS.
    pub fn start(port: u16) -> SmtpSink {
        Self::start_with(port, &[])
    }

    /// A server that refuses mail until the client has used STARTTLS,
    /// with a certificate of `ca`.
    pub fn start_starttls(port: u16, ca: &TestCa) -> SmtpSink {
        Self::start_with(
            port,
            &[
                "starttls".as_ref(),
                ca.cert_pem.as_ref(),
                ca.key_pem.as_ref(),
            ],
        )
    }

    /// A server speaking TLS from the first byte, with a certificate of `ca`.
    pub fn start_tls(port: u16, ca: &TestCa) -> SmtpSink {
        Self::start_with(
            port,
            &["tls".as_ref(), ca.cert_pem.as_ref(), ca.key_pem.as_ref()],
        )
    }

    fn start_with(port: u16, tls: &[&std::ffi::OsStr]) -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let python = std::env::var("TUKI_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = crate_dir().join("tests/smtp/sink.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(port.to_string())
            .arg(dir.path())
            .args(tls)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "aiosmtpd did not start (is it installed for {python}? run scripts/test.sh)"
        );
        SmtpSink { child, port, dir }
    }

    /// The messages received so far, in order.
    pub fn messages(&self) -> Vec<String> {
        self.raw_messages()
            .iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect()
    }

    /// The messages received so far, in order, as the server got them.
    pub fn raw_messages(&self) -> Vec<Vec<u8>> {
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

/// The header block, unfolded, one `Name: value` per line.
fn headers(raw: &str) -> Vec<(String, String)> {
    let head = raw.split("\r\n\r\n").next().unwrap_or(raw);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((k.to_string(), v.trim().to_string()));
        }
    }
    out
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Tuki's Message-IDs `<tuki.tN.MILLIS.RANDOM@domain>` with the volatile
/// parts replaced, so that a snapshot stays put.
fn stable(v: &str) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(i) = rest.find("<tuki.") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail.find('>').map(|e| e + 1).unwrap_or(tail.len());
        let id = &tail[..end];
        let at = id.find('@').unwrap_or(id.len());
        let local = &id[..at];
        let ticket = local
            .split('.')
            .find(|p| p.starts_with('t') && p[1..].chars().all(|c| c.is_ascii_digit()))
            .unwrap_or("");
        out.push_str(&format!("<tuki.{ticket}.…{}", &id[at..]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn snapshot_text(raw: &str) -> String {
    headers(raw)
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("Date"))
        .map(|(k, v)| format!("{k}: {}", stable(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn message(from: &str, id: &str, subject: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: help@desk.test\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n{extra}\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn setup(db: &TestDb) -> (Desk, Mailbox) {
    let desk = Desk::new(db.store.clone()).await;
    let mailbox = db
        .store
        .create_mailbox("help", "help@desk.test", Some(desk.tier2_group))
        .await
        .unwrap();
    (desk, mailbox)
}

fn config(port: u16) -> SmtpConfig {
    SmtpConfig {
        url: format!("smtp://127.0.0.1:{port}"),
        default_from: "tuki@desk.test".into(),
        extra_ca_pem: None,
        attach_max_bytes: ATTACH_MAX_BYTES,
    }
}

/// The sender's settings with at most `cap` bytes of files per mail.
fn files_config(port: u16, cap: u64) -> SmtpConfig {
    SmtpConfig {
        attach_max_bytes: cap,
        ..config(port)
    }
}

/// The sender's settings for `url`, trusting `ca` besides the built-in roots
/// when given.
fn tls_config(url: String, ca: Option<&TestCa>) -> SmtpConfig {
    SmtpConfig {
        url,
        default_from: "tuki@desk.test".into(),
        extra_ca_pem: ca.map(|ca| std::fs::read(&ca.ca_pem).unwrap()),
        attach_max_bytes: ATTACH_MAX_BYTES,
    }
}

/// Sends until the outbox has nothing due (at most a few rounds).
async fn drain(sender: &Sender) {
    for _ in 0..10 {
        if sender.tick().await.unwrap() == 0 {
            return;
        }
    }
}

async fn outgoing_mail_arrives_with_threading_headers(db: TestDb) {
    let (desk, mb) = setup(&db).await;
    let store = &db.store;
    // A customer writes; the ticket's transaction queues an acknowledgement
    // to her and a notice to the agents of the mailbox's group.
    let out = store
        .ingest_mail(
            &message(
                "Nina Uusi <nina@shared.test>",
                "first@mail.shared.test",
                "Printer jams",
                "",
                "The printer jams on every page.",
            ),
            Some(&mb),
        )
        .await
        .unwrap();
    let IngestOutcome::Ticket {
        ticket_id, number, ..
    } = out
    else {
        panic!("expected a ticket, got {out:?}")
    };
    // A robot's message becomes a ticket but is never answered.
    let robot = store
        .ingest_mail(
            &message(
                "daemon@shared.test",
                "robot@mail.shared.test",
                "Out of office",
                "Auto-Submitted: auto-replied\r\n",
                "I am away.",
            ),
            Some(&mb),
        )
        .await
        .unwrap();
    let IngestOutcome::Ticket {
        ticket_id: robot_ticket,
        ..
    } = robot
    else {
        panic!("expected a ticket, got {robot:?}")
    };
    // The agent answers in public: a reply goes to the customer.
    store
        .add_article(
            &desk.tier2,
            ticket_id,
            NewArticle {
                kind: Some(ArticleKind::Reply),
                body: "Please try the manual feed tray.".into(),
                internal: None,
            },
        )
        .await
        .unwrap();
    // The ticket events are recorded with the changes; the sender writes
    // their mail. Expand them here to look at the mail before it is sent.
    assert!(store.mail_events_to_outbox(100).await.unwrap() >= 3);
    let queued = store.outbox_rows(100).await.unwrap();
    assert!(
        queued
            .iter()
            .all(|m| m.ticket_id != Some(robot_ticket) || m.kind == "new_ticket"),
        "no answer to a robot: {queued:#?}"
    );
    let mut kinds: Vec<(&str, &str)> = queued
        .iter()
        .filter(|m| m.ticket_id == Some(ticket_id))
        .map(|m| (m.kind.as_str(), m.recipient.as_str()))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            ("ack", "nina@shared.test"),
            ("new_ticket", "second@desk.test"),
            ("reply", "nina@shared.test"),
        ]
    );

    let sink = SmtpSink::start(free_port());
    let sender = Sender::new(store.clone(), &config(sink.port)).unwrap();
    drain(&sender).await;
    assert!(store
        .outbox_rows(100)
        .await
        .unwrap()
        .iter()
        .all(|m| m.sent_at.is_some() && m.attempts == 1));
    let received = sink.messages();
    assert_eq!(received.len(), queued.len());
    let tag = format!("[Tuki #{number}]");
    let to_nina: Vec<&String> = received
        .iter()
        .filter(|m| m.starts_with("X-Envelope-From: help@desk.test\r\nX-Envelope-To: nina@"))
        .collect();
    assert_eq!(to_nina.len(), 2, "{received:#?}");
    let file_of = |kind: &str| {
        let row = queued
            .iter()
            .find(|m| m.kind == kind && m.ticket_id == Some(ticket_id))
            .unwrap();
        to_nina
            .iter()
            .find(|m| m.contains(&row.message_id))
            .unwrap_or_else(|| panic!("{kind} not received"))
            .to_string()
    };
    let ack = &file_of("ack");
    let reply = &file_of("reply");
    let ack_h = headers(ack);
    assert!(header(&ack_h, "Subject").unwrap().contains(&tag));
    assert_eq!(
        header(&ack_h, "In-Reply-To"),
        Some("<first@mail.shared.test>")
    );
    assert!(reply.contains("Please try the manual feed tray."));
    insta::assert_snapshot!("ack_headers", snapshot_text(ack));
    insta::assert_snapshot!("reply_headers", snapshot_text(reply));

    // The customer answers the reply: the answer threads into the ticket by
    // its headers alone (no tag in the subject).
    let reply_h = headers(reply);
    let reply_id = header(&reply_h, "Message-ID").unwrap().to_string();
    assert!(reply_id.starts_with("<tuki.t") && reply_id.ends_with("@desk.test>"));
    let answer = format!(
        "From: nina@shared.test\r\nTo: help@desk.test\r\nSubject: Re: printer\r\n\
         Message-ID: <second@mail.shared.test>\r\nIn-Reply-To: {reply_id}\r\nReferences: {reply_id}\r\n\
         Content-Type: text/plain\r\n\r\nThat worked, thanks.\r\n"
    );
    let out = store
        .ingest_mail(answer.as_bytes(), Some(&mb))
        .await
        .unwrap();
    match out {
        IngestOutcome::Article {
            ticket_id: t, by, ..
        } => {
            assert_eq!(t, ticket_id);
            assert_eq!(by, ThreadBy::References);
        }
        other => panic!("expected an article, got {other:?}"),
    }
}

async fn mail_waits_while_smtp_is_down_and_goes_when_it_returns(db: TestDb) {
    let (desk, mb) = setup(&db).await;
    let clock = Clock::manual(jiff::Timestamp::now());
    let store = db.store.clone().with_clock(clock.clone());
    store
        .ingest_mail(
            &message(
                "nina@shared.test",
                "down@mail.shared.test",
                "Screen dark",
                "",
                "Nothing on the screen.",
            ),
            Some(&mb),
        )
        .await
        .unwrap();
    let _ = desk;
    let port = free_port();
    let sender = Sender::new(store.clone(), &config(port)).unwrap();
    // Nothing listens: every message is tried once and kept.
    let tried = sender.tick().await.unwrap();
    assert!(tried >= 1);
    let rows = store.outbox_rows(100).await.unwrap();
    assert!(rows.iter().all(|m| m.sent_at.is_none()
        && m.failed_at.is_none()
        && m.attempts == 1
        && m.last_error.is_some()));
    // Not due again before the backoff has passed.
    assert_eq!(sender.tick().await.unwrap(), 0);
    clock.advance(SignedDuration::from_secs(5));
    assert_eq!(sender.tick().await.unwrap(), 0);

    // The server comes back; after the backoff everything goes, once.
    let sink = SmtpSink::start(port);
    clock.advance(SignedDuration::from_secs(6));
    drain(&sender).await;
    let rows = store.outbox_rows(100).await.unwrap();
    assert!(rows
        .iter()
        .all(|m| m.sent_at.is_some() && m.attempts == 2 && m.last_error.is_none()));
    let received = sink.messages();
    assert_eq!(received.len(), rows.len());
    assert!(received.iter().any(|m| m.contains("Screen dark")));
    // A second round sends nothing again.
    assert_eq!(sender.tick().await.unwrap(), 0);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(sink.messages().len(), rows.len());
}

async fn mail_goes_over_starttls_and_tls_with_a_private_ca(db: TestDb) {
    let (_desk, mb) = setup(&db).await;
    let store = &db.store;
    let ca = TestCa::generate();

    // STARTTLS, to the server's address (the certificate names 127.0.0.1).
    store
        .ingest_mail(
            &message(
                "nina@shared.test",
                "starttls@mail.shared.test",
                "Printer jams",
                "",
                "The printer jams.",
            ),
            Some(&mb),
        )
        .await
        .unwrap();
    let starttls = SmtpSink::start_starttls(free_port(), &ca);
    let url = format!("smtp://127.0.0.1:{}?tls=required", starttls.port);
    let sender = Sender::new(store.clone(), &tls_config(url, Some(&ca))).unwrap();
    drain(&sender).await;
    let rows = store.outbox_rows(100).await.unwrap();
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|m| m.sent_at.is_some() && m.attempts == 1 && m.last_error.is_none()),
        "{rows:#?}"
    );
    let received = starttls.messages();
    assert_eq!(received.len(), rows.len());
    assert!(received.iter().any(|m| m.contains("Printer jams")));

    // TLS from the first byte, to the server's name (the certificate names
    // localhost too).
    store
        .ingest_mail(
            &message(
                "nina@shared.test",
                "tls@mail.shared.test",
                "Screen dark",
                "",
                "Nothing on the screen.",
            ),
            Some(&mb),
        )
        .await
        .unwrap();
    let tls = SmtpSink::start_tls(free_port(), &ca);
    let url = format!("smtps://localhost:{}", tls.port);
    let sender = Sender::new(store.clone(), &tls_config(url, Some(&ca))).unwrap();
    drain(&sender).await;
    let all = store.outbox_rows(100).await.unwrap();
    assert!(all.len() > rows.len());
    assert!(
        all.iter().all(|m| m.sent_at.is_some() && m.attempts == 1),
        "{all:#?}"
    );
    let received = tls.messages();
    assert_eq!(received.len(), all.len() - rows.len());
    assert!(received.iter().all(|m| m.contains("Screen dark")));
    assert_eq!(starttls.messages().len(), rows.len());
}

async fn mail_stays_queued_while_the_server_certificate_is_not_trusted(db: TestDb) {
    let (_desk, mb) = setup(&db).await;
    let clock = Clock::manual(jiff::Timestamp::now());
    let store = db.store.clone().with_clock(clock.clone());
    let ca = TestCa::generate();
    store
        .ingest_mail(
            &message(
                "nina@shared.test",
                "untrusted@mail.shared.test",
                "VPN drops",
                "",
                "The VPN drops every hour.",
            ),
            Some(&mb),
        )
        .await
        .unwrap();
    let starttls = SmtpSink::start_starttls(free_port(), &ca);
    let tls = SmtpSink::start_tls(free_port(), &ca);
    let starttls_url = format!("smtp://127.0.0.1:{}?tls=required", starttls.port);
    let tls_url = format!("smtps://127.0.0.1:{}", tls.port);
    let queued_with_error = |rows: &[tuki_store::outbox::OutMail], attempts: i64| {
        assert!(
            rows.iter().all(|m| m.sent_at.is_none()
                && m.failed_at.is_none()
                && m.attempts == attempts
                && m.last_error
                    .as_deref()
                    .is_some_and(|e| e.to_lowercase().contains("certificate"))),
            "{rows:#?}"
        );
    };

    // Without the CA, neither STARTTLS nor TLS trusts the server: every
    // message is tried, kept, and carries the certificate error.
    let sender = Sender::new(store.clone(), &tls_config(starttls_url.clone(), None)).unwrap();
    assert!(sender.tick().await.unwrap() >= 1);
    let rows = store.outbox_rows(100).await.unwrap();
    queued_with_error(&rows, 1);
    clock.advance(SignedDuration::from_secs(11));
    let sender = Sender::new(store.clone(), &tls_config(tls_url, None)).unwrap();
    assert_eq!(sender.tick().await.unwrap(), rows.len());
    queued_with_error(&store.outbox_rows(100).await.unwrap(), 2);
    assert!(starttls.messages().is_empty());
    assert!(tls.messages().is_empty());

    // With the CA configured, the kept mail goes, once.
    clock.advance(SignedDuration::from_secs(21));
    let sender = Sender::new(store.clone(), &tls_config(starttls_url, Some(&ca))).unwrap();
    drain(&sender).await;
    let rows = store.outbox_rows(100).await.unwrap();
    assert!(
        rows.iter()
            .all(|m| m.sent_at.is_some() && m.attempts == 3 && m.last_error.is_none()),
        "{rows:#?}"
    );
    let received = starttls.messages();
    assert_eq!(received.len(), rows.len());
    assert!(received.iter().any(|m| m.contains("VPN drops")));
    assert!(tls.messages().is_empty());
}

/// The `assigned` mails queued so far, as (recipient, subject).
async fn assigned_mails(store: &tuki_store::Store) -> Vec<(String, String)> {
    store.mail_events_to_outbox(100).await.unwrap();
    let mut rows: Vec<_> = store
        .outbox_rows(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == "assigned")
        .map(|m| (m.recipient, m.subject))
        .collect();
    rows.sort();
    rows
}

async fn new_owner_gets_an_assigned_mail(db: TestDb) {
    use tuki_store::tickets::transfer::Transfer;
    use tuki_store::tickets::TicketPatch;
    let desk = Desk::new(db.store.clone()).await;
    let store = &db.store;
    let mut new = tuki_store::testing::ticket("VPN drops");
    new.requester_id = desk.alice.user_id;
    new.group_id = Some(desk.tier1_group);
    let t = store.create_ticket(&desk.admin, new).await.unwrap();
    let owner = |o: Option<i64>| TicketPatch {
        owner_id: Some(o),
        ..TicketPatch::default()
    };
    // Taking a ticket yourself mails nobody.
    store
        .update_ticket(&desk.tier1, t.id, owner(desk.tier1.user_id))
        .await
        .unwrap();
    assert_eq!(assigned_mails(store).await, vec![]);
    // Given by someone else: the new owner hears of it.
    store
        .update_ticket(&desk.admin, t.id, owner(None))
        .await
        .unwrap();
    store
        .update_ticket(&desk.admin, t.id, owner(desk.tier1.user_id))
        .await
        .unwrap();
    let first = (
        "first@desk.test".to_string(),
        format!("[Tuki #{}] Sinulle osoitettiin pyyntö: VPN drops", t.number),
    );
    assert_eq!(assigned_mails(store).await, vec![first.clone()]);
    // A transfer straight to a member of the new group.
    store
        .transfer(
            &desk.tier1,
            t.id,
            Transfer {
                group_id: desk.tier2_group,
                reason: "Needs a specialist".into(),
                owner_id: desk.tier2.user_id,
            },
        )
        .await
        .unwrap();
    let second = (
        "second@desk.test".to_string(),
        format!("[Tuki #{}] Sinulle osoitettiin pyyntö: VPN drops", t.number),
    );
    assert_eq!(
        assigned_mails(store).await,
        vec![first.clone(), second.clone()]
    );
    // Turned off: no more.
    store
        .set_notification_pref(&desk.tier2, "assigned", false)
        .await
        .unwrap();
    store
        .update_ticket(&desk.admin, t.id, owner(None))
        .await
        .unwrap();
    store
        .update_ticket(&desk.admin, t.id, owner(desk.tier2.user_id))
        .await
        .unwrap();
    assert_eq!(assigned_mails(store).await, vec![first, second]);
}

// ------------------------------------------------------ files of articles

/// The store keeping its files in the folder `dir`.
fn in_folder(store: &Store, dir: &Path) -> Store {
    store
        .clone()
        .with_files(FilesConfig {
            folder: Some(dir.to_path_buf()),
            write_to: Location::Folder,
            ..FilesConfig::default()
        })
        .unwrap()
}

/// A file stored, ready to be listed on an article.
async fn stored_file(store: &Store, name: &str, content_type: &str, bytes: &[u8]) -> NewAttachment {
    NewAttachment {
        sha256: store.put_blob(bytes).await.unwrap().sha256,
        size: bytes.len() as i64,
        content_type: content_type.into(),
        file_name: name.into(),
    }
}

/// Bytes that are not text: every byte value, many times over.
fn binary(len: usize) -> Vec<u8> {
    (0..=255u8).cycle().take(len).collect()
}

/// The one message the server received for `to` whose subject contains
/// `subject`, as received.
fn received_for(sink: &SmtpSink, to: &str, subject: &str) -> Vec<u8> {
    let found: Vec<Vec<u8>> = sink
        .raw_messages()
        .into_iter()
        .filter(|m| {
            let h = headers(&String::from_utf8_lossy(m));
            header(&h, "X-Envelope-To") == Some(to) && decoded(m).subject.contains(subject)
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one mail to {to} about {subject:?}: {:#?}",
        sink.messages()
    );
    found.into_iter().next().unwrap()
}

/// A received message decoded by a MIME parser (mail-parser, through
/// tuki-mail's reading of incoming mail).
fn decoded(raw: &[u8]) -> tuki_mail::InboundMessage {
    tuki_mail::parse(raw).unwrap()
}

/// The decoded text of a message, with the line ends it was written with
/// (the reader of incoming mail drops the final line end).
fn text_of(m: &tuki_mail::InboundMessage) -> String {
    m.text.replace("\r\n", "\n")
}

/// The files of a decoded message: (name, content type, bytes).
fn files_of(m: &tuki_mail::InboundMessage) -> Vec<(String, String, Vec<u8>)> {
    m.attachments
        .iter()
        .map(|a| (a.filename.clone(), a.content_type.clone(), a.bytes.clone()))
        .collect()
}

/// The MIME structure of a message for a snapshot: its Content-Type and
/// each part's headers, the random boundary replaced.
fn mime_outline(raw: &[u8]) -> String {
    let raw = String::from_utf8_lossy(raw);
    let top = headers(&raw);
    let ctype = header(&top, "Content-Type").unwrap();
    let boundary = ctype
        .split("boundary=")
        .nth(1)
        .expect("a multipart message")
        .trim_matches('"')
        .to_string();
    let mut out = vec![format!(
        "Content-Type: {}",
        ctype.replace(&boundary, "BOUNDARY")
    )];
    let delimiter = format!("--{boundary}");
    for (i, part) in raw.split(&delimiter).enumerate().skip(1) {
        if part.starts_with("--") {
            break;
        }
        out.push(format!("--- part {i}"));
        for (k, v) in headers(part.trim_start_matches("\r\n")) {
            out.push(format!("{k}: {v}"));
        }
    }
    out.join("\n")
}

async fn a_public_reply_carries_its_files_by_mail(db: TestDb) {
    let (desk, _mb) = setup(&db).await;
    let store = &db.store;
    let t = desk.ticket_for(&desk.alice, "Dishwasher manual").await;
    store
        .update_ticket(
            &desk.tier1,
            t.id,
            tuki_store::tickets::TicketPatch {
                owner_id: Some(desk.tier1.user_id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // The agent's public reply with the manual and a page of steps whose
    // name is not ASCII.
    let manual = binary(70_000);
    let steps = "Vaihe 1: irrota pistoke.\nVaihe 2: avaa luukku.\n".as_bytes();
    let reply = store
        .add_article_with_files(
            &desk.tier1,
            t.id,
            NewArticle {
                kind: Some(ArticleKind::Reply),
                body: "Hei Alice,\n\nkäyttöohje ja vaiheet ovat liitteenä.".into(),
                internal: None,
            },
            vec![
                stored_file(store, "manual.pdf", "application/pdf", &manual).await,
                stored_file(store, "Käyttöohje – vaiheet.txt", "text/plain", steps).await,
            ],
        )
        .await
        .unwrap();
    store.mail_events_to_outbox(100).await.unwrap();
    let rows = store.outbox_rows(100).await.unwrap();
    let row = |kind: &str| rows.iter().find(|m| m.kind == kind).unwrap();
    assert_eq!(row("reply").article_id, Some(reply.id));
    assert_eq!(
        row("ack").article_id,
        None,
        "an acknowledgement has no files"
    );

    let sink = SmtpSink::start(free_port());
    let sender = Sender::new(store.clone(), &files_config(sink.port, ATTACH_MAX_BYTES)).unwrap();
    drain(&sender).await;
    assert!(store
        .outbox_rows(100)
        .await
        .unwrap()
        .iter()
        .all(|m| m.sent_at.is_some() && m.attempts == 1));

    // The reply: the text part as written, then both files byte for byte.
    let raw = received_for(&sink, "alice@shared.test", "Re: ");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let h = headers(&text);
    assert!(
        header(&h, "Content-Type").is_some_and(|c| c.starts_with("multipart/mixed;")),
        "{text}"
    );
    assert!(header(&h, "Subject").unwrap().contains("Dishwasher manual"));
    let m = decoded(&raw);
    assert_eq!(
        text_of(&m),
        "Hei Alice,\n\nkäyttöohje ja vaiheet ovat liitteenä."
    );
    assert_eq!(
        files_of(&m),
        vec![
            (
                "manual.pdf".into(),
                "application/pdf".into(),
                manual.clone()
            ),
            (
                "Käyttöohje – vaiheet.txt".into(),
                "text/plain".into(),
                steps.to_vec()
            ),
        ]
    );
    // The non-ASCII name as RFC 2231 says (split into numbered sections
    // like any long parameter), checked by the decoded name above and the
    // snapshot below.
    assert!(
        text.contains("filename*0*=utf-8''K%C3%A4ytt%C3%B6ohje"),
        "{text}"
    );
    insta::assert_snapshot!("reply_with_files_mime", mime_outline(&raw));
    // The acknowledgement stays plain text.
    let ack = String::from_utf8_lossy(&received_for(&sink, "alice@shared.test", "vastaanotettu"))
        .into_owned();
    assert_eq!(
        header(&headers(&ack), "Content-Type"),
        Some("text/plain; charset=utf-8")
    );

    // The customer answers with a photo: the owner's notice of her reply
    // carries it.
    let photo = binary(3_000);
    let answer = store
        .add_article_with_files(
            &desk.alice,
            t.id,
            NewArticle {
                kind: None,
                body: "Kiitos! Tässä kuva tyyppikilvestä.".into(),
                internal: None,
            },
            vec![stored_file(store, "kilpi.png", "image/png", &photo).await],
        )
        .await
        .unwrap();
    store.mail_events_to_outbox(100).await.unwrap();
    let rows = store.outbox_rows(100).await.unwrap();
    let notice = rows.iter().find(|m| m.kind == "customer_reply").unwrap();
    assert_eq!(notice.recipient, "first@desk.test");
    assert_eq!(notice.article_id, Some(answer.id));
    drain(&sender).await;
    let m = decoded(&received_for(&sink, "first@desk.test", "Asiakas vastasi"));
    assert!(text_of(&m).contains("Kiitos! Tässä kuva tyyppikilvestä."));
    assert_eq!(
        files_of(&m),
        vec![("kilpi.png".into(), "image/png".into(), photo)]
    );
}

async fn agents_get_the_files_of_a_new_request(db: TestDb) {
    let (desk, _mb) = setup(&db).await;
    let data = tempfile::tempdir().unwrap();
    let folder_store = in_folder(&db.store, data.path());
    let store = &folder_store;
    // Alice opens a request in the portal with a screenshot: the file is
    // listed on the first article in the ticket's transaction.
    let screenshot = binary(5_000);
    let mut new = tuki_store::testing::ticket("Error on login");
    new.body = "See the screenshot.".into();
    let t = store
        .create_ticket_with_files(
            &desk.alice,
            new,
            vec![stored_file(store, "virhe.png", "image/png", &screenshot).await],
        )
        .await
        .unwrap();
    let files = store.ticket_attachments(&desk.alice, t.id).await.unwrap();
    assert_eq!(files.len(), 1);
    store.mail_events_to_outbox(100).await.unwrap();
    let rows = store.outbox_rows(100).await.unwrap();
    let notice = rows.iter().find(|m| m.kind == "new_ticket").unwrap();
    assert_eq!(notice.recipient, "first@desk.test");
    assert_eq!(notice.article_id, Some(files[0].article_id));
    let ack = rows.iter().find(|m| m.kind == "ack").unwrap();
    assert_eq!(ack.article_id, None);

    let sink = SmtpSink::start(free_port());
    let sender = Sender::new(store.clone(), &files_config(sink.port, ATTACH_MAX_BYTES)).unwrap();
    drain(&sender).await;
    let m = decoded(&received_for(&sink, "first@desk.test", "Uusi pyyntö"));
    assert!(text_of(&m).contains("See the screenshot."));
    assert_eq!(
        files_of(&m),
        vec![("virhe.png".into(), "image/png".into(), screenshot)]
    );
    // Her acknowledgement is text only.
    let ack = decoded(&received_for(&sink, "alice@shared.test", "vastaanotettu"));
    assert!(ack.attachments.is_empty());
}

async fn files_of_internal_notes_never_go_out_by_mail(db: TestDb) {
    let (desk, _mb) = setup(&db).await;
    let data = tempfile::tempdir().unwrap();
    let folder_store = in_folder(&db.store, data.path());
    let store = &folder_store;
    let t = desk.ticket_for(&desk.alice, "VPN certificate").await;
    let secret = b"vpn-admin-password: hunter2\n";
    let note = store
        .add_article_with_files(
            &desk.tier1,
            t.id,
            NewArticle {
                kind: Some(ArticleKind::Note),
                body: "Admin password for the VPN box attached.".into(),
                internal: None,
            },
            vec![stored_file(store, "salasanat.txt", "text/plain", secret).await],
        )
        .await
        .unwrap();
    assert!(note.internal);
    // The note is the ticket's newest article when tier 1 is given the
    // ticket: the assignment notice quotes it, without its file.
    store
        .update_ticket(
            &desk.admin,
            t.id,
            tuki_store::tickets::TicketPatch {
                owner_id: Some(desk.tier1.user_id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // A public reply afterwards carries no files of earlier articles.
    store
        .add_article(
            &desk.tier1,
            t.id,
            NewArticle {
                kind: Some(ArticleKind::Reply),
                body: "We are looking into it.".into(),
                internal: None,
            },
        )
        .await
        .unwrap();
    store.mail_events_to_outbox(100).await.unwrap();
    let rows = store.outbox_rows(100).await.unwrap();
    let mut kinds: Vec<&str> = rows.iter().map(|m| m.kind.as_str()).collect();
    kinds.sort();
    assert_eq!(kinds, vec!["ack", "assigned", "reply"]);
    assert!(
        rows.iter().all(|m| m.article_id != Some(note.id)),
        "{rows:#?}"
    );
    // Even a mail that names the note (none is written so) goes without
    // its file: the sender reads files of public articles only.
    assert!(store.mail_files(note.id).await.unwrap().is_empty());
    store
        .enqueue_mail(NewMail {
            kind: "reply".into(),
            ticket_id: Some(t.id),
            user_id: desk.alice.user_id,
            recipient: "alice@shared.test".into(),
            subject: "Naming the note".into(),
            body: "Nothing attached.".into(),
            article_id: Some(note.id),
            ..NewMail::default()
        })
        .await
        .unwrap();

    let sink = SmtpSink::start(free_port());
    let sender = Sender::new(store.clone(), &files_config(sink.port, ATTACH_MAX_BYTES)).unwrap();
    drain(&sender).await;
    let received = sink.raw_messages();
    assert_eq!(received.len(), 4);
    for raw in &received {
        let text = String::from_utf8_lossy(raw);
        assert_eq!(
            header(&headers(&text), "Content-Type"),
            Some("text/plain; charset=utf-8"),
            "{text}"
        );
        assert!(decoded(raw).attachments.is_empty(), "{text}");
        assert!(!text.contains("salasanat"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}

async fn files_over_the_size_cap_are_listed_not_attached(db: TestDb) {
    let (desk, _mb) = setup(&db).await;
    let data = tempfile::tempdir().unwrap();
    let folder_store = in_folder(&db.store, data.path());
    let store = &folder_store;
    let t = desk.ticket_for(&desk.alice, "Leaking tap").await;
    let description = binary(2_000);
    let video = binary(50_000);
    let log = binary(1_000);
    store
        .add_article_with_files(
            &desk.tier1,
            t.id,
            NewArticle {
                kind: Some(ArticleKind::Reply),
                body: "Ohjevideo ja kuvaus liitteenä.".into(),
                internal: None,
            },
            vec![
                stored_file(store, "kuvaus.pdf", "application/pdf", &description).await,
                stored_file(store, "ohje.mp4", "video/mp4", &video).await,
                stored_file(store, "loki.bin", "application/octet-stream", &log).await,
            ],
        )
        .await
        .unwrap();
    let sink = SmtpSink::start(free_port());
    // At most 10,000 bytes of files: the video does not fit, the files
    // before and after it do.
    let sender = Sender::new(store.clone(), &files_config(sink.port, 10_000)).unwrap();
    drain(&sender).await;
    let m = decoded(&received_for(&sink, "alice@shared.test", "Re: "));
    assert_eq!(
        files_of(&m),
        vec![
            ("kuvaus.pdf".into(), "application/pdf".into(), description),
            ("loki.bin".into(), "application/octet-stream".into(), log),
        ]
    );
    // Alice reads Finnish.
    assert_eq!(
        text_of(&m),
        "Ohjevideo ja kuvaus liitteenä.\n\n\
         Liian suuret tiedostot sähköpostiin, saatavilla pyynnön sivulla:\n\
         - ohje.mp4 (48 kB)"
    );
}

async fn a_file_missing_on_disk_is_listed_and_the_mail_still_goes(db: TestDb) {
    let (desk, _mb) = setup(&db).await;
    let data = tempfile::tempdir().unwrap();
    let folder_store = in_folder(&db.store, data.path());
    let store = &folder_store;
    store
        .update_user(
            &desk.admin,
            desk.alice.user_id.unwrap(),
            tuki_store::directory::UserPatch {
                language: Some(tuki_domain::directory::Language::En),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let t = desk.ticket_for(&desk.alice, "Printer driver").await;
    let driver = binary(4_000);
    let gone = stored_file(store, "old-driver.zip", "application/zip", &binary(1_500)).await;
    store
        .add_article_with_files(
            &desk.tier1,
            t.id,
            NewArticle {
                kind: Some(ArticleKind::Reply),
                body: "Here are the drivers.".into(),
                internal: None,
            },
            vec![
                gone.clone(),
                stored_file(store, "driver.zip", "application/zip", &driver).await,
            ],
        )
        .await
        .unwrap();
    // The old driver's file is lost from the data folder: the sender tells
    // the administrators.
    std::fs::remove_file(blob_path(data.path(), &gone.sha256)).unwrap();

    let sink = SmtpSink::start(free_port());
    let sender = Sender::new(store.clone(), &files_config(sink.port, ATTACH_MAX_BYTES)).unwrap();
    drain(&sender).await;
    // Sent on the first attempt, without error, the lost file listed.
    let rows = store.outbox_rows(100).await.unwrap();
    let reply = rows.iter().find(|m| m.kind == "reply").unwrap();
    assert!(reply.sent_at.is_some() && reply.attempts == 1 && reply.last_error.is_none());
    let m = decoded(&received_for(&sink, "alice@shared.test", "Re: "));
    assert_eq!(
        files_of(&m),
        vec![("driver.zip".into(), "application/zip".into(), driver)]
    );
    assert_eq!(
        text_of(&m),
        "Here are the drivers.\n\n\
         Files that could not be attached to this mail:\n\
         - old-driver.zip (1 kB)"
    );
    // The administrators were told which file of which request is lost.
    let told = store
        .notifications_for_ticket(&desk.admin, t.id)
        .await
        .unwrap();
    let told: Vec<_> = told.iter().filter(|n| n.kind == "file_damaged").collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].user_id, desk.admin.user_id.unwrap());
    assert!(told[0].message.contains("old-driver.zip") && told[0].message.contains("missing"));
}

tuki_store::on_both_engines!(
    outgoing_mail_arrives_with_threading_headers,
    mail_waits_while_smtp_is_down_and_goes_when_it_returns,
    new_owner_gets_an_assigned_mail,
    mail_goes_over_starttls_and_tls_with_a_private_ca,
    mail_stays_queued_while_the_server_certificate_is_not_trusted,
    a_public_reply_carries_its_files_by_mail,
    agents_get_the_files_of_a_new_request,
    files_of_internal_notes_never_go_out_by_mail,
    files_over_the_size_cap_are_listed_not_attached,
    a_file_missing_on_disk_is_listed_and_the_mail_still_goes,
);

/// This crate's folder as cargo names it when running the tests. Read at run
/// time: a test binary built from another checkout sharing the target folder
/// would carry that checkout's path.
fn crate_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
