//! `/admin/files`: what the desk's files take, where new ones go, the quota,
//! and the files whose stored bytes were found missing or damaged (each
//! also reported to the administrators when found).

use axum::extract::State;
use minijinja::context;

use super::auth::{admin_only, Viewer};
use super::render::PageResult;
use crate::AppState;

pub async fn overview(State(state): State<AppState>, v: Viewer) -> PageResult {
    admin_only(&v)?;
    let (usage, damaged) = state
        .store
        .files_overview(&v.actor)
        .await
        .map_err(|e| v.err(e))?;
    let size = super::console::size;
    let damaged: Vec<_> = damaged
        .iter()
        .map(|d| {
            context! {
                sha256 => &d.sha256,
                short => &d.sha256[..12],
                size => size(d.size),
                location => &d.location,
                found => super::render::when(d.found_at),
                ticket => d.ticket_number,
                file_name => &d.file_name,
            }
        })
        .collect();
    super::admin::page(
        &state,
        &v,
        "admin_files.html",
        "files",
        context! {
            usage => &usage,
            bytes => size(usage.bytes),
            quota => usage.quota.map(|q| size(i64::try_from(q).unwrap_or(i64::MAX))),
            left => usage
                .quota
                .map(|q| size(i64::try_from(q).unwrap_or(i64::MAX).saturating_sub(usage.bytes))),
            file_max => size(i64::try_from(usage.file_max).unwrap_or(i64::MAX)),
            damaged => damaged,
        },
        None,
    )
    .await
}
