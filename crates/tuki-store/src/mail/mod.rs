//! Email in: raw messages into tickets and articles, exactly once.
//!
//! [`Store::ingest_mail`] is the one door every source uses (the
//! `tuki mail ingest` pipe, Maildir import, the IMAP poller). In one
//! transaction it claims the message's Message-ID (the primary key of
//! `mail_messages` refuses a second claim, on every node and after any
//! restart), keeps the raw source, finds or creates the sender, and adds a
//! ticket or an article. A source may delete its copy once this returns
//! `Ok`: the ticket is committed. A message that cannot be parsed is
//! quarantined with its raw bytes, and does not stop the others.
//!
//! Mail acts as Tuki itself, not as the sender: threading (by Message-ID
//! references or the subject tag) is what decides where a message belongs,
//! so the sender's own permissions are not asked. A colleague on Cc who
//! answers is added to the ticket like the requester would be.

mod batch;
mod flags;
pub mod imap;
mod ingest;
mod mailboxes;
mod quarantine;
mod records;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use sqlx::Row;
use tuki_mail::ThreadBy;

use crate::time::{from_db, opt_from_db};
use crate::{Result, StoreError};

pub(crate) use flags::flag_address;
pub(crate) use ingest::{add_mail_article, mail_body};
pub use mailboxes::{ImapInput, ImapSummary, MailboxInput, MailboxOverview, Mailboxes, NewMailbox};
pub use quarantine::{QuarantineEntry, QuarantineMessage, RetryResult};
pub(crate) use records::{record_sent, ticket_by_number, tickets_by_message_ids};

/// How many rows an administrator's list shows at most; the totals say how
/// many there are.
pub const LIST_MAX: i64 = 500;

/// The most messages [`Store::ingest_mail_batch`] should be given at once.
/// Big enough that the fixed statements of a batch are spread thin, small
/// enough that a batch holds SQLite's single writer for well under a second
/// and its memory stays small.
pub const MAX_BATCH: usize = 200;

/// The desk's rules for mail, the same for every way mail comes in and
/// goes out (see [`Store::with_mail_policy`]); the defaults suit a small
/// service desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailPolicy {
    /// The word of the subject tag, `[Tuki #1234]`: written on outgoing
    /// mail and looked for in incoming mail. Letters, digits, spaces, `-`,
    /// `_` and `.`, at most 30 characters.
    pub tag: String,
    /// A sender with this many messages inside `throttle_window` has the
    /// next ones recorded but not ticketed: a runaway script or a loop that
    /// slipped past the robot headers must not bury the queue.
    pub throttle_max: i64,
    pub throttle_window: SignedDuration,
    /// The From address of mail whose ticket's group has no mailbox of its
    /// own (`TUKI_MAIL_FROM`); its domain names Tuki's Message-IDs.
    pub from: Option<String>,
}

impl Default for MailPolicy {
    fn default() -> Self {
        MailPolicy {
            tag: "Tuki".into(),
            throttle_max: 20,
            throttle_window: SignedDuration::from_mins(10),
            from: None,
        }
    }
}

impl MailPolicy {
    /// Checks the rules, naming the setting at fault.
    pub fn checked(mut self) -> Result<MailPolicy> {
        self.tag = self.tag.trim().to_string();
        let fits = !self.tag.is_empty()
            && self.tag.chars().count() <= 30
            && self
                .tag
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'));
        if !fits {
            return Err(StoreError::invalid(
                "mail_tag",
                "must be 1 to 30 letters, digits, spaces, '-', '_' or '.'",
            ));
        }
        if self.throttle_max < 1 {
            return Err(StoreError::invalid("mail_throttle", "must be at least 1"));
        }
        if self.throttle_window < SignedDuration::from_secs(1) {
            return Err(StoreError::invalid(
                "mail_throttle_minutes",
                "must be at least 1",
            ));
        }
        Ok(self)
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum IngestOutcome {
    /// A new ticket.
    Ticket {
        ticket_id: i64,
        number: i64,
        article_id: i64,
    },
    /// An article on an existing ticket.
    Article {
        ticket_id: i64,
        article_id: i64,
        by: ThreadBy,
    },
    /// A delivery report: attached to its ticket when one was found, and the
    /// failed addresses flagged.
    Bounce {
        ticket_id: Option<i64>,
        article_id: Option<i64>,
        flagged: Vec<String>,
    },
    /// The sender went over the limit; recorded, not ticketed.
    Throttled,
    /// Sent from one of Tuki's own mailboxes; recorded, not ticketed.
    Loop,
    /// This Message-ID was imported before; nothing changed.
    Duplicate,
    /// Could not be parsed; kept for an administrator.
    Quarantined { quarantine_id: i64, error: String },
}

impl IngestOutcome {
    /// Whether the source may now delete its copy: everything but a
    /// database failure (which is an `Err`) leaves the message safe in Tuki.
    pub fn is_safe_to_delete(&self) -> bool {
        true
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Mailbox {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub group_id: Option<i64>,
    pub last_fetch_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
    pub failing_since: Option<Timestamp>,
    /// The `tuki serve` process (node id) whose IMAP poller holds the
    /// mailbox's lease, and until when; see `imap.rs`.
    pub poller_node: Option<String>,
    pub poller_lease_until: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuarantinedMail {
    pub id: i64,
    pub mailbox_id: Option<i64>,
    pub error: String,
    pub attempts: i64,
    pub size: usize,
    pub created_at: Timestamp,
    pub last_attempt_at: Timestamp,
    pub released_at: Option<Timestamp>,
}

/// A record of one received message, for admins and for the notifier, which
/// must not answer when `auto_answer_allowed` is false.
#[derive(Debug, Clone, Serialize)]
pub struct MailRecord {
    pub message_id: String,
    pub sender: Option<String>,
    pub ticket_id: Option<i64>,
    pub article_id: Option<i64>,
    pub classification: String,
    pub auto_answer_allowed: bool,
    pub reasons: String,
    pub outcome: String,
    pub threaded_by: Option<String>,
    pub received_at: Timestamp,
}

#[derive(Debug, Clone, Serialize)]
pub struct AddressFlag {
    pub address: String,
    /// The delivery status of the last report (`5.1.1`: a permanent
    /// failure, so Tuki sends the address no more mail).
    pub status: Option<String>,
    pub bounces: i64,
    pub last_ticket_id: Option<i64>,
    pub last_ticket_number: Option<i64>,
    pub last_at: Timestamp,
    /// When an administrator cleared the flag: mail goes to the address
    /// again until it bounces anew.
    pub cleared_at: Option<Timestamp>,
}

pub(crate) const ADDRESS_FLAG_COLUMNS: &str =
    "address, status, bounces, last_ticket_id, last_at, cleared_at, \
     (SELECT t.number FROM tickets t WHERE t.id = mail_address_flags.last_ticket_id) AS last_ticket_number";

pub(crate) fn address_flag_from_row(r: &sqlx::any::AnyRow) -> Result<AddressFlag> {
    Ok(AddressFlag {
        address: r.try_get("address")?,
        status: r.try_get("status")?,
        bounces: r.try_get("bounces")?,
        last_ticket_id: r.try_get("last_ticket_id")?,
        last_ticket_number: r.try_get("last_ticket_number")?,
        last_at: from_db(r.try_get("last_at")?),
        cleared_at: opt_from_db(r.try_get("cleared_at")?),
    })
}

pub(crate) const MAILBOX_COLUMNS: &str =
    "id, name, address, group_id, last_fetch_at, last_error, last_error_at, failing_since, \
     poller_node, poller_lease_until";

pub(crate) fn mailbox_from_row(r: &sqlx::any::AnyRow) -> Result<Mailbox> {
    Ok(Mailbox {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        address: r.try_get("address")?,
        group_id: r.try_get("group_id")?,
        last_fetch_at: opt_from_db(r.try_get("last_fetch_at")?),
        last_error: r.try_get("last_error")?,
        last_error_at: opt_from_db(r.try_get("last_error_at")?),
        failing_since: opt_from_db(r.try_get("failing_since")?),
        poller_node: r.try_get("poller_node")?,
        poller_lease_until: opt_from_db(r.try_get("poller_lease_until")?),
    })
}

pub(crate) fn thread_by_str(by: ThreadBy) -> &'static str {
    match by {
        ThreadBy::References => "references",
        ThreadBy::SubjectTag => "subject_tag",
        ThreadBy::ReplySubject => "reply_subject",
    }
}

/// Cuts text to at most `max` characters on a character boundary.
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}
