//! Sign-in, sign-out, invitations, sessions and CSRF protection.
//!
//! Sessions are server-side (table `web_sessions`): the cookie holds 256
//! random bits, the database only their hash. Cookies are `HttpOnly`,
//! `SameSite=Lax` and `Secure` (see [`super::Web::new`] for when `Secure` is
//! left out). Every form carries the session's CSRF secret, checked by
//! [`Posted`]; the sign-in and invitation forms, which have no session yet,
//! use a double-submit cookie (`tuki_pre`) instead.

use std::sync::LazyLock;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{context, Value};
use serde::Deserialize;
use tuki_domain::access::Actor;
use tuki_store::directory::User;

pub use super::form::{read_form, Form, Upload};
use super::i18n::{self, Lang};
use super::render::{render, PageError, PageResult};
use crate::AppState;

pub const SESSION_COOKIE: &str = "tuki_session";
pub const PRE_COOKIE: &str = "tuki_pre";

/// Sign-in failures allowed per email address in [`LIMIT_WINDOW`] micros…
pub const LIMIT_PER_EMAIL: i64 = 5;
/// …and per client address (many addresses tried from one place).
pub const LIMIT_PER_IP: i64 = 20;
pub const LIMIT_WINDOW: i64 = 15 * 60 * 1_000_000;

/// The limiter's key for the client of a request: its IP address (IPv6 by
/// its /64 network, which one client usually holds whole). Behind a reverse
/// proxy on the same machine (a loopback peer), the address the proxy
/// appended last to `X-Forwarded-For`; the header is not believed from
/// anyone else, as a client could then pick a new address per attempt.
pub fn client_key(req: &Request) -> Option<String> {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    client_key_of(peer, req.headers())
}

/// [`client_key`] from the peer's address and the request's headers.
pub fn client_key_of(peer: Option<std::net::IpAddr>, headers: &HeaderMap) -> Option<String> {
    use std::net::IpAddr;
    let peer = peer?;
    let forwarded = || {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .next_back()
    };
    let ip = match peer {
        p if p.is_loopback() => forwarded().unwrap_or(p),
        p => p,
    };
    Some(match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    })
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Whether cookies set on this request get `Secure`.
fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.web.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

pub fn set_cookie(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    value: &str,
    max_age: i64,
) -> HeaderValue {
    let secure = if secure(state, headers) {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .expect("cookie values are URL-safe base64")
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The signed-in person, from the session cookie.
#[derive(Clone)]
pub struct Viewer {
    pub actor: Actor,
    pub user: User,
    pub csrf: String,
    pub lang: Lang,
    /// The desk's largest attachment in MB, for the forms that take files.
    pub file_max_mb: u64,
}

impl Viewer {
    pub fn id(&self) -> i64 {
        self.user.id
    }

    pub fn is_staff(&self) -> bool {
        self.actor.is_staff()
    }

    /// What every page's template gets, merged with `extra`.
    pub fn ctx(&self, extra: Value) -> Value {
        context! {
            lang => self.lang.code(),
            csrf => &self.csrf,
            file_max_mb => self.file_max_mb,
            me => context! {
                id => self.user.id,
                name => &self.user.name,
                email => &self.user.email,
                role => self.user.role.as_str(),
                is_admin => self.actor.is_admin(),
                is_staff => self.actor.is_staff(),
                organisation => self.actor.organisation_id,
            },
            ..extra
        }
    }

    pub fn err(&self, e: tuki_store::StoreError) -> PageError {
        PageError::store(self.lang, e)
    }
}

async fn load_viewer(state: &AppState, headers: &HeaderMap) -> Result<Option<Viewer>, PageError> {
    let lang = Lang::from_headers(headers);
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let store = &state.store;
    let Some(session) = store
        .session(&token)
        .await
        .map_err(|e| PageError::store(lang, e))?
    else {
        return Ok(None);
    };
    let Some(actor) = store
        .actor_for_user(session.user_id)
        .await
        .map_err(|e| PageError::store(lang, e))?
    else {
        return Ok(None);
    };
    let user = store
        .user(&actor, session.user_id)
        .await
        .map_err(|e| PageError::store(lang, e))?;
    Ok(Some(Viewer {
        lang: Lang::from_language(user.language),
        actor,
        user,
        csrf: session.csrf,
        file_max_mb: store.files_config().file_max / (1024 * 1024),
    }))
}

fn to_login(parts: &Parts) -> Response {
    let next = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let target = format!(
        "/login?next={}",
        form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
    );
    if parts.headers.contains_key("hx-request") {
        let mut r = StatusCode::NO_CONTENT.into_response();
        r.headers_mut().insert(
            "hx-redirect",
            HeaderValue::from_str(&target).unwrap_or(HeaderValue::from_static("/login")),
        );
        return r;
    }
    Redirect::to(&target).into_response()
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match load_viewer(state, &parts.headers).await {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(to_login(parts)),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// The viewer if signed in.
pub struct MaybeViewer(pub Option<Viewer>);

impl FromRequestParts<AppState> for MaybeViewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        load_viewer(state, &parts.headers)
            .await
            .map(MaybeViewer)
            .map_err(IntoResponse::into_response)
    }
}

/// A form posted by a signed-in person, with its CSRF token checked.
/// `Posted<true>` is a form that takes files: they are stored as they
/// arrive (after the viewer is known, before the token is read, since
/// the token may come after them; a refused form leaves its files to the
/// sweep). Every other form refuses a file.
pub struct Posted<const FILES: bool = false> {
    pub viewer: Viewer,
    pub form: Form,
}

impl<const FILES: bool> FromRequest<AppState> for Posted<FILES> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let form = read_form(req, state, viewer.lang, FILES).await?;
        let ok = form.get("csrf").is_some_and(|t| same(t, &viewer.csrf));
        if !ok {
            return Err(csrf_refused(viewer.lang));
        }
        Ok(Posted { viewer, form })
    }
}

/// Whether a token posted without [`Posted`] is the viewer's CSRF token.
pub fn csrf_matches(v: &Viewer, token: Option<&str>) -> bool {
    token.is_some_and(|t| same(t, &v.csrf))
}

pub fn csrf_refused(lang: Lang) -> Response {
    PageError::new(StatusCode::FORBIDDEN, lang, i18n::t(lang, "error.csrf")).into_response()
}

/// `/`: the console for staff, the portal for customers, else sign-in.
pub async fn home(MaybeViewer(v): MaybeViewer) -> Response {
    match v {
        Some(v) if v.is_staff() => Redirect::to("/agent").into_response(),
        Some(_) => Redirect::to("/portal").into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Where to go after signing in: only a path of this site, so that `next`
/// cannot send anyone elsewhere. One leading slash, no backslash and no
/// control character anywhere: browsers read a backslash as a slash and
/// drop tabs and line breaks, so `/<TAB>/evil.example` would leave the site,
/// and a line break cannot stand in a `Location` header.
fn local_path(next: Option<&str>) -> Option<String> {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.contains('\\')
            && !n.chars().any(char::is_control)
    })
    .map(str::to_string)
}

/// A form sent by someone not signed in (sign-in, invitation, first
/// setup), with its headers: refused (the response to give) unless it
/// carries the pre-session CSRF token of its cookie.
pub(super) async fn pre_posted(
    req: Request,
    state: &AppState,
    lang: Lang,
) -> Result<(HeaderMap, Form), Response> {
    let headers = req.headers().clone();
    let form = read_form(req, state, lang, false).await?;
    let pre = cookie(&headers, PRE_COOKIE);
    if !matches!((&pre, form.get("csrf")), (Some(c), Some(f)) if same(c, f)) {
        return Err(csrf_refused(lang));
    }
    Ok((headers, form))
}

/// A page for someone not signed in: its form carries the pre-session CSRF
/// token, set as a cookie when it is new.
pub(super) fn signed_out_page(
    state: &AppState,
    headers: &HeaderMap,
    template: &str,
    lang: Lang,
    ctx: Value,
    status: StatusCode,
) -> Response {
    let (pre, fresh) = pre_token(headers);
    let mut res = render(
        template,
        context! { lang => lang.code(), csrf => &pre, ..ctx },
    );
    *res.status_mut() = status;
    if fresh {
        res.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(state, headers, PRE_COOKIE, &pre, 3600 * 24),
        );
    }
    res
}

pub(super) fn pre_token(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, PRE_COOKIE).filter(|c| c.len() >= 32 && c.len() <= 64) {
        Some(c) => (c, false),
        None => (tuki_store::auth::sessions::random_token(), true),
    }
}

fn login_form(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    next: Option<String>,
    email: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    signed_out_page(
        state,
        headers,
        "login.html",
        lang,
        context! { next => next, email => email, error => error },
        status,
    )
}

pub async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
    MaybeViewer(v): MaybeViewer,
) -> Response {
    if v.is_some() {
        return Redirect::to(&local_path(q.next.as_deref()).unwrap_or("/".into())).into_response();
    }
    let lang = Lang::from_headers(&headers);
    login_form(
        &state,
        &headers,
        lang,
        local_path(q.next.as_deref()),
        "",
        None,
        StatusCode::OK,
    )
}

/// Verifies the password on the blocking pool; unknown users cost the same
/// time as known ones.
async fn verify(hash: Option<String>, password: String) -> bool {
    static DUMMY: LazyLock<String> =
        LazyLock::new(|| tuki_store::auth::hash_password("not a real password at all"));
    tokio::task::spawn_blocking(move || match hash {
        Some(h) => tuki_store::auth::verify_password(&h, &password),
        None => {
            let _ = tuki_store::auth::verify_password(&DUMMY, &password);
            false
        }
    })
    .await
    .unwrap_or(false)
}

pub async fn login(State(state): State<AppState>, req: Request) -> Response {
    let client = client_key(&req);
    let lang = Lang::from_headers(req.headers());
    let (headers, form) = match pre_posted(req, &state, lang).await {
        Ok(posted) => posted,
        Err(r) => return r,
    };
    let email = form.text("email").trim().to_lowercase();
    let password = form.text("password");
    let next = local_path(form.get("next"));
    let key = format!("email:{email}");
    let store = &state.store;
    let result: Result<Response, tuki_store::StoreError> = async {
        let mut limited = store.attempts(&key, LIMIT_WINDOW).await? >= LIMIT_PER_EMAIL;
        if let (false, Some(client)) = (limited, &client) {
            limited = store.attempts(client, LIMIT_WINDOW).await? >= LIMIT_PER_IP;
        }
        if limited {
            return Ok(login_form(
                &state,
                &headers,
                lang,
                next.clone(),
                &email,
                Some(i18n::t(lang, "login.too_many")),
                StatusCode::TOO_MANY_REQUESTS,
            ));
        }
        let found = store.password_hash_for(&email).await?;
        let (user_id, hash) = match found {
            Some((id, h)) => (Some(id), h),
            None => (None, None),
        };
        if !verify(hash, password).await || user_id.is_none() {
            let mut keys = vec![key.clone()];
            keys.extend(client.clone());
            store.record_attempts(&keys).await?;
            return Ok(login_form(
                &state,
                &headers,
                lang,
                next.clone(),
                &email,
                Some(i18n::t(lang, "login.failed")),
                StatusCode::UNAUTHORIZED,
            ));
        }
        let user_id = user_id.expect("checked above");
        // The address's failures stay: signing in to one's own account must
        // not reset the count of guesses at others.
        store.clear_attempts(&key).await?;
        let session = store.create_session(user_id).await?;
        let to = next.clone().unwrap_or("/".into());
        Ok(signed_in(&state, &headers, &session.token, &to))
    }
    .await;
    result.unwrap_or_else(|e| PageError::store(lang, e).into_response())
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap, p: Posted) -> PageResult {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state
            .store
            .delete_session(&token)
            .await
            .map_err(|e| p.viewer.err(e))?;
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, &headers, SESSION_COOKIE, "", 0),
    );
    Ok(res)
}

fn invite_form(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    token: &str,
    inv: &tuki_store::auth::sessions::Invitation,
    error: Option<String>,
) -> Response {
    signed_out_page(
        state,
        headers,
        "invite.html",
        lang,
        context! { token => token, name => &inv.name, email => &inv.email, resets => inv.resets, error => error },
        StatusCode::OK,
    )
}

pub async fn invite_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let inv = state
        .store
        .invitation(&token)
        .await
        .map_err(|e| PageError::store(lang, e))?
        .ok_or_else(|| {
            PageError::new(StatusCode::NOT_FOUND, lang, i18n::t(lang, "invite.invalid"))
        })?;
    Ok(invite_form(&state, &headers, lang, &token, &inv, None))
}

pub async fn accept_invite(
    State(state): State<AppState>,
    Path(token): Path<String>,
    req: Request,
) -> PageResult {
    let lang = Lang::from_headers(req.headers());
    let (headers, form) = match pre_posted(req, &state, lang).await {
        Ok(posted) => posted,
        Err(r) => return Ok(r),
    };
    let store = &state.store;
    let invalid = || PageError::new(StatusCode::NOT_FOUND, lang, i18n::t(lang, "invite.invalid"));
    let inv = store
        .invitation(&token)
        .await
        .map_err(|e| PageError::store(lang, e))?
        .ok_or_else(invalid)?;
    let password = form.text("password");
    if password != form.text("password2") {
        let msg = i18n::t(lang, "invite.mismatch");
        return Ok(invite_form(&state, &headers, lang, &token, &inv, Some(msg)));
    }
    let user_id = match store.accept_invitation(&token, &password).await {
        Ok(Some(id)) => id,
        Ok(None) => return Err(invalid()),
        Err(e @ tuki_store::StoreError::Invalid(_)) => {
            let msg = super::render::user_message(lang, &e);
            return Ok(invite_form(&state, &headers, lang, &token, &inv, msg));
        }
        Err(e) => return Err(PageError::store(lang, e)),
    };
    let session = store
        .create_session(user_id)
        .await
        .map_err(|e| PageError::store(lang, e))?;
    Ok(signed_in(&state, &headers, &session.token, "/"))
}

/// On to `to` with a new session's cookie: the end of signing in, of
/// accepting an invitation and of the first setup.
pub(super) fn signed_in(state: &AppState, headers: &HeaderMap, token: &str, to: &str) -> Response {
    let mut res = Redirect::to(to).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            state,
            headers,
            SESSION_COOKIE,
            token,
            tuki_store::auth::sessions::SESSION_MAX_MICROS / 1_000_000,
        ),
    );
    res
}

/// The administration pages are for administrators. Others get a plain
/// "forbidden" page: the pages' existence is no secret (the API documents
/// them), and saying so helps an agent who followed a link more than a
/// "not found" would.
pub(crate) fn admin_only(v: &Viewer) -> Result<(), super::render::PageError> {
    if v.actor.is_admin() {
        Ok(())
    } else {
        Err(super::render::PageError::forbidden(v.lang))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;

    fn key(peer: Option<&str>, forwarded: &[&str]) -> Option<String> {
        let mut b = Request::builder().uri("/login");
        for f in forwarded {
            b = b.header("x-forwarded-for", *f);
        }
        let mut req = b.body(Body::empty()).unwrap();
        if let Some(p) = peer {
            req.extensions_mut()
                .insert(ConnectInfo(p.parse::<SocketAddr>().unwrap()));
        }
        client_key(&req)
    }

    #[test]
    fn only_paths_of_this_site_are_followed_after_sign_in() {
        for ok in ["/", "/agent/tickets/12", "/portal?q=a%20b", "/a/b//c"] {
            assert_eq!(local_path(Some(ok)).as_deref(), Some(ok), "{ok}");
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example/",
            "/\t/evil.example/",
            "/\n",
            "/\r\nSet-Cookie: x=y",
            "/x\u{0}",
            "evil.example",
            "",
        ] {
            assert_eq!(local_path(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(local_path(None), None);
    }

    #[test]
    fn client_keys() {
        assert_eq!(key(None, &[]), None);
        assert_eq!(key(Some("192.0.2.7:5000"), &[]).unwrap(), "ip:192.0.2.7");
        // Only a proxy on this machine is believed, and only its own entry.
        assert_eq!(
            key(Some("192.0.2.7:5000"), &["203.0.113.1"]).unwrap(),
            "ip:192.0.2.7"
        );
        assert_eq!(
            key(Some("127.0.0.1:5000"), &["198.51.100.1, 203.0.113.1"]).unwrap(),
            "ip:203.0.113.1"
        );
        assert_eq!(
            key(Some("127.0.0.1:5000"), &["198.51.100.1", "203.0.113.2"]).unwrap(),
            "ip:203.0.113.2"
        );
        assert_eq!(
            key(Some("127.0.0.1:5000"), &["garbage"]).unwrap(),
            "ip:127.0.0.1"
        );
        // IPv6 by its /64; IPv4 mapped into IPv6 as IPv4.
        assert_eq!(
            key(Some("[2001:db8:1:2:3:4:5:6]:443"), &[]).unwrap(),
            "ip:2001:db8:1:2::/64"
        );
        assert_eq!(
            key(Some("[2001:db8:1:2:ffff::1]:443"), &[]),
            key(Some("[2001:db8:1:2::9]:443"), &[])
        );
        assert_eq!(
            key(Some("[::ffff:192.0.2.9]:443"), &[]).unwrap(),
            "ip:192.0.2.9"
        );
    }
}
