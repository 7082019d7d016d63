//! Customers' devices in the portal: the list with warranties, registering
//! one with its serial number, product, purchase and receipt, and the
//! receipt's download (also for staff).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use minijinja::{context, Value};
use tuki_domain::coverage::show_date;
use tuki_store::coverage::{Asset, AssetFilter, AssetInput};

use crate::pages::auth::{Posted, Viewer};
use crate::pages::render::{render, with_status, Mistake, PageResult};
use crate::AppState;

/// A device for the templates.
pub fn device_view(v: &Viewer, a: &Asset) -> Value {
    let l = v.lang.language();
    context! {
        id => a.id, serial => &a.serial, product => &a.product_name,
        purchased_on => a.purchased_on.map(|d| show_date(d, l)),
        purchased_from => &a.purchased_from,
        warranty_until => a.warranty_until.map(|d| show_date(d, l)),
        receipt => a.receipt.as_ref().map(|r| &r.file_name),
    }
}

/// The caller's devices, for choosing one on a new request.
pub async fn mine(
    state: &AppState,
    v: &Viewer,
) -> Result<Vec<Value>, crate::pages::render::PageError> {
    let devices = state
        .store
        .assets(
            &v.actor,
            &AssetFilter {
                limit: Some(500),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| v.err(e))?;
    Ok(devices.iter().map(|a| device_view(v, a)).collect())
}

async fn page(
    state: &AppState,
    v: &Viewer,
    sent: Value,
    error: Option<Mistake>,
    added: Option<String>,
) -> PageResult {
    let devices = mine(state, v).await?;
    let products = state.store.product_names().await.map_err(|e| v.err(e))?;
    let r = render(
        "portal_devices.html",
        v.ctx(context! {
            devices => devices,
            products => products.iter().map(|(id, name)| context! { id => id, name => name }).collect::<Vec<_>>(),
            f => sent,
            error => &error,
            added => added,
        }),
    );
    Ok(with_status(r, &error))
}

/// `/portal/devices`.
pub async fn list(State(state): State<AppState>, v: Viewer) -> PageResult {
    if v.is_staff() {
        return Ok(Redirect::to("/agent").into_response());
    }
    page(&state, &v, context! {}, None, None).await
}

/// Registers a device with its receipt (the first file sent).
pub async fn register(
    State(state): State<AppState>,
    Posted {
        viewer: v,
        mut form,
    }: Posted<true>,
) -> PageResult {
    let input = AssetInput {
        serial: form.text("serial"),
        product_id: form.int("product_id"),
        purchased_on: form.opt("purchased_on").map(String::from),
        purchased_from: form.text("purchased_from"),
        ..AssetInput::default()
    };
    let sent = context! {
        serial => form.text("serial"), product_id => form.int("product_id"),
        purchased_on => form.text("purchased_on"), purchased_from => form.text("purchased_from"),
    };
    let files = crate::pages::files::attachments(std::mem::take(&mut form.files));
    let res = match state.store.register_asset(&v.actor, input).await {
        Ok(a) => match files.into_iter().find(|f| f.size > 0) {
            Some(receipt) => state.store.set_asset_receipt(&v.actor, a.id, receipt).await,
            None => Ok(a),
        },
        Err(e) => Err(e),
    };
    match res {
        Ok(a) => page(&state, &v, context! {}, None, Some(a.serial)).await,
        Err(e) => match Mistake::of(v.lang, &e) {
            Some(m) => page(&state, &v, sent, Some(m), None).await,
            None => Err(v.err(e)),
        },
    }
}

/// `/devices/{id}/receipt`: the proof of purchase, for whoever may see the
/// device.
pub async fn receipt(State(state): State<AppState>, v: Viewer, Path(id): Path<i64>) -> PageResult {
    let a = state
        .store
        .asset(&v.actor, id)
        .await
        .map_err(|e| v.err(e))?;
    let Some(r) = a.receipt else {
        return Err(crate::pages::render::PageError::not_found(v.lang));
    };
    let (size, stream) = state
        .store
        .open_blob(&r.sha256)
        .await
        .map_err(|e| v.err(e))?;
    let inline = crate::pages::files::inline_safe(&r.content_type);
    Ok(crate::pages::files::named_file_response(
        &r.file_name,
        &r.content_type,
        (size, axum::body::Body::from_stream(stream)),
        inline,
    ))
}
