//! `tuki mail …`: the mail channel's command line.
//!
//! `tuki mail ingest` reads one message from standard input, for a mail
//! server's pipe (Postfix `pipe`, Exim `pipe`, procmail, like rt-mailgate).
//! Its exit status is what an MTA understands: 0 once the message is safe
//! in Tuki (a ticket, an article, a duplicate, or quarantined for an
//! administrator), 75 (EX_TEMPFAIL) when the database could not be reached
//! or failed, so the MTA keeps the message and tries again later. With
//! `--maildir DIR` it imports every message of a Maildir, with a progress
//! bar; re-running it is harmless because a Message-ID is imported once.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tuki_store::mail::imap::{ImapSecurity, ImapSettings};
use tuki_store::mail::{IngestOutcome, Mailbox, MAX_BATCH};
use tuki_store::Store;

use crate::DbArgs;

/// sysexits.h: a temporary failure; the MTA queues the message and retries.
const EX_TEMPFAIL: i32 = 75;

#[derive(Subcommand)]
pub enum MailCommand {
    /// Import mail: one message from standard input, or a whole Maildir.
    Ingest(IngestArgs),
    /// Add a mailbox whose mail becomes tickets of a group.
    AddMailbox {
        #[arg(long)]
        name: String,
        /// Tuki's own address for this mailbox (mail from it is a loop).
        #[arg(long)]
        address: String,
        /// The group its tickets go to; the intake group when omitted.
        #[arg(long)]
        group_id: Option<i64>,
        #[command(flatten)]
        imap: ImapArgs,
    },
    /// List mailboxes with their last fetch and last error.
    Mailboxes,
    /// List quarantined messages, or retry one.
    Quarantine {
        /// Retry the quarantined message with this id.
        #[arg(long)]
        retry: Option<i64>,
    },
    /// List addresses Tuki sends no more mail to because it bounced for
    /// good, or let mail go to one again.
    Bounces {
        /// Let mail go to this address again.
        #[arg(long, value_name = "ADDRESS")]
        clear: Option<String>,
    },
    /// Generate a Maildir of realistic messages and measure the import.
    Bench {
        /// How many messages.
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        /// Keep the generated Maildir here instead of a temporary folder.
        #[arg(long)]
        maildir: Option<PathBuf>,
        /// Messages per transaction (1 is how the pipe and the IMAP
        /// poller import).
        #[arg(long, default_value_t = MAX_BATCH, value_parser = batch_size)]
        batch: usize,
    },
}

/// Where `tuki serve` fetches this mailbox's mail; without `--imap-host`
/// the mailbox is fed by `tuki mail ingest` only.
#[derive(Args)]
pub struct ImapArgs {
    /// The IMAP server to poll.
    #[arg(long)]
    imap_host: Option<String>,
    /// Its port; 993 for tls, 143 otherwise.
    #[arg(long, requires = "imap_host")]
    imap_port: Option<u16>,
    /// tls, starttls, or plain (a server on this machine only).
    #[arg(long, default_value = "tls", value_parser = ["tls", "starttls", "plain"])]
    imap_security: String,
    /// The login name; the mailbox's address when omitted.
    #[arg(long, requires = "imap_host")]
    imap_user: Option<String>,
    /// Read the IMAP password from the first line of standard input. It is
    /// stored in the database as given, for the poller to log in with.
    #[arg(long, requires = "imap_host")]
    imap_password_stdin: bool,
    /// The folder to read.
    #[arg(long, default_value = "INBOX")]
    imap_folder: String,
    /// Move imported mail to this folder instead of deleting it.
    #[arg(long, requires = "imap_host")]
    imap_move_to: Option<String>,
    /// Seconds between polls when the server offers no IDLE.
    #[arg(long, default_value_t = 60)]
    imap_poll_seconds: u64,
}

impl ImapArgs {
    fn settings(&self, address: &str) -> anyhow::Result<Option<ImapSettings>> {
        let Some(host) = &self.imap_host else {
            return Ok(None);
        };
        let security = ImapSecurity::parse("imap_security", &self.imap_security)?;
        let password = if self.imap_password_stdin {
            crate::read_password()?
        } else {
            String::new()
        };
        Ok(Some(ImapSettings {
            host: host.clone(),
            port: self.imap_port.unwrap_or(security.default_port()),
            security,
            user: self
                .imap_user
                .clone()
                .unwrap_or_else(|| address.to_string()),
            password,
            folder: self.imap_folder.clone(),
            move_to: self.imap_move_to.clone(),
            poll_seconds: self.imap_poll_seconds,
        }))
    }
}

#[derive(Args)]
pub struct IngestArgs {
    /// Import every message of this Maildir (its new/ and cur/ folders)
    /// instead of one message from standard input.
    #[arg(long)]
    maildir: Option<PathBuf>,
    /// The mailbox the mail arrived at (routes it to that mailbox's group).
    #[arg(long, env = "TUKI_MAILBOX")]
    mailbox: Option<String>,
    /// No progress bar (for logs and scripts).
    #[arg(long)]
    quiet: bool,
}

pub async fn run(command: MailCommand, db: DbArgs) -> anyhow::Result<()> {
    match command {
        MailCommand::Ingest(args) => ingest(&args, &db).await,
        MailCommand::AddMailbox {
            name,
            address,
            group_id,
            imap,
        } => add_mailbox(&name, &address, group_id, &imap, &db).await,
        MailCommand::Mailboxes => list_mailboxes(&db).await,
        MailCommand::Bounces { clear } => bounces(clear, &db).await,
        MailCommand::Quarantine { retry } => quarantine(retry, &db).await,
        MailCommand::Bench {
            messages,
            maildir,
            batch,
        } => bench(messages, maildir, batch, db).await,
    }
}

/// `tuki mail ingest`: one message from standard input (the exit code says
/// what a mail server should do with it), or a whole Maildir.
async fn ingest(args: &IngestArgs, db: &DbArgs) -> anyhow::Result<()> {
    match &args.maildir {
        None => {
            let code = ingest_stdin(args, db).await;
            std::process::exit(code);
        }
        Some(dir) => {
            let store = db.open().await?;
            let mailbox = find_mailbox(&store, args.mailbox.as_deref()).await?;
            let report =
                ingest_maildir(&store, dir, mailbox.as_ref(), MAX_BATCH, !args.quiet).await?;
            store.close().await;
            report.print();
        }
    }
    Ok(())
}

async fn add_mailbox(
    name: &str,
    address: &str,
    group_id: Option<i64>,
    imap: &ImapArgs,
    db: &DbArgs,
) -> anyhow::Result<()> {
    let settings = imap.settings(address)?;
    let store = db.open().await?;
    let m = store.create_mailbox(name, address, group_id).await?;
    if let Some(s) = &settings {
        store.set_mailbox_imap(m.id, Some(s)).await?;
    }
    store.close().await;
    eprintln!("mailbox {} <{}> added, id {}", m.name, m.address, m.id);
    if let Some(s) = settings {
        eprintln!(
            "`tuki serve` polls {}@{}:{} ({}), folder {}",
            s.user,
            s.host,
            s.port,
            s.security.as_str(),
            s.folder
        );
    }
    Ok(())
}

async fn list_mailboxes(db: &DbArgs) -> anyhow::Result<()> {
    let store = db.open().await?;
    let imap: std::collections::HashMap<i64, ImapSettings> = store
        .imap_mailboxes()
        .await?
        .into_iter()
        .map(|m| (m.mailbox.id, m.imap))
        .collect();
    for m in store.mailboxes().await? {
        let polled = match (&m.poller_node, m.poller_lease_until) {
            (Some(node), Some(until)) if until > store.now() => {
                format!("\tpolled by {node} until {until}")
            }
            _ => String::new(),
        };
        println!(
            "{}\t{}\tgroup {}\t{}\tlast fetch {}\tlast error {}{}{polled}",
            m.name,
            m.address,
            m.group_id.map_or("intake".into(), |g| g.to_string()),
            imap.get(&m.id).map_or("pipe only".into(), |s| format!(
                "imap {}://{}:{}/{}",
                s.security.as_str(),
                s.host,
                s.port,
                s.folder
            )),
            m.last_fetch_at.map_or("never".into(), |t| t.to_string()),
            m.last_error.as_deref().unwrap_or("none"),
            m.failing_since
                .map_or(String::new(), |t| format!(" (failing since {t})")),
        );
    }
    store.close().await;
    Ok(())
}

async fn bounces(clear: Option<String>, db: &DbArgs) -> anyhow::Result<()> {
    let store = db.open().await?;
    let admin = tuki_domain::access::Actor::system();
    match clear {
        Some(address) => {
            let flag = store
                .clear_address_flag(&admin, &address)
                .await
                .with_context(|| format!("{address} is not blocked"))?;
            println!("mail goes to {} again", flag.address);
        }
        None => {
            for b in store.bounced_addresses(&admin).await? {
                println!(
                    "{}\tstatus {}\t{} bounces\tlast {}{}",
                    b.address,
                    b.status.as_deref().unwrap_or("?"),
                    b.bounces,
                    b.last_at,
                    b.last_ticket_number
                        .map_or(String::new(), |n| format!("\trequest #{n}")),
                );
            }
        }
    }
    store.close().await;
    Ok(())
}

async fn quarantine(retry: Option<i64>, db: &DbArgs) -> anyhow::Result<()> {
    let store = db.open().await?;
    match retry {
        Some(id) => {
            let out = store.retry_quarantined(id).await?;
            println!("{}", serde_json::to_string(&out)?);
        }
        None => {
            for q in store.quarantined_mail().await? {
                println!(
                    "{}\t{}\t{} bytes\t{} attempts\t{}",
                    q.id, q.created_at, q.size, q.attempts, q.error
                );
            }
        }
    }
    store.close().await;
    Ok(())
}

fn batch_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_BATCH).contains(&n) => Ok(n),
        _ => Err(format!("a number from 1 to {MAX_BATCH}")),
    }
}

async fn find_mailbox(store: &Store, name: Option<&str>) -> anyhow::Result<Option<Mailbox>> {
    match name {
        None => Ok(None),
        Some(n) => match store.mailbox(n).await? {
            Some(m) => Ok(Some(m)),
            None => bail!("no mailbox {n}: add it with `tuki mail add-mailbox`"),
        },
    }
}

/// The pipe: returns the exit status for the MTA.
async fn ingest_stdin(args: &IngestArgs, db: &DbArgs) -> i32 {
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut raw) {
        eprintln!("tuki mail ingest: cannot read the message: {e}");
        return EX_TEMPFAIL;
    }
    let store = match db.open().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tuki mail ingest: {e:#}");
            return EX_TEMPFAIL;
        }
    };
    let mailbox = match find_mailbox(&store, args.mailbox.as_deref()).await {
        Ok(m) => m,
        // A misconfigured pipe must not bounce mail: keep it queued until
        // an administrator adds the mailbox.
        Err(e) => {
            eprintln!("tuki mail ingest: {e:#}");
            return EX_TEMPFAIL;
        }
    };
    let code = match store.ingest_mail(&raw, mailbox.as_ref()).await {
        Ok(out) => {
            // One line a mail log can keep.
            eprintln!(
                "tuki mail ingest: {}",
                serde_json::to_string(&out).unwrap_or_default()
            );
            0
        }
        Err(e) => {
            eprintln!("tuki mail ingest: database error, the mail server will retry: {e}");
            EX_TEMPFAIL
        }
    };
    store.close().await;
    code
}

/// The messages of a Maildir, oldest name first (Maildir names start with
/// the delivery time). A folder without new/ and cur/ is read as is.
fn maildir_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut folders: Vec<PathBuf> = ["new", "cur"]
        .iter()
        .map(|s| dir.join(s))
        .filter(|p| p.is_dir())
        .collect();
    if folders.is_empty() {
        folders.push(dir.to_path_buf());
    }
    let mut files = Vec::new();
    for f in folders {
        for e in std::fs::read_dir(&f).with_context(|| format!("cannot read {}", f.display()))? {
            let e = e?;
            let name = e.file_name();
            if e.file_type()?.is_file() && !name.to_string_lossy().starts_with('.') {
                files.push(e.path());
            }
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

#[derive(Default)]
struct Report {
    total: usize,
    tickets: usize,
    articles: usize,
    bounces: usize,
    throttled: usize,
    loops: usize,
    duplicates: usize,
    quarantined: usize,
    seconds: f64,
}

impl Report {
    fn count(&mut self, out: &IngestOutcome) {
        self.total += 1;
        match out {
            IngestOutcome::Ticket { .. } => self.tickets += 1,
            IngestOutcome::Article { .. } => self.articles += 1,
            IngestOutcome::Bounce { .. } => self.bounces += 1,
            IngestOutcome::Throttled => self.throttled += 1,
            IngestOutcome::Loop => self.loops += 1,
            IngestOutcome::Duplicate => self.duplicates += 1,
            IngestOutcome::Quarantined { .. } => self.quarantined += 1,
        }
    }

    fn rate(&self) -> f64 {
        self.total as f64 / self.seconds.max(1e-9)
    }

    fn print(&self) {
        println!(
            "{} messages in {:.2} s: {:.0} messages/s; {} tickets, {} articles, {} bounces, \
             {} throttled, {} loops, {} duplicates, {} quarantined",
            self.total,
            self.seconds,
            self.rate(),
            self.tickets,
            self.articles,
            self.bounces,
            self.throttled,
            self.loops,
            self.duplicates,
            self.quarantined
        );
    }
}

async fn ingest_maildir(
    store: &Store,
    dir: &Path,
    mailbox: Option<&Mailbox>,
    batch: usize,
    progress: bool,
) -> anyhow::Result<Report> {
    let files = maildir_files(dir)?;
    let bar = if progress {
        ProgressBar::new(files.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} messages, {per_sec}, {eta} left  {msg}")
            .expect("a valid template"),
    );
    let mut report = Report::default();
    let started = Instant::now();
    // Messages go in batches, one transaction each: the result is the same
    // as one by one, at a fraction of the round trips.
    for paths in files.chunks(batch) {
        let mut raws = Vec::with_capacity(paths.len());
        for path in paths {
            raws.push(
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
            );
        }
        let slices: Vec<&[u8]> = raws.iter().map(Vec::as_slice).collect();
        // A database error stops the import: what was imported stays, and
        // running the command again continues where it stopped.
        let outcomes = store
            .ingest_mail_batch(&slices, mailbox)
            .await
            .with_context(|| format!("while importing from {}", paths[0].display()))?;
        for (path, out) in paths.iter().zip(&outcomes) {
            if let IngestOutcome::Quarantined { error, .. } = out {
                bar.println(format!("{}: quarantined: {error}", path.display()));
            }
            report.count(out);
        }
        bar.inc(paths.len() as u64);
    }
    report.seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    Ok(report)
}

/// Writes `n` messages shaped like a service desk's mail: new requests
/// from many senders across a few organisations' domains, replies that
/// reference earlier messages or carry only a reply prefix, some HTML
/// alternatives, attachments, auto-replies and a few unparsable ones.
fn generate_maildir(dir: &Path, n: usize) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    let new = dir.join("new");
    std::fs::create_dir_all(&new)?;
    std::fs::create_dir_all(dir.join("cur"))?;
    std::fs::create_dir_all(dir.join("tmp"))?;
    let domains = [
        "shared.example",
        "private.example",
        "gmail.example",
        "corp.example",
    ];
    let topics = [
        "Tulostin ei toimi",
        "Näyttö vilkkuu",
        "VPN-yhteys katkeilee",
        "Pesukone vuotaa",
        "Lisenssi vanhentunut",
        "Salasana unohtunut",
    ];
    // Few enough messages per sender that the default throttle (20 per 10
    // minutes) stays out of the way.
    let senders = (n / 4).max(1);
    for i in 0..n {
        let sender = i % senders;
        let domain = domains[sender % domains.len()];
        let topic = topics[i % topics.len()];
        let mut m = String::new();
        let _ = write!(
            m,
            "Return-Path: <user{sender}@{domain}>\r\nFrom: =?UTF-8?Q?K=C3=A4ytt=C3=A4j=C3=A4_{sender}?= <user{sender}@{domain}>\r\n\
             To: tuki@desk.example\r\nDate: Mon, 3 Mar 2025 09:{:02}:{:02} +0200\r\nMessage-ID: <bench-{i}@{domain}>\r\n",
            (i / 60) % 60,
            i % 60
        );
        let kind = i % 20;
        if i >= senders && kind < 6 {
            // A reply to this sender's previous message.
            let prev = i - senders;
            let _ = write!(
                m,
                "Subject: Re: {topic}\r\nIn-Reply-To: <bench-{prev}@{domain}>\r\nReferences: <bench-{prev}@{domain}>\r\n"
            );
        } else if i >= senders && kind == 6 {
            let _ = write!(
                m,
                "Subject: VS: {}\r\n",
                topics[(i - senders) % topics.len()]
            );
        } else if kind == 7 {
            let _ = write!(
                m,
                "Subject: Automaattinen vastaus: {topic}\r\nAuto-Submitted: auto-replied\r\n"
            );
        } else {
            let _ = write!(m, "Subject: {topic} ({i})\r\n");
        }
        m.push_str("MIME-Version: 1.0\r\n");
        if kind == 8 {
            m.push_str(
                "Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\r\nHei, laite ei käynnisty.\r\n--alt\r\n\
                 Content-Type: text/html; charset=utf-8\r\n\r\n<p>Hei, laite <b>ei</b> käynnisty.</p><script>x()</script>\r\n--alt--\r\n",
            );
        } else if kind == 9 {
            m.push_str(
                "Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n--mix\r\n\
                 Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
                 Kuvakaappaus liitteen=E4.\r\n--mix\r\nContent-Type: image/png\r\n\
                 Content-Disposition: attachment; filename*=UTF-8''n%C3%A4ytt%C3%B6.png\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\r\n--mix--\r\n",
            );
        } else {
            let _ = write!(
                m,
                "Content-Type: text/plain; charset=utf-8\r\n\r\nHei,\r\n\r\n{topic}: viesti {i}. Laite on ostettu viime vuonna.\r\n\r\n\
                 Terveisin\r\nKäyttäjä {sender}\r\n\r\nOn Mon, 3 Mar 2025, Tuki <tuki@desk.example> wrote:\r\n> Aiempi vastaus.\r\n"
            );
        }
        let bytes = if i % 1000 == 999 {
            // A broken one now and then: no sender, to be quarantined.
            b"To: tuki@desk.example\r\nSubject: ???\r\n\r\n???\r\n".to_vec()
        } else {
            m.into_bytes()
        };
        std::fs::write(
            new.join(format!("{:010}.{i}.bench:2,", 1_740_000_000 + i)),
            bytes,
        )?;
    }
    Ok(())
}

async fn bench(n: usize, maildir: Option<PathBuf>, batch: usize, db: DbArgs) -> anyhow::Result<()> {
    let (dir, remove) = match maildir {
        Some(d) => (d, false),
        None => (
            std::env::temp_dir().join(format!("tuki-mail-bench-{}", std::process::id())),
            true,
        ),
    };
    eprintln!(
        "generating {n} messages in {}; importing {batch} per transaction",
        dir.display()
    );
    generate_maildir(&dir, n)?;
    let store = db.open().await?;
    let report = ingest_maildir(&store, &dir, None, batch, true).await?;
    store.close().await;
    if remove {
        let _ = std::fs::remove_dir_all(&dir);
    }
    report.print();
    Ok(())
}
