//! Statements on the pages: a period's statement for an organisation
//! (customers: their own), printable, as CSV for a spreadsheet, marked
//! invoiced by an administrator; invoiced statements listed and reread.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{context, Value};
use serde::Deserialize;
use tuki_domain::coverage::show_date;
use tuki_domain::money::format_eur;
use tuki_domain::statement::{quantity_text, to_csv, StatementLine};
use tuki_store::coverage::{StatementQuery, StatementView};

use crate::pages::auth::{Posted, Viewer};
use crate::pages::render::{render, when, with_status, Mistake, PageError, PageResult};
use crate::AppState;

#[derive(Deserialize, Default)]
pub struct PeriodQuery {
    organisation_id: Option<i64>,
    from: Option<String>,
    to: Option<String>,
}

/// Last month, as a statement is usually asked for.
fn last_month() -> (String, String) {
    let today = jiff::Zoned::now().date();
    let first = today.first_of_month();
    let prev_last = first.yesterday().unwrap_or(first);
    let prev_first = prev_last.first_of_month();
    (
        show_date(prev_first, tuki_domain::directory::Language::Fi),
        show_date(prev_last, tuki_domain::directory::Language::Fi),
    )
}

/// Whose statement: staff choose; a customer's is their organisation's.
fn organisation(v: &Viewer, asked: Option<i64>) -> Option<i64> {
    if v.is_staff() {
        asked
    } else {
        v.actor.organisation_id
    }
}

fn lines(v: &Viewer, lines: &[StatementLine]) -> Vec<Value> {
    let l = v.lang.language();
    lines
        .iter()
        .map(|x| context! {
            number => x.ticket_number, date => show_date(x.date, l), text => &x.text,
            quantity => quantity_text(x, l), unit => if x.unit == "min" { "" } else { x.unit.as_str() },
            price => (x.unit_price_cents > 0).then(|| format_eur(x.unit_price_cents, l)),
            vat => x.vat.display(l), net => format_eur(x.net_cents, l), charged => x.net_cents > 0,
        })
        .collect()
}

/// A statement for the template.
fn view(v: &Viewer, s: &StatementView) -> Value {
    let l = v.lang.language();
    let st = &s.statement;
    context! {
        id => s.id, organisation => &s.organisation, organisation_id => s.organisation_id,
        from => show_date(s.from, l), to => show_date(s.to, l),
        invoiced_at => s.invoiced_at.map(when),
        warranty => lines(v, &st.warranty),
        contracts => st.contracts.iter().map(|c| context! {
            name => &c.name,
            minutes => tuki_domain::coverage::hours_text(c.minutes, l),
            before => c.balance_before.map(|m| tuki_domain::coverage::hours_text(m, l)),
            after => c.balance_after.map(|m| tuki_domain::coverage::hours_text(m, l)),
            lines => lines(v, &c.lines),
        }).collect::<Vec<_>>(),
        billable => lines(v, &st.billable),
        net => format_eur(st.totals.net_cents, l),
        vat => st.totals.by_rate.iter().map(|r| context! {
            rate => r.rate.display(l), net => format_eur(r.net_cents, l), vat => format_eur(r.vat_cents, l),
        }).collect::<Vec<_>>(),
        gross => format_eur(st.totals.gross_cents, l),
        empty => st.warranty.is_empty() && st.contracts.is_empty() && st.billable.is_empty(),
    }
}

async fn page(state: &AppState, v: &Viewer, pq: PeriodQuery, error: Option<Mistake>) -> PageResult {
    let (month_from, month_to) = last_month();
    let from = pq
        .from
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(month_from);
    let to = pq.to.filter(|s| !s.trim().is_empty()).unwrap_or(month_to);
    let org = organisation(v, pq.organisation_id);
    let organisations = if v.is_staff() {
        state
            .store
            .organisations(&v.actor, None, None, 500)
            .await
            .map_err(|e| v.err(e))?
            .iter()
            .map(|o| context! { id => o.id, name => &o.name })
            .collect::<Vec<_>>()
    } else {
        Vec::new()
    };
    let mut statement = None;
    let mut invoiced = Vec::new();
    let mut error = error;
    if let Some(org) = org {
        let q = StatementQuery {
            organisation_id: org,
            from: from.clone(),
            to: to.clone(),
        };
        match state
            .store
            .statement_draft(&v.actor, &q, v.lang.language())
            .await
        {
            Ok(s) => statement = Some(view(v, &s)),
            Err(e) => match Mistake::of(v.lang, &e) {
                Some(m) if error.is_none() => error = Some(m),
                Some(_) => {}
                None => return Err(v.err(e)),
            },
        }
        invoiced = state
            .store
            .invoiced_statements(&v.actor, org)
            .await
            .map_err(|e| v.err(e))?
            .iter()
            .map(|s| context! {
                id => s.id, from => show_date(s.from, v.lang.language()), to => show_date(s.to, v.lang.language()),
                gross => format_eur(s.gross_cents, v.lang.language()),
            })
            .collect();
    }
    let r = render(
        "statement.html",
        v.ctx(context! {
            organisations => organisations, organisation_id => org, from => from, to => to,
            s => statement, invoiced => invoiced, error => &error,
            staff => v.is_staff(),
        }),
    );
    Ok(with_status(r, &error))
}

/// `/statements`: a period's statement.
pub async fn draft(
    State(state): State<AppState>,
    v: Viewer,
    Query(pq): Query<PeriodQuery>,
) -> PageResult {
    page(&state, &v, pq, None).await
}

fn csv_response(v: &Viewer, s: &StatementView) -> Response {
    let body = to_csv(&s.statement, v.lang.language());
    let name = match s.id {
        Some(id) => format!("statement-{id}.csv"),
        None => format!("statement-{}-{}-{}.csv", s.organisation_id, s.from, s.to),
    };
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `/statements/csv`: the period's statement as CSV.
pub async fn draft_csv(
    State(state): State<AppState>,
    v: Viewer,
    Query(pq): Query<PeriodQuery>,
) -> PageResult {
    let org = organisation(&v, pq.organisation_id).ok_or_else(|| PageError::not_found(v.lang))?;
    let (from, to) = last_month();
    let q = StatementQuery {
        organisation_id: org,
        from: pq.from.unwrap_or(from),
        to: pq.to.unwrap_or(to),
    };
    let s = state
        .store
        .statement_draft(&v.actor, &q, v.lang.language())
        .await
        .map_err(|e| v.err(e))?;
    Ok(csv_response(&v, &s))
}

/// Marks the period invoiced (administrators; the store checks).
pub async fn invoice(
    State(state): State<AppState>,
    Posted { viewer: v, form }: Posted,
) -> PageResult {
    let q = StatementQuery {
        organisation_id: form.int("organisation_id").unwrap_or(0),
        from: form.text("from"),
        to: form.text("to"),
    };
    match state
        .store
        .invoice_statement(&v.actor, &q, v.lang.language())
        .await
    {
        Ok(s) => Ok(Redirect::to(&format!("/statements/{}", s.id.unwrap_or(0))).into_response()),
        Err(e) => match Mistake::of(v.lang, &e) {
            Some(m) => {
                let pq = PeriodQuery {
                    organisation_id: Some(q.organisation_id),
                    from: Some(q.from),
                    to: Some(q.to),
                };
                page(&state, &v, pq, Some(m)).await
            }
            None => Err(v.err(e)),
        },
    }
}

/// `/statements/{id}`: an invoiced statement.
pub async fn invoiced(State(state): State<AppState>, v: Viewer, Path(id): Path<i64>) -> PageResult {
    let s = state
        .store
        .statement(&v.actor, id, v.lang.language())
        .await
        .map_err(|e| v.err(e))?;
    Ok(render(
        "statement.html",
        v.ctx(context! { s => view(&v, &s), staff => v.is_staff(), fixed => true }),
    ))
}

/// `/statements/{id}/csv`.
pub async fn invoiced_csv(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
) -> PageResult {
    let s = state
        .store
        .statement(&v.actor, id, v.lang.language())
        .await
        .map_err(|e| v.err(e))?;
    Ok(csv_response(&v, &s))
}
