//! What the agent console needs beyond single tickets: queue counts for the
//! sidebar, the "following" queue, and display names for ids.
//!
//! Built to stay fast at 100,000 tickets and more:
//! - the sidebar counts of every viewer are sums over one small table,
//!   [`ActiveCounts`] (active tickets counted by group, owner and state, read
//!   in one index-only pass), plus the viewer's followed tickets; the pages
//!   keep that table for a few seconds and share it between viewers;
//! - an agent's visibility ("my groups, or mine, or followed") is an OR that
//!   no index serves, so queue lists of agents are read as one short,
//!   index-ordered branch per group, one for the owner and the followed
//!   tickets, merged and sorted at the end ([`Store::queue`]).

use std::collections::HashMap;

use sqlx::Row;
use tuki_domain::access::{can_view_ticket, Actor, TicketFacts};
use tuki_domain::directory::Role;
use tuki_domain::ticket::TicketState;

use crate::sql::{Sql, Value};
use crate::tickets::visibility::visibility;
use crate::tickets::{ticket_from_row, Ticket, TICKET_COLUMNS};
use crate::{Engine, Result, Store};

/// A console queue. Each is a fixed filter over the tickets the actor may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Active tickets the actor owns.
    Mine,
    /// Active tickets of one group.
    Group(i64),
    /// Active tickets without an owner.
    Unassigned,
    /// Tickets waiting for the customer or a third party.
    Pending,
    /// Active tickets the actor follows (e.g. after transferring them).
    Following,
    /// Every active ticket the actor may see.
    AllOpen,
}

impl Queue {
    pub fn key(self) -> String {
        match self {
            Queue::Mine => "mine".into(),
            Queue::Group(g) => format!("group-{g}"),
            Queue::Unassigned => "unassigned".into(),
            Queue::Pending => "pending".into(),
            Queue::Following => "following".into(),
            Queue::AllOpen => "open".into(),
        }
    }

    pub fn parse(raw: &str) -> Option<Queue> {
        Some(match raw {
            "mine" => Queue::Mine,
            "unassigned" => Queue::Unassigned,
            "pending" => Queue::Pending,
            "following" => Queue::Following,
            "open" => Queue::AllOpen,
            other => Queue::Group(other.strip_prefix("group-")?.parse().ok()?),
        })
    }

    /// Appends the queue's condition (visibility included).
    fn restrict(self, actor: &Actor, sql: &mut Sql) {
        match self {
            Queue::Group(g) => visibility(actor, Some(g), sql),
            Queue::Unassigned | Queue::Pending | Queue::AllOpen => visibility(actor, None, sql),
            // Owning or following a ticket lets one see it.
            Queue::Mine | Queue::Following => {}
        }
        self.condition(actor, sql, "");
    }

    /// Appends the queue's own condition, without visibility. `plus` goes
    /// before columns that should not pick the index: SQLite's `+` where a
    /// branch must be read through its group's or owner's index.
    fn condition(self, actor: &Actor, sql: &mut Sql, plus: &str) {
        let me = actor.user_id.unwrap_or(-1);
        match self {
            Queue::Mine => {
                sql.push(" AND t.active = ")
                    .bind(Value::Bool(true))
                    .push(" AND t.owner_id = ")
                    .bind(Value::Int(me));
            }
            Queue::Group(g) => {
                sql.push(" AND t.group_id = ")
                    .bind(Value::Int(g))
                    .push(" AND t.active = ")
                    .bind(Value::Bool(true));
            }
            Queue::Unassigned => {
                sql.push(" AND t.active = ")
                    .bind(Value::Bool(true))
                    .push(&format!(" AND {plus}t.owner_id IS NULL"));
            }
            Queue::Pending => {
                // Pending states are active; saying so lets the active
                // indexes serve the list.
                sql.push(" AND t.active = ")
                    .bind(Value::Bool(true))
                    .push(&format!(
                        " AND {plus}t.state IN ('pending_customer', 'pending_third_party')"
                    ));
            }
            Queue::Following => {
                sql.push(" AND t.active = ")
                    .bind(Value::Bool(true))
                    .push(" AND t.id IN (SELECT f.ticket_id FROM ticket_followers f WHERE f.user_id = ")
                    .bind(Value::Int(me))
                    .push(")");
            }
            Queue::AllOpen => {
                sql.push(" AND t.active = ").bind(Value::Bool(true));
            }
        }
    }

    /// For an agent's queue that needs the visibility OR: the groups and the
    /// user whose branches [`Store::queue`] reads. `None` when one index
    /// already serves the queue (administrators, own queues, own groups).
    fn branches(self, actor: &Actor) -> Option<(Vec<i64>, i64)> {
        if actor.role != Role::Agent {
            return None;
        }
        match self {
            Queue::Mine | Queue::Following => None,
            Queue::Group(g) if actor.in_group(g) => None,
            _ => Some((actor.group_ids.clone(), actor.user_id.unwrap_or(-1))),
        }
    }
}

/// How a console list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueSort {
    #[default]
    Newest,
    Oldest,
    Priority,
    Updated,
}

impl QueueSort {
    pub fn parse(raw: &str) -> QueueSort {
        match raw {
            "oldest" => QueueSort::Oldest,
            "priority" => QueueSort::Priority,
            "updated" => QueueSort::Updated,
            _ => QueueSort::Newest,
        }
    }
    pub fn key(self) -> &'static str {
        match self {
            QueueSort::Newest => "newest",
            QueueSort::Oldest => "oldest",
            QueueSort::Priority => "priority",
            QueueSort::Updated => "updated",
        }
    }

    fn order_by(self) -> &'static str {
        match self {
            QueueSort::Newest => " ORDER BY t.id DESC",
            QueueSort::Oldest => " ORDER BY t.id ASC",
            QueueSort::Priority => " ORDER BY t.priority DESC, t.id DESC",
            QueueSort::Updated => " ORDER BY t.updated_at DESC, t.id DESC",
        }
    }
}

/// Active tickets counted by group, owner and state: a few hundred rows on a
/// desk of any size. Every sidebar count is a sum over some of them.
#[derive(Debug, Clone, Default)]
pub struct ActiveCounts {
    pub rows: Vec<CountRow>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountRow {
    pub group_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub state: TicketState,
    pub n: i64,
}

/// The sidebar of one viewer: how many tickets each of their queues holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub mine: i64,
    pub following: i64,
    pub groups: HashMap<i64, i64>,
    pub unassigned: i64,
    pub pending: i64,
    pub open: i64,
}

fn is_pending(s: TicketState) -> bool {
    matches!(
        s,
        TicketState::PendingCustomer | TicketState::PendingThirdParty
    )
}

impl QueueCounts {
    /// The counts of `actor` (staff) from the shared table and the active
    /// tickets the actor follows (one row each, `n` = 1). Which rows count is
    /// the domain's `can_view_ticket`, the rule single reads use; a store
    /// test checks that counts, queues, lists and single reads agree on both
    /// engines.
    pub fn of(actor: &Actor, all: &ActiveCounts, followed: &[CountRow]) -> QueueCounts {
        let me = actor.user_id;
        let mut c = QueueCounts::default();
        // A row seen without following it is counted from the shared table;
        // a followed row only when following is what makes it visible.
        let sees = |r: &CountRow, followed: bool| {
            let facts = TicketFacts {
                // Staff visibility does not depend on the requester.
                requester_id: -1,
                organisation_id: None,
                group_id: r.group_id,
                owner_id: r.owner_id,
                followed_by_actor: followed,
            };
            can_view_ticket(actor, &facts)
        };
        let mut add = |r: &CountRow| {
            if let Some(g) = r.group_id {
                *c.groups.entry(g).or_default() += r.n;
            }
            if r.owner_id.is_none() {
                c.unassigned += r.n;
            }
            if is_pending(r.state) {
                c.pending += r.n;
            }
            c.open += r.n;
        };
        for r in all.rows.iter().filter(|r| sees(r, false)) {
            add(r);
        }
        for r in followed.iter().filter(|r| !sees(r, false) && sees(r, true)) {
            add(r);
        }
        c.mine = all
            .rows
            .iter()
            .filter(|r| me.is_some() && r.owner_id == me)
            .map(|r| r.n)
            .sum();
        c.following = followed.iter().map(|r| r.n).sum();
        c
    }

    pub fn get(&self, queue: Queue) -> i64 {
        match queue {
            Queue::Mine => self.mine,
            Queue::Following => self.following,
            Queue::Group(g) => self.groups.get(&g).copied().unwrap_or(0),
            Queue::Unassigned => self.unassigned,
            Queue::Pending => self.pending,
            Queue::AllOpen => self.open,
        }
    }
}

fn count_row(r: &sqlx::any::AnyRow) -> Result<CountRow> {
    let state: String = r.try_get("state")?;
    Ok(CountRow {
        group_id: r.try_get("group_id")?,
        owner_id: r.try_get("owner_id")?,
        state: TicketState::parse("state", &state)?,
        n: r.try_get("n")?,
    })
}

impl Store {
    /// The tickets a person follows: their console hears of changes to
    /// these wherever the tickets are.
    pub async fn followed_tickets(&self, user_id: i64) -> Result<std::collections::HashSet<i64>> {
        let rows = sqlx::query("SELECT ticket_id FROM ticket_followers WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("ticket_id")?)).collect()
    }

    /// How many tickets one queue holds, counted directly. The sidebar uses
    /// [`Store::active_counts`] and [`QueueCounts::of`] instead, which answer
    /// every queue at once.
    pub async fn queue_count(&self, actor: &Actor, queue: Queue) -> Result<i64> {
        let mut sql = Sql::new("SELECT COUNT(*) AS n FROM tickets t WHERE 1=1");
        queue.restrict(actor, &mut sql);
        Ok(sql.query().fetch_one(&self.read).await?.try_get("n")?)
    }

    /// Active tickets by group, owner and state, in one index-only pass
    /// (`tickets_console_counts`). Not access-checked: it holds numbers only,
    /// and [`QueueCounts::of`] picks what a viewer may count.
    pub async fn active_counts(&self) -> Result<ActiveCounts> {
        let rows = sqlx::query(
            "SELECT t.group_id, t.owner_id, t.state, COUNT(*) AS n FROM tickets t \
             WHERE t.active = $1 GROUP BY t.group_id, t.owner_id, t.state",
        )
        .bind(true)
        .fetch_all(&self.read)
        .await?;
        Ok(ActiveCounts {
            rows: rows.iter().map(count_row).collect::<Result<_>>()?,
        })
    }

    /// The active tickets `user_id` follows, one row each, for
    /// [`QueueCounts::of`].
    pub async fn followed_active(&self, user_id: i64) -> Result<Vec<CountRow>> {
        let rows = sqlx::query(
            "SELECT t.group_id, t.owner_id, t.state, 1 AS n FROM ticket_followers f \
             JOIN tickets t ON t.id = f.ticket_id WHERE f.user_id = $1 AND t.active = $2",
        )
        .bind(user_id)
        .bind(true)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(count_row).collect()
    }

    /// Every sidebar count of `actor`, from a table of [`Store::active_counts`]
    /// (which the caller may keep for a moment and share).
    pub async fn queue_counts(&self, actor: &Actor, all: &ActiveCounts) -> Result<QueueCounts> {
        let followed = match actor.user_id {
            Some(me) if actor.is_staff() => self.followed_active(me).await?,
            _ => Vec::new(),
        };
        Ok(QueueCounts::of(actor, all, &followed))
    }

    /// One page of a queue: `page` counts from 0. `text` narrows by subject;
    /// `priority` by priority rank.
    #[allow(clippy::too_many_arguments)] // each is one of the page's filters
    pub async fn queue(
        &self,
        actor: &Actor,
        queue: Queue,
        sort: QueueSort,
        text: Option<&str>,
        priority: Option<i64>,
        page: i64,
        per_page: i64,
    ) -> Result<Vec<Ticket>> {
        let text = text.map(str::trim).filter(|s| !s.is_empty());
        if let Some(text) = text {
            tuki_domain::values::clean_text("q", text, 200)?;
        }
        // The queue's condition and the filters, without visibility.
        let filters = |sql: &mut Sql, plus: &str| {
            queue.condition(actor, sql, plus);
            if let Some(text) = text {
                let digits = text.trim_start_matches('#');
                if let Ok(n) = digits.parse::<i64>() {
                    sql.push(" AND t.number = ").bind(Value::Int(n));
                } else {
                    sql.push(" AND t.subject_folded LIKE ")
                        .bind(Value::Text(format!(
                            "%{}%",
                            crate::directory::like_escape(&tuki_domain::values::fold(text))
                        )))
                        .push(" ESCAPE '\\'");
                }
            }
            if let Some(p) = priority {
                sql.push(" AND t.priority = ").bind(Value::Int(p));
            }
        };
        let per_page = per_page.clamp(1, 200);
        let offset = page.clamp(0, 10_000) * per_page;
        let mut sql = Sql::new(&format!("SELECT {TICKET_COLUMNS} FROM tickets t"));
        match queue.branches(actor) {
            None => {
                sql.push(" WHERE 1=1");
                match queue {
                    Queue::Group(g) => visibility(actor, Some(g), &mut sql),
                    Queue::Unassigned | Queue::Pending | Queue::AllOpen => {
                        visibility(actor, None, &mut sql)
                    }
                    Queue::Mine | Queue::Following => {}
                }
            }
            Some((groups, me)) => {
                // What an agent sees is the union of their groups' tickets,
                // their own and the followed ones. Each branch reads at most
                // one page (plus the pages before it) in index order; the
                // outer query merges them. On SQLite the outer read must go
                // by id, not walk an index in sort order.
                // In a branch, the group's or owner's index must lead (SQLite
                // would otherwise walk e.g. every unassigned ticket in
                // priority order looking for the group's).
                let plus = if self.engine == Engine::Sqlite {
                    sql.push(" NOT INDEXED");
                    "+"
                } else {
                    ""
                };
                sql.push(" WHERE t.id IN (");
                let take = offset + per_page;
                let branch = |sql: &mut Sql, column: &str, id: i64, n: usize| {
                    sql.push(&format!(
                        "SELECT b{n}.id FROM (SELECT t.id FROM tickets t WHERE t.{column} = "
                    ))
                    .bind(Value::Int(id));
                    filters(sql, plus);
                    sql.push(sort.order_by())
                        .push(" LIMIT ")
                        .bind(Value::Int(take))
                        .push(&format!(") b{n} UNION ALL "));
                };
                for (n, g) in groups.iter().enumerate() {
                    branch(&mut sql, "group_id", *g, n);
                }
                branch(&mut sql, "owner_id", me, groups.len());
                sql.push("SELECT f.ticket_id FROM ticket_followers f WHERE f.user_id = ")
                    .bind(Value::Int(me))
                    .push(")");
            }
        }
        filters(&mut sql, "");
        sql.push(sort.order_by())
            .push(" LIMIT ")
            .bind(Value::Int(per_page))
            .push(" OFFSET ")
            .bind(Value::Int(offset));
        let rows = sql.query().fetch_all(&self.read).await?;
        rows.iter().map(ticket_from_row).collect()
    }
}
