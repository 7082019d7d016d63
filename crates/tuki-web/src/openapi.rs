//! The OpenAPI 3.1 document, generated from the handlers' annotations and
//! the types they take and return; served at `/api/v1/openapi.json` and
//! snapshot-tested so every change to the API shows up in review.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{directory, jobs, outbox, phone, sla, ticket_actions, tickets};

#[derive(OpenApi)]
#[openapi(
    info(title = "Tuki REST API", description = "Service desk: tickets, tiers, directory. Authenticate with a personal access token: `Authorization: Bearer tuki_…`."),
    paths(
        crate::health,
        directory::me,
        crate::api::tokens::list_tokens, crate::api::tokens::create_token, crate::api::tokens::revoke_token,
        directory::list_organisations, directory::create_organisation, directory::get_organisation, directory::update_organisation,
        directory::list_users, directory::create_user, directory::get_user, directory::update_user,
        directory::list_groups, directory::create_group, directory::get_group, directory::update_group,
        directory::add_member, directory::remove_member,
        tickets::list_tickets, tickets::create_ticket, tickets::get_ticket, tickets::get_ticket_by_number, tickets::update_ticket,
        tickets::list_articles, tickets::add_article,
        ticket_actions::transfer, ticket_actions::merge,
        ticket_actions::list_links, ticket_actions::add_link, ticket_actions::remove_link,
        ticket_actions::follow, ticket_actions::unfollow, ticket_actions::history,
        sla::ticket_sla, sla::ticket_metrics,
        sla::list_calendars, sla::create_calendar, sla::get_calendar, sla::update_calendar, sla::delete_calendar,
        sla::list_policies, sla::create_policy, sla::get_policy, sla::update_policy, sla::delete_policy,
        sla::list_escalation_rules, sla::create_escalation_rule, sla::get_escalation_rule,
        sla::update_escalation_rule, sla::delete_escalation_rule,
        jobs::list_jobs,
        phone::cti_event, phone::lookup, phone::list_calls, phone::get_call, phone::call_ticket,
        outbox::list_prefs, outbox::set_pref, outbox::list_outbox,
    ),
    modifiers(&BearerToken),
    tags((name = "tickets", description = "Requests, their articles, transfers between tiers, links and history"),
         (name = "directory", description = "Organisations, users and support groups"),
         (name = "service levels", description = "Business calendars, SLA policies and escalation rules (administrators)"),
         (name = "system", description = "Health and background jobs"),
         (name = "phone", description = "Call log, caller look-up, the CTI webhook for telephone systems"),
         (name = "mail", description = "Outgoing mail: notification preferences and the outbox"))
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
