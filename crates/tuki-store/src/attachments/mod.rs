//! Attachments of articles.
//!
//! The bytes of an attachment are a blob of [`crate::files`], named by
//! their SHA-256, so the same file attached twice is stored once and a file
//! never changes under its name. This module keeps what an attachment is
//! (name, type, which article it belongs to); every read goes through the
//! ticket's access rules, and customers never see files of internal notes.

use jiff::Timestamp;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::{Actor, TicketAction};
use tuki_domain::values;

use crate::tickets::{insert_ticket, Draft, NewTicket, Ticket};
use crate::time::{from_db, to_db};
use crate::{Result, Store, StoreError};

/// A file of an article: a customer's upload, an agent's, or a part of an
/// email.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    pub id: i64,
    pub ticket_id: i64,
    pub article_id: i64,
    /// SHA-256 of the content, hex: the name it is stored under.
    pub sha256: String,
    /// Bytes.
    pub size: i64,
    pub content_type: String,
    pub file_name: String,
    /// For files of email: the Content-ID its HTML names as `cid:…`.
    pub content_id: Option<String>,
    pub created_at: Timestamp,
}

/// A file already stored as a blob ([`Store::start_upload`],
/// [`Store::put_blob`]), to attach to an article.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub sha256: String,
    pub size: i64,
    pub content_type: String,
    pub file_name: String,
}

/// A file's size as people read it, the same on the ticket page and in
/// mail: `512 B`, `34 kB`, `2.5 MB`.
pub use tuki_mail::texts::file_size as human_size;

/// A file name safe to keep and to send back: no folders, no control
/// characters, at most 200 characters.
pub fn clean_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(200)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "file".to_string()
    } else {
        cleaned
    }
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Attachment> {
    Ok(Attachment {
        id: r.try_get("id")?,
        ticket_id: r.try_get("ticket_id")?,
        article_id: r.try_get("article_id")?,
        sha256: r.try_get("sha256")?,
        size: r.try_get("size")?,
        content_type: r.try_get("content_type")?,
        file_name: r.try_get("file_name")?,
        content_id: r.try_get("content_id")?,
        created_at: from_db(r.try_get("created_at")?),
    })
}

const COLUMNS: &str =
    "a.id, a.ticket_id, a.article_id, a.sha256, a.size, a.content_type, a.file_name, a.content_id, a.created_at";

/// Checks stored files and lists them on an article, in the caller's
/// transaction. Returns their ids. A file must be a blob the desk has (so
/// the sweep can tell what is in use by the attachments alone).
pub(crate) async fn insert_attachments(
    conn: &mut AnyConnection,
    ticket_id: i64,
    article_id: i64,
    uploaded_by: Option<i64>,
    files: &[NewAttachment],
    at: i64,
) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(files.len());
    for f in files {
        if !crate::files::is_sha256(&f.sha256) {
            return Err(StoreError::invalid("sha256", "is not a SHA-256"));
        }
        let stored = sqlx::query("SELECT size FROM blobs WHERE sha256 = $1")
            .bind(&f.sha256)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(stored) = stored else {
            return Err(StoreError::invalid(
                "files",
                "a file was not stored or has expired; attach it again",
            ));
        };
        let size: i64 = stored.try_get("size")?;
        let content_type = values::line("content_type", &f.content_type, 200)?;
        let id: i64 = sqlx::query(
            "INSERT INTO attachments (ticket_id, article_id, sha256, size, content_type, file_name, uploaded_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(ticket_id)
        .bind(article_id)
        .bind(&f.sha256)
        .bind(size)
        .bind(content_type)
        .bind(clean_file_name(&f.file_name))
        .bind(uploaded_by)
        .bind(at)
        .fetch_one(&mut *conn)
        .await?
        .try_get("id")?;
        ids.push(id);
    }
    Ok(ids)
}

impl Store {
    /// Attaches files to an article the actor wrote on a ticket they may
    /// write to.
    pub async fn add_attachments(
        &self,
        actor: &Actor,
        article_id: i64,
        files: Vec<NewAttachment>,
    ) -> Result<Vec<Attachment>> {
        let row = sqlx::query("SELECT ticket_id, author_id FROM articles WHERE id = $1")
            .bind(article_id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        let ticket_id: i64 = row.try_get("ticket_id")?;
        let author: Option<i64> = row.try_get("author_id")?;
        self.authorize(actor, ticket_id, TicketAction::View).await?;
        if author != actor.user_id && !actor.is_admin() {
            return Err(StoreError::forbidden(
                "files are attached to your own articles",
            ));
        }
        let at = to_db(self.now());
        let mut tx = self.begin_write().await?;
        let ids =
            insert_attachments(&mut tx, ticket_id, article_id, actor.user_id, &files, at).await?;
        tx.commit().await?;
        let all = self.ticket_attachments(actor, ticket_id).await?;
        Ok(all.into_iter().filter(|a| ids.contains(&a.id)).collect())
    }

    /// [`Store::create_ticket`] with files (already stored as blobs) listed on the first article in the same transaction,
    /// so that the mail about the new request carries them. Without files
    /// it is `create_ticket`; with files the ticket is written on its own
    /// (not in SQLite's group commit).
    pub async fn create_ticket_with_files(
        &self,
        actor: &Actor,
        new: NewTicket,
        files: Vec<NewAttachment>,
    ) -> Result<Ticket> {
        if files.is_empty() {
            return self.create_ticket(actor, new).await;
        }
        let draft = Draft::new(actor, new, self.now())?;
        let mut tx = self.begin_write().await?;
        let (t, article_id) = insert_ticket(&mut tx, &draft).await?;
        insert_attachments(
            &mut tx,
            t.id,
            article_id,
            actor.user_id,
            &files,
            to_db(draft.at),
        )
        .await?;
        tx.commit().await?;
        Ok(t)
    }

    /// The files of a ticket the actor may see, oldest first.
    pub async fn ticket_attachments(
        &self,
        actor: &Actor,
        ticket_id: i64,
    ) -> Result<Vec<Attachment>> {
        self.authorize(actor, ticket_id, TicketAction::View).await?;
        let sql = if actor.is_staff() {
            format!("SELECT {COLUMNS} FROM attachments a WHERE a.ticket_id = $1 ORDER BY a.id")
        } else {
            format!(
                "SELECT {COLUMNS} FROM attachments a JOIN articles r ON r.id = a.article_id \
                 WHERE a.ticket_id = $1 AND NOT r.internal ORDER BY a.id"
            )
        };
        let rows = sqlx::query(&sql)
            .bind(ticket_id)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// The files of an article for the mail that quotes it, oldest first:
    /// none when the article is an internal note. Read by the mail sender,
    /// which has no actor; the outbox row names the article.
    pub async fn mail_files(&self, article_id: i64) -> Result<Vec<Attachment>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM attachments a JOIN articles r ON r.id = a.article_id \
             WHERE a.article_id = $1 AND NOT r.internal ORDER BY a.id"
        ))
        .bind(article_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// One file, if the actor may see its article.
    pub async fn attachment(&self, actor: &Actor, id: i64) -> Result<Attachment> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, r.internal FROM attachments a JOIN articles r ON r.id = a.article_id WHERE a.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        let a = from_row(&row)?;
        self.authorize(actor, a.ticket_id, TicketAction::View)
            .await?;
        if crate::sql::get_bool(&row, "internal")? && !actor.is_staff() {
            return Err(StoreError::NotFound);
        }
        Ok(a)
    }
}
