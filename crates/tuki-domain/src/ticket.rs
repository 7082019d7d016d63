//! Tickets: the life cycle of a request and the rules that move it.

use crate::directory::Role;
use crate::string_enum;

string_enum! {
    /// Where a request stands.
    TicketState {
        New = "new",
        Open = "open",
        PendingCustomer = "pending_customer",
        PendingThirdParty = "pending_third_party",
        Resolved = "resolved",
        Closed = "closed",
    }
}

impl TicketState {
    /// Still work to do (or waiting): everything before resolved.
    pub fn is_active(self) -> bool {
        !matches!(self, TicketState::Resolved | TicketState::Closed)
    }

    pub fn is_pending(self) -> bool {
        matches!(
            self,
            TicketState::PendingCustomer | TicketState::PendingThirdParty
        )
    }

    /// The allowed moves. Nothing returns to `new` (it means "nobody has
    /// looked yet"); a resolved or closed request is reopened through `open`.
    pub fn can_become(self, to: TicketState) -> bool {
        use TicketState::*;
        if self == to {
            return true;
        }
        match (self, to) {
            (_, New) => false,
            (New | Open | PendingCustomer | PendingThirdParty, _) => true,
            (Resolved, Open | Closed) => true,
            (Resolved, _) => false,
            (Closed, Open) => true,
            (Closed, _) => false,
        }
    }
}

/// A move the state machine forbids; the API answers 409.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a ticket cannot go from {from} to {to}")]
pub struct TransitionError {
    pub from: TicketState,
    pub to: TicketState,
}

/// Checks a requested state change, including who asks: customers may only
/// close their request or reopen it.
pub fn transition(
    from: TicketState,
    to: TicketState,
    role: Role,
) -> Result<TicketState, TransitionError> {
    let customer_ok = matches!(to, TicketState::Closed | TicketState::Open) || from == to;
    if from.can_become(to) && (role.is_staff() || customer_ok) {
        Ok(to)
    } else {
        Err(TransitionError { from, to })
    }
}

/// The state a ticket takes when an article is added, if it changes.
///
/// A customer's answer puts a waiting or resolved request back on the desk; an
/// agent's first public reply means someone has picked the request up.
pub fn state_after_article(
    current: TicketState,
    author: Role,
    kind: ArticleKind,
) -> Option<TicketState> {
    use TicketState::*;
    match (author, kind, current) {
        (Role::Customer, _, PendingCustomer | PendingThirdParty | Resolved) => Some(Open),
        (Role::Admin | Role::Agent, ArticleKind::Reply, New) => Some(Open),
        _ => None,
    }
}

/// Something that happened to a ticket, as the capabilities that follow
/// tickets (service levels, mail, live updates) hear it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketEvent {
    Created,
    StateChanged {
        from: TicketState,
        to: TicketState,
    },
    /// Staff answered the customer in public (a reply or a public phone note).
    StaffResponse,
    /// The customer wrote (a reply through the portal, API or mail).
    CustomerReply,
    /// `owner` was made the ticket's owner (by someone, or by Tuki).
    Assigned {
        owner: i64,
    },
    /// A time the ticket's service level asked to be looked at again has
    /// come (the SLA check): nothing moved, but a clock may have crossed a
    /// line.
    ClocksDue,
}

/// What adding an article does to its ticket: the state it moves to and the
/// events that follow, in order. The one rule for articles from the API, the
/// pages and mail.
///
/// Only what the customer sees answers them: an internal article (a note, an
/// internal phone note, a robot's mail kept as a note) neither meets a
/// response target nor reopens the request, whoever wrote it. A public
/// article from staff is a response; one from the customer is their reply.
/// An article without an author (a delivery report) and an article on a
/// merged ticket (closed for good) change nothing.
pub fn article_effect(
    current: TicketState,
    merged: bool,
    author: Option<Role>,
    kind: ArticleKind,
    internal: bool,
) -> (Option<TicketState>, Vec<TicketEvent>) {
    let Some(author) = author.filter(|_| !merged && !internal) else {
        return (None, Vec::new());
    };
    let next = state_after_article(current, author, kind);
    let mut events: Vec<TicketEvent> = next
        .map(|to| TicketEvent::StateChanged { from: current, to })
        .into_iter()
        .collect();
    events.push(if author.is_staff() {
        TicketEvent::StaffResponse
    } else {
        TicketEvent::CustomerReply
    });
    (next, events)
}

string_enum! {
    /// Priority of a request; `rank` orders them for queues.
    Priority { Low = "low", Normal = "normal", High = "high", Urgent = "urgent" }
}

impl Priority {
    pub fn rank(self) -> i64 {
        match self {
            Priority::Low => 1,
            Priority::Normal => 2,
            Priority::High => 3,
            Priority::Urgent => 4,
        }
    }
    pub fn from_rank(rank: i64) -> Option<Priority> {
        Priority::ALL.iter().copied().find(|p| p.rank() == rank)
    }
}

string_enum! {
    /// How a request reached the desk.
    Channel { Phone = "phone", Email = "email", Web = "web", Api = "api", WalkIn = "walk_in" }
}

string_enum! {
    /// What an article is: a public reply the customer sees, an internal note
    /// for staff, or a note of a phone conversation.
    ArticleKind { Reply = "reply", Note = "note", Phone = "phone" }
}

impl ArticleKind {
    /// Whether an article of this kind is hidden from the customer, given what
    /// the author asked for. Replies are always public and notes always
    /// internal; a phone note is public unless asked otherwise, since it
    /// records what was agreed with the customer.
    pub fn internal(self, requested: Option<bool>) -> Result<bool, crate::ValidationError> {
        match (self, requested) {
            (ArticleKind::Reply, Some(true)) => Err(crate::ValidationError::new(
                "internal",
                "a reply is always public; write a note instead",
            )),
            (ArticleKind::Note, Some(false)) => Err(crate::ValidationError::new(
                "internal",
                "a note is always internal; write a reply instead",
            )),
            (ArticleKind::Reply, _) => Ok(false),
            (ArticleKind::Note, _) => Ok(true),
            (ArticleKind::Phone, r) => Ok(r.unwrap_or(false)),
        }
    }
}

string_enum! {
    /// A link between two tickets. `parent` reads "source is the parent of target".
    LinkKind { Related = "related", Parent = "parent" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TicketState::*;

    #[test]
    fn nothing_goes_back_to_new() {
        for s in TicketState::ALL {
            assert_eq!(s.can_become(New), *s == New, "{s}");
        }
    }

    #[test]
    fn transition_table() {
        // Rows: from; columns: to, in TicketState::ALL order.
        let table = [
            (New, [true, true, true, true, true, true]),
            (Open, [false, true, true, true, true, true]),
            (PendingCustomer, [false, true, true, true, true, true]),
            (PendingThirdParty, [false, true, true, true, true, true]),
            (Resolved, [false, true, false, false, true, true]),
            (Closed, [false, true, false, false, false, true]),
        ];
        for (from, row) in table {
            for (to, allowed) in TicketState::ALL.iter().zip(row) {
                assert_eq!(from.can_become(*to), allowed, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn customers_only_close_or_reopen() {
        assert!(transition(Open, Closed, Role::Customer).is_ok());
        assert!(transition(Resolved, Open, Role::Customer).is_ok());
        assert!(transition(Open, Resolved, Role::Customer).is_err());
        assert!(transition(Open, PendingThirdParty, Role::Customer).is_err());
        assert!(transition(Open, Resolved, Role::Agent).is_ok());
        let err = transition(Closed, Resolved, Role::Admin).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a ticket cannot go from closed to resolved"
        );
    }

    #[test]
    fn articles_move_the_state() {
        assert_eq!(
            state_after_article(PendingCustomer, Role::Customer, ArticleKind::Reply),
            Some(Open)
        );
        assert_eq!(
            state_after_article(Resolved, Role::Customer, ArticleKind::Reply),
            Some(Open)
        );
        assert_eq!(
            state_after_article(New, Role::Agent, ArticleKind::Reply),
            Some(Open)
        );
        assert_eq!(
            state_after_article(New, Role::Agent, ArticleKind::Note),
            None
        );
        assert_eq!(
            state_after_article(PendingCustomer, Role::Agent, ArticleKind::Reply),
            None
        );
        // Every suggested state is reachable by the state machine.
        for s in TicketState::ALL {
            for r in Role::ALL {
                for k in ArticleKind::ALL {
                    if let Some(next) = state_after_article(*s, *r, *k) {
                        assert!(s.can_become(next));
                    }
                }
            }
        }
    }

    #[test]
    fn what_an_article_does() {
        use TicketEvent::*;
        let staff = Some(Role::Agent);
        let customer = Some(Role::Customer);
        // A public reply from staff opens a new request and answers it.
        assert_eq!(
            article_effect(New, false, staff, ArticleKind::Reply, false),
            (
                Some(Open),
                vec![
                    StateChanged {
                        from: New,
                        to: Open
                    },
                    StaffResponse
                ]
            )
        );
        // A public phone note answers without opening.
        assert_eq!(
            article_effect(New, false, staff, ArticleKind::Phone, false),
            (None, vec![StaffResponse])
        );
        // Internal notes answer nobody: not by staff, not by mail.
        for kind in [ArticleKind::Note, ArticleKind::Phone] {
            assert_eq!(
                article_effect(Open, false, staff, kind, true),
                (None, vec![])
            );
        }
        // The customer's reply reopens a waiting request.
        assert_eq!(
            article_effect(PendingCustomer, false, customer, ArticleKind::Reply, false),
            (
                Some(Open),
                vec![
                    StateChanged {
                        from: PendingCustomer,
                        to: Open
                    },
                    CustomerReply
                ]
            )
        );
        // A robot's mail from the customer's address is kept as a note: it
        // neither reopens nor restarts a clock.
        assert_eq!(
            article_effect(Resolved, false, customer, ArticleKind::Note, true),
            (None, vec![])
        );
        // No author (a delivery report) or a merged ticket: nothing moves.
        assert_eq!(
            article_effect(Open, false, None, ArticleKind::Note, true),
            (None, vec![])
        );
        assert_eq!(
            article_effect(Closed, true, customer, ArticleKind::Reply, false),
            (None, vec![])
        );
    }

    #[test]
    fn internal_flags() {
        assert_eq!(ArticleKind::Reply.internal(None), Ok(false));
        assert_eq!(ArticleKind::Note.internal(None), Ok(true));
        assert_eq!(ArticleKind::Phone.internal(None), Ok(false));
        assert_eq!(ArticleKind::Phone.internal(Some(true)), Ok(true));
        assert_eq!(
            ArticleKind::Reply.internal(Some(true)).unwrap_err().field,
            "internal"
        );
    }

    #[test]
    fn priority_ranks_round_trip() {
        for p in Priority::ALL {
            assert_eq!(Priority::from_rank(p.rank()), Some(*p));
        }
        assert_eq!(Priority::from_rank(9), None);
    }
}
