//! `/admin/import`: products, devices and contracts from a spreadsheet's
//! CSV file, with the report of every wrong row (row, column, why); nothing
//! is imported from a file with wrong rows unless the administrator asks
//! for the good rows only.

use axum::extract::State;
use minijinja::context;
use tuki_store::coverage::ImportKind;

use crate::pages::auth::{admin_only, Posted, Viewer};
use crate::pages::render::{Mistake, PageResult};
use crate::AppState;

fn kinds() -> Vec<&'static str> {
    ImportKind::ALL.iter().map(|k| k.as_str()).collect()
}

pub async fn page(State(state): State<AppState>, v: Viewer) -> PageResult {
    admin_only(&v)?;
    crate::pages::admin::page(
        &state,
        &v,
        "admin_import.html",
        "import",
        context! { kinds => kinds() },
        None,
    )
    .await
}

pub async fn import(
    State(state): State<AppState>,
    Posted {
        viewer: v,
        mut form,
    }: Posted<true>,
) -> PageResult {
    admin_only(&v)?;
    let kind = match ImportKind::parse("kind", &form.text("kind")) {
        Ok(k) => k,
        Err(e) => {
            let m = Mistake::of(v.lang, &e.into());
            return crate::pages::admin::page(
                &state,
                &v,
                "admin_import.html",
                "import",
                context! { kinds => kinds() },
                m,
            )
            .await;
        }
    };
    let skip_bad = form.get("skip_bad").is_some();
    let Some(file) = std::mem::take(&mut form.files).into_iter().next() else {
        let m = Some(Mistake::invalid(crate::pages::i18n::t(
            v.lang,
            "import.no_file",
        )));
        return crate::pages::admin::page(
            &state,
            &v,
            "admin_import.html",
            "import",
            context! { kinds => kinds() },
            m,
        )
        .await;
    };
    // The upload went into the blob store as it arrived; the sweep removes
    // it later, as nothing refers to it.
    let bytes = state
        .store
        .read_blob(&file.blob.sha256)
        .await
        .map_err(|e| v.err(e))?;
    let report = state
        .store
        .import_csv(&v.actor, kind, &bytes, skip_bad, |_, _| {})
        .await
        .map_err(|e| v.err(e))?;
    crate::pages::admin::page(
        &state,
        &v,
        "admin_import.html",
        "import",
        context! {
            kinds => kinds(), chosen => kind.as_str(), file => &file.file_name,
            report => context! {
                rows => report.rows, imported => report.imported, encoding => report.encoding,
                errors => report.errors.iter().map(|e| context! { row => e.row, column => &e.column, message => &e.message }).collect::<Vec<_>>(),
            },
        },
        None,
    )
    .await
}
