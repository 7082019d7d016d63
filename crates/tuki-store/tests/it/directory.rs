use tuki_domain::access::Actor;
use tuki_domain::directory::Role;
use tuki_store::directory::{NewGroup, NewOrganisation, OrganisationPatch, UserFilter, UserPatch};
use tuki_store::testing::TestDb;
use tuki_store::StoreError;

use crate::fixture::{user, Desk};

async fn customers_land_in_the_organisation_of_their_domain(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    assert_eq!(desk.alice.organisation_id, Some(desk.org_shared));
    assert!(desk.alice.organisation_shares);
    assert_eq!(desk.bob.organisation_id, Some(desk.org_private));
    assert!(!desk.bob.organisation_shares);
    // Domains are unique across organisations.
    let err = db
        .store
        .create_organisation(
            &desk.admin,
            NewOrganisation {
                name: "Copycat".into(),
                kind: None,
                shares_tickets: false,
                domains: vec!["SHARED.test".into()],
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { field: Some(ref f), .. } if f == "domains"),
        "{err:?}"
    );
    // ...and the failed create left nothing behind.
    let orgs = db
        .store
        .organisations(&desk.admin, Some("copycat"), None, 50)
        .await
        .unwrap();
    assert!(orgs.is_empty());
    let found = db
        .store
        .organisations(&desk.admin, Some("SHARED"), None, 50)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let renamed = db
        .store
        .update_organisation(
            &desk.admin,
            desk.org_shared,
            OrganisationPatch {
                name: Some("Jaettu Öy".into()),
                domains: Some(vec!["jaettu.test".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.domains, vec!["jaettu.test"]);
    assert_eq!(
        db.store
            .organisations(&desk.admin, Some("öy"), None, 50)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn users_are_validated_and_unique(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let s = &db.store;
    let err = s
        .create_user(&desk.tier1, user(Role::Customer, "ALICE@shared.test", None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { field: Some(ref f), .. } if f == "email"),
        "{err:?}"
    );
    let err = s
        .create_user(&desk.tier1, user(Role::Customer, "not-an-email", None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref v) if v.field == "email"));
    let mut with_phone = user(Role::Customer, "caller@example.test", None);
    with_phone.phone = Some("+358 40 765 4321".into());
    let caller = s.create_user(&desk.tier1, with_phone).await.unwrap();
    assert_eq!(caller.phone.as_deref(), Some("+358407654321"));
    assert_eq!(
        s.users_by_phone(&desk.tier1, "+358407654321")
            .await
            .unwrap()[0]
            .id,
        caller.id
    );
    let found = s
        .users(
            &desk.tier1,
            &UserFilter {
                q: Some("7654".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    // Agents register customers but not staff; customers do neither.
    let err = s
        .create_user(&desk.tier1, user(Role::Agent, "new-agent@desk.test", None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Forbidden(_)));
    let err = s
        .create_user(
            &desk.alice,
            user(Role::Customer, "friend@shared.test", None),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Forbidden(_)));
    // A customer sees only themself.
    assert!(matches!(
        s.user(&desk.alice, desk.bob.user_id.unwrap()).await,
        Err(StoreError::NotFound)
    ));
    assert!(s
        .user(&desk.alice, desk.alice.user_id.unwrap())
        .await
        .is_ok());
    // ...and may change their own name, but not their role.
    let me = desk.alice.user_id.unwrap();
    s.update_user(
        &desk.alice,
        me,
        UserPatch {
            name: Some("Alice A.".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let err = s
        .update_user(
            &desk.alice,
            me,
            UserPatch {
                role: Some(Role::Admin),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Forbidden(_)));
    // Clearing a phone number with an explicit null.
    let cleared = s
        .update_user(
            &desk.tier1,
            caller.id,
            UserPatch {
                phone: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared.phone, None);
}

async fn groups_have_tiers_and_staff_members(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let s = &db.store;
    let groups = s.groups(&desk.tier1).await.unwrap();
    assert_eq!(
        groups.iter().map(|g| g.tier).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(groups[0].members.len(), 1);
    let err = s
        .create_group(
            &desk.admin,
            NewGroup {
                name: "Engineers".into(),
                tier: 4,
                form: None,
                description: None,
                is_intake: false,
                members: vec![],
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref v) if v.field == "tier"));
    let err = s
        .add_group_member(&desk.admin, desk.tier2_group, desk.alice.user_id.unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref v) if v.field == "user_id"));
    let g = s
        .add_group_member(&desk.admin, desk.tier2_group, desk.tier1.user_id.unwrap())
        .await
        .unwrap();
    assert_eq!(g.members.len(), 2);
    // Adding twice is harmless.
    let g = s
        .add_group_member(&desk.admin, desk.tier2_group, desk.tier1.user_id.unwrap())
        .await
        .unwrap();
    assert_eq!(g.members.len(), 2);
    let g = s
        .remove_group_member(&desk.admin, desk.tier2_group, desk.tier1.user_id.unwrap())
        .await
        .unwrap();
    assert_eq!(g.members.len(), 1);
    let err = s
        .add_group_member(&desk.tier1, desk.tier2_group, desk.tier1.user_id.unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Forbidden(_)));
    // Only one intake group.
    let g3 = s
        .create_group(
            &Actor::system(),
            NewGroup {
                name: "New intake".into(),
                tier: 1,
                form: None,
                description: None,
                is_intake: true,
                members: vec![],
            },
        )
        .await
        .unwrap();
    let all = s.groups(&desk.admin).await.unwrap();
    assert_eq!(
        all.iter()
            .filter(|g| g.is_intake)
            .map(|g| g.id)
            .collect::<Vec<_>>(),
        vec![g3.id]
    );
}

async fn tokens_identify_their_user(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let s = &db.store;
    let t = s
        .create_token(desk.tier1.user_id.unwrap(), "laptop")
        .await
        .unwrap();
    assert!(t.token.starts_with("tuki_"));
    let actor = s.actor_for_token(&t.token).await.unwrap().unwrap();
    assert_eq!(actor, desk.tier1);
    assert!(s.actor_for_token("tuki_nonsense").await.unwrap().is_none());
    assert!(s.actor_for_token("").await.unwrap().is_none());
    // A deactivated user's token stops working.
    s.update_user(
        &desk.admin,
        desk.tier1.user_id.unwrap(),
        UserPatch {
            active: Some(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(s.actor_for_token(&t.token).await.unwrap().is_none());
    // Passwords.
    s.set_password(desk.tier2.user_id.unwrap(), "long enough password")
        .await
        .unwrap();
    assert_eq!(
        s.check_credentials("SECOND@desk.test", "long enough password")
            .await
            .unwrap(),
        desk.tier2.user_id
    );
    assert_eq!(
        s.check_credentials("second@desk.test", "wrong password!")
            .await
            .unwrap(),
        None
    );
}

async fn no_administrator_locks_themselves_out(db: TestDb) {
    let desk = Desk::new(db.store.clone()).await;
    let s = &db.store;
    let me = desk.admin.user_id.unwrap();
    for (patch, field) in [
        (
            tuki_store::directory::UserPatch {
                active: Some(false),
                ..Default::default()
            },
            "active",
        ),
        (
            tuki_store::directory::UserPatch {
                role: Some(Role::Agent),
                ..Default::default()
            },
            "role",
        ),
    ] {
        match s.update_user(&desk.admin, me, patch).await.unwrap_err() {
            tuki_store::StoreError::Conflict { field: f, .. } => {
                assert_eq!(f.as_deref(), Some(field))
            }
            e => panic!("{e:?}"),
        }
    }
    // Another administrator can.
    let other = s
        .create_user(
            &desk.admin,
            tuki_store::directory::NewUser {
                email: "another.admin@desk.test".into(),
                name: "Second".into(),
                phone: None,
                role: Some(Role::Admin),
                language: None,
                organisation_id: None,
                password: None,
            },
        )
        .await
        .unwrap();
    let other = s.actor_for_user(other.id).await.unwrap().unwrap();
    let demoted = s
        .update_user(
            &other,
            me,
            tuki_store::directory::UserPatch {
                role: Some(Role::Agent),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(demoted.role, Role::Agent);
}

tuki_store::on_both_engines!(
    no_administrator_locks_themselves_out,
    customers_land_in_the_organisation_of_their_domain,
    users_are_validated_and_unique,
    groups_have_tiers_and_staff_members,
    tokens_identify_their_user,
);
