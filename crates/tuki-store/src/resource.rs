//! Administered resources: the configuration administrators list, read,
//! create, replace and delete (business calendars, SLA policies, escalation
//! rules, mailboxes; products, contracts, programmes and exam sites next).
//!
//! A resource says what it is ([`Resource`]: its table, the columns it reads
//! and how a row becomes its record, and how an input is checked into the
//! columns it writes); the store does the rest the same way for all of
//! them: the administrator check, the statements, `created_at` and
//! `updated_at`, a taken name as a 409 naming the field, a row still in use
//! as a 409 instead of a broken reference, and an unknown id as a 404.

use std::future::Future;

use sqlx::any::AnyRow;
use sqlx::AnyConnection;
use tuki_domain::access::Actor;

use crate::error::is_unique_violation;
use crate::sql::Sql;
pub use crate::sql::Value;
use crate::time::to_db;
use crate::{require_admin, Result, Store, StoreError};

/// The columns a write sets and their values.
pub type Fields = Vec<(&'static str, Value)>;

/// A kind of administered configuration.
pub trait Resource: Send + Sync + 'static {
    /// What a read gives.
    type Record: Send + Sync + 'static;
    /// What a create or a replace takes: the whole of it.
    type Input: Send + Sync + 'static;
    /// The resource in messages: "calendar".
    const NOUN: &'static str;
    /// What an administrator does with it, for the refusal of others:
    /// "manage service levels".
    const MANAGED_AS: &'static str;
    const TABLE: &'static str;
    /// The columns [`Resource::from_row`] reads.
    const COLUMNS: &'static str;
    /// How lists are ordered.
    const ORDER: &'static str;
    /// The column whose uniqueness a 409 names, if any.
    const UNIQUE: Option<&'static str> = Some("name");
    /// What a 409 says of a row that something still refers to.
    const IN_USE: &'static str = "is still in use";

    fn from_row(row: &AnyRow) -> Result<Self::Record>;

    /// Checks an input against its rules and what it refers to (errors name
    /// the field) and gives the columns to write. `replacing` is the id of
    /// the row a replace writes over.
    fn check<'a>(
        conn: &'a mut AnyConnection,
        input: &'a Self::Input,
        replacing: Option<i64>,
    ) -> impl Future<Output = Result<Fields>> + Send + 'a;
}

/// Checks that a row an input refers to exists: `Invalid` naming `field`
/// ("no such …") when it does not.
pub(crate) async fn refers_to(
    conn: &mut AnyConnection,
    table: &str,
    id: i64,
    field: &str,
    what: &str,
) -> Result<()> {
    let found = sqlx::query(&format!("SELECT id FROM {table} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::invalid(field, format!("no such {what}"))),
    }
}

/// A write's engine error as the caller's mistake where it is one.
fn refused<R: Resource>(e: sqlx::Error) -> StoreError {
    match (&e, R::UNIQUE) {
        (e, Some(field)) if is_unique_violation(e) => StoreError::conflict(
            Some(field),
            format!("a {} with this {field} exists", R::NOUN),
        ),
        (sqlx::Error::Database(db), _)
            if db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation =>
        {
            StoreError::conflict(None, format!("the {} {}", R::NOUN, R::IN_USE))
        }
        _ => e.into(),
    }
}

impl Store {
    /// Every record of `R`, in its order.
    pub async fn list<R: Resource>(&self, actor: &Actor) -> Result<Vec<R::Record>> {
        require_admin(actor, R::MANAGED_AS)?;
        sqlx::query(&format!(
            "SELECT {} FROM {} ORDER BY {}",
            R::COLUMNS,
            R::TABLE,
            R::ORDER
        ))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(R::from_row)
        .collect()
    }

    /// One record of `R`.
    pub async fn get<R: Resource>(&self, actor: &Actor, id: i64) -> Result<R::Record> {
        require_admin(actor, R::MANAGED_AS)?;
        let row = sqlx::query(&format!(
            "SELECT {} FROM {} WHERE id = $1",
            R::COLUMNS,
            R::TABLE
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        R::from_row(&row)
    }

    /// Creates a record of `R` from a checked input.
    pub async fn create<R: Resource>(&self, actor: &Actor, input: R::Input) -> Result<R::Record> {
        require_admin(actor, R::MANAGED_AS)?;
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        let fields = R::check(&mut tx, &input, None).await?;
        let mut sql = Sql::new(&format!("INSERT INTO {} (", R::TABLE));
        for (name, _) in &fields {
            sql.push(name).push(", ");
        }
        sql.push("created_at, updated_at) VALUES (");
        for (_, value) in fields {
            sql.bind(value).push(", ");
        }
        sql.bind(Value::Int(at)).push(", ").bind(Value::Int(at));
        sql.push(") RETURNING id");
        let row = sql
            .query()
            .fetch_one(&mut *tx)
            .await
            .map_err(refused::<R>)?;
        let id: i64 = sqlx::Row::try_get(&row, "id")?;
        tx.commit().await?;
        self.get::<R>(actor, id).await
    }

    /// Replaces a record of `R` with a checked input.
    pub async fn replace<R: Resource>(
        &self,
        actor: &Actor,
        id: i64,
        input: R::Input,
    ) -> Result<R::Record> {
        require_admin(actor, R::MANAGED_AS)?;
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        let fields = R::check(&mut tx, &input, Some(id)).await?;
        let mut sql = Sql::new(&format!("UPDATE {} SET ", R::TABLE));
        for (name, value) in fields {
            sql.push(name).push(" = ").bind(value).push(", ");
        }
        sql.push("updated_at = ").bind(Value::Int(at));
        sql.push(" WHERE id = ").bind(Value::Int(id));
        let done = sql.query().execute(&mut *tx).await.map_err(refused::<R>)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        self.get::<R>(actor, id).await
    }

    /// Deletes a record of `R` that nothing refers to any more.
    pub async fn delete<R: Resource>(&self, actor: &Actor, id: i64) -> Result<()> {
        require_admin(actor, R::MANAGED_AS)?;
        let done = sqlx::query(&format!("DELETE FROM {} WHERE id = $1", R::TABLE))
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(refused::<R>)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
