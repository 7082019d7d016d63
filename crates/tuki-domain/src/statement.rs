//! Statements: what a customer's requests of a period cost, as a Finnish
//! invoice would show it.
//!
//! The work booked and the materials used are sorted by who pays:
//! - **warranty**: listed, free of charge (work and parts);
//! - **contracts**: work listed per contract with the hours before and after
//!   the period (an hour bank's balance); parts used are billed;
//! - **billable**: work at the rate card, each booking rounded up to the
//!   billing unit, with the on-call surcharge as a line of its own where the
//!   request came after hours; parts at their price.
//!
//! Internal (non-billable) time is not on a statement. Each line's net is
//! in whole cents; VAT is summed per rate and rounded once ([`totals`]).

use jiff::civil::Date;
use serde::Serialize;

use crate::coverage::{hours_text, show_date, CoverageKind};
use crate::directory::Language;
use crate::money::{labour, plain_eur, totals, Line, Rates, Totals, VatRate};

/// Time booked on a request, as a statement needs it.
#[derive(Debug, Clone)]
pub struct Work {
    pub ticket_number: i64,
    pub ticket_subject: String,
    pub worked_on: Date,
    pub minutes: i64,
    pub note: String,
    /// Who pays for the request (the override when there is one).
    pub coverage: CoverageKind,
    /// The contract it was booked on.
    pub contract: Option<(i64, String)>,
    /// An hour bank's balance after it.
    pub balance_after: Option<i64>,
    /// The request came outside business hours (on-call surcharge).
    pub after_hours: bool,
}

/// A part or material used on a request.
#[derive(Debug, Clone)]
pub struct Material {
    pub ticket_number: i64,
    pub used_on: Date,
    pub name: String,
    pub unit: String,
    pub quantity_milli: i64,
    pub unit_price_cents: i64,
    pub vat: VatRate,
    pub coverage: CoverageKind,
}

/// The rate card billable work is charged at.
#[derive(Debug, Clone)]
pub struct RateFacts {
    pub name: String,
    pub rates: Rates,
    pub vat: VatRate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Work,
    Surcharge,
    Material,
}

/// One line of a statement.
#[derive(Debug, Clone, Serialize)]
pub struct StatementLine {
    pub kind: LineKind,
    pub ticket_number: i64,
    pub date: Date,
    pub text: String,
    /// Thousandths of `unit` (minutes for work: hours would not be exact).
    pub quantity_milli: i64,
    pub unit: String,
    /// Per `unit`; 0 for what is not charged.
    pub unit_price_cents: i64,
    pub vat: VatRate,
    /// What the line charges, whole cents.
    pub net_cents: i64,
}

/// The work of one contract in the period.
#[derive(Debug, Clone, Serialize)]
pub struct ContractPart {
    pub contract_id: i64,
    pub name: String,
    pub minutes: i64,
    /// An hour bank's balance before the period's first booking and after
    /// its last.
    pub balance_before: Option<i64>,
    pub balance_after: Option<i64>,
    pub lines: Vec<StatementLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Statement {
    pub warranty: Vec<StatementLine>,
    pub contracts: Vec<ContractPart>,
    pub billable: Vec<StatementLine>,
    pub totals: Totals,
}

fn work_line(w: &Work, lang: Language) -> StatementLine {
    StatementLine {
        kind: LineKind::Work,
        ticket_number: w.ticket_number,
        date: w.worked_on,
        text: describe(w, lang),
        quantity_milli: w.minutes * 1000,
        unit: "min".into(),
        unit_price_cents: 0,
        vat: VatRate::default(),
        net_cents: 0,
    }
}

fn describe(w: &Work, _lang: Language) -> String {
    if w.note.is_empty() {
        w.ticket_subject.clone()
    } else {
        format!("{}: {}", w.ticket_subject, w.note)
    }
}

fn material_line(m: &Material, charged: bool) -> StatementLine {
    let line = Line {
        quantity_milli: m.quantity_milli,
        unit_price_cents: m.unit_price_cents,
        vat: m.vat,
    };
    StatementLine {
        kind: LineKind::Material,
        ticket_number: m.ticket_number,
        date: m.used_on,
        text: m.name.clone(),
        quantity_milli: m.quantity_milli,
        unit: m.unit.clone(),
        unit_price_cents: if charged { m.unit_price_cents } else { 0 },
        vat: m.vat,
        net_cents: if charged { line.net_cents() } else { 0 },
    }
}

/// Builds a statement from the period's billable bookings and materials
/// (each list in date order). Billable work without a rate card is listed
/// at no price: the desk has not said what it costs.
pub fn build(
    work: &[Work],
    materials: &[Material],
    rate: Option<&RateFacts>,
    lang: Language,
) -> Statement {
    let mut warranty = Vec::new();
    let mut contracts: Vec<ContractPart> = Vec::new();
    let mut billable = Vec::new();
    for w in work {
        match (&w.contract, w.coverage) {
            (_, CoverageKind::Warranty) => warranty.push(work_line(w, lang)),
            (Some((id, name)), _) => {
                let part = match contracts.iter_mut().position(|c| c.contract_id == *id) {
                    Some(i) => &mut contracts[i],
                    None => {
                        contracts.push(ContractPart {
                            contract_id: *id,
                            name: name.clone(),
                            minutes: 0,
                            balance_before: w.balance_after.map(|b| b + w.minutes),
                            balance_after: None,
                            lines: Vec::new(),
                        });
                        contracts.last_mut().expect("just pushed")
                    }
                };
                part.minutes += w.minutes;
                if w.balance_after.is_some() {
                    part.balance_after = w.balance_after;
                }
                part.lines.push(work_line(w, lang));
            }
            (None, _) => {
                let mut line = work_line(w, lang);
                if let Some(r) = rate {
                    let cost = labour(w.minutes, &r.rates, w.after_hours);
                    line.quantity_milli = cost.billed_minutes * 1000;
                    line.unit_price_cents = r.rates.hourly_cents;
                    line.vat = r.vat;
                    line.net_cents = cost.cents - cost.surcharge_cents;
                    billable.push(line);
                    if cost.surcharge_cents > 0 {
                        billable.push(StatementLine {
                            kind: LineKind::Surcharge,
                            ticket_number: w.ticket_number,
                            date: w.worked_on,
                            text: match lang {
                                Language::Fi => {
                                    format!("Päivystyslisä {} %", r.rates.on_call_surcharge_percent)
                                }
                                Language::En => format!(
                                    "On-call surcharge {} %",
                                    r.rates.on_call_surcharge_percent
                                ),
                            },
                            quantity_milli: 1000,
                            unit: String::new(),
                            unit_price_cents: cost.surcharge_cents,
                            vat: r.vat,
                            net_cents: cost.surcharge_cents,
                        });
                    }
                } else {
                    billable.push(line);
                }
            }
        }
    }
    for m in materials {
        match m.coverage {
            CoverageKind::Warranty => warranty.push(material_line(m, false)),
            _ => billable.push(material_line(m, true)),
        }
    }
    let charged: Vec<Line> = billable
        .iter()
        .map(|l| Line {
            quantity_milli: 1000,
            unit_price_cents: l.net_cents,
            vat: l.vat,
        })
        .collect();
    Statement {
        warranty,
        contracts,
        billable,
        totals: totals(&charged),
    }
}

/// Quantity for people: minutes as hours ("1,5 h") for work, thousandths
/// trimmed otherwise ("2", "0,25").
pub fn quantity_text(line: &StatementLine, lang: Language) -> String {
    if line.unit == "min" {
        return hours_text(line.quantity_milli / 1000, lang);
    }
    let whole = line.quantity_milli / 1000;
    let frac = line.quantity_milli % 1000;
    let sep = if lang == Language::Fi { ',' } else { '.' };
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}{sep}{}", format!("{frac:03}").trim_end_matches('0'))
    }
}

/// The statement as CSV for a spreadsheet: semicolons, decimal commas
/// (Finnish) or points, UTF-8 with a byte-order mark so that Excel reads
/// the letters right. One row per line, then a row per VAT rate and the
/// total.
pub fn to_csv(s: &Statement, lang: Language) -> Vec<u8> {
    let fi = lang == Language::Fi;
    let mut out = Vec::from(*b"\xEF\xBB\xBF");
    {
        let mut w = csv::WriterBuilder::new()
            .delimiter(b';')
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut out);
        let header: [&str; 9] = if fi {
            [
                "Osio", "Pyyntö", "Päivä", "Kuvaus", "Määrä", "Yksikkö", "A-hinta", "ALV %",
                "Veroton",
            ]
        } else {
            [
                "Part",
                "Request",
                "Date",
                "Description",
                "Quantity",
                "Unit",
                "Unit price",
                "VAT %",
                "Net",
            ]
        };
        // Writing to a Vec cannot fail.
        let _ = w.write_record(header);
        let vat_text = |v: VatRate| v.display(lang).trim_end_matches(" %").to_string();
        let mut row = |part: &str, l: &StatementLine| {
            let unit = if l.unit == "min" {
                "h".to_string()
            } else {
                l.unit.clone()
            };
            let quantity = if l.unit == "min" {
                // Hours with two decimals, as spreadsheets sum them.
                plain_eur(
                    crate::money::div_round(l.quantity_milli as i128 * 100, 60_000) as i64,
                    lang,
                )
            } else {
                quantity_text(l, lang)
            };
            let _ = w.write_record([
                part.to_string(),
                format!("#{}", l.ticket_number),
                show_date(l.date, Language::Fi),
                l.text.clone(),
                quantity,
                unit,
                plain_eur(l.unit_price_cents, lang),
                vat_text(l.vat),
                plain_eur(l.net_cents, lang),
            ]);
        };
        let (warranty, billable) = if fi {
            ("Takuu", "Laskutettava")
        } else {
            ("Warranty", "Billable")
        };
        for l in &s.warranty {
            row(warranty, l);
        }
        for c in &s.contracts {
            for l in &c.lines {
                row(&c.name, l);
            }
        }
        for l in &s.billable {
            row(billable, l);
        }
        for share in &s.totals.by_rate {
            let label = if fi { "ALV" } else { "VAT" };
            let _ = w.write_record([
                label.to_string(),
                String::new(),
                String::new(),
                format!("{label} {} %", vat_text(share.rate)),
                String::new(),
                String::new(),
                String::new(),
                vat_text(share.rate),
                plain_eur(share.vat_cents, lang),
            ]);
        }
        let _ = w.write_record([
            if fi { "Yhteensä" } else { "Total" }.to_string(),
            String::new(),
            String::new(),
            if fi {
                "Verollinen yhteensä"
            } else {
                "Total including VAT"
            }
            .to_string(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            plain_eur(s.totals.gross_cents, lang),
        ]);
        let _ = w.flush();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn work(
        n: i64,
        minutes: i64,
        coverage: CoverageKind,
        contract: Option<(i64, &str)>,
        balance: Option<i64>,
        after: bool,
    ) -> Work {
        Work {
            ticket_number: n,
            ticket_subject: format!("Pyyntö {n}"),
            worked_on: date(2026, 11, 2),
            minutes,
            note: String::new(),
            coverage,
            contract: contract.map(|(i, s)| (i, s.to_string())),
            balance_after: balance,
            after_hours: after,
        }
    }

    fn card() -> RateFacts {
        RateFacts {
            name: "Perus".into(),
            rates: Rates {
                hourly_cents: 9000,
                on_call_surcharge_percent: 50,
                call_out_fee_cents: 0,
                minimum_unit_minutes: 15,
            },
            vat: crate::money::GENERAL_VAT,
        }
    }

    #[test]
    fn work_is_sorted_by_who_pays_and_priced_once() {
        let w = [
            work(1, 40, CoverageKind::Warranty, None, None, false),
            work(
                2,
                30,
                CoverageKind::Contract,
                Some((7, "Pankki")),
                Some(570),
                false,
            ),
            work(
                2,
                70,
                CoverageKind::Contract,
                Some((7, "Pankki")),
                Some(500),
                false,
            ),
            work(3, 20, CoverageKind::Billable, None, None, false),
            work(4, 20, CoverageKind::Billable, None, None, true),
        ];
        let m = [Material {
            ticket_number: 3,
            used_on: date(2026, 11, 2),
            name: "Letku".into(),
            unit: "kpl".into(),
            quantity_milli: 2000,
            unit_price_cents: 1250,
            vat: crate::money::GENERAL_VAT,
            coverage: CoverageKind::Billable,
        }];
        let s = build(&w, &m, Some(&card()), Language::Fi);
        assert_eq!(s.warranty.len(), 1);
        assert_eq!(s.contracts.len(), 1);
        let c = &s.contracts[0];
        assert_eq!(
            (c.minutes, c.balance_before, c.balance_after),
            (100, Some(600), Some(500))
        );
        // 20 min → 30 min billed: 45 €; after hours 45 € + 22,50 € surcharge; hose 2 × 12,50 €.
        let nets: Vec<i64> = s.billable.iter().map(|l| l.net_cents).collect();
        assert_eq!(nets, [4500, 4500, 2250, 2500]);
        assert_eq!(s.totals.net_cents, 13_750);
        // 25.5 % of 137.50 = 35.0625 → 35.06.
        assert_eq!((s.totals.vat_cents, s.totals.gross_cents), (3506, 17_256));
    }

    #[test]
    fn the_csv_opens_in_a_finnish_spreadsheet() {
        let w = [work(3, 20, CoverageKind::Billable, None, None, false)];
        let csv = to_csv(&build(&w, &[], Some(&card()), Language::Fi), Language::Fi);
        assert!(csv.starts_with(b"\xEF\xBB\xBF"));
        let text = String::from_utf8(csv[3..].to_vec()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Osio;Pyyntö;Päivä;Kuvaus;Määrä;Yksikkö;A-hinta;ALV %;Veroton"
        );
        assert_eq!(
            lines[1],
            "Laskutettava;#3;2.11.2026;Pyyntö 3;0,50;h;90,00;25,5;45,00"
        );
        assert_eq!(lines[2], "ALV;;;ALV 25,5 %;;;;25,5;11,48");
        assert_eq!(lines[3], "Yhteensä;;;Verollinen yhteensä;;;;;56,48");
    }

    #[test]
    fn quantities_read_as_people_write_them() {
        let mut l = build(
            &[work(1, 90, CoverageKind::Warranty, None, None, false)],
            &[],
            None,
            Language::Fi,
        )
        .warranty[0]
            .clone();
        assert_eq!(quantity_text(&l, Language::Fi), "1 h 30 min");
        l.unit = "m".into();
        l.quantity_milli = 2250;
        assert_eq!(quantity_text(&l, Language::Fi), "2,25");
        assert_eq!(quantity_text(&l, Language::En), "2.25");
    }
}
