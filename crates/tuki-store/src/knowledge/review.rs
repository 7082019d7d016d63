//! Review dates: an article's owner checks it again by its review date.
//! Overdue reviews are listed (`ArticleFilter::review_overdue`); owners are
//! reminded by mail, by the domain's rule (`remind_owner`: once when due,
//! again weekly while it stays overdue), by a job of the one queue that
//! runs every few hours and schedules its next run.

use jiff::{SignedDuration, Timestamp};
use sqlx::Row;
use tuki_domain::knowledge::{remind_owner, ArticleState};
use tuki_mail::texts::{knowledge_review, Lang};

use crate::outbox::{enqueue_mail, NewMail};
use crate::time::{opt_from_db, to_db};
use crate::{Result, Store};

/// The job kind of the review reminders.
pub const KNOWLEDGE_REVIEW_JOB: &str = "knowledge_review";

/// How often reminders are looked for.
pub const REVIEW_EVERY: SignedDuration = SignedDuration::from_hours(6);

impl Store {
    /// Puts the reminder run in the queue at `at` (one pending at most).
    pub async fn schedule_knowledge_review(&self, at: Timestamp) -> Result<()> {
        self.schedule_periodic(KNOWLEDGE_REVIEW_JOB, at).await
    }

    /// The job: reminds, then schedules the next run.
    pub(crate) async fn run_knowledge_review(&self) -> Result<()> {
        let sent = self.remind_article_owners().await?;
        tracing::info!(sent, "knowledge review reminders");
        self.schedule_knowledge_review(self.now() + REVIEW_EVERY)
            .await
    }

    /// Mails the owner of each article whose review is overdue and who is
    /// due a reminder, in their language; the mail and the reminder's
    /// time commit together. Returns how many were sent.
    pub async fn remind_article_owners(&self) -> Result<usize> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "SELECT a.id, a.title, a.review_by, a.reminded_at, a.owner_id, u.name, u.email, u.language \
             FROM kb_articles a JOIN users u ON u.id = a.owner_id \
             WHERE a.state = 'published' AND a.review_by <= $1 ORDER BY a.id",
        )
        .bind(to_db(now))
        .fetch_all(&mut *tx)
        .await?;
        let mut sent = 0;
        for r in &rows {
            let review_by = opt_from_db(r.try_get("review_by")?);
            let reminded = opt_from_db(r.try_get("reminded_at")?);
            if !remind_owner(ArticleState::Published, review_by, reminded, now) {
                continue;
            }
            let id: i64 = r.try_get("id")?;
            let title: String = r.try_get("title")?;
            let name: String = r.try_get("name")?;
            let lang = Lang::from_code(&r.try_get::<String, _>("language")?);
            // The day in Finland (the desk's home), as the owner reads dates.
            let format = match lang {
                Lang::Fi => "%-d.%-m.%Y",
                Lang::En => "%Y-%m-%d",
            };
            let due = review_by
                .map(|t| {
                    t.to_zoned(
                        jiff::tz::TimeZone::get("Europe/Helsinki")
                            .unwrap_or(jiff::tz::TimeZone::UTC),
                    )
                    .strftime(format)
                    .to_string()
                })
                .unwrap_or_default();
            let (subject, body) =
                knowledge_review(lang, &name, &title, &due, &format!("/agent/knowledge/{id}"));
            enqueue_mail(
                &mut tx,
                NewMail {
                    kind: KNOWLEDGE_REVIEW_JOB.into(),
                    ticket_id: None,
                    user_id: Some(r.try_get("owner_id")?),
                    recipient: r.try_get("email")?,
                    sender: None,
                    subject,
                    body,
                    message_id: None,
                    in_reply_to: None,
                    references: Vec::new(),
                    headers: vec![("Auto-Submitted".into(), "auto-generated".into())],
                    article_id: None,
                },
                self.mail_policy(),
                now,
            )
            .await?;
            sqlx::query("UPDATE kb_articles SET reminded_at = $2 WHERE id = $1")
                .bind(id)
                .bind(to_db(now))
                .execute(&mut *tx)
                .await?;
            sent += 1;
        }
        tx.commit().await?;
        Ok(sent)
    }
}
