//! Which ticket does a message belong to?
//!
//! In order of trust:
//! 1. A Message-ID named in In-Reply-To or References that Tuki sent or
//!    received: mail clients copy these faithfully, and they cannot collide.
//! 2. The subject tag `[Tuki #1234]` Tuki puts on everything it sends: it
//!    survives clients that drop references (some webmail, phones) but can
//!    be typed by hand, so it only counts when the store finds the ticket.
//! 3. Only for a message whose subject says it is a reply (Re:, AW:, Vs: …):
//!    the same sender's active ticket with the same subject once the reply
//!    prefixes are stripped. This catches answers to a ticket's first mail
//!    from clients that keep neither references nor the tag.
//!
//! The store looks up the candidates; [`decide_thread`] only weighs them,
//! so the rule is tested without a database.

use serde::Serialize;

use crate::parse::InboundMessage;

/// Reply and forward prefixes in the languages Tuki's users write: English,
/// Finnish (Vs, VL = välitetty), Swedish (SV, VB), German (AW, WG), Norwegian
/// and Danish (SV, VS), Dutch (Antw), French (TR), and Outlook's
/// translations. Compared case-insensitively, with `:` or `：` after them.
const PREFIXES: &[&str] = &[
    "re",
    "aw",
    "sv",
    "vs",
    "antw",
    "ynt",
    "fw",
    "fwd",
    "vl",
    "vb",
    "wg",
    "tr",
    "rv",
    "enc",
    "odp",
    "přeposlat",
    "ha",
];

/// Strips reply/forward prefixes and counters (`Re[2]:`, `RE: Fwd: AW:`),
/// leaving the subject a person typed, for matching.
pub fn strip_reply_prefixes(subject: &str) -> &str {
    let mut s = subject.trim();
    loop {
        let before = s;
        // Also strip a leading mailing-list tag like "[list]" only when it
        // precedes a prefix; the ticket tag is removed by `without_tag`.
        let word_end = s
            .find(|c: char| c == ':' || c == '：' || c == '[' || c.is_whitespace())
            .unwrap_or(s.len());
        let word = &s[..word_end];
        if PREFIXES.iter().any(|p| word.eq_ignore_ascii_case(p)) {
            let mut rest = &s[word_end..];
            // `Re[2]:` / `Re(2):` counters.
            if let Some(r) = rest.strip_prefix('[').or_else(|| rest.strip_prefix('(')) {
                if let Some(end) = r.find([']', ')']) {
                    if r[..end].chars().all(|c| c.is_ascii_digit()) {
                        rest = &r[end + 1..];
                    }
                }
            }
            let rest_trim = rest.trim_start();
            if let Some(r) = rest_trim
                .strip_prefix(':')
                .or_else(|| rest_trim.strip_prefix('：'))
            {
                s = r.trim_start();
            }
        }
        if s == before {
            return s;
        }
    }
}

/// Prefixes that mean "an answer to", as opposed to "passed on": a forward
/// starts a new matter even when its subject matches an open ticket.
const REPLY_ONLY: &[&str] = &["re", "aw", "sv", "vs", "antw", "ynt", "odp", "ha"];

/// Whether the subject starts with a reply (not forward) prefix.
pub fn has_reply_prefix(subject: &str) -> bool {
    let s = subject.trim();
    let word_end = s
        .find(|c: char| c == ':' || c == '\u{ff1a}' || c == '[' || c.is_whitespace())
        .unwrap_or(s.len());
    REPLY_ONLY
        .iter()
        .any(|p| s[..word_end].eq_ignore_ascii_case(p))
        && strip_reply_prefixes(s).len() != s.len()
}

/// Finds a ticket tag `[PREFIX #1234]` anywhere in the subject, the prefix
/// compared case-insensitively (`[Tuki #12]`, `[tuki#12]`). Returns the
/// ticket number.
pub fn subject_tag(subject: &str, prefix: &str) -> Option<i64> {
    let lower = subject.to_lowercase();
    let prefix = prefix.to_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find('[') {
        let start = from + pos + 1;
        from = start;
        let Some(end) = lower[start..].find(']') else {
            break;
        };
        let inner = lower[start..start + end].trim();
        let Some(rest) = inner.strip_prefix(&prefix) else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(num) = rest.strip_prefix('#') else {
            continue;
        };
        let num = num.trim();
        if !num.is_empty() && num.len() <= 18 && num.chars().all(|c| c.is_ascii_digit()) {
            return num.parse().ok();
        }
    }
    None
}

/// Removes the ticket tag, so a ticket made from a tagged message whose
/// ticket is gone does not carry a stale number.
pub fn without_tag(subject: &str, prefix: &str) -> String {
    match subject_tag(subject, prefix) {
        None => subject.to_string(),
        Some(_) => {
            let lower = subject.to_lowercase();
            let p = format!("[{}", prefix.to_lowercase());
            match lower.find(&p) {
                Some(start) => match subject[start..].find(']') {
                    Some(end) => {
                        let s = format!("{}{}", &subject[..start], &subject[start + end + 1..]);
                        crate::parse::clean_line(&s)
                    }
                    None => subject.to_string(),
                },
                None => subject.to_string(),
            }
        }
    }
}

/// What the store must look up to thread a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadKeys {
    /// In-Reply-To first, then References newest first: the nearest
    /// ancestor decides when a conversation was split or merged.
    pub message_ids: Vec<String>,
    /// The ticket number from the subject tag.
    pub tag_number: Option<i64>,
    /// The subject without prefixes and tag, lower-cased; `Some` only when
    /// the subject says it is a reply.
    pub reply_subject: Option<String>,
}

impl ThreadKeys {
    pub fn of(msg: &InboundMessage, tag_prefix: &str) -> ThreadKeys {
        let mut ids: Vec<String> = msg.in_reply_to.clone();
        for r in msg.references.iter().rev() {
            if !ids.contains(r) {
                ids.push(r.clone());
            }
        }
        // A message cannot thread on itself (a re-delivered copy is a
        // duplicate, caught elsewhere).
        ids.retain(|id| id != &msg.message_id);
        let reply_subject = has_reply_prefix(&msg.subject).then(|| {
            without_tag(strip_reply_prefixes(&msg.subject), tag_prefix)
                .trim()
                .to_lowercase()
        });
        ThreadKeys {
            message_ids: ids,
            tag_number: subject_tag(&msg.subject, tag_prefix),
            reply_subject: reply_subject.filter(|s| !s.is_empty()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadBy {
    References,
    SubjectTag,
    ReplySubject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "thread")]
pub enum Thread {
    /// Add the message to this ticket.
    Existing { ticket_id: i64, by: ThreadBy },
    /// Start a new ticket.
    New,
}

/// Weighs what the store found for each key.
///
/// - `by_message_id`: the ticket of each key in `keys.message_ids` that the
///   store knows, in any order;
/// - `tagged_ticket`: the ticket whose number the tag names, when it exists;
/// - `same_subject_ticket`: the sender's active ticket whose subject equals
///   `keys.reply_subject`, when there is one.
pub fn decide_thread(
    keys: &ThreadKeys,
    by_message_id: &[(String, i64)],
    tagged_ticket: Option<i64>,
    same_subject_ticket: Option<i64>,
) -> Thread {
    for id in &keys.message_ids {
        if let Some((_, t)) = by_message_id.iter().find(|(m, _)| m == id) {
            return Thread::Existing {
                ticket_id: *t,
                by: ThreadBy::References,
            };
        }
    }
    if let (Some(_), Some(t)) = (keys.tag_number, tagged_ticket) {
        return Thread::Existing {
            ticket_id: t,
            by: ThreadBy::SubjectTag,
        };
    }
    if let (Some(_), Some(t)) = (&keys.reply_subject, same_subject_ticket) {
        return Thread::Existing {
            ticket_id: t,
            by: ThreadBy::ReplySubject,
        };
    }
    Thread::New
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_prefixes_in_many_languages() {
        for (raw, want) in [
            ("Re: Printer", "Printer"),
            ("RE: Printer", "Printer"),
            ("Vs: Printer", "Printer"),
            ("VS: SV: AW: Printer", "Printer"),
            ("Fwd: Re: Printer", "Printer"),
            ("VL: Printer", "Printer"),
            ("Re[2]: Printer", "Printer"),
            ("Re : Printer", "Printer"),
            ("Printer: Re", "Printer: Re"),
            ("Reboot needed", "Reboot needed"),
            ("Re:", ""),
        ] {
            assert_eq!(strip_reply_prefixes(raw), want, "{raw}");
        }
    }

    #[test]
    fn finds_the_tag() {
        assert_eq!(subject_tag("Re: [Tuki #1234] Printer", "Tuki"), Some(1234));
        assert_eq!(subject_tag("AW: [tuki#7] x", "Tuki"), Some(7));
        assert_eq!(subject_tag("[list] [Tuki #12] x", "Tuki"), Some(12));
        assert_eq!(subject_tag("[Tuki #] x", "Tuki"), None);
        assert_eq!(subject_tag("[Other #12] x", "Tuki"), None);
        assert_eq!(subject_tag("[Tuki #12a] x", "Tuki"), None);
        assert_eq!(subject_tag("[Tuki #1", "Tuki"), None);
        assert_eq!(without_tag("Re: [Tuki #12] Printer", "Tuki"), "Re: Printer");
        assert!(has_reply_prefix("AW: x"));
        assert!(!has_reply_prefix("Fwd: x"));
        assert!(!has_reply_prefix("Reboot"));
    }

    fn keys(ids: &[&str], tag: Option<i64>, subj: Option<&str>) -> ThreadKeys {
        ThreadKeys {
            message_ids: ids.iter().map(|s| s.to_string()).collect(),
            tag_number: tag,
            reply_subject: subj.map(str::to_string),
        }
    }

    #[test]
    fn references_beat_the_tag_and_nearest_ancestor_wins() {
        let k = keys(&["b@x", "a@x"], Some(9), Some("s"));
        let found = vec![("a@x".to_string(), 1), ("b@x".to_string(), 2)];
        assert_eq!(
            decide_thread(&k, &found, Some(9), Some(3)),
            Thread::Existing {
                ticket_id: 2,
                by: ThreadBy::References
            }
        );
        assert_eq!(
            decide_thread(&k, &[], Some(9), Some(3)),
            Thread::Existing {
                ticket_id: 9,
                by: ThreadBy::SubjectTag
            }
        );
        assert_eq!(
            decide_thread(&k, &[], None, Some(3)),
            Thread::Existing {
                ticket_id: 3,
                by: ThreadBy::ReplySubject
            }
        );
        assert_eq!(decide_thread(&k, &[], None, None), Thread::New);
        // Without a reply prefix, a same-subject ticket is not enough.
        let k = keys(&[], None, None);
        assert_eq!(decide_thread(&k, &[], None, Some(3)), Thread::New);
    }
}
