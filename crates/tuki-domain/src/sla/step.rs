//! One step of a ticket's service level: its clocks as stored, the moves a
//! change of the ticket causes and the policy's rules, at one instant, give
//! the events to record, the clocks to store, the escalations that became
//! due, the ticket's due times and when to look again.
//!
//! The store loads the clocks, calls [`step`] and writes what it answers, in
//! the ticket's transaction; the background check calls it with no moves, so
//! a warning found by the job and one found on a reply are the same step.

use jiff::Timestamp;

use super::{
    evaluate, overall_state, BusinessCalendar, ClockMove, EscalationTrigger, SlaClock,
    SlaEventKind, SlaKind, SlaState,
};
use crate::ValidationError;

/// What a ticket's policy says about its clocks.
#[derive(Debug, Clone)]
pub struct ClockRules {
    pub calendar: BusinessCalendar,
    /// Warn when this share of a target is used.
    pub warn_percent: u8,
    /// Minutes of each target, by [`SlaKind::index`]; `None`: no such target.
    pub targets: [Option<u32>; 3],
}

/// A clock as stored, with the state its last step recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredClock {
    pub kind: SlaKind,
    pub clock: SlaClock,
    pub state: SlaState,
}

/// An event to append to the ticket's SLA events (and its history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockEvent {
    pub kind: SlaKind,
    pub event: SlaEventKind,
    pub at: Timestamp,
    pub due_at: Option<Timestamp>,
    /// Caused by the person who changed the ticket (a start, pause, resume
    /// or met target); warnings and breaches are caused by time.
    pub by_actor: bool,
}

/// A clock to store, as it stands after the step.
#[derive(Debug, Clone, PartialEq)]
pub struct ClockWrite {
    pub kind: SlaKind,
    pub clock: SlaClock,
    pub state: SlaState,
    pub due_at: Option<Timestamp>,
    pub warn_at: Option<Timestamp>,
}

/// What one step decides.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaStep {
    pub events: Vec<ClockEvent>,
    /// Clocks that changed; the others stay as stored.
    pub writes: Vec<ClockWrite>,
    /// Open targets that reached a warning or a breach, for the escalation
    /// rules.
    pub escalations: Vec<(SlaKind, EscalationTrigger)>,
    /// The most urgent state of the ticket's clocks.
    pub state: Option<SlaState>,
    /// Due time of each target, by [`SlaKind::index`].
    pub dues: [Option<Timestamp>; 3],
    /// The earliest due time of a running, open target (queues sort by it).
    pub sla_due: Option<Timestamp>,
    /// When a clock will next change state by itself.
    pub next_check: Option<Timestamp>,
}

/// A clock during the step.
struct Working {
    kind: SlaKind,
    clock: SlaClock,
    state: SlaState,
    dirty: bool,
}

/// Applies `moves` at `at` to the `clocks` of a ticket (pending or not, as
/// it stands after the change), then evaluates every clock and records what
/// crossed a line since the last step.
pub fn step(
    rules: &ClockRules,
    clocks: Vec<StoredClock>,
    pending: bool,
    moves: &[ClockMove],
    at: Timestamp,
) -> Result<SlaStep, ValidationError> {
    let mut slots: [Option<Working>; 3] = [None, None, None];
    for c in clocks {
        slots[c.kind.index()] = Some(Working {
            kind: c.kind,
            clock: c.clock,
            state: c.state,
            dirty: false,
        });
    }
    let mut events = Vec::new();
    for m in moves {
        apply_move(rules, &mut slots, *m, pending, at, &mut events)?;
    }

    let mut out = SlaStep {
        events,
        writes: Vec::new(),
        escalations: Vec::new(),
        state: None,
        dues: [None; 3],
        sla_due: None,
        next_check: None,
    };
    let mut states = Vec::new();
    for c in slots.iter_mut().flatten() {
        let ev = evaluate(&rules.calendar, &c.clock, at, rules.warn_percent);
        let open = c.clock.stopped_at().is_none();
        if ev.state != c.state {
            let was_warned = matches!(c.state, SlaState::Warned | SlaState::Breached);
            if matches!(ev.state, SlaState::Warned | SlaState::Breached) && !was_warned {
                if let Some(w) = ev.warn_at.filter(|w| *w <= at) {
                    out.events
                        .push(time_event(c.kind, SlaEventKind::Warned, w, ev.due_at));
                    if open && ev.state == SlaState::Warned {
                        out.escalations.push((c.kind, EscalationTrigger::Warning));
                    }
                }
            }
            match ev.state {
                SlaState::Breached => {
                    let when = ev.due_at.map_or(at, |d| d.min(at));
                    out.events
                        .push(time_event(c.kind, SlaEventKind::Breached, when, ev.due_at));
                    // An open target escalates; one already answered late is
                    // on record, but nobody needs to be sent after it.
                    if open {
                        out.escalations.push((c.kind, EscalationTrigger::Breach));
                    }
                }
                SlaState::Met => out.events.push(ClockEvent {
                    kind: c.kind,
                    event: SlaEventKind::Met,
                    at: c.clock.stopped_at().unwrap_or(at),
                    due_at: ev.due_at,
                    by_actor: true,
                }),
                _ => {}
            }
            c.state = ev.state;
            c.dirty = true;
        }
        if c.dirty {
            out.writes.push(ClockWrite {
                kind: c.kind,
                clock: c.clock.clone(),
                state: ev.state,
                due_at: ev.due_at,
                warn_at: ev.warn_at,
            });
        }
        states.push(ev.state);
        out.dues[c.kind.index()] = ev.due_at;
        if open && !c.clock.is_paused() {
            out.sla_due = min_opt(out.sla_due, ev.due_at);
        }
        out.next_check = min_opt(out.next_check, ev.next_change);
    }
    out.state = overall_state(states);
    Ok(out)
}

fn apply_move(
    rules: &ClockRules,
    slots: &mut [Option<Working>; 3],
    m: ClockMove,
    pending: bool,
    at: Timestamp,
    events: &mut Vec<ClockEvent>,
) -> Result<(), ValidationError> {
    let actor_event = |kind, event| ClockEvent {
        kind,
        event,
        at,
        due_at: None,
        by_actor: true,
    };
    match m {
        ClockMove::Start(kind) => {
            let Some(target) = rules.targets[kind.index()] else {
                return Ok(());
            };
            let owed = |k: SlaKind| {
                slots[k.index()]
                    .as_ref()
                    .is_some_and(|c| c.clock.stopped_at().is_none())
            };
            if kind == SlaKind::NextResponse {
                // A next response is owed only once the first one is given,
                // and one cycle at a time: more customer mail before the
                // answer does not move the due time.
                if owed(SlaKind::FirstResponse) || owed(SlaKind::NextResponse) {
                    return Ok(());
                }
            } else if slots[kind.index()].is_some() {
                return Ok(());
            }
            let mut clock = SlaClock::start(at, target)?;
            if pending {
                clock.pause(at);
            }
            events.push(actor_event(kind, SlaEventKind::Started));
            slots[kind.index()] = Some(Working {
                kind,
                clock,
                // A fresh cycle: nothing about it is stored yet.
                state: SlaState::Running,
                dirty: true,
            });
        }
        ClockMove::Pause(kind) | ClockMove::Resume(kind) | ClockMove::Reopen(kind) => {
            let Some(c) = slots[kind.index()].as_mut() else {
                return Ok(());
            };
            let (changed, event) = match m {
                ClockMove::Pause(_) => (c.clock.pause(at), SlaEventKind::Paused),
                ClockMove::Resume(_) => (c.clock.resume(at), SlaEventKind::Resumed),
                _ => (c.clock.reopen(at), SlaEventKind::Resumed),
            };
            if changed {
                c.dirty = true;
                events.push(actor_event(kind, event));
            }
        }
        ClockMove::Stop(kind) => {
            if let Some(c) = slots[kind.index()].as_mut() {
                c.dirty |= c.clock.stop(at);
            }
        }
    }
    Ok(())
}

fn time_event(
    kind: SlaKind,
    event: SlaEventKind,
    at: Timestamp,
    due_at: Option<Timestamp>,
) -> ClockEvent {
    ClockEvent {
        kind,
        event,
        at,
        due_at,
        by_actor: false,
    }
}

fn min_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::DateTime;
    use jiff::tz::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::sla::{
        clock_moves, CalendarDefinition, HolidayRule, OpeningHours, WeeklyHours, WorkingInterval,
    };
    use crate::ticket::{TicketEvent, TicketState};

    /// A Helsinki wall-clock time.
    fn hki(wall: &str) -> Timestamp {
        wall.parse::<DateTime>()
            .unwrap()
            .to_zoned(TimeZone::get("Europe/Helsinki").unwrap())
            .unwrap()
            .timestamp()
    }

    /// Weekdays 08:00–16:00 in Helsinki; first response 60 min, resolution
    /// 480 min, next response 120 min; warn at 80 %.
    fn rules() -> ClockRules {
        ClockRules {
            calendar: CalendarDefinition {
                time_zone: "Europe/Helsinki".into(),
                hours: OpeningHours::Weekly(WeeklyHours::weekdays(&[WorkingInterval::new(
                    "08:00", "16:00",
                )])),
                holidays: vec![HolidayRule::FinnishPublic],
            }
            .validate()
            .unwrap(),
            warn_percent: 80,
            targets: [Some(60), Some(120), Some(480)],
        }
    }

    /// Stores what a step wrote over what was stored, as the store does.
    fn stored(before: Vec<StoredClock>, s: &SlaStep) -> Vec<StoredClock> {
        let mut out = before;
        for w in &s.writes {
            out.retain(|c| c.kind != w.kind);
            out.push(StoredClock {
                kind: w.kind,
                clock: w.clock.clone(),
                state: w.state,
            });
        }
        out.sort_by_key(|c| c.kind.index());
        out
    }

    fn kinds(s: &SlaStep) -> Vec<(SlaKind, SlaEventKind)> {
        s.events.iter().map(|e| (e.kind, e.event)).collect()
    }

    #[test]
    fn a_new_ticket_starts_its_clocks_and_sleeps_until_the_warning() {
        let at = hki("2026-03-02 09:00"); // a Monday
        let s = step(
            &rules(),
            vec![],
            false,
            &clock_moves(TicketEvent::Created),
            at,
        )
        .unwrap();
        assert_eq!(
            kinds(&s),
            vec![
                (SlaKind::FirstResponse, SlaEventKind::Started),
                (SlaKind::Resolution, SlaEventKind::Started)
            ]
        );
        assert!(s.events.iter().all(|e| e.by_actor));
        assert_eq!(s.writes.len(), 2);
        assert_eq!(s.state, Some(SlaState::Running));
        assert_eq!(s.dues[0], Some(hki("2026-03-02 10:00")));
        assert_eq!(s.dues[1], None);
        // Seven hours on Monday, the eighth on Tuesday morning.
        assert_eq!(s.dues[2], Some(hki("2026-03-03 09:00")));
        assert_eq!(s.sla_due, Some(hki("2026-03-02 10:00")));
        // 80 % of an hour: the warning at 09:48 is the next change.
        assert_eq!(s.next_check, Some(hki("2026-03-02 09:48")));
        assert!(s.escalations.is_empty());
    }

    #[test]
    fn time_passing_warns_then_breaches_and_escalates_each_once() {
        let start = hki("2026-03-02 09:00");
        let r = rules();
        let s0 = step(&r, vec![], false, &clock_moves(TicketEvent::Created), start).unwrap();
        let clocks = stored(vec![], &s0);

        let s1 = step(&r, clocks.clone(), false, &[], hki("2026-03-02 09:50")).unwrap();
        assert_eq!(
            kinds(&s1),
            vec![(SlaKind::FirstResponse, SlaEventKind::Warned)]
        );
        assert_eq!(s1.events[0].at, hki("2026-03-02 09:48"));
        assert!(!s1.events[0].by_actor);
        assert_eq!(
            s1.escalations,
            vec![(SlaKind::FirstResponse, EscalationTrigger::Warning)]
        );
        let clocks = stored(clocks, &s1);

        // The same instant again: nothing new.
        let again = step(&r, clocks.clone(), false, &[], hki("2026-03-02 09:50")).unwrap();
        assert!(again.events.is_empty() && again.writes.is_empty() && again.escalations.is_empty());

        let s2 = step(&r, clocks.clone(), false, &[], hki("2026-03-02 10:30")).unwrap();
        assert_eq!(
            kinds(&s2),
            vec![(SlaKind::FirstResponse, SlaEventKind::Breached)]
        );
        assert_eq!(s2.events[0].at, hki("2026-03-02 10:00"));
        assert_eq!(
            s2.escalations,
            vec![(SlaKind::FirstResponse, EscalationTrigger::Breach)]
        );
        assert_eq!(s2.state, Some(SlaState::Breached));
    }

    #[test]
    fn a_late_answer_is_breached_but_escalates_nobody() {
        let start = hki("2026-03-02 09:00");
        let r = rules();
        let s0 = step(&r, vec![], false, &clock_moves(TicketEvent::Created), start).unwrap();
        let clocks = stored(vec![], &s0);
        // Answered at 11:00 without any check in between.
        let s = step(
            &r,
            clocks,
            false,
            &clock_moves(TicketEvent::StaffResponse),
            hki("2026-03-02 11:00"),
        )
        .unwrap();
        assert!(kinds(&s).contains(&(SlaKind::FirstResponse, SlaEventKind::Breached)));
        assert!(s.escalations.is_empty(), "{:?}", s.escalations);
        // Only resolution is still running.
        assert_eq!(s.sla_due, s.dues[2]);
    }

    #[test]
    fn waiting_for_the_customer_pauses_and_a_reply_starts_the_next_response() {
        let r = rules();
        let s0 = step(
            &r,
            vec![],
            false,
            &clock_moves(TicketEvent::Created),
            hki("2026-03-02 09:00"),
        )
        .unwrap();
        let c = stored(vec![], &s0);
        let s1 = step(
            &r,
            c,
            false,
            &clock_moves(TicketEvent::StaffResponse),
            hki("2026-03-02 09:10"),
        )
        .unwrap();
        assert_eq!(
            kinds(&s1),
            vec![(SlaKind::FirstResponse, SlaEventKind::Met)]
        );
        let c = stored(stored(vec![], &s0), &s1);
        let pend = TicketEvent::StateChanged {
            from: TicketState::Open,
            to: TicketState::PendingCustomer,
        };
        let s2 = step(
            &r,
            c.clone(),
            true,
            &clock_moves(pend),
            hki("2026-03-02 09:20"),
        )
        .unwrap();
        assert_eq!(
            kinds(&s2),
            vec![(SlaKind::Resolution, SlaEventKind::Paused)]
        );
        assert_eq!(s2.sla_due, None, "nothing runs while paused");
        let c = stored(c, &s2);
        let mut moves = clock_moves(TicketEvent::StateChanged {
            from: TicketState::PendingCustomer,
            to: TicketState::Open,
        });
        moves.extend(clock_moves(TicketEvent::CustomerReply));
        let s3 = step(&r, c, false, &moves, hki("2026-03-03 09:20")).unwrap();
        assert_eq!(
            kinds(&s3),
            vec![
                (SlaKind::Resolution, SlaEventKind::Resumed),
                (SlaKind::NextResponse, SlaEventKind::Started)
            ]
        );
        assert_eq!(s3.dues[1], Some(hki("2026-03-03 11:20")));
    }

    proptest! {
        /// However the same moves are split into steps at one instant, and
        /// however often the ticket is checked without moves, the stored
        /// clocks end the same.
        #[test]
        fn checking_again_changes_nothing(minutes in 0i64..5000, answer in proptest::bool::ANY) {
            let r = rules();
            let start = hki("2026-03-02 09:00");
            let s0 = step(&r, vec![], false, &clock_moves(TicketEvent::Created), start).unwrap();
            let mut c = stored(vec![], &s0);
            let at = start + jiff::SignedDuration::from_mins(minutes);
            let moves = if answer { clock_moves(TicketEvent::StaffResponse) } else { vec![] };
            let s1 = step(&r, c.clone(), false, &moves, at).unwrap();
            c = stored(c, &s1);
            let s2 = step(&r, c.clone(), false, &[], at).unwrap();
            prop_assert!(s2.events.is_empty());
            prop_assert!(s2.writes.is_empty());
            prop_assert!(s2.escalations.is_empty());
            prop_assert_eq!(s2.dues, s1.dues);
            prop_assert_eq!(s2.state, s1.state);
            // Escalation fires only for open targets.
            for (kind, _) in &s1.escalations {
                let open = c.iter().find(|x| x.kind == *kind).unwrap().clock.stopped_at().is_none();
                prop_assert!(open);
            }
        }
    }
}
