//! Rate cards: what paid work costs (hourly rate, on-call surcharge
//! outside the business calendar, call-out fee, billing unit, VAT).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::money::{Rates, VatRate, GENERAL_VAT};
use tuki_domain::values;

use crate::resource::{refers_to, Fields, Resource, Value};
use crate::sql::get_bool;
use crate::time::from_db;
use crate::{Result, StoreError};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateCard {
    pub id: i64,
    pub name: String,
    /// Cents per hour, VAT excluded.
    pub hourly_cents: i64,
    /// Added to the hourly rate outside the calendar's hours, in per cent.
    pub on_call_surcharge_percent: i64,
    /// Charged once per site visit, cents.
    pub call_out_fee_cents: i64,
    /// Time is billed in whole units of this many minutes, rounded up.
    pub minimum_unit_minutes: i64,
    /// VAT of labour in hundredths of a per cent (2550 is 25.5 %).
    pub vat_basis_points: i64,
    /// Business hours; outside them the surcharge applies. Absent: always
    /// open (no surcharge).
    pub calendar_id: Option<i64>,
    /// Paid work is billed at this card unless a contract names another.
    pub is_default: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl RateCard {
    pub fn rates(&self) -> Rates {
        Rates {
            hourly_cents: self.hourly_cents,
            on_call_surcharge_percent: self.on_call_surcharge_percent,
            call_out_fee_cents: self.call_out_fee_cents,
            minimum_unit_minutes: self.minimum_unit_minutes,
        }
    }
}

/// A rate card to create, or the whole new content of one (PUT).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateCardInput {
    pub name: String,
    pub hourly_cents: i64,
    #[serde(default)]
    pub on_call_surcharge_percent: i64,
    #[serde(default)]
    pub call_out_fee_cents: i64,
    /// Defaults to 15.
    #[serde(default)]
    pub minimum_unit_minutes: Option<i64>,
    /// Defaults to 2550 (25.5 %).
    #[serde(default)]
    pub vat_basis_points: Option<i64>,
    #[serde(default)]
    pub calendar_id: Option<i64>,
    #[serde(default)]
    pub is_default: bool,
}

/// Rate cards as an administered resource.
pub struct RateCards;

pub(crate) const RATE_CARD_COLUMNS: &str = "id, name, hourly_cents, on_call_surcharge_percent, \
     call_out_fee_cents, minimum_unit_minutes, vat_basis_points, calendar_id, is_default, \
     created_at, updated_at";

impl Resource for RateCards {
    type Record = RateCard;
    type Input = RateCardInput;
    const NOUN: &'static str = "rate card";
    const MANAGED_AS: &'static str = "manage rate cards";
    const TABLE: &'static str = "rate_cards";
    const COLUMNS: &'static str = RATE_CARD_COLUMNS;
    const ORDER: &'static str = "name, id";
    const IN_USE: &'static str = "is still named by a contract or a ticket";

    fn from_row(r: &AnyRow) -> Result<RateCard> {
        Ok(RateCard {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            hourly_cents: r.try_get("hourly_cents")?,
            on_call_surcharge_percent: r.try_get("on_call_surcharge_percent")?,
            call_out_fee_cents: r.try_get("call_out_fee_cents")?,
            minimum_unit_minutes: r.try_get("minimum_unit_minutes")?,
            vat_basis_points: r.try_get("vat_basis_points")?,
            calendar_id: r.try_get("calendar_id")?,
            is_default: get_bool(r, "is_default")?,
            created_at: from_db(r.try_get("created_at")?),
            updated_at: from_db(r.try_get("updated_at")?),
        })
    }

    /// One card is the default: making this one the default unmarks the
    /// other (in the same transaction).
    async fn check(
        conn: &mut AnyConnection,
        input: &RateCardInput,
        replacing: Option<i64>,
    ) -> Result<Fields> {
        let name = values::line("name", &input.name, 100)?;
        for (field, v) in [
            ("hourly_cents", input.hourly_cents),
            ("on_call_surcharge_percent", input.on_call_surcharge_percent),
            ("call_out_fee_cents", input.call_out_fee_cents),
        ] {
            if !(0..=100_000_000).contains(&v) {
                return Err(StoreError::invalid(
                    field,
                    "must be between 0 and 100000000",
                ));
            }
        }
        let unit = input.minimum_unit_minutes.unwrap_or(15);
        if !(1..=480).contains(&unit) {
            return Err(StoreError::invalid(
                "minimum_unit_minutes",
                "must be between 1 and 480",
            ));
        }
        let vat = match input.vat_basis_points {
            Some(bp) => VatRate::new("vat_basis_points", bp)?,
            None => GENERAL_VAT,
        };
        if let Some(c) = input.calendar_id {
            refers_to(conn, "business_calendars", c, "calendar_id", "calendar").await?;
        }
        if input.is_default {
            sqlx::query("UPDATE rate_cards SET is_default = $1 WHERE id <> $2")
                .bind(false)
                .bind(replacing.unwrap_or(0))
                .execute(&mut *conn)
                .await?;
        }
        Ok(vec![
            ("name", Value::Text(name)),
            ("hourly_cents", Value::Int(input.hourly_cents)),
            (
                "on_call_surcharge_percent",
                Value::Int(input.on_call_surcharge_percent),
            ),
            ("call_out_fee_cents", Value::Int(input.call_out_fee_cents)),
            ("minimum_unit_minutes", Value::Int(unit)),
            ("vat_basis_points", Value::Int(vat.basis_points() as i64)),
            ("calendar_id", Value::opt_int(input.calendar_id)),
            ("is_default", Value::Bool(input.is_default)),
        ])
    }
}
