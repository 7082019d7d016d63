//! Each ticket's coverage: decided at intake (every channel: a batch of new
//! tickets is decided with one read of what is on record), again when the
//! ticket's requester, category or asset changes or its asset's details do,
//! and overridden by an agent with a reason.

use std::collections::HashMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use tuki_domain::access::{Actor, TicketAction};
use tuki_domain::coverage::{
    decide, serials_in, CoverageKind, CoverageRequest, Decision, OnRecord, RateCardFacts, Reason,
    Verdict,
};
use tuki_domain::directory::Language;
use tuki_domain::sla::BusinessCalendar;
use tuki_domain::values;

use super::assets::{assets_of_requester, Asset};
use super::contracts::{contract_from_row, stored_opt_date, Contract, CONTRACT_COLUMNS};
use crate::events::{Created, TicketChange};
use crate::sql::{get_bool, Sql, Value};
use crate::tickets::history::Change;
use crate::tickets::{load_for, Ticket};
use crate::time::{from_db, opt_from_db, to_db};
use crate::{Result, Store, StoreError};

/// What is on record for a set of requests: the default rate card with its
/// business hours, and contracts and devices by organisation and person.
struct Record {
    rate_card: Option<RateCardFacts>,
    hours: BusinessCalendar,
    contracts: HashMap<i64, Vec<Contract>>,
}

/// Reads what is on record, or `None` when the decisions are off (one
/// statement for the setting, the rate card and its calendar: this runs in
/// the writer's transaction of every batch of new tickets).
async fn read_record(
    conn: &mut AnyConnection,
    organisations: &[i64],
    even_when_off: bool,
) -> Result<Option<Record>> {
    let row = sqlx::query(
        "SELECT s.decide, r.id, r.name, c.definition FROM coverage_settings s \
         LEFT JOIN rate_cards r ON r.is_default = $1 \
         LEFT JOIN business_calendars c ON c.id = r.calendar_id \
         WHERE s.id = 1 ORDER BY r.id LIMIT 1",
    )
    .bind(true)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(r) = &row {
        if !get_bool(r, "decide")? && !even_when_off {
            return Ok(None);
        }
    }
    let card = row.filter(|r| r.try_get::<Option<i64>, _>("id").ok().flatten().is_some());
    let (rate_card, hours) = match card {
        None => (None, always_open()),
        Some(r) => {
            let hours = match r.try_get::<Option<String>, _>("definition")? {
                Some(def) => calendar_of(&def)?,
                None => always_open(),
            };
            (
                Some(RateCardFacts {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                }),
                hours,
            )
        }
    };
    let mut contracts: HashMap<i64, Vec<Contract>> = HashMap::new();
    if !organisations.is_empty() {
        let mut sql = Sql::new(&format!(
            "SELECT {CONTRACT_COLUMNS} FROM contracts WHERE organisation_id IN "
        ));
        sql.bind_list(organisations);
        for r in sql.query().fetch_all(&mut *conn).await? {
            let c = contract_from_row(&r)?;
            contracts.entry(c.organisation_id).or_default().push(c);
        }
    }
    Ok(Some(Record {
        rate_card,
        hours,
        contracts,
    }))
}

/// The calendar of a stored definition, validated once per definition and
/// kept (definitions change rarely; a changed one is a different key).
fn calendar_of(definition: &str) -> Result<BusinessCalendar> {
    static LAST: std::sync::Mutex<Option<(String, BusinessCalendar)>> = std::sync::Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((def, cal)) = last.as_ref() {
        if def == definition {
            return Ok(cal.clone());
        }
    }
    let cal = crate::sla::stored_calendar(definition)?;
    *last = Some((definition.to_string(), cal.clone()));
    Ok(cal)
}

/// Without a rate card's calendar every hour is a business hour (no
/// surcharge), read on Finland's wall clock for the day of a request.
fn always_open() -> BusinessCalendar {
    BusinessCalendar::always_open(TimeZone::get("Europe/Helsinki").unwrap_or(TimeZone::UTC))
}

/// One request to decide.
struct Request<'a> {
    received_at: Timestamp,
    organisation_id: Option<i64>,
    category: Option<&'a str>,
    asset: Option<&'a Asset>,
}

fn decide_one(record: &Record, req: &Request<'_>) -> Decision {
    let facts = req.asset.map(Asset::facts);
    let contracts: Vec<_> = req
        .organisation_id
        .and_then(|o| record.contracts.get(&o))
        .map(|cs| cs.iter().map(Contract::facts).collect())
        .unwrap_or_default();
    decide(
        &CoverageRequest {
            received_at: req.received_at,
            asset: facts.as_ref(),
            category: req.category,
            has_organisation: req.organisation_id.is_some(),
        },
        &OnRecord {
            contracts: &contracts,
            rate_card: record.rate_card.as_ref(),
            hours: &record.hours,
        },
    )
}

fn parts(d: &Decision) -> (CoverageKind, Option<String>, Option<i64>, Option<i64>, bool) {
    match &d.verdict {
        Verdict::Warranty { until } => (
            CoverageKind::Warranty,
            Some(until.to_string()),
            None,
            None,
            false,
        ),
        Verdict::Contract { contract_id, .. } => (
            CoverageKind::Contract,
            None,
            Some(*contract_id),
            None,
            false,
        ),
        Verdict::Billable {
            rate_card_id,
            after_hours,
        } => (
            CoverageKind::Billable,
            None,
            None,
            Some(*rate_card_id),
            *after_hours,
        ),
        Verdict::NotCovered => (CoverageKind::NotCovered, None, None, None, false),
    }
}

fn reasons_json(reasons: &[Reason]) -> Result<String> {
    super::json(&reasons)
}

/// Decides the coverage of tickets just created, in their transaction: the
/// device named on the request, or else one of the requester's whose serial
/// number the subject or first message names.
pub(crate) async fn on_created(
    conn: &mut AnyConnection,
    created: &mut [Created<'_>],
) -> Result<()> {
    let mut orgs: Vec<i64> = created
        .iter()
        .filter_map(|c| c.ticket.organisation_id)
        .collect();
    orgs.sort_unstable();
    orgs.dedup();
    let Some(record) = read_record(conn, &orgs, false).await? else {
        return Ok(());
    };
    // The devices named: by id on the form, else by a serial number in the
    // subject or text; read for the whole batch through the indexes (id,
    // serial key) and matched to each requester here.
    let mut ids: Vec<i64> = Vec::new();
    let mut keys: Vec<Vec<String>> = Vec::with_capacity(created.len());
    for c in created.iter() {
        match c.asset_id {
            Some(id) => {
                ids.push(id);
                keys.push(Vec::new());
            }
            None => {
                let mut k = serials_in(&c.ticket.subject);
                k.extend(serials_in(c.body));
                k.truncate(MAX_SERIALS);
                keys.push(k);
            }
        }
    }
    let all_keys: Vec<String> = keys.iter().flatten().cloned().collect();
    let found = super::assets::assets_by(conn, &ids, &all_keys).await?;
    let mut sql = Sql::new(
        "INSERT INTO ticket_coverage (ticket_id, asset_id, kind, until_on, contract_id, rate_card_id, \
         after_hours, reasons, decided_at) VALUES ",
    );
    for (i, c) in created.iter_mut().enumerate() {
        let t = &c.ticket;
        let theirs = |a: &&Asset| {
            a.owner_id == Some(t.requester_id)
                || (a.organisation_id.is_some() && a.organisation_id == t.organisation_id)
        };
        let asset = match c.asset_id {
            Some(id) => Some(
                found
                    .iter()
                    .filter(theirs)
                    .find(|a| a.id == id)
                    .ok_or_else(|| {
                        StoreError::invalid("asset_id", "no such device of the requester")
                    })?,
            ),
            None => found
                .iter()
                .filter(theirs)
                .find(|a| keys[i].contains(&tuki_domain::coverage::serial_key(&a.serial))),
        };
        let d = decide_one(
            &record,
            &Request {
                received_at: c.at,
                organisation_id: t.organisation_id,
                category: t.category.as_deref(),
                asset,
            },
        );
        let (kind, until, contract, card, after) = parts(&d);
        c.contract_policy = contract.and_then(|id| {
            t.organisation_id
                .and_then(|o| record.contracts.get(&o))
                .and_then(|cs| cs.iter().find(|k| k.id == id))
                .and_then(|k| k.sla_policy_id)
        });
        if i > 0 {
            sql.push(", ");
        }
        sql.push("(")
            .bind(Value::Int(t.id))
            .push(", ")
            .bind(Value::opt_int(asset.map(|a| a.id)))
            .push(", ")
            .bind(Value::Text(kind.as_str().into()))
            .push(", ")
            .bind(Value::opt_text(until))
            .push(", ")
            .bind(Value::opt_int(contract))
            .push(", ")
            .bind(Value::opt_int(card))
            .push(", ")
            .bind(Value::Bool(after))
            .push(", ")
            .bind(Value::Text(reasons_json(&d.reasons)?))
            .push(", ")
            .bind(Value::Int(to_db(c.at)))
            .push(")");
    }
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

/// At most this many serial-number candidates of one request are looked up
/// (a long log pasted into a mail has many number-like words).
const MAX_SERIALS: usize = 20;

/// A change of the requester or the category decides the coverage again.
pub(crate) async fn on_ticket_change(
    conn: &mut AnyConnection,
    t: &Ticket,
    c: &TicketChange,
) -> Result<()> {
    if c.changes
        .iter()
        .any(|ch| matches!(ch.field, "category" | "requester" | "organisation"))
    {
        redecide(conn, t.id, c.at).await?;
    }
    Ok(())
}

/// Decides one ticket's coverage again, keeping its device and any override.
pub(crate) async fn redecide(
    conn: &mut AnyConnection,
    ticket_id: i64,
    at: Timestamp,
) -> Result<()> {
    let row = sqlx::query(
        "SELECT t.organisation_id, t.category, t.created_at, tc.asset_id \
         FROM tickets t LEFT JOIN ticket_coverage tc ON tc.ticket_id = t.id WHERE t.id = $1",
    )
    .bind(ticket_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    let org: Option<i64> = row.try_get("organisation_id")?;
    let category: Option<String> = row.try_get("category")?;
    let asset_id: Option<i64> = row.try_get("asset_id")?;
    let received = from_db(row.try_get("created_at")?);
    let asset = match asset_id {
        Some(id) => Some(super::assets::load_asset(conn, &Actor::system(), id).await?),
        None => None,
    };
    // An explicit redecision (a device named) decides even when the
    // decisions at intake are off.
    let orgs: Vec<i64> = org.into_iter().collect();
    let record = read_record(conn, &orgs, true)
        .await?
        .ok_or(StoreError::NotFound)?;
    let d = decide_one(
        &record,
        &Request {
            received_at: received,
            organisation_id: org,
            category: category.as_deref(),
            asset: asset.as_ref(),
        },
    );
    write_decision(conn, ticket_id, asset.as_ref().map(|a| a.id), &d, at).await
}

async fn write_decision(
    conn: &mut AnyConnection,
    ticket_id: i64,
    asset_id: Option<i64>,
    d: &Decision,
    at: Timestamp,
) -> Result<()> {
    let (kind, until, contract, card, after) = parts(d);
    let reasons = reasons_json(&d.reasons)?;
    let done = sqlx::query(
        "UPDATE ticket_coverage SET asset_id = $1, kind = $2, until_on = $3, contract_id = $4, \
         rate_card_id = $5, after_hours = $6, reasons = $7, decided_at = $8 WHERE ticket_id = $9",
    )
    .bind(asset_id)
    .bind(kind.as_str())
    .bind(until.clone())
    .bind(contract)
    .bind(card)
    .bind(after)
    .bind(&reasons)
    .bind(to_db(at))
    .bind(ticket_id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        sqlx::query(
            "INSERT INTO ticket_coverage (ticket_id, asset_id, kind, until_on, contract_id, rate_card_id, \
             after_hours, reasons, decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(ticket_id)
        .bind(asset_id)
        .bind(kind.as_str())
        .bind(until)
        .bind(contract)
        .bind(card)
        .bind(after)
        .bind(&reasons)
        .bind(to_db(at))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A device's details changed: the open requests naming it are decided
/// again.
pub(crate) async fn redecide_for_asset(
    conn: &mut AnyConnection,
    asset_id: i64,
    at: Timestamp,
) -> Result<()> {
    let rows = sqlx::query(
        "SELECT tc.ticket_id FROM ticket_coverage tc JOIN tickets t ON t.id = tc.ticket_id \
         WHERE tc.asset_id = $1 AND t.state <> 'closed' LIMIT 1000",
    )
    .bind(asset_id)
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        redecide(conn, r.try_get("ticket_id")?, at).await?;
    }
    Ok(())
}

/// An agent's decision in place of Tuki's.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoverageOverride {
    pub kind: CoverageKind,
    pub contract_id: Option<i64>,
    pub reason: String,
    pub by: Option<i64>,
    pub at: Timestamp,
}

/// A ticket's coverage as read.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketCoverage {
    pub ticket_id: i64,
    pub asset_id: Option<i64>,
    pub asset_serial: Option<String>,
    /// What applies: the override when there is one, else Tuki's decision.
    pub kind: CoverageKind,
    /// Tuki's own decision.
    pub decided_kind: CoverageKind,
    /// The warranty's last day.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub until: Option<Date>,
    pub contract_id: Option<i64>,
    pub contract_name: Option<String>,
    /// An hour bank's balance now.
    pub minutes_left: Option<i64>,
    pub rate_card_id: Option<i64>,
    /// The request came outside business hours (on-call surcharge).
    pub after_hours: bool,
    /// Why, in the reader's language.
    pub reasons: Vec<String>,
    pub decided_at: Timestamp,
    /// Staff only.
    pub overridden: Option<CoverageOverride>,
}

/// An agent's override: the kind that applies, the contract for `contract`,
/// and why. `kind` absent clears an override.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoverageOverrideInput {
    #[serde(default)]
    pub kind: Option<CoverageKind>,
    #[serde(default)]
    pub contract_id: Option<i64>,
    #[serde(default)]
    pub reason: String,
}

/// Which device a ticket is about; `None` for none.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketAssetInput {
    pub asset_id: Option<i64>,
}

pub(crate) async fn read_coverage(
    conn: &mut AnyConnection,
    actor: &Actor,
    ticket_id: i64,
    lang: Language,
) -> Result<Option<TicketCoverage>> {
    let Some(r) = sqlx::query(
        "SELECT tc.*, a.serial AS asset_serial, c.name AS contract_name, c.minutes_left, c.kind AS contract_kind, \
         oc.name AS override_contract_name FROM ticket_coverage tc \
         LEFT JOIN assets a ON a.id = tc.asset_id \
         LEFT JOIN contracts c ON c.id = COALESCE(tc.override_contract_id, tc.contract_id) \
         LEFT JOIN contracts oc ON oc.id = tc.override_contract_id WHERE tc.ticket_id = $1",
    )
    .bind(ticket_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let decided_kind = CoverageKind::parse("kind", &r.try_get::<String, _>("kind")?)?;
    let reasons: Vec<Reason> =
        serde_json::from_str(&r.try_get::<String, _>("reasons")?).map_err(|e| {
            StoreError::Database(sqlx::Error::Decode(
                format!("stored coverage reasons: {e}").into(),
            ))
        })?;
    let overridden = match r.try_get::<Option<String>, _>("override_kind")? {
        Some(k) if actor.is_staff() => Some(CoverageOverride {
            kind: CoverageKind::parse("override_kind", &k)?,
            contract_id: r.try_get("override_contract_id")?,
            reason: r
                .try_get::<Option<String>, _>("override_reason")?
                .unwrap_or_default(),
            by: r.try_get("overridden_by")?,
            at: opt_from_db(r.try_get("overridden_at")?).unwrap_or_else(|| from_db(0)),
        }),
        _ => None,
    };
    let kind = match r.try_get::<Option<String>, _>("override_kind")? {
        Some(k) => CoverageKind::parse("override_kind", &k)?,
        None => decided_kind,
    };
    let contract_id: Option<i64> = if kind == CoverageKind::Contract {
        r.try_get::<Option<i64>, _>("override_contract_id")?
            .or(r.try_get("contract_id")?)
    } else {
        None
    };
    let hour_bank =
        r.try_get::<Option<String>, _>("contract_kind")?.as_deref() == Some("hour_bank");
    Ok(Some(TicketCoverage {
        ticket_id,
        asset_id: r.try_get("asset_id")?,
        asset_serial: r.try_get("asset_serial")?,
        kind,
        decided_kind,
        until: if kind == CoverageKind::Warranty {
            stored_opt_date(&r, "until_on")?
        } else {
            None
        },
        contract_id,
        contract_name: contract_id.and(r.try_get("contract_name")?),
        minutes_left: if contract_id.is_some() && hour_bank {
            r.try_get("minutes_left")?
        } else {
            None
        },
        rate_card_id: r.try_get("rate_card_id")?,
        after_hours: get_bool(&r, "after_hours")?,
        reasons: reasons.iter().map(|x| x.text(lang)).collect(),
        decided_at: from_db(r.try_get("decided_at")?),
        overridden,
    }))
}

impl Store {
    /// A ticket's coverage, for whoever may see the ticket; the reasons in
    /// `lang`.
    pub async fn ticket_coverage(
        &self,
        actor: &Actor,
        ticket_id: i64,
        lang: Language,
    ) -> Result<TicketCoverage> {
        let mut conn = self.read.acquire().await?;
        load_for(&mut conn, actor, ticket_id, TicketAction::View).await?;
        read_coverage(&mut conn, actor, ticket_id, lang)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Names the device a ticket is about (one of the requester's) and
    /// decides its coverage again.
    pub async fn set_ticket_asset(
        &self,
        actor: &Actor,
        ticket_id: i64,
        input: TicketAssetInput,
        lang: Language,
    ) -> Result<TicketCoverage> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let t = load_for(&mut tx, actor, ticket_id, TicketAction::Edit).await?;
        let old: Option<i64> =
            sqlx::query("SELECT asset_id FROM ticket_coverage WHERE ticket_id = $1")
                .bind(ticket_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("asset_id"))
                .transpose()?
                .flatten();
        if let Some(id) = input.asset_id {
            let owned = assets_of_requester(&mut tx, t.requester_id, t.organisation_id).await?;
            if !owned.iter().any(|a| a.id == id) {
                return Err(StoreError::invalid(
                    "asset_id",
                    "no such device of the requester",
                ));
            }
        }
        sqlx::query("UPDATE ticket_coverage SET asset_id = $1 WHERE ticket_id = $2")
            .bind(input.asset_id)
            .bind(ticket_id)
            .execute(&mut *tx)
            .await?;
        // Rows of tickets older than coverage are written by `redecide`.
        if old.is_none() {
            sqlx::query(
                "INSERT INTO ticket_coverage (ticket_id, asset_id, kind, after_hours, reasons, decided_at) \
                 SELECT $1, $2, 'not_covered', $3, '[]', $4 WHERE NOT EXISTS \
                 (SELECT 1 FROM ticket_coverage WHERE ticket_id = $1)",
            )
            .bind(ticket_id)
            .bind(input.asset_id)
            .bind(false)
            .bind(to_db(now))
            .execute(&mut *tx)
            .await?;
        }
        redecide(&mut tx, ticket_id, now).await?;
        if old != input.asset_id {
            crate::tickets::history::record_all(
                &mut tx,
                ticket_id,
                actor.user_id,
                now,
                &[Change::new(
                    "asset",
                    old.map(|i| i.to_string()),
                    input.asset_id.map(|i| i.to_string()),
                )],
            )
            .await?;
        }
        let c = read_coverage(&mut tx, actor, ticket_id, lang)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(c)
    }

    /// Overrides a ticket's coverage with a reason (staff), or clears the
    /// override; the history keeps both.
    pub async fn override_coverage(
        &self,
        actor: &Actor,
        ticket_id: i64,
        input: CoverageOverrideInput,
        lang: Language,
    ) -> Result<TicketCoverage> {
        if !actor.is_staff() {
            return Err(StoreError::forbidden("only staff decide who pays"));
        }
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let t = load_for(&mut tx, actor, ticket_id, TicketAction::Edit).await?;
        let before = read_coverage(&mut tx, actor, ticket_id, lang)
            .await?
            .ok_or(StoreError::NotFound)?;
        let reason = match input.kind {
            Some(_) => values::line("reason", &input.reason, 500)?,
            None => input.reason.trim().to_string(),
        };
        if input.kind == Some(CoverageKind::Contract) {
            let Some(cid) = input.contract_id else {
                return Err(StoreError::invalid(
                    "contract_id",
                    "name the contract that pays",
                ));
            };
            let org: Option<i64> =
                sqlx::query("SELECT organisation_id FROM contracts WHERE id = $1")
                    .bind(cid)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| r.try_get("organisation_id"))
                    .transpose()?;
            if org.is_none() || org != t.organisation_id {
                return Err(StoreError::invalid(
                    "contract_id",
                    "no such contract of the requester's organisation",
                ));
            }
        } else if input.contract_id.is_some() {
            return Err(StoreError::invalid(
                "contract_id",
                "only a contract override names a contract",
            ));
        }
        sqlx::query(
            "UPDATE ticket_coverage SET override_kind = $1, override_contract_id = $2, override_reason = $3, \
             overridden_by = $4, overridden_at = $5 WHERE ticket_id = $6",
        )
        .bind(input.kind.map(|k| k.as_str()))
        .bind(input.contract_id)
        .bind(input.kind.map(|_| reason.clone()))
        .bind(input.kind.and(actor.user_id))
        .bind(input.kind.map(|_| to_db(now)))
        .bind(ticket_id)
        .execute(&mut *tx)
        .await?;
        let after = read_coverage(&mut tx, actor, ticket_id, lang)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut change = Change::new(
            "coverage",
            Some(before.kind.as_str().into()),
            Some(after.kind.as_str().into()),
        );
        if !reason.is_empty() {
            change = change.because(reason);
        }
        crate::tickets::history::record_all(&mut tx, ticket_id, actor.user_id, now, &[change])
            .await?;
        tx.commit().await?;
        Ok(after)
    }
}
