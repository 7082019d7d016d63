//! The IMAP poller of `tuki serve` against a real Dovecot: mail delivered
//! into the mailbox becomes tickets, a reply threads, an unparsable message
//! is quarantined and removed, and a message leaves the server only after
//! its ticket is committed: a `tuki serve` killed (SIGKILL) between fetch
//! and commit, or between commit and removal, loses nothing and doubles
//! nothing once another one runs. A mailbox whose server cannot be reached
//! records its error and tells the administrators once.
//!
//! Over TLS (IMAPS) and STARTTLS, with a server certificate signed by a
//! throwaway private CA: the poller refuses the certificate, and records
//! that as the mailbox's error, until `tuki serve` is given the CA with
//! `TUKI_MAIL_CA_FILE`; then both import their mail.
//!
//! Two `tuki serve` processes on one database poll a mailbox from one of
//! them: one holds the mailbox's lease and logs in, the other waits; when
//! the holder is killed (SIGKILL) its lease runs out and the other takes
//! the mailbox over and imports what comes next.
//!
//! Dovecot runs as a throwaway instance: its own configuration in a
//! temporary folder, loopback only, free ports, one user in a passwd file,
//! Maildir storage in the folder; without TLS, or with `ssl = required`, an
//! IMAPS listener and an IMAP listener that offers STARTTLS.
//! `scripts/test.sh` installs Debian's `dovecot-imapd` when it is missing;
//! `TUKI_TEST_DOVECOT` names the binary (default: `dovecot` on the PATH,
//! then /usr/sbin/dovecot).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};
use tuki_domain::access::Actor;
use tuki_domain::directory::Role;
use tuki_store::directory::NewUser;
use tuki_store::mail::imap::{ImapSecurity, ImapSettings};
use tuki_store::testing::{TestCa, TestDb};

const USER: &str = "desk";
const PASSWORD: &str = "desk-secret";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn dovecot_binary() -> PathBuf {
    if let Ok(p) = std::env::var("TUKI_TEST_DOVECOT") {
        return p.into();
    }
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("dovecot");
        if p.is_file() {
            return p;
        }
    }
    let p = PathBuf::from("/usr/sbin/dovecot");
    assert!(
        p.is_file(),
        "Dovecot is not installed: run the tests with scripts/test.sh, which installs dovecot-imapd"
    );
    p
}

/// `id FLAG [NAME]`: a user's or group's number or name.
fn id_of(flag: &str, name: &str) -> String {
    let mut cmd = Command::new("id");
    cmd.arg(flag);
    if !name.is_empty() {
        cmd.arg(name);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "id {flag} {name}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A Dovecot of our own, stopped (by its PID) when dropped.
struct Dovecot {
    child: Child,
    /// IMAP; offers STARTTLS when started with TLS.
    port: u16,
    /// IMAPS (TLS from the first byte) when started with TLS.
    tls_port: Option<u16>,
    dir: tempfile::TempDir,
}

impl Dovecot {
    /// Without TLS.
    fn start() -> Dovecot {
        Self::start_with(None)
    }

    /// With `ssl = required`, the certificate of `ca`, and an IMAPS
    /// listener besides the IMAP one (which offers STARTTLS).
    fn start_tls(ca: &TestCa) -> Dovecot {
        Self::start_with(Some(ca))
    }

    fn start_with(ca: Option<&TestCa>) -> Dovecot {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let d = d.as_path();
        let port = free_port();
        let tls_port = ca.map(|_| free_port());
        let (ssl, imaps) = match (ca, tls_port) {
            (Some(ca), Some(tls_port)) => (
                format!(
                    "ssl = required\nssl_cert = <{}\nssl_key = <{}\n",
                    ca.cert_pem.display(),
                    ca.key_pem.display()
                ),
                format!("address = 127.0.0.1\n    port = {tls_port}\n    ssl = yes"),
            ),
            _ => ("ssl = no\n".to_string(), "port = 0".to_string()),
        };
        // Dovecot refuses to run its processes, or a mail user, as root:
        // under root (containers, CI) the Debian package's users serve.
        let root = id_of("-u", "") == "0";
        let me = id_of("-un", "");
        let (internal, login) = if root {
            ("dovecot".to_string(), "dovenull".to_string())
        } else {
            (me.clone(), me.clone())
        };
        let mail_user = if root { "dovecot" } else { me.as_str() };
        let (uid, gid) = (id_of("-u", mail_user), id_of("-g", mail_user));
        let internal_group = id_of("-gn", &internal);
        std::fs::create_dir_all(d.join("mail")).unwrap();
        if root {
            let ok = Command::new("chown")
                .arg(format!("{uid}:{gid}"))
                .arg(d.join("mail"))
                .status()
                .unwrap();
            assert!(ok.success());
            // The mail user must reach its folder inside the temporary one.
            let ok = Command::new("chmod").arg("755").arg(d).status().unwrap();
            assert!(ok.success());
        }
        std::fs::write(
            d.join("passwd"),
            format!(
                "{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{}::\n",
                d.join("mail").display()
            ),
        )
        .unwrap();
        let conf = format!(
            "protocols = imap\n\
             listen = 127.0.0.1\n\
             base_dir = {d}/run\n\
             state_dir = {d}/state\n\
             log_path = {d}/dovecot.log\n\
             {ssl}\
             auth_mechanisms = plain\n\
             disable_plaintext_auth = no\n\
             default_internal_user = {internal}\n\
             default_internal_group = {internal_group}\n\
             default_login_user = {login}\n\
             first_valid_uid = 0\n\
             mail_location = maildir:{d}/mail/Maildir\n\
             passdb {{\n  driver = passwd-file\n  args = {d}/passwd\n}}\n\
             userdb {{\n  driver = passwd-file\n  args = {d}/passwd\n}}\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    {imaps}\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\n",
            d = d.display()
        );
        std::fs::write(d.join("dovecot.conf"), conf).unwrap();
        let child = Command::new(dovecot_binary())
            .arg("-F")
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dovecot");
        let dovecot = Dovecot {
            child,
            port,
            tls_port,
            dir,
        };
        let until = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
            || tls_port.is_some_and(|p| std::net::TcpStream::connect(("127.0.0.1", p)).is_err())
        {
            assert!(
                Instant::now() < until,
                "Dovecot did not listen within 20 s; its log: {}",
                std::fs::read_to_string(d.join("dovecot.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        dovecot
    }

    fn settings(&self) -> ImapSettings {
        ImapSettings {
            host: "127.0.0.1".into(),
            port: self.port,
            security: ImapSecurity::Plain,
            user: USER.into(),
            password: PASSWORD.into(),
            folder: "INBOX".into(),
            move_to: None,
            poll_seconds: 1,
        }
    }

    /// A session of the test itself, over plain IMAP (Dovecot counts a
    /// loopback client as secure, also with `ssl = required`).
    async fn session(&self) -> async_imap::Session<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap().unwrap();
        client.login(USER, PASSWORD).await.map_err(|e| e.0).unwrap()
    }

    /// Delivers a message into INBOX with APPEND.
    async fn deliver(&self, raw: &str) {
        self.deliver_to("INBOX", raw).await
    }

    /// Delivers a message into `folder` with APPEND.
    async fn deliver_to(&self, folder: &str, raw: &str) {
        let mut s = self.session().await;
        s.append(folder, None, None, raw.replace('\n', "\r\n").as_bytes())
            .await
            .unwrap();
        s.logout().await.unwrap();
    }

    async fn create_folder(&self, folder: &str) {
        let mut s = self.session().await;
        s.create(folder).await.unwrap();
        s.logout().await.unwrap();
    }

    /// How many messages INBOX holds (deleted or not: a message flagged
    /// but not expunged is still on the server).
    async fn count(&self) -> usize {
        self.count_in("INBOX").await
    }

    async fn count_in(&self, folder: &str) -> usize {
        let mut s = self.session().await;
        s.select(folder).await.unwrap();
        let n = s.uid_search("ALL").await.unwrap().len();
        s.logout().await.unwrap();
        n
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

/// A `tuki serve` whose log lines the test reads.
struct Serve {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line so far.
    log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    fn start(db_url: &str, data_dir: &Path, env: &[(&str, &str)]) -> Serve {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tuki"));
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .env("TUKI_DATABASE_URL", db_url)
            .env("TUKI_DATA_DIR", data_dir)
            .env("TUKI_LOG", "warn,tuki_worker::imap=info")
            .env("NO_COLOR", "1")
            .env_remove("TUKI_SMTP_URL")
            .env_remove("TUKI_MAIL_CA_FILE")
            .env_remove("TUKI_IMAP_TEST_PAUSE_AFTER_FETCH")
            .env_remove("TUKI_IMAP_TEST_PAUSE_AFTER_COMMIT")
            // A short lease, so that a server started after a killed one
            // takes the mailbox over within seconds.
            .env("TUKI_IMAP_LEASE", "2")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start tuki serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let keep = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("tuki serve: {line}");
                keep.lock().unwrap().push(line.clone());
                if tx.send(line).is_err() {
                    // The test stopped listening; keep draining the pipe.
                }
            }
        });
        Serve { child, lines, log }
    }

    /// How many log lines so far contain `text`.
    fn logged(&self, text: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(text))
            .count()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a log line containing `text`.
    fn wait_for(&self, text: &str, within: Duration) {
        let until = Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return,
                Ok(_) => {}
                Err(_) => panic!("no log line with {text:?} within {within:?}"),
            }
        }
    }

    /// The crash: SIGKILL, no chance to clean up.
    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM; the pollers must leave IDLE and the process exit cleanly.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "tuki serve exited with {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("tuki serve did not stop within 20 s of SIGTERM");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn count(pool: &AnyPool, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

async fn wait_until<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < until, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const FIRST: &str = "From: Anna Asiakas <anna@cust.example>\n\
To: tuki@desk.example\n\
Subject: Printer jams\n\
Message-ID: <first@cust.example>\n\
Date: Mon, 3 Mar 2025 09:00:00 +0200\n\
Content-Type: text/plain; charset=utf-8\n\
\n\
The printer on floor 2 jams on every page.\n";

const REPLY: &str = "From: Anna Asiakas <anna@cust.example>\n\
To: tuki@desk.example\n\
Subject: Re: Printer jams\n\
Message-ID: <reply@cust.example>\n\
In-Reply-To: <first@cust.example>\n\
References: <first@cust.example>\n\
Date: Mon, 3 Mar 2025 10:00:00 +0200\n\
Content-Type: text/plain; charset=utf-8\n\
\n\
It also smells of toner.\n";

async fn imap_poller(db: TestDb) {
    let dovecot = Dovecot::start();
    let mailbox = db
        .store
        .create_mailbox("support", "tuki@desk.example", None)
        .await
        .unwrap();
    db.store
        .set_mailbox_imap(mailbox.id, Some(&dovecot.settings()))
        .await
        .unwrap();
    let admin = db
        .store
        .create_user(
            &Actor::system(),
            NewUser {
                email: "admin@desk.example".into(),
                name: "Admin".into(),
                phone: None,
                role: Some(Role::Admin),
                language: None,
                organisation_id: None,
                password: None,
            },
        )
        .await
        .unwrap();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let tickets = "SELECT COUNT(*) AS n FROM tickets";
    let received = "SELECT COUNT(*) AS n FROM mail_messages WHERE direction = 'in'";

    dovecot.deliver(FIRST).await;
    assert_eq!(dovecot.count().await, 1);

    // 1. Killed after the fetch, before the commit: nothing in Tuki, the
    //    message still on the server.
    let s = Serve::start(
        &db.url,
        &data.path().join("1"),
        &[("TUKI_IMAP_TEST_PAUSE_AFTER_FETCH", "600")],
    );
    s.wait_for("imap: test pause after fetch", Duration::from_secs(30));
    s.kill9();
    assert_eq!(count(&pool, tickets).await, 0);
    assert_eq!(count(&pool, received).await, 0);
    assert_eq!(dovecot.count().await, 1, "removed before the commit");

    // 2. Killed after the commit, before the removal: the ticket is there
    //    and so is the message.
    let s = Serve::start(
        &db.url,
        &data.path().join("2"),
        &[("TUKI_IMAP_TEST_PAUSE_AFTER_COMMIT", "600")],
    );
    s.wait_for("imap: test pause after commit", Duration::from_secs(30));
    s.kill9();
    assert_eq!(count(&pool, tickets).await, 1);
    assert_eq!(count(&pool, received).await, 1);
    assert_eq!(dovecot.count().await, 1);

    // 3. A healthy run: the leftover is recognised (no second ticket) and
    //    removed; a reply delivered while it idles threads into the
    //    ticket; an unparsable message is quarantined and removed. A second
    //    mailbox on a dead port fails and tells the administrator once.
    let dead = free_port();
    let broken = db
        .store
        .create_mailbox("broken", "broken@desk.example", None)
        .await
        .unwrap();
    db.store
        .set_mailbox_imap(
            broken.id,
            Some(&ImapSettings {
                port: dead,
                ..dovecot.settings()
            }),
        )
        .await
        .unwrap();
    let s = Serve::start(
        &db.url,
        &data.path().join("3"),
        &[
            ("TUKI_IMAP_ALERT_AFTER", "1"),
            ("TUKI_IMAP_RETRY_AFTER", "1"),
        ],
    );
    wait_until("the leftover removed", Duration::from_secs(30), || async {
        dovecot.count().await == 0
    })
    .await;
    assert_eq!(count(&pool, tickets).await, 1);
    let dup =
        sqlx::query("SELECT outcome FROM mail_messages WHERE message_id = 'first@cust.example'")
            .fetch_one(&pool)
            .await
            .unwrap()
            .try_get::<String, _>("outcome")
            .unwrap();
    assert_eq!(dup, "ticket");

    // Delivered while the poller idles (Dovecot offers IDLE).
    dovecot.deliver(REPLY).await;
    dovecot
        .deliver("This is not a mail message at all.\n")
        .await;
    wait_until(
        "the reply and the broken message imported and removed",
        Duration::from_secs(30),
        || async {
            dovecot.count().await == 0
                && count(&pool, "SELECT COUNT(*) AS n FROM mail_quarantine").await == 1
                && count(&pool, received).await == 2
        },
    )
    .await;
    assert_eq!(
        count(&pool, tickets).await,
        1,
        "the reply made a new ticket"
    );
    let reply = db
        .store
        .mail_record("reply@cust.example")
        .await
        .unwrap()
        .expect("the reply was recorded");
    assert_eq!(reply.outcome, "article");
    assert_eq!(reply.threaded_by.as_deref(), Some("references"));
    let first = db
        .store
        .mail_record("first@cust.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.ticket_id, first.ticket_id);
    assert_eq!(
        count(
            &pool,
            &format!(
                "SELECT COUNT(*) AS n FROM articles WHERE ticket_id = {}",
                first.ticket_id.unwrap()
            )
        )
        .await,
        2
    );
    // The raw source of each is kept, the broken one in the quarantine.
    assert!(db
        .store
        .mail_raw("reply@cust.example")
        .await
        .unwrap()
        .is_some());
    let q = db.store.quarantined_mail().await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].mailbox_id, Some(mailbox.id));

    // The healthy mailbox records its fetch; the broken one its error, and
    // the administrator is told once however often it fails.
    let notices = format!(
        "SELECT COUNT(*) AS n FROM notifications WHERE user_id = {} AND kind = 'mailbox_failing'",
        admin.id
    );
    wait_until(
        "the administrator told",
        Duration::from_secs(30),
        || async { count(&pool, &notices).await == 1 },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    s.stop();
    assert_eq!(count(&pool, &notices).await, 1);
    let good = db.store.mailbox("support").await.unwrap().unwrap();
    assert!(good.last_fetch_at.is_some());
    assert!(good.failing_since.is_none());
    let bad = db.store.mailbox("broken").await.unwrap().unwrap();
    assert!(bad.last_fetch_at.is_none());
    assert!(bad.failing_since.is_some());
    assert!(
        bad.last_error.as_deref().unwrap_or("").contains("connect"),
        "{:?}",
        bad.last_error
    );

    // 4. A backlog, as after the desk's server was down for a while: taken
    //    in rounds of one transaction each (50 messages), each message once,
    //    and the folder emptied with one removal per round.
    for i in 0..120 {
        dovecot
            .deliver(&format!(
                "From: c{i}@backlog.example\nTo: tuki@desk.example\nSubject: Backlog {i}\n\
                 Message-ID: <backlog-{i}@backlog.example>\nContent-Type: text/plain; charset=utf-8\n\n\
                 Request {i}.\n"
            ))
            .await;
    }
    assert_eq!(dovecot.count().await, 120);
    let s = Serve::start(&db.url, &data.path().join("4"), &[]);
    wait_until(
        "the backlog imported and removed",
        Duration::from_secs(60),
        || async { dovecot.count().await == 0 && count(&pool, tickets).await == 121 },
    )
    .await;
    s.stop();
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) AS n FROM mail_messages WHERE message_id LIKE 'backlog-%' AND outcome = 'ticket'"
        )
        .await,
        120
    );
    pool.close().await;
}

const OVER_TLS: &str = "From: Anna Asiakas <anna@cust.example>\n\
To: tls@desk.example\n\
Subject: VPN drops\n\
Message-ID: <over-tls@cust.example>\n\
Date: Mon, 3 Mar 2025 11:00:00 +0200\n\
Content-Type: text/plain; charset=utf-8\n\
\n\
The VPN drops every hour.\n";

const OVER_STARTTLS: &str = "From: Anna Asiakas <anna@cust.example>\n\
To: starttls@desk.example\n\
Subject: Screen dark\n\
Message-ID: <over-starttls@cust.example>\n\
Date: Mon, 3 Mar 2025 12:00:00 +0200\n\
Content-Type: text/plain; charset=utf-8\n\
\n\
Nothing on the screen.\n";

async fn imap_poller_over_tls_and_starttls(db: TestDb) {
    let ca = TestCa::generate();
    let dovecot = Dovecot::start_tls(&ca);
    // One folder per mailbox, so each message shows which path fetched it.
    dovecot.create_folder("Secure").await;
    // IMAPS by the server's name, STARTTLS by its address: the certificate
    // names both.
    let over_tls = db
        .store
        .create_mailbox("tls", "tls@desk.example", None)
        .await
        .unwrap();
    db.store
        .set_mailbox_imap(
            over_tls.id,
            Some(&ImapSettings {
                host: "localhost".into(),
                port: dovecot.tls_port.unwrap(),
                security: ImapSecurity::Tls,
                ..dovecot.settings()
            }),
        )
        .await
        .unwrap();
    let over_starttls = db
        .store
        .create_mailbox("starttls", "starttls@desk.example", None)
        .await
        .unwrap();
    db.store
        .set_mailbox_imap(
            over_starttls.id,
            Some(&ImapSettings {
                security: ImapSecurity::Starttls,
                folder: "Secure".into(),
                ..dovecot.settings()
            }),
        )
        .await
        .unwrap();
    dovecot.deliver_to("INBOX", OVER_TLS).await;
    dovecot.deliver_to("Secure", OVER_STARTTLS).await;
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let tickets = "SELECT COUNT(*) AS n FROM tickets";
    let retry = ("TUKI_IMAP_RETRY_AFTER", "1");

    // 1. Without the CA neither path trusts the server: each mailbox
    //    records the certificate error, nothing is imported or removed.
    let s = Serve::start(&db.url, &data.path().join("1"), &[retry]);
    let refused = |name: &'static str| {
        let store = db.store.clone();
        move || {
            let store = store.clone();
            async move {
                store
                    .mailbox(name)
                    .await
                    .unwrap()
                    .and_then(|m| m.last_error)
                    .is_some_and(|e| e.contains("certificate"))
            }
        }
    };
    wait_until(
        "the IMAPS mailbox refuses the certificate",
        Duration::from_secs(30),
        refused("tls"),
    )
    .await;
    wait_until(
        "the STARTTLS mailbox refuses the certificate",
        Duration::from_secs(30),
        refused("starttls"),
    )
    .await;
    s.stop();
    assert_eq!(count(&pool, tickets).await, 0);
    assert_eq!(dovecot.count_in("INBOX").await, 1);
    assert_eq!(dovecot.count_in("Secure").await, 1);
    for name in ["tls", "starttls"] {
        let m = db.store.mailbox(name).await.unwrap().unwrap();
        assert!(m.last_fetch_at.is_none(), "{name}");
        assert!(m.failing_since.is_some(), "{name}");
    }

    // 2. With the CA (`TUKI_MAIL_CA_FILE`), both import and remove.
    let ca_file = ca.ca_pem.to_str().unwrap();
    let s = Serve::start(
        &db.url,
        &data.path().join("2"),
        &[retry, ("TUKI_MAIL_CA_FILE", ca_file)],
    );
    wait_until(
        "both messages imported and removed",
        Duration::from_secs(30),
        || async {
            dovecot.count_in("INBOX").await == 0
                && dovecot.count_in("Secure").await == 0
                && count(&pool, tickets).await == 2
        },
    )
    .await;
    s.stop();
    // Each message became a ticket through its own mailbox.
    for (id, mailbox) in [
        ("over-tls@cust.example", over_tls.id),
        ("over-starttls@cust.example", over_starttls.id),
    ] {
        let sql = format!(
            "SELECT COUNT(*) AS n FROM mail_messages WHERE message_id = '{id}' \
             AND mailbox_id = {mailbox} AND outcome = 'ticket'"
        );
        assert_eq!(count(&pool, &sql).await, 1, "{id}");
    }
    for name in ["tls", "starttls"] {
        let m = db.store.mailbox(name).await.unwrap().unwrap();
        assert!(m.last_fetch_at.is_some(), "{name}");
        assert!(m.failing_since.is_none(), "{name}");
    }
    // Dovecot saw the logins over TLS.
    let log = dovecot.log();
    assert!(
        log.lines()
            .filter(|l| l.contains("Login: user=<desk>") && l.contains(", TLS"))
            .count()
            >= 2,
        "no TLS logins in Dovecot's log:\n{log}"
    );
    pool.close().await;
}

/// `tuki serve` does not start with a CA file it cannot use, and says which.
#[test]
fn serve_refuses_a_mail_ca_file_without_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("not-a-ca.pem");
    std::fs::write(&bad, "this is no certificate\n").unwrap();
    for (file, says) in [
        (bad.clone(), "no certificate"),
        (dir.path().join("missing.pem"), "cannot read"),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tuki"))
            .args(["serve", "--listen", "127.0.0.1:0", "--mail-ca-file"])
            .arg(&file)
            .env("TUKI_DATA_DIR", dir.path().join("data"))
            .env_remove("TUKI_DATABASE_URL")
            .env_remove("TUKI_SMTP_URL")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > until {
                let _ = child.kill();
                panic!("tuki serve started with the CA file {}", file.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!status.success());
        assert!(
            stderr.contains(&file.display().to_string()) && stderr.contains(says),
            "{stderr}"
        );
    }
}

const SECOND: &str = "From: Pekka Puhelin <pekka@cust.example>\n\
To: tuki@desk.example\n\
Subject: Headset crackles\n\
Message-ID: <second@cust.example>\n\
Date: Mon, 3 Mar 2025 13:00:00 +0200\n\
Content-Type: text/plain; charset=utf-8\n\
\n\
My headset crackles in every call.\n";

const THIRD: &str = "From: Pekka Puhelin <pekka@cust.example>\n\
To: tuki@desk.example\n\
Subject: Badge does not open the door\n\
Message-ID: <third@cust.example>\n\
Date: Mon, 3 Mar 2025 14:00:00 +0200\n\
Content-Type: text/plain; charset=utf-8\n\
\n\
My badge no longer opens the side door.\n";

/// The process id in a node id (`host-pid-random`).
fn pid_of(node: &str) -> u32 {
    node.rsplit('-')
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no process id in the node id {node:?}"))
}

async fn two_servers_poll_a_mailbox_from_one(db: TestDb) {
    let dovecot = Dovecot::start();
    let mailbox = db
        .store
        .create_mailbox("support", "tuki@desk.example", None)
        .await
        .unwrap();
    db.store
        .set_mailbox_imap(mailbox.id, Some(&dovecot.settings()))
        .await
        .unwrap();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let tickets = "SELECT COUNT(*) AS n FROM tickets";
    let received = "SELECT COUNT(*) AS n FROM mail_messages WHERE direction = 'in'";
    let lease = || async {
        let m = db.store.mailbox("support").await.unwrap().unwrap();
        (m.poller_node, m.poller_lease_until)
    };

    // 1. Two servers start with a message waiting: one takes the lease,
    //    logs in and imports it; the other waits.
    dovecot.deliver(FIRST).await;
    let env = [("TUKI_IMAP_LEASE", "3"), ("TUKI_IMAP_RETRY_AFTER", "1")];
    let a = Serve::start(&db.url, &data.path().join("a"), &env);
    let b = Serve::start(&db.url, &data.path().join("b"), &env);
    wait_until(
        "the first message imported and removed",
        Duration::from_secs(30),
        || async { dovecot.count().await == 0 && count(&pool, tickets).await == 1 },
    )
    .await;
    let node = lease().await.0.expect("a server holds the lease");
    let (holder, waiter) = if pid_of(&node) == a.pid() {
        (a, b)
    } else {
        assert_eq!(pid_of(&node), b.pid(), "the lease names neither server");
        (b, a)
    };

    // 2. For several lease lengths the holder keeps renewing it and
    //    imports what comes; the other never logs in or fetches.
    tokio::time::sleep(Duration::from_secs(7)).await;
    dovecot.deliver(SECOND).await;
    wait_until(
        "the second message imported and removed",
        Duration::from_secs(30),
        || async { dovecot.count().await == 0 && count(&pool, tickets).await == 2 },
    )
    .await;
    let (still, until) = lease().await;
    assert_eq!(
        still.as_deref(),
        Some(node.as_str()),
        "the lease changed hands"
    );
    assert!(
        until.unwrap() > db.store.now(),
        "the holder's lease ran out"
    );
    assert_eq!(
        holder.logged("imap: connected"),
        1,
        "the holder reconnected"
    );
    assert!(holder.logged("imap: fetched") >= 2);
    assert_eq!(
        waiter.logged("imap: connected"),
        0,
        "both servers logged in"
    );
    assert_eq!(waiter.logged("imap: fetched"), 0);
    assert!(waiter.logged("another server polls this mailbox") >= 1);
    assert_eq!(count(&pool, received).await, 2);

    // 3. The holder crashes: its lease is not released but runs out, and
    //    the other server takes the mailbox over and imports a new message.
    holder.kill9();
    assert_eq!(lease().await.0.as_deref(), Some(node.as_str()));
    dovecot.deliver(THIRD).await;
    wait_until(
        "the other server took over and imported the third message",
        Duration::from_secs(30),
        || async { dovecot.count().await == 0 && count(&pool, tickets).await == 3 },
    )
    .await;
    let (taken, _) = lease().await;
    let taken = taken.expect("the other server holds the lease");
    assert_eq!(pid_of(&taken), waiter.pid());
    assert_eq!(waiter.logged("imap: connected"), 1);
    assert_eq!(count(&pool, received).await, 3, "a message imported twice");
    let third = db
        .store
        .mail_record("third@cust.example")
        .await
        .unwrap()
        .expect("the third message was recorded");
    assert_eq!(third.outcome, "ticket");
    let m = db.store.mailbox("support").await.unwrap().unwrap();
    assert!(m.last_fetch_at.is_some());
    assert!(m.failing_since.is_none());

    // 4. A clean stop releases the lease for the next server at once.
    waiter.stop();
    assert_eq!(lease().await, (None, None));
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_servers_poll_a_mailbox_from_one_and_take_over_after_a_crash() {
    two_servers_poll_a_mailbox_from_one(TestDb::postgres().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_servers_poll_a_mailbox_from_one_and_take_over_after_a_crash() {
    two_servers_poll_a_mailbox_from_one(TestDb::sqlite().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_imap_poller_over_tls_and_starttls_with_a_private_ca() {
    imap_poller_over_tls_and_starttls(TestDb::postgres().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_imap_poller_over_tls_and_starttls_with_a_private_ca() {
    imap_poller_over_tls_and_starttls(TestDb::sqlite().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_imap_poller_imports_once_and_removes_after_commit() {
    imap_poller(TestDb::postgres().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_imap_poller_imports_once_and_removes_after_commit() {
    imap_poller(TestDb::sqlite().await).await
}
