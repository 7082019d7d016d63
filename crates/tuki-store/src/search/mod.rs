//! Full-text search over tickets, people, organisations and knowledge
//! articles.
//!
//! **The choice.** The database's own full-text index, fed with terms made
//! in Rust (`tuki_domain::search`): SQLite's FTS5 and PostgreSQL's GIN
//! index over a `tsvector` see the same folded, stemmed words, so both
//! engines find the same things, and the index lives in the same
//! transactions as the tickets. A change is findable the moment it commits,
//! on every server that shares the database, with nothing to keep in step
//! and nothing else to run or back up. (A search library such as tantivy
//! would rank better out of the box but needs its own files on every node,
//! fed from the change feed, and a rebuild when a node is added.)
//!
//! **Documents** (`search_docs`, one row each, keyed `(base + id) * 8 +
//! kind`, each kind's base a range of its own: [`DocKind::key`]):
//! a ticket as staff see it and as its customers see it (no internal
//! articles), a person (name; email and phone), an organisation (name;
//! mail domains) and a knowledge article (title; symptom, cause, solution,
//! products, category). A ticket is found by its requester's name through the
//! person's document, so a renamed customer is found by the new name at
//! once, without touching their tickets.
//!
//! **Kept current** by the ticket events (`events.rs`: a change that adds
//! text marks its ticket, indexed once at the end of the dispatch), by the
//! directory's writes, and rebuilt by `tuki search reindex` (batch by
//! batch, the old documents answering meanwhile).

mod index;
mod query;

mod articles;

pub use articles::{ArticleHit, ArticleSearch};
pub(crate) use index::{
    index_articles, index_created, index_organisations, index_tickets, index_users, NewTicketText,
};
pub(crate) use query::ticket_match;
pub use query::{CustomerHit, SearchRequest, SearchResults, TicketHit};

use sqlx::Row;

use crate::events::TicketChange;
use crate::{Result, Store};

/// What a search document stands for (the low three bits of its key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DocKind {
    /// A ticket with everything staff may read.
    TicketStaff = 1,
    /// A ticket without its internal articles.
    TicketCustomer = 2,
    User = 3,
    Organisation = 4,
    /// A knowledge article (who may find it is its row's state and
    /// visibility).
    Article = 5,
}

/// Where people's and organisations' keys begin, and knowledge articles'.
const CUSTOMERS_BASE: i64 = 1 << 40;
const ARTICLES_BASE: i64 = 1 << 41;

impl DocKind {
    /// Tickets, people and organisations, and articles each have a range of
    /// keys of their own, so that a search of one reads only its range (a
    /// rowid range for FTS5, the key's index for PostgreSQL) instead of
    /// every document holding the words; people come above tickets, so a
    /// newest-first read of ticket matches meets requesters first.
    fn base(self) -> i64 {
        match self {
            DocKind::TicketStaff | DocKind::TicketCustomer => 0,
            DocKind::User | DocKind::Organisation => CUSTOMERS_BASE,
            DocKind::Article => ARTICLES_BASE,
        }
    }

    pub fn key(self, id: i64) -> i64 {
        (self.base() + id) * 8 + self as i64
    }

    /// The thing's id of a key of this kind.
    pub fn id_of(self, doc: i64) -> i64 {
        doc / 8 - self.base()
    }

    /// [`DocKind::id_of`] in SQL, of the key column `doc`.
    pub fn id_sql(self, doc: &str) -> String {
        format!("({doc} / 8 - {})", self.base())
    }
}

/// The keys a search reads: `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Tickets, and people for requesters' names.
    Tickets,
    /// People and organisations.
    Customers,
    Articles,
}

impl Scope {
    pub fn range(self) -> (i64, i64) {
        match self {
            Scope::Tickets => (0, ARTICLES_BASE * 8),
            Scope::Customers => (CUSTOMERS_BASE * 8, ARTICLES_BASE * 8),
            Scope::Articles => (ARTICLES_BASE * 8, i64::MAX),
        }
    }
}

/// The fields of a ticket's history whose change changes its text: a
/// change that records one of these marks the ticket for indexing.
const TEXT_FIELDS: &[&str] = &["created", "subject", "article", "tag"];

/// Whether a change of a ticket changed what it is found by.
pub(crate) fn changes_text(change: &TicketChange) -> bool {
    change
        .changes
        .iter()
        .any(|c| TEXT_FIELDS.contains(&c.field))
}

/// How far a rebuild of the index has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReindexProgress {
    pub done: u64,
    pub total: u64,
}

/// Things indexed in one transaction of a rebuild.
const REINDEX_BATCH: i64 = 500;

impl Store {
    /// Rebuilds every document: tickets, people, organisations, a batch at
    /// a time, each batch in its own transaction, so that search keeps
    /// answering from the old documents while it runs and other writers
    /// are held up for one batch at most. `progress` hears after each
    /// batch.
    pub async fn reindex_search(
        &self,
        mut progress: impl FnMut(ReindexProgress),
    ) -> Result<ReindexProgress> {
        let tables = ["tickets", "users", "organisations", "kb_articles"];
        let mut total = 0u64;
        for table in tables {
            let n: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
                .fetch_one(&self.read)
                .await?
                .try_get("n")?;
            total += n as u64;
        }
        let mut p = ReindexProgress { done: 0, total };
        progress(p);
        for table in tables {
            let mut after = 0i64;
            loop {
                let ids: Vec<i64> = sqlx::query(&format!(
                    "SELECT id FROM {table} WHERE id > $1 ORDER BY id LIMIT $2"
                ))
                .bind(after)
                .bind(REINDEX_BATCH)
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<std::result::Result<_, _>>()?;
                let Some(&last) = ids.last() else { break };
                let mut tx = self.begin_write().await?;
                match table {
                    "tickets" => index_tickets(&mut tx, &ids).await?,
                    "users" => index_users(&mut tx, &ids).await?,
                    "kb_articles" => index_articles(&mut tx, &ids).await?,
                    _ => index_organisations(&mut tx, &ids).await?,
                }
                tx.commit().await?;
                after = last;
                p.done += ids.len() as u64;
                // Rows written since the count was taken.
                p.total = p.total.max(p.done);
                progress(p);
            }
        }
        Ok(p)
    }

    /// Whether the index lacks documents the desk has (a database from
    /// before search, or restored without it): `tuki serve` then rebuilds
    /// it in the background.
    pub async fn search_index_missing(&self) -> Result<bool> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM search_docs) AS docs, \
             (SELECT COUNT(*) FROM tickets) AS tickets, (SELECT COUNT(*) FROM users) AS users",
        )
        .fetch_one(&self.read)
        .await?;
        let docs: i64 = row.try_get("docs")?;
        let things = row.try_get::<i64, _>("tickets")? * 2 + row.try_get::<i64, _>("users")?;
        Ok(docs < things)
    }
}
