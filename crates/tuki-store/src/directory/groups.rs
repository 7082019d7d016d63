//! Support groups with their tier, form and members.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use tuki_domain::access::{Actor, DirectoryAction};
use tuki_domain::directory::{GroupForm, Role, Tier};
use tuki_domain::values::{self};

use super::{on_duplicate, require};
use crate::time::{from_db, now, to_db};
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupMember {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Group {
    pub id: i64,
    pub name: String,
    /// Support tier: 1, 2 or 3.
    pub tier: i64,
    pub form: GroupForm,
    pub description: String,
    /// New requests without a group land here.
    pub is_intake: bool,
    pub members: Vec<GroupMember>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewGroup {
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3))]
    pub tier: i64,
    /// Defaults to `central`.
    #[serde(default)]
    pub form: Option<GroupForm>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub is_intake: bool,
    /// User ids of the first members (agents or admins).
    #[serde(default)]
    pub members: Vec<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupPatch {
    pub name: Option<String>,
    pub tier: Option<i64>,
    pub form: Option<GroupForm>,
    pub description: Option<String>,
    pub is_intake: Option<bool>,
}

const GROUP_COLUMNS: &str = "id, name, tier, form, description, is_intake, created_at, updated_at";

impl Store {
    pub async fn create_group(&self, actor: &Actor, new: NewGroup) -> Result<Group> {
        require(actor, DirectoryAction::ManageStaff)?;
        let name = values::line("name", &new.name, 200)?;
        let tier = Tier::new("tier", new.tier)?;
        let description = new.description.unwrap_or_default();
        values::clean_text("description", &description, 2000)?;
        let at = to_db(now());
        let mut tx = self.begin_write().await?;
        if new.is_intake {
            sqlx::query("UPDATE support_groups SET is_intake = $1 WHERE is_intake")
                .bind(false)
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query(
            "INSERT INTO support_groups (name, tier, form, description, is_intake, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(&name)
        .bind(tier.get() as i64)
        .bind(new.form.unwrap_or(GroupForm::Central).as_str())
        .bind(description)
        .bind(new.is_intake)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(on_duplicate("name", "a group with this name exists"))?;
        let id: i64 = row.try_get("id")?;
        for user in new.members {
            add_member(&mut tx, id, user, "members").await?;
        }
        tx.commit().await?;
        self.group(actor, id).await
    }

    pub async fn group(&self, actor: &Actor, id: i64) -> Result<Group> {
        require(actor, DirectoryAction::Browse).map_err(|_| StoreError::NotFound)?;
        let row = sqlx::query(&format!(
            "SELECT {GROUP_COLUMNS} FROM support_groups WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        let members = sqlx::query(
            "SELECT u.id, u.name, u.email, u.role FROM group_members m JOIN users u ON u.id = m.user_id \
             WHERE m.group_id = $1 ORDER BY u.name, u.id",
        )
        .bind(id)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|r| {
            Ok(GroupMember {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                email: r.try_get("email")?,
                role: Role::parse("role", &r.try_get::<String, _>("role")?)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        group_from_row(&row, members)
    }

    pub async fn groups(&self, actor: &Actor) -> Result<Vec<Group>> {
        require(actor, DirectoryAction::Browse)?;
        let ids = sqlx::query("SELECT id FROM support_groups ORDER BY tier, name")
            .fetch_all(&self.read)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for r in ids {
            out.push(self.group(actor, r.try_get("id")?).await?);
        }
        Ok(out)
    }

    pub async fn update_group(&self, actor: &Actor, id: i64, patch: GroupPatch) -> Result<Group> {
        require(actor, DirectoryAction::ManageStaff)?;
        let name = patch
            .name
            .as_deref()
            .map(|n| values::line("name", n, 200))
            .transpose()?;
        let tier = patch.tier.map(|t| Tier::new("tier", t)).transpose()?;
        if let Some(d) = &patch.description {
            values::clean_text("description", d, 2000)?;
        }
        let mut tx = self.begin_write().await?;
        if patch.is_intake == Some(true) {
            sqlx::query("UPDATE support_groups SET is_intake = $1 WHERE is_intake AND id <> $2")
                .bind(false)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query(
            "UPDATE support_groups SET name = COALESCE($1, name), tier = COALESCE($2, tier), \
             form = COALESCE($3, form), description = COALESCE($4, description), \
             is_intake = COALESCE($5, is_intake), updated_at = $6 WHERE id = $7",
        )
        .bind(name)
        .bind(tier.map(|t| t.get() as i64))
        .bind(patch.form.map(|f| f.as_str()))
        .bind(patch.description)
        .bind(patch.is_intake)
        .bind(to_db(now()))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(on_duplicate("name", "a group with this name exists"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        self.group(actor, id).await
    }

    pub async fn add_group_member(
        &self,
        actor: &Actor,
        group_id: i64,
        user_id: i64,
    ) -> Result<Group> {
        require(actor, DirectoryAction::ManageStaff)?;
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT id FROM support_groups WHERE id = $1")
            .bind(group_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        add_member(&mut tx, group_id, user_id, "user_id").await?;
        tx.commit().await?;
        self.group(actor, group_id).await
    }

    pub async fn remove_group_member(
        &self,
        actor: &Actor,
        group_id: i64,
        user_id: i64,
    ) -> Result<Group> {
        require(actor, DirectoryAction::ManageStaff)?;
        sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
            .bind(group_id)
            .bind(user_id)
            .execute(&self.write)
            .await?;
        self.group(actor, group_id).await
    }
}

fn group_from_row(row: &AnyRow, members: Vec<GroupMember>) -> Result<Group> {
    Ok(Group {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        tier: row.try_get("tier")?,
        form: GroupForm::parse("form", &row.try_get::<String, _>("form")?)?,
        description: row.try_get("description")?,
        is_intake: crate::sql::get_bool(row, "is_intake")?,
        members,
        created_at: from_db(row.try_get("created_at")?),
        updated_at: from_db(row.try_get("updated_at")?),
    })
}

/// Adds a staff user to a group; customers cannot be members.
async fn add_member(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    group: i64,
    user: i64,
    field: &str,
) -> Result<()> {
    let row = sqlx::query("SELECT role FROM users WHERE id = $1")
        .bind(user)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::invalid(field, format!("no user {user}")))?;
    let role: String = row.try_get("role")?;
    if role == Role::Customer.as_str() {
        return Err(StoreError::invalid(
            field,
            "customers cannot be members of a support group",
        ));
    }
    let present =
        sqlx::query("SELECT user_id FROM group_members WHERE group_id = $1 AND user_id = $2")
            .bind(group)
            .bind(user)
            .fetch_optional(&mut **tx)
            .await?;
    if present.is_none() {
        sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)")
            .bind(group)
            .bind(user)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Names the group's supervisor, whom `notify_supervisor` tells.
    pub async fn set_group_supervisor(
        &self,
        actor: &Actor,
        group_id: i64,
        supervisor_id: Option<i64>,
    ) -> Result<()> {
        crate::require_admin(actor, "name supervisors")?;
        if let Some(u) = supervisor_id {
            let role = sqlx::query("SELECT role FROM users WHERE id = $1 AND active")
                .bind(u)
                .fetch_optional(&self.read)
                .await?
                .ok_or_else(|| StoreError::invalid("supervisor_id", "no such user"))?
                .try_get::<String, _>("role")?;
            if role == "customer" {
                return Err(StoreError::invalid(
                    "supervisor_id",
                    "a supervisor is staff",
                ));
            }
        }
        let done = sqlx::query("UPDATE support_groups SET supervisor_id = $1 WHERE id = $2")
            .bind(supervisor_id)
            .bind(group_id)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
