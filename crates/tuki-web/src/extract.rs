//! Request extractors that turn every kind of bad input into a clear
//! [`AppError`] naming the field, instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use tuki_domain::access::Actor;

use crate::error::AppError;
use crate::AppState;

/// A JSON body, deserialized with the path of the offending field kept.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| {
                let v = v.trim().to_ascii_lowercase();
                v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(AppError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::Malformed("could not read the request body".into())
            }
        })?;
        // Every body Tuki takes is an object; serde would otherwise read a
        // struct from an array, and report the error at "[0]".
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => parse_json(&bytes).map(ApiJson),
            None => Err(AppError::Malformed("the request body is empty".into())),
            Some(_) => match serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
                Ok(_) => Err(AppError::invalid("body", "must be a JSON object")),
                Err(e) => Err(AppError::Malformed(format!(
                    "the body is not valid JSON: {}",
                    strip_position(&e.to_string())
                ))),
            },
        }
    }
}

/// Parses JSON, mapping serde's errors: broken syntax is a 400, a value of
/// the wrong shape a 422 naming the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = strip_position(&inner.to_string());
                field_error(&path, &message)
            }
            _ => AppError::Malformed(format!(
                "the body is not valid JSON: {}",
                strip_position(&inner.to_string())
            )),
        }
    })
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Builds the 422 for a deserialization error at `path`. Missing and unknown
/// fields are reported at their parent, so the name is taken from the message.
fn field_error(path: &str, message: &str) -> AppError {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split('`').next());
    let field = match (named, path) {
        (Some(name), "." | "") => name.to_string(),
        (Some(name), p) if p == name || p.ends_with(&format!(".{name}")) => p.to_string(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, "." | "") => "body".to_string(),
        (None, p) => p.to_string(),
    };
    let message = match message.split_once(", expected one of") {
        Some((head, _)) if message.starts_with("unknown field") => {
            format!("{head} is not accepted here")
        }
        _ => message.to_string(),
    };
    AppError::invalid(&field, message)
}

/// Query parameters, with the same error mapping as [`ApiJson`].
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        // An empty value is no value (`?q=&state=` filters on nothing), as
        // a form left blank sends it.
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|err| {
                let path = err.path().to_string();
                field_error(&path, &err.into_inner().to_string())
            })
    }
}

/// The caller, from `Authorization: Bearer <token>`.
pub struct Auth(pub Actor);

impl FromRequestParts<AppState> for Auth {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(AppError::Unauthorized)?;
        match state.store.actor_for_token(token).await? {
            Some(actor) => Ok(Auth(actor)),
            None => Err(AppError::Unauthorized),
        }
    }
}

/// Parses an id from the path; anything that is not a positive number names
/// nothing that exists.
pub fn id(raw: &str) -> Result<i64, AppError> {
    raw.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or(AppError::NotFound)
}
