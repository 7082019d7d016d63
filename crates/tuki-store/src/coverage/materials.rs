//! Materials and parts: a catalogue (administered resource) and what was
//! used on tickets, its price and VAT copied from the catalogue when used.

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::{Actor, TicketAction};
use tuki_domain::money::{parse_decimal, VatRate, GENERAL_VAT};
use tuki_domain::values;

use crate::resource::{Fields, Resource, Value};
use crate::sql::get_bool;
use crate::tickets::load_for;
use crate::time::{from_db, to_db};
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Material {
    pub id: i64,
    pub name: String,
    /// "kpl", "m", "l"…
    pub unit: String,
    /// Per unit, VAT excluded.
    pub unit_price_cents: i64,
    /// In hundredths of a per cent (2550 is 25.5 %).
    pub vat_basis_points: i64,
    /// Offered when booking; old ones stay on the tickets that used them.
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MaterialInput {
    pub name: String,
    pub unit: String,
    pub unit_price_cents: i64,
    /// Defaults to 2550 (Finland's general rate, 25.5 %).
    #[serde(default)]
    pub vat_basis_points: Option<i64>,
    /// Defaults to true.
    #[serde(default)]
    pub active: Option<bool>,
}

/// The materials catalogue as an administered resource.
pub struct Materials;

impl Resource for Materials {
    type Record = Material;
    type Input = MaterialInput;
    const NOUN: &'static str = "material";
    const MANAGED_AS: &'static str = "manage rate cards";
    const TABLE: &'static str = "materials";
    const COLUMNS: &'static str =
        "id, name, unit, unit_price_cents, vat_basis_points, active, created_at, updated_at";
    const ORDER: &'static str = "name, id";
    const IN_USE: &'static str = "has been used on tickets (make it inactive instead)";

    fn from_row(r: &AnyRow) -> Result<Material> {
        Ok(Material {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            unit: r.try_get("unit")?,
            unit_price_cents: r.try_get("unit_price_cents")?,
            vat_basis_points: r.try_get("vat_basis_points")?,
            active: get_bool(r, "active")?,
            created_at: from_db(r.try_get("created_at")?),
            updated_at: from_db(r.try_get("updated_at")?),
        })
    }

    async fn check(_: &mut AnyConnection, input: &MaterialInput, _: Option<i64>) -> Result<Fields> {
        let name = values::line("name", &input.name, 200)?;
        let unit = values::line("unit", &input.unit, 20)?;
        if !(0..=100_000_000).contains(&input.unit_price_cents) {
            return Err(StoreError::invalid(
                "unit_price_cents",
                "must be between 0 and 100000000",
            ));
        }
        let vat = match input.vat_basis_points {
            Some(bp) => VatRate::new("vat_basis_points", bp)?,
            None => GENERAL_VAT,
        };
        Ok(vec![
            ("name", Value::Text(name)),
            ("unit", Value::Text(unit)),
            ("unit_price_cents", Value::Int(input.unit_price_cents)),
            ("vat_basis_points", Value::Int(vat.basis_points() as i64)),
            ("active", Value::Bool(input.active.unwrap_or(true))),
        ])
    }
}

/// A quantity given as a JSON number or a string ("1,5"), in thousandths.
fn quantity_milli<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        other => other.to_string(),
    })
}

/// Material used on a ticket.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MaterialUseInput {
    pub material_id: i64,
    /// How much, in the material's unit: `2`, `1.5` or `"0,25"` (up to three
    /// decimals).
    #[serde(deserialize_with = "quantity_milli")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub quantity: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MaterialUse {
    pub id: i64,
    pub ticket_id: i64,
    pub material_id: i64,
    pub name: String,
    pub unit: String,
    pub user_id: i64,
    pub used_at: Timestamp,
    /// Thousandths of the unit.
    pub quantity_milli: i64,
    pub unit_price_cents: i64,
    pub vat_basis_points: i64,
    pub note: String,
    /// The invoiced statement it is on (then it cannot be changed).
    pub statement_id: Option<i64>,
}

const USE_COLUMNS: &str =
    "u.id, u.ticket_id, u.material_id, m.name, m.unit, u.user_id, u.used_at, \
     u.quantity_milli, u.unit_price_cents, u.vat_basis_points, u.note, u.statement_id";

fn use_from_row(r: &AnyRow) -> Result<MaterialUse> {
    Ok(MaterialUse {
        id: r.try_get("id")?,
        ticket_id: r.try_get("ticket_id")?,
        material_id: r.try_get("material_id")?,
        name: r.try_get("name")?,
        unit: r.try_get("unit")?,
        user_id: r.try_get("user_id")?,
        used_at: from_db(r.try_get("used_at")?),
        quantity_milli: r.try_get("quantity_milli")?,
        unit_price_cents: r.try_get("unit_price_cents")?,
        vat_basis_points: r.try_get("vat_basis_points")?,
        note: r.try_get("note")?,
        statement_id: r.try_get("statement_id")?,
    })
}

impl Store {
    /// The active catalogue, for staff choosing what they used.
    pub async fn material_choices(&self, actor: &Actor) -> Result<Vec<Material>> {
        if !actor.is_staff() {
            return Err(StoreError::forbidden("only staff record materials"));
        }
        sqlx::query(&format!(
            "SELECT {} FROM materials WHERE active = $1 ORDER BY name, id LIMIT 2000",
            Materials::COLUMNS
        ))
        .bind(true)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(Materials::from_row)
        .collect()
    }

    /// Records material used on a ticket (staff who may edit it).
    pub async fn use_material(
        &self,
        actor: &Actor,
        ticket_id: i64,
        input: MaterialUseInput,
    ) -> Result<MaterialUse> {
        if !actor.is_staff() {
            return Err(StoreError::forbidden("only staff record materials"));
        }
        let user_id = actor
            .user_id
            .ok_or_else(|| StoreError::forbidden("materials are recorded by a person"))?;
        let quantity = parse_decimal(&input.quantity, 3)
            .filter(|q| (1..=1_000_000_000).contains(q))
            .ok_or_else(|| {
                StoreError::invalid("quantity", "must be a positive amount such as 2 or 1,5")
            })?;
        let note = if input.note.trim().is_empty() {
            String::new()
        } else {
            values::line("note", &input.note, 500)?
        };
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let t = load_for(&mut tx, actor, ticket_id, TicketAction::Edit).await?;
        super::statements::refuse_invoiced_day(&mut tx, t.organisation_id, now, "quantity").await?;
        let m = sqlx::query("SELECT unit_price_cents, vat_basis_points FROM materials WHERE id = $1 AND active = $2")
            .bind(input.material_id)
            .bind(true)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::invalid("material_id", "no such material in the catalogue"))?;
        let id: i64 = sqlx::query(
            "INSERT INTO material_uses (ticket_id, material_id, user_id, used_at, quantity_milli, unit_price_cents, \
             vat_basis_points, note, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $4) RETURNING id",
        )
        .bind(ticket_id)
        .bind(input.material_id)
        .bind(user_id)
        .bind(to_db(now))
        .bind(quantity)
        .bind(m.try_get::<i64, _>("unit_price_cents")?)
        .bind(m.try_get::<i64, _>("vat_basis_points")?)
        .bind(&note)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let row = sqlx::query(&format!(
            "SELECT {USE_COLUMNS} FROM material_uses u JOIN materials m ON m.id = u.material_id WHERE u.id = $1"
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        use_from_row(&row)
    }

    /// What was used on a ticket (staff), oldest first.
    pub async fn material_uses(&self, actor: &Actor, ticket_id: i64) -> Result<Vec<MaterialUse>> {
        if !actor.is_staff() {
            return Err(StoreError::forbidden("only staff read materials used"));
        }
        let mut conn = self.read.acquire().await?;
        load_for(&mut conn, actor, ticket_id, TicketAction::View).await?;
        sqlx::query(&format!(
            "SELECT {USE_COLUMNS} FROM material_uses u JOIN materials m ON m.id = u.material_id \
             WHERE u.ticket_id = $1 ORDER BY u.used_at, u.id"
        ))
        .bind(ticket_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(use_from_row)
        .collect()
    }

    /// Removes a use, unless it is on an invoiced statement.
    pub async fn delete_material_use(
        &self,
        actor: &Actor,
        ticket_id: i64,
        use_id: i64,
    ) -> Result<()> {
        if !actor.is_staff() {
            return Err(StoreError::forbidden("only staff change materials used"));
        }
        let mut tx = self.begin_write().await?;
        load_for(&mut tx, actor, ticket_id, TicketAction::Edit).await?;
        let row =
            sqlx::query("SELECT statement_id FROM material_uses WHERE id = $1 AND ticket_id = $2")
                .bind(use_id)
                .bind(ticket_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
        super::statements::refuse_locked(row.try_get("statement_id")?)?;
        sqlx::query("DELETE FROM material_uses WHERE id = $1")
            .bind(use_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
