//! Writing articles: a new article (or a translation of one), an edit, a
//! move of state. Every write is a revision row and reindexes the article,
//! in one transaction.

use jiff::Timestamp;
use serde::Deserialize;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;
use tuki_domain::directory::Language;
use tuki_domain::knowledge::{
    can_write, check_state, ArticleState, ArticleText, ArticleVisibility,
};
use tuki_domain::values::clean_text;

use super::{load_article, KnowledgeArticle};
use crate::resource::refers_to;
use crate::search::index_articles;
use crate::time::to_db;
use crate::{Result, Store, StoreError};

/// An article as written: the whole of it (a create, or an edit that
/// replaces it).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ArticleInput {
    pub title: String,
    /// Markdown.
    pub symptom: String,
    /// Markdown.
    #[serde(default)]
    pub cause: String,
    /// Markdown.
    #[serde(default)]
    pub solution: String,
    #[serde(default)]
    pub products: Vec<String>,
    #[serde(default)]
    pub category: String,
    pub language: Language,
    pub visibility: ArticleVisibility,
    /// Who keeps it current; the writer when not given.
    #[serde(default)]
    pub owner_id: Option<i64>,
    /// When the owner is to check it again.
    #[serde(default)]
    pub review_by: Option<Timestamp>,
    /// A create only: the article this one translates.
    #[serde(default)]
    pub translation_of: Option<i64>,
    /// A create only: the solved ticket it was made from.
    #[serde(default)]
    pub source_ticket_id: Option<i64>,
    /// An edit only: the revision it was made on; a later revision by
    /// someone else is a 409 instead of a lost change.
    #[serde(default)]
    pub base_revision: Option<i64>,
    /// What the change was, for the history.
    #[serde(default)]
    pub note: String,
}

impl ArticleInput {
    fn text(&self) -> std::result::Result<ArticleText, tuki_domain::ValidationError> {
        ArticleText {
            title: self.title.clone(),
            symptom: self.symptom.clone(),
            cause: self.cause.clone(),
            solution: self.solution.clone(),
            products: self.products.clone(),
            category: self.category.clone(),
        }
        .check()
    }
}

/// A move of state.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StateInput {
    pub state: ArticleState,
    #[serde(default)]
    pub note: String,
}

fn refuse_non_staff(actor: &Actor) -> Result<()> {
    if can_write(actor) {
        Ok(())
    } else {
        Err(StoreError::forbidden("only staff write knowledge articles"))
    }
}

fn note(raw: &str) -> Result<String> {
    clean_text("note", raw, 500)?;
    Ok(raw.trim().to_string())
}

/// Writes revision `revision` of article `id` as it now stands.
async fn record_revision(
    conn: &mut AnyConnection,
    id: i64,
    author: Option<i64>,
    at: i64,
    note: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO kb_revisions (article_id, revision, author_id, at, note, state, title, symptom, \
         cause, solution, products, category) \
         SELECT id, revision, $2, $3, $4, state, title, symptom, cause, solution, products, category \
         FROM kb_articles WHERE id = $1",
    )
    .bind(id)
    .bind(author)
    .bind(at)
    .bind(note)
    .execute(&mut *conn)
    .await?;
    index_articles(conn, &[id]).await
}

impl Store {
    /// A new article, as a draft, revision 1 (staff only). As a
    /// translation it joins the family of the article it translates; one
    /// article per language in a family.
    pub async fn create_knowledge_article(
        &self,
        actor: &Actor,
        input: ArticleInput,
    ) -> Result<KnowledgeArticle> {
        refuse_non_staff(actor)?;
        let text = input.text()?;
        let note = note(&input.note)?;
        let now = self.now();
        let at = to_db(now);
        let mut tx = self.begin_write().await?;
        let owner = match input.owner_id {
            Some(o) => {
                check_owner(&mut tx, o).await?;
                o
            }
            None => actor
                .user_id
                .ok_or_else(|| StoreError::invalid("owner_id", "must name the article's owner"))?,
        };
        if let Some(t) = input.source_ticket_id {
            refers_to(&mut tx, "tickets", t, "source_ticket_id", "ticket").await?;
        }
        let family: Option<i64> = match input.translation_of {
            Some(of) => Some(
                sqlx::query("SELECT family_id FROM kb_articles WHERE id = $1")
                    .bind(of)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::invalid("translation_of", "no such article"))?
                    .try_get("family_id")?,
            ),
            None => None,
        };
        let inserted = sqlx::query(
            "INSERT INTO kb_articles (family_id, language, state, visibility, title, symptom, cause, \
             solution, products, category, owner_id, review_by, revision, source_ticket_id, \
             created_by, created_at, updated_at) \
             VALUES (COALESCE($1, 0), $2, 'draft', $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $13, $14, $14) \
             RETURNING id",
        )
        .bind(family)
        .bind(input.language.as_str())
        .bind(input.visibility.as_str())
        .bind(&text.title)
        .bind(&text.symptom)
        .bind(&text.cause)
        .bind(&text.solution)
        .bind(text.products.join(","))
        .bind(&text.category)
        .bind(owner)
        .bind(input.review_by.map(to_db))
        .bind(input.source_ticket_id)
        .bind(actor.user_id)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if crate::error::is_unique_violation(&e) {
                StoreError::conflict(
                    Some("language"),
                    "the article already has a translation in this language",
                )
            } else {
                e.into()
            }
        })?;
        let id: i64 = inserted.try_get("id")?;
        if family.is_none() {
            sqlx::query("UPDATE kb_articles SET family_id = id WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        record_revision(&mut tx, id, actor.user_id, at, &note).await?;
        let article = load_article(&mut tx, Some(actor), id, now).await?;
        tx.commit().await?;
        tracing::info!(article = id, "knowledge article created");
        Ok(article)
    }

    /// Replaces an article's text, visibility, owner and review date: a
    /// new revision when anything changed (staff only). An edit made on an
    /// older revision than the current one is refused (409 on
    /// `base_revision`).
    pub async fn update_knowledge_article(
        &self,
        actor: &Actor,
        id: i64,
        input: ArticleInput,
    ) -> Result<KnowledgeArticle> {
        refuse_non_staff(actor)?;
        let text = input.text()?;
        let note = note(&input.note)?;
        if input.translation_of.is_some() {
            return Err(StoreError::invalid(
                "translation_of",
                "is set when a translation is created",
            ));
        }
        let now = self.now();
        let at = to_db(now);
        let mut tx = self.begin_write().await?;
        let before = load_article(&mut tx, Some(actor), id, now).await?;
        if input.base_revision.is_some_and(|b| b != before.revision) {
            return Err(StoreError::conflict(
                Some("base_revision"),
                format!(
                    "the article was changed meanwhile (now revision {}); reload it",
                    before.revision
                ),
            ));
        }
        if input.language != before.language {
            return Err(StoreError::invalid(
                "language",
                "cannot change; write a translation instead",
            ));
        }
        let owner = input.owner_id.unwrap_or(before.owner_id);
        if owner != before.owner_id {
            check_owner(&mut tx, owner).await?;
        }
        if before.state == ArticleState::Published {
            // A published article stays publishable.
            check_state(ArticleState::Draft, ArticleState::Published, &text)?;
        }
        let changed = text != before.text()
            || input.visibility != before.visibility
            || owner != before.owner_id
            || input.review_by != before.review_by;
        if changed {
            sqlx::query(
                "UPDATE kb_articles SET title = $2, symptom = $3, cause = $4, solution = $5, \
                 products = $6, category = $7, visibility = $8, owner_id = $9, review_by = $10, \
                 reminded_at = CASE WHEN review_by = $10 THEN reminded_at ELSE NULL END, \
                 revision = revision + 1, updated_at = $11 WHERE id = $1",
            )
            .bind(id)
            .bind(&text.title)
            .bind(&text.symptom)
            .bind(&text.cause)
            .bind(&text.solution)
            .bind(text.products.join(","))
            .bind(&text.category)
            .bind(input.visibility.as_str())
            .bind(owner)
            .bind(input.review_by.map(to_db))
            .bind(at)
            .execute(&mut *tx)
            .await?;
            record_revision(&mut tx, id, actor.user_id, at, &note).await?;
        }
        let article = load_article(&mut tx, Some(actor), id, now).await?;
        tx.commit().await?;
        Ok(article)
    }

    /// Moves an article to another state by the domain's rule (a draft is
    /// published only with a symptom and a solution); a revision records
    /// who moved it.
    pub async fn set_knowledge_state(
        &self,
        actor: &Actor,
        id: i64,
        input: StateInput,
    ) -> Result<KnowledgeArticle> {
        refuse_non_staff(actor)?;
        let note = note(&input.note)?;
        let now = self.now();
        let at = to_db(now);
        let mut tx = self.begin_write().await?;
        let before = load_article(&mut tx, Some(actor), id, now).await?;
        check_state(before.state, input.state, &before.text())?;
        sqlx::query(
            "UPDATE kb_articles SET state = $2, revision = revision + 1, updated_at = $3, \
             published_at = CASE WHEN $2 = 'published' THEN COALESCE(published_at, $3) ELSE published_at END \
             WHERE id = $1",
        )
        .bind(id)
        .bind(input.state.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let note = if note.is_empty() {
            input.state.as_str().to_string()
        } else {
            note
        };
        record_revision(&mut tx, id, actor.user_id, at, &note).await?;
        let article = load_article(&mut tx, Some(actor), id, now).await?;
        tx.commit().await?;
        tracing::info!(
            article = id,
            state = input.state.as_str(),
            "knowledge article state"
        );
        Ok(article)
    }
}

/// An owner is a member of staff.
async fn check_owner(conn: &mut AnyConnection, id: i64) -> Result<()> {
    let role: Option<String> = sqlx::query("SELECT role FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get("role"))
        .transpose()?;
    match role.as_deref() {
        Some("admin" | "agent") => Ok(()),
        Some(_) => Err(StoreError::invalid("owner_id", "must be a member of staff")),
        None => Err(StoreError::invalid("owner_id", "no such person")),
    }
}
