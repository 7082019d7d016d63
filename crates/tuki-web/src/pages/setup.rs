//! First start: while no administrator exists, `tuki serve` prints a
//! one-time link (`/setup/{token}`); whoever opens it creates the first
//! administrator in the browser and is signed in. The link works once, for
//! a day, and no link works once an administrator exists (the store's
//! [`tuki_store::Store::complete_setup`] checks both in one transaction).

use std::net::SocketAddr;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::{context, Value};
use tuki_domain::directory::Language;
use tuki_store::auth::sessions::FirstAdmin;
use tuki_store::{Store, StoreError};

use super::auth;
use super::i18n::{self, Lang};
use super::render::{Mistake, PageError, PageResult};
use crate::AppState;

/// On a first start (no administrator), makes a setup link and prints it
/// on stdout and in the log. A closed stdout (a supervisor that read the
/// "listening on" line and hung up) is not an error: the log has the link.
pub async fn announce_first_start(store: &Store, addr: SocketAddr) -> Result<(), StoreError> {
    if let Some(line) = first_start_message(store, addr).await? {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        tracing::warn!("{line}");
    }
    Ok(())
}

/// The line `tuki serve` prints on a first start: the setup link, or `None`
/// when an administrator exists. `addr` is the address Tuki listens on; for
/// an unspecified one (`0.0.0.0`) the link names `localhost` and says so.
pub async fn first_start_message(
    store: &Store,
    addr: SocketAddr,
) -> Result<Option<String>, StoreError> {
    let Some(token) = store.create_setup_link().await? else {
        return Ok(None);
    };
    let (host, note) = if addr.ip().is_unspecified() {
        (
            format!("localhost:{}", addr.port()),
            " (or this server's name instead of localhost)",
        )
    } else {
        (addr.to_string(), "")
    };
    Ok(Some(format!(
        "no administrator yet: open http://{host}/setup/{token}{note} to create the first one \
         (the link works once, for 24 hours; `tuki user create --role admin` works too)"
    )))
}

fn invalid(lang: Lang) -> PageError {
    PageError::new(StatusCode::NOT_FOUND, lang, i18n::t(lang, "setup.invalid"))
}

fn form(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    token: &str,
    values: Value,
    error: Option<Mistake>,
) -> Response {
    let status = error.as_ref().map_or(StatusCode::OK, |m| m.status);
    auth::signed_out_page(
        state,
        headers,
        "setup.html",
        lang,
        context! { token => token, f => values, error => &error },
        status,
    )
}

/// `GET /setup/{token}`.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let ok = state
        .store
        .setup_link_valid(&token)
        .await
        .map_err(|e| PageError::store(lang, e))?;
    if !ok {
        return Err(invalid(lang));
    }
    Ok(form(&state, &headers, lang, &token, context! {}, None))
}

/// `POST /setup/{token}`: creates the administrator and signs them in.
pub async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    req: Request,
) -> PageResult {
    let lang = Lang::from_headers(req.headers());
    let (headers, posted) = match auth::pre_posted(req, &state, lang).await {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    let language = posted
        .opt("language")
        .and_then(|l| Language::parse("language", l).ok())
        .unwrap_or(match lang {
            Lang::Fi => Language::Fi,
            Lang::En => Language::En,
        });
    let values = context! {
        name => posted.text("name"), email => posted.text("email"), language => language.as_str(),
    };
    if posted.text("password") != posted.text("password2") {
        let msg = i18n::t(lang, "invite.mismatch");
        return Ok(form(
            &state,
            &headers,
            lang,
            &token,
            values,
            Some(Mistake::invalid(msg)),
        ));
    }
    let store = &state.store;
    let admin = FirstAdmin {
        email: posted.text("email"),
        name: posted.text("name"),
        language,
        password: posted.text("password"),
    };
    let user_id = match store.complete_setup(&token, admin).await {
        Ok(Some(id)) => id,
        Ok(None) => return Err(invalid(lang)),
        Err(e @ (StoreError::Invalid(_) | StoreError::Conflict { .. })) => {
            let msg = Mistake::of(lang, &e);
            return Ok(form(&state, &headers, lang, &token, values, msg));
        }
        Err(e) => return Err(PageError::store(lang, e)),
    };
    tracing::info!(
        user_id,
        "first administrator created through the setup link"
    );
    let session = store
        .create_session(user_id)
        .await
        .map_err(|e| PageError::store(lang, e))?;
    Ok(auth::signed_in(
        &state,
        &headers,
        &session.token,
        "/admin/users",
    ))
}
