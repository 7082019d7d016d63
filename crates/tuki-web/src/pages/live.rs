//! Live updates: when a ticket changes, open console pages hear about it
//! over server-sent events and refresh the part that shows it; a ringing
//! call pops up in the consoles it concerns.
//!
//! Two paths feed the in-process broadcast. A change made through this
//! server's pages or API is published at once ([`Live::publish`]). And
//! [`follow`] reads the database's change feed (`tuki_store::feed`)
//! every half second: every change of a ticket leaves a row there whatever
//! made it (mail from the pipe or an IMAP poller, SLA jobs, another
//! server), and so does a call announced on another server. A change made
//! here is thus heard twice, which costs a page one extra refresh.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast;
use tuki_domain::access::{can_view_ticket, Actor, TicketFacts};

use super::auth::Viewer;

/// A ticket changed, with what decides whose consoles may hear of it.
#[derive(Debug, Clone)]
pub struct Change {
    pub ticket_id: i64,
    pub number: i64,
    pub group_id: Option<i64>,
    pub owner_id: Option<i64>,
}

impl Change {
    pub fn of(t: &tuki_store::tickets::Ticket) -> Change {
        Change {
            ticket_id: t.id,
            number: t.number,
            group_id: t.group_id,
            owner_id: t.owner_id,
        }
    }

    /// Whether a console may hear of the change: by the one rule of who
    /// sees a ticket, so a number never reaches someone who would get a
    /// 404 for it. `followed` are the tickets the person follows.
    pub fn for_actor(&self, actor: &Actor, followed: &HashSet<i64>) -> bool {
        actor.is_staff()
            && can_view_ticket(
                actor,
                &TicketFacts {
                    // Only staff listen; these decide for customers only.
                    requester_id: 0,
                    organisation_id: None,
                    group_id: self.group_id,
                    owner_id: self.owner_id,
                    followed_by_actor: followed.contains(&self.ticket_id),
                },
            )
    }
}

/// A call rang or ended. A ringing call goes to the agent it rings, to the
/// members of its group, or (neither known) to every agent; an ended one to
/// everybody, whose page drops its pop-up if it has one.
#[derive(Debug, Clone)]
pub struct CallSignal {
    /// The call's id in the call log.
    pub call_id: i64,
    pub agent_id: Option<i64>,
    pub group_id: Option<i64>,
    pub ended: bool,
}

impl CallSignal {
    /// Whether the console of `actor` hears of this call.
    pub fn for_actor(&self, actor: &tuki_domain::access::Actor) -> bool {
        if self.ended || (self.agent_id.is_none() && self.group_id.is_none()) {
            return true;
        }
        (self.agent_id.is_some() && self.agent_id == actor.user_id)
            || self.group_id.is_some_and(|g| actor.group_ids.contains(&g))
    }
}

#[derive(Clone)]
pub struct Live {
    /// This server's name in the change feed's call signals.
    origin: Arc<str>,
    tx: broadcast::Sender<Change>,
    calls: broadcast::Sender<CallSignal>,
    /// Counts changes, so that what was computed before one can be dropped
    /// (the sidebar counts, [`super::console::CountsCache`]).
    generation: Arc<AtomicU64>,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(256);
        let (calls, _) = broadcast::channel(64);
        Live {
            origin: tuki_store::auth::sessions::random_token().into(),
            tx,
            calls,
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many changes were published so far.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Announces a changed ticket (as it is now) to this server's consoles.
    pub fn publish(&self, t: &tuki_store::tickets::Ticket) {
        self.publish_change(Change::of(t));
    }

    fn publish_change(&self, change: Change) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        // No receivers is fine: nobody has a page open.
        let _ = self.tx.send(change);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }

    /// Announces a ringing or ended call to the consoles it concerns, on
    /// this server at once and through the change feed on the others.
    pub async fn publish_call(&self, store: &tuki_store::Store, signal: CallSignal) {
        let notice = tuki_store::feed::CallNotice {
            call_id: signal.call_id,
            agent_id: signal.agent_id,
            group_id: signal.group_id,
            ended: signal.ended,
        };
        self.calls_only(signal);
        if let Err(e) = store.signal_call(&self.origin, &notice).await {
            tracing::warn!(error = %e, call_id = notice.call_id, "cannot announce a call to other servers");
        }
    }

    /// Tells this server's consoles only.
    fn calls_only(&self, signal: CallSignal) {
        let _ = self.calls.send(signal);
    }

    pub fn subscribe_calls(&self) -> broadcast::Receiver<CallSignal> {
        self.calls.subscribe()
    }
}

/// How often a server reads the change feed.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

/// Follows the database's change feed for as long as the server runs,
/// passing on what this server has not published itself: ticket changes
/// from any source, and calls announced by other servers.
pub async fn follow(store: tuki_store::Store, live: Live) {
    use std::collections::BTreeSet;
    use tuki_store::feed::LOOKBACK;
    let mut newest = loop {
        match store.newest_signal().await {
            Ok(id) => break id,
            Err(e) => {
                tracing::warn!(error = %e, "live updates: cannot read the change feed");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    };
    // Ids passed on within the look-back window; what was there before
    // this server started is not news.
    let mut seen: BTreeSet<i64> = match store.signals_after(newest - LOOKBACK, LOOKBACK).await {
        Ok(rows) => rows.iter().map(|r| r.id).collect(),
        Err(_) => BTreeSet::new(),
    };
    let mut rounds: u64 = 0;
    loop {
        tokio::time::sleep(FOLLOW_EVERY).await;
        rounds += 1;
        let rows = match store.signals_after(newest - LOOKBACK, 5_000).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "live updates: cannot read the change feed");
                continue;
            }
        };
        for r in rows {
            newest = newest.max(r.id);
            if r.id <= newest - LOOKBACK || !seen.insert(r.id) {
                continue;
            }
            match r.kind.as_str() {
                "ticket" => {
                    if let (Some(t), Some(n)) = (r.ticket_id, r.number) {
                        live.publish_change(Change {
                            ticket_id: t,
                            number: n,
                            group_id: r.group_id,
                            owner_id: r.agent_id,
                        });
                    }
                }
                "call" | "hangup" if r.origin.as_deref() != Some(&*live.origin) => {
                    if let Some(call_id) = r.call_id {
                        live.calls_only(CallSignal {
                            call_id,
                            agent_id: r.agent_id,
                            group_id: r.group_id,
                            ended: r.kind == "hangup",
                        });
                    }
                }
                _ => {}
            }
        }
        let floor = newest - LOOKBACK;
        seen = seen.split_off(&(floor + 1));
        // Now and then, keep the feed short.
        if rounds.is_multiple_of(120) {
            if let Err(e) = store.prune_signals(tuki_store::feed::KEEP).await {
                tracing::warn!(error = %e, "live updates: cannot prune the change feed");
            }
        }
    }
}

/// Publishes a change of a ticket known by id only (the REST API's answers
/// for articles and links carry no number). A failed look-up is logged and
/// otherwise ignored: the write it follows has succeeded.
pub async fn changed(state: &crate::AppState, ticket_id: i64) {
    match state
        .store
        .ticket(&tuki_domain::access::Actor::system(), ticket_id)
        .await
    {
        Ok(t) => state.web.live.publish(&t),
        Err(e) => tracing::warn!(ticket_id, error = %e, "cannot announce a ticket change"),
    }
}

/// `/agent/events`: one `ticket` event per change of a ticket the person may
/// see, with the ticket number as data. Only the number travels; the page
/// fetches what changed through the normal, access-checked routes. Calls come as `call` events (data: the call's id,
/// for the pop-up `/agent/calls/{id}/card`) to the consoles they ring, and
/// `hangup` events (data: the id) when they end.
pub async fn events(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    viewer: Viewer,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, axum::response::Response> {
    if !viewer.is_staff() {
        return Err(axum::response::IntoResponse::into_response(
            super::PageError::forbidden(viewer.lang),
        ));
    }
    let rx = state.web.live.subscribe();
    let calls = state.web.live.subscribe_calls();
    // Following a ticket is done on a page, which then loads again and
    // listens anew: the set read here stays true for this stream.
    let followed = state
        .store
        .followed_tickets(viewer.id())
        .await
        .map_err(|e| axum::response::IntoResponse::into_response(viewer.err(e)))?;
    let actor = viewer.actor;
    let s = stream::unfold(
        (rx, calls, actor, followed),
        |(mut rx, mut calls, actor, followed)| async move {
            loop {
                tokio::select! {
                    r = rx.recv() => match r {
                        Ok(c) if c.for_actor(&actor, &followed) => {
                            let ev = Event::default().event("ticket").data(c.number.to_string());
                            return Some((Ok(ev), (rx, calls, actor, followed)));
                        }
                        Ok(_) => continue,
                        // Missed some: tell the page to refresh anyway.
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            let ev = Event::default().event("ticket").data("*");
                            return Some((Ok(ev), (rx, calls, actor, followed)));
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    r = calls.recv() => match r {
                        Ok(c) if c.for_actor(&actor) => {
                            let kind = if c.ended { "hangup" } else { "call" };
                            let ev = Event::default().event(kind).data(c.call_id.to_string());
                            return Some((Ok(ev), (rx, calls, actor, followed)));
                        }
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                }
            }
        },
    );
    Ok(Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(20))))
}

#[cfg(test)]
mod tests {
    use super::{CallSignal, Change};
    use std::collections::HashSet;
    use tuki_domain::access::Actor;
    use tuki_domain::directory::Role;

    fn agent(id: i64, groups: Vec<i64>) -> Actor {
        Actor {
            user_id: Some(id),
            role: Role::Agent,
            organisation_id: None,
            organisation_shares: false,
            group_ids: groups,
        }
    }

    #[test]
    fn a_change_reaches_only_those_who_may_see_the_ticket() {
        let change = Change {
            ticket_id: 7,
            number: 1007,
            group_id: Some(10),
            owner_id: Some(3),
        };
        let none = HashSet::new();
        let (tia, toni, ulla) = (agent(1, vec![10]), agent(2, vec![20]), agent(3, vec![]));
        assert!(change.for_actor(&tia, &none), "a member of its group");
        assert!(!change.for_actor(&toni, &none), "another group's agent");
        assert!(change.for_actor(&ulla, &none), "its owner");
        assert!(change.for_actor(&toni, &HashSet::from([7])), "a follower");
        let admin = Actor {
            role: Role::Admin,
            ..agent(4, vec![])
        };
        assert!(change.for_actor(&admin, &none));
        let customer = Actor {
            role: Role::Customer,
            ..agent(5, vec![10])
        };
        assert!(!change.for_actor(&customer, &HashSet::from([7])));
    }

    #[test]
    fn a_call_reaches_its_agent_and_group_only() {
        let call = |agent_id, group_id, ended| CallSignal {
            call_id: 1,
            agent_id,
            group_id,
            ended,
        };
        let (tia, toni, ulla) = (agent(1, vec![10]), agent(2, vec![20]), agent(3, vec![]));
        let rings = call(Some(1), Some(20), false);
        assert!(rings.for_actor(&tia) && rings.for_actor(&toni) && !rings.for_actor(&ulla));
        let to_agent = call(Some(1), None, false);
        assert!(to_agent.for_actor(&tia) && !to_agent.for_actor(&toni));
        // Nobody in particular: every console; an ended call: every console.
        assert!(call(None, None, false).for_actor(&ulla));
        assert!(call(Some(1), None, true).for_actor(&toni));
    }
}
