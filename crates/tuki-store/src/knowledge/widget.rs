//! The help widget on the company's own website: its request form's
//! single-use tokens (when the form was shown, for the domain's timing
//! rule) and the request it sends, which becomes a ticket on channel `web`
//! for the person of that address (a new customer when unknown, placed in
//! the organisation of their mail domain), acknowledged by mail like every
//! new request.

use jiff::Timestamp;
use rand::RngCore;
use sqlx::Row;
use tuki_domain::access::Actor;
use tuki_domain::directory::Role;
use tuki_domain::knowledge::{widget_form_verdict, FormVerdict};
use tuki_domain::ticket::Channel;
use tuki_domain::values::{self, Email};

use crate::directory::NewUser;
use crate::tickets::{NewTicket, Ticket};
use crate::time::{from_db, to_db};
use crate::{Result, Store, StoreError};

/// A request sent from the widget.
#[derive(Debug, Clone)]
pub struct WidgetRequest {
    pub name: String,
    pub email: String,
    pub subject: String,
    pub body: String,
    /// The form's token ([`Store::widget_form`]).
    pub token: String,
    /// The field people do not see and robots fill in.
    pub honeypot: String,
}

/// What became of a request from the widget.
#[derive(Debug, Clone)]
pub enum WidgetOutcome {
    Filed(Box<Ticket>),
    /// Caught as spam: nothing was filed (the sender is not told why).
    Refused(FormVerdict),
}

impl Store {
    /// A new form token: the form was shown now. Tokens older than a day
    /// are dropped on the way.
    pub async fn widget_form(&self) -> Result<String> {
        let mut bytes = [0u8; 18];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let now = to_db(self.now());
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM kb_widget_forms WHERE issued_at < $1")
            .bind(now - 24 * 3600 * 1_000_000)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO kb_widget_forms (token, issued_at) VALUES ($1, $2)")
            .bind(&token)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Files a request from the widget unless the domain's rule finds it to
    /// be spam (the honeypot filled, a form sent too fast, too late or
    /// twice). The token is used up either way. Errors name the field.
    pub async fn widget_request(&self, req: WidgetRequest) -> Result<WidgetOutcome> {
        let name = values::line("name", &req.name, 200)?;
        let email = Email::parse("email", &req.email)?;
        let subject = values::line("subject", &req.subject, 300)?;
        let body = values::body("body", &req.body, 20_000)?;
        let now = self.now();
        let issued: Option<Timestamp> = {
            let mut tx = self.begin_write().await?;
            let row =
                sqlx::query("DELETE FROM kb_widget_forms WHERE token = $1 RETURNING issued_at")
                    .bind(&req.token)
                    .fetch_optional(&mut *tx)
                    .await?;
            tx.commit().await?;
            row.map(|r| r.try_get("issued_at"))
                .transpose()?
                .map(from_db)
        };
        let verdict = widget_form_verdict(&req.honeypot, issued, now);
        if verdict != FormVerdict::Genuine {
            tracing::info!(verdict = ?verdict, "widget request refused as spam");
            return Ok(WidgetOutcome::Refused(verdict));
        }
        let requester = self.requester_by_email(&email, &name).await?;
        let system = Actor::system();
        let ticket = self
            .create_ticket(
                &system,
                NewTicket {
                    subject,
                    body,
                    requester_id: Some(requester),
                    channel: Some(Channel::Web),
                    category: None,
                    priority: None,
                    group_id: None,
                    owner_id: None,
                    tags: vec!["widget".into()],
                    article_kind: None,
                    asset_id: None,
                },
            )
            .await?;
        Ok(WidgetOutcome::Filed(Box::new(ticket)))
    }

    /// The customer of an address: found, or created in the organisation
    /// of its mail domain. Staff addresses are not taken from a public form.
    async fn requester_by_email(&self, email: &Email, name: &str) -> Result<i64> {
        let found = sqlx::query("SELECT id, role FROM users WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(&self.read)
            .await?;
        if let Some(r) = found {
            let role = Role::parse("role", &r.try_get::<String, _>("role")?)?;
            if role.is_staff() {
                return Err(StoreError::invalid(
                    "email",
                    "belongs to the desk's staff; sign in to the console instead",
                ));
            }
            return Ok(r.try_get("id")?);
        }
        let org: Option<i64> =
            sqlx::query("SELECT organisation_id FROM organisation_domains WHERE domain = $1")
                .bind(email.domain())
                .fetch_optional(&self.read)
                .await?
                .map(|r| r.try_get("organisation_id"))
                .transpose()?;
        let created = self
            .create_user(
                &Actor::system(),
                NewUser {
                    email: email.as_str().into(),
                    name: name.into(),
                    phone: None,
                    role: Some(Role::Customer),
                    language: None,
                    organisation_id: org,
                    password: None,
                },
            )
            .await;
        match created {
            Ok(u) => Ok(u.id),
            // Created meanwhile by another request: take that one.
            Err(StoreError::Conflict { .. }) => {
                let r = sqlx::query("SELECT id FROM users WHERE email = $1")
                    .bind(email.as_str())
                    .fetch_one(&self.read)
                    .await?;
                Ok(r.try_get("id")?)
            }
            Err(e) => Err(e),
        }
    }
}
