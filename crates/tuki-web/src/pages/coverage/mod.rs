//! Who pays, on the pages: administration of products, rate cards and
//! contracts (`admin.rs`), customers' devices in the portal (`devices.rs`)
//! and, on the ticket page, its coverage, the device it names, an agent's
//! override and the time booked (`ticket.rs`); statements, printable and
//! as CSV, marked invoiced (`statements.rs`).

pub mod admin;
pub mod agent_devices;
pub mod devices;
pub mod import;
pub mod statements;
pub mod ticket;

use minijinja::{context, Value};
use tuki_domain::coverage::{hours_text, show_date};
use tuki_store::coverage::TicketCoverage;

use super::i18n::Lang;

/// A ticket's coverage for the templates: its kind, the one line that says
/// it ("Covered by warranty until 12.3.2027") and the reasons.
pub fn coverage_view(lang: Lang, c: &TicketCoverage) -> Value {
    let l = lang.language();
    context! {
        kind => c.kind.as_str(),
        decided_kind => c.decided_kind.as_str(),
        until => c.until.map(|d| show_date(d, l)),
        contract => &c.contract_name,
        left => c.minutes_left.map(|m| hours_text(m, l)),
        low => c.minutes_left.is_some_and(|m| m <= 0),
        after_hours => c.after_hours,
        asset => &c.asset_serial,
        reasons => &c.reasons,
        overridden => c.overridden.as_ref().map(|o| context! {
            kind => o.kind.as_str(), reason => &o.reason,
        }),
    }
}
