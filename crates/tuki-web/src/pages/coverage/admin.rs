//! Administration of who pays, as pages: products (with their warranty),
//! rate cards (euros and per cents as people type them: "90,00", "25,5")
//! and contracts (hours rather than minutes, Finnish dates), each an
//! [`AdminPage`] served by the handlers of [`crate::pages::resource`].

use minijinja::context;
use minijinja::Value;
use tuki_domain::coverage::{show_date, ContractKind, Covers, ResponseWindow};
use tuki_domain::money::{format_eur, parse_cents, parse_decimal, VatRate};
use tuki_store::coverage::{
    Contract, ContractInput, Contracts, Material, MaterialInput, Materials, Product, ProductInput,
    Products, RateCard, RateCardInput, RateCards,
};
use tuki_store::sla::{Calendars, Policies};
use tuki_store::StoreError;

use crate::pages::auth::{Form, Viewer};
use crate::pages::i18n::Lang;
use crate::pages::resource::{id_name, named, number, AdminPage};
use crate::AppState;

/// Hours as typed ("10", "7,5") as minutes.
fn hours(form: &Form, field: &str) -> Result<Option<i64>, StoreError> {
    match form.opt(field) {
        None => Ok(None),
        Some(raw) => parse_decimal(raw, 2)
            .map(|h| Some(h * 60 / 100))
            .ok_or_else(|| StoreError::invalid(field, "must be a number of hours such as 7,5")),
    }
}

/// Minutes as hours for a form: "7,5".
fn as_hours(minutes: i64) -> String {
    let h = minutes as f64 / 60.0;
    let text = format!("{h:.2}");
    text.trim_end_matches('0')
        .trim_end_matches('.')
        .replace('.', ",")
}

/// Cents for a form: "90,00".
fn as_euros(cents: i64) -> String {
    format!("{},{:02}", cents / 100, cents % 100)
}

fn euros(form: &Form, field: &str) -> Result<i64, StoreError> {
    match form.opt(field) {
        None => Ok(0),
        Some(raw) => Ok(parse_cents(field, raw)?),
    }
}

// ------------------------------------------------------------------- products

impl AdminPage for Products {
    const PATH: &'static str = "/admin/products";
    const TEMPLATE: &'static str = "admin_products.html";
    const SECTION: &'static str = "products";
    const TITLE: &'static str = "coverage.products";
    const NEW: &'static str = "coverage.new_product";
    const EDIT: &'static str = "coverage.edit_product";
    const LIST_ID: &'static str = "products";
    const FORM_ID: &'static str = "product-form";

    fn id(p: &Product) -> i64 {
        p.id
    }

    fn name(p: &Product) -> &str {
        &p.name
    }

    fn rows(_: Lang, products: &[Product], _: &Value) -> Value {
        products
            .iter()
            .map(|p| {
                context! {
                    id => p.id, name => &p.name, manufacturer => &p.manufacturer,
                    category => &p.category, warranty_months => p.warranty_months,
                }
            })
            .collect()
    }

    fn fields(p: Option<&Product>) -> Value {
        match p {
            Some(p) => context! {
                name => &p.name, manufacturer => &p.manufacturer, category => &p.category,
                warranty_months => p.warranty_months.to_string(),
            },
            None => {
                context! { name => "", manufacturer => "", category => "", warranty_months => "24" }
            }
        }
    }

    fn sent(f: &Form) -> Value {
        context! {
            name => f.text("name"), manufacturer => f.text("manufacturer"),
            category => f.text("category"), warranty_months => f.text("warranty_months"),
        }
    }

    fn input(f: &Form) -> Result<ProductInput, StoreError> {
        Ok(ProductInput {
            name: f.text("name"),
            manufacturer: f.text("manufacturer"),
            category: f.text("category"),
            warranty_months: number(f, "warranty_months")?.unwrap_or(0),
        })
    }
}

// ----------------------------------------------------------------- rate cards

impl AdminPage for RateCards {
    const PATH: &'static str = "/admin/rate-cards";
    const TEMPLATE: &'static str = "admin_rate_cards.html";
    const SECTION: &'static str = "rate_cards";
    const TITLE: &'static str = "coverage.rate_cards";
    const NEW: &'static str = "coverage.new_rate_card";
    const EDIT: &'static str = "coverage.edit_rate_card";
    const LIST_ID: &'static str = "rate-cards";
    const FORM_ID: &'static str = "rate-card-form";

    fn id(c: &RateCard) -> i64 {
        c.id
    }

    fn name(c: &RateCard) -> &str {
        &c.name
    }

    fn form_field(field: &str) -> String {
        match field {
            "hourly_cents" => "hourly".into(),
            "call_out_fee_cents" => "call_out_fee".into(),
            "vat_basis_points" => "vat".into(),
            f => f.to_string(),
        }
    }

    fn rows(lang: Lang, cards: &[RateCard], more: &Value) -> Value {
        let l = lang.language();
        cards
            .iter()
            .map(|c| context! {
                id => c.id, name => &c.name, is_default => c.is_default,
                hourly => format_eur(c.hourly_cents, l),
                surcharge => c.on_call_surcharge_percent,
                call_out_fee => format_eur(c.call_out_fee_cents, l),
                unit => c.minimum_unit_minutes,
                vat => VatRate::new("vat", c.vat_basis_points).map(|v| v.display(l)).unwrap_or_default(),
                calendar => c.calendar_id.and_then(|id| named(more, "calendars", id)),
            })
            .collect()
    }

    fn fields(c: Option<&RateCard>) -> Value {
        match c {
            Some(c) => context! {
                name => &c.name, hourly => as_euros(c.hourly_cents),
                on_call_surcharge_percent => c.on_call_surcharge_percent.to_string(),
                call_out_fee => as_euros(c.call_out_fee_cents),
                minimum_unit_minutes => c.minimum_unit_minutes.to_string(),
                vat => vat_field(c.vat_basis_points),
                calendar_id => c.calendar_id, is_default => c.is_default,
            },
            None => context! {
                name => "", hourly => "", on_call_surcharge_percent => "50", call_out_fee => "",
                minimum_unit_minutes => "15", vat => "25,5", is_default => false,
            },
        }
    }

    fn sent(f: &Form) -> Value {
        context! {
            name => f.text("name"), hourly => f.text("hourly"),
            on_call_surcharge_percent => f.text("on_call_surcharge_percent"),
            call_out_fee => f.text("call_out_fee"), minimum_unit_minutes => f.text("minimum_unit_minutes"),
            vat => f.text("vat"), calendar_id => f.int("calendar_id"), is_default => f.get("is_default").is_some(),
        }
    }

    fn input(f: &Form) -> Result<RateCardInput, StoreError> {
        let vat = match f.opt("vat") {
            Some(raw) => Some(VatRate::parse("vat", raw)?.basis_points() as i64),
            None => None,
        };
        Ok(RateCardInput {
            name: f.text("name"),
            hourly_cents: match f.opt("hourly") {
                Some(raw) => parse_cents("hourly", raw)?,
                None => return Err(StoreError::invalid("hourly", "must not be empty")),
            },
            on_call_surcharge_percent: number(f, "on_call_surcharge_percent")?.unwrap_or(0),
            call_out_fee_cents: euros(f, "call_out_fee")?,
            minimum_unit_minutes: number(f, "minimum_unit_minutes")?,
            vat_basis_points: vat,
            calendar_id: f.int("calendar_id"),
            is_default: f.get("is_default").is_some(),
        })
    }

    async fn more(state: &AppState, v: &Viewer) -> Result<Value, StoreError> {
        let calendars = state.store.list::<Calendars>(&v.actor).await?;
        Ok(context! {
            calendars => calendars.iter().map(|c| id_name(c.id, &c.name)).collect::<Vec<_>>(),
        })
    }
}

// ------------------------------------------------------------------ materials

impl AdminPage for Materials {
    const PATH: &'static str = "/admin/materials";
    const TEMPLATE: &'static str = "admin_materials.html";
    const SECTION: &'static str = "materials";
    const TITLE: &'static str = "materials.catalogue";
    const NEW: &'static str = "materials.new";
    const EDIT: &'static str = "materials.edit";
    const LIST_ID: &'static str = "materials";
    const FORM_ID: &'static str = "material-form";

    fn id(m: &Material) -> i64 {
        m.id
    }

    fn name(m: &Material) -> &str {
        &m.name
    }

    fn form_field(field: &str) -> String {
        match field {
            "unit_price_cents" => "unit_price".into(),
            "vat_basis_points" => "vat".into(),
            f => f.to_string(),
        }
    }

    fn rows(lang: Lang, materials: &[Material], _: &Value) -> Value {
        let l = lang.language();
        materials
            .iter()
            .map(|m| context! {
                id => m.id, name => &m.name, unit => &m.unit, active => m.active,
                price => format_eur(m.unit_price_cents, l),
                vat => VatRate::new("vat", m.vat_basis_points).map(|v| v.display(l)).unwrap_or_default(),
            })
            .collect()
    }

    fn fields(m: Option<&Material>) -> Value {
        match m {
            Some(m) => context! {
                name => &m.name, unit => &m.unit, unit_price => as_euros(m.unit_price_cents),
                vat => vat_field(m.vat_basis_points), active => m.active,
            },
            None => {
                context! { name => "", unit => "kpl", unit_price => "", vat => "25,5", active => true }
            }
        }
    }

    fn sent(f: &Form) -> Value {
        context! {
            name => f.text("name"), unit => f.text("unit"), unit_price => f.text("unit_price"),
            vat => f.text("vat"), active => f.get("active").is_some(),
        }
    }

    fn input(f: &Form) -> Result<MaterialInput, StoreError> {
        Ok(MaterialInput {
            name: f.text("name"),
            unit: f.text("unit"),
            unit_price_cents: match f.opt("unit_price") {
                Some(raw) => parse_cents("unit_price", raw)?,
                None => return Err(StoreError::invalid("unit_price", "must not be empty")),
            },
            vat_basis_points: match f.opt("vat") {
                Some(raw) => Some(VatRate::parse("vat", raw)?.basis_points() as i64),
                None => None,
            },
            active: Some(f.get("active").is_some()),
        })
    }
}

/// A VAT rate for a form, Finnish style: "25,5".
fn vat_field(basis_points: i64) -> String {
    VatRate::new("vat", basis_points)
        .map(|v| {
            v.display(tuki_domain::directory::Language::Fi)
                .trim_end_matches(" %")
                .to_string()
        })
        .unwrap_or_default()
}

// ------------------------------------------------------------------ contracts

impl AdminPage for Contracts {
    const PATH: &'static str = "/admin/contracts";
    const TEMPLATE: &'static str = "admin_contracts.html";
    const SECTION: &'static str = "contracts";
    const TITLE: &'static str = "coverage.contracts";
    const NEW: &'static str = "coverage.new_contract";
    const EDIT: &'static str = "coverage.edit_contract";
    const LIST_ID: &'static str = "contracts";
    const FORM_ID: &'static str = "contract-form";

    fn id(c: &Contract) -> i64 {
        c.id
    }

    fn name(c: &Contract) -> &str {
        &c.name
    }

    fn form_field(field: &str) -> String {
        match field.split(['[', '.']).next().unwrap_or(field) {
            "included_minutes" => "included_hours".into(),
            "low_balance_minutes" => "low_balance_hours".into(),
            f => f.to_string(),
        }
    }

    fn rows(lang: Lang, contracts: &[Contract], more: &Value) -> Value {
        let l = lang.language();
        contracts
            .iter()
            .map(|c| context! {
                id => c.id, name => &c.name, kind => c.kind.as_str(),
                organisation => named(more, "organisations", c.organisation_id),
                period => format!("{} – {}", show_date(c.starts_on, l), show_date(c.ends_on, l)),
                included => as_hours(c.included_minutes), left => as_hours(c.minutes_left),
                low => c.kind == ContractKind::HourBank && c.minutes_left <= c.low_balance_minutes,
                response => c.response.as_str(),
            })
            .collect()
    }

    fn fields(c: Option<&Contract>) -> Value {
        match c {
            Some(c) => context! {
                name => &c.name, organisation_id => c.organisation_id, kind => c.kind.as_str(),
                starts_on => show_date(c.starts_on, tuki_domain::directory::Language::Fi),
                ends_on => show_date(c.ends_on, tuki_domain::directory::Language::Fi),
                included_hours => as_hours(c.included_minutes),
                everything => c.covers.everything, products => &c.covers.products,
                categories => c.covers.categories.join(", "),
                response => c.response.as_str(), sla_policy_id => c.sla_policy_id,
                rate_card_id => c.rate_card_id, low_balance_hours => as_hours(c.low_balance_minutes),
            },
            None => context! {
                name => "", kind => "hour_bank", starts_on => "", ends_on => "", included_hours => "",
                everything => true, products => Vec::<i64>::new(), categories => "",
                response => "business_hours", low_balance_hours => "",
            },
        }
    }

    fn sent(f: &Form) -> Value {
        context! {
            name => f.text("name"), organisation_id => f.int("organisation_id"), kind => f.text("kind"),
            starts_on => f.text("starts_on"), ends_on => f.text("ends_on"),
            included_hours => f.text("included_hours"), everything => f.get("everything").is_some(),
            products => f.all("products").iter().filter_map(|p| p.parse::<i64>().ok()).collect::<Vec<_>>(),
            categories => f.text("categories"), response => f.text("response"),
            sla_policy_id => f.int("sla_policy_id"), rate_card_id => f.int("rate_card_id"),
            low_balance_hours => f.text("low_balance_hours"),
        }
    }

    fn input(f: &Form) -> Result<ContractInput, StoreError> {
        let kind = ContractKind::parse("kind", &f.text("kind"))?;
        let organisation_id = f
            .int("organisation_id")
            .ok_or_else(|| StoreError::invalid("organisation_id", "choose the organisation"))?;
        let products = f
            .all("products")
            .iter()
            .map(|p| {
                p.parse::<i64>()
                    .map_err(|_| StoreError::invalid("products", "is not a product"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let categories = f
            .text("categories")
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect();
        Ok(ContractInput {
            name: f.text("name"),
            organisation_id,
            kind,
            starts_on: f.text("starts_on"),
            ends_on: f.text("ends_on"),
            included_minutes: hours(f, "included_hours")?.unwrap_or(0),
            covers: Covers {
                everything: f.get("everything").is_some(),
                assets: Vec::new(),
                products,
                categories,
            },
            response: Some(ResponseWindow::parse("response", &f.text("response"))?),
            sla_policy_id: f.int("sla_policy_id"),
            rate_card_id: f.int("rate_card_id"),
            low_balance_minutes: hours(f, "low_balance_hours")?,
        })
    }

    async fn more(state: &AppState, v: &Viewer) -> Result<Value, StoreError> {
        let store = &state.store;
        let orgs = store.organisations(&v.actor, None, None, 500).await?;
        let products = store.list::<Products>(&v.actor).await?;
        let policies = store.list::<Policies>(&v.actor).await?;
        let cards = store.list::<RateCards>(&v.actor).await?;
        Ok(context! {
            organisations => orgs.iter().map(|o| id_name(o.id, &o.name)).collect::<Vec<_>>(),
            products => products.iter().map(|p| id_name(p.id, &p.name)).collect::<Vec<_>>(),
            policies => policies.iter().map(|p| id_name(p.id, &p.name)).collect::<Vec<_>>(),
            rate_cards => cards.iter().map(|c| id_name(c.id, &c.name)).collect::<Vec<_>>(),
            kinds => ContractKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            responses => ResponseWindow::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        })
    }
}
