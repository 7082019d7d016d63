//! Who pays for a request: products and the customers' devices with their
//! warranties, rate cards, contracts with their hour balances, each ticket's
//! coverage decision (the domain's `coverage::decide`, made at intake and
//! again on changes), the time and materials booked on tickets, and
//! statements of a period (invoiced ones lock what they bill).
//!
//! Products, rate cards and contracts are administered resources; devices
//! are registered by customers (their own) and staff. The decision reacts to
//! ticket events through `events.rs` like every capability.

pub mod assets;
pub mod contracts;
pub(crate) mod decide;
pub mod import;
pub mod materials;
pub mod products;
pub mod rate_cards;
pub mod reminders;
pub mod settings;
pub mod statements;
pub mod time;

pub use assets::{Asset, AssetFilter, AssetInput, Receipt};
pub use contracts::{Contract, ContractBalance, ContractInput, Contracts};
pub use decide::{CoverageOverride, CoverageOverrideInput, TicketAssetInput, TicketCoverage};
pub use import::{ImportKind, ImportReport};
pub use materials::{Material, MaterialInput, MaterialUse, MaterialUseInput, Materials};
pub use products::{Product, ProductInput, Products};
pub use rate_cards::{RateCard, RateCardInput, RateCards};
pub use reminders::CONTRACT_REMINDERS_JOB;
pub use settings::CoverageSettings;
pub use statements::{InvoicedStatement, StatementQuery, StatementView};
pub use time::{TimeEntry, TimeEntryInput};

use serde::Serialize;

use crate::{Result, StoreError};

fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Database(sqlx::Error::Encode(Box::new(e))))
}
