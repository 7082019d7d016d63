//! What a batch reads once for all its messages: the senders as users,
//! tickets by number and the open tickets' subjects of each requester.

use std::collections::{HashMap, HashSet};

use sqlx::{AnyConnection, Row};
use tuki_domain::directory::Role;
use tuki_domain::values::{self, Email};
use tuki_mail::InboundMessage;

use super::{unique, ROWS_PER_STATEMENT};
use crate::sql::{Sql, Value};
use crate::Result;

/// The senders as users, by address: found, or created as customers placed
/// in the organisation whose mail domain matches (one statement for all the
/// new ones).
pub(super) async fn senders_as_users<'a>(
    tx: &mut AnyConnection,
    senders: impl Iterator<Item = (&'a Email, &'a InboundMessage)>,
    at: i64,
) -> Result<HashMap<String, (i64, Role)>> {
    let senders: Vec<(&Email, &InboundMessage)> = {
        let mut seen = HashSet::new();
        senders.filter(|(e, _)| seen.insert(e.as_str())).collect()
    };
    let mut users = HashMap::new();
    for chunk in senders.chunks(ROWS_PER_STATEMENT) {
        let addresses: Vec<&str> = chunk.iter().map(|(e, _)| e.as_str()).collect();
        let mut sql = Sql::new("SELECT id, role, email FROM users WHERE email IN ");
        sql.bind_texts(&addresses);
        for r in sql.query().fetch_all(&mut *tx).await? {
            let role = Role::parse("role", &r.try_get::<String, _>("role")?)?;
            users.insert(r.try_get::<String, _>("email")?, (r.try_get("id")?, role));
        }
    }
    let unknown: Vec<&(&Email, &InboundMessage)> = senders
        .iter()
        .filter(|(e, _)| !users.contains_key(e.as_str()))
        .collect();
    if unknown.is_empty() {
        return Ok(users);
    }
    let domains: Vec<&str> = unique(unknown.iter().map(|(e, _)| e.domain()));
    let mut org_of: HashMap<String, i64> = HashMap::new();
    for chunk in domains.chunks(ROWS_PER_STATEMENT) {
        let mut sql =
            Sql::new("SELECT domain, organisation_id FROM organisation_domains WHERE domain IN ");
        sql.bind_texts(chunk);
        for r in sql.query().fetch_all(&mut *tx).await? {
            org_of.insert(r.try_get("domain")?, r.try_get("organisation_id")?);
        }
    }
    for chunk in unknown.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new(
            "INSERT INTO users (email, name, name_folded, role, language, organisation_id, active, \
             created_at, updated_at) VALUES ",
        );
        for (i, (email, msg)) in chunk.iter().enumerate() {
            let name = msg
                .from
                .name
                .as_deref()
                .and_then(|n| values::line("name", n, 200).ok())
                .unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("").to_string());
            sql.push(if i == 0 { "(" } else { ", (" })
                .bind(Value::Text(email.as_str().into()))
                .push(", ")
                .bind(Value::Text(name.clone()))
                .push(", ")
                .bind(Value::Text(values::fold(&name)))
                .push(", ")
                .push("'customer', 'fi', ")
                .bind_opt(org_of.get(email.domain()).copied())
                .push(", ")
                .bind(Value::Bool(true))
                .push(", ")
                .bind(Value::Int(at))
                .push(", ")
                .bind(Value::Int(at))
                .push(")");
        }
        sql.push(" RETURNING id, email");
        let mut new_ids = Vec::with_capacity(chunk.len());
        for r in sql.query().fetch_all(&mut *tx).await? {
            new_ids.push(r.try_get("id")?);
            users.insert(r.try_get("email")?, (r.try_get("id")?, Role::Customer));
        }
        crate::search::index_users(&mut *tx, &new_ids).await?;
    }
    Ok(users)
}

/// Tickets by number (a merged one answers with the ticket it went into).
pub(super) async fn tickets_by_numbers(
    tx: &mut AnyConnection,
    numbers: &[i64],
) -> Result<HashMap<i64, i64>> {
    let mut numbers = numbers.to_vec();
    numbers.sort_unstable();
    numbers.dedup();
    let mut found = HashMap::new();
    for chunk in numbers.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new(
            "SELECT number, COALESCE(merged_into_id, id) AS id FROM tickets WHERE number IN ",
        );
        sql.bind_list(chunk);
        for r in sql.query().fetch_all(&mut *tx).await? {
            found.insert(r.try_get("number")?, r.try_get("id")?);
        }
    }
    Ok(found)
}

/// The twenty most recent active tickets of each requester, newest first,
/// with their subjects as a same-subject reply is matched (without reply
/// prefixes and tag, lower-cased).
pub(super) async fn recent_subjects(
    tx: &mut AnyConnection,
    requesters: &[i64],
) -> Result<HashMap<i64, Vec<(i64, String)>>> {
    let mut requesters = requesters.to_vec();
    requesters.sort_unstable();
    requesters.dedup();
    let mut subjects: HashMap<i64, Vec<(i64, String)>> = HashMap::new();
    for chunk in requesters.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new(
            "SELECT id, subject, requester_id FROM (SELECT id, subject, requester_id, \
             ROW_NUMBER() OVER (PARTITION BY requester_id ORDER BY id DESC) AS recency \
             FROM tickets WHERE active AND merged_into_id IS NULL AND requester_id IN ",
        );
        sql.bind_list(chunk)
            .push(") AS recent WHERE recency <= 20 ORDER BY id DESC");
        for r in sql.query().fetch_all(&mut *tx).await? {
            let subject: String = r.try_get("subject")?;
            subjects
                .entry(r.try_get("requester_id")?)
                .or_default()
                .push((
                    r.try_get("id")?,
                    tuki_mail::strip_reply_prefixes(&subject)
                        .trim()
                        .to_lowercase(),
                ));
        }
    }
    Ok(subjects)
}
