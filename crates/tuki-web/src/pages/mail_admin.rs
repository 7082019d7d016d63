//! Administration of the email channels: mailboxes (an [`AdminPage`]: their
//! group, IMAP server and health, and the addresses that bounced), quarantined mail (the raw source, retry,
//! discard) and the outbox (what waits, fails or was sent; "send now").
//!
//! Administrators only: every handler refuses anyone else with a 403 page,
//! and the store checks the role again. Every form is a POST through
//! [`Posted`] (CSRF); templates escape everything, the raw source of a
//! message included.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::header::{self, HeaderValue};
use axum::response::IntoResponse;
use minijinja::{context, Value};
use tuki_store::mail::imap::ImapSecurity;
use tuki_store::mail::IngestOutcome;
use tuki_store::mail::{
    ImapInput, MailboxInput, MailboxOverview, Mailboxes, QuarantineEntry, RetryResult,
};
use tuki_store::outbox::OutboxEntry;
use tuki_store::StoreError;

use super::auth::{admin_only, Form, Posted, Viewer};
use super::console::size;
use super::i18n::{self, Lang};
use super::render::{when, Mistake, PageError, PageResult};
use super::resource::{bounded, number, with_notice, AdminPage, Done};
use crate::AppState;

/// How much of a raw message the detail page shows; the download has all.
pub const RAW_SHOWN: usize = 64 * 1024;

/// How many sent messages the outbox page lists.
const SENT_SHOWN: i64 = 50;

/// A line at the top of a page saying what an action did; `ok` false when
/// it did not get what was hoped for (a retry that still cannot read).
fn notice(text: String, ticket: Option<i64>, ok: bool) -> Value {
    context! { text => text, ticket => ticket, ok => ok }
}

/// A store error on an action: a mistake the administrator can fix becomes
/// a message on the page; anything else is an error page.
fn form_error(v: &Viewer, e: StoreError) -> Result<Mistake, PageError> {
    match Mistake::of(v.lang, &e) {
        Some(m) => Ok(m),
        None => Err(v.err(e)),
    }
}

/// An error message cut for a table cell; the detail keeps all of it.
fn short(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

// ------------------------------------------------------------------ mailboxes

impl AdminPage for Mailboxes {
    const PATH: &'static str = "/admin/mailboxes";
    const TEMPLATE: &'static str = "admin_mailboxes.html";
    const SECTION: &'static str = "mailboxes";
    const TITLE: &'static str = "mail.mailboxes";
    const NEW: &'static str = "mail.new_mailbox";
    const EDIT: &'static str = "mail.edit_mailbox";
    const LIST_ID: &'static str = "mailboxes";
    const FORM_ID: &'static str = "mailbox-form";

    fn id(m: &MailboxOverview) -> i64 {
        m.mailbox.id
    }

    fn name(m: &MailboxOverview) -> &str {
        &m.mailbox.name
    }

    fn rows(_: Lang, mailboxes: &[MailboxOverview], more: &Value) -> Value {
        // The `tuki serve` process whose poller holds a mailbox, and
        // whether its lease ran out (it stopped; another takes over).
        let now = more
            .get_attr("now")
            .ok()
            .and_then(|n| i64::try_from(n).ok())
            .unwrap_or(i64::MAX);
        mailboxes.iter().map(|m| {
            let b = &m.mailbox;
            context! {
                id => b.id,
                name => &b.name,
                address => &b.address,
                group => &m.group_name,
                imap => m.imap.as_ref().map(|i| context! {
                    host => &i.host, port => i.port, security => i.security.as_str(), folder => &i.folder,
                }),
                last_fetch => b.last_fetch_at.map(when),
                last_error => &b.last_error,
                last_error_at => b.last_error_at.map(when),
                failing_since => b.failing_since.map(when),
                poller => b.poller_node.as_ref().zip(b.poller_lease_until).map(|(node, until)| context! {
                    node => node, until => when(until), expired => until.as_second() < now,
                }),
            }
        }).collect()
    }

    fn fields(m: Option<&MailboxOverview>) -> Value {
        let Some(m) = m else {
            return context! { imap_security => "tls" };
        };
        let imap = m.imap.as_ref();
        context! {
            name => &m.mailbox.name,
            address => &m.mailbox.address,
            group_id => m.mailbox.group_id,
            imap_host => imap.map(|i| i.host.as_str()),
            imap_port => imap.map(|i| i.port),
            imap_security => imap.map_or("tls", |i| i.security.as_str()),
            imap_user => imap.map(|i| i.user.as_str()),
            has_password => imap.is_some(),
            imap_folder => imap.map(|i| i.folder.as_str()),
            imap_move_to => imap.and_then(|i| i.move_to.as_deref()),
            imap_poll_seconds => imap.map(|i| i.poll_seconds),
        }
    }

    fn sent(f: &Form) -> Value {
        let fields = [
            "name",
            "address",
            "imap_host",
            "imap_port",
            "imap_security",
            "imap_user",
            "imap_folder",
            "imap_move_to",
            "imap_poll_seconds",
        ];
        let mut sent: BTreeMap<&str, Value> = fields
            .iter()
            .map(|k| (*k, Value::from(f.text(k))))
            .collect();
        sent.insert("group_id", Value::from(f.int("group_id")));
        Value::from(sent)
    }

    /// A mailbox without an IMAP server is fed by a mail server's pipe; a
    /// password left empty keeps the stored one.
    fn input(f: &Form) -> Result<MailboxInput, StoreError> {
        let group_id = number(f, "group_id")?;
        let imap = match f.opt("imap_host") {
            None => None,
            Some(host) => Some(ImapInput {
                host: host.to_string(),
                port: bounded(f, "imap_port")?,
                security: f
                    .opt("imap_security")
                    .map(|s| ImapSecurity::parse("imap_security", s))
                    .transpose()?,
                user: f.text("imap_user"),
                password: f.opt("imap_password").map(str::to_string),
                folder: f.opt("imap_folder").map(str::to_string),
                move_to: f.opt("imap_move_to").map(str::to_string),
                poll_seconds: bounded(f, "imap_poll_seconds")?,
            }),
        };
        Ok(MailboxInput {
            name: f.text("name"),
            address: f.text("address"),
            group_id,
            imap,
        })
    }

    async fn more(state: &AppState, v: &Viewer) -> Result<Value, StoreError> {
        let store = &state.store;
        let groups = store.groups(&v.actor).await?;
        let bounced = store.bounced_addresses(&v.actor).await?;
        Ok(context! {
            now => store.now().as_second(),
            intake => groups.iter().find(|g| g.is_intake).map(|g| g.name.clone()),
            groups => groups.iter().map(|g| context! { id => g.id, name => &g.name, tier => g.tier }).collect::<Vec<_>>(),
            securities => ImapSecurity::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            bounced => bounced.iter().map(|b| context! {
                address => &b.address,
                status => &b.status,
                bounces => b.bounces,
                ticket => b.last_ticket_number,
                at => when(b.last_at),
            }).collect::<Vec<_>>(),
        })
    }

    fn done(lang: Lang, m: &MailboxOverview, done: Done) -> String {
        match done {
            Done::Created => i18n::tf(
                lang,
                "mail.mailbox_added",
                &[("name", &m.mailbox.name), ("address", &m.mailbox.address)],
            ),
            _ => i18n::tf(lang, done.key(), &[("name", &m.mailbox.name)]),
        }
    }
}

/// Lets mail go to a bounced address again.
pub async fn clear_bounce(
    State(state): State<AppState>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    admin_only(&v)?;
    let address = form.text("address");
    let (text, ok) = match state.store.clear_address_flag(&v.actor, &address).await {
        Ok(flag) => (
            i18n::tf(v.lang, "mail.bounce_cleared", &[("address", &flag.address)]),
            true,
        ),
        Err(StoreError::NotFound) => (
            i18n::tf(v.lang, "mail.bounce_not_flagged", &[("address", &address)]),
            false,
        ),
        Err(e) => return Err(v.err(e)),
    };
    with_notice::<Mailboxes>(&state, &v, text, ok).await
}

// ------------------------------------------------------------------ quarantine

fn quarantine_row(q: &QuarantineEntry) -> Value {
    context! {
        id => q.id,
        mailbox => &q.mailbox_name,
        error => &q.error,
        error_short => short(&q.error),
        size => size(q.size),
        attempts => q.attempts,
        received => when(q.created_at),
        last_attempt => when(q.last_attempt_at),
        released => q.released_at.map(when),
        discarded => q.discarded_at.map(when),
        released_by => &q.released_by_name,
        note => &q.release_note,
    }
}

async fn quarantine_view(
    state: &AppState,
    v: &Viewer,
    done: Option<Value>,
    error: Option<Mistake>,
) -> PageResult {
    admin_only(v)?;
    let (entries, total) = state
        .store
        .quarantine_entries(&v.actor)
        .await
        .map_err(|e| v.err(e))?;
    super::admin::page(
        state,
        v,
        "admin_quarantine.html",
        "quarantine",
        context! {
            messages => entries.iter().map(quarantine_row).collect::<Vec<_>>(),
            total => total,
            done => done,
        },
        error,
    )
    .await
}

/// `/admin/quarantine`: mail that could not be read and is not released.
pub async fn quarantine(State(state): State<AppState>, v: Viewer) -> PageResult {
    quarantine_view(&state, &v, None, None).await
}

/// The raw source as text for the page: at most [`RAW_SHOWN`] bytes, bytes
/// that are not UTF-8 and control characters (but line breaks and tabs)
/// shown as U+FFFD.
fn raw_text(raw: &[u8]) -> String {
    String::from_utf8_lossy(&raw[..raw.len().min(RAW_SHOWN)])
        .chars()
        .map(|c| {
            if c.is_control() && !matches!(c, '\n' | '\r' | '\t') {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

async fn message_view(
    state: &AppState,
    v: &Viewer,
    id: i64,
    done: Option<Value>,
    error: Option<Mistake>,
) -> PageResult {
    admin_only(v)?;
    let q = state
        .store
        .quarantine_message(&v.actor, id)
        .await
        .map_err(|e| v.err(e).back("/admin/quarantine"))?;
    super::admin::page(
        state,
        v,
        "admin_quarantine_message.html",
        "quarantine",
        context! {
            m => quarantine_row(&q.entry),
            raw => raw_text(&q.raw),
            cut => q.raw.len() > RAW_SHOWN,
            shown => size(RAW_SHOWN as i64),
            done => done,
        },
        error,
    )
    .await
}

/// `/admin/quarantine/{id}`: one message, its error and its source.
pub async fn message(State(state): State<AppState>, v: Viewer, Path(id): Path<i64>) -> PageResult {
    message_view(&state, &v, id, None, None).await
}

/// `/admin/quarantine/{id}/raw`: the whole message as it arrived, as a
/// download (never shown inline: it is whatever a stranger sent).
pub async fn raw(State(state): State<AppState>, v: Viewer, Path(id): Path<i64>) -> PageResult {
    admin_only(&v)?;
    let q = state
        .store
        .quarantine_message(&v.actor, id)
        .await
        .map_err(|e| v.err(e))?;
    let mut res = q.raw.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("message/rfc822"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"quarantine-{id}.eml\""))
            .unwrap_or(HeaderValue::from_static("attachment")),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    Ok(res)
}

/// What a retry did, in words.
fn retry_notice(lang: Lang, id: i64, r: &RetryResult) -> (String, bool) {
    let id = id.to_string();
    let number = r.ticket_number.map(|n| n.to_string()).unwrap_or_default();
    let (key, ok) = match &r.outcome {
        IngestOutcome::Ticket { .. } => ("mail.retry.ticket", true),
        IngestOutcome::Article { .. } => ("mail.retry.article", true),
        IngestOutcome::Bounce { .. } if r.ticket_number.is_some() => {
            ("mail.retry.bounce_ticket", true)
        }
        IngestOutcome::Bounce { .. } => ("mail.retry.bounce", true),
        IngestOutcome::Throttled => ("mail.retry.throttled", true),
        IngestOutcome::Loop => ("mail.retry.loop", true),
        IngestOutcome::Duplicate => ("mail.retry.duplicate", true),
        IngestOutcome::Quarantined { error, .. } => {
            return (
                i18n::tf(lang, "mail.retry.failed", &[("id", &id), ("error", error)]),
                false,
            )
        }
    };
    (i18n::tf(lang, key, &[("id", &id), ("number", &number)]), ok)
}

/// Tries to import a quarantined message again and says what happened: on
/// the message's page when asked from there, else on the list.
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    admin_only(&v)?;
    let from_message = form.get("back") == Some("message");
    let res = state.store.retry_quarantined_by(&v.actor, id).await;
    let (done, error) = match res {
        Ok(r) => {
            if let Some(ticket_id) = ticket_of(&r.outcome) {
                super::live::changed(&state, ticket_id).await;
            }
            tracing::info!(quarantine_id = id, by = v.id(), outcome = ?r.outcome, "quarantined mail retried");
            let (text, ok) = retry_notice(v.lang, id, &r);
            (Some(notice(text, r.ticket_number, ok)), None)
        }
        Err(StoreError::NotFound) => (
            None,
            Some(Mistake::invalid(i18n::t(v.lang, "mail.released_already"))),
        ),
        Err(e) => {
            let m = form_error(&v, e)?;
            (None, Some(m))
        }
    };
    if from_message {
        message_view(&state, &v, id, done, error).await
    } else {
        quarantine_view(&state, &v, done, error).await
    }
}

fn ticket_of(o: &IngestOutcome) -> Option<i64> {
    match o {
        IngestOutcome::Ticket { ticket_id, .. } | IngestOutcome::Article { ticket_id, .. } => {
            Some(*ticket_id)
        }
        IngestOutcome::Bounce { ticket_id, .. } => *ticket_id,
        _ => None,
    }
}

/// Releases a quarantined message without importing it; its source stays.
pub async fn discard(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    admin_only(&v)?;
    let from_message = form.get("back") == Some("message");
    match state
        .store
        .discard_quarantined(&v.actor, id, form.opt("note"))
        .await
    {
        Ok(_) => {
            tracing::info!(
                quarantine_id = id,
                by = v.id(),
                "quarantined mail discarded"
            );
            let text = i18n::tf(v.lang, "mail.discarded", &[("id", &id.to_string())]);
            quarantine_view(&state, &v, Some(notice(text, None, true)), None).await
        }
        Err(StoreError::NotFound) => Err(PageError::not_found(v.lang).back("/admin/quarantine")),
        Err(e) => {
            let m = form_error(&v, e)?;
            if from_message {
                message_view(&state, &v, id, None, Some(m)).await
            } else {
                quarantine_view(&state, &v, None, Some(m)).await
            }
        }
    }
}

// ------------------------------------------------------------------ outbox

fn outbox_row(m: &OutboxEntry) -> Value {
    context! {
        id => m.id,
        kind => &m.kind,
        ticket => m.ticket_number,
        recipient => &m.recipient,
        subject => &m.subject,
        attempts => m.attempts,
        max_attempts => m.max_attempts,
        next_attempt => when(m.next_attempt_at),
        last_error => &m.last_error,
        last_error_short => m.last_error.as_deref().map(short),
        sent => m.sent_at.map(when),
        given_up => m.failed_at.map(when),
        created => when(m.created_at),
        state => m.state.as_str(),
        can_send => m.can_send_now(),
    }
}

async fn outbox_view(
    state: &AppState,
    v: &Viewer,
    done: Option<Value>,
    error: Option<Mistake>,
) -> PageResult {
    admin_only(v)?;
    let o = state
        .store
        .outbox_overview(&v.actor, SENT_SHOWN)
        .await
        .map_err(|e| v.err(e))?;
    super::admin::page(
        state,
        v,
        "admin_outbox.html",
        "outbox",
        context! {
            queued => o.queued.iter().map(outbox_row).collect::<Vec<_>>(),
            failing => o.failing.iter().map(outbox_row).collect::<Vec<_>>(),
            sent => o.sent.iter().map(outbox_row).collect::<Vec<_>>(),
            queued_total => o.queued_total,
            failing_total => o.failing_total,
            no_smtp => !state.web.sends_mail,
            done => done,
        },
        error,
    )
    .await
}

/// `/admin/outbox`: outgoing mail that waits, keeps failing or went lately.
pub async fn outbox(State(state): State<AppState>, v: Viewer) -> PageResult {
    outbox_view(&state, &v, None, None).await
}

/// "Send now": the message is due at once (a given-up one gets one more
/// attempt); the sender takes it within a second.
pub async fn send_now(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer: v, .. }: Posted,
) -> PageResult {
    admin_only(&v)?;
    match state.store.send_outbox_now(&v.actor, id).await {
        Ok(m) => {
            tracing::info!(outbox_id = id, by = v.id(), "outgoing mail made due now");
            let text = i18n::tf(
                v.lang,
                "mail.send_now_done",
                &[("id", &id.to_string()), ("recipient", &m.recipient)],
            );
            outbox_view(&state, &v, Some(notice(text, None, true)), None).await
        }
        Err(StoreError::NotFound) => Err(PageError::not_found(v.lang).back("/admin/outbox")),
        Err(e) => {
            let m = form_error(&v, e)?;
            outbox_view(&state, &v, None, Some(m)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_text_is_cut_and_has_no_control_characters() {
        let mut raw = b"Subject: x\r\n\x00\x1b[31m\tok\xff".to_vec();
        let text = raw_text(&raw);
        assert_eq!(text, "Subject: x\r\n\u{FFFD}\u{FFFD}[31m\tok\u{FFFD}");
        raw = vec![b'a'; RAW_SHOWN + 10];
        assert_eq!(raw_text(&raw).len(), RAW_SHOWN);
    }
}
