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
//!
//! The phases, in this order inside one transaction: claim the
//! Message-IDs ([`write::claim`]), screen loops, bounces and throttling
//! ([`Store::screen`]), place the rest on tickets ([`threading`]), then
//! write the raw sources, the outcomes and the files ([`write`]).

mod lookups;
mod threading;
mod write;

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};
use tuki_domain::values::Email;
use tuki_mail::{InboundMessage, ThreadKeys};

use crate::events::Later;
use crate::mail::{IngestOutcome, Mailbox};
use crate::sql::{Sql, Value};
use crate::tickets::{insert_tickets, Draft};
use crate::time::to_db;
use crate::{Result, Store};

/// References can list hundreds of ids in long threads; the nearest fifty
/// decide in practice.
const REFERENCES_CONSIDERED: usize = 50;

/// Rows per multi-row statement, below SQLite's 32,766 bound parameters
/// with the widest row here (8 values).
const ROWS_PER_STATEMENT: usize = 500;

/// One message of a batch on its way in.
pub(super) struct Incoming<'a> {
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
pub(super) enum Placed {
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

    /// The outcome of draft `k`, once written.
    fn outcome(&self, k: usize) -> IngestOutcome {
        let (ticket_id, number, article_id) = self.written[k];
        IngestOutcome::Ticket {
            ticket_id,
            number,
            article_id,
        }
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
        release: Option<i64>,
    ) -> Result<Vec<(usize, IngestOutcome)>> {
        let at = self.now();
        let mut results = Vec::with_capacity(batch.len());
        let mut incoming = self.incoming(batch, &mut results)?;

        let mut tx = self.begin_write().await?;
        if let Some(quarantined) = release {
            write::release(&mut tx, quarantined, at).await?;
        }
        // Claim the Message-IDs first: a second delivery, a second node or a
        // retry after a crash stops here, and nothing else is written.
        let claimed = write::claim(&mut tx, &incoming, mailbox, at).await?;
        incoming.retain(|m| {
            let fresh = claimed.contains(&m.msg.message_id);
            if !fresh {
                results.push((m.index, IngestOutcome::Duplicate));
            }
            fresh
        });
        if !incoming.is_empty() {
            // The feed rows and jobs of the batch's changes, written once.
            let mut later = Later::default();
            let placeable = self.screen(&mut tx, &mut incoming, at, &mut later).await?;
            let mut placing = threading::Placing::new(self, mailbox, at);
            placing
                .place(&mut tx, &mut incoming, &placeable, &mut later)
                .await?;
            let (new_tickets, files) = placing.finish(&mut tx).await?;
            later.write(&mut tx).await?;
            let raw_ids = write::raw_sources(&mut tx, &incoming, at).await?;
            write::outcomes(&mut tx, &incoming, &raw_ids, &new_tickets).await?;
            write::files(&mut tx, &files, &new_tickets, at).await?;
            for m in incoming {
                let outcome = match m.placed.expect("every claimed message is placed") {
                    Placed::Done(outcome) => outcome,
                    Placed::NewTicket(k) => new_tickets.outcome(k),
                };
                results.push((m.index, outcome));
            }
        }
        // With nothing new, a quarantined message's release still counts.
        tx.commit().await?;
        results.sort_by_key(|(i, _)| *i);
        Ok(results)
    }

    /// The batch's messages on their way in. The same message twice in one
    /// batch (a Maildir holding a copy): the first is imported, the rest
    /// are duplicates.
    fn incoming<'a>(
        &self,
        batch: &'a [(usize, &'a [u8], &'a InboundMessage)],
        results: &mut Vec<(usize, IngestOutcome)>,
    ) -> Result<Vec<Incoming<'a>>> {
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
        Ok(incoming)
    }

    /// Decides loops, bounces and throttling in arrival order; gives the
    /// positions of the messages left to become a ticket or an article.
    async fn screen(
        &self,
        tx: &mut AnyConnection,
        incoming: &mut [Incoming<'_>],
        at: jiff::Timestamp,
        later: &mut Later,
    ) -> Result<Vec<usize>> {
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

        let mut placeable = Vec::new();
        for (i, m) in incoming.iter_mut().enumerate() {
            if own.contains(m.sender.as_str()) {
                m.placed = Some(Placed::Done(IngestOutcome::Loop));
            } else if m.msg.classification.bounce.is_some() {
                let placed = threading::place_bounce(tx, m.msg, &m.keys, at, later).await?;
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
        Ok(placeable)
    }
}

/// The distinct items, first appearance first.
fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    items.filter(|s| seen.insert(*s)).collect()
}
