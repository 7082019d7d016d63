//! A small desk: two customer organisations (one sharing tickets), a tier-1
//! and a tier-2 group with an agent each, and an administrator.

use crate::directory::{NewGroup, NewOrganisation, NewUser};
use crate::tickets::{NewTicket, Ticket};
use crate::Store;
use tuki_domain::access::Actor;
use tuki_domain::directory::Role;

pub struct Desk {
    pub store: Store,
    pub admin: Actor,
    pub tier1: Actor,
    pub tier2: Actor,
    pub tier1_group: i64,
    pub tier2_group: i64,
    /// Customers of the sharing organisation.
    pub alice: Actor,
    pub amir: Actor,
    /// Customer of the private organisation.
    pub bob: Actor,
    pub bella: Actor,
    pub org_shared: i64,
    pub org_private: i64,
}

pub fn user(role: Role, email: &str, org: Option<i64>) -> NewUser {
    NewUser {
        email: email.into(),
        name: email.split('@').next().unwrap().into(),
        phone: None,
        role: Some(role),
        language: None,
        organisation_id: org,
        password: None,
    }
}

pub fn ticket(subject: &str) -> NewTicket {
    NewTicket {
        subject: subject.into(),
        body: "It does not work.".into(),
        requester_id: None,
        channel: None,
        category: None,
        priority: None,
        group_id: None,
        owner_id: None,
        tags: vec![],
        article_kind: None,
        asset_id: None,
    }
}

impl Desk {
    pub async fn new(store: Store) -> Desk {
        let system = Actor::system();
        let admin = store
            .create_user(&system, user(Role::Admin, "admin@desk.test", None))
            .await
            .unwrap();
        let a1 = store
            .create_user(&system, user(Role::Agent, "first@desk.test", None))
            .await
            .unwrap();
        let a2 = store
            .create_user(&system, user(Role::Agent, "second@desk.test", None))
            .await
            .unwrap();
        let g1 = store
            .create_group(
                &system,
                NewGroup {
                    name: "Service desk".into(),
                    tier: 1,
                    form: None,
                    description: None,
                    is_intake: true,
                    members: vec![a1.id],
                },
            )
            .await
            .unwrap();
        let g2 = store
            .create_group(
                &system,
                NewGroup {
                    name: "Specialists".into(),
                    tier: 2,
                    form: None,
                    description: None,
                    is_intake: false,
                    members: vec![a2.id],
                },
            )
            .await
            .unwrap();
        let shared = store
            .create_organisation(
                &system,
                NewOrganisation {
                    name: "Shared Oy".into(),
                    kind: None,
                    shares_tickets: true,
                    domains: vec!["shared.test".into()],
                },
            )
            .await
            .unwrap();
        let private = store
            .create_organisation(
                &system,
                NewOrganisation {
                    name: "Private Ab".into(),
                    kind: None,
                    shares_tickets: false,
                    domains: vec!["private.test".into()],
                },
            )
            .await
            .unwrap();
        let mut customers = Vec::new();
        for email in [
            "alice@shared.test",
            "amir@shared.test",
            "bob@private.test",
            "bella@private.test",
        ] {
            let u = store
                .create_user(&system, user(Role::Customer, email, None))
                .await
                .unwrap();
            customers.push(store.actor_for_user(u.id).await.unwrap().unwrap());
        }
        let actor = |id| {
            let store = store.clone();
            async move { store.actor_for_user(id).await.unwrap().unwrap() }
        };
        Desk {
            admin: actor(admin.id).await,
            tier1: actor(a1.id).await,
            tier2: actor(a2.id).await,
            tier1_group: g1.id,
            tier2_group: g2.id,
            bella: customers.pop().unwrap(),
            bob: customers.pop().unwrap(),
            amir: customers.pop().unwrap(),
            alice: customers.pop().unwrap(),
            org_shared: shared.id,
            org_private: private.id,
            store,
        }
    }

    /// A ticket registered by tier 1 for a customer.
    pub async fn ticket_for(&self, customer: &Actor, subject: &str) -> Ticket {
        let mut new = ticket(subject);
        new.requester_id = customer.user_id;
        new.channel = Some(tuki_domain::ticket::Channel::Phone);
        self.store.create_ticket(&self.tier1, new).await.unwrap()
    }
}
