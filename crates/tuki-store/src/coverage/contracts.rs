//! Contracts: services an organisation agreed and paid in advance, an hour
//! bank drawn down by the work done or a fixed-fee subscription, what they
//! cover and the service level they bring.

use jiff::civil::Date;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;
use tuki_domain::coverage::{parse_date, ContractFacts, ContractKind, Covers, ResponseWindow};
use tuki_domain::values;

use crate::resource::{refers_to, Fields, Resource, Value};
use crate::time::from_db;
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contract {
    pub id: i64,
    pub name: String,
    pub organisation_id: i64,
    pub kind: ContractKind,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub starts_on: Date,
    /// The last day it is in force.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub ends_on: Date,
    /// Hours bought, in minutes (hour banks).
    pub included_minutes: i64,
    /// What is left: included minus booked.
    pub minutes_left: i64,
    pub covers: Covers,
    pub response: ResponseWindow,
    /// The service level its requests get, before the ordinary policy rules.
    pub sla_policy_id: Option<i64>,
    /// The rate card of work it does not cover; absent: the default card.
    pub rate_card_id: Option<i64>,
    /// Below this balance the organisation's contact and the administrators
    /// are told.
    pub low_balance_minutes: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Contract {
    pub fn facts(&self) -> ContractFacts {
        ContractFacts {
            id: self.id,
            name: self.name.clone(),
            kind: self.kind,
            starts_on: self.starts_on,
            ends_on: self.ends_on,
            minutes_left: self.minutes_left,
            covers: self.covers.clone(),
            response: self.response,
        }
    }
}

/// A contract to create, or the whole new content of one (PUT). Replacing
/// keeps what was booked: the balance becomes the new included minutes less
/// the minutes used so far.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContractInput {
    pub name: String,
    pub organisation_id: i64,
    pub kind: ContractKind,
    /// `2026-01-01` or `1.1.2026`.
    pub starts_on: String,
    pub ends_on: String,
    #[serde(default)]
    pub included_minutes: i64,
    #[serde(default)]
    pub covers: Covers,
    /// Defaults to business hours.
    #[serde(default)]
    pub response: Option<ResponseWindow>,
    #[serde(default)]
    pub sla_policy_id: Option<i64>,
    #[serde(default)]
    pub rate_card_id: Option<i64>,
    /// Defaults to a fifth of the included minutes.
    #[serde(default)]
    pub low_balance_minutes: Option<i64>,
}

pub(crate) const CONTRACT_COLUMNS: &str = "id, name, organisation_id, kind, starts_on, ends_on, \
     included_minutes, minutes_left, covers, response, sla_policy_id, rate_card_id, \
     low_balance_minutes, created_at, updated_at";

/// Contracts as an administered resource.
pub struct Contracts;

pub(crate) fn stored_date(r: &AnyRow, column: &str) -> Result<Date> {
    let raw: String = r.try_get(column)?;
    raw.parse().map_err(|e| {
        StoreError::Database(sqlx::Error::Decode(format!("stored {column}: {e}").into()))
    })
}

pub(crate) fn stored_opt_date(r: &AnyRow, column: &str) -> Result<Option<Date>> {
    match r.try_get::<Option<String>, _>(column)? {
        None => Ok(None),
        Some(raw) => raw.parse().map(Some).map_err(|e| {
            StoreError::Database(sqlx::Error::Decode(format!("stored {column}: {e}").into()))
        }),
    }
}

pub(crate) fn contract_from_row(r: &AnyRow) -> Result<Contract> {
    let covers: Covers = serde_json::from_str(&r.try_get::<String, _>("covers")?).map_err(|e| {
        StoreError::Database(sqlx::Error::Decode(format!("stored covers: {e}").into()))
    })?;
    Ok(Contract {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        organisation_id: r.try_get("organisation_id")?,
        kind: ContractKind::parse("kind", &r.try_get::<String, _>("kind")?)?,
        starts_on: stored_date(r, "starts_on")?,
        ends_on: stored_date(r, "ends_on")?,
        included_minutes: r.try_get("included_minutes")?,
        minutes_left: r.try_get("minutes_left")?,
        covers,
        response: ResponseWindow::parse("response", &r.try_get::<String, _>("response")?)?,
        sla_policy_id: r.try_get("sla_policy_id")?,
        rate_card_id: r.try_get("rate_card_id")?,
        low_balance_minutes: r.try_get("low_balance_minutes")?,
        created_at: from_db(r.try_get("created_at")?),
        updated_at: from_db(r.try_get("updated_at")?),
    })
}

impl Resource for Contracts {
    type Record = Contract;
    type Input = ContractInput;
    const NOUN: &'static str = "contract";
    const MANAGED_AS: &'static str = "manage contracts";
    const TABLE: &'static str = "contracts";
    const COLUMNS: &'static str = CONTRACT_COLUMNS;
    const ORDER: &'static str = "ends_on DESC, name, id";
    const IN_USE: &'static str = "has time booked on it";

    fn from_row(r: &AnyRow) -> Result<Contract> {
        contract_from_row(r)
    }

    async fn check(
        conn: &mut AnyConnection,
        input: &ContractInput,
        replacing: Option<i64>,
    ) -> Result<Fields> {
        let name = values::line("name", &input.name, 200)?;
        refers_to(
            conn,
            "organisations",
            input.organisation_id,
            "organisation_id",
            "organisation",
        )
        .await?;
        let starts = parse_date("starts_on", &input.starts_on)?;
        let ends = parse_date("ends_on", &input.ends_on)?;
        if ends < starts {
            return Err(StoreError::invalid(
                "ends_on",
                "must not be before starts_on",
            ));
        }
        if !(0..=1_000_000).contains(&input.included_minutes) {
            return Err(StoreError::invalid(
                "included_minutes",
                "must be between 0 and 1000000",
            ));
        }
        if input.kind == ContractKind::HourBank && input.included_minutes == 0 {
            return Err(StoreError::invalid(
                "included_minutes",
                "an hour bank needs hours",
            ));
        }
        let covers = check_covers(conn, &input.covers).await?;
        if let Some(p) = input.sla_policy_id {
            refers_to(conn, "sla_policies", p, "sla_policy_id", "SLA policy").await?;
        }
        if let Some(c) = input.rate_card_id {
            refers_to(conn, "rate_cards", c, "rate_card_id", "rate card").await?;
        }
        let low = input
            .low_balance_minutes
            .unwrap_or(input.included_minutes / 5);
        if low < 0 {
            return Err(StoreError::invalid(
                "low_balance_minutes",
                "must not be negative",
            ));
        }
        let used = match replacing {
            None => 0,
            Some(id) => {
                let row = sqlx::query(
                    "SELECT included_minutes - minutes_left AS used FROM contracts WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or(StoreError::NotFound)?;
                row.try_get::<i64, _>("used")?
            }
        };
        Ok(vec![
            ("name", Value::Text(name)),
            ("organisation_id", Value::Int(input.organisation_id)),
            ("kind", Value::Text(input.kind.as_str().into())),
            ("starts_on", Value::Text(starts.to_string())),
            ("ends_on", Value::Text(ends.to_string())),
            ("included_minutes", Value::Int(input.included_minutes)),
            ("minutes_left", Value::Int(input.included_minutes - used)),
            ("covers", Value::Text(super::json(&covers)?)),
            (
                "response",
                Value::Text(
                    input
                        .response
                        .unwrap_or(ResponseWindow::BusinessHours)
                        .as_str()
                        .into(),
                ),
            ),
            ("sla_policy_id", Value::opt_int(input.sla_policy_id)),
            ("rate_card_id", Value::opt_int(input.rate_card_id)),
            ("low_balance_minutes", Value::Int(low)),
        ])
    }
}

/// What a contract covers, checked: the assets and products exist, the
/// categories are lines, and it covers something.
async fn check_covers(conn: &mut AnyConnection, c: &Covers) -> Result<Covers> {
    for (i, id) in c.assets.iter().enumerate() {
        refers_to(
            conn,
            "assets",
            *id,
            &format!("covers.assets[{i}]"),
            "device",
        )
        .await?;
    }
    for (i, id) in c.products.iter().enumerate() {
        refers_to(
            conn,
            "products",
            *id,
            &format!("covers.products[{i}]"),
            "product",
        )
        .await?;
    }
    let mut categories = Vec::new();
    for (i, cat) in c.categories.iter().enumerate() {
        categories.push(values::line(&format!("covers.categories[{i}]"), cat, 100)?);
    }
    if !c.everything && c.assets.is_empty() && c.products.is_empty() && categories.is_empty() {
        return Err(StoreError::invalid(
            "covers",
            "must cover everything or name devices, products or categories",
        ));
    }
    Ok(Covers {
        everything: c.everything,
        assets: c.assets.clone(),
        products: c.products.clone(),
        categories,
    })
}

/// What a customer sees of a contract: its period, what it covers and the
/// balance; never its rates.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContractBalance {
    pub id: i64,
    pub name: String,
    pub kind: ContractKind,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub starts_on: Date,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub ends_on: Date,
    pub included_minutes: i64,
    pub minutes_left: i64,
    pub response: ResponseWindow,
}

impl Store {
    /// The contracts of an organisation with their balances: its own members
    /// (customers) and staff may read them.
    pub async fn organisation_contracts(
        &self,
        actor: &Actor,
        organisation_id: i64,
    ) -> Result<Vec<ContractBalance>> {
        if !actor.is_staff() && actor.organisation_id != Some(organisation_id) {
            return Err(StoreError::NotFound);
        }
        let rows = sqlx::query(&format!(
            "SELECT {CONTRACT_COLUMNS} FROM contracts WHERE organisation_id = $1 ORDER BY ends_on DESC, id"
        ))
        .bind(organisation_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                let c = contract_from_row(r)?;
                Ok(ContractBalance {
                    id: c.id,
                    name: c.name,
                    kind: c.kind,
                    starts_on: c.starts_on,
                    ends_on: c.ends_on,
                    included_minutes: c.included_minutes,
                    minutes_left: c.minutes_left,
                    response: c.response,
                })
            })
            .collect()
    }
}
