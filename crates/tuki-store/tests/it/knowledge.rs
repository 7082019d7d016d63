//! Knowledge articles: writing and revisions, states, translations, who
//! may read and find them, use at work, feedback and deflection, review
//! reminders, and the desk's knowledge settings.

use jiff::{SignedDuration, Timestamp};
use tuki_domain::directory::Language;
use tuki_domain::knowledge::{ArticleState, ArticleVisibility};
use tuki_domain::ticket::TicketState;
use tuki_store::knowledge::{
    ArticleFilter, ArticleInput, Feedback, KnowledgeArticle, KnowledgeSettings, StateInput,
};
use tuki_store::search::ArticleSearch;
use tuki_store::testing::TestDb;
use tuki_store::tickets::TicketPatch;
use tuki_store::time::Clock;
use tuki_store::StoreError;

use crate::fixture::{ticket, Desk};

fn input(title: &str, symptom: &str, solution: &str) -> ArticleInput {
    ArticleInput {
        title: title.into(),
        symptom: symptom.into(),
        cause: String::new(),
        solution: solution.into(),
        products: vec!["printer".into()],
        category: "Printing".into(),
        language: Language::En,
        visibility: ArticleVisibility::Public,
        owner_id: None,
        review_by: None,
        translation_of: None,
        source_ticket_id: None,
        base_revision: None,
        note: String::new(),
    }
}

async fn publish(desk: &Desk, id: i64) -> KnowledgeArticle {
    desk.store
        .set_knowledge_state(
            &desk.tier1,
            id,
            StateInput {
                state: ArticleState::Published,
                note: String::new(),
            },
        )
        .await
        .unwrap()
}

async fn found(desk: &Desk, reader: Option<&tuki_domain::access::Actor>, q: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = desk
        .store
        .search_articles(
            reader,
            &ArticleSearch {
                q: q.into(),
                filter: ArticleFilter {
                    limit: 50,
                    ..Default::default()
                },
            },
        )
        .await
        .unwrap()
        .iter()
        .map(|h| h.article.id)
        .collect();
    ids.sort_unstable();
    ids
}

async fn revisions_record_every_change_with_a_readable_diff(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let a = desk
        .store
        .create_knowledge_article(
            &desk.tier1,
            input(
                "Paper jam in tray 2",
                "The printer stops with E15.",
                "Open the rear door.",
            ),
        )
        .await
        .unwrap();
    assert_eq!((a.state, a.revision), (ArticleState::Draft, 1));
    assert_eq!(a.owner_id, desk.tier1.user_id.unwrap());
    let mut edit = input(
        "Paper jam in tray 2",
        "The printer stops with E15.",
        "Open the rear door.\nRemove the crumpled sheet.",
    );
    edit.base_revision = Some(1);
    edit.note = "added the second step".into();
    let b = desk
        .store
        .update_knowledge_article(&desk.tier2, a.id, edit.clone())
        .await
        .unwrap();
    assert_eq!(b.revision, 2);
    // The same text again is no new revision.
    edit.base_revision = Some(2);
    let same = desk
        .store
        .update_knowledge_article(&desk.tier2, a.id, edit.clone())
        .await
        .unwrap();
    assert_eq!(same.revision, 2);
    // An edit made on revision 1 after revision 2 is refused.
    edit.base_revision = Some(1);
    edit.solution = "Something else".into();
    let stale = desk
        .store
        .update_knowledge_article(&desk.tier1, a.id, edit)
        .await
        .unwrap_err();
    assert!(matches!(stale, StoreError::Conflict { .. }), "{stale:?}");

    let history = desk
        .store
        .knowledge_revisions(&desk.admin, a.id)
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|r| r.revision).collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(history[0].author_name, "second");
    assert_eq!(history[0].note, "added the second step");
    let diff = desk
        .store
        .knowledge_revision_diff(&desk.admin, a.id, 2)
        .await
        .unwrap();
    assert_eq!(diff.previous, Some(1));
    let changed: Vec<(&str, &str)> = diff
        .lines
        .iter()
        .filter(|l| l.change != "same")
        .map(|l| (l.change, l.text.as_str()))
        .collect();
    assert_eq!(changed, [("added", "Remove the crumpled sheet.")]);
    // Customers see no history.
    assert!(desk
        .store
        .knowledge_revisions(&desk.alice, a.id)
        .await
        .is_err());
}

async fn states_and_translations(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let mut no_solution = input("Router blinks red", "The light blinks red.", "");
    no_solution.language = Language::En;
    let a = desk
        .store
        .create_knowledge_article(&desk.tier1, no_solution)
        .await
        .unwrap();
    let refused = desk
        .store
        .set_knowledge_state(
            &desk.tier1,
            a.id,
            StateInput {
                state: ArticleState::Published,
                note: String::new(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, StoreError::Invalid(ref v) if v.field == "solution"));
    let mut fixed = input("Router blinks red", "The light blinks red.", "Restart it.");
    fixed.products = vec!["router".into()];
    desk.store
        .update_knowledge_article(&desk.tier1, a.id, fixed)
        .await
        .unwrap();
    let published = publish(&desk, a.id).await;
    assert!(published.published_at.is_some());
    let archived = desk
        .store
        .set_knowledge_state(
            &desk.tier1,
            a.id,
            StateInput {
                state: ArticleState::Archived,
                note: "replaced by the new model's article".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(archived.state, ArticleState::Archived);
    // Archived comes back only through draft.
    assert!(desk
        .store
        .set_knowledge_state(
            &desk.tier1,
            a.id,
            StateInput {
                state: ArticleState::Published,
                note: String::new(),
            },
        )
        .await
        .is_err());

    let mut fi = input(
        "Reitittimen valo vilkkuu punaisena",
        "Valo vilkkuu punaisena.",
        "Käynnistä uudelleen.",
    );
    fi.language = Language::Fi;
    fi.translation_of = Some(a.id);
    let t = desk
        .store
        .create_knowledge_article(&desk.tier1, fi.clone())
        .await
        .unwrap();
    assert_eq!(t.family_id, a.id);
    assert_eq!(t.translations.len(), 1);
    assert_eq!(t.translations[0].id, a.id);
    // One article per language in a family.
    let again = desk
        .store
        .create_knowledge_article(&desk.tier1, fi)
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::Conflict { .. }), "{again:?}");
    // Customers do not write articles.
    assert!(matches!(
        desk.store
            .create_knowledge_article(&desk.alice, input("x", "y", "z"))
            .await,
        Err(StoreError::Forbidden(_))
    ));
}

async fn customers_read_and_find_only_published_public_articles(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let public = desk
        .store
        .create_knowledge_article(
            &desk.tier1,
            input(
                "Printer shows E15",
                "Paper is stuck in the printer.",
                "Open the rear door.",
            ),
        )
        .await
        .unwrap();
    let mut internal_in = input(
        "Printer firmware reset",
        "The printer is stuck on the logo.",
        "Hold reset for ten seconds; the service password is 4711.",
    );
    internal_in.visibility = ArticleVisibility::Internal;
    let internal = desk
        .store
        .create_knowledge_article(&desk.tier1, internal_in)
        .await
        .unwrap();
    let draft = desk
        .store
        .create_knowledge_article(
            &desk.tier1,
            input("Printer is stuck offline", "Stuck offline.", "Re-add it."),
        )
        .await
        .unwrap();
    publish(&desk, public.id).await;
    publish(&desk, internal.id).await;

    // Staff find all three, customers and the public the published public one.
    assert_eq!(
        found(&desk, Some(&desk.tier1), "stuck printer").await,
        [public.id, internal.id, draft.id]
    );
    assert_eq!(
        found(&desk, Some(&desk.bob), "stuck printer").await,
        [public.id]
    );
    assert_eq!(found(&desk, None, "stuck printer").await, [public.id]);
    assert_eq!(found(&desk, None, "4711").await, Vec::<i64>::new());
    for reader in [Some(&desk.bob), None] {
        for id in [internal.id, draft.id] {
            assert!(matches!(
                desk.store.knowledge_article(reader, id).await,
                Err(StoreError::NotFound)
            ));
        }
        assert!(desk
            .store
            .knowledge_article(reader, public.id)
            .await
            .is_ok());
    }
    let listed: Vec<i64> = desk
        .store
        .knowledge_articles(
            None,
            &ArticleFilter {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(listed, [public.id]);
    // Archiving takes it out of the customers' reach at once.
    desk.store
        .set_knowledge_state(
            &desk.tier1,
            public.id,
            StateInput {
                state: ArticleState::Archived,
                note: String::new(),
            },
        )
        .await
        .unwrap();
    assert_eq!(found(&desk, None, "stuck printer").await, Vec::<i64>::new());
    // The general search box shows articles too.
    let all = desk
        .store
        .search(
            &desk.bob,
            &tuki_store::search::SearchRequest {
                q: "printer".into(),
                filter: tuki_store::tickets::TicketFilter {
                    limit: 20,
                    ..Default::default()
                },
                offset: 0,
                customers: true,
            },
        )
        .await
        .unwrap();
    assert!(all.articles.is_empty());
    let staff = desk
        .store
        .search(
            &desk.tier1,
            &tuki_store::search::SearchRequest {
                q: "firmware".into(),
                filter: tuki_store::tickets::TicketFilter {
                    limit: 20,
                    ..Default::default()
                },
                offset: 0,
                customers: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(staff.articles[0].article.id, internal.id);
}

async fn the_ticket_page_suggests_the_article_and_counts_its_use(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let mut jam = input(
        "Tulostimen paperitukos",
        "Tulostin pysähtyy ja näyttää virheen E15, paperi on jumissa.",
        "Avaa takaluukku ja poista rypistynyt arkki.",
    );
    jam.language = Language::Fi;
    let jam = desk
        .store
        .create_knowledge_article(&desk.tier1, jam)
        .await
        .unwrap();
    let mut wifi = input(
        "Reititin ei jaa verkkoa",
        "Langaton verkko katoaa.",
        "Vaihda kanavaa.",
    );
    wifi.language = Language::Fi;
    let wifi = desk
        .store
        .create_knowledge_article(&desk.tier1, wifi)
        .await
        .unwrap();
    publish(&desk, jam.id).await;
    publish(&desk, wifi.id).await;
    let mut t = ticket("Paperi jumissa tulostimessa");
    t.body = "Tulostimemme näyttää virheen E15 joka aamu.".into();
    let t = desk.store.create_ticket(&desk.tier1, t).await.unwrap();
    let suggested = desk
        .store
        .suggest_articles_for_ticket(&desk.tier1, t.id, 5)
        .await
        .unwrap();
    assert_eq!(
        suggested.iter().map(|h| h.article.id).collect::<Vec<_>>(),
        [jam.id]
    );
    let used = desk
        .store
        .use_knowledge_article(&desk.tier1, jam.id, t.id)
        .await
        .unwrap();
    assert!(used.public);
    assert!(used.solution.contains("takaluukku"));
    assert_eq!(
        desk.store
            .knowledge_article(Some(&desk.tier1), jam.id)
            .await
            .unwrap()
            .uses,
        1
    );
    // A customer cannot use articles, nor an agent on a ticket they cannot see.
    assert!(desk
        .store
        .use_knowledge_article(&desk.alice, jam.id, t.id)
        .await
        .is_err());
    assert!(desk
        .store
        .suggest_articles_for_ticket(&desk.alice, t.id, 5)
        .await
        .is_err());

    // A solved ticket gives a draft.
    assert!(desk
        .store
        .draft_from_ticket(&desk.tier1, t.id)
        .await
        .is_err());
    desk.store
        .update_ticket(
            &desk.admin,
            t.id,
            TicketPatch {
                state: Some(TicketState::Resolved),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let draft = desk
        .store
        .draft_from_ticket(&desk.tier1, t.id)
        .await
        .unwrap();
    assert_eq!(draft.title, "Paperi jumissa tulostimessa");
    assert!(draft.symptom.contains("E15"));
}

async fn feedback_views_and_deflections_are_counted(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let a = desk
        .store
        .create_knowledge_article(
            &desk.tier1,
            input("Charger is hot", "The charger gets hot.", "Unplug it."),
        )
        .await
        .unwrap();
    // Not yet published: the public cannot judge or read it.
    assert!(desk
        .store
        .knowledge_feedback(None, a.id, Feedback { helpful: true })
        .await
        .is_err());
    publish(&desk, a.id).await;
    let vote = |reader, helpful| {
        let store = desk.store.clone();
        async move {
            store
                .knowledge_feedback(reader, a.id, Feedback { helpful })
                .await
                .unwrap()
        }
    };
    vote(Some(&desk.alice), true).await;
    // Alice changes her mind: still one vote.
    let after = vote(Some(&desk.alice), false).await;
    assert_eq!((after.helpful, after.not_helpful), (0, 1));
    vote(None, true).await;
    let after = vote(Some(&desk.tier2), true).await;
    assert_eq!((after.helpful, after.not_helpful), (2, 1));
    desk.store.record_knowledge_view(None, a.id).await.unwrap();
    desk.store
        .record_knowledge_view(Some(&desk.bob), a.id)
        .await
        .unwrap();
    desk.store
        .record_deflection(Some(&desk.bob), a.id, "portal")
        .await
        .unwrap();
    desk.store
        .record_deflection(None, a.id, "widget")
        .await
        .unwrap();
    assert!(desk
        .store
        .record_deflection(None, a.id, "fax")
        .await
        .is_err());
    let a = desk.store.knowledge_article(None, a.id).await.unwrap();
    assert_eq!((a.views, a.deflections), (2, 2));
}

async fn owners_are_reminded_of_overdue_reviews(db: TestDb) {
    let start: Timestamp = "2026-12-01T08:00:00Z".parse().unwrap();
    let clock = Clock::manual(start);
    let store = db.store.clone().with_clock(clock.clone());
    let desk = Desk::new(store.clone()).await;
    let mut i = input(
        "Heat pump shows E5",
        "E5 on the display.",
        "Clean the filter.",
    );
    i.review_by = Some(start + SignedDuration::from_hours(24));
    i.owner_id = desk.tier2.user_id;
    let a = store
        .create_knowledge_article(&desk.tier1, i)
        .await
        .unwrap();
    publish(&desk, a.id).await;
    assert_eq!(store.remind_article_owners().await.unwrap(), 0);
    let overdue = ArticleFilter {
        review_overdue: true,
        limit: 50,
        ..Default::default()
    };
    assert!(store
        .knowledge_articles(Some(&desk.tier1), &overdue)
        .await
        .unwrap()
        .is_empty());

    clock.advance(SignedDuration::from_hours(25));
    let listed = store
        .knowledge_articles(Some(&desk.tier1), &overdue)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].review_overdue);
    // Through the job queue, as `tuki serve` runs it.
    store.schedule_knowledge_review(clock.now()).await.unwrap();
    store
        .work_jobs(
            "test",
            &[tuki_store::knowledge::KNOWLEDGE_REVIEW_JOB],
            10,
            SignedDuration::from_mins(1),
            |job| {
                let store = store.clone();
                async move { store.run_store_job(&job, "test").await }
            },
        )
        .await
        .unwrap();
    let mails = store.outbox_rows(10).await.unwrap();
    let reminders: Vec<_> = mails
        .iter()
        .filter(|m| m.kind == "knowledge_review")
        .collect();
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0].recipient, "second@desk.test");
    assert!(reminders[0].subject.contains("Heat pump shows E5"));
    assert!(reminders[0]
        .body
        .contains(&format!("/agent/knowledge/{}", a.id)));
    insta::assert_snapshot!(
        "knowledge_review_mail",
        format!(
            "To: {}\nSubject: {}\n\n{}",
            reminders[0].recipient,
            reminders[0].subject,
            reminders[0].body.replace(&format!("/{}\n", a.id), "/ID\n")
        )
    );
    // Not again the next day; again a week later.
    clock.advance(SignedDuration::from_hours(24));
    assert_eq!(store.remind_article_owners().await.unwrap(), 0);
    clock.advance(SignedDuration::from_hours(24 * 7));
    assert_eq!(store.remind_article_owners().await.unwrap(), 1);
    // A new review date ends it.
    let mut later = input(
        "Heat pump shows E5",
        "E5 on the display.",
        "Clean the filter.",
    );
    later.review_by = Some(clock.now() + SignedDuration::from_hours(24 * 180));
    later.owner_id = desk.tier2.user_id;
    store
        .update_knowledge_article(&desk.tier2, a.id, later)
        .await
        .unwrap();
    clock.advance(SignedDuration::from_hours(24 * 8));
    assert_eq!(store.remind_article_owners().await.unwrap(), 0);
}

async fn settings_take_origins_as_browsers_send_them(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    assert_eq!(
        desk.store.knowledge_settings().await.unwrap(),
        KnowledgeSettings::default()
    );
    let set = desk
        .store
        .set_knowledge_settings(
            &desk.admin,
            KnowledgeSettings {
                public_without_sign_in: true,
                widget_origins: vec![
                    "https://WWW.Example.com/".into(),
                    "http://127.0.0.1:8080".into(),
                    "https://www.example.com".into(),
                ],
            },
        )
        .await
        .unwrap();
    assert_eq!(
        set.widget_origins,
        ["https://www.example.com", "http://127.0.0.1:8080"]
    );
    assert!(set.public_without_sign_in);
    for bad in [
        "www.example.com",
        "https://example.com/help",
        "javascript:alert(1)",
    ] {
        let e = desk
            .store
            .set_knowledge_settings(
                &desk.admin,
                KnowledgeSettings {
                    public_without_sign_in: true,
                    widget_origins: vec![bad.into()],
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(e, StoreError::Invalid(ref v) if v.field == "widget_origins"),
            "{bad}"
        );
    }
    assert!(matches!(
        desk.store
            .set_knowledge_settings(&desk.tier1, KnowledgeSettings::default())
            .await,
        Err(StoreError::Forbidden(_))
    ));
}

async fn files_follow_their_article_and_the_sweep_keeps_them(db: TestDb) {
    let store = db
        .store
        .clone()
        .with_files(tuki_store::files::FilesConfig {
            grace: SignedDuration::ZERO,
            ..tuki_store::files::FilesConfig::default()
        })
        .unwrap();
    let desk = Desk::new(store.clone()).await;
    let public = store
        .create_knowledge_article(
            &desk.tier1,
            input("Router lights", "Red light.", "Restart."),
        )
        .await
        .unwrap();
    let mut i = input("Router service menu", "Hidden menu.", "Code 4711.");
    i.visibility = ArticleVisibility::Internal;
    let internal = store
        .create_knowledge_article(&desk.tier1, i)
        .await
        .unwrap();
    let mut files = Vec::new();
    for (article, name) in [(public.id, "lights.png"), (internal.id, "menu.png")] {
        let blob = store.put_blob(name.as_bytes()).await.unwrap();
        let attached = store
            .attach_knowledge_files(
                &desk.tier1,
                article,
                vec![tuki_store::attachments::NewAttachment {
                    sha256: blob.sha256,
                    size: blob.size,
                    content_type: "image/png".into(),
                    file_name: format!("../{name}"),
                }],
            )
            .await
            .unwrap();
        assert_eq!(attached[0].file_name, name);
        files.push(attached[0].id);
    }
    // Customers may not add files.
    assert!(store
        .attach_knowledge_files(&desk.alice, public.id, Vec::new())
        .await
        .is_err());
    // A draft's files are staff's; published public ones everyone's.
    assert!(matches!(
        store.knowledge_file(None, files[0]).await,
        Err(StoreError::NotFound)
    ));
    publish(&desk, public.id).await;
    publish(&desk, internal.id).await;
    assert!(store.knowledge_file(None, files[0]).await.is_ok());
    assert!(matches!(
        store.knowledge_file(Some(&desk.bob), files[1]).await,
        Err(StoreError::NotFound)
    ));
    assert!(store
        .knowledge_file(Some(&desk.tier2), files[1])
        .await
        .is_ok());
    // The sweep keeps what an article names, and lets go once removed.
    assert_eq!(store.sweep_files().await.unwrap().blobs, 0);
    store
        .remove_knowledge_file(&desk.tier1, files[1])
        .await
        .unwrap();
    assert_eq!(store.sweep_files().await.unwrap().blobs, 1);
    assert_eq!(
        store.knowledge_files(None, public.id).await.unwrap().len(),
        1
    );
}

tuki_store::on_both_engines!(
    files_follow_their_article_and_the_sweep_keeps_them,
    revisions_record_every_change_with_a_readable_diff,
    states_and_translations,
    customers_read_and_find_only_published_public_articles,
    the_ticket_page_suggests_the_article_and_counts_its_use,
    feedback_views_and_deflections_are_counted,
    owners_are_reminded_of_overdue_reviews,
    settings_take_origins_as_browsers_send_them,
);
