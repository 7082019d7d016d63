//! Raw message bytes into a plain [`InboundMessage`].
//!
//! mail-parser does the decoding (charsets, encoded words, quoted-printable,
//! base64, RFC 2231 parameters); this module decides what Tuki keeps: one
//! text body, an optional sanitised HTML body for display, attachments with
//! their bytes, forwarded messages, and the headers threading and robot
//! detection need.

use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::classify::{classify, Classification};
use crate::quote::trim_quoted;

/// Messages larger than this are refused before parsing; mail servers
/// commonly cap at 25–50 MB, so anything beyond is not a help request.
pub const MAX_RAW_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("the message is empty")]
    Empty,
    #[error("the message is {0} bytes, more than the {MAX_RAW_BYTES} Tuki accepts")]
    TooLarge(usize),
    #[error("no RFC 5322 header block could be read")]
    NoHeaders,
    #[error("the message has no sender address (From)")]
    NoSender,
}

/// A person or robot named in an address header. The address is
/// lower-cased: Tuki's users are looked up by it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mailbox {
    pub address: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// Decoded file name (RFC 2231 / encoded words), or one made from the
    /// content type when the sender gave none.
    pub filename: String,
    pub content_type: String,
    /// Without angle brackets; HTML bodies refer to inline images by it.
    pub content_id: Option<String>,
    /// Shown in the body rather than listed (inline images).
    pub inline: bool,
    #[serde(skip)]
    pub bytes: Vec<u8>,
    pub size: usize,
}

/// A message attached as `message/rfc822`, as mail clients forward "as
/// attachment". Its raw bytes are also among the attachments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Forwarded {
    pub message_id: Option<String>,
    pub from: Option<Mailbox>,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboundMessage {
    /// Without angle brackets. When the sender gave none, a stable one is
    /// made from a hash of the raw bytes, so a re-delivered copy is still
    /// recognised as the same message.
    pub message_id: String,
    pub message_id_synthetic: bool,
    pub in_reply_to: Vec<String>,
    /// Oldest first, as in the header.
    pub references: Vec<String>,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub subject: String,
    /// Seconds since the Unix epoch, from the Date header.
    pub date: Option<i64>,
    /// The whole text body: the text/plain alternative, else the HTML one
    /// rendered as text.
    pub text: String,
    /// The text without the quoted history of earlier messages.
    pub display_text: String,
    /// The HTML alternative after sanitising, for display only.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    pub forwarded: Vec<Forwarded>,
    pub classification: Classification,
}

impl InboundMessage {
    /// The address answers should go to: Reply-To when given, else From.
    pub fn reply_address(&self) -> &Mailbox {
        self.reply_to.as_ref().unwrap_or(&self.from)
    }
}

/// Parses a raw message. Fails only when there is no usable header block or
/// no sender; a message with broken parts still yields what could be read.
pub fn parse(raw: &[u8]) -> Result<InboundMessage, ParseError> {
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::Empty);
    }
    if raw.len() > MAX_RAW_BYTES {
        return Err(ParseError::TooLarge(raw.len()));
    }
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(ParseError::NoHeaders)?;
    if msg.headers().is_empty() {
        return Err(ParseError::NoHeaders);
    }
    let from = msg
        .from()
        .and_then(first_mailbox)
        .or_else(|| msg.sender().and_then(first_mailbox))
        .ok_or(ParseError::NoSender)?;

    let (message_id, message_id_synthetic) = match msg.message_id().and_then(clean_id) {
        Some(id) => (id, false),
        None => (synthetic_id(raw), true),
    };
    let cut_body = unplaced_text_part(&msg);
    let text = match cut_body.and_then(|i| msg.parts.get(i)) {
        Some(part) => clean_text(
            &part
                .text_contents()
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(part.contents()).into_owned()),
        ),
        None => body_text(&msg),
    };
    let display_text = trim_quoted(&text);
    let html = msg
        .body_html(0)
        .filter(|_| msg.html_body_count() > 0 && has_html_part(&msg))
        .map(|h| sanitize_html(&h));
    let (attachments, forwarded) = attachments(&msg, cut_body);
    let classification = classify(&msg, &from);

    Ok(InboundMessage {
        message_id,
        message_id_synthetic,
        in_reply_to: id_list(msg.in_reply_to()),
        references: id_list(msg.references()),
        from,
        reply_to: msg.reply_to().and_then(first_mailbox),
        to: mailboxes(msg.to()),
        cc: mailboxes(msg.cc()),
        subject: clean_line(msg.subject().unwrap_or("")),
        date: msg.date().map(|d| d.to_timestamp()),
        text,
        display_text,
        html,
        attachments,
        forwarded,
        classification,
    })
}

/// A Message-ID without brackets or white space; `None` when nothing is left.
pub(crate) fn clean_id(raw: &str) -> Option<String> {
    let id: String = raw
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    (!id.is_empty() && id.len() <= 500).then_some(id)
}

fn synthetic_id(raw: &[u8]) -> String {
    format!("{}@tuki.invalid", hex::encode(Sha256::digest(raw)))
}

fn id_list(v: &HeaderValue<'_>) -> Vec<String> {
    let raw: Vec<&str> = match v {
        HeaderValue::Text(t) => vec![t.as_ref()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.as_ref()).collect(),
        _ => Vec::new(),
    };
    let mut out: Vec<String> = Vec::new();
    for id in raw.into_iter().filter_map(clean_id) {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

fn mailbox(a: &mail_parser::Addr<'_>) -> Option<Mailbox> {
    let address = a.address.as_deref()?.trim().to_lowercase();
    if !address.contains('@') {
        return None;
    }
    Some(Mailbox {
        address,
        name: a.name.as_deref().map(clean_line).filter(|n| !n.is_empty()),
    })
}

fn first_mailbox(a: &Address<'_>) -> Option<Mailbox> {
    a.iter().find_map(mailbox)
}

fn mailboxes(a: Option<&Address<'_>>) -> Vec<Mailbox> {
    a.map(|a| a.iter().filter_map(mailbox).collect())
        .unwrap_or_default()
}

/// One line of display text: folded white space, no control characters
/// (the store refuses them, and a subject with a NUL is an attack, not a
/// request).
pub(crate) fn clean_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Multi-line text with line breaks normalised and control characters
/// other than tab removed.
pub(crate) fn clean_text(s: &str) -> String {
    let s = s.replace("\r\n", "\n").replace('\r', "\n");
    s.chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect::<String>()
        .trim_end()
        .to_string()
}

fn has_html_part(msg: &Message<'_>) -> bool {
    msg.html_body.iter().any(|&i| {
        matches!(
            msg.parts.get(i as usize).map(|p| &p.body),
            Some(PartType::Html(_))
        )
    })
}

/// The text of the message: every text/plain body part (a multipart/mixed
/// message can have several, around an attachment), or the HTML rendered as
/// text when the sender only wrote HTML.
fn body_text(msg: &Message<'_>) -> String {
    let mut parts = Vec::new();
    for i in 0..msg.text_body_count() {
        let is_text_part = msg
            .text_body
            .get(i)
            .and_then(|&p| msg.parts.get(p as usize))
            .is_some_and(|p| matches!(p.body, PartType::Text(_) | PartType::Html(_)));
        if is_text_part {
            if let Some(t) = msg.body_text(i) {
                parts.push(clean_text(&t));
            }
        }
    }
    parts.retain(|p| !p.trim().is_empty());
    parts.join("\n\n")
}

/// Keeps the HTML a reader needs and nothing that runs: ammonia's defaults
/// (no scripts, styles, event handlers or forms), plus `cid:` links so the
/// display can point inline images at their attachments. Remote images are
/// dropped: an agent opening a ticket must not tell a tracker so.
pub fn sanitize_html(html: &str) -> String {
    let mut schemes = ammonia::Builder::default().clone_url_schemes();
    schemes.insert("cid");
    ammonia::Builder::default()
        .url_schemes(schemes)
        .attribute_filter(|element, attribute, value| {
            if element == "img" && attribute == "src" && !value.starts_with("cid:") {
                None
            } else {
                Some(value.into())
            }
        })
        .clean(html)
        .to_string()
}

/// A plain-text part the parser did not take as the body although the
/// message has no other text: the last part of a multipart whose closing
/// boundary never came (a client or a relay cut it off). It is the body;
/// otherwise the customer's words would only be a `.txt` file.
fn unplaced_text_part(msg: &Message<'_>) -> Option<usize> {
    if !body_text(msg).trim().is_empty() {
        return None;
    }
    msg.parts.iter().position(|p| {
        let plain = p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("text")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("plain"))
        });
        plain
            && p.attachment_name().is_none()
            && !p.content_disposition().is_some_and(|d| d.is_attachment())
            && !matches!(p.body, PartType::Multipart(_) | PartType::Message(_))
    })
}

/// The message's files; `body` is a part taken as the body although the
/// parser did not (see [`unplaced_text_part`]).
fn attachments(msg: &Message<'_>, body: Option<usize>) -> (Vec<Attachment>, Vec<Forwarded>) {
    let mut out = Vec::new();
    let mut forwarded = Vec::new();
    for (i, part) in msg.parts.iter().enumerate() {
        if body == Some(i) {
            continue;
        }
        let i = i as u32;
        let is_body = (msg.text_body.contains(&i) || msg.html_body.contains(&i))
            && matches!(part.body, PartType::Text(_) | PartType::Html(_));
        if is_body {
            continue;
        }
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_string(),
            })
            .unwrap_or_else(|| "application/octet-stream".into())
            .to_lowercase();
        let bytes = match &part.body {
            PartType::Multipart(_) => continue,
            PartType::Message(m) => {
                forwarded.push(Forwarded {
                    message_id: m.message_id().and_then(clean_id),
                    from: m.from().and_then(first_mailbox),
                    subject: clean_line(m.subject().unwrap_or("")),
                    text: body_text(m),
                });
                m.raw_message().to_vec()
            }
            _ => part.contents().to_vec(),
        };
        let content_id = part.content_id().and_then(clean_id);
        let inline = matches!(part.body, PartType::InlineBinary(_))
            || part.content_disposition().is_some_and(|d| d.is_inline()) && content_id.is_some();
        let filename = part
            .attachment_name()
            .map(clean_filename)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| default_name(out.len() + 1, &content_type, &part.body));
        out.push(Attachment {
            filename,
            content_type,
            content_id,
            inline,
            size: bytes.len(),
            bytes,
        });
    }
    (out, forwarded)
}

/// A file name safe to offer for download: no directories, no control
/// characters, bounded length.
fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut s = clean_line(base);
    s = s.trim_matches('.').to_string();
    if s.chars().count() > 200 {
        s = s.chars().take(200).collect();
    }
    s
}

fn default_name(n: usize, content_type: &str, body: &PartType<'_>) -> String {
    let ext = match (content_type, body) {
        (_, PartType::Message(_)) => "eml",
        ("image/png", _) => "png",
        ("image/jpeg", _) => "jpg",
        ("image/gif", _) => "gif",
        ("text/plain", _) => "txt",
        ("text/html", _) => "html",
        ("text/rfc822-headers", _) => "txt",
        ("message/delivery-status", _) => "txt",
        ("application/pdf", _) => "pdf",
        _ => "bin",
    };
    format!("attachment-{n}.{ext}")
}
