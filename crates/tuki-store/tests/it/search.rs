//! Full-text search: Finnish and English word forms, folding, ranking, the
//! same visibility as every other read, and an index kept current by the
//! writes themselves.

use tuki_domain::access::Actor;
use tuki_domain::ticket::ArticleKind;
use tuki_domain::ticket::TicketState;
use tuki_store::directory::{OrganisationPatch, UserPatch};
use tuki_store::search::SearchRequest;
use tuki_store::testing::TestDb;
use tuki_store::tickets::articles::NewArticle;
use tuki_store::tickets::{TicketFilter, TicketPatch};
use tuki_store::StoreError;

use crate::fixture::{ticket, Desk};

fn request(q: &str) -> SearchRequest {
    SearchRequest {
        q: q.into(),
        filter: TicketFilter {
            limit: 50,
            ..Default::default()
        },
        offset: 0,
        customers: true,
    }
}

async fn numbers(desk: &Desk, actor: &Actor, q: &str) -> Vec<i64> {
    let mut n: Vec<i64> = desk
        .store
        .search(actor, &request(q))
        .await
        .unwrap()
        .tickets
        .iter()
        .map(|h| h.ticket.number)
        .collect();
    n.sort_unstable();
    n
}

async fn note(desk: &Desk, id: i64, body: &str) {
    desk.store
        .add_article(
            &desk.tier1,
            id,
            NewArticle {
                kind: Some(ArticleKind::Note),
                body: body.into(),
                internal: None,
            },
        )
        .await
        .unwrap();
}

async fn finds_word_forms_in_both_languages(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let printer = desk.ticket_for(&desk.alice, "Tulostin ei tulosta").await;
    let jam = desk.ticket_for(&desk.alice, "Paperi jumissa").await;
    desk.store
        .add_article(
            &desk.alice,
            jam.id,
            NewArticle {
                kind: None,
                body: "Tulostimessa palaa punainen valo ja tulostimen luukku on auki.".into(),
                internal: None,
            },
        )
        .await
        .unwrap();
    let english = desk.ticket_for(&desk.bob, "All printers offline").await;
    let other = desk.ticket_for(&desk.bob, "Näyttö pimenee").await;

    let agent = &desk.tier1;
    assert_eq!(
        numbers(&desk, agent, "tulostimen ").await,
        [printer.number, jam.number]
    );
    assert_eq!(
        numbers(&desk, agent, "tulostin ").await,
        [printer.number, jam.number]
    );
    assert_eq!(numbers(&desk, agent, "printer ").await, [english.number]);
    assert_eq!(numbers(&desk, agent, "naytto ").await, [other.number]);
    // Every word must match; the last may be a prefix while typed.
    assert_eq!(numbers(&desk, agent, "punainen tulost").await, [jam.number]);
    // When no ticket holds every word, those holding some, said to be so.
    let loose = desk
        .store
        .search(agent, &request("punainen skanneri"))
        .await
        .unwrap();
    assert!(loose.relaxed);
    assert_eq!(
        loose
            .tickets
            .iter()
            .map(|h| h.ticket.number)
            .collect::<Vec<_>>(),
        [jam.number]
    );
    assert!(
        !desk
            .store
            .search(agent, &request("punainen tulost"))
            .await
            .unwrap()
            .relaxed
    );
    // A typo at a word's end.
    assert_eq!(
        numbers(&desk, agent, "tulostn").await,
        [printer.number, jam.number]
    );
    // By number.
    assert_eq!(
        numbers(&desk, agent, &format!("{} ", other.number)).await,
        [other.number]
    );
    // A stop word alone finds nothing, and no query is a 500.
    assert_eq!(numbers(&desk, agent, "the ").await, Vec::<i64>::new());
    for bad in ["", "  ", "?!", "a\0b"] {
        match desk.store.search(agent, &request(bad)).await {
            Err(StoreError::Invalid(e)) => assert_eq!(e.field, "q", "{bad:?}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    // The snippet marks the matching words of the article that matched.
    let hits = desk
        .store
        .search(agent, &request("punainen valo"))
        .await
        .unwrap();
    let marked: Vec<&str> = hits.tickets[0]
        .snippet
        .iter()
        .filter(|p| p.hit)
        .map(|p| p.text.as_str())
        .collect();
    assert_eq!(marked, ["punainen", "valo"]);
}

async fn ranks_the_subject_above_the_body(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let in_body = desk.ticket_for(&desk.alice, "Kysymys laitteesta").await;
    note(&desk, in_body.id, "Asiakas mainitsi myös reitittimen.").await;
    let in_subject = desk.ticket_for(&desk.alice, "Reititin ei käynnisty").await;
    let hits = desk
        .store
        .search(&desk.tier1, &request("reititin "))
        .await
        .unwrap();
    let order: Vec<i64> = hits.tickets.iter().map(|h| h.ticket.id).collect();
    assert_eq!(order, [in_subject.id, in_body.id]);
    assert!(!hits.more);
    // Pages by offset.
    let mut second = request("reititin ");
    second.filter.limit = 1;
    let first_page = desk.store.search(&desk.tier1, &second).await.unwrap();
    assert!(first_page.more);
    second.offset = 1;
    let next = desk.store.search(&desk.tier1, &second).await.unwrap();
    assert_eq!(next.tickets[0].ticket.id, in_body.id);
    assert!(!next.more);
}

async fn customers_find_only_what_they_may_read(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let alices = desk.ticket_for(&desk.alice, "Pesukone vuotaa").await;
    note(
        &desk,
        alices.id,
        "Sisäinen: takuu tarkistettu, sarjanumero XK99",
    )
    .await;
    let bobs = desk.ticket_for(&desk.bob, "Pesukone ei linkoa").await;

    // Staff see both and the internal note.
    assert_eq!(
        numbers(&desk, &desk.admin, "pesukone ").await,
        [alices.number, bobs.number]
    );
    assert_eq!(numbers(&desk, &desk.tier1, "xk99 ").await, [alices.number]);
    // Alice's organisation shares tickets: Amir sees hers, never Bob's.
    assert_eq!(
        numbers(&desk, &desk.amir, "pesukone ").await,
        [alices.number]
    );
    assert_eq!(numbers(&desk, &desk.bob, "pesukone ").await, [bobs.number]);
    // Internal notes never reach customers, by their words or a snippet.
    for customer in [&desk.alice, &desk.amir, &desk.bob, &desk.bella] {
        assert_eq!(numbers(&desk, customer, "xk99 ").await, Vec::<i64>::new());
        assert_eq!(
            numbers(&desk, customer, "takuu tarkistettu").await,
            Vec::<i64>::new()
        );
        let hits = desk
            .store
            .search(customer, &request("pesukone "))
            .await
            .unwrap();
        for h in &hits.tickets {
            let text: String = h.snippet.iter().map(|p| p.text.as_str()).collect();
            assert!(!text.contains("XK99"), "{text}");
        }
        // People and organisations are for staff.
        assert!(hits.customers.is_empty());
        // The list's `q` keeps the same rules.
        let listed = desk
            .store
            .tickets(
                customer,
                &TicketFilter {
                    text: Some("xk99".into()),
                    limit: 50,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(listed.items.is_empty());
    }
    // Filters apply: organisation.
    let mut only_private = request("pesukone ");
    only_private.filter.organisation_id = Some(desk.org_private);
    let hits = desk.store.search(&desk.admin, &only_private).await.unwrap();
    assert_eq!(hits.tickets.len(), 1);
    assert_eq!(hits.tickets[0].ticket.id, bobs.id);
}

async fn renamed_people_and_organisations_are_found_at_once(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let t = desk.ticket_for(&desk.bob, "Laturi ei lataa").await;
    let bob = desk.bob.user_id.unwrap();
    desk.store
        .update_user(
            &desk.admin,
            bob,
            UserPatch {
                name: Some("Matti Äijälä".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // The ticket by its requester's new name, diacritics folded.
    assert_eq!(numbers(&desk, &desk.tier1, "aijala ").await, [t.number]);
    assert_eq!(numbers(&desk, &desk.tier1, "matti ").await, [t.number]);
    // By the requester's email.
    assert_eq!(
        numbers(&desk, &desk.tier1, "bob@private.test").await,
        [t.number]
    );
    let hits = desk
        .store
        .search(&desk.tier1, &request("äijälä"))
        .await
        .unwrap();
    assert_eq!(hits.customers.len(), 1);
    assert_eq!(hits.customers[0].kind, "person");
    assert_eq!(hits.customers[0].id, bob);

    desk.store
        .update_organisation(
            &desk.admin,
            desk.org_private,
            OrganisationPatch {
                name: Some("Kylmäkone Oy".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let hits = desk
        .store
        .search(&desk.tier1, &request("kylmakone"))
        .await
        .unwrap();
    assert_eq!(hits.customers.len(), 1);
    assert_eq!(hits.customers[0].kind, "organisation");
    assert_eq!(hits.customers[0].id, desk.org_private);
}

async fn a_rebuild_restores_the_index(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let t = desk
        .ticket_for(&desk.alice, "Jääkaapin ovi ei sulkeudu")
        .await;
    assert!(!desk.store.search_index_missing().await.unwrap());
    db.store
        .execute_raw_for_tests("DELETE FROM search_docs")
        .await
        .unwrap();
    assert!(desk.store.search_index_missing().await.unwrap());
    assert_eq!(
        numbers(&desk, &desk.tier1, "jääkaappi ").await,
        Vec::<i64>::new()
    );
    let mut seen = Vec::new();
    let done = desk.store.reindex_search(|p| seen.push(p)).await.unwrap();
    assert_eq!(done.done, done.total);
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(!desk.store.search_index_missing().await.unwrap());
    assert_eq!(numbers(&desk, &desk.tier1, "jääkaappi ").await, [t.number]);
}

async fn suggests_similar_solved_requests(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let solved = desk
        .ticket_for(&desk.alice, "Tulostimen paperi juuttuu")
        .await;
    desk.store
        .update_ticket(
            &desk.admin,
            solved.id,
            TicketPatch {
                state: Some(TicketState::Resolved),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut screen = ticket("Näyttö pimenee");
    screen.body = "Kuva katoaa hetkeksi, ääni kuuluu edelleen.".into();
    let unrelated = desk.store.create_ticket(&desk.tier1, screen).await.unwrap();
    desk.store
        .update_ticket(
            &desk.admin,
            unrelated.id,
            TicketPatch {
                state: Some(TicketState::Resolved),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let still_open = desk.ticket_for(&desk.bob, "Tulostin: paperi jumissa").await;
    let new = desk
        .ticket_for(&desk.amir, "Paperi jumittuu tulostimeen")
        .await;
    let similar = desk
        .store
        .similar_tickets(&desk.admin, new.id, 5)
        .await
        .unwrap();
    let ids: Vec<i64> = similar.iter().map(|h| h.ticket.id).collect();
    // Solved ones only, never the ticket itself or the open one.
    assert_eq!(ids, [solved.id]);
    assert!(!ids.contains(&still_open.id) && !ids.contains(&new.id));
    // Tier 2 sees only its own tickets' like (none are in its group).
    assert!(desk
        .store
        .similar_tickets(&desk.tier2, new.id, 5)
        .await
        .is_err());
    assert!(desk
        .store
        .similar_tickets(&desk.amir, new.id, 5)
        .await
        .is_err());
}

tuki_store::on_both_engines!(
    suggests_similar_solved_requests,
    finds_word_forms_in_both_languages,
    ranks_the_subject_above_the_body,
    customers_find_only_what_they_may_read,
    renamed_people_and_organisations_are_found_at_once,
    a_rebuild_restores_the_index,
);
