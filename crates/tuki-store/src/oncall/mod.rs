//! The on-call rota (päivystysvuorot): weekly shifts and exceptions as
//! administered resources, and the assignment of a request that comes
//! outside business hours to the person on duty (the domain's
//! `oncall::on_duty`), who hears of it by mail as of any assignment.
//!
//! Business hours are the default rate card's calendar (the hours outside
//! which the on-call surcharge applies); without one the desk is always
//! open and nobody is called.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::oncall::{check_shift, on_duty, parse_clock, parse_weekday, Exception, Shift};
use tuki_domain::sla::WEEKDAYS;
use tuki_domain::ticket::TicketEvent;
use tuki_domain::values;

use crate::events::{Created, TicketChange};
use crate::resource::{refers_to, Fields, Resource, Value};
use crate::tickets::history::Change;
use crate::time::{from_db, to_db};
use crate::{Result, StoreError};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OnCallShift {
    pub id: i64,
    pub user_id: i64,
    /// "monday".."sunday".
    pub weekday: String,
    /// "16:00".
    pub start: String,
    /// "24:00" ends the day.
    pub end: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A shift of the weekly pattern. A night shift is two: until 24:00 and from
/// 00:00 of the next day.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OnCallShiftInput {
    pub user_id: i64,
    pub weekday: String,
    pub start: String,
    pub end: String,
}

fn clock(minute: i64) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// A staff member to put on duty.
async fn check_staff(conn: &mut AnyConnection, user_id: i64) -> Result<()> {
    refers_to(conn, "users", user_id, "user_id", "user").await?;
    let role: String = sqlx::query("SELECT role FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await?
        .try_get("role")?;
    if role == "customer" {
        return Err(StoreError::invalid(
            "user_id",
            "must be an agent or an administrator",
        ));
    }
    Ok(())
}

/// The weekly shifts as an administered resource.
pub struct OnCallShifts;

impl Resource for OnCallShifts {
    type Record = OnCallShift;
    type Input = OnCallShiftInput;
    const NOUN: &'static str = "shift";
    const MANAGED_AS: &'static str = "manage the on-call rota";
    const TABLE: &'static str = "on_call_shifts";
    const COLUMNS: &'static str =
        "id, user_id, weekday, start_minute, end_minute, created_at, updated_at";
    const ORDER: &'static str = "weekday, start_minute, id";
    const UNIQUE: Option<&'static str> = None;

    fn from_row(r: &AnyRow) -> Result<OnCallShift> {
        let weekday: i64 = r.try_get("weekday")?;
        Ok(OnCallShift {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            weekday: WEEKDAYS
                .get(weekday as usize)
                .copied()
                .unwrap_or("monday")
                .to_string(),
            start: clock(r.try_get("start_minute")?),
            end: clock(r.try_get("end_minute")?),
            created_at: from_db(r.try_get("created_at")?),
            updated_at: from_db(r.try_get("updated_at")?),
        })
    }

    async fn check(
        conn: &mut AnyConnection,
        input: &OnCallShiftInput,
        _: Option<i64>,
    ) -> Result<Fields> {
        check_staff(conn, input.user_id).await?;
        let weekday = parse_weekday("weekday", &input.weekday)?;
        let start = parse_clock("start", &input.start)?;
        let end = parse_clock("end", &input.end)?;
        if start == 24 * 60 {
            return Err(StoreError::invalid("start", "must be before 24:00"));
        }
        check_shift(start, end)?;
        Ok(vec![
            ("user_id", Value::Int(input.user_id)),
            ("weekday", Value::Int(weekday as i64)),
            ("start_minute", Value::Int(start as i64)),
            ("end_minute", Value::Int(end as i64)),
        ])
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OnCallException {
    pub id: i64,
    pub user_id: i64,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub note: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Someone on duty in place of the pattern: a swap, a holiday's cover.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OnCallExceptionInput {
    pub user_id: i64,
    /// An instant (`2026-12-24T14:00:00Z`) or the desk's wall clock
    /// (`2026-12-24 16:00`, `24.12.2026 16:00`).
    pub starts_at: String,
    pub ends_at: String,
    #[serde(default)]
    pub note: String,
}

/// The desk's business hours: the default rate card's calendar.
async fn desk_hours(
    conn: &mut AnyConnection,
) -> Result<Option<tuki_domain::sla::BusinessCalendar>> {
    let row = sqlx::query(
        "SELECT c.definition FROM rate_cards r JOIN business_calendars c ON c.id = r.calendar_id \
         WHERE r.is_default = $1 ORDER BY r.id LIMIT 1",
    )
    .bind(true)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => Ok(Some(crate::sla::stored_calendar(
            &r.try_get::<String, _>("definition")?,
        )?)),
        None => Ok(None),
    }
}

impl crate::Store {
    /// The zone of the desk's wall clock: the default rate card's calendar's,
    /// else Finland's. Times typed on the pages are read in it.
    pub async fn desk_zone(&self) -> Result<TimeZone> {
        let mut conn = self.read.acquire().await?;
        Ok(desk_hours(&mut conn)
            .await?
            .map(|c| c.time_zone().clone())
            .unwrap_or_else(helsinki))
    }
}

/// A wall-clock day and time of `zone` ("1.12.2026", "08:30") as an instant.
pub fn wall_instant(
    zone: &TimeZone,
    date_field: &str,
    date: &str,
    time_field: &str,
    time: &str,
) -> Result<Timestamp> {
    let d = tuki_domain::coverage::parse_date(date_field, date)?;
    let minute = parse_clock(time_field, time)?;
    let dt = DateTime::from_parts(d, jiff::civil::Time::midnight())
        .checked_add(jiff::Span::new().minutes(minute as i64))
        .map_err(|_| StoreError::invalid(time_field, "is out of range"))?;
    Ok(dt
        .to_zoned(zone.clone())
        .map_err(|_| StoreError::invalid(time_field, "is not a time of the desk's zone"))?
        .timestamp())
}

fn helsinki() -> TimeZone {
    TimeZone::get("Europe/Helsinki").unwrap_or(TimeZone::UTC)
}

/// An instant as typed: RFC 3339, or a wall-clock time of `zone`.
fn parse_instant(field: &str, raw: &str, zone: &TimeZone) -> Result<Timestamp> {
    let t = raw.trim();
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts);
    }
    let bad = || {
        StoreError::invalid(
            field,
            "must be a time such as 2026-12-24 16:00 or 24.12.2026 16:00",
        )
    };
    let (date, time) = t.split_once([' ', 'T']).ok_or_else(bad)?;
    let date = tuki_domain::coverage::parse_date(field, date).map_err(|_| bad())?;
    let minute = parse_clock(field, time).map_err(|_| bad())?;
    let dt = DateTime::from_parts(date, jiff::civil::Time::midnight())
        .checked_add(jiff::Span::new().minutes(minute as i64))
        .map_err(|_| bad())?;
    Ok(dt.to_zoned(zone.clone()).map_err(|_| bad())?.timestamp())
}

/// The exceptions as an administered resource.
pub struct OnCallExceptions;

impl Resource for OnCallExceptions {
    type Record = OnCallException;
    type Input = OnCallExceptionInput;
    const NOUN: &'static str = "exception";
    const MANAGED_AS: &'static str = "manage the on-call rota";
    const TABLE: &'static str = "on_call_exceptions";
    const COLUMNS: &'static str = "id, user_id, starts_at, ends_at, note, created_at, updated_at";
    const ORDER: &'static str = "starts_at DESC, id";
    const UNIQUE: Option<&'static str> = None;

    fn from_row(r: &AnyRow) -> Result<OnCallException> {
        Ok(OnCallException {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            starts_at: from_db(r.try_get("starts_at")?),
            ends_at: from_db(r.try_get("ends_at")?),
            note: r.try_get("note")?,
            created_at: from_db(r.try_get("created_at")?),
            updated_at: from_db(r.try_get("updated_at")?),
        })
    }

    async fn check(
        conn: &mut AnyConnection,
        input: &OnCallExceptionInput,
        _: Option<i64>,
    ) -> Result<Fields> {
        check_staff(conn, input.user_id).await?;
        let zone = desk_hours(conn)
            .await?
            .map(|c| c.time_zone().clone())
            .unwrap_or_else(helsinki);
        let from = parse_instant("starts_at", &input.starts_at, &zone)?;
        let until = parse_instant("ends_at", &input.ends_at, &zone)?;
        if until <= from {
            return Err(StoreError::invalid("ends_at", "must be after starts_at"));
        }
        let note = if input.note.trim().is_empty() {
            String::new()
        } else {
            values::line("note", &input.note, 300)?
        };
        Ok(vec![
            ("user_id", Value::Int(input.user_id)),
            ("starts_at", Value::Int(to_db(from))),
            ("ends_at", Value::Int(to_db(until))),
            ("note", Value::Text(note)),
        ])
    }
}

/// New requests that came outside business hours and have no owner go to
/// the person on duty: each such ticket's owner is set here (and saved), and
/// its follow-up change (history, the assignment event the outbox mails)
/// is returned with its position in `created`.
pub(crate) async fn on_created(
    conn: &mut AnyConnection,
    created: &mut [Created<'_>],
) -> Result<Vec<(usize, TicketChange)>> {
    if created.iter().all(|c| c.ticket.owner_id.is_some()) {
        return Ok(Vec::new());
    }
    let first = created
        .iter()
        .map(|c| c.at)
        .min()
        .unwrap_or_else(Timestamp::now);
    let last = created
        .iter()
        .map(|c| c.at)
        .max()
        .unwrap_or_else(Timestamp::now);
    // One statement when nobody is on the rota: this runs in the writer's
    // transaction of every batch of new tickets.
    let rows = sqlx::query(
        "SELECT 0 AS exception, id, user_id, weekday, start_minute, end_minute, 0 AS starts_at, 0 AS ends_at \
         FROM on_call_shifts UNION ALL \
         SELECT 1, id, user_id, 0, 0, 0, starts_at, ends_at FROM on_call_exceptions \
         WHERE ends_at > $1 AND starts_at <= $2",
    )
    .bind(to_db(first))
    .bind(to_db(last))
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let Some(hours) = desk_hours(conn).await? else {
        return Ok(Vec::new());
    };
    let mut shifts = Vec::new();
    let mut exceptions = Vec::new();
    for r in &rows {
        let user_id: i64 = r.try_get("user_id")?;
        if r.try_get::<i64, _>("exception")? == 1 {
            exceptions.push(Exception {
                id: r.try_get("id")?,
                user_id,
                from: from_db(r.try_get("starts_at")?),
                until: from_db(r.try_get("ends_at")?),
            });
        } else {
            shifts.push(Shift {
                user_id,
                weekday: r.try_get::<i64, _>("weekday")? as u8,
                start_minute: r.try_get::<i64, _>("start_minute")? as u16,
                end_minute: r.try_get::<i64, _>("end_minute")? as u16,
            });
        }
    }
    let mut follow_ups = Vec::new();
    for (i, c) in created.iter_mut().enumerate() {
        if c.ticket.owner_id.is_some() || hours.is_open_at(c.at) {
            continue;
        }
        let Some(user) = on_duty(&shifts, &exceptions, c.at, hours.time_zone()) else {
            continue;
        };
        c.ticket.owner_id = Some(user);
        crate::tickets::save(conn, c.ticket).await?;
        let mut change = TicketChange::new(None, c.at);
        change
            .change(Change::new("owner", None, Some(user.to_string())).because("on call"))
            .event(TicketEvent::Assigned { owner: user });
        follow_ups.push((i, change));
    }
    Ok(follow_ups)
}
