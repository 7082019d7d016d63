//! What Tuki knows of each message it received or sent: the Message-IDs
//! that thread replies, and the raw source of what came in.

use sqlx::{AnyConnection, Row};

use super::*;
use crate::sql::{get_bool, Sql};
use crate::time::{from_db, to_db};
use crate::{Result, Store};

impl Store {
    /// The received-mail record of a Message-ID, if Tuki has one.
    pub async fn mail_record(&self, message_id: &str) -> Result<Option<MailRecord>> {
        let row = sqlx::query(
            "SELECT message_id, sender, ticket_id, article_id, classification, auto_answer_allowed, reasons, \
             outcome, threaded_by, received_at FROM mail_messages WHERE message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| {
            Ok(MailRecord {
                message_id: r.try_get("message_id")?,
                sender: r.try_get("sender")?,
                ticket_id: r.try_get("ticket_id")?,
                article_id: r.try_get("article_id")?,
                classification: r.try_get("classification")?,
                auto_answer_allowed: get_bool(&r, "auto_answer_allowed")?,
                reasons: r.try_get("reasons")?,
                outcome: r.try_get("outcome")?,
                threaded_by: r.try_get("threaded_by")?,
                received_at: from_db(r.try_get("received_at")?),
            })
        })
        .transpose()
    }

    /// The raw source of a received message, as it arrived.
    pub async fn mail_raw(&self, message_id: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query(
            "SELECT r.raw FROM mail_messages m JOIN mail_raw r ON r.id = m.raw_id WHERE m.message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| r.try_get("raw")).transpose()?)
    }

    /// Records that Tuki sent a message with this Message-ID on a ticket, so
    /// that replies to it thread by reference. The outbox calls this in the
    /// transaction of the change that caused the mail.
    pub async fn record_sent_message_id(&self, message_id: &str, ticket_id: i64) -> Result<()> {
        let mut conn = self.write.acquire().await?;
        record_sent(&mut conn, message_id, ticket_id, to_db(self.now())).await
    }
}

pub(crate) async fn record_sent(
    conn: &mut AnyConnection,
    message_id: &str,
    ticket_id: i64,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO mail_messages (message_id, direction, ticket_id, classification, auto_answer_allowed, \
         outcome, received_at) VALUES ($1, 'out', $2, 'human', $3, 'sent', $4) ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(message_id)
    .bind(ticket_id)
    .bind(false)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn tickets_by_message_ids<S: AsRef<str>>(
    tx: &mut AnyConnection,
    ids: &[S],
) -> Result<Vec<(String, i64)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(
        "SELECT m.message_id, COALESCE(t.merged_into_id, t.id) AS ticket_id FROM mail_messages m \
         JOIN tickets t ON t.id = m.ticket_id WHERE m.message_id IN ",
    );
    sql.bind_texts(ids);
    let rows = sql.query().fetch_all(&mut *tx).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("message_id")?, r.try_get("ticket_id")?)))
        .collect()
}

pub(crate) async fn ticket_by_number(tx: &mut AnyConnection, number: i64) -> Result<Option<i64>> {
    let row =
        sqlx::query("SELECT COALESCE(merged_into_id, id) AS id FROM tickets WHERE number = $1")
            .bind(number)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}
