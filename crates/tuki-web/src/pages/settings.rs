//! "My settings" (`/settings`): every signed-in person chooses their own
//! language and which email Tuki sends them. Staff see the page in the
//! console's layout, customers in the portal's.
//!
//! The language is saved through the store's self-service path of
//! [`tuki_store::Store::update_user`] (a person may change their own
//! language; nothing else on this page needs an administrator), each kind of
//! mail through [`tuki_store::Store::set_notification_pref`]. Only the kinds
//! of mail a person can get are shown and accepted: staff get the agents'
//! kinds, customers those sent to the requester. The whole form is checked
//! before anything is written, so a bad form changes nothing.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use minijinja::{context, Value};
use serde::Deserialize;
use tuki_domain::directory::Language;
use tuki_store::directory::UserPatch;

use super::auth::{Posted, Viewer};
use super::i18n;
use super::render::{render, PageError, PageResult};
use crate::AppState;

/// The mail staff can get, in the order the page lists it.
pub const STAFF_KINDS: &[&str] = &["new_ticket", "customer_reply", "assigned", "sla"];
/// The mail a customer gets about their own requests.
pub const REQUESTER_KINDS: &[&str] = &["ack", "reply", "resolved"];

/// The form field of the mail switches: one `notify=<kind>` per ticked box.
const NOTIFY: &str = "notify";

/// The kinds of mail `v` is shown and may switch.
pub fn kinds_for(v: &Viewer) -> &'static [&'static str] {
    if v.is_staff() {
        STAFF_KINDS
    } else {
        REQUESTER_KINDS
    }
}

#[derive(Deserialize, Default)]
pub struct SettingsQuery {
    /// Set by the redirect after saving: the page says "Saved".
    saved: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<SettingsQuery>,
) -> PageResult {
    let prefs = state
        .store
        .notification_prefs(&v.actor)
        .await
        .map_err(|e| v.err(e))?;
    let kinds: Vec<Value> = kinds_for(&v)
        .iter()
        .map(|k| {
            let enabled = prefs
                .iter()
                .find(|p| p.kind == *k)
                .is_none_or(|p| p.enabled);
            context! { kind => k, enabled => enabled }
        })
        .collect();
    let (layout, queues) = if v.is_staff() {
        let groups = state.store.groups(&v.actor).await.map_err(|e| v.err(e))?;
        let side = super::console::sidebar(&state, &v, &groups)
            .await
            .map_err(|e| v.err(e))?;
        ("agent.html", side)
    } else {
        ("portal.html", Value::UNDEFINED)
    };
    Ok(render(
        "settings.html",
        v.ctx(context! {
            layout => layout,
            queues => queues,
            language => v.user.language.as_str(),
            languages => ["fi", "en"],
            kinds => kinds,
            saved => q.saved.is_some(),
        }),
    ))
}

/// At most this much of a posted name or value is repeated in an error.
const SHOWN: usize = 60;

fn shown(s: &str) -> String {
    match s.char_indices().nth(SHOWN) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// A value the form cannot hold: 422, naming the field.
fn bad_value(v: &Viewer, field: &str, key: &str, value: &str) -> PageError {
    let lang = v.lang;
    let message = i18n::tf(
        lang,
        "error.field",
        &[
            ("field", &i18n::t(lang, &format!("field.{field}"))),
            ("message", &i18n::tf(lang, key, &[("value", &shown(value))])),
        ],
    );
    PageError::new(StatusCode::UNPROCESSABLE_ENTITY, lang, message).back("/settings")
}

/// What a valid form asks for.
struct Choice {
    language: Option<Language>,
    enabled: Vec<&'static str>,
}

/// Checks the whole form: known fields only, a language Tuki has, and only
/// the kinds of mail shown to `v`.
fn read(v: &Viewer, form: &super::auth::Form) -> Result<Choice, PageError> {
    if !form.files.is_empty() {
        return Err(
            PageError::bad_request(v.lang, i18n::t(v.lang, "error.bad_form")).back("/settings"),
        );
    }
    let shown_kinds = kinds_for(v);
    let mut choice = Choice {
        language: None,
        enabled: Vec::new(),
    };
    for (name, value) in &form.fields {
        match name.as_str() {
            "csrf" => {}
            "language" => {
                let l = Language::parse("language", value.trim())
                    .map_err(|_| bad_value(v, "language", "settings.no_such_language", value))?;
                if choice.language.is_some_and(|c| c != l) {
                    return Err(bad_value(v, "language", "settings.two_languages", value));
                }
                choice.language = Some(l);
            }
            NOTIFY => {
                let kind = shown_kinds
                    .iter()
                    .find(|k| **k == value.trim())
                    .ok_or_else(|| bad_value(v, NOTIFY, "settings.no_such_kind", value))?;
                if !choice.enabled.contains(kind) {
                    choice.enabled.push(kind);
                }
            }
            other => {
                let message = i18n::tf(
                    v.lang,
                    "settings.unknown_field",
                    &[("field", &shown(other))],
                );
                return Err(PageError::bad_request(v.lang, message).back("/settings"));
            }
        }
    }
    Ok(choice)
}

pub async fn save(State(state): State<AppState>, Posted { viewer: v, form }: Posted) -> PageResult {
    let choice = read(&v, &form)?;
    let store = &state.store;
    if let Some(l) = choice.language.filter(|l| *l != v.user.language) {
        store
            .update_user(
                &v.actor,
                v.id(),
                UserPatch {
                    language: Some(l),
                    ..UserPatch::default()
                },
            )
            .await
            .map_err(|e| v.err(e))?;
    }
    for kind in kinds_for(&v) {
        store
            .set_notification_pref(&v.actor, kind, choice.enabled.contains(kind))
            .await
            .map_err(|e| v.err(e))?;
    }
    // A new page load, so that it is in the language just chosen and a
    // reload does not post the form again.
    Ok(Redirect::to("/settings?saved=1").into_response())
}
