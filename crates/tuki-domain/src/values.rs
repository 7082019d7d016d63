//! Validated values. A value of these types has passed its rules once, at the
//! edge; code further in never re-checks it.

use crate::ValidationError;

/// Rejects what no text field of Tuki may hold: NUL and other control
/// characters except tab and line breaks (PostgreSQL refuses NUL outright, and
/// the rest only ever comes from broken clients).
pub fn clean_text(field: &str, value: &str, max_chars: usize) -> Result<(), ValidationError> {
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    if value.chars().count() > max_chars {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok(())
}

/// A one-line label (subject, name, category): trimmed, not empty, no line breaks.
pub fn line(field: &str, value: &str, max_chars: usize) -> Result<String, ValidationError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if v.contains(['\n', '\r']) {
        return Err(ValidationError::new(field, "must be a single line"));
    }
    clean_text(field, v, max_chars)?;
    Ok(v.to_string())
}

/// Multi-line text such as an article body: not blank, bounded.
pub fn body(field: &str, value: &str, max_chars: usize) -> Result<String, ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    clean_text(field, value, max_chars)?;
    Ok(value.to_string())
}

/// An email address, stored lower-cased so look-ups by sender are exact.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let v = raw.trim().to_lowercase();
        let bad = || ValidationError::new(field, "must be an email address like name@example.com");
        if v.len() > 254 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = v.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(bad());
        }
        Domain::parse(field, domain).map_err(|_| bad())?;
        Ok(Self(v))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A mail domain of an organisation (`example.fi`), lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Domain(String);

impl Domain {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let v = raw.trim().trim_start_matches('@').to_lowercase();
        let ok = !v.is_empty()
            && v.len() <= 253
            && v.contains('.')
            && v.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if ok {
            Ok(Self(v))
        } else {
            Err(ValidationError::new(
                field,
                "must be a mail domain like example.com",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A phone number in E.164 form: `+`, country code, at most 15 digits in all.
/// Spaces, dashes, dots and brackets people type are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let compact: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}'))
            .collect();
        let digits = compact.strip_prefix('+');
        match digits {
            Some(d)
                if (8..=15).contains(&d.len())
                    && d.chars().all(|c| c.is_ascii_digit())
                    && !d.starts_with('0') =>
            {
                Ok(Self(compact))
            }
            _ => Err(ValidationError::new(
                field,
                "must be a phone number in international form, like +358401234567",
            )),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A ticket tag: lower-case, no spaces or commas, so filters and URLs can carry it.
pub fn tag(field: &str, raw: &str) -> Result<String, ValidationError> {
    let v = raw.trim().to_lowercase();
    if v.is_empty() || v.chars().count() > 64 {
        return Err(ValidationError::new(field, "tags are 1 to 64 characters"));
    }
    if v.chars()
        .any(|c| c.is_whitespace() || c == ',' || c.is_control())
    {
        return Err(ValidationError::new(
            field,
            "tags must not contain spaces, commas or control characters",
        ));
    }
    Ok(v)
}

/// Folds text for case-insensitive substring search the same way on both
/// database engines (SQLite's own `lower()` only knows ASCII).
pub fn fold(text: &str) -> String {
    text.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("email", " Maija@Example.FI ")
                .unwrap()
                .as_str(),
            "maija@example.fi"
        );
        assert_eq!(Email::parse("email", "a@b.fi").unwrap().domain(), "b.fi");
        for bad in [
            "", "a", "a@", "@b.fi", "a@b", "a b@c.fi", "a@b..fi", "a@-b.fi", "a\0@b.fi",
        ] {
            assert_eq!(
                Email::parse("email", bad).unwrap_err().field,
                "email",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn phones() {
        assert_eq!(
            Phone::parse("phone", "+358 40 123 4567").unwrap().as_str(),
            "+358401234567"
        );
        assert_eq!(
            Phone::parse("phone", "+1 (555) 010-9999").unwrap().as_str(),
            "+15550109999"
        );
        for bad in [
            "0401234567",
            "+0401234567",
            "+358",
            "+3584012345678901",
            "+358x401234567",
            "",
        ] {
            assert!(Phone::parse("phone", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lines_and_bodies() {
        assert_eq!(
            line("subject", "  Printer jams  ", 200).unwrap(),
            "Printer jams"
        );
        assert!(line("subject", "   ", 200).is_err());
        assert!(line("subject", "a\nb", 200).is_err());
        assert!(line("subject", "a\u{0}b", 200).is_err());
        assert!(line("subject", &"x".repeat(201), 200).is_err());
        assert!(body("body", "line one\nline two\ttabbed", 1000).is_ok());
        assert!(body("body", "nul\u{0}", 1000).is_err());
    }

    #[test]
    fn tags() {
        assert_eq!(tag("tags", " VPN ").unwrap(), "vpn");
        assert!(tag("tags", "two words").is_err());
        assert!(tag("tags", "a,b").is_err());
        assert_eq!(fold("ÄÖ Printer"), "äö printer");
    }
}
