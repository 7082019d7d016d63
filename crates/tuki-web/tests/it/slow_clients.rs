//! Clients that never finish their headers or bodies are dropped after the
//! timeouts, at most `max_connections` are open at once, and `/health`
//! still answers while they try (issue: hundreds of stalled connections
//! used to hold file handles forever).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tuki_store::testing::TestDb;

async fn spawn_limited(db: TestDb) -> (String, TestDb) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let limits = tuki_web::ServeLimits {
        header_timeout: Duration::from_secs(1),
        body_idle_timeout: Duration::from_secs(1),
        max_connections: 20,
        drain: Duration::from_secs(1),
    };
    let state = tuki_web::AppState::new(db.store.clone());
    tokio::spawn(tuki_web::serve_with(
        listener,
        state,
        limits,
        std::future::pending(),
    ));
    (addr, db)
}

/// Reads until the server closes the connection; what it sent.
async fn until_closed(s: &mut TcpStream, within: Duration) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read).await.ok()?;
    Some(String::from_utf8_lossy(&got).into_owned())
}

async fn stalled_clients_are_dropped_and_health_answers(db: TestDb) {
    let (addr, _db) = spawn_limited(db).await;
    // Three times the connection cap, each stopping in the middle of its headers.
    let mut stalled = Vec::new();
    for _ in 0..60 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: tuki.test\r\nX-Slow: ")
            .await
            .unwrap();
        stalled.push(s);
    }
    // A real client queued behind all of them gets its answer once the
    // stalled ones have timed out, wave by wave.
    let started = Instant::now();
    let health = tokio::time::timeout(Duration::from_secs(20), async {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: tuki.test\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        until_closed(&mut s, Duration::from_secs(20)).await
    })
    .await
    .expect("/health answered within 20 s")
    .expect("the answer ended");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it had to wait for a slot"
    );
    // The first stalled clients were dropped without an answer.
    let first = until_closed(&mut stalled[0], Duration::from_secs(5))
        .await
        .expect("a stalled client is disconnected");
    assert_eq!(first, "", "no response to half a request");
}

async fn a_body_that_stops_coming_ends_the_request(db: TestDb) {
    let (addr, _db) = spawn_limited(db).await;
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        b"POST /login HTTP/1.1\r\nHost: tuki.test\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 100\r\n\r\nemail=a",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let answer = until_closed(&mut s, Duration::from_secs(10))
        .await
        .expect("the connection ends within 10 s");
    assert!(started.elapsed() >= Duration::from_millis(900), "{answer}");
    // Whatever the page says (a bad form), it is not a server error.
    assert!(!answer.starts_with("HTTP/1.1 5"), "{answer}");
}

async fn an_idle_keep_alive_connection_is_closed(db: TestDb) {
    let (addr, _db) = spawn_limited(db).await;
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: tuki.test\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut s, Duration::from_secs(10))
        .await
        .expect("an idle connection is closed after the header timeout");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

tuki_store::on_both_engines!(
    stalled_clients_are_dropped_and_health_answers,
    a_body_that_stops_coming_ends_the_request,
    an_idle_keep_alive_connection_is_closed,
);
