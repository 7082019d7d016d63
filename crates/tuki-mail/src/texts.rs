//! The texts of Tuki's mail, in Finnish and English: every mail Tuki writes
//! is keyed by its kind and the recipient's language here, and nowhere else.

/// A language Tuki writes mail in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fi,
    En,
}

impl Lang {
    /// From a user's language code; anything but `fi` reads as English.
    pub fn from_code(code: &str) -> Lang {
        if code == "fi" {
            Lang::Fi
        } else {
            Lang::En
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Fi => "fi",
            Lang::En => "en",
        }
    }
}

/// The values a template may use.
#[derive(Debug, Clone, Default)]
pub struct Ctx<'a> {
    /// The ticket's subject tag, `[Tuki #1234]`.
    pub tag: String,
    pub subject: &'a str,
    /// The recipient's name.
    pub name: &'a str,
    /// The article quoted, or what a notice is about (for SLA notices: the
    /// target, `first_response`).
    pub text: &'a str,
    /// The ticket's group.
    pub group: &'a str,
}

/// Subject and body of a mail of `kind` in `lang`. Subjects carry the
/// ticket tag so that answers thread even without headers.
pub fn render(kind: &str, lang: Lang, c: &Ctx<'_>) -> (String, String) {
    let Ctx {
        tag,
        subject,
        name,
        text,
        group,
    } = c;
    match (kind, lang.code()) {
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
        ("sla_warning" | "sla_breach", _) => (
            format!("{tag} {}: {subject}", sla_notice_title(lang, kind, text)),
            format!("{}\n", sla_notice(lang, tag, subject, text, kind)),
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

/// A target's name in running text.
fn target_name(lang: Lang, sla_kind: &str) -> &'static str {
    match (lang, sla_kind) {
        (Lang::Fi, "first_response") => "ensivasteaika",
        (Lang::Fi, "next_response") => "seuraava vasteaika",
        (Lang::Fi, _) => "ratkaisuaika",
        (Lang::En, "first_response") => "first response time",
        (Lang::En, "next_response") => "next response time",
        (Lang::En, _) => "resolution time",
    }
}

/// The head of an SLA notice's subject: the target and what became of it.
fn sla_notice_title(lang: Lang, kind: &str, sla_kind: &str) -> String {
    let target = target_name(lang, sla_kind);
    let title = match (lang, kind) {
        (Lang::Fi, "sla_breach") => format!("{target} ylittyi"),
        (Lang::Fi, _) => format!("{target} umpeutumassa"),
        (Lang::En, "sla_breach") => format!("{target} exceeded"),
        (Lang::En, _) => format!("{target} running out"),
    };
    let mut chars = title.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => title,
    }
}

/// The sentence of an SLA notice (a warning or a breach of `sla_kind` on a
/// ticket), in `lang`: what an escalation rule tells people, also kept (in
/// English) on the notification for the API.
pub fn sla_notice(lang: Lang, tag: &str, subject: &str, sla_kind: &str, kind: &str) -> String {
    let target = target_name(lang, sla_kind);
    match (lang, kind) {
        (Lang::Fi, "sla_breach") => format!("Pyynnön {tag} \"{subject}\" {target} ylittyi."),
        (Lang::Fi, _) => format!("Pyynnön {tag} \"{subject}\" {target} on umpeutumassa."),
        (Lang::En, "sla_breach") => {
            format!("The {target} of request {tag} \"{subject}\" was exceeded.")
        }
        (Lang::En, _) => format!("The {target} of request {tag} \"{subject}\" is running out."),
    }
}

/// A file's size as people read it, the same on the ticket page and in
/// mail: `512 B`, `34 kB`, `2.5 MB`.
pub fn file_size(n: i64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MB", n as f64 / 1024.0 / 1024.0)
    } else if n >= 1024 {
        format!("{} kB", n / 1024)
    } else {
        format!("{n} B")
    }
}

/// The lines added at the end of a mail's text for the files of its
/// article that did not go with it: `too_large` (over the size cap, still
/// on the request's page) and `unreadable` (missing from the data folder),
/// each as (file name, size). Empty when every file went.
pub fn files_note(lang: Lang, too_large: &[(String, i64)], unreadable: &[(String, i64)]) -> String {
    let list = |files: &[(String, i64)]| {
        files
            .iter()
            .map(|(name, size)| format!("- {name} ({})\n", file_size(*size)))
            .collect::<String>()
    };
    let mut out = String::new();
    if !too_large.is_empty() {
        out.push_str(match lang {
            Lang::Fi => "\nLiian suuret tiedostot sähköpostiin, saatavilla pyynnön sivulla:\n",
            Lang::En => "\nFiles too large to send by mail, available on the request's page:\n",
        });
        out.push_str(&list(too_large));
    }
    if !unreadable.is_empty() {
        out.push_str(match lang {
            Lang::Fi => "\nTiedostot, joita ei voitu liittää tähän viestiin:\n",
            Lang::En => "\nFiles that could not be attached to this mail:\n",
        });
        out.push_str(&list(unreadable));
    }
    out
}

/// The subject tag of a ticket's mail, `[Tuki #1234]`, with the desk's
/// word (its mail policy's `tag`).
pub fn tag(word: &str, number: i64) -> String {
    format!("[{word} #{number}]")
}

/// The reminder to an article's owner that its review is due: subject and
/// body in `lang`. `due` is the review date as the owner reads it, `path`
/// the article's address in the console.
pub fn knowledge_review(
    lang: Lang,
    name: &str,
    title: &str,
    due: &str,
    path: &str,
) -> (String, String) {
    match lang {
        Lang::Fi => (
            format!("Tietämysartikkeli odottaa tarkistusta: {title}"),
            format!(
                "Hei {name},\n\nOmistamasi tietämysartikkelin \"{title}\" tarkistuspäivä oli {due}.\n\
                 Tarkista, pitääkö ohje yhä paikkansa, ja päivitä se tai aseta uusi tarkistuspäivä.\n\
                 Artikkeli konsolissa: {path}\n\nTuki\n"
            ),
        ),
        Lang::En => (
            format!("Knowledge article due for review: {title}"),
            format!(
                "Hello {name},\n\nthe knowledge article \"{title}\" that you own was due for review on {due}.\n\
                 Check that it still holds, then update it or set a new review date.\n\
                 The article in the console: {path}\n\nTuki\n"
            ),
        ),
    }
}

/// A contract ends soon: to the desk's administrators and the customer.
pub fn contract_expiring(
    lang: Lang,
    name: &str,
    contract: &str,
    organisation: &str,
    ends: &str,
) -> (String, String) {
    match lang {
        Lang::Fi => (
            format!("Sopimus päättyy {ends}: {contract}"),
            format!(
                "Hei {name},\n\nasiakasorganisaation {organisation} sopimus \"{contract}\" on voimassa {ends} asti.\n\
                 Jos palvelun halutaan jatkuvan, sopimus kannattaa uusia ajoissa.\n\nTuki\n"
            ),
        ),
        Lang::En => (
            format!("Contract ends on {ends}: {contract}"),
            format!(
                "Hello {name},\n\nthe contract \"{contract}\" of {organisation} is in force until {ends}.\n\
                 If the service is to go on, renew it in good time.\n\nTuki\n"
            ),
        ),
    }
}

/// An hour bank runs low: to the desk's administrators and the customer.
pub fn contract_low_balance(
    lang: Lang,
    name: &str,
    contract: &str,
    organisation: &str,
    left: &str,
) -> (String, String) {
    match lang {
        Lang::Fi => (
            format!("Sopimuksen tunnit vähissä: {contract}"),
            format!(
                "Hei {name},\n\nasiakasorganisaation {organisation} sopimuksella \"{contract}\" on tunteja jäljellä {left}.\n\
                 Kun tunnit loppuvat, työ laskutetaan hinnaston mukaan, ellei tunteja lisätä.\n\nTuki\n"
            ),
        ),
        Lang::En => (
            format!("Contract hours running low: {contract}"),
            format!(
                "Hello {name},\n\nthe contract \"{contract}\" of {organisation} has {left} left.\n\
                 When the hours run out, work is billed at the rate card unless hours are added.\n\nTuki\n"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(text: &str) -> Ctx<'_> {
        Ctx {
            tag: "[Tuki #12]".into(),
            subject: "Tulostin",
            name: "Maija",
            text,
            group: "Tuki",
        }
    }

    #[test]
    fn sla_notices_speak_the_recipients_language() {
        let (s, b) = render("sla_warning", Lang::Fi, &ctx("first_response"));
        assert_eq!(s, "[Tuki #12] Ensivasteaika umpeutumassa: Tulostin");
        assert_eq!(
            b,
            "Pyynnön [Tuki #12] \"Tulostin\" ensivasteaika on umpeutumassa.\n"
        );
        let (s, b) = render("sla_breach", Lang::Fi, &ctx("resolution"));
        assert_eq!(s, "[Tuki #12] Ratkaisuaika ylittyi: Tulostin");
        assert!(b.contains("ratkaisuaika ylittyi"), "{b}");
        let (s, b) = render("sla_breach", Lang::En, &ctx("next_response"));
        assert_eq!(s, "[Tuki #12] Next response time exceeded: Tulostin");
        assert_eq!(
            b,
            "The next response time of request [Tuki #12] \"Tulostin\" was exceeded.\n"
        );
        for lang in [Lang::Fi, Lang::En] {
            for kind in ["sla_warning", "sla_breach"] {
                let (s, b) = render(kind, lang, &ctx("first_response"));
                assert!(!s.contains("first_response") && !b.contains("first_response"));
            }
        }
    }

    #[test]
    fn every_kind_has_both_languages() {
        for kind in [
            "ack",
            "resolved",
            "new_ticket",
            "customer_reply",
            "assigned",
        ] {
            let fi = render(kind, Lang::Fi, &ctx("teksti"));
            let en = render(kind, Lang::En, &ctx("teksti"));
            assert!(
                fi.0.contains("[Tuki #12]") && en.0.contains("[Tuki #12]"),
                "{kind}"
            );
            assert_ne!(fi, en, "{kind} has no Finnish text");
        }
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(file_size(512), "512 B");
        assert_eq!(file_size(34 * 1024), "34 kB");
        assert_eq!(file_size(5 * 1024 * 1024 / 2), "2.5 MB");
    }
}
