//! Finnish and English catalogues for the pages.
//!
//! One file per language in `i18n/`, compiled into the binary: lines of
//! `key = text`, `#` comments. `{name}` in a text is replaced by the value
//! given for `name`. Tests check that both catalogues have the same keys and
//! that every key the templates use exists.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::http::HeaderMap;
use serde::Serialize;
use tuki_domain::directory::Language;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Fi,
    #[default]
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fi => "fi",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "fi" => Some(Lang::Fi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The domain's language of this one (reasons, money, dates).
    pub fn language(self) -> Language {
        match self {
            Lang::Fi => Language::Fi,
            Lang::En => Language::En,
        }
    }

    pub fn from_language(l: Language) -> Lang {
        match l {
            Language::Fi => Lang::Fi,
            Language::En => Lang::En,
        }
    }

    /// The first of Finnish and English the browser asks for (by q-value),
    /// else English.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        let Some(raw) = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
        else {
            return Lang::En;
        };
        let mut best: Option<(f32, Lang)> = None;
        for part in raw.split(',') {
            let mut bits = part.trim().split(';');
            let tag = bits.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = bits
                .find_map(|b| {
                    b.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            if let Some(lang) = Lang::parse(primary) {
                if best.is_none_or(|(bq, _)| q > bq) {
                    best = Some((q, lang));
                }
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::En)
    }
}

pub type Catalogue = HashMap<String, String>;

fn parse(text: &str) -> Catalogue {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

static EN: LazyLock<Catalogue> = LazyLock::new(|| parse(include_str!("../../i18n/en.txt")));
static FI: LazyLock<Catalogue> = LazyLock::new(|| parse(include_str!("../../i18n/fi.txt")));

pub fn catalogue(lang: Lang) -> &'static Catalogue {
    match lang {
        Lang::Fi => &FI,
        Lang::En => &EN,
    }
}

/// The text for `key`, or the key itself when missing (tests keep that from
/// happening).
pub fn t(lang: Lang, key: &str) -> String {
    catalogue(lang)
        .get(key)
        .or_else(|| EN.get(key))
        .cloned()
        .unwrap_or_else(|| key.to_string())
}

/// `t` with `{name}` placeholders filled.
pub fn tf(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let mut s = t(lang, key);
    for (k, v) in args {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogues_have_the_same_keys() {
        let mut missing = Vec::new();
        for k in EN.keys() {
            if !FI.contains_key(k) {
                missing.push(format!("fi lacks {k}"));
            }
        }
        for k in FI.keys() {
            if !EN.contains_key(k) {
                missing.push(format!("en lacks {k}"));
            }
        }
        missing.sort();
        assert!(missing.is_empty(), "{missing:#?}");
    }

    #[test]
    fn every_key_used_in_templates_and_code_exists() {
        let mut missing = Vec::new();
        for (name, src) in crate::pages::render::TEMPLATES {
            for quote in ['"', '\''] {
                let pat = format!("t({quote}");
                let mut rest: &str = src;
                while let Some(i) = rest.find(&pat) {
                    // `t(` itself, not the end of `form.input(`.
                    let call =
                        !rest[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.');
                    rest = &rest[i + pat.len()..];
                    let end = rest.find(quote).unwrap_or(0);
                    let key = &rest[..end];
                    if !call {
                        continue;
                    }
                    // Keys built at run time ("state." ~ x) end with a dot.
                    if !key.ends_with('.') && !EN.contains_key(key) {
                        missing.push(format!("{name}: {key}"));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "{missing:#?}");
    }

    #[test]
    fn accept_language() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert(
            "accept-language",
            "fi-FI,fi;q=0.9,en;q=0.8".parse().unwrap(),
        );
        assert_eq!(Lang::from_headers(&h), Lang::Fi);
        h.insert("accept-language", "sv,en;q=0.5,fi;q=0.4".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::En);
        assert_eq!(tf(Lang::En, "test.hello", &[("name", "A")]), "Hello A");
    }
}
