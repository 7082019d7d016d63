//! Live updates: when a ticket changes through the pages or the REST API,
//! open console pages hear about it over server-sent events and refresh the
//! part that shows it.
//!
//! This is an in-process broadcast, which is right for one `tuki serve`.
//! With several nodes on PostgreSQL, `publish` will also `NOTIFY` and each
//! node will `LISTEN` and re-broadcast, so that pages on every node update.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast;

use super::auth::Viewer;

/// A ticket changed.
#[derive(Debug, Clone)]
pub struct Change {
    pub ticket_id: i64,
    pub number: i64,
}

#[derive(Clone)]
pub struct Live {
    tx: broadcast::Sender<Change>,
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
        Live {
            tx,
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many changes were published so far.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn publish(&self, ticket_id: i64, number: i64) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        // No receivers is fine: nobody has a page open.
        let _ = self.tx.send(Change { ticket_id, number });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
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
        Ok(t) => state.web.live.publish(t.id, t.number),
        Err(e) => tracing::warn!(ticket_id, error = %e, "cannot announce a ticket change"),
    }
}

/// `/agent/events`: one `ticket` event per change, with the ticket number as
/// data. Only the number travels; the page fetches what changed through the
/// normal, access-checked routes, so nobody learns about tickets they cannot
/// see beyond "#n changed".
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
    let s = stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(c) => {
                    let ev = Event::default().event("ticket").data(c.number.to_string());
                    return Some((Ok(ev), rx));
                }
                // Missed some: tell the page to refresh anyway.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    return Some((Ok(Event::default().event("ticket").data("*")), rx));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(20))))
}
