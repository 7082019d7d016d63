//! Site visits on the pages: the ticket page's box (the ticket's visits and
//! a form to plan one, times typed on the desk's wall clock), the
//! technician's own schedule with the secret address of its calendar feed,
//! and the feed itself (`/calendar/{token}.ics`, no session: the address is
//! the secret).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use minijinja::context;
use tuki_store::oncall::wall_instant;
use tuki_store::visits::{SiteVisit, SiteVisitInput, VisitState};
use tuki_store::StoreError;

use super::auth::{Posted, Viewer};
use super::console::actions::act;
use super::console::{base_url, staff_only};
use super::render::{render, PageError, PageResult};
use crate::AppState;

fn local(zone: &jiff::tz::TimeZone, t: jiff::Timestamp) -> String {
    t.to_zoned(zone.clone())
        .strftime("%-d.%-m.%Y %H:%M")
        .to_string()
}

fn rows(zone: &jiff::tz::TimeZone, visits: &[SiteVisit]) -> Vec<minijinja::Value> {
    visits
        .iter()
        .map(|v| {
            context! {
                id => v.id, number => v.ticket_number, subject => &v.subject,
                from => local(zone, v.starts_at),
                until => v.ends_at.to_zoned(zone.clone()).strftime("%H:%M").to_string(),
                address => &v.address, bring => &v.bring, state => v.state.as_str(),
                technician => v.technician_id,
            }
        })
        .collect()
}

/// `/agent/tickets/{number}/visits`: the box.
pub async fn visits_box(
    State(state): State<AppState>,
    v: Viewer,
    Path(number): Path<i64>,
) -> PageResult {
    staff_only(&v)?;
    let store = &state.store;
    let t = store
        .ticket_by_number(&v.actor, number)
        .await
        .map_err(|e| v.err(e))?;
    let visits = store
        .ticket_visits(&v.actor, t.id)
        .await
        .map_err(|e| v.err(e))?;
    let zone = store.desk_zone().await.map_err(|e| v.err(e))?;
    let staff = super::admin::staff(store, &v.actor)
        .await
        .map_err(|e| v.err(e))?;
    Ok(render(
        "visits_box.html",
        v.ctx(context! {
            number => number,
            visits => rows(&zone, &visits),
            staff => staff.iter().map(|u| context! { id => u.id, name => &u.name }).collect::<Vec<_>>(),
        }),
    ))
}

/// Plans a visit from the form: day, from, until, on the desk's clock.
pub async fn plan(
    State(state): State<AppState>,
    Path(number): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    let zone = state.store.desk_zone().await.map_err(|e| v.err(e))?;
    let day = form.text("day");
    let input = (|| -> Result<SiteVisitInput, StoreError> {
        Ok(SiteVisitInput {
            technician_id: form
                .int("technician_id")
                .ok_or_else(|| StoreError::invalid("technician_id", "choose the technician"))?,
            starts_at: wall_instant(&zone, "day", &day, "from", &form.text("from"))?,
            ends_at: wall_instant(&zone, "day", &day, "until", &form.text("until"))?,
            address: form.text("address"),
            bring: form.text("bring"),
            state: None,
        })
    })();
    act(&state, &v, number, |st, vv, t| async move {
        st.store.plan_visit(&vv.actor, t.id, input?).await?;
        Ok(None)
    })
    .await
}

/// Marks a visit done or cancelled.
pub async fn set_state(
    State(state): State<AppState>,
    Path((number, id)): Path<(i64, i64)>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    let to = VisitState::parse("state", &form.text("state")).map_err(|e| v.err(e.into()))?;
    act(&state, &v, number, |st, vv, _| async move {
        let old = st.store.visit(&vv.actor, id).await?;
        let input = SiteVisitInput {
            technician_id: old.technician_id,
            starts_at: old.starts_at,
            ends_at: old.ends_at,
            address: old.address,
            bring: old.bring,
            state: Some(to),
        };
        st.store.update_visit(&vv.actor, id, input).await?;
        Ok(None)
    })
    .await
}

async fn schedule_page(state: &AppState, v: &Viewer, feed: Option<String>) -> PageResult {
    staff_only(v)?;
    let me = v.id();
    let since = state.store.now() - jiff::SignedDuration::from_hours(24);
    let visits = state
        .store
        .technician_visits(&v.actor, me, since)
        .await
        .map_err(|e| v.err(e))?;
    let zone = state.store.desk_zone().await.map_err(|e| v.err(e))?;
    let groups = state.store.groups(&v.actor).await.map_err(|e| v.err(e))?;
    let side = super::console::sidebar(state, v, &groups)
        .await
        .map_err(|e| v.err(e))?;
    Ok(render(
        "my_visits.html",
        v.ctx(
            context! { queues => side, queue => "", visits => rows(&zone, &visits), feed => feed },
        ),
    ))
}

/// `/agent/visits`: my schedule.
pub async fn mine(State(state): State<AppState>, v: Viewer) -> PageResult {
    schedule_page(&state, &v, None).await
}

/// A new secret address for my calendar, shown once.
pub async fn new_feed(
    State(state): State<AppState>,
    headers: HeaderMap,
    Posted { viewer: v, .. }: Posted,
) -> PageResult {
    let token = state
        .store
        .new_calendar_feed(&v.actor)
        .await
        .map_err(|e| v.err(e))?;
    let url = format!("{}/calendar/{token}.ics", base_url(&headers));
    schedule_page(&state, &v, Some(url)).await
}

/// `/calendar/{token}.ics`: the feed.
pub async fn feed(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Result<axum::response::Response, PageError> {
    let token = file.strip_suffix(".ics").unwrap_or(&file);
    let base = base_url(&headers);
    let text = state
        .store
        .calendar_feed(token, |n| format!("{base}/agent/tickets/{n}"))
        .await
        .map_err(|e| PageError::store(super::i18n::Lang::En, e))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        text,
    )
        .into_response())
}
