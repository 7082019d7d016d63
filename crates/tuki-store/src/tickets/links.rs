//! Links between tickets (related, parent/child) and merging duplicates.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use tuki_domain::access::{can_view_ticket, Actor, TicketAction};
use tuki_domain::ticket::{LinkKind, TicketState};

use tuki_domain::ticket::TicketEvent;

use super::history::Change;
use super::{add_follower, load, load_for, save, set_state, Ticket};
use crate::events::{dispatch, TicketChange};
use crate::time::{from_db, to_db};
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewLink {
    pub target_id: i64,
    /// `related`, or `parent` (this ticket is the parent of the target).
    pub kind: LinkKind,
}

/// How the other ticket relates to the one asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Relation {
    Related,
    /// The other ticket is this one's parent.
    Parent,
    /// The other ticket is this one's child.
    Child,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Link {
    pub id: i64,
    pub relation: Relation,
    pub ticket_id: i64,
    pub ticket_number: i64,
    pub ticket_subject: String,
    pub ticket_state: TicketState,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Merge {
    /// The ticket that survives.
    pub into_ticket_id: i64,
}

impl Store {
    pub async fn add_link(&self, actor: &Actor, id: i64, new: NewLink) -> Result<Vec<Link>> {
        if new.target_id == id {
            return Err(StoreError::invalid(
                "target_id",
                "a ticket cannot be linked to itself",
            ));
        }
        let at = self.now();
        let mut tx = self.begin_write().await?;
        let mut source = load_for(&mut tx, actor, id, TicketAction::Link).await?;
        let mut target = match load(&mut tx, new.target_id).await {
            Ok(t) if can_view_ticket(actor, &t.facts(actor)) => t,
            Ok(_) | Err(StoreError::NotFound) => {
                return Err(StoreError::invalid("target_id", "no such ticket"))
            }
            Err(e) => return Err(e),
        };
        // Related links are symmetric: store them one way only.
        let (a, b) = match new.kind {
            LinkKind::Related => (id.min(target.id), id.max(target.id)),
            LinkKind::Parent => (id, target.id),
        };
        let existing = sqlx::query(
            "SELECT id FROM ticket_links WHERE kind = $1 AND ((source_id = $2 AND target_id = $3) OR (source_id = $3 AND target_id = $2))",
        )
        .bind(new.kind.as_str())
        .bind(a)
        .bind(b)
        .fetch_optional(&mut *tx)
        .await?;
        if existing.is_some() {
            return Err(StoreError::conflict(
                Some("target_id"),
                "these tickets are already linked this way",
            ));
        }
        sqlx::query("INSERT INTO ticket_links (source_id, target_id, kind, created_by, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(a)
            .bind(b)
            .bind(new.kind.as_str())
            .bind(actor.user_id)
            .bind(to_db(at))
            .execute(&mut *tx)
            .await?;
        let describe = |t: &Ticket| format!("{} #{}", new.kind, t.number);
        let (to_target, to_source) = (describe(&target), describe(&source));
        let row = Change::new("link", None, Some(to_target));
        noted(&mut tx, &mut source, actor, at, row).await?;
        let row = Change::new("link", None, Some(to_source));
        noted(&mut tx, &mut target, actor, at, row).await?;
        tx.commit().await?;
        self.links(actor, id).await
    }

    /// The ticket's links to tickets the actor can see.
    pub async fn links(&self, actor: &Actor, id: i64) -> Result<Vec<Link>> {
        self.authorize(actor, id, TicketAction::View).await?;
        let rows = sqlx::query(
            "SELECT l.id, l.source_id, l.target_id, l.kind, l.created_at FROM ticket_links l \
             WHERE l.source_id = $1 OR l.target_id = $1 ORDER BY l.id",
        )
        .bind(id)
        .fetch_all(&self.read)
        .await?;
        let mut conn = self.read.acquire().await?;
        let mut out = Vec::new();
        for r in rows {
            let source: i64 = r.try_get("source_id")?;
            let target: i64 = r.try_get("target_id")?;
            let kind = LinkKind::parse("kind", &r.try_get::<String, _>("kind")?)?;
            let (other, relation) = match (kind, source == id) {
                (LinkKind::Related, true) => (target, Relation::Related),
                (LinkKind::Related, false) => (source, Relation::Related),
                (LinkKind::Parent, true) => (target, Relation::Child),
                (LinkKind::Parent, false) => (source, Relation::Parent),
            };
            let other = load(&mut conn, other).await?;
            if !can_view_ticket(actor, &other.facts(actor)) {
                continue;
            }
            out.push(Link {
                id: r.try_get("id")?,
                relation,
                ticket_id: other.id,
                ticket_number: other.number,
                ticket_subject: other.subject,
                ticket_state: other.state,
                created_at: from_db(r.try_get("created_at")?),
            });
        }
        Ok(out)
    }

    pub async fn remove_link(&self, actor: &Actor, id: i64, link_id: i64) -> Result<()> {
        let at = self.now();
        let mut tx = self.begin_write().await?;
        let mut ticket = load_for(&mut tx, actor, id, TicketAction::Link).await?;
        let row = sqlx::query("SELECT source_id, target_id, kind FROM ticket_links WHERE id = $1 AND (source_id = $2 OR target_id = $2)")
            .bind(link_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let source: i64 = row.try_get("source_id")?;
        let target: i64 = row.try_get("target_id")?;
        let kind: String = row.try_get("kind")?;
        let mut other = load(&mut tx, if source == id { target } else { source }).await?;
        sqlx::query("DELETE FROM ticket_links WHERE id = $1")
            .bind(link_id)
            .execute(&mut *tx)
            .await?;
        let row = Change::new("link", Some(format!("{kind} #{}", other.number)), None);
        noted(&mut tx, &mut ticket, actor, at, row).await?;
        let row = Change::new("link", Some(format!("{kind} #{}", ticket.number)), None);
        noted(&mut tx, &mut other, actor, at, row).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Merges a duplicate into the ticket that survives. The duplicate is
    /// closed and points to the survivor; its articles stay readable on it.
    /// Followers and tags carry over.
    pub async fn merge(&self, actor: &Actor, id: i64, merge: Merge) -> Result<Ticket> {
        if merge.into_ticket_id == id {
            return Err(StoreError::invalid(
                "into_ticket_id",
                "a ticket cannot be merged into itself",
            ));
        }
        let at = self.now();
        let mut tx = self.begin_write().await?;
        let mut source = load_for(&mut tx, actor, id, TicketAction::Merge).await?;
        let mut target =
            match load_for(&mut tx, actor, merge.into_ticket_id, TicketAction::Merge).await {
                Ok(t) => t,
                Err(StoreError::NotFound) => {
                    return Err(StoreError::invalid("into_ticket_id", "no such ticket"))
                }
                Err(e) => return Err(e),
            };
        if source.merged_into_id.is_some() {
            return Err(StoreError::conflict(None, "this ticket is already merged"));
        }
        if target.merged_into_id.is_some() || target.state == TicketState::Closed {
            return Err(StoreError::conflict(
                Some("into_ticket_id"),
                "cannot merge into a closed or merged ticket",
            ));
        }
        let into = carry_over(&mut tx, &source, &mut target, actor, at).await?;
        let mut from = TicketChange::new(actor.user_id, at);
        from.change(Change::new(
            "merged_into",
            None,
            Some(format!("#{}", target.number)),
        ));
        if source.state != TicketState::Closed {
            from.change(Change::new(
                "state",
                Some(source.state.to_string()),
                Some("closed".into()),
            ));
            from.event(TicketEvent::StateChanged {
                from: source.state,
                to: TicketState::Closed,
            });
        }
        set_state(&mut source, TicketState::Closed, at);
        source.merged_into_id = Some(target.id);
        source.updated_at = at;
        target.updated_at = at;
        save(&mut tx, &source).await?;
        save(&mut tx, &target).await?;
        dispatch(&mut tx, &mut target, into).await?;
        dispatch(&mut tx, &mut source, from).await?;
        tx.commit().await?;
        Ok(target)
    }
}

/// What a merge carries from the duplicate to the survivor: followers and
/// tags; the survivor's change (its new tags and where they came from).
async fn carry_over(
    tx: &mut sqlx::AnyConnection,
    source: &Ticket,
    target: &mut Ticket,
    actor: &Actor,
    at: Timestamp,
) -> Result<TicketChange> {
    let mut into = TicketChange::new(actor.user_id, at);
    for f in source.followers.clone() {
        if add_follower(tx, target.id, f, to_db(at)).await? {
            target.followers.push(f);
        }
    }
    let new_tags: Vec<String> = source
        .tags
        .iter()
        .filter(|t| !target.tags.contains(t))
        .cloned()
        .collect();
    for tag in &new_tags {
        sqlx::query("INSERT INTO ticket_tags (ticket_id, tag) VALUES ($1, $2)")
            .bind(target.id)
            .bind(tag)
            .execute(&mut *tx)
            .await?;
        into.change(Change::new("tag", None, Some(tag.clone())));
        target.tags.push(tag.clone());
    }
    target.tags.sort();
    target.followers.sort();
    into.change(Change::new(
        "merged_from",
        None,
        Some(format!("#{}", source.number)),
    ));
    Ok(into)
}

/// Dispatches one history row made by `actor` on `t` (a link added to or
/// removed from it).
async fn noted(
    tx: &mut sqlx::AnyConnection,
    t: &mut Ticket,
    actor: &Actor,
    at: Timestamp,
    row: Change,
) -> Result<()> {
    let mut change = TicketChange::new(actor.user_id, at);
    change.change(row);
    dispatch(tx, t, change).await
}
