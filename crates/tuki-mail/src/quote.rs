//! Trimming the quoted history of earlier messages for display.
//!
//! Replies carry the whole conversation below (or interleaved with) the new
//! text; on a ticket page that history is already there as earlier
//! articles. Only what follows an attribution line ("On … wrote:",
//! "… kirjoitti:", an Outlook header block) or a trailing run of `>` lines is
//! cut; interleaved answers stay whole, and a forward is never trimmed
//! because the forwarded text is the point of it. The raw message keeps
//! everything.

/// Markers that start a quoted copy of an earlier message on their own line.
const SEPARATORS: &[&str] = &[
    "-----original message-----",
    "----- original message -----",
    "-----alkuperäinen viesti-----",
    "----- alkuperäinen viesti -----",
    "-----ursprüngliche nachricht-----",
    "-----ursprungligt meddelande-----",
    "-----message d'origine-----",
];

/// First words of the header block Outlook puts above the quoted message.
const OUTLOOK_FROM: &[&str] = &["from:", "lähettäjä:", "von:", "från:", "de :", "de:", "от:"];

/// Endings of attribution lines ("On Mon, Jan 1, 2024, Anna wrote:").
const ATTRIBUTION_ENDINGS: &[&str] = &[
    "wrote:",
    "kirjoitti:",
    "schrieb:",
    "a écrit :",
    "a écrit:",
    "skrev:",
    "написал:",
    "написал(а):",
    "escribió:",
];

const FORWARD_MARKERS: &[&str] = &[
    "---------- forwarded message",
    "-------- forwarded message",
    "begin forwarded message:",
    "---------- välitetty viesti",
    "-------- välitetty viesti",
    "-------- original message --------",
];

/// The text a reader needs: everything before the quoted history. Returns
/// the text unchanged when trimming would leave nothing (a message that is
/// only a quote still says something by being sent).
pub fn trim_quoted(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let lower: Vec<String> = lines.iter().map(|l| l.trim().to_lowercase()).collect();

    if lower
        .iter()
        .any(|l| FORWARD_MARKERS.iter().any(|m| l.starts_with(m)))
    {
        return text.trim_end().to_string();
    }

    let mut cut = lines.len();
    for (i, l) in lower.iter().enumerate() {
        let starts_quote = SEPARATORS.iter().any(|s| l == s)
            || is_attribution(&lower, i)
            || (l.starts_with("________________") && next_is_outlook_header(&lower, i + 1))
            || (OUTLOOK_FROM.iter().any(|f| l.starts_with(f))
                && i > 0
                && lower[i - 1].is_empty()
                && next_lines_are_headers(&lower, i));
        if starts_quote {
            cut = i;
            break;
        }
    }

    // A trailing block of `>` lines (and blank lines between them) with no
    // answer below it is history too.
    let mut end = cut;
    while end > 0 && (lower[end - 1].starts_with('>') || lower[end - 1].is_empty()) {
        end -= 1;
    }
    if end < cut && lower[end..cut].iter().any(|l| l.starts_with('>')) {
        cut = end;
    }

    let kept = lines[..cut].join("\n");
    let kept = kept.trim_end();
    if kept.trim().is_empty() {
        text.trim_end().to_string()
    } else {
        kept.to_string()
    }
}

/// "On … wrote:" may wrap over two lines in clients that fold at 72-78
/// columns; look at this line and this line joined to the next.
fn is_attribution(lower: &[String], i: usize) -> bool {
    let l = &lower[i];
    let ends = |s: &str| ATTRIBUTION_ENDINGS.iter().any(|e| s.ends_with(e));
    if ends(l) && l.len() > 8 {
        return true;
    }
    if let Some(next) = lower.get(i + 1) {
        let starts_like = ["on ", "am ", "le ", "den ", "el "]
            .iter()
            .any(|p| l.starts_with(p));
        if starts_like && !l.is_empty() && ends(&format!("{l} {next}")) {
            return true;
        }
    }
    false
}

fn next_is_outlook_header(lower: &[String], i: usize) -> bool {
    lower
        .get(i)
        .is_some_and(|l| OUTLOOK_FROM.iter().any(|f| l.starts_with(f)))
}

/// A `From:` line followed by at least one more header-looking line
/// (Sent:, To:, Subject:, Lähetetty:, Aihe: …) is an Outlook quote block,
/// not a sentence that happens to start with "From:".
fn next_lines_are_headers(lower: &[String], i: usize) -> bool {
    const NAMES: &[&str] = &[
        "sent:",
        "to:",
        "subject:",
        "date:",
        "cc:",
        "lähetetty:",
        "vastaanottaja:",
        "aihe:",
        "gesendet:",
        "an:",
        "betreff:",
        "skickat:",
        "till:",
        "ämne:",
        "envoyé :",
        "à :",
        "objet :",
        "отправлено:",
        "кому:",
        "тема:",
    ];
    lower[i + 1..]
        .iter()
        .take(3)
        .any(|l| NAMES.iter().any(|n| l.starts_with(n)))
}

#[cfg(test)]
mod tests {
    use super::trim_quoted;

    #[test]
    fn cuts_after_attribution() {
        let t = "Thanks, it works now.\n\nOn Mon, 3 Mar 2025 at 10:00, Tuki <help@example.fi> wrote:\n> Try restarting.\n";
        assert_eq!(trim_quoted(t), "Thanks, it works now.");
    }

    #[test]
    fn cuts_wrapped_attribution() {
        let t =
            "Yes.\n\nOn Mon, 3 Mar 2025 at 10:00, Tuki Support <help@example.fi>\nwrote:\n> x\n";
        assert_eq!(trim_quoted(t), "Yes.");
    }

    #[test]
    fn cuts_finnish_attribution() {
        let t = "Kiitos!\n\nTuki kirjoitti 3.3.2025 klo 10.00:\n> Kokeile uudelleen.\n";
        // The Finnish line ends with the time, not "kirjoitti:", so the
        // trailing quote block is what is cut.
        assert_eq!(
            trim_quoted(t),
            "Kiitos!\n\nTuki kirjoitti 3.3.2025 klo 10.00:"
        );
        let t = "Kiitos!\n\nTi 3.3.2025 klo 10.00 Tuki <help@example.fi> kirjoitti:\n> Kokeile.\n";
        assert_eq!(trim_quoted(t), "Kiitos!");
    }

    #[test]
    fn cuts_outlook_block() {
        let t =
            "See below.\n\nFrom: Tuki <help@example.fi>\nSent: Monday\nTo: Anna\nSubject: x\n\nold";
        assert_eq!(trim_quoted(t), "See below.");
        let t =
            "Ok\n________________________________\nLähettäjä: Tuki\nLähetetty: maanantai\n\nvanha";
        assert_eq!(trim_quoted(t), "Ok");
    }

    #[test]
    fn keeps_interleaved_answers() {
        let t = "> Which model?\nTX-100\n> Serial?\nAB123";
        assert_eq!(trim_quoted(t), t);
    }

    #[test]
    fn keeps_forwards_and_pure_quotes() {
        let t = "FYI\n\n---------- Forwarded message ---------\nFrom: a@b.c\n\nOn x, y wrote:\n> z";
        assert_eq!(trim_quoted(t), t);
        let t = "> only a quote";
        assert_eq!(trim_quoted(t), t);
    }

    #[test]
    fn a_sentence_starting_with_from_stays() {
        let t = "Hello\n\nFrom: the start it failed.\nIt still fails.";
        assert_eq!(trim_quoted(t), t);
    }
}
