//! Administered resources as pages, written once: for a store [`Resource`]
//! that says how it looks ([`AdminPage`]), the list with a form for a new
//! one (`GET` and `POST` on its path), the same page with the form holding
//! one of them (`GET` and `POST` on `path/{id}`), and removal
//! (`POST path/{id}/delete`). Calendars, SLA policies, escalation rules and
//! mailboxes are administered this way; products, contracts, programmes
//! and exam sites will be.
//!
//! The handlers do the same for every resource: administrators only (the
//! store checks again), the form sent through [`Posted`] (CSRF), a mistake
//! shown next to the field it names with what was typed kept and the
//! status the API gives the same mistake (422 invalid, 409 a clash), and a
//! notice saying what was done.

use std::collections::BTreeMap;
use std::future::Future;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Value};
use tuki_store::resource::Resource;
use tuki_store::StoreError;

use super::auth::{admin_only, Form, Posted, Viewer};
use super::i18n::{self, Lang};
use super::render::{render, user_message, PageError, PageResult};
use crate::AppState;

/// What a save or a removal did, for the notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Done {
    Created,
    Saved,
    Removed,
}

impl Done {
    /// The catalogue key of the notice, with `{name}`.
    pub fn key(self) -> &'static str {
        match self {
            Done::Created => "admin.done.created",
            Done::Saved => "admin.done.saved",
            Done::Removed => "admin.done.removed",
        }
    }
}

/// How a resource looks as pages. The template extends
/// `admin_resource.html`, which draws the tabs, the notices and the form
/// around the resource's own list and fields.
pub trait AdminPage: Resource {
    /// The list's path: `/admin/calendars`.
    const PATH: &'static str;
    const TEMPLATE: &'static str;
    /// The tab of `admin_nav.html`.
    const SECTION: &'static str;
    /// Keys of the page's heading and of the form's heading, new and
    /// editing one.
    const TITLE: &'static str;
    const NEW: &'static str;
    const EDIT: &'static str;
    /// The `id` of the list's table and of the form.
    const LIST_ID: &'static str;
    const FORM_ID: &'static str;

    fn id(record: &Self::Record) -> i64;
    fn name(record: &Self::Record) -> &str;

    /// The list's rows.
    fn rows(lang: Lang, records: &[Self::Record], more: &Value) -> Value;

    /// The form's fields: of a stored record, or of a new one (`None`).
    fn fields(record: Option<&Self::Record>) -> Value;

    /// The form's fields as they were sent, to show them again.
    fn sent(form: &Form) -> Value;

    /// The input a sent form gives; a mistake names the form field.
    fn input(form: &Form) -> Result<Self::Input, StoreError>;

    /// What else the page shows: the choices of the form's lists, other
    /// sections.
    fn more(
        state: &AppState,
        viewer: &Viewer,
    ) -> impl Future<Output = Result<Value, StoreError>> + Send {
        let _ = (state, viewer);
        async { Ok(Value::from(())) }
    }

    /// The form field a store error's field is about: the store's
    /// `definition.time_zone` is the form's `time_zone`.
    fn form_field(field: &str) -> String {
        field.split(['[', '.']).next().unwrap_or(field).to_string()
    }

    /// The label of a form field, for messages.
    fn label(lang: Lang, field: &str) -> String {
        let key = format!("field.{field}");
        if i18n::catalogue(lang).contains_key(&key) {
            i18n::t(lang, &key)
        } else {
            field.to_string()
        }
    }

    /// The notice after a save or a removal.
    fn done(lang: Lang, record: &Self::Record, done: Done) -> String {
        i18n::tf(lang, done.key(), &[("name", Self::name(record))])
    }
}

/// What one page shows besides the list: the form (new or editing one),
/// what was sent, the mistake and the notice.
struct View<'a> {
    editing: Option<i64>,
    sent: Option<&'a Form>,
    /// Messages by form field; `""` is for the form as a whole.
    errors: BTreeMap<String, String>,
    status: axum::http::StatusCode,
    /// What was done, or not.
    done: Option<Value>,
}

impl Default for View<'_> {
    fn default() -> Self {
        View {
            editing: None,
            sent: None,
            errors: BTreeMap::new(),
            status: axum::http::StatusCode::OK,
            done: None,
        }
    }
}

async fn show<R: AdminPage>(state: &AppState, v: &Viewer, view: View<'_>) -> PageResult {
    admin_only(v)?;
    let records = state
        .store
        .list::<R>(&v.actor)
        .await
        .map_err(|e| v.err(e))?;
    let editing = match view.editing {
        Some(id) => Some(
            records
                .iter()
                .find(|r| R::id(r) == id)
                .ok_or_else(|| PageError::not_found(v.lang))?,
        ),
        None => None,
    };
    let more = R::more(state, v).await.map_err(|e| v.err(e))?;
    let queues = super::admin::queues(state, v).await?;
    let fields = match view.sent {
        Some(form) => R::sent(form),
        None => R::fields(editing),
    };
    let mut r = render(
        R::TEMPLATE,
        v.ctx(context! {
            queues => queues,
            section => R::SECTION,
            // A constant of the code: shown as it is, its slashes unescaped.
            path => Value::from_safe_string(R::PATH.to_string()),
            title => R::TITLE,
            form_title => if view.editing.is_some() { R::EDIT } else { R::NEW },
            list_id => R::LIST_ID,
            form_id => R::FORM_ID,
            rows => R::rows(v.lang, &records, &more),
            more => more,
            edit_id => view.editing,
            f => fields,
            errors => &view.errors,
            error => view.errors.values().next(),
            done => view.done,
        }),
    );
    *r.status_mut() = view.status;
    Ok(r)
}

/// A store error as a mistake the administrator can fix: the form field it
/// is about (`""` for the form as a whole) and the message naming it;
/// `None` for anything else.
pub fn field_message<R: AdminPage>(lang: Lang, e: &StoreError) -> Option<(String, String)> {
    let field = match e {
        StoreError::Invalid(x) => Some(x.field.as_str()),
        StoreError::Conflict { field, .. } => field.as_deref(),
        StoreError::NotFound | StoreError::Forbidden(_) => return None,
        _ => None,
    }
    .map(R::form_field);
    let message = match (e, &field) {
        (StoreError::Invalid(x), Some(f)) => i18n::tf(
            lang,
            "error.field",
            &[("field", &R::label(lang, f)), ("message", &x.message)],
        ),
        _ => user_message(lang, e)?,
    };
    Some((field.unwrap_or_default(), message))
}

/// A store error on a form: a mistake the administrator can fix is shown on
/// the page (next to its field when it names one) with the status the API
/// gives it; anything else is an error page.
async fn again<R: AdminPage>(
    state: &AppState,
    v: &Viewer,
    mut view: View<'_>,
    e: StoreError,
) -> PageResult {
    let Some((field, message)) = field_message::<R>(v.lang, &e) else {
        return Err(v.err(e));
    };
    view.status = crate::error::status_of(&e).0;
    view.errors.insert(field, message);
    show::<R>(state, v, view).await
}

/// A line at the top of a page saying what an action did; `ok` false when
/// it did not get what was hoped for.
fn notice(text: String, ok: bool) -> Value {
    context! { text => text, ok => ok }
}

/// A resource's page with a notice from an action of its own (clearing a
/// bounced address on the mailboxes' page).
pub async fn with_notice<R: AdminPage>(
    state: &AppState,
    v: &Viewer,
    text: String,
    ok: bool,
) -> PageResult {
    let view = View {
        done: Some(notice(text, ok)),
        ..View::default()
    };
    show::<R>(state, v, view).await
}

async fn list<R: AdminPage>(State(state): State<AppState>, v: Viewer) -> PageResult {
    show::<R>(&state, &v, View::default()).await
}

async fn edit<R: AdminPage>(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
) -> PageResult {
    let view = View {
        editing: Some(id),
        ..View::default()
    };
    show::<R>(&state, &v, view).await
}

async fn save<R: AdminPage>(state: AppState, v: Viewer, form: Form, id: Option<i64>) -> PageResult {
    admin_only(&v)?;
    let view = View {
        editing: id,
        sent: Some(&form),
        ..View::default()
    };
    let input = match R::input(&form) {
        Ok(input) => input,
        Err(e) => return again::<R>(&state, &v, view, e).await,
    };
    let store = &state.store;
    let (saved, done) = match id {
        None => (store.create::<R>(&v.actor, input).await, Done::Created),
        Some(id) => (store.replace::<R>(&v.actor, id, input).await, Done::Saved),
    };
    match saved {
        Ok(record) => {
            let view = View {
                // A new one leaves an empty form for the next; a saved one
                // stays in the form.
                editing: id,
                done: Some(notice(R::done(v.lang, &record, done), true)),
                ..View::default()
            };
            show::<R>(&state, &v, view).await
        }
        Err(e) => again::<R>(&state, &v, view, e).await,
    }
}

async fn create<R: AdminPage>(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> PageResult {
    save::<R>(state, viewer, form, None).await
}

async fn update<R: AdminPage>(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form }: Posted,
) -> PageResult {
    save::<R>(state, viewer, form, Some(id)).await
}

async fn delete<R: AdminPage>(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer: v, .. }: Posted,
) -> PageResult {
    admin_only(&v)?;
    let store = &state.store;
    let gone = async {
        let record = store.get::<R>(&v.actor, id).await?;
        store.delete::<R>(&v.actor, id).await?;
        Ok::<_, StoreError>(record)
    }
    .await;
    match gone {
        Ok(record) => {
            let view = View {
                done: Some(notice(R::done(v.lang, &record, Done::Removed), true)),
                ..View::default()
            };
            show::<R>(&state, &v, view).await
        }
        Err(e) => again::<R>(&state, &v, View::default(), e).await,
    }
}

/// The routes of a resource's pages.
pub fn routes<R: AdminPage>() -> Router<AppState> {
    let one = format!("{}/{{id}}", R::PATH);
    Router::new()
        .route(R::PATH, get(list::<R>).post(create::<R>))
        .route(&one, get(edit::<R>).post(update::<R>))
        .route(&format!("{one}/delete"), post(delete::<R>))
}

/// A whole number from a form field: absent when empty, an error naming the
/// field when it is not a number.
pub fn number(form: &Form, field: &str) -> Result<Option<i64>, StoreError> {
    match form.opt(field) {
        None => Ok(None),
        Some(raw) => raw
            .parse::<i64>()
            .map(Some)
            .map_err(|_| StoreError::invalid(field, "must be a whole number")),
    }
}

/// A whole number of a narrower type (minutes, a port, a percentage).
pub fn bounded<T: TryFrom<i64>>(form: &Form, field: &str) -> Result<Option<T>, StoreError> {
    number(form, field)?
        .map(|n| T::try_from(n).map_err(|_| StoreError::invalid(field, "is out of range")))
        .transpose()
}

/// An optional number as the form shows it.
pub fn shown<T: ToString>(n: Option<T>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

/// A choice of a form's list: `{id, name}`.
pub fn id_name(id: i64, name: &str) -> Value {
    context! { id => id, name => name }
}

/// The name of `id` in one of the page's lists of choices.
pub fn named(more: &Value, list: &str, id: i64) -> Option<String> {
    more.get_attr(list).ok()?.try_iter().ok()?.find_map(|x| {
        let this = x.get_attr("id").ok()?;
        (i64::try_from(this).ok()? == id).then(|| x.get_attr("name").ok().map(|n| n.to_string()))?
    })
}
