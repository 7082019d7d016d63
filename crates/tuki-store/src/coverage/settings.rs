//! Whether Tuki decides who pays for each request: on by default; an IT
//! department serving its own staff turns it off.

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use tuki_domain::access::Actor;

use crate::sql::get_bool;
use crate::time::to_db;
use crate::{require_admin, Result, Store};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoverageSettings {
    /// Decide the coverage of every new request (and again on changes).
    pub decide: bool,
}

pub(crate) async fn decides(conn: &mut AnyConnection) -> Result<bool> {
    let row = sqlx::query("SELECT decide FROM coverage_settings WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(r) => get_bool(&r, "decide")?,
        None => true,
    })
}

impl Store {
    pub async fn coverage_settings(&self) -> Result<CoverageSettings> {
        let mut conn = self.read.acquire().await?;
        Ok(CoverageSettings {
            decide: decides(&mut conn).await?,
        })
    }

    /// Turns the decisions on or off (administrators). Requests made while
    /// they were off stay undecided until their device is named.
    pub async fn set_coverage_settings(
        &self,
        actor: &Actor,
        input: CoverageSettings,
    ) -> Result<CoverageSettings> {
        require_admin(actor, "manage contracts")?;
        sqlx::query("UPDATE coverage_settings SET decide = $1, updated_at = $2 WHERE id = 1")
            .bind(input.decide)
            .bind(to_db(self.now()))
            .execute(&self.write)
            .await?;
        self.coverage_settings().await
    }
}
