//! Fresh databases for tests, on either engine. Every store and API test runs
//! on both: SQLite in a temporary folder, and PostgreSQL in a new database of
//! the cluster named by `TUKI_TEST_POSTGRES_URL` (the test script starts a
//! throwaway cluster and sets it). A missing PostgreSQL fails the test rather
//! than skipping it, so a green run always means both engines passed.

use std::str::FromStr;

use sqlx::any::AnyConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

use crate::{Engine, Store};

/// A migrated, empty database that lives as long as this value.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(engine: Engine) -> TestDb {
        match engine {
            Engine::Sqlite => Self::sqlite().await,
            Engine::Postgres => Self::postgres().await,
        }
    }

    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = format!("sqlite://{}", dir.path().join("tuki.db").display());
        let store = Store::connect(&url).await.expect("open SQLite");
        store.migrate().await.expect("migrate SQLite");
        TestDb {
            store,
            url,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> TestDb {
        let admin = std::env::var("TUKI_TEST_POSTGRES_URL").expect(
            "TUKI_TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL",
        );
        sqlx::any::install_default_drivers();
        let name = format!("tuki_test_{}", rand::random::<u64>());
        let opts = AnyConnectOptions::from_str(&admin)
            .expect("valid URL")
            .disable_statement_logging();
        let mut conn = opts.connect().await.expect("connect to the test cluster");
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        conn.close().await.ok();
        let url = with_database(&admin, &name);
        let store = Store::connect(&url).await.expect("open PostgreSQL");
        store.migrate().await.expect("migrate PostgreSQL");
        TestDb {
            store,
            url,
            _dir: None,
        }
    }
}

/// Declares each listed `async fn NAME(db: TestDb)` as two tests,
/// `sqlite::NAME` and `postgres::NAME`.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::testing::TestDb::new($crate::Engine::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::testing::TestDb::new($crate::Engine::Postgres).await).await
                }
            )*
        }
    };
}

/// A throwaway certificate authority and a server certificate it signed for
/// `localhost` and `127.0.0.1`, made with the `openssl` command-line tool in
/// a temporary folder (removed with this value): the private CA of the mail
/// servers in the TLS tests. `scripts/test.sh` installs `openssl` when it is
/// missing.
pub struct TestCa {
    /// The CA's certificate (PEM): what Tuki is told to trust.
    pub ca_pem: std::path::PathBuf,
    /// The server's certificate (PEM).
    pub cert_pem: std::path::PathBuf,
    /// The server's private key (PEM, unencrypted).
    pub key_pem: std::path::PathBuf,
    pub dir: tempfile::TempDir,
}

impl TestCa {
    pub fn generate() -> TestCa {
        let dir = tempfile::tempdir().expect("temporary folder");
        let d = dir.path();
        // Our own configuration, so the system's openssl.cnf adds nothing.
        std::fs::write(
            d.join("openssl.cnf"),
            "[req]\n\
             distinguished_name = dn\n\
             prompt = no\n\
             [dn]\n\
             CN = Tuki test CA\n\
             [ca]\n\
             basicConstraints = critical, CA:TRUE\n\
             keyUsage = critical, keyCertSign, cRLSign\n\
             subjectKeyIdentifier = hash\n\
             [server]\n\
             basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\n\
             subjectAltName = DNS:localhost, IP:127.0.0.1\n\
             authorityKeyIdentifier = keyid\n",
        )
        .expect("write openssl.cnf");
        let openssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .unwrap_or_else(|e| {
                    panic!("cannot run openssl ({e}): run the tests with scripts/test.sh, which installs it")
                });
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec![
            "req",
            "-x509",
            "-config",
            "openssl.cnf",
            "-extensions",
            "ca",
        ];
        ca.extend(ec);
        ca.extend(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"]);
        openssl(&ca);
        let mut csr = vec![
            "req",
            "-new",
            "-config",
            "openssl.cnf",
            "-subj",
            "/CN=localhost",
        ];
        csr.extend(ec);
        csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
        openssl(&csr);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            "server",
            "-out",
            "server.pem",
        ]);
        TestCa {
            ca_pem: d.join("ca.pem"),
            cert_pem: d.join("server.pem"),
            key_pem: d.join("server.key"),
            dir,
        }
    }
}

/// Replaces the database of a PostgreSQL URL: `postgres://u@h:p/postgres?x`
/// becomes `postgres://u@h:p/NAME?x`.
fn with_database(url: &str, name: &str) -> String {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let (head, tail) = url.split_at(scheme_end);
    let host_end = tail.find(['/', '?']).unwrap_or(tail.len());
    let query = tail.find('?').map(|q| &tail[q..]).unwrap_or("");
    format!("{head}{}/{name}{query}", &tail[..host_end])
}

impl Store {
    /// Runs SQL bypassing the store's rules, to prove the schema itself
    /// enforces an invariant.
    pub async fn execute_raw_for_tests(&self, sql: &str) -> Result<u64, sqlx::Error> {
        Ok(sqlx::raw_sql(sql)
            .execute(&self.write)
            .await?
            .rows_affected())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_in_url() {
        assert_eq!(
            super::with_database("postgres://t@127.0.0.1:5/postgres", "x"),
            "postgres://t@127.0.0.1:5/x"
        );
        assert_eq!(
            super::with_database("postgres://t@h:5/postgres?sslmode=disable", "x"),
            "postgres://t@h:5/x?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://t@h:5", "x"),
            "postgres://t@h:5/x"
        );
    }
}

mod desk;
pub use desk::{ticket, user, Desk};
