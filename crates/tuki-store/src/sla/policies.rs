//! SLA policies: which tickets they apply to and their targets.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;
use tuki_domain::sla::*;
use tuki_domain::ticket::{Channel, Priority};
use tuki_domain::values;

use super::*;
use crate::time::{from_db, to_db};
use crate::{Result, Store, StoreError};

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

pub(super) fn minutes(r: &AnyRow, col: &str) -> Result<Option<u32>> {
    Ok(r.try_get::<Option<i64>, _>(col)?
        .map(|m| u32::try_from(m).unwrap_or(u32::MAX)))
}

pub(super) fn parse_priorities(raw: &str) -> Result<Vec<Priority>> {
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

impl Store {
    pub async fn sla_policies(&self, actor: &Actor) -> Result<Vec<SlaPolicy>> {
        crate::require_admin(actor, "manage service levels")?;
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
        crate::require_admin(actor, "manage service levels")?;
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
        crate::require_admin(actor, "manage service levels")?;
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
        crate::require_admin(actor, "manage service levels")?;
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
        crate::require_admin(actor, "manage service levels")?;
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
}
