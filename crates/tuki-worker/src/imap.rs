//! The IMAP poller: mail waiting in configured mailboxes becomes tickets.
//!
//! `tuki serve` runs one task per mailbox that has IMAP settings (see
//! `tuki mail add-mailbox --imap-host …`); a supervisor looks for new or
//! removed mailboxes every half minute.
//!
//! Several `tuki serve` processes on one database poll each mailbox from
//! one of them only: a task logs in only while it holds the mailbox's lease
//! (`poller_node`, `poller_lease_until`; [`Store::take_mailbox_lease`]),
//! `TUKI_IMAP_LEASE` seconds long (60 by default) under this process's node
//! id (host name, process id and a random part). It renews the lease every
//! third of that while it fetches and while it waits in IDLE, ends the
//! session as soon as a renewal finds the lease taken by another node, and
//! releases it when `tuki serve` shuts down or the session fails (so that
//! a failure of this server alone, such as its network or CA file, does not
//! keep the mailbox from the others). A task that does not hold the lease
//! asks again every third of its length; the lease of a crashed server runs
//! out and is taken over then.
//!
//! The holder logs in (TLS, STARTTLS, or
//! plain for a server on the same machine; the server's certificate must
//! chain to a web PKI root or to a CA of `--mail-ca-file`, and a failed
//! check is recorded as the mailbox's error), selects the folder and, for
//! each message not marked deleted, in UID order:
//!
//! 1. fetches it whole with `UID FETCH n BODY.PEEK[]` (nothing is marked
//!    seen, so a crash leaves the mailbox as it was);
//! 2. hands a round of up to 50 fetched messages to
//!    [`Store::ingest_mail_batch`], which commits their tickets and
//!    articles in one transaction (or quarantines an unparsable message with
//!    its raw bytes, or answers `Duplicate` for a Message-ID already
//!    imported);
//! 3. only then removes them from the server: `MOVE` to the configured
//!    folder, or `\Deleted` and `UID EXPUNGE` (plain `EXPUNGE` without
//!    UIDPLUS).
//!
//! A crash between 1 and 2 leaves the message on the server and nothing in
//! the database; between 2 and 3 it leaves both, and the next round finds
//! the Message-ID taken and just removes the message. A database error
//! stops the round with the message still on the server. Several processes
//! polling the same mailbox are therefore safe (each message is imported
//! once), only wasteful; the lease avoids that in the normal case.
//!
//! When the mailbox is empty the task waits with IDLE where the server
//! offers it (renewed every few minutes) and otherwise sleeps the
//! mailbox's poll interval. Each clean round records the mailbox's last
//! successful fetch; a failure records the error, waits and reconnects, and
//! when a mailbox has failed for longer than `TUKI_IMAP_ALERT_AFTER`
//! seconds (30 minutes by default) every administrator gets a
//! `mailbox_failing` notification, once per failure period.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_imap::types::UnsolicitedResponse;
use async_imap::{Client, Session};
use futures_util::StreamExt;
use jiff::SignedDuration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tuki_store::mail::imap::{ImapMailbox, ImapSecurity, ImapSettings};
use tuki_store::mail::IngestOutcome;
use tuki_store::Store;

type Result<T, E = PollError> = std::result::Result<T, E>;

/// Why a poller's round failed: what it was doing and the cause, in words
/// (recorded as the mailbox's last error and logged).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PollError(String);

impl From<tuki_store::StoreError> for PollError {
    fn from(e: tuki_store::StoreError) -> Self {
        PollError(e.to_string())
    }
}

/// Names the step a failure happened in, as the error's first words.
trait Step<T> {
    fn step(self, what: impl fmt::Display) -> Result<T, PollError>;
}

impl<T, E: fmt::Display> Step<T> for Result<T, E> {
    fn step(self, what: impl fmt::Display) -> Result<T, PollError> {
        self.map_err(|e| PollError(format!("{what}: {e}")))
    }
}

/// How the pollers behave (the binary reads it from its flags and the
/// `TUKI_IMAP_*` variables).
#[derive(Debug, Clone)]
pub struct PollerConfig {
    /// Tell administrators when a mailbox has failed for this long.
    pub alert_after: SignedDuration,
    /// Wait this long before reconnecting after a failure.
    pub retry_after: Duration,
    /// How long one IDLE lasts before it is renewed (servers drop idle
    /// clients after 30 minutes; a renewal also re-checks the folder).
    pub idle_renew: Duration,
    /// How long the poller's lease on a mailbox lasts (`TUKI_IMAP_LEASE`,
    /// seconds, 60 by default); it is renewed every third of that.
    pub lease: Duration,
    /// This process's name in the mailboxes' lease (`poller_node`).
    pub node: String,
    /// For tests only: pause this long after fetching a message, before
    /// it is committed (`TUKI_IMAP_TEST_PAUSE_AFTER_FETCH`, seconds), so a
    /// test can kill the process in between.
    pub test_pause_after_fetch: Option<Duration>,
    /// For tests only: pause this long after the commit, before the
    /// message is removed from the server
    /// (`TUKI_IMAP_TEST_PAUSE_AFTER_COMMIT`, seconds).
    pub test_pause_after_commit: Option<Duration>,
    /// Certificate authorities trusted for the servers' certificates in
    /// addition to the web PKI roots (`tuki serve --mail-ca-file`).
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl PollerConfig {
    /// The defaults, for `node`: alert after 30 minutes, retry after a
    /// minute, a 60-second lease, no test pauses.
    pub fn new(node: impl Into<String>) -> PollerConfig {
        PollerConfig {
            alert_after: SignedDuration::from_mins(30),
            retry_after: Duration::from_secs(60),
            idle_renew: Duration::from_secs(5 * 60),
            lease: Duration::from_secs(60),
            node: node.into(),
            test_pause_after_fetch: None,
            test_pause_after_commit: None,
            extra_roots: Vec::new(),
        }
    }
}

impl PollerConfig {
    /// How often a lease is renewed, and how often a server that does not
    /// hold it asks again: a third of its length.
    fn lease_every(&self) -> Duration {
        (self.lease / 3).max(Duration::from_millis(200))
    }

    fn lease_length(&self) -> SignedDuration {
        SignedDuration::try_from(self.lease).unwrap_or(SignedDuration::from_secs(60))
    }
}

/// Runs pollers for every IMAP mailbox until `stop` turns true.
pub async fn run(store: Store, config: PollerConfig, mut stop: watch::Receiver<bool>) {
    let config = Arc::new(config);
    tracing::info!(node = %config.node, lease_secs = config.lease.as_secs_f64(), "imap: pollers start");
    let mut tasks: HashMap<i64, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        tasks.retain(|_, t| !t.is_finished());
        match store.imap_mailboxes().await {
            Ok(list) => {
                for m in list {
                    if tasks.contains_key(&m.mailbox.id) {
                        continue;
                    }
                    tracing::info!(mailbox = %m.mailbox.name, host = %m.imap.host, "imap: starting the poller");
                    let task = Poller {
                        store: store.clone(),
                        config: config.clone(),
                        mailbox_id: m.mailbox.id,
                        stop: stop.clone(),
                        renewed: Instant::now(),
                        seen_holder: None,
                    };
                    tasks.insert(m.mailbox.id, tokio::spawn(task.run()));
                }
            }
            Err(e) => tracing::error!(error = %e, "imap: cannot read the mailboxes"),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
    for (_, t) in tasks {
        let _ = t.await;
    }
}

/// The connection: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Io for T {}
type Conn = Box<dyn Io>;

/// Why a round stopped.
enum Stop {
    /// `tuki serve` is shutting down.
    Shutdown,
    /// The mailbox lost its IMAP settings.
    Removed,
    /// Another server holds the mailbox's lease.
    NotHolder,
    /// A renewal found the lease taken by another server.
    LeaseLost,
}

/// How a wait for new mail ended.
enum Wait {
    /// Time to look at the folder again.
    Look,
    Shutdown,
    LeaseLost,
}

struct Poller {
    store: Store,
    config: Arc<PollerConfig>,
    mailbox_id: i64,
    stop: watch::Receiver<bool>,
    /// When this poller last took or renewed its lease.
    renewed: Instant,
    /// The other server last seen holding the lease (logged once).
    seen_holder: Option<String>,
}

impl Poller {
    async fn run(mut self) {
        loop {
            if *self.stop.borrow() {
                self.release().await;
                return;
            }
            let name = format!("mailbox {}", self.mailbox_id);
            let wait = match self.session().await {
                Ok(Stop::Shutdown) => {
                    self.release().await;
                    return;
                }
                Ok(Stop::Removed) => {
                    tracing::info!(%name, "imap: mailbox has no IMAP settings any more; poller stops");
                    self.release().await;
                    return;
                }
                Ok(Stop::NotHolder) => self.config.lease_every(),
                Ok(Stop::LeaseLost) => {
                    tracing::warn!(
                        mailbox_id = self.mailbox_id,
                        node = %self.config.node,
                        "imap: the lease was taken by another server; this session stops"
                    );
                    self.config.lease_every()
                }
                Err(e) => {
                    let text = format!("{e:#}");
                    tracing::warn!(mailbox_id = self.mailbox_id, error = %text, "imap: fetching failed");
                    if let Err(e) = self.store.mailbox_failed(self.mailbox_id, &text).await {
                        tracing::error!(mailbox_id = self.mailbox_id, error = %e, "imap: cannot record the failure");
                    }
                    match self
                        .store
                        .notify_mailbox_failing(self.mailbox_id, self.config.alert_after)
                        .await
                    {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::warn!(
                                mailbox_id = self.mailbox_id,
                                admins = n,
                                "imap: administrators told that the mailbox keeps failing"
                            )
                        }
                        Err(e) => {
                            tracing::error!(mailbox_id = self.mailbox_id, error = %e, "imap: cannot notify administrators")
                        }
                    }
                    // Another server may do better (its network, its CA
                    // file); this one asks for the lease again after the wait.
                    self.release().await;
                    self.config.retry_after
                }
            };
            tokio::select! {
                _ = stopped(&mut self.stop) => {
                    self.release().await;
                    return;
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Takes or renews the lease; `false` when another server holds it.
    async fn renew(&mut self) -> Result<bool> {
        let held = self
            .store
            .take_mailbox_lease(
                self.mailbox_id,
                &self.config.node,
                self.config.lease_length(),
            )
            .await
            .step("cannot take or renew the poller's lease on the mailbox")?;
        if held {
            self.renewed = Instant::now();
        }
        Ok(held)
    }

    /// Renews the lease when a third of it has passed since the last time.
    async fn renew_if_due(&mut self) -> Result<bool> {
        if self.renewed.elapsed() < self.config.lease_every() {
            return Ok(true);
        }
        self.renew().await
    }

    /// How long until the next renewal is due.
    fn renew_in(&self) -> Duration {
        self.config
            .lease_every()
            .saturating_sub(self.renewed.elapsed())
    }

    /// Gives the lease up (when this node holds it), so that another server
    /// can take the mailbox at once.
    async fn release(&mut self) {
        match self
            .store
            .release_mailbox_lease(self.mailbox_id, &self.config.node)
            .await
        {
            Ok(true) => {
                tracing::info!(mailbox_id = self.mailbox_id, node = %self.config.node, "imap: lease released")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(mailbox_id = self.mailbox_id, error = %e, "imap: cannot release the lease; it runs out by itself")
            }
        }
    }

    /// One connection: take the lease, log in, then drain and wait until
    /// something fails, the lease is lost or `tuki serve` stops.
    async fn session(&mut self) -> Result<Stop> {
        let Some(mb) = self.store.imap_mailbox(self.mailbox_id).await? else {
            return Ok(Stop::Removed);
        };
        if !self.renew().await? {
            let holder = mb.mailbox.poller_node.clone();
            if holder != self.seen_holder {
                tracing::info!(
                    mailbox = %mb.mailbox.name,
                    holder = holder.as_deref().unwrap_or("?"),
                    "imap: another server polls this mailbox; this one waits"
                );
                self.seen_holder = holder;
            }
            return Ok(Stop::NotHolder);
        }
        self.seen_holder = None;
        tracing::info!(mailbox = %mb.mailbox.name, node = %self.config.node, "imap: took the lease");
        let mut session = connect(&mb.imap, &self.config.extra_roots).await?;
        let caps = session.capabilities().await.step("CAPABILITY")?;
        let idle = caps.has_str("IDLE");
        let uidplus = caps.has_str("UIDPLUS");
        let can_move = caps.has_str("MOVE");
        drop(caps);
        session
            .select(&mb.imap.folder)
            .await
            .step(format!("SELECT {}", mb.imap.folder))?;
        tracing::info!(mailbox = %mb.mailbox.name, idle, "imap: connected");
        loop {
            // Logging in may have taken long (timeouts are 30 s a step).
            if !self.renew_if_due().await? {
                let _ = session.logout().await;
                return Ok(Stop::LeaseLost);
            }
            let Some(n) = self.drain(&mut session, &mb, uidplus, can_move).await? else {
                let _ = session.logout().await;
                return Ok(Stop::LeaseLost);
            };
            self.store.mailbox_fetched(self.mailbox_id).await?;
            if n > 0 {
                // Check again: more may have come while these were imported.
                continue;
            }
            // Mail that arrived during the last commands was announced
            // (EXISTS) on the side channel; look again before waiting.
            let mut announced = false;
            while let Ok(r) = session.unsolicited_responses.try_recv() {
                announced |= matches!(
                    r,
                    UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
                );
            }
            if announced {
                continue;
            }
            let stopping = *self.stop.borrow();
            if stopping {
                let _ = session.logout().await;
                return Ok(Stop::Shutdown);
            }
            let waited = if idle {
                let mut handle = session.idle();
                handle.init().await.step("IDLE")?;
                let waited = {
                    let (wait, _interrupt) = handle.wait_with_timeout(self.config.idle_renew);
                    self.wait(wait).await?
                };
                session = handle.done().await.step("DONE")?;
                waited
            } else {
                let nap = tokio::time::sleep(Duration::from_secs(mb.imap.poll_seconds));
                self.wait(async {
                    nap.await;
                    Ok::<(), std::io::Error>(())
                })
                .await?
            };
            match waited {
                Wait::Look => {}
                Wait::Shutdown => {
                    let _ = session.logout().await;
                    return Ok(Stop::Shutdown);
                }
                Wait::LeaseLost => {
                    let _ = session.logout().await;
                    return Ok(Stop::LeaseLost);
                }
            }
            if !idle {
                // Some servers only report new mail in answer to a command.
                session.noop().await.step("NOOP")?;
            }
        }
    }

    /// Waits for `until` (IDLE's answer, or the poll interval) while
    /// renewing the lease on time, without touching the IMAP connection.
    async fn wait<T, E>(
        &mut self,
        until: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<Wait>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        tokio::pin!(until);
        loop {
            let renew_in = self.renew_in();
            tokio::select! {
                r = &mut until => {
                    r.step("IDLE")?;
                    return Ok(Wait::Look);
                }
                _ = stopped(&mut self.stop) => return Ok(Wait::Shutdown),
                _ = tokio::time::sleep(renew_in) => {
                    if !self.renew().await? {
                        return Ok(Wait::LeaseLost);
                    }
                }
            }
        }
    }

    /// Imports every message in the folder; returns how many it handled,
    /// or `None` when the lease was lost on the way. Messages are fetched
    /// one at a time and imported in rounds of up to [`ROUND`] messages (or
    /// [`ROUND_BYTES`]), one transaction each, then removed from the server
    /// together: a backlog after an outage goes in at batch speed, and a
    /// crash at any point still leaves every message either on the server
    /// or committed (or both, and then the Message-ID says "duplicate").
    async fn drain(
        &mut self,
        session: &mut Session<Conn>,
        mb: &ImapMailbox,
        uidplus: bool,
        can_move: bool,
    ) -> Result<Option<usize>> {
        let mut uids: Vec<u32> = session
            .uid_search("UNDELETED")
            .await
            .step("UID SEARCH")?
            .into_iter()
            .collect();
        uids.sort_unstable();
        let mut handled = 0;
        let mut round: Vec<(u32, Vec<u8>)> = Vec::new();
        let mut bytes = 0;
        for uid in uids {
            if !self.renew_if_due().await? {
                return Ok(None);
            }
            let Some(raw) = fetch(session, uid).await? else {
                // Gone meanwhile (another client took it).
                continue;
            };
            tracing::info!(mailbox = %mb.mailbox.name, uid, size = raw.len(), "imap: fetched");
            if let Some(d) = self.config.test_pause_after_fetch {
                tracing::warn!(uid, "imap: test pause after fetch");
                tokio::time::sleep(d).await;
            }
            bytes += raw.len();
            round.push((uid, raw));
            let stopping = *self.stop.borrow();
            if round.len() >= ROUND || bytes >= ROUND_BYTES || stopping {
                handled += self.import(session, mb, &round, uidplus, can_move).await?;
                round.clear();
                bytes = 0;
            }
            if stopping {
                return Ok(Some(handled));
            }
        }
        if !round.is_empty() {
            handled += self.import(session, mb, &round, uidplus, can_move).await?;
        }
        Ok(Some(handled))
    }

    /// Commits a round of fetched messages, then takes them off the server.
    async fn import(
        &mut self,
        session: &mut Session<Conn>,
        mb: &ImapMailbox,
        round: &[(u32, Vec<u8>)],
        uidplus: bool,
        can_move: bool,
    ) -> Result<usize> {
        let raws: Vec<&[u8]> = round.iter().map(|(_, raw)| raw.as_slice()).collect();
        // A database error returns here and leaves the messages on the
        // server for the next round.
        let outcomes = self
            .store
            .ingest_mail_batch(&raws, Some(&mb.mailbox))
            .await
            .step("cannot store the messages (they stay on the server)")?;
        let mut done = Vec::with_capacity(round.len());
        for ((uid, _), outcome) in round.iter().zip(&outcomes) {
            match outcome {
                IngestOutcome::Quarantined {
                    quarantine_id,
                    error,
                } => tracing::warn!(
                    mailbox = %mb.mailbox.name, uid, quarantine_id, error = %error,
                    "imap: message could not be parsed; quarantined"
                ),
                other => tracing::info!(
                    mailbox = %mb.mailbox.name, uid,
                    outcome = %serde_json::to_string(other).unwrap_or_default(),
                    "imap: committed"
                ),
            }
            if outcome.is_safe_to_delete() {
                done.push(*uid);
            }
        }
        if let Some(d) = self.config.test_pause_after_commit {
            tracing::warn!(messages = round.len(), "imap: test pause after commit");
            tokio::time::sleep(d).await;
        }
        if !done.is_empty() {
            remove(
                session,
                &done,
                mb.imap.move_to.as_deref(),
                uidplus,
                can_move,
            )
            .await?;
            tracing::info!(mailbox = %mb.mailbox.name, uids = ?done, "imap: removed from the server");
        }
        Ok(round.len())
    }
}

/// The most messages imported in one transaction by a poller.
const ROUND: usize = 50;
/// The most bytes of messages a poller holds before importing them.
const ROUND_BYTES: usize = 20 * 1024 * 1024;

/// Resolves once `tuki serve` is shutting down.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// `UID FETCH uid BODY.PEEK[]`: the raw message, `None` when it is gone.
async fn fetch(session: &mut Session<Conn>, uid: u32) -> Result<Option<Vec<u8>>> {
    let mut stream = session
        .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
        .await
        .step("UID FETCH")?;
    let mut raw = None;
    while let Some(f) = stream.next().await {
        let f = f.step("UID FETCH")?;
        if f.uid == Some(uid) || f.uid.is_none() {
            if let Some(body) = f.body() {
                raw = Some(body.to_vec());
            }
        }
    }
    Ok(raw)
}

/// Takes imported messages off the server: moved, or deleted.
async fn remove(
    session: &mut Session<Conn>,
    uids: &[u32],
    move_to: Option<&str>,
    uidplus: bool,
    can_move: bool,
) -> Result<()> {
    let set = uids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if let Some(folder) = move_to {
        if can_move {
            session.uid_mv(&set, folder).await.step("UID MOVE")?;
            return Ok(());
        }
        session.uid_copy(&set, folder).await.step("UID COPY")?;
    }
    {
        let mut s = session
            .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
            .await
            .step("UID STORE")?;
        while let Some(r) = s.next().await {
            r.step("UID STORE")?;
        }
    }
    if uidplus {
        let s = session.uid_expunge(&set).await.step("UID EXPUNGE")?;
        let _: Vec<_> = s.collect().await;
    } else {
        let s = session.expunge().await.step("EXPUNGE")?;
        let _: Vec<_> = s.collect().await;
    }
    Ok(())
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// Connects and logs in.
async fn connect(
    s: &ImapSettings,
    extra_roots: &[CertificateDer<'static>],
) -> Result<Session<Conn>> {
    let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect((s.host.as_str(), s.port)))
        .await
        .map_err(|_| PollError(format!("connecting to {}:{} timed out", s.host, s.port)))?
        .step(format!("cannot connect to {}:{}", s.host, s.port))?;
    let conn: Conn = match s.security {
        ImapSecurity::Plain => Box::new(tcp),
        ImapSecurity::Tls => Box::new(tls(tcp, &s.host, extra_roots).await?),
        ImapSecurity::Starttls => {
            let mut client = Client::new(tcp);
            greeting(&mut client).await?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .step("STARTTLS")?;
            Box::new(tls(client.into_inner(), &s.host, extra_roots).await?)
        }
    };
    let mut client = Client::new(conn);
    if s.security != ImapSecurity::Starttls {
        greeting(&mut client).await?;
    }
    let session = tokio::time::timeout(TIMEOUT, client.login(&s.user, &s.password))
        .await
        .map_err(|_| PollError("LOGIN timed out".into()))?
        .map_err(|(e, _)| PollError(format!("LOGIN as {}: {e}", s.user)))?;
    Ok(session)
}

async fn greeting<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug>(
    client: &mut Client<T>,
) -> Result<()> {
    tokio::time::timeout(TIMEOUT, client.read_response())
        .await
        .map_err(|_| PollError("no greeting from the IMAP server".into()))?
        .step("reading the greeting")?
        .ok_or_else(|| PollError("the IMAP server closed the connection".into()))?;
    Ok(())
}

/// The TLS handshake; the server's certificate must chain to a web PKI
/// root or to one of `extra_roots` and name `host`.
async fn tls(
    tcp: TcpStream,
    host: &str,
    extra_roots: &[CertificateDer<'static>],
) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra_roots {
        roots
            .add(cert.clone())
            .step("a certificate of the mail CA file")?;
    }
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .step("TLS versions")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_string())
        .step(format!("{host} is not a valid TLS server name"))?;
    let stream = tokio::time::timeout(
        TIMEOUT,
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .map_err(|_| PollError(format!("TLS handshake with {host} timed out")))?
    .step(format!("TLS handshake with {host}"))?;
    Ok(stream)
}
