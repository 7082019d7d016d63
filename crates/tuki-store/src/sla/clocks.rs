//! A ticket's clocks as data: the policy chosen at creation, the clocks and
//! their events, stored here; what they do is the domain's SLA step
//! ([`tuki_domain::sla::step`]), run inside the ticket's write transaction.

use jiff::Timestamp;
use sqlx::{AnyConnection, Row};
use tuki_domain::sla::{
    select_policy, step, ClockMove, ClockRules, PolicyCandidate, PolicyFacts, SlaClock, SlaKind,
    SlaState, SlaStep, StoredClock,
};

use super::calendars::{stored_calendar, to_json};
use super::policies::minutes;
use super::SLA_CHECK_JOB;
use crate::events::TicketChange;
use crate::jobs::{enqueue_on, NewJob};
use crate::tickets::history::Change;
use crate::tickets::Ticket;
use crate::time::to_db;
use crate::{Result, StoreError};

/// What the clocks of a ticket need from its policy.
pub(super) async fn policy_rules(
    conn: &mut AnyConnection,
    policy_id: i64,
) -> Result<Option<ClockRules>> {
    let Some(r) = sqlx::query(
        "SELECT p.warn_percent, p.first_response_minutes, p.next_response_minutes, p.resolution_minutes, \
         c.definition FROM sla_policies p JOIN business_calendars c ON c.id = p.calendar_id WHERE p.id = $1",
    )
    .bind(policy_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let calendar = stored_calendar(&r.try_get::<String, _>("definition")?)?;
    Ok(Some(ClockRules {
        calendar,
        warn_percent: r.try_get::<i64, _>("warn_percent")?.clamp(0, 100) as u8,
        targets: [
            minutes(&r, "first_response_minutes")?,
            minutes(&r, "next_response_minutes")?,
            minutes(&r, "resolution_minutes")?,
        ],
    }))
}

/// The policy a new ticket gets (the domain's [`select_policy`] over the
/// active policies).
pub(super) async fn choose_policy(
    conn: &mut AnyConnection,
    t: &Ticket,
    contract_policy: Option<i64>,
) -> Result<Option<i64>> {
    let rows = sqlx::query(
        "SELECT id, position, priorities, organisation_id, category, channel FROM sla_policies WHERE active",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut candidates = Vec::with_capacity(rows.len());
    for r in &rows {
        candidates.push(PolicyCandidate {
            id: r.try_get("id")?,
            position: r.try_get("position")?,
            conditions: super::policies::conditions_from_row(r)?,
        });
    }
    Ok(select_policy(
        &candidates,
        &PolicyFacts {
            priority: t.priority,
            organisation_id: t.organisation_id,
            category: t.category.as_deref(),
            channel: t.channel,
            contract_policy,
        },
    ))
}

/// A stored clock's JSON; damage is a database error, not the caller's.
pub(super) fn parse_clock(raw: &str) -> Result<SlaClock> {
    serde_json::from_str(raw).map_err(|e| {
        StoreError::Database(sqlx::Error::Decode(format!("stored SLA clock: {e}").into()))
    })
}

pub(super) async fn load_clocks(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Vec<StoredClock>> {
    let rows = sqlx::query("SELECT kind, clock, state FROM sla_clocks WHERE ticket_id = $1")
        .bind(ticket_id)
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(StoredClock {
            kind: SlaKind::parse("kind", &r.try_get::<String, _>("kind")?)?,
            clock: parse_clock(&r.try_get::<String, _>("clock")?)?,
            state: SlaState::parse("state", &r.try_get::<String, _>("state")?)?,
        });
    }
    out.sort_by_key(|c| c.kind.index());
    Ok(out)
}

/// Runs the domain's step on `t`'s clocks for `moves` at `at` and stores
/// what it decides: clock events (appended; their history rows go into
/// `follow_up`), changed clocks, due times on the ticket and the next
/// check. Returns the step for its escalations; `None` without a policy.
pub(super) async fn run_step(
    conn: &mut AnyConnection,
    t: &mut Ticket,
    moves: &[ClockMove],
    at: Timestamp,
    follow_up: &mut TicketChange,
) -> Result<Option<SlaStep>> {
    let Some(policy_id) = t.sla_policy_id else {
        return Ok(None);
    };
    let Some(rules) = policy_rules(conn, policy_id).await? else {
        return Ok(None);
    };
    let clocks = load_clocks(conn, t.id).await?;
    let s = step(&rules, clocks, t.state.is_pending(), moves, at)?;
    for e in &s.events {
        sqlx::query(
            "INSERT INTO sla_events (ticket_id, kind, event, at, due_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(t.id)
        .bind(e.kind.as_str())
        .bind(e.event.as_str())
        .bind(to_db(e.at))
        .bind(e.due_at.map(to_db))
        .execute(&mut *conn)
        .await?;
        let row = Change::new("sla", None, Some(format!("{} {}", e.kind, e.event)));
        follow_up.change(if e.by_actor {
            row.at(e.at)
        } else {
            row.by_tuki_at(e.at)
        });
        tracing::debug!(ticket = t.id, kind = %e.kind, event = %e.event, "SLA event");
    }
    for w in &s.writes {
        sqlx::query(
            "INSERT INTO sla_clocks (ticket_id, kind, clock, state, due_at, warn_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (ticket_id, kind) DO UPDATE SET \
             clock = excluded.clock, state = excluded.state, due_at = excluded.due_at, \
             warn_at = excluded.warn_at, updated_at = excluded.updated_at",
        )
        .bind(t.id)
        .bind(w.kind.as_str())
        .bind(to_json(&w.clock)?)
        .bind(w.state.as_str())
        .bind(w.due_at.map(to_db))
        .bind(w.warn_at.map(to_db))
        .bind(to_db(at))
        .execute(&mut *conn)
        .await?;
    }
    t.sla_state = s.state;
    [
        t.first_response_due_at,
        t.next_response_due_at,
        t.resolution_due_at,
    ] = s.dues;
    sqlx::query(
        "UPDATE tickets SET sla_policy_id = $1, sla_state = $2, first_response_due_at = $3, \
         next_response_due_at = $4, resolution_due_at = $5, sla_due_at = $6 WHERE id = $7",
    )
    .bind(t.sla_policy_id)
    .bind(t.sla_state.map(|s| s.as_str()))
    .bind(t.first_response_due_at.map(to_db))
    .bind(t.next_response_due_at.map(to_db))
    .bind(t.resolution_due_at.map(to_db))
    .bind(s.sla_due.map_or(i64::MAX, to_db))
    .bind(t.id)
    .execute(&mut *conn)
    .await?;
    if let Some(when) = s.next_check {
        enqueue_on(
            conn,
            NewJob {
                kind: SLA_CHECK_JOB,
                payload: serde_json::json!({ "ticket_id": t.id }),
                run_at: when,
                dedupe_key: Some(format!("sla:{}", t.id)),
            },
            at,
        )
        .await?;
    }
    Ok(Some(s))
}
