//! Products: the models a desk supports, with their default warranty.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::values;

use crate::resource::{Fields, Resource, Value};
use crate::time::from_db;
use crate::{Result, StoreError};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Product {
    pub id: i64,
    /// The model: "WM-800 Silent".
    pub name: String,
    pub manufacturer: String,
    /// "Washing machines": contracts may cover a category.
    pub category: String,
    /// The warranty a purchase gets, in months from the purchase date.
    pub warranty_months: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A product to create, or the whole new content of one (PUT).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductInput {
    pub name: String,
    #[serde(default)]
    pub manufacturer: String,
    #[serde(default)]
    pub category: String,
    /// 0 to 120; 0 when a purchase brings no warranty.
    pub warranty_months: i64,
}

/// Products as an administered resource.
pub struct Products;

impl Resource for Products {
    type Record = Product;
    type Input = ProductInput;
    const NOUN: &'static str = "product";
    const MANAGED_AS: &'static str = "manage products";
    const TABLE: &'static str = "products";
    const COLUMNS: &'static str =
        "id, name, manufacturer, category, warranty_months, created_at, updated_at";
    const ORDER: &'static str = "name, id";
    const IN_USE: &'static str = "still has devices registered";

    fn from_row(r: &AnyRow) -> Result<Product> {
        Ok(Product {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            manufacturer: r.try_get("manufacturer")?,
            category: r.try_get("category")?,
            warranty_months: r.try_get("warranty_months")?,
            created_at: from_db(r.try_get("created_at")?),
            updated_at: from_db(r.try_get("updated_at")?),
        })
    }

    /// A product's new warranty period reaches the devices that take their
    /// warranty from it: their end dates are derived again.
    async fn check(
        conn: &mut AnyConnection,
        input: &ProductInput,
        replacing: Option<i64>,
    ) -> Result<Fields> {
        let name = values::line("name", &input.name, 200)?;
        let manufacturer = optional_line("manufacturer", &input.manufacturer, 200)?;
        let category = optional_line("category", &input.category, 100)?;
        if !(0..=120).contains(&input.warranty_months) {
            return Err(StoreError::invalid(
                "warranty_months",
                "must be between 0 and 120",
            ));
        }
        if let Some(id) = replacing {
            super::assets::derive_warranties_of_product(conn, id, input.warranty_months).await?;
        }
        Ok(vec![
            ("name", Value::Text(name)),
            ("manufacturer", Value::Text(manufacturer)),
            ("category", Value::Text(category)),
            ("warranty_months", Value::Int(input.warranty_months)),
        ])
    }
}

impl crate::Store {
    /// Every product's id and model, for choosing one: customers register
    /// devices with it (no warranty terms or other details).
    pub async fn product_names(&self) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query("SELECT id, name FROM products ORDER BY name, id LIMIT 2000")
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
            .collect()
    }
}

/// A line that may be left empty.
pub(crate) fn optional_line(field: &str, raw: &str, max: usize) -> Result<String> {
    if raw.trim().is_empty() {
        return Ok(String::new());
    }
    Ok(values::line(field, raw, max)?)
}
