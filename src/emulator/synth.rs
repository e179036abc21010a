//! Synthetic days: N deterministic trades computed from their index, never stored, so a bill
//! of ten million rows streams with flat memory; and the matching merchant order export with
//! a requested number of differences of each kind.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

use crate::bill::format::{FeeRate, RefundPart, TradeRow};
use crate::time::{BEIJING, bill_time};
use crate::wechat::Fen;

/// The last trades of a synthetic day fall in its last ten seconds, as real days have
/// payments a moment before midnight.
const NEAR_MIDNIGHT: u64 = 10;

/// A hundred million trades: ten times the largest day anyone benchmarks, and far from any
/// arithmetic limit of the generator.
pub const MAX_SYNTHETIC_TRADES: u64 = 100_000_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct SyntheticDay {
    pub mch_id: String,
    pub appid: String,
    /// yyyyMMdd
    pub bill_date: String,
    pub trades: u64,
    #[serde(default)]
    pub seed: u64,
}

/// A synthetic day as `emulator serve --synthetic-day` and `emulator export --day` name it,
/// `DATE:TRADES[:SEED]`; the merchant and app are given apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySpec {
    bill_date: String,
    trades: u64,
    seed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DaySpecError {
    #[error(transparent)]
    Date(#[from] crate::time::DayArgError),
    #[error("{what} {text:?} is not a whole number")]
    NotNumber { what: &'static str, text: String },
    #[error("expected DATE:TRADES[:SEED], with TRADES from 1 to {MAX_SYNTHETIC_TRADES}")]
    Shape,
}

impl DaySpec {
    /// Reads `DATE:TRADES[:SEED]`, DATE as every day argument is (`today` and `yesterday`
    /// counted from `today`), SEED 0 when left out.
    pub fn parse(text: &str, today: Date) -> Result<DaySpec, DaySpecError> {
        let mut parts = text.split(':');
        let date = crate::time::parse_day_arg(parts.next().unwrap_or_default(), today)?;
        let number = |part: Option<&str>, what| {
            part.map_or(Ok(0), |text| {
                (text.parse()).map_err(|_| DaySpecError::NotNumber {
                    what,
                    text: text.to_owned(),
                })
            })
        };
        let trades = number(parts.next(), "TRADES")?;
        let seed = number(parts.next(), "SEED")?;
        if parts.next().is_some() || !(1..=MAX_SYNTHETIC_TRADES).contains(&trades) {
            return Err(DaySpecError::Shape);
        }
        Ok(DaySpec {
            bill_date: crate::time::bill_date(date),
            trades,
            seed,
        })
    }

    /// The day of one merchant and app.
    pub fn of(&self, mch_id: &str, appid: &str) -> SyntheticDay {
        SyntheticDay {
            mch_id: mch_id.to_owned(),
            appid: appid.to_owned(),
            bill_date: self.bill_date.clone(),
            trades: self.trades,
            seed: self.seed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeKind {
    Paid,
    /// Paid, then partly refunded the same day.
    Refunded,
    /// Closed unpaid: the merchant has it, WeChat's bill does not.
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trade {
    pub index: u64,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub kind: TradeKind,
    pub total_fee: Fen,
    pub refund_fee: Fen,
    pub paid_at: OffsetDateTime,
}

/// splitmix64: a fast, well-mixed hash of the index, so trade i needs nothing but i.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl SyntheticDay {
    pub fn date(&self) -> Option<Date> {
        crate::time::parse_bill_date(&self.bill_date)
    }

    fn start(&self) -> OffsetDateTime {
        self.date()
            .expect("validated bill_date")
            .midnight()
            .assume_offset(BEIJING)
    }

    /// Trade `index`, the same every time for the same day, count and seed.
    pub fn trade(&self, index: u64) -> Trade {
        let hash = mix(self.seed ^ mix(index));
        let kind = match hash % 100 {
            0..80 => TradeKind::Paid,
            80..90 => TradeKind::Refunded,
            _ => TradeKind::Closed,
        };
        let total = 1 + (hash >> 8) % 50_000;
        let refund = 1 + (hash >> 32) % total;
        let second = if self.trades > 2 * NEAR_MIDNIGHT && index >= self.trades - NEAR_MIDNIGHT {
            86_400 - NEAR_MIDNIGHT + (index - (self.trades - NEAR_MIDNIGHT))
        } else {
            index * 86_000 / self.trades.max(1)
        };
        Trade {
            index,
            out_trade_no: format!("SYN{}{index:010}", self.bill_date),
            transaction_id: format!("42000{:03}{}{index:012}", self.seed % 1000, self.bill_date),
            kind,
            total_fee: Fen(total as i64),
            refund_fee: Fen(refund as i64),
            paid_at: self.start() + Duration::seconds(second as i64),
        }
    }

    /// The bill rows of trade `index`: none for a closed order, a payment, or a payment and
    /// its refund.
    pub fn rows_of(&self, index: u64, rate: FeeRate) -> impl Iterator<Item = TradeRow> + use<> {
        let trade = self.trade(index);
        let payment = (trade.kind != TradeKind::Closed).then(|| TradeRow {
            time: bill_time(trade.paid_at),
            appid: self.appid.clone(),
            mch_id: self.mch_id.clone(),
            sub_mch_id: String::new(),
            device_info: String::new(),
            transaction_id: trade.transaction_id.clone(),
            out_trade_no: trade.out_trade_no.clone(),
            openid: format!("oSyn{:024}", mix(index) % 10u64.pow(18)),
            trade_type: ["JSAPI", "NATIVE", "APP", "MWEB"][(index % 4) as usize].to_owned(),
            bank_type: "CFT".to_owned(),
            body: "synthetic trade".to_owned(),
            attach: String::new(),
            total_fee: trade.total_fee,
            coupon_fee: Fen(0),
            rate,
            refund: None,
        });
        let refund = match (&payment, trade.kind) {
            (Some(paid), TradeKind::Refunded) => {
                let refund_at = (trade.paid_at + Duration::seconds(1))
                    .min(self.start() + Duration::seconds(86_399));
                let mut row = paid.clone();
                row.time = bill_time(refund_at);
                row.refund = Some(RefundPart {
                    paid_time: paid.time.clone(),
                    applied_time: bill_time(refund_at),
                    success_time: bill_time(refund_at),
                    refund_id: format!("50300{}{index:016}", self.bill_date),
                    out_refund_no: format!("RSYN{}{index:010}", self.bill_date),
                    refund_fee: trade.refund_fee,
                    coupon_refund_fee: Fen(0),
                    refund_channel: "ORIGINAL".to_owned(),
                    refund_status: "SUCCESS".to_owned(),
                });
                Some(row)
            }
            _ => None,
        };
        payment.into_iter().chain(refund)
    }

    /// Every bill row of the day, computed as iterated.
    pub fn into_rows(self, rate: FeeRate) -> impl Iterator<Item = TradeRow> {
        (0..self.trades).flat_map(move |i| self.rows_of(i, rate))
    }

    /// Every bill row of the day in the order its money moved (`bills::booked_at`), for the
    /// fund flow: a refund follows its payment by a second, when later trades may have been
    /// paid. Payments and refunds are each in time order, so the two are merged as they are
    /// computed, in flat memory.
    pub fn into_booked_rows(self, rate: FeeRate) -> impl Iterator<Item = TradeRow> {
        let of_kind = move |day: SyntheticDay, refunds: bool| {
            (0..day.trades).flat_map(move |i| {
                day.rows_of(i, rate)
                    .filter(move |row| row.is_refund() == refunds)
            })
        };
        super::bills::merge_booked(of_kind(self.clone(), false), of_kind(self, true))
    }
}

/// How many differences of each kind the merchant export should have.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Differences {
    /// Paid at WeChat, absent from the export. The names are reconcile's categories.
    pub missing_in_export: u64,
    /// In the export as paid, absent from WeChat's bill.
    pub missing_in_bill: u64,
    /// Both sides have it, with different amounts.
    pub amount_mismatch: u64,
    /// Both sides have it, in different states (paid vs closed, refunded vs paid).
    pub status_mismatch: u64,
    /// Paid seconds before midnight at WeChat, recorded after midnight by the merchant.
    pub cross_day: u64,
    /// The export lists the same order twice.
    pub duplicate: u64,
}

/// The out_trade_no of every difference of `Differences`, kind by kind, in file order.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DifferenceOrders {
    pub missing_in_export: Vec<String>,
    pub missing_in_bill: Vec<String>,
    pub amount_mismatch: Vec<String>,
    pub status_mismatch: Vec<String>,
    pub cross_day: Vec<String>,
    pub duplicate: Vec<String>,
}

/// What a correct reconciliation of the bill against the export must find.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Expected {
    pub day: SyntheticDay,
    pub bill_rows: u64,
    pub export_rows: u64,
    /// Orders that appear on both sides and agree.
    pub matched: u64,
    /// Closed orders, in the export only, which are not differences.
    pub closed: u64,
    pub differences: Differences,
    /// The orders behind each count of `differences`.
    pub difference_orders: DifferenceOrders,
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("bill_date {0:?} is not a date (yyyyMMdd)")]
    BadDate(String),
    #[error(
        "{requested} differences asked for, but the day has only {available} paid trades to give them"
    )]
    TooMany { requested: u64, available: u64 },
    #[error("at most {NEAR_MIDNIGHT} cross_day differences (paid in the day's last seconds, recorded after midnight), and the day needs more than {} trades", 2 * NEAR_MIDNIGHT)]
    TooManyNearMidnight,
    #[error("at most {MAX_SYNTHETIC_TRADES} trades in a synthetic day")]
    TooManyTrades,
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Csv(csv::Error),
}

/// A write that failed is an I/O error (a closed pipe, a full disk), whichever writer saw it.
impl From<csv::Error> for SynthError {
    fn from(error: csv::Error) -> Self {
        if !error.is_io_error() {
            return SynthError::Csv(error);
        }
        match error.into_kind() {
            csv::ErrorKind::Io(error) => SynthError::Io(error),
            _ => unreachable!("an I/O error's kind is Io"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Missing,
    Amount,
    Status,
    Duplicate,
    NearMidnight,
}

/// Header of the merchant export: one line per order, amounts in yuan.
pub const EXPORT_HEADER: [&str; 5] = [
    "out_trade_no",
    "status",
    "amount",
    "refund_amount",
    "paid_at",
];

/// Writes the merchant's order export for `day` with the requested differences, streaming,
/// and returns what a reconciliation must find.
pub fn write_export<W: Write>(
    day: &SyntheticDay,
    differences: &Differences,
    rate: FeeRate,
    out: W,
) -> Result<Expected, SynthError> {
    day.date()
        .ok_or_else(|| SynthError::BadDate(day.bill_date.clone()))?;
    if day.trades > MAX_SYNTHETIC_TRADES {
        return Err(SynthError::TooManyTrades);
    }
    let d = differences;
    if d.cross_day > 0 && (d.cross_day > NEAR_MIDNIGHT || day.trades <= 2 * NEAR_MIDNIGHT) {
        return Err(SynthError::TooManyNearMidnight);
    }
    let spread = d.missing_in_export + d.amount_mismatch + d.status_mismatch + d.duplicate;
    let ordinary = day
        .trades
        .saturating_sub(if day.trades > 2 * NEAR_MIDNIGHT {
            NEAR_MIDNIGHT
        } else {
            0
        });
    let is_paid = |index| day.trade(index).kind != TradeKind::Closed;
    // Counted first, so that every requested difference is sure to find a paid trade.
    let mut paid_left = (0..ordinary).filter(|&i| is_paid(i)).count() as u64;
    if spread > paid_left {
        return Err(SynthError::TooMany {
            requested: spread,
            available: paid_left,
        });
    }
    let stride = ordinary.checked_div(spread).map_or(u64::MAX, |s| s.max(1));
    let mut spread_left = spread;
    let mut pending = [
        (Change::Missing, d.missing_in_export),
        (Change::Amount, d.amount_mismatch),
        (Change::Status, d.status_mismatch),
        (Change::Duplicate, d.duplicate),
    ];
    let mut next_kind = 0;
    let mut cross_day_left = d.cross_day;
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(EXPORT_HEADER)?;
    let mut expected = Expected {
        day: day.clone(),
        bill_rows: 0,
        export_rows: 0,
        matched: 0,
        closed: 0,
        // Counted as they are written, so the record is of what the file holds.
        differences: Differences::default(),
        difference_orders: DifferenceOrders::default(),
    };
    let mut last_candidate = None;
    for index in 0..day.trades {
        let trade = day.trade(index);
        expected.bill_rows += day.rows_of(index, rate).count() as u64;
        let paid = trade.kind != TradeKind::Closed;
        let spreadable = paid && index < ordinary;
        if spreadable {
            paid_left -= 1;
        }
        // Spread evenly through the day; catch up when the paid trades left are just enough.
        let due = spreadable
            && spread_left > 0
            && (spread_left > paid_left
                || last_candidate.is_none_or(|last| index >= last + stride));
        let change = if !paid {
            None
        } else if index >= ordinary {
            (cross_day_left > 0).then(|| {
                cross_day_left -= 1;
                Change::NearMidnight
            })
        } else if due {
            spread_left -= 1;
            // Round robin over the kinds still wanted.
            let found = (0..pending.len())
                .map(|k| (next_kind + k) % pending.len())
                .find(|&k| pending[k].1 > 0);
            found.map(|k| {
                pending[k].1 -= 1;
                next_kind = k + 1;
                last_candidate = Some(index);
                pending[k].0
            })
        } else {
            None
        };
        let status = match trade.kind {
            TradeKind::Paid => "PAID",
            TradeKind::Refunded => "REFUNDED",
            TradeKind::Closed => "CLOSED",
        };
        let refund = if trade.kind == TradeKind::Refunded {
            trade.refund_fee
        } else {
            Fen(0)
        };
        let mut record = [
            trade.out_trade_no.clone(),
            status.to_owned(),
            trade.total_fee.yuan(),
            refund.yuan(),
            bill_time(trade.paid_at),
        ];
        let placed = &mut expected.differences;
        let listed = &mut expected.difference_orders;
        let number = trade.out_trade_no.clone();
        match change {
            Some(Change::Missing) => {
                placed.missing_in_export += 1;
                listed.missing_in_export.push(number);
                continue;
            }
            Some(Change::Amount) => {
                placed.amount_mismatch += 1;
                listed.amount_mismatch.push(number);
                record[2] = Fen(trade.total_fee.0 + 1 + (index % 100) as i64).yuan();
            }
            Some(Change::Status) => {
                placed.status_mismatch += 1;
                listed.status_mismatch.push(number);
                // A payment the merchant thinks was closed, or a refund it never recorded.
                record[1] = if trade.kind == TradeKind::Refunded {
                    "PAID"
                } else {
                    "CLOSED"
                }
                .to_owned();
                record[3] = Fen(0).yuan();
            }
            Some(Change::NearMidnight) => {
                placed.cross_day += 1;
                listed.cross_day.push(number);
                let recorded = day.start()
                    + Duration::days(1)
                    + Duration::seconds((index % NEAR_MIDNIGHT) as i64);
                record[4] = bill_time(recorded);
            }
            Some(Change::Duplicate) => {
                placed.duplicate += 1;
                listed.duplicate.push(number);
                writer.write_record(&record)?;
                expected.export_rows += 1;
            }
            None if paid => expected.matched += 1,
            None => expected.closed += 1,
        }
        writer.write_record(&record)?;
        expected.export_rows += 1;
    }
    if cross_day_left > 0 {
        return Err(SynthError::TooManyNearMidnight);
    }
    for k in 0..d.missing_in_bill {
        let number = format!("SYN{}X{k:09}", day.bill_date);
        expected
            .difference_orders
            .missing_in_bill
            .push(number.clone());
        writer.write_record([
            number,
            "PAID".to_owned(),
            Fen(100 + k as i64).yuan(),
            Fen(0).yuan(),
            bill_time(day.start() + Duration::hours(12)),
        ])?;
        expected.differences.missing_in_bill += 1;
        expected.export_rows += 1;
    }
    writer.flush()?;
    Ok(expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bill::format::Summary;

    fn day(trades: u64) -> SyntheticDay {
        SyntheticDay {
            mch_id: "1900000109".into(),
            appid: "wx2421b1c4370ec43b".into(),
            bill_date: "20261120".into(),
            trades,
            seed: 7,
        }
    }

    #[test]
    fn a_day_is_named_date_trades_and_seed() {
        let today = time::macros::date!(2026 - 11 - 21);
        let day = DaySpec::parse("yesterday:1000:7", today).unwrap();
        assert_eq!(
            day.of("1900000109", "wx1"),
            SyntheticDay {
                mch_id: "1900000109".into(),
                appid: "wx1".into(),
                bill_date: "20261120".into(),
                trades: 1000,
                seed: 7,
            }
        );
        assert_eq!(DaySpec::parse("2026-11-20:5", today).unwrap().seed, 0);
        assert!(matches!(
            DaySpec::parse("20261120:x", today),
            Err(DaySpecError::NotNumber { what: "TRADES", .. })
        ));
        for shape in [
            "20261120",
            "20261120:0",
            "20261120:1:2:3",
            "20261120:100000001",
        ] {
            assert_eq!(
                DaySpec::parse(shape, today),
                Err(DaySpecError::Shape),
                "{shape}"
            );
        }
        assert!(matches!(
            DaySpec::parse("tomorrow:5", today),
            Err(DaySpecError::Date(_))
        ));
    }

    #[test]
    fn trades_are_deterministic_and_ordered_in_the_day() {
        let day = day(1000);
        assert_eq!(day.trade(5), day.trade(5));
        let times: Vec<_> = (0..1000).map(|i| day.trade(i).paid_at).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(bill_time(times[999]), "2026-11-20 23:59:59");
        assert_eq!(bill_time(times[990]), "2026-11-20 23:59:50");
        let kinds: Vec<_> = (0..1000).map(|i| day.trade(i).kind).collect();
        for kind in [TradeKind::Paid, TradeKind::Refunded, TradeKind::Closed] {
            assert!(kinds.contains(&kind));
        }
        let other_seed = SyntheticDay {
            seed: 8,
            ..day.clone()
        };
        assert_ne!(day.trade(5), other_seed.trade(5));
    }

    #[test]
    fn export_has_exactly_the_requested_differences() {
        let day = day(2000);
        let differences = Differences {
            missing_in_export: 3,
            missing_in_bill: 2,
            amount_mismatch: 4,
            status_mismatch: 5,
            cross_day: 2,
            duplicate: 1,
        };
        let mut out = Vec::new();
        let expected = write_export(&day, &differences, FeeRate(60), &mut out).unwrap();
        assert_eq!(expected.differences, differences);
        let text = String::from_utf8(out).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len() as u64, expected.export_rows);
        let paid: u64 = (0..2000)
            .filter(|&i| day.trade(i).kind != TradeKind::Closed)
            .count() as u64;
        assert_eq!(
            expected.matched + 3 + 4 + 5 + 2 + 1,
            paid,
            "every paid trade is matched or carries exactly one difference"
        );
        assert_eq!(
            expected.bill_rows,
            day.clone().into_rows(FeeRate(60)).count() as u64
        );
        let next_day = rows
            .iter()
            .filter(|r| r[4].starts_with("2026-11-21"))
            .count();
        assert_eq!(next_day, 2);
        let extra = rows.iter().filter(|r| r[0].contains('X')).count();
        assert_eq!(extra, 2);
        let mut seen = std::collections::HashSet::new();
        let repeats = rows
            .iter()
            .filter(|r| !seen.insert(r[0].to_owned()))
            .count();
        assert_eq!(repeats, 1);

        // The listed orders are the ones that differ, each as its kind says.
        let listed = &expected.difference_orders;
        let row = |number: &str| rows.iter().find(|r| &r[0] == number);
        let trade = |number: &str| {
            let index = number[11..].parse().unwrap();
            day.trade(index)
        };
        for (list, count) in [
            (&listed.missing_in_export, 3),
            (&listed.missing_in_bill, 2),
            (&listed.amount_mismatch, 4),
            (&listed.status_mismatch, 5),
            (&listed.cross_day, 2),
            (&listed.duplicate, 1),
        ] {
            assert_eq!(list.len(), count);
        }
        for number in &listed.missing_in_export {
            assert!(row(number).is_none(), "{number}");
        }
        for number in &listed.missing_in_bill {
            assert!(row(number).is_some() && number.contains('X'), "{number}");
        }
        for number in &listed.amount_mismatch {
            assert_ne!(row(number).unwrap()[2], *trade(number).total_fee.yuan());
        }
        for number in &listed.status_mismatch {
            let written = &row(number).unwrap()[1];
            assert!(
                written == "CLOSED"
                    || (written == "PAID" && trade(number).kind == TradeKind::Refunded)
            );
        }
        for number in &listed.cross_day {
            assert!(
                row(number).unwrap()[4].starts_with("2026-11-21"),
                "{number}"
            );
        }
        for number in &listed.duplicate {
            assert_eq!(rows.iter().filter(|r| &r[0] == number).count(), 2);
        }
    }

    #[test]
    fn every_paid_trade_can_carry_a_difference() {
        let day = day(200);
        let ordinary_paid = (0..190)
            .filter(|&i| day.trade(i).kind != TradeKind::Closed)
            .count() as u64;
        let all = Differences {
            amount_mismatch: ordinary_paid,
            ..Default::default()
        };
        let expected = write_export(&day, &all, FeeRate(60), Vec::new()).unwrap();
        assert_eq!(expected.differences, all);
        let last_seconds_paid = (190..200)
            .filter(|&i| day.trade(i).kind != TradeKind::Closed)
            .count();
        assert_eq!(
            expected.matched, last_seconds_paid as u64,
            "only the last seconds' trades are untouched"
        );
        let over = Differences {
            amount_mismatch: ordinary_paid + 1,
            ..Default::default()
        };
        assert!(write_export(&day, &over, FeeRate(60), Vec::new()).is_err());
    }

    #[test]
    fn impossible_requests_are_refused() {
        let too_many = Differences {
            amount_mismatch: 1000,
            ..Default::default()
        };
        assert!(matches!(
            write_export(&day(100), &too_many, FeeRate(60), Vec::new()),
            Err(SynthError::TooMany { .. })
        ));
        let midnight = Differences {
            cross_day: 11,
            ..Default::default()
        };
        assert!(matches!(
            write_export(&day(100), &midnight, FeeRate(60), Vec::new()),
            Err(SynthError::TooManyNearMidnight)
        ));
        let bad_date = SyntheticDay {
            bill_date: "2026-11-20".into(),
            ..day(10)
        };
        assert!(matches!(
            write_export(&bad_date, &Differences::default(), FeeRate(60), Vec::new()),
            Err(SynthError::BadDate(_))
        ));
    }

    #[test]
    fn the_summary_of_a_synthetic_bill_equals_its_rows() {
        let day = day(5000);
        let mut summary = Summary::default();
        let mut fee = 0;
        for row in day.into_rows(FeeRate(60)) {
            fee += row.fee().0;
            summary.add(&row);
        }
        assert_eq!(summary.fee.0, fee);
        assert!(summary.count > 4000);
    }
}
