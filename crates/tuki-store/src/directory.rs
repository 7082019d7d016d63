//! The directory: organisations (customer companies and internal departments),
//! users and support groups with their tiers and members.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use tuki_domain::access::{decide_directory, Actor, Decision, DirectoryAction};
use tuki_domain::directory::{GroupForm, Language, OrgKind, Role, Tier};
use tuki_domain::values::{self, Domain, Email, Phone};

use crate::error::is_unique_violation;
use crate::sql::{Sql, Value};
use crate::time::{from_db, now, to_db};
use crate::{Result, Store, StoreError};

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

// ---------------------------------------------------------------- organisations

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
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewOrganisation {
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

/// Maps a unique-constraint violation to a 409 naming the field; other
/// engine errors pass through.
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

// ------------------------------------------------------------------------ users

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
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewUser {
    pub email: String,
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
        .fetch_one(&self.write)
        .await
        .map_err(on_duplicate("email", "a user with this email exists"))?;
        self.user_unchecked(row.try_get("id")?).await
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
        sql.query()
            .execute(&self.write)
            .await
            .map_err(on_duplicate("email", "a user with this email exists"))?;
        self.user_unchecked(id).await
    }
}

// ----------------------------------------------------------------------- groups

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
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewGroup {
    pub name: String,
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
    /// How many active administrators exist; `tuki serve` tells how to create
    /// the first one when there are none.
    pub async fn count_admins(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND active")
            .fetch_one(&self.read)
            .await?;
        Ok(row.try_get("n")?)
    }
}
