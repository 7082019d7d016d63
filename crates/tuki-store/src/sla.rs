//! Service levels as data: business calendars, SLA policies, the clocks of
//! each ticket, their append-only events, escalation rules and tier metrics.
//!
//! The arithmetic and the decisions are the domain's (`tuki_domain::sla`);
//! this module loads what they need, applies them inside the ticket's write
//! transaction and stores what they answer. Every write path of a ticket
//! calls [`on_ticket_event`]; the background SLA check ([`Store::sla_check`])
//! calls the same code with no event, so a warning found by the job and one
//! found on a reply are recorded the same way.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;
use tuki_domain::sla::{
    clock_moves, evaluate, overall_state, raised, select_policy, tier_metrics, BusinessCalendar,
    CalendarDefinition, ClockMove, EscalationAction, EscalationTrigger, PolicyCandidate,
    PolicyConditions, PolicyFacts, SlaClock, SlaEvaluation, SlaEventKind, SlaState, TierMove,
};
pub use tuki_domain::sla::{SlaKind, TicketEvent};
use tuki_domain::ticket::{Channel, Priority};
use tuki_domain::values;

use crate::error::is_unique_violation;
use crate::history::{record, Change};
use crate::jobs::{enqueue_on, NewJob};
use crate::tickets::{load, save, Ticket};
use crate::time::{from_db, opt_from_db, to_db};
use crate::{Result, Store, StoreError};

/// The job kind that re-evaluates one ticket's clocks when one of them is
/// about to change state (its payload: `{"ticket_id": N}`).
pub const SLA_CHECK_JOB: &str = "sla_check";

fn require_admin(actor: &Actor) -> Result<()> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(StoreError::forbidden(
            "only administrators manage service levels",
        ))
    }
}

/// Whether an engine error is a foreign-key violation (something still
/// refers to the row being deleted).
fn is_fk_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation)
}

fn in_use(e: sqlx::Error, what: &str) -> StoreError {
    if is_fk_violation(&e) {
        StoreError::conflict(None, format!("{what} is still in use"))
    } else {
        e.into()
    }
}

fn name_taken(e: sqlx::Error, what: &str) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::conflict(Some("name"), format!("a {what} with this name exists"))
    } else {
        e.into()
    }
}

// ------------------------------------------------------------------ calendars

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Calendar {
    pub id: i64,
    pub name: String,
    /// Time zone, weekly hours (or `{"kind": "always_open"}`) and holidays.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub definition: CalendarDefinition,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

/// A calendar to create, or the whole new content of one (PUT).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CalendarInput {
    pub name: String,
    /// e.g. `{"time_zone": "Europe/Helsinki", "hours": {"kind": "weekly",
    /// "monday": [{"start": "08:00", "end": "16:00"}], …}, "holidays":
    /// [{"kind": "finnish_public"}]}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub definition: CalendarDefinition,
}

impl CalendarInput {
    fn check(&self) -> Result<String> {
        let name = values::line("name", &self.name, 100)?;
        self.definition.validate().map_err(|mut e| {
            e.field = format!("definition.{}", e.field);
            e
        })?;
        Ok(name)
    }
}

fn calendar_from_row(r: &AnyRow) -> Result<Calendar> {
    Ok(Calendar {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        definition: parse_definition(&r.try_get::<String, _>("definition")?)?,
        created_at: from_db(r.try_get("created_at")?),
        updated_at: from_db(r.try_get("updated_at")?),
    })
}

/// Stored definitions were validated on the way in; one that no longer
/// parses is damage, reported as a database error rather than the caller's.
fn parse_definition(raw: &str) -> Result<CalendarDefinition> {
    serde_json::from_str(raw).map_err(|e| {
        StoreError::Database(sqlx::Error::Decode(
            format!("stored calendar definition: {e}").into(),
        ))
    })
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Database(sqlx::Error::Encode(Box::new(e))))
}

// ------------------------------------------------------------------- policies

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaPolicy {
    pub id: i64,
    pub name: String,
    /// Policies are asked in this order (then by id); the first whose
    /// conditions all hold is the ticket's.
    pub position: i64,
    /// Condition: any of these priorities (empty: any).
    pub priorities: Vec<Priority>,
    pub organisation_id: Option<i64>,
    pub category: Option<String>,
    pub channel: Option<Channel>,
    pub calendar_id: i64,
    /// Targets in business minutes of the calendar; absent: no such target.
    pub first_response_minutes: Option<u32>,
    pub next_response_minutes: Option<u32>,
    pub resolution_minutes: Option<u32>,
    /// Share of a target after which it is `warned`; 0 means no warning.
    pub warn_percent: u8,
    pub active: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

impl SlaPolicy {
    pub fn target(&self, kind: SlaKind) -> Option<u32> {
        match kind {
            SlaKind::FirstResponse => self.first_response_minutes,
            SlaKind::NextResponse => self.next_response_minutes,
            SlaKind::Resolution => self.resolution_minutes,
        }
    }
}

/// A policy to create, or the whole new content of one (PUT).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyInput {
    pub name: String,
    /// Defaults to 100.
    #[serde(default)]
    pub position: Option<i64>,
    #[serde(default)]
    pub priorities: Vec<Priority>,
    #[serde(default)]
    pub organisation_id: Option<i64>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub channel: Option<Channel>,
    pub calendar_id: i64,
    #[serde(default)]
    pub first_response_minutes: Option<u32>,
    #[serde(default)]
    pub next_response_minutes: Option<u32>,
    #[serde(default)]
    pub resolution_minutes: Option<u32>,
    /// Defaults to 80.
    #[serde(default)]
    pub warn_percent: Option<u8>,
    /// Defaults to true.
    #[serde(default)]
    pub active: Option<bool>,
}

const POLICY_COLUMNS: &str = "id, name, position, priorities, organisation_id, category, channel, calendar_id, \
     first_response_minutes, next_response_minutes, resolution_minutes, warn_percent, active, created_at, updated_at";

fn minutes(r: &AnyRow, col: &str) -> Result<Option<u32>> {
    Ok(r.try_get::<Option<i64>, _>(col)?
        .map(|m| u32::try_from(m).unwrap_or(u32::MAX)))
}

fn parse_priorities(raw: &str) -> Result<Vec<Priority>> {
    raw.split(',')
        .filter(|s| !s.is_empty())
        .map(|p| Priority::parse("priorities", p).map_err(Into::into))
        .collect()
}

fn policy_from_row(r: &AnyRow) -> Result<SlaPolicy> {
    Ok(SlaPolicy {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        position: r.try_get("position")?,
        priorities: parse_priorities(&r.try_get::<String, _>("priorities")?)?,
        organisation_id: r.try_get("organisation_id")?,
        category: r.try_get("category")?,
        channel: r
            .try_get::<Option<String>, _>("channel")?
            .map(|c| Channel::parse("channel", &c))
            .transpose()?,
        calendar_id: r.try_get("calendar_id")?,
        first_response_minutes: minutes(r, "first_response_minutes")?,
        next_response_minutes: minutes(r, "next_response_minutes")?,
        resolution_minutes: minutes(r, "resolution_minutes")?,
        warn_percent: r.try_get::<i64, _>("warn_percent")?.clamp(0, 100) as u8,
        active: crate::sql::get_bool(r, "active")?,
        created_at: from_db(r.try_get("created_at")?),
        updated_at: from_db(r.try_get("updated_at")?),
    })
}

struct CleanPolicy {
    name: String,
    position: i64,
    priorities: String,
    category: Option<String>,
    warn_percent: i64,
    active: bool,
}

async fn check_policy(conn: &mut AnyConnection, p: &PolicyInput) -> Result<CleanPolicy> {
    let name = values::line("name", &p.name, 100)?;
    for (field, m) in [
        ("first_response_minutes", p.first_response_minutes),
        ("next_response_minutes", p.next_response_minutes),
        ("resolution_minutes", p.resolution_minutes),
    ] {
        if m == Some(0) {
            return Err(StoreError::invalid(field, "must be at least one minute"));
        }
    }
    if p.first_response_minutes.is_none()
        && p.next_response_minutes.is_none()
        && p.resolution_minutes.is_none()
    {
        return Err(StoreError::invalid(
            "first_response_minutes",
            "a policy needs at least one target",
        ));
    }
    let warn_percent = p.warn_percent.unwrap_or(80);
    if warn_percent > 100 {
        return Err(StoreError::invalid(
            "warn_percent",
            "must be between 0 and 100",
        ));
    }
    let category = p
        .category
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| values::line("category", c, 100))
        .transpose()?;
    let exists = |table: &'static str| format!("SELECT id FROM {table} WHERE id = $1");
    if sqlx::query(&exists("business_calendars"))
        .bind(p.calendar_id)
        .fetch_optional(&mut *conn)
        .await?
        .is_none()
    {
        return Err(StoreError::invalid("calendar_id", "no such calendar"));
    }
    if let Some(org) = p.organisation_id {
        if sqlx::query(&exists("organisations"))
            .bind(org)
            .fetch_optional(&mut *conn)
            .await?
            .is_none()
        {
            return Err(StoreError::invalid(
                "organisation_id",
                "no such organisation",
            ));
        }
    }
    let mut priorities: Vec<&str> = Vec::new();
    for prio in &p.priorities {
        if !priorities.contains(&prio.as_str()) {
            priorities.push(prio.as_str());
        }
    }
    Ok(CleanPolicy {
        name,
        position: p.position.unwrap_or(100),
        priorities: priorities.join(","),
        category,
        warn_percent: i64::from(warn_percent),
        active: p.active.unwrap_or(true),
    })
}

// ---------------------------------------------------------- escalation rules

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EscalationRule {
    pub id: i64,
    pub name: String,
    /// Rules that fire together run in this order (then by id).
    pub position: i64,
    /// Only tickets of this policy; absent: any.
    pub policy_id: Option<i64>,
    /// Only this target; absent: any.
    pub sla_kind: Option<SlaKind>,
    pub fires_on: EscalationTrigger,
    pub action: EscalationAction,
    /// Whom `notify_user` tells (a manager, for hierarchical escalation).
    pub user_id: Option<i64>,
    /// Where `transfer_next_tier` sends the ticket; absent: the first group
    /// of the next tier.
    pub group_id: Option<i64>,
    pub active: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EscalationRuleInput {
    pub name: String,
    #[serde(default)]
    pub position: Option<i64>,
    #[serde(default)]
    pub policy_id: Option<i64>,
    #[serde(default)]
    pub sla_kind: Option<SlaKind>,
    pub fires_on: EscalationTrigger,
    pub action: EscalationAction,
    #[serde(default)]
    pub user_id: Option<i64>,
    #[serde(default)]
    pub group_id: Option<i64>,
    #[serde(default)]
    pub active: Option<bool>,
}

const RULE_COLUMNS: &str =
    "id, name, position, policy_id, sla_kind, fires_on, action, user_id, group_id, active, \
     created_at, updated_at";

fn rule_from_row(r: &AnyRow) -> Result<EscalationRule> {
    Ok(EscalationRule {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        position: r.try_get("position")?,
        policy_id: r.try_get("policy_id")?,
        sla_kind: r
            .try_get::<Option<String>, _>("sla_kind")?
            .map(|k| SlaKind::parse("sla_kind", &k))
            .transpose()?,
        fires_on: EscalationTrigger::parse("fires_on", &r.try_get::<String, _>("fires_on")?)?,
        action: EscalationAction::parse("action", &r.try_get::<String, _>("action")?)?,
        user_id: r.try_get("user_id")?,
        group_id: r.try_get("group_id")?,
        active: crate::sql::get_bool(r, "active")?,
        created_at: from_db(r.try_get("created_at")?),
        updated_at: from_db(r.try_get("updated_at")?),
    })
}

async fn check_rule(conn: &mut AnyConnection, r: &EscalationRuleInput) -> Result<String> {
    let name = values::line("name", &r.name, 100)?;
    let exists = |table: &'static str| format!("SELECT id FROM {table} WHERE id = $1");
    if let Some(p) = r.policy_id {
        if sqlx::query(&exists("sla_policies"))
            .bind(p)
            .fetch_optional(&mut *conn)
            .await?
            .is_none()
        {
            return Err(StoreError::invalid("policy_id", "no such policy"));
        }
    }
    match (r.action, r.user_id) {
        (EscalationAction::NotifyUser, None) => {
            return Err(StoreError::invalid(
                "user_id",
                "notify_user needs the user to notify",
            ))
        }
        (_, Some(u)) => {
            let role = sqlx::query("SELECT role FROM users WHERE id = $1 AND active")
                .bind(u)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| StoreError::invalid("user_id", "no such user"))?
                .try_get::<String, _>("role")?;
            if role == "customer" {
                return Err(StoreError::invalid(
                    "user_id",
                    "escalations notify staff, not customers",
                ));
            }
        }
        _ => {}
    }
    if let Some(g) = r.group_id {
        if sqlx::query(&exists("support_groups"))
            .bind(g)
            .fetch_optional(&mut *conn)
            .await?
            .is_none()
        {
            return Err(StoreError::invalid("group_id", "no such group"));
        }
    }
    Ok(name)
}

// ------------------------------------------------------ a ticket's SLA as read

/// One clock of a ticket as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketClock {
    pub kind: SlaKind,
    pub state: SlaState,
    pub target_minutes: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub started_at: Timestamp,
    /// Absent while paused short of the target.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub due_at: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub warn_at: Option<Timestamp>,
    /// When the target was met (or ended late).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub stopped_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaEvent {
    pub id: i64,
    pub ticket_id: i64,
    pub kind: SlaKind,
    pub event: SlaEventKind,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
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
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}

/// Tier metrics of a resolved ticket.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketMetrics {
    pub ticket_id: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub resolved_at: Timestamp,
    pub resolved_in_tier: Option<i64>,
    /// Resolved in tier 1 without a transfer.
    pub first_contact_resolution: bool,
    pub transfers: i64,
    pub tier1_seconds: i64,
    pub tier2_seconds: i64,
    pub tier3_seconds: i64,
}

// ------------------------------------------------------- the ticket-path hook

/// What the clocks of a ticket need from its policy.
struct PolicyRule {
    calendar: BusinessCalendar,
    warn_percent: u8,
    targets: [Option<u32>; 3],
}

fn kind_index(kind: SlaKind) -> usize {
    match kind {
        SlaKind::FirstResponse => 0,
        SlaKind::NextResponse => 1,
        SlaKind::Resolution => 2,
    }
}

async fn policy_rule(conn: &mut AnyConnection, policy_id: i64) -> Result<Option<PolicyRule>> {
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
struct StoredClock {
    clock: SlaClock,
    state: SlaState,
    dirty: bool,
}

async fn load_clocks(
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

async fn apply(
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
            escalate(conn, t, kind, trigger, at).await?;
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

async fn notify(
    conn: &mut AnyConnection,
    user_id: i64,
    t: &Ticket,
    kind: &str,
    message: &str,
    at: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO notifications (user_id, ticket_id, kind, message, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user_id)
    .bind(t.id)
    .bind(kind)
    .bind(message)
    .bind(to_db(at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Runs the escalation rules that fire for `kind` reaching `trigger`.
async fn escalate(
    conn: &mut AnyConnection,
    t: &mut Ticket,
    kind: SlaKind,
    trigger: EscalationTrigger,
    at: Timestamp,
) -> Result<()> {
    let rows = sqlx::query(&format!(
        "SELECT {RULE_COLUMNS} FROM escalation_rules WHERE active AND fires_on = $1 \
         AND (policy_id IS NULL OR policy_id = $2) AND (sla_kind IS NULL OR sla_kind = $3) \
         ORDER BY position, id"
    ))
    .bind(trigger.as_str())
    .bind(t.sla_policy_id)
    .bind(kind.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let what = match trigger {
        EscalationTrigger::Warning => "is close to its due time",
        EscalationTrigger::Breach => "is past its due time",
    };
    let message = format!(
        "#{} {}: the {} target {what}",
        t.number,
        t.subject,
        kind.as_str().replace('_', " ")
    );
    let reason = format!("SLA {kind} {trigger}");
    // Notifications go to whoever had the ticket when the line was crossed,
    // even if an earlier rule has just moved it on.
    let (owner, group) = (t.owner_id, t.group_id);
    for r in rows {
        let rule = rule_from_row(&r)?;
        let at_db = to_db(at);
        let note = |detail: String| Change {
            field: "escalation",
            old: None,
            new: Some(format!("{}: {detail}", rule.name)),
            reason: Some(&reason),
        };
        let mut recipients = Vec::new();
        match rule.action {
            EscalationAction::NotifyOwner => recipients.extend(owner),
            EscalationAction::NotifyUser => recipients.extend(rule.user_id),
            EscalationAction::NotifyGroup => {
                if let Some(g) = group {
                    for m in sqlx::query(
                        "SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id",
                    )
                    .bind(g)
                    .fetch_all(&mut *conn)
                    .await?
                    {
                        recipients.push(m.try_get("user_id")?);
                    }
                }
            }
            EscalationAction::NotifySupervisor => {
                if let Some(g) = group {
                    let s: Option<i64> =
                        sqlx::query("SELECT supervisor_id FROM support_groups WHERE id = $1")
                            .bind(g)
                            .fetch_one(&mut *conn)
                            .await?
                            .try_get("supervisor_id")?;
                    recipients.extend(s);
                }
            }
            EscalationAction::RaisePriority => {
                let to = raised(t.priority);
                if to != t.priority {
                    record(
                        conn,
                        t.id,
                        None,
                        at_db,
                        Change {
                            field: "priority",
                            old: Some(t.priority.to_string()),
                            new: Some(to.to_string()),
                            reason: Some(&reason),
                        },
                    )
                    .await?;
                    t.priority = to;
                }
                record(conn, t.id, None, at_db, note(format!("priority {to}"))).await?;
            }
            EscalationAction::TransferNextTier => {
                let tier: Option<i64> = match t.group_id {
                    Some(g) => sqlx::query("SELECT tier FROM support_groups WHERE id = $1")
                        .bind(g)
                        .fetch_optional(&mut *conn)
                        .await?
                        .map(|r| r.try_get("tier"))
                        .transpose()?,
                    None => None,
                };
                let target = match rule.group_id {
                    Some(g) => Some(g),
                    None => sqlx::query(
                        "SELECT id FROM support_groups WHERE tier = $1 ORDER BY id LIMIT 1",
                    )
                    .bind(tier.unwrap_or(0) + 1)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|r| r.try_get("id"))
                    .transpose()?,
                };
                match target.filter(|g| Some(*g) != t.group_id) {
                    Some(g) if t.state.is_active() => {
                        crate::transfer::move_to_group(conn, t, None, g, None, &reason, at).await?;
                        record(
                            conn,
                            t.id,
                            None,
                            at_db,
                            note(format!("transferred to group {g}")),
                        )
                        .await?;
                    }
                    _ => {
                        tracing::info!(
                            ticket = t.id,
                            rule = rule.id,
                            "no next tier to transfer to"
                        );
                        record(conn, t.id, None, at_db, note("no next tier".into())).await?;
                    }
                }
            }
        }
        if !recipients.is_empty() || rule.action.as_str().starts_with("notify_") {
            recipients.sort_unstable();
            recipients.dedup();
            for u in &recipients {
                notify(conn, *u, t, &format!("sla_{trigger}"), &message, at).await?;
            }
            record(
                conn,
                t.id,
                None,
                at_db,
                note(format!("{} notified {}", rule.action, recipients.len())),
            )
            .await?;
        }
        tracing::info!(ticket = t.id, rule = rule.id, action = %rule.action, %kind, %trigger, "escalation fired");
    }
    Ok(())
}

/// Records the tier metrics of a ticket being resolved (or closed without
/// being resolved first). A later resolution replaces them.
async fn record_tier_metrics(conn: &mut AnyConnection, t: &Ticket, at: Timestamp) -> Result<()> {
    let moves = sqlx::query(
        "SELECT at, from_tier, to_tier FROM ticket_transfers WHERE ticket_id = $1 ORDER BY id",
    )
    .bind(t.id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(TierMove {
            at: from_db(r.try_get("at")?),
            from_tier: r
                .try_get::<Option<i64>, _>("from_tier")?
                .map(|v| v.clamp(0, 9) as u8),
            to_tier: r.try_get::<i64, _>("to_tier")?.clamp(0, 9) as u8,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let initial_tier = match moves.first() {
        Some(m) => m.from_tier,
        None => match t.group_id {
            Some(g) => sqlx::query("SELECT tier FROM support_groups WHERE id = $1")
                .bind(g)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get::<i64, _>("tier"))
                .transpose()?
                .map(|v| v.clamp(0, 9) as u8),
            None => None,
        },
    };
    let m = tier_metrics(t.created_at, initial_tier, &moves, at);
    sqlx::query(
        "INSERT INTO ticket_tier_metrics (ticket_id, resolved_at, resolved_in_tier, first_contact_resolution, \
         transfers, tier1_seconds, tier2_seconds, tier3_seconds) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (ticket_id) DO UPDATE SET resolved_at = excluded.resolved_at, \
         resolved_in_tier = excluded.resolved_in_tier, first_contact_resolution = excluded.first_contact_resolution, \
         transfers = excluded.transfers, tier1_seconds = excluded.tier1_seconds, \
         tier2_seconds = excluded.tier2_seconds, tier3_seconds = excluded.tier3_seconds",
    )
    .bind(t.id)
    .bind(to_db(at))
    .bind(m.resolved_in_tier.map(i64::from))
    .bind(m.first_contact_resolution)
    .bind(i64::from(m.transfers))
    .bind(m.seconds_in_tier[0])
    .bind(m.seconds_in_tier[1])
    .bind(m.seconds_in_tier[2])
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ------------------------------------------------------------ the Store API

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
        apply(&mut tx, &mut t, None, &[], at).await?;
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
            Some(p) => policy_rule(&mut conn, p).await?,
            None => None,
        };
        let mut clocks = Vec::new();
        if let Some(rule) = &rule {
            for (_, (kind, c)) in load_clocks(&mut conn, t.id).await? {
                let ev = evaluate(&rule.calendar, &c.clock, now, rule.warn_percent);
                clocks.push(TicketClock {
                    kind,
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

    /// Names the group's supervisor, whom `notify_supervisor` tells.
    pub async fn set_group_supervisor(
        &self,
        actor: &Actor,
        group_id: i64,
        supervisor_id: Option<i64>,
    ) -> Result<()> {
        require_admin(actor)?;
        if let Some(u) = supervisor_id {
            let role = sqlx::query("SELECT role FROM users WHERE id = $1 AND active")
                .bind(u)
                .fetch_optional(&self.read)
                .await?
                .ok_or_else(|| StoreError::invalid("supervisor_id", "no such user"))?
                .try_get::<String, _>("role")?;
            if role == "customer" {
                return Err(StoreError::invalid(
                    "supervisor_id",
                    "a supervisor is staff",
                ));
            }
        }
        let done = sqlx::query("UPDATE support_groups SET supervisor_id = $1 WHERE id = $2")
            .bind(supervisor_id)
            .bind(group_id)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    // --- calendars

    pub async fn calendars(&self, actor: &Actor) -> Result<Vec<Calendar>> {
        require_admin(actor)?;
        sqlx::query("SELECT id, name, definition, created_at, updated_at FROM business_calendars ORDER BY id")
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(calendar_from_row)
            .collect()
    }

    pub async fn calendar(&self, actor: &Actor, id: i64) -> Result<Calendar> {
        require_admin(actor)?;
        let r = sqlx::query("SELECT id, name, definition, created_at, updated_at FROM business_calendars WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        calendar_from_row(&r)
    }

    pub async fn create_calendar(&self, actor: &Actor, input: CalendarInput) -> Result<Calendar> {
        require_admin(actor)?;
        let name = input.check()?;
        let at = to_db(self.now());
        let id: i64 = sqlx::query(
            "INSERT INTO business_calendars (name, definition, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id",
        )
        .bind(&name)
        .bind(to_json(&input.definition)?)
        .bind(at)
        .fetch_one(&self.write)
        .await
        .map_err(|e| name_taken(e, "calendar"))?
        .try_get("id")?;
        self.calendar(actor, id).await
    }

    /// Replaces a calendar. Due times already stored move only when each
    /// ticket is next evaluated.
    pub async fn update_calendar(
        &self,
        actor: &Actor,
        id: i64,
        input: CalendarInput,
    ) -> Result<Calendar> {
        require_admin(actor)?;
        let name = input.check()?;
        let done = sqlx::query(
            "UPDATE business_calendars SET name = $1, definition = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(&name)
        .bind(to_json(&input.definition)?)
        .bind(to_db(self.now()))
        .bind(id)
        .execute(&self.write)
        .await
        .map_err(|e| name_taken(e, "calendar"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.calendar(actor, id).await
    }

    pub async fn delete_calendar(&self, actor: &Actor, id: i64) -> Result<()> {
        require_admin(actor)?;
        let done = sqlx::query("DELETE FROM business_calendars WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(|e| in_use(e, "the calendar"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    // --- policies

    pub async fn sla_policies(&self, actor: &Actor) -> Result<Vec<SlaPolicy>> {
        require_admin(actor)?;
        sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM sla_policies ORDER BY position, id"
        ))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(policy_from_row)
        .collect()
    }

    pub async fn sla_policy(&self, actor: &Actor, id: i64) -> Result<SlaPolicy> {
        require_admin(actor)?;
        let r = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM sla_policies WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        policy_from_row(&r)
    }

    pub async fn create_sla_policy(&self, actor: &Actor, input: PolicyInput) -> Result<SlaPolicy> {
        require_admin(actor)?;
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        let p = check_policy(&mut tx, &input).await?;
        let id: i64 = sqlx::query(
            "INSERT INTO sla_policies (name, position, priorities, organisation_id, category, channel, calendar_id, \
             first_response_minutes, next_response_minutes, resolution_minutes, warn_percent, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING id",
        )
        .bind(&p.name)
        .bind(p.position)
        .bind(&p.priorities)
        .bind(input.organisation_id)
        .bind(p.category.as_deref())
        .bind(input.channel.map(|c| c.as_str()))
        .bind(input.calendar_id)
        .bind(input.first_response_minutes.map(i64::from))
        .bind(input.next_response_minutes.map(i64::from))
        .bind(input.resolution_minutes.map(i64::from))
        .bind(p.warn_percent)
        .bind(p.active)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| name_taken(e, "policy"))?
        .try_get("id")?;
        tx.commit().await?;
        self.sla_policy(actor, id).await
    }

    /// Replaces a policy. Tickets keep the policy they were created with;
    /// new targets apply to clocks started from now on.
    pub async fn update_sla_policy(
        &self,
        actor: &Actor,
        id: i64,
        input: PolicyInput,
    ) -> Result<SlaPolicy> {
        require_admin(actor)?;
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        let p = check_policy(&mut tx, &input).await?;
        let done = sqlx::query(
            "UPDATE sla_policies SET name = $1, position = $2, priorities = $3, organisation_id = $4, category = $5, \
             channel = $6, calendar_id = $7, first_response_minutes = $8, next_response_minutes = $9, \
             resolution_minutes = $10, warn_percent = $11, active = $12, updated_at = $13 WHERE id = $14",
        )
        .bind(&p.name)
        .bind(p.position)
        .bind(&p.priorities)
        .bind(input.organisation_id)
        .bind(p.category.as_deref())
        .bind(input.channel.map(|c| c.as_str()))
        .bind(input.calendar_id)
        .bind(input.first_response_minutes.map(i64::from))
        .bind(input.next_response_minutes.map(i64::from))
        .bind(input.resolution_minutes.map(i64::from))
        .bind(p.warn_percent)
        .bind(p.active)
        .bind(at)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| name_taken(e, "policy"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        self.sla_policy(actor, id).await
    }

    /// Deletes a policy no ticket uses; deactivate it otherwise.
    pub async fn delete_sla_policy(&self, actor: &Actor, id: i64) -> Result<()> {
        require_admin(actor)?;
        let done = sqlx::query("DELETE FROM sla_policies WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(|e| in_use(e, "the policy (deactivate it instead)"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    // --- escalation rules

    pub async fn escalation_rules(&self, actor: &Actor) -> Result<Vec<EscalationRule>> {
        require_admin(actor)?;
        sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM escalation_rules ORDER BY position, id"
        ))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(rule_from_row)
        .collect()
    }

    pub async fn escalation_rule(&self, actor: &Actor, id: i64) -> Result<EscalationRule> {
        require_admin(actor)?;
        let r = sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM escalation_rules WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        rule_from_row(&r)
    }

    pub async fn create_escalation_rule(
        &self,
        actor: &Actor,
        input: EscalationRuleInput,
    ) -> Result<EscalationRule> {
        require_admin(actor)?;
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        let name = check_rule(&mut tx, &input).await?;
        let id: i64 = sqlx::query(
            "INSERT INTO escalation_rules (name, position, policy_id, sla_kind, fires_on, action, user_id, group_id, \
             active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
        )
        .bind(&name)
        .bind(input.position.unwrap_or(100))
        .bind(input.policy_id)
        .bind(input.sla_kind.map(|k| k.as_str()))
        .bind(input.fires_on.as_str())
        .bind(input.action.as_str())
        .bind(input.user_id)
        .bind(input.group_id)
        .bind(input.active.unwrap_or(true))
        .bind(at)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        tx.commit().await?;
        self.escalation_rule(actor, id).await
    }

    pub async fn update_escalation_rule(
        &self,
        actor: &Actor,
        id: i64,
        input: EscalationRuleInput,
    ) -> Result<EscalationRule> {
        require_admin(actor)?;
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        let name = check_rule(&mut tx, &input).await?;
        let done = sqlx::query(
            "UPDATE escalation_rules SET name = $1, position = $2, policy_id = $3, sla_kind = $4, fires_on = $5, \
             action = $6, user_id = $7, group_id = $8, active = $9, updated_at = $10 WHERE id = $11",
        )
        .bind(&name)
        .bind(input.position.unwrap_or(100))
        .bind(input.policy_id)
        .bind(input.sla_kind.map(|k| k.as_str()))
        .bind(input.fires_on.as_str())
        .bind(input.action.as_str())
        .bind(input.user_id)
        .bind(input.group_id)
        .bind(input.active.unwrap_or(true))
        .bind(at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        self.escalation_rule(actor, id).await
    }

    pub async fn delete_escalation_rule(&self, actor: &Actor, id: i64) -> Result<()> {
        require_admin(actor)?;
        let done = sqlx::query("DELETE FROM escalation_rules WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

/// What [`Store::recompute_sla`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecomputeStats {
    /// Clocks of active tickets evaluated.
    pub clocks: u64,
    /// Tickets whose stored state no longer matched; each got an SLA check
    /// job due now.
    pub changed: u64,
}

impl Store {
    /// Evaluates every clock of every active ticket now and schedules an
    /// immediate SLA check for each ticket whose stored state is out of date
    /// (after a calendar change, or a runner outage). The check, not this
    /// sweep, records the events and escalates, so nothing is recorded twice.
    pub async fn recompute_sla(&self) -> Result<RecomputeStats> {
        let now = self.now();
        let mut conn = self.read.acquire().await?;
        let max_id: i64 = sqlx::query("SELECT COALESCE(MAX(ticket_id), 0) AS m FROM sla_clocks")
            .fetch_one(&mut *conn)
            .await?
            .try_get("m")?;
        let mut rules: std::collections::HashMap<i64, Option<PolicyRule>> = Default::default();
        let mut stats = RecomputeStats::default();
        let mut changed: Vec<i64> = Vec::new();
        const SPAN: i64 = 25_000;
        let mut from = 0;
        while from < max_id {
            let rows = sqlx::query(
                "SELECT c.ticket_id, c.clock, c.state, t.sla_policy_id FROM sla_clocks c \
                 JOIN tickets t ON t.id = c.ticket_id \
                 WHERE c.ticket_id > $1 AND c.ticket_id <= $2 AND t.active AND t.sla_policy_id IS NOT NULL \
                 ORDER BY c.ticket_id",
            )
            .bind(from)
            .bind(from + SPAN)
            .fetch_all(&mut *conn)
            .await?;
            from += SPAN;
            for r in &rows {
                let policy: i64 = r.try_get("sla_policy_id")?;
                if let std::collections::hash_map::Entry::Vacant(slot) = rules.entry(policy) {
                    slot.insert(policy_rule(&mut conn, policy).await?);
                }
                let Some(Some(rule)) = rules.get(&policy) else {
                    continue;
                };
                let clock: SlaClock = serde_json::from_str(&r.try_get::<String, _>("clock")?)
                    .map_err(|e| {
                        StoreError::Database(sqlx::Error::Decode(
                            format!("stored SLA clock: {e}").into(),
                        ))
                    })?;
                stats.clocks += 1;
                let state = evaluate(&rule.calendar, &clock, now, rule.warn_percent).state;
                let ticket: i64 = r.try_get("ticket_id")?;
                if state.as_str() != r.try_get::<String, _>("state")?
                    && changed.last() != Some(&ticket)
                {
                    changed.push(ticket);
                }
            }
        }
        drop(conn);
        stats.changed = changed.len() as u64;
        let mut tx = self.begin_write().await?;
        for ticket in changed {
            enqueue_on(
                &mut tx,
                NewJob {
                    kind: SLA_CHECK_JOB,
                    payload: serde_json::json!({ "ticket_id": ticket }),
                    run_at: now,
                    dedupe_key: Some(format!("sla:{ticket}")),
                },
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(stats)
    }

    /// For the benchmark: gives every active ticket `policy_id` and a
    /// running resolution clock started when the ticket was, with targets
    /// spread so that the clocks stand in every state. Returns how many.
    pub async fn seed_sla_clocks(&self, policy_id: i64) -> Result<u64> {
        let now = self.now();
        let rows = sqlx::query("SELECT id, created_at FROM tickets WHERE active ORDER BY id")
            .fetch_all(&self.read)
            .await?;
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE tickets SET sla_policy_id = $1 WHERE active")
            .bind(policy_id)
            .execute(&mut *tx)
            .await?;
        for chunk in rows.chunks(500) {
            let mut sql = String::from(
                "INSERT INTO sla_clocks (ticket_id, kind, clock, state, updated_at) VALUES ",
            );
            for (i, r) in chunk.iter().enumerate() {
                let id: i64 = r.try_get("id")?;
                let created = from_db(r.try_get("created_at")?);
                // One to ~400 business hours: some breached, some warned,
                // most running.
                let target = 60 + (id % 400) as u32 * 60;
                let clock = to_json(&SlaClock::start(created, target)?)?;
                if i > 0 {
                    sql.push_str(", ");
                }
                // Generated here, not user input: inlining is safe.
                sql.push_str(&format!(
                    "({id}, 'resolution', '{clock}', 'running', {})",
                    to_db(now)
                ));
            }
            sql.push_str(" ON CONFLICT (ticket_id, kind) DO NOTHING");
            sqlx::raw_sql(&sql).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}
