//! The directory: organisations (customer companies and internal
//! departments), users and support groups with their tiers and members.

mod groups;
mod organisations;
mod users;

use std::collections::HashMap;

use serde::Deserialize;
use sqlx::Row;
use tuki_domain::access::{decide_directory, Actor, Decision, DirectoryAction};
use tuki_domain::directory::Role;

use crate::error::is_unique_violation;
use crate::sql::Sql;
use crate::{Result, Store, StoreError};

pub use groups::{Group, GroupMember, GroupPatch, NewGroup};
pub use organisations::{NewOrganisation, Organisation, OrganisationPatch};
pub use users::{NewUser, User, UserFilter, UserPatch};

/// Reads a JSON field that may be absent (leave as is), `null` (clear) or a value (set).
pub fn double_option<'de, T, D>(de: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

pub(crate) fn require(actor: &Actor, action: DirectoryAction) -> Result<()> {
    match decide_directory(actor, action) {
        Decision::Allow => Ok(()),
        _ => Err(StoreError::forbidden("your role may not do this")),
    }
}

fn on_duplicate<'a>(
    field: &'a str,
    message: &'a str,
) -> impl FnOnce(sqlx::Error) -> StoreError + 'a {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::conflict(Some(field), message)
        } else {
            e.into()
        }
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Store {
    /// How many active administrators exist; `tuki serve` tells how to create
    /// the first one when there are none.
    pub async fn count_admins(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND active")
            .fetch_one(&self.read)
            .await?;
        Ok(row.try_get("n")?)
    }
}

impl Store {
    /// Display names (and roles) of users, for showing ids on pages. Only
    /// names and roles: nothing a customer should not see on their ticket.
    pub async fn user_names(&self, ids: &[i64]) -> Result<HashMap<i64, (String, Role)>> {
        let mut out = HashMap::new();
        let mut ids: Vec<i64> = ids.to_vec();
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return Ok(out);
        }
        let mut sql = Sql::new("SELECT id, name, role FROM users WHERE id IN ");
        sql.bind_list(&ids);
        for r in sql.query().fetch_all(&self.read).await? {
            let role: String = r.try_get("role")?;
            out.insert(
                r.try_get("id")?,
                (r.try_get("name")?, Role::parse("role", &role)?),
            );
        }
        Ok(out)
    }

    /// Names of organisations by id.
    pub async fn organisation_names(&self, ids: &[i64]) -> Result<HashMap<i64, String>> {
        let mut out = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let mut sql = Sql::new("SELECT id, name FROM organisations WHERE id IN ");
        sql.bind_list(ids);
        for r in sql.query().fetch_all(&self.read).await? {
            out.insert(r.try_get("id")?, r.try_get("name")?);
        }
        Ok(out)
    }
}
