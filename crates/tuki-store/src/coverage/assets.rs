//! Assets: the customers' devices, each with its serial number, product,
//! purchase and warranty. Customers register their own (with the receipt);
//! staff see and edit every one, and may override a warranty with a reason.

use jiff::civil::Date;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;
use tuki_domain::coverage::{check_serial, parse_date, serial_key, warranty_end, AssetFacts};
use tuki_domain::values;

use super::contracts::stored_opt_date;
use super::products::optional_line;
use crate::attachments::{clean_file_name, NewAttachment};
use crate::error::is_unique_violation;
use crate::resource::refers_to;
use crate::sql::{Sql, Value};
use crate::time::{from_db, to_db};
use crate::{Result, Store, StoreError};

/// A customer's device.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Asset {
    pub id: i64,
    pub serial: String,
    pub product_id: Option<i64>,
    /// The product's model, for lists.
    pub product_name: Option<String>,
    pub category: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub purchased_on: Option<Date>,
    pub purchased_from: String,
    pub organisation_id: Option<i64>,
    pub owner_id: Option<i64>,
    /// The last day of the warranty: from the product and the purchase date,
    /// or an agent's override.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub warranty_until: Option<Date>,
    /// Why the warranty was overridden; absent when it comes from the product.
    pub warranty_reason: Option<String>,
    /// The proof of purchase, when one was uploaded.
    pub receipt: Option<Receipt>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    pub sha256: String,
    pub file_name: String,
    pub content_type: String,
}

impl Asset {
    pub fn facts(&self) -> AssetFacts {
        AssetFacts {
            id: self.id,
            serial: self.serial.clone(),
            product_id: self.product_id,
            category: self.category.clone(),
            warranty_until: self.warranty_until,
        }
    }
}

/// A device to register, or the whole new content of one (PUT).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssetInput {
    pub serial: String,
    #[serde(default)]
    pub product_id: Option<i64>,
    /// `2026-03-12` or `12.3.2026`.
    #[serde(default)]
    pub purchased_on: Option<String>,
    /// The shop.
    #[serde(default)]
    pub purchased_from: String,
    /// Staff only: customers' devices are their own (and their organisation's).
    #[serde(default)]
    pub organisation_id: Option<i64>,
    /// Staff only.
    #[serde(default)]
    pub owner_id: Option<i64>,
    /// Staff only: a warranty end other than the product's, with
    /// `warranty_reason`.
    #[serde(default)]
    pub warranty_until: Option<String>,
    #[serde(default)]
    pub warranty_reason: Option<String>,
}

const ASSET_COLUMNS: &str = "a.id, a.serial, a.product_id, p.name AS product_name, \
     p.category AS category, a.purchased_on, a.purchased_from, a.organisation_id, a.owner_id, \
     a.warranty_until, a.warranty_reason, a.receipt_sha256, a.receipt_name, a.receipt_type, \
     a.created_at, a.updated_at";
const ASSET_FROM: &str = "assets a LEFT JOIN products p ON p.id = a.product_id";

fn asset_from_row(r: &AnyRow) -> Result<Asset> {
    let receipt = match r.try_get::<Option<String>, _>("receipt_sha256")? {
        None => None,
        Some(sha256) => Some(Receipt {
            sha256,
            file_name: r
                .try_get::<Option<String>, _>("receipt_name")?
                .unwrap_or_default(),
            content_type: r
                .try_get::<Option<String>, _>("receipt_type")?
                .unwrap_or_default(),
        }),
    };
    let category: Option<String> = r.try_get("category")?;
    Ok(Asset {
        id: r.try_get("id")?,
        serial: r.try_get("serial")?,
        product_id: r.try_get("product_id")?,
        product_name: r.try_get("product_name")?,
        category: category.filter(|c| !c.is_empty()),
        purchased_on: stored_opt_date(r, "purchased_on")?,
        purchased_from: r.try_get("purchased_from")?,
        organisation_id: r.try_get("organisation_id")?,
        owner_id: r.try_get("owner_id")?,
        warranty_until: stored_opt_date(r, "warranty_until")?,
        warranty_reason: r.try_get("warranty_reason")?,
        receipt,
        created_at: from_db(r.try_get("created_at")?),
        updated_at: from_db(r.try_get("updated_at")?),
    })
}

/// The SQL form of who may see a device: staff every one, a customer their
/// own and their organisation's.
fn visible_to(sql: &mut Sql, actor: &Actor) {
    if actor.is_staff() {
        sql.push("1 = 1");
        return;
    }
    sql.push("(a.owner_id = ")
        .bind(Value::Int(actor.user_id.unwrap_or(0)));
    if let Some(org) = actor.organisation_id {
        sql.push(" OR a.organisation_id = ").bind(Value::Int(org));
    }
    sql.push(")");
}

pub(crate) async fn load_asset(conn: &mut AnyConnection, actor: &Actor, id: i64) -> Result<Asset> {
    let mut sql = Sql::new(&format!(
        "SELECT {ASSET_COLUMNS} FROM {ASSET_FROM} WHERE a.id = "
    ));
    sql.bind(Value::Int(id)).push(" AND ");
    visible_to(&mut sql, actor);
    let row = sql
        .query()
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    asset_from_row(&row)
}

/// The devices of a requester (their own and their organisation's), for
/// finding a serial number named in a request's text.
pub(crate) async fn assets_of_requester(
    conn: &mut AnyConnection,
    requester_id: i64,
    organisation_id: Option<i64>,
) -> Result<Vec<Asset>> {
    let mut sql = Sql::new(&format!(
        "SELECT {ASSET_COLUMNS} FROM {ASSET_FROM} WHERE a.owner_id = "
    ));
    sql.bind(Value::Int(requester_id));
    if let Some(org) = organisation_id {
        sql.push(" OR a.organisation_id = ").bind(Value::Int(org));
    }
    sql.push(" ORDER BY a.id LIMIT 1000");
    sql.query()
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(asset_from_row)
        .collect()
}

/// Devices by id or by serial key (each through its index), whoever owns
/// them: the caller matches them to requesters.
pub(crate) async fn assets_by(
    conn: &mut AnyConnection,
    ids: &[i64],
    keys: &[String],
) -> Result<Vec<Asset>> {
    let mut out = Vec::new();
    if !ids.is_empty() {
        let mut sql = Sql::new(&format!(
            "SELECT {ASSET_COLUMNS} FROM {ASSET_FROM} WHERE a.id IN "
        ));
        sql.bind_list(ids);
        for r in sql.query().fetch_all(&mut *conn).await? {
            out.push(asset_from_row(&r)?);
        }
    }
    if !keys.is_empty() {
        let mut sql = Sql::new(&format!(
            "SELECT {ASSET_COLUMNS} FROM {ASSET_FROM} WHERE a.serial_key IN ("
        ));
        for (i, k) in keys.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Value::Text(k.clone()));
        }
        sql.push(")");
        for r in sql.query().fetch_all(&mut *conn).await? {
            out.push(asset_from_row(&r)?);
        }
    }
    Ok(out)
}

/// Columns of a checked input.
struct Checked {
    serial: String,
    product_id: Option<i64>,
    purchased_on: Option<Date>,
    purchased_from: String,
    organisation_id: Option<i64>,
    owner_id: Option<i64>,
    warranty_until: Option<Date>,
    warranty_reason: Option<String>,
}

async fn check_input(
    conn: &mut AnyConnection,
    actor: &Actor,
    input: &AssetInput,
) -> Result<Checked> {
    let serial = check_serial("serial", &input.serial)?;
    if let Some(p) = input.product_id {
        refers_to(conn, "products", p, "product_id", "product").await?;
    }
    let purchased_on = match input
        .purchased_on
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        Some(raw) => Some(parse_date("purchased_on", raw)?),
        None => None,
    };
    let purchased_from = optional_line("purchased_from", &input.purchased_from, 200)?;
    let (organisation_id, owner_id) = if actor.is_staff() {
        if let Some(o) = input.organisation_id {
            refers_to(conn, "organisations", o, "organisation_id", "organisation").await?;
        }
        if let Some(u) = input.owner_id {
            refers_to(conn, "users", u, "owner_id", "user").await?;
        }
        (input.organisation_id, input.owner_id)
    } else {
        for (field, given) in [
            (
                "organisation_id",
                input
                    .organisation_id
                    .is_some_and(|o| Some(o) != actor.organisation_id),
            ),
            (
                "owner_id",
                input.owner_id.is_some_and(|o| Some(o) != actor.user_id),
            ),
            ("warranty_until", input.warranty_until.is_some()),
            ("warranty_reason", input.warranty_reason.is_some()),
        ] {
            if given {
                return Err(StoreError::forbidden(format!(
                    "customers cannot set {field}"
                )));
            }
        }
        (actor.organisation_id, actor.user_id)
    };
    let given_end = input
        .warranty_until
        .as_deref()
        .filter(|s| !s.trim().is_empty());
    let (warranty_until, warranty_reason) = match given_end {
        Some(raw) => {
            let until = parse_date("warranty_until", raw)?;
            let reason = input.warranty_reason.as_deref().unwrap_or_default();
            if reason.trim().is_empty() {
                return Err(StoreError::invalid(
                    "warranty_reason",
                    "say why the warranty differs from the product's",
                ));
            }
            (
                Some(until),
                Some(values::line("warranty_reason", reason, 500)?),
            )
        }
        None => {
            let months = match input.product_id {
                Some(p) => sqlx::query("SELECT warranty_months FROM products WHERE id = $1")
                    .bind(p)
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get::<i64, _>("warranty_months")?,
                None => 0,
            };
            let until = purchased_on
                .filter(|_| months > 0)
                .map(|d| warranty_end(d, months as i32));
            (until, None)
        }
    };
    Ok(Checked {
        serial,
        product_id: input.product_id,
        purchased_on,
        purchased_from,
        organisation_id,
        owner_id,
        warranty_until,
        warranty_reason,
    })
}

fn taken(e: sqlx::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::conflict(
            Some("serial"),
            "a device with this serial number is registered",
        )
    } else {
        e.into()
    }
}

/// Devices listed: whose, and a serial number's start (as typed).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AssetFilter {
    /// The start of a serial number, compared without dashes, spaces or case.
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub organisation_id: Option<i64>,
    #[serde(default)]
    pub owner_id: Option<i64>,
    /// The devices a requester may name: their own and their organisation's.
    #[serde(default)]
    pub requester_id: Option<i64>,
    /// At most this many (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<i64>,
}

impl Store {
    /// Registers a device. Customers register their own.
    pub async fn register_asset(&self, actor: &Actor, input: AssetInput) -> Result<Asset> {
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        let c = check_input(&mut tx, actor, &input).await?;
        let id: i64 = sqlx::query(
            "INSERT INTO assets (serial, serial_key, product_id, purchased_on, purchased_from, \
             organisation_id, owner_id, warranty_until, warranty_reason, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
        )
        .bind(&c.serial)
        .bind(serial_key(&c.serial))
        .bind(c.product_id)
        .bind(c.purchased_on.map(|d| d.to_string()))
        .bind(&c.purchased_from)
        .bind(c.organisation_id)
        .bind(c.owner_id)
        .bind(c.warranty_until.map(|d| d.to_string()))
        .bind(&c.warranty_reason)
        .bind(actor.user_id)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(taken)?
        .try_get("id")?;
        let asset = load_asset(&mut tx, actor, id).await?;
        tx.commit().await?;
        Ok(asset)
    }

    /// Replaces a device's details (staff, or the customer who may see it;
    /// customers cannot override the warranty). The coverage of open
    /// requests naming it is decided again.
    pub async fn update_asset(&self, actor: &Actor, id: i64, input: AssetInput) -> Result<Asset> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        load_asset(&mut tx, actor, id).await?;
        let c = check_input(&mut tx, actor, &input).await?;
        sqlx::query(
            "UPDATE assets SET serial = $1, serial_key = $2, product_id = $3, purchased_on = $4, \
             purchased_from = $5, organisation_id = $6, owner_id = $7, warranty_until = $8, \
             warranty_reason = $9, updated_at = $10 WHERE id = $11",
        )
        .bind(&c.serial)
        .bind(serial_key(&c.serial))
        .bind(c.product_id)
        .bind(c.purchased_on.map(|d| d.to_string()))
        .bind(&c.purchased_from)
        .bind(c.organisation_id)
        .bind(c.owner_id)
        .bind(c.warranty_until.map(|d| d.to_string()))
        .bind(&c.warranty_reason)
        .bind(to_db(now))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(taken)?;
        super::decide::redecide_for_asset(&mut tx, id, now).await?;
        let asset = load_asset(&mut tx, actor, id).await?;
        tx.commit().await?;
        Ok(asset)
    }

    /// One device the caller may see.
    pub async fn asset(&self, actor: &Actor, id: i64) -> Result<Asset> {
        let mut conn = self.read.acquire().await?;
        load_asset(&mut conn, actor, id).await
    }

    /// Devices the caller may see, newest first.
    pub async fn assets(&self, actor: &Actor, filter: &AssetFilter) -> Result<Vec<Asset>> {
        let mut sql = Sql::new(&format!("SELECT {ASSET_COLUMNS} FROM {ASSET_FROM} WHERE "));
        visible_to(&mut sql, actor);
        if let Some(s) = filter
            .serial
            .as_deref()
            .map(serial_key)
            .filter(|k| !k.is_empty())
        {
            // The key holds letters and digits only: no LIKE wildcards.
            sql.push(" AND a.serial_key LIKE ")
                .bind(Value::Text(format!("{s}%")));
        }
        if let Some(o) = filter.organisation_id {
            sql.push(" AND a.organisation_id = ").bind(Value::Int(o));
        }
        if let Some(o) = filter.owner_id {
            sql.push(" AND a.owner_id = ").bind(Value::Int(o));
        }
        if let Some(r) = filter.requester_id {
            let org: Option<i64> = sqlx::query("SELECT organisation_id FROM users WHERE id = $1")
                .bind(r)
                .fetch_optional(&self.read)
                .await?
                .ok_or_else(|| StoreError::invalid("requester_id", "no such user"))?
                .try_get("organisation_id")?;
            sql.push(" AND (a.owner_id = ").bind(Value::Int(r));
            if let Some(org) = org {
                sql.push(" OR a.organisation_id = ").bind(Value::Int(org));
            }
            sql.push(")");
        }
        let limit = filter.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(StoreError::invalid("limit", "must be between 1 and 500"));
        }
        sql.push(&format!(" ORDER BY a.id DESC LIMIT {limit}"));
        sql.query()
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(asset_from_row)
            .collect()
    }

    /// Keeps an uploaded file as a device's proof of purchase (replacing an
    /// earlier one).
    pub async fn set_asset_receipt(
        &self,
        actor: &Actor,
        id: i64,
        file: NewAttachment,
    ) -> Result<Asset> {
        let name = clean_file_name(&file.file_name);
        let mut tx = self.begin_write().await?;
        load_asset(&mut tx, actor, id).await?;
        sqlx::query(
            "UPDATE assets SET receipt_sha256 = $1, receipt_name = $2, receipt_type = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(&file.sha256)
        .bind(&name)
        .bind(&file.content_type)
        .bind(to_db(self.now()))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let asset = load_asset(&mut tx, actor, id).await?;
        tx.commit().await?;
        Ok(asset)
    }
}

/// A product's warranty changed: the devices that take theirs from it get
/// their end dates derived again (overridden ones keep theirs).
pub(crate) async fn derive_warranties_of_product(
    conn: &mut AnyConnection,
    product_id: i64,
    months: i64,
) -> Result<()> {
    let rows = sqlx::query(
        "SELECT id, purchased_on FROM assets WHERE product_id = $1 AND warranty_reason IS NULL AND purchased_on IS NOT NULL",
    )
    .bind(product_id)
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let id: i64 = r.try_get("id")?;
        let until = stored_opt_date(&r, "purchased_on")?
            .filter(|_| months > 0)
            .map(|d| warranty_end(d, months as i32).to_string());
        sqlx::query("UPDATE assets SET warranty_until = $1 WHERE id = $2")
            .bind(until)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
