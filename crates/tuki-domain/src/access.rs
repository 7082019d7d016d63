//! Who may see and change what. Every read and write of the store asks these
//! functions; list queries apply the same rules as SQL (see the store's
//! `visibility` module), and a test checks the two agree.

use crate::directory::Role;
use crate::ticket::ArticleKind;

/// The signed-in caller, with what access rules need to know about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `None` for Tuki itself (CLI, background jobs).
    pub user_id: Option<i64>,
    pub role: Role,
    pub organisation_id: Option<i64>,
    /// Whether the caller's organisation lets its members see each other's tickets.
    pub organisation_shares: bool,
    /// Groups the caller belongs to (agents).
    pub group_ids: Vec<i64>,
}

impl Actor {
    /// Tuki acting on its own behalf, e.g. from the command line.
    pub fn system() -> Self {
        Actor {
            user_id: None,
            role: Role::Admin,
            organisation_id: None,
            organisation_shares: false,
            group_ids: Vec::new(),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn is_staff(&self) -> bool {
        self.role.is_staff()
    }

    pub fn in_group(&self, group_id: i64) -> bool {
        self.group_ids.contains(&group_id)
    }
}

/// What the rules need to know about one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketFacts {
    pub requester_id: i64,
    pub organisation_id: Option<i64>,
    pub group_id: Option<i64>,
    pub owner_id: Option<i64>,
    /// Whether the actor follows the ticket.
    pub followed_by_actor: bool,
}

/// Things one does to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketAction {
    View,
    /// Change its state (customers may close and reopen).
    ChangeState,
    /// Change anything else: subject, priority, owner, category, tags.
    Edit,
    AddArticle(ArticleKind),
    Transfer,
    Merge,
    Link,
    Follow,
    ReadHistory,
}

/// The answer. `Hidden` becomes 404 so that a caller cannot learn that a
/// ticket they may not see exists; `Forbidden` (403) is only given for tickets
/// the caller can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Forbidden,
    Hidden,
}

pub fn can_view_ticket(actor: &Actor, t: &TicketFacts) -> bool {
    match actor.role {
        Role::Admin => true,
        Role::Agent => {
            t.group_id.is_some_and(|g| actor.in_group(g))
                || (actor.user_id.is_some() && t.owner_id == actor.user_id)
                || t.followed_by_actor
        }
        Role::Customer => {
            actor.user_id == Some(t.requester_id)
                || (actor.organisation_shares
                    && actor.organisation_id.is_some()
                    && t.organisation_id == actor.organisation_id)
        }
    }
}

pub fn decide(actor: &Actor, t: &TicketFacts, action: TicketAction) -> Decision {
    if !can_view_ticket(actor, t) {
        return Decision::Hidden;
    }
    let allowed = match actor.role {
        Role::Admin | Role::Agent => true,
        Role::Customer => matches!(
            action,
            TicketAction::View
                | TicketAction::ChangeState
                | TicketAction::AddArticle(ArticleKind::Reply)
        ),
    };
    if allowed {
        Decision::Allow
    } else {
        Decision::Forbidden
    }
}

/// Directory work: organisations, users, groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryAction {
    /// Look up organisations, users and groups (customer look-up at intake).
    Browse,
    /// Register a customer user or organisation, e.g. during a phone call.
    CreateCustomer,
    /// Change a customer user or organisation.
    EditCustomer,
    /// Create or change staff users, groups and memberships.
    ManageStaff,
}

pub fn decide_directory(actor: &Actor, action: DirectoryAction) -> Decision {
    let allowed = match action {
        DirectoryAction::Browse
        | DirectoryAction::CreateCustomer
        | DirectoryAction::EditCustomer => actor.is_staff(),
        DirectoryAction::ManageStaff => actor.is_admin(),
    };
    if allowed {
        Decision::Allow
    } else {
        Decision::Forbidden
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role, id: i64, org: Option<i64>, shares: bool, groups: &[i64]) -> Actor {
        Actor {
            user_id: Some(id),
            role,
            organisation_id: org,
            organisation_shares: shares,
            group_ids: groups.to_vec(),
        }
    }

    fn ticket(
        requester: i64,
        org: Option<i64>,
        group: Option<i64>,
        owner: Option<i64>,
    ) -> TicketFacts {
        TicketFacts {
            requester_id: requester,
            organisation_id: org,
            group_id: group,
            owner_id: owner,
            followed_by_actor: false,
        }
    }

    #[test]
    fn matrix() {
        let t = ticket(10, Some(100), Some(1), Some(20));
        let admin = actor(Role::Admin, 1, None, false, &[]);
        let member = actor(Role::Agent, 21, None, false, &[1]);
        let owner = actor(Role::Agent, 20, None, false, &[]);
        let outsider = actor(Role::Agent, 22, None, false, &[2]);
        let requester = actor(Role::Customer, 10, Some(100), false, &[]);
        let colleague_shared = actor(Role::Customer, 11, Some(100), true, &[]);
        let colleague_private = actor(Role::Customer, 11, Some(100), false, &[]);
        let stranger = actor(Role::Customer, 12, Some(200), true, &[]);

        use Decision::*;
        use TicketAction::*;
        let actions = [
            View,
            ChangeState,
            Edit,
            AddArticle(ArticleKind::Reply),
            AddArticle(ArticleKind::Note),
            Transfer,
            Merge,
            Link,
            Follow,
            ReadHistory,
        ];
        let staff_row = [Allow; 10];
        let customer_row = [
            Allow, Allow, Forbidden, Allow, Forbidden, Forbidden, Forbidden, Forbidden, Forbidden,
            Forbidden,
        ];
        let hidden_row = [Hidden; 10];
        let cases: [(&Actor, [Decision; 10]); 8] = [
            (&admin, staff_row),
            (&member, staff_row),
            (&owner, staff_row),
            (&outsider, hidden_row),
            (&requester, customer_row),
            (&colleague_shared, customer_row),
            (&colleague_private, hidden_row),
            (&stranger, hidden_row),
        ];
        for (who, row) in cases {
            for (action, expected) in actions.iter().zip(row) {
                assert_eq!(decide(who, &t, *action), expected, "{who:?} {action:?}");
            }
        }

        let mut followed = t.clone();
        followed.followed_by_actor = true;
        assert_eq!(decide(&outsider, &followed, Transfer), Allow);
    }

    #[test]
    fn ticket_without_group_is_for_admins_and_its_people() {
        let t = ticket(10, None, None, None);
        assert!(can_view_ticket(&Actor::system(), &t));
        assert!(!can_view_ticket(
            &actor(Role::Agent, 21, None, false, &[1]),
            &t
        ));
        assert!(can_view_ticket(
            &actor(Role::Customer, 10, None, true, &[]),
            &t
        ));
        // Two customers without an organisation never share.
        assert!(!can_view_ticket(
            &actor(Role::Customer, 11, None, true, &[]),
            &t
        ));
    }

    #[test]
    fn directory() {
        let agent = actor(Role::Agent, 2, None, false, &[]);
        let customer = actor(Role::Customer, 3, None, false, &[]);
        assert_eq!(
            decide_directory(&agent, DirectoryAction::CreateCustomer),
            Decision::Allow
        );
        assert_eq!(
            decide_directory(&agent, DirectoryAction::ManageStaff),
            Decision::Forbidden
        );
        assert_eq!(
            decide_directory(&customer, DirectoryAction::Browse),
            Decision::Forbidden
        );
        assert_eq!(
            decide_directory(&Actor::system(), DirectoryAction::ManageStaff),
            Decision::Allow
        );
    }
}
