//! Reading the search index: ranked ticket results with snippets, people
//! and organisations, and the full-text condition of ticket lists.
//!
//! The only engine-specific SQL of search is here, in [`MatchSql`]: how a
//! query of terms is asked of FTS5 or of a `tsvector`, and its score (lower
//! is better on both). Title terms (subject, name) rank first.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;
use tuki_domain::access::Actor;
use tuki_domain::search::{opening, snippet, Piece, SearchQuery};
use tuki_domain::ticket::TicketState;

use super::{DocKind, Scope};
use crate::sql::{Sql, Value};
use crate::tickets::list::{conditions, TicketFilter};
use crate::tickets::visibility::visibility;
use crate::tickets::{load_extras_into, ticket_from_row, Ticket, TICKET_COLUMNS};
use crate::{Engine, Result, Store};

/// Characters of text around a match.
const SNIPPET_CHARS: usize = 160;
/// Matches of each score read first by a capped search ([`Store::ranked_capped`]).
const CANDIDATES: i64 = 2_000;
/// Knowledge articles shown above the tickets found.
const ARTICLES_SHOWN: i64 = 5;
/// Words of a ticket that look for similar ones.
const SIMILAR_WORDS: usize = 10;

/// How a page of tickets is found and ranked.
struct Ranking<'a> {
    m: &'a MatchSql,
    /// The words shown marked in snippets.
    query: &'a SearchQuery,
    /// Also tickets whose requester's name or email matches.
    by_requester: bool,
    /// A ticket left out (the one whose like is sought).
    except: Option<i64>,
}

/// A query as one engine asks its index: `SELECT doc, score` of the
/// matching documents (a document may come twice; callers keep its lowest
/// score).
///
/// Two scores. When every word must match, each matching document holds
/// every word, so a statistical rank (bm25, `ts_rank`) would only tell
/// longer documents from shorter ones while costing most of the query's
/// time on common words: the score is 0 when the title (subject, name)
/// holds every word and 1 otherwise, and recency orders the rest. When any
/// word may match ("more like this"), documents differ in which words they
/// share and how rare those are: the engines' own rank.
#[derive(Clone)]
pub(crate) struct MatchSql {
    engine: Engine,
    expr: String,
    /// The same words, in the title only (every-word queries).
    title: Option<String>,
    /// SQLite, every-word queries: only the newest this many matches of
    /// each score are read (FTS5 gives them newest first, stopping there);
    /// see [`Store::ranked`].
    cap: Option<i64>,
    /// Only keys in `[from, to)` (one kind of document: [`Scope`]).
    range: Option<(i64, i64)>,
}

impl MatchSql {
    /// Every word must match (`any` false), or any word may (for "more like
    /// this"). `None` for a query without words: it matches nothing.
    pub fn new(engine: Engine, query: &SearchQuery, any: bool) -> Option<MatchSql> {
        if query.is_empty() {
            return None;
        }
        // Terms and prefixes are ASCII letters and digits only
        // (`tuki_domain::search`), so nothing in them is query syntax.
        let (or, and) = match engine {
            Engine::Sqlite => (" OR ", " AND "),
            Engine::Postgres => (" | ", " & "),
        };
        // PostgreSQL marks title terms with weight A; FTS5 filters the
        // whole expression by column.
        let render = |in_title: bool| {
            let weight = if in_title { "A" } else { "" };
            let words: Vec<String> = query
                .words
                .iter()
                .map(|w| {
                    let alts: Vec<String> = w
                        .terms
                        .iter()
                        .map(|t| match engine {
                            Engine::Sqlite => format!("\"{t}\""),
                            Engine::Postgres if in_title => format!("{t}:{weight}"),
                            Engine::Postgres => t.clone(),
                        })
                        .chain(w.prefix.iter().map(|p| match engine {
                            Engine::Sqlite => format!("\"{p}\"*"),
                            Engine::Postgres => format!("{p}:*{weight}"),
                        }))
                        .collect();
                    format!("({})", alts.join(or))
                })
                .collect();
            let expr = words.join(if any { or } else { and });
            match engine {
                Engine::Sqlite if in_title => format!("title : ({expr})"),
                _ => expr,
            }
        };
        Some(MatchSql {
            engine,
            expr: render(false),
            title: (!any).then(|| render(true)),
            cap: None,
            range: None,
        })
    }

    /// The same query over one scope's documents only.
    pub(super) fn within(&self, scope: Scope) -> MatchSql {
        MatchSql {
            range: Some(scope.range()),
            ..self.clone()
        }
    }

    /// `SELECT doc, score FROM … WHERE <matches>` as a subquery.
    pub(super) fn push_hits(&self, sql: &mut Sql) {
        let expr = Value::Text(self.expr.clone());
        let range = |column: &str| match self.range {
            Some((from, to)) => format!(" AND {column} >= {from} AND {column} < {to}"),
            None => String::new(),
        };
        match (self.engine, &self.title) {
            (Engine::Sqlite, Some(title)) => {
                // Newest first with a cap: FTS5 walks its lists backwards
                // and stops, instead of handing over every match.
                let cap = match self.cap {
                    Some(n) => format!(" ORDER BY rowid DESC LIMIT {n}"),
                    None => String::new(),
                };
                sql.push("SELECT doc, score FROM (SELECT rowid AS doc, 0 AS score FROM search_fts WHERE search_fts MATCH ")
                    .bind(Value::Text(title.clone()))
                    .push(&range("rowid"))
                    .push(&cap)
                    .push(
                        ") UNION ALL SELECT doc, score FROM (SELECT rowid AS doc, 1 AS score FROM search_fts \
                         WHERE search_fts MATCH ",
                    )
                    .bind(expr)
                    .push(&range("rowid"))
                    .push(&cap)
                    .push(")");
            }
            (Engine::Sqlite, None) => {
                // The `rank` column rather than bm25() itself: a function
                // of the table cannot run once the subquery is flattened.
                sql.push(
                    "SELECT rowid AS doc, rank AS score FROM search_fts WHERE search_fts MATCH ",
                )
                .bind(expr)
                .push(&range("rowid"))
                .push(" AND rank MATCH 'bm25(4.0, 1.0)'");
                // Capped: the newest matches only, ranked among themselves
                // (bm25 is computed for the rows read, not for every match).
                if let Some(n) = self.cap {
                    sql.push(&format!(" ORDER BY rowid DESC LIMIT {n}"));
                }
            }
            (Engine::Postgres, Some(title)) => {
                sql.push("SELECT doc, CASE WHEN terms @@ to_tsquery('simple', ")
                    .bind(Value::Text(title.clone()))
                    .push(") THEN 0 ELSE 1 END AS score FROM search_docs WHERE terms @@ to_tsquery('simple', ")
                    .bind(expr)
                    .push(")")
                    .push(&range("doc"));
            }
            (Engine::Postgres, None) => {
                sql.push("SELECT doc, CAST(-ts_rank(terms, to_tsquery('simple', ")
                    .bind(expr.clone())
                    .push(")) AS DOUBLE PRECISION) AS score FROM search_docs WHERE terms @@ to_tsquery('simple', ")
                    .bind(expr)
                    .push(")")
                    .push(&range("doc"));
            }
        }
    }

    /// `SELECT tid, score`: tickets whose document of `kind` matches, and
    /// tickets whose requester's document does (a ticket may come twice).
    fn push_ticket_hits(&self, sql: &mut Sql, kind: DocKind, by_requester: bool) {
        // The index is asked once; both branches read its answer.
        sql.push("WITH h AS (");
        self.within(Scope::Tickets).push_hits(sql);
        sql.push(&format!(
            ") SELECT {} AS tid, h.score FROM h WHERE h.doc % 8 = {}",
            kind.id_sql("h.doc"),
            kind as i64
        ));
        if by_requester {
            sql.push(&format!(
                " UNION ALL SELECT r.id AS tid, h.score FROM h \
                 JOIN tickets r ON r.requester_id = {} WHERE h.doc % 8 = {}",
                DocKind::User.id_sql("h.doc"),
                DocKind::User as i64
            ));
        }
    }
}

/// Which of a ticket's documents an actor searches: customers never
/// search internal articles.
fn ticket_doc_for(actor: &Actor) -> DocKind {
    if actor.is_staff() {
        DocKind::TicketStaff
    } else {
        DocKind::TicketCustomer
    }
}

/// The full-text condition of a ticket list (`q`): `t.id IN (…)`, or a
/// condition that is never true for a query with no words to match.
pub(crate) fn ticket_match(engine: Engine, actor: &Actor, query: &SearchQuery, sql: &mut Sql) {
    match MatchSql::new(engine, query, false) {
        Some(m) => {
            sql.push("t.id IN (SELECT u.tid FROM (");
            m.push_ticket_hits(sql, ticket_doc_for(actor), true);
            sql.push(") u)");
        }
        None => {
            sql.push("1 = 0");
        }
    }
}

/// What to search: the words, and the usual ticket filters (state, group,
/// organisation, owner, priority, tag, dates; their `text`, `sort` and
/// `cursor` are not used: results come by relevance).
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub q: String,
    pub filter: TicketFilter,
    /// Results to skip (pages of results by relevance).
    pub offset: i64,
    /// Also people and organisations (staff only; not on later pages).
    pub customers: bool,
}

/// A ticket found, with where it matched.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketHit {
    pub ticket: Ticket,
    pub requester_name: String,
    /// Text around the first match among the articles the caller may read
    /// (the start of the first article when the match is in the subject or
    /// the requester's name); pieces with `hit` are the matching words.
    pub snippet: Vec<Piece>,
}

/// A person or an organisation found.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerHit {
    /// `person` or `organisation`.
    pub kind: String,
    pub id: i64,
    pub name: String,
    /// A person's email.
    pub email: Option<String>,
    /// A person's organisation.
    pub organisation_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResults {
    /// Most relevant first; among equals the latest updated first.
    pub tickets: Vec<TicketHit>,
    /// Whether there are more tickets after these (ask with `offset`).
    pub more: bool,
    /// No ticket held every word: these hold some of them.
    pub relaxed: bool,
    pub customers: Vec<CustomerHit>,
    /// Knowledge articles the caller may read (first page only; staff
    /// find drafts and internal ones too).
    pub articles: Vec<super::ArticleHit>,
}

impl Store {
    /// Searches what the actor may read: tickets by their subject, number,
    /// tags, articles (customers: the public ones) and their requester's
    /// name and email; for staff also people and organisations.
    pub async fn search(&self, actor: &Actor, req: &SearchRequest) -> Result<SearchResults> {
        let query = SearchQuery::parse("q", &req.q)?;
        let offset = req.offset.clamp(0, 10_000);
        let Some(m) = MatchSql::new(self.engine(), &query, false) else {
            return Ok(SearchResults {
                tickets: Vec::new(),
                more: false,
                relaxed: false,
                customers: Vec::new(),
                articles: Vec::new(),
            });
        };
        let ranking = Ranking {
            m: &m,
            query: &query,
            by_requester: true,
            except: None,
        };
        let (mut tickets, mut more) = self
            .ranked_capped(actor, &ranking, &req.filter, offset)
            .await?;
        // No ticket holds every word: those holding some of them (a typo,
        // a word form the stemmers miss), by rank, said to be so.
        let mut relaxed = false;
        if tickets.is_empty() && offset == 0 {
            let loose = query.relaxed();
            if let Some(mut any) = MatchSql::new(self.engine(), &loose, true) {
                // Any word of a common pair matches a large part of a big
                // desk: rank the newest matches, not all of them.
                if self.engine() == Engine::Sqlite {
                    any.cap = Some(CANDIDATES * 4);
                }
                let ranking = Ranking {
                    m: &any,
                    query: &loose,
                    by_requester: true,
                    except: None,
                };
                (tickets, more) = self.ranked(actor, &ranking, &req.filter, 0).await?;
                relaxed = !tickets.is_empty();
            }
        }
        let customers = if req.customers && actor.is_staff() && offset == 0 {
            self.search_customers(&m, 10).await?
        } else {
            Vec::new()
        };
        let articles = if offset == 0 {
            let filter = crate::knowledge::ArticleFilter {
                limit: ARTICLES_SHOWN,
                ..Default::default()
            };
            self.ranked_articles(Some(actor), &m, &query, &filter, None)
                .await?
        } else {
            Vec::new()
        };
        Ok(SearchResults {
            tickets,
            more,
            relaxed,
            customers,
            articles,
        })
    }

    /// Solved requests like this one, for the agent working on it: found by
    /// the words of its subject and first article (any of them; those
    /// sharing more and rarer words first), the ticket itself left out.
    pub async fn similar_tickets(
        &self,
        actor: &Actor,
        ticket_id: i64,
        limit: i64,
    ) -> Result<Vec<TicketHit>> {
        let text = self.ticket_opening(actor, ticket_id).await?;
        let query = SearchQuery::from_text(&text, SIMILAR_WORDS);
        let Some(m) = MatchSql::new(self.engine(), &query, true) else {
            return Ok(Vec::new());
        };
        let ranking = Ranking {
            m: &m,
            query: &query,
            by_requester: false,
            except: Some(ticket_id),
        };
        let filter = TicketFilter {
            states: vec![TicketState::Resolved, TicketState::Closed],
            limit: limit * 3,
            ..Default::default()
        };
        let hits = self.ranked(actor, &ranking, &filter, 0).await?.0;
        // One shared word is chance ("printer" alone): a similar request
        // shares two of this one's words in its subject and first message.
        let ids: Vec<i64> = hits.iter().map(|h| h.ticket.id).collect();
        let mut texts: HashMap<i64, String> = hits
            .iter()
            .map(|h| (h.ticket.id, h.ticket.subject.clone()))
            .collect();
        if !ids.is_empty() {
            let mut sql = Sql::new(
                "SELECT a.ticket_id, a.body FROM articles a WHERE a.id IN \
                 (SELECT MIN(b.id) FROM articles b WHERE b.ticket_id IN ",
            );
            sql.bind_list(&ids).push(" GROUP BY b.ticket_id)");
            for r in sql.query().fetch_all(&self.read).await? {
                if let Some(t) = texts.get_mut(&r.try_get("ticket_id")?) {
                    t.push(' ');
                    t.push_str(&r.try_get::<String, _>("body")?);
                }
            }
        }
        let needed = query.words.len().min(2);
        Ok(hits
            .into_iter()
            .filter(|h| {
                texts
                    .get(&h.ticket.id)
                    .is_some_and(|t| query.matched(t) >= needed)
            })
            .take(limit.max(0) as usize)
            .collect())
    }

    /// [`Store::ranked`] reading only the newest matches first (SQLite,
    /// every-word queries): a common word matches a tenth of a million
    /// tickets, and ranking them all is what a search would spend its time
    /// on. The newest [`CANDIDATES`] matches of each score are ranked; when
    /// they do not fill the page (few visible to the actor, a narrow
    /// filter, a later page), every match is.
    async fn ranked_capped(
        &self,
        actor: &Actor,
        r: &Ranking<'_>,
        filter: &TicketFilter,
        offset: i64,
    ) -> Result<(Vec<TicketHit>, bool)> {
        if self.engine() == Engine::Sqlite && r.m.title.is_some() {
            let capped = MatchSql {
                cap: Some(CANDIDATES),
                ..r.m.clone()
            };
            let first = Ranking { m: &capped, ..*r };
            let (hits, more) = self.ranked(actor, &first, filter, offset).await?;
            if more {
                return Ok((hits, more));
            }
        }
        self.ranked(actor, r, filter, offset).await
    }

    /// One page of tickets by relevance, with snippets: what the actor may
    /// see that matches and passes the filter.
    async fn ranked(
        &self,
        actor: &Actor,
        r: &Ranking<'_>,
        filter: &TicketFilter,
        offset: i64,
    ) -> Result<(Vec<TicketHit>, bool)> {
        let limit = filter.limit.clamp(1, 100);
        let mut sql = Sql::new(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets t JOIN (SELECT u.tid, MIN(u.score) AS score FROM ("
        ));
        r.m.push_ticket_hits(&mut sql, ticket_doc_for(actor), r.by_requester);
        sql.push(") u GROUP BY u.tid) m ON m.tid = t.id WHERE 1=1");
        visibility(actor, filter.group_id, &mut sql);
        conditions(filter, &mut sql)?;
        if let Some(id) = r.except {
            sql.push(" AND t.id <> ").bind(Value::Int(id));
        }
        sql.push(" ORDER BY m.score, t.updated_at DESC, t.id DESC LIMIT ")
            .bind(Value::Int(limit + 1))
            .push(" OFFSET ")
            .bind(Value::Int(offset));
        let mut conn = self.read.acquire().await?;
        let rows = sql.query().fetch_all(&mut *conn).await?;
        let mut tickets = rows
            .iter()
            .map(ticket_from_row)
            .collect::<Result<Vec<_>>>()?;
        let more = tickets.len() as i64 > limit;
        tickets.truncate(limit as usize);
        load_extras_into(&mut conn, &mut tickets).await?;
        let snippets = snippets(&mut conn, actor, &tickets, r.query).await?;
        drop(conn);
        let names = self
            .user_names(&tickets.iter().map(|t| t.requester_id).collect::<Vec<_>>())
            .await?;
        let hits = tickets
            .into_iter()
            .zip(snippets)
            .map(|(ticket, snippet)| TicketHit {
                requester_name: names
                    .get(&ticket.requester_id)
                    .map(|(n, _)| n.clone())
                    .unwrap_or_default(),
                ticket,
                snippet,
            })
            .collect();
        Ok((hits, more))
    }

    /// People and organisations matching, best first.
    async fn search_customers(&self, m: &MatchSql, limit: i64) -> Result<Vec<CustomerHit>> {
        let mut sql = Sql::new("SELECT h.doc FROM (");
        m.within(Scope::Customers).push_hits(&mut sql);
        sql.push(&format!(
            ") h WHERE h.doc % 8 IN ({}, {}) GROUP BY h.doc ORDER BY MIN(h.score), h.doc DESC LIMIT ",
            DocKind::User as i64,
            DocKind::Organisation as i64
        ))
        .bind(Value::Int(limit));
        let docs: Vec<i64> = sql
            .query()
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| r.try_get("doc"))
            .collect::<std::result::Result<_, _>>()?;
        let ids_of = |kind: DocKind| -> Vec<i64> {
            docs.iter()
                .filter(|d| *d % 8 == kind as i64)
                .map(|d| kind.id_of(*d))
                .collect()
        };
        let mut found: HashMap<i64, CustomerHit> = HashMap::new();
        // People and organisations read alike: an organisation has no
        // email or organisation of its own.
        for (kind, label, select) in [
            (
                DocKind::User,
                "person",
                "SELECT id, name, email, organisation_id FROM users WHERE id IN ",
            ),
            (
                DocKind::Organisation,
                "organisation",
                "SELECT id, name, NULL AS email, NULL AS organisation_id FROM organisations WHERE id IN ",
            ),
        ] {
            let ids = ids_of(kind);
            if ids.is_empty() {
                continue;
            }
            let mut sql = Sql::new(select);
            sql.bind_list(&ids);
            for r in sql.query().fetch_all(&self.read).await? {
                let id: i64 = r.try_get("id")?;
                found.insert(
                    kind.key(id),
                    CustomerHit {
                        kind: label.into(),
                        id,
                        name: r.try_get("name")?,
                        email: r.try_get("email")?,
                        organisation_id: r.try_get("organisation_id")?,
                    },
                );
            }
        }
        Ok(docs.iter().filter_map(|d| found.remove(d)).collect())
    }
}

/// Each ticket's snippet: around the first match in the articles the actor
/// may read, or the opening of the first of them.
async fn snippets(
    conn: &mut sqlx::AnyConnection,
    actor: &Actor,
    tickets: &[Ticket],
    query: &SearchQuery,
) -> Result<Vec<Vec<Piece>>> {
    let ids: Vec<i64> = tickets.iter().map(|t| t.id).collect();
    let mut found: HashMap<i64, Vec<Piece>> = HashMap::new();
    let mut first: HashMap<i64, Vec<Piece>> = HashMap::new();
    if !ids.is_empty() {
        let mut sql = Sql::new("SELECT ticket_id, body FROM articles WHERE ticket_id IN ");
        sql.bind_list(&ids);
        if !actor.is_staff() {
            sql.push(" AND internal = ").bind(Value::Bool(false));
        }
        sql.push(" ORDER BY id");
        for r in sql.query().fetch_all(&mut *conn).await? {
            let id: i64 = r.try_get("ticket_id")?;
            if found.contains_key(&id) {
                continue;
            }
            let body: String = r.try_get("body")?;
            if let Some(s) = snippet(&body, query, SNIPPET_CHARS) {
                found.insert(id, s);
            } else {
                first
                    .entry(id)
                    .or_insert_with(|| opening(&body, SNIPPET_CHARS));
            }
        }
    }
    Ok(ids
        .iter()
        .map(|id| {
            found
                .remove(id)
                .or_else(|| first.remove(id))
                .unwrap_or_default()
        })
        .collect())
}
