//! Articles: the public replies, internal notes and phone notes of a ticket.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use tuki_domain::access::{Actor, TicketAction};
use tuki_domain::directory::Role;
use tuki_domain::ticket::{article_effect, ArticleKind};
use tuki_domain::values;

use super::history::Change;
use super::{load_for, save, set_state, Ticket, BODY_MAX};
use crate::attachments::{insert_attachments, NewAttachment};
use crate::events::{dispatch, TicketChange};
use crate::time::{from_db, to_db};
use crate::{Result, Store};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Article {
    pub id: i64,
    pub ticket_id: i64,
    pub kind: ArticleKind,
    /// Hidden from the customer.
    pub internal: bool,
    pub author_id: Option<i64>,
    pub body: String,
    /// An email's formatting: its HTML part, sanitised (no scripts, no
    /// remote images; `cid:` images name files of this article). `body` is
    /// its text. `null` for articles written in Tuki.
    pub body_html: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewArticle {
    /// Defaults to `reply`.
    #[serde(default)]
    pub kind: Option<ArticleKind>,
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub body: String,
    /// Only meaningful for phone notes (default public).
    #[serde(default)]
    pub internal: Option<bool>,
}

impl Store {
    /// Adds an article. A customer's answer reopens a waiting or resolved
    /// request; an agent's first reply opens a new one.
    pub async fn add_article(
        &self,
        actor: &Actor,
        ticket_id: i64,
        new: NewArticle,
    ) -> Result<Article> {
        self.add_article_with_files(actor, ticket_id, new, Vec::new())
            .await
    }

    /// [`Store::add_article`] with files (already written with
    /// [`crate::attachments::write_blob`]) listed on the article in the same
    /// transaction: the mail that follows the article is written after
    /// its files are there, so it carries them.
    pub async fn add_article_with_files(
        &self,
        actor: &Actor,
        ticket_id: i64,
        new: NewArticle,
        files: Vec<NewAttachment>,
    ) -> Result<Article> {
        let kind = new.kind.unwrap_or(ArticleKind::Reply);
        let internal = kind.internal(new.internal)?;
        let body = values::body("body", &new.body, BODY_MAX)?;
        let at = self.now();
        let mut tx = self.begin_write().await?;
        let mut t = load_for(&mut tx, actor, ticket_id, TicketAction::AddArticle(kind)).await?;
        let id: i64 = sqlx::query(
            "INSERT INTO articles (ticket_id, kind, internal, author_id, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(ticket_id)
        .bind(kind.as_str())
        .bind(internal)
        .bind(actor.user_id)
        .bind(&body)
        .bind(to_db(at))
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        insert_attachments(&mut tx, ticket_id, id, actor.user_id, &files, to_db(at)).await?;
        let change = article_added(
            &mut t,
            id,
            Some(actor.role),
            actor.user_id,
            kind,
            internal,
            at,
        );
        save(&mut tx, &t).await?;
        dispatch(&mut tx, &mut t, change).await?;
        tx.commit().await?;
        Ok(Article {
            id,
            ticket_id,
            kind,
            internal,
            author_id: actor.user_id,
            body,
            body_html: None,
            created_at: at,
        })
    }

    /// A ticket's articles, oldest first; customers do not see internal ones.
    pub async fn articles(&self, actor: &Actor, ticket_id: i64) -> Result<Vec<Article>> {
        self.authorize(actor, ticket_id, TicketAction::View).await?;
        let sql = if actor.is_staff() {
            "SELECT id, ticket_id, kind, internal, author_id, body, body_html, created_at FROM articles WHERE ticket_id = $1 ORDER BY id"
        } else {
            "SELECT id, ticket_id, kind, internal, author_id, body, body_html, created_at FROM articles \
             WHERE ticket_id = $1 AND NOT internal ORDER BY id"
        };
        let rows = sqlx::query(sql)
            .bind(ticket_id)
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Article {
                    id: r.try_get("id")?,
                    ticket_id: r.try_get("ticket_id")?,
                    kind: ArticleKind::parse("kind", &r.try_get::<String, _>("kind")?)?,
                    internal: crate::sql::get_bool(r, "internal")?,
                    author_id: r.try_get("author_id")?,
                    body: r.try_get("body")?,
                    body_html: r.try_get("body_html")?,
                    created_at: from_db(r.try_get("created_at")?),
                })
            })
            .collect()
    }
}

/// What an article (already written) does to its ticket, by the domain's
/// one rule ([`article_effect`]): the state it moves to, set on `t`, and
/// the change to dispatch. Every way articles are written (the API, the
/// pages, mail) goes through here.
pub(crate) fn article_added(
    t: &mut Ticket,
    article_id: i64,
    author_role: Option<Role>,
    author_id: Option<i64>,
    kind: ArticleKind,
    internal: bool,
    at: Timestamp,
) -> TicketChange {
    let mut change = TicketChange::new(author_id, at);
    change.change(Change::new(
        "article",
        None,
        Some(format!("{kind} {article_id}")),
    ));
    let (next, events) = article_effect(
        t.state,
        t.merged_into_id.is_some(),
        author_role,
        kind,
        internal,
    );
    if let Some(next) = next {
        change.change(Change::new(
            "state",
            Some(t.state.to_string()),
            Some(next.to_string()),
        ));
        set_state(t, next, at);
    }
    change.events = events;
    t.updated_at = at;
    change
}
