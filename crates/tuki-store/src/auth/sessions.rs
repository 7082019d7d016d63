//! Sign-in for the web pages: server-side sessions, invitation links and the
//! record of failed sign-ins that rate limiting reads.
//!
//! Everything lives in the database so that several `tuki serve` processes
//! behind one address share it. Only SHA-256 hashes of session and
//! invitation tokens are stored: the tokens are 256 random bits, so a fast
//! hash is enough, and a stolen database does not hand out sessions.

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use tuki_domain::access::{decide_directory, Actor, Decision, DirectoryAction};
use tuki_domain::directory::Role;

use crate::time::to_db;
use crate::{Result, Store, StoreError};

/// A session ends after this much idleness…
pub const SESSION_IDLE_MICROS: i64 = 12 * 3600 * 1_000_000;
/// …and at the latest this long after sign-in.
pub const SESSION_MAX_MICROS: i64 = 7 * 24 * 3600 * 1_000_000;
/// How long an invitation link stays valid.
pub const INVITATION_MICROS: i64 = 7 * 24 * 3600 * 1_000_000;
/// How long a first-start setup link stays valid.
pub const SETUP_MICROS: i64 = 24 * 3600 * 1_000_000;

/// 256 random bits, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A signed-in session as the pages need it.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: i64,
    /// Secret that every form of this session must echo (CSRF protection).
    pub csrf: String,
}

/// A new session: the token goes into the cookie, never into the database.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf: String,
}

/// The first administrator, as typed into the setup page.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    pub email: String,
    pub name: String,
    pub language: tuki_domain::directory::Language,
    pub password: String,
}

/// Who an invitation is for.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    /// The person has a password already: the link replaces it, ends their
    /// sessions and revokes their API tokens.
    pub resets: bool,
}

impl Store {
    pub async fn create_session(&self, user_id: i64) -> Result<NewSession> {
        let token = random_token();
        let csrf = random_token();
        let at = to_db(self.now());
        sqlx::query(
            "INSERT INTO web_sessions (token_hash, user_id, csrf_secret, created_at, expires_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $4)",
        )
        .bind(hash(&token))
        .bind(user_id)
        .bind(&csrf)
        .bind(at)
        .bind(at + SESSION_MAX_MICROS)
        .execute(&self.write)
        .await?;
        Ok(NewSession { token, csrf })
    }

    /// The live session of this token, if any. Marks it seen (at most once
    /// a minute, so reads stay reads).
    pub async fn session(&self, token: &str) -> Result<Option<Session>> {
        if token.is_empty() || token.len() > 100 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT s.user_id, s.csrf_secret, s.expires_at, s.last_seen_at FROM web_sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND u.active",
        )
        .bind(hash(token))
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let at = to_db(self.now());
        let expires: i64 = row.try_get("expires_at")?;
        let seen: i64 = row.try_get("last_seen_at")?;
        if at >= expires || at - seen >= SESSION_IDLE_MICROS {
            self.delete_session(token).await?;
            return Ok(None);
        }
        if at - seen > 60_000_000 {
            sqlx::query("UPDATE web_sessions SET last_seen_at = $1 WHERE token_hash = $2")
                .bind(at)
                .bind(hash(token))
                .execute(&self.write)
                .await?;
        }
        Ok(Some(Session {
            user_id: row.try_get("user_id")?,
            csrf: row.try_get("csrf_secret")?,
        }))
    }

    pub async fn delete_session(&self, token: &str) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
            .bind(hash(token))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Signs a user out everywhere (after a password change).
    pub async fn delete_user_sessions(&self, user_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Attempts counted for a rate limit under `key` in the last
    /// `window_micros`: failed sign-ins (`email:…`, `ip:…`) and requests
    /// sent from the website's help widget (`widget:ip:…`). One table
    /// (`login_failures`, named for its first use) for every node, so a
    /// limit holds however many servers share the database.
    pub async fn attempts(&self, key: &str, window_micros: i64) -> Result<i64> {
        let since = to_db(self.now()) - window_micros;
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM login_failures WHERE key = $1 AND at > $2")
                .bind(key)
                .bind(since)
                .fetch_one(&self.read)
                .await?;
        Ok(row.try_get("n")?)
    }

    pub async fn record_attempts(&self, keys: &[String]) -> Result<()> {
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        for key in keys {
            sqlx::query("INSERT INTO login_failures (key, at) VALUES ($1, $2)")
                .bind(key)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        // Old entries are of no use to the limiter.
        sqlx::query("DELETE FROM login_failures WHERE at < $1")
            .bind(at - 24 * 3600 * 1_000_000)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn clear_attempts(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Issues a single-use link to choose a password. Staff may invite
    /// customers who have not chosen a password yet; only administrators
    /// may make a link for an account that has one (a password reset by
    /// hand), because whoever holds the link becomes that person. Earlier
    /// unused links of the user stop working. Returns the token (shown once).
    pub async fn create_invitation(&self, actor: &Actor, user_id: i64) -> Result<String> {
        let target = self.user(actor, user_id).await?;
        let action = if target.role == Role::Customer {
            DirectoryAction::EditCustomer
        } else {
            DirectoryAction::ManageStaff
        };
        if decide_directory(actor, action) != Decision::Allow {
            return Err(StoreError::forbidden("your role may not invite this user"));
        }
        if !actor.is_admin() && has_password(&self.read, user_id).await? {
            return Err(StoreError::forbidden(
                "this person has already chosen a password: only an administrator may make a new link",
            ));
        }
        let token = random_token();
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE invitations SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
            .bind(at)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO invitations (token_hash, user_id, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash(&token))
        .bind(user_id)
        .bind(actor.user_id)
        .bind(at)
        .bind(at + INVITATION_MICROS)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The user a valid (unused, unexpired) invitation is for.
    pub async fn invitation(&self, token: &str) -> Result<Option<Invitation>> {
        if token.is_empty() || token.len() > 100 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT u.id, u.email, u.name, u.password_hash IS NOT NULL AS resets \
             FROM invitations i JOIN users u ON u.id = i.user_id \
             WHERE i.token_hash = $1 AND i.used_at IS NULL AND i.expires_at > $2 AND u.active",
        )
        .bind(hash(token))
        .bind(to_db(self.now()))
        .fetch_optional(&self.read)
        .await?;
        Ok(match row {
            Some(r) => Some(Invitation {
                user_id: r.try_get("id")?,
                email: r.try_get("email")?,
                name: r.try_get("name")?,
                resets: crate::sql::get_bool(&r, "resets")?,
            }),
            None => None,
        })
    }

    /// Uses an invitation: sets the password (hashed off the async threads)
    /// and ends the user's other sessions. Returns the user's id, or `None`
    /// when the link is unknown, used or expired.
    pub async fn accept_invitation(&self, token: &str, password: &str) -> Result<Option<i64>> {
        crate::auth::check_password("password", password)?;
        let pw = password.to_string();
        let hashed = tokio::task::spawn_blocking(move || crate::auth::hash_password(&pw))
            .await
            .map_err(|e| StoreError::invalid("password", format!("cannot hash: {e}")))?;
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        // Claiming the row first makes the link single-use even under races.
        let row = sqlx::query(
            "UPDATE invitations SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             RETURNING user_id, created_by",
        )
        .bind(at)
        .bind(hash(token))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let user_id: i64 = row.try_get("user_id")?;
        let created_by: Option<i64> = row.try_get("created_by")?;
        // A link an agent made before the person chose a password does not
        // replace that password: only an administrator's link resets one.
        let resets = has_password(&mut *tx, user_id).await?;
        if resets && !made_by_admin(&mut tx, created_by).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        sqlx::query(
            "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3 AND active",
        )
        .bind(hashed)
        .bind(at)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM web_sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if resets {
            // A reset is for an account that may be in the wrong hands: its
            // API tokens stop working too (the invitation page says so).
            sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(at)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(user_id))
    }
}

/// Whether the user has chosen a password.
async fn has_password<'e, E>(conn: E, user_id: i64) -> Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<Option<String>, _>("password_hash")?.is_some(),
        None => false,
    })
}

/// Whether the link was made by someone who is an administrator now.
async fn made_by_admin(conn: &mut sqlx::AnyConnection, created_by: Option<i64>) -> Result<bool> {
    let Some(id) = created_by else {
        return Ok(false);
    };
    let row = sqlx::query("SELECT role FROM users WHERE id = $1 AND active")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<String, _>("role")? == Role::Admin.as_str(),
        None => false,
    })
}

impl Store {
    /// The id and password hash of an active user, so that the caller can
    /// verify a password off the async threads (argon2 takes tens of ms).
    pub async fn password_hash_for(&self, email: &str) -> Result<Option<(i64, Option<String>)>> {
        let row = sqlx::query("SELECT id, password_hash FROM users WHERE email = $1 AND active")
            .bind(email.trim().to_lowercase())
            .fetch_optional(&self.read)
            .await?;
        Ok(match row {
            Some(r) => Some((r.try_get("id")?, r.try_get("password_hash")?)),
            None => None,
        })
    }
}

/// First start: while no administrator exists, `tuki serve` prints a
/// one-time link through which the first one is created in the browser.
impl Store {
    /// A new setup link's token, or `None` when an administrator exists.
    /// Each call makes a new link (each start prints one); every unused
    /// link stays valid for [`SETUP_MICROS`] or until one of them is used.
    pub async fn create_setup_link(&self) -> Result<Option<String>> {
        if self.count_admins().await? > 0 {
            return Ok(None);
        }
        let token = random_token();
        let at = to_db(self.now());
        sqlx::query(
            "INSERT INTO setup_links (token_hash, created_at, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(hash(&token))
        .bind(at)
        .bind(at + SETUP_MICROS)
        .execute(&self.write)
        .await?;
        Ok(Some(token))
    }

    /// Whether a setup link works now: known, unused, unexpired, and no
    /// administrator exists yet.
    pub async fn setup_link_valid(&self, token: &str) -> Result<bool> {
        if token.is_empty() || token.len() > 100 {
            return Ok(false);
        }
        let row = sqlx::query(
            "SELECT 1 AS ok FROM setup_links WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(hash(token))
        .bind(to_db(self.now()))
        .fetch_optional(&self.read)
        .await?;
        Ok(row.is_some() && self.count_admins().await? == 0)
    }

    /// Creates the first administrator through a setup link and returns
    /// their id; `None` when the link does not work (unknown, used, expired,
    /// or an administrator exists). Using a link uses every link, in the
    /// same transaction that creates the administrator, so two people with
    /// two links cannot both become the first one.
    pub async fn complete_setup(&self, token: &str, admin: FirstAdmin) -> Result<Option<i64>> {
        let email = tuki_domain::values::Email::parse("email", &admin.email)?;
        let name = tuki_domain::values::line("name", &admin.name, 200)?;
        crate::auth::check_password("password", &admin.password)?;
        if token.is_empty() || token.len() > 100 {
            return Ok(None);
        }
        let pw = admin.password.clone();
        let hashed = tokio::task::spawn_blocking(move || crate::auth::hash_password(&pw))
            .await
            .map_err(|e| StoreError::invalid("password", format!("cannot hash: {e}")))?;
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE setup_links SET used_at = $1 WHERE used_at IS NULL AND expires_at > $1 \
             RETURNING token_hash",
        )
        .bind(at)
        .fetch_all(&mut *tx)
        .await?;
        let mine = hash(token);
        let mut found = false;
        for r in &claimed {
            found |= r.try_get::<String, _>("token_hash")? == mine;
        }
        let admins: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND active")
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
        if !found || admins > 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let taken = sqlx::query("SELECT id FROM users WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            tx.rollback().await?;
            return Err(StoreError::conflict(
                Some("email"),
                "a user with this email exists",
            ));
        }
        let id: i64 = sqlx::query(
            "INSERT INTO users (email, name, name_folded, phone, role, language, organisation_id, password_hash, \
             active, created_at, updated_at) VALUES ($1, $2, $3, NULL, 'admin', $4, NULL, $5, $6, $7, $7) RETURNING id",
        )
        .bind(email.as_str())
        .bind(&name)
        .bind(tuki_domain::values::fold(&name))
        .bind(admin.language.as_str())
        .bind(hashed)
        .bind(true)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        crate::search::index_users(&mut tx, &[id]).await?;
        tx.commit().await?;
        Ok(Some(id))
    }
}
