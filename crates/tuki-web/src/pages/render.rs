//! Templates compiled into the binary, rendering, and error pages.

use std::sync::LazyLock;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::value::Kwargs;
use minijinja::{Environment, State, Value};
use tuki_store::StoreError;

use super::i18n::{self, Lang};

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        pub static TEMPLATES: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../templates/", $name)))),*
        ];
    };
}

templates!(
    "base.html",
    "admin_files.html",
    "error.html",
    "login.html",
    "invite.html",
    "setup.html",
    "me.html",
    "agent.html",
    "queue.html",
    "search.html",
    "similar.html",
    "ticket.html",
    "intake.html",
    "customers.html",
    "invite_link.html",
    "admin_nav.html",
    "admin_users.html",
    "admin_user.html",
    "admin_orgs.html",
    "admin_org.html",
    "admin_groups.html",
    "admin_form.html",
    "admin_resource.html",
    "admin_calendars.html",
    "admin_sla_policies.html",
    "admin_products.html",
    "admin_rate_cards.html",
    "admin_contracts.html",
    "admin_materials.html",
    "admin_on_call.html",
    "admin_on_call_exceptions.html",
    "portal_devices.html",
    "coverage_box.html",
    "device_options.html",
    "coverage_line.html",
    "statement.html",
    "visits_box.html",
    "my_visits.html",
    "admin_import.html",
    "agent_devices.html",
    "agent_device.html",
    "admin_escalations.html",
    "admin_mailboxes.html",
    "admin_quarantine.html",
    "admin_quarantine_message.html",
    "admin_outbox.html",
    "portal.html",
    "portal_list.html",
    "portal_new.html",
    "portal_ticket.html",
    "call_card.html",
    "settings.html",
    "kb_macros.html",
    "kb_sections.html",
    "knowledge.html",
    "knowledge_article.html",
    "knowledge_form.html",
    "knowledge_revisions.html",
    "help_base.html",
    "help.html",
    "help_article.html",
    "help_suggest.html",
    "admin_knowledge.html",
);

/// `t("key", name=value)` in templates: the text in the page's language.
fn t_fn(state: &State, key: &str, args: Kwargs) -> Result<String, minijinja::Error> {
    let lang = state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(Lang::parse))
        .unwrap_or_default();
    let mut s = i18n::t(lang, key);
    for name in args.args() {
        let v: Value = args.get(name)?;
        s = s.replace(&format!("{{{name}}}"), &v.to_string());
    }
    Ok(s)
}

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, src) in TEMPLATES {
        env.add_template(name, src)
            .unwrap_or_else(|e| panic!("template {name}: {e:#}"));
    }
    env.add_function("t", t_fn);
    env
});

/// Renders a template to an HTML response; failures are logged and become
/// a plain 500 (they are bugs, caught by the tests).
pub fn render(name: &str, ctx: Value) -> Response {
    match ENV.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = format!("{e:#}"), "cannot render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// A page that could not be shown; rendered as an error page in the
/// viewer's language.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub lang: Lang,
    pub message: String,
    /// Where the "back" link goes.
    pub back: Option<String>,
}

pub type PageResult = Result<Response, PageError>;

impl PageError {
    pub fn new(status: StatusCode, lang: Lang, message: String) -> Self {
        PageError {
            status,
            lang,
            message,
            back: None,
        }
    }

    pub fn not_found(lang: Lang) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            lang,
            i18n::t(lang, "error.not_found"),
        )
    }

    pub fn forbidden(lang: Lang) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            lang,
            i18n::t(lang, "error.forbidden"),
        )
    }

    pub fn bad_request(lang: Lang, message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, lang, message)
    }

    /// A store error as a page, with the status the API gives it.
    pub fn store(lang: Lang, e: StoreError) -> Self {
        let (status, _) = crate::error::status_of(&e);
        match user_message(lang, &e) {
            Some(m) => Self::new(status, lang, m),
            None => {
                tracing::error!(error = %e, "internal error on a page");
                Self::new(status, lang, i18n::t(lang, "error.internal"))
            }
        }
    }

    pub fn back(mut self, to: impl Into<String>) -> Self {
        self.back = Some(to.into());
        self
    }
}

/// A mistake the person can fix, shown on the page it was made on with the
/// status the API gives the same error ([`crate::error::status_of`]): 422
/// for invalid input, 409 for a clash with what is stored. In templates it
/// is its message.
#[derive(Debug, Clone)]
pub struct Mistake {
    pub status: StatusCode,
    pub message: String,
}

impl Mistake {
    /// The mistake a store error is, or `None` for errors the person cannot
    /// fix (they become error pages).
    pub fn of(lang: Lang, e: &StoreError) -> Option<Mistake> {
        Some(Mistake {
            status: crate::error::status_of(e).0,
            message: user_message(lang, e)?,
        })
    }

    /// Input the page itself finds invalid.
    pub fn invalid(message: String) -> Mistake {
        Mistake {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message,
        }
    }
}

impl serde::Serialize for Mistake {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.message)
    }
}

/// A page's response with the status of the mistake it shows, if any.
pub fn with_status(mut r: Response, error: &Option<Mistake>) -> Response {
    if let Some(m) = error {
        *r.status_mut() = m.status;
    }
    r
}

/// A message for a mistake the person can fix (invalid input, a clash with
/// the ticket's state), or `None` for internal errors.
pub fn user_message(lang: Lang, e: &StoreError) -> Option<String> {
    match e {
        StoreError::Invalid(v) => Some(i18n::tf(
            lang,
            "error.field",
            &[
                ("field", &i18n::t(lang, &format!("field.{}", v.field))),
                ("message", &v.message),
            ],
        )),
        StoreError::Conflict { message, .. } => Some(message.clone()),
        StoreError::Transition(t) => Some(i18n::tf(
            lang,
            "error.transition",
            &[
                ("from", &i18n::t(lang, &format!("state.{}", t.from))),
                ("to", &i18n::t(lang, &format!("state.{}", t.to))),
            ],
        )),
        StoreError::Forbidden(_) => Some(i18n::t(lang, "error.forbidden")),
        StoreError::NotFound => Some(i18n::t(lang, "error.not_found")),
        StoreError::TooLarge { name, max } => Some(i18n::tf(
            lang,
            "error.file_too_large",
            &[("name", name), ("max", &(max / (1024 * 1024)).to_string())],
        )),
        StoreError::QuotaExceeded { .. } => Some(i18n::t(lang, "error.quota_exceeded")),
        StoreError::FileUnavailable { .. } => Some(i18n::t(lang, "error.file_unavailable")),
        _ => None,
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut res = render(
            "error.html",
            minijinja::context! {
                lang => self.lang.code(),
                status => self.status.as_u16(),
                message => self.message,
                back => self.back,
            },
        );
        *res.status_mut() = self.status;
        res
    }
}

/// Formats a timestamp for people: local time in Finland (the desk's home).
pub fn when(ts: jiff::Timestamp) -> String {
    match jiff::tz::TimeZone::get("Europe/Helsinki") {
        Ok(tz) => ts.to_zoned(tz).strftime("%Y-%m-%d %H:%M").to_string(),
        Err(_) => ts.strftime("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for (name, _) in TEMPLATES {
            ENV.get_template(name).unwrap();
        }
    }

    #[test]
    fn values_are_escaped() {
        let html = ENV
            .render_str(
                "{{ x }}",
                minijinja::context! { x => "<script>alert(1)</script>" },
            )
            .unwrap();
        // render_str has no .html name; check a real template instead.
        let _ = html;
        let res = ENV
            .get_template("error.html")
            .unwrap()
            .render(minijinja::context! { lang => "en", status => 404, message => "<b>x</b>" })
            .unwrap();
        assert!(res.contains("&lt;b&gt;x&lt;&#x2f;b&gt;") || res.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(!res.contains("<b>x</b>"));
    }
}
