//! Administration of service levels: business calendars (time zone, weekly
//! working intervals, holidays, or around the clock), SLA policies
//! (conditions, targets, order, warning share) and escalation rules.
//! Administrators only; the store checks the role again on every write and
//! validates what the forms send exactly as it validates the API's JSON.
//!
//! The forms are plain HTML: a weekday's hours are written as
//! `08:00-11:30, 12:00-16:00`, holidays one per line as `2026-12-24` (one
//! date) or `12-24` (every year), and Finland's public holidays are one
//! checkbox.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::Value;
use tuki_domain::directory::Role;
use tuki_domain::sla::{
    CalendarDefinition, EscalationAction, EscalationTrigger, HolidayRule, OpeningHours, SlaKind,
    WeeklyHours, WorkingInterval,
};
use tuki_domain::ticket::{Channel, Priority};
use tuki_store::directory::UserFilter;
use tuki_store::sla::{Calendar, CalendarInput, EscalationRuleInput, PolicyInput, SlaPolicy};
use tuki_store::StoreError;

use super::auth::{admin_only, Form, Posted, Viewer};
use super::i18n::{self, Lang};
use super::render::{render, user_message, PageError, PageResult};
use crate::AppState;
use tuki_store::sla::{Calendars, EscalationRules, Policies};

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn with_status(mut r: Response, error: &Option<String>) -> Response {
    if error.is_some() {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

/// A message naming the form field for a mistake the administrator can fix.
/// The store names calendar fields the way the definition spells them
/// (`definition.hours.monday[1].end`); the label is that of the form field
/// holding it (the weekday, the holidays box).
fn message(lang: Lang, e: &StoreError) -> Option<String> {
    if let StoreError::Invalid(v) = e {
        let field = v.field.strip_prefix("definition.").unwrap_or(&v.field);
        let head = field.split(['[', '.']).next().unwrap_or(field);
        let day = field
            .strip_prefix("hours.")
            .map(|d| d.split(['[', '.']).next().unwrap_or(d));
        let cat = i18n::catalogue(lang);
        let label = match day {
            Some(d) if WEEKDAYS.contains(&d) => i18n::t(lang, &format!("sla.day.{d}")),
            _ => [field, head]
                .iter()
                .map(|f| format!("field.{f}"))
                .find(|k| cat.contains_key(k))
                .map(|k| i18n::t(lang, &k))
                .unwrap_or_else(|| field.to_string()),
        };
        return Some(i18n::tf(
            lang,
            "error.field",
            &[("field", &label), ("message", &v.message)],
        ));
    }
    user_message(lang, e)
}

/// Where a save leads: to `Ok(path)` (a redirect), or for a mistake the
/// administrator can fix, back to the form with the message (a 422 page).
enum Saved {
    Done(PageResult),
    Again(String),
}

fn saved(v: &Viewer, res: Result<String, StoreError>) -> Saved {
    match res {
        Ok(to) => Saved::Done(Ok(Redirect::to(&to).into_response())),
        Err(e) => match message(v.lang, &e) {
            Some(m) => Saved::Again(m),
            None => Saved::Done(Err(v.err(e))),
        },
    }
}

/// A whole number from a form field: absent when empty, an error naming the
/// field when it is not a number.
fn number(form: &Form, field: &str) -> Result<Option<i64>, StoreError> {
    match form.opt(field) {
        None => Ok(None),
        Some(raw) => raw
            .parse::<i64>()
            .map(Some)
            .map_err(|_| StoreError::invalid(field, "must be a whole number")),
    }
}

fn minutes(form: &Form, field: &str) -> Result<Option<u32>, StoreError> {
    number(form, field)?
        .map(|m| u32::try_from(m).map_err(|_| StoreError::invalid(field, "must not be negative")))
        .transpose()
}

// ------------------------------------------------------------------ calendars

/// `08:00-11:30, 12:00-16:00` as intervals.
fn parse_intervals(day: &str, raw: &str) -> Result<Vec<WorkingInterval>, StoreError> {
    raw.split([',', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|part| {
            let (start, end) = part.split_once(['-', '–']).ok_or_else(|| {
                StoreError::invalid(
                    &format!("hours.{day}"),
                    format!("write hours as 08:00-16:00, not {part:?}"),
                )
            })?;
            Ok(WorkingInterval::new(start.trim(), end.trim()))
        })
        .collect()
}

fn format_intervals(intervals: &[WorkingInterval]) -> String {
    intervals
        .iter()
        .map(|i| format!("{}-{}", i.start, i.end))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One holiday per line: `2026-12-24` (that date) or `12-24` (every year).
fn parse_holidays(raw: &str) -> Result<Vec<HolidayRule>, StoreError> {
    let mut rules = Vec::new();
    for line in raw.lines().flat_map(|l| l.split(',')).map(str::trim) {
        if line.is_empty() {
            continue;
        }
        let bad = || {
            StoreError::invalid(
                "holidays",
                format!("write 2026-12-24 for one date or 12-24 for every year, not {line:?}"),
            )
        };
        let parts: Vec<&str> = line.split('-').collect();
        match parts.as_slice() {
            [_, _, _] => rules.push(HolidayRule::Date {
                date: line.parse().map_err(|_| bad())?,
            }),
            [m, d] => rules.push(HolidayRule::Yearly {
                month: m.parse().map_err(|_| bad())?,
                day: d.parse().map_err(|_| bad())?,
            }),
            _ => return Err(bad()),
        }
    }
    Ok(rules)
}

fn calendar_input(form: &Form) -> Result<CalendarInput, StoreError> {
    let hours = if form.get("always_open").is_some() {
        OpeningHours::AlwaysOpen
    } else {
        let mut week = WeeklyHours::default();
        for day in WEEKDAYS {
            let intervals = parse_intervals(day, &form.text(&format!("hours_{day}")))?;
            *match day {
                "monday" => &mut week.monday,
                "tuesday" => &mut week.tuesday,
                "wednesday" => &mut week.wednesday,
                "thursday" => &mut week.thursday,
                "friday" => &mut week.friday,
                "saturday" => &mut week.saturday,
                _ => &mut week.sunday,
            } = intervals;
        }
        OpeningHours::Weekly(week)
    };
    let mut holidays = Vec::new();
    if form.get("finnish_holidays").is_some() {
        holidays.push(HolidayRule::FinnishPublic);
    }
    holidays.extend(parse_holidays(&form.text("holidays"))?);
    Ok(CalendarInput {
        name: form.text("name"),
        definition: CalendarDefinition {
            time_zone: form.text("time_zone").trim().to_string(),
            hours,
            holidays,
        },
    })
}

/// What the calendar form shows: a stored calendar, or the sent form again.
fn calendar_fields(c: Option<&Calendar>, form: Option<&Form>) -> Value {
    if let Some(f) = form {
        return context! {
            name => f.text("name"),
            time_zone => f.text("time_zone"),
            always_open => f.get("always_open").is_some(),
            hours => WEEKDAYS.iter().map(|d| context! { day => d, value => f.text(&format!("hours_{d}")) }).collect::<Vec<_>>(),
            finnish_holidays => f.get("finnish_holidays").is_some(),
            holidays => f.text("holidays"),
        };
    }
    let default_week = WeeklyHours::weekdays(&[WorkingInterval::new("08:00", "16:00")]);
    let (name, def) = match c {
        Some(c) => (c.name.clone(), c.definition.clone()),
        None => (
            String::new(),
            CalendarDefinition {
                time_zone: "Europe/Helsinki".into(),
                hours: OpeningHours::Weekly(default_week.clone()),
                holidays: vec![HolidayRule::FinnishPublic],
            },
        ),
    };
    let week = match &def.hours {
        OpeningHours::Weekly(w) => w.clone(),
        OpeningHours::AlwaysOpen => default_week,
    };
    let days = [
        &week.monday,
        &week.tuesday,
        &week.wednesday,
        &week.thursday,
        &week.friday,
        &week.saturday,
        &week.sunday,
    ];
    context! {
        name => name,
        time_zone => def.time_zone,
        always_open => matches!(def.hours, OpeningHours::AlwaysOpen),
        hours => WEEKDAYS.iter().zip(days).map(|(d, i)| context! { day => d, value => format_intervals(i) }).collect::<Vec<_>>(),
        finnish_holidays => def.holidays.contains(&HolidayRule::FinnishPublic),
        holidays => def.holidays.iter().filter_map(|h| match h {
            HolidayRule::Date { date } => Some(date.to_string()),
            HolidayRule::Yearly { month, day } => Some(format!("{month:02}-{day:02}")),
            HolidayRule::FinnishPublic => None,
        }).collect::<Vec<_>>().join("\n"),
    }
}

fn calendar_summary(lang: Lang, c: &Calendar) -> Value {
    let hours = match &c.definition.hours {
        OpeningHours::AlwaysOpen => i18n::t(lang, "sla.always_open"),
        OpeningHours::Weekly(w) => WEEKDAYS
            .iter()
            .zip([
                &w.monday,
                &w.tuesday,
                &w.wednesday,
                &w.thursday,
                &w.friday,
                &w.saturday,
                &w.sunday,
            ])
            .filter(|(_, i)| !i.is_empty())
            .map(|(d, i)| {
                format!(
                    "{} {}",
                    i18n::t(lang, &format!("sla.day_short.{d}")),
                    format_intervals(i)
                )
            })
            .collect::<Vec<_>>()
            .join(" · "),
    };
    let mut holidays = Vec::new();
    for h in &c.definition.holidays {
        holidays.push(match h {
            HolidayRule::FinnishPublic => i18n::t(lang, "sla.finnish_holidays"),
            HolidayRule::Date { date } => date.to_string(),
            HolidayRule::Yearly { month, day } => format!("{day}.{month}."),
        });
    }
    context! {
        id => c.id, name => &c.name, time_zone => &c.definition.time_zone,
        hours => hours, holidays => holidays.join(", "),
    }
}

async fn calendars_view(
    state: &AppState,
    v: &Viewer,
    edit: Option<i64>,
    form: Option<&Form>,
    error: Option<String>,
) -> PageResult {
    admin_only(v)?;
    let calendars = state
        .store
        .list::<Calendars>(&v.actor)
        .await
        .map_err(|e| v.err(e))?;
    let editing = match edit {
        Some(id) => Some(
            calendars
                .iter()
                .find(|c| c.id == id)
                .ok_or_else(|| PageError::not_found(v.lang))?,
        ),
        None => None,
    };
    let r = render(
        "admin_calendars.html",
        v.ctx(context! {
            section => "calendars",
            calendars => calendars.iter().map(|c| calendar_summary(v.lang, c)).collect::<Vec<_>>(),
            edit_id => edit,
            c => calendar_fields(editing, form),
            error => &error,
        }),
    );
    Ok(with_status(r, &error))
}

pub async fn calendars(State(state): State<AppState>, v: Viewer) -> PageResult {
    calendars_view(&state, &v, None, None, None).await
}

pub async fn calendar(State(state): State<AppState>, v: Viewer, Path(id): Path<i64>) -> PageResult {
    calendars_view(&state, &v, Some(id), None, None).await
}

async fn save_calendar(state: AppState, v: Viewer, form: Form, id: Option<i64>) -> PageResult {
    admin_only(&v)?;
    let res = async {
        let input = calendar_input(&form)?;
        match id {
            None => state.store.create::<Calendars>(&v.actor, input).await?,
            Some(id) => {
                state
                    .store
                    .replace::<Calendars>(&v.actor, id, input)
                    .await?
            }
        };
        Ok("/admin/calendars".to_string())
    }
    .await;
    match saved(&v, res) {
        Saved::Done(r) => r,
        Saved::Again(m) => calendars_view(&state, &v, id, Some(&form), Some(m)).await,
    }
}

pub async fn create_calendar(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> PageResult {
    save_calendar(state, viewer, form, None).await
}

pub async fn update_calendar(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form }: Posted,
) -> PageResult {
    save_calendar(state, viewer, form, Some(id)).await
}

pub async fn delete_calendar(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer: v, .. }: Posted,
) -> PageResult {
    admin_only(&v)?;
    match state.store.delete::<Calendars>(&v.actor, id).await {
        Ok(()) => Ok(Redirect::to("/admin/calendars").into_response()),
        Err(e) => match message(v.lang, &e) {
            Some(m) => calendars_view(&state, &v, None, None, Some(m)).await,
            None => Err(v.err(e)),
        },
    }
}

// ------------------------------------------------------------------- policies

fn policy_input(form: &Form) -> Result<PolicyInput, StoreError> {
    Ok(PolicyInput {
        name: form.text("name"),
        position: number(form, "position")?,
        priorities: form
            .all("priorities")
            .iter()
            .map(|p| Priority::parse("priorities", p))
            .collect::<Result<_, _>>()?,
        organisation_id: number(form, "organisation_id")?,
        category: form.opt("category").map(str::to_string),
        channel: form
            .opt("channel")
            .map(|c| Channel::parse("channel", c))
            .transpose()?,
        calendar_id: number(form, "calendar_id")?
            .ok_or_else(|| StoreError::invalid("calendar_id", "choose a calendar"))?,
        first_response_minutes: minutes(form, "first_response_minutes")?,
        next_response_minutes: minutes(form, "next_response_minutes")?,
        resolution_minutes: minutes(form, "resolution_minutes")?,
        warn_percent: number(form, "warn_percent")?
            .map(|w| {
                u8::try_from(w)
                    .map_err(|_| StoreError::invalid("warn_percent", "must be between 0 and 100"))
            })
            .transpose()?,
        active: Some(form.get("active").is_some()),
    })
}

fn policy_fields(p: Option<&SlaPolicy>, form: Option<&Form>) -> Value {
    if let Some(f) = form {
        return context! {
            name => f.text("name"), position => f.text("position"),
            priorities => f.all("priorities"), organisation_id => f.int("organisation_id"),
            category => f.text("category"), channel => f.text("channel"),
            calendar_id => f.int("calendar_id"),
            first_response_minutes => f.text("first_response_minutes"),
            next_response_minutes => f.text("next_response_minutes"),
            resolution_minutes => f.text("resolution_minutes"),
            warn_percent => f.text("warn_percent"), active => f.get("active").is_some(),
        };
    }
    let text = |m: Option<u32>| m.map(|m| m.to_string()).unwrap_or_default();
    match p {
        Some(p) => context! {
            name => &p.name, position => p.position.to_string(),
            priorities => p.priorities.iter().map(|x| x.as_str()).collect::<Vec<_>>(),
            organisation_id => p.organisation_id, category => p.category.clone().unwrap_or_default(),
            channel => p.channel.map(|c| c.as_str()).unwrap_or(""), calendar_id => p.calendar_id,
            first_response_minutes => text(p.first_response_minutes),
            next_response_minutes => text(p.next_response_minutes),
            resolution_minutes => text(p.resolution_minutes),
            warn_percent => p.warn_percent.to_string(), active => p.active,
        },
        None => context! {
            name => "", position => "100", priorities => Vec::<String>::new(), category => "",
            channel => "", first_response_minutes => "", next_response_minutes => "",
            resolution_minutes => "", warn_percent => "80", active => true,
        },
    }
}

async fn policies_view(
    state: &AppState,
    v: &Viewer,
    edit: Option<i64>,
    form: Option<&Form>,
    error: Option<String>,
) -> PageResult {
    admin_only(v)?;
    let store = &state.store;
    let policies = store
        .list::<Policies>(&v.actor)
        .await
        .map_err(|e| v.err(e))?;
    let calendars = store
        .list::<Calendars>(&v.actor)
        .await
        .map_err(|e| v.err(e))?;
    let orgs = store
        .organisations(&v.actor, None, None, 500)
        .await
        .map_err(|e| v.err(e))?;
    let editing = match edit {
        Some(id) => Some(
            policies
                .iter()
                .find(|p| p.id == id)
                .ok_or_else(|| PageError::not_found(v.lang))?,
        ),
        None => None,
    };
    let cal_name = |id: i64| {
        calendars
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.name.clone())
            .unwrap_or_default()
    };
    let org_name = |id: i64| {
        orgs.iter()
            .find(|o| o.id == id)
            .map(|o| o.name.clone())
            .unwrap_or_default()
    };
    let r = render(
        "admin_sla_policies.html",
        v.ctx(context! {
            section => "sla_policies",
            policies => policies.iter().map(|p| context! {
                id => p.id, name => &p.name, position => p.position, active => p.active,
                priorities => p.priorities.iter().map(|x| x.as_str()).collect::<Vec<_>>(),
                organisation => p.organisation_id.map(org_name), category => &p.category,
                channel => p.channel.map(|c| c.as_str()), calendar => cal_name(p.calendar_id),
                first_response => p.first_response_minutes, next_response => p.next_response_minutes,
                resolution => p.resolution_minutes, warn_percent => p.warn_percent,
            }).collect::<Vec<_>>(),
            calendars => calendars.iter().map(|c| context! { id => c.id, name => &c.name }).collect::<Vec<_>>(),
            organisations => orgs.iter().map(|o| context! { id => o.id, name => &o.name }).collect::<Vec<_>>(),
            all_priorities => Priority::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            channels => Channel::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            edit_id => edit,
            p => policy_fields(editing, form),
            error => &error,
        }),
    );
    Ok(with_status(r, &error))
}

pub async fn policies(State(state): State<AppState>, v: Viewer) -> PageResult {
    policies_view(&state, &v, None, None, None).await
}

pub async fn policy(State(state): State<AppState>, v: Viewer, Path(id): Path<i64>) -> PageResult {
    policies_view(&state, &v, Some(id), None, None).await
}

async fn save_policy(state: AppState, v: Viewer, form: Form, id: Option<i64>) -> PageResult {
    admin_only(&v)?;
    let res = async {
        let input = policy_input(&form)?;
        match id {
            None => state.store.create::<Policies>(&v.actor, input).await?,
            Some(id) => state.store.replace::<Policies>(&v.actor, id, input).await?,
        };
        Ok("/admin/sla-policies".to_string())
    }
    .await;
    match saved(&v, res) {
        Saved::Done(r) => r,
        Saved::Again(m) => policies_view(&state, &v, id, Some(&form), Some(m)).await,
    }
}

pub async fn create_policy(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted,
) -> PageResult {
    save_policy(state, viewer, form, None).await
}

pub async fn update_policy(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form }: Posted,
) -> PageResult {
    save_policy(state, viewer, form, Some(id)).await
}

pub async fn delete_policy(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer: v, .. }: Posted,
) -> PageResult {
    admin_only(&v)?;
    match state.store.delete::<Policies>(&v.actor, id).await {
        Ok(()) => Ok(Redirect::to("/admin/sla-policies").into_response()),
        Err(e) => match message(v.lang, &e) {
            Some(m) => policies_view(&state, &v, None, None, Some(m)).await,
            None => Err(v.err(e)),
        },
    }
}

// ---------------------------------------------------------- escalation rules

fn rule_input(form: &Form) -> Result<EscalationRuleInput, StoreError> {
    Ok(EscalationRuleInput {
        name: form.text("name"),
        position: number(form, "position")?,
        policy_id: number(form, "policy_id")?,
        sla_kind: form
            .opt("sla_kind")
            .map(|k| SlaKind::parse("sla_kind", k))
            .transpose()?,
        fires_on: EscalationTrigger::parse("fires_on", form.opt("fires_on").unwrap_or(""))?,
        action: EscalationAction::parse("action", form.opt("action").unwrap_or(""))?,
        user_id: number(form, "user_id")?,
        group_id: number(form, "group_id")?,
        active: Some(form.get("active").is_some()),
    })
}

async fn rules_view(state: &AppState, v: &Viewer, error: Option<String>) -> PageResult {
    admin_only(v)?;
    let store = &state.store;
    let rules = store
        .list::<EscalationRules>(&v.actor)
        .await
        .map_err(|e| v.err(e))?;
    let policies = store
        .list::<Policies>(&v.actor)
        .await
        .map_err(|e| v.err(e))?;
    let groups = store.groups(&v.actor).await.map_err(|e| v.err(e))?;
    let mut staff = Vec::new();
    for role in [Role::Agent, Role::Admin] {
        staff.extend(
            store
                .users(
                    &v.actor,
                    &UserFilter {
                        role: Some(role),
                        limit: 500,
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| v.err(e))?,
        );
    }
    let policy_name = |id: i64| policies.iter().find(|p| p.id == id).map(|p| p.name.clone());
    let group_name = |id: i64| groups.iter().find(|g| g.id == id).map(|g| g.name.clone());
    let user_name = |id: i64| staff.iter().find(|u| u.id == id).map(|u| u.name.clone());
    let r = render(
        "admin_escalations.html",
        v.ctx(context! {
            section => "escalations",
            rules => rules.iter().map(|r| context! {
                id => r.id, name => &r.name, position => r.position, active => r.active,
                policy => r.policy_id.and_then(policy_name), sla_kind => r.sla_kind.map(|k| k.as_str()),
                fires_on => r.fires_on.as_str(), action => r.action.as_str(),
                user => r.user_id.and_then(user_name), group => r.group_id.and_then(group_name),
            }).collect::<Vec<_>>(),
            policies => policies.iter().map(|p| context! { id => p.id, name => &p.name }).collect::<Vec<_>>(),
            groups => groups.iter().map(|g| context! { id => g.id, name => &g.name, tier => g.tier }).collect::<Vec<_>>(),
            staff => staff.iter().map(|u| context! { id => u.id, name => &u.name }).collect::<Vec<_>>(),
            kinds => SlaKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            triggers => EscalationTrigger::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            actions => EscalationAction::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            error => &error,
        }),
    );
    Ok(with_status(r, &error))
}

pub async fn escalations(State(state): State<AppState>, v: Viewer) -> PageResult {
    rules_view(&state, &v, None).await
}

pub async fn create_escalation(
    State(state): State<AppState>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    admin_only(&v)?;
    let res = async {
        state
            .store
            .create::<EscalationRules>(&v.actor, rule_input(&form)?)
            .await?;
        Ok("/admin/escalations".to_string())
    }
    .await;
    match saved(&v, res) {
        Saved::Done(r) => r,
        Saved::Again(m) => rules_view(&state, &v, Some(m)).await,
    }
}

pub async fn delete_escalation(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer: v, .. }: Posted,
) -> PageResult {
    admin_only(&v)?;
    match state.store.delete::<EscalationRules>(&v.actor, id).await {
        Ok(()) => Ok(Redirect::to("/admin/escalations").into_response()),
        Err(e) => match message(v.lang, &e) {
            Some(m) => rules_view(&state, &v, Some(m)).await,
            None => Err(v.err(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_and_holidays_from_the_form() {
        assert_eq!(
            parse_intervals("monday", "08:00-11:30, 12:00-16:00").unwrap(),
            vec![
                WorkingInterval::new("08:00", "11:30"),
                WorkingInterval::new("12:00", "16:00")
            ]
        );
        assert!(parse_intervals("monday", "").unwrap().is_empty());
        match parse_intervals("friday", "eight to four") {
            Err(StoreError::Invalid(v)) => assert_eq!(v.field, "hours.friday"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_holidays("2026-12-24\n12-26\n").unwrap(),
            vec![
                HolidayRule::Date {
                    date: "2026-12-24".parse().unwrap()
                },
                HolidayRule::Yearly { month: 12, day: 26 }
            ]
        );
        assert!(parse_holidays("Christmas").is_err());
    }

    #[test]
    fn messages_name_the_form_field() {
        let e = StoreError::invalid("definition.hours.monday[1].end", "must be after the start");
        assert_eq!(
            message(Lang::En, &e).unwrap(),
            "Monday: must be after the start"
        );
        let e = StoreError::invalid("definition.time_zone", "unknown time zone");
        assert_eq!(
            message(Lang::En, &e).unwrap(),
            "Time zone: unknown time zone"
        );
    }
}
