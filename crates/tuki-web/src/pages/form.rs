//! Posted forms: URL-encoded, or multipart with files. Files stream into
//! the store's files a chunk at a time as they arrive ([`Store::start_upload`]),
//! so an upload of any size takes the same memory; the per-file limit and
//! the desk's quota are checked as the bytes come. Only forms that take
//! files accept them (see [`super::auth::Posted`]); on every other form a
//! file is refused before a byte of it is stored.
//!
//! [`Store::start_upload`]: tuki_store::Store::start_upload

use axum::body::Bytes;
use axum::extract::multipart::Field;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use tuki_store::files::StoredBlob;
use tuki_store::StoreError;

use super::i18n::{self, Lang};
use super::render::PageError;
use crate::AppState;

/// The most bytes of one text field of a multipart form.
const TEXT_MAX: usize = 1024 * 1024;

/// A file posted with a form, already stored.
pub struct Upload {
    pub file_name: String,
    pub content_type: String,
    pub blob: StoredBlob,
}

/// The fields and files of a posted form.
#[derive(Default)]
pub struct Form {
    pub fields: Vec<(String, String)>,
    pub files: Vec<Upload>,
}

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A field, trimmed, `None` when empty.
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").to_string()
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        self.opt(name)
            .and_then(|v| v.trim_start_matches('#').parse().ok())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn bad_form(lang: Lang) -> Response {
    PageError::bad_request(lang, i18n::t(lang, "error.bad_form")).into_response()
}

fn body_too_large(state: &AppState, lang: Lang) -> Response {
    let mb = (state.store.files_config().file_max / (1024 * 1024)).to_string();
    let message = i18n::tf(lang, "error.body_too_large", &[("max", &mb)]);
    PageError::new(StatusCode::PAYLOAD_TOO_LARGE, lang, message).into_response()
}

/// The most bytes a form with files may have: a few files at the limit.
pub fn upload_body_max(state: &AppState) -> usize {
    let file_max = state.store.files_config().file_max;
    usize::try_from(file_max.saturating_mul(4).saturating_add(1024 * 1024)).unwrap_or(usize::MAX)
}

/// Reads a form body: URL-encoded or multipart. With `files`, file fields
/// are stored; without, a form carrying a file is refused.
pub async fn read_form(
    req: Request,
    state: &AppState,
    lang: Lang,
    files: bool,
) -> Result<Form, Response> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let mut form = Form::default();
    if !multipart {
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                body_too_large(state, lang)
            } else {
                bad_form(lang)
            }
        })?;
        form.fields = form_urlencoded::parse(&body).into_owned().collect();
        return Ok(form);
    }
    let mut mp = Multipart::from_request(req, state)
        .await
        .map_err(|_| bad_form(lang))?;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(body_too_large(state, lang))
            }
            Err(_) => return Err(bad_form(lang)),
        };
        let name = field.name().unwrap_or("").to_string();
        match field.file_name().map(str::to_string) {
            Some(file_name) => match store_file(state, lang, field, file_name, files).await {
                Ok(Some(upload)) => form.files.push(upload),
                Ok(None) => {}
                Err(refused) => {
                    // Read the rest before answering: a client still sending
                    // would otherwise see the connection close, not the answer.
                    drain(mp).await;
                    return Err(refused);
                }
            },
            None => {
                let text = read_text(field).await.map_err(|status| {
                    if status == StatusCode::PAYLOAD_TOO_LARGE {
                        body_too_large(state, lang)
                    } else {
                        bad_form(lang)
                    }
                })?;
                form.fields.push((name, text));
            }
        }
    }
    Ok(form)
}

/// Reads and drops what is left of a form (within the body limit).
async fn drain(mut mp: Multipart) {
    while let Ok(Some(mut field)) = mp.next_field().await {
        while let Ok(Some(_)) = field.chunk().await {}
    }
}

/// A text field, at most [`TEXT_MAX`] bytes.
async fn read_text(mut field: Field<'_>) -> Result<String, StatusCode> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| e.status())? {
        if buf.len() + chunk.len() > TEXT_MAX {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| StatusCode::BAD_REQUEST)
}

/// Stores one file field as it arrives; `None` for an empty file input.
async fn store_file(
    state: &AppState,
    lang: Lang,
    mut field: Field<'_>,
    file_name: String,
    accepted: bool,
) -> Result<Option<Upload>, Response> {
    let content_type = field
        .content_type()
        .unwrap_or("application/octet-stream")
        .to_string();
    let refused = |e: StoreError| PageError::store(lang, e).into_response();
    let start = || async {
        if !accepted {
            return Err(
                PageError::bad_request(lang, i18n::t(lang, "error.no_files_here")).into_response(),
            );
        }
        state.store.start_upload(&file_name).await.map_err(refused)
    };
    let mut upload = None;
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                if let Some(u) = upload {
                    tuki_store::files::BlobUpload::abort(u).await;
                }
                return Err(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    body_too_large(state, lang)
                } else {
                    bad_form(lang)
                });
            }
        };
        if chunk.is_empty() {
            continue;
        }
        if upload.is_none() {
            upload = Some(start().await?);
        }
        let writing = upload.as_mut().expect("started just above");
        if let Err(e) = writing.write(&chunk).await {
            if let Some(u) = upload.take() {
                u.abort().await;
            }
            return Err(refused(e));
        }
    }
    let upload = match upload {
        Some(u) => u,
        None if file_name.is_empty() => return Ok(None), // an empty file input
        None => start().await?,                          // an empty file, named
    };
    let blob = upload.finish().await.map_err(refused)?;
    Ok(Some(Upload {
        file_name,
        content_type,
        blob,
    }))
}
