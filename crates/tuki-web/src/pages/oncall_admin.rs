//! The on-call rota as pages: the weekly shifts and the exceptions, each an
//! [`AdminPage`] served by the handlers of [`super::resource`].

use minijinja::{context, Value};
use tuki_store::oncall::{
    OnCallException, OnCallExceptionInput, OnCallExceptions, OnCallShift, OnCallShiftInput,
    OnCallShifts,
};
use tuki_store::StoreError;

use super::auth::{Form, Viewer};
use super::i18n::Lang;
use super::render::when;
use super::resource::{id_name, named, AdminPage};
use crate::AppState;

async fn staff_choices(state: &AppState, v: &Viewer) -> Result<Value, StoreError> {
    let staff = super::admin::staff(&state.store, &v.actor).await?;
    Ok(context! { staff => staff.iter().map(|u| id_name(u.id, &u.name)).collect::<Vec<_>>() })
}

impl AdminPage for OnCallShifts {
    const PATH: &'static str = "/admin/on-call";
    const TEMPLATE: &'static str = "admin_on_call.html";
    const SECTION: &'static str = "on_call";
    const TITLE: &'static str = "oncall.title";
    const NEW: &'static str = "oncall.new_shift";
    const EDIT: &'static str = "oncall.edit_shift";
    const LIST_ID: &'static str = "shifts";
    const FORM_ID: &'static str = "shift-form";

    fn id(s: &OnCallShift) -> i64 {
        s.id
    }

    fn name(s: &OnCallShift) -> &str {
        &s.weekday
    }

    fn rows(_: Lang, shifts: &[OnCallShift], more: &Value) -> Value {
        shifts
            .iter()
            .map(|s| {
                context! {
                    id => s.id, weekday => &s.weekday, start => &s.start, end => &s.end,
                    who => named(more, "staff", s.user_id),
                }
            })
            .collect()
    }

    fn fields(s: Option<&OnCallShift>) -> Value {
        match s {
            Some(s) => {
                context! { user_id => s.user_id, weekday => &s.weekday, start => &s.start, end => &s.end }
            }
            None => context! { weekday => "monday", start => "16:00", end => "24:00" },
        }
    }

    fn sent(f: &Form) -> Value {
        context! { user_id => f.int("user_id"), weekday => f.text("weekday"), start => f.text("start"), end => f.text("end") }
    }

    fn input(f: &Form) -> Result<OnCallShiftInput, StoreError> {
        Ok(OnCallShiftInput {
            user_id: f
                .int("user_id")
                .ok_or_else(|| StoreError::invalid("user_id", "choose who is on duty"))?,
            weekday: f.text("weekday"),
            start: f.text("start"),
            end: f.text("end"),
        })
    }

    async fn more(state: &AppState, v: &Viewer) -> Result<Value, StoreError> {
        let staff = staff_choices(state, v).await?;
        let exceptions = state.store.list::<OnCallExceptions>(&v.actor).await?;
        let names = staff.clone();
        Ok(context! {
            weekdays => tuki_domain::sla::WEEKDAYS,
            staff => staff.get_attr("staff").unwrap_or_default(),
            exceptions => exceptions.iter().map(|e| context! {
                id => e.id, from => when(e.starts_at), until => when(e.ends_at), note => &e.note,
                who => named(&names, "staff", e.user_id),
            }).collect::<Vec<_>>(),
        })
    }

    fn done(lang: Lang, _: &OnCallShift, done: super::resource::Done) -> String {
        super::i18n::tf(
            lang,
            done.key(),
            &[("name", &super::i18n::t(lang, "oncall.shift"))],
        )
    }
}

impl AdminPage for OnCallExceptions {
    const PATH: &'static str = "/admin/on-call-exceptions";
    const TEMPLATE: &'static str = "admin_on_call_exceptions.html";
    const SECTION: &'static str = "on_call";
    const TITLE: &'static str = "oncall.exceptions";
    const NEW: &'static str = "oncall.new_exception";
    const EDIT: &'static str = "oncall.edit_exception";
    const LIST_ID: &'static str = "exceptions";
    const FORM_ID: &'static str = "exception-form";

    fn id(e: &OnCallException) -> i64 {
        e.id
    }

    fn name(e: &OnCallException) -> &str {
        &e.note
    }

    fn rows(_: Lang, exceptions: &[OnCallException], more: &Value) -> Value {
        exceptions
            .iter()
            .map(|e| context! {
                id => e.id, from => when(e.starts_at), until => when(e.ends_at), note => &e.note,
                who => named(more, "staff", e.user_id),
            })
            .collect()
    }

    fn fields(e: Option<&OnCallException>) -> Value {
        match e {
            Some(e) => context! {
                user_id => e.user_id, starts_at => e.starts_at.to_string(), ends_at => e.ends_at.to_string(), note => &e.note,
            },
            None => context! { starts_at => "", ends_at => "", note => "" },
        }
    }

    fn sent(f: &Form) -> Value {
        context! {
            user_id => f.int("user_id"), starts_at => f.text("starts_at"), ends_at => f.text("ends_at"), note => f.text("note"),
        }
    }

    fn input(f: &Form) -> Result<OnCallExceptionInput, StoreError> {
        Ok(OnCallExceptionInput {
            user_id: f
                .int("user_id")
                .ok_or_else(|| StoreError::invalid("user_id", "choose who is on duty"))?,
            starts_at: f.text("starts_at"),
            ends_at: f.text("ends_at"),
            note: f.text("note"),
        })
    }

    async fn more(state: &AppState, v: &Viewer) -> Result<Value, StoreError> {
        staff_choices(state, v).await
    }

    fn done(lang: Lang, _: &OnCallException, done: super::resource::Done) -> String {
        super::i18n::tf(
            lang,
            done.key(),
            &[("name", &super::i18n::t(lang, "oncall.exception"))],
        )
    }
}
