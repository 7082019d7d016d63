//! Tuki's HTTP face: the REST API (`/api/v1`), its OpenAPI document and the
//! health check. Handlers are thin: they parse input, call the store (which
//! applies the access rules) and map errors in one place ([`error`]).

pub mod api;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod pages;
mod security;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tuki_store::Store;

use crate::error::AppError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    openapi: Arc<String>,
    /// Settings of the HTML pages (data folder, cookie flags, live updates).
    pub web: pages::Web,
}

impl AppState {
    pub fn new(store: Store) -> Self {
        let doc = openapi::document()
            .to_pretty_json()
            .expect("the OpenAPI document serializes");
        AppState {
            store,
            openapi: Arc::new(doc),
            web: pages::Web::default(),
        }
    }

    /// Sets where attachments live and how cookies are flagged.
    pub fn with_web(mut self, web: pages::Web) -> Self {
        self.web = web;
        self
    }
}

/// Answers 200 when the database answers.
#[utoipa::path(get, path = "/health", tag = "system",
    responses((status = 200, description = "Tuki and its database answer"), (status = 503, description = "the database does not answer")))]
pub async fn health(State(s): State<AppState>) -> Response {
    match s.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "database unavailable"})),
            )
                .into_response()
        }
    }
}

async fn openapi_json(State(s): State<AppState>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        s.openapi.as_str().to_owned(),
    )
        .into_response()
}

/// The routes of the API, listed once in [`api::routes`], with `/health`:
/// the top-level router, the API's router (relative to `/api/v1`) and the
/// OpenAPI document they make.
pub(crate) fn router_parts() -> (Router<AppState>, Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi as _;
    let top = utoipa_axum::router::OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(utoipa_axum::routes!(health));
    let api = api::routes();
    let doc = top.clone().nest("/api/v1", api.clone()).into_openapi();
    (top.split_for_parts().0, api.split_for_parts().0, doc)
}

pub fn router(state: AppState) -> Router {
    let (top, api, _) = router_parts();
    // Inside the API, an unknown path or method gets the API's JSON error.
    let api = api
        .route("/openapi.json", get(openapi_json))
        .fallback(|| async { AppError::NotFound })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed });
    top.nest("/api/v1", api)
        .merge(pages::routes(&state))
        .fallback(pages::not_found)
        // 1 MiB is plenty for JSON; attachments have their own limit.
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(state)
}

/// Serves Tuki on `listener` until `shutdown` completes. Handlers can read
/// the client's address (`ConnectInfo<SocketAddr>`), e.g. the sign-in limiter.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Live updates from the change feed: other servers, mail, jobs.
    let follower = tokio::spawn(pages::live::follow(
        state.store.clone(),
        state.web.live.clone(),
    ));
    let served = axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    follower.abort();
    served
}
