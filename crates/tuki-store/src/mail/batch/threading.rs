//! Where each message of a batch goes: onto the ticket its references,
//! subject tag or subject name (the domain's `decide_thread`), or a new
//! ticket; and where a delivery report goes.

use std::collections::HashMap;

use jiff::Timestamp;
use sqlx::AnyConnection;
use tuki_domain::access::Actor;
use tuki_domain::directory::Role;
use tuki_domain::ticket::{ArticleKind, Channel, Priority};
use tuki_mail::{decide_thread, InboundMessage, RobotKind, Thread, ThreadKeys};

use super::lookups::{recent_subjects, senders_as_users, tickets_by_numbers};
use super::{
    unique, Incoming, MailFile, NewTickets, Placed, REFERENCES_CONSIDERED, ROWS_PER_STATEMENT,
};
use crate::attachments::clean_file_name;
use crate::events::{Inbound, Later};
use crate::mail::{
    add_mail_article, flag_address, mail_body, ticket_by_number, tickets_by_message_ids,
    truncate_chars, IngestOutcome, Mailbox,
};
use crate::tickets::{Draft, SUBJECT_MAX};
use crate::time::to_db;
use crate::{Result, Store};

/// The placing of a batch's messages: what it reads once for all of them
/// (threading candidates) and what it gathers as it goes (new tickets,
/// files).
pub(super) struct Placing<'s> {
    store: &'s Store,
    mailbox: Option<&'s Mailbox>,
    at: Timestamp,
    /// Tickets by the Message-IDs of their mail, the batch's own included.
    by_reference: HashMap<String, i64>,
    /// Tickets by number, for subject tags.
    by_number: HashMap<i64, i64>,
    /// The open tickets of each sender, newest first, by normalised subject.
    open_subjects: HashMap<i64, Vec<(i64, String)>>,
    new_tickets: NewTickets,
    files: Vec<MailFile>,
}

impl<'s> Placing<'s> {
    pub(super) fn new(store: &'s Store, mailbox: Option<&'s Mailbox>, at: Timestamp) -> Self {
        Placing {
            store,
            mailbox,
            at,
            by_reference: HashMap::new(),
            by_number: HashMap::new(),
            open_subjects: HashMap::new(),
            new_tickets: NewTickets {
                drafts: Vec::new(),
                written: Vec::new(),
            },
            files: Vec::new(),
        }
    }

    /// Places the messages at `placeable`, in arrival order; what their
    /// changes leave for the end of the transaction goes to `later`.
    pub(super) async fn place(
        &mut self,
        tx: &mut AnyConnection,
        incoming: &mut [Incoming<'_>],
        placeable: &[usize],
        later: &mut Later,
    ) -> Result<()> {
        let users = senders_as_users(
            tx,
            placeable
                .iter()
                .map(|&i| (&incoming[i].sender, incoming[i].msg)),
            to_db(self.at),
        )
        .await?;
        self.candidates(tx, incoming, placeable, &users).await?;
        for &i in placeable {
            let user = users[incoming[i].sender.as_str()];
            let placed = self.place_one(tx, &incoming[i], user, later).await?;
            incoming[i].placed = Some(placed);
        }
        Ok(())
    }

    /// Writes the tickets still waiting and gives them and the files.
    pub(super) async fn finish(
        mut self,
        tx: &mut AnyConnection,
    ) -> Result<(NewTickets, Vec<MailFile>)> {
        self.new_tickets.flush(tx).await?;
        Ok((self.new_tickets, self.files))
    }

    /// Threading candidates of the whole batch, read once.
    async fn candidates(
        &mut self,
        tx: &mut AnyConnection,
        incoming: &[Incoming<'_>],
        placeable: &[usize],
        users: &HashMap<String, (i64, Role)>,
    ) -> Result<()> {
        let mut referenced: Vec<&str> = Vec::new();
        let mut numbers: Vec<i64> = Vec::new();
        let mut repliers: Vec<i64> = Vec::new();
        for &i in placeable {
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
        for chunk in referenced.chunks(ROWS_PER_STATEMENT) {
            for (m, t) in tickets_by_message_ids(tx, chunk).await? {
                self.by_reference.insert(m, t);
            }
        }
        // A delivery report filed on a ticket is part of its thread, as its
        // mail record says once committed.
        for m in incoming {
            if let Some(Placed::Done(IngestOutcome::Bounce {
                ticket_id: Some(t), ..
            })) = &m.placed
            {
                self.by_reference.insert(m.msg.message_id.clone(), *t);
            }
        }
        self.by_number = tickets_by_numbers(tx, &numbers).await?;
        self.open_subjects = recent_subjects(tx, &repliers).await?;
        Ok(())
    }

    /// Places one message from `user`: an article on the ticket it threads
    /// onto, or a new ticket (provisional until written).
    async fn place_one(
        &mut self,
        tx: &mut AnyConnection,
        m: &Incoming<'_>,
        (user_id, role): (i64, Role),
        later: &mut Later,
    ) -> Result<Placed> {
        let found: Vec<(String, i64)> = m
            .keys
            .message_ids
            .iter()
            .take(REFERENCES_CONSIDERED)
            .filter_map(|id| self.by_reference.get(id).map(|t| (id.clone(), *t)))
            .collect();
        // A tag may name a ticket this batch opened: its number exists
        // only once the waiting tickets are written.
        if let Some(n) = m.keys.tag_number {
            if !self.by_number.contains_key(&n) && self.new_tickets.waiting() {
                self.flush(tx).await?;
            }
        }
        let tagged = m
            .keys
            .tag_number
            .and_then(|n| self.by_number.get(&n).copied());
        let same_subject = m.keys.reply_subject.as_ref().and_then(|s| {
            self.open_subjects
                .get(&user_id)
                .and_then(|list| list.iter().find(|(_, subj)| subj == s))
                .map(|(t, _)| *t)
        });
        let body = mail_body(m.msg);
        let placed = match decide_thread(&m.keys, &found, tagged, same_subject) {
            Thread::Existing { ticket_id, by } => {
                if NewTickets::draft_of(ticket_id).is_some() {
                    self.flush(tx).await?;
                }
                let ticket_id = self.new_tickets.real(ticket_id);
                // An out-of-office answer must not reopen a ticket or stop
                // an SLA clock: robots' mail is kept as a note.
                let kind = if m.msg.classification.kind == RobotKind::Human {
                    ArticleKind::Reply
                } else {
                    ArticleKind::Note
                };
                let article_id = add_mail_article(
                    tx,
                    ticket_id,
                    Some((user_id, role)),
                    kind,
                    (&body, m.msg.html.as_deref()),
                    (self.at, Some(inbound(m.msg))),
                    later,
                )
                .await?;
                keep_files(
                    self.store,
                    tx,
                    m.msg,
                    (ticket_id, Some(article_id), user_id),
                    &mut self.files,
                )
                .await?;
                self.by_reference
                    .insert(m.msg.message_id.clone(), ticket_id);
                Placed::Done(IngestOutcome::Article {
                    ticket_id,
                    article_id,
                    by,
                })
            }
            Thread::New => {
                let drafts = &mut self.new_tickets.drafts;
                let k = drafts.len();
                drafts.push(mail_draft(
                    m.msg,
                    self.store.mail_tag(),
                    user_id,
                    self.mailbox.and_then(|m| m.group_id),
                    body,
                    self.at,
                ));
                let provisional = NewTickets::provisional(k);
                keep_files(
                    self.store,
                    tx,
                    m.msg,
                    (provisional, None, user_id),
                    &mut self.files,
                )
                .await?;
                self.by_reference
                    .insert(m.msg.message_id.clone(), provisional);
                // The newest ticket is the first a same-subject reply would
                // find.
                let subject = tuki_mail::strip_reply_prefixes(&drafts[k].subject)
                    .trim()
                    .to_lowercase();
                self.open_subjects
                    .entry(user_id)
                    .or_default()
                    .insert(0, (provisional, subject));
                Placed::NewTicket(k)
            }
        };
        Ok(placed)
    }

    /// Writes the waiting tickets and learns their numbers.
    async fn flush(&mut self, tx: &mut AnyConnection) -> Result<()> {
        self.new_tickets.flush(tx).await?;
        self.by_number.extend(self.new_tickets.numbers());
        Ok(())
    }
}

/// A delivery report: attached to the ticket of the message it reports
/// on, and the failed addresses flagged when the failure is permanent.
pub(super) async fn place_bounce(
    tx: &mut AnyConnection,
    msg: &InboundMessage,
    keys: &ThreadKeys,
    at: Timestamp,
    later: &mut Later,
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
            Some(
                add_mail_article(
                    tx,
                    t,
                    None,
                    ArticleKind::Note,
                    (&body, None),
                    (at, None),
                    later,
                )
                .await?,
            )
        }
        None => None,
    };
    Ok(Placed::Done(IngestOutcome::Bounce {
        ticket_id,
        article_id,
        flagged,
    }))
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
        inbound: Some(inbound(msg)),
        asset_id: None,
    }
}

/// The message as the mail it brings will answer it.
fn inbound(msg: &InboundMessage) -> Inbound {
    Inbound {
        message_id: msg.message_id.clone(),
        may_answer: msg.classification.auto_answer_allowed,
    }
}

/// Stores the message's files (attachments and inline images) as blobs,
/// in the import's transaction, and notes them for its article.
async fn keep_files(
    store: &Store,
    tx: &mut AnyConnection,
    msg: &InboundMessage,
    (ticket_id, article_id, uploaded_by): (i64, Option<i64>, i64),
    files: &mut Vec<MailFile>,
) -> Result<()> {
    for a in &msg.attachments {
        let blob = store.put_in(tx, &a.bytes).await?;
        files.push(MailFile {
            ticket_id,
            article_id,
            uploaded_by,
            sha256: blob.sha256,
            size: blob.size,
            content_type: truncate_chars(a.content_type.trim(), 200),
            file_name: clean_file_name(&a.filename),
            content_id: a.content_id.as_deref().map(|c| {
                truncate_chars(c.trim().trim_start_matches('<').trim_end_matches('>'), 200)
            }),
        });
    }
    Ok(())
}
