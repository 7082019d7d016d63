//! A ticket's clocks: the policy chosen at creation, applying events,
//! stored state.

use jiff::Timestamp;
use sqlx::{AnyConnection, Row};
use tuki_domain::sla::*;
use tuki_domain::ticket::Channel;

use super::calendars::{parse_definition, to_json};
use super::metrics::record_tier_metrics;
use super::policies::{minutes, parse_priorities};
use super::*;
use crate::jobs::{enqueue_on, NewJob};
use crate::tickets::history::{record, Change};
use crate::tickets::save;
use crate::tickets::Ticket;
use crate::time::to_db;
use crate::{Result, StoreError};
use std::collections::BTreeMap;

/// What the clocks of a ticket need from its policy.
pub(super) struct PolicyRule {
    pub calendar: BusinessCalendar,
    pub warn_percent: u8,
    pub targets: [Option<u32>; 3],
}

fn kind_index(kind: SlaKind) -> usize {
    match kind {
        SlaKind::FirstResponse => 0,
        SlaKind::NextResponse => 1,
        SlaKind::Resolution => 2,
    }
}

pub(super) async fn policy_rule(
    conn: &mut AnyConnection,
    policy_id: i64,
) -> Result<Option<PolicyRule>> {
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
    let definition = parse_definition(&r.try_get::<String, _>("definition")?)?;
    let calendar = definition.validate().map_err(|e| {
        StoreError::Database(sqlx::Error::Decode(
            format!("stored calendar no longer validates: {e}").into(),
        ))
    })?;
    Ok(Some(PolicyRule {
        calendar,
        warn_percent: r.try_get::<i64, _>("warn_percent")?.clamp(0, 100) as u8,
        targets: [
            minutes(&r, "first_response_minutes")?,
            minutes(&r, "next_response_minutes")?,
            minutes(&r, "resolution_minutes")?,
        ],
    }))
}

async fn choose_policy(conn: &mut AnyConnection, t: &Ticket) -> Result<Option<i64>> {
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
            conditions: PolicyConditions {
                priorities: parse_priorities(&r.try_get::<String, _>("priorities")?)?,
                organisation_id: r.try_get("organisation_id")?,
                category: r.try_get("category")?,
                channel: r
                    .try_get::<Option<String>, _>("channel")?
                    .map(|c| Channel::parse("channel", &c))
                    .transpose()?,
            },
        });
    }
    Ok(select_policy(
        &candidates,
        &PolicyFacts {
            priority: t.priority,
            organisation_id: t.organisation_id,
            category: t.category.as_deref(),
            channel: t.channel,
        },
    ))
}

/// A clock as loaded, with what the last evaluation stored.
pub(super) struct StoredClock {
    pub clock: SlaClock,
    pub state: SlaState,
    pub dirty: bool,
}

pub(super) async fn load_clocks(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<BTreeMap<usize, (SlaKind, StoredClock)>> {
    let rows = sqlx::query("SELECT kind, clock, state FROM sla_clocks WHERE ticket_id = $1")
        .bind(ticket_id)
        .fetch_all(&mut *conn)
        .await?;
    let mut out = BTreeMap::new();
    for r in rows {
        let kind = SlaKind::parse("kind", &r.try_get::<String, _>("kind")?)?;
        let clock: SlaClock =
            serde_json::from_str(&r.try_get::<String, _>("clock")?).map_err(|e| {
                StoreError::Database(sqlx::Error::Decode(format!("stored SLA clock: {e}").into()))
            })?;
        out.insert(
            kind_index(kind),
            (
                kind,
                StoredClock {
                    clock,
                    state: SlaState::parse("state", &r.try_get::<String, _>("state")?)?,
                    dirty: false,
                },
            ),
        );
    }
    Ok(out)
}

async fn append_event(
    conn: &mut AnyConnection,
    t: &Ticket,
    actor_id: Option<i64>,
    kind: SlaKind,
    event: SlaEventKind,
    at: Timestamp,
    due_at: Option<Timestamp>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sla_events (ticket_id, kind, event, at, due_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(t.id)
    .bind(kind.as_str())
    .bind(event.as_str())
    .bind(to_db(at))
    .bind(due_at.map(to_db))
    .execute(&mut *conn)
    .await?;
    record(
        conn,
        t.id,
        actor_id,
        to_db(at),
        Change::new("sla", None, Some(format!("{kind} {event}"))),
    )
    .await?;
    tracing::debug!(ticket = t.id, %kind, %event, "SLA event");
    Ok(())
}

/// Applies a ticket event to the ticket's clocks and stores what follows:
/// new clock states, events, due times on the ticket, the next SLA check,
/// escalations that became due, and tier metrics when the ticket is
/// resolved. Runs inside the caller's write transaction; `t` is updated to
/// what is stored.
pub(crate) async fn on_ticket_event(
    conn: &mut AnyConnection,
    t: &mut Ticket,
    actor_id: Option<i64>,
    event: TicketEvent,
    at: Timestamp,
) -> Result<()> {
    // The mail that follows the event (acknowledgement, reply, resolution,
    // agents' notices) is recorded in this same transaction.
    crate::outbox::on_ticket_event(conn, t, actor_id, &event, at).await?;
    clocks_on_event(conn, t, actor_id, event, at).await
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

/// The SLA part of [`on_ticket_event`]: clocks, events, escalations, tier
/// metrics (without the mail, for callers that record it themselves).
pub(crate) async fn clocks_on_event(
    conn: &mut AnyConnection,
    t: &mut Ticket,
    actor_id: Option<i64>,
    event: TicketEvent,
    at: Timestamp,
) -> Result<()> {
    if let TicketEvent::StateChanged { from, to } = event {
        if from.is_active() && !to.is_active() {
            record_tier_metrics(conn, t, at).await?;
        }
    }
    if event == TicketEvent::Created {
        t.sla_policy_id = choose_policy(conn, t).await?;
        if t.sla_policy_id.is_none() {
            return Ok(());
        }
    }
    apply(conn, t, actor_id, &clock_moves(event), at).await
}

pub(super) async fn apply(
    conn: &mut AnyConnection,
    t: &mut Ticket,
    actor_id: Option<i64>,
    moves: &[ClockMove],
    at: Timestamp,
) -> Result<()> {
    let Some(policy_id) = t.sla_policy_id else {
        return Ok(());
    };
    let Some(rule) = policy_rule(conn, policy_id).await? else {
        return Ok(());
    };
    let mut clocks = load_clocks(conn, t.id).await?;

    for m in moves {
        match *m {
            ClockMove::Start(kind) => {
                let Some(target) = rule.targets[kind_index(kind)] else {
                    continue;
                };
                if kind == SlaKind::NextResponse {
                    // A next response is owed only once the first one is
                    // given, and one cycle at a time: more customer mail
                    // before the answer does not move the due time.
                    let owed = |k: SlaKind| {
                        clocks
                            .get(&kind_index(k))
                            .is_some_and(|(_, c)| c.clock.stopped_at().is_none())
                    };
                    if owed(SlaKind::FirstResponse) || owed(SlaKind::NextResponse) {
                        continue;
                    }
                } else if clocks.contains_key(&kind_index(kind)) {
                    continue;
                }
                let mut clock = SlaClock::start(at, target)?;
                if t.state.is_pending() {
                    clock.pause(at);
                }
                append_event(conn, t, actor_id, kind, SlaEventKind::Started, at, None).await?;
                clocks.insert(
                    kind_index(kind),
                    (
                        kind,
                        StoredClock {
                            clock,
                            // A fresh cycle: nothing about it is stored yet.
                            state: SlaState::Running,
                            dirty: true,
                        },
                    ),
                );
            }
            ClockMove::Pause(kind) | ClockMove::Resume(kind) | ClockMove::Reopen(kind) => {
                let Some((_, c)) = clocks.get_mut(&kind_index(kind)) else {
                    continue;
                };
                let (changed, event) = match *m {
                    ClockMove::Pause(_) => (c.clock.pause(at), SlaEventKind::Paused),
                    ClockMove::Resume(_) => (c.clock.resume(at), SlaEventKind::Resumed),
                    _ => (c.clock.reopen(at), SlaEventKind::Resumed),
                };
                if changed {
                    c.dirty = true;
                    append_event(conn, t, actor_id, kind, event, at, None).await?;
                }
            }
            ClockMove::Stop(kind) => {
                if let Some((_, c)) = clocks.get_mut(&kind_index(kind)) {
                    c.dirty |= c.clock.stop(at);
                }
            }
        }
    }

    // Evaluate every clock now and record what crossed a line since the
    // last evaluation.
    let mut escalations: Vec<(SlaKind, EscalationTrigger)> = Vec::new();
    let mut states = Vec::new();
    let mut dues: [Option<Timestamp>; 3] = [None; 3];
    let mut sla_due: Option<Timestamp> = None;
    let mut next_check: Option<Timestamp> = None;
    for (idx, (kind, c)) in clocks.iter_mut() {
        let kind = *kind;
        let ev: SlaEvaluation = evaluate(&rule.calendar, &c.clock, at, rule.warn_percent);
        let open = c.clock.stopped_at().is_none();
        if ev.state != c.state {
            let was_warned = matches!(c.state, SlaState::Warned | SlaState::Breached);
            match ev.state {
                SlaState::Warned | SlaState::Breached if !was_warned => {
                    if let Some(w) = ev.warn_at.filter(|w| *w <= at) {
                        append_event(conn, t, None, kind, SlaEventKind::Warned, w, ev.due_at)
                            .await?;
                        if open && ev.state == SlaState::Warned {
                            escalations.push((kind, EscalationTrigger::Warning));
                        }
                    }
                }
                _ => {}
            }
            match ev.state {
                SlaState::Breached => {
                    let when = ev.due_at.map_or(at, |d| d.min(at));
                    append_event(conn, t, None, kind, SlaEventKind::Breached, when, ev.due_at)
                        .await?;
                    // An open target escalates; one already answered late
                    // is on record, but nobody needs to be sent after it.
                    if open {
                        escalations.push((kind, EscalationTrigger::Breach));
                    }
                }
                SlaState::Met => {
                    let when = c.clock.stopped_at().unwrap_or(at);
                    append_event(conn, t, actor_id, kind, SlaEventKind::Met, when, ev.due_at)
                        .await?;
                }
                _ => {}
            }
            c.state = ev.state;
            c.dirty = true;
        }
        if c.dirty {
            sqlx::query(
                "INSERT INTO sla_clocks (ticket_id, kind, clock, state, due_at, warn_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (ticket_id, kind) DO UPDATE SET \
                 clock = excluded.clock, state = excluded.state, due_at = excluded.due_at, \
                 warn_at = excluded.warn_at, updated_at = excluded.updated_at",
            )
            .bind(t.id)
            .bind(kind.as_str())
            .bind(to_json(&c.clock)?)
            .bind(ev.state.as_str())
            .bind(ev.due_at.map(to_db))
            .bind(ev.warn_at.map(to_db))
            .bind(to_db(at))
            .execute(&mut *conn)
            .await?;
        }
        states.push(ev.state);
        dues[*idx] = ev.due_at;
        if open && !c.clock.is_paused() {
            sla_due = min_opt(sla_due, ev.due_at);
        }
        next_check = min_opt(next_check, ev.next_change);
    }

    t.sla_state = overall_state(states);
    [
        t.first_response_due_at,
        t.next_response_due_at,
        t.resolution_due_at,
    ] = dues;
    sqlx::query(
        "UPDATE tickets SET sla_policy_id = $1, sla_state = $2, first_response_due_at = $3, \
         next_response_due_at = $4, resolution_due_at = $5, sla_due_at = $6 WHERE id = $7",
    )
    .bind(t.sla_policy_id)
    .bind(t.sla_state.map(|s| s.as_str()))
    .bind(t.first_response_due_at.map(to_db))
    .bind(t.next_response_due_at.map(to_db))
    .bind(t.resolution_due_at.map(to_db))
    .bind(sla_due.map_or(i64::MAX, to_db))
    .bind(t.id)
    .execute(&mut *conn)
    .await?;
    if let Some(when) = next_check {
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
    if !escalations.is_empty() {
        let before = (t.priority, t.group_id, t.owner_id);
        for (kind, trigger) in escalations {
            super::escalate::escalate(conn, t, kind, trigger, at).await?;
        }
        if before != (t.priority, t.group_id, t.owner_id) {
            t.updated_at = at;
            save(conn, t).await?;
        }
    }
    Ok(())
}

fn min_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
