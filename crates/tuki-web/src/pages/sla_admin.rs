//! Administration of service levels as pages: business calendars (time
//! zone, weekly working intervals, holidays, or around the clock), SLA
//! policies (conditions, targets, order, warning share) and escalation
//! rules, each an [`AdminPage`] served by the handlers of
//! [`super::resource`].
//!
//! The forms are plain HTML: a weekday's hours are written as
//! `08:00-11:30, 12:00-16:00`, holidays one per line as `2026-12-24` (one
//! date) or `12-24` (every year), and Finland's public holidays are one
//! checkbox.

use minijinja::context;
use minijinja::Value;
use tuki_domain::sla::{
    CalendarDefinition, EscalationAction, EscalationTrigger, HolidayRule, OpeningHours, SlaKind,
    WeeklyHours, WorkingInterval, WEEKDAYS,
};
use tuki_domain::ticket::{Channel, Priority};
use tuki_store::sla::{
    Calendar, CalendarInput, Calendars, EscalationRule, EscalationRuleInput, EscalationRules,
    Policies, PolicyInput, SlaPolicy,
};
use tuki_store::StoreError;

use super::auth::{Form, Viewer};
use super::i18n::{self, Lang};
use super::resource::{bounded, id_name, named, number, shown, AdminPage};
use crate::AppState;

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
        for (i, day) in WEEKDAYS.iter().enumerate() {
            *week.day_mut(i) = parse_intervals(day, &form.text(&format!("hours_{day}")))?;
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

/// What the calendar form shows of a stored calendar, or of a new one.
fn calendar_fields(c: Option<&Calendar>) -> Value {
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
    context! {
        name => name,
        time_zone => def.time_zone,
        always_open => matches!(def.hours, OpeningHours::AlwaysOpen),
        hours => WEEKDAYS.iter().zip(week.days()).map(|(d, i)| context! { day => d, value => format_intervals(i) }).collect::<Vec<_>>(),
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
            .zip(w.days())
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

impl AdminPage for Calendars {
    const PATH: &'static str = "/admin/calendars";
    const TEMPLATE: &'static str = "admin_calendars.html";
    const SECTION: &'static str = "calendars";
    const TITLE: &'static str = "admin.calendars";
    const NEW: &'static str = "sla.new_calendar";
    const EDIT: &'static str = "sla.edit_calendar";
    const LIST_ID: &'static str = "calendars";
    const FORM_ID: &'static str = "calendar-form";

    fn id(c: &Calendar) -> i64 {
        c.id
    }

    fn name(c: &Calendar) -> &str {
        &c.name
    }

    fn rows(lang: Lang, calendars: &[Calendar], _: &Value) -> Value {
        calendars
            .iter()
            .map(|c| calendar_summary(lang, c))
            .collect()
    }

    fn fields(c: Option<&Calendar>) -> Value {
        calendar_fields(c)
    }

    fn sent(f: &Form) -> Value {
        context! {
            name => f.text("name"),
            time_zone => f.text("time_zone"),
            always_open => f.get("always_open").is_some(),
            hours => WEEKDAYS.iter().map(|d| context! { day => d, value => f.text(&format!("hours_{d}")) }).collect::<Vec<_>>(),
            finnish_holidays => f.get("finnish_holidays").is_some(),
            holidays => f.text("holidays"),
        }
    }

    fn input(form: &Form) -> Result<CalendarInput, StoreError> {
        calendar_input(form)
    }

    /// The store names calendar fields the way the definition spells them
    /// (`definition.hours.monday[1].end`); the form field is the weekday's
    /// box, `hours_monday`.
    fn form_field(field: &str) -> String {
        let field = field.strip_prefix("definition.").unwrap_or(field);
        let head = field.split(['[', '.']).next().unwrap_or(field);
        match field.strip_prefix("hours.") {
            Some(day) => format!("hours_{}", day.split(['[', '.']).next().unwrap_or(day)),
            None => head.to_string(),
        }
    }

    fn label(lang: Lang, field: &str) -> String {
        match field.strip_prefix("hours_") {
            Some(day) if WEEKDAYS.contains(&day) => i18n::t(lang, &format!("sla.day.{day}")),
            _ => i18n::t(lang, &format!("field.{field}")),
        }
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
        first_response_minutes: bounded(form, "first_response_minutes")?,
        next_response_minutes: bounded(form, "next_response_minutes")?,
        resolution_minutes: bounded(form, "resolution_minutes")?,
        warn_percent: number(form, "warn_percent")?
            .map(|w| {
                u8::try_from(w)
                    .map_err(|_| StoreError::invalid("warn_percent", "must be between 0 and 100"))
            })
            .transpose()?,
        active: Some(form.get("active").is_some()),
    })
}

impl AdminPage for Policies {
    const PATH: &'static str = "/admin/sla-policies";
    const TEMPLATE: &'static str = "admin_sla_policies.html";
    const SECTION: &'static str = "sla_policies";
    const TITLE: &'static str = "admin.sla_policies";
    const NEW: &'static str = "sla.new_policy";
    const EDIT: &'static str = "sla.edit_policy";
    const LIST_ID: &'static str = "policies";
    const FORM_ID: &'static str = "policy-form";

    fn id(p: &SlaPolicy) -> i64 {
        p.id
    }

    fn name(p: &SlaPolicy) -> &str {
        &p.name
    }

    fn rows(_: Lang, policies: &[SlaPolicy], more: &Value) -> Value {
        let name_of = |list: &str, id: i64| named(more, list, id);
        policies.iter().map(|p| context! {
            id => p.id, name => &p.name, position => p.position, active => p.active,
            priorities => p.priorities.iter().map(|x| x.as_str()).collect::<Vec<_>>(),
            organisation => p.organisation_id.map(|o| name_of("organisations", o)),
            category => &p.category,
            channel => p.channel.map(|c| c.as_str()),
            calendar => name_of("calendars", p.calendar_id),
            first_response => p.first_response_minutes, next_response => p.next_response_minutes,
            resolution => p.resolution_minutes, warn_percent => p.warn_percent,
        }).collect()
    }

    fn fields(p: Option<&SlaPolicy>) -> Value {
        match p {
            Some(p) => context! {
                name => &p.name, position => p.position.to_string(),
                priorities => p.priorities.iter().map(|x| x.as_str()).collect::<Vec<_>>(),
                organisation_id => p.organisation_id, category => p.category.clone().unwrap_or_default(),
                channel => p.channel.map(|c| c.as_str()).unwrap_or(""), calendar_id => p.calendar_id,
                first_response_minutes => shown(p.first_response_minutes),
                next_response_minutes => shown(p.next_response_minutes),
                resolution_minutes => shown(p.resolution_minutes),
                warn_percent => p.warn_percent.to_string(), active => p.active,
            },
            None => context! {
                name => "", position => "100", priorities => Vec::<String>::new(), category => "",
                channel => "", first_response_minutes => "", next_response_minutes => "",
                resolution_minutes => "", warn_percent => "80", active => true,
            },
        }
    }

    fn sent(f: &Form) -> Value {
        context! {
            name => f.text("name"), position => f.text("position"),
            priorities => f.all("priorities"), organisation_id => f.int("organisation_id"),
            category => f.text("category"), channel => f.text("channel"),
            calendar_id => f.int("calendar_id"),
            first_response_minutes => f.text("first_response_minutes"),
            next_response_minutes => f.text("next_response_minutes"),
            resolution_minutes => f.text("resolution_minutes"),
            warn_percent => f.text("warn_percent"), active => f.get("active").is_some(),
        }
    }

    fn input(form: &Form) -> Result<PolicyInput, StoreError> {
        policy_input(form)
    }

    async fn more(state: &AppState, v: &Viewer) -> Result<Value, StoreError> {
        let store = &state.store;
        let calendars = store.list::<Calendars>(&v.actor).await?;
        let orgs = store.organisations(&v.actor, None, None, 500).await?;
        Ok(context! {
            calendars => calendars.iter().map(|c| id_name(c.id, &c.name)).collect::<Vec<_>>(),
            organisations => orgs.iter().map(|o| id_name(o.id, &o.name)).collect::<Vec<_>>(),
            priorities => Priority::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            channels => Channel::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        })
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

impl AdminPage for EscalationRules {
    const PATH: &'static str = "/admin/escalations";
    const TEMPLATE: &'static str = "admin_escalations.html";
    const SECTION: &'static str = "escalations";
    const TITLE: &'static str = "admin.escalations";
    const NEW: &'static str = "sla.new_rule";
    const EDIT: &'static str = "sla.edit_rule";
    const LIST_ID: &'static str = "escalations";
    const FORM_ID: &'static str = "escalation-form";

    fn id(r: &EscalationRule) -> i64 {
        r.id
    }

    fn name(r: &EscalationRule) -> &str {
        &r.name
    }

    fn rows(_: Lang, rules: &[EscalationRule], more: &Value) -> Value {
        rules
            .iter()
            .map(|r| {
                context! {
                    id => r.id, name => &r.name, position => r.position, active => r.active,
                    policy => r.policy_id.and_then(|p| named(more, "policies", p)),
                    sla_kind => r.sla_kind.map(|k| k.as_str()),
                    fires_on => r.fires_on.as_str(), action => r.action.as_str(),
                    user => r.user_id.and_then(|u| named(more, "staff", u)),
                    group => r.group_id.and_then(|g| named(more, "groups", g)),
                }
            })
            .collect()
    }

    fn fields(r: Option<&EscalationRule>) -> Value {
        match r {
            Some(r) => context! {
                name => &r.name, position => r.position.to_string(), policy_id => r.policy_id,
                sla_kind => r.sla_kind.map(|k| k.as_str()), fires_on => r.fires_on.as_str(),
                action => r.action.as_str(), user_id => r.user_id, group_id => r.group_id,
                active => r.active,
            },
            None => context! { name => "", position => "100", active => true },
        }
    }

    fn sent(f: &Form) -> Value {
        context! {
            name => f.text("name"), position => f.text("position"),
            policy_id => f.int("policy_id"), sla_kind => f.text("sla_kind"),
            fires_on => f.text("fires_on"), action => f.text("action"),
            user_id => f.int("user_id"), group_id => f.int("group_id"),
            active => f.get("active").is_some(),
        }
    }

    fn input(form: &Form) -> Result<EscalationRuleInput, StoreError> {
        rule_input(form)
    }

    async fn more(state: &AppState, v: &Viewer) -> Result<Value, StoreError> {
        let store = &state.store;
        let policies = store.list::<Policies>(&v.actor).await?;
        let groups = store.groups(&v.actor).await?;
        let staff = super::admin::staff(store, &v.actor).await?;
        Ok(context! {
            policies => policies.iter().map(|p| id_name(p.id, &p.name)).collect::<Vec<_>>(),
            groups => groups.iter().map(|g| context! { id => g.id, name => &g.name, tier => g.tier }).collect::<Vec<_>>(),
            staff => staff.iter().map(|u| id_name(u.id, &u.name)).collect::<Vec<_>>(),
            kinds => SlaKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            triggers => EscalationTrigger::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            actions => EscalationAction::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::resource::field_message;
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
            field_message::<Calendars>(Lang::En, &e).unwrap(),
            (
                "hours_monday".into(),
                "Monday: must be after the start".into()
            )
        );
        let e = StoreError::invalid("definition.time_zone", "unknown time zone");
        assert_eq!(
            field_message::<Calendars>(Lang::En, &e).unwrap(),
            ("time_zone".into(), "Time zone: unknown time zone".into())
        );
    }
}
