//! What the web pages keep in the store: console queues and their counts,
//! sessions, invitations, the sign-in limiter, attachments and ratings.

use jiff::SignedDuration;
use tuki_domain::access::{can_view_ticket, Actor, TicketAction};
use tuki_domain::directory::{Language, Role};
use tuki_domain::ticket::{ArticleKind, Priority, TicketState};
use tuki_store::attachments::NewAttachment;
use tuki_store::auth::sessions::{
    FirstAdmin, INVITATION_MICROS, SESSION_IDLE_MICROS, SESSION_MAX_MICROS, SETUP_MICROS,
};
use tuki_store::console::{Queue, QueueSort};
use tuki_store::directory::{NewGroup, UserPatch};
use tuki_store::files::{blob_path, FilesConfig, Location};
use tuki_store::testing::TestDb;
use tuki_store::tickets::articles::NewArticle;
use tuki_store::tickets::transfer::Transfer;
use tuki_store::tickets::{Ticket, TicketFilter, TicketPatch};
use tuki_store::time::Clock;
use tuki_store::{Store, StoreError};

use crate::fixture::{ticket, user, Desk};

fn micros(m: i64) -> SignedDuration {
    SignedDuration::from_micros(m)
}

/// A store whose clock the test moves.
fn clocked(db: &TestDb) -> (Store, Clock) {
    let clock = Clock::manual("2026-03-02T10:00:00Z".parse().unwrap());
    (db.store.clone().with_clock(clock.clone()), clock)
}

fn in_queue(actor: &Actor, q: Queue, t: &Ticket) -> bool {
    let me = actor.user_id;
    match q {
        Queue::Mine => t.owner_id.is_some() && t.owner_id == me,
        Queue::Following => me.is_some_and(|m| t.followers.contains(&m)),
        Queue::Group(g) => t.group_id == Some(g),
        Queue::Unassigned => t.owner_id.is_none(),
        Queue::Pending => matches!(
            t.state,
            TicketState::PendingCustomer | TicketState::PendingThirdParty
        ),
        Queue::AllOpen => true,
    }
}

fn sorted(mut v: Vec<Ticket>, sort: QueueSort) -> Vec<i64> {
    match sort {
        QueueSort::Newest => v.sort_by_key(|t| std::cmp::Reverse(t.id)),
        QueueSort::Oldest => v.sort_by_key(|t| t.id),
        QueueSort::Priority => v.sort_by_key(|t| std::cmp::Reverse((t.priority.rank(), t.id))),
        QueueSort::Updated => v.sort_by_key(|t| std::cmp::Reverse((t.updated_at, t.id))),
    }
    v.iter().map(|t| t.id).collect()
}

/// The console's fast paths (branches per group for agents, counts summed
/// from one shared table) give the same tickets and numbers as the plain
/// access-checked list, for every queue (every group's too), sort and page;
/// and the list agrees with single reads. Customers have no console; their
/// lists and single reads are checked in `visibility.rs`.
async fn console_queues_agree_with_the_access_rules(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let s = &db.store;
    let (t1, t2) = (desk.tier1_group, desk.tier2_group);
    let mut made = Vec::new();
    let priorities = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];
    for i in 0..18usize {
        let mut new = ticket(&format!(
            "{} {i}",
            if i % 2 == 0 { "Printer" } else { "Laptop" }
        ));
        new.requester_id = [&desk.alice, &desk.bob][i % 2].user_id;
        new.group_id = Some([t1, t2][i % 3 % 2]);
        new.priority = Some(priorities[(i * 7) % 4]);
        made.push(s.create_ticket(&desk.admin, new).await.unwrap());
    }
    // Owned tickets: tier 1 owns one in its group, and two in a field
    // group it has since left (it still sees those as their owner).
    let field = s
        .create_group(
            &desk.admin,
            NewGroup {
                name: "Field service".into(),
                tier: 2,
                form: None,
                description: None,
                is_intake: false,
                members: vec![desk.tier1.user_id.unwrap(), desk.tier2.user_id.unwrap()],
            },
        )
        .await
        .unwrap()
        .id;
    for (i, priority) in priorities.iter().take(3).enumerate() {
        let mut new = ticket(&format!("Printer on site {i}"));
        new.requester_id = desk.alice.user_id;
        new.group_id = Some(field);
        new.priority = Some(*priority);
        made.push(s.create_ticket(&desk.admin, new).await.unwrap());
    }
    for i in [0, 18, 19] {
        s.update_ticket(
            &desk.admin,
            made[i].id,
            TicketPatch {
                owner_id: Some(desk.tier1.user_id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    s.remove_group_member(&desk.admin, field, desk.tier1.user_id.unwrap())
        .await
        .unwrap();
    let tier1 = s
        .actor_for_user(desk.tier1.user_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    let tier2 = s
        .actor_for_user(desk.tier2.user_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!tier1.in_group(field) && tier2.in_group(field));
    // Tier 1 follows a tier-2 ticket and transfers one (and so follows it).
    s.follow(&desk.admin, made[7].id, desk.tier1.user_id.unwrap())
        .await
        .unwrap();
    s.transfer(
        &desk.tier1,
        made[3].id,
        Transfer {
            group_id: t2,
            reason: "needs a specialist".into(),
            owner_id: None,
        },
    )
    .await
    .unwrap();
    // Waiting, solved and closed ones, and a late update.
    for (i, state) in [
        (4, TicketState::PendingCustomer),
        (7, TicketState::PendingThirdParty),
        (9, TicketState::Resolved),
        (10, TicketState::Closed),
        (11, TicketState::Open),
    ] {
        s.update_ticket(
            &desk.admin,
            made[i].id,
            TicketPatch {
                state: Some(state),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }

    let all = s.active_counts().await.unwrap();
    for (who, actor) in [("admin", &desk.admin), ("tier1", &tier1), ("tier2", &tier2)] {
        let visible = s
            .tickets(
                actor,
                &TicketFilter {
                    active: Some(true),
                    limit: 200,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .items;
        // The list holds exactly the active tickets a single read shows
        // (the domain's rule), and reading any other one is a 404.
        for t in &made {
            let t = s.ticket(&desk.admin, t.id).await.unwrap();
            let listed = visible.iter().any(|v| v.id == t.id);
            let rule = can_view_ticket(actor, &t.facts(actor));
            assert_eq!(listed, rule && t.state.is_active(), "{who} lists {}", t.id);
            match s.authorize(actor, t.id, TicketAction::View).await {
                Ok(_) => assert!(rule, "{who} reads {}", t.id),
                Err(StoreError::NotFound) => assert!(!rule, "{who} is denied {}", t.id),
                Err(e) => panic!("{e}"),
            }
        }
        let counts = s.queue_counts(actor, &all).await.unwrap();
        let queues = [
            Queue::Mine,
            Queue::Following,
            Queue::Group(t1),
            Queue::Group(t2),
            Queue::Group(field),
            Queue::Unassigned,
            Queue::Pending,
            Queue::AllOpen,
        ];
        for q in queues {
            let expected: Vec<Ticket> = visible
                .iter()
                .filter(|t| in_queue(actor, q, t))
                .cloned()
                .collect();
            let direct = s.queue_count(actor, q).await.unwrap();
            assert_eq!(direct, expected.len() as i64, "{who} {q:?} count");
            assert_eq!(counts.get(q), direct, "{who} {q:?} sidebar count");
            for sort in [
                QueueSort::Newest,
                QueueSort::Oldest,
                QueueSort::Priority,
                QueueSort::Updated,
            ] {
                let want = sorted(expected.clone(), sort);
                let got: Vec<i64> = s
                    .queue(actor, q, sort, None, None, 0, 200)
                    .await
                    .unwrap()
                    .iter()
                    .map(|t| t.id)
                    .collect();
                assert_eq!(got, want, "{who} {q:?} {sort:?}");
                // Page by page, the branches still merge in order.
                let mut paged = Vec::new();
                for page in 0..10 {
                    let part = s.queue(actor, q, sort, None, None, page, 2).await.unwrap();
                    paged.extend(part.iter().map(|t| t.id));
                }
                assert_eq!(paged, want, "{who} {q:?} {sort:?} by pages of 2");
            }
            // Text and priority filters apply inside the branches too.
            let want = sorted(
                expected
                    .iter()
                    .filter(|t| t.subject.starts_with("Printer") && t.priority == Priority::High)
                    .cloned()
                    .collect(),
                QueueSort::Newest,
            );
            let got: Vec<i64> = s
                .queue(
                    actor,
                    q,
                    QueueSort::Newest,
                    Some("printer"),
                    Some(Priority::High.rank()),
                    0,
                    50,
                )
                .await
                .unwrap()
                .iter()
                .map(|t| t.id)
                .collect();
            assert_eq!(got, want, "{who} {q:?} filtered");
        }
    }
}

async fn sessions_expire_and_end(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let (s, clock) = clocked(&db);
    let me = desk.tier1.user_id.unwrap();

    let a = s.create_session(me).await.unwrap();
    let b = s.create_session(me).await.unwrap();
    assert_ne!(a.token, b.token);
    assert_ne!(a.csrf, b.csrf, "every session has its own CSRF secret");
    assert_ne!(a.token, a.csrf);
    let got = s.session(&a.token).await.unwrap().unwrap();
    assert_eq!(got.user_id, me);
    assert_eq!(got.csrf, a.csrf);
    assert!(s.session("").await.unwrap().is_none());
    assert!(s.session("no such token").await.unwrap().is_none());
    assert!(s.session(&"x".repeat(500)).await.unwrap().is_none());

    // Signing out ends that session only.
    s.delete_session(&a.token).await.unwrap();
    assert!(s.session(&a.token).await.unwrap().is_none());
    assert!(s.session(&b.token).await.unwrap().is_some());

    // Idle for longer than allowed: gone.
    clock.advance(micros(SESSION_IDLE_MICROS) + SignedDuration::from_secs(1));
    assert!(s.session(&b.token).await.unwrap().is_none());

    // Used regularly, a session still ends at its maximum age.
    let c = s.create_session(me).await.unwrap();
    let step = micros(SESSION_IDLE_MICROS) - SignedDuration::from_secs(3600);
    let mut lived = SignedDuration::ZERO;
    while lived + step < micros(SESSION_MAX_MICROS) {
        clock.advance(step);
        lived += step;
        assert!(s.session(&c.token).await.unwrap().is_some(), "{lived:?}");
    }
    clock.advance(step);
    assert!(s.session(&c.token).await.unwrap().is_none());

    // Everywhere: after a password change, and for a deactivated user.
    let d = s.create_session(me).await.unwrap();
    let e = s.create_session(me).await.unwrap();
    s.delete_user_sessions(me).await.unwrap();
    assert!(s.session(&d.token).await.unwrap().is_none());
    assert!(s.session(&e.token).await.unwrap().is_none());
    let f = s.create_session(me).await.unwrap();
    s.update_user(
        &desk.admin,
        me,
        UserPatch {
            active: Some(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(s.session(&f.token).await.unwrap().is_none());
}

async fn invitations_are_single_use_and_expire(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let (s, clock) = clocked(&db);
    let system = Actor::system();
    let carl = s
        .create_user(&system, user(Role::Customer, "carl@shared.test", None))
        .await
        .unwrap();

    // An agent may invite a customer, not staff; an administrator anyone.
    let token = s.create_invitation(&desk.tier1, carl.id).await.unwrap();
    let err = s
        .create_invitation(&desk.tier1, desk.tier2.user_id.unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Forbidden(_)), "{err:?}");
    assert!(matches!(
        s.create_invitation(&desk.alice, carl.id).await.unwrap_err(),
        StoreError::Forbidden(_) | StoreError::NotFound
    ));

    let inv = s.invitation(&token).await.unwrap().unwrap();
    assert_eq!(inv.user_id, carl.id);
    assert_eq!(inv.email, "carl@shared.test");
    assert!(s.invitation("wrong").await.unwrap().is_none());

    // A short password is refused without using up the link.
    assert!(matches!(
        s.accept_invitation(&token, "short").await.unwrap_err(),
        StoreError::Invalid(_)
    ));
    let session = s.create_session(carl.id).await.unwrap();
    assert_eq!(
        s.accept_invitation(&token, "a long enough secret")
            .await
            .unwrap(),
        Some(carl.id)
    );
    assert_eq!(
        s.check_credentials("carl@shared.test", "a long enough secret")
            .await
            .unwrap(),
        Some(carl.id)
    );
    assert!(
        s.session(&session.token).await.unwrap().is_none(),
        "choosing a password ends the user's other sessions"
    );
    // Once only.
    assert!(s.invitation(&token).await.unwrap().is_none());
    assert_eq!(
        s.accept_invitation(&token, "another long secret")
            .await
            .unwrap(),
        None
    );
    assert!(s
        .check_credentials("carl@shared.test", "another long secret")
        .await
        .unwrap()
        .is_none());

    // A new link replaces an unused older one (password resets).
    let first = s.create_invitation(&desk.admin, carl.id).await.unwrap();
    let second = s.create_invitation(&desk.admin, carl.id).await.unwrap();
    assert!(s.invitation(&first).await.unwrap().is_none());
    assert!(s.invitation(&second).await.unwrap().is_some());

    // Links expire.
    clock.advance(micros(INVITATION_MICROS) + SignedDuration::from_secs(1));
    assert!(s.invitation(&second).await.unwrap().is_none());
    assert_eq!(
        s.accept_invitation(&second, "a late long secret")
            .await
            .unwrap(),
        None
    );
}

async fn login_failures_are_counted_per_key_in_a_window(db: TestDb) {
    let (s, clock) = clocked(&db);
    let window = 15 * 60 * 1_000_000;
    let email = "email:someone@desk.test".to_string();
    let ip = "ip:192.0.2.7".to_string();
    for _ in 0..3 {
        s.record_attempts(&[email.clone(), ip.clone()])
            .await
            .unwrap();
    }
    s.record_attempts(std::slice::from_ref(&ip)).await.unwrap();
    assert_eq!(s.attempts(&email, window).await.unwrap(), 3);
    assert_eq!(s.attempts(&ip, window).await.unwrap(), 4);
    assert_eq!(
        s.attempts("email:other@desk.test", window).await.unwrap(),
        0
    );

    // A success clears its own key only.
    s.clear_attempts(&email).await.unwrap();
    assert_eq!(s.attempts(&email, window).await.unwrap(), 0);
    assert_eq!(s.attempts(&ip, window).await.unwrap(), 4);

    // Failures older than the window no longer count.
    clock.advance(SignedDuration::from_secs(10 * 60));
    s.record_attempts(std::slice::from_ref(&ip)).await.unwrap();
    clock.advance(SignedDuration::from_secs(6 * 60));
    assert_eq!(s.attempts(&ip, window).await.unwrap(), 1);
}

async fn attachments_follow_the_ticket_rules(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let in_folder = db
        .store
        .clone()
        .with_files(FilesConfig {
            folder: Some(dir.path().to_path_buf()),
            write_to: Location::Folder,
            ..Default::default()
        })
        .unwrap();
    let s = &in_folder;

    // Content-addressed: the same bytes are stored once, under their hash.
    let bytes = b"serial number: AB-1234\n";
    let sha = s.put_blob(bytes).await.unwrap().sha256;
    assert_eq!(s.put_blob(bytes).await.unwrap().sha256, sha);
    assert_eq!(sha.len(), 64);
    let path = blob_path(dir.path(), &sha);
    assert!(path.starts_with(dir.path().join(&sha[..2])));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let files_on_disk = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
    assert_eq!(files_on_disk, 1, "no temporary files left behind");
    let other = s.put_blob(b"another file").await.unwrap().sha256;
    assert_ne!(other, sha);

    let t = desk.ticket_for(&desk.alice, "Dishwasher leaks").await;
    let file = |name: &str, sha: &str, size: usize| NewAttachment {
        sha256: sha.to_string(),
        size: size as i64,
        content_type: "text/plain".into(),
        file_name: name.into(),
    };
    // The customer's reply with a photo of the label…
    let reply = s
        .add_article(
            &desk.alice,
            t.id,
            NewArticle {
                kind: None,
                body: "The label is attached.".into(),
                internal: None,
            },
        )
        .await
        .unwrap();
    let public = s
        .add_attachments(
            &desk.alice,
            reply.id,
            vec![file("../../label photo.txt", &sha, bytes.len())],
        )
        .await
        .unwrap();
    assert_eq!(public.len(), 1);
    assert_eq!(
        public[0].file_name, "label photo.txt",
        "no folders in names"
    );
    assert_eq!(public[0].sha256, sha);
    // …and tier 1's internal note with a log.
    let note = s
        .add_article(
            &desk.tier1,
            t.id,
            NewArticle {
                kind: Some(ArticleKind::Note),
                body: "Log from the service tool.".into(),
                internal: None,
            },
        )
        .await
        .unwrap();
    assert!(note.internal);
    let internal = s
        .add_attachments(&desk.tier1, note.id, vec![file("log.txt", &other, 12)])
        .await
        .unwrap();

    // Only to one's own article, and only a real hash.
    assert!(matches!(
        s.add_attachments(&desk.amir, reply.id, vec![file("x.txt", &sha, 1)])
            .await
            .unwrap_err(),
        StoreError::Forbidden(_)
    ));
    assert!(matches!(
        s.add_attachments(
            &desk.alice,
            reply.id,
            vec![file("x.txt", "../etc/passwd", 1)]
        )
        .await
        .unwrap_err(),
        StoreError::Invalid(_)
    ));
    // …and only bytes the desk has stored.
    let never_stored = "ab".repeat(32);
    match s
        .add_attachments(&desk.alice, reply.id, vec![file("x.txt", &never_stored, 1)])
        .await
        .unwrap_err()
    {
        StoreError::Invalid(v) => assert_eq!(v.field, "files"),
        e => panic!("{e:?}"),
    }

    // Staff see both files.
    let staff: Vec<i64> = s
        .ticket_attachments(&desk.tier1, t.id)
        .await
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(staff, vec![public[0].id, internal[0].id]);
    assert_eq!(
        s.attachment(&desk.tier1, internal[0].id)
            .await
            .unwrap()
            .sha256,
        other
    );
    // The customer, and a colleague in the sharing organisation, never get
    // the internal note's file.
    for customer in [&desk.alice, &desk.amir] {
        let seen: Vec<i64> = s
            .ticket_attachments(customer, t.id)
            .await
            .unwrap()
            .iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(seen, vec![public[0].id]);
        assert!(s.attachment(customer, public[0].id).await.is_ok());
        assert!(matches!(
            s.attachment(customer, internal[0].id).await.unwrap_err(),
            StoreError::NotFound
        ));
    }
    // Another organisation's customer and an agent outside the ticket's
    // group get nothing.
    for outsider in [&desk.bob, &desk.tier2] {
        assert!(matches!(
            s.attachment(outsider, public[0].id).await.unwrap_err(),
            StoreError::NotFound | StoreError::Forbidden(_)
        ));
        assert!(s.ticket_attachments(outsider, t.id).await.is_err());
    }
    assert!(matches!(
        s.attachment(&desk.admin, 999_999).await.unwrap_err(),
        StoreError::NotFound
    ));
}

async fn ratings_come_from_the_customer_after_resolution(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let s = &db.store;
    let t = desk.ticket_for(&desk.alice, "Oven does not heat").await;

    // Not before it is resolved.
    assert!(matches!(
        s.rate_ticket(&desk.alice, t.id, 5, "").await.unwrap_err(),
        StoreError::Conflict { .. }
    ));
    s.update_ticket(
        &desk.tier1,
        t.id,
        TicketPatch {
            state: Some(TicketState::Resolved),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for bad in [0, 6, -1] {
        assert!(matches!(
            s.rate_ticket(&desk.alice, t.id, bad, "").await.unwrap_err(),
            StoreError::Invalid(_)
        ));
    }
    // Staff do not rate their own help; strangers cannot see the ticket.
    assert!(matches!(
        s.rate_ticket(&desk.tier1, t.id, 5, "").await.unwrap_err(),
        StoreError::Forbidden(_)
    ));
    assert!(s.rate_ticket(&desk.bob, t.id, 1, "").await.is_err());
    assert!(s.rating(&desk.alice, t.id).await.unwrap().is_none());

    let r = s
        .rate_ticket(&desk.alice, t.id, 4, "  Quick and friendly.  ")
        .await
        .unwrap();
    assert_eq!((r.score, r.comment.as_str()), (4, "Quick and friendly."));
    // A second rating replaces the first.
    s.rate_ticket(&desk.alice, t.id, 5, "").await.unwrap();
    let got = s.rating(&desk.tier1, t.id).await.unwrap().unwrap();
    assert_eq!((got.score, got.comment.as_str()), (5, ""));
    assert!(s.rating(&desk.bob, t.id).await.is_err());
    // It is part of the ticket's history.
    let history = s.history(&desk.tier1, t.id).await.unwrap();
    assert!(history
        .iter()
        .any(|h| h.field == "rating" && h.new_value.as_deref() == Some("5")));
}

fn first_admin(email: &str) -> FirstAdmin {
    FirstAdmin {
        email: email.into(),
        name: "Ada Admin".into(),
        language: Language::Fi,
        password: "a long enough secret".into(),
    }
}

/// First start: a setup link creates the first administrator, once; no
/// link works after that, or after a day.
async fn setup_links_make_one_first_administrator(db: TestDb) {
    let (s, clock) = clocked(&db);
    let system = Actor::system();
    // A customer may exist before any administrator (created by the CLI).
    s.create_user(&system, user(Role::Customer, "cora@desk.test", None))
        .await
        .unwrap();

    let first = s.create_setup_link().await.unwrap().unwrap();
    let second = s.create_setup_link().await.unwrap().unwrap();
    assert_ne!(first, second);
    assert!(s.setup_link_valid(&first).await.unwrap());
    assert!(!s.setup_link_valid("not a link").await.unwrap());
    assert_eq!(
        s.complete_setup("not a link", first_admin("ada@desk.test"))
            .await
            .unwrap(),
        None
    );

    // Mistakes are reported and do not use the link up.
    let mut short = first_admin("ada@desk.test");
    short.password = "short".into();
    assert!(matches!(
        s.complete_setup(&first, short).await.unwrap_err(),
        StoreError::Invalid(_)
    ));
    assert!(matches!(
        s.complete_setup(&first, first_admin("not an email"))
            .await
            .unwrap_err(),
        StoreError::Invalid(_)
    ));
    assert!(matches!(
        s.complete_setup(&first, first_admin("cora@desk.test"))
            .await
            .unwrap_err(),
        StoreError::Conflict { .. }
    ));
    assert!(s.setup_link_valid(&first).await.unwrap());

    let id = s
        .complete_setup(&first, first_admin("ada@desk.test"))
        .await
        .unwrap()
        .unwrap();
    let ada = s.user(&system, id).await.unwrap();
    assert_eq!((ada.role, ada.language), (Role::Admin, Language::Fi));
    assert_eq!(
        s.check_credentials("ada@desk.test", "a long enough secret")
            .await
            .unwrap(),
        Some(id)
    );
    // Used: this link and every other one; and no new ones are made.
    for link in [&first, &second] {
        assert!(!s.setup_link_valid(link).await.unwrap());
        assert_eq!(
            s.complete_setup(link, first_admin("eve@desk.test"))
                .await
                .unwrap(),
            None
        );
    }
    assert_eq!(s.create_setup_link().await.unwrap(), None);
    assert!(s.user_by_email(&system, "eve@desk.test").await.is_err());

    // With the administrator deactivated, a new start makes a new link,
    // which expires after a day.
    s.update_user(
        &system,
        id,
        UserPatch {
            active: Some(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let third = s.create_setup_link().await.unwrap().unwrap();
    clock.advance(micros(SETUP_MICROS) + SignedDuration::from_secs(1));
    assert!(!s.setup_link_valid(&third).await.unwrap());
    assert_eq!(
        s.complete_setup(&third, first_admin("eve@desk.test"))
            .await
            .unwrap(),
        None
    );

    // An administrator made another way (the CLI) ends the links too.
    let fourth = s.create_setup_link().await.unwrap().unwrap();
    s.create_user(&system, user(Role::Admin, "root@desk.test", None))
        .await
        .unwrap();
    assert!(!s.setup_link_valid(&fourth).await.unwrap());
    assert_eq!(
        s.complete_setup(&fourth, first_admin("eve@desk.test"))
            .await
            .unwrap(),
        None
    );
}

/// Two people opening two printed links at the same moment: one becomes
/// the administrator, the other's link no longer works.
async fn setup_links_race_to_one_administrator(db: TestDb) {
    let s = &db.store;
    let a = s.create_setup_link().await.unwrap().unwrap();
    let b = s.create_setup_link().await.unwrap().unwrap();
    let (x, y) = tokio::join!(
        s.complete_setup(&a, first_admin("ada@desk.test")),
        s.complete_setup(&b, first_admin("bea@desk.test")),
    );
    let made = [x.unwrap(), y.unwrap()];
    assert_eq!(made.iter().flatten().count(), 1, "{made:?}");
    assert_eq!(s.count_admins().await.unwrap(), 1);
}

/// Whoever holds a password link becomes that person, so an agent cannot
/// get one for someone who already has a password (that was a way to sign
/// in as any customer), and a reset by an administrator ends the person's
/// sessions and revokes their API tokens.
async fn an_agent_cannot_take_over_an_account(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let s = &db.store;
    let dora = s
        .create_user(
            &Actor::system(),
            user(Role::Customer, "dora@shared.test", None),
        )
        .await
        .unwrap();
    // Dora has no password yet: an agent may invite her.
    let agents_link = s.create_invitation(&desk.tier1, dora.id).await.unwrap();
    assert!(!s.invitation(&agents_link).await.unwrap().unwrap().resets);
    // She chooses a password before the link is used: the link no longer
    // replaces it.
    s.set_password(dora.id, "doras own secret").await.unwrap();
    assert_eq!(
        s.accept_invitation(&agents_link, "the agents secret")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.check_credentials("dora@shared.test", "doras own secret")
            .await
            .unwrap(),
        Some(dora.id)
    );
    // Nor may an agent make a new link for her.
    let err = s.create_invitation(&desk.tier1, dora.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Forbidden(_)), "{err:?}");

    // An administrator may: the link says it resets, and using it ends her
    // sessions and revokes her API tokens.
    let session = s.create_session(dora.id).await.unwrap();
    let token = s.create_token(dora.id, "script").await.unwrap();
    assert!(s.actor_for_token(&token.token).await.unwrap().is_some());
    let reset = s.create_invitation(&desk.admin, dora.id).await.unwrap();
    assert!(s.invitation(&reset).await.unwrap().unwrap().resets);
    assert_eq!(
        s.accept_invitation(&reset, "a brand new secret")
            .await
            .unwrap(),
        Some(dora.id)
    );
    assert!(s.session(&session.token).await.unwrap().is_none());
    assert!(s.actor_for_token(&token.token).await.unwrap().is_none());
    assert_eq!(
        s.check_credentials("dora@shared.test", "a brand new secret")
            .await
            .unwrap(),
        Some(dora.id)
    );
}

tuki_store::on_both_engines!(
    setup_links_make_one_first_administrator,
    setup_links_race_to_one_administrator,
    console_queues_agree_with_the_access_rules,
    sessions_expire_and_end,
    invitations_are_single_use_and_expire,
    an_agent_cannot_take_over_an_account,
    login_failures_are_counted_per_key_in_a_window,
    attachments_follow_the_ticket_rules,
    ratings_come_from_the_customer_after_resolution,
);
