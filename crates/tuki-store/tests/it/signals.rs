//! The change feed behind live updates, on both engines: the database
//! itself leaves a row for every change of a ticket, calls are announced
//! with the server that wrote them, and the feed is kept short.

use tuki_domain::ticket::Priority;
use tuki_store::feed::CallNotice;
use tuki_store::testing::TestDb;
use tuki_store::tickets::TicketPatch;

use crate::fixture::{ticket, Desk};

async fn every_change_of_a_ticket_leaves_a_signal(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let s = &db.store;
    let start = s.newest_signal().await.unwrap();
    let mut new = ticket("Näyttö pimeänä");
    new.requester_id = desk.alice.user_id;
    let t = s.create_ticket(&desk.tier1, new).await.unwrap();
    s.update_ticket(
        &desk.tier1,
        t.id,
        TicketPatch {
            priority: Some(Priority::High),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let signals = s.signals_after(start, 100).await.unwrap();
    let mine: Vec<_> = signals
        .iter()
        .filter(|x| x.ticket_id == Some(t.id))
        .collect();
    assert!(mine.len() >= 2, "created and changed: {signals:?}");
    assert!(mine
        .iter()
        .all(|x| x.kind == "ticket" && x.number == Some(t.number)));
    assert!(
        signals.windows(2).all(|w| w[0].id < w[1].id),
        "oldest first"
    );

    // A call, with the server that announced it.
    let before = s.newest_signal().await.unwrap();
    let notice = CallNotice {
        call_id: 7,
        agent_id: desk.tier1.user_id,
        group_id: Some(desk.tier1_group),
        ended: false,
    };
    s.signal_call("server-a", &notice).await.unwrap();
    s.signal_call(
        "server-a",
        &CallNotice {
            ended: true,
            ..notice.clone()
        },
    )
    .await
    .unwrap();
    let calls = s.signals_after(before, 10).await.unwrap();
    assert_eq!(
        calls
            .iter()
            .map(|c| (
                c.kind.as_str(),
                c.call_id,
                c.agent_id,
                c.group_id,
                c.origin.as_deref()
            ))
            .collect::<Vec<_>>(),
        [
            (
                "call",
                Some(7),
                desk.tier1.user_id,
                Some(desk.tier1_group),
                Some("server-a")
            ),
            (
                "hangup",
                Some(7),
                desk.tier1.user_id,
                Some(desk.tier1_group),
                Some("server-a")
            ),
        ]
    );

    // Pruned down to the newest rows; the newest id stays.
    let newest = s.newest_signal().await.unwrap();
    assert!(s.prune_signals(1).await.unwrap() >= 3);
    assert_eq!(s.signals_after(0, 100).await.unwrap().len(), 1);
    assert_eq!(s.newest_signal().await.unwrap(), newest);
}

tuki_store::on_both_engines!(every_change_of_a_ticket_leaves_a_signal);
