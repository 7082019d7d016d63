//! Importing products, devices and contracts from a spreadsheet's CSV file
//! (read by the domain's `import::read_table`). Every row is checked first
//! and every mistake reported with its row, column and reason; nothing is
//! written when any row is wrong, unless the caller asks to import the good
//! rows only (`skip_bad`). Devices, of which a customer base has many, are
//! written 40 to a statement in one transaction.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;
use tuki_domain::coverage::{
    check_serial, parse_date, serial_key, warranty_end, ContractKind, Covers,
};
use tuki_domain::import::{read_table, RowError, Table};

use super::contracts::{ContractInput, Contracts};
use super::products::{ProductInput, Products};
use crate::resource::{Fields, Resource};
use crate::sql::{Sql, Value};
use crate::time::to_db;
use crate::{require_admin, Result, Store, StoreError};

tuki_domain::string_enum! {
    /// What a file holds.
    ImportKind { Products = "products", Assets = "assets", Contracts = "contracts" }
}

/// What an import did, or would do.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReport {
    pub kind: ImportKind,
    pub encoding: String,
    /// Rows read (empty rows left out).
    pub rows: usize,
    /// Rows written: 0 when a row was wrong and `skip_bad` was not asked.
    pub imported: usize,
    pub errors: Vec<RowError>,
}

/// Rows per lookup statement.
const BATCH: usize = 500;
/// Rows per insert: sqlx binds SQLite parameters by name, at a cost that
/// grows with the square of their number in a statement (500 rows of 12
/// columns took 60 ms a statement, 40 rows 1 ms).
const WRITE_BATCH: usize = 40;

fn cell(cells: &[String], col: Option<usize>) -> &str {
    col.and_then(|c| cells.get(c))
        .map(String::as_str)
        .unwrap_or("")
        .trim()
}

fn err(row: usize, t: &Table, col: Option<usize>, message: impl Into<String>) -> RowError {
    RowError {
        row,
        column: col
            .and_then(|c| t.headers.get(c))
            .cloned()
            .unwrap_or_default(),
        message: message.into(),
    }
}

/// A store error of a checked row as the row's mistake, its field mapped
/// to the file's column.
fn row_error(
    row: usize,
    t: &Table,
    columns: &[(&str, Option<usize>)],
    e: StoreError,
) -> Result<RowError> {
    match e {
        StoreError::Invalid(v) => {
            let field = v.field.split(['.', '[']).next().unwrap_or("").to_string();
            let col = columns
                .iter()
                .find(|(f, _)| *f == field)
                .and_then(|(_, c)| *c);
            Ok(err(row, t, col, v.message))
        }
        StoreError::Conflict { field, message } => {
            let col = columns
                .iter()
                .find(|(f, _)| Some(*f) == field.as_deref())
                .and_then(|(_, c)| *c);
            Ok(err(row, t, col, message))
        }
        other => Err(other),
    }
}

async fn insert_fields(
    conn: &mut AnyConnection,
    table: &str,
    fields: Fields,
    at: i64,
) -> Result<()> {
    let mut sql = Sql::new(&format!("INSERT INTO {table} ("));
    for (name, _) in &fields {
        sql.push(name).push(", ");
    }
    sql.push("created_at, updated_at) VALUES (");
    for (_, value) in fields {
        sql.bind(value).push(", ");
    }
    sql.bind(Value::Int(at))
        .push(", ")
        .bind(Value::Int(at))
        .push(")");
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

impl Store {
    /// Imports a CSV file of `kind` (administrators). `progress` hears
    /// (rows done, rows in all) as rows are checked and written.
    pub async fn import_csv(
        &self,
        actor: &Actor,
        kind: ImportKind,
        bytes: &[u8],
        skip_bad: bool,
        mut progress: impl FnMut(usize, usize) + Send,
    ) -> Result<ImportReport> {
        require_admin(actor, "import products, devices and contracts")?;
        let table = match read_table(bytes) {
            Ok(t) => t,
            Err(e) => {
                return Ok(ImportReport {
                    kind,
                    encoding: String::new(),
                    rows: 0,
                    imported: 0,
                    errors: vec![e],
                });
            }
        };
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        let (imported, errors) = match kind {
            ImportKind::Assets => {
                import_assets(&mut tx, &table, skip_bad, at, actor.user_id, &mut progress).await?
            }
            ImportKind::Products => {
                import_products(&mut tx, &table, skip_bad, at, &mut progress).await?
            }
            ImportKind::Contracts => {
                import_contracts(&mut tx, &table, skip_bad, at, &mut progress).await?
            }
        };
        if imported > 0 {
            tx.commit().await?;
        }
        Ok(ImportReport {
            kind,
            encoding: table.encoding.to_string(),
            rows: table.rows.len(),
            imported,
            errors,
        })
    }
}

/// Products: name, manufacturer, category, warranty in months.
async fn import_products(
    tx: &mut AnyConnection,
    t: &Table,
    skip_bad: bool,
    at: i64,
    progress: &mut (impl FnMut(usize, usize) + Send),
) -> Result<(usize, Vec<RowError>)> {
    let name = t.column(&["name", "model", "nimi", "malli", "tuote"]);
    let maker = t.column(&["manufacturer", "valmistaja"]);
    let category = t.column(&["category", "luokka"]);
    let months = t.column(&["warranty_months", "warranty", "takuu_kk", "takuu"]);
    let columns = [
        ("name", name),
        ("manufacturer", maker),
        ("category", category),
        ("warranty_months", months),
    ];
    let mut errors = Vec::new();
    let mut good = Vec::new();
    let mut seen = HashSet::new();
    for (i, (row, cells)) in t.rows.iter().enumerate() {
        let m = cell(cells, months);
        let Ok(warranty_months) = (if m.is_empty() {
            Ok(0)
        } else {
            m.parse::<i64>()
        }) else {
            errors.push(err(*row, t, months, "must be a whole number of months"));
            continue;
        };
        let input = ProductInput {
            name: cell(cells, name).to_string(),
            manufacturer: cell(cells, maker).to_string(),
            category: cell(cells, category).to_string(),
            warranty_months,
        };
        if !seen.insert(input.name.to_lowercase()) {
            errors.push(err(*row, t, name, "the same product is on an earlier row"));
            continue;
        }
        match Products::check(tx, &input, None).await {
            Ok(fields) => good.push((*row, fields)),
            Err(e) => errors.push(row_error(*row, t, &columns, e)?),
        }
        progress(i + 1, t.rows.len());
    }
    let existing: HashSet<String> = sqlx::query("SELECT name FROM products")
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("name").map(|n| n.to_lowercase()))
        .collect::<std::result::Result<_, _>>()?;
    good.retain(|(row, fields)| {
        let taken = matches!(&fields[0].1, Value::Text(n) if existing.contains(&n.to_lowercase()));
        if taken {
            errors.push(err(*row, t, name, "a product with this name exists"));
        }
        !taken
    });
    finish(tx, "products", good, errors, skip_bad, at).await
}

/// Contracts: name, organisation (by name), kind, period, hours, categories.
async fn import_contracts(
    tx: &mut AnyConnection,
    t: &Table,
    skip_bad: bool,
    at: i64,
    progress: &mut (impl FnMut(usize, usize) + Send),
) -> Result<(usize, Vec<RowError>)> {
    let name = t.column(&["name", "nimi", "sopimus"]);
    let org = t.column(&["organisation", "organization", "organisaatio", "asiakas"]);
    let kind = t.column(&["kind", "tyyppi", "laji"]);
    let starts = t.column(&["starts_on", "start", "alkaa"]);
    let ends = t.column(&["ends_on", "end", "päättyy"]);
    let hours = t.column(&["hours", "tunnit"]);
    let categories = t.column(&["categories", "luokat"]);
    let columns = [
        ("name", name),
        ("organisation_id", org),
        ("kind", kind),
        ("starts_on", starts),
        ("ends_on", ends),
        ("included_minutes", hours),
        ("covers", categories),
    ];
    let orgs = organisations(tx).await?;
    let mut errors = Vec::new();
    let mut good = Vec::new();
    for (i, (row, cells)) in t.rows.iter().enumerate() {
        progress(i + 1, t.rows.len());
        let Some(organisation_id) = orgs.get(&cell(cells, org).to_lowercase()).copied() else {
            errors.push(err(*row, t, org, "no such organisation"));
            continue;
        };
        let kind_text = cell(cells, kind).to_lowercase();
        let kind_value = match kind_text.as_str() {
            "hour_bank" | "tuntipankki" | "" => ContractKind::HourBank,
            "subscription" | "palvelusopimus" => ContractKind::Subscription,
            _ => {
                errors.push(err(
                    *row,
                    t,
                    kind,
                    "must be hour_bank (tuntipankki) or subscription (palvelusopimus)",
                ));
                continue;
            }
        };
        let Some(minutes) = tuki_domain::money::parse_decimal(cell(cells, hours), 2)
            .map(|h| h * 60 / 100)
            .or(cell(cells, hours).is_empty().then_some(0))
        else {
            errors.push(err(*row, t, hours, "must be a number of hours such as 7,5"));
            continue;
        };
        let cats: Vec<String> = cell(cells, categories)
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect();
        let input = ContractInput {
            name: cell(cells, name).to_string(),
            organisation_id,
            kind: kind_value,
            starts_on: cell(cells, starts).to_string(),
            ends_on: cell(cells, ends).to_string(),
            included_minutes: minutes,
            covers: Covers {
                everything: cats.is_empty(),
                categories: cats,
                ..Covers::default()
            },
            response: None,
            sla_policy_id: None,
            rate_card_id: None,
            low_balance_minutes: None,
        };
        match Contracts::check(tx, &input, None).await {
            Ok(fields) => good.push((*row, fields)),
            Err(e) => errors.push(row_error(*row, t, &columns, e)?),
        }
    }
    finish(tx, "contracts", good, errors, skip_bad, at).await
}

/// Writes the good rows unless a row was wrong and the caller did not ask
/// for the good ones only.
async fn finish(
    tx: &mut AnyConnection,
    table: &str,
    good: Vec<(usize, Fields)>,
    mut errors: Vec<RowError>,
    skip_bad: bool,
    at: i64,
) -> Result<(usize, Vec<RowError>)> {
    errors.sort_by_key(|e| e.row);
    if !errors.is_empty() && !skip_bad {
        return Ok((0, errors));
    }
    let n = good.len();
    for (_, fields) in good {
        insert_fields(tx, table, fields, at).await?;
    }
    Ok((n, errors))
}

async fn organisations(tx: &mut AnyConnection) -> Result<HashMap<String, i64>> {
    sqlx::query("SELECT id, name FROM organisations")
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>("name")?.to_lowercase(),
                r.try_get("id")?,
            ))
        })
        .collect()
}

/// One device row, checked.
struct NewAsset {
    serial: String,
    key: String,
    product_id: Option<i64>,
    purchased_on: Option<String>,
    purchased_from: String,
    organisation_id: Option<i64>,
    owner_id: Option<i64>,
    warranty_until: Option<String>,
    warranty_reason: Option<String>,
}

/// Where a device file's columns are, by their headers in English or
/// Finnish.
struct AssetColumns {
    serial: Option<usize>,
    product: Option<usize>,
    purchased: Option<usize>,
    shop: Option<usize>,
    org: Option<usize>,
    owner: Option<usize>,
    until: Option<usize>,
    reason: Option<usize>,
}

impl AssetColumns {
    fn of(t: &Table) -> AssetColumns {
        AssetColumns {
            serial: t.column(&["serial", "serial_number", "sarjanumero"]),
            product: t.column(&["product", "model", "tuote", "malli"]),
            purchased: t.column(&["purchased_on", "purchase_date", "ostopäivä"]),
            shop: t.column(&["purchased_from", "shop", "myyjä", "ostopaikka"]),
            org: t.column(&["organisation", "organization", "organisaatio", "asiakas"]),
            owner: t.column(&["owner", "owner_email", "omistaja", "sähköposti"]),
            until: t.column(&["warranty_until", "takuu_päättyy"]),
            reason: t.column(&["warranty_reason", "takuun_peruste"]),
        }
    }
}

/// What device rows name, read once: products (id, warranty months) and
/// organisations by lower-case name, people by lower-case email.
struct Lookups {
    products: HashMap<String, (i64, i64)>,
    orgs: HashMap<String, i64>,
    users: HashMap<String, i64>,
}

impl Lookups {
    async fn read(tx: &mut AnyConnection, with_people: bool) -> Result<Lookups> {
        let products = sqlx::query("SELECT id, name, warranty_months FROM products")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| {
                let key = r.try_get::<String, _>("name")?.to_lowercase();
                Ok((key, (r.try_get("id")?, r.try_get("warranty_months")?)))
            })
            .collect::<Result<_>>()?;
        let users = if with_people {
            sqlx::query("SELECT id, email FROM users")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get::<String, _>("email")?.to_lowercase(),
                        r.try_get("id")?,
                    ))
                })
                .collect::<Result<_>>()?
        } else {
            HashMap::new()
        };
        Ok(Lookups {
            products,
            orgs: organisations(tx).await?,
            users,
        })
    }
}

/// A value named in a cell, found in `map`; empty cells are `None`.
fn named<T: Copy>(
    t: &Table,
    row: usize,
    cells: &[String],
    col: Option<usize>,
    map: &HashMap<String, T>,
    missing: &str,
) -> std::result::Result<Option<T>, RowError> {
    let text = cell(cells, col);
    if text.is_empty() {
        return Ok(None);
    }
    map.get(&text.to_lowercase())
        .copied()
        .map(Some)
        .ok_or_else(|| err(row, t, col, missing))
}

/// Checks one device row (not yet against the serials already registered).
fn check_asset(
    t: &Table,
    c: &AssetColumns,
    l: &Lookups,
    row: usize,
    cells: &[String],
) -> std::result::Result<NewAsset, RowError> {
    let serial = check_serial("serial", cell(cells, c.serial))
        .map_err(|e| err(row, t, c.serial, e.message))?;
    let product = named(t, row, cells, c.product, &l.products, "no such product")?;
    let bought = cell(cells, c.purchased);
    let purchased_on = if bought.is_empty() {
        None
    } else {
        Some(parse_date("purchased_on", bought).map_err(|e| err(row, t, c.purchased, e.message))?)
    };
    let organisation_id = named(t, row, cells, c.org, &l.orgs, "no such organisation")?;
    let owner_id = named(t, row, cells, c.owner, &l.users, "no such person")?;
    let given = cell(cells, c.until);
    let (warranty_until, warranty_reason) = if given.is_empty() {
        let months = product.map(|p| p.1).unwrap_or(0);
        let until = purchased_on
            .filter(|_| months > 0)
            .map(|d| warranty_end(d, months as i32).to_string());
        (until, None)
    } else {
        let d = parse_date("warranty_until", given).map_err(|e| err(row, t, c.until, e.message))?;
        let why = cell(cells, c.reason);
        if why.is_empty() {
            return Err(err(
                row,
                t,
                c.reason.or(c.until),
                "say why the warranty differs from the product's",
            ));
        }
        (Some(d.to_string()), Some(why.to_string()))
    };
    Ok(NewAsset {
        key: serial_key(&serial),
        serial,
        product_id: product.map(|p| p.0),
        purchased_on: purchased_on.map(|d| d.to_string()),
        purchased_from: cell(cells, c.shop).to_string(),
        organisation_id,
        owner_id,
        warranty_until,
        warranty_reason,
    })
}

/// The serial keys of `good` already registered, looked up a batch at a
/// time through their unique index.
async fn registered(tx: &mut AnyConnection, good: &[(usize, NewAsset)]) -> Result<HashSet<String>> {
    let mut taken = HashSet::new();
    for chunk in good.chunks(BATCH) {
        let mut sql = Sql::new("SELECT serial_key FROM assets WHERE serial_key IN (");
        for (i, (_, a)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Value::Text(a.key.clone()));
        }
        sql.push(")");
        for r in sql.query().fetch_all(&mut *tx).await? {
            taken.insert(r.try_get::<String, _>("serial_key")?);
        }
    }
    Ok(taken)
}

/// Writes checked devices, [`WRITE_BATCH`] to a statement.
async fn write_assets(
    tx: &mut AnyConnection,
    good: &[(usize, NewAsset)],
    at: i64,
    created_by: Option<i64>,
    progress: &mut (impl FnMut(usize, usize) + Send),
) -> Result<usize> {
    let total = good.len();
    let mut written = 0;
    for chunk in good.chunks(WRITE_BATCH) {
        let mut sql = Sql::new(
            "INSERT INTO assets (serial, serial_key, product_id, purchased_on, purchased_from, organisation_id, \
             owner_id, warranty_until, warranty_reason, created_by, created_at, updated_at) VALUES ",
        );
        for (i, (_, a)) in chunk.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" });
            let values = [
                Value::Text(a.serial.clone()),
                Value::Text(a.key.clone()),
                Value::opt_int(a.product_id),
                Value::opt_text(a.purchased_on.clone()),
                Value::Text(a.purchased_from.clone()),
                Value::opt_int(a.organisation_id),
                Value::opt_int(a.owner_id),
                Value::opt_text(a.warranty_until.clone()),
                Value::opt_text(a.warranty_reason.clone()),
                Value::opt_int(created_by),
                Value::Int(at),
                Value::Int(at),
            ];
            for (j, v) in values.into_iter().enumerate() {
                if j > 0 {
                    sql.push(", ");
                }
                sql.bind(v);
            }
            sql.push(")");
        }
        sql.query().execute(&mut *tx).await?;
        written += chunk.len();
        progress(written, total);
    }
    Ok(written)
}

/// Devices: serial, product (by name), purchase date and shop,
/// organisation (by name), owner (by email), and a warranty end with its
/// reason where it differs from the product's.
async fn import_assets(
    tx: &mut AnyConnection,
    t: &Table,
    skip_bad: bool,
    at: i64,
    created_by: Option<i64>,
    progress: &mut (impl FnMut(usize, usize) + Send),
) -> Result<(usize, Vec<RowError>)> {
    let columns = AssetColumns::of(t);
    if columns.serial.is_none() {
        let message = "no serial number column (serial or sarjanumero)".into();
        return Ok((
            0,
            vec![RowError {
                row: 1,
                column: String::new(),
                message,
            }],
        ));
    }
    let lookups = Lookups::read(tx, columns.owner.is_some()).await?;
    let total = t.rows.len();
    let phase = std::time::Instant::now();
    let mut errors = Vec::new();
    let mut good: Vec<(usize, NewAsset)> = Vec::with_capacity(total);
    let mut in_file: HashMap<String, usize> = HashMap::with_capacity(total);
    for (i, (row, cells)) in t.rows.iter().enumerate() {
        if i % 1000 == 0 {
            progress(i, total);
        }
        match check_asset(t, &columns, &lookups, *row, cells) {
            Err(e) => errors.push(e),
            Ok(a) => match in_file.insert(a.key.clone(), *row) {
                Some(first) => {
                    let message = format!("the same serial number is on row {first}");
                    errors.push(err(*row, t, columns.serial, message));
                }
                None => good.push((*row, a)),
            },
        }
    }
    tracing::debug!(
        rows = total,
        ms = phase.elapsed().as_millis() as u64,
        "import: rows checked"
    );
    let taken = registered(tx, &good).await?;
    good.retain(|(row, a)| {
        let exists = taken.contains(&a.key);
        if exists {
            errors.push(err(
                *row,
                t,
                columns.serial,
                "a device with this serial number is registered",
            ));
        }
        !exists
    });
    errors.sort_by_key(|e| e.row);
    if !errors.is_empty() && !skip_bad {
        progress(total, total);
        return Ok((0, errors));
    }
    let phase = std::time::Instant::now();
    let written = write_assets(tx, &good, at, created_by, progress).await?;
    tracing::debug!(
        ms = phase.elapsed().as_millis() as u64,
        "import: rows written"
    );
    Ok((written, errors))
}
