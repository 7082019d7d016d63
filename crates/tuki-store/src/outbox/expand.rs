//! Expanding what was recorded into each recipient's mail: a ticket event
//! (`ticket_mail` jobs) or a notification (`notification_mail` jobs), in
//! the transaction that finishes the job, so each is expanded exactly once.

use jiff::Timestamp;
use sqlx::{AnyConnection, Row};
use tuki_mail::texts::{render, tag, Ctx, Lang};

use super::people::{bounced, group_address, person, thread_of, wants, Person};
use super::{enqueue_mail, NewMail, NOTIFICATION_MAIL_JOB, TICKET_MAIL_JOB};
use crate::jobs::Job;
use crate::mail::MailPolicy;
use crate::sql::get_bool;
use crate::tickets::Ticket;
use crate::time::to_db;
use crate::{Result, Store, StoreError};

/// One recorded ticket event.
struct MailEvent {
    ticket_id: i64,
    kind: String,
    actor_id: Option<i64>,
    /// Whom the event is about (the new owner of `assigned`).
    user_id: Option<i64>,
    article_id: Option<i64>,
    inbound_message_id: Option<String>,
    may_answer: bool,
}

/// The article a mail quotes.
struct Quoted {
    kind: String,
    internal: bool,
    body: String,
}

/// What every mail of one event shares.
struct Thread<'a> {
    ticket: &'a Ticket,
    group_name: String,
    from: Option<String>,
    in_reply_to: Option<String>,
    references: Vec<String>,
    text: String,
    /// The article whose files go with mail that quotes it (never an
    /// internal note).
    files_of: Option<i64>,
}

fn payload_id(job: &Job, key: &str) -> Result<i64> {
    job.payload
        .get(key)
        .and_then(|v| v.as_i64())
        .ok_or_else(|| {
            StoreError::Database(sqlx::Error::Decode(
                format!("job {} has no {key}", job.id).into(),
            ))
        })
}

impl Store {
    /// Expands every recorded ticket event and notification whose job is
    /// due, now, in this process (what the runner of `tuki serve` does in
    /// the background; for tests and commands). Returns how many.
    pub async fn mail_events_to_outbox(&self, limit: i64) -> Result<usize> {
        let worker = format!(
            "expand-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        self.work_jobs(
            &worker,
            &[TICKET_MAIL_JOB, NOTIFICATION_MAIL_JOB],
            limit,
            jiff::SignedDuration::from_secs(300),
            |job| {
                let worker = worker.clone();
                async move { self.run_store_job(&job, &worker).await }
            },
        )
        .await
    }

    /// Runs a `ticket_mail` job: the mails that follow one recorded event,
    /// written with the job's completion in one transaction.
    pub(crate) async fn run_ticket_mail(&self, job: &Job, worker: &str) -> Result<()> {
        let event_id = payload_id(job, "mail_event_id")?;
        let at = self.now();
        let mut tx = self.begin_write().await?;
        // Claiming the row first: a second runner that took the job over
        // after a lost lease finds it done and writes nothing twice.
        let claimed =
            sqlx::query("UPDATE mail_events SET done_at = $1 WHERE id = $2 AND done_at IS NULL")
                .bind(to_db(at))
                .bind(event_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if claimed == 1 {
            let r = sqlx::query(
                "SELECT ticket_id, kind, actor_id, user_id, article_id, inbound_message_id, may_answer \
                 FROM mail_events WHERE id = $1",
            )
            .bind(event_id)
            .fetch_one(&mut *tx)
            .await?;
            let event = MailEvent {
                ticket_id: r.try_get("ticket_id")?,
                kind: r.try_get("kind")?,
                actor_id: r.try_get("actor_id")?,
                user_id: r.try_get("user_id")?,
                article_id: r.try_get("article_id")?,
                inbound_message_id: r.try_get("inbound_message_id")?,
                may_answer: get_bool(&r, "may_answer")?,
            };
            expand_event(&mut tx, &event, self.mail_policy(), at).await?;
        }
        crate::jobs::finish_on(&mut tx, job.id, worker, at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Runs a `notification_mail` job: one notification (an SLA warning or
    /// breach, a failing mailbox) as mail in its recipient's language.
    pub(crate) async fn run_notification_mail(&self, job: &Job, worker: &str) -> Result<()> {
        let id = payload_id(job, "notification_id")?;
        let at = self.now();
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE notifications SET delivered_at = $1 WHERE id = $2 AND delivered_at IS NULL",
        )
        .bind(to_db(at))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 1 {
            expand_notification(&mut tx, id, self.mail_policy(), at).await?;
        }
        crate::jobs::finish_on(&mut tx, job.id, worker, at).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Writes the mails that follow a recorded event: acknowledgement, public
/// reply and resolution to the requester; new request, customer reply and
/// assignment to agents.
async fn expand_event(
    conn: &mut AnyConnection,
    e: &MailEvent,
    policy: &MailPolicy,
    at: Timestamp,
) -> Result<()> {
    let t = crate::tickets::load(conn, e.ticket_id).await?;
    if t.merged_into_id.is_some() {
        return Ok(());
    }
    let quoted = quoted(conn, e.article_id).await?;
    let thread = thread(conn, &t, e, quoted.as_ref()).await?;
    let (to_customer, to_agents) = recipients(conn, &t, e, quoted.as_ref()).await?;
    let mut sent_to = Vec::new();
    if let Some(kind) = to_customer.filter(|_| e.may_answer) {
        if let Some(p) = person(conn, t.requester_id).await? {
            if Some(p.id) != e.actor_id || kind != "reply" {
                sent_to.push(p.id);
                if !bounced(conn, &p.email).await? && wants(conn, p.id, kind).await? {
                    let auto = match kind {
                        "reply" => None,
                        "ack" => Some("auto-replied"),
                        _ => Some("auto-generated"),
                    };
                    let headers = auto
                        .map(|a| vec![("Auto-Submitted".to_string(), a.to_string())])
                        .unwrap_or_default();
                    let files = thread.files_of.filter(|_| kind == "reply");
                    let mail = compose(&thread, &p, kind, policy, headers, files);
                    enqueue_mail(conn, mail, policy, at).await?;
                }
            }
        }
    }
    for (user_id, kind) in to_agents {
        if Some(user_id) == e.actor_id || sent_to.contains(&user_id) {
            continue;
        }
        sent_to.push(user_id);
        let Some(p) = person(conn, user_id).await? else {
            continue;
        };
        if !p.staff || !wants(conn, p.id, kind).await? {
            continue;
        }
        // The customer's message (a new request or a reply) goes with its
        // files; an `assigned` notice carries none.
        let files = thread
            .files_of
            .filter(|_| matches!(kind, "new_ticket" | "customer_reply"));
        let mail = compose(&thread, &p, kind, policy, robot_headers(), files);
        enqueue_mail(conn, mail, policy, at).await?;
    }
    Ok(())
}

/// Headers that keep other desks' robots from answering Tuki's notices.
fn robot_headers() -> Vec<(String, String)> {
    vec![
        ("Auto-Submitted".into(), "auto-generated".into()),
        ("X-Auto-Response-Suppress".into(), "All".into()),
    ]
}

async fn quoted(conn: &mut AnyConnection, article_id: Option<i64>) -> Result<Option<Quoted>> {
    let Some(a) = article_id else { return Ok(None) };
    let row = sqlx::query("SELECT kind, internal, body FROM articles WHERE id = $1")
        .bind(a)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| {
        Ok(Quoted {
            kind: r.try_get("kind")?,
            internal: get_bool(&r, "internal")?,
            body: r.try_get("body")?,
        })
    })
    .transpose()
}

async fn thread<'a>(
    conn: &mut AnyConnection,
    t: &'a Ticket,
    e: &MailEvent,
    quoted: Option<&Quoted>,
) -> Result<Thread<'a>> {
    let from = group_address(conn, t.group_id).await?;
    let (mut in_reply_to, mut references) = thread_of(conn, t.id).await?;
    if let Some(mid) = &e.inbound_message_id {
        in_reply_to = Some(mid.clone());
        if !references.contains(mid) {
            references.push(mid.clone());
        }
    }
    let group_name: String = match t.group_id {
        Some(g) => sqlx::query("SELECT name FROM support_groups WHERE id = $1")
            .bind(g)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get("name"))
            .transpose()?
            .unwrap_or_default(),
        None => String::new(),
    };
    Ok(Thread {
        ticket: t,
        group_name,
        from,
        in_reply_to,
        references,
        text: quoted.map(|q| q.body.clone()).unwrap_or_default(),
        files_of: e.article_id.filter(|_| quoted.is_some_and(|q| !q.internal)),
    })
}

/// Who is mailed about an event: the requester (with the kind of mail)
/// and agents (each with theirs).
async fn recipients(
    conn: &mut AnyConnection,
    t: &Ticket,
    e: &MailEvent,
    quoted: Option<&Quoted>,
) -> Result<(Option<&'static str>, Vec<(i64, &'static str)>)> {
    let mut to_agents = Vec::new();
    let to_customer = match e.kind.as_str() {
        "created" => {
            if let Some(g) = t.group_id {
                for m in sqlx::query("SELECT user_id FROM group_members WHERE group_id = $1")
                    .bind(g)
                    .fetch_all(&mut *conn)
                    .await?
                {
                    to_agents.push((m.try_get("user_id")?, "new_ticket"));
                }
            }
            Some("ack")
        }
        "staff_response" if quoted.is_some_and(|q| q.kind == "reply" && !q.internal) => {
            Some("reply")
        }
        "resolved" => Some("resolved"),
        "assigned" => {
            // Only if they still own it: a quick reassignment mails nobody
            // about a ticket that is no longer theirs.
            if let Some(u) = e.user_id.filter(|u| t.owner_id == Some(*u)) {
                to_agents.push((u, "assigned"));
            }
            None
        }
        "customer_reply" => {
            for id in t.owner_id.iter().chain(&t.followers) {
                to_agents.push((*id, "customer_reply"));
            }
            None
        }
        _ => None,
    };
    Ok((to_customer, to_agents))
}

/// One mail of an event to one person, in their language.
fn compose(
    thread: &Thread<'_>,
    p: &Person,
    kind: &str,
    policy: &MailPolicy,
    headers: Vec<(String, String)>,
    article_id: Option<i64>,
) -> NewMail {
    let ctx = Ctx {
        tag: tag(&policy.tag, thread.ticket.number),
        subject: &thread.ticket.subject,
        name: &p.name,
        text: &thread.text,
        group: &thread.group_name,
    };
    let (subject, body) = render(kind, Lang::from_code(&p.language), &ctx);
    NewMail {
        kind: kind.into(),
        ticket_id: Some(thread.ticket.id),
        user_id: Some(p.id),
        recipient: p.email.clone(),
        sender: thread.from.clone(),
        subject,
        body,
        in_reply_to: thread.in_reply_to.clone(),
        references: thread.references.clone(),
        headers,
        article_id,
        ..NewMail::default()
    }
}

/// A notification as mail to its user, unless they are gone or turned its
/// kind off. SLA notices are written from the target they are about, in
/// the recipient's language; others quote their message.
async fn expand_notification(
    conn: &mut AnyConnection,
    id: i64,
    policy: &MailPolicy,
    at: Timestamp,
) -> Result<()> {
    let r = sqlx::query(
        "SELECT user_id, ticket_id, kind, sla_kind, message FROM notifications WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let user_id: i64 = r.try_get("user_id")?;
    let ticket_id: Option<i64> = r.try_get("ticket_id")?;
    let kind: String = r.try_get("kind")?;
    let sla_kind: Option<String> = r.try_get("sla_kind")?;
    let message: String = r.try_get("message")?;
    let Some(p) = person(conn, user_id).await? else {
        return Ok(());
    };
    if !wants(conn, p.id, &kind).await? {
        return Ok(());
    }
    let (number, subject, group_id) = match ticket_id {
        Some(t) => {
            let row = sqlx::query("SELECT number, subject, group_id FROM tickets WHERE id = $1")
                .bind(t)
                .fetch_one(&mut *conn)
                .await?;
            (
                Some(row.try_get::<i64, _>("number")?),
                row.try_get::<String, _>("subject")?,
                row.try_get::<Option<i64>, _>("group_id")?,
            )
        }
        None => (None, String::new(), None),
    };
    let from = group_address(conn, group_id).await?;
    let (in_reply_to, references) = match ticket_id {
        Some(t) => thread_of(conn, t).await?,
        None => (None, Vec::new()),
    };
    let ctx = Ctx {
        tag: number
            .map(|n| tag(&policy.tag, n))
            .unwrap_or_else(|| format!("[{}]", policy.tag)),
        subject: &subject,
        name: &p.name,
        text: sla_kind.as_deref().unwrap_or(&message),
        group: "",
    };
    // A notice from before notifications named their target says what its
    // message says.
    let template = match &sla_kind {
        None if kind.starts_with("sla_") => "notice",
        _ => kind.as_str(),
    };
    let (subject, body) = render(template, Lang::from_code(&p.language), &ctx);
    let mail = NewMail {
        kind,
        ticket_id,
        user_id: Some(p.id),
        recipient: p.email,
        sender: from,
        subject,
        body,
        in_reply_to,
        references,
        headers: robot_headers(),
        ..NewMail::default()
    };
    enqueue_mail(conn, mail, policy, at).await?;
    Ok(())
}
