//! Changing a ticket's fields and its followers.

use serde::Deserialize;
use sqlx::Row;
use tuki_domain::access::{Actor, TicketAction};
use tuki_domain::directory::Role;
use tuki_domain::ticket::{self as rules, Priority, TicketState};
use tuki_domain::values;

use super::history::{record, Change};
use super::{
    add_follower, check_owner, clean_category, clean_tags, load_for, opt_str, save, set_state,
    Ticket, SUBJECT_MAX,
};
use crate::directory::double_option;
use crate::sla::{on_ticket_event, TicketEvent};
use crate::time::to_db;
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketPatch {
    pub subject: Option<String>,
    pub state: Option<TicketState>,
    pub priority: Option<Priority>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub category: Option<Option<String>>,
    /// `null` unassigns. To move the ticket to another group, use transfer.
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub owner_id: Option<Option<i64>>,
    /// Replaces the whole set.
    pub tags: Option<Vec<String>>,
}

impl Store {
    /// Changes a ticket's fields; each change goes to the history.
    pub async fn update_ticket(
        &self,
        actor: &Actor,
        id: i64,
        patch: TicketPatch,
    ) -> Result<Ticket> {
        let subject = patch
            .subject
            .as_deref()
            .map(|s| values::line("subject", s, SUBJECT_MAX))
            .transpose()?;
        let category = patch
            .category
            .as_ref()
            .map(|c| clean_category(c.as_deref()))
            .transpose()?;
        let tags = patch.tags.as_deref().map(clean_tags).transpose()?;
        let edits = subject.is_some()
            || category.is_some()
            || tags.is_some()
            || patch.priority.is_some()
            || patch.owner_id.is_some();
        let at = self.now();
        let at_db = to_db(at);

        let mut tx = self.begin_write().await?;
        let mut t = load_for(
            &mut tx,
            actor,
            id,
            if edits {
                TicketAction::Edit
            } else {
                TicketAction::ChangeState
            },
        )
        .await?;
        let before = t.clone();
        let mut changes: Vec<Change> = Vec::new();
        let mut state_change = None;

        if let Some(s) = subject.filter(|s| *s != t.subject) {
            changes.push(Change::new(
                "subject",
                Some(t.subject.clone()),
                Some(s.clone()),
            ));
            t.subject = s;
        }
        if let Some(c) = category.filter(|c| *c != t.category) {
            changes.push(Change::new("category", t.category.clone(), c.clone()));
            t.category = c;
        }
        if let Some(p) = patch.priority.filter(|p| *p != t.priority) {
            changes.push(Change::new(
                "priority",
                Some(t.priority.to_string()),
                Some(p.to_string()),
            ));
            t.priority = p;
        }
        if let Some(owner) = patch.owner_id.filter(|o| *o != t.owner_id) {
            if let Some(o) = owner {
                check_owner(&mut tx, o, t.group_id).await?;
            }
            changes.push(Change::new("owner", opt_str(t.owner_id), opt_str(owner)));
            t.owner_id = owner;
        }
        if let Some(to) = patch.state.filter(|s| *s != t.state) {
            if t.merged_into_id.is_some() {
                return Err(StoreError::conflict(
                    Some("state"),
                    "a merged ticket stays closed",
                ));
            }
            rules::transition(t.state, to, actor.role)?;
            changes.push(Change::new(
                "state",
                Some(t.state.to_string()),
                Some(to.to_string()),
            ));
            state_change = Some(TicketEvent::StateChanged { from: t.state, to });
            set_state(&mut t, to, at);
        }
        if let Some(tags) = tags {
            for gone in before.tags.iter().filter(|x| !tags.contains(x)) {
                sqlx::query("DELETE FROM ticket_tags WHERE ticket_id = $1 AND tag = $2")
                    .bind(id)
                    .bind(gone)
                    .execute(&mut *tx)
                    .await?;
                changes.push(Change::new("tag", Some(gone.clone()), None));
            }
            for added in tags.iter().filter(|x| !before.tags.contains(x)) {
                sqlx::query("INSERT INTO ticket_tags (ticket_id, tag) VALUES ($1, $2)")
                    .bind(id)
                    .bind(added)
                    .execute(&mut *tx)
                    .await?;
                changes.push(Change::new("tag", None, Some(added.clone())));
            }
            t.tags = tags;
        }
        if changes.is_empty() {
            tx.rollback().await?;
            return Ok(t);
        }
        t.updated_at = at;
        save(&mut tx, &t).await?;
        for c in changes {
            record(&mut tx, id, actor.user_id, at_db, c).await?;
        }
        if let Some(event) = state_change {
            on_ticket_event(&mut tx, &mut t, actor.user_id, event, at).await?;
        }
        if let Some(o) = t.owner_id.filter(|o| before.owner_id != Some(*o)) {
            crate::outbox::on_assigned(&mut tx, &t, actor.user_id, o, at).await?;
        }
        tx.commit().await?;
        Ok(t)
    }

    /// Adds a follower. Agents may add themselves or colleagues; followers
    /// are staff.
    pub async fn follow(&self, actor: &Actor, id: i64, user_id: i64) -> Result<Ticket> {
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        let mut t = load_for(&mut tx, actor, id, TicketAction::Follow).await?;
        let role = sqlx::query("SELECT role FROM users WHERE id = $1 AND active")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::invalid("user_id", "no such user"))?
            .try_get::<String, _>("role")?;
        if role == Role::Customer.as_str() {
            return Err(StoreError::invalid("user_id", "followers are staff"));
        }
        if add_follower(&mut tx, id, user_id, at).await? {
            record(
                &mut tx,
                id,
                actor.user_id,
                at,
                Change::new("follower", None, Some(user_id.to_string())),
            )
            .await?;
            t.followers.push(user_id);
            t.followers.sort();
        }
        tx.commit().await?;
        Ok(t)
    }

    pub async fn unfollow(&self, actor: &Actor, id: i64, user_id: i64) -> Result<Ticket> {
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        let mut t = load_for(&mut tx, actor, id, TicketAction::Follow).await?;
        let done =
            sqlx::query("DELETE FROM ticket_followers WHERE ticket_id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() > 0 {
            record(
                &mut tx,
                id,
                actor.user_id,
                at,
                Change::new("follower", Some(user_id.to_string()), None),
            )
            .await?;
            t.followers.retain(|f| *f != user_id);
        }
        tx.commit().await?;
        Ok(t)
    }
}
