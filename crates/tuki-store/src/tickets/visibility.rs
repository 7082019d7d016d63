//! Who sees which tickets, as SQL: the form of
//! `tuki_domain::access::can_view_ticket` that lists, queues and counts use
//! (a test checks the two agree for every kind of actor).

use tuki_domain::access::Actor;
use tuki_domain::directory::Role;

use crate::sql::{Sql, Value};

/// Restricts a ticket query to what the actor may see: the SQL form of
/// `tuki_domain::access::can_view_ticket` (a test checks they agree).
pub(crate) fn visibility(actor: &Actor, group_filter: Option<i64>, sql: &mut Sql) {
    match actor.role {
        Role::Admin => {}
        Role::Agent => {
            // Filtering on one of the agent's own groups already implies
            // visibility; leaving the OR out lets the queue index work alone.
            if group_filter.is_some_and(|g| actor.in_group(g)) {
                return;
            }
            let me = actor.user_id.unwrap_or(-1);
            sql.push(" AND (");
            if !actor.group_ids.is_empty() {
                sql.push("t.group_id IN ")
                    .bind_list(&actor.group_ids)
                    .push(" OR ");
            }
            sql.push("t.owner_id = ").bind(Value::Int(me));
            sql.push(" OR EXISTS (SELECT 1 FROM ticket_followers f WHERE f.ticket_id = t.id AND f.user_id = ")
                .bind(Value::Int(me))
                .push("))");
        }
        Role::Customer => {
            let me = actor.user_id.unwrap_or(-1);
            sql.push(" AND (t.requester_id = ").bind(Value::Int(me));
            if let (true, Some(org)) = (actor.organisation_shares, actor.organisation_id) {
                sql.push(" OR t.organisation_id = ").bind(Value::Int(org));
            }
            sql.push(")");
        }
    }
}
