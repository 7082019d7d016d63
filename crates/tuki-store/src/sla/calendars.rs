//! Business calendars: time zone, weekly working hours and holidays.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::sla::CalendarDefinition;
use tuki_domain::values;

use crate::resource::{Fields, Resource};
use crate::sql::Value;
use crate::time::from_db;
use crate::{Result, StoreError};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Calendar {
    pub id: i64,
    pub name: String,
    /// Time zone, weekly hours (or `{"kind": "always_open"}`) and holidays.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub definition: CalendarDefinition,
    pub created_at: Timestamp,
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

/// Stored definitions were validated on the way in; one that no longer
/// parses is damage, reported as a database error rather than the caller's.
pub(super) fn parse_definition(raw: &str) -> Result<CalendarDefinition> {
    serde_json::from_str(raw).map_err(|e| {
        StoreError::Database(sqlx::Error::Decode(
            format!("stored calendar definition: {e}").into(),
        ))
    })
}

/// A stored definition as the calendar its arithmetic runs on (service
/// levels, and the business hours of rate cards).
pub(crate) fn stored_calendar(raw: &str) -> Result<tuki_domain::sla::BusinessCalendar> {
    parse_definition(raw)?.validate().map_err(|e| {
        StoreError::Database(sqlx::Error::Decode(
            format!("stored calendar no longer validates: {e}").into(),
        ))
    })
}

pub(super) fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Database(sqlx::Error::Encode(Box::new(e))))
}

/// Business calendars as an administered resource.
pub struct Calendars;

impl Resource for Calendars {
    type Record = Calendar;
    type Input = CalendarInput;
    const NOUN: &'static str = "calendar";
    const MANAGED_AS: &'static str = "manage service levels";
    const TABLE: &'static str = "business_calendars";
    const COLUMNS: &'static str = "id, name, definition, created_at, updated_at";
    const ORDER: &'static str = "id";

    fn from_row(r: &AnyRow) -> Result<Calendar> {
        Ok(Calendar {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            definition: parse_definition(&r.try_get::<String, _>("definition")?)?,
            created_at: from_db(r.try_get("created_at")?),
            updated_at: from_db(r.try_get("updated_at")?),
        })
    }

    /// Replacing a calendar moves the due times already stored only when
    /// each ticket is next evaluated.
    async fn check(
        _conn: &mut AnyConnection,
        input: &CalendarInput,
        _replacing: Option<i64>,
    ) -> Result<Fields> {
        let name = values::line("name", &input.name, 100)?;
        input.definition.validate().map_err(|mut e| {
            e.field = format!("definition.{}", e.field);
            e
        })?;
        Ok(vec![
            ("name", Value::Text(name)),
            ("definition", Value::Text(to_json(&input.definition)?)),
        ])
    }
}
