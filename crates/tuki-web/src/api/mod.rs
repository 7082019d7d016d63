//! The REST API under `/api/v1`: one module per resource, one function per
//! action. Each handler authenticates with [`Auth`](crate::extract::Auth),
//! parses input with the extractors of [`crate::extract`] and leaves access
//! rules to the store, which checks them on every read and write.
//!
//! The routes are listed once, in [`routes`]: each handler's annotation
//! gives its path, method and operation for the OpenAPI document, and the
//! administered resources ([`resource`]) bring theirs, so the router and the
//! document cannot disagree.

pub mod attachments;
pub mod coverage;
pub mod directory;
pub mod files;
pub mod jobs;
pub mod knowledge;
pub mod outbox;
pub mod phone;
pub mod resource;
pub mod search;
pub mod sla;
pub mod ticket_actions;
pub mod tickets;
pub mod tokens;
pub mod visits;

use tuki_store::coverage::{Contracts, Materials, Products, RateCards};
use tuki_store::mail::Mailboxes;
use tuki_store::sla::{Calendars, EscalationRules, Policies};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// Checks a page of ranked results: `limit` 1 to 100 (20 when absent),
/// `offset` 0 to 10,000 (0).
pub(crate) fn ranked_page(
    limit: Option<i64>,
    offset: Option<i64>,
) -> Result<(i64, i64), crate::error::AppError> {
    use crate::error::AppError;
    let limit = match limit {
        None => 20,
        Some(n) if (1..=100).contains(&n) => n,
        Some(_) => return Err(AppError::invalid("limit", "must be between 1 and 100")),
    };
    let offset = match offset {
        None => 0,
        Some(n) if (0..=10_000).contains(&n) => n,
        Some(_) => return Err(AppError::invalid("offset", "must be between 0 and 10000")),
    };
    Ok((limit, offset))
}

/// Every route of the API with its operation, relative to `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    use directory::*;
    use ticket_actions::*;
    use tickets::*;
    let mut router = OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(tokens::list_tokens, tokens::create_token))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(list_organisations, create_organisation))
        .routes(routes!(get_organisation, update_organisation))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
        .routes(routes!(list_groups, create_group))
        .routes(routes!(get_group, update_group))
        .routes(routes!(add_member, remove_member))
        .routes(routes!(search::search))
        .routes(routes!(list_tickets, create_ticket))
        .routes(routes!(get_ticket_by_number))
        .routes(routes!(get_ticket, update_ticket))
        .routes(routes!(list_articles, add_article))
        .routes(routes!(attachments::list_attachments))
        .routes(routes!(attachments::get_attachment))
        .routes(routes!(attachments::download_attachment))
        .routes(routes!(transfer))
        .routes(routes!(merge))
        .routes(routes!(list_links, add_link))
        .routes(routes!(remove_link))
        .routes(routes!(follow, unfollow))
        .routes(routes!(history))
        .routes(routes!(sla::ticket_sla))
        .routes(routes!(sla::ticket_metrics))
        .routes(routes!(jobs::list_jobs))
        .routes(routes!(phone::cti_event))
        .routes(routes!(phone::list_calls))
        .routes(routes!(phone::lookup))
        .routes(routes!(phone::get_call))
        .routes(routes!(phone::call_ticket))
        .routes(routes!(outbox::list_prefs))
        .routes(routes!(outbox::set_pref))
        .routes(routes!(outbox::list_outbox))
        .routes(routes!(files::files_overview))
        .routes(routes!(
            knowledge::list_knowledge,
            knowledge::create_knowledge
        ))
        .routes(routes!(
            knowledge::get_knowledge,
            knowledge::update_knowledge
        ))
        .routes(routes!(knowledge::set_knowledge_state))
        .routes(routes!(knowledge::list_revisions))
        .routes(routes!(knowledge::revision_diff))
        .routes(routes!(knowledge::feedback))
        .routes(routes!(knowledge::use_article))
        .routes(routes!(knowledge::suggestions))
        .routes(routes!(knowledge::get_settings, knowledge::put_settings))
        .routes(routes!(coverage::list_assets, coverage::register_asset))
        .routes(routes!(coverage::get_asset, coverage::update_asset))
        .routes(routes!(coverage::organisation_contracts))
        .routes(routes!(
            coverage::ticket_coverage,
            coverage::override_coverage
        ))
        .routes(routes!(coverage::set_ticket_asset))
        .routes(routes!(coverage::list_time_entries, coverage::log_time))
        .routes(routes!(coverage::delete_time_entry))
        .routes(routes!(
            coverage::get_coverage_settings,
            coverage::put_coverage_settings
        ))
        .routes(routes!(
            coverage::list_material_uses,
            coverage::use_material
        ))
        .routes(routes!(coverage::delete_material_use))
        .routes(routes!(
            coverage::statement_draft,
            coverage::invoice_statement
        ))
        .routes(routes!(coverage::get_statement))
        .routes(routes!(visits::ticket_visits, visits::plan_visit))
        .routes(routes!(visits::get_visit, visits::update_visit))
        .routes(routes!(visits::schedule))
        .routes(routes!(visits::new_calendar_feed));
    for r in resource::routes::<Calendars>()
        .into_iter()
        .chain(resource::routes::<Policies>())
        .chain(resource::routes::<EscalationRules>())
        .chain(resource::routes::<Mailboxes>())
        .chain(resource::routes::<Products>())
        .chain(resource::routes::<RateCards>())
        .chain(resource::routes::<Contracts>())
        .chain(resource::routes::<Materials>())
        .chain(resource::routes::<tuki_store::oncall::OnCallShifts>())
        .chain(resource::routes::<tuki_store::oncall::OnCallExceptions>())
    {
        router = router.routes(r);
    }
    router
}
