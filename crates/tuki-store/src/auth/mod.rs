//! Credentials: personal access tokens and passwords, and the [`Actor`] they
//! stand for.
//!
//! Tokens are 256 random bits; only their SHA-256 is stored, which is enough
//! for secrets of that strength and keeps the per-request check cheap.
//! Passwords are people's choices and get argon2id.

pub mod sessions;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use tuki_domain::access::Actor;
use tuki_domain::directory::Role;

use crate::time::{now, to_db};
use crate::{Result, Store, StoreError};

/// Prefix of every token, so leaked tokens are easy to recognise in logs and
/// by secret scanners.
pub const TOKEN_PREFIX: &str = "tuki_";

/// A token as shown once, at creation.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: i64,
    pub token: String,
}

pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters accepts any password")
        .to_string()
}

pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Rules for a password someone chooses.
pub fn check_password(field: &str, password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < 10 {
        return Err(StoreError::invalid(field, "must be at least 10 characters"));
    }
    if n > 1000 {
        return Err(StoreError::invalid(
            field,
            "must be at most 1000 characters",
        ));
    }
    Ok(())
}

impl Store {
    /// Creates a personal access token for a user; the token itself is only
    /// in the return value.
    pub async fn create_token(&self, user_id: i64, name: &str) -> Result<NewToken> {
        let name = tuki_domain::values::line("name", name, 100)?;
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let row = sqlx::query(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_at) \
             SELECT id, $2, $3, $4 FROM users WHERE id = $1 RETURNING id",
        )
        .bind(user_id)
        .bind(&name)
        .bind(token_hash(&token))
        .bind(to_db(now()))
        .fetch_optional(&self.write)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(NewToken {
            id: row.try_get("id")?,
            token,
        })
    }

    /// The active user a token belongs to, or `None` for an unknown, revoked
    /// or malformed token, or a deactivated user.
    pub async fn actor_for_token(&self, token: &str) -> Result<Option<Actor>> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 200 {
            return Ok(None);
        }
        // One query for the token, its user and the user's organisation: this
        // runs on every API request.
        let row = sqlx::query(
            "SELECT t.id AS token_id, t.user_id, t.last_used_at, u.role, u.organisation_id, o.shares_tickets \
             FROM api_tokens t JOIN users u ON u.id = t.user_id \
             LEFT JOIN organisations o ON o.id = u.organisation_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.active",
        )
        .bind(token_hash(token))
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let token_id: i64 = row.try_get("token_id")?;
        let user_id: i64 = row.try_get("user_id")?;
        let last_used: Option<i64> = row.try_get("last_used_at")?;
        // Record use at minute precision: a write per request would make
        // every read a write.
        let now = to_db(now());
        if last_used.is_none_or(|t| now - t > 60_000_000) {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(token_id)
                .execute(&self.write)
                .await?;
        }
        self.actor_from_row(user_id, &row).await.map(Some)
    }

    /// Loads what the access rules need to know about an active user.
    pub async fn actor_for_user(&self, user_id: i64) -> Result<Option<Actor>> {
        let row = sqlx::query(
            "SELECT u.role, u.organisation_id, o.shares_tickets FROM users u \
             LEFT JOIN organisations o ON o.id = u.organisation_id \
             WHERE u.id = $1 AND u.active",
        )
        .bind(user_id)
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        self.actor_from_row(user_id, &row).await.map(Some)
    }

    /// Completes an actor from a row with `role`, `organisation_id` and
    /// `shares_tickets`, adding the user's groups.
    async fn actor_from_row(&self, user_id: i64, row: &sqlx::any::AnyRow) -> Result<Actor> {
        let role = Role::parse("role", &row.try_get::<String, _>("role")?)?;
        let group_ids =
            sqlx::query("SELECT group_id FROM group_members WHERE user_id = $1 ORDER BY group_id")
                .bind(user_id)
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(|r| r.try_get::<i64, _>("group_id"))
                .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Actor {
            user_id: Some(user_id),
            role,
            organisation_id: row.try_get("organisation_id")?,
            organisation_shares: crate::sql::get_opt_bool(row, "shares_tickets")?.unwrap_or(false),
            group_ids,
        })
    }

    /// Sets a user's password after checking it against the rules.
    pub async fn set_password(&self, user_id: i64, password: &str) -> Result<()> {
        check_password("password", password)?;
        let hash = hash_password(password);
        let done =
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(hash)
                .bind(to_db(now()))
                .bind(user_id)
                .execute(&self.write)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The id of the active user with this email and password, if they match.
    pub async fn check_credentials(&self, email: &str, password: &str) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT id, password_hash FROM users WHERE email = $1 AND active")
            .bind(email.trim().to_lowercase())
            .fetch_optional(&self.read)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let hash: Option<String> = row.try_get("password_hash")?;
        Ok(match hash {
            Some(h) if verify_password(&h, password) => Some(row.try_get("id")?),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords() {
        let h = hash_password("correct horse battery");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "wrong"));
        assert!(!verify_password("not a hash", "x"));
        assert!(check_password("password", "short").is_err());
    }
}

/// A personal access token as listed: never the token itself.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub created_at: jiff::Timestamp,
    /// At minute precision.
    pub last_used_at: Option<jiff::Timestamp>,
    pub revoked_at: Option<jiff::Timestamp>,
}

impl Store {
    /// The caller's own tokens, newest first.
    pub async fn tokens(&self, actor: &Actor) -> Result<Vec<TokenInfo>> {
        let me = actor.user_id.ok_or(StoreError::NotFound)?;
        let rows = sqlx::query(
            "SELECT id, name, created_at, last_used_at, revoked_at FROM api_tokens \
             WHERE user_id = $1 ORDER BY id DESC",
        )
        .bind(me)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    created_at: crate::time::from_db(r.try_get("created_at")?),
                    last_used_at: crate::time::opt_from_db(r.try_get("last_used_at")?),
                    revoked_at: crate::time::opt_from_db(r.try_get("revoked_at")?),
                })
            })
            .collect()
    }

    /// Revokes one of the caller's tokens; another user's token is not found.
    pub async fn revoke_token(&self, actor: &Actor, id: i64) -> Result<()> {
        let me = actor.user_id.ok_or(StoreError::NotFound)?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND user_id = $3",
        )
        .bind(to_db(self.now()))
        .bind(id)
        .bind(me)
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
