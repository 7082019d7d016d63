//! The REST API under `/api/v1`: one module per resource, one function per
//! action. Each handler authenticates with [`Auth`](crate::extract::Auth),
//! parses input with the extractors of [`crate::extract`] and leaves access
//! rules to the store, which checks them on every read and write.

pub mod directory;
pub mod jobs;
pub mod outbox;
pub mod phone;
pub mod sla;
pub mod ticket_actions;
pub mod tickets;
pub mod tokens;

use axum::routing::{get, post, put};
use axum::Router;

use crate::AppState;

/// Checks a page size: 1 to 200, 50 when absent.
pub(crate) fn limit(raw: Option<i64>) -> Result<i64, crate::error::AppError> {
    match raw {
        None => Ok(50),
        Some(n) if (1..=200).contains(&n) => Ok(n),
        Some(_) => Err(crate::error::AppError::invalid(
            "limit",
            "must be between 1 and 200",
        )),
    }
}

pub fn routes() -> Router<AppState> {
    use directory::*;
    use ticket_actions::*;
    use tickets::*;
    Router::new()
        .route("/me", get(me))
        .route(
            "/tokens",
            get(tokens::list_tokens).post(tokens::create_token),
        )
        .route("/tokens/{id}", axum::routing::delete(tokens::revoke_token))
        .route(
            "/organisations",
            get(list_organisations).post(create_organisation),
        )
        .route(
            "/organisations/{id}",
            get(get_organisation).patch(update_organisation),
        )
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", get(get_user).patch(update_user))
        .route("/groups", get(list_groups).post(create_group))
        .route("/groups/{id}", get(get_group).patch(update_group))
        .route(
            "/groups/{id}/members/{user_id}",
            put(add_member).delete(remove_member),
        )
        .route("/tickets", get(list_tickets).post(create_ticket))
        .route("/tickets/by-number/{number}", get(get_ticket_by_number))
        .route("/tickets/{id}", get(get_ticket).patch(update_ticket))
        .route(
            "/tickets/{id}/articles",
            get(list_articles).post(add_article),
        )
        .route("/tickets/{id}/transfer", post(transfer))
        .route("/tickets/{id}/merge", post(merge))
        .route("/tickets/{id}/links", get(list_links).post(add_link))
        .route(
            "/tickets/{id}/links/{link_id}",
            axum::routing::delete(remove_link),
        )
        .route(
            "/tickets/{id}/followers/{user_id}",
            put(follow).delete(unfollow),
        )
        .route("/tickets/{id}/history", get(history))
        .route("/tickets/{id}/sla", get(sla::ticket_sla))
        .route("/tickets/{id}/metrics", get(sla::ticket_metrics))
        .route(
            "/sla/calendars",
            get(sla::list_calendars).post(sla::create_calendar),
        )
        .route(
            "/sla/calendars/{id}",
            get(sla::get_calendar)
                .put(sla::update_calendar)
                .delete(sla::delete_calendar),
        )
        .route(
            "/sla/policies",
            get(sla::list_policies).post(sla::create_policy),
        )
        .route(
            "/sla/policies/{id}",
            get(sla::get_policy)
                .put(sla::update_policy)
                .delete(sla::delete_policy),
        )
        .route(
            "/sla/escalation-rules",
            get(sla::list_escalation_rules).post(sla::create_escalation_rule),
        )
        .route(
            "/sla/escalation-rules/{id}",
            get(sla::get_escalation_rule)
                .put(sla::update_escalation_rule)
                .delete(sla::delete_escalation_rule),
        )
        .route("/jobs", get(jobs::list_jobs))
        .route("/cti/events", post(phone::cti_event))
        .route("/calls", get(phone::list_calls))
        .route("/calls/lookup", get(phone::lookup))
        .route("/calls/{id}", get(phone::get_call))
        .route("/calls/{id}/ticket", post(phone::call_ticket))
        .route("/me/notification-preferences", get(outbox::list_prefs))
        .route("/me/notification-preferences/{kind}", put(outbox::set_pref))
        .route("/outbox", get(outbox::list_outbox))
}
