//! Customers' devices in the console: found by serial number as typed, and
//! edited by staff (a warranty other than the product's needs a reason).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use minijinja::{context, Value};
use serde::Deserialize;
use tuki_domain::coverage::show_date;
use tuki_store::coverage::{Asset, AssetFilter, AssetInput};

use crate::pages::auth::{Posted, Viewer};
use crate::pages::console::staff_only;
use crate::pages::render::{render, with_status, Mistake, PageResult};
use crate::AppState;

#[derive(Deserialize, Default)]
pub struct DeviceSearch {
    serial: Option<String>,
}

/// `/agent/devices`.
pub async fn list(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<DeviceSearch>,
) -> PageResult {
    staff_only(&v)?;
    let found = state
        .store
        .assets(
            &v.actor,
            &AssetFilter {
                serial: q.serial.clone(),
                limit: Some(200),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| v.err(e))?;
    let side = crate::pages::admin::queues(&state, &v).await?;
    Ok(render(
        "agent_devices.html",
        v.ctx(context! {
            queues => side, queue => "", serial => q.serial,
            devices => found.iter().map(|a| super::devices::device_view(&v, a)).collect::<Vec<_>>(),
        }),
    ))
}

fn form_of(v: &Viewer, a: &Asset) -> Value {
    let l = tuki_domain::directory::Language::Fi;
    let _ = v;
    context! {
        id => a.id, serial => &a.serial, product_id => a.product_id,
        purchased_on => a.purchased_on.map(|d| show_date(d, l)).unwrap_or_default(),
        purchased_from => &a.purchased_from, organisation_id => a.organisation_id, owner_id => a.owner_id,
        warranty_until => if a.warranty_reason.is_some() { a.warranty_until.map(|d| show_date(d, l)).unwrap_or_default() } else { String::new() },
        warranty_reason => a.warranty_reason.clone().unwrap_or_default(),
        derived => a.warranty_until.map(|d| show_date(d, v.lang.language())),
        receipt => a.receipt.as_ref().map(|r| &r.file_name),
    }
}

async fn edit_page(
    state: &AppState,
    v: &Viewer,
    a: &Asset,
    sent: Option<Value>,
    error: Option<Mistake>,
) -> PageResult {
    let products = state.store.product_names().await.map_err(|e| v.err(e))?;
    let side = crate::pages::admin::queues(state, v).await?;
    let r = render(
        "agent_device.html",
        v.ctx(context! {
            queues => side, queue => "",
            d => form_of(v, a), f => sent.unwrap_or_else(|| form_of(v, a)),
            products => products.iter().map(|(id, name)| context! { id => id, name => name }).collect::<Vec<_>>(),
            error => &error,
        }),
    );
    Ok(with_status(r, &error))
}

/// `/agent/devices/{id}`.
pub async fn edit(State(state): State<AppState>, v: Viewer, Path(id): Path<i64>) -> PageResult {
    staff_only(&v)?;
    let a = state
        .store
        .asset(&v.actor, id)
        .await
        .map_err(|e| v.err(e))?;
    edit_page(&state, &v, &a, None, None).await
}

/// Saves a device's details.
pub async fn save(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    staff_only(&v)?;
    let a = state
        .store
        .asset(&v.actor, id)
        .await
        .map_err(|e| v.err(e))?;
    let input = AssetInput {
        serial: form.text("serial"),
        product_id: form.int("product_id"),
        purchased_on: form.opt("purchased_on").map(String::from),
        purchased_from: form.text("purchased_from"),
        organisation_id: a.organisation_id,
        owner_id: a.owner_id,
        warranty_until: form.opt("warranty_until").map(String::from),
        warranty_reason: form.opt("warranty_reason").map(String::from),
    };
    match state.store.update_asset(&v.actor, id, input).await {
        Ok(_) => Ok(Redirect::to(&format!("/agent/devices/{id}")).into_response()),
        Err(e) => match Mistake::of(v.lang, &e) {
            Some(m) => {
                let sent = context! {
                    serial => form.text("serial"), product_id => form.int("product_id"),
                    purchased_on => form.text("purchased_on"), purchased_from => form.text("purchased_from"),
                    warranty_until => form.text("warranty_until"), warranty_reason => form.text("warranty_reason"),
                };
                edit_page(&state, &v, &a, Some(sent), Some(m)).await
            }
            None => Err(v.err(e)),
        },
    }
}
