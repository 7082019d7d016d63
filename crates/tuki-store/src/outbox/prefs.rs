//! Each person's switches for the kinds of mail Tuki sends them.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use tuki_domain::access::Actor;

use super::*;
use crate::sql::get_bool;
use crate::{Result, Store, StoreError};

/// A user's switch for one kind of mail.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationPref {
    pub kind: String,
    pub enabled: bool,
}

impl Store {
    /// The caller's switches, one per kind (on unless turned off).
    pub async fn notification_prefs(&self, actor: &Actor) -> Result<Vec<NotificationPref>> {
        let user = actor
            .user_id
            .ok_or_else(|| StoreError::forbidden("only users have preferences"))?;
        let rows = sqlx::query("SELECT kind, enabled FROM notification_prefs WHERE user_id = $1")
            .bind(user)
            .fetch_all(&self.read)
            .await?;
        let mut set = std::collections::HashMap::new();
        for r in &rows {
            set.insert(r.try_get::<String, _>("kind")?, get_bool(r, "enabled")?);
        }
        Ok(KINDS
            .iter()
            .map(|k| NotificationPref {
                kind: k.to_string(),
                enabled: set.get(*k).copied().unwrap_or(true),
            })
            .collect())
    }

    /// Turns one kind of mail on or off for the caller.
    pub async fn set_notification_pref(
        &self,
        actor: &Actor,
        kind: &str,
        enabled: bool,
    ) -> Result<Vec<NotificationPref>> {
        let user = actor
            .user_id
            .ok_or_else(|| StoreError::forbidden("only users have preferences"))?;
        if !KINDS.contains(&kind) {
            return Err(tuki_domain::ValidationError::new(
                "kind",
                format!("must be one of: {}", KINDS.join(", ")),
            )
            .into());
        }
        sqlx::query(
            "INSERT INTO notification_prefs (user_id, kind, enabled) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, kind) DO UPDATE SET enabled = excluded.enabled",
        )
        .bind(user)
        .bind(kind)
        .bind(enabled)
        .execute(&self.write)
        .await?;
        self.notification_prefs(actor).await
    }
}
