//! `/admin/knowledge`: whether the help articles are open to everyone, the
//! websites that may embed the help widget, and the script tag to copy
//! onto them.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use tuki_store::knowledge::KnowledgeSettings;

use super::super::auth::{admin_only, Posted, Viewer};
use super::super::console::base_url;
use super::super::render::{Mistake, PageResult};
use crate::AppState;

async fn show(
    state: &AppState,
    v: &Viewer,
    headers: &HeaderMap,
    settings: KnowledgeSettings,
    error: Option<Mistake>,
) -> PageResult {
    let snippet = format!(
        "<script src=\"{}/widget.js\" async></script>",
        base_url(headers)
    );
    super::super::admin::page(
        state,
        v,
        "admin_knowledge.html",
        "knowledge",
        context! {
            public => settings.public_without_sign_in,
            origins => settings.widget_origins.join("\n"),
            snippet => snippet,
        },
        error,
    )
    .await
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap, v: Viewer) -> PageResult {
    admin_only(&v)?;
    let settings = state
        .store
        .knowledge_settings()
        .await
        .map_err(|e| v.err(e))?;
    show(&state, &v, &headers, settings, None).await
}

pub async fn save(
    State(state): State<AppState>,
    headers: HeaderMap,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    admin_only(&v)?;
    let input = KnowledgeSettings {
        public_without_sign_in: form.get("public").is_some(),
        widget_origins: form
            .text("origins")
            .split(['\n', ',', ' '])
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect(),
    };
    match state
        .store
        .set_knowledge_settings(&v.actor, input.clone())
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin/knowledge?saved=1").into_response()),
        Err(e) => match Mistake::of(v.lang, &e) {
            Some(m) => show(&state, &v, &headers, input, Some(m)).await,
            None => Err(v.err(e)),
        },
    }
}
