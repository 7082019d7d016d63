//! Who pays: products, rate cards and contracts (administered resources),
//! customers' devices, an organisation's contract balances, each ticket's
//! coverage (read, device named, overridden) and the time booked on it.
//! Customers register and read their own devices and see their own
//! organisation's balances; rates are for staff.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use tuki_domain::directory::Language;
use tuki_store::coverage::{
    Asset, AssetFilter, AssetInput, ContractBalance, Contracts, CoverageOverrideInput,
    CoverageSettings, Products, RateCards, TicketAssetInput, TicketCoverage, TimeEntry,
    TimeEntryInput,
};
use tuki_store::coverage::{
    MaterialUse, MaterialUseInput, Materials, StatementQuery, StatementView,
};
use utoipa::IntoParams;

use super::resource::ApiResource;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{id, ApiJson, ApiQuery, Auth};
use crate::AppState;

impl ApiResource for Products {
    const PATH: &'static str = "/products";
    const TAG: &'static str = "coverage";
    const ONE: &'static str = "product";
    const MANY: &'static str = "products";
    const ABOUT: &'static str =
        "Products: models with their manufacturer, category and warranty in months.";
}

impl ApiResource for RateCards {
    const PATH: &'static str = "/rate-cards";
    const TAG: &'static str = "coverage";
    const ONE: &'static str = "rate_card";
    const MANY: &'static str = "rate_cards";
    const ABOUT: &'static str =
        "Rate cards: hourly rate, on-call surcharge outside the calendar's hours, call-out fee, billing unit, VAT.";
}

impl ApiResource for Materials {
    const PATH: &'static str = "/materials";
    const TAG: &'static str = "coverage";
    const ONE: &'static str = "material";
    const MANY: &'static str = "materials";
    const ABOUT: &'static str =
        "The materials catalogue: parts and supplies with their unit, price and VAT.";
}

impl ApiResource for tuki_store::oncall::OnCallShifts {
    const PATH: &'static str = "/on-call/shifts";
    const TAG: &'static str = "coverage";
    const ONE: &'static str = "on_call_shift";
    const MANY: &'static str = "on_call_shifts";
    const ABOUT: &'static str =
        "The on-call rota's weekly shifts: who is on duty outside business hours, on the desk's wall clock.";
}

impl ApiResource for tuki_store::oncall::OnCallExceptions {
    const PATH: &'static str = "/on-call/exceptions";
    const TAG: &'static str = "coverage";
    const ONE: &'static str = "on_call_exception";
    const MANY: &'static str = "on_call_exceptions";
    const ABOUT: &'static str =
        "Exceptions to the on-call rota: swaps and holiday covers, before the weekly shifts.";
}

impl ApiResource for Contracts {
    const PATH: &'static str = "/contracts";
    const TAG: &'static str = "coverage";
    const ONE: &'static str = "contract";
    const MANY: &'static str = "contracts";
    const ABOUT: &'static str =
        "Contracts: prepaid hour banks and fixed-fee subscriptions of organisations, what they cover and their balances.";
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AssetParams {
    /// The start of a serial number (dashes, spaces and case do not matter).
    pub serial: Option<String>,
    pub organisation_id: Option<i64>,
    pub owner_id: Option<i64>,
    /// The devices this requester may name on a request.
    pub requester_id: Option<i64>,
    /// 1–500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Devices the caller may see (customers: their own and their
/// organisation's), newest first.
#[utoipa::path(get, path = "/assets", tag = "coverage", security(("token" = [])), params(AssetParams),
    responses((status = 200, body = Vec<Asset>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_assets(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(p): ApiQuery<AssetParams>,
) -> ApiResult<Json<Vec<Asset>>> {
    let filter = AssetFilter {
        serial: p.serial,
        organisation_id: p.organisation_id,
        owner_id: p.owner_id,
        requester_id: p.requester_id,
        limit: p.limit,
    };
    Ok(Json(s.store.assets(&actor, &filter).await?))
}

/// Registers a device. Customers register their own; its warranty comes
/// from the product and the purchase date.
#[utoipa::path(post, path = "/assets", tag = "coverage", security(("token" = [])), request_body = AssetInput,
    responses((status = 201, body = Asset), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn register_asset(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<AssetInput>,
) -> ApiResult<(StatusCode, Json<Asset>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.store.register_asset(&actor, body).await?),
    ))
}

/// One device.
#[utoipa::path(get, path = "/assets/{id}", tag = "coverage", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Asset), (status = 404, body = ErrorBody)))]
pub async fn get_asset(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<Asset>> {
    Ok(Json(s.store.asset(&actor, id(&raw)?).await?))
}

/// Replaces a device's details; staff may override its warranty with a
/// reason. Open requests naming it are decided again.
#[utoipa::path(put, path = "/assets/{id}", tag = "coverage", security(("token" = [])),
    params(("id" = i64, Path)), request_body = AssetInput,
    responses((status = 200, body = Asset), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_asset(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<AssetInput>,
) -> ApiResult<Json<Asset>> {
    Ok(Json(s.store.update_asset(&actor, id(&raw)?, body).await?))
}

/// An organisation's contracts with their balances (its members and staff).
#[utoipa::path(get, path = "/organisations/{id}/contracts", tag = "coverage", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Vec<ContractBalance>), (status = 404, body = ErrorBody)))]
pub async fn organisation_contracts(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<Vec<ContractBalance>>> {
    Ok(Json(
        s.store.organisation_contracts(&actor, id(&raw)?).await?,
    ))
}

/// Whether Tuki decides who pays for each request.
#[utoipa::path(get, path = "/coverage-settings", tag = "coverage", security(("token" = [])),
    responses((status = 200, body = CoverageSettings), (status = 401, body = ErrorBody)))]
pub async fn get_coverage_settings(
    State(s): State<AppState>,
    Auth(_actor): Auth,
) -> ApiResult<Json<CoverageSettings>> {
    Ok(Json(s.store.coverage_settings().await?))
}

/// Turns the decisions on or off (administrators).
#[utoipa::path(put, path = "/coverage-settings", tag = "coverage", security(("token" = [])), request_body = CoverageSettings,
    responses((status = 200, body = CoverageSettings), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_coverage_settings(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<CoverageSettings>,
) -> ApiResult<Json<CoverageSettings>> {
    Ok(Json(s.store.set_coverage_settings(&actor, body).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LangParams {
    /// The language of the reasons and messages: `fi` or `en` (default).
    pub lang: Option<Language>,
}

/// Who pays for the request: warranty (until), contract (which; hours
/// left), billable (rate card; on-call) or not covered, with the reasons.
#[utoipa::path(get, path = "/tickets/{id}/coverage", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path), LangParams), responses((status = 200, body = TicketCoverage), (status = 404, body = ErrorBody)))]
pub async fn ticket_coverage(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiQuery(p): ApiQuery<LangParams>,
) -> ApiResult<Json<TicketCoverage>> {
    let lang = p.lang.unwrap_or(Language::En);
    Ok(Json(
        s.store.ticket_coverage(&actor, id(&raw)?, lang).await?,
    ))
}

/// Overrides who pays (staff), with a reason; `kind` absent clears it.
#[utoipa::path(put, path = "/tickets/{id}/coverage", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path), LangParams), request_body = CoverageOverrideInput,
    responses((status = 200, body = TicketCoverage), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn override_coverage(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiQuery(p): ApiQuery<LangParams>,
    ApiJson(body): ApiJson<CoverageOverrideInput>,
) -> ApiResult<Json<TicketCoverage>> {
    let lang = p.lang.unwrap_or(Language::En);
    Ok(Json(
        s.store
            .override_coverage(&actor, id(&raw)?, body, lang)
            .await?,
    ))
}

/// Names the device the request is about (one of the requester's), or
/// none; who pays is decided again.
#[utoipa::path(put, path = "/tickets/{id}/asset", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path), LangParams), request_body = TicketAssetInput,
    responses((status = 200, body = TicketCoverage), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_ticket_asset(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiQuery(p): ApiQuery<LangParams>,
    ApiJson(body): ApiJson<TicketAssetInput>,
) -> ApiResult<Json<TicketCoverage>> {
    let lang = p.lang.unwrap_or(Language::En);
    Ok(Json(
        s.store
            .set_ticket_asset(&actor, id(&raw)?, body, lang)
            .await?,
    ))
}

/// The time booked on the request (staff).
#[utoipa::path(get, path = "/tickets/{id}/time-entries", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Vec<TimeEntry>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_time_entries(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<Vec<TimeEntry>>> {
    Ok(Json(s.store.time_entries(&actor, id(&raw)?).await?))
}

/// Books time on the request (staff). Billable time on a request an hour
/// bank pays for draws its balance; past zero only with `over_balance`
/// (409 naming `minutes` otherwise).
#[utoipa::path(post, path = "/tickets/{id}/time-entries", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path), LangParams), request_body = TimeEntryInput,
    responses((status = 201, body = TimeEntry), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn log_time(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiQuery(p): ApiQuery<LangParams>,
    ApiJson(body): ApiJson<TimeEntryInput>,
) -> ApiResult<(StatusCode, Json<TimeEntry>)> {
    let lang = p.lang.unwrap_or(Language::En);
    Ok((
        StatusCode::CREATED,
        Json(s.store.log_time(&actor, id(&raw)?, body, lang).await?),
    ))
}

/// Removes a booking (its author or an administrator); drawn minutes go
/// back to the contract.
#[utoipa::path(delete, path = "/tickets/{id}/time-entries/{entry_id}", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path), ("entry_id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_time_entry(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((raw, entry)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.store
        .delete_time_entry(&actor, id(&raw)?, id(&entry)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Materials used on the request (staff).
#[utoipa::path(get, path = "/tickets/{id}/materials", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Vec<MaterialUse>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_material_uses(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Json<Vec<MaterialUse>>> {
    Ok(Json(s.store.material_uses(&actor, id(&raw)?).await?))
}

/// Records material used on the request (staff), at the catalogue's price.
#[utoipa::path(post, path = "/tickets/{id}/materials", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path)), request_body = MaterialUseInput,
    responses((status = 201, body = MaterialUse), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn use_material(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<MaterialUseInput>,
) -> ApiResult<(StatusCode, Json<MaterialUse>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.store.use_material(&actor, id(&raw)?, body).await?),
    ))
}

/// Removes a material use (not on an invoiced statement).
#[utoipa::path(delete, path = "/tickets/{id}/materials/{use_id}", tag = "tickets", security(("token" = [])),
    params(("id" = i64, Path), ("use_id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_material_use(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((raw, use_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.store
        .delete_material_use(&actor, id(&raw)?, id(&use_id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatementParams {
    pub organisation_id: i64,
    /// The first day: `2026-11-01` or `1.11.2026`.
    pub from: String,
    /// The last day.
    pub to: String,
    /// `fi` or `en` (default): the language of the lines' texts.
    pub lang: Option<Language>,
}

/// The statement of a period not yet invoiced: warranty, contract parts
/// (hours before and after) and billable lines with VAT. Staff, or the
/// organisation's own members.
#[utoipa::path(get, path = "/statements", tag = "coverage", security(("token" = [])), params(StatementParams),
    responses((status = 200, body = StatementView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn statement_draft(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(p): ApiQuery<StatementParams>,
) -> ApiResult<Json<StatementView>> {
    let q = StatementQuery {
        organisation_id: p.organisation_id,
        from: p.from,
        to: p.to,
    };
    Ok(Json(
        s.store
            .statement_draft(&actor, &q, p.lang.unwrap_or(Language::En))
            .await?,
    ))
}

/// Marks a period invoiced (administrators): its totals are recorded and
/// its bookings and materials locked. 409 when it overlaps an invoiced one.
#[utoipa::path(post, path = "/statements", tag = "coverage", security(("token" = [])), params(LangParams),
    request_body = StatementQuery,
    responses((status = 201, body = StatementView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn invoice_statement(
    State(s): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(p): ApiQuery<LangParams>,
    ApiJson(body): ApiJson<StatementQuery>,
) -> ApiResult<(StatusCode, Json<StatementView>)> {
    let made = s
        .store
        .invoice_statement(&actor, &body, p.lang.unwrap_or(Language::En))
        .await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// An invoiced statement.
#[utoipa::path(get, path = "/statements/{id}", tag = "coverage", security(("token" = [])),
    params(("id" = i64, Path), LangParams), responses((status = 200, body = StatementView), (status = 404, body = ErrorBody)))]
pub async fn get_statement(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(raw): Path<String>,
    ApiQuery(p): ApiQuery<LangParams>,
) -> ApiResult<Json<StatementView>> {
    Ok(Json(
        s.store
            .statement(&actor, id(&raw)?, p.lang.unwrap_or(Language::En))
            .await?,
    ))
}
