//! The sweep that finds clocks whose stored state is out of date, and the
//! benchmark's seeding of clocks.

use sqlx::Row;
use tuki_domain::sla::*;

use super::calendars::to_json;
use super::clocks::{parse_clock, policy_rules};
use super::*;
use crate::jobs::{enqueue_on, NewJob};
use crate::time::{from_db, to_db};
use crate::{Result, Store};

/// What [`Store::recompute_sla`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecomputeStats {
    /// Clocks of active tickets evaluated.
    pub clocks: u64,
    /// Tickets whose stored state no longer matched; each got an SLA check
    /// job due now.
    pub changed: u64,
}

impl Store {
    /// Evaluates every clock of every active ticket now and schedules an
    /// immediate SLA check for each ticket whose stored state is out of date
    /// (after a calendar change, or a runner outage). The check, not this
    /// sweep, records the events and escalates, so nothing is recorded twice.
    pub async fn recompute_sla(&self) -> Result<RecomputeStats> {
        let now = self.now();
        let mut conn = self.read.acquire().await?;
        let max_id: i64 = sqlx::query("SELECT COALESCE(MAX(ticket_id), 0) AS m FROM sla_clocks")
            .fetch_one(&mut *conn)
            .await?
            .try_get("m")?;
        let mut rules: std::collections::HashMap<i64, Option<ClockRules>> = Default::default();
        let mut stats = RecomputeStats::default();
        let mut changed: Vec<i64> = Vec::new();
        const SPAN: i64 = 25_000;
        let mut from = 0;
        while from < max_id {
            let rows = sqlx::query(
                "SELECT c.ticket_id, c.clock, c.state, t.sla_policy_id FROM sla_clocks c \
                 JOIN tickets t ON t.id = c.ticket_id \
                 WHERE c.ticket_id > $1 AND c.ticket_id <= $2 AND t.active AND t.sla_policy_id IS NOT NULL \
                 ORDER BY c.ticket_id",
            )
            .bind(from)
            .bind(from + SPAN)
            .fetch_all(&mut *conn)
            .await?;
            from += SPAN;
            for r in &rows {
                let policy: i64 = r.try_get("sla_policy_id")?;
                if let std::collections::hash_map::Entry::Vacant(slot) = rules.entry(policy) {
                    slot.insert(policy_rules(&mut conn, policy).await?);
                }
                let Some(Some(rule)) = rules.get(&policy) else {
                    continue;
                };
                let clock = parse_clock(&r.try_get::<String, _>("clock")?)?;
                stats.clocks += 1;
                let state = evaluate(&rule.calendar, &clock, now, rule.warn_percent).state;
                let ticket: i64 = r.try_get("ticket_id")?;
                if state.as_str() != r.try_get::<String, _>("state")?
                    && changed.last() != Some(&ticket)
                {
                    changed.push(ticket);
                }
            }
        }
        drop(conn);
        stats.changed = changed.len() as u64;
        let mut tx = self.begin_write().await?;
        for ticket in changed {
            enqueue_on(
                &mut tx,
                NewJob {
                    kind: SLA_CHECK_JOB,
                    payload: serde_json::json!({ "ticket_id": ticket }),
                    run_at: now,
                    dedupe_key: Some(format!("sla:{ticket}")),
                },
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(stats)
    }

    /// For the benchmark: gives every active ticket `policy_id` and a
    /// running resolution clock started when the ticket was, with targets
    /// spread so that the clocks stand in every state. Returns how many.
    pub async fn seed_sla_clocks(&self, policy_id: i64) -> Result<u64> {
        let now = self.now();
        let rows = sqlx::query("SELECT id, created_at FROM tickets WHERE active ORDER BY id")
            .fetch_all(&self.read)
            .await?;
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE tickets SET sla_policy_id = $1 WHERE active")
            .bind(policy_id)
            .execute(&mut *tx)
            .await?;
        for chunk in rows.chunks(500) {
            let mut sql = String::from(
                "INSERT INTO sla_clocks (ticket_id, kind, clock, state, updated_at) VALUES ",
            );
            for (i, r) in chunk.iter().enumerate() {
                let id: i64 = r.try_get("id")?;
                let created = from_db(r.try_get("created_at")?);
                // One to ~400 business hours: some breached, some warned,
                // most running.
                let target = 60 + (id % 400) as u32 * 60;
                let clock = to_json(&SlaClock::start(created, target)?)?;
                if i > 0 {
                    sql.push_str(", ");
                }
                // Generated here, not user input: inlining is safe.
                sql.push_str(&format!(
                    "({id}, 'resolution', '{clock}', 'running', {})",
                    to_db(now)
                ));
            }
            sql.push_str(" ON CONFLICT (ticket_id, kind) DO NOTHING");
            sqlx::raw_sql(&sql).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}
