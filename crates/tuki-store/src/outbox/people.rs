//! Who gets mail and how it threads: recipients as people (language,
//! whether they are staff), their switches, bounced addresses, a ticket's
//! From address and its mail thread.

use sqlx::{AnyConnection, Row};

use crate::sql::get_bool;
use crate::Result;

pub(super) struct Person {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub language: String,
    pub staff: bool,
}

pub(super) async fn person(conn: &mut AnyConnection, id: i64) -> Result<Option<Person>> {
    let row =
        sqlx::query("SELECT id, email, name, language, role, active FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(r) = row else { return Ok(None) };
    if !get_bool(&r, "active")? {
        return Ok(None);
    }
    let role: String = r.try_get("role")?;
    Ok(Some(Person {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        language: r.try_get("language")?,
        staff: role != "customer",
    }))
}

/// Whether `user_id` wants mail of `kind` (on unless turned off). An SLA
/// kind (`sla_warning`, ...) follows the user's `sla` switch.
pub(crate) async fn wants(conn: &mut AnyConnection, user_id: i64, kind: &str) -> Result<bool> {
    let general = if kind.starts_with("sla_") {
        "sla"
    } else {
        kind
    };
    let row = sqlx::query(
        "SELECT enabled FROM notification_prefs WHERE user_id = $1 AND (kind = $2 OR kind = $3) \
         ORDER BY CASE WHEN kind = $2 THEN 0 ELSE 1 END LIMIT 1",
    )
    .bind(user_id)
    .bind(kind)
    .bind(general)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => Ok(get_bool(&r, "enabled")?),
        None => Ok(true),
    }
}

/// Whether mail to `address` bounced permanently (a 5.x.x report).
pub(super) async fn bounced(conn: &mut AnyConnection, address: &str) -> Result<bool> {
    let row = sqlx::query(
        "SELECT status FROM mail_address_flags WHERE address = $1 AND cleared_at IS NULL",
    )
    .bind(address.to_lowercase())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(r) => r
            .try_get::<Option<String>, _>("status")?
            .is_some_and(|s| s.starts_with('5')),
        None => false,
    })
}

/// The From address of a ticket's mail: the mailbox of its group, if the
/// group has one.
pub(super) async fn group_address(
    conn: &mut AnyConnection,
    group_id: Option<i64>,
) -> Result<Option<String>> {
    let Some(g) = group_id else { return Ok(None) };
    Ok(
        sqlx::query("SELECT address FROM mailboxes WHERE group_id = $1 ORDER BY id LIMIT 1")
            .bind(g)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get("address"))
            .transpose()?,
    )
}

/// In-Reply-To and References for a new message of a ticket: the ticket's
/// last message (received ones preferred) and its first plus the last few,
/// of the thread the customer sees (agents' notices left out).
pub(super) async fn thread_of(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<(Option<String>, Vec<String>)> {
    let rows = sqlx::query(
        "SELECT m.message_id, m.direction FROM mail_messages m \
         LEFT JOIN outbox o ON o.message_id = m.message_id \
         WHERE m.ticket_id = $1 AND (o.id IS NULL OR o.kind IN ('ack', 'reply', 'resolved')) \
         ORDER BY m.received_at, m.message_id",
    )
    .bind(ticket_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut last_in = None;
    for r in &rows {
        let id: String = r.try_get("message_id")?;
        if r.try_get::<String, _>("direction")? == "in" {
            last_in = Some(id.clone());
        }
        ids.push(id);
    }
    let in_reply_to = last_in.or_else(|| ids.last().cloned());
    let refs = if ids.len() > 10 {
        let mut r = vec![ids[0].clone()];
        r.extend_from_slice(&ids[ids.len() - 9..]);
        r
    } else {
        ids
    };
    Ok((in_reply_to, refs))
}

impl crate::Store {
    /// The language code of mail to `user_id` (`en` when unknown).
    pub async fn mail_language(&self, user_id: Option<i64>) -> Result<&'static str> {
        let Some(id) = user_id else { return Ok("en") };
        let row = sqlx::query("SELECT language FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(match row {
            Some(r) if r.try_get::<String, _>("language")? == "fi" => "fi",
            _ => "en",
        })
    }
}
