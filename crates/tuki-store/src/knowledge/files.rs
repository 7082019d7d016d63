//! Files and images of knowledge articles: blobs of the one blob store,
//! listed on their article. Whoever may read the article may read its
//! files (the public too, for a published public article, so its images
//! show in the help pages and the website widget); staff add and remove
//! them.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use tuki_domain::access::Actor;

use super::load_article;
use crate::attachments::{clean_file_name, NewAttachment};
use crate::time::{from_db, to_db};
use crate::{Result, Store, StoreError};

/// A file of a knowledge article.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KnowledgeFile {
    pub id: i64,
    pub article_id: i64,
    pub sha256: String,
    pub size: i64,
    pub content_type: String,
    pub file_name: String,
    pub created_at: Timestamp,
}

const FILE_COLUMNS: &str = "id, article_id, sha256, size, content_type, file_name, created_at";

fn from_row(r: &AnyRow) -> Result<KnowledgeFile> {
    Ok(KnowledgeFile {
        id: r.try_get("id")?,
        article_id: r.try_get("article_id")?,
        sha256: r.try_get("sha256")?,
        size: r.try_get("size")?,
        content_type: r.try_get("content_type")?,
        file_name: r.try_get("file_name")?,
        created_at: from_db(r.try_get("created_at")?),
    })
}

impl Store {
    /// Adds stored files to an article (staff).
    pub async fn attach_knowledge_files(
        &self,
        actor: &Actor,
        article_id: i64,
        files: Vec<NewAttachment>,
    ) -> Result<Vec<KnowledgeFile>> {
        if !actor.is_staff() {
            return Err(StoreError::forbidden("only staff write knowledge articles"));
        }
        let now = self.now();
        let mut tx = self.begin_write().await?;
        load_article(&mut tx, Some(actor), article_id, now).await?;
        for f in &files {
            sqlx::query(
                "INSERT INTO kb_files (article_id, sha256, file_name, content_type, size, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(article_id)
            .bind(&f.sha256)
            .bind(clean_file_name(&f.file_name))
            .bind(&f.content_type)
            .bind(f.size)
            .bind(actor.user_id)
            .bind(to_db(now))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.knowledge_files(Some(actor), article_id).await
    }

    /// An article's files, if the reader may read the article.
    pub async fn knowledge_files(
        &self,
        reader: Option<&Actor>,
        article_id: i64,
    ) -> Result<Vec<KnowledgeFile>> {
        let mut conn = self.read.acquire().await?;
        load_article(&mut conn, reader, article_id, self.now()).await?;
        sqlx::query(&format!(
            "SELECT {FILE_COLUMNS} FROM kb_files WHERE article_id = $1 ORDER BY id"
        ))
        .bind(article_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    /// One file, if the reader may read its article (404 otherwise).
    pub async fn knowledge_file(&self, reader: Option<&Actor>, id: i64) -> Result<KnowledgeFile> {
        let mut conn = self.read.acquire().await?;
        let file = sqlx::query(&format!(
            "SELECT {FILE_COLUMNS} FROM kb_files WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)
        .and_then(|r| from_row(&r))?;
        load_article(&mut conn, reader, file.article_id, self.now()).await?;
        Ok(file)
    }

    /// Removes a file from its article (staff); its bytes go with the next
    /// sweep once nothing else names them.
    pub async fn remove_knowledge_file(&self, actor: &Actor, id: i64) -> Result<()> {
        if !actor.is_staff() {
            return Err(StoreError::forbidden("only staff write knowledge articles"));
        }
        let done = sqlx::query("DELETE FROM kb_files WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
