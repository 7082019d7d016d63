//! Who pays for a request: the coverage decision.
//!
//! Made for every request at intake (and again when its asset, requester or
//! category changes) from what is on record: the asset's warranty, the
//! organisation's contracts, the rate card and the business hours. The
//! answer is one of warranty (until a date), contract (which; hours left),
//! billable (which rate card; with the on-call surcharge or not) or not
//! covered (ask), with the reasons in words an agent and a customer read.
//!
//! The rules, in order:
//! 1. **Warranty first.** An asset whose warranty runs to the day the request
//!    came (inclusive, on the business calendar's wall clock) is covered by
//!    it: troubleshooting a device under warranty costs the customer nothing
//!    and keeps their contract hours for other work.
//! 2. **Then a contract** of the requester's organisation that covers the
//!    request (the asset itself, its product, the category, or everything)
//!    and is in force that day; an hour bank only while hours are left. When
//!    several do, the most specific wins (asset, then product, then
//!    category, then a contract for everything), then the one that ends
//!    first (its hours would lapse first), then the oldest.
//! 3. **Then paid service** at the rate card, with the on-call surcharge
//!    outside business hours, for an organisation (a business customer with
//!    an account to invoice).
//! 4. **Otherwise ask**: a private person is asked before paid work starts,
//!    and without a rate card nothing can be billed.

use jiff::civil::Date;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::directory::Language;
use crate::sla::BusinessCalendar;
use crate::string_enum;
use crate::ValidationError;

string_enum! {
    /// How a contract is paid for.
    ContractKind {
        /// Hours bought in advance, drawn down by the work done.
        HourBank = "hour_bank",
        /// A fixed fee for the period: the work it covers is not counted
        /// against a balance.
        Subscription = "subscription",
    }
}

string_enum! {
    /// When a contract's customers are answered.
    ResponseWindow {
        /// Within the business calendar; a request at night waits for the
        /// morning (or is handled as paid on-call work, if the customer asks).
        BusinessHours = "business_hours",
        /// Around the clock.
        AllHours = "all_hours",
    }
}

string_enum! {
    /// The four answers of the coverage decision.
    CoverageKind {
        Warranty = "warranty",
        Contract = "contract",
        Billable = "billable",
        NotCovered = "not_covered",
    }
}

/// A date as people type it: `2027-03-12` or the Finnish `12.3.2027`.
pub fn parse_date(field: &str, raw: &str) -> Result<Date, ValidationError> {
    let t = raw.trim();
    let bad = || ValidationError::new(field, "must be a date such as 2027-03-12 or 12.3.2027");
    if let Some((d, rest)) = t.split_once('.') {
        let (m, y) = rest.split_once('.').ok_or_else(bad)?;
        let num = |s: &str| s.trim().parse::<i16>().map_err(|_| bad());
        let (d, m, y) = (num(d)?, num(m)?, num(y)?);
        if !(1000..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return Err(bad());
        }
        return Date::new(y, m as i8, d as i8).map_err(|_| bad());
    }
    if t.len() != 10 {
        return Err(bad());
    }
    t.parse::<Date>().map_err(|_| bad())
}

/// A date for people: "12.3.2027" in Finnish, "12 Mar 2027" in English.
pub fn show_date(d: Date, lang: Language) -> String {
    match lang {
        Language::Fi => format!("{}.{}.{}", d.day(), d.month(), d.year()),
        Language::En => d.strftime("%-d %b %Y").to_string(),
    }
}

/// The day a warranty of `months` bought on `purchased` ends (inclusive):
/// the day before the same date `months` later (bought 12.3.2025 with 24
/// months: until 11.3.2027); where that month is too short for the date
/// (bought 31.1.), its last day.
pub fn warranty_end(purchased: Date, months: i32) -> Date {
    let later = purchased
        .checked_add(jiff::Span::new().months(months))
        .unwrap_or(Date::MAX);
    if later.day() < purchased.day() {
        return later;
    }
    later.yesterday().unwrap_or(later)
}

/// A serial number as Tuki compares it: letters and digits only, upper
/// case ("wm-1001 a" and "WM1001A" are one device).
pub fn serial_key(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Checks a serial number as typed: one line, 3 to 100 characters, some of
/// them letters or digits.
pub fn check_serial(field: &str, raw: &str) -> Result<String, ValidationError> {
    let serial = crate::values::line(field, raw, 100)?;
    if serial_key(&serial).chars().count() < 3 {
        return Err(ValidationError::new(
            field,
            "must have at least 3 letters or digits",
        ));
    }
    Ok(serial)
}

/// The words of a text that could be serial numbers (mail subjects and
/// bodies: "Laite SN: WM-1001, ei käynnisty"), as keys: runs of letters,
/// digits, dashes and slashes with at least one digit and five characters.
pub fn serials_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '/'))
        .filter(|w| w.chars().any(|c| c.is_ascii_digit()))
        .map(serial_key)
        .filter(|k| k.chars().count() >= 5)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The asset a request is about, as the decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetFacts {
    pub id: i64,
    pub serial: String,
    pub product_id: Option<i64>,
    /// The product's category ("washing machines").
    pub category: Option<String>,
    /// The last day of its warranty (derived or overridden); `None` when
    /// none is known.
    pub warranty_until: Option<Date>,
}

/// What a contract covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Covers {
    /// Every request of the organisation.
    #[serde(default)]
    pub everything: bool,
    #[serde(default)]
    pub assets: Vec<i64>,
    #[serde(default)]
    pub products: Vec<i64>,
    /// Request or product categories, compared without regard to case.
    #[serde(default)]
    pub categories: Vec<String>,
}

/// How closely a contract names what a request is about; lower is closer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Match {
    Asset,
    Product,
    Category,
    Everything,
}

impl Covers {
    fn matches(&self, asset: Option<&AssetFacts>, category: Option<&str>) -> Option<Match> {
        let same = |c: &str| {
            self.categories
                .iter()
                .any(|x| x.eq_ignore_ascii_case(c.trim()))
        };
        if let Some(a) = asset {
            if self.assets.contains(&a.id) {
                return Some(Match::Asset);
            }
            if a.product_id.is_some_and(|p| self.products.contains(&p)) {
                return Some(Match::Product);
            }
            if a.category.as_deref().is_some_and(same) {
                return Some(Match::Category);
            }
        }
        if category.is_some_and(same) {
            return Some(Match::Category);
        }
        self.everything.then_some(Match::Everything)
    }
}

/// A contract of the requester's organisation, as the decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractFacts {
    pub id: i64,
    pub name: String,
    pub kind: ContractKind,
    pub starts_on: Date,
    pub ends_on: Date,
    /// What an hour bank has left; subscriptions count no balance.
    pub minutes_left: i64,
    pub covers: Covers,
    pub response: ResponseWindow,
}

/// The rate card paid work is billed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCardFacts {
    pub id: i64,
    pub name: String,
}

/// The request being decided.
#[derive(Debug, Clone, Copy)]
pub struct CoverageRequest<'a> {
    pub received_at: Timestamp,
    pub asset: Option<&'a AssetFacts>,
    pub category: Option<&'a str>,
    /// The requester belongs to an organisation (a business customer).
    pub has_organisation: bool,
}

/// What is on record for it.
#[derive(Debug, Clone, Copy)]
pub struct OnRecord<'a> {
    /// The requester's organisation's contracts (any period, any state: the
    /// decision says why one does not apply).
    pub contracts: &'a [ContractFacts],
    pub rate_card: Option<&'a RateCardFacts>,
    /// The desk's business hours: the day a request came and whether it came
    /// after hours are read on this calendar's wall clock.
    pub hours: &'a BusinessCalendar,
}

/// One reason of a decision, rendered in the reader's language by
/// [`Reason::text`]. Stored as data, so a decision made in Finnish reads in
/// English too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    NoAsset,
    WarrantyValid { serial: String, until: Date },
    WarrantyExpired { serial: String, ended: Date },
    WarrantyUnknown { serial: String },
    ContractCovers { contract: String, scope: String },
    ContractHoursLeft { contract: String, minutes: i64 },
    ContractNotStarted { contract: String, starts: Date },
    ContractEnded { contract: String, ended: Date },
    ContractNoHours { contract: String },
    ContractPreferred { contract: String, over: String },
    WaitsForBusinessHours { contract: String },
    NoContract,
    BillableAt { rate_card: String },
    OnCallSurcharge,
    AskPrivatePerson { rate_card: String },
    NoRateCard,
}

impl Reason {
    pub fn text(&self, lang: Language) -> String {
        let fi = lang == Language::Fi;
        let d = |date: &Date| show_date(*date, lang);
        match self {
            Reason::NoAsset => pick(
                fi,
                "Pyyntöön ei ole liitetty laitetta.",
                "No device is named on the request.",
            ),
            Reason::WarrantyValid { serial, until } => {
                if fi {
                    format!("Laitteen {serial} takuu on voimassa {} asti.", d(until))
                } else {
                    format!("The warranty of device {serial} runs until {}.", d(until))
                }
            }
            Reason::WarrantyExpired { serial, ended } => {
                if fi {
                    format!("Laitteen {serial} takuu päättyi {}.", d(ended))
                } else {
                    format!("The warranty of device {serial} ended on {}.", d(ended))
                }
            }
            Reason::WarrantyUnknown { serial } => {
                if fi {
                    format!("Laitteen {serial} takuuta ei tiedetä (ostopäivä tai tuote puuttuu).")
                } else {
                    format!("The warranty of device {serial} is not known (no purchase date or product).")
                }
            }
            Reason::ContractCovers { contract, scope } => {
                if fi {
                    format!(
                        "Sopimus {contract} kattaa pyynnön ({}).",
                        scope_text(scope, lang)
                    )
                } else {
                    format!(
                        "Contract {contract} covers the request ({}).",
                        scope_text(scope, lang)
                    )
                }
            }
            Reason::ContractHoursLeft { contract, minutes } => {
                if fi {
                    format!(
                        "Sopimuksella {contract} on tunteja jäljellä {}.",
                        hours_text(*minutes, lang)
                    )
                } else {
                    format!(
                        "Contract {contract} has {} left.",
                        hours_text(*minutes, lang)
                    )
                }
            }
            Reason::ContractNotStarted { contract, starts } => {
                if fi {
                    format!("Sopimus {contract} alkaa vasta {}.", d(starts))
                } else {
                    format!("Contract {contract} only starts on {}.", d(starts))
                }
            }
            Reason::ContractEnded { contract, ended } => {
                if fi {
                    format!("Sopimus {contract} päättyi {}.", d(ended))
                } else {
                    format!("Contract {contract} ended on {}.", d(ended))
                }
            }
            Reason::ContractNoHours { contract } => {
                if fi {
                    format!("Sopimuksen {contract} tunnit on käytetty.")
                } else {
                    format!("Contract {contract} has no hours left.")
                }
            }
            Reason::ContractPreferred { contract, over } => {
                if fi {
                    format!("Sopimus {contract} valittiin sopimuksen {over} sijaan: se nimeää pyynnön tarkemmin tai päättyy ensin.")
                } else {
                    format!("Contract {contract} was chosen over {over}: it names the request more closely or ends first.")
                }
            }
            Reason::WaitsForBusinessHours { contract } => {
                if fi {
                    format!(
                        "Pyyntö tuli työajan ulkopuolella; sopimus {contract} vastaa työaikana."
                    )
                } else {
                    format!("The request came outside business hours; contract {contract} responds within business hours.")
                }
            }
            Reason::NoContract => pick(
                fi,
                "Mikään voimassa oleva sopimus ei kata pyyntöä.",
                "No contract in force covers the request.",
            ),
            Reason::BillableAt { rate_card } => {
                if fi {
                    format!("Työ laskutetaan hinnaston {rate_card} mukaan.")
                } else {
                    format!("The work is billed at rate card {rate_card}.")
                }
            }
            Reason::OnCallSurcharge => pick(
                fi,
                "Pyyntö tuli työajan ulkopuolella: päivystyslisä.",
                "The request came outside business hours: on-call surcharge.",
            ),
            Reason::AskPrivatePerson { rate_card } => {
                if fi {
                    format!(
                        "Kysy asiakkaalta, hyväksyykö hän maksullisen työn (hinnasto {rate_card})."
                    )
                } else {
                    format!(
                        "Ask the customer whether they accept paid work (rate card {rate_card})."
                    )
                }
            }
            Reason::NoRateCard => pick(
                fi,
                "Hinnastoa ei ole: sovi maksusta asiakkaan kanssa.",
                "There is no rate card: agree payment with the customer.",
            ),
        }
    }
}

fn pick(fi: bool, in_fi: &str, in_en: &str) -> String {
    if fi { in_fi } else { in_en }.to_string()
}

fn scope_text(scope: &str, lang: Language) -> &'static str {
    let fi = lang == Language::Fi;
    match (scope, fi) {
        ("asset", true) => "laite",
        ("asset", false) => "the device",
        ("product", true) => "tuote",
        ("product", false) => "the product",
        ("category", true) => "luokka",
        ("category", false) => "the category",
        (_, true) => "kaikki pyynnöt",
        (_, false) => "every request",
    }
}

/// "3 h 30 min", "45 min".
pub fn hours_text(minutes: i64, _lang: Language) -> String {
    let sign = if minutes < 0 { "-" } else { "" };
    let m = minutes.abs();
    match (m / 60, m % 60) {
        (0, r) => format!("{sign}{r} min"),
        (h, 0) => format!("{sign}{h} h"),
        (h, r) => format!("{sign}{h} h {r} min"),
    }
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    Warranty {
        until: Date,
    },
    Contract {
        contract_id: i64,
        minutes_left: Option<i64>,
    },
    Billable {
        rate_card_id: i64,
        after_hours: bool,
    },
    NotCovered,
}

impl Verdict {
    pub fn kind(&self) -> CoverageKind {
        match self {
            Verdict::Warranty { .. } => CoverageKind::Warranty,
            Verdict::Contract { .. } => CoverageKind::Contract,
            Verdict::Billable { .. } => CoverageKind::Billable,
            Verdict::NotCovered => CoverageKind::NotCovered,
        }
    }
}

/// A decision: the verdict and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
}

/// The contracts that cover the request and are in force on `day`, the one
/// to choose first; why each other one does not apply goes to `reasons`.
fn usable_contracts<'a>(
    req: &CoverageRequest<'_>,
    contracts: &'a [ContractFacts],
    day: Date,
    reasons: &mut Vec<Reason>,
) -> Vec<(Match, &'a ContractFacts)> {
    let mut usable: Vec<(Match, &ContractFacts)> = Vec::new();
    for c in contracts {
        let Some(m) = c.covers.matches(req.asset, req.category) else {
            continue;
        };
        let contract = c.name.clone();
        if day < c.starts_on {
            reasons.push(Reason::ContractNotStarted {
                contract,
                starts: c.starts_on,
            });
        } else if day > c.ends_on {
            reasons.push(Reason::ContractEnded {
                contract,
                ended: c.ends_on,
            });
        } else if c.kind == ContractKind::HourBank && c.minutes_left <= 0 {
            reasons.push(Reason::ContractNoHours { contract });
        } else {
            usable.push((m, c));
        }
    }
    usable.sort_by_key(|(m, c)| (*m, c.ends_on, c.id));
    usable
}

/// The coverage decision (the rules are in the module's documentation).
pub fn decide(req: &CoverageRequest<'_>, record: &OnRecord<'_>) -> Decision {
    let zone = record.hours.time_zone();
    let day = req.received_at.to_zoned(zone.clone()).date();
    let mut reasons = Vec::new();

    match req.asset {
        None => reasons.push(Reason::NoAsset),
        Some(a) => match a.warranty_until {
            Some(until) if day <= until => {
                reasons.push(Reason::WarrantyValid {
                    serial: a.serial.clone(),
                    until,
                });
                return Decision {
                    verdict: Verdict::Warranty { until },
                    reasons,
                };
            }
            Some(ended) => reasons.push(Reason::WarrantyExpired {
                serial: a.serial.clone(),
                ended,
            }),
            None => reasons.push(Reason::WarrantyUnknown {
                serial: a.serial.clone(),
            }),
        },
    }

    let usable = usable_contracts(req, record.contracts, day, &mut reasons);
    let open = record.hours.is_open_at(req.received_at);
    if let Some(&(m, chosen)) = usable.first() {
        let scope = match m {
            Match::Asset => "asset",
            Match::Product => "product",
            Match::Category => "category",
            Match::Everything => "everything",
        };
        reasons.push(Reason::ContractCovers {
            contract: chosen.name.clone(),
            scope: scope.into(),
        });
        let minutes_left = (chosen.kind == ContractKind::HourBank).then_some(chosen.minutes_left);
        if let Some(minutes) = minutes_left {
            reasons.push(Reason::ContractHoursLeft {
                contract: chosen.name.clone(),
                minutes,
            });
        }
        for (_, other) in &usable[1..] {
            reasons.push(Reason::ContractPreferred {
                contract: chosen.name.clone(),
                over: other.name.clone(),
            });
        }
        if !open && chosen.response == ResponseWindow::BusinessHours {
            reasons.push(Reason::WaitsForBusinessHours {
                contract: chosen.name.clone(),
            });
        }
        return Decision {
            verdict: Verdict::Contract {
                contract_id: chosen.id,
                minutes_left,
            },
            reasons,
        };
    }
    reasons.push(Reason::NoContract);

    match record.rate_card {
        None => {
            reasons.push(Reason::NoRateCard);
            Decision {
                verdict: Verdict::NotCovered,
                reasons,
            }
        }
        Some(card) if !req.has_organisation => {
            reasons.push(Reason::AskPrivatePerson {
                rate_card: card.name.clone(),
            });
            Decision {
                verdict: Verdict::NotCovered,
                reasons,
            }
        }
        Some(card) => {
            reasons.push(Reason::BillableAt {
                rate_card: card.name.clone(),
            });
            if !open {
                reasons.push(Reason::OnCallSurcharge);
            }
            Decision {
                verdict: Verdict::Billable {
                    rate_card_id: card.id,
                    after_hours: !open,
                },
                reasons,
            }
        }
    }
}

/// How long before a contract's last day its renewal is brought up.
pub const RENEWAL_NOTICE_DAYS: i32 = 30;

/// A reminder a contract is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractReminder {
    /// It ends within [`RENEWAL_NOTICE_DAYS`]: time to renew.
    Expiring,
    /// An hour bank's balance is at or below its low mark.
    LowBalance,
}

/// Which reminders a contract is due on `today`, each once: until its
/// reminder is reset (a renewal moves the end, new hours lift the balance).
pub fn contract_reminders(
    c: &ContractFacts,
    low_mark: i64,
    today: Date,
    expiry_reminded: bool,
    low_reminded: bool,
) -> Vec<ContractReminder> {
    let mut due = Vec::new();
    if today > c.ends_on {
        return due;
    }
    let notice = c
        .ends_on
        .checked_sub(jiff::Span::new().days(RENEWAL_NOTICE_DAYS))
        .unwrap_or(Date::MIN);
    if !expiry_reminded && today >= notice {
        due.push(ContractReminder::Expiring);
    }
    if !low_reminded
        && c.kind == ContractKind::HourBank
        && today >= c.starts_on
        && c.minutes_left <= low_mark
    {
        due.push(ContractReminder::LowBalance);
    }
    due
}

#[cfg(test)]
#[path = "coverage_tests.rs"]
mod tests;
