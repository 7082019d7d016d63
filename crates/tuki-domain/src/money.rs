//! Money as a Finnish invoice counts it: integer cents in euros, VAT rates
//! in hundredths of a per cent, each line's net in whole cents, the VAT of
//! the lines summed exactly and rounded once per rate.
//!
//! Rounding is half away from zero (0.5 cents → 1 cent), the rule
//! Finnish accounting uses. Nothing here is a float.

use serde::{Deserialize, Serialize};

use crate::directory::Language;
use crate::ValidationError;

/// Finland's general VAT rate since 1.9.2024: 25.5 %.
pub const GENERAL_VAT: VatRate = VatRate(2550);

/// A VAT rate in hundredths of a per cent (25.5 % is 2550), 0 to 100 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VatRate(u16);

impl VatRate {
    /// A rate in basis points, 0 to 10,000; `field` names the input.
    pub fn new(field: &str, basis_points: i64) -> Result<VatRate, ValidationError> {
        if !(0..=10_000).contains(&basis_points) {
            return Err(ValidationError::new(
                field,
                "must be between 0 and 100 % (in hundredths of a per cent: 2550 is 25.5 %)",
            ));
        }
        Ok(VatRate(basis_points as u16))
    }

    /// A rate typed as a person writes it: "25.5", "25,5", "14 %", "0".
    pub fn parse(field: &str, raw: &str) -> Result<VatRate, ValidationError> {
        let t = raw.trim().trim_end_matches('%').trim();
        let bp = parse_decimal(t, 2)
            .ok_or_else(|| ValidationError::new(field, "must be a per cent such as 25.5"))?;
        VatRate::new(field, bp)
    }

    pub fn basis_points(self) -> u16 {
        self.0
    }

    /// "25,5 %" or "25.5 %".
    pub fn display(self, lang: Language) -> String {
        let whole = self.0 / 100;
        let frac = self.0 % 100;
        let sep = decimal_separator(lang);
        match frac {
            0 => format!("{whole} %"),
            f if f % 10 == 0 => format!("{whole}{sep}{} %", f / 10),
            f => format!("{whole}{sep}{f:02} %"),
        }
    }
}

impl Default for VatRate {
    fn default() -> Self {
        GENERAL_VAT
    }
}

fn decimal_separator(lang: Language) -> char {
    match lang {
        Language::Fi => ',',
        Language::En => '.',
    }
}

/// A non-negative decimal with up to `places` decimals ("12", "12,5",
/// "12.50") as an integer of that many places; `None` when it is not one.
pub fn parse_decimal(raw: &str, places: u32) -> Option<i64> {
    let raw = raw.trim().replace([' ', '\u{a0}'], "");
    let (whole, frac) = match raw.split_once([',', '.']) {
        Some((w, f)) => (w, f),
        None => (raw.as_str(), ""),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (!frac.is_empty() && !digits(frac)) || frac.len() > places as usize {
        return None;
    }
    let scale = 10_i64.pow(places);
    let w: i64 = whole.parse().ok()?;
    let f: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<i64>().ok()? * 10_i64.pow(places - frac.len() as u32)
    };
    w.checked_mul(scale)?.checked_add(f)
}

/// Euros typed as a person writes them ("12,50", "1 200", "0.5") as cents.
pub fn parse_cents(field: &str, raw: &str) -> Result<i64, ValidationError> {
    let t = raw.trim().trim_end_matches('€').trim();
    parse_decimal(t, 2)
        .ok_or_else(|| ValidationError::new(field, "must be an amount in euros such as 12,50"))
}

/// Cents as euros for people: "1 234,50 €" in Finnish, "€1,234.50" in
/// English.
pub fn format_eur(cents: i64, lang: Language) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let (euros, rest) = (abs / 100, abs % 100);
    let grouped = group_thousands(euros, if lang == Language::Fi { '\u{a0}' } else { ',' });
    match lang {
        Language::Fi => format!("{sign}{grouped},{rest:02}\u{a0}€"),
        Language::En => format!("{sign}€{grouped}.{rest:02}"),
    }
}

/// Cents as a spreadsheet number: "1234,50" (Finnish, decimal comma) or
/// "1234.50".
pub fn plain_eur(cents: i64, lang: Language) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!(
        "{sign}{}{}{:02}",
        abs / 100,
        decimal_separator(lang),
        abs % 100
    )
}

fn group_thousands(mut n: u64, sep: char) -> String {
    let mut parts = Vec::new();
    loop {
        if n < 1000 {
            parts.push(n.to_string());
            break;
        }
        parts.push(format!("{:03}", n % 1000));
        n /= 1000;
    }
    parts.reverse();
    parts.join(&sep.to_string())
}

/// `numerator / denominator` rounded half away from zero.
pub fn div_round(numerator: i128, denominator: i128) -> i128 {
    debug_assert!(denominator > 0);
    let q = numerator / denominator;
    let r = numerator % denominator;
    if r.abs() * 2 >= denominator {
        q + numerator.signum()
    } else {
        q
    }
}

/// One line of a statement or invoice: a quantity (in thousandths, so
/// 1.5 hours or 0.25 metres are exact) at a unit price, with its VAT rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    pub quantity_milli: i64,
    pub unit_price_cents: i64,
    pub vat: VatRate,
}

impl Line {
    /// The line's net amount in whole cents, as the line shows it.
    pub fn net_cents(&self) -> i64 {
        div_round(
            self.quantity_milli as i128 * self.unit_price_cents as i128,
            1000,
        ) as i64
    }

    /// The line's VAT, exact, in ten-thousandths of a cent (not rounded:
    /// the total of a rate is rounded once).
    fn vat_exact(&self) -> i128 {
        self.net_cents() as i128 * self.vat.0 as i128
    }
}

/// The VAT of one rate on an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VatShare {
    pub rate: VatRate,
    pub net_cents: i64,
    pub vat_cents: i64,
}

/// An invoice's totals: net, VAT per rate, VAT, gross.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub net_cents: i64,
    pub vat_cents: i64,
    pub gross_cents: i64,
    pub by_rate: Vec<VatShare>,
}

/// Totals of `lines`: nets summed, each rate's VAT summed exactly and
/// rounded once (so ten lines of 0.04 € at 25.5 % owe 0.10 € of VAT, not
/// the 0.10 € ten rounded lines would happen to give or miss).
pub fn totals(lines: &[Line]) -> Totals {
    let mut by_rate: Vec<(VatRate, i64, i128)> = Vec::new();
    for line in lines {
        let net = line.net_cents();
        match by_rate.iter_mut().find(|(r, _, _)| *r == line.vat) {
            Some((_, n, v)) => {
                *n += net;
                *v += line.vat_exact();
            }
            None => by_rate.push((line.vat, net, line.vat_exact())),
        }
    }
    by_rate.sort_by_key(|(r, _, _)| std::cmp::Reverse(*r));
    let by_rate: Vec<VatShare> = by_rate
        .into_iter()
        .map(|(rate, net_cents, exact)| VatShare {
            rate,
            net_cents,
            vat_cents: div_round(exact, 10_000) as i64,
        })
        .collect();
    let net_cents = by_rate.iter().map(|s| s.net_cents).sum();
    let vat_cents = by_rate.iter().map(|s| s.vat_cents).sum();
    Totals {
        net_cents,
        vat_cents,
        gross_cents: net_cents + vat_cents,
        by_rate,
    }
}

/// What a rate card charges for work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub hourly_cents: i64,
    /// Added to the hourly rate outside business hours, in per cent (50 is
    /// time and a half).
    pub on_call_surcharge_percent: i64,
    pub call_out_fee_cents: i64,
    /// Time is billed in whole units of this many minutes, rounded up.
    pub minimum_unit_minutes: i64,
}

/// Work on the bill: the minutes billed and what they cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Labour {
    pub billed_minutes: i64,
    pub cents: i64,
    /// The part of `cents` that is the on-call surcharge.
    pub surcharge_cents: i64,
}

/// Minutes rounded up to the rate card's billing unit.
pub fn billed_minutes(minutes: i64, unit: i64) -> i64 {
    if minutes <= 0 {
        return 0;
    }
    let unit = unit.max(1);
    (minutes + unit - 1) / unit * unit
}

/// What `minutes` of work cost at `rates`, outside business hours with the
/// on-call surcharge.
pub fn labour(minutes: i64, rates: &Rates, after_hours: bool) -> Labour {
    let billed = billed_minutes(minutes, rates.minimum_unit_minutes);
    let base = div_round(billed as i128 * rates.hourly_cents as i128, 60) as i64;
    let surcharge = if after_hours {
        div_round(base as i128 * rates.on_call_surcharge_percent as i128, 100) as i64
    } else {
        0
    };
    Labour {
        billed_minutes: billed,
        cents: base + surcharge,
        surcharge_cents: surcharge,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(q: i64, p: i64, bp: i64) -> Line {
        Line {
            quantity_milli: q,
            unit_price_cents: p,
            vat: VatRate::new("vat", bp).unwrap(),
        }
    }

    #[test]
    fn vat_is_rounded_once_per_rate() {
        // Ten lines of 4 cents at 25.5 %: each line's VAT is 1.02 cents;
        // rounded per line they would owe 10 cents, summed exactly 10.2 → 10.
        let lines: Vec<Line> = (0..10).map(|_| line(1000, 4, 2550)).collect();
        let t = totals(&lines);
        assert_eq!((t.net_cents, t.vat_cents, t.gross_cents), (40, 10, 50));
        // Three lines of 2 cents: per-line rounding gives 3 × 1 = 3 cents,
        // once gives 1.53 → 2.
        let t = totals(&[
            line(1000, 2, 2550),
            line(1000, 2, 2550),
            line(1000, 2, 2550),
        ]);
        assert_eq!(t.vat_cents, 2);
    }

    #[test]
    fn rates_are_kept_apart() {
        let t = totals(&[
            line(2000, 1000, 2550),
            line(1000, 1000, 1400),
            line(500, 999, 2550),
        ]);
        assert_eq!(t.by_rate.len(), 2);
        assert_eq!(t.by_rate[0].rate.basis_points(), 2550);
        // 2 × 10.00 + 0.5 × 9.99 (4.995 → 5.00) = 25.00 net; VAT 6.375 → 6.38.
        assert_eq!(
            (t.by_rate[0].net_cents, t.by_rate[0].vat_cents),
            (2500, 638)
        );
        assert_eq!(
            (t.by_rate[1].net_cents, t.by_rate[1].vat_cents),
            (1000, 140)
        );
        assert_eq!(t.gross_cents, 2500 + 638 + 1000 + 140);
    }

    #[test]
    fn vat_rates_are_checked_and_shown() {
        assert_eq!(VatRate::parse("vat", "25,5").unwrap(), GENERAL_VAT);
        assert_eq!(VatRate::parse("vat", "14 %").unwrap().basis_points(), 1400);
        assert_eq!(VatRate::parse("vat", "0").unwrap().basis_points(), 0);
        let e = VatRate::parse("lines[0].vat", "101").unwrap_err();
        assert_eq!(e.field, "lines[0].vat");
        assert!(VatRate::parse("vat", "-1").is_err());
        assert!(VatRate::parse("vat", "25.555").is_err());
        assert!(VatRate::new("vat", 10_001).is_err());
        assert_eq!(GENERAL_VAT.display(Language::Fi), "25,5 %");
        assert_eq!(
            VatRate::new("v", 1000).unwrap().display(Language::En),
            "10 %"
        );
    }

    #[test]
    fn euros_are_read_and_written_both_ways() {
        assert_eq!(parse_cents("price", "12,50").unwrap(), 1250);
        assert_eq!(parse_cents("price", "1 200 €").unwrap(), 120_000);
        assert_eq!(parse_cents("price", "0.5").unwrap(), 50);
        assert!(parse_cents("price", "12,505").is_err());
        assert!(parse_cents("price", "-3").is_err());
        assert_eq!(format_eur(123_450, Language::Fi), "1\u{a0}234,50\u{a0}€");
        assert_eq!(format_eur(123_450, Language::En), "€1,234.50");
        assert_eq!(format_eur(-5, Language::En), "-€0.05");
        assert_eq!(plain_eur(123_450, Language::Fi), "1234,50");
    }

    #[test]
    fn labour_is_billed_in_units_with_the_surcharge_after_hours() {
        let rates = Rates {
            hourly_cents: 9000,
            on_call_surcharge_percent: 50,
            call_out_fee_cents: 4500,
            minimum_unit_minutes: 15,
        };
        assert_eq!(
            labour(20, &rates, false),
            Labour {
                billed_minutes: 30,
                cents: 4500,
                surcharge_cents: 0
            }
        );
        assert_eq!(
            labour(20, &rates, true),
            Labour {
                billed_minutes: 30,
                cents: 6750,
                surcharge_cents: 2250
            }
        );
        assert_eq!(labour(0, &rates, true).cents, 0);
    }

    proptest! {
        #[test]
        fn billed_time_is_the_least_whole_number_of_units(m in 0i64..100_000, unit in 1i64..240) {
            let b = billed_minutes(m, unit);
            prop_assert_eq!(b % unit, 0);
            prop_assert!(b >= m);
            prop_assert!(b - m < unit);
        }

        #[test]
        fn vat_once_is_within_half_a_cent_of_the_exact_sum(
            lines in proptest::collection::vec((1i64..5000, 0i64..100_000, prop_oneof![Just(2550i64), Just(1400), Just(1000), Just(0)]), 1..40)
        ) {
            let lines: Vec<Line> = lines.into_iter().map(|(q, p, r)| line(q, p, r)).collect();
            let t = totals(&lines);
            for share in &t.by_rate {
                let exact: i128 = lines.iter().filter(|l| l.vat == share.rate).map(|l| l.vat_exact()).sum();
                prop_assert!((share.vat_cents as i128 * 10_000 - exact).abs() <= 5_000);
            }
            prop_assert_eq!(t.gross_cents, t.net_cents + t.vat_cents);
        }
    }
}
