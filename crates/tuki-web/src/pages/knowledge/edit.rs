//! Writing articles in the console: a new article (blank, a translation of
//! another, or the draft a solved ticket gives), an edit (made on a known
//! revision, so two agents cannot overwrite each other unseen), and moves
//! between draft, published and archived.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{context, Value};
use serde::Deserialize;
use tuki_domain::directory::Language;
use tuki_domain::knowledge::{ArticleState, ArticleText, ArticleVisibility};
use tuki_store::knowledge::{ArticleInput, StateInput};

use super::super::auth::{Posted, Viewer};
use super::super::console::staff_only;
use super::super::form::Form;
use super::super::i18n;
use super::super::render::{render, with_status, Mistake, PageResult};
use super::{article_page, day};
use crate::AppState;

#[derive(Deserialize, Default)]
pub struct NewQuery {
    /// A solved ticket's number: its draft prefills the form.
    from_ticket: Option<i64>,
    /// The article this one translates.
    translation_of: Option<i64>,
    language: Option<String>,
}

/// Staff who may own articles, for the owner list.
async fn owners(state: &AppState, v: &Viewer) -> Result<Vec<Value>, super::super::PageError> {
    let mut people = super::super::admin::staff(&state.store, &v.actor)
        .await
        .map_err(|e| v.err(e))?;
    people.retain(|u| u.active);
    people.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(people
        .iter()
        .map(|u| context! { id => u.id, name => &u.name })
        .collect())
}

/// The form, filled with `f`, showing `error` if any.
async fn form_page(state: &AppState, v: &Viewer, f: Value, error: Option<Mistake>) -> PageResult {
    let ctx = v.ctx(context! {
        f => f,
        owners => owners(state, v).await?,
        languages => [Language::Fi.as_str(), Language::En.as_str()],
        error => &error,
    });
    Ok(with_status(render("knowledge_form.html", ctx), &error))
}

/// The form's values from an article's text.
fn values(text: &ArticleText) -> Value {
    context! {
        title => &text.title,
        symptom => &text.symptom,
        cause => &text.cause,
        solution => &text.solution,
        products => text.products.join(", "),
        category => &text.category,
    }
}

/// `/agent/knowledge/new`: a blank form, a translation's, or a solved
/// ticket's draft.
pub async fn new_page(
    State(state): State<AppState>,
    v: Viewer,
    Query(nq): Query<NewQuery>,
) -> PageResult {
    staff_only(&v)?;
    let mut text = ArticleText::default();
    let mut source = None;
    if let Some(number) = nq.from_ticket {
        let t = state
            .store
            .ticket_by_number(&v.actor, number)
            .await
            .map_err(|e| v.err(e))?;
        text = state
            .store
            .draft_from_ticket(&v.actor, t.id)
            .await
            .map_err(|e| v.err(e))?;
        source = Some(t.id);
    }
    let mut language = nq.language.unwrap_or_else(|| v.lang.code().to_string());
    if let Some(of) = nq.translation_of {
        let original = state
            .store
            .knowledge_article(Some(&v.actor), of)
            .await
            .map_err(|e| v.err(e))?;
        text.products = original.products.clone();
        text.category = original.category.clone();
        if language == original.language.as_str() {
            language = if original.language == Language::Fi {
                "en"
            } else {
                "fi"
            }
            .into();
        }
    }
    let f = context! {
        ..values(&text),
        ..context! {
            language => language,
            visibility => "internal",
            owner_id => v.id(),
            source_ticket_id => source,
            translation_of => nq.translation_of,
            new => true,
        }
    };
    form_page(&state, &v, f, None).await
}

/// The article a posted form describes; `None` and a mistake when a field
/// cannot be read.
fn input(v: &Viewer, form: &Form) -> Result<ArticleInput, Mistake> {
    let bad = |field: &str| {
        Mistake::invalid(i18n::tf(
            v.lang,
            "error.field",
            &[
                ("field", &i18n::t(v.lang, &format!("field.{field}"))),
                ("message", &i18n::t(v.lang, "knowledge.bad_value")),
            ],
        ))
    };
    let review_by = match form.opt("review_by") {
        None => None,
        Some(raw) => {
            let date: jiff::civil::Date = raw.parse().map_err(|_| bad("review_by"))?;
            let tz = jiff::tz::TimeZone::get("Europe/Helsinki").unwrap_or(jiff::tz::TimeZone::UTC);
            Some(date.to_zoned(tz).map_err(|_| bad("review_by"))?.timestamp())
        }
    };
    Ok(ArticleInput {
        title: form.text("title"),
        symptom: form.text("symptom"),
        cause: form.text("cause"),
        solution: form.text("solution"),
        products: form
            .text("products")
            .split([',', ' '])
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
        category: form.text("category"),
        language: Language::parse("language", form.get("language").unwrap_or(""))
            .map_err(|_| bad("language"))?,
        visibility: ArticleVisibility::parse("visibility", form.get("visibility").unwrap_or(""))
            .map_err(|_| bad("visibility"))?,
        owner_id: form.int("owner_id"),
        review_by,
        translation_of: form.int("translation_of"),
        source_ticket_id: form.int("source_ticket_id"),
        base_revision: form.int("base_revision"),
        note: form.text("note"),
    })
}

/// The posted values again, for a form shown with a mistake.
fn posted(form: &Form, new: bool) -> Value {
    let keep = [
        "title",
        "symptom",
        "cause",
        "solution",
        "products",
        "category",
        "language",
        "visibility",
        "review_by",
        "note",
    ];
    let mut map: std::collections::BTreeMap<&str, Value> = keep
        .iter()
        .map(|k| (*k, Value::from(form.text(k))))
        .collect();
    for k in [
        "id",
        "owner_id",
        "translation_of",
        "source_ticket_id",
        "base_revision",
    ] {
        map.insert(k, Value::from(form.int(k)));
    }
    map.insert("new", Value::from(new));
    Value::from_serialize(&map)
}

async fn refused(state: &AppState, v: &Viewer, form: &Form, new: bool, m: Mistake) -> PageResult {
    form_page(state, v, posted(form, new), Some(m)).await
}

pub async fn create(
    State(state): State<AppState>,
    Posted {
        viewer: v,
        mut form,
    }: Posted<true>,
) -> PageResult {
    staff_only(&v)?;
    let input = match input(&v, &form) {
        Ok(i) => i,
        Err(m) => return refused(&state, &v, &form, true, m).await,
    };
    let uploads = std::mem::take(&mut form.files);
    match state.store.create_knowledge_article(&v.actor, input).await {
        Ok(a) => {
            attach(&state, &v, a.id, uploads)
                .await
                .map_err(|e| v.err(e))?;
            Ok(Redirect::to(&format!("/agent/knowledge/{}", a.id)).into_response())
        }
        Err(e) => match Mistake::of(v.lang, &e) {
            Some(m) => refused(&state, &v, &form, true, m).await,
            None => Err(v.err(e)),
        },
    }
}

/// `/agent/knowledge/{id}/edit`.
pub async fn edit_page(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
) -> PageResult {
    staff_only(&v)?;
    let a = state
        .store
        .knowledge_article(Some(&v.actor), id)
        .await
        .map_err(|e| v.err(e))?;
    let f = context! {
        ..values(&a.text()),
        ..context! {
            id => a.id,
            language => a.language.as_str(),
            visibility => a.visibility.as_str(),
            owner_id => a.owner_id,
            review_by => a.review_by.map(|r| day(v.lang, r)),
            base_revision => a.revision,
            new => false,
        }
    };
    form_page(&state, &v, f, None).await
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted {
        viewer: v,
        mut form,
    }: Posted<true>,
) -> PageResult {
    staff_only(&v)?;
    let with_id = |form: &Form| {
        let mut f = form.fields.clone();
        f.push(("id".into(), id.to_string()));
        Form {
            fields: f,
            files: Vec::new(),
        }
    };
    let input = match input(&v, &form) {
        Ok(i) => i,
        Err(m) => return refused(&state, &v, &with_id(&form), false, m).await,
    };
    let uploads = std::mem::take(&mut form.files);
    match state
        .store
        .update_knowledge_article(&v.actor, id, input)
        .await
    {
        Ok(a) => {
            attach(&state, &v, a.id, uploads)
                .await
                .map_err(|e| v.err(e))?;
            Ok(Redirect::to(&format!("/agent/knowledge/{}", a.id)).into_response())
        }
        Err(e) => match Mistake::of(v.lang, &e) {
            Some(m) => refused(&state, &v, &with_id(&form), false, m).await,
            None => Err(v.err(e)),
        },
    }
}

/// Publishes, archives or takes back to draft; a refusal (a draft without
/// a solution) is shown on the article's page.
pub async fn set_state(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> Result<Response, super::super::PageError> {
    staff_only(&v)?;
    let Ok(to) = ArticleState::parse("state", form.get("state").unwrap_or("")) else {
        return Err(super::super::PageError::bad_request(
            v.lang,
            i18n::t(v.lang, "error.bad_form"),
        ));
    };
    let input = StateInput {
        state: to,
        note: form.text("note"),
    };
    match state.store.set_knowledge_state(&v.actor, id, input).await {
        Ok(_) => Ok(Redirect::to(&format!("/agent/knowledge/{id}")).into_response()),
        Err(e) => match Mistake::of(v.lang, &e) {
            Some(m) => article_page(&state, &v, id, Some(m)).await,
            None => Err(v.err(e)),
        },
    }
}

/// Stores the files posted with an article's form on it.
async fn attach(
    state: &AppState,
    v: &Viewer,
    id: i64,
    uploads: Vec<super::super::form::Upload>,
) -> Result<(), tuki_store::StoreError> {
    if uploads.is_empty() {
        return Ok(());
    }
    let files = uploads
        .into_iter()
        .map(|u| tuki_store::attachments::NewAttachment {
            sha256: u.blob.sha256,
            size: u.blob.size,
            content_type: u.content_type,
            file_name: u.file_name,
        })
        .collect();
    state
        .store
        .attach_knowledge_files(&v.actor, id, files)
        .await
        .map(|_| ())
}

/// Removes a file from an article.
pub async fn remove_file(
    State(state): State<AppState>,
    Path((id, file)): Path<(i64, i64)>,
    Posted { viewer: v, .. }: Posted,
) -> PageResult {
    staff_only(&v)?;
    let f = state
        .store
        .knowledge_file(Some(&v.actor), file)
        .await
        .map_err(|e| v.err(e))?;
    if f.article_id != id {
        return Err(super::super::PageError::not_found(v.lang));
    }
    state
        .store
        .remove_knowledge_file(&v.actor, file)
        .await
        .map_err(|e| v.err(e))?;
    Ok(Redirect::to(&format!("/agent/knowledge/{id}")).into_response())
}
