//! Escalation rules: what happens when a target is warned or breached.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;
use tuki_domain::sla::*;
use tuki_domain::values;

use crate::time::{from_db, to_db};
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EscalationRule {
    pub id: i64,
    pub name: String,
    /// Rules that fire together run in this order (then by id).
    pub position: i64,
    /// Only tickets of this policy; absent: any.
    pub policy_id: Option<i64>,
    /// Only this target; absent: any.
    pub sla_kind: Option<SlaKind>,
    pub fires_on: EscalationTrigger,
    pub action: EscalationAction,
    /// Whom `notify_user` tells (a manager, for hierarchical escalation).
    pub user_id: Option<i64>,
    /// Where `transfer_next_tier` sends the ticket; absent: the first group
    /// of the next tier.
    pub group_id: Option<i64>,
    pub active: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EscalationRuleInput {
    pub name: String,
    #[serde(default)]
    pub position: Option<i64>,
    #[serde(default)]
    pub policy_id: Option<i64>,
    #[serde(default)]
    pub sla_kind: Option<SlaKind>,
    pub fires_on: EscalationTrigger,
    pub action: EscalationAction,
    #[serde(default)]
    pub user_id: Option<i64>,
    #[serde(default)]
    pub group_id: Option<i64>,
    #[serde(default)]
    pub active: Option<bool>,
}

pub(super) const RULE_COLUMNS: &str =
    "id, name, position, policy_id, sla_kind, fires_on, action, user_id, group_id, active, \
     created_at, updated_at";

pub(super) fn rule_from_row(r: &AnyRow) -> Result<EscalationRule> {
    Ok(EscalationRule {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        position: r.try_get("position")?,
        policy_id: r.try_get("policy_id")?,
        sla_kind: r
            .try_get::<Option<String>, _>("sla_kind")?
            .map(|k| SlaKind::parse("sla_kind", &k))
            .transpose()?,
        fires_on: EscalationTrigger::parse("fires_on", &r.try_get::<String, _>("fires_on")?)?,
        action: EscalationAction::parse("action", &r.try_get::<String, _>("action")?)?,
        user_id: r.try_get("user_id")?,
        group_id: r.try_get("group_id")?,
        active: crate::sql::get_bool(r, "active")?,
        created_at: from_db(r.try_get("created_at")?),
        updated_at: from_db(r.try_get("updated_at")?),
    })
}

async fn check_rule(conn: &mut AnyConnection, r: &EscalationRuleInput) -> Result<String> {
    let name = values::line("name", &r.name, 100)?;
    let exists = |table: &'static str| format!("SELECT id FROM {table} WHERE id = $1");
    if let Some(p) = r.policy_id {
        if sqlx::query(&exists("sla_policies"))
            .bind(p)
            .fetch_optional(&mut *conn)
            .await?
            .is_none()
        {
            return Err(StoreError::invalid("policy_id", "no such policy"));
        }
    }
    match (r.action, r.user_id) {
        (EscalationAction::NotifyUser, None) => {
            return Err(StoreError::invalid(
                "user_id",
                "notify_user needs the user to notify",
            ))
        }
        (_, Some(u)) => {
            let role = sqlx::query("SELECT role FROM users WHERE id = $1 AND active")
                .bind(u)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| StoreError::invalid("user_id", "no such user"))?
                .try_get::<String, _>("role")?;
            if role == "customer" {
                return Err(StoreError::invalid(
                    "user_id",
                    "escalations notify staff, not customers",
                ));
            }
        }
        _ => {}
    }
    if let Some(g) = r.group_id {
        if sqlx::query(&exists("support_groups"))
            .bind(g)
            .fetch_optional(&mut *conn)
            .await?
            .is_none()
        {
            return Err(StoreError::invalid("group_id", "no such group"));
        }
    }
    Ok(name)
}

impl Store {
    pub async fn escalation_rules(&self, actor: &Actor) -> Result<Vec<EscalationRule>> {
        crate::require_admin(actor, "manage service levels")?;
        sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM escalation_rules ORDER BY position, id"
        ))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(rule_from_row)
        .collect()
    }

    pub async fn escalation_rule(&self, actor: &Actor, id: i64) -> Result<EscalationRule> {
        crate::require_admin(actor, "manage service levels")?;
        let r = sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM escalation_rules WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        rule_from_row(&r)
    }

    pub async fn create_escalation_rule(
        &self,
        actor: &Actor,
        input: EscalationRuleInput,
    ) -> Result<EscalationRule> {
        crate::require_admin(actor, "manage service levels")?;
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        let name = check_rule(&mut tx, &input).await?;
        let id: i64 = sqlx::query(
            "INSERT INTO escalation_rules (name, position, policy_id, sla_kind, fires_on, action, user_id, group_id, \
             active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
        )
        .bind(&name)
        .bind(input.position.unwrap_or(100))
        .bind(input.policy_id)
        .bind(input.sla_kind.map(|k| k.as_str()))
        .bind(input.fires_on.as_str())
        .bind(input.action.as_str())
        .bind(input.user_id)
        .bind(input.group_id)
        .bind(input.active.unwrap_or(true))
        .bind(at)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        tx.commit().await?;
        self.escalation_rule(actor, id).await
    }

    pub async fn update_escalation_rule(
        &self,
        actor: &Actor,
        id: i64,
        input: EscalationRuleInput,
    ) -> Result<EscalationRule> {
        crate::require_admin(actor, "manage service levels")?;
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        let name = check_rule(&mut tx, &input).await?;
        let done = sqlx::query(
            "UPDATE escalation_rules SET name = $1, position = $2, policy_id = $3, sla_kind = $4, fires_on = $5, \
             action = $6, user_id = $7, group_id = $8, active = $9, updated_at = $10 WHERE id = $11",
        )
        .bind(&name)
        .bind(input.position.unwrap_or(100))
        .bind(input.policy_id)
        .bind(input.sla_kind.map(|k| k.as_str()))
        .bind(input.fires_on.as_str())
        .bind(input.action.as_str())
        .bind(input.user_id)
        .bind(input.group_id)
        .bind(input.active.unwrap_or(true))
        .bind(at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        self.escalation_rule(actor, id).await
    }

    pub async fn delete_escalation_rule(&self, actor: &Actor, id: i64) -> Result<()> {
        crate::require_admin(actor, "manage service levels")?;
        let done = sqlx::query("DELETE FROM escalation_rules WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
