//! Escalation rules: what happens when a target is warned or breached.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::sla::{EscalationAction, EscalationTrigger, SlaKind};
use tuki_domain::values;

use crate::resource::{refers_to, Fields, Resource, Value};
use crate::time::from_db;
use crate::{Result, StoreError};

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
    pub created_at: Timestamp,
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

/// Escalation rules as an administered resource.
pub struct EscalationRules;

impl Resource for EscalationRules {
    type Record = EscalationRule;
    type Input = EscalationRuleInput;
    const NOUN: &'static str = "escalation rule";
    const MANAGED_AS: &'static str = "manage service levels";
    const TABLE: &'static str = "escalation_rules";
    const COLUMNS: &'static str = RULE_COLUMNS;
    const ORDER: &'static str = "position, id";
    // Two rules may share a name (one per policy, say).
    const UNIQUE: Option<&'static str> = None;

    fn from_row(r: &AnyRow) -> Result<EscalationRule> {
        rule_from_row(r)
    }

    async fn check(
        conn: &mut AnyConnection,
        r: &EscalationRuleInput,
        _replacing: Option<i64>,
    ) -> Result<Fields> {
        let name = values::line("name", &r.name, 100)?;
        if let Some(p) = r.policy_id {
            refers_to(conn, "sla_policies", p, "policy_id", "policy").await?;
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
            refers_to(conn, "support_groups", g, "group_id", "group").await?;
        }
        Ok(vec![
            ("name", Value::Text(name)),
            ("position", Value::Int(r.position.unwrap_or(100))),
            ("policy_id", Value::opt_int(r.policy_id)),
            (
                "sla_kind",
                Value::opt_text(r.sla_kind.map(|k| k.as_str().into())),
            ),
            ("fires_on", Value::Text(r.fires_on.as_str().into())),
            ("action", Value::Text(r.action.as_str().into())),
            ("user_id", Value::opt_int(r.user_id)),
            ("group_id", Value::opt_int(r.group_id)),
            ("active", Value::Bool(r.active.unwrap_or(true))),
        ])
    }
}
