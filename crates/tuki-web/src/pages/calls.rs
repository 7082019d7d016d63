//! The incoming call pop-up of the agent console: when the telephone system
//! reports a call (`POST /api/v1/cti/events`), the consoles it rings hear a
//! `call` event ([`super::live`]) and fetch the card here with the caller's
//! number, the customer with that number and their open requests, and a
//! button that registers a request from the call.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use tuki_store::phone::CallTicket;
use tuki_store::StoreError;

use super::auth::{Posted, Viewer};
use super::render::{render, when, PageError, PageResult};
use crate::AppState;

/// `GET /agent/calls/{id}/card`: the pop-up of one call (a fragment).
pub async fn card(State(state): State<AppState>, Path(id): Path<i64>, v: Viewer) -> PageResult {
    if !v.is_staff() {
        return Err(PageError::not_found(v.lang));
    }
    let call = state
        .store
        .call(&v.actor, id)
        .await
        .map_err(|e| PageError::store(v.lang, e))?;
    let number = if call.direction == "in" {
        call.caller.clone()
    } else {
        call.callee.clone()
    };
    // A number that is not a phone number (an internal extension) has no
    // customer: the card says "unknown caller".
    let lookup = state.store.lookup_caller(&v.actor, &number).await.ok();
    let customer = lookup.as_ref().and_then(|l| l.customer.as_ref());
    let organisation = match customer.and_then(|c| c.organisation_id) {
        Some(o) => state
            .store
            .organisation(&v.actor, o)
            .await
            .ok()
            .map(|o| o.name),
        None => None,
    };
    let open: Vec<_> = lookup
        .as_ref()
        .map(|l| {
            l.open_tickets
                .iter()
                .map(|t| {
                    context! {
                        number => t.number,
                        subject => &t.subject,
                        state => t.state.as_str(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let ticket_number = match call.ticket_id {
        Some(t) => state.store.ticket(&v.actor, t).await.ok().map(|t| t.number),
        None => None,
    };
    Ok(render(
        "call_card.html",
        v.ctx(context! {
            call => context! {
                id => call.id,
                number => number,
                started => when(call.started_at),
                ended => call.ended_at.is_some(),
            },
            customer => customer.map(|c| context! {
                id => c.id,
                name => &c.name,
                email => &c.email,
            }),
            organisation => organisation,
            open_tickets => open,
            ticket_number => ticket_number,
        }),
    ))
}

/// `POST /agent/calls/{id}/ticket`: registers a request from the call (the
/// caller is the requester, the channel phone) and opens it. A call that has
/// a request already opens that one.
pub async fn register(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer: v, .. }: Posted,
) -> PageResult {
    if !v.is_staff() {
        return Err(PageError::not_found(v.lang));
    }
    match state
        .store
        .ticket_from_call(&v.actor, id, CallTicket::default())
        .await
    {
        Ok((t, _)) => {
            state.web.live.publish(&t);
            Ok(Redirect::to(&format!("/agent/tickets/{}", t.number)).into_response())
        }
        Err(StoreError::Conflict { .. }) => {
            let call = state
                .store
                .call(&v.actor, id)
                .await
                .map_err(|e| PageError::store(v.lang, e))?;
            let t = state
                .store
                .ticket(&v.actor, call.ticket_id.unwrap_or_default())
                .await
                .map_err(|e| PageError::store(v.lang, e))?;
            Ok(Redirect::to(&format!("/agent/tickets/{}", t.number)).into_response())
        }
        Err(e) => Err(PageError::store(v.lang, e)),
    }
}
