//! Ticket events: the one way a change of a ticket reaches the capabilities
//! that follow tickets.
//!
//! A write path in [`crate::tickets`] changes the ticket's row, then hands a
//! [`TicketChange`] to [`dispatch`] inside the same transaction: its field
//! changes go to the history, a change of who or what it is about to the
//! coverage decision (who pays), its domain events to the service levels and
//! the mail, a change of its text to the search index, and the change feed
//! announces the ticket to every server. A
//! capability may answer with follow-up changes of its own (the service
//! levels record their clock events, an escalation raises the priority or
//! moves the ticket on); those take the same way, in order, until none is
//! left.
//!
//! `tickets` names none of the capabilities: this module is the only place
//! that names them all, in the order they hear a change. A new capability
//! that reacts to tickets adds its line here.

use std::collections::VecDeque;

use jiff::Timestamp;
use sqlx::AnyConnection;
use tuki_domain::ticket::TicketEvent;

use crate::feed::Announced;
use crate::jobs::{enqueue_all, NewJob};
use crate::tickets::history::{self, Change};
use crate::tickets::Ticket;
use crate::Result;

/// The message that brought a change in by mail: mail about the change
/// threads under it, and a robot's message (`may_answer` false) is never
/// answered. Carried with the change rather than looked up, so each message
/// of a batch answers for itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Inbound {
    pub message_id: String,
    pub may_answer: bool,
}

/// One change of one ticket: who made it and when, the history rows it
/// leaves and the events it means.
#[derive(Debug, Clone)]
pub(crate) struct TicketChange {
    /// `None` when Tuki itself made the change (mail robots, SLA jobs).
    pub actor_id: Option<i64>,
    pub at: Timestamp,
    pub changes: Vec<Change>,
    pub events: Vec<TicketEvent>,
    /// The message it came in by, when it came by mail.
    pub inbound: Option<Inbound>,
}

impl TicketChange {
    pub fn new(actor_id: Option<i64>, at: Timestamp) -> TicketChange {
        TicketChange {
            actor_id,
            at,
            changes: Vec::new(),
            events: Vec::new(),
            inbound: None,
        }
    }

    /// Adds a history row.
    pub fn change(&mut self, change: Change) -> &mut Self {
        self.changes.push(change);
        self
    }

    pub fn event(&mut self, event: TicketEvent) -> &mut Self {
        self.events.push(event);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.events.is_empty()
    }
}

/// Hands a change of `t` (already saved) to every capability, then its
/// follow-ups, and announces the ticket on the change feed. Runs in the
/// caller's transaction; `t` is kept as stored.
pub(crate) async fn dispatch(
    conn: &mut AnyConnection,
    t: &mut Ticket,
    change: TicketChange,
) -> Result<()> {
    let mut later = Later::default();
    dispatch_later(conn, t, change, &mut later).await?;
    later.write(conn).await
}

/// [`dispatch`] for one of many changes of a transaction (a batch of mail):
/// what can wait for the end of the transaction, the change-feed rows and
/// the jobs, is left in `later`, which the caller writes before it commits
/// (one statement each instead of two per change).
pub(crate) async fn dispatch_later(
    conn: &mut AnyConnection,
    t: &mut Ticket,
    change: TicketChange,
    later: &mut Later,
) -> Result<()> {
    later.at(change.at);
    follow(conn, t, change, later).await?;
    later.signals.push(Announced::of(t));
    Ok(())
}

/// The capabilities, in the order they hear a change; their follow-ups go
/// round again.
async fn follow(
    conn: &mut AnyConnection,
    t: &mut Ticket,
    change: TicketChange,
    later: &mut Later,
) -> Result<()> {
    let mut queue = VecDeque::from([change]);
    while let Some(c) = queue.pop_front() {
        history::record_all(conn, t.id, c.actor_id, c.at, &c.changes).await?;
        if crate::search::changes_text(&c) {
            later.search.push(t.id);
        }
        crate::coverage::decide::on_ticket_change(conn, t, &c).await?;
        let follow_ups = crate::sla::on_ticket_change(conn, t, &c).await?;
        crate::outbox::on_ticket_change(conn, t, &c, later).await?;
        queue.extend(follow_ups);
    }
    Ok(())
}

/// What the dispatches of a transaction leave to its end: search documents
/// (each changed ticket indexed once), change-feed rows and jobs, each
/// written in one statement by [`Later::write`].
#[derive(Default)]
pub(crate) struct Later {
    search: Vec<i64>,
    signals: Vec<Announced>,
    jobs: Vec<NewJob<'static>>,
    at: Option<Timestamp>,
}

impl Later {
    /// A job to enqueue with the rest.
    pub fn job(&mut self, job: NewJob<'static>) {
        self.jobs.push(job);
    }

    /// The latest instant of the changes, when the jobs are enqueued.
    fn at(&mut self, at: Timestamp) {
        self.at = Some(self.at.map_or(at, |a| a.max(at)));
    }

    /// Writes what was left, in the caller's transaction.
    pub async fn write(mut self, conn: &mut AnyConnection) -> Result<()> {
        self.search.sort_unstable();
        self.search.dedup();
        crate::search::index_tickets(conn, &self.search).await?;
        if let Some(at) = self.at {
            enqueue_all(conn, &self.jobs, at).await?;
        }
        crate::feed::announce(conn, &self.signals).await
    }
}

/// A ticket just written, for [`dispatch_created`].
pub(crate) struct Created<'a> {
    pub ticket: &'a mut Ticket,
    pub actor_id: Option<i64>,
    /// Its first article.
    pub article_id: i64,
    /// The first article's text and whether it is internal (for search).
    pub body: &'a str,
    pub internal: bool,
    pub at: Timestamp,
    /// The message it came in by, when it came by mail.
    pub inbound: Option<Inbound>,
    /// The device the request names, if the caller chose one.
    pub asset_id: Option<i64>,
    /// The service level of the contract that pays for it: the coverage
    /// decision sets it, the service levels choose it first.
    pub contract_policy: Option<i64>,
}

/// [`dispatch`] for tickets created together (one or a whole batch): the
/// same capabilities, each writing what it can for all of them at once, so
/// a batch costs a fixed number of statements where it can.
pub(crate) async fn dispatch_created(
    conn: &mut AnyConnection,
    created: &mut [Created<'_>],
) -> Result<()> {
    if created.is_empty() {
        return Ok(());
    }
    history::record_created(conn, created).await?;
    crate::coverage::decide::on_created(conn, created).await?;
    let on_call = crate::oncall::on_created(conn, created).await?;
    crate::outbox::on_created(conn, created).await?;
    let mut later = Later::default();
    for (i, change) in on_call {
        let c = &mut created[i];
        later.at(c.at);
        follow(conn, c.ticket, change, &mut later).await?;
    }
    if crate::sla::any_active_policy(conn).await? {
        for c in created.iter_mut() {
            later.at(c.at);
            let follow_ups =
                crate::sla::on_created(conn, c.ticket, c.actor_id, c.at, c.contract_policy).await?;
            for f in follow_ups {
                follow(conn, c.ticket, f, &mut later).await?;
            }
        }
    }
    later.signals = created.iter().map(|c| Announced::of(c.ticket)).collect();
    let texts: Vec<crate::search::NewTicketText<'_>> = created
        .iter()
        .map(|c| crate::search::NewTicketText {
            id: c.ticket.id,
            number: c.ticket.number,
            subject: &c.ticket.subject,
            tags: &c.ticket.tags,
            body: c.body,
            internal: c.internal,
        })
        .collect();
    crate::search::index_created(conn, &texts).await?;
    later.write(conn).await
}
