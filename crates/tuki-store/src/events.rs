//! Ticket events: the one way a change of a ticket reaches the capabilities
//! that follow tickets.
//!
//! A write path in [`crate::tickets`] changes the ticket's row, then hands a
//! [`TicketChange`] to [`dispatch`] inside the same transaction: its field
//! changes go to the history, its domain events to the service levels and
//! the mail, and the change feed announces the ticket to every server. A
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

use crate::tickets::history::{self, Change};
use crate::tickets::Ticket;
use crate::Result;

/// One change of one ticket: who made it and when, the history rows it
/// leaves and the events it means.
#[derive(Debug, Clone)]
pub(crate) struct TicketChange {
    /// `None` when Tuki itself made the change (mail robots, SLA jobs).
    pub actor_id: Option<i64>,
    pub at: Timestamp,
    pub changes: Vec<Change>,
    pub events: Vec<TicketEvent>,
}

impl TicketChange {
    pub fn new(actor_id: Option<i64>, at: Timestamp) -> TicketChange {
        TicketChange {
            actor_id,
            at,
            changes: Vec::new(),
            events: Vec::new(),
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
    follow(conn, t, change).await?;
    crate::feed::announce(conn, &[&*t]).await
}

/// The capabilities, in the order they hear a change; their follow-ups go
/// round again.
async fn follow(conn: &mut AnyConnection, t: &mut Ticket, change: TicketChange) -> Result<()> {
    let mut queue = VecDeque::from([change]);
    while let Some(c) = queue.pop_front() {
        history::record_all(conn, t.id, c.actor_id, c.at, &c.changes).await?;
        let follow_ups = crate::sla::on_ticket_change(conn, t, &c).await?;
        crate::outbox::on_ticket_change(conn, t, &c).await?;
        queue.extend(follow_ups);
    }
    Ok(())
}

/// A ticket just written, for [`dispatch_created`].
pub(crate) struct Created<'a> {
    pub ticket: &'a mut Ticket,
    pub actor_id: Option<i64>,
    /// Its first article.
    pub article_id: i64,
    pub at: Timestamp,
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
    crate::outbox::on_created(conn, created).await?;
    if crate::sla::any_active_policy(conn).await? {
        for c in created.iter_mut() {
            let follow_ups = crate::sla::on_created(conn, c.ticket, c.actor_id, c.at).await?;
            for f in follow_ups {
                follow(conn, c.ticket, f).await?;
            }
        }
    }
    let tickets: Vec<&Ticket> = created.iter().map(|c| &*c.ticket).collect();
    crate::feed::announce(conn, &tickets).await
}
