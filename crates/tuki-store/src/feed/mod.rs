//! The change feed behind live updates: `live_signals` rows, one per change
//! of a ticket (written by [`announce`] at the end of every ticket event's
//! dispatch, in its transaction, so every source and every process leaves
//! one: pages, API, the mail pipe, IMAP pollers, jobs, other servers) and
//! one per ringing or ended call (written by the server that got the
//! telephone system's event). A ticket's signal names its group and owner
//! as they now stand, so a server can tell each console only of tickets it
//! may see.
//!
//! Each `tuki serve` follows the table from the id it last saw. Ids come
//! from a sequence, and on PostgreSQL a transaction can commit after one
//! that took a later id, so a follower looks back [`LOOKBACK`] ids each
//! time and remembers what it has already passed on.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use crate::sql::{Sql, Value};
use crate::tickets::Ticket;
use crate::{Result, Store};

/// How far behind the newest id a follower looks again for rows that
/// committed late (a batch of mail holds its ids until it commits).
pub const LOOKBACK: i64 = 1000;

/// How many rows the feed keeps; followers are never more than seconds
/// behind, so this is minutes of history on a busy desk.
pub const KEEP: i64 = 20_000;

/// One change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signal {
    pub id: i64,
    /// `ticket`, `call` or `hangup`.
    pub kind: String,
    pub ticket_id: Option<i64>,
    pub number: Option<i64>,
    pub call_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub group_id: Option<i64>,
    /// The server that wrote a call signal.
    pub origin: Option<String>,
}

/// Announces changed tickets to every server, in the change's transaction
/// (one statement for all of them).
pub(crate) async fn announce(conn: &mut AnyConnection, signals: &[Announced]) -> Result<()> {
    if signals.is_empty() {
        return Ok(());
    }
    let mut sql =
        Sql::new("INSERT INTO live_signals (kind, ticket_id, number, group_id, agent_id) VALUES ");
    for (i, t) in signals.iter().enumerate() {
        sql.push(if i == 0 {
            "('ticket', "
        } else {
            ", ('ticket', "
        });
        sql.bind(Value::Int(t.id))
            .push(", ")
            .bind(Value::Int(t.number))
            .push(", ");
        sql.bind_opt(t.group_id).push(", ");
        sql.bind_opt(t.owner_id).push(")");
    }
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

/// What the feed says of a changed ticket: which one, and whose consoles
/// care (its group's and its owner's).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Announced {
    id: i64,
    number: i64,
    group_id: Option<i64>,
    owner_id: Option<i64>,
}

impl Announced {
    pub fn of(t: &Ticket) -> Announced {
        Announced {
            id: t.id,
            number: t.number,
            group_id: t.group_id,
            owner_id: t.owner_id,
        }
    }
}

/// A call to announce: ringing (for its agent and group) or ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallNotice {
    pub call_id: i64,
    pub agent_id: Option<i64>,
    pub group_id: Option<i64>,
    pub ended: bool,
}

impl Store {
    /// The newest id of the feed (0 when empty): a follower starts there,
    /// not replaying old changes.
    pub async fn newest_signal(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS id FROM live_signals")
            .fetch_one(&self.read)
            .await?;
        Ok(row.try_get("id")?)
    }

    /// Rows with an id above `after`, oldest first, at most `limit`.
    pub async fn signals_after(&self, after: i64, limit: i64) -> Result<Vec<Signal>> {
        let rows = sqlx::query(
            "SELECT id, kind, ticket_id, number, call_id, agent_id, group_id, origin \
             FROM live_signals WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Signal {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    ticket_id: r.try_get("ticket_id")?,
                    number: r.try_get("number")?,
                    call_id: r.try_get("call_id")?,
                    agent_id: r.try_get("agent_id")?,
                    group_id: r.try_get("group_id")?,
                    origin: r.try_get("origin")?,
                })
            })
            .collect()
    }

    /// Announces a call to every server's consoles. `origin` names this
    /// server, which has told its own pages already.
    pub async fn signal_call(&self, origin: &str, call: &CallNotice) -> Result<()> {
        sqlx::query(
            "INSERT INTO live_signals (kind, call_id, agent_id, group_id, origin) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(if call.ended { "hangup" } else { "call" })
        .bind(call.call_id)
        .bind(call.agent_id)
        .bind(call.group_id)
        .bind(origin)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Drops all but the newest `keep` rows ([`KEEP`] for a server).
    pub async fn prune_signals(&self, keep: i64) -> Result<u64> {
        let newest = self.newest_signal().await?;
        Ok(sqlx::query("DELETE FROM live_signals WHERE id <= $1")
            .bind(newest - keep)
            .execute(&self.write)
            .await?
            .rows_affected())
    }
}
