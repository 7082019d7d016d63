//! Organisations: customer companies and internal departments, with the
//! mail domains that place new users in them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use tuki_domain::access::{Actor, DirectoryAction};
use tuki_domain::directory::OrgKind;
use tuki_domain::values::{self, Domain, Email};

use super::{like_escape, on_duplicate, require};
use crate::sql::{Sql, Value};
use crate::time::{from_db, now, to_db};
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Organisation {
    pub id: i64,
    pub name: String,
    pub kind: OrgKind,
    /// Whether members see each other's tickets in the portal.
    pub shares_tickets: bool,
    /// Mail domains; senders from these domains are placed in this organisation.
    pub domains: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewOrganisation {
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub name: String,
    /// Defaults to `customer`.
    #[serde(default)]
    pub kind: Option<OrgKind>,
    #[serde(default)]
    pub shares_tickets: bool,
    #[serde(default)]
    pub domains: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrganisationPatch {
    pub name: Option<String>,
    pub kind: Option<OrgKind>,
    pub shares_tickets: Option<bool>,
    /// Replaces the whole list.
    pub domains: Option<Vec<String>>,
}

fn parse_domains(domains: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for d in domains {
        let d = Domain::parse("domains", d)?.into_string();
        if !out.contains(&d) {
            out.push(d);
        }
    }
    if out.len() > 50 {
        return Err(StoreError::invalid("domains", "at most 50 domains"));
    }
    Ok(out)
}

fn org_from_row(row: &AnyRow, domains: Vec<String>) -> Result<Organisation> {
    Ok(Organisation {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: OrgKind::parse("kind", &row.try_get::<String, _>("kind")?)?,
        shares_tickets: crate::sql::get_bool(row, "shares_tickets")?,
        domains,
        created_at: from_db(row.try_get("created_at")?),
        updated_at: from_db(row.try_get("updated_at")?),
    })
}

const ORG_COLUMNS: &str = "id, name, kind, shares_tickets, created_at, updated_at";

impl Store {
    pub async fn create_organisation(
        &self,
        actor: &Actor,
        new: NewOrganisation,
    ) -> Result<Organisation> {
        require(actor, DirectoryAction::CreateCustomer)?;
        let name = values::line("name", &new.name, 200)?;
        let domains = parse_domains(&new.domains)?;
        let kind = new.kind.unwrap_or(OrgKind::Customer);
        let at = to_db(now());
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO organisations (name, name_folded, kind, shares_tickets, created_at, updated_at) \
             VALUES ($1, $5, $2, $3, $4, $4) RETURNING id",
        )
        .bind(&name)
        .bind(kind.as_str())
        .bind(new.shares_tickets)
        .bind(at)
        .bind(values::fold(&name))
        .fetch_one(&mut *tx)
        .await
        .map_err(on_duplicate("name", "an organisation with this name exists"))?;
        let id: i64 = row.try_get("id")?;
        insert_domains(&mut tx, id, &domains).await?;
        crate::search::index_organisations(&mut tx, &[id]).await?;
        tx.commit().await?;
        self.organisation(actor, id).await
    }

    pub async fn organisation(&self, actor: &Actor, id: i64) -> Result<Organisation> {
        // Customers may read their own organisation, staff any.
        if !actor.is_staff() && actor.organisation_id != Some(id) {
            return Err(StoreError::NotFound);
        }
        let row = sqlx::query(&format!(
            "SELECT {ORG_COLUMNS} FROM organisations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        let domains = self.organisation_domains(id).await?;
        org_from_row(&row, domains)
    }

    async fn organisation_domains(&self, id: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT domain FROM organisation_domains WHERE organisation_id = $1 ORDER BY domain",
        )
        .bind(id)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("domain"))
            .collect::<std::result::Result<_, _>>()?)
    }

    /// Organisations by name, optionally filtered by a case-insensitive part
    /// of the name, after `after_id`.
    pub async fn organisations(
        &self,
        actor: &Actor,
        q: Option<&str>,
        after_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Organisation>> {
        require(actor, DirectoryAction::Browse)?;
        let mut sql = Sql::new(&format!(
            "SELECT {ORG_COLUMNS} FROM organisations WHERE 1=1"
        ));
        if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
            // PostgreSQL refuses NUL in text: a mistake named `q`, not a 500.
            values::clean_text("q", q, 200)?;
            sql.push(" AND name_folded LIKE ")
                .bind(Value::Text(format!("%{}%", like_escape(&values::fold(q)))));
            sql.push(" ESCAPE '\\'");
        }
        if let Some(after) = after_id {
            sql.push(" AND id > ").bind(Value::Int(after));
        }
        sql.push(" ORDER BY id LIMIT ").bind(Value::Int(limit));
        let rows = sql.query().fetch_all(&self.read).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            out.push(org_from_row(row, self.organisation_domains(id).await?)?);
        }
        Ok(out)
    }

    pub async fn update_organisation(
        &self,
        actor: &Actor,
        id: i64,
        patch: OrganisationPatch,
    ) -> Result<Organisation> {
        require(actor, DirectoryAction::EditCustomer)?;
        let name = patch
            .name
            .as_deref()
            .map(|n| values::line("name", n, 200))
            .transpose()?;
        let domains = patch.domains.as_deref().map(parse_domains).transpose()?;
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE organisations SET name = COALESCE($1, name), name_folded = COALESCE($6, name_folded), \
             kind = COALESCE($2, kind), shares_tickets = COALESCE($3, shares_tickets), updated_at = $4 \
             WHERE id = $5",
        )
        .bind(name.clone())
        .bind(patch.kind.map(|k| k.as_str()))
        .bind(patch.shares_tickets)
        .bind(to_db(now()))
        .bind(id)
        .bind(name.as_deref().map(values::fold))
        .execute(&mut *tx)
        .await
        .map_err(on_duplicate("name", "an organisation with this name exists"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if let Some(domains) = domains {
            sqlx::query("DELETE FROM organisation_domains WHERE organisation_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            insert_domains(&mut tx, id, &domains).await?;
        }
        crate::search::index_organisations(&mut tx, &[id]).await?;
        tx.commit().await?;
        self.organisation(actor, id).await
    }

    /// The organisation whose mail domain matches an address, for placing new
    /// customers.
    pub async fn organisation_for_email(&self, email: &Email) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT organisation_id FROM organisation_domains WHERE domain = $1")
            .bind(email.domain())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(|r| r.try_get("organisation_id")).transpose()?)
    }
}

async fn insert_domains(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    org: i64,
    domains: &[String],
) -> Result<()> {
    for d in domains {
        sqlx::query("INSERT INTO organisation_domains (domain, organisation_id) VALUES ($1, $2)")
            .bind(d)
            .bind(org)
            .execute(&mut **tx)
            .await
            .map_err(on_duplicate(
                "domains",
                &format!("{d} belongs to another organisation"),
            ))?;
    }
    Ok(())
}
