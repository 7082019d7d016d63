//! Users: staff and customers, their roles, languages and phones.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use tuki_domain::access::{Actor, DirectoryAction};
use tuki_domain::directory::{Language, Role};
use tuki_domain::values::{self, Email, Phone};

use super::{double_option, like_escape, on_duplicate, require};
use crate::sql::{Sql, Value};
use crate::time::{from_db, now, to_db};
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    /// E.164, like +358401234567.
    pub phone: Option<String>,
    pub role: Role,
    pub language: Language,
    pub organisation_id: Option<i64>,
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewUser {
    pub email: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    /// Defaults to `customer`.
    #[serde(default)]
    pub role: Option<Role>,
    /// Defaults to `fi`.
    #[serde(default)]
    pub language: Option<Language>,
    /// For customers, defaults to the organisation owning the email's domain.
    #[serde(default)]
    pub organisation_id: Option<i64>,
    /// Optional initial password (at least 10 characters).
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserPatch {
    pub email: Option<String>,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub phone: Option<Option<String>>,
    pub role: Option<Role>,
    pub language: Option<Language>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub organisation_id: Option<Option<i64>>,
    pub active: Option<bool>,
}

/// Filters for listing users.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Part of the name, email or phone number.
    pub q: Option<String>,
    pub role: Option<Role>,
    pub organisation_id: Option<i64>,
    pub after_id: Option<i64>,
    pub limit: i64,
}

const USER_COLUMNS: &str =
    "id, email, name, phone, role, language, organisation_id, active, created_at, updated_at";

fn user_from_row(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        phone: row.try_get("phone")?,
        role: Role::parse("role", &row.try_get::<String, _>("role")?)?,
        language: Language::parse("language", &row.try_get::<String, _>("language")?)?,
        organisation_id: row.try_get("organisation_id")?,
        active: crate::sql::get_bool(row, "active")?,
        created_at: from_db(row.try_get("created_at")?),
        updated_at: from_db(row.try_get("updated_at")?),
    })
}

impl Store {
    /// Creates a user. Agents may register customers; only administrators
    /// create staff.
    pub async fn create_user(&self, actor: &Actor, new: NewUser) -> Result<User> {
        let role = new.role.unwrap_or(Role::Customer);
        require(
            actor,
            if role == Role::Customer {
                DirectoryAction::CreateCustomer
            } else {
                DirectoryAction::ManageStaff
            },
        )?;
        let email = Email::parse("email", &new.email)?;
        let name = values::line("name", &new.name, 200)?;
        let phone = new
            .phone
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .map(|p| Phone::parse("phone", p))
            .transpose()?;
        let password_hash = match &new.password {
            Some(pw) => {
                crate::auth::check_password("password", pw)?;
                Some(crate::auth::hash_password(pw))
            }
            None => None,
        };
        let organisation_id = match new.organisation_id {
            Some(id) => {
                self.require_organisation("organisation_id", id).await?;
                Some(id)
            }
            None if role == Role::Customer => self.organisation_for_email(&email).await?,
            None => None,
        };
        let at = to_db(now());
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO users (email, name, name_folded, phone, role, language, organisation_id, password_hash, \
             active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
        )
        .bind(email.as_str())
        .bind(&name)
        .bind(values::fold(&name))
        .bind(phone.as_ref().map(|p| p.as_str()))
        .bind(role.as_str())
        .bind(new.language.unwrap_or(Language::Fi).as_str())
        .bind(organisation_id)
        .bind(password_hash)
        .bind(true)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(on_duplicate("email", "a user with this email exists"))?;
        let id: i64 = row.try_get("id")?;
        crate::search::index_users(&mut tx, &[id]).await?;
        tx.commit().await?;
        self.user_unchecked(id).await
    }

    async fn require_organisation(&self, field: &str, id: i64) -> Result<()> {
        let found = sqlx::query("SELECT id FROM organisations WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        match found {
            Some(_) => Ok(()),
            None => Err(StoreError::invalid(field, "no such organisation")),
        }
    }

    pub(crate) async fn user_unchecked(&self, id: i64) -> Result<User> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        user_from_row(&row)
    }

    /// A user; staff see everyone, customers only themselves.
    pub async fn user(&self, actor: &Actor, id: i64) -> Result<User> {
        if !actor.is_staff() && actor.user_id != Some(id) {
            return Err(StoreError::NotFound);
        }
        self.user_unchecked(id).await
    }

    pub async fn user_by_email(&self, actor: &Actor, email: &str) -> Result<User> {
        let email = Email::parse("email", email)?;
        let row = sqlx::query("SELECT id FROM users WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.user(actor, row.try_get("id")?).await
    }

    pub async fn users(&self, actor: &Actor, f: &UserFilter) -> Result<Vec<User>> {
        require(actor, DirectoryAction::Browse)?;
        let mut sql = Sql::new(&format!("SELECT {USER_COLUMNS} FROM users WHERE 1=1"));
        if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            // PostgreSQL refuses NUL in text: a mistake named `q`, not a 500.
            values::clean_text("q", q, 200)?;
            let pattern = format!("%{}%", like_escape(&values::fold(q)));
            sql.push(" AND (name_folded LIKE ")
                .bind(Value::Text(pattern.clone()));
            sql.push(" ESCAPE '\\' OR email LIKE ")
                .bind(Value::Text(pattern));
            sql.push(" ESCAPE '\\'");
            let digits: String = q.chars().filter(|c| c.is_ascii_digit()).collect();
            if digits.len() >= 3 {
                sql.push(" OR phone LIKE ")
                    .bind(Value::Text(format!("%{digits}%")));
            }
            sql.push(")");
        }
        if let Some(role) = f.role {
            sql.push(" AND role = ")
                .bind(Value::Text(role.as_str().into()));
        }
        if let Some(org) = f.organisation_id {
            sql.push(" AND organisation_id = ").bind(Value::Int(org));
        }
        if let Some(after) = f.after_id {
            sql.push(" AND id > ").bind(Value::Int(after));
        }
        sql.push(" ORDER BY id LIMIT ").bind(Value::Int(f.limit));
        let rows = sql.query().fetch_all(&self.read).await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Customers found by phone number, for caller look-up.
    pub async fn users_by_phone(&self, actor: &Actor, phone: &str) -> Result<Vec<User>> {
        require(actor, DirectoryAction::Browse)?;
        let phone = Phone::parse("phone", phone)?;
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE phone = $1 ORDER BY id"
        ))
        .bind(phone.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    pub async fn update_user(&self, actor: &Actor, id: i64, patch: UserPatch) -> Result<User> {
        let current = self.user(actor, id).await?;
        let touches_staff =
            current.role != Role::Customer || patch.role.is_some_and(|r| r != Role::Customer);
        let self_service = actor.user_id == Some(id)
            && patch.role.is_none()
            && patch.organisation_id.is_none()
            && patch.active.is_none();
        if !self_service {
            require(
                actor,
                if touches_staff {
                    DirectoryAction::ManageStaff
                } else {
                    DirectoryAction::EditCustomer
                },
            )?;
        }
        // No administrator locks themselves out (another one can).
        if actor.user_id == Some(id) && current.role == Role::Admin {
            if patch.active == Some(false) {
                return Err(StoreError::conflict(
                    Some("active"),
                    "you cannot deactivate yourself; another administrator can",
                ));
            }
            if patch.role.is_some_and(|r| r != Role::Admin) {
                return Err(StoreError::conflict(
                    Some("role"),
                    "you cannot give up your own administrator role; another administrator can",
                ));
            }
        }
        let email = patch
            .email
            .as_deref()
            .map(|e| Email::parse("email", e))
            .transpose()?;
        let name = patch
            .name
            .as_deref()
            .map(|n| values::line("name", n, 200))
            .transpose()?;
        let phone = match &patch.phone {
            Some(Some(p)) if !p.trim().is_empty() => {
                Some(Some(Phone::parse("phone", p)?.into_string()))
            }
            Some(_) => Some(None),
            None => None,
        };
        if let Some(Some(org)) = patch.organisation_id {
            self.require_organisation("organisation_id", org).await?;
        }
        let mut sql = Sql::new("UPDATE users SET updated_at = ");
        sql.bind(Value::Int(to_db(now())));
        if let Some(e) = &email {
            sql.push(", email = ").bind(Value::Text(e.as_str().into()));
        }
        if let Some(n) = &name {
            sql.push(", name = ").bind(Value::Text(n.clone()));
            sql.push(", name_folded = ")
                .bind(Value::Text(values::fold(n)));
        }
        match phone {
            Some(Some(p)) => {
                sql.push(", phone = ").bind(Value::Text(p));
            }
            Some(None) => {
                sql.push(", phone = NULL");
            }
            None => {}
        }
        if let Some(r) = patch.role {
            sql.push(", role = ").bind(Value::Text(r.as_str().into()));
        }
        if let Some(l) = patch.language {
            sql.push(", language = ")
                .bind(Value::Text(l.as_str().into()));
        }
        match patch.organisation_id {
            Some(Some(o)) => {
                sql.push(", organisation_id = ").bind(Value::Int(o));
            }
            Some(None) => {
                sql.push(", organisation_id = NULL");
            }
            None => {}
        }
        if let Some(a) = patch.active {
            sql.push(", active = ").bind(Value::Bool(a));
        }
        sql.push(" WHERE id = ").bind(Value::Int(id));
        let mut tx = self.begin_write().await?;
        sql.query()
            .execute(&mut *tx)
            .await
            .map_err(on_duplicate("email", "a user with this email exists"))?;
        crate::search::index_users(&mut tx, &[id]).await?;
        tx.commit().await?;
        self.user_unchecked(id).await
    }
}
