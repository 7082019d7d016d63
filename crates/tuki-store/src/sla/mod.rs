//! Service levels as data: business calendars, SLA policies, the clocks of
//! each ticket, their append-only events, escalation rules and tier metrics.
//!
//! The arithmetic and the decisions are the domain's (`tuki_domain::sla`,
//! its [`step`](tuki_domain::sla::step) above all); this module loads what
//! they need, runs them inside the ticket's write transaction and stores
//! what they answer. It hears every ticket change through
//! [`crate::events`] ([`on_ticket_change`]); the background SLA check
//! ([`Store::sla_check`]) is a change of its own (`ClocksDue`), so a
//! warning found by the job and one found on a reply are recorded the same
//! way.

mod calendars;
pub(crate) use calendars::stored_calendar;
mod clocks;
mod escalate;
mod escalation_rules;
mod metrics;
mod policies;
mod recompute;

use jiff::Timestamp;
use serde::Serialize;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;
use tuki_domain::sla::{clock_moves, evaluate, ClockMove, SlaEventKind, SlaState};
pub use tuki_domain::sla::{SlaKind, TicketEvent};

use crate::events::TicketChange;
use crate::tickets::{load, save, Ticket};
use crate::time::{from_db, opt_from_db};
use crate::{Result, Store, StoreError};

pub use calendars::{Calendar, CalendarInput, Calendars};
pub use escalation_rules::{EscalationRule, EscalationRuleInput, EscalationRules};
pub use policies::{Policies, PolicyInput, SlaPolicy};
pub use recompute::RecomputeStats;

// ------------------------------------------------------- the ticket's changes

/// Whether an event moves or asks about the clocks (an owner change does
/// not).
fn concerns_clocks(e: &TicketEvent) -> bool {
    !matches!(e, TicketEvent::Assigned { .. })
}

/// The service levels' part of a ticket change: the clock moves of its
/// events, one step of the clocks, the escalations that became due and the
/// tier metrics of a resolution. Returns the follow-up (the clock events'
/// history rows and what the escalations did).
pub(crate) async fn on_ticket_change(
    conn: &mut AnyConnection,
    t: &mut Ticket,
    change: &TicketChange,
) -> Result<Vec<TicketChange>> {
    if !change.events.iter().any(concerns_clocks) {
        return Ok(Vec::new());
    }
    for e in &change.events {
        if let TicketEvent::StateChanged { from, to } = e {
            if from.is_active() && !to.is_active() {
                metrics::record_tier_metrics(conn, t, change.at).await?;
            }
        }
    }
    let moves: Vec<ClockMove> = change.events.iter().flat_map(|e| clock_moves(*e)).collect();
    step_and_escalate(conn, t, change.actor_id, &moves, change.at).await
}

/// A new ticket's policy and first clocks.
pub(crate) async fn on_created(
    conn: &mut AnyConnection,
    t: &mut Ticket,
    actor_id: Option<i64>,
    at: Timestamp,
    contract_policy: Option<i64>,
) -> Result<Vec<TicketChange>> {
    t.sla_policy_id = clocks::choose_policy(conn, t, contract_policy).await?;
    if t.sla_policy_id.is_none() {
        return Ok(Vec::new());
    }
    step_and_escalate(conn, t, actor_id, &clock_moves(TicketEvent::Created), at).await
}

async fn step_and_escalate(
    conn: &mut AnyConnection,
    t: &mut Ticket,
    actor_id: Option<i64>,
    moves: &[ClockMove],
    at: Timestamp,
) -> Result<Vec<TicketChange>> {
    let mut follow_up = TicketChange::new(actor_id, at);
    let Some(step) = clocks::run_step(conn, t, moves, at, &mut follow_up).await? else {
        return Ok(Vec::new());
    };
    if !step.escalations.is_empty() {
        let before = (t.priority, t.group_id, t.owner_id);
        for (kind, trigger) in step.escalations {
            escalate::escalate(conn, t, kind, trigger, at, &mut follow_up).await?;
        }
        if before != (t.priority, t.group_id, t.owner_id) {
            t.updated_at = at;
            save(conn, t).await?;
        }
    }
    Ok(if follow_up.is_empty() {
        Vec::new()
    } else {
        vec![follow_up]
    })
}

/// Whether any SLA policy is active; when none is, new tickets start no
/// clocks and a batch of them can skip the policy choice.
pub(crate) async fn any_active_policy(conn: &mut AnyConnection) -> Result<bool> {
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM sla_policies WHERE active")
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    Ok(n > 0)
}

/// The job kind that re-evaluates one ticket's clocks when one of them is
/// about to change state (its payload: `{"ticket_id": N}`).
pub const SLA_CHECK_JOB: &str = "sla_check";

// ------------------------------------------------------ a ticket's SLA as read

/// One clock of a ticket as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketClock {
    pub kind: SlaKind,
    pub state: SlaState,
    pub target_minutes: u32,
    pub started_at: Timestamp,
    /// Absent while paused short of the target.
    pub due_at: Option<Timestamp>,
    pub warn_at: Option<Timestamp>,
    /// When the target was met (or ended late).
    pub stopped_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaEvent {
    pub id: i64,
    pub ticket_id: i64,
    pub kind: SlaKind,
    pub event: SlaEventKind,
    pub at: Timestamp,
    pub due_at: Option<Timestamp>,
}

/// A ticket's service level: its policy, clocks and every event so far.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketSla {
    pub ticket_id: i64,
    pub policy_id: Option<i64>,
    pub state: Option<SlaState>,
    pub clocks: Vec<TicketClock>,
    pub events: Vec<SlaEvent>,
}

/// A message for a person, left for the mail channel.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: i64,
    pub user_id: i64,
    pub ticket_id: Option<i64>,
    pub kind: String,
    pub message: String,
    pub created_at: Timestamp,
}

/// Tier metrics of a resolved ticket.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketMetrics {
    pub ticket_id: i64,
    pub resolved_at: Timestamp,
    pub resolved_in_tier: Option<i64>,
    /// Resolved in tier 1 without a transfer.
    pub first_contact_resolution: bool,
    pub transfers: i64,
    pub tier1_seconds: i64,
    pub tier2_seconds: i64,
    pub tier3_seconds: i64,
}

impl Store {
    /// Re-evaluates one ticket's clocks now: records warnings and breaches
    /// that came due, runs their escalation rules and schedules the next
    /// check. What the `sla_check` job runs; safe to repeat.
    pub async fn sla_check(&self, ticket_id: i64) -> Result<()> {
        let at = self.now();
        let mut tx = self.begin_write().await?;
        let mut t = match load(&mut tx, ticket_id).await {
            Ok(t) => t,
            // A ticket that is gone has nothing left to check.
            Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut change = TicketChange::new(None, at);
        change.event(TicketEvent::ClocksDue);
        crate::events::dispatch(&mut tx, &mut t, change).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A ticket's SLA: policy, clocks as of now, and all events.
    pub async fn ticket_sla(&self, actor: &Actor, ticket_id: i64) -> Result<TicketSla> {
        let t = self
            .authorize(actor, ticket_id, tuki_domain::access::TicketAction::View)
            .await?;
        let now = self.now();
        let mut conn = self.read.acquire().await?;
        let rule = match t.sla_policy_id {
            Some(p) => clocks::policy_rules(&mut conn, p).await?,
            None => None,
        };
        let mut clocks = Vec::new();
        if let Some(rule) = &rule {
            for c in clocks::load_clocks(&mut conn, t.id).await? {
                let ev = evaluate(&rule.calendar, &c.clock, now, rule.warn_percent);
                clocks.push(TicketClock {
                    kind: c.kind,
                    state: ev.state,
                    target_minutes: c.clock.target_minutes(),
                    started_at: c.clock.started_at(),
                    due_at: ev.due_at,
                    warn_at: ev.warn_at,
                    stopped_at: c.clock.stopped_at(),
                });
            }
        }
        let events = sqlx::query(
            "SELECT id, ticket_id, kind, event, at, due_at FROM sla_events WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(t.id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(SlaEvent {
                id: r.try_get("id")?,
                ticket_id: r.try_get("ticket_id")?,
                kind: SlaKind::parse("kind", &r.try_get::<String, _>("kind")?)?,
                event: SlaEventKind::parse("event", &r.try_get::<String, _>("event")?)?,
                at: from_db(r.try_get("at")?),
                due_at: opt_from_db(r.try_get("due_at")?),
            })
        })
        .collect::<Result<Vec<_>>>()?;
        Ok(TicketSla {
            ticket_id: t.id,
            policy_id: t.sla_policy_id,
            state: t.sla_state,
            clocks,
            events,
        })
    }

    /// Tier metrics of a resolved ticket; `None` while it was never resolved.
    /// Staff only.
    pub async fn ticket_metrics(
        &self,
        actor: &Actor,
        ticket_id: i64,
    ) -> Result<Option<TicketMetrics>> {
        self.authorize(
            actor,
            ticket_id,
            tuki_domain::access::TicketAction::ReadHistory,
        )
        .await?;
        let Some(r) = sqlx::query(
            "SELECT ticket_id, resolved_at, resolved_in_tier, first_contact_resolution, transfers, \
             tier1_seconds, tier2_seconds, tier3_seconds FROM ticket_tier_metrics WHERE ticket_id = $1",
        )
        .bind(ticket_id)
        .fetch_optional(&self.read)
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(TicketMetrics {
            ticket_id: r.try_get("ticket_id")?,
            resolved_at: from_db(r.try_get("resolved_at")?),
            resolved_in_tier: r.try_get("resolved_in_tier")?,
            first_contact_resolution: crate::sql::get_bool(&r, "first_contact_resolution")?,
            transfers: r.try_get("transfers")?,
            tier1_seconds: r.try_get("tier1_seconds")?,
            tier2_seconds: r.try_get("tier2_seconds")?,
            tier3_seconds: r.try_get("tier3_seconds")?,
        }))
    }

    /// Notifications left for a ticket (newest last); staff only.
    pub async fn notifications_for_ticket(
        &self,
        actor: &Actor,
        ticket_id: i64,
    ) -> Result<Vec<Notification>> {
        self.authorize(
            actor,
            ticket_id,
            tuki_domain::access::TicketAction::ReadHistory,
        )
        .await?;
        sqlx::query(
            "SELECT id, user_id, ticket_id, kind, message, created_at FROM notifications WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(ticket_id)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|r| {
            Ok(Notification {
                id: r.try_get("id")?,
                user_id: r.try_get("user_id")?,
                ticket_id: r.try_get("ticket_id")?,
                kind: r.try_get("kind")?,
                message: r.try_get("message")?,
                created_at: from_db(r.try_get("created_at")?),
            })
        })
        .collect()
    }
}
