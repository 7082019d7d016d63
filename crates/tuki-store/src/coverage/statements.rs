//! Statements: per organisation and period, what warranty covered, what came
//! out of which contract (hours before and after) and what is billable
//! (the domain's `statement::build`). Staff and the organisation's own
//! members read them; an administrator marks a period invoiced, which
//! records its totals and locks its bookings and materials: changing them
//! afterwards is refused with the statement's number.

use std::collections::HashMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;
use tuki_domain::coverage::{parse_date, CoverageKind};
use tuki_domain::directory::Language;
use tuki_domain::money::{Rates, VatRate};
use tuki_domain::statement::{build, Material, RateFacts, Statement, Work};

use super::contracts::stored_date;
use crate::sql::{get_opt_bool, Sql};
use crate::time::{from_db, to_db};
use crate::{require_admin, Result, Store, StoreError};

/// A statement asked for: whose, and which days (inclusive).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
pub struct StatementQuery {
    pub organisation_id: i64,
    /// `2026-11-01` or `1.11.2026`.
    pub from: String,
    pub to: String,
}

/// A statement as read: a period's draft, or an invoiced one.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatementView {
    /// Set once invoiced.
    pub id: Option<i64>,
    pub organisation_id: i64,
    pub organisation: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub from: Date,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub to: Date,
    pub invoiced_at: Option<Timestamp>,
    /// Warranty, contract parts and billable lines with the totals.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub statement: Statement,
}

/// The desk's rate card and the zone its days are read in.
async fn rate_and_zone(conn: &mut AnyConnection) -> Result<(Option<RateFacts>, TimeZone)> {
    let row = sqlx::query(
        "SELECT r.name, r.hourly_cents, r.on_call_surcharge_percent, r.call_out_fee_cents, r.minimum_unit_minutes, \
         r.vat_basis_points, c.definition FROM rate_cards r LEFT JOIN business_calendars c ON c.id = r.calendar_id \
         WHERE r.is_default = $1 ORDER BY r.id LIMIT 1",
    )
    .bind(true)
    .fetch_optional(&mut *conn)
    .await?;
    let helsinki = TimeZone::get("Europe/Helsinki").unwrap_or(TimeZone::UTC);
    let Some(r) = row else {
        return Ok((None, helsinki));
    };
    let zone = match r.try_get::<Option<String>, _>("definition")? {
        Some(def) => crate::sla::stored_calendar(&def)?.time_zone().clone(),
        None => helsinki,
    };
    let rate = RateFacts {
        name: r.try_get("name")?,
        rates: Rates {
            hourly_cents: r.try_get("hourly_cents")?,
            on_call_surcharge_percent: r.try_get("on_call_surcharge_percent")?,
            call_out_fee_cents: r.try_get("call_out_fee_cents")?,
            minimum_unit_minutes: r.try_get("minimum_unit_minutes")?,
        },
        vat: VatRate::new("vat_basis_points", r.try_get("vat_basis_points")?)?,
    };
    Ok((Some(rate), zone))
}

fn day_start(d: Date, zone: &TimeZone) -> Result<i64> {
    let z = d
        .to_zoned(zone.clone())
        .map_err(|e| StoreError::invalid("from", format!("not a day in the desk's zone: {e}")))?;
    Ok(to_db(z.timestamp()))
}

/// The day of each row on the desk's wall clock. Rows come in time order,
/// so the last day's bounds answer most of them without a zone lookup.
struct Days {
    zone: TimeZone,
    last: Option<(i64, i64, Date)>,
}

impl Days {
    fn of(&mut self, at: i64) -> Date {
        if let Some((from, until, d)) = self.last {
            if from <= at && at < until {
                return d;
            }
        }
        let d = from_db(at).to_zoned(self.zone.clone()).date();
        if let (Ok(from), Some(Ok(until))) = (
            day_start(d, &self.zone),
            d.tomorrow().ok().map(|t| day_start(t, &self.zone)),
        ) {
            self.last = Some((from, until, d));
        }
        d
    }
}

/// Which rows a statement reads: a draft period's own (not yet invoiced),
/// or an invoiced statement's.
enum Rows {
    Period {
        organisation_id: i64,
        start: i64,
        end: i64,
    },
    Invoiced(i64),
}

impl Rows {
    fn filter(&self, alias: &str, at: &str) -> (String, Vec<i64>) {
        match self {
            Rows::Period { organisation_id, start, end } => (
                format!("t.organisation_id = $1 AND {alias}.{at} >= $2 AND {alias}.{at} < $3 AND {alias}.statement_id IS NULL"),
                vec![*organisation_id, *start, *end],
            ),
            Rows::Invoiced(id) => (format!("{alias}.statement_id = $1"), vec![*id]),
        }
    }
}

fn coverage_of(r: &AnyRow) -> Result<CoverageKind> {
    let raw: Option<String> = r.try_get("coverage")?;
    Ok(match raw {
        Some(k) => CoverageKind::parse("coverage", &k)?,
        None => CoverageKind::NotCovered,
    })
}

async fn read_lines(
    conn: &mut AnyConnection,
    rows: &Rows,
    zone: &TimeZone,
    rate: Option<&RateFacts>,
    lang: Language,
) -> Result<(Vec<Work>, Vec<Material>)> {
    let mut days = Days {
        zone: zone.clone(),
        last: None,
    };
    let work = read_work(conn, rows, &mut days).await?;
    let mut materials = read_materials(conn, rows, &mut days).await?;
    if let Some(rate) = rate.filter(|r| r.rates.call_out_fee_cents > 0) {
        materials.extend(read_call_outs(conn, rows, &mut days, rate, lang).await?);
    }
    Ok((work, materials))
}

/// The call-out fees of a statement: a done site visit of a request paid
/// for by nobody's warranty or contract is one fee at the rate card (the
/// fee is a priced line like a part's).
async fn read_call_outs(
    conn: &mut AnyConnection,
    rows: &Rows,
    days: &mut Days,
    rate: &RateFacts,
    lang: Language,
) -> Result<Vec<Material>> {
    let (filter, binds) = rows.filter("v", "ends_at");
    let sql = format!(
        "SELECT t.number, v.ends_at, COALESCE(tc.override_kind, tc.kind) AS coverage FROM site_visits v \
         JOIN tickets t ON t.id = v.ticket_id LEFT JOIN ticket_coverage tc ON tc.ticket_id = v.ticket_id \
         WHERE {filter} AND v.state = 'done' ORDER BY v.ends_at, v.id"
    );
    let mut q = sqlx::query(&sql);
    for b in &binds {
        q = q.bind(*b);
    }
    let name = match lang {
        Language::Fi => "Käyntimaksu",
        Language::En => "Call-out fee",
    };
    let mut out = Vec::new();
    for r in q.fetch_all(&mut *conn).await? {
        let coverage = coverage_of(&r)?;
        if matches!(coverage, CoverageKind::Warranty | CoverageKind::Contract) {
            continue;
        }
        out.push(Material {
            ticket_number: r.try_get("number")?,
            used_on: days.of(r.try_get("ends_at")?),
            name: name.into(),
            unit: match lang {
                Language::Fi => "kpl".into(),
                Language::En => "pcs".into(),
            },
            quantity_milli: 1000,
            unit_price_cents: rate.rates.call_out_fee_cents,
            vat: rate.vat,
            coverage,
        });
    }
    Ok(out)
}

/// The billable bookings of a statement, in time order.
async fn read_work(conn: &mut AnyConnection, rows: &Rows, days: &mut Days) -> Result<Vec<Work>> {
    // The bookings as numbers and their notes only (a large customer's year
    // is 100,000 rows, and every text column is a copy per row); what they
    // share, their tickets and contracts, is read once each afterwards.
    let (filter, binds) = rows.filter("te", "worked_at");
    let sql = format!(
        "SELECT te.ticket_id, te.worked_at, te.minutes, te.note, te.contract_id, te.balance_after \
         FROM time_entries te JOIN tickets t ON t.id = te.ticket_id \
         WHERE {filter} AND te.billable = ${} ORDER BY te.worked_at, te.id",
        binds.len() + 1
    );
    let mut q = sqlx::query(&sql);
    for b in &binds {
        q = q.bind(*b);
    }
    struct Booking {
        ticket: i64,
        at: i64,
        minutes: i64,
        note: String,
        contract: Option<i64>,
        balance_after: Option<i64>,
    }
    let bookings = q
        .bind(true)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(Booking {
                ticket: r.try_get(0)?,
                at: r.try_get(1)?,
                minutes: r.try_get(2)?,
                note: r.try_get(3)?,
                contract: r.try_get(4)?,
                balance_after: r.try_get(5)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut ticket_ids: Vec<i64> = bookings.iter().map(|b| b.ticket).collect();
    ticket_ids.sort_unstable();
    ticket_ids.dedup();
    let mut tickets: HashMap<i64, (i64, String, CoverageKind, bool)> = HashMap::new();
    for chunk in ticket_ids.chunks(500) {
        let mut sql = Sql::new(
            "SELECT t.id, t.number, t.subject, COALESCE(tc.override_kind, tc.kind) AS coverage, tc.after_hours \
             FROM tickets t LEFT JOIN ticket_coverage tc ON tc.ticket_id = t.id WHERE t.id IN ",
        );
        sql.bind_list(chunk);
        for r in sql.query().fetch_all(&mut *conn).await? {
            let after_hours = get_opt_bool(&r, "after_hours")?.unwrap_or(false);
            tickets.insert(
                r.try_get("id")?,
                (
                    r.try_get("number")?,
                    r.try_get("subject")?,
                    coverage_of(&r)?,
                    after_hours,
                ),
            );
        }
    }
    let mut contract_names: HashMap<i64, String> = HashMap::new();
    for r in sqlx::query("SELECT id, name FROM contracts")
        .fetch_all(&mut *conn)
        .await?
    {
        contract_names.insert(r.try_get("id")?, r.try_get("name")?);
    }
    let work: Vec<Work> = bookings
        .into_iter()
        .map(|b| {
            let (number, subject, coverage, after_hours) = tickets
                .get(&b.ticket)
                .cloned()
                .unwrap_or((0, String::new(), CoverageKind::NotCovered, false));
            Work {
                ticket_number: number,
                ticket_subject: subject,
                worked_on: days.of(b.at),
                minutes: b.minutes,
                note: b.note,
                coverage,
                contract: b
                    .contract
                    .map(|id| (id, contract_names.get(&id).cloned().unwrap_or_default())),
                balance_after: b.balance_after,
                after_hours,
            }
        })
        .collect();
    Ok(work)
}

/// The materials of a statement, in time order.
async fn read_materials(
    conn: &mut AnyConnection,
    rows: &Rows,
    days: &mut Days,
) -> Result<Vec<Material>> {
    let (filter, binds) = rows.filter("u", "used_at");
    let sql = format!(
        "SELECT t.number, u.used_at, m.name, m.unit, u.quantity_milli, u.unit_price_cents, u.vat_basis_points, \
         COALESCE(tc.override_kind, tc.kind) AS coverage FROM material_uses u JOIN tickets t ON t.id = u.ticket_id \
         JOIN materials m ON m.id = u.material_id LEFT JOIN ticket_coverage tc ON tc.ticket_id = u.ticket_id \
         WHERE {filter} ORDER BY u.used_at, u.id"
    );
    let mut q = sqlx::query(&sql);
    for b in &binds {
        q = q.bind(*b);
    }
    let materials = q
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(Material {
                ticket_number: r.try_get("number")?,
                used_on: days.of(r.try_get("used_at")?),
                name: r.try_get("name")?,
                unit: r.try_get("unit")?,
                quantity_milli: r.try_get("quantity_milli")?,
                unit_price_cents: r.try_get("unit_price_cents")?,
                vat: VatRate::new("vat_basis_points", r.try_get("vat_basis_points")?)?,
                coverage: coverage_of(r)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(materials)
}

/// Refuses a change to a booking or use on an invoiced statement.
pub(crate) fn refuse_locked(statement_id: Option<i64>) -> Result<()> {
    match statement_id {
        Some(id) => Err(StoreError::conflict(
            None,
            format!("this is on invoiced statement #{id} and cannot be changed"),
        )),
        None => Ok(()),
    }
}

/// Refuses new time or materials on a day an invoiced statement of the
/// organisation already covers.
pub(crate) async fn refuse_invoiced_day(
    conn: &mut AnyConnection,
    organisation_id: Option<i64>,
    at: Timestamp,
    field: &str,
) -> Result<()> {
    let Some(org) = organisation_id else {
        return Ok(());
    };
    let (_, zone) = rate_and_zone(conn).await?;
    let day = at.to_zoned(zone).date().to_string();
    let row = sqlx::query(
        "SELECT id FROM statements WHERE organisation_id = $1 AND period_start <= $2 AND period_end >= $2 LIMIT 1",
    )
    .bind(org)
    .bind(&day)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => Err(StoreError::conflict(
            Some(field),
            format!(
                "{day} is on invoiced statement #{} and cannot be changed",
                r.try_get::<i64, _>("id")?
            ),
        )),
        None => Ok(()),
    }
}

fn may_read(actor: &Actor, organisation_id: i64) -> Result<()> {
    if actor.is_staff() || actor.organisation_id == Some(organisation_id) {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

async fn organisation_name(conn: &mut AnyConnection, id: i64) -> Result<String> {
    sqlx::query("SELECT name FROM organisations WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::invalid("organisation_id", "no such organisation"))?
        .try_get::<String, _>("name")
        .map_err(Into::into)
}

fn period(q: &StatementQuery) -> Result<(Date, Date)> {
    let from = parse_date("from", &q.from)?;
    let to = parse_date("to", &q.to)?;
    if to < from {
        return Err(StoreError::invalid("to", "must not be before from"));
    }
    if to.since(from).map(|s| s.get_days()).unwrap_or(0) > 366 * 5 {
        return Err(StoreError::invalid(
            "to",
            "a statement covers at most five years",
        ));
    }
    Ok((from, to))
}

/// An invoiced statement in a list.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvoicedStatement {
    pub id: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub from: Date,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub to: Date,
    pub gross_cents: i64,
    pub invoiced_at: Timestamp,
}

impl Store {
    /// An organisation's invoiced statements, newest first.
    pub async fn invoiced_statements(
        &self,
        actor: &Actor,
        organisation_id: i64,
    ) -> Result<Vec<InvoicedStatement>> {
        may_read(actor, organisation_id)?;
        let rows = sqlx::query(
            "SELECT id, period_start, period_end, gross_cents, invoiced_at FROM statements \
             WHERE organisation_id = $1 ORDER BY period_start DESC, id DESC LIMIT 200",
        )
        .bind(organisation_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(InvoicedStatement {
                    id: r.try_get("id")?,
                    from: stored_date(r, "period_start")?,
                    to: stored_date(r, "period_end")?,
                    gross_cents: r.try_get("gross_cents")?,
                    invoiced_at: from_db(r.try_get("invoiced_at")?),
                })
            })
            .collect()
    }

    /// The statement of a period not yet invoiced (what is not on an
    /// invoiced statement): staff, or the organisation's own members.
    pub async fn statement_draft(
        &self,
        actor: &Actor,
        q: &StatementQuery,
        lang: Language,
    ) -> Result<StatementView> {
        may_read(actor, q.organisation_id)?;
        let (from, to) = period(q)?;
        let mut conn = self.read.acquire().await?;
        let organisation = organisation_name(&mut conn, q.organisation_id).await?;
        let (rate, zone) = rate_and_zone(&mut conn).await?;
        let rows = Rows::Period {
            organisation_id: q.organisation_id,
            start: day_start(from, &zone)?,
            end: day_start(to.tomorrow().unwrap_or(to), &zone)?,
        };
        let (work, materials) = read_lines(&mut conn, &rows, &zone, rate.as_ref(), lang).await?;
        Ok(StatementView {
            id: None,
            organisation_id: q.organisation_id,
            organisation,
            from,
            to,
            invoiced_at: None,
            statement: build(&work, &materials, rate.as_ref(), lang),
        })
    }

    /// Marks a period invoiced (administrators): records the statement and
    /// its totals and locks its bookings and materials. A period that
    /// overlaps an invoiced one is refused.
    pub async fn invoice_statement(
        &self,
        actor: &Actor,
        q: &StatementQuery,
        lang: Language,
    ) -> Result<StatementView> {
        require_admin(actor, "invoice statements")?;
        let (from, to) = period(q)?;
        let now = self.now();
        let mut tx = self.begin_write().await?;
        organisation_name(&mut tx, q.organisation_id).await?;
        if let Some(r) = sqlx::query(
            "SELECT id FROM statements WHERE organisation_id = $1 AND period_start <= $2 AND period_end >= $3 LIMIT 1",
        )
        .bind(q.organisation_id)
        .bind(to.to_string())
        .bind(from.to_string())
        .fetch_optional(&mut *tx)
        .await?
        {
            return Err(StoreError::conflict(
                Some("from"),
                format!("the period overlaps invoiced statement #{}", r.try_get::<i64, _>("id")?),
            ));
        }
        let (rate, zone) = rate_and_zone(&mut tx).await?;
        let (start, end) = (
            day_start(from, &zone)?,
            day_start(to.tomorrow().unwrap_or(to), &zone)?,
        );
        let rows = Rows::Period {
            organisation_id: q.organisation_id,
            start,
            end,
        };
        let (work, materials) = read_lines(&mut tx, &rows, &zone, rate.as_ref(), lang).await?;
        let s = build(&work, &materials, rate.as_ref(), lang);
        let id: i64 = sqlx::query(
            "INSERT INTO statements (organisation_id, period_start, period_end, invoiced_by, invoiced_at, net_cents, \
             vat_cents, gross_cents) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(q.organisation_id)
        .bind(from.to_string())
        .bind(to.to_string())
        .bind(actor.user_id)
        .bind(to_db(now))
        .bind(s.totals.net_cents)
        .bind(s.totals.vat_cents)
        .bind(s.totals.gross_cents)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        // Every booking and use of the period, billable or not, is locked:
        // the period is closed.
        for (table, at) in [
            ("time_entries", "worked_at"),
            ("material_uses", "used_at"),
            ("site_visits", "ends_at"),
        ] {
            sqlx::query(&format!(
                "UPDATE {table} SET statement_id = $1 WHERE statement_id IS NULL AND {at} >= $2 AND {at} < $3 \
                 AND ticket_id IN (SELECT id FROM tickets WHERE organisation_id = $4)"
            ))
            .bind(id)
            .bind(start)
            .bind(end)
            .bind(q.organisation_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.statement(actor, id, lang).await
    }

    /// An invoiced statement: exactly the lines it locked.
    pub async fn statement(&self, actor: &Actor, id: i64, lang: Language) -> Result<StatementView> {
        let mut conn = self.read.acquire().await?;
        let r = sqlx::query("SELECT * FROM statements WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let organisation_id: i64 = r.try_get("organisation_id")?;
        may_read(actor, organisation_id)?;
        let organisation = organisation_name(&mut conn, organisation_id).await?;
        let (rate, zone) = rate_and_zone(&mut conn).await?;
        let (work, materials) =
            read_lines(&mut conn, &Rows::Invoiced(id), &zone, rate.as_ref(), lang).await?;
        Ok(StatementView {
            id: Some(id),
            organisation_id,
            organisation,
            from: stored_date(&r, "period_start")?,
            to: stored_date(&r, "period_end")?,
            invoiced_at: Some(from_db(r.try_get("invoiced_at")?)),
            statement: build(&work, &materials, rate.as_ref(), lang),
        })
    }
}
