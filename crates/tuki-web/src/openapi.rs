//! The OpenAPI 3.1 document: the title, tags and token scheme here, every
//! path from the one list of routes ([`crate::router_parts`]: the handlers'
//! annotations and the administered resources' operations), so the document
//! and the router cannot disagree. Served at `/api/v1/openapi.json` and
//! snapshot-tested so every change to the API shows up in review.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Tuki REST API", description = "Service desk: tickets, tiers, directory. Authenticate with a personal access token: `Authorization: Bearer tuki_…`."),
    modifiers(&BearerToken),
    tags((name = "tickets", description = "Requests, their articles, transfers between tiers, links and history"),
         (name = "directory", description = "Organisations, users and support groups"),
         (name = "service levels", description = "Business calendars, SLA policies and escalation rules (administrators)"),
         (name = "system", description = "Health and background jobs"),
         (name = "phone", description = "Call log, caller look-up, the CTI webhook for telephone systems"),
         (name = "mail", description = "Mailboxes, notification preferences and the outbox"))
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
    crate::router_parts().2
}
