//! SLA policies: which tickets they apply to and their targets.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::sla::{PolicyConditions, SlaKind};
use tuki_domain::ticket::{Channel, Priority};
use tuki_domain::values;

use crate::resource::{refers_to, Fields, Resource, Value};
use crate::time::from_db;
use crate::{Result, StoreError};

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
    pub created_at: Timestamp,
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

/// What a policy asks of a ticket, from its row.
pub(super) fn conditions_from_row(r: &AnyRow) -> Result<PolicyConditions> {
    Ok(PolicyConditions {
        priorities: parse_priorities(&r.try_get::<String, _>("priorities")?)?,
        organisation_id: r.try_get("organisation_id")?,
        category: r.try_get("category")?,
        channel: r
            .try_get::<Option<String>, _>("channel")?
            .map(|c| Channel::parse("channel", &c))
            .transpose()?,
    })
}

fn policy_from_row(r: &AnyRow) -> Result<SlaPolicy> {
    let c = conditions_from_row(r)?;
    Ok(SlaPolicy {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        position: r.try_get("position")?,
        priorities: c.priorities,
        organisation_id: c.organisation_id,
        category: c.category,
        channel: c.channel,
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

/// SLA policies as an administered resource. A replaced policy applies to
/// clocks started from then on; tickets keep the policy they were created
/// with. One that tickets use cannot be deleted: deactivate it instead.
pub struct Policies;

impl Resource for Policies {
    type Record = SlaPolicy;
    type Input = PolicyInput;
    const NOUN: &'static str = "policy";
    const MANAGED_AS: &'static str = "manage service levels";
    const TABLE: &'static str = "sla_policies";
    const COLUMNS: &'static str = POLICY_COLUMNS;
    const ORDER: &'static str = "position, id";
    const IN_USE: &'static str = "is still in use: deactivate it instead";

    fn from_row(r: &AnyRow) -> Result<SlaPolicy> {
        policy_from_row(r)
    }

    async fn check(
        conn: &mut AnyConnection,
        p: &PolicyInput,
        _replacing: Option<i64>,
    ) -> Result<Fields> {
        let name = values::line("name", &p.name, 100)?;
        let targets = [
            ("first_response_minutes", p.first_response_minutes),
            ("next_response_minutes", p.next_response_minutes),
            ("resolution_minutes", p.resolution_minutes),
        ];
        if let Some((field, _)) = targets.iter().find(|(_, m)| *m == Some(0)) {
            return Err(StoreError::invalid(field, "must be at least one minute"));
        }
        if targets.iter().all(|(_, m)| m.is_none()) {
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
        refers_to(
            conn,
            "business_calendars",
            p.calendar_id,
            "calendar_id",
            "calendar",
        )
        .await?;
        if let Some(org) = p.organisation_id {
            refers_to(
                conn,
                "organisations",
                org,
                "organisation_id",
                "organisation",
            )
            .await?;
        }
        let mut priorities: Vec<&str> = Vec::new();
        for prio in &p.priorities {
            if !priorities.contains(&prio.as_str()) {
                priorities.push(prio.as_str());
            }
        }
        let minutes = |m: Option<u32>| Value::opt_int(m.map(i64::from));
        let mut fields = vec![
            ("name", Value::Text(name)),
            ("position", Value::Int(p.position.unwrap_or(100))),
            ("priorities", Value::Text(priorities.join(","))),
            ("organisation_id", Value::opt_int(p.organisation_id)),
            ("category", Value::opt_text(category)),
            (
                "channel",
                Value::opt_text(p.channel.map(|c| c.as_str().into())),
            ),
            ("calendar_id", Value::Int(p.calendar_id)),
        ];
        fields.extend(targets.iter().map(|(f, m)| (*f, minutes(*m))));
        fields.push(("warn_percent", Value::Int(i64::from(warn_percent))));
        fields.push(("active", Value::Bool(p.active.unwrap_or(true))));
        Ok(fields)
    }
}
