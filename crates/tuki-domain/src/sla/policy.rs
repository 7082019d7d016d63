//! SLA policies and what ticket events do to their clocks.
//!
//! The store keeps policies, clocks and events as rows; the decisions live
//! here as plain functions so they can be tested without a database: which
//! policy a new ticket gets, which clocks an event starts, pauses, resumes or
//! stops, how a ticket's clocks add up to one state for its queue, and what
//! the tier metrics of a resolved ticket are.

use jiff::Timestamp;

use super::SlaState;
use crate::string_enum;
pub use crate::ticket::TicketEvent;
use crate::ticket::{Channel, Priority};

string_enum! {
    /// The three targets an SLA policy sets: the first public answer, the
    /// answer to each later customer reply, and the resolution.
    SlaKind {
        FirstResponse = "first_response",
        NextResponse = "next_response",
        Resolution = "resolution",
    }
}

impl SlaKind {
    /// The kind's place in arrays of three (first response, next response,
    /// resolution).
    pub fn index(self) -> usize {
        match self {
            SlaKind::FirstResponse => 0,
            SlaKind::NextResponse => 1,
            SlaKind::Resolution => 2,
        }
    }
}

string_enum! {
    /// Something that happened to one clock, appended to `sla_events`.
    SlaEventKind {
        Started = "started",
        Paused = "paused",
        Resumed = "resumed",
        Warned = "warned",
        Breached = "breached",
        Met = "met",
    }
}

/// What a policy asks of a ticket before it applies. An empty condition
/// matches everything; all given conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyConditions {
    /// Any of these priorities (empty: any priority).
    pub priorities: Vec<Priority>,
    pub organisation_id: Option<i64>,
    /// Compared case-insensitively, as agents type categories freely.
    pub category: Option<String>,
    pub channel: Option<Channel>,
}

/// The facts of a ticket that policies choose on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFacts<'a> {
    pub priority: Priority,
    pub organisation_id: Option<i64>,
    pub category: Option<&'a str>,
    pub channel: Channel,
    /// The service level the contract paying for the request brings: chosen
    /// before the ordinary rules, when it is an active policy.
    pub contract_policy: Option<i64>,
}

impl PolicyConditions {
    pub fn matches(&self, facts: &PolicyFacts<'_>) -> bool {
        (self.priorities.is_empty() || self.priorities.contains(&facts.priority))
            && self
                .organisation_id
                .is_none_or(|o| facts.organisation_id == Some(o))
            && self.category.as_deref().is_none_or(|c| {
                facts
                    .category
                    .is_some_and(|f| f.trim().eq_ignore_ascii_case(c.trim()))
            })
            && self.channel.is_none_or(|c| facts.channel == c)
    }
}

/// One policy as the chooser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyCandidate {
    pub id: i64,
    /// Lower positions are asked first; ties go to the older policy (lower id).
    pub position: i64,
    pub conditions: PolicyConditions,
}

/// The policy a ticket gets: the first, in position order, whose conditions
/// all hold. `None` when none matches (the ticket then has no clocks).
pub fn select_policy(candidates: &[PolicyCandidate], facts: &PolicyFacts<'_>) -> Option<i64> {
    if let Some(p) = facts
        .contract_policy
        .filter(|p| candidates.iter().any(|c| c.id == *p))
    {
        return Some(p);
    }
    candidates
        .iter()
        .filter(|c| c.conditions.matches(facts))
        .min_by_key(|c| (c.position, c.id))
        .map(|c| c.id)
}

/// What to do to one clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMove {
    /// Start the clock (a next-response clock starts afresh each cycle).
    Start(SlaKind),
    Pause(SlaKind),
    Resume(SlaKind),
    /// The target is met (or, if late, at least ended).
    Stop(SlaKind),
    /// A resolved ticket came back: the stopped resolution clock runs again,
    /// the time it stood resolved not counting.
    Reopen(SlaKind),
}

/// The clock moves an event causes. The shell applies each to the clock of
/// that kind if the ticket has one; moves on clocks that cannot take them
/// (pausing a stopped clock) change nothing, see [`super::SlaClock`].
pub fn clock_moves(event: TicketEvent) -> Vec<ClockMove> {
    use ClockMove::*;
    use SlaKind::*;
    match event {
        TicketEvent::Created => vec![Start(FirstResponse), Start(Resolution)],
        TicketEvent::StaffResponse => vec![Stop(FirstResponse), Stop(NextResponse)],
        TicketEvent::CustomerReply => vec![Start(NextResponse)],
        TicketEvent::Assigned { .. } | TicketEvent::ClocksDue => Vec::new(),
        TicketEvent::StateChanged { from, to } => {
            let mut moves = Vec::new();
            if !to.is_active() {
                // Resolving ends every target still open: nobody owes an
                // answer on a solved request.
                moves.extend(SlaKind::ALL.iter().map(|k| Stop(*k)));
            } else if !from.is_active() {
                moves.push(Reopen(Resolution));
                if to.is_pending() {
                    moves.push(Pause(Resolution));
                }
            } else if to.is_pending() && !from.is_pending() {
                moves.extend(SlaKind::ALL.iter().map(|k| Pause(*k)));
            } else if from.is_pending() && !to.is_pending() {
                moves.extend(SlaKind::ALL.iter().map(|k| Resume(*k)));
            }
            moves
        }
    }
}

/// How urgent a state is for a queue: breached first, then warned, running,
/// paused, met.
fn urgency(s: SlaState) -> u8 {
    match s {
        SlaState::Breached => 4,
        SlaState::Warned => 3,
        SlaState::Running => 2,
        SlaState::Paused => 1,
        SlaState::Met => 0,
    }
}

/// One state for the ticket from the states of its clocks: the most urgent
/// one, so a queue filtered on `breached` shows every ticket with a broken
/// target. `None` without clocks.
pub fn overall_state(states: impl IntoIterator<Item = SlaState>) -> Option<SlaState> {
    states.into_iter().max_by_key(|s| urgency(*s))
}

string_enum! {
    /// When an escalation rule fires: when a clock reaches its warning share,
    /// or when it breaches.
    EscalationTrigger { Warning = "warning", Breach = "breach" }
}

string_enum! {
    /// What an escalation rule does. Notifications become rows for the mail
    /// channel to deliver; `notify_user` names a manager, which is how
    /// hierarchical escalation is written.
    EscalationAction {
        NotifyOwner = "notify_owner",
        NotifyGroup = "notify_group",
        NotifySupervisor = "notify_supervisor",
        NotifyUser = "notify_user",
        RaisePriority = "raise_priority",
        TransferNextTier = "transfer_next_tier",
    }
}

/// The priority one step up; urgent stays urgent.
pub fn raised(p: Priority) -> Priority {
    match p {
        Priority::Low => Priority::Normal,
        Priority::Normal => Priority::High,
        Priority::High | Priority::Urgent => Priority::Urgent,
    }
}

/// A move between tiers, as the metrics need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierMove {
    pub at: Timestamp,
    pub from_tier: Option<u8>,
    pub to_tier: u8,
}

/// Tier metrics of a resolved ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierMetrics {
    /// Resolved in tier 1 without ever being transferred.
    pub first_contact_resolution: bool,
    pub transfers: u32,
    /// Wall-clock seconds spent in tiers 1, 2 and 3.
    pub seconds_in_tier: [i64; 3],
    pub resolved_in_tier: Option<u8>,
}

/// Metrics of a ticket created at `created_at` in `initial_tier` (its first
/// group's tier; `None` without a group), moved by `moves` (in order) and
/// resolved at `resolved_at`. Time before a group is known counts nowhere.
pub fn tier_metrics(
    created_at: Timestamp,
    initial_tier: Option<u8>,
    moves: &[TierMove],
    resolved_at: Timestamp,
) -> TierMetrics {
    let mut seconds_in_tier = [0i64; 3];
    let mut tier = initial_tier.or(moves.first().and_then(|m| m.from_tier));
    let mut since = created_at;
    for m in moves {
        let until = m.at.clamp(since, resolved_at.max(since));
        if let Some(t) = tier.filter(|t| (1..=3).contains(t)) {
            seconds_in_tier[usize::from(t - 1)] += (until - since).get_seconds();
        }
        since = until;
        tier = Some(m.to_tier);
    }
    if let Some(t) = tier.filter(|t| (1..=3).contains(t)) {
        let until = resolved_at.max(since);
        seconds_in_tier[usize::from(t - 1)] += (until - since).get_seconds();
    }
    TierMetrics {
        first_contact_resolution: moves.is_empty() && tier == Some(1),
        transfers: moves.len() as u32,
        seconds_in_tier,
        resolved_in_tier: tier,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticket::TicketState::*;

    fn facts(priority: Priority, org: Option<i64>, category: Option<&str>) -> PolicyFacts<'_> {
        PolicyFacts {
            priority,
            organisation_id: org,
            category,
            channel: Channel::Email,
            contract_policy: None,
        }
    }

    #[test]
    fn a_contracts_policy_comes_before_the_rules_when_it_is_active() {
        let policies = vec![
            PolicyCandidate {
                id: 1,
                position: 10,
                conditions: PolicyConditions::default(),
            },
            PolicyCandidate {
                id: 2,
                position: 100,
                conditions: PolicyConditions {
                    priorities: vec![Priority::Urgent],
                    ..PolicyConditions::default()
                },
            },
        ];
        let mut f = facts(Priority::Normal, None, None);
        assert_eq!(select_policy(&policies, &f), Some(1));
        f.contract_policy = Some(2);
        assert_eq!(select_policy(&policies, &f), Some(2));
        // An inactive (absent) policy of a contract falls back to the rules.
        f.contract_policy = Some(3);
        assert_eq!(select_policy(&policies, &f), Some(1));
    }

    #[test]
    fn the_first_matching_policy_in_position_order_wins() {
        let policies = vec![
            PolicyCandidate {
                id: 1,
                position: 100,
                conditions: PolicyConditions::default(),
            },
            PolicyCandidate {
                id: 2,
                position: 10,
                conditions: PolicyConditions {
                    priorities: vec![Priority::Urgent, Priority::High],
                    ..Default::default()
                },
            },
            PolicyCandidate {
                id: 3,
                position: 5,
                conditions: PolicyConditions {
                    organisation_id: Some(7),
                    category: Some("Printers".into()),
                    ..Default::default()
                },
            },
        ];
        assert_eq!(
            select_policy(&policies, &facts(Priority::Normal, None, None)),
            Some(1)
        );
        assert_eq!(
            select_policy(&policies, &facts(Priority::High, None, None)),
            Some(2)
        );
        assert_eq!(
            select_policy(
                &policies,
                &facts(Priority::High, Some(7), Some(" printers"))
            ),
            Some(3)
        );
        assert_eq!(
            select_policy(&policies, &facts(Priority::Low, Some(7), None)),
            Some(1),
            "a category condition needs a category"
        );
        assert_eq!(
            select_policy(&policies[1..], &facts(Priority::Low, None, None)),
            None
        );
        // Equal positions: the older policy first.
        let tied = vec![
            PolicyCandidate {
                id: 9,
                position: 1,
                conditions: PolicyConditions::default(),
            },
            PolicyCandidate {
                id: 4,
                position: 1,
                conditions: PolicyConditions::default(),
            },
        ];
        assert_eq!(
            select_policy(&tied, &facts(Priority::Low, None, None)),
            Some(4)
        );
    }

    #[test]
    fn pending_pauses_and_leaving_it_resumes() {
        let moves = clock_moves(TicketEvent::StateChanged {
            from: Open,
            to: PendingCustomer,
        });
        assert_eq!(moves.len(), 3);
        assert!(moves.iter().all(|m| matches!(m, ClockMove::Pause(_))));
        assert!(clock_moves(TicketEvent::StateChanged {
            from: PendingCustomer,
            to: PendingThirdParty
        })
        .is_empty());
        let moves = clock_moves(TicketEvent::StateChanged {
            from: PendingThirdParty,
            to: Open,
        });
        assert!(moves.iter().all(|m| matches!(m, ClockMove::Resume(_))));
        assert!(clock_moves(TicketEvent::StateChanged {
            from: New,
            to: Open
        })
        .is_empty());
    }

    #[test]
    fn resolving_stops_and_reopening_restarts_resolution() {
        let moves = clock_moves(TicketEvent::StateChanged {
            from: PendingCustomer,
            to: Resolved,
        });
        assert!(moves.contains(&ClockMove::Stop(SlaKind::Resolution)));
        assert_eq!(
            clock_moves(TicketEvent::StateChanged {
                from: Resolved,
                to: Open
            }),
            vec![ClockMove::Reopen(SlaKind::Resolution)]
        );
        assert!(clock_moves(TicketEvent::StateChanged {
            from: Resolved,
            to: Closed
        })
        .contains(&ClockMove::Stop(SlaKind::Resolution)));
    }

    #[test]
    fn replies_meet_and_start_response_targets() {
        assert_eq!(
            clock_moves(TicketEvent::StaffResponse),
            vec![
                ClockMove::Stop(SlaKind::FirstResponse),
                ClockMove::Stop(SlaKind::NextResponse)
            ]
        );
        assert_eq!(
            clock_moves(TicketEvent::CustomerReply),
            vec![ClockMove::Start(SlaKind::NextResponse)]
        );
    }

    #[test]
    fn the_most_urgent_clock_speaks_for_the_ticket() {
        use SlaState::*;
        assert_eq!(overall_state([Met, Running, Paused]), Some(Running));
        assert_eq!(overall_state([Met, Breached, Warned]), Some(Breached));
        assert_eq!(overall_state([Met, Paused]), Some(Paused));
        assert_eq!(overall_state([]), None);
    }

    #[test]
    fn a_reopened_clock_does_not_count_the_resolved_time() {
        use crate::sla::{CalendarDefinition, OpeningHours, SlaClock};
        let cal = CalendarDefinition {
            time_zone: "UTC".into(),
            hours: OpeningHours::AlwaysOpen,
            holidays: vec![],
        }
        .validate()
        .unwrap();
        let mut clock = SlaClock::start(at(0), 10 * 60).unwrap();
        assert!(clock.stop(at(2)));
        assert!(clock.reopen(at(5)));
        assert!(!clock.reopen(at(6)), "a running clock is not reopened");
        // 2 h ran before the stop, 3 h stood resolved: due at 10 + 3 h.
        assert_eq!(clock.due_at(&cal), Some(at(13)));
        assert_eq!(clock.elapsed_business_minutes(&cal, at(6)), 3 * 60);
    }

    #[test]
    fn priorities_rise_one_step() {
        assert_eq!(raised(Priority::Low), Priority::Normal);
        assert_eq!(raised(Priority::High), Priority::Urgent);
        assert_eq!(raised(Priority::Urgent), Priority::Urgent);
    }

    fn at(h: i64) -> Timestamp {
        Timestamp::from_second(h * 3600).unwrap()
    }

    #[test]
    fn tier_metrics_count_time_and_transfers() {
        let m = tier_metrics(at(0), Some(1), &[], at(2));
        assert!(m.first_contact_resolution);
        assert_eq!(m.seconds_in_tier, [7200, 0, 0]);
        assert_eq!(m.transfers, 0);

        let moves = [
            TierMove {
                at: at(1),
                from_tier: Some(1),
                to_tier: 2,
            },
            TierMove {
                at: at(4),
                from_tier: Some(2),
                to_tier: 3,
            },
        ];
        let m = tier_metrics(at(0), Some(1), &moves, at(10));
        assert!(!m.first_contact_resolution);
        assert_eq!(m.transfers, 2);
        assert_eq!(m.seconds_in_tier, [3600, 3 * 3600, 6 * 3600]);
        assert_eq!(m.resolved_in_tier, Some(3));

        // Back to tier 1 and solved there: still not a first-contact resolution.
        let back = [TierMove {
            at: at(1),
            from_tier: Some(1),
            to_tier: 1,
        }];
        assert!(!tier_metrics(at(0), Some(1), &back, at(2)).first_contact_resolution);
        // A tier-2 intake is never first contact.
        assert!(!tier_metrics(at(0), Some(2), &[], at(2)).first_contact_resolution);
    }
}
