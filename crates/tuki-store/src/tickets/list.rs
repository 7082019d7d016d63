//! Reading tickets: one by id or number (access-checked), and lists with
//! filters, sorts and keyset cursors (visibility as SQL).

use base64::Engine as _;
use serde::Serialize;
use sqlx::Row;
use tuki_domain::access::{Actor, TicketAction};
use tuki_domain::search::SearchQuery;
use tuki_domain::sla::SlaState;
use tuki_domain::ticket::{Priority, TicketState};
use tuki_domain::values;

use super::visibility::visibility;
use super::{load_extras_into, load_for, ticket_from_row, Ticket, TICKET_COLUMNS};
use crate::sql::{Sql, Value};
use crate::time::to_db;
use crate::{Result, Store, StoreError};

/// How a ticket list is ordered. Each sorts by its key, then by id, in the
/// same direction, so that cursors are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TicketSort {
    #[default]
    NewestFirst,
    OldestFirst,
    PriorityDesc,
    PriorityAsc,
    UpdatedDesc,
    UpdatedAsc,
    /// The earliest open SLA due time first (tickets without one last).
    DueSoonest,
}

impl TicketSort {
    pub const NAMES: &'static [&'static str] = &[
        "-created",
        "created",
        "-priority",
        "priority",
        "-updated",
        "updated",
        "due",
    ];

    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        Ok(match raw {
            "-created" => TicketSort::NewestFirst,
            "created" => TicketSort::OldestFirst,
            "-priority" => TicketSort::PriorityDesc,
            "priority" => TicketSort::PriorityAsc,
            "-updated" => TicketSort::UpdatedDesc,
            "updated" => TicketSort::UpdatedAsc,
            "due" => TicketSort::DueSoonest,
            _ => {
                return Err(StoreError::invalid(
                    field,
                    format!("must be one of: {}", Self::NAMES.join(", ")),
                ))
            }
        })
    }

    /// (key column, descending)
    fn key(self) -> (Option<&'static str>, bool) {
        match self {
            TicketSort::NewestFirst => (None, true),
            TicketSort::OldestFirst => (None, false),
            TicketSort::PriorityDesc => (Some("priority"), true),
            TicketSort::PriorityAsc => (Some("priority"), false),
            TicketSort::UpdatedDesc => (Some("updated_at"), true),
            TicketSort::UpdatedAsc => (Some("updated_at"), false),
            TicketSort::DueSoonest => (Some("sla_due_at"), false),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub states: Vec<TicketState>,
    /// `Some(true)`: only tickets not yet resolved or closed.
    pub active: Option<bool>,
    pub group_id: Option<i64>,
    pub owner_id: Option<i64>,
    /// Only tickets without an owner.
    pub unassigned: bool,
    pub requester_id: Option<i64>,
    pub organisation_id: Option<i64>,
    pub priorities: Vec<Priority>,
    pub tag: Option<String>,
    /// Words to find (full text: subject, number, tags, the articles the
    /// caller may read, the requester's name and email), or a part of the
    /// subject.
    pub text: Option<String>,
    /// Created at or after.
    pub created_from: Option<jiff::Timestamp>,
    /// Created before.
    pub created_before: Option<jiff::Timestamp>,
    /// Only active tickets with an SLA clock running towards a due time.
    pub at_risk: bool,
    /// Only tickets whose overall SLA state is one of these.
    pub sla_states: Vec<SlaState>,
    pub sort: TicketSort,
    pub cursor: Option<String>,
    pub limit: i64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketPage {
    pub items: Vec<Ticket>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl Store {
    /// Checks an action on a ticket without changing anything.
    pub async fn authorize(&self, actor: &Actor, id: i64, action: TicketAction) -> Result<Ticket> {
        let mut conn = self.read.acquire().await?;
        load_for(&mut conn, actor, id, action).await
    }

    pub async fn ticket(&self, actor: &Actor, id: i64) -> Result<Ticket> {
        self.authorize(actor, id, TicketAction::View).await
    }

    pub async fn ticket_by_number(&self, actor: &Actor, number: i64) -> Result<Ticket> {
        let row = sqlx::query("SELECT id FROM tickets WHERE number = $1")
            .bind(number)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.ticket(actor, row.try_get("id")?).await
    }

    /// Lists the tickets the actor may see that match the filter.
    pub async fn tickets(&self, actor: &Actor, f: &TicketFilter) -> Result<TicketPage> {
        let limit = f.limit.clamp(1, 200);
        let mut sql = Sql::new(&format!("SELECT {TICKET_COLUMNS} FROM tickets t WHERE 1=1"));
        visibility(actor, f.group_id, &mut sql);
        conditions(f, &mut sql)?;
        if let Some(text) = f.text.as_deref().filter(|s| !s.trim().is_empty()) {
            // The words anywhere (full text), or the text inside the
            // subject: a part of a compound word ("pesukone" in
            // "Astianpesukone") is found there too.
            let query = SearchQuery::parse("q", text)?;
            sql.push(" AND (t.subject_folded LIKE ")
                .bind(Value::Text(format!(
                    "%{}%",
                    crate::directory::like_escape(&values::fold(text.trim()))
                )))
                .push(" ESCAPE '\\' OR ");
            crate::search::ticket_match(self.engine(), actor, &query, &mut sql);
            sql.push(")");
        }
        let (key, desc) = f.sort.key();
        let cmp = if desc { "<" } else { ">" };
        if let Some(cursor) = &f.cursor {
            let (k, id) = decode_cursor(cursor)?;
            match key {
                Some(col) => {
                    sql.push(&format!(" AND (t.{col}, t.id) {cmp} ("))
                        .bind(Value::Int(k.ok_or_else(|| {
                            StoreError::invalid("cursor", "does not fit this sort")
                        })?))
                        .push(", ")
                        .bind(Value::Int(id))
                        .push(")");
                }
                None => {
                    sql.push(&format!(" AND t.id {cmp} ")).bind(Value::Int(id));
                }
            }
        }
        let dir = if desc { "DESC" } else { "ASC" };
        match key {
            Some(col) => sql.push(&format!(" ORDER BY t.{col} {dir}, t.id {dir}")),
            None => sql.push(&format!(" ORDER BY t.id {dir}")),
        };
        sql.push(" LIMIT ").bind(Value::Int(limit + 1));

        let mut conn = self.read.acquire().await?;
        let rows = sql.query().fetch_all(&mut *conn).await?;
        let mut items = rows
            .iter()
            .map(ticket_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            let last_due: i64 = rows[limit as usize - 1].try_get("sla_due_at")?;
            items.last().map(|t| {
                encode_cursor(
                    match key {
                        Some("priority") => Some(t.priority.rank()),
                        Some("sla_due_at") => Some(last_due),
                        Some(_) => Some(to_db(t.updated_at)),
                        None => None,
                    },
                    t.id,
                )
            })
        } else {
            None
        };
        load_extras_into(&mut conn, &mut items).await?;
        Ok(TicketPage { items, next_cursor })
    }
}

fn encode_cursor(key: Option<i64>, id: i64) -> String {
    let raw = match key {
        Some(k) => format!("{k}:{id}"),
        None => format!("{id}"),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(cursor: &str) -> Result<(Option<i64>, i64)> {
    let bad = || StoreError::invalid("cursor", "is not a cursor from this list");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    match raw.split_once(':') {
        Some((k, id)) => Ok((
            Some(k.parse().map_err(|_| bad())?),
            id.parse().map_err(|_| bad())?,
        )),
        None => Ok((None, raw.parse().map_err(|_| bad())?)),
    }
}

/// The filter's conditions on a ticket query (visibility and the full
/// text apart).
pub(crate) fn conditions(f: &TicketFilter, sql: &mut Sql) -> Result<()> {
    if !f.states.is_empty() {
        sql.push(" AND t.state IN (");
        for (i, s) in f.states.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Value::Text(s.as_str().into()));
        }
        sql.push(")");
    }
    if let Some(a) = f.active {
        sql.push(" AND t.active = ").bind(Value::Bool(a));
    }
    if let Some(g) = f.group_id {
        sql.push(" AND t.group_id = ").bind(Value::Int(g));
    }
    if let Some(o) = f.owner_id {
        sql.push(" AND t.owner_id = ").bind(Value::Int(o));
    }
    if f.unassigned {
        sql.push(" AND t.owner_id IS NULL");
    }
    if let Some(r) = f.requester_id {
        sql.push(" AND t.requester_id = ").bind(Value::Int(r));
    }
    if let Some(o) = f.organisation_id {
        sql.push(" AND t.organisation_id = ").bind(Value::Int(o));
    }
    if !f.priorities.is_empty() {
        let ranks: Vec<i64> = f.priorities.iter().map(|p| p.rank()).collect();
        sql.push(" AND t.priority IN ").bind_list(&ranks);
    }
    if let Some(tag) = &f.tag {
        let tag = values::tag("tag", tag)?;
        sql.push(
            " AND EXISTS (SELECT 1 FROM ticket_tags tt WHERE tt.ticket_id = t.id AND tt.tag = ",
        )
        .bind(Value::Text(tag))
        .push(")");
    }
    if let Some(from) = f.created_from {
        sql.push(" AND t.created_at >= ")
            .bind(Value::Int(to_db(from)));
    }
    if let Some(before) = f.created_before {
        sql.push(" AND t.created_at < ")
            .bind(Value::Int(to_db(before)));
    }
    if f.at_risk {
        sql.push(" AND t.active = ")
            .bind(Value::Bool(true))
            .push(" AND t.sla_due_at < ")
            .bind(Value::Int(i64::MAX));
    }
    if !f.sla_states.is_empty() {
        sql.push(" AND t.sla_state IN (");
        for (i, s) in f.sla_states.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Value::Text(s.as_str().into()));
        }
        sql.push(")");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        assert_eq!(
            decode_cursor(&encode_cursor(Some(3), 42)).unwrap(),
            (Some(3), 42)
        );
        assert_eq!(decode_cursor(&encode_cursor(None, 42)).unwrap(), (None, 42));
        assert!(decode_cursor("!!").is_err());
        assert!(
            decode_cursor(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("x:y")).is_err()
        );
    }
}
