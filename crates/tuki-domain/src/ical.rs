//! A technician's schedule as an iCalendar feed (RFC 5545): the subset a
//! read-only feed needs (one VEVENT per visit, times in UTC, text escaped,
//! lines folded at 75 octets on character boundaries). Written here rather
//! than with a crate: Tuki only writes this one shape, and the crates that
//! read and write the whole format bring a second date library.

use jiff::Timestamp;

/// One event of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Stable across edits: `visit-12@tuki`.
    pub uid: String,
    /// Grows with every edit, so calendar programs replace their copy.
    pub sequence: i64,
    pub stamp: Timestamp,
    pub start: Timestamp,
    pub end: Timestamp,
    pub summary: String,
    pub location: String,
    pub description: String,
    pub url: Option<String>,
    pub cancelled: bool,
}

/// `20261130T213000Z`.
fn utc(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// Text as a property value: backslash, semicolon, comma and newlines
/// escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A content line folded at 75 octets (continuations start with a space),
/// never inside a UTF-8 character, ended with CRLF.
fn push_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

/// The feed: a calendar named `name` with `events`.
pub fn calendar(name: &str, events: &[Event]) -> String {
    let mut out = String::new();
    for line in [
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".to_string(),
        "PRODID:-//Tuki//Site visits//EN".to_string(),
        "CALSCALE:GREGORIAN".to_string(),
        "METHOD:PUBLISH".to_string(),
        format!("X-WR-CALNAME:{}", escape(name)),
    ] {
        push_line(&mut out, &line);
    }
    for e in events {
        push_line(&mut out, "BEGIN:VEVENT");
        push_line(&mut out, &format!("UID:{}", escape(&e.uid)));
        push_line(&mut out, &format!("SEQUENCE:{}", e.sequence));
        push_line(&mut out, &format!("DTSTAMP:{}", utc(e.stamp)));
        push_line(&mut out, &format!("DTSTART:{}", utc(e.start)));
        push_line(&mut out, &format!("DTEND:{}", utc(e.end)));
        push_line(&mut out, &format!("SUMMARY:{}", escape(&e.summary)));
        if !e.location.is_empty() {
            push_line(&mut out, &format!("LOCATION:{}", escape(&e.location)));
        }
        if !e.description.is_empty() {
            push_line(&mut out, &format!("DESCRIPTION:{}", escape(&e.description)));
        }
        if let Some(url) = &e.url {
            push_line(&mut out, &format!("URL:{url}"));
        }
        push_line(
            &mut out,
            if e.cancelled {
                "STATUS:CANCELLED"
            } else {
                "STATUS:CONFIRMED"
            },
        );
        push_line(&mut out, "END:VEVENT");
    }
    push_line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_long_lines_folded_on_characters() {
        assert_eq!(
            escape("Tuo: letku, tiiviste; 2\\3\nkpl"),
            "Tuo: letku\\, tiiviste\\; 2\\\\3\\nkpl"
        );
        let e = Event {
            uid: "visit-1@tuki".into(),
            sequence: 0,
            stamp: "2026-11-30T10:00:00Z".parse().unwrap(),
            start: "2026-12-01T08:00:00Z".parse().unwrap(),
            end: "2026-12-01T10:00:00Z".parse().unwrap(),
            summary: "#12 Pesukone vuotaa".into(),
            location: "Hämeenkatu 1, Tampere".into(),
            description: "ä".repeat(100),
            url: None,
            cancelled: false,
        };
        let text = calendar("Huoltokäynnit", &[e]);
        assert!(text.contains("DTSTART:20261201T080000Z\r\n"));
        assert!(text.contains("LOCATION:Hämeenkatu 1\\, Tampere\r\n"));
        for line in text.split("\r\n") {
            assert!(line.len() <= 75, "{line:?} is {} octets", line.len());
        }
        // Unfolded, the description is whole.
        let unfolded = text.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("DESCRIPTION:{}\r\n", "ä".repeat(100))));
    }
}
