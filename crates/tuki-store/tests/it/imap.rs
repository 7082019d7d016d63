//! The IMAP poller's lease on a mailbox: one `tuki serve` process polls a
//! mailbox at a time; the lease is renewed by its holder, taken over when
//! it runs out, and released only by its holder; two servers asking at
//! once get one answer yes. On both engines.

use jiff::SignedDuration;
use tuki_store::mail::imap::{ImapSecurity, ImapSettings};
use tuki_store::mail::Mailbox;
use tuki_store::testing::TestDb;
use tuki_store::time::Clock;
use tuki_store::Store;

const LEASE: SignedDuration = SignedDuration::from_secs(60);

async fn imap_mailbox(store: &Store, name: &str) -> Mailbox {
    let m = store
        .create_mailbox(name, &format!("{name}@desk.test"), None)
        .await
        .unwrap();
    store
        .set_mailbox_imap(
            m.id,
            Some(&ImapSettings {
                host: "127.0.0.1".into(),
                port: 143,
                security: ImapSecurity::Plain,
                user: "desk".into(),
                password: "secret".into(),
                folder: "INBOX".into(),
                move_to: None,
                poll_seconds: 60,
            }),
        )
        .await
        .unwrap();
    m
}

/// Who holds the mailbox's lease, and until when, as the mailbox shows it.
async fn holder(store: &Store, name: &str) -> (Option<String>, Option<jiff::Timestamp>) {
    let m = store.mailbox(name).await.unwrap().unwrap();
    (m.poller_node, m.poller_lease_until)
}

async fn a_mailbox_is_leased_to_one_server_until_the_lease_runs_out(db: TestDb) {
    let clock = Clock::manual("2026-03-02T10:00:00Z".parse().unwrap());
    let store = db.store.clone().with_clock(clock.clone());
    let mb = imap_mailbox(&store, "help").await;
    let other = imap_mailbox(&store, "sales").await;
    assert_eq!(holder(&store, "help").await, (None, None));

    // Free: the first server to ask takes it.
    assert!(store.take_mailbox_lease(mb.id, "a", LEASE).await.unwrap());
    let start = store.now();
    assert_eq!(
        holder(&store, "help").await,
        (Some("a".into()), Some(start + LEASE))
    );
    // The lease shows wherever mailboxes are read.
    let listed = store.imap_mailboxes().await.unwrap();
    let help = listed.iter().find(|m| m.mailbox.id == mb.id).unwrap();
    assert_eq!(help.mailbox.poller_node.as_deref(), Some("a"));
    assert_eq!(
        store
            .imap_mailbox(mb.id)
            .await
            .unwrap()
            .unwrap()
            .mailbox
            .poller_lease_until,
        Some(start + LEASE)
    );

    // Held: another server is refused and changes nothing.
    assert!(!store.take_mailbox_lease(mb.id, "b", LEASE).await.unwrap());
    assert_eq!(
        holder(&store, "help").await,
        (Some("a".into()), Some(start + LEASE))
    );
    // Another mailbox is a lease of its own.
    assert!(store
        .take_mailbox_lease(other.id, "b", LEASE)
        .await
        .unwrap());

    // The holder renews: the lease runs from the renewal.
    clock.advance(SignedDuration::from_secs(20));
    assert!(store.take_mailbox_lease(mb.id, "a", LEASE).await.unwrap());
    let renewed = store.now() + LEASE;
    assert_eq!(holder(&store, "help").await.1, Some(renewed));

    // Up to the last microsecond of the lease it is a's ...
    clock.set(renewed);
    assert!(!store.take_mailbox_lease(mb.id, "b", LEASE).await.unwrap());
    // ... and after it (a crashed) whoever asks first takes it over.
    clock.advance(SignedDuration::from_micros(1));
    assert!(store.take_mailbox_lease(mb.id, "b", LEASE).await.unwrap());
    assert_eq!(
        holder(&store, "help").await,
        (Some("b".into()), Some(store.now() + LEASE))
    );
    // The old holder's renewal finds it lost.
    assert!(!store.take_mailbox_lease(mb.id, "a", LEASE).await.unwrap());

    // Only the holder releases it; a release frees it at once.
    assert!(!store.release_mailbox_lease(mb.id, "a").await.unwrap());
    assert_eq!(holder(&store, "help").await.0.as_deref(), Some("b"));
    assert!(store.release_mailbox_lease(mb.id, "b").await.unwrap());
    assert_eq!(holder(&store, "help").await, (None, None));
    assert!(!store.release_mailbox_lease(mb.id, "b").await.unwrap());
    // b's lease on the other mailbox ran out meanwhile but is still its
    // own: nobody took it, so b renews it.
    assert_eq!(holder(&store, "sales").await.0.as_deref(), Some("b"));
    assert!(store
        .take_mailbox_lease(other.id, "b", LEASE)
        .await
        .unwrap());
    assert!(store.take_mailbox_lease(mb.id, "a", LEASE).await.unwrap());
    assert_eq!(holder(&store, "help").await.0.as_deref(), Some("a"));

    // No such mailbox: nothing to hold.
    assert!(!store.take_mailbox_lease(999_999, "a", LEASE).await.unwrap());
    assert!(!store.release_mailbox_lease(999_999, "a").await.unwrap());
}

async fn two_servers_asking_at_once_get_one_lease(db: TestDb) {
    // Two stores with their own pools on one database, as two `tuki serve`
    // processes would have, on one clock.
    let clock = Clock::manual("2026-03-02T10:00:00Z".parse().unwrap());
    let a = db.store.clone().with_clock(clock.clone());
    let b = Store::connect(&db.url)
        .await
        .unwrap()
        .with_clock(clock.clone());
    let mb = imap_mailbox(&a, "help").await;
    for round in 0..40 {
        let (ta, tb) = (a.clone(), b.clone());
        let ask_a = tokio::spawn(async move { ta.take_mailbox_lease(mb.id, "a", LEASE).await });
        let ask_b = tokio::spawn(async move { tb.take_mailbox_lease(mb.id, "b", LEASE).await });
        let got = [ask_a.await.unwrap().unwrap(), ask_b.await.unwrap().unwrap()];
        assert_eq!(
            got.iter().filter(|g| **g).count(),
            1,
            "round {round}: {got:?}"
        );
        let winner = if got[0] { "a" } else { "b" };
        assert_eq!(holder(&a, "help").await.0.as_deref(), Some(winner));
        // The next round races for a released lease, or for one that ran out.
        if round % 2 == 0 {
            let store = if got[0] { &a } else { &b };
            assert!(store.release_mailbox_lease(mb.id, winner).await.unwrap());
        } else {
            clock.advance(LEASE + SignedDuration::from_secs(1));
        }
    }
    b.close().await;
}

tuki_store::on_both_engines!(
    a_mailbox_is_leased_to_one_server_until_the_lease_runs_out,
    two_servers_asking_at_once_get_one_lease,
);
