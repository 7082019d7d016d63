//! Site visits: a technician's visit for a ticket (time window, address,
//! what to bring), planned from the ticket, done or cancelled; and each
//! technician's schedule as a calendar feed at a secret address (only the
//! token's SHA-256 is kept: a new address replaces the old one).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use tuki_domain::access::{Actor, TicketAction};
use tuki_domain::ical::{calendar, Event};
use tuki_domain::values;

use crate::tickets::load_for;
use crate::time::{from_db, to_db};
use crate::{Result, Store, StoreError};

tuki_domain::string_enum! {
    /// Where a visit stands.
    VisitState { Planned = "planned", Done = "done", Cancelled = "cancelled" }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SiteVisit {
    pub id: i64,
    pub ticket_id: i64,
    pub ticket_number: i64,
    pub subject: String,
    pub technician_id: i64,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub address: String,
    /// Parts and tools to bring.
    pub bring: String,
    pub state: VisitState,
    /// Grows with every change (calendars replace their copy).
    pub sequence: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A visit to plan, or the whole new content of one (PUT).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SiteVisitInput {
    pub technician_id: i64,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub address: String,
    #[serde(default)]
    pub bring: String,
    /// Defaults to planned.
    #[serde(default)]
    pub state: Option<VisitState>,
}

const VISIT_COLUMNS: &str =
    "v.id, v.ticket_id, t.number, t.subject, v.technician_id, v.starts_at, v.ends_at, \
     v.address, v.bring, v.state, v.sequence, v.created_at, v.updated_at";

fn visit_from_row(r: &AnyRow) -> Result<SiteVisit> {
    Ok(SiteVisit {
        id: r.try_get("id")?,
        ticket_id: r.try_get("ticket_id")?,
        ticket_number: r.try_get("number")?,
        subject: r.try_get("subject")?,
        technician_id: r.try_get("technician_id")?,
        starts_at: from_db(r.try_get("starts_at")?),
        ends_at: from_db(r.try_get("ends_at")?),
        address: r.try_get("address")?,
        bring: r.try_get("bring")?,
        state: VisitState::parse("state", &r.try_get::<String, _>("state")?)?,
        sequence: r.try_get("sequence")?,
        created_at: from_db(r.try_get("created_at")?),
        updated_at: from_db(r.try_get("updated_at")?),
    })
}

struct Checked {
    address: String,
    bring: String,
}

async fn check(conn: &mut sqlx::AnyConnection, input: &SiteVisitInput) -> Result<Checked> {
    let role: Option<String> = sqlx::query("SELECT role FROM users WHERE id = $1")
        .bind(input.technician_id)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get("role"))
        .transpose()?;
    match role.as_deref() {
        None => return Err(StoreError::invalid("technician_id", "no such user")),
        Some("customer") => {
            return Err(StoreError::invalid(
                "technician_id",
                "must be an agent or an administrator",
            ))
        }
        Some(_) => {}
    }
    if input.ends_at <= input.starts_at {
        return Err(StoreError::invalid("ends_at", "must be after starts_at"));
    }
    if input.ends_at.duration_since(input.starts_at).as_hours() > 24 * 7 {
        return Err(StoreError::invalid(
            "ends_at",
            "a visit lasts at most a week",
        ));
    }
    let bring = if input.bring.trim().is_empty() {
        String::new()
    } else {
        values::body("bring", &input.bring, 2000)?
    };
    Ok(Checked {
        address: values::line("address", &input.address, 300)?,
        bring,
    })
}

impl Store {
    /// Plans a visit for a ticket (staff who may edit it).
    pub async fn plan_visit(
        &self,
        actor: &Actor,
        ticket_id: i64,
        input: SiteVisitInput,
    ) -> Result<SiteVisit> {
        if !actor.is_staff() {
            return Err(StoreError::forbidden("only staff plan visits"));
        }
        let now = to_db(self.now());
        let mut tx = self.begin_write().await?;
        load_for(&mut tx, actor, ticket_id, TicketAction::Edit).await?;
        let c = check(&mut tx, &input).await?;
        let id: i64 = sqlx::query(
            "INSERT INTO site_visits (ticket_id, technician_id, starts_at, ends_at, address, bring, state, sequence, \
             created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $9) RETURNING id",
        )
        .bind(ticket_id)
        .bind(input.technician_id)
        .bind(to_db(input.starts_at))
        .bind(to_db(input.ends_at))
        .bind(&c.address)
        .bind(&c.bring)
        .bind(input.state.unwrap_or(VisitState::Planned).as_str())
        .bind(actor.user_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        tx.commit().await?;
        self.visit(actor, id).await
    }

    /// Replaces a visit (moved, done, cancelled); its calendar event follows.
    pub async fn update_visit(
        &self,
        actor: &Actor,
        id: i64,
        input: SiteVisitInput,
    ) -> Result<SiteVisit> {
        if !actor.is_staff() {
            return Err(StoreError::forbidden("only staff change visits"));
        }
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT ticket_id, statement_id FROM site_visits WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let ticket_id: i64 = row.try_get("ticket_id")?;
        crate::coverage::statements::refuse_locked(row.try_get("statement_id")?)?;
        load_for(&mut tx, actor, ticket_id, TicketAction::Edit).await?;
        let c = check(&mut tx, &input).await?;
        sqlx::query(
            "UPDATE site_visits SET technician_id = $1, starts_at = $2, ends_at = $3, address = $4, bring = $5, \
             state = $6, sequence = sequence + 1, updated_at = $7 WHERE id = $8",
        )
        .bind(input.technician_id)
        .bind(to_db(input.starts_at))
        .bind(to_db(input.ends_at))
        .bind(&c.address)
        .bind(&c.bring)
        .bind(input.state.unwrap_or(VisitState::Planned).as_str())
        .bind(to_db(self.now()))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.visit(actor, id).await
    }

    /// One visit (staff who may see its ticket).
    pub async fn visit(&self, actor: &Actor, id: i64) -> Result<SiteVisit> {
        if !actor.is_staff() {
            return Err(StoreError::NotFound);
        }
        let mut conn = self.read.acquire().await?;
        let row = sqlx::query(&format!(
            "SELECT {VISIT_COLUMNS} FROM site_visits v JOIN tickets t ON t.id = v.ticket_id WHERE v.id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
        let v = visit_from_row(&row)?;
        load_for(&mut conn, actor, v.ticket_id, TicketAction::View).await?;
        Ok(v)
    }

    /// A ticket's visits (staff), in time order.
    pub async fn ticket_visits(&self, actor: &Actor, ticket_id: i64) -> Result<Vec<SiteVisit>> {
        if !actor.is_staff() {
            return Err(StoreError::forbidden("only staff read visits"));
        }
        let mut conn = self.read.acquire().await?;
        load_for(&mut conn, actor, ticket_id, TicketAction::View).await?;
        sqlx::query(&format!(
            "SELECT {VISIT_COLUMNS} FROM site_visits v JOIN tickets t ON t.id = v.ticket_id \
             WHERE v.ticket_id = $1 ORDER BY v.starts_at, v.id"
        ))
        .bind(ticket_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(visit_from_row)
        .collect()
    }

    /// A technician's visits from `since` on (themselves, or an administrator).
    pub async fn technician_visits(
        &self,
        actor: &Actor,
        technician_id: i64,
        since: Timestamp,
    ) -> Result<Vec<SiteVisit>> {
        if actor.user_id != Some(technician_id) && !actor.is_admin() {
            return Err(StoreError::forbidden(
                "a technician's schedule is their own",
            ));
        }
        self.visits_of(technician_id, since).await
    }

    async fn visits_of(&self, technician_id: i64, since: Timestamp) -> Result<Vec<SiteVisit>> {
        sqlx::query(&format!(
            "SELECT {VISIT_COLUMNS} FROM site_visits v JOIN tickets t ON t.id = v.ticket_id \
             WHERE v.technician_id = $1 AND v.ends_at >= $2 ORDER BY v.starts_at, v.id LIMIT 2000"
        ))
        .bind(technician_id)
        .bind(to_db(since))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(visit_from_row)
        .collect()
    }

    /// A new secret address for the caller's calendar feed (the previous
    /// one stops working). Returns the token; only its hash is kept.
    pub async fn new_calendar_feed(&self, actor: &Actor) -> Result<String> {
        if !actor.is_staff() {
            return Err(StoreError::forbidden("only staff have a visit calendar"));
        }
        let user = actor
            .user_id
            .ok_or_else(|| StoreError::forbidden("a feed belongs to a person"))?;
        let token = crate::auth::sessions::random_token();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM calendar_feeds WHERE user_id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO calendar_feeds (user_id, token_sha256, created_at) VALUES ($1, $2, $3)",
        )
        .bind(user)
        .bind(crate::auth::token_hash(&token))
        .bind(to_db(self.now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The feed behind a secret address: the technician's visits from 30
    /// days back on, as iCalendar text; `NotFound` for an unknown token.
    /// `link` makes each visit's ticket address from its number.
    pub async fn calendar_feed(&self, token: &str, link: impl Fn(i64) -> String) -> Result<String> {
        let row = sqlx::query(
            "SELECT f.user_id, u.name FROM calendar_feeds f JOIN users u ON u.id = f.user_id WHERE f.token_sha256 = $1",
        )
        .bind(crate::auth::token_hash(token))
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        let user: i64 = row.try_get("user_id")?;
        let name: String = row.try_get("name")?;
        let since = self.now() - jiff::SignedDuration::from_hours(24 * 30);
        let visits = self.visits_of(user, since).await?;
        let events: Vec<Event> = visits
            .iter()
            .map(|v| Event {
                uid: format!("visit-{}@tuki", v.id),
                sequence: v.sequence,
                stamp: v.updated_at,
                start: v.starts_at,
                end: v.ends_at,
                summary: format!("#{} {}", v.ticket_number, v.subject),
                location: v.address.clone(),
                description: v.bring.clone(),
                url: Some(link(v.ticket_number)),
                cancelled: v.state == VisitState::Cancelled,
            })
            .collect();
        Ok(calendar(&format!("Tuki: {name}"), &events))
    }
}
