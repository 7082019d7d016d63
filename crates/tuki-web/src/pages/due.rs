//! SLA due times in the agent console: the badge of a ticket (time left or
//! overdue, coloured by its SLA state) in queue rows and on the ticket page,
//! and the "At risk" queue (active tickets with a running clock, soonest due
//! first).

use jiff::Timestamp;
use minijinja::{context, Value};
use tuki_domain::access::Actor;
use tuki_domain::sla::SlaState;
use tuki_domain::ticket::Priority;
use tuki_store::tickets::{Ticket, TicketFilter, TicketSort};
use tuki_store::{Store, StoreError};

use super::i18n::{self, Lang};
use super::render::when;

/// The queue key of the "At risk" queue (`/agent?queue=at-risk`).
pub const AT_RISK: &str = "at-risk";

/// The soonest due time of the ticket's running clocks.
pub fn due_at(t: &Ticket) -> Option<Timestamp> {
    [
        t.first_response_due_at,
        t.next_response_due_at,
        t.resolution_due_at,
    ]
    .into_iter()
    .flatten()
    .min()
}

/// `2 d 3 h`, `3 h 5 min`, `12 min`: the two largest units.
pub fn span(lang: Lang, seconds: i64) -> String {
    let minutes = (seconds.abs() + 59) / 60;
    let (d, h, m) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let unit = |n: i64, u: &str| format!("{n} {}", i18n::t(lang, &format!("due.{u}")));
    if d > 0 {
        if h > 0 {
            format!("{} {}", unit(d, "d"), unit(h, "h"))
        } else {
            unit(d, "d")
        }
    } else if h > 0 {
        if m > 0 {
            format!("{} {}", unit(h, "h"), unit(m, "min"))
        } else {
            unit(h, "h")
        }
    } else {
        unit(m, "min")
    }
}

/// The ticket's due badge: `state` (the CSS class `sla-STATE`), `label`
/// (time left, overdue, or the state when no clock runs) and `title` (the
/// due time). `None` for tickets without an SLA policy, and for met ones.
pub fn badge(lang: Lang, t: &Ticket, now: Timestamp) -> Option<Value> {
    let state = t.sla_state?;
    match due_at(t) {
        Some(due) => {
            let left = due.as_second() - now.as_second();
            let (state, label) = if left < 0 {
                (
                    SlaState::Breached,
                    i18n::tf(lang, "due.overdue", &[("time", &span(lang, left))]),
                )
            } else {
                (
                    state,
                    i18n::tf(lang, "due.left", &[("time", &span(lang, left))]),
                )
            };
            Some(context! {
                state => state.as_str(),
                label => label,
                title => i18n::tf(lang, "due.at", &[("at", &when(due))]),
                at => due.to_string(),
            })
        }
        None if state == SlaState::Met => None,
        None => Some(context! {
            state => state.as_str(),
            label => i18n::t(lang, &format!("sla.state.{}", state.as_str())),
        }),
    }
}

/// The sidebar entry of the "At risk" queue (no count: the list is the
/// soonest due tickets, read on demand).
pub fn sidebar_entry(lang: Lang) -> Value {
    context! { key => AT_RISK, label => i18n::t(lang, "queue.at_risk"), count => "" }
}

/// The "At risk" queue: active tickets the actor may see whose SLA clock is
/// running, soonest due first.
pub async fn at_risk(
    store: &Store,
    actor: &Actor,
    text: Option<&str>,
    priority: Option<Priority>,
    limit: i64,
) -> Result<Vec<Ticket>, StoreError> {
    Ok(store
        .tickets(
            actor,
            &TicketFilter {
                active: Some(true),
                at_risk: true,
                text: text.map(str::to_string),
                priorities: priority.into_iter().collect(),
                sort: TicketSort::DueSoonest,
                limit,
                ..Default::default()
            },
        )
        .await?
        .items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        assert_eq!(span(Lang::En, 0), "0 min");
        assert_eq!(span(Lang::En, 61), "2 min");
        assert_eq!(span(Lang::En, 3 * 3600 + 5 * 60), "3 h 5 min");
        assert_eq!(span(Lang::En, -7200), "2 h");
        assert_eq!(span(Lang::Fi, 2 * 86400 + 3 * 3600 + 60), "2 pv 3 h");
    }
}
