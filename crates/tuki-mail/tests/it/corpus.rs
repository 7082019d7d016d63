use std::path::PathBuf;

use serde_json::{json, Value};
use tuki_mail::{parse, ThreadKeys};

fn corpus_dir() -> PathBuf {
    crate_dir().join("tests/corpus")
}

/// What a person checks for one message: everything but attachment bytes
/// (their size stands in, plus the first bytes as hex so a decoding error
/// shows).
fn summary(raw: &[u8]) -> Value {
    match parse(raw) {
        Err(e) => json!({ "error": e.to_string() }),
        Ok(m) => {
            let attachments: Vec<Value> = m
                .attachments
                .iter()
                .map(|a| {
                    json!({
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "content_id": a.content_id,
                        "inline": a.inline,
                        "size": a.size,
                        "head": a.bytes.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>(),
                    })
                })
                .collect();
            json!({
                "message_id": m.message_id,
                "message_id_synthetic": m.message_id_synthetic,
                "in_reply_to": m.in_reply_to,
                "references": m.references,
                "from": m.from,
                "reply_to": m.reply_to,
                "to": m.to,
                "subject": m.subject,
                "date": m.date,
                "text": m.text,
                "display_text": m.display_text,
                "html": m.html,
                "attachments": attachments,
                "forwarded": m.forwarded,
                "classification": m.classification,
                "thread_keys": ThreadKeys::of(&m, "Tuki"),
            })
        }
    }
}

#[test]
fn corpus_matches_expected_results() {
    let bless = std::env::var_os("TUKI_BLESS").is_some();
    let mut names: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    names.sort();
    assert!(names.len() >= 20, "the corpus lost messages");
    let mut failures = Vec::new();
    for eml in &names {
        let raw = std::fs::read(eml).unwrap();
        let got = summary(&raw);
        let expected_path = eml.with_extension("json");
        if bless {
            let text = serde_json::to_string_pretty(&got).unwrap() + "\n";
            std::fs::write(&expected_path, text).unwrap();
            continue;
        }
        let expected: Value = match std::fs::read_to_string(&expected_path) {
            Ok(t) => serde_json::from_str(&t).unwrap(),
            Err(_) => {
                failures.push(format!("{}: no expected result", eml.display()));
                continue;
            }
        };
        if got != expected {
            failures.push(format!(
                "{}:\n--- expected\n{}\n--- got\n{}",
                eml.display(),
                serde_json::to_string_pretty(&expected).unwrap(),
                serde_json::to_string_pretty(&got).unwrap()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Parsing never panics, whatever the bytes: the mail path must quarantine
/// garbage, not crash on it.
#[test]
fn truncated_corpus_messages_never_panic() {
    for e in std::fs::read_dir(corpus_dir()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|e| e != "eml") {
            continue;
        }
        let raw = std::fs::read(&p).unwrap();
        for cut in (0..raw.len()).step_by(7) {
            let _ = parse(&raw[..cut]);
        }
    }
}

mod fuzz {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = tuki_mail::parse(&raw);
        }

        #[test]
        fn arbitrary_headers_never_panic(h in "[ -~\r\n]{0,400}") {
            let raw = format!("From: a@b.c\r\n{h}\r\n\r\nbody");
            let _ = tuki_mail::parse(raw.as_bytes());
        }
    }
}

/// This crate's folder as cargo names it when running the tests. Read at run
/// time: a test binary built from another checkout sharing the target folder
/// would carry that checkout's path.
fn crate_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
