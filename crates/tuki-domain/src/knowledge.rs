//! Knowledge articles: what a solved problem becomes so the desk finds it
//! again. The rules here: what an article's text may be, how its state moves
//! (draft → published → archived), when its owner is reminded to review
//! it, what a revision changed (a line diff), and the draft a solved ticket
//! gives.

use jiff::{SignedDuration, Timestamp};

use crate::access::Actor;
use crate::string_enum;
use crate::values::{clean_text, line, tag};
use crate::ValidationError;

string_enum! {
    /// Where an article is in its life: written and checked as a draft,
    /// published for use, archived when it no longer applies (kept, with
    /// its history, but no longer offered).
    ArticleState { Draft = "draft", Published = "published", Archived = "archived" }
}

string_enum! {
    /// Who may read a published article: staff only, or also customers
    /// (the portal, the website's help widget, without signing in where the
    /// desk allows it).
    ArticleVisibility { Internal = "internal", Public = "public" }
}

/// Markdown as plain text for snippets and lists: emphasis and code marks
/// and heading hashes dropped, links shown by their text.
pub fn plain(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    for line in markdown.lines() {
        let line = line
            .trim_start_matches('#')
            .trim_start_matches('>')
            .trim_start();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' | '_' | '`' => {}
                // [text](address) → text
                ']' if chars.peek() == Some(&'(') => {
                    for d in chars.by_ref() {
                        if d == ')' {
                            break;
                        }
                    }
                }
                '[' => {}
                c => out.push(c),
            }
        }
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// Who may read an article: staff any, in any state; customers and
/// readers who have not signed in (`None`) only published public ones.
pub fn can_read(
    reader: Option<&Actor>,
    state: ArticleState,
    visibility: ArticleVisibility,
) -> bool {
    reader.is_some_and(|a| a.is_staff())
        || (state == ArticleState::Published && visibility == ArticleVisibility::Public)
}

/// Who may write articles: staff (agents write what they solve).
pub fn can_write(actor: &Actor) -> bool {
    actor.is_staff()
}

/// Longest title.
pub const TITLE_MAX: usize = 200;
/// Longest symptom, cause or solution (Markdown).
pub const SECTION_MAX: usize = 20_000;
/// Most products an article names.
pub const PRODUCTS_MAX: usize = 20;
/// An owner is reminded again this long after a reminder left unanswered.
pub const REMIND_AGAIN: SignedDuration = SignedDuration::from_hours(7 * 24);

/// The words of an article: what it is found by and what it says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArticleText {
    pub title: String,
    /// What the customer sees or reports (Markdown).
    pub symptom: String,
    /// Why it happens (Markdown; may be empty).
    pub cause: String,
    /// What fixes it (Markdown; required to publish).
    pub solution: String,
    /// Products it applies to, as tags (`printer`, `lx-200`).
    pub products: Vec<String>,
    /// One category (`Printing`), or empty.
    pub category: String,
}

impl ArticleText {
    /// Checks typed text: a title of one line, bounded sections without
    /// control characters, products as tags (duplicates dropped). Errors
    /// name the field.
    pub fn check(self) -> Result<ArticleText, ValidationError> {
        let title = line("title", &self.title, TITLE_MAX)?;
        for (field, text) in [
            ("symptom", &self.symptom),
            ("cause", &self.cause),
            ("solution", &self.solution),
        ] {
            clean_text(field, text, SECTION_MAX)?;
        }
        let mut products: Vec<String> = Vec::new();
        for p in &self.products {
            if p.trim().is_empty() {
                continue;
            }
            let p = tag("products", p)?;
            if !products.contains(&p) {
                products.push(p);
            }
        }
        if products.len() > PRODUCTS_MAX {
            return Err(ValidationError::new(
                "products",
                format!("must name at most {PRODUCTS_MAX} products"),
            ));
        }
        let category = if self.category.trim().is_empty() {
            String::new()
        } else {
            line("category", &self.category, 80)?
        };
        Ok(ArticleText {
            title,
            symptom: self.symptom.trim().to_string(),
            cause: self.cause.trim().to_string(),
            solution: self.solution.trim().to_string(),
            products,
            category,
        })
    }

    /// Everything the search index reads, after the title.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n{}",
            self.symptom,
            self.cause,
            self.solution,
            self.products.join(" "),
            self.category
        )
    }
}

/// Whether an article may move from `from` to `to`. A draft is published
/// or dropped (archived); a published article is archived, or taken back
/// to draft for rework; an archived one comes back only as a draft, to be
/// checked before it is offered again.
pub fn can_become(from: ArticleState, to: ArticleState) -> bool {
    use ArticleState::*;
    matches!(
        (from, to),
        (Draft, Published)
            | (Draft, Archived)
            | (Published, Archived)
            | (Published, Draft)
            | (Archived, Draft)
    )
}

/// Checks a move of state: allowed from here, and an article is published
/// only with a symptom and a solution to offer.
pub fn check_state(
    from: ArticleState,
    to: ArticleState,
    text: &ArticleText,
) -> Result<(), ValidationError> {
    if !can_become(from, to) {
        return Err(ValidationError::new(
            "state",
            format!("a {} article cannot become {}", from.as_str(), to.as_str()),
        ));
    }
    if to == ArticleState::Published {
        for (field, value) in [("symptom", &text.symptom), ("solution", &text.solution)] {
            if value.trim().is_empty() {
                return Err(ValidationError::new(
                    field,
                    "must not be empty in a published article",
                ));
            }
        }
    }
    Ok(())
}

/// Whether a review is overdue at `now`.
pub fn review_overdue(state: ArticleState, review_by: Option<Timestamp>, now: Timestamp) -> bool {
    state == ArticleState::Published && review_by.is_some_and(|by| by <= now)
}

/// Whether the owner of an article is to be reminded of its review now:
/// the review is overdue and they have not been reminded since it fell due,
/// or not for [`REMIND_AGAIN`].
pub fn remind_owner(
    state: ArticleState,
    review_by: Option<Timestamp>,
    reminded_at: Option<Timestamp>,
    now: Timestamp,
) -> bool {
    if !review_overdue(state, review_by, now) {
        return false;
    }
    match (review_by, reminded_at) {
        (Some(by), Some(at)) if at >= by => now.duration_since(at) >= REMIND_AGAIN,
        _ => true,
    }
}

/// A line of a diff between two revisions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiffLine {
    /// `same`, `added` or `removed`.
    pub change: &'static str,
    pub text: String,
}

/// What changed between two texts, line by line (Myers' diff, from the
/// `similar` crate): unchanged lines, removed ones, added ones, in reading
/// order.
pub fn diff(old: &str, new: &str) -> Vec<DiffLine> {
    similar::TextDiff::from_lines(old, new)
        .iter_all_changes()
        .map(|c| DiffLine {
            change: match c.tag() {
                similar::ChangeTag::Equal => "same",
                similar::ChangeTag::Delete => "removed",
                similar::ChangeTag::Insert => "added",
            },
            text: c.value().trim_end_matches(['\n', '\r']).to_string(),
        })
        .collect()
}

/// An article's fields as one text, for a revision's diff: each field under
/// its name, so a change shows where it was made.
pub fn revision_text(t: &ArticleText) -> String {
    let mut out = String::new();
    for (name, value) in [
        ("Title", t.title.as_str()),
        ("Symptom", &t.symptom),
        ("Cause", &t.cause),
        ("Solution", &t.solution),
        ("Products", &t.products.join(", ")),
        ("Category", &t.category),
    ] {
        out.push_str(&format!("## {name}\n{value}\n\n"));
    }
    out
}

/// The draft a solved ticket gives: its subject as the title, the
/// customer's first message as the symptom, the last public answer of
/// staff as the solution. Quoted mail history (lines starting with `>`)
/// is left out.
pub fn draft_from_ticket(subject: &str, first_message: &str, last_answer: &str) -> ArticleText {
    let unquoted = |text: &str| {
        text.lines()
            .filter(|l| !l.trim_start().starts_with('>'))
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .chars()
            .take(SECTION_MAX)
            .collect::<String>()
    };
    ArticleText {
        title: subject
            .chars()
            .take(TITLE_MAX)
            .collect::<String>()
            .trim()
            .to_string(),
        symptom: unquoted(first_message),
        cause: String::new(),
        solution: unquoted(last_answer),
        products: Vec::new(),
        category: String::new(),
    }
}

/// A form of the website's help widget sent sooner than this after it was
/// shown was not filled in by a person.
pub const FORM_MIN_SECONDS: i64 = 3;
/// A form older than this is stale (a token harvested and replayed later).
pub const FORM_MAX_HOURS: i64 = 2;

/// What the spam checks say of a request sent from the website's widget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormVerdict {
    Genuine,
    /// The field people do not see was filled in.
    Honeypot,
    /// Sent within seconds of the form being shown.
    TooFast,
    /// No such form shown, used already, or shown too long ago.
    Stale,
}

/// The widget's spam rule, without any third-party service: the honeypot
/// field must be empty and the form must have been shown (its token known,
/// `issued`) between [`FORM_MIN_SECONDS`] and [`FORM_MAX_HOURS`] ago.
pub fn widget_form_verdict(
    honeypot: &str,
    issued: Option<Timestamp>,
    now: Timestamp,
) -> FormVerdict {
    if !honeypot.trim().is_empty() {
        return FormVerdict::Honeypot;
    }
    let Some(issued) = issued else {
        return FormVerdict::Stale;
    };
    let age = now.duration_since(issued);
    if age < SignedDuration::from_secs(FORM_MIN_SECONDS) {
        FormVerdict::TooFast
    } else if age > SignedDuration::from_hours(FORM_MAX_HOURS) {
        FormVerdict::Stale
    } else {
        FormVerdict::Genuine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text() -> ArticleText {
        ArticleText {
            title: " Paper jam in tray 2 ".into(),
            symptom: "The printer stops with E15.".into(),
            cause: String::new(),
            solution: "Open the rear door and remove the sheet.".into(),
            products: vec![
                "Printer".into(),
                "printer".into(),
                " ".into(),
                "LX-200".into(),
            ],
            category: "Printing".into(),
        }
    }

    #[test]
    fn text_is_checked_and_tidied() {
        let t = text().check().unwrap();
        assert_eq!(t.title, "Paper jam in tray 2");
        assert_eq!(t.products, vec!["printer", "lx-200"]);
        let bad = ArticleText {
            title: "two\nlines".into(),
            ..text()
        };
        assert_eq!(bad.check().unwrap_err().field, "title");
        let bad = ArticleText {
            solution: "x\u{0}".into(),
            ..text()
        };
        assert_eq!(bad.check().unwrap_err().field, "solution");
        let bad = ArticleText {
            products: vec!["has space".into()],
            ..text()
        };
        assert_eq!(bad.check().unwrap_err().field, "products");
    }

    #[test]
    fn states_move_draft_published_archived() {
        use ArticleState::*;
        let t = text();
        assert!(check_state(Draft, Published, &t).is_ok());
        assert!(check_state(Published, Archived, &t).is_ok());
        assert_eq!(
            check_state(Archived, Published, &t).unwrap_err().field,
            "state"
        );
        assert_eq!(check_state(Draft, Draft, &t).unwrap_err().field, "state");
        let empty = ArticleText {
            solution: " ".into(),
            ..t
        };
        assert_eq!(
            check_state(Draft, Published, &empty).unwrap_err().field,
            "solution"
        );
        assert!(check_state(Draft, Archived, &empty).is_ok());
    }

    #[test]
    fn owners_are_reminded_once_a_week_while_overdue() {
        let due: Timestamp = "2026-12-01T08:00:00Z".parse().unwrap();
        let day = SignedDuration::from_hours(24);
        let p = ArticleState::Published;
        assert!(!remind_owner(p, Some(due), None, due - day));
        assert!(remind_owner(p, Some(due), None, due));
        assert!(!remind_owner(
            ArticleState::Draft,
            Some(due),
            None,
            due + day
        ));
        assert!(!remind_owner(p, None, None, due));
        // Reminded a day after it fell due: not again for a week.
        let at = due + day;
        assert!(!remind_owner(p, Some(due), Some(at), at + day * 6));
        assert!(remind_owner(p, Some(due), Some(at), at + day * 7));
        // A reminder from before a new review date does not count.
        let later = due + day * 30;
        assert!(remind_owner(p, Some(later), Some(at), later));
    }

    #[test]
    fn a_diff_shows_removed_and_added_lines_in_order() {
        let d = diff("a\nb\nc\n", "a\nB\nc\nd\n");
        let shown: Vec<String> = d
            .iter()
            .map(|l| format!("{}:{}", l.change, l.text))
            .collect();
        assert_eq!(
            shown,
            ["same:a", "removed:b", "added:B", "same:c", "added:d"]
        );
    }

    #[test]
    fn markdown_reads_as_plain_text() {
        assert_eq!(
            plain("## Fix\nShows **E15**; see [the manual](https://x.test/m) and `reset`."),
            "Fix\nShows E15; see the manual and reset."
        );
    }

    #[test]
    fn the_widget_catches_robots_by_honeypot_and_timing() {
        let shown: Timestamp = "2026-12-01T08:00:00Z".parse().unwrap();
        let at = |secs: i64| shown + SignedDuration::from_secs(secs);
        assert_eq!(
            widget_form_verdict("", Some(shown), at(20)),
            FormVerdict::Genuine
        );
        assert_eq!(
            widget_form_verdict("http://spam", Some(shown), at(20)),
            FormVerdict::Honeypot
        );
        assert_eq!(
            widget_form_verdict("", Some(shown), at(1)),
            FormVerdict::TooFast
        );
        assert_eq!(
            widget_form_verdict("", Some(shown), at(3)),
            FormVerdict::Genuine
        );
        assert_eq!(
            widget_form_verdict("", Some(shown), at(2 * 3600 + 1)),
            FormVerdict::Stale
        );
        assert_eq!(widget_form_verdict("", None, at(20)), FormVerdict::Stale);
    }

    #[test]
    fn a_solved_ticket_gives_a_draft_without_quoted_mail() {
        let d = draft_from_ticket(
            "Printer shows E15",
            "It stops every morning.\n> old quoted text",
            "Remove the sheet behind the rear door.\n\n> On Monday you wrote:\n> it stops",
        );
        assert_eq!(d.title, "Printer shows E15");
        assert_eq!(d.symptom, "It stops every morning.");
        assert_eq!(d.solution, "Remove the sheet behind the rear door.");
    }
}
