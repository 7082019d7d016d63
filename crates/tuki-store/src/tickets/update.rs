//! Changing a ticket's fields and its followers.

use jiff::Timestamp;
use serde::Deserialize;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::{Actor, TicketAction};
use tuki_domain::directory::Role;
use tuki_domain::ticket::{self as rules, Priority, TicketEvent, TicketState};
use tuki_domain::values;

use super::history::Change;
use super::{
    add_follower, check_owner, clean_category, clean_tags, load_for, opt_str, save, set_state,
    Ticket, SUBJECT_MAX,
};
use crate::directory::double_option;
use crate::events::{dispatch, TicketChange};
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

/// A patch checked without the database.
struct CleanPatch {
    subject: Option<String>,
    category: Option<Option<String>>,
    tags: Option<Vec<String>>,
    priority: Option<Priority>,
    owner_id: Option<Option<i64>>,
    state: Option<TicketState>,
}

impl CleanPatch {
    fn new(patch: TicketPatch) -> Result<CleanPatch> {
        Ok(CleanPatch {
            subject: patch
                .subject
                .as_deref()
                .map(|s| values::line("subject", s, SUBJECT_MAX))
                .transpose()?,
            category: patch
                .category
                .as_ref()
                .map(|c| clean_category(c.as_deref()))
                .transpose()?,
            tags: patch.tags.as_deref().map(clean_tags).transpose()?,
            priority: patch.priority,
            owner_id: patch.owner_id,
            state: patch.state,
        })
    }

    /// Whether it edits more than the state (customers may only change that).
    fn edits(&self) -> bool {
        self.subject.is_some()
            || self.category.is_some()
            || self.tags.is_some()
            || self.priority.is_some()
            || self.owner_id.is_some()
    }
}

impl Store {
    /// Changes a ticket's fields; each change goes to the history.
    pub async fn update_ticket(
        &self,
        actor: &Actor,
        id: i64,
        patch: TicketPatch,
    ) -> Result<Ticket> {
        let patch = CleanPatch::new(patch)?;
        let action = if patch.edits() {
            TicketAction::Edit
        } else {
            TicketAction::ChangeState
        };
        let at = self.now();
        let mut tx = self.begin_write().await?;
        let mut t = load_for(&mut tx, actor, id, action).await?;
        let change = apply(&mut tx, actor, &mut t, patch, at).await?;
        if change.is_empty() {
            tx.rollback().await?;
            return Ok(t);
        }
        t.updated_at = at;
        save(&mut tx, &t).await?;
        dispatch(&mut tx, &mut t, change).await?;
        tx.commit().await?;
        Ok(t)
    }

    /// Adds a follower. Agents may add themselves or colleagues; followers
    /// are staff.
    pub async fn follow(&self, actor: &Actor, id: i64, user_id: i64) -> Result<Ticket> {
        let at = self.now();
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
        if add_follower(&mut tx, id, user_id, to_db(at)).await? {
            t.followers.push(user_id);
            t.followers.sort();
            let mut change = TicketChange::new(actor.user_id, at);
            change.change(Change::new("follower", None, Some(user_id.to_string())));
            dispatch(&mut tx, &mut t, change).await?;
        }
        tx.commit().await?;
        Ok(t)
    }

    pub async fn unfollow(&self, actor: &Actor, id: i64, user_id: i64) -> Result<Ticket> {
        let at = self.now();
        let mut tx = self.begin_write().await?;
        let mut t = load_for(&mut tx, actor, id, TicketAction::Follow).await?;
        let done =
            sqlx::query("DELETE FROM ticket_followers WHERE ticket_id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() > 0 {
            t.followers.retain(|f| *f != user_id);
            let mut change = TicketChange::new(actor.user_id, at);
            change.change(Change::new("follower", Some(user_id.to_string()), None));
            dispatch(&mut tx, &mut t, change).await?;
        }
        tx.commit().await?;
        Ok(t)
    }
}

/// Applies a checked patch to `t` (and its tags), returning what changed.
async fn apply(
    tx: &mut AnyConnection,
    actor: &Actor,
    t: &mut Ticket,
    patch: CleanPatch,
    at: Timestamp,
) -> Result<TicketChange> {
    let mut change = TicketChange::new(actor.user_id, at);
    if let Some(s) = patch.subject.filter(|s| *s != t.subject) {
        change.change(Change::new(
            "subject",
            Some(t.subject.clone()),
            Some(s.clone()),
        ));
        t.subject = s;
    }
    if let Some(c) = patch.category.filter(|c| *c != t.category) {
        change.change(Change::new("category", t.category.clone(), c.clone()));
        t.category = c;
    }
    if let Some(p) = patch.priority.filter(|p| *p != t.priority) {
        change.change(Change::new(
            "priority",
            Some(t.priority.to_string()),
            Some(p.to_string()),
        ));
        t.priority = p;
    }
    let mut assigned = None;
    if let Some(owner) = patch.owner_id.filter(|o| *o != t.owner_id) {
        if let Some(o) = owner {
            check_owner(tx, o, t.group_id).await?;
        }
        change.change(Change::new("owner", opt_str(t.owner_id), opt_str(owner)));
        t.owner_id = owner;
        assigned = owner;
    }
    if let Some(to) = patch.state.filter(|s| *s != t.state) {
        if t.merged_into_id.is_some() {
            return Err(StoreError::conflict(
                Some("state"),
                "a merged ticket stays closed",
            ));
        }
        rules::transition(t.state, to, actor.role)?;
        change.change(Change::new(
            "state",
            Some(t.state.to_string()),
            Some(to.to_string()),
        ));
        change.event(TicketEvent::StateChanged { from: t.state, to });
        set_state(t, to, at);
    }
    if let Some(tags) = patch.tags {
        for gone in t.tags.iter().filter(|x| !tags.contains(x)) {
            sqlx::query("DELETE FROM ticket_tags WHERE ticket_id = $1 AND tag = $2")
                .bind(t.id)
                .bind(gone)
                .execute(&mut *tx)
                .await?;
            change.change(Change::new("tag", Some(gone.clone()), None));
        }
        for added in tags.iter().filter(|x| !t.tags.contains(x)) {
            sqlx::query("INSERT INTO ticket_tags (ticket_id, tag) VALUES ($1, $2)")
                .bind(t.id)
                .bind(added)
                .execute(&mut *tx)
                .await?;
            change.change(Change::new("tag", None, Some(added.clone())));
        }
        t.tags = tags;
    }
    // The new owner hears of it after the state (a resolution mail first).
    if let Some(o) = assigned {
        change.event(TicketEvent::Assigned { owner: o });
    }
    Ok(change)
}
