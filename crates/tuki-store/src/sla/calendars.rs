//! Business calendars: time zone, weekly working hours and holidays.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use tuki_domain::access::Actor;
use tuki_domain::sla::*;
use tuki_domain::values;

use super::*;
use crate::time::{from_db, to_db};
use crate::{Result, Store, StoreError};

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
pub(super) fn parse_definition(raw: &str) -> Result<CalendarDefinition> {
    serde_json::from_str(raw).map_err(|e| {
        StoreError::Database(sqlx::Error::Decode(
            format!("stored calendar definition: {e}").into(),
        ))
    })
}

pub(super) fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Database(sqlx::Error::Encode(Box::new(e))))
}

impl Store {
    pub async fn calendars(&self, actor: &Actor) -> Result<Vec<Calendar>> {
        crate::require_admin(actor, "manage service levels")?;
        sqlx::query("SELECT id, name, definition, created_at, updated_at FROM business_calendars ORDER BY id")
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(calendar_from_row)
            .collect()
    }

    pub async fn calendar(&self, actor: &Actor, id: i64) -> Result<Calendar> {
        crate::require_admin(actor, "manage service levels")?;
        let r = sqlx::query("SELECT id, name, definition, created_at, updated_at FROM business_calendars WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        calendar_from_row(&r)
    }

    pub async fn create_calendar(&self, actor: &Actor, input: CalendarInput) -> Result<Calendar> {
        crate::require_admin(actor, "manage service levels")?;
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
        crate::require_admin(actor, "manage service levels")?;
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
        crate::require_admin(actor, "manage service levels")?;
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
}
