//! `tuki bench-search-quality`: how well search finds what is relevant,
//! judged. A generated corpus of problems with appliances, electronics and
//! software (`data/search-quality.json`: per problem a knowledge article and
//! four customers' tickets, in Finnish and in English) is loaded into a
//! fresh desk; each judged query is searched as an agent would (articles,
//! and tickets), and the ranking is scored with nDCG@10 and MRR@10 next to
//! a plain substring baseline (every word of the query a substring of the
//! text, case-insensitive, newest first: what a `LIKE` search gives) over
//! the very same documents.
//!
//! A document is relevant to a query when it is about a problem the query
//! is judged relevant to (grade 2) or partly relevant to (grade 1), in the
//! query's language.

use std::collections::HashMap;

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use tuki_domain::access::Actor;
use tuki_domain::directory::{Language, Role};
use tuki_domain::knowledge::{ArticleState, ArticleVisibility};
use tuki_store::directory::NewUser;
use tuki_store::knowledge::{ArticleFilter, ArticleInput, StateInput};
use tuki_store::search::{ArticleSearch, SearchRequest};
use tuki_store::tickets::{NewTicket, TicketFilter};

use crate::DbArgs;

/// The judged set, compiled in so that the bench needs no files.
const JUDGED: &str = include_str!("../data/search-quality.json");

/// Results scored per query.
const K: usize = 10;

#[derive(Args)]
pub struct BenchQualityArgs {
    /// Print each query whose best answer Tuki ranks below the baseline's.
    #[arg(long)]
    verbose: bool,
}

#[derive(Deserialize)]
struct Judged {
    problems: Vec<Problem>,
    queries: Vec<Query>,
}

#[derive(Deserialize)]
struct Problem {
    key: String,
    product: String,
    articles: HashMap<String, ArticleText>,
    tickets: HashMap<String, Vec<TicketText>>,
}

#[derive(Deserialize)]
struct ArticleText {
    title: String,
    symptom: String,
    cause: String,
    solution: String,
}

#[derive(Deserialize)]
struct TicketText {
    subject: String,
    body: String,
}

#[derive(Deserialize)]
struct Query {
    q: String,
    lang: String,
    relevant: Vec<String>,
    #[serde(default)]
    partly: Vec<String>,
}

impl Query {
    fn grade(&self, problem: &str, lang: &str) -> u32 {
        if lang != self.lang {
            0
        } else if self.relevant.iter().any(|p| p == problem) {
            2
        } else if self.partly.iter().any(|p| p == problem) {
            1
        } else {
            0
        }
    }
}

/// A document of the corpus: what it is about, in which language, its
/// text for the baseline.
struct Doc {
    problem: String,
    lang: String,
    text: String,
}

/// Normalised discounted cumulative gain of the first `K` of `ranked`
/// (grades), against the ideal order of `all` grades.
pub fn ndcg(ranked: &[u32], all: &[u32]) -> f64 {
    let dcg = |grades: &mut dyn Iterator<Item = u32>| -> f64 {
        grades
            .take(K)
            .enumerate()
            .map(|(i, g)| (2f64.powi(g as i32) - 1.0) / ((i + 2) as f64).log2())
            .sum()
    };
    let mut ideal: Vec<u32> = all.iter().copied().filter(|g| *g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let best = dcg(&mut ideal.into_iter());
    if best == 0.0 {
        return 0.0;
    }
    dcg(&mut ranked.iter().copied()) / best
}

/// Reciprocal rank of the first fully relevant result within `K`.
pub fn reciprocal_rank(ranked: &[u32]) -> f64 {
    ranked
        .iter()
        .take(K)
        .position(|g| *g == 2)
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// The baseline: every word of the query a substring of the text (case
/// folded as `lower()` folds it, diacritics kept), newest first.
fn substring_ranking(q: &str, docs: &[(i64, &Doc)]) -> Vec<i64> {
    let words: Vec<String> = q.split_whitespace().map(str::to_lowercase).collect();
    let mut hits: Vec<i64> = docs
        .iter()
        .filter(|(_, d)| {
            let text = d.text.to_lowercase();
            !words.is_empty() && words.iter().all(|w| text.contains(w.as_str()))
        })
        .map(|(id, _)| *id)
        .collect();
    hits.sort_unstable_by(|a, b| b.cmp(a));
    hits.truncate(K);
    hits
}

#[derive(Default)]
struct Score {
    ndcg: f64,
    mrr: f64,
    n: usize,
}

impl Score {
    fn add(&mut self, ranked: &[u32], all: &[u32]) {
        self.ndcg += ndcg(ranked, all);
        self.mrr += reciprocal_rank(ranked);
        self.n += 1;
    }

    fn show(&self) -> String {
        let n = self.n.max(1) as f64;
        format!("{:>8.3} {:>8.3}", self.ndcg / n, self.mrr / n)
    }
}

pub async fn run(args: BenchQualityArgs, db: DbArgs) -> anyhow::Result<()> {
    let judged: Judged = serde_json::from_str(JUDGED).context("the judged query set")?;
    let temp = crate::bench::temp_dir("quality")?;
    let db = DbArgs {
        data_dir: temp.clone(),
        database_url: None,
        ..db
    };
    let store = db.open().await?;
    let system = Actor::system();
    let agent = store
        .create_user(&system, person("agent@quality.test", Role::Admin))
        .await?;
    let agent = store.actor_for_user(agent.id).await?.context("the agent")?;
    let customer = store
        .create_user(&system, person("customer@quality.test", Role::Customer))
        .await?;

    // The corpus, loaded as a desk would hold it.
    let mut articles: HashMap<i64, Doc> = HashMap::new();
    let mut tickets: HashMap<i64, Doc> = HashMap::new();
    for p in &judged.problems {
        let mut first = None;
        for lang in ["fi", "en"] {
            let Some(a) = p.articles.get(lang) else {
                continue;
            };
            let made = store
                .create_knowledge_article(
                    &agent,
                    ArticleInput {
                        title: a.title.clone(),
                        symptom: a.symptom.clone(),
                        cause: a.cause.clone(),
                        solution: a.solution.clone(),
                        products: vec![p.product.replace(' ', "-")],
                        category: String::new(),
                        language: Language::parse("language", lang)?,
                        visibility: ArticleVisibility::Public,
                        owner_id: None,
                        review_by: None,
                        translation_of: first,
                        source_ticket_id: None,
                        base_revision: None,
                        note: String::new(),
                    },
                )
                .await?;
            first.get_or_insert(made.id);
            store
                .set_knowledge_state(
                    &agent,
                    made.id,
                    StateInput {
                        state: ArticleState::Published,
                        note: String::new(),
                    },
                )
                .await?;
            articles.insert(
                made.id,
                Doc {
                    problem: p.key.clone(),
                    lang: lang.into(),
                    text: format!("{} {} {} {}", a.title, a.symptom, a.cause, a.solution),
                },
            );
        }
        for (lang, list) in &p.tickets {
            for t in list {
                let made = store
                    .create_ticket(
                        &system,
                        NewTicket {
                            subject: t.subject.clone(),
                            body: t.body.clone(),
                            requester_id: Some(customer.id),
                            channel: None,
                            category: None,
                            priority: None,
                            group_id: None,
                            owner_id: None,
                            tags: Vec::new(),
                            article_kind: None,
                            asset_id: None,
                        },
                    )
                    .await?;
                tickets.insert(
                    made.id,
                    Doc {
                        problem: p.key.clone(),
                        lang: lang.clone(),
                        text: format!("{} {}", t.subject, t.body),
                    },
                );
            }
        }
    }
    let fi = judged.queries.iter().filter(|q| q.lang == "fi").count();
    println!(
        "search quality: {} problems, {} articles, {} tickets; {} judged queries ({} Finnish, {} English)",
        judged.problems.len(),
        articles.len(),
        tickets.len(),
        judged.queries.len(),
        fi,
        judged.queries.len() - fi
    );

    let article_docs: Vec<(i64, &Doc)> = articles.iter().map(|(i, d)| (*i, d)).collect();
    let ticket_docs: Vec<(i64, &Doc)> = tickets.iter().map(|(i, d)| (*i, d)).collect();
    // (what, method, language) → score
    let mut scores: HashMap<(&str, &str, String), Score> = HashMap::new();
    for q in &judged.queries {
        let grades = |docs: &HashMap<i64, Doc>, ids: &[i64]| -> Vec<u32> {
            ids.iter()
                .map(|id| docs.get(id).map_or(0, |d| q.grade(&d.problem, &d.lang)))
                .collect()
        };
        let all_articles: Vec<u32> = articles
            .values()
            .map(|d| q.grade(&d.problem, &d.lang))
            .collect();
        let all_tickets: Vec<u32> = tickets
            .values()
            .map(|d| q.grade(&d.problem, &d.lang))
            .collect();

        let found_articles: Vec<i64> = store
            .search_articles(
                Some(&agent),
                &ArticleSearch {
                    q: q.q.clone(),
                    filter: ArticleFilter {
                        limit: K as i64,
                        ..Default::default()
                    },
                },
            )
            .await
            .map(|hits| hits.iter().map(|h| h.article.id).collect())
            .unwrap_or_default();
        let found_tickets: Vec<i64> = store
            .search(
                &agent,
                &SearchRequest {
                    q: q.q.clone(),
                    filter: TicketFilter {
                        limit: K as i64,
                        ..Default::default()
                    },
                    offset: 0,
                    customers: false,
                },
            )
            .await
            .map(|r| r.tickets.iter().map(|h| h.ticket.id).collect())
            .unwrap_or_default();
        let base_articles = substring_ranking(&q.q, &article_docs);
        let base_tickets = substring_ranking(&q.q, &ticket_docs);

        let runs = [
            (
                "articles",
                "tuki",
                grades(&articles, &found_articles),
                &all_articles,
            ),
            (
                "articles",
                "substring",
                grades(&articles, &base_articles),
                &all_articles,
            ),
            (
                "tickets",
                "tuki",
                grades(&tickets, &found_tickets),
                &all_tickets,
            ),
            (
                "tickets",
                "substring",
                grades(&tickets, &base_tickets),
                &all_tickets,
            ),
        ];
        for (what, method, ranked, all) in &runs {
            for lang in [q.lang.clone(), "all".to_string()] {
                scores
                    .entry((what, method, lang))
                    .or_default()
                    .add(ranked, all);
            }
        }
        if args.verbose {
            let (tuki, base) = (reciprocal_rank(&runs[0].2), reciprocal_rank(&runs[1].2));
            if tuki < base {
                println!(
                    "  articles worse than substring: {:?} ({tuki:.2} < {base:.2})",
                    q.q
                );
            }
        }
    }
    println!(
        "{:<10} {:<10} {:<4} {:>8} {:>8}",
        "searching", "method", "lang", "nDCG@10", "MRR@10"
    );
    for what in ["articles", "tickets"] {
        for lang in ["fi", "en", "all"] {
            for method in ["tuki", "substring"] {
                if let Some(s) = scores.get(&(what, method, lang.to_string())) {
                    println!("{what:<10} {method:<10} {lang:<4} {}", s.show());
                }
            }
        }
    }
    drop(store);
    std::fs::remove_dir_all(&temp).ok();
    Ok(())
}

fn person(email: &str, role: Role) -> NewUser {
    NewUser {
        email: email.into(),
        name: email.split('@').next().unwrap_or(email).into(),
        phone: None,
        role: Some(role),
        language: None,
        organisation_id: None,
        password: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ideal_rankings_score_one_and_misses_zero() {
        assert!((ndcg(&[2, 1, 0], &[0, 1, 2, 0]) - 1.0).abs() < 1e-9);
        assert_eq!(ndcg(&[0, 0], &[2, 0]), 0.0);
        assert!(ndcg(&[0, 2], &[2]) < 1.0);
        assert_eq!(reciprocal_rank(&[0, 1, 2]), 1.0 / 3.0);
        assert_eq!(reciprocal_rank(&[1, 0]), 0.0);
    }

    #[test]
    fn the_judged_set_is_whole() {
        let judged: Judged = serde_json::from_str(JUDGED).unwrap();
        assert!(judged.queries.len() >= 60);
        for q in &judged.queries {
            for key in q.relevant.iter().chain(&q.partly) {
                assert!(judged.problems.iter().any(|p| &p.key == key), "{key}");
            }
        }
    }
}
