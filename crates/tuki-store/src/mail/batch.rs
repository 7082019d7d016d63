//! Email in, the writing half: a batch of parsed messages into tickets and
//! articles in one transaction.
//!
//! Every source comes through here: the pipe and the IMAP poller with a
//! batch of one, a Maildir import with up to [`crate::mail::MAX_BATCH`] messages at a
//! time. A batch gives the same result as its messages imported one after
//! another; what it saves is round trips. Each SQL statement crosses from
//! the async runtime to the database driver and back, and that hand-off,
//! not SQLite, is what a message costs (see `docs/performance.md`). So the
//! batch claims all its Message-IDs in one statement, reads senders and
//! threading candidates in one statement each, writes its new tickets with
//! the multi-row path every new ticket takes, and records the outcomes in
//! one statement at the end.
//!
//! Messages of one batch can depend on each other: a reply to a request
//! that arrived a moment earlier, or a second message from a new sender.
//! New tickets wait in a list with provisional ids (`-1`, `-2`, …); when a
//! later message threads onto one of them, or names in its subject tag a
//! number the database does not have yet, the waiting tickets are written
//! first, so the reply lands on a real row. Tests import the same mail in
//! batches and one by one (also random mail, seeded) and compare.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;
use tuki_domain::directory::Role;
use tuki_domain::ticket::{ArticleKind, Channel, Priority};
use tuki_domain::values::{self, Email};
use tuki_mail::{decide_thread, InboundMessage, RobotKind, Thread, ThreadBy, ThreadKeys};

use crate::attachments::{clean_file_name, write_blob};
use crate::mail::{
    add_mail_article, flag_address, mail_body, thread_by_str, ticket_by_number,
    tickets_by_message_ids, truncate_chars, IngestOptions, IngestOutcome, Mailbox,
};
use crate::sql::{Sql, Value};
use crate::tickets::{insert_tickets, Draft, SUBJECT_MAX};
use crate::time::to_db;
use crate::{Result, Store};

/// References can list hundreds of ids in long threads; the nearest fifty
/// decide in practice.
const REFERENCES_CONSIDERED: usize = 50;

/// Rows per multi-row statement, below SQLite's 32,766 bound parameters
/// with the widest row here (8 values).
const ROWS_PER_STATEMENT: usize = 500;

/// One message of a batch on its way in.
struct Incoming<'a> {
    /// Position in the caller's batch.
    index: usize,
    raw: &'a [u8],
    /// The SHA-256 of `raw`, hex: the raw source's row is found by it.
    sha256: String,
    msg: &'a InboundMessage,
    keys: ThreadKeys,
    sender: Email,
    /// Filled in as the message is placed.
    placed: Option<Placed>,
}

/// Where a message went, with new tickets still provisional.
enum Placed {
    Done(IngestOutcome),
    /// The first article of the batch's `k`-th new ticket.
    NewTicket(usize),
}

/// Tickets of the batch not written yet, and those already written.
struct NewTickets {
    drafts: Vec<Draft>,
    /// `(ticket id, number, first article id)` of drafts written so far.
    written: Vec<(i64, i64, i64)>,
}

impl NewTickets {
    /// The provisional id of draft `k`: negative, so it can never be taken
    /// for a ticket that exists.
    fn provisional(k: usize) -> i64 {
        -(k as i64) - 1
    }

    fn draft_of(id: i64) -> Option<usize> {
        (id < 0).then(|| (-id - 1) as usize)
    }

    /// Writes the waiting drafts, so every provisional id has a row.
    async fn flush(&mut self, tx: &mut AnyConnection) -> Result<()> {
        if self.written.len() == self.drafts.len() {
            return Ok(());
        }
        let waiting: Vec<&Draft> = self.drafts[self.written.len()..].iter().collect();
        for (t, article) in insert_tickets(tx, &waiting).await? {
            self.written.push((t.id, t.number, article));
        }
        Ok(())
    }

    fn waiting(&self) -> bool {
        self.written.len() < self.drafts.len()
    }

    /// The numbers of the tickets written so far, for subject tags.
    fn numbers(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.written.iter().map(|(id, number, _)| (*number, *id))
    }

    /// A ticket id made real: provisional ids after [`NewTickets::flush`].
    fn real(&self, id: i64) -> i64 {
        match Self::draft_of(id) {
            Some(k) => self.written[k].0,
            None => id,
        }
    }
}

/// A file of an incoming message, to be listed on its article.
struct MailFile {
    /// The article's ticket (provisional until written) and article.
    ticket_id: i64,
    article_id: Option<i64>,
    uploaded_by: i64,
    sha256: String,
    size: i64,
    content_type: String,
    file_name: String,
    /// The Content-ID an HTML part refers to as `cid:…`.
    content_id: Option<String>,
}

impl Store {
    /// Imports a batch of parsed messages (see the module documentation).
    /// `Err` for database failures only; then nothing of the batch is
    /// written and the caller may try its messages one by one.
    ///
    /// `release` names a quarantined message this batch imports: it is
    /// released in the same transaction, and if someone released it
    /// meanwhile (discarded, or imported by a retry of their own) nothing
    /// is imported and the answer is a conflict.
    pub(crate) async fn ingest_parsed_batch(
        &self,
        batch: &[(usize, &[u8], &InboundMessage)],
        mailbox: Option<&Mailbox>,
        opts: &IngestOptions,
        release: Option<i64>,
    ) -> Result<Vec<(usize, IngestOutcome)>> {
        let at = self.now();
        let at_db = to_db(at);
        let mut results = Vec::with_capacity(batch.len());

        // The same message twice in one batch (a Maildir holding a copy):
        // the first is imported, the rest are duplicates.
        let mut seen = HashSet::new();
        let mut incoming = Vec::with_capacity(batch.len());
        for (index, raw, msg) in batch {
            if !seen.insert(msg.message_id.as_str()) {
                results.push((*index, IngestOutcome::Duplicate));
                continue;
            }
            incoming.push(Incoming {
                index: *index,
                raw,
                sha256: hex::encode(Sha256::digest(raw)),
                msg,
                keys: ThreadKeys::of(msg, self.mail_tag()),
                sender: Email::parse("from", &msg.from.address)?,
                placed: None,
            });
        }

        let mut tx = self.begin_write().await?;
        if let Some(quarantined) = release {
            let released = sqlx::query(
                "UPDATE mail_quarantine SET released_at = $1, last_attempt_at = $1, attempts = attempts + 1 \
                 WHERE id = $2 AND released_at IS NULL",
            )
            .bind(at_db)
            .bind(quarantined)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if released == 0 {
                tx.rollback().await?;
                return Err(crate::StoreError::conflict(
                    None,
                    "this message has left the quarantine meanwhile",
                ));
            }
        }
        // Claim the Message-IDs first: a second delivery, a second node or a
        // retry after a crash stops here, and nothing else is written. On
        // PostgreSQL a concurrent claim of the same id waits for the other
        // transaction and then finds it taken.
        let mut claimed = HashSet::new();
        for chunk in incoming.chunks(ROWS_PER_STATEMENT) {
            let mut sql = Sql::new(
                "INSERT INTO mail_messages (message_id, direction, mailbox_id, sender, classification, \
                 auto_answer_allowed, reasons, outcome, received_at) VALUES ",
            );
            for (i, m) in chunk.iter().enumerate() {
                let class = &m.msg.classification;
                sql.push(if i == 0 { "(" } else { ", (" })
                    .bind(Value::Text(m.msg.message_id.clone()))
                    .push(", 'in', ")
                    .bind_opt(mailbox.map(|m| m.id))
                    .push(", ")
                    .bind(Value::Text(m.sender.as_str().into()))
                    .push(", ")
                    .bind(Value::Text(class.kind.as_str().into()))
                    .push(", ")
                    .bind(Value::Bool(class.auto_answer_allowed))
                    .push(", ")
                    .bind(Value::Text(class.reasons.join("; ")))
                    .push(", 'pending', ")
                    .bind(Value::Int(at_db))
                    .push(")");
            }
            sql.push(" ON CONFLICT (message_id) DO NOTHING RETURNING message_id");
            for r in sql.query().fetch_all(&mut *tx).await? {
                claimed.insert(r.try_get::<String, _>("message_id")?);
            }
        }
        incoming.retain(|m| {
            let fresh = claimed.contains(&m.msg.message_id);
            if !fresh {
                results.push((m.index, IngestOutcome::Duplicate));
            }
            fresh
        });
        if incoming.is_empty() {
            // Nothing new; a quarantined message's release still counts.
            tx.commit().await?;
            results.sort_by_key(|(i, _)| *i);
            return Ok(results);
        }

        // Mail from one of Tuki's own addresses is Tuki talking to itself.
        let own: HashSet<String> = sqlx::query("SELECT address FROM mailboxes")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("address"))
            .collect::<std::result::Result<_, _>>()?;

        // Throttle: what each sender got ticketed recently, counted on as
        // the batch goes. The batch's own rows are 'pending', not counted.
        let senders: Vec<&str> = unique(incoming.iter().map(|m| m.sender.as_str()));
        let mut recent: HashMap<String, i64> = HashMap::new();
        for chunk in senders.chunks(ROWS_PER_STATEMENT) {
            let mut sql =
                Sql::new("SELECT sender, COUNT(*) AS n FROM mail_messages WHERE received_at >= ");
            sql.bind(Value::Int(to_db(at - self.mail_policy().throttle_window)))
                .push(" AND outcome IN ('ticket', 'article') AND sender IN ")
                .bind_texts(chunk)
                .push(" GROUP BY sender");
            for r in sql.query().fetch_all(&mut *tx).await? {
                recent.insert(r.try_get("sender")?, r.try_get("n")?);
            }
        }

        // Decide loops, bounces and throttling in arrival order; what is
        // left becomes a ticket or an article.
        let mut placeable = Vec::new();
        for (i, m) in incoming.iter_mut().enumerate() {
            if own.contains(m.sender.as_str()) {
                m.placed = Some(Placed::Done(IngestOutcome::Loop));
            } else if m.msg.classification.bounce.is_some() {
                let placed = place_bounce(&mut tx, m.msg, &m.keys, at).await?;
                m.placed = Some(placed);
            } else {
                let n = recent.entry(m.sender.as_str().to_string()).or_insert(0);
                if *n >= self.mail_policy().throttle_max {
                    m.placed = Some(Placed::Done(IngestOutcome::Throttled));
                } else {
                    *n += 1;
                    placeable.push(i);
                }
            }
        }

        let users = senders_as_users(
            &mut tx,
            placeable
                .iter()
                .map(|&i| (&incoming[i].sender, incoming[i].msg)),
            at_db,
        )
        .await?;

        // Threading candidates of the whole batch, read once.
        let mut referenced: Vec<&str> = Vec::new();
        let mut numbers: Vec<i64> = Vec::new();
        let mut repliers: Vec<i64> = Vec::new();
        for &i in &placeable {
            let m = &incoming[i];
            referenced.extend(
                m.keys
                    .message_ids
                    .iter()
                    .take(REFERENCES_CONSIDERED)
                    .map(String::as_str),
            );
            numbers.extend(m.keys.tag_number);
            if m.keys.reply_subject.is_some() {
                repliers.push(users[m.sender.as_str()].0);
            }
        }
        let referenced = unique(referenced.into_iter());
        let mut by_reference: HashMap<String, i64> = HashMap::new();
        for chunk in referenced.chunks(ROWS_PER_STATEMENT) {
            for (m, t) in tickets_by_message_ids(&mut tx, chunk).await? {
                by_reference.insert(m, t);
            }
        }
        // A delivery report filed on a ticket is part of its thread, as its
        // mail record says once committed.
        for m in &incoming {
            if let Some(Placed::Done(IngestOutcome::Bounce {
                ticket_id: Some(t), ..
            })) = &m.placed
            {
                by_reference.insert(m.msg.message_id.clone(), *t);
            }
        }
        let mut by_number = tickets_by_numbers(&mut tx, &numbers).await?;
        let mut open_subjects = recent_subjects(&mut tx, &repliers).await?;

        let mut new_tickets = NewTickets {
            drafts: Vec::new(),
            written: Vec::new(),
        };
        let mut files: Vec<MailFile> = Vec::new();
        for &i in &placeable {
            let m = &incoming[i];
            let (user_id, role) = users[m.sender.as_str()];
            let found: Vec<(String, i64)> = m
                .keys
                .message_ids
                .iter()
                .take(REFERENCES_CONSIDERED)
                .filter_map(|id| by_reference.get(id).map(|t| (id.clone(), *t)))
                .collect();
            // A tag may name a ticket this batch opened: its number exists
            // only once the waiting tickets are written.
            if let Some(n) = m.keys.tag_number {
                if !by_number.contains_key(&n) && new_tickets.waiting() {
                    new_tickets.flush(&mut tx).await?;
                    by_number.extend(new_tickets.numbers());
                }
            }
            let tagged = m.keys.tag_number.and_then(|n| by_number.get(&n).copied());
            let same_subject = m.keys.reply_subject.as_ref().and_then(|s| {
                open_subjects
                    .get(&user_id)
                    .and_then(|list| list.iter().find(|(_, subj)| subj == s))
                    .map(|(t, _)| *t)
            });
            let body = mail_body(m.msg);
            let placed = match decide_thread(&m.keys, &found, tagged, same_subject) {
                Thread::Existing { ticket_id, by } => {
                    if NewTickets::draft_of(ticket_id).is_some() {
                        new_tickets.flush(&mut tx).await?;
                        by_number.extend(new_tickets.numbers());
                    }
                    let ticket_id = new_tickets.real(ticket_id);
                    let human = m.msg.classification.kind == RobotKind::Human;
                    // An out-of-office answer must not reopen a ticket or
                    // stop an SLA clock: robots' mail is kept as a note.
                    let kind = if human {
                        ArticleKind::Reply
                    } else {
                        ArticleKind::Note
                    };
                    let article_id = add_mail_article(
                        &mut tx,
                        ticket_id,
                        Some((user_id, role)),
                        kind,
                        (&body, m.msg.html.as_deref()),
                        at,
                    )
                    .await?;
                    keep_files(
                        opts,
                        m.msg,
                        ticket_id,
                        Some(article_id),
                        user_id,
                        &mut files,
                    )?;
                    by_reference.insert(m.msg.message_id.clone(), ticket_id);
                    Placed::Done(IngestOutcome::Article {
                        ticket_id,
                        article_id,
                        by,
                    })
                }
                Thread::New => {
                    let k = new_tickets.drafts.len();
                    new_tickets.drafts.push(mail_draft(
                        m.msg,
                        self.mail_tag(),
                        user_id,
                        mailbox.and_then(|m| m.group_id),
                        body,
                        at,
                    ));
                    let provisional = NewTickets::provisional(k);
                    keep_files(opts, m.msg, provisional, None, user_id, &mut files)?;
                    by_reference.insert(m.msg.message_id.clone(), provisional);
                    // The newest ticket is the first a same-subject reply
                    // would find.
                    let subject = tuki_mail::strip_reply_prefixes(&new_tickets.drafts[k].subject)
                        .trim()
                        .to_lowercase();
                    open_subjects
                        .entry(user_id)
                        .or_default()
                        .insert(0, (provisional, subject));
                    Placed::NewTicket(k)
                }
            };
            incoming[i].placed = Some(placed);
        }
        new_tickets.flush(&mut tx).await?;

        // The raw sources, matched back to their messages by digest (two
        // claimed messages with one digest are the same bytes).
        let mut raw_ids: HashMap<String, i64> = HashMap::new();
        for chunk in incoming.chunks(ROWS_PER_STATEMENT) {
            let mut sql = Sql::new("INSERT INTO mail_raw (sha256, size, raw, created_at) VALUES ");
            for (i, m) in chunk.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" })
                    .bind(Value::Text(m.sha256.clone()))
                    .push(", ")
                    .bind(Value::Int(m.raw.len() as i64))
                    .push(", ")
                    .bind(Value::Blob(m.raw.to_vec()))
                    .push(", ")
                    .bind(Value::Int(at_db))
                    .push(")");
            }
            sql.push(" RETURNING id, sha256");
            for r in sql.query().fetch_all(&mut *tx).await? {
                raw_ids.insert(r.try_get("sha256")?, r.try_get("id")?);
            }
        }

        // Outcomes, all in one statement per chunk. The VALUES columns are
        // named column1… on both engines; CAST gives a column of NULLs a
        // type PostgreSQL can assign.
        for chunk in incoming.chunks(ROWS_PER_STATEMENT) {
            let mut sql = Sql::new(
                "UPDATE mail_messages SET raw_id = CAST(v.column2 AS BIGINT), outcome = v.column3, \
                 ticket_id = CAST(v.column4 AS BIGINT), article_id = CAST(v.column5 AS BIGINT), \
                 threaded_by = CAST(v.column6 AS TEXT) FROM (VALUES ",
            );
            for (i, m) in chunk.iter().enumerate() {
                let (outcome, ticket_id, article_id, by) = match m.placed.as_ref() {
                    Some(Placed::Done(outcome)) => record_of(outcome),
                    Some(Placed::NewTicket(k)) => {
                        let (t, _, a) = new_tickets.written[*k];
                        ("ticket", Some(t), Some(a), None)
                    }
                    None => unreachable!("every claimed message is placed"),
                };
                sql.push(if i == 0 { "(" } else { ", (" })
                    .bind(Value::Text(m.msg.message_id.clone()))
                    .push(", ")
                    .bind(Value::Int(raw_ids[&m.sha256]))
                    .push(", ")
                    .bind(Value::Text(outcome.into()))
                    .push(", ")
                    .bind_opt(ticket_id)
                    .push(", ")
                    .bind_opt(article_id)
                    .push(", ")
                    .bind_opt_text(by.map(thread_by_str))
                    .push(")");
            }
            sql.push(") AS v WHERE mail_messages.message_id = v.column1");
            sql.query().execute(&mut *tx).await?;
        }

        // Files, listed on their articles like files agents attach.
        for chunk in files.chunks(ROWS_PER_STATEMENT) {
            let mut sql = Sql::new(
                "INSERT INTO attachments (ticket_id, article_id, sha256, size, content_type, file_name, \
                 content_id, uploaded_by, created_at) VALUES ",
            );
            for (i, f) in chunk.iter().enumerate() {
                let (ticket_id, article_id) = match NewTickets::draft_of(f.ticket_id) {
                    Some(k) => {
                        let (t, _, a) = new_tickets.written[k];
                        (t, a)
                    }
                    None => (
                        f.ticket_id,
                        f.article_id.expect("an existing ticket's article"),
                    ),
                };
                sql.push(if i == 0 { "(" } else { ", (" })
                    .bind(Value::Int(ticket_id))
                    .push(", ")
                    .bind(Value::Int(article_id))
                    .push(", ")
                    .bind(Value::Text(f.sha256.clone()))
                    .push(", ")
                    .bind(Value::Int(f.size))
                    .push(", ")
                    .bind(Value::Text(f.content_type.clone()))
                    .push(", ")
                    .bind(Value::Text(f.file_name.clone()))
                    .push(", ")
                    .bind_opt_text(f.content_id.as_deref())
                    .push(", ")
                    .bind(Value::Int(f.uploaded_by))
                    .push(", ")
                    .bind(Value::Int(at_db))
                    .push(")");
            }
            sql.query().execute(&mut *tx).await?;
        }
        tx.commit().await?;

        for m in incoming {
            let outcome = match m.placed.expect("every claimed message is placed") {
                Placed::Done(outcome) => outcome,
                Placed::NewTicket(k) => {
                    let (ticket_id, number, article_id) = new_tickets.written[k];
                    IngestOutcome::Ticket {
                        ticket_id,
                        number,
                        article_id,
                    }
                }
            };
            results.push((m.index, outcome));
        }
        results.sort_by_key(|(i, _)| *i);
        Ok(results)
    }
}

/// What a message's mail record says of a placed message: its outcome,
/// ticket, article and how it was threaded.
fn record_of(
    outcome: &IngestOutcome,
) -> (&'static str, Option<i64>, Option<i64>, Option<ThreadBy>) {
    match outcome {
        IngestOutcome::Ticket {
            ticket_id,
            article_id,
            ..
        } => ("ticket", Some(*ticket_id), Some(*article_id), None),
        IngestOutcome::Article {
            ticket_id,
            article_id,
            by,
        } => ("article", Some(*ticket_id), Some(*article_id), Some(*by)),
        IngestOutcome::Bounce {
            ticket_id,
            article_id,
            ..
        } => ("bounce", *ticket_id, *article_id, None),
        IngestOutcome::Throttled => ("throttled", None, None, None),
        IngestOutcome::Loop => ("loop", None, None, None),
        IngestOutcome::Duplicate | IngestOutcome::Quarantined { .. } => {
            ("pending", None, None, None)
        }
    }
}

/// The distinct items, first appearance first.
fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    items.filter(|s| seen.insert(*s)).collect()
}

/// A delivery report: attached to the ticket of the message it reports
/// on, and the failed addresses flagged when the failure is permanent.
async fn place_bounce(
    tx: &mut AnyConnection,
    msg: &InboundMessage,
    keys: &ThreadKeys,
    at: Timestamp,
) -> Result<Placed> {
    let b = msg
        .classification
        .bounce
        .as_ref()
        .expect("called for bounces");
    let at_db = to_db(at);
    let mut ids = keys.message_ids.clone();
    if let Some(orig) = &b.original_message_id {
        ids.insert(0, orig.clone());
    }
    ids.truncate(REFERENCES_CONSIDERED);
    let found = tickets_by_message_ids(tx, &ids).await?;
    let ticket_id = ids
        .iter()
        .find_map(|id| found.iter().find(|(m, _)| m == id).map(|(_, t)| *t));
    let ticket_id = match ticket_id {
        Some(t) => Some(t),
        None => match keys.tag_number {
            Some(n) => ticket_by_number(tx, n).await?,
            None => None,
        },
    };
    let mut flagged = Vec::new();
    if b.permanent {
        for addr in &b.failed_recipients {
            flag_address(tx, addr, b.status.as_deref(), ticket_id, at_db).await?;
            flagged.push(addr.clone());
        }
    }
    let article_id = match ticket_id {
        Some(t) => {
            let body = format!(
                "Delivery failed{}{}\n\n{}",
                if flagged.is_empty() {
                    String::new()
                } else {
                    format!(" to {}", flagged.join(", "))
                },
                b.status
                    .as_deref()
                    .map(|s| format!(" (status {s})"))
                    .unwrap_or_default(),
                msg.display_text
            );
            Some(add_mail_article(tx, t, None, ArticleKind::Note, (&body, None), at).await?)
        }
        None => None,
    };
    Ok(Placed::Done(IngestOutcome::Bounce {
        ticket_id,
        article_id,
        flagged,
    }))
}

/// The senders as users, by address: found, or created as customers placed
/// in the organisation whose mail domain matches (one statement for all the
/// new ones).
async fn senders_as_users<'a>(
    tx: &mut AnyConnection,
    senders: impl Iterator<Item = (&'a Email, &'a InboundMessage)>,
    at: i64,
) -> Result<HashMap<String, (i64, Role)>> {
    let senders: Vec<(&Email, &InboundMessage)> = {
        let mut seen = HashSet::new();
        senders.filter(|(e, _)| seen.insert(e.as_str())).collect()
    };
    let mut users = HashMap::new();
    for chunk in senders.chunks(ROWS_PER_STATEMENT) {
        let addresses: Vec<&str> = chunk.iter().map(|(e, _)| e.as_str()).collect();
        let mut sql = Sql::new("SELECT id, role, email FROM users WHERE email IN ");
        sql.bind_texts(&addresses);
        for r in sql.query().fetch_all(&mut *tx).await? {
            let role = Role::parse("role", &r.try_get::<String, _>("role")?)?;
            users.insert(r.try_get::<String, _>("email")?, (r.try_get("id")?, role));
        }
    }
    let unknown: Vec<&(&Email, &InboundMessage)> = senders
        .iter()
        .filter(|(e, _)| !users.contains_key(e.as_str()))
        .collect();
    if unknown.is_empty() {
        return Ok(users);
    }
    let domains: Vec<&str> = unique(unknown.iter().map(|(e, _)| e.domain()));
    let mut org_of: HashMap<String, i64> = HashMap::new();
    for chunk in domains.chunks(ROWS_PER_STATEMENT) {
        let mut sql =
            Sql::new("SELECT domain, organisation_id FROM organisation_domains WHERE domain IN ");
        sql.bind_texts(chunk);
        for r in sql.query().fetch_all(&mut *tx).await? {
            org_of.insert(r.try_get("domain")?, r.try_get("organisation_id")?);
        }
    }
    for chunk in unknown.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new(
            "INSERT INTO users (email, name, name_folded, role, language, organisation_id, active, \
             created_at, updated_at) VALUES ",
        );
        for (i, (email, msg)) in chunk.iter().enumerate() {
            let name = msg
                .from
                .name
                .as_deref()
                .and_then(|n| values::line("name", n, 200).ok())
                .unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("").to_string());
            sql.push(if i == 0 { "(" } else { ", (" })
                .bind(Value::Text(email.as_str().into()))
                .push(", ")
                .bind(Value::Text(name.clone()))
                .push(", ")
                .bind(Value::Text(values::fold(&name)))
                .push(", ")
                .push("'customer', 'fi', ")
                .bind_opt(org_of.get(email.domain()).copied())
                .push(", ")
                .bind(Value::Bool(true))
                .push(", ")
                .bind(Value::Int(at))
                .push(", ")
                .bind(Value::Int(at))
                .push(")");
        }
        sql.push(" RETURNING id, email");
        for r in sql.query().fetch_all(&mut *tx).await? {
            users.insert(r.try_get("email")?, (r.try_get("id")?, Role::Customer));
        }
    }
    Ok(users)
}

/// Tickets by number (a merged one answers with the ticket it went into).
async fn tickets_by_numbers(tx: &mut AnyConnection, numbers: &[i64]) -> Result<HashMap<i64, i64>> {
    let mut numbers = numbers.to_vec();
    numbers.sort_unstable();
    numbers.dedup();
    let mut found = HashMap::new();
    for chunk in numbers.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new(
            "SELECT number, COALESCE(merged_into_id, id) AS id FROM tickets WHERE number IN ",
        );
        sql.bind_list(chunk);
        for r in sql.query().fetch_all(&mut *tx).await? {
            found.insert(r.try_get("number")?, r.try_get("id")?);
        }
    }
    Ok(found)
}

/// The twenty most recent active tickets of each requester, newest first,
/// with their subjects as a same-subject reply is matched (without reply
/// prefixes and tag, lower-cased).
async fn recent_subjects(
    tx: &mut AnyConnection,
    requesters: &[i64],
) -> Result<HashMap<i64, Vec<(i64, String)>>> {
    let mut requesters = requesters.to_vec();
    requesters.sort_unstable();
    requesters.dedup();
    let mut subjects: HashMap<i64, Vec<(i64, String)>> = HashMap::new();
    for chunk in requesters.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new(
            "SELECT id, subject, requester_id FROM (SELECT id, subject, requester_id, \
             ROW_NUMBER() OVER (PARTITION BY requester_id ORDER BY id DESC) AS recency \
             FROM tickets WHERE active AND merged_into_id IS NULL AND requester_id IN ",
        );
        sql.bind_list(chunk)
            .push(") AS recent WHERE recency <= 20 ORDER BY id DESC");
        for r in sql.query().fetch_all(&mut *tx).await? {
            let subject: String = r.try_get("subject")?;
            subjects
                .entry(r.try_get("requester_id")?)
                .or_default()
                .push((
                    r.try_get("id")?,
                    tuki_mail::strip_reply_prefixes(&subject)
                        .trim()
                        .to_lowercase(),
                ));
        }
    }
    Ok(subjects)
}

/// A new ticket from a message, as Tuki acting on the sender's behalf.
fn mail_draft(
    msg: &InboundMessage,
    tag_word: &str,
    requester_id: i64,
    group_id: Option<i64>,
    body: String,
    at: Timestamp,
) -> Draft {
    let subject = tuki_mail::thread::without_tag(&msg.subject, tag_word);
    let subject = if subject.trim().is_empty() {
        "(no subject)".to_string()
    } else {
        truncate_chars(subject.trim(), SUBJECT_MAX)
    };
    Draft {
        actor: Actor::system(),
        subject,
        body,
        body_html: msg.html.clone(),
        category: None,
        tags: Vec::new(),
        channel: Channel::Email,
        requester_id,
        kind: ArticleKind::Reply,
        internal: false,
        priority: Priority::Normal,
        group_id,
        owner_id: None,
        at,
    }
}

/// Stores the message's files (attachments and inline images) under the
/// data folder and notes them for its article. Without a data folder the
/// files stay only in the raw source.
fn keep_files(
    opts: &IngestOptions,
    msg: &InboundMessage,
    ticket_id: i64,
    article_id: Option<i64>,
    uploaded_by: i64,
    files: &mut Vec<MailFile>,
) -> Result<()> {
    let Some(dir) = opts.data_dir.as_deref() else {
        return Ok(());
    };
    for a in &msg.attachments {
        files.push(MailFile {
            ticket_id,
            article_id,
            uploaded_by,
            sha256: write_blob(dir, &a.bytes)?,
            size: a.bytes.len() as i64,
            content_type: truncate_chars(a.content_type.trim(), 200),
            file_name: clean_file_name(&a.filename),
            content_id: a.content_id.as_deref().map(|c| {
                truncate_chars(c.trim().trim_start_matches('<').trim_end_matches('>'), 200)
            }),
        });
    }
    Ok(())
}
