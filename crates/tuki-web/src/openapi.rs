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
         (name = "search", description = "Full-text search over tickets, people, organisations and knowledge articles"),
         (name = "knowledge", description = "Knowledge articles: typical problems and their fixes, revisions, feedback, use in replies"),
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
    let mut doc = crate::router_parts().2;
    add_common_responses(&mut doc);
    doc
}

/// The answers every operation of a kind can give, written into each
/// operation so that the document lists every status Tuki sends (checked by
/// schemathesis in CI): 401 where a token is required; 400, 413, 415 and 422
/// where a JSON body is taken; 422 where query parameters are read. An
/// operation's own description of a status is kept.
fn add_common_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let body = op.request_body.is_some();
            let query = op.parameters.as_ref().is_some_and(|ps| {
                ps.iter()
                    .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query))
            });
            let mut common = Vec::new();
            if secured {
                common.push(("401", "no valid token (`Authorization: Bearer tuki_…`)"));
                common.push(("403", "the token's user may not do this"));
            }
            if body {
                common.push(("400", "the body is not JSON of the expected shape"));
                common.push(("413", "the body is larger than 1 MiB"));
                common.push(("415", "the body is not sent as `application/json`"));
                common.push(("422", "a field breaks a rule; the error names it"));
            }
            if query {
                common.push(("422", "a query parameter breaks a rule; the error names it"));
            }
            for (status, description) in common {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| error(description).into());
            }
        }
    }
}
