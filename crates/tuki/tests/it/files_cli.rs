//! `tuki files` as an operator runs it on a SQLite desk: a mail's file lands
//! in the data folder (SQLite's default), `tuki files migrate --to database`
//! moves it into the database and `--to folder` back, byte for byte, and
//! `tuki files status` says where it is.

use std::io::Write;
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};
use tuki_store::testing::TestDb;

fn tuki(db_url: &str, data_dir: &std::path::Path, args: &[&str], stdin: &[u8]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tuki"))
        .args(args)
        .env("TUKI_DATABASE_URL", db_url)
        .env("TUKI_DATA_DIR", data_dir)
        .env("TUKI_LOG", "error")
        .env_remove("TUKI_FILES")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tuki");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "tuki {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn line<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {status}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_migrate_moves_a_mails_file_to_the_database_and_back() {
    let db = TestDb::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let pdf: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
    let mail = format!(
        "From: cora@customer.test\r\nTo: help@desk.test\r\nSubject: Invoice copy\r\n\
         Message-ID: <files-cli@x>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain\r\n\r\nThe invoice is attached.\r\n--b\r\n\
         Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        base64_lines(&pdf)
    );
    tuki(&db.url, data.path(), &["mail", "ingest"], mail.as_bytes());
    let sha = hex(&pdf);
    let in_folder = data
        .path()
        .join("attachments")
        .join(&sha[..2])
        .join(&sha[2..]);
    assert_eq!(
        std::fs::read(&in_folder).unwrap(),
        pdf,
        "SQLite keeps files in the folder"
    );
    let status = tuki(&db.url, data.path(), &["files", "status"], b"");
    assert_eq!(line(&status, "in folder:"), "in folder:    1");

    let out = tuki(
        &db.url,
        data.path(),
        &["files", "migrate", "--to", "database"],
        b"",
    );
    assert!(
        out.contains("moved 1 files (300000 bytes) to the database"),
        "{out}"
    );
    assert!(out.contains("set TUKI_FILES=database"), "{out}");
    assert!(
        !in_folder.exists(),
        "the original is removed once the copy is checked"
    );
    let status = tuki(&db.url, data.path(), &["files", "status"], b"");
    assert_eq!(line(&status, "in database:"), "in database:  1");
    // Still the same file for the desk.
    let stored = db.store.read_blob(&sha).await.unwrap();
    assert_eq!(stored, pdf);

    let out = tuki(
        &db.url,
        data.path(),
        &["--files", "database", "files", "migrate", "--to", "folder"],
        b"",
    );
    assert!(out.contains("moved 1 files"), "{out}");
    assert_eq!(hex(&std::fs::read(&in_folder).unwrap()), sha);
    // Nothing left to move.
    let out = tuki(
        &db.url,
        data.path(),
        &["files", "migrate", "--to", "folder"],
        b"",
    );
    assert!(out.contains("moved 0 files"), "{out}");
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Base64 in lines of 76 characters, as mail carries it.
fn base64_lines(bytes: &[u8]) -> String {
    use base64::Engine as _;
    let one = base64::engine::general_purpose::STANDARD.encode(bytes);
    one.as_bytes()
        .chunks(76)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}
