//! Knowledge articles: typical problems and the ways to fix them, written
//! once and found again by agents on the phone, by newcomers and by
//! customers before they call.
//!
//! - `mod.rs`: the article as read, who may read it (the domain's
//!   `can_read`, and its SQL form [`readable`]), single reads and lists.
//! - `write.rs`: create, edit (each change a revision), state moves,
//!   translations; every write indexes the article for search in its
//!   transaction.
//! - `usage.rs`: views, uses in replies, helpful/not helpful, deflected
//!   requests, and the draft a solved ticket gives.
//! - `files.rs`: files and images of articles (blobs of the blob store).
//! - `review.rs`: review dates: overdue reviews listed, owners reminded by
//!   mail (the `knowledge_review` job of the one queue).
//! - `settings.rs`: whether public articles are read without signing in,
//!   and the websites that may embed the help widget.
//! - `widget.rs`: the widget's request form (single-use tokens for the
//!   domain's spam rule) and the ticket a request becomes.
//!
//! Searching articles is search's (`search/articles.rs`), on the same index
//! as tickets.

mod files;
mod review;
mod settings;
mod usage;
mod widget;
mod write;

pub use files::KnowledgeFile;
pub use review::KNOWLEDGE_REVIEW_JOB;
pub use settings::KnowledgeSettings;
pub use usage::{Feedback, UsedArticle};
pub use widget::{WidgetOutcome, WidgetRequest};
pub use write::{ArticleInput, StateInput};

use jiff::Timestamp;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tuki_domain::access::Actor;
use tuki_domain::directory::Language;
use tuki_domain::knowledge::{
    can_read, review_overdue, ArticleState, ArticleText, ArticleVisibility, DiffLine,
};

use crate::sql::{Sql, Value};
use crate::time::{from_db, opt_from_db, to_db};
use crate::{Result, Store, StoreError};

/// A knowledge article as its reader may see it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KnowledgeArticle {
    pub id: i64,
    /// Translations share a family (the id of the first of them).
    pub family_id: i64,
    pub language: Language,
    pub state: ArticleState,
    pub visibility: ArticleVisibility,
    pub title: String,
    /// Markdown.
    pub symptom: String,
    /// Markdown.
    pub cause: String,
    /// Markdown.
    pub solution: String,
    pub products: Vec<String>,
    pub category: String,
    pub owner_id: i64,
    pub owner_name: String,
    /// When the owner is to check it again.
    pub review_by: Option<Timestamp>,
    /// A published article past its review date.
    pub review_overdue: bool,
    /// Its current revision (1 for a new article).
    pub revision: i64,
    /// The solved ticket it was made from (staff only).
    pub source_ticket_id: Option<i64>,
    pub views: i64,
    /// Times its solution went into a reply.
    pub uses: i64,
    pub helpful: i64,
    pub not_helpful: i64,
    /// Requests not filed because it solved the problem.
    pub deflections: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub published_at: Option<Timestamp>,
    /// The same article in other languages (those the reader may read).
    pub translations: Vec<Translation>,
}

impl KnowledgeArticle {
    pub fn text(&self) -> ArticleText {
        ArticleText {
            title: self.title.clone(),
            symptom: self.symptom.clone(),
            cause: self.cause.clone(),
            solution: self.solution.clone(),
            products: self.products.clone(),
            category: self.category.clone(),
        }
    }
}

/// Another language's version of an article.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Translation {
    pub id: i64,
    pub language: Language,
    pub title: String,
}

/// One revision of an article: who changed it, when, and what it said.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Revision {
    pub revision: i64,
    pub author_id: Option<i64>,
    pub author_name: String,
    pub at: Timestamp,
    /// The author's note, or the state it moved to.
    pub note: String,
    pub state: ArticleState,
    pub title: String,
    pub symptom: String,
    pub cause: String,
    pub solution: String,
    pub products: Vec<String>,
    pub category: String,
}

impl Revision {
    pub fn text(&self) -> ArticleText {
        ArticleText {
            title: self.title.clone(),
            symptom: self.symptom.clone(),
            cause: self.cause.clone(),
            solution: self.solution.clone(),
            products: self.products.clone(),
            category: self.category.clone(),
        }
    }
}

/// What a revision changed against the one before it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevisionDiff {
    pub revision: Revision,
    /// The revision compared with (none for the first).
    pub previous: Option<i64>,
    pub lines: Vec<DiffLine>,
}

/// Which articles a list shows.
#[derive(Debug, Clone, Default)]
pub struct ArticleFilter {
    pub state: Option<ArticleState>,
    pub language: Option<Language>,
    pub visibility: Option<ArticleVisibility>,
    /// Articles naming this product.
    pub product: Option<String>,
    pub owner_id: Option<i64>,
    /// Published articles past their review date.
    pub review_overdue: bool,
    pub limit: i64,
    pub offset: i64,
}

pub(crate) const ARTICLE_COLUMNS: &str = "a.id, a.family_id, a.language, a.state, a.visibility, \
     a.title, a.symptom, a.cause, a.solution, a.products, a.category, a.owner_id, \
     COALESCE(o.name, '') AS owner_name, a.review_by, a.revision, a.source_ticket_id, a.views, \
     a.uses, a.helpful, a.not_helpful, a.deflections, a.created_at, a.updated_at, a.published_at";
pub(crate) const ARTICLE_FROM: &str = "kb_articles a LEFT JOIN users o ON o.id = a.owner_id";

pub(crate) fn split_products(raw: &str) -> Vec<String> {
    raw.split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// A row of [`ARTICLE_COLUMNS`] as the reader sees it (translations are
/// filled in by the caller).
pub(crate) fn article_from_row(
    r: &AnyRow,
    reader: Option<&Actor>,
    now: Timestamp,
) -> Result<KnowledgeArticle> {
    let state = ArticleState::parse("state", &r.try_get::<String, _>("state")?)?;
    let review_by = opt_from_db(r.try_get("review_by")?);
    let staff = reader.is_some_and(|a| a.is_staff());
    Ok(KnowledgeArticle {
        id: r.try_get("id")?,
        family_id: r.try_get("family_id")?,
        language: Language::parse("language", &r.try_get::<String, _>("language")?)?,
        state,
        visibility: ArticleVisibility::parse("visibility", &r.try_get::<String, _>("visibility")?)?,
        title: r.try_get("title")?,
        symptom: r.try_get("symptom")?,
        cause: r.try_get("cause")?,
        solution: r.try_get("solution")?,
        products: split_products(&r.try_get::<String, _>("products")?),
        category: r.try_get("category")?,
        owner_id: r.try_get("owner_id")?,
        owner_name: r.try_get("owner_name")?,
        review_by,
        review_overdue: review_overdue(state, review_by, now),
        revision: r.try_get("revision")?,
        source_ticket_id: if staff {
            r.try_get("source_ticket_id")?
        } else {
            None
        },
        views: r.try_get("views")?,
        uses: r.try_get("uses")?,
        helpful: r.try_get("helpful")?,
        not_helpful: r.try_get("not_helpful")?,
        deflections: r.try_get("deflections")?,
        created_at: from_db(r.try_get("created_at")?),
        updated_at: from_db(r.try_get("updated_at")?),
        published_at: opt_from_db(r.try_get("published_at")?),
        translations: Vec::new(),
    })
}

/// The SQL form of the domain's `can_read` over `kb_articles a`: customers
/// and the public read published public articles only.
pub(crate) fn readable(reader: Option<&Actor>, sql: &mut Sql) {
    if !reader.is_some_and(|a| a.is_staff()) {
        sql.push(" AND a.state = ")
            .bind(Value::Text(ArticleState::Published.as_str().into()))
            .push(" AND a.visibility = ")
            .bind(Value::Text(ArticleVisibility::Public.as_str().into()));
    }
}

/// Loads one article for `reader`: 404 when it does not exist or the
/// reader may not read it (an internal article is not admitted to exist).
pub(crate) async fn load_article(
    conn: &mut AnyConnection,
    reader: Option<&Actor>,
    id: i64,
    now: Timestamp,
) -> Result<KnowledgeArticle> {
    let row = sqlx::query(&format!(
        "SELECT {ARTICLE_COLUMNS} FROM {ARTICLE_FROM} WHERE a.id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    let mut article = article_from_row(&row, reader, now)?;
    if !can_read(reader, article.state, article.visibility) {
        return Err(StoreError::NotFound);
    }
    let mut sql =
        Sql::new("SELECT a.id, a.language, a.title FROM kb_articles a WHERE a.family_id = ");
    sql.bind(Value::Int(article.family_id))
        .push(" AND a.id <> ")
        .bind(Value::Int(id));
    readable(reader, &mut sql);
    sql.push(" ORDER BY a.language");
    for r in sql.query().fetch_all(&mut *conn).await? {
        article.translations.push(Translation {
            id: r.try_get("id")?,
            language: Language::parse("language", &r.try_get::<String, _>("language")?)?,
            title: r.try_get("title")?,
        });
    }
    Ok(article)
}

impl Store {
    /// One article, if `reader` may read it (`None`: someone who has not
    /// signed in).
    pub async fn knowledge_article(
        &self,
        reader: Option<&Actor>,
        id: i64,
    ) -> Result<KnowledgeArticle> {
        let mut conn = self.read.acquire().await?;
        load_article(&mut conn, reader, id, self.now()).await
    }

    /// Articles the reader may read that pass the filter, latest changed
    /// first (searching them by words is `search_articles`).
    pub async fn knowledge_articles(
        &self,
        reader: Option<&Actor>,
        filter: &ArticleFilter,
    ) -> Result<Vec<KnowledgeArticle>> {
        let now = self.now();
        let mut sql = Sql::new(&format!(
            "SELECT {ARTICLE_COLUMNS} FROM {ARTICLE_FROM} WHERE 1=1"
        ));
        readable(reader, &mut sql);
        article_conditions(filter, now, &mut sql);
        sql.push(" ORDER BY a.updated_at DESC, a.id DESC LIMIT ")
            .bind(Value::Int(filter.limit.clamp(1, 200)))
            .push(" OFFSET ")
            .bind(Value::Int(filter.offset.clamp(0, 100_000)));
        sql.query()
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| article_from_row(r, reader, now))
            .collect()
    }

    /// An article's revisions, latest first (staff only).
    pub async fn knowledge_revisions(&self, actor: &Actor, id: i64) -> Result<Vec<Revision>> {
        if !actor.is_staff() {
            return Err(StoreError::NotFound);
        }
        // 404 for an article that does not exist.
        self.knowledge_article(Some(actor), id).await?;
        let rows = sqlx::query(&format!(
            "SELECT {REVISION_COLUMNS} FROM kb_revisions r LEFT JOIN users u ON u.id = r.author_id \
             WHERE r.article_id = $1 ORDER BY r.revision DESC"
        ))
        .bind(id)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(revision_from_row).collect()
    }

    /// What revision `revision` of an article changed against the one
    /// before it, as a line diff of its fields (staff only).
    pub async fn knowledge_revision_diff(
        &self,
        actor: &Actor,
        id: i64,
        revision: i64,
    ) -> Result<RevisionDiff> {
        let revisions = self.knowledge_revisions(actor, id).await?;
        revision_diff(&revisions, revision).ok_or(StoreError::NotFound)
    }
}

/// What `revision` changed against the one before it, from an article's
/// revisions, latest first (as [`Store::knowledge_revisions`] gives them).
pub fn revision_diff(revisions: &[Revision], revision: i64) -> Option<RevisionDiff> {
    let at = revisions.iter().position(|r| r.revision == revision)?;
    let this = revisions[at].clone();
    let before = revisions.get(at + 1);
    let old = before
        .map(|b| tuki_domain::knowledge::revision_text(&b.text()))
        .unwrap_or_default();
    let lines =
        tuki_domain::knowledge::diff(&old, &tuki_domain::knowledge::revision_text(&this.text()));
    Some(RevisionDiff {
        previous: before.map(|b| b.revision),
        revision: this,
        lines,
    })
}

const REVISION_COLUMNS: &str = "r.revision, r.author_id, COALESCE(u.name, '') AS author_name, \
     r.at, r.note, r.state, r.title, r.symptom, r.cause, r.solution, r.products, r.category";

fn revision_from_row(r: &AnyRow) -> Result<Revision> {
    Ok(Revision {
        revision: r.try_get("revision")?,
        author_id: r.try_get("author_id")?,
        author_name: r.try_get("author_name")?,
        at: from_db(r.try_get("at")?),
        note: r.try_get("note")?,
        state: ArticleState::parse("state", &r.try_get::<String, _>("state")?)?,
        title: r.try_get("title")?,
        symptom: r.try_get("symptom")?,
        cause: r.try_get("cause")?,
        solution: r.try_get("solution")?,
        products: split_products(&r.try_get::<String, _>("products")?),
        category: r.try_get("category")?,
    })
}

/// A filter's conditions over `kb_articles a`.
pub(crate) fn article_conditions(filter: &ArticleFilter, now: Timestamp, sql: &mut Sql) {
    if let Some(s) = filter.state {
        sql.push(" AND a.state = ")
            .bind(Value::Text(s.as_str().into()));
    }
    if let Some(l) = filter.language {
        sql.push(" AND a.language = ")
            .bind(Value::Text(l.as_str().into()));
    }
    if let Some(v) = filter.visibility {
        sql.push(" AND a.visibility = ")
            .bind(Value::Text(v.as_str().into()));
    }
    if let Some(p) = &filter.product {
        // Products are stored joined by commas: a whole tag is the one
        // between two commas once the list is wrapped in them.
        sql.push(" AND (',' || a.products || ',') LIKE ")
            .bind(Value::Text(format!("%,{},%", p.trim().to_lowercase())));
    }
    if let Some(o) = filter.owner_id {
        sql.push(" AND a.owner_id = ").bind(Value::Int(o));
    }
    if filter.review_overdue {
        sql.push(" AND a.state = ")
            .bind(Value::Text(ArticleState::Published.as_str().into()))
            .push(" AND a.review_by <= ")
            .bind(Value::Int(to_db(now)));
    }
}
