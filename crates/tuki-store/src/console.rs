//! What the agent console needs beyond single tickets: queue counts for the
//! sidebar, the "following" queue, and display names for ids.

use std::collections::HashMap;

use sqlx::Row;
use tuki_domain::access::Actor;
use tuki_domain::directory::Role;

use crate::sql::{Sql, Value};
use crate::tickets::{ticket_from_row, visibility, Ticket, TICKET_COLUMNS};
use crate::{Result, Store};

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
        let me = actor.user_id.unwrap_or(-1);
        match self {
            Queue::Mine => {
                sql.push(" AND t.active = ")
                    .bind(Value::Bool(true))
                    .push(" AND t.owner_id = ")
                    .bind(Value::Int(me));
            }
            Queue::Group(g) => {
                visibility(actor, Some(g), sql);
                sql.push(" AND t.group_id = ")
                    .bind(Value::Int(g))
                    .push(" AND t.active = ")
                    .bind(Value::Bool(true));
            }
            Queue::Unassigned => {
                visibility(actor, None, sql);
                sql.push(" AND t.active = ")
                    .bind(Value::Bool(true))
                    .push(" AND t.owner_id IS NULL");
            }
            Queue::Pending => {
                visibility(actor, None, sql);
                sql.push(" AND t.state IN ('pending_customer', 'pending_third_party')");
            }
            Queue::Following => {
                sql.push(" AND t.active = ")
                    .bind(Value::Bool(true))
                    .push(" AND t.id IN (SELECT f.ticket_id FROM ticket_followers f WHERE f.user_id = ")
                    .bind(Value::Int(me))
                    .push(")");
            }
            Queue::AllOpen => {
                visibility(actor, None, sql);
                sql.push(" AND t.active = ").bind(Value::Bool(true));
            }
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
}

impl Store {
    /// How many tickets each queue holds.
    pub async fn queue_count(&self, actor: &Actor, queue: Queue) -> Result<i64> {
        let mut sql = Sql::new("SELECT COUNT(*) AS n FROM tickets t WHERE 1=1");
        queue.restrict(actor, &mut sql);
        Ok(sql.query().fetch_one(&self.read).await?.try_get("n")?)
    }

    /// One page of a queue: `page` counts from 0. `text` narrows by subject;
    /// `priority` by priority rank.
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
        let mut sql = Sql::new(&format!("SELECT {TICKET_COLUMNS} FROM tickets t WHERE 1=1"));
        queue.restrict(actor, &mut sql);
        if let Some(text) = text.map(str::trim).filter(|s| !s.is_empty()) {
            tuki_domain::values::clean_text("q", text, 200)?;
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
        sql.push(match sort {
            QueueSort::Newest => " ORDER BY t.id DESC",
            QueueSort::Oldest => " ORDER BY t.id ASC",
            QueueSort::Priority => " ORDER BY t.priority DESC, t.id DESC",
            QueueSort::Updated => " ORDER BY t.updated_at DESC, t.id DESC",
        });
        let per_page = per_page.clamp(1, 200);
        sql.push(" LIMIT ")
            .bind(Value::Int(per_page))
            .push(" OFFSET ")
            .bind(Value::Int(page.clamp(0, 10_000) * per_page));
        let rows = sql.query().fetch_all(&self.read).await?;
        rows.iter().map(ticket_from_row).collect()
    }

    /// Display names (and roles) of users, for showing ids on pages. Only
    /// names and roles: nothing a customer should not see on their ticket.
    pub async fn user_names(&self, ids: &[i64]) -> Result<HashMap<i64, (String, Role)>> {
        let mut out = HashMap::new();
        let mut ids: Vec<i64> = ids.to_vec();
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return Ok(out);
        }
        let mut sql = Sql::new("SELECT id, name, role FROM users WHERE id IN ");
        sql.bind_list(&ids);
        for r in sql.query().fetch_all(&self.read).await? {
            let role: String = r.try_get("role")?;
            out.insert(
                r.try_get("id")?,
                (r.try_get("name")?, Role::parse("role", &role)?),
            );
        }
        Ok(out)
    }

    /// Names of organisations by id.
    pub async fn organisation_names(&self, ids: &[i64]) -> Result<HashMap<i64, String>> {
        let mut out = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let mut sql = Sql::new("SELECT id, name FROM organisations WHERE id IN ");
        sql.bind_list(ids);
        for r in sql.query().fetch_all(&self.read).await? {
            out.insert(r.try_get("id")?, r.try_get("name")?);
        }
        Ok(out)
    }
}
