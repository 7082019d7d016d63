//! Bulk seeding of a realistic dataset for benchmarks: organisations,
//! customers, agents in tiered groups, and tickets with three articles and
//! their history each. Writes in large transactions with multi-row inserts;
//! it bypasses the per-request path on purpose, since its job is to build a
//! million tickets in minutes, not to exercise that path.

use sqlx::Row;

use crate::sql::{Sql, Value};
use crate::time::{now, to_db};
use crate::{Result, Store};

/// What a seeding run created, for the benchmark to use.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub admin_id: i64,
    pub agent_ids: Vec<i64>,
    pub customer_ids: Vec<i64>,
    /// The organisation of each customer, by position.
    pub customer_orgs: Vec<i64>,
    pub group_ids: Vec<i64>,
}

const STATES: [&str; 6] = [
    "new",
    "open",
    "open",
    "pending_customer",
    "resolved",
    "closed",
];
/// What the seeded requests are about, in English and Finnish: the words
/// vary from ticket to ticket so that search has something to tell apart.
const DEVICES: [(&str, &str); 12] = [
    ("printer", "tulostin"),
    ("dishwasher", "astianpesukone"),
    ("washing machine", "pesukone"),
    ("laptop", "kannettava"),
    ("router", "reititin"),
    ("projector", "videotykki"),
    ("fridge", "jääkaappi"),
    ("phone", "puhelin"),
    ("monitor", "näyttö"),
    ("heat pump", "lämpöpumppu"),
    ("charger", "laturi"),
    ("speaker", "kaiutin"),
];
const SYMPTOMS: [(&str, &str); 10] = [
    ("does not start", "ei käynnisty"),
    ("shows error", "näyttää virheen"),
    ("makes a loud noise", "pitää kovaa ääntä"),
    ("leaks water", "vuotaa vettä"),
    ("loses its connection", "menettää yhteyden"),
    ("overheats", "kuumenee liikaa"),
    ("flickers", "välkkyy"),
    ("drains the battery", "tyhjentää akun"),
    ("cannot sign in", "kirjautuminen ei onnistu"),
    ("is very slow", "on todella hidas"),
];
const DETAILS: [(&str, &str); 8] = [
    (
        "after the latest update",
        "viimeisimmän päivityksen jälkeen",
    ),
    ("every morning", "joka aamu"),
    ("since we moved offices", "muuton jälkeen"),
    ("when the door is opened", "kun luukku avataan"),
    ("only on the second floor", "vain toisessa kerroksessa"),
    ("after a power cut", "sähkökatkon jälkeen"),
    ("with the new cable", "uuden kaapelin kanssa"),
    ("during video calls", "videopuheluiden aikana"),
];

/// The subject and the customer's first message of seeded ticket `seq`:
/// every other one in Finnish, with its own error code and serial number.
fn problem(seq: u64) -> (String, String) {
    let s = seq as usize;
    let (device, symptom, detail) = (
        DEVICES[s % DEVICES.len()],
        SYMPTOMS[(s / 3) % SYMPTOMS.len()],
        DETAILS[(s / 7) % DETAILS.len()],
    );
    let code = format!("E{}", (s * 37) % 400);
    if s.is_multiple_of(2) {
        (
            format!("{} {}", capital(device.1), symptom.1),
            format!(
                "Hei, {} {} {}. Laitteessa näkyy koodi {code}, sarjanumero SN{seq:07}. Voitteko auttaa?",
                device.1, symptom.1, detail.1
            ),
        )
    } else {
        (
            format!("{} {}", capital(device.0), symptom.0),
            format!(
                "Hello, our {} {} {}. It shows code {code}, serial number SN{seq:07}. Can you help?",
                device.0, symptom.0, detail.0
            ),
        )
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

impl Store {
    /// Creates the directory for a benchmark: `orgs` organisations with 20
    /// customers each, 4 groups over tiers 1–3 with 5 agents each, and an admin.
    pub async fn seed_directory(&self, orgs: usize) -> Result<Seeded> {
        let at = to_db(now());
        let mut tx = self.begin_write().await?;
        let pw = crate::auth::hash_password("bench-password-0");
        let admin_id: i64 = sqlx::query(
            "INSERT INTO users (email, name, name_folded, role, language, password_hash, active, created_at, updated_at) \
             VALUES ('bench-admin@tuki.test', 'Bench Admin', 'bench admin', 'admin', 'en', $1, $2, $3, $3) RETURNING id",
        )
        .bind(&pw)
        .bind(true)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let mut group_ids = Vec::new();
        let mut agent_ids = Vec::new();
        for (g, tier) in [(0, 1), (1, 1), (2, 2), (3, 3)] {
            let gid: i64 = sqlx::query(
                "INSERT INTO support_groups (name, tier, form, description, is_intake, created_at, updated_at) \
                 VALUES ($1, $2, 'central', '', $3, $4, $4) RETURNING id",
            )
            .bind(format!("Bench group {g} (tier {tier})"))
            .bind(tier as i64)
            .bind(g == 0)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
            group_ids.push(gid);
            for a in 0..5 {
                let aid: i64 = sqlx::query(
                    "INSERT INTO users (email, name, name_folded, role, language, active, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'agent', 'fi', $4, $5, $5) RETURNING id",
                )
                .bind(format!("agent{g}-{a}@tuki.test"))
                .bind(format!("Agent {g}-{a}"))
                .bind(format!("agent {g}-{a}"))
                .bind(true)
                .bind(at)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?;
                sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)")
                    .bind(gid)
                    .bind(aid)
                    .execute(&mut *tx)
                    .await?;
                agent_ids.push(aid);
            }
        }
        let mut customer_ids = Vec::new();
        let mut customer_orgs = Vec::new();
        for o in 0..orgs {
            let oid: i64 = sqlx::query(
                "INSERT INTO organisations (name, name_folded, kind, shares_tickets, created_at, updated_at) \
                 VALUES ($1, $2, 'customer', $3, $4, $4) RETURNING id",
            )
            .bind(format!("Customer Oy {o}"))
            .bind(format!("customer oy {o}"))
            .bind(o % 2 == 0)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
            for c in 0..20 {
                let cid: i64 = sqlx::query(
                    "INSERT INTO users (email, name, name_folded, phone, role, language, organisation_id, active, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, 'customer', 'fi', $5, $6, $7, $7) RETURNING id",
                )
                .bind(format!("c{o}-{c}@customer{o}.test"))
                .bind(format!("Customer {o}-{c}"))
                .bind(format!("customer {o}-{c}"))
                .bind(format!("+35840{:07}", o * 100 + c))
                .bind(oid)
                .bind(true)
                .bind(at)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?;
                customer_ids.push(cid);
                customer_orgs.push(oid);
            }
        }
        let mut people = vec![admin_id];
        people.extend(&agent_ids);
        people.extend(&customer_ids);
        crate::search::index_users(&mut tx, &people).await?;
        let mut orgs_seeded = customer_orgs.clone();
        orgs_seeded.dedup();
        crate::search::index_organisations(&mut tx, &orgs_seeded).await?;
        tx.commit().await?;
        Ok(Seeded {
            admin_id,
            agent_ids,
            customer_ids,
            customer_orgs,
            group_ids,
        })
    }

    /// Adds `count` tickets spread over the seeded groups and customers, each
    /// with 3 articles and 3 history events, in batches of `batch`. Calls
    /// `progress` with the number written so far after each batch.
    pub async fn seed_tickets(
        &self,
        seeded: &Seeded,
        count: u64,
        batch: u64,
        mut progress: impl FnMut(u64),
    ) -> Result<()> {
        let start: i64 = sqlx::query("SELECT value FROM counters WHERE name = 'ticket_number'")
            .fetch_one(&self.write)
            .await?
            .try_get("value")?;
        let base_time = to_db(now()) - (count as i64) * 1_000_000;
        let rows_per_stmt = 100u64;
        let mut done = 0u64;
        while done < count {
            let n = batch.min(count - done);
            let mut tx = self.begin_write().await?;
            let first_id: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS next FROM tickets")
                .fetch_one(&mut *tx)
                .await?
                .try_get("next")?;
            let mut i = 0;
            while i < n {
                let m = rows_per_stmt.min(n - i);
                let mut tickets = String::from(
                    "INSERT INTO tickets (id, number, subject, subject_folded, requester_id, organisation_id, channel, \
                     priority, state, active, group_id, owner_id, created_at, updated_at) VALUES ",
                );
                let mut articles = String::from("INSERT INTO articles (ticket_id, kind, internal, author_id, body, created_at) VALUES ");
                let mut history = String::from("INSERT INTO ticket_history (ticket_id, actor_id, at, field, old_value, new_value) VALUES ");
                for j in 0..m {
                    let seq = done + i + j;
                    let id = first_id + (i + j) as i64;
                    let number = start + seq as i64 + 1;
                    let c = (seq as usize * 7) % seeded.customer_ids.len();
                    let (customer, org) = (seeded.customer_ids[c], seeded.customer_orgs[c]);
                    let group = seeded.group_ids[(seq as usize) % seeded.group_ids.len()];
                    let agent = seeded.agent_ids[(seq as usize) % seeded.agent_ids.len()];
                    let state = STATES[(seq as usize / 7) % STATES.len()];
                    let active = !matches!(state, "resolved" | "closed");
                    let priority = 1 + (seq % 4) as i64;
                    let (subject, first) = problem(seq);
                    let at = base_time + seq as i64 * 1_000_000;
                    let sep = if j == 0 { "" } else { ", " };
                    tickets.push_str(&format!(
                        "{sep}({id}, {number}, '{subject}', '{folded}', {customer}, {org}, 'email', {priority}, '{state}', {active}, {group}, {owner}, {at}, {at})",
                        folded = subject.to_lowercase(),
                        active = if active { "TRUE" } else { "FALSE" },
                        owner = if seq.is_multiple_of(3) { "NULL".to_string() } else { agent.to_string() },
                    ));
                    articles.push_str(&format!(
                        "{sep}({id}, 'reply', FALSE, {customer}, '{first}', {at}), \
                         ({id}, 'note', TRUE, {agent}, 'Checked the logs: matches known issue, asked the customer for the serial number.', {a2}), \
                         ({id}, 'reply', FALSE, {agent}, 'Thank you for reporting this. Could you send the serial number from the label on the back?', {a3})",
                        a2 = at + 1000,
                        a3 = at + 2000,
                    ));
                    history.push_str(&format!(
                        "{sep}({id}, {customer}, {at}, 'created', NULL, '#{number}'), \
                         ({id}, {agent}, {a2}, 'article', NULL, 'note'), \
                         ({id}, {agent}, {a3}, 'state', 'new', '{state}')",
                        a2 = at + 1000,
                        a3 = at + 2000,
                    ));
                }
                // Values are generated here, not user input, so inlining them is safe.
                sqlx::raw_sql(&tickets).execute(&mut *tx).await?;
                sqlx::raw_sql(&articles).execute(&mut *tx).await?;
                sqlx::raw_sql(&history).execute(&mut *tx).await?;
                i += m;
            }
            // Indexed as the desk's own writes index them, so that a
            // seeded database is what a real one looks like to search.
            let ids: Vec<i64> = (first_id..first_id + n as i64).collect();
            crate::search::index_tickets(&mut tx, &ids).await?;
            done += n;
            sqlx::query("UPDATE counters SET value = $1 WHERE name = 'ticket_number'")
                .bind(start + done as i64)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            progress(done);
        }
        if self.engine() == crate::Engine::Postgres {
            // Explicit ids bypass the identity sequence; move it past them.
            sqlx::raw_sql("SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT MAX(id) FROM tickets))")
                .execute(&self.write)
                .await?;
            sqlx::raw_sql("ANALYZE").execute(&self.write).await?;
        } else {
            sqlx::raw_sql("ANALYZE").execute(&self.write).await?;
        }
        Ok(())
    }
}

impl Store {
    pub async fn count_tickets(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM tickets")
            .fetch_one(&self.read)
            .await?
            .try_get("n")?)
    }

    /// The directory of an earlier seeding run, so a kept benchmark database
    /// can be measured again without seeding it anew.
    pub async fn seeded_directory(&self) -> Result<Option<Seeded>> {
        let Some(admin) = sqlx::query("SELECT id FROM users WHERE email = 'bench-admin@tuki.test'")
            .fetch_optional(&self.read)
            .await?
        else {
            return Ok(None);
        };
        let ids = |sql: &'static str| async move {
            sqlx::query(sql)
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(|r| r.try_get::<i64, _>(0).map_err(Into::into))
                .collect::<Result<Vec<i64>>>()
        };
        let groups =
            ids("SELECT id FROM support_groups WHERE name LIKE 'Bench group %' ORDER BY id")
                .await?;
        let agents = ids(
            "SELECT m.user_id FROM group_members m JOIN support_groups g ON g.id = m.group_id \
             WHERE g.name LIKE 'Bench group %' ORDER BY m.group_id, m.user_id",
        )
        .await?;
        let rows = sqlx::query(
            "SELECT id, organisation_id FROM users WHERE role = 'customer' AND email LIKE 'c%@customer%.test' ORDER BY id",
        )
        .fetch_all(&self.read)
        .await?;
        let mut customer_ids = Vec::new();
        let mut customer_orgs = Vec::new();
        for r in rows {
            customer_ids.push(r.try_get("id")?);
            customer_orgs.push(r.try_get("organisation_id")?);
        }
        Ok(Some(Seeded {
            admin_id: admin.try_get("id")?,
            agent_ids: agents,
            customer_ids,
            customer_orgs,
            group_ids: groups,
        }))
    }
}

/// Ways to fix what the seeded problems are, for seeded knowledge articles.
const FIXES: [(&str, &str); 6] = [
    (
        "Restart the device, then update its firmware from the settings menu.",
        "Käynnistä laite uudelleen ja päivitä sen laiteohjelmisto asetusvalikosta.",
    ),
    (
        "Unplug it for a minute, check the cable and the fuse, and plug it in again.",
        "Irrota pistoke minuutiksi, tarkista johto ja sulake ja kytke laite uudelleen.",
    ),
    (
        "Clean the filter and the vents; make sure nothing blocks the air flow.",
        "Puhdista suodatin ja tuuletusaukot; varmista, ettei mikään estä ilmavirtaa.",
    ),
    (
        "Reset the network settings and connect again with the new password.",
        "Palauta verkkoasetukset ja yhdistä uudelleen uudella salasanalla.",
    ),
    (
        "Replace the battery or the charger with an original part.",
        "Vaihda akku tai laturi alkuperäiseen varaosaan.",
    ),
    (
        "Book a service visit; the part is covered by the warranty.",
        "Varaa huoltokäynti; osa kuuluu takuun piiriin.",
    ),
];

impl Store {
    /// Seeds `count` published knowledge articles by `author` about the
    /// seeded problems, every other one in Finnish, two in three public,
    /// each with its first revision, indexed for search.
    pub async fn seed_articles(&self, author: i64, count: u64) -> Result<()> {
        let at = to_db(now());
        let mut done = 0u64;
        while done < count {
            let n = 200.min(count - done);
            let mut tx = self.begin_write().await?;
            let first_id: i64 =
                sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS next FROM kb_articles")
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("next")?;
            let mut articles = String::from(
                "INSERT INTO kb_articles (id, family_id, language, state, visibility, title, symptom, cause, \
                 solution, products, category, owner_id, revision, created_by, created_at, updated_at, published_at) VALUES ",
            );
            let mut revisions = String::from(
                "INSERT INTO kb_revisions (article_id, revision, author_id, at, note, state, title, symptom, cause, \
                 solution, products, category) VALUES ",
            );
            for j in 0..n {
                let seq = done + j;
                let id = first_id + j as i64;
                let s = seq as usize;
                let (device, symptom, detail) = (
                    DEVICES[s % DEVICES.len()],
                    SYMPTOMS[(s / 3) % SYMPTOMS.len()],
                    DETAILS[(s / 7) % DETAILS.len()],
                );
                let fix = FIXES[(s / 11) % FIXES.len()];
                let fi = s.is_multiple_of(2);
                let (title, symptom_text, solution, product) = if fi {
                    (
                        format!("{} {} (ohje {seq})", capital(device.1), symptom.1),
                        format!("{} {} {}.", capital(device.1), symptom.1, detail.1),
                        fix.1,
                        device.1.replace(' ', "-"),
                    )
                } else {
                    (
                        format!("{} {} (guide {seq})", capital(device.0), symptom.0),
                        format!("The {} {} {}.", device.0, symptom.0, detail.0),
                        fix.0,
                        device.0.replace(' ', "-"),
                    )
                };
                let visibility = if s % 3 == 2 { "internal" } else { "public" };
                let lang = if fi { "fi" } else { "en" };
                let sep = if j == 0 { "" } else { ", " };
                articles.push_str(&format!(
                    "{sep}({id}, {id}, '{lang}', 'published', '{visibility}', '{title}', '{symptom_text}', '', \
                     '{solution}', '{product}', '', {author}, 1, {author}, {at}, {at}, {at})"
                ));
                revisions.push_str(&format!(
                    "{sep}({id}, 1, {author}, {at}, '', 'published', '{title}', '{symptom_text}', '', '{solution}', '{product}', '')"
                ));
            }
            // Generated here, not user input: inlining is safe.
            sqlx::raw_sql(&articles).execute(&mut *tx).await?;
            sqlx::raw_sql(&revisions).execute(&mut *tx).await?;
            let ids: Vec<i64> = (first_id..first_id + n as i64).collect();
            crate::search::index_articles(&mut tx, &ids).await?;
            tx.commit().await?;
            done += n;
        }
        if self.engine() == crate::Engine::Postgres {
            sqlx::raw_sql(
                "SELECT setval(pg_get_serial_sequence('kb_articles', 'id'), (SELECT MAX(id) FROM kb_articles))",
            )
            .execute(&self.write)
            .await?;
        }
        Ok(())
    }

    pub async fn count_articles(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM kb_articles")
            .fetch_one(&self.read)
            .await?
            .try_get("n")?)
    }
}

impl Store {
    /// Benchmark data for statements: `count` time entries of `minutes`
    /// spread over `tickets` round-robin and over the year `year` (UTC),
    /// written 500 to a statement. Entries on a ticket a contract pays for
    /// carry the contract and a falling balance, as bookings would.
    pub async fn seed_time_entries(
        &self,
        tickets: &[(i64, Option<i64>)],
        user_id: i64,
        year: i16,
        count: usize,
    ) -> Result<()> {
        let start = to_db(
            jiff::civil::date(year, 1, 1)
                .to_zoned(jiff::tz::TimeZone::UTC)
                .map_err(|e| crate::StoreError::invalid("year", e.to_string()))?
                .timestamp(),
        );
        let span: i64 = 360 * 24 * 3600 * 1_000_000;
        let mut balance = 10_000_000i64;
        let mut tx = self.begin_write().await?;
        // 50 rows a statement: sqlx binds SQLite parameters at a cost that
        // grows with the square of their number.
        for chunk_start in (0..count).step_by(50) {
            let mut sql = Sql::new(
                "INSERT INTO time_entries (ticket_id, user_id, worked_at, minutes, billable, note, contract_id, \
                 balance_after, over_balance, created_at) VALUES ",
            );
            for i in chunk_start..(chunk_start + 50).min(count) {
                let (ticket, contract) = tickets[i % tickets.len()];
                let minutes = 15 + (i as i64 * 7) % 106;
                let at = start + span / count as i64 * i as i64;
                let after = contract.map(|_| {
                    balance -= minutes;
                    balance
                });
                sql.push(if i == chunk_start { "(" } else { ", (" });
                sql.bind(Value::Int(ticket))
                    .push(", ")
                    .bind(Value::Int(user_id))
                    .push(", ")
                    .bind(Value::Int(at))
                    .push(", ")
                    .bind(Value::Int(minutes))
                    .push(", ")
                    .bind(Value::Bool(true))
                    .push(", ")
                    .bind(Value::Text(format!("Work {i}")))
                    .push(", ")
                    .bind(Value::opt_int(contract))
                    .push(", ")
                    .bind(Value::opt_int(after))
                    .push(", ")
                    .bind(Value::Bool(false))
                    .push(", ")
                    .bind(Value::Int(at))
                    .push(")");
            }
            sql.query().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
