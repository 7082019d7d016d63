//! Administration: users (with invitation links that also reset passwords),
//! organisations, and groups with their tier, form and members.
//! Administrators only; the store checks the role again on every write. The
//! pages keep the console's queue sidebar, so the queues stay one click away.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use minijinja::{context, Value};
use serde::Deserialize;
use tuki_domain::directory::{GroupForm, Language, OrgKind, Role};
use tuki_store::directory::{
    GroupPatch, NewGroup, NewOrganisation, NewUser, OrganisationPatch, UserFilter, UserPatch,
};
use tuki_store::StoreError;

use super::auth::{admin_only, Posted, Viewer};
use super::console::base_url;
use super::render::{render, with_status, Mistake, PageError, PageResult};
use crate::AppState;

/// The console's queue sidebar, for the admin pages too.
pub async fn queues(state: &AppState, v: &Viewer) -> Result<Value, PageError> {
    let groups = state.store.groups(&v.actor).await.map_err(|e| v.err(e))?;
    super::console::sidebar(state, v, &groups)
        .await
        .map_err(|e| v.err(e))
}

/// An administration page: the queue sidebar and the tab around what the
/// page itself shows (`ctx`), with the mistake, if any, and its status.
pub(crate) async fn page(
    state: &AppState,
    v: &Viewer,
    template: &str,
    section: &str,
    ctx: Value,
    error: Option<Mistake>,
) -> PageResult {
    let side = queues(state, v).await?;
    let r = render(
        template,
        v.ctx(context! { queues => side, section => section, error => &error, ..ctx }),
    );
    Ok(with_status(r, &error))
}

/// Email domains as typed: separated by commas or spaces.
fn domains(raw: &str) -> Vec<String> {
    raw.split([',', ' '])
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect()
}

/// Agents and administrators: who can own tickets, be a group's member or
/// be told by an escalation rule.
pub(super) async fn staff(
    store: &tuki_store::Store,
    actor: &tuki_domain::access::Actor,
) -> Result<Vec<tuki_store::directory::User>, StoreError> {
    let mut staff = Vec::new();
    for role in [Role::Agent, Role::Admin] {
        let filter = UserFilter {
            role: Some(role),
            limit: 500,
            ..Default::default()
        };
        staff.extend(store.users(actor, &filter).await?);
    }
    Ok(staff)
}

/// After an administration form: on success to `to`; an unknown id is a
/// 404 page; a mistake the administrator can fix is shown on the page
/// `again` draws, with its status; anything else is an error page.
async fn after<Fut>(
    v: &Viewer,
    res: Result<(), StoreError>,
    to: &str,
    again: impl FnOnce(Mistake) -> Fut,
) -> PageResult
where
    Fut: std::future::Future<Output = PageResult>,
{
    match res {
        Ok(()) => Ok(Redirect::to(to).into_response()),
        Err(StoreError::NotFound) => Err(PageError::not_found(v.lang)),
        Err(e) => match Mistake::of(v.lang, &e) {
            Some(m) => again(m).await,
            None => Err(v.err(e)),
        },
    }
}

pub async fn index(v: Viewer) -> PageResult {
    admin_only(&v)?;
    Ok(Redirect::to("/admin/users").into_response())
}

#[derive(Deserialize, Default)]
pub struct UsersQuery {
    q: Option<String>,
}

async fn users_view(
    state: &AppState,
    v: &Viewer,
    q: &str,
    error: Option<Mistake>,
    invite_link: Option<(String, String)>,
) -> PageResult {
    admin_only(v)?;
    let store = &state.store;
    let users = store
        .users(
            &v.actor,
            &UserFilter {
                q: Some(q.to_string()).filter(|q| !q.is_empty()),
                limit: 200,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| v.err(e))?;
    let orgs = store
        .organisations(&v.actor, None, None, 500)
        .await
        .map_err(|e| v.err(e))?;
    page(
        state,
        v,
        "admin_users.html",
        "users",
        context! {
            q => q,
            users => users.iter().map(|u| context! {
                id => u.id, name => &u.name, email => &u.email, role => u.role.as_str(),
                language => u.language.as_str(), active => u.active, phone => &u.phone,
                organisation => u.organisation_id.and_then(|o| orgs.iter().find(|x| x.id == o).map(|x| x.name.clone())),
            }).collect::<Vec<_>>(),
            organisations => orgs.iter().map(|o| context! { id => o.id, name => &o.name }).collect::<Vec<_>>(),
            invite => invite_link.map(|(who, link)| context! { who => who, link => link }),
        },
        error,
    )
    .await
}

pub async fn users(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<UsersQuery>,
) -> PageResult {
    users_view(&state, &v, q.q.as_deref().unwrap_or(""), None, None).await
}

/// Creates a user and shows an invitation link for them to choose a password.
pub async fn create_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    admin_only(&v)?;
    let res: Result<(String, String), StoreError> = async {
        let user = state
            .store
            .create_user(
                &v.actor,
                NewUser {
                    email: form.text("email"),
                    name: form.text("name"),
                    phone: form.opt("phone").map(str::to_string),
                    role: Some(Role::parse("role", form.opt("role").unwrap_or("customer"))?),
                    language: Some(Language::parse(
                        "language",
                        form.opt("language").unwrap_or("fi"),
                    )?),
                    organisation_id: form.int("organisation_id"),
                    password: None,
                },
            )
            .await?;
        let token = state.store.create_invitation(&v.actor, user.id).await?;
        Ok((user.email, format!("{}/invite/{token}", base_url(&headers))))
    }
    .await;
    match res {
        Ok(link) => users_view(&state, &v, "", None, Some(link)).await,
        Err(e) => match Mistake::of(v.lang, &e) {
            Some(m) => users_view(&state, &v, "", Some(m), None).await,
            None => Err(v.err(e)),
        },
    }
}

async fn user_view(
    state: &AppState,
    v: &Viewer,
    id: i64,
    error: Option<Mistake>,
    invite_link: Option<String>,
) -> PageResult {
    admin_only(v)?;
    let store = &state.store;
    let u = store.user(&v.actor, id).await.map_err(|e| v.err(e))?;
    let orgs = store
        .organisations(&v.actor, None, None, 500)
        .await
        .map_err(|e| v.err(e))?;
    let groups = store.groups(&v.actor).await.map_err(|e| v.err(e))?;
    page(
        state,
        v,
        "admin_user.html",
        "users",
        context! {
            u => context! {
                id => u.id, name => &u.name, email => &u.email, role => u.role.as_str(),
                language => u.language.as_str(), active => u.active, phone => &u.phone,
                organisation_id => u.organisation_id,
            },
            groups => groups.iter().filter(|g| g.members.iter().any(|m| m.id == u.id))
                .map(|g| context! { id => g.id, name => &g.name, tier => g.tier }).collect::<Vec<_>>(),
            organisations => orgs.iter().map(|o| context! { id => o.id, name => &o.name }).collect::<Vec<_>>(),
            invite_link => invite_link,
        },
        error,
    )
    .await
}

pub async fn user(State(state): State<AppState>, v: Viewer, Path(id): Path<i64>) -> PageResult {
    user_view(&state, &v, id, None, None).await
}

pub async fn update_user(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    admin_only(&v)?;
    let res: Result<(), StoreError> = async {
        let patch = UserPatch {
            email: None,
            name: form.opt("name").map(str::to_string),
            phone: Some(form.opt("phone").map(str::to_string)),
            role: form
                .opt("role")
                .map(|r| Role::parse("role", r))
                .transpose()?,
            language: form
                .opt("language")
                .map(|l| Language::parse("language", l))
                .transpose()?,
            organisation_id: Some(form.int("organisation_id")),
            active: Some(form.get("active").is_some()),
        };
        state.store.update_user(&v.actor, id, patch).await?;
        if form.get("active").is_none() {
            state.store.delete_user_sessions(id).await?;
        }
        Ok(())
    }
    .await;
    after(&v, res, &format!("/admin/users/{id}"), |m| {
        user_view(&state, &v, id, Some(m), None)
    })
    .await
}

/// A new invitation link; the old password stops working once it is used.
pub async fn invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Posted { viewer: v, .. }: Posted,
) -> PageResult {
    admin_only(&v)?;
    let token = state
        .store
        .create_invitation(&v.actor, id)
        .await
        .map_err(|e| v.err(e))?;
    let link = format!("{}/invite/{token}", base_url(&headers));
    user_view(&state, &v, id, None, Some(link)).await
}

async fn orgs_view(state: &AppState, v: &Viewer, error: Option<Mistake>) -> PageResult {
    admin_only(v)?;
    let orgs = state
        .store
        .organisations(&v.actor, None, None, 500)
        .await
        .map_err(|e| v.err(e))?;
    page(
        state,
        v,
        "admin_orgs.html",
        "organisations",
        context! {
            organisations => orgs.iter().map(|o| context! {
                id => o.id, name => &o.name, kind => o.kind.as_str(),
                shares => o.shares_tickets, domains => o.domains.join(", "),
            }).collect::<Vec<_>>(),
        },
        error,
    )
    .await
}

pub async fn organisations(State(state): State<AppState>, v: Viewer) -> PageResult {
    orgs_view(&state, &v, None).await
}

pub async fn create_organisation(
    State(state): State<AppState>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    admin_only(&v)?;
    let res: Result<(), StoreError> = async {
        state
            .store
            .create_organisation(
                &v.actor,
                NewOrganisation {
                    name: form.text("name"),
                    kind: Some(OrgKind::parse(
                        "kind",
                        form.opt("kind").unwrap_or("customer"),
                    )?),
                    shares_tickets: form.get("shares").is_some(),
                    domains: domains(&form.text("domains")),
                },
            )
            .await?;
        Ok(())
    }
    .await;
    after(&v, res, "/admin/organisations", |m| {
        orgs_view(&state, &v, Some(m))
    })
    .await
}

async fn org_view(state: &AppState, v: &Viewer, id: i64, error: Option<Mistake>) -> PageResult {
    admin_only(v)?;
    let o = state
        .store
        .organisation(&v.actor, id)
        .await
        .map_err(|e| v.err(e))?;
    page(
        state,
        v,
        "admin_org.html",
        "organisations",
        context! {
            o => context! {
                id => o.id, name => &o.name, kind => o.kind.as_str(),
                shares => o.shares_tickets, domains => o.domains.join(", "),
            },
            kinds => OrgKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        },
        error,
    )
    .await
}

pub async fn organisation(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
) -> PageResult {
    org_view(&state, &v, id, None).await
}

/// Renames an organisation, changes its kind, sharing or mail domains.
pub async fn update_organisation(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    admin_only(&v)?;
    let res: Result<(), StoreError> = async {
        let patch = OrganisationPatch {
            name: Some(form.text("name")),
            kind: form
                .opt("kind")
                .map(|k| OrgKind::parse("kind", k))
                .transpose()?,
            shares_tickets: Some(form.get("shares").is_some()),
            domains: Some(domains(&form.text("domains"))),
        };
        state.store.update_organisation(&v.actor, id, patch).await?;
        Ok(())
    }
    .await;
    after(&v, res, "/admin/organisations", |m| {
        org_view(&state, &v, id, Some(m))
    })
    .await
}

async fn groups_view(state: &AppState, v: &Viewer, error: Option<Mistake>) -> PageResult {
    admin_only(v)?;
    let store = &state.store;
    let groups = store.groups(&v.actor).await.map_err(|e| v.err(e))?;
    let staff = staff(store, &v.actor).await.map_err(|e| v.err(e))?;
    page(
        state,
        v,
        "admin_groups.html",
        "groups",
        context! {
            groups => groups.iter().map(|g| context! {
                id => g.id, name => &g.name, tier => g.tier, form => g.form.as_str(),
                intake => g.is_intake, description => &g.description,
                members => g.members.iter().map(|m| context! { id => m.id, name => &m.name }).collect::<Vec<_>>(),
            }).collect::<Vec<_>>(),
            staff => staff.iter().map(|u| context! { id => u.id, name => &u.name }).collect::<Vec<_>>(),
            forms => GroupForm::ALL.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        },
        error,
    )
    .await
}

pub async fn groups(State(state): State<AppState>, v: Viewer) -> PageResult {
    groups_view(&state, &v, None).await
}

pub async fn create_group(
    State(state): State<AppState>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    admin_only(&v)?;
    let res: Result<(), StoreError> = async {
        state
            .store
            .create_group(
                &v.actor,
                NewGroup {
                    name: form.text("name"),
                    tier: form.int("tier").unwrap_or(1),
                    form: Some(GroupForm::parse(
                        "form",
                        form.opt("form").unwrap_or("central"),
                    )?),
                    description: form.opt("description").map(str::to_string),
                    is_intake: form.get("intake").is_some(),
                    members: form
                        .all("members")
                        .iter()
                        .filter_map(|m| m.parse().ok())
                        .collect(),
                },
            )
            .await?;
        Ok(())
    }
    .await;
    after(&v, res, "/admin/groups", |m| {
        groups_view(&state, &v, Some(m))
    })
    .await
}

pub async fn group_members(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    admin_only(&v)?;
    let Some(user) = form.int("user_id") else {
        return groups_view(
            &state,
            &v,
            Some(Mistake::invalid(super::i18n::t(v.lang, "error.choose"))),
        )
        .await;
    };
    let res = if form.get("remove").is_some() {
        state.store.remove_group_member(&v.actor, id, user).await
    } else {
        state.store.add_group_member(&v.actor, id, user).await
    };
    after(&v, res.map(|_| ()), "/admin/groups", |m| {
        groups_view(&state, &v, Some(m))
    })
    .await
}

/// Renames a group, moves it to another tier or form, or makes it the
/// intake group. Its tickets stay with it.
pub async fn update_group(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    admin_only(&v)?;
    let res: Result<(), StoreError> = async {
        let patch = GroupPatch {
            name: Some(form.text("name")),
            tier: Some(form.int("tier").ok_or_else(|| {
                StoreError::invalid("tier", super::i18n::t(v.lang, "error.choose"))
            })?),
            form: form
                .opt("form")
                .map(|f| GroupForm::parse("form", f))
                .transpose()?,
            description: form.get("description").map(|d| d.trim().to_string()),
            is_intake: Some(form.get("intake").is_some()),
        };
        state.store.update_group(&v.actor, id, patch).await?;
        Ok(())
    }
    .await;
    after(&v, res, "/admin/groups", |m| {
        groups_view(&state, &v, Some(m))
    })
    .await
}
