//! Mail out over SMTP: the `send_mail` jobs of the one job queue, run by
//! a server that has an SMTP server configured. Each job's message is built
//! (with its article's files, read from the data folder, up to a size cap)
//! and sent with `lettre`, over STARTTLS or TLS as the SMTP URL says (the
//! server's certificate checked against the web PKI roots plus any private
//! CA of [`SmtpConfig::extra_ca_pem`]; a certificate that fails the check
//! fails the attempt like any other error). A sent message is marked sent
//! with its job in one transaction; a failed attempt is retried with the
//! queue's backoff. A server that dies mid-send leaves its lease to run out
//! and another takes the job again (at-least-once: the Message-ID lets the
//! receiving side see a repeat).

use std::time::Duration;

use jiff::SignedDuration;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Body, Mailbox as LMailbox, Message, MultiPart, SinglePart};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tuki_mail::texts::{files_note, Lang};
use tuki_store::jobs::{Job, Outcome};
use tuki_store::outbox::{OutMail, SEND_MAIL_JOB};
use tuki_store::Store;

/// Where and how mail leaves Tuki.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// `smtp://host:port` (plain, for local servers), `smtp://host?tls=required`
    /// (STARTTLS), `smtps://host` (TLS); user and password in the URL.
    pub url: String,
    /// From address when the ticket's group has no mailbox (the desk's
    /// mail policy names the same one).
    pub default_from: String,
    /// Certificate authorities (a PEM bundle) trusted for the SMTP server's
    /// certificate in addition to the built-in web PKI roots, e.g. an
    /// organisation's private CA (`tuki serve --mail-ca-file`).
    pub extra_ca_pem: Option<Vec<u8>>,
    /// The most bytes of files one mail carries
    /// (`TUKI_MAIL_ATTACH_MAX_BYTES`); files beyond it are listed at the
    /// end of the text instead.
    pub attach_max_bytes: u64,
}

/// The default of [`SmtpConfig::attach_max_bytes`]: 7 MiB of files, about
/// 9.5 MiB of mail once encoded, which fits the 10,240,000-byte message
/// limit Postfix ships with (and most other servers' larger ones).
pub const ATTACH_MAX_BYTES: u64 = 7 * 1024 * 1024;

/// The TLS settings of an SMTP URL (as lettre reads it) with the extra
/// certificate authorities trusted besides the web PKI roots; `None` for a
/// plain `smtp://` URL, which uses no TLS.
fn tls_with_extra_roots(url: &str, pem: &[u8]) -> Result<Option<Tls>, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("TUKI_SMTP_URL: {e}"))?;
    let Some(host) = parsed.host_str() else {
        return Ok(None);
    };
    let mode = parsed
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let params = || {
        let ca = Certificate::from_pem(pem).map_err(|e| format!("mail CA certificates: {e}"))?;
        TlsParameters::builder(host.to_string())
            .add_root_certificate(ca)
            .build_rustls()
            .map_err(|e| format!("mail CA certificates: {e}"))
    };
    Ok(match (parsed.scheme(), mode.as_deref()) {
        ("smtps", _) => Some(Tls::Wrapper(params()?)),
        ("smtp", Some("required")) => Some(Tls::Required(params()?)),
        ("smtp", Some("opportunistic")) => Some(Tls::Opportunistic(params()?)),
        _ => None,
    })
}

/// A Message-ID as written in headers: `<id>`.
fn angle(id: &str) -> String {
    format!(
        "<{}>",
        id.trim().trim_start_matches('<').trim_end_matches('>')
    )
}

/// A file that goes with a mail, read from the data folder.
#[derive(Debug, Clone)]
pub struct MailFile {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What a mail carries besides its text: the files of its article that go
/// with it, and the lines listing those that do not (added to the text).
#[derive(Debug, Clone, Default)]
pub struct MailExtras {
    pub files: Vec<MailFile>,
    pub note: String,
}

/// Builds the RFC 5322 message of an outbox row: its text alone
/// (text/plain), or with files a multipart/mixed message of the text and
/// each file (base64, with its name, RFC 2231-encoded when not ASCII, and
/// content type).
pub fn build_message(
    mail: &OutMail,
    default_from: &str,
    extras: &MailExtras,
) -> Result<Message, String> {
    let from: LMailbox = mail
        .sender
        .as_deref()
        .unwrap_or(default_from)
        .parse()
        .map_err(|e| format!("bad From address: {e}"))?;
    let to: LMailbox = mail
        .recipient
        .parse()
        .map_err(|e| format!("bad recipient {:?}: {e}", mail.recipient))?;
    let mut b = Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(angle(&mail.message_id)))
        .date(std::time::SystemTime::from(mail.created_at));
    if let Some(irt) = &mail.in_reply_to {
        b = b.in_reply_to(angle(irt));
    }
    if !mail.references.is_empty() {
        b = b.references(
            mail.references
                .iter()
                .map(|r| angle(r))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    for (k, v) in &mail.headers {
        let name = HeaderName::new_from_ascii(k.clone()).map_err(|e| format!("header {k}: {e}"))?;
        b = b.raw_header(HeaderValue::new(name, v.clone()));
    }
    if let Some(t) = mail.ticket_id {
        let name = HeaderName::new_from_ascii_str("X-Tuki-Ticket");
        b = b.raw_header(HeaderValue::new(name, t.to_string()));
    }
    let text = format!("{}{}", mail.body, extras.note);
    if extras.files.is_empty() {
        return b
            .header(ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|e| e.to_string());
    }
    let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(text));
    for f in &extras.files {
        let content_type = ContentType::parse(&f.content_type)
            .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("valid"));
        // Always base64: a file goes byte for byte, whatever its line ends
        // (a 7bit part with bare LFs would be refused or rewritten by mail
        // servers).
        let body = Body::new_with_encoding(f.bytes.clone(), ContentTransferEncoding::Base64)
            .map_err(|_| format!("cannot encode file {:?}", f.file_name))?;
        parts = parts.singlepart(Attachment::new(f.file_name.clone()).body(body, content_type));
    }
    b.multipart(parts).map_err(|e| e.to_string())
}

/// Sends the outbox: the handler of `send_mail` jobs (registered on the
/// runner of `tuki serve`), and a round of its own for tests.
pub struct Sender {
    store: Store,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    default_from: String,
    attach_max_bytes: u64,
    worker: String,
    batch: i64,
    lease: SignedDuration,
}

impl Sender {
    pub fn new(store: Store, config: &SmtpConfig) -> Result<Sender, String> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.url)
            .map_err(|e| format!("TUKI_SMTP_URL: {e}"))?
            .timeout(Some(Duration::from_secs(30)));
        if let Some(pem) = &config.extra_ca_pem {
            if let Some(tls) = tls_with_extra_roots(&config.url, pem)? {
                builder = builder.tls(tls);
            }
        }
        Ok(Sender {
            store,
            transport: builder.build(),
            default_from: config.default_from.clone(),
            attach_max_bytes: config.attach_max_bytes,
            worker: format!(
                "outbox-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ),
            batch: 20,
            lease: SignedDuration::from_secs(300),
        })
    }

    /// One round, as `tuki serve`'s runner does it: pending mail expanded,
    /// then a batch of due mail sent. Returns how many messages it tried.
    pub async fn tick(&self) -> tuki_store::Result<usize> {
        self.store.mail_events_to_outbox(100).await?;
        let worker = self.worker.as_str();
        self.store
            .work_jobs(
                worker,
                &[SEND_MAIL_JOB],
                self.batch,
                self.lease,
                |job| async move { self.send(&job, worker).await },
            )
            .await
    }

    /// Runs one `send_mail` job held by `worker`: builds its message, sends
    /// it, and marks it sent with the job.
    pub async fn send(&self, job: &Job, worker: &str) -> Outcome {
        let mail = match self.store.mail_of_job(job).await {
            Ok(Some(mail)) => mail,
            // Sent already, by a runner whose lease ran out meanwhile.
            Ok(None) => return Outcome::Done,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let built = match self.extras(&mail).await {
            Ok(extras) => build_message(&mail, &self.default_from, &extras),
            Err(e) => Err(e),
        };
        let sent = match built {
            Ok(msg) => self
                .transport
                .send(msg)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) => match self.store.mail_sent(mail.id, worker).await {
                Ok(_) => {
                    tracing::debug!(id = mail.id, kind = %mail.kind, to = %mail.recipient, "mail sent");
                    Outcome::Finished
                }
                Err(e) => Outcome::Failed(format!("sent, but not recorded: {e}")),
            },
            Err(error) => {
                tracing::warn!(id = mail.id, attempts = job.attempts, %error, "mail not sent");
                Outcome::Failed(error)
            }
        }
    }

    /// The files of the mail's article, read from the store's files (checked
    /// against their SHA-256), as many as fit under the size cap (in the
    /// order they were added); the rest are listed at the end of the text in
    /// the recipient's language. A file whose bytes are missing or damaged
    /// is listed too (the store has told the administrators), and the mail
    /// goes without it. Another read error fails the attempt (tried again
    /// later) for the first few attempts, then the file is listed like a
    /// missing one, so that one bad file cannot hold a reply back for good.
    async fn extras(&self, mail: &OutMail) -> Result<MailExtras, String> {
        const READ_RETRIES: i64 = 3;
        let Some(article_id) = mail.article_id else {
            return Ok(MailExtras::default());
        };
        let files = self
            .store
            .mail_files(article_id)
            .await
            .map_err(|e| format!("files of article {article_id}: {e}"))?;
        if files.is_empty() {
            return Ok(MailExtras::default());
        }
        let mut extras = MailExtras::default();
        let mut total: u64 = 0;
        let mut too_large = Vec::new();
        let mut unreadable = Vec::new();
        for f in files {
            let size = u64::try_from(f.size).unwrap_or(0);
            if total.saturating_add(size) > self.attach_max_bytes {
                too_large.push((f.file_name, f.size));
                continue;
            }
            match self.store.read_blob(&f.sha256).await {
                Ok(bytes) => {
                    let len = bytes.len() as u64;
                    if total.saturating_add(len) > self.attach_max_bytes {
                        too_large.push((f.file_name, len as i64));
                        continue;
                    }
                    total += len;
                    extras.files.push(MailFile {
                        file_name: f.file_name,
                        content_type: f.content_type,
                        bytes,
                    });
                }
                Err(error @ tuki_store::StoreError::FileUnavailable { .. }) => {
                    tracing::warn!(outbox_id = mail.id, article_id, attachment_id = f.id,
                        file = %f.file_name, sha256 = %f.sha256, %error,
                        "file of a mail cannot be read: sent without it, listed in the text");
                    unreadable.push((f.file_name, f.size));
                }
                Err(error) if mail.attempts < READ_RETRIES => {
                    return Err(format!(
                        "cannot read file {:?} of article {article_id}: {error}",
                        f.file_name
                    ));
                }
                Err(error) => {
                    tracing::warn!(outbox_id = mail.id, article_id, attachment_id = f.id,
                        file = %f.file_name, sha256 = %f.sha256, %error,
                        "file of a mail cannot be read: sent without it, listed in the text");
                    unreadable.push((f.file_name, f.size));
                }
            }
        }
        if !too_large.is_empty() || !unreadable.is_empty() {
            let language = self
                .store
                .mail_language(mail.user_id)
                .await
                .map_err(|e| format!("language of the recipient: {e}"))?;
            extras.note = files_note(Lang::from_code(language), &too_large, &unreadable);
        }
        Ok(extras)
    }
}
