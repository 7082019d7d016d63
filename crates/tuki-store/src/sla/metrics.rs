//! Tier metrics of a resolved ticket: where its time went, whether the
//! first tier solved it.

use jiff::Timestamp;
use sqlx::{AnyConnection, Row};
use tuki_domain::sla::*;

use crate::tickets::Ticket;
use crate::time::{from_db, to_db};
use crate::Result;

/// Records the tier metrics of a ticket being resolved (or closed without
/// being resolved first). A later resolution replaces them.
pub(super) async fn record_tier_metrics(
    conn: &mut AnyConnection,
    t: &Ticket,
    at: Timestamp,
) -> Result<()> {
    let moves = sqlx::query(
        "SELECT at, from_tier, to_tier FROM ticket_transfers WHERE ticket_id = $1 ORDER BY id",
    )
    .bind(t.id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(TierMove {
            at: from_db(r.try_get("at")?),
            from_tier: r
                .try_get::<Option<i64>, _>("from_tier")?
                .map(|v| v.clamp(0, 9) as u8),
            to_tier: r.try_get::<i64, _>("to_tier")?.clamp(0, 9) as u8,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let initial_tier = match moves.first() {
        Some(m) => m.from_tier,
        None => match t.group_id {
            Some(g) => sqlx::query("SELECT tier FROM support_groups WHERE id = $1")
                .bind(g)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get::<i64, _>("tier"))
                .transpose()?
                .map(|v| v.clamp(0, 9) as u8),
            None => None,
        },
    };
    let m = tier_metrics(t.created_at, initial_tier, &moves, at);
    sqlx::query(
        "INSERT INTO ticket_tier_metrics (ticket_id, resolved_at, resolved_in_tier, first_contact_resolution, \
         transfers, tier1_seconds, tier2_seconds, tier3_seconds) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (ticket_id) DO UPDATE SET resolved_at = excluded.resolved_at, \
         resolved_in_tier = excluded.resolved_in_tier, first_contact_resolution = excluded.first_contact_resolution, \
         transfers = excluded.transfers, tier1_seconds = excluded.tier1_seconds, \
         tier2_seconds = excluded.tier2_seconds, tier3_seconds = excluded.tier3_seconds",
    )
    .bind(t.id)
    .bind(to_db(at))
    .bind(m.resolved_in_tier.map(i64::from))
    .bind(m.first_contact_resolution)
    .bind(i64::from(m.transfers))
    .bind(m.seconds_in_tier[0])
    .bind(m.seconds_in_tier[1])
    .bind(m.seconds_in_tier[2])
    .execute(&mut *conn)
    .await?;
    Ok(())
}
