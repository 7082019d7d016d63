//! The desk's knowledge settings: whether public articles are read without
//! signing in (the portal's help pages and the website's widget), and the
//! websites (origins) allowed to embed the widget.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use tuki_domain::access::Actor;

use crate::sql::get_bool;
use crate::time::to_db;
use crate::{require_admin, Result, Store, StoreError};

/// Most websites one desk lets embed its widget.
const ORIGINS_MAX: usize = 50;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct KnowledgeSettings {
    /// Public articles are read and searched without signing in.
    pub public_without_sign_in: bool,
    /// Origins (`https://www.example.com`) whose pages may use the help
    /// widget; the widget answers no other.
    pub widget_origins: Vec<String>,
}

/// An origin as browsers send it: scheme, host and port, no path.
fn origin(field: &str, raw: &str) -> Result<String> {
    let bad = || {
        StoreError::invalid(
            field,
            format!("{raw:?} is not an origin like https://www.example.com"),
        )
    };
    let url = url::Url::parse(raw.trim()).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err(bad());
    }
    Ok(url.origin().ascii_serialization())
}

impl Store {
    /// The settings (anyone: the pages ask them before a reader signs in).
    pub async fn knowledge_settings(&self) -> Result<KnowledgeSettings> {
        let r = sqlx::query(
            "SELECT public_without_sign_in, widget_origins FROM kb_settings WHERE id = 1",
        )
        .fetch_one(&self.read)
        .await?;
        Ok(KnowledgeSettings {
            public_without_sign_in: get_bool(&r, "public_without_sign_in")?,
            widget_origins: r
                .try_get::<String, _>("widget_origins")?
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    /// Replaces the settings (administrators); origins are checked and
    /// written as browsers send them.
    pub async fn set_knowledge_settings(
        &self,
        actor: &Actor,
        input: KnowledgeSettings,
    ) -> Result<KnowledgeSettings> {
        require_admin(actor, "manage the knowledge base")?;
        let mut origins: Vec<String> = Vec::new();
        for raw in input.widget_origins.iter().filter(|o| !o.trim().is_empty()) {
            let o = origin("widget_origins", raw)?;
            if !origins.contains(&o) {
                origins.push(o);
            }
        }
        if origins.len() > ORIGINS_MAX {
            return Err(StoreError::invalid(
                "widget_origins",
                format!("at most {ORIGINS_MAX} origins"),
            ));
        }
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE kb_settings SET public_without_sign_in = $1, widget_origins = $2, updated_at = $3 WHERE id = 1",
        )
        .bind(input.public_without_sign_in)
        .bind(origins.join("\n"))
        .bind(to_db(self.now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.knowledge_settings().await
    }
}
