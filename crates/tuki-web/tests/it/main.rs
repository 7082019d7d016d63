//! API tests against a real server on a loopback port, on SQLite and on
//! PostgreSQL (each test function runs on both engines).

mod access;
mod admin_resources;
mod coverage;
mod errors;
mod files;
mod knowledge;
mod live;
mod mail_admin;
mod openapi;
mod search;
mod settings;
mod sla;
mod slow_clients;
mod story;
mod widget;

use reqwest::header::{CONTENT_TYPE, COOKIE};
use reqwest::{redirect, Client, Method, Response, StatusCode};
use serde_json::{json, Value};
use tuki_domain::access::Actor;
use tuki_domain::directory::{Language, Role};
use tuki_store::directory::{NewGroup, NewOrganisation, NewUser};
use tuki_store::testing::TestDb;
use tuki_store::Store;

/// A running Tuki on a free port with a fresh database.
pub struct App {
    pub base: String,
    pub client: Client,
    pub store: Store,
    _db: TestDb,
}

pub async fn spawn_app(db: TestDb) -> App {
    spawn_app_with(db, |s| s).await
}

/// [`spawn_app`] with the store adjusted first (a clock of the test's own).
pub async fn spawn_app_with(db: TestDb, adjust: impl FnOnce(Store) -> Store) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = adjust(db.store.clone());
    let state = tuki_web::AppState::new(store.clone());
    tokio::spawn(tuki_web::serve(listener, state, std::future::pending()));
    App {
        base,
        client: Client::new(),
        store,
        _db: db,
    }
}

/// A signed-in browser for the pages: its session cookie and CSRF token.
/// Redirects are not followed, so tests see where a page sends them.
pub struct Browser {
    pub client: Client,
    pub base: String,
    pub cookie: String,
    pub csrf: String,
}

impl Browser {
    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        (res.status(), res.text().await.unwrap())
    }

    /// Posts a form and returns the whole response; `csrf` false leaves the
    /// token out.
    pub async fn send_form(&self, path: &str, fields: &[(&str, &str)], csrf: bool) -> Response {
        let mut body = form_urlencoded::Serializer::new(String::new());
        if csrf {
            body.append_pair("csrf", &self.csrf);
        }
        for (k, v) in fields {
            body.append_pair(k, v);
        }
        self.client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.finish())
            .send()
            .await
            .unwrap()
    }

    /// Posts a form; `csrf` false leaves the token out.
    pub async fn post(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        csrf: bool,
    ) -> (StatusCode, String) {
        let res = self.send_form(path, fields, csrf).await;
        (res.status(), res.text().await.unwrap())
    }
}

/// A user with a token.
#[derive(Clone)]
pub struct Caller {
    pub id: i64,
    pub token: String,
}

impl App {
    pub async fn user(&self, role: Role, email: &str, org: Option<i64>) -> Caller {
        let u = self
            .store
            .create_user(
                &Actor::system(),
                NewUser {
                    email: email.into(),
                    name: email.split('@').next().unwrap().into(),
                    phone: None,
                    role: Some(role),
                    language: None,
                    organisation_id: org,
                    password: None,
                },
            )
            .await
            .unwrap();
        let token = self.store.create_token(u.id, "test").await.unwrap().token;
        Caller { id: u.id, token }
    }

    /// A new person of `role`, signed in to the pages with a fresh session,
    /// and their `Actor`.
    pub async fn signed_in(&self, role: Role, email: &str, language: Language) -> (Browser, Actor) {
        let u = self
            .store
            .create_user(
                &Actor::system(),
                NewUser {
                    email: email.into(),
                    name: email.split('@').next().unwrap().into(),
                    phone: None,
                    role: Some(role),
                    language: Some(language),
                    organisation_id: None,
                    password: None,
                },
            )
            .await
            .unwrap();
        let s = self.store.create_session(u.id).await.unwrap();
        let browser = Browser {
            client: Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .unwrap(),
            base: self.base.clone(),
            cookie: format!("tuki_session={}", s.token),
            csrf: s.csrf,
        };
        (
            browser,
            self.store.actor_for_user(u.id).await.unwrap().unwrap(),
        )
    }

    pub async fn org(&self, name: &str, shares: bool) -> i64 {
        self.store
            .create_organisation(
                &Actor::system(),
                NewOrganisation {
                    name: name.into(),
                    kind: None,
                    shares_tickets: shares,
                    domains: vec![],
                },
            )
            .await
            .unwrap()
            .id
    }

    pub async fn group(&self, name: &str, tier: i64, members: Vec<i64>, intake: bool) -> i64 {
        self.store
            .create_group(
                &Actor::system(),
                NewGroup {
                    name: name.into(),
                    tier,
                    form: None,
                    description: None,
                    is_intake: intake,
                    members,
                },
            )
            .await
            .unwrap()
            .id
    }

    /// A ticket written as Tuki itself writes one (mail, jobs): for
    /// `requester`, in `group` (`None`: the intake group).
    pub async fn ticket(
        &self,
        requester: i64,
        group: Option<i64>,
        subject: &str,
    ) -> tuki_store::tickets::Ticket {
        self.store
            .create_ticket(
                &Actor::system(),
                tuki_store::tickets::NewTicket {
                    subject: subject.into(),
                    body: "Since this morning.".into(),
                    requester_id: Some(requester),
                    channel: None,
                    category: None,
                    priority: None,
                    group_id: group,
                    owner_id: None,
                    tags: vec![],
                    article_kind: None,
                    asset_id: None,
                },
            )
            .await
            .unwrap()
    }

    pub async fn call(
        &self,
        who: Option<&Caller>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(c) = who {
            req = req.bearer_auth(&c.token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    /// Calls and returns status and JSON body (Null when empty).
    pub async fn json(
        &self,
        who: Option<&Caller>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let res = self.call(who, method, path, body).await;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(json!({"raw": text}))
        };
        (status, value)
    }
}
