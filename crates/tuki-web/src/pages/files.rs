//! Static assets embedded in the binary, and attachments: listing stored
//! uploads on their article and streaming files back after the ticket's
//! access check.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tuki_store::attachments::NewAttachment;

use super::auth::{Upload, Viewer};
use super::render::PageResult;
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

/// Files stored with a form ([`super::form`]), to be listed on the article
/// written with them (`add_article_with_files`, `create_ticket_with_files`:
/// in the article's transaction, so that the mail about the article carries
/// its files).
pub fn attachments(uploads: Vec<Upload>) -> Vec<NewAttachment> {
    uploads
        .into_iter()
        .map(|f| NewAttachment {
            sha256: f.blob.sha256,
            size: f.blob.size,
            content_type: sniff_type(&f.content_type),
            file_name: f.file_name,
        })
        .collect()
}

/// A new request with its files (stored as the form arrived), from a page:
/// checked first, so that a refused one is answered before anything is
/// written; the files are listed on its first article in the ticket's
/// transaction. A refused request's files are left to the sweep.
pub async fn create_ticket(
    state: &AppState,
    viewer: &Viewer,
    new: tuki_store::tickets::NewTicket,
    uploads: Vec<Upload>,
) -> Result<tuki_store::tickets::Ticket, tuki_store::StoreError> {
    state.store.check_new_ticket(&viewer.actor, &new)?;
    state
        .store
        .create_ticket_with_files(&viewer.actor, new, attachments(uploads))
        .await
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
pub(crate) fn inline_safe(ctype: &str) -> bool {
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
    let body = file_body(&state, &a).await.map_err(|e| viewer.err(e))?;
    Ok(file_response(&a, body, inline_safe(&a.content_type)))
}

/// The bytes of a stored file as a response body, streamed, after the store
/// has read them once and found them whole (else the error to answer).
pub(crate) async fn file_body(
    state: &AppState,
    a: &tuki_store::attachments::Attachment,
) -> Result<(i64, Body), tuki_store::StoreError> {
    let (size, stream) = state.store.open_blob(&a.sha256).await?;
    Ok((size, Body::from_stream(stream)))
}

/// A stored file as a download: its type, its name (ASCII and UTF-8),
/// `inline` only for types a browser shows safely, and a policy that lets
/// nothing in it run. The pages and the API serve files through here.
pub(crate) fn file_response(
    a: &tuki_store::attachments::Attachment,
    body: (i64, Body),
    inline: bool,
) -> Response {
    named_file_response(&a.file_name, &a.content_type, body, inline)
}

/// [`file_response`] by a file's name and type (knowledge articles' files).
pub(crate) fn named_file_response(
    file_name: &str,
    content_type: &str,
    (size, body): (i64, Body),
    inline: bool,
) -> Response {
    let disposition = if inline { "inline" } else { "attachment" };
    let ascii: String = file_name
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
    let encoded: String = form_urlencoded::byte_serialize(file_name.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let cd = format!("{disposition}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(size.max(0) as u64),
    );
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type)
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
