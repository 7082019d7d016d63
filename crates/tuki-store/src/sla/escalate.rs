//! Escalations: the rules that fire when a target is warned or breached.

use jiff::Timestamp;
use sqlx::{AnyConnection, Row};
use tuki_domain::sla::*;

use super::escalation_rules::{rule_from_row, RULE_COLUMNS};
use crate::tickets::history::{record, Change};
use crate::tickets::Ticket;
use crate::time::to_db;
use crate::Result;

async fn notify(
    conn: &mut AnyConnection,
    user_id: i64,
    t: &Ticket,
    kind: &str,
    message: &str,
    at: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO notifications (user_id, ticket_id, kind, message, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user_id)
    .bind(t.id)
    .bind(kind)
    .bind(message)
    .bind(to_db(at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Runs the escalation rules that fire for `kind` reaching `trigger`.
pub(super) async fn escalate(
    conn: &mut AnyConnection,
    t: &mut Ticket,
    kind: SlaKind,
    trigger: EscalationTrigger,
    at: Timestamp,
) -> Result<()> {
    let rows = sqlx::query(&format!(
        "SELECT {RULE_COLUMNS} FROM escalation_rules WHERE active AND fires_on = $1 \
         AND (policy_id IS NULL OR policy_id = $2) AND (sla_kind IS NULL OR sla_kind = $3) \
         ORDER BY position, id"
    ))
    .bind(trigger.as_str())
    .bind(t.sla_policy_id)
    .bind(kind.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let what = match trigger {
        EscalationTrigger::Warning => "is close to its due time",
        EscalationTrigger::Breach => "is past its due time",
    };
    let message = format!(
        "#{} {}: the {} target {what}",
        t.number,
        t.subject,
        kind.as_str().replace('_', " ")
    );
    let reason = format!("SLA {kind} {trigger}");
    // Notifications go to whoever had the ticket when the line was crossed,
    // even if an earlier rule has just moved it on.
    let (owner, group) = (t.owner_id, t.group_id);
    for r in rows {
        let rule = rule_from_row(&r)?;
        let at_db = to_db(at);
        let note = |detail: String| Change {
            field: "escalation",
            old: None,
            new: Some(format!("{}: {detail}", rule.name)),
            reason: Some(&reason),
        };
        let mut recipients = Vec::new();
        match rule.action {
            EscalationAction::NotifyOwner => recipients.extend(owner),
            EscalationAction::NotifyUser => recipients.extend(rule.user_id),
            EscalationAction::NotifyGroup => {
                if let Some(g) = group {
                    for m in sqlx::query(
                        "SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id",
                    )
                    .bind(g)
                    .fetch_all(&mut *conn)
                    .await?
                    {
                        recipients.push(m.try_get("user_id")?);
                    }
                }
            }
            EscalationAction::NotifySupervisor => {
                if let Some(g) = group {
                    let s: Option<i64> =
                        sqlx::query("SELECT supervisor_id FROM support_groups WHERE id = $1")
                            .bind(g)
                            .fetch_one(&mut *conn)
                            .await?
                            .try_get("supervisor_id")?;
                    recipients.extend(s);
                }
            }
            EscalationAction::RaisePriority => {
                let to = raised(t.priority);
                if to != t.priority {
                    record(
                        conn,
                        t.id,
                        None,
                        at_db,
                        Change {
                            field: "priority",
                            old: Some(t.priority.to_string()),
                            new: Some(to.to_string()),
                            reason: Some(&reason),
                        },
                    )
                    .await?;
                    t.priority = to;
                }
                record(conn, t.id, None, at_db, note(format!("priority {to}"))).await?;
            }
            EscalationAction::TransferNextTier => {
                let tier: Option<i64> = match t.group_id {
                    Some(g) => sqlx::query("SELECT tier FROM support_groups WHERE id = $1")
                        .bind(g)
                        .fetch_optional(&mut *conn)
                        .await?
                        .map(|r| r.try_get("tier"))
                        .transpose()?,
                    None => None,
                };
                let target = match rule.group_id {
                    Some(g) => Some(g),
                    None => sqlx::query(
                        "SELECT id FROM support_groups WHERE tier = $1 ORDER BY id LIMIT 1",
                    )
                    .bind(tier.unwrap_or(0) + 1)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|r| r.try_get("id"))
                    .transpose()?,
                };
                match target.filter(|g| Some(*g) != t.group_id) {
                    Some(g) if t.state.is_active() => {
                        crate::tickets::transfer::move_to_group(
                            conn, t, None, g, None, &reason, at,
                        )
                        .await?;
                        record(
                            conn,
                            t.id,
                            None,
                            at_db,
                            note(format!("transferred to group {g}")),
                        )
                        .await?;
                    }
                    _ => {
                        tracing::info!(
                            ticket = t.id,
                            rule = rule.id,
                            "no next tier to transfer to"
                        );
                        record(conn, t.id, None, at_db, note("no next tier".into())).await?;
                    }
                }
            }
        }
        if !recipients.is_empty() || rule.action.as_str().starts_with("notify_") {
            recipients.sort_unstable();
            recipients.dedup();
            for u in &recipients {
                notify(conn, *u, t, &format!("sla_{trigger}"), &message, at).await?;
            }
            record(
                conn,
                t.id,
                None,
                at_db,
                note(format!("{} notified {}", rule.action, recipients.len())),
            )
            .await?;
        }
        tracing::info!(ticket = t.id, rule = rule.id, action = %rule.action, %kind, %trigger, "escalation fired");
    }
    Ok(())
}
