//! The texts of Tuki's mail, in Finnish and English.

use crate::attachments::human_size as file_size;

/// A language Tuki writes in; anything else reads as English.
pub(super) fn lang(code: &str) -> &'static str {
    if code == "fi" {
        "fi"
    } else {
        "en"
    }
}

/// The values a template may use.
pub(super) struct Ctx<'a> {
    pub tag: String,
    pub subject: &'a str,
    pub name: &'a str,
    pub text: &'a str,
    pub group: &'a str,
}

/// Subject and body of a mail of `kind` in `lang`. Subjects carry the
/// ticket tag so that answers thread even without headers.
pub(super) fn render(kind: &str, lang: &str, c: &Ctx<'_>) -> (String, String) {
    let Ctx {
        tag,
        subject,
        name,
        text,
        group,
    } = c;
    match (kind, lang) {
        ("ack", "fi") => (
            format!("{tag} Pyyntösi on vastaanotettu: {subject}"),
            format!(
                "Hei {name},\n\nolemme vastaanottaneet pyyntösi \"{subject}\" ja palaamme asiaan pian.\n\
                 Vastaa tähän viestiin, jos haluat lisätä tietoja; säilytä otsikon tunniste {tag}.\n\n\
                 Ystävällisin terveisin\nTuki\n"
            ),
        ),
        ("ack", _) => (
            format!("{tag} Your request was received: {subject}"),
            format!(
                "Hello {name},\n\nwe have received your request \"{subject}\" and will get back to you soon.\n\
                 Reply to this message to add information; please keep {tag} in the subject.\n\n\
                 Kind regards\nTuki\n"
            ),
        ),
        ("reply", _) => (format!("Re: {tag} {subject}"), format!("{text}\n")),
        ("resolved", "fi") => (
            format!("{tag} Pyyntösi on ratkaistu: {subject}"),
            format!(
                "Hei {name},\n\npyyntösi \"{subject}\" on merkitty ratkaistuksi.\n\
                 Jos asia ei ratkennut, vastaa tähän viestiin, niin pyyntö avataan uudelleen.\n\n\
                 Ystävällisin terveisin\nTuki\n"
            ),
        ),
        ("resolved", _) => (
            format!("{tag} Your request was resolved: {subject}"),
            format!(
                "Hello {name},\n\nyour request \"{subject}\" has been marked as resolved.\n\
                 If the problem remains, reply to this message and the request is reopened.\n\n\
                 Kind regards\nTuki\n"
            ),
        ),
        ("new_ticket", "fi") => (
            format!("{tag} Uusi pyyntö ryhmässä {group}: {subject}"),
            format!("Ryhmään {group} tuli uusi pyyntö {tag}: {subject}\n\n{text}\n"),
        ),
        ("new_ticket", _) => (
            format!("{tag} New request in {group}: {subject}"),
            format!("A new request {tag} reached {group}: {subject}\n\n{text}\n"),
        ),
        ("customer_reply", "fi") => (
            format!("{tag} Asiakas vastasi: {subject}"),
            format!("Asiakas vastasi pyyntöön {tag} \"{subject}\":\n\n{text}\n"),
        ),
        ("customer_reply", _) => (
            format!("{tag} The customer replied: {subject}"),
            format!("The customer replied to {tag} \"{subject}\":\n\n{text}\n"),
        ),
        ("assigned", "fi") => (
            format!("{tag} Sinulle osoitettiin pyyntö: {subject}"),
            format!(
                "Hei {name},\n\npyyntö {tag} \"{subject}\" on nyt sinun hoidettavanasi.\n\n{text}\n"
            ),
        ),
        ("assigned", _) => (
            format!("{tag} Assigned to you: {subject}"),
            format!("Hello {name},\n\nrequest {tag} \"{subject}\" is now yours to handle.\n\n{text}\n"),
        ),
        (_, "fi") => (
            format!("{tag} Ilmoitus: {subject}"),
            format!("Pyyntö {tag} \"{subject}\":\n\n{text}\n"),
        ),
        (_, _) => (
            format!("{tag} Notice: {subject}"),
            format!("Request {tag} \"{subject}\":\n\n{text}\n"),
        ),
    }
}

/// The lines added at the end of a mail's text for the files of its
/// article that did not go with it: `too_large` (over the size cap, still
/// on the request's page) and `unreadable` (missing from the data folder),
/// each as (file name, size). Empty when every file went.
pub(super) fn files_note(
    lang: &str,
    too_large: &[(String, i64)],
    unreadable: &[(String, i64)],
) -> String {
    let list = |files: &[(String, i64)]| {
        files
            .iter()
            .map(|(name, size)| format!("- {name} ({})\n", file_size(*size)))
            .collect::<String>()
    };
    let mut out = String::new();
    if !too_large.is_empty() {
        out.push_str(match lang {
            "fi" => "\nLiian suuret tiedostot sähköpostiin, saatavilla pyynnön sivulla:\n",
            _ => "\nFiles too large to send by mail, available on the request's page:\n",
        });
        out.push_str(&list(too_large));
    }
    if !unreadable.is_empty() {
        out.push_str(match lang {
            "fi" => "\nTiedostot, joita ei voitu liittää tähän viestiin:\n",
            _ => "\nFiles that could not be attached to this mail:\n",
        });
        out.push_str(&list(unreadable));
    }
    out
}

/// The subject tag of a ticket's mail, `[Tuki #1234]`, with the store's
/// word (`Store::mail_tag`).
pub(super) fn tag(word: &str, number: i64) -> String {
    format!("[{word} #{number}]")
}
