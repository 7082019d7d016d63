//! Headers every answer carries, pages and API alike.
//!
//! - `Content-Security-Policy`: scripts, styles, images, frames and
//!   connections only from Tuki itself. The one inline style is the frame
//!   that shows an email's own formatting (a `srcdoc` document inherits this
//!   policy); it is allowed by its hash. No page may be framed by another
//!   site (`frame-ancestors 'none'`). A downloaded file keeps its own,
//!   stricter policy.
//! - `X-Content-Type-Options: nosniff`: a downloaded file is what its type
//!   says, never run as something else.
//! - `Referrer-Policy: same-origin`: links out of Tuki (in mail, in the
//!   knowledge base) do not tell other sites which ticket they came from.
//! - `Strict-Transport-Security` when the request came over HTTPS (through a
//!   proxy that says so): browsers then keep to HTTPS.

use std::sync::LazyLock;

use axum::extract::Request;
use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::pages::console::MAIL_FRAME_STYLE;

static POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let frame_style = base64::engine::general_purpose::STANDARD
        .encode(Sha256::digest(MAIL_FRAME_STYLE.as_bytes()));
    HeaderValue::from_str(&format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'sha256-{frame_style}'; \
         img-src 'self' data:; frame-src 'self'; frame-ancestors 'none'; base-uri 'self'; \
         form-action 'self'; object-src 'none'"
    ))
    .expect("the policy is a valid header value")
});

pub async fn headers(req: Request, next: Next) -> Response {
    let https = req
        .headers()
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // A downloaded file keeps the stricter policy it was served with
    // (`sandbox; default-src 'none'`).
    if !h.contains_key(CONTENT_SECURITY_POLICY) {
        h.insert(CONTENT_SECURITY_POLICY, POLICY.clone());
    }
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if https {
        h.insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    res
}
