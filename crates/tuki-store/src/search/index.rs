//! Writing the search index: the documents of tickets, people and
//! organisations, rebuilt from what is stored, in the caller's transaction
//! (so a change is findable on every server the moment it commits).

use std::collections::BTreeMap;

use sqlx::{AnyConnection, Row};
use tuki_domain::search::index_terms;

use super::DocKind;
use crate::sql::{Sql, Value};
use crate::Result;

/// One document's terms.
struct Doc {
    key: i64,
    title: String,
    body: String,
}

/// Statements stay under both engines' limits on bound values.
const DOCS_PER_STATEMENT: usize = 200;

async fn upsert(conn: &mut AnyConnection, docs: &[Doc]) -> Result<()> {
    for chunk in docs.chunks(DOCS_PER_STATEMENT) {
        let mut sql = Sql::new("INSERT INTO search_docs (doc, title, body) VALUES ");
        for (i, d) in chunk.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.bind(Value::Int(d.key))
                .push(", ")
                .bind(Value::Text(d.title.clone()))
                .push(", ")
                .bind(Value::Text(d.body.clone()))
                .push(")");
        }
        sql.push(" ON CONFLICT (doc) DO UPDATE SET title = excluded.title, body = excluded.body");
        sql.query().execute(&mut *conn).await?;
    }
    Ok(())
}

/// (Re)writes the two documents of each ticket: as staff see it (subject,
/// number, tags, every article) and as its customers see it (internal
/// articles left out). The requester's name and email are the person's
/// own document, so a renamed customer is found at once.
pub(crate) async fn index_tickets(conn: &mut AnyConnection, ids: &[i64]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut texts: BTreeMap<i64, TicketText> = BTreeMap::new();
    for chunk in ids.chunks(500) {
        let mut sql = Sql::new("SELECT id, number, subject FROM tickets WHERE id IN ");
        sql.bind_list(chunk);
        for r in sql.query().fetch_all(&mut *conn).await? {
            let number: i64 = r.try_get("number")?;
            texts.insert(
                r.try_get("id")?,
                TicketText {
                    title: format!("{} {number}", r.try_get::<String, _>("subject")?),
                    ..TicketText::default()
                },
            );
        }
        let mut sql = Sql::new("SELECT ticket_id, tag FROM ticket_tags WHERE ticket_id IN ");
        sql.bind_list(chunk);
        for r in sql.query().fetch_all(&mut *conn).await? {
            if let Some(t) = texts.get_mut(&r.try_get("ticket_id")?) {
                t.tags.push(r.try_get("tag")?);
            }
        }
        let mut sql =
            Sql::new("SELECT ticket_id, internal, body FROM articles WHERE ticket_id IN ");
        sql.bind_list(chunk).push(" ORDER BY id");
        for r in sql.query().fetch_all(&mut *conn).await? {
            if let Some(t) = texts.get_mut(&r.try_get("ticket_id")?) {
                t.articles
                    .push((crate::sql::get_bool(&r, "internal")?, r.try_get("body")?));
            }
        }
    }
    let docs: Vec<Doc> = texts.iter().flat_map(|(id, t)| t.docs(*id)).collect();
    upsert(conn, &docs).await
}

/// Writes the documents of tickets just created, from what their writer
/// holds (no reading back): subject, number, tags and the first article.
pub(crate) async fn index_created(
    conn: &mut AnyConnection,
    created: &[NewTicketText<'_>],
) -> Result<()> {
    let docs: Vec<Doc> = created
        .iter()
        .flat_map(|c| {
            TicketText {
                title: format!("{} {}", c.subject, c.number),
                tags: c.tags.to_vec(),
                articles: vec![(c.internal, c.body.to_string())],
            }
            .docs(c.id)
        })
        .collect();
    upsert(conn, &docs).await
}

/// A new ticket's text, for [`index_created`].
pub(crate) struct NewTicketText<'a> {
    pub id: i64,
    pub number: i64,
    pub subject: &'a str,
    pub tags: &'a [String],
    pub body: &'a str,
    pub internal: bool,
}

impl TicketText {
    /// The ticket's two documents: for staff, and for its customers.
    fn docs(&self, id: i64) -> [Doc; 2] {
        let title = index_terms([self.title.as_str()]);
        let tags = self.tags.iter().map(String::as_str);
        let all = index_terms(
            tags.clone()
                .chain(self.articles.iter().map(|(_, b)| b.as_str())),
        );
        let public = index_terms(
            tags.chain(
                self.articles
                    .iter()
                    .filter(|(internal, _)| !internal)
                    .map(|(_, b)| b.as_str()),
            ),
        );
        [
            Doc {
                key: DocKind::TicketStaff.key(id),
                title: title.clone(),
                body: all,
            },
            Doc {
                key: DocKind::TicketCustomer.key(id),
                title,
                body: public,
            },
        ]
    }
}

#[derive(Default)]
struct TicketText {
    title: String,
    tags: Vec<String>,
    /// (internal, body), oldest first.
    articles: Vec<(bool, String)>,
}

/// (Re)writes the documents of people: their name, then email and phone.
pub(crate) async fn index_users(conn: &mut AnyConnection, ids: &[i64]) -> Result<()> {
    let mut docs = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let mut sql = Sql::new("SELECT id, name, email, phone FROM users WHERE id IN ");
        sql.bind_list(chunk);
        for r in sql.query().fetch_all(&mut *conn).await? {
            let name: String = r.try_get("name")?;
            let email: String = r.try_get("email")?;
            let phone: Option<String> = r.try_get("phone")?;
            // The phone number also as its digits from the national form
            // on ("0401234567" for "+358401234567").
            let national = phone
                .as_deref()
                .and_then(|p| p.strip_prefix("+358"))
                .map(|rest| format!("0{rest}"));
            docs.push(Doc {
                key: DocKind::User.key(r.try_get("id")?),
                title: index_terms([name.as_str()]),
                body: index_terms(
                    [Some(email.as_str()), phone.as_deref(), national.as_deref()]
                        .into_iter()
                        .flatten(),
                ),
            });
        }
    }
    upsert(conn, &docs).await
}

/// (Re)writes the documents of organisations: their name, then their mail
/// domains.
pub(crate) async fn index_organisations(conn: &mut AnyConnection, ids: &[i64]) -> Result<()> {
    let mut docs = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let mut sql = Sql::new("SELECT id, name FROM organisations WHERE id IN ");
        sql.bind_list(chunk);
        let mut names = BTreeMap::new();
        for r in sql.query().fetch_all(&mut *conn).await? {
            names.insert(
                r.try_get::<i64, _>("id")?,
                (r.try_get::<String, _>("name")?, Vec::new()),
            );
        }
        let mut sql = Sql::new(
            "SELECT organisation_id, domain FROM organisation_domains WHERE organisation_id IN ",
        );
        sql.bind_list(chunk);
        for r in sql.query().fetch_all(&mut *conn).await? {
            if let Some((_, domains)) = names.get_mut(&r.try_get("organisation_id")?) {
                domains.push(r.try_get::<String, _>("domain")?);
            }
        }
        for (id, (name, domains)) in names {
            docs.push(Doc {
                key: DocKind::Organisation.key(id),
                title: index_terms([name.as_str()]),
                body: index_terms(domains.iter().map(String::as_str)),
            });
        }
    }
    upsert(conn, &docs).await
}

/// (Re)writes the documents of knowledge articles: the title, then
/// symptom, cause, solution, products and category. Who may find one
/// (state, visibility) is asked of the article's row when searching, so a
/// state change needs no reindex.
pub(crate) async fn index_articles(conn: &mut AnyConnection, ids: &[i64]) -> Result<()> {
    let mut docs = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let mut sql = Sql::new(
            "SELECT id, title, symptom, cause, solution, products, category FROM kb_articles WHERE id IN ",
        );
        sql.bind_list(chunk);
        for r in sql.query().fetch_all(&mut *conn).await? {
            let text = tuki_domain::knowledge::ArticleText {
                title: r.try_get("title")?,
                symptom: r.try_get("symptom")?,
                cause: r.try_get("cause")?,
                solution: r.try_get("solution")?,
                products: crate::knowledge::split_products(&r.try_get::<String, _>("products")?),
                category: r.try_get("category")?,
            };
            docs.push(Doc {
                key: DocKind::Article.key(r.try_get("id")?),
                title: index_terms([text.title.as_str()]),
                body: index_terms([text.body().as_str()]),
            });
        }
    }
    upsert(conn, &docs).await
}
