//! Tuki's pages: the agent console (`/agent`), the customer portal
//! (`/portal`), administration (`/admin`), everyone's own settings
//! (`/settings`) and sign-in, rendered on the server.
//!
//! Templates (`templates/*.html`) are compiled into the binary and rendered
//! with minijinja, which escapes every value in `.html` templates. Every
//! visible string comes from the Finnish or English catalogue (`i18n/`)
//! through `t("key")`. htmx (vendored from npm's `htmx.org`, embedded) only
//! makes forms nicer: every form also works without JavaScript.
//!
//! Security rules kept in one place:
//! - the signed-in person comes from the session cookie only ([`auth::Viewer`]),
//!   never from a form field;
//! - every POST goes through [`auth::Posted`], which refuses a missing or
//!   wrong CSRF token with a 403 page;
//! - every read and write goes through the store's Actor-based functions, so
//!   the access rules of the API apply to the pages too (invisible tickets
//!   are 404 pages).

pub mod admin;
pub mod auth;
pub mod calls;
pub mod console;
pub mod coverage;
pub mod due;
pub mod files;
pub mod files_admin;
pub mod form;
pub mod i18n;
pub mod knowledge;
pub mod live;
pub mod mail_admin;
pub mod markdown;
pub mod oncall_admin;
pub mod portal;
pub mod render;
pub mod resource;
pub mod search;
pub mod settings;
pub mod setup;
pub mod sla_admin;
pub mod visits;

use std::sync::Arc;
use tuki_store::coverage::{Contracts, Materials, Products, RateCards};
use tuki_store::mail::Mailboxes;
use tuki_store::oncall::{OnCallExceptions, OnCallShifts};
use tuki_store::sla::{Calendars, EscalationRules, Policies};

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

pub use render::{PageError, PageResult};

/// Settings and shared parts of the pages, kept in [`AppState`].
#[derive(Clone)]
pub struct Web {
    /// Whether cookies get the `Secure` flag. See [`Web::new`].
    pub secure_cookies: bool,
    /// Ticket changes, for live updates of open pages.
    pub live: live::Live,
    /// The shared table of sidebar counts.
    pub counts: console::CountsCache,
    /// Whether this server sends mail (an SMTP server is configured); the
    /// outbox page says so when it does not.
    pub sends_mail: bool,
    /// The website widget's per-minute limit on this server.
    pub widget: crate::widget::WidgetLimiter,
}

impl Web {
    /// `secure_cookies` should be true unless Tuki listens on a loopback
    /// address for local development over plain HTTP: `tuki serve` sets it
    /// from the listen address. A request that arrives through a proxy
    /// saying `X-Forwarded-Proto: https` always gets `Secure` cookies.
    pub fn new(secure_cookies: bool) -> Self {
        Web {
            secure_cookies,
            live: live::Live::new(),
            counts: console::CountsCache::default(),
            sends_mail: false,
            widget: crate::widget::WidgetLimiter::default(),
        }
    }

    /// Whether this server sends mail (see [`Web::sends_mail`]).
    pub fn sending_mail(mut self, sends: bool) -> Self {
        self.sends_mail = sends;
        self
    }
}

impl Default for Web {
    fn default() -> Self {
        Web::new(true)
    }
}

/// A ticket as its reader may see it: the ticket, its articles and their
/// files (internal notes and their files only for staff: the store decides).
/// The agent's and the customer's ticket pages both start from it.
pub(crate) struct Thread {
    pub ticket: tuki_store::tickets::Ticket,
    pub articles: Vec<tuki_store::tickets::articles::Article>,
    pub files: Vec<tuki_store::attachments::Attachment>,
}

impl Thread {
    pub(crate) async fn load(
        state: &AppState,
        v: &auth::Viewer,
        number: i64,
    ) -> Result<Self, PageError> {
        let store = &state.store;
        let ticket = store
            .ticket_by_number(&v.actor, number)
            .await
            .map_err(|e| v.err(e))?;
        let articles = store.articles(&v.actor, ticket.id).await;
        let files = store.ticket_attachments(&v.actor, ticket.id).await;
        Ok(Thread {
            ticket,
            articles: articles.map_err(|e| v.err(e))?,
            files: files.map_err(|e| v.err(e))?,
        })
    }
}

/// The pages' routes. Forms that take files may be as large as a few files
/// at the desk's per-file limit ([`form::upload_body_max`]); files stream
/// into the store as they arrive.
pub fn routes(state: &AppState) -> Router<AppState> {
    let uploads = DefaultBodyLimit::max(form::upload_body_max(state));
    Router::new()
        .route("/", get(auth::home))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route(
            "/invite/{token}",
            get(auth::invite_page).post(auth::accept_invite),
        )
        .route("/setup/{token}", get(setup::page).post(setup::submit))
        .route("/assets/{name}", get(files::asset))
        .route("/files/{id}/{name}", get(files::download))
        .route("/agent", get(console::queue_page))
        .route("/agent/events", get(live::events))
        .route(
            "/agent/new",
            get(console::intake_page)
                .post(console::intake)
                .layer(uploads),
        )
        .route("/agent/customers", get(console::customer_search))
        .route("/agent/search", get(search::agent))
        .route("/agent/tickets/{number}/similar", get(search::similar))
        .route(
            "/agent/tickets/{number}/coverage",
            get(coverage::ticket::coverage_box),
        )
        .route(
            "/agent/tickets/{number}/devices",
            get(coverage::ticket::device_options),
        )
        .route(
            "/agent/tickets/{number}/coverage/device",
            post(coverage::ticket::set_device),
        )
        .route(
            "/agent/tickets/{number}/coverage/override",
            post(coverage::ticket::override_coverage),
        )
        .route(
            "/agent/tickets/{number}/visits",
            get(visits::visits_box).post(visits::plan),
        )
        .route(
            "/agent/tickets/{number}/visits/{id}/state",
            post(visits::set_state),
        )
        .route("/agent/visits", get(visits::mine))
        .route("/agent/devices", get(coverage::agent_devices::list))
        .route(
            "/agent/devices/{id}",
            get(coverage::agent_devices::edit).post(coverage::agent_devices::save),
        )
        .route("/agent/visits/feed", post(visits::new_feed))
        .route("/calendar/{file}", get(visits::feed))
        .route(
            "/agent/tickets/{number}/materials",
            post(coverage::ticket::use_material),
        )
        .route(
            "/agent/tickets/{number}/materials/{used}/delete",
            post(coverage::ticket::delete_material),
        )
        .route(
            "/agent/tickets/{number}/time",
            post(coverage::ticket::log_time),
        )
        .route(
            "/agent/tickets/{number}/time/{entry}/delete",
            post(coverage::ticket::delete_time),
        )
        .route(
            "/agent/tickets/{number}/knowledge/{id}",
            post(knowledge::at_work::insert),
        )
        .route("/agent/knowledge", get(knowledge::list))
        .route(
            "/agent/knowledge/new",
            get(knowledge::edit::new_page)
                .post(knowledge::edit::create)
                .layer(uploads),
        )
        .route("/agent/knowledge/{id}", get(knowledge::view))
        .route(
            "/agent/knowledge/{id}/edit",
            get(knowledge::edit::edit_page)
                .post(knowledge::edit::update)
                .layer(uploads),
        )
        .route(
            "/agent/knowledge/{id}/files/{file}/remove",
            post(knowledge::edit::remove_file),
        )
        .route("/knowledge/files/{id}/{name}", get(knowledge::file))
        .route(
            "/agent/knowledge/{id}/state",
            post(knowledge::edit::set_state),
        )
        .route("/agent/knowledge/{id}/feedback", post(knowledge::feedback))
        .route("/agent/knowledge/{id}/revisions", get(knowledge::revisions))
        .route("/help", get(knowledge::help::list))
        .route("/help/{id}", get(knowledge::help::article))
        .route("/help/{id}/feedback", post(knowledge::help::feedback))
        .route("/portal/new/suggest", get(knowledge::help::suggest))
        .route("/portal/solved/{id}", post(knowledge::help::solved))
        .route("/agent/calls/{id}/card", get(calls::card))
        .route("/agent/calls/{id}/ticket", post(calls::register))
        .route("/agent/tickets/{number}", get(console::ticket_page))
        .route(
            "/agent/tickets/{number}/article",
            post(console::add_article).layer(uploads),
        )
        .route("/agent/tickets/{number}/update", post(console::update))
        .route("/agent/tickets/{number}/transfer", post(console::transfer))
        .route("/agent/tickets/{number}/merge", post(console::merge))
        .route("/agent/tickets/{number}/link", post(console::link))
        .route("/agent/tickets/{number}/follow", post(console::follow))
        .route("/agent/tickets/{number}/invite", post(console::invite))
        .route("/admin", get(admin::index))
        .route("/admin/users", get(admin::users).post(admin::create_user))
        .route(
            "/admin/users/{id}",
            get(admin::user).post(admin::update_user),
        )
        .route("/admin/users/{id}/invite", post(admin::invite))
        .route(
            "/admin/organisations",
            get(admin::organisations).post(admin::create_organisation),
        )
        .route(
            "/admin/organisations/{id}",
            get(admin::organisation).post(admin::update_organisation),
        )
        .route(
            "/admin/groups",
            get(admin::groups).post(admin::create_group),
        )
        .route("/admin/groups/{id}", post(admin::update_group))
        .route("/admin/groups/{id}/members", post(admin::group_members))
        .route("/admin/bounces/clear", post(mail_admin::clear_bounce))
        .route("/admin/quarantine", get(mail_admin::quarantine))
        .route("/admin/quarantine/{id}", get(mail_admin::message))
        .route("/admin/quarantine/{id}/raw", get(mail_admin::raw))
        .route("/admin/quarantine/{id}/retry", post(mail_admin::retry))
        .route("/admin/quarantine/{id}/discard", post(mail_admin::discard))
        .route("/admin/outbox", get(mail_admin::outbox))
        .route("/admin/files", get(files_admin::overview))
        .route(
            "/admin/knowledge",
            get(knowledge::settings::page).post(knowledge::settings::save),
        )
        .route("/admin/outbox/{id}/send", post(mail_admin::send_now))
        .route("/settings", get(settings::page).post(settings::save))
        .route("/portal", get(portal::list))
        .route(
            "/portal/new",
            get(portal::new_page).post(portal::create).layer(uploads),
        )
        .route("/portal/tickets/{number}", get(portal::ticket))
        .route(
            "/portal/devices",
            get(coverage::devices::list)
                .post(coverage::devices::register)
                .layer(uploads),
        )
        .route("/devices/{id}/receipt", get(coverage::devices::receipt))
        .route(
            "/admin/import",
            get(coverage::import::page)
                .post(coverage::import::import)
                .layer(uploads),
        )
        .route("/statements", get(coverage::statements::draft))
        .route("/statements/csv", get(coverage::statements::draft_csv))
        .route("/statements/invoice", post(coverage::statements::invoice))
        .route("/statements/{id}", get(coverage::statements::invoiced))
        .route(
            "/statements/{id}/csv",
            get(coverage::statements::invoiced_csv),
        )
        .route(
            "/portal/tickets/{number}/reply",
            post(portal::reply).layer(uploads),
        )
        .route("/portal/tickets/{number}/state", post(portal::state))
        .route("/portal/tickets/{number}/rate", post(portal::rate))
        .merge(resource::routes::<Calendars>())
        .merge(resource::routes::<Policies>())
        .merge(resource::routes::<EscalationRules>())
        .merge(resource::routes::<Mailboxes>())
        .merge(resource::routes::<Products>())
        .merge(resource::routes::<RateCards>())
        .merge(resource::routes::<Contracts>())
        .merge(resource::routes::<Materials>())
        .merge(resource::routes::<OnCallShifts>())
        .merge(resource::routes::<OnCallExceptions>())
}

/// Any address no route knows. Browsers (which ask for `text/html`) get
/// the 404 page in their language; the API under `/api`, and clients that
/// do not ask for HTML, get the API's JSON error.
pub async fn not_found(
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    auth::MaybeViewer(v): auth::MaybeViewer,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let wants_html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if uri.path().starts_with("/api") || !wants_html {
        return crate::error::AppError::NotFound.into_response();
    }
    let lang = v
        .map(|v| v.lang)
        .unwrap_or_else(|| i18n::Lang::from_headers(&headers));
    PageError::not_found(lang).into_response()
}

/// Shared by handlers: an `Arc` to keep `AppState` cheap to clone.
pub type SharedWeb = Arc<Web>;
