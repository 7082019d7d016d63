//! Finding knowledge articles: by the words typed (the search box, the
//! portal, the website's widget) and by a text's own words (suggestions on
//! the ticket page and while a customer writes a new request). Same index
//! and [`MatchSql`] as tickets; who may find an article is its row's state
//! and visibility, the same condition as every read of articles.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;
use tuki_domain::access::Actor;
use tuki_domain::knowledge::{plain, ArticleState};
use tuki_domain::search::{opening, snippet, Piece, SearchQuery};

use super::query::MatchSql;
use super::{DocKind, Scope};
use crate::knowledge::{
    article_conditions, article_from_row, readable, ArticleFilter, KnowledgeArticle,
    ARTICLE_COLUMNS, ARTICLE_FROM,
};
use crate::sql::{Sql, Value};
use crate::{Result, Store};

/// Characters of text around a match.
const SNIPPET_CHARS: usize = 200;
/// Words of a text that look for articles about it.
const SUGGEST_WORDS: usize = 12;

/// What to look for among articles.
#[derive(Debug, Clone, Default)]
pub struct ArticleSearch {
    pub q: String,
    pub filter: ArticleFilter,
}

/// An article found, with where it matched.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArticleHit {
    pub article: KnowledgeArticle,
    /// Text around the first match in the symptom, cause or solution (their
    /// opening when only the title matched); pieces with `hit` match.
    pub snippet: Vec<Piece>,
}

impl Store {
    /// Articles the reader may read matching every word typed (the last
    /// also as a prefix), those with every word in the title first, then
    /// the latest changed; when fewer than a page do, then those matching
    /// most of the words ([`SearchQuery::relaxed`]), by rank.
    pub async fn search_articles(
        &self,
        reader: Option<&Actor>,
        req: &ArticleSearch,
    ) -> Result<Vec<ArticleHit>> {
        let query = SearchQuery::parse("q", &req.q)?;
        let Some(m) = MatchSql::new(self.engine(), &query, false) else {
            return Ok(Vec::new());
        };
        let mut hits = self
            .ranked_articles(reader, &m, &query, &req.filter, None)
            .await?;
        // Too few with every word: fill the first page from the loosened
        // query (most of the words, typos at a word's end forgiven), after
        // the articles that hold every word.
        let limit = req.filter.limit.clamp(1, 100) as usize;
        if hits.len() < limit && req.filter.offset <= 0 {
            let relaxed = query.relaxed();
            if let Some(any) = MatchSql::new(self.engine(), &relaxed, true) {
                let needed = relaxed.words.len().div_ceil(2);
                let filter = ArticleFilter {
                    limit: (limit * 3) as i64,
                    ..req.filter.clone()
                };
                let more = self
                    .ranked_articles(reader, &any, &relaxed, &filter, Some(needed))
                    .await?;
                for h in more {
                    if hits.len() == limit {
                        break;
                    }
                    if !hits.iter().any(|x| x.article.id == h.article.id) {
                        hits.push(h);
                    }
                }
            }
        }
        Ok(hits)
    }

    /// Published articles about `text` (a ticket's subject and first
    /// message, or a request being written), those sharing more and rarer
    /// words first; an article must share two of the text's words (one
    /// when the text has only one). `language` first when given.
    pub async fn suggest_articles(
        &self,
        reader: Option<&Actor>,
        text: &str,
        limit: i64,
    ) -> Result<Vec<ArticleHit>> {
        let query = SearchQuery::from_text(text, SUGGEST_WORDS);
        let Some(m) = MatchSql::new(self.engine(), &query, true) else {
            return Ok(Vec::new());
        };
        let filter = ArticleFilter {
            state: Some(ArticleState::Published),
            limit: limit * 3,
            ..Default::default()
        };
        let needed = query.words.len().min(2);
        let hits = self
            .ranked_articles(reader, &m, &query, &filter, Some(needed))
            .await?;
        Ok(hits.into_iter().take(limit.max(0) as usize).collect())
    }

    /// Articles for the agent working on a ticket: from its subject and
    /// first message, without typing.
    pub async fn suggest_articles_for_ticket(
        &self,
        actor: &Actor,
        ticket_id: i64,
        limit: i64,
    ) -> Result<Vec<ArticleHit>> {
        let text = self.ticket_opening(actor, ticket_id).await?;
        self.suggest_articles(Some(actor), &text, limit).await
    }

    /// A ticket's subject and first message, for staff looking for what is
    /// like it.
    pub(crate) async fn ticket_opening(&self, actor: &Actor, ticket_id: i64) -> Result<String> {
        let t = self.ticket(actor, ticket_id).await?;
        if !actor.is_staff() {
            return Err(crate::StoreError::forbidden(
                "only staff see what is like a request",
            ));
        }
        let first: Option<String> =
            sqlx::query("SELECT body FROM articles WHERE ticket_id = $1 ORDER BY id LIMIT 1")
                .bind(ticket_id)
                .fetch_optional(&self.read)
                .await?
                .map(|r| r.try_get("body"))
                .transpose()?;
        Ok(format!("{} {}", t.subject, first.unwrap_or_default()))
    }

    /// Matching articles the reader may read, best first, with snippets;
    /// with `needed`, only those whose text holds that many of the query's
    /// words.
    pub(super) async fn ranked_articles(
        &self,
        reader: Option<&Actor>,
        m: &MatchSql,
        query: &SearchQuery,
        filter: &ArticleFilter,
        needed: Option<usize>,
    ) -> Result<Vec<ArticleHit>> {
        let now = self.now();
        let mut sql = Sql::new(&format!(
            "SELECT {ARTICLE_COLUMNS} FROM {ARTICLE_FROM} JOIN (SELECT {} AS aid, MIN(h.score) AS score FROM (",
            DocKind::Article.id_sql("h.doc")
        ));
        m.within(Scope::Articles).push_hits(&mut sql);
        sql.push(&format!(
            ") h WHERE h.doc % 8 = {} GROUP BY h.doc) m ON m.aid = a.id WHERE 1=1",
            DocKind::Article as i64
        ));
        readable(reader, &mut sql);
        article_conditions(filter, now, &mut sql);
        sql.push(" ORDER BY m.score, a.updated_at DESC, a.id DESC LIMIT ")
            .bind(Value::Int(filter.limit.clamp(1, 100)))
            .push(" OFFSET ")
            .bind(Value::Int(filter.offset.clamp(0, 10_000)));
        let rows = sql.query().fetch_all(&self.read).await?;
        let mut hits = Vec::with_capacity(rows.len());
        for r in &rows {
            let article = article_from_row(r, reader, now)?;
            let text = article.text();
            if let Some(n) = needed {
                if query.matched(&format!("{} {}", text.title, text.body())) < n {
                    continue;
                }
            }
            let body = [&text.symptom, &text.cause, &text.solution].map(|b| plain(b));
            let snippet = body
                .iter()
                .find_map(|b| snippet(b, query, SNIPPET_CHARS))
                .unwrap_or_else(|| opening(&body[0], SNIPPET_CHARS));
            hits.push(ArticleHit { article, snippet });
        }
        Ok(hits)
    }

    /// The titles of articles by id, for lists that name them.
    pub async fn knowledge_titles(&self, ids: &[i64]) -> Result<HashMap<i64, String>> {
        let mut out = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let mut sql = Sql::new("SELECT id, title FROM kb_articles WHERE id IN ");
        sql.bind_list(ids);
        for r in sql.query().fetch_all(&self.read).await? {
            out.insert(r.try_get("id")?, r.try_get("title")?);
        }
        Ok(out)
    }
}
