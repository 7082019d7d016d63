//! The ticket page's "who pays" box, loaded after the page like the
//! suggestions: the coverage with its reasons, the device the request names
//! (chosen by serial number as one types), an agent's override with a
//! reason, and the time booked with a start/stop timer; each form posts
//! back and returns to the ticket page (or shows the mistake on it).

use axum::extract::{Path, Query, State};
use minijinja::{context, Value};
use serde::Deserialize;
use tuki_domain::coverage::{hours_text, serial_key, CoverageKind};
use tuki_domain::money::{format_eur, labour};
use tuki_store::coverage::{
    AssetFilter, CoverageOverrideInput, MaterialUseInput, RateCards, TicketAssetInput,
    TimeEntryInput,
};
use tuki_store::StoreError;

use super::coverage_view;
use crate::pages::auth::{Posted, Viewer};
use crate::pages::console::actions::act;
use crate::pages::console::staff_only;
use crate::pages::render::{render, when, PageResult};
use crate::AppState;

/// `/agent/tickets/{number}/coverage`: the box.
pub async fn coverage_box(
    State(state): State<AppState>,
    v: Viewer,
    Path(number): Path<i64>,
) -> PageResult {
    staff_only(&v)?;
    let store = &state.store;
    let lang = v.lang.language();
    let t = store
        .ticket_by_number(&v.actor, number)
        .await
        .map_err(|e| v.err(e))?;
    // A request from before who pays was decided (or while the decisions
    // were off) has none until its device is named.
    let c = match store.ticket_coverage(&v.actor, t.id, lang).await {
        Ok(c) => Some(c),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(v.err(e)),
    };
    let entries = store
        .time_entries(&v.actor, t.id)
        .await
        .map_err(|e| v.err(e))?;
    let used = store
        .material_uses(&v.actor, t.id)
        .await
        .map_err(|e| v.err(e))?;
    let catalogue = store
        .material_choices(&v.actor)
        .await
        .map_err(|e| v.err(e))?;
    let ids: Vec<i64> = entries.iter().map(|e| e.user_id).collect();
    let names = store.user_names(&ids).await.map_err(|e| v.err(e))?;
    let contracts = match t.organisation_id {
        Some(org) => store
            .organisation_contracts(&v.actor, org)
            .await
            .map_err(|e| v.err(e))?,
        None => Vec::new(),
    };
    // What billable time costs at the rate card the decision named (staff
    // see rates; administrators manage them).
    let card = match c.as_ref().and_then(|c| c.rate_card_id) {
        Some(id) if v.actor.is_admin() => store.get::<RateCards>(&v.actor, id).await.ok(),
        _ => None,
    };
    let billable: i64 = entries
        .iter()
        .filter(|e| e.billable)
        .map(|e| e.minutes)
        .sum();
    let price = card
        .zip(c.as_ref().filter(|c| c.kind == CoverageKind::Billable))
        .map(|(card, c)| format_eur(labour(billable, &card.rates(), c.after_hours).cents, lang));
    Ok(render(
        "coverage_box.html",
        v.ctx(context! {
            number => number,
            c => c.as_ref().map(|c| coverage_view(v.lang, c)),
            kinds => CoverageKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            contracts => contracts.iter().map(|k| context! { id => k.id, name => &k.name }).collect::<Vec<_>>(),
            entries => entries.iter().map(|e| context! {
                id => e.id, at => when(e.worked_at), minutes => hours_text(e.minutes, lang),
                who => names.get(&e.user_id).map(|n| n.0.clone()), note => &e.note,
                billable => e.billable, drawn => e.balance_after.is_some(),
                balance => e.balance_after.map(|b| hours_text(b, lang)), over => e.over_balance,
                mine => Some(e.user_id) == v.actor.user_id,
            }).collect::<Vec<_>>(),
            total => hours_text(entries.iter().map(|e| e.minutes).sum(), lang),
            billable_total => hours_text(billable, lang),
            price => price,
            used => used.iter().map(|u| context! {
                id => u.id, name => &u.name, unit => &u.unit, at => when(u.used_at),
                quantity => tuki_domain::statement::quantity_text(&tuki_domain::statement::StatementLine {
                    kind: tuki_domain::statement::LineKind::Material, ticket_number: number,
                    date: jiff::civil::Date::default(), text: String::new(), quantity_milli: u.quantity_milli,
                    unit: u.unit.clone(), unit_price_cents: 0, vat: tuki_domain::money::GENERAL_VAT, net_cents: 0,
                }, lang),
                price => format_eur(u.unit_price_cents, lang), locked => u.statement_id.is_some(),
            }).collect::<Vec<_>>(),
            catalogue => catalogue.iter().map(|m| context! {
                id => m.id, name => &m.name, unit => &m.unit, price => format_eur(m.unit_price_cents, lang),
            }).collect::<Vec<_>>(),
        }),
    ))
}

#[derive(Deserialize)]
pub struct DeviceQuery {
    serial: Option<String>,
}

/// `/agent/tickets/{number}/devices?serial=…`: the requester's devices
/// whose serial number starts so, as `<option>`s for the device field.
pub async fn device_options(
    State(state): State<AppState>,
    v: Viewer,
    Path(number): Path<i64>,
    Query(q): Query<DeviceQuery>,
) -> PageResult {
    staff_only(&v)?;
    let t = state
        .store
        .ticket_by_number(&v.actor, number)
        .await
        .map_err(|e| v.err(e))?;
    let found = state
        .store
        .assets(
            &v.actor,
            &AssetFilter {
                serial: q.serial,
                requester_id: Some(t.requester_id),
                limit: Some(20),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| v.err(e))?;
    let options: Vec<Value> = found
        .iter()
        .map(|a| context! { serial => &a.serial, product => &a.product_name })
        .collect();
    Ok(render(
        "device_options.html",
        v.ctx(context! { options => options }),
    ))
}

/// Names the device by its serial number (one of the requester's); an
/// empty field names none.
pub async fn set_device(
    State(state): State<AppState>,
    Path(number): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    let serial = form.text("serial");
    let lang = v.lang.language();
    act(&state, &v, number, |st, vv, t| async move {
        let asset_id = if serial.trim().is_empty() {
            None
        } else {
            let key = serial_key(&serial);
            let found = st
                .store
                .assets(
                    &vv.actor,
                    &AssetFilter {
                        serial: Some(serial.clone()),
                        requester_id: Some(t.requester_id),
                        limit: Some(50),
                        ..Default::default()
                    },
                )
                .await?;
            let a = found
                .iter()
                .find(|a| serial_key(&a.serial) == key)
                .ok_or_else(|| {
                    StoreError::invalid(
                        "serial",
                        "no device of the customer has this serial number",
                    )
                })?;
            Some(a.id)
        };
        st.store
            .set_ticket_asset(&vv.actor, t.id, TicketAssetInput { asset_id }, lang)
            .await?;
        Ok(None)
    })
    .await
}

/// An agent's decision of who pays, with a reason; "Tuki's decision"
/// clears it.
pub async fn override_coverage(
    State(state): State<AppState>,
    Path(number): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    let kind = match form.opt("kind") {
        None => None,
        Some(k) => Some(CoverageKind::parse("kind", k).map_err(|e| v.err(e.into()))?),
    };
    let input = CoverageOverrideInput {
        kind,
        contract_id: form
            .int("contract_id")
            .filter(|_| kind == Some(CoverageKind::Contract)),
        reason: form.text("reason"),
    };
    let lang = v.lang.language();
    act(&state, &v, number, |st, vv, t| async move {
        st.store
            .override_coverage(&vv.actor, t.id, input, lang)
            .await?;
        Ok(None)
    })
    .await
}

/// Books time (the timer fills in the minutes).
pub async fn log_time(
    State(state): State<AppState>,
    Path(number): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    let minutes = match form.opt("minutes").map(str::parse::<i64>) {
        Some(Ok(m)) => m,
        _ => 0,
    };
    let input = TimeEntryInput {
        minutes,
        billable: Some(form.get("billable").is_some()),
        note: form.text("note"),
        worked_at: None,
        over_balance: form.get("over_balance").is_some(),
    };
    let lang = v.lang.language();
    act(&state, &v, number, |st, vv, t| async move {
        st.store.log_time(&vv.actor, t.id, input, lang).await?;
        Ok(None)
    })
    .await
}

/// Removes a booking.
pub async fn delete_time(
    State(state): State<AppState>,
    Path((number, entry)): Path<(i64, i64)>,
    Posted { viewer: v, .. }: Posted,
) -> PageResult {
    act(&state, &v, number, |st, vv, t| async move {
        st.store.delete_time_entry(&vv.actor, t.id, entry).await?;
        Ok(None)
    })
    .await
}

/// Records material used (the quantity as typed: "2", "1,5").
pub async fn use_material(
    State(state): State<AppState>,
    Path(number): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    let input = MaterialUseInput {
        material_id: form.int("material_id").unwrap_or(0),
        quantity: form.text("quantity"),
        note: form.text("note"),
    };
    act(&state, &v, number, |st, vv, t| async move {
        st.store.use_material(&vv.actor, t.id, input).await?;
        Ok(None)
    })
    .await
}

/// Removes a material use.
pub async fn delete_material(
    State(state): State<AppState>,
    Path((number, used)): Path<(i64, i64)>,
    Posted { viewer: v, .. }: Posted,
) -> PageResult {
    act(&state, &v, number, |st, vv, t| async move {
        st.store.delete_material_use(&vv.actor, t.id, used).await?;
        Ok(None)
    })
    .await
}
