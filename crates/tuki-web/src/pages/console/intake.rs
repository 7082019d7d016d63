//! Phone and desk intake: finding or adding the customer and registering
//! the request.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use minijinja::{context, Value};
use serde::Deserialize;
use tuki_domain::directory::Role;
use tuki_domain::ticket::{Channel, Priority};
use tuki_store::directory::{NewUser, UserFilter};
use tuki_store::tickets::{NewTicket, Ticket};
use tuki_store::StoreError;

use super::{sidebar, staff_only};
use crate::pages::auth::{Posted, Viewer};
use crate::pages::i18n;
use crate::pages::render::{render, with_status, Mistake, PageResult};
use crate::AppState;

#[derive(Deserialize, Default)]
pub struct IntakeQuery {
    q: Option<String>,
    customer: Option<i64>,
}

async fn customers(state: &AppState, v: &Viewer, q: &str) -> Result<Vec<Value>, StoreError> {
    if q.trim().chars().count() < 2 {
        return Ok(Vec::new());
    }
    let users = state
        .store
        .users(
            &v.actor,
            &UserFilter {
                q: Some(q.to_string()),
                role: Some(Role::Customer),
                limit: 10,
                ..Default::default()
            },
        )
        .await?;
    let orgs: Vec<i64> = users.iter().filter_map(|u| u.organisation_id).collect();
    let org_names = state.store.organisation_names(&orgs).await?;
    Ok(users
        .iter()
        .map(|u| {
            context! {
                id => u.id, name => &u.name, email => &u.email, phone => &u.phone,
                organisation => u.organisation_id.and_then(|o| org_names.get(&o).cloned()),
            }
        })
        .collect())
}

async fn intake_view(
    state: &AppState,
    v: &Viewer,
    q: &str,
    chosen: Option<i64>,
    values: Value,
    error: Option<Mistake>,
) -> PageResult {
    staff_only(v)?;
    let store = &state.store;
    let found = customers(state, v, q).await.map_err(|e| v.err(e))?;
    let chosen = match chosen {
        Some(id) => store.user(&v.actor, id).await.ok().map(|u| {
            context! { id => u.id, name => u.name, email => u.email, phone => u.phone }
        }),
        None => None,
    };
    let groups = store.groups(&v.actor).await.map_err(|e| v.err(e))?;
    let orgs = store
        .organisations(&v.actor, None, None, 200)
        .await
        .map_err(|e| v.err(e))?;
    let side = sidebar(state, v, &groups).await.map_err(|e| v.err(e))?;
    let res = render(
        "intake.html",
        v.ctx(context! {
            queues => side,
            queue => "",
            q => q,
            customers => found,
            chosen => chosen,
            groups => groups.iter().map(|g| context! { id => g.id, name => &g.name, tier => g.tier, intake => g.is_intake }).collect::<Vec<_>>(),
            organisations => orgs.iter().map(|o| context! { id => o.id, name => &o.name }).collect::<Vec<_>>(),
            priorities => Priority::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            channels => [Channel::Phone, Channel::WalkIn, Channel::Email].iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            f => values,
            error => &error,
        }),
    );
    Ok(with_status(res, &error))
}

pub async fn intake_page(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<IntakeQuery>,
) -> PageResult {
    intake_view(
        &state,
        &v,
        q.q.as_deref().unwrap_or(""),
        q.customer,
        context! { channel => "phone", priority => "normal" },
        None,
    )
    .await
}

/// `/agent/customers?q=`: the look-up results alone, for htmx.
pub async fn customer_search(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<IntakeQuery>,
) -> PageResult {
    staff_only(&v)?;
    let found = customers(&state, &v, q.q.as_deref().unwrap_or(""))
        .await
        .map_err(|e| v.err(e))?;
    Ok(render(
        "customers.html",
        v.ctx(context! { customers => found, q => q.q.unwrap_or_default() }),
    ))
}

pub async fn intake(
    State(state): State<AppState>,
    Posted {
        viewer: v,
        mut form,
    }: Posted<true>,
) -> PageResult {
    staff_only(&v)?;
    let values = context! {
        subject => form.text("subject"), body => form.text("body"),
        priority => form.text("priority"), channel => form.text("channel"),
        group_id => form.int("group_id"), category => form.text("category"),
        new_name => form.text("new_name"), new_email => form.text("new_email"),
        new_phone => form.text("new_phone"), organisation_id => form.int("organisation_id"),
        serial => form.text("serial"),
    };
    let chosen = form.int("requester_id");
    let prepared: Result<NewTicket, StoreError> = async {
        let priority = form
            .opt("priority")
            .map(|p| Priority::parse("priority", p))
            .transpose()?;
        let channel = Channel::parse("channel", form.opt("channel").unwrap_or("phone"))?;
        let mut new = NewTicket {
            subject: form.text("subject"),
            body: form.text("body"),
            requester_id: chosen,
            channel: Some(channel),
            category: form.opt("category").map(str::to_string),
            priority,
            group_id: form.int("group_id"),
            owner_id: None,
            tags: Vec::new(),
            article_kind: None,
            asset_id: None,
        };
        // The request's own fields first: a refused one creates no customer
        // and writes no file.
        state.store.check_new_ticket(&v.actor, &new)?;
        // The device the caller names by its serial number: one of an
        // existing customer's (a new customer has none yet).
        if let Some(serial) = form.opt("serial") {
            let Some(requester) = chosen else {
                return Err(StoreError::invalid(
                    "serial",
                    "a new customer has no registered devices yet",
                ));
            };
            let key = tuki_domain::coverage::serial_key(serial);
            let filter = tuki_store::coverage::AssetFilter {
                serial: Some(serial.to_string()),
                requester_id: Some(requester),
                limit: Some(50),
                ..Default::default()
            };
            let found = state.store.assets(&v.actor, &filter).await?;
            let asset = found
                .iter()
                .find(|a| tuki_domain::coverage::serial_key(&a.serial) == key)
                .ok_or_else(|| {
                    StoreError::invalid(
                        "serial",
                        "no device of the customer has this serial number",
                    )
                })?;
            new.asset_id = Some(asset.id);
        }
        new.requester_id = Some(match chosen {
            Some(id) => id,
            None => {
                if form.opt("new_name").is_none() && form.opt("new_email").is_none() {
                    return Err(StoreError::invalid(
                        "requester_id",
                        i18n::t(v.lang, "intake.choose_customer"),
                    ));
                }
                state
                    .store
                    .create_user(
                        &v.actor,
                        NewUser {
                            email: form.text("new_email"),
                            name: form.text("new_name"),
                            phone: form.opt("new_phone").map(str::to_string),
                            role: Some(Role::Customer),
                            language: form
                                .opt("new_language")
                                .and_then(|l| {
                                    tuki_domain::directory::Language::parse("language", l).ok()
                                })
                                .or(Some(v.user.language)),
                            organisation_id: form.int("organisation_id"),
                            password: None,
                        },
                    )
                    .await?
                    .id
            }
        });
        Ok(new)
    }
    .await;
    let result: Result<Ticket, StoreError> = match prepared {
        Ok(new) => {
            let uploads = std::mem::take(&mut form.files);
            crate::pages::files::create_ticket(&state, &v, new, uploads).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(t) => {
            state.web.live.publish(&t);
            Ok(Redirect::to(&format!("/agent/tickets/{}", t.number)).into_response())
        }
        Err(e) => match Mistake::of(v.lang, &e) {
            Some(m) => intake_view(&state, &v, "", chosen, values, Some(m)).await,
            None => Err(v.err(e)),
        },
    }
}
