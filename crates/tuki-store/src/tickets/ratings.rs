//! Customers' ratings of the help they got on a request.

use jiff::Timestamp;
use sqlx::Row;
use tuki_domain::access::{Actor, TicketAction};
use tuki_domain::directory::Role;
use tuki_domain::values;

use super::history::Change;
use crate::events::{dispatch, TicketChange};
use crate::time::{from_db, to_db};
use crate::{Result, Store, StoreError};

/// A customer's rating of the help on one request.
#[derive(Debug, Clone)]
pub struct Rating {
    pub score: i64,
    pub comment: String,
    pub created_at: Timestamp,
}

impl Store {
    /// Records the requester's rating (1–5) of a resolved or closed request;
    /// a second rating replaces the first.
    pub async fn rate_ticket(
        &self,
        actor: &Actor,
        ticket_id: i64,
        score: i64,
        comment: &str,
    ) -> Result<Rating> {
        if !(1..=5).contains(&score) {
            return Err(StoreError::invalid("score", "must be 1 to 5"));
        }
        let comment = comment.trim();
        let comment = if comment.is_empty() {
            String::new()
        } else {
            values::body("comment", comment, 5000)?
        };
        let t = self.authorize(actor, ticket_id, TicketAction::View).await?;
        if actor.role != Role::Customer {
            return Err(StoreError::forbidden("customers rate the help they got"));
        }
        if t.state.is_active() {
            return Err(StoreError::conflict(
                Some("state"),
                "a request is rated after it is resolved",
            ));
        }
        let me = actor.user_id.ok_or(StoreError::NotFound)?;
        let at = self.now();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM ticket_ratings WHERE ticket_id = $1")
            .bind(ticket_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO ticket_ratings (ticket_id, user_id, score, comment, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(ticket_id)
        .bind(me)
        .bind(score)
        .bind(&comment)
        .bind(to_db(at))
        .execute(&mut *tx)
        .await?;
        let mut t = t;
        let mut change = TicketChange::new(Some(me), at);
        change.change(Change::new("rating", None, Some(score.to_string())));
        dispatch(&mut tx, &mut t, change).await?;
        tx.commit().await?;
        Ok(Rating {
            score,
            comment,
            created_at: at,
        })
    }

    pub async fn rating(&self, actor: &Actor, ticket_id: i64) -> Result<Option<Rating>> {
        self.authorize(actor, ticket_id, TicketAction::View).await?;
        let row = sqlx::query(
            "SELECT score, comment, created_at FROM ticket_ratings WHERE ticket_id = $1",
        )
        .bind(ticket_id)
        .fetch_optional(&self.read)
        .await?;
        Ok(match row {
            Some(r) => Some(Rating {
                score: r.try_get("score")?,
                comment: r.try_get("comment")?,
                created_at: from_db(r.try_get("created_at")?),
            }),
            None => None,
        })
    }
}
