//! Escalations: the rules that fire when an open target is warned or
//! breached. They notify people (a `notifications` row each, mailed later
//! in the recipient's language), raise the priority or move the ticket to
//! the next tier; each leaves history rows, made by Tuki.

use jiff::Timestamp;
use sqlx::{AnyConnection, Row};
use tuki_domain::sla::{raised, EscalationAction, EscalationTrigger, SlaKind};

use super::escalation_rules::{rule_from_row, EscalationRule, RULE_COLUMNS};
use crate::events::TicketChange;
use crate::tickets::history::Change;
use crate::tickets::Ticket;
use crate::Result;

/// Runs the escalation rules that fire for `kind` reaching `trigger` on `t`
/// (changing `t` as they say; the caller saves it) and adds their history
/// rows to `follow_up`.
pub(super) async fn escalate(
    conn: &mut AnyConnection,
    t: &mut Ticket,
    kind: SlaKind,
    trigger: EscalationTrigger,
    at: Timestamp,
    follow_up: &mut TicketChange,
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
    let reason = format!("SLA {kind} {trigger}");
    // Notifications go to whoever had the ticket when the line was crossed,
    // even if an earlier rule has just moved it on.
    let (owner, group) = (t.owner_id, t.group_id);
    for r in rows {
        let rule = rule_from_row(&r)?;
        let note = |detail: String| {
            Change::new("escalation", None, Some(format!("{}: {detail}", rule.name)))
                .because(&reason)
                .by_tuki_at(at)
        };
        match rule.action {
            EscalationAction::RaisePriority => {
                let to = raised(t.priority);
                if to != t.priority {
                    follow_up.change(
                        Change::new(
                            "priority",
                            Some(t.priority.to_string()),
                            Some(to.to_string()),
                        )
                        .because(&reason)
                        .by_tuki_at(at),
                    );
                    t.priority = to;
                }
                follow_up.change(note(format!("priority {to}")));
            }
            EscalationAction::TransferNextTier => {
                let detail = transfer_next_tier(conn, t, &rule, &reason, at, follow_up).await?;
                follow_up.change(note(detail));
            }
            notify => {
                let mut recipients = recipients(conn, notify, &rule, owner, group).await?;
                recipients.sort_unstable();
                recipients.dedup();
                // The API's copy; mail is written in each one's language.
                let message = tuki_mail::texts::sla_notice(
                    tuki_mail::texts::Lang::En,
                    &format!("#{}", t.number),
                    &t.subject,
                    kind.as_str(),
                    &format!("sla_{trigger}"),
                );
                for u in &recipients {
                    crate::outbox::notify(
                        conn,
                        *u,
                        Some(t.id),
                        &format!("sla_{trigger}"),
                        Some(kind.as_str()),
                        &message,
                        at,
                    )
                    .await?;
                }
                follow_up.change(note(format!(
                    "{} notified {}",
                    rule.action,
                    recipients.len()
                )));
            }
        }
        tracing::info!(ticket = t.id, rule = rule.id, action = %rule.action, %kind, %trigger, "escalation fired");
    }
    Ok(())
}

/// Whom a notifying rule tells.
async fn recipients(
    conn: &mut AnyConnection,
    action: EscalationAction,
    rule: &EscalationRule,
    owner: Option<i64>,
    group: Option<i64>,
) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    match (action, group) {
        (EscalationAction::NotifyOwner, _) => out.extend(owner),
        (EscalationAction::NotifyUser, _) => out.extend(rule.user_id),
        (EscalationAction::NotifyGroup, Some(g)) => {
            for m in sqlx::query(
                "SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id",
            )
            .bind(g)
            .fetch_all(&mut *conn)
            .await?
            {
                out.push(m.try_get("user_id")?);
            }
        }
        (EscalationAction::NotifySupervisor, Some(g)) => {
            let s: Option<i64> =
                sqlx::query("SELECT supervisor_id FROM support_groups WHERE id = $1")
                    .bind(g)
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get("supervisor_id")?;
            out.extend(s);
        }
        _ => {}
    }
    Ok(out)
}

/// Moves an active ticket to the rule's group, or the first group of the
/// next tier; the detail for the history.
async fn transfer_next_tier(
    conn: &mut AnyConnection,
    t: &mut Ticket,
    rule: &EscalationRule,
    reason: &str,
    at: Timestamp,
    follow_up: &mut TicketChange,
) -> Result<String> {
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
        None => sqlx::query("SELECT id FROM support_groups WHERE tier = $1 ORDER BY id LIMIT 1")
            .bind(tier.unwrap_or(0) + 1)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?,
    };
    match target.filter(|g| Some(*g) != t.group_id) {
        Some(g) if t.state.is_active() => {
            let moved =
                crate::tickets::transfer::move_to_group(conn, t, None, g, None, reason, at).await?;
            for c in moved.changes {
                follow_up.change(c.by_tuki_at(at));
            }
            follow_up.events.extend(moved.events);
            Ok(format!("transferred to group {g}"))
        }
        _ => {
            tracing::info!(ticket = t.id, rule = rule.id, "no next tier to transfer to");
            Ok("no next tier".into())
        }
    }
}
