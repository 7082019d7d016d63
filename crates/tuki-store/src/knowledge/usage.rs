//! How articles are used: read, put into replies, judged helpful or not,
//! and requests they made unnecessary; and the draft a solved ticket gives.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use tuki_domain::access::Actor;
use tuki_domain::access::TicketAction;
use tuki_domain::knowledge::{draft_from_ticket, ArticleState, ArticleText, ArticleVisibility};
use tuki_domain::ticket::{ArticleKind, TicketState};

use super::{load_article, KnowledgeArticle};
use crate::time::to_db;
use crate::{Result, Store, StoreError};

/// Helpful or not, from a reader.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    pub helpful: bool,
}

/// An article's solution as it goes into a reply.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsedArticle {
    pub article_id: i64,
    pub title: String,
    /// The solution (Markdown), to put into the reply.
    pub solution: String,
    /// Whether customers may open the article (then its link goes along).
    pub public: bool,
}

impl Store {
    /// Counts a reading of an article by someone who may read it (the
    /// article's page in the console, the portal or the widget).
    pub async fn record_knowledge_view(&self, reader: Option<&Actor>, id: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        load_article(&mut tx, reader, id, self.now()).await?;
        sqlx::query("UPDATE kb_articles SET views = views + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// An agent puts an article's solution into a reply of a ticket they
    /// may answer: the use is counted, and the text given back.
    pub async fn use_knowledge_article(
        &self,
        actor: &Actor,
        id: i64,
        ticket_id: i64,
    ) -> Result<UsedArticle> {
        if !actor.is_staff() {
            return Err(StoreError::forbidden("only staff answer with articles"));
        }
        self.authorize(
            actor,
            ticket_id,
            TicketAction::AddArticle(ArticleKind::Reply),
        )
        .await?;
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let article = load_article(&mut tx, Some(actor), id, now).await?;
        if article.state != ArticleState::Published {
            return Err(StoreError::conflict(
                Some("article"),
                "only a published article goes into a reply",
            ));
        }
        sqlx::query(
            "INSERT INTO kb_uses (article_id, ticket_id, user_id, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(ticket_id)
        .bind(actor.user_id)
        .bind(to_db(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE kb_articles SET uses = uses + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(UsedArticle {
            article_id: id,
            title: article.title,
            solution: article.solution,
            public: article.visibility == ArticleVisibility::Public,
        })
    }

    /// Helpful or not: a signed-in reader's vote counts once (voting again
    /// changes it); each vote of someone not signed in counts.
    pub async fn knowledge_feedback(
        &self,
        reader: Option<&Actor>,
        id: i64,
        feedback: Feedback,
    ) -> Result<KnowledgeArticle> {
        let now = self.now();
        let at = to_db(now);
        let mut tx = self.begin_write().await?;
        load_article(&mut tx, reader, id, now).await?;
        let user = reader.and_then(|a| a.user_id);
        if user.is_some() {
            sqlx::query("DELETE FROM kb_feedback WHERE article_id = $1 AND user_id = $2")
                .bind(id)
                .bind(user)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO kb_feedback (article_id, user_id, helpful, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(user)
        .bind(feedback.helpful)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE kb_articles SET \
             helpful = (SELECT COUNT(*) FROM kb_feedback f WHERE f.article_id = $1 AND f.helpful), \
             not_helpful = (SELECT COUNT(*) FROM kb_feedback f WHERE f.article_id = $1 AND NOT f.helpful) \
             WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let article = load_article(&mut tx, reader, id, now).await?;
        tx.commit().await?;
        Ok(article)
    }

    /// "This solved my problem": a request not filed, counted on the
    /// article (`channel`: `portal` or `widget`).
    pub async fn record_deflection(
        &self,
        reader: Option<&Actor>,
        id: i64,
        channel: &str,
    ) -> Result<()> {
        if !matches!(channel, "portal" | "widget") {
            return Err(StoreError::invalid("channel", "must be portal or widget"));
        }
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let article = load_article(&mut tx, reader, id, now).await?;
        if article.state != ArticleState::Published {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO kb_deflections (article_id, user_id, channel, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(reader.and_then(|a| a.user_id))
        .bind(channel)
        .bind(to_db(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE kb_articles SET deflections = deflections + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(article = id, channel, "request deflected");
        Ok(())
    }

    /// The draft of an article a solved ticket gives (staff only): its
    /// subject, the customer's first message, the last public answer.
    pub async fn draft_from_ticket(&self, actor: &Actor, ticket_id: i64) -> Result<ArticleText> {
        if !actor.is_staff() {
            return Err(StoreError::forbidden("only staff write knowledge articles"));
        }
        let ticket = self.ticket(actor, ticket_id).await?;
        if !matches!(ticket.state, TicketState::Resolved | TicketState::Closed) {
            return Err(StoreError::conflict(
                Some("ticket"),
                "an article is made from a solved request",
            ));
        }
        let rows = sqlx::query(
            "SELECT a.body, a.internal, u.role FROM articles a LEFT JOIN users u ON u.id = a.author_id \
             WHERE a.ticket_id = $1 ORDER BY a.id",
        )
        .bind(ticket_id)
        .fetch_all(&self.read)
        .await?;
        let mut first = String::new();
        let mut answer = String::new();
        for (i, r) in rows.iter().enumerate() {
            let body: String = r.try_get("body")?;
            let role: Option<String> = r.try_get("role")?;
            let internal = crate::sql::get_bool(r, "internal")?;
            if i == 0 {
                first = body;
            } else if !internal && matches!(role.as_deref(), Some("agent" | "admin")) {
                answer = body;
            }
        }
        Ok(draft_from_ticket(&ticket.subject, &first, &answer))
    }
}
