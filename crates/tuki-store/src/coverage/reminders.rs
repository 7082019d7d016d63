//! Renewal and low-balance reminders of contracts: a job of the one queue,
//! every six hours, mails the desk's administrators and the organisation's
//! members when a contract ends within 30 days or an hour bank is at its
//! low mark (the domain's `contract_reminders`), once each: a renewal that
//! moves the end, or hours that lift the balance, make it due again.

use jiff::{SignedDuration, Timestamp};
use sqlx::Row;
use tuki_domain::coverage::{
    contract_reminders, hours_text, show_date, ContractReminder, RENEWAL_NOTICE_DAYS,
};
use tuki_domain::directory::Language;
use tuki_mail::texts::{contract_expiring, contract_low_balance, Lang};

use super::contracts::{contract_from_row, CONTRACT_COLUMNS};
use crate::outbox::{enqueue_mail, NewMail};
use crate::time::to_db;
use crate::{Result, Store};

/// The job kind of the contract reminders.
pub const CONTRACT_REMINDERS_JOB: &str = "contract_reminders";

/// How often reminders are looked for.
pub const REMIND_EVERY: SignedDuration = SignedDuration::from_hours(6);

impl Store {
    /// Puts the reminder run in the queue at `at` (one pending at most).
    pub async fn schedule_contract_reminders(&self, at: Timestamp) -> Result<()> {
        self.schedule_periodic(CONTRACT_REMINDERS_JOB, at).await
    }

    /// The job: reminds, then schedules the next run.
    pub(crate) async fn run_contract_reminders(&self) -> Result<()> {
        let sent = self.remind_contracts().await?;
        tracing::info!(sent, "contract reminders");
        self.schedule_contract_reminders(self.now() + REMIND_EVERY)
            .await
    }

    /// Mails the reminders contracts are due; the mails and the reminders'
    /// times commit together. Returns how many mails were queued.
    pub async fn remind_contracts(&self) -> Result<usize> {
        let now = self.now();
        let zone = self.desk_zone().await?;
        let today = now.to_zoned(zone).date();
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(&format!(
            "SELECT {CONTRACT_COLUMNS}, expiry_reminded_at, low_reminded_at, \
             (SELECT name FROM organisations o WHERE o.id = contracts.organisation_id) AS organisation \
             FROM contracts WHERE ends_on >= $1 ORDER BY id"
        ))
        .bind(today.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let mut sent = 0;
        for r in &rows {
            let c = contract_from_row(r)?;
            let organisation: String = r.try_get("organisation")?;
            let mut expiry_reminded = r.try_get::<Option<i64>, _>("expiry_reminded_at")?.is_some();
            let mut low_reminded = r.try_get::<Option<i64>, _>("low_reminded_at")?.is_some();
            // A renewal moved the end, or hours were added: due again.
            let notice = c
                .ends_on
                .checked_sub(jiff::Span::new().days(RENEWAL_NOTICE_DAYS))
                .unwrap_or(c.ends_on);
            if expiry_reminded && today < notice {
                expiry_reminded = false;
                sqlx::query("UPDATE contracts SET expiry_reminded_at = NULL WHERE id = $1")
                    .bind(c.id)
                    .execute(&mut *tx)
                    .await?;
            }
            if low_reminded && c.minutes_left > c.low_balance_minutes {
                low_reminded = false;
                sqlx::query("UPDATE contracts SET low_reminded_at = NULL WHERE id = $1")
                    .bind(c.id)
                    .execute(&mut *tx)
                    .await?;
            }
            let due = contract_reminders(
                &c.facts(),
                c.low_balance_minutes,
                today,
                expiry_reminded,
                low_reminded,
            );
            if due.is_empty() {
                continue;
            }
            let people = sqlx::query(
                "SELECT id, name, email, language FROM users WHERE active = $1 AND (role = 'admin' OR organisation_id = $2) ORDER BY id",
            )
            .bind(true)
            .bind(c.organisation_id)
            .fetch_all(&mut *tx)
            .await?;
            for reminder in due {
                for p in &people {
                    let lang = Lang::from_code(&p.try_get::<String, _>("language")?);
                    let l = if lang == Lang::Fi {
                        Language::Fi
                    } else {
                        Language::En
                    };
                    let name: String = p.try_get("name")?;
                    let (subject, body) = match reminder {
                        ContractReminder::Expiring => contract_expiring(
                            lang,
                            &name,
                            &c.name,
                            &organisation,
                            &show_date(c.ends_on, l),
                        ),
                        ContractReminder::LowBalance => contract_low_balance(
                            lang,
                            &name,
                            &c.name,
                            &organisation,
                            &hours_text(c.minutes_left, l),
                        ),
                    };
                    enqueue_mail(
                        &mut tx,
                        NewMail {
                            kind: CONTRACT_REMINDERS_JOB.into(),
                            ticket_id: None,
                            user_id: Some(p.try_get("id")?),
                            recipient: p.try_get("email")?,
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
                    sent += 1;
                }
                let column = match reminder {
                    ContractReminder::Expiring => "expiry_reminded_at",
                    ContractReminder::LowBalance => "low_reminded_at",
                };
                sqlx::query(&format!("UPDATE contracts SET {column} = $1 WHERE id = $2"))
                    .bind(to_db(now))
                    .bind(c.id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(sent)
    }
}
