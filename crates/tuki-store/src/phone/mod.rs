//! The phone channel: a call log kept by the telephone system's CTI events,
//! caller look-up by number, and a request registered from a call.
//!
//! Events follow the shape of Zammad's generic CTI API: `newCall` (with
//! `direction`, `from`, `to`), `answer` (with `user`, the agent) and
//! `hangup` (with `cause`), each naming the call by the telephone system's
//! `call_id`. Events are idempotent per call: a repeated `newCall` returns
//! the call as it is, an `answer` or `hangup` for a call Tuki never saw
//! starts the row so that nothing the exchange reports is lost.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use tuki_domain::access::Actor;
use tuki_domain::directory::Role;
use tuki_domain::ticket::{Channel, TicketState};
use tuki_domain::values::Phone;
use tuki_domain::ValidationError;

use crate::directory::User;
use crate::tickets::{NewTicket, Ticket, TicketFilter};
use crate::time::{from_db, opt_from_db, to_db};
use crate::{Result, Store, StoreError};

/// One event from the telephone system.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CtiEvent {
    /// `newCall`, `answer` or `hangup`.
    pub event: String,
    /// The telephone system's id of the call.
    #[serde(alias = "callId")]
    pub call_id: String,
    /// `in` or `out` (newCall).
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    /// The agent: an email address or a name as the exchange knows it.
    #[serde(default)]
    pub user: Option<String>,
    /// Why the call ended (hangup): `normalClearing`, `busy`, `cancel`,
    /// `noAnswer`, `congestion`, `notFound`...
    #[serde(default)]
    pub cause: Option<String>,
    /// The support group the call rings (newCall), by name or id: its
    /// members' consoles show the call, as does the console of `user`.
    #[serde(default)]
    pub group: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Call {
    pub id: i64,
    pub call_id: String,
    /// `in` or `out`.
    pub direction: String,
    pub caller: String,
    pub callee: String,
    pub customer_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub agent_name: Option<String>,
    pub started_at: Timestamp,
    pub answered_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// `ringing`, `talking`, `answered`, `missed`, `busy`, `cancelled` or `failed`.
    pub outcome: String,
    pub cause: Option<String>,
    pub ticket_id: Option<i64>,
}

/// Who is calling: the customer with the number and their open requests.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallerLookup {
    pub number: String,
    /// The first customer with this number (several may share one).
    pub customer: Option<User>,
    /// Others with the same number.
    pub others: Vec<User>,
    pub open_tickets: Vec<Ticket>,
}

/// A request from a call.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallTicket {
    /// Defaults to "Phone call from NUMBER".
    #[serde(default)]
    pub subject: Option<String>,
    /// Defaults to a note of the call.
    #[serde(default)]
    pub body: Option<String>,
    /// The requester, when the caller is not known by number.
    #[serde(default)]
    pub requester_id: Option<i64>,
    #[serde(default)]
    pub group_id: Option<i64>,
}

const CALL_COLUMNS: &str =
    "id, call_id, direction, caller, callee, customer_id, agent_id, agent_name, \
     started_at, answered_at, ended_at, outcome, cause, ticket_id";

fn call_from_row(r: &AnyRow) -> Result<Call> {
    Ok(Call {
        id: r.try_get("id")?,
        call_id: r.try_get("call_id")?,
        direction: r.try_get("direction")?,
        caller: r.try_get("caller")?,
        callee: r.try_get("callee")?,
        customer_id: r.try_get("customer_id")?,
        agent_id: r.try_get("agent_id")?,
        agent_name: r.try_get("agent_name")?,
        started_at: from_db(r.try_get("started_at")?),
        answered_at: opt_from_db(r.try_get("answered_at")?),
        ended_at: opt_from_db(r.try_get("ended_at")?),
        outcome: r.try_get("outcome")?,
        cause: r.try_get("cause")?,
        ticket_id: r.try_get("ticket_id")?,
    })
}

/// A number as the call log keeps it: E.164 when it is one (`00` read as
/// `+`), otherwise the digits as sent (an internal extension).
pub fn normalize_number(raw: &str) -> String {
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}'))
        .collect();
    let intl = match compact.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => compact.clone(),
    };
    match Phone::parse("number", &intl) {
        Ok(p) => p.into_string(),
        Err(_) => compact,
    }
}

/// The outcome a hangup leaves, by whether the call was answered and the
/// exchange's cause.
fn hangup_outcome(answered: bool, cause: Option<&str>) -> &'static str {
    if answered {
        return "answered";
    }
    match cause.unwrap_or("") {
        "busy" => "busy",
        "cancel" => "cancelled",
        "congestion" | "notFound" | "failed" => "failed",
        _ => "missed",
    }
}

fn require_staff(actor: &Actor) -> Result<()> {
    if actor.is_staff() {
        Ok(())
    } else {
        Err(StoreError::forbidden("only staff handle calls"))
    }
}

impl Store {
    /// Applies one CTI event to the call log and returns the call.
    pub async fn cti_event(&self, actor: &Actor, ev: CtiEvent) -> Result<Call> {
        require_staff(actor)?;
        let call_id = ev.call_id.trim();
        if call_id.is_empty() || call_id.len() > 200 {
            return Err(ValidationError::new("call_id", "must be 1 to 200 characters").into());
        }
        let at = self.now();
        let agent = match ev.user.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) => Some((u.to_string(), self.agent_id_by_name_or_email(u).await?)),
            None => None,
        };
        match ev.event.as_str() {
            "newCall" => {
                let direction = match ev.direction.as_deref() {
                    Some("in") | None => "in",
                    Some("out") => "out",
                    Some(_) => {
                        return Err(ValidationError::new("direction", "must be in or out").into())
                    }
                };
                let from = ev
                    .from
                    .as_deref()
                    .map(normalize_number)
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| ValidationError::new("from", "is required for newCall"))?;
                let to = ev
                    .to
                    .as_deref()
                    .map(normalize_number)
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| ValidationError::new("to", "is required for newCall"))?;
                self.start_call(call_id, direction, &from, &to, agent, at)
                    .await
            }
            "answer" => {
                let call = self.call_or_start(call_id, &ev, at).await?;
                sqlx::query(
                    "UPDATE calls SET answered_at = COALESCE(answered_at, $1), outcome = 'talking', \
                     agent_id = COALESCE($2, agent_id), agent_name = COALESCE($3, agent_name) \
                     WHERE id = $4 AND ended_at IS NULL",
                )
                .bind(to_db(at))
                .bind(agent.as_ref().and_then(|a| a.1))
                .bind(agent.as_ref().map(|a| a.0.clone()))
                .bind(call.id)
                .execute(&self.write)
                .await?;
                self.call_row(call.id).await
            }
            "hangup" => {
                let call = self.call_or_start(call_id, &ev, at).await?;
                if call.ended_at.is_none() {
                    let outcome = hangup_outcome(call.answered_at.is_some(), ev.cause.as_deref());
                    sqlx::query(
                        "UPDATE calls SET ended_at = $1, outcome = $2, cause = $3 WHERE id = $4",
                    )
                    .bind(to_db(at))
                    .bind(outcome)
                    .bind(ev.cause.as_deref())
                    .bind(call.id)
                    .execute(&self.write)
                    .await?;
                }
                self.call_row(call.id).await
            }
            _ => {
                Err(ValidationError::new("event", "must be one of: newCall, answer, hangup").into())
            }
        }
    }

    async fn agent_id_by_name_or_email(&self, who: &str) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT id FROM users WHERE role IN ('agent', 'admin') AND (email = $1 OR name = $2) \
             ORDER BY id LIMIT 1",
        )
        .bind(who.to_lowercase())
        .bind(who)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    async fn start_call(
        &self,
        call_id: &str,
        direction: &str,
        from: &str,
        to: &str,
        agent: Option<(String, Option<i64>)>,
        at: Timestamp,
    ) -> Result<Call> {
        // The customer is the other party: the caller of an incoming call,
        // the callee of an outgoing one.
        let other = if direction == "in" { from } else { to };
        let customer: Option<i64> = sqlx::query(
            "SELECT id FROM users WHERE phone = $1 AND role = 'customer' AND active ORDER BY id LIMIT 1",
        )
        .bind(other)
        .fetch_optional(&self.read)
        .await?
        .map(|r| r.try_get("id"))
        .transpose()?;
        sqlx::query(
            "INSERT INTO calls (call_id, direction, caller, callee, customer_id, agent_id, agent_name, \
             started_at, outcome, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ringing', $8) \
             ON CONFLICT (call_id) DO NOTHING",
        )
        .bind(call_id)
        .bind(direction)
        .bind(from)
        .bind(to)
        .bind(customer)
        .bind(agent.as_ref().and_then(|a| a.1))
        .bind(agent.as_ref().map(|a| a.0.clone()))
        .bind(to_db(at))
        .execute(&self.write)
        .await?;
        self.call_by_call_id(call_id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The call an event names; started from the event when Tuki missed
    /// its `newCall`.
    async fn call_or_start(&self, call_id: &str, ev: &CtiEvent, at: Timestamp) -> Result<Call> {
        if let Some(c) = self.call_by_call_id(call_id).await? {
            return Ok(c);
        }
        let from = ev.from.as_deref().map(normalize_number).unwrap_or_default();
        let to = ev.to.as_deref().map(normalize_number).unwrap_or_default();
        let direction = if ev.direction.as_deref() == Some("out") {
            "out"
        } else {
            "in"
        };
        self.start_call(call_id, direction, &from, &to, None, at)
            .await
    }

    async fn call_by_call_id(&self, call_id: &str) -> Result<Option<Call>> {
        sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE call_id = $1"
        ))
        .bind(call_id)
        .fetch_optional(&self.write)
        .await?
        .as_ref()
        .map(call_from_row)
        .transpose()
    }

    async fn call_row(&self, id: i64) -> Result<Call> {
        sqlx::query(&format!("SELECT {CALL_COLUMNS} FROM calls WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.write)
            .await?
            .as_ref()
            .map(call_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound)
    }

    /// One call, for staff.
    pub async fn call(&self, actor: &Actor, id: i64) -> Result<Call> {
        require_staff(actor)?;
        self.call_row(id).await
    }

    /// The latest calls, newest first, for staff.
    pub async fn calls(&self, actor: &Actor, limit: i64) -> Result<Vec<Call>> {
        require_staff(actor)?;
        sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls ORDER BY started_at DESC, id DESC LIMIT $1"
        ))
        .bind(limit.clamp(1, 500))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(call_from_row)
        .collect()
    }

    /// Who a number belongs to and what they have open.
    pub async fn lookup_caller(&self, actor: &Actor, number: &str) -> Result<CallerLookup> {
        require_staff(actor)?;
        let number = normalize_number(number);
        let Ok(phone) = Phone::parse("number", &number) else {
            return Err(ValidationError::new(
                "number",
                "must be a phone number in international form, like +358401234567",
            )
            .into());
        };
        let mut users: Vec<User> = self
            .users_by_phone(actor, phone.as_str())
            .await?
            .into_iter()
            .filter(|u| u.role == Role::Customer && u.active)
            .collect();
        let customer = if users.is_empty() {
            None
        } else {
            Some(users.remove(0))
        };
        let open_tickets = match &customer {
            Some(c) => {
                let page = self
                    .tickets(
                        actor,
                        &TicketFilter {
                            requester_id: Some(c.id),
                            limit: 50,
                            ..TicketFilter::default()
                        },
                    )
                    .await?;
                page.items
                    .into_iter()
                    .filter(|t| !matches!(t.state, TicketState::Resolved | TicketState::Closed))
                    .collect()
            }
            None => Vec::new(),
        };
        Ok(CallerLookup {
            number: phone.into_string(),
            customer,
            others: users,
            open_tickets,
        })
    }

    /// Registers a request from a call and links the two. The requester is
    /// the call's customer unless given.
    pub async fn ticket_from_call(
        &self,
        actor: &Actor,
        id: i64,
        input: CallTicket,
    ) -> Result<(Ticket, Call)> {
        require_staff(actor)?;
        let call = self.call_row(id).await?;
        if let Some(t) = call.ticket_id {
            return Err(StoreError::conflict(
                Some("ticket_id"),
                format!("this call already has request {t}"),
            ));
        }
        let requester_id = input.requester_id.or(call.customer_id).ok_or_else(|| {
            ValidationError::new(
                "requester_id",
                "the caller's number is not known: name the requester",
            )
        })?;
        let number = if call.direction == "in" {
            &call.caller
        } else {
            &call.callee
        };
        let subject = input
            .subject
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| format!("Phone call from {number}"));
        let body = input
            .body
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| {
                format!(
                    "Phone call {} {number} at {}.",
                    if call.direction == "in" { "from" } else { "to" },
                    call.started_at
                )
            });
        let ticket = self
            .create_ticket(
                actor,
                NewTicket {
                    subject,
                    body,
                    requester_id: Some(requester_id),
                    channel: Some(Channel::Phone),
                    category: None,
                    priority: None,
                    group_id: input.group_id,
                    owner_id: None,
                    tags: vec![],
                    article_kind: None,
                    asset_id: None,
                },
            )
            .await?;
        sqlx::query("UPDATE calls SET ticket_id = $1 WHERE id = $2 AND ticket_id IS NULL")
            .bind(ticket.id)
            .bind(call.id)
            .execute(&self.write)
            .await?;
        let call = self.call_row(call.id).await?;
        Ok((ticket, call))
    }
}
