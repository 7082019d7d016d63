//! Tuki's HTTP face: the REST API (`/api/v1`), its OpenAPI document and the
//! health check. Handlers are thin: they parse input, call the store (which
//! applies the access rules) and map errors in one place ([`error`]).

pub mod api;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod pages;
mod security;
pub mod widget;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

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
        .merge(widget::routes())
        .fallback(pages::not_found)
        // 1 MiB is plenty for JSON; attachments have their own limit.
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(state)
}

/// How `serve` treats connections: clients that stall are dropped, and no
/// more than `max_connections` are open at once, so that slow or idle
/// clients cannot use up the server's file handles and `/health` keeps
/// answering.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// The longest wait for a request's headers, from the connection's
    /// start or the end of its previous response.
    pub header_timeout: Duration,
    /// The longest wait for the next bytes of a request's body.
    pub body_idle_timeout: Duration,
    /// Connections open at once; more wait in the listen queue.
    pub max_connections: usize,
    /// After shutdown begins, how long in-flight requests may take before
    /// their connections are closed (live-update streams never end by
    /// themselves).
    pub drain: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_timeout: Duration::from_secs(15),
            body_idle_timeout: Duration::from_secs(60),
            max_connections: 512,
            drain: Duration::from_secs(10),
        }
    }
}

/// Serves Tuki on `listener` until `shutdown` completes, with the default
/// [`ServeLimits`]. Handlers can read the client's address
/// (`ConnectInfo<SocketAddr>`), e.g. the sign-in limiter.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, ServeLimits::default(), shutdown).await
}

/// [`serve`] with limits of its own. Connections are HTTP/1.1 served by
/// hyper with a header read timeout (which also ends keep-alive connections
/// idle for that long) and an idle timeout on request bodies; a semaphore
/// caps the open connections. On shutdown no new connection is taken,
/// idle ones close at once, and requests in flight get `limits.drain`.
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    // Live updates from the change feed: other servers, mail, jobs.
    let follower = tokio::spawn(pages::live::follow(
        state.store.clone(),
        state.web.live.clone(),
    ));
    let app = router(state).layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        limits.body_idle_timeout,
    ));
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(error) => {
                    // Out of file handles and the like: wait instead of spinning.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = app
            .clone()
            .map_request(move |mut req: axum::extract::Request| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(remote));
                req
            });
        let svc = hyper_util::service::TowerToHyperService::new(svc.map_request(
            |req: hyper::Request<hyper::body::Incoming>| req.map(axum::body::Body::new),
        ));
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), svc));
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                tracing::debug!(%remote, %error, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!(drain = ?limits.drain, "connections still open after the drain time are closed");
    }
    follower.abort();
    Ok(())
}
