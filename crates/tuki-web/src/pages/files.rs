//! Static assets embedded in the binary, and attachments: saving uploads
//! content-addressed under the data folder and serving them back after the
//! ticket's access check.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tuki_store::attachments::{blob_path, write_blob, NewAttachment};

use super::auth::{Upload, Viewer};
use super::render::{PageError, PageResult};
use crate::AppState;

const HTMX: &[u8] = include_bytes!("../../assets/htmx.min.js");
const CSS: &[u8] = include_bytes!("../../assets/tuki.css");
const JS: &[u8] = include_bytes!("../../assets/tuki.js");

/// `/assets/{name}`. Names carry a version (`tuki.css?v=…` in templates is
/// not needed: assets change only with the binary), so a day of caching is
/// safe; htmx is versioned by its own file and cached for a year.
pub async fn asset(Path(name): Path<String>) -> Response {
    let (bytes, ctype, cache) = match name.as_str() {
        "htmx-2.0.11.min.js" => (
            HTMX,
            "text/javascript; charset=utf-8",
            "public, max-age=31536000, immutable",
        ),
        "tuki.css" => (CSS, "text/css; charset=utf-8", "public, max-age=86400"),
        "tuki.js" => (
            JS,
            "text/javascript; charset=utf-8",
            "public, max-age=86400",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response()
}

/// Writes uploads to disk, to be listed on the article written with them
/// (`add_article_with_files`, `create_ticket_with_files`: in the article's
/// transaction, so that the mail about the article carries its files).
pub async fn save_uploads(
    state: &AppState,
    viewer: &Viewer,
    files: Vec<Upload>,
) -> Result<Vec<NewAttachment>, PageError> {
    let dir = state.web.data_dir.clone();
    let mut new = Vec::new();
    for f in files {
        let dir = dir.clone();
        let bytes = f.bytes.clone();
        let sha = tokio::task::spawn_blocking(move || write_blob(&dir, &bytes))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "attachment writer panicked");
                PageError::store(
                    viewer.lang,
                    tuki_store::StoreError::forbidden("cannot store"),
                )
            })?
            .map_err(|e| {
                tracing::error!(error = %e, "cannot write an attachment");
                PageError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    viewer.lang,
                    super::i18n::t(viewer.lang, "error.internal"),
                )
            })?;
        new.push(NewAttachment {
            sha256: sha,
            size: f.bytes.len() as i64,
            content_type: sniff_type(&f.content_type),
            file_name: f.file_name,
        });
    }
    Ok(new)
}

/// A new request with its files, from a page: checked first, so that a
/// refused one leaves no file; then the files are written and listed on its
/// first article in the ticket's transaction. The outer error is a page
/// error (a file could not be written), the inner one the store's answer.
pub async fn create_ticket(
    state: &AppState,
    viewer: &Viewer,
    new: tuki_store::tickets::NewTicket,
    uploads: Vec<Upload>,
) -> Result<Result<tuki_store::tickets::Ticket, tuki_store::StoreError>, PageError> {
    if let Err(e) = state.store.check_new_ticket(&viewer.actor, &new) {
        return Ok(Err(e));
    }
    let files = save_uploads(state, viewer, uploads).await?;
    Ok(state
        .store
        .create_ticket_with_files(&viewer.actor, new, files)
        .await)
}

/// Keeps a plain `type/subtype` from the browser, else a generic type.
fn sniff_type(raw: &str) -> String {
    let t = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let ok = t.split_once('/').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/.+-_".contains(c))
    });
    if ok {
        t
    } else {
        "application/octet-stream".into()
    }
}

/// Types a browser may show inline without risk to Tuki's origin; anything
/// else (HTML, SVG, scripts…) is a download.
fn inline_safe(ctype: &str) -> bool {
    matches!(
        ctype,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "application/pdf" | "text/plain"
    )
}

/// `/files/{id}/{name}`: the file, if the viewer may see its ticket and
/// article (customers never get files of internal notes).
pub async fn download(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, _name)): Path<(i64, String)>,
) -> PageResult {
    let a = state
        .store
        .attachment(&viewer.actor, id)
        .await
        .map_err(|e| viewer.err(e))?;
    let path = blob_path(&state.web.data_dir, &a.sha256);
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        tracing::error!(error = %e, path = %path.display(), "attachment missing on disk");
        PageError::not_found(viewer.lang)
    })?;
    Ok(file_response(&a, bytes, inline_safe(&a.content_type)))
}

/// A stored file as a download: its type, its name (ASCII and UTF-8),
/// `inline` only for types a browser shows safely, and a policy that lets
/// nothing in it run. The pages and the API serve files through here.
pub(crate) fn file_response(
    a: &tuki_store::attachments::Attachment,
    bytes: Vec<u8>,
    inline: bool,
) -> Response {
    let disposition = if inline { "inline" } else { "attachment" };
    let ascii: String = a
        .file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .filter(|c| *c != '"' && *c != '\\')
        .collect();
    let encoded: String = form_urlencoded::byte_serialize(a.file_name.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let cd = format!("{disposition}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&a.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&cd).unwrap_or(HeaderValue::from_static("attachment")),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    res
}
