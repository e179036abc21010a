//! The month report: for each day of a month and in total, what WeChat Pay's bill says was
//! paid, refunded, charged in fees and settled, and what the day's reconciliation found,
//! closed since and still has open.
//!
//! A day's figures come from its latest recorded ALL bill (the one trade bill with both the
//! payments and the refunds of the day; the highest `bills.id`, since a corrected bill is
//! recorded after the one it corrects). A day reconciled but whose bill was never recorded
//! takes the bill totals of its latest run (`runs.summary`, the summary `reconcile --out`
//! writes as summary.json). A day with neither has no figures: unknown, not zero.
//!
//! The differences of a day are those of its latest run (the highest `runs.id` of the day:
//! a re-run supersedes the earlier ones): found, closed since (by a later run or by hand)
//! and still open. A day never reconciled has no counts.
//!
//! The report reads `bills`, `runs` and `differences` through their indexes and never
//! `bill_rows`, so a month of million-row days reports as fast as a month of small ones
//! (docs/reference.md shows the query plans).

use std::collections::BTreeMap;

use rusqlite::{Connection, params};
use serde::Deserialize;
use thiserror::Error;
use time::Date;

use super::{Ledger, LedgerError, sqlite};
use crate::bill::download::iso;
use crate::reconcile::{BillTotals, Tally};
use crate::time::YearMonth;
use crate::wechat::BillAmount;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("run {run} of {day}: its summary is not a reconcile summary ({reason})")]
    Summary {
        run: i64,
        day: String,
        reason: String,
    },
}

/// A day's figures, as a trade bill's rows add up: amounts in fen, fees in 0.00001 yuan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    pub payment_count: u64,
    /// 订单金额 of the payment rows.
    pub payment_fen: i128,
    pub refund_count: u64,
    /// 申请退款金额 of the refund rows.
    pub refund_fen: i128,
    /// 应结订单金额 of the payment rows.
    pub settlement_fen: i128,
    /// 手续费, in 0.00001 yuan (negative where a refund returns it).
    pub fee_units: i128,
}

impl Figures {
    /// Net settlement in 0.00001 yuan, by the one rule a reconciliation uses
    /// ([`BillTotals::net`]): settled payments − refunds − fees.
    pub fn net_units(&self) -> i128 {
        let tally = |count, amount| Tally { count, amount };
        BillTotals {
            rows: self.payment_count + self.refund_count,
            payments: tally(self.payment_count, self.payment_fen),
            refunds: tally(self.refund_count, self.refund_fen),
            settlement: self.settlement_fen,
            fees: self.fee_units,
        }
        .net()
    }

    fn add(&mut self, other: &Figures) {
        self.payment_count += other.payment_count;
        self.payment_fen += other.payment_fen;
        self.refund_count += other.refund_count;
        self.refund_fen += other.refund_fen;
        self.settlement_fen += other.settlement_fen;
        self.fee_units += other.fee_units;
    }
}

/// Where a day's figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The recorded bill of this `bills.id`.
    Bill(i64),
    /// The bill totals of the run of this `runs.id` (no bill of the day was recorded).
    Run(i64),
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Bill(_) => "bill",
            Source::Run(_) => "run",
        }
    }
}

/// The differences of a day's latest run, by what became of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub found: u64,
    /// Closed since, by a later run or by hand.
    pub closed: u64,
    pub open: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.found += other.found;
        self.closed += other.closed;
        self.open += other.open;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayReport {
    pub date: Date,
    /// None: no bill recorded and no run; the figures are unknown.
    pub figures: Option<(Source, Figures)>,
    /// The day's latest run, and its differences; None when the day was never reconciled.
    pub run: Option<(i64, Counts)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthReport {
    pub mch_id: String,
    pub month: YearMonth,
    /// Every day of the month, first to last.
    pub days: Vec<DayReport>,
    /// The figures of the days that have them.
    pub total: Figures,
    /// The differences of the days that were reconciled.
    pub differences: Counts,
}

impl MonthReport {
    /// Days whose figures are known, and days reconciled.
    pub fn known_days(&self) -> (usize, usize) {
        let figures = self.days.iter().filter(|d| d.figures.is_some()).count();
        let runs = self.days.iter().filter(|d| d.run.is_some()).count();
        (figures, runs)
    }
}

/// The latest recorded ALL bill with figures of each day of the month, by day.
const BILLS: &str = "SELECT day, id, payment_count, payment_fen, refund_count, refund_fen, \
     settlement_fen, fee_units, imported_at IS NOT NULL FROM bills \
     WHERE mch_id = ?1 AND day BETWEEN ?2 AND ?3 AND bill_type = 'ALL' \
     AND payment_count IS NOT NULL";

/// The runs of each day of the month, latest last.
const RUNS: &str = "SELECT day, id, summary FROM runs \
     WHERE mch_id = ?1 AND day BETWEEN ?2 AND ?3 ORDER BY day, id";

/// The differences of one run, by state.
const DIFFERENCES: &str = "SELECT count(*), \
     count(*) FILTER (WHERE state IN ('closed', 'resolved')), \
     count(*) FILTER (WHERE state = 'open') \
     FROM differences WHERE run_id = ?1";

/// The queries of the report, for the docs' query plans and their test.
pub const QUERIES: [(&str, &str); 3] = [
    ("bills", BILLS),
    ("runs", RUNS),
    ("differences", DIFFERENCES),
];

/// The report of `mch_id`'s `month`, read in one snapshot of the ledger.
pub fn month_report(
    ledger: &Ledger,
    mch_id: &str,
    month: YearMonth,
) -> Result<MonthReport, ReportError> {
    let path = ledger.path();
    // One read transaction: a writer committing meanwhile is not half seen.
    let snapshot = ledger
        .conn()
        .unchecked_transaction()
        .map_err(sqlite(path))?;
    let bills = day_bills(&snapshot, mch_id, month).map_err(sqlite(path))?;
    let runs = day_runs(&snapshot, mch_id, month).map_err(sqlite(path))?;
    let mut counting = snapshot.prepare_cached(DIFFERENCES).map_err(sqlite(path))?;
    let mut report = MonthReport {
        mch_id: mch_id.to_owned(),
        month,
        days: Vec::new(),
        total: Figures::default(),
        differences: Counts::default(),
    };
    for date in month.days() {
        let day = iso(date);
        let run = runs.get(&day);
        let figures = match (bills.get(&day), run) {
            (Some(bill), _) => Some((Source::Bill(bill.id), bill.figures)),
            (None, Some((id, summary))) => {
                let figures = run_figures(summary).map_err(|reason| ReportError::Summary {
                    run: *id,
                    day: day.clone(),
                    reason,
                })?;
                Some((Source::Run(*id), figures))
            }
            (None, None) => None,
        };
        let run = match run {
            Some((id, _)) => {
                let counts = counting
                    .query_row([id], |row| {
                        Ok(Counts {
                            found: count(row, 0)?,
                            closed: count(row, 1)?,
                            open: count(row, 2)?,
                        })
                    })
                    .map_err(sqlite(path))?;
                Some((*id, counts))
            }
            None => None,
        };
        if let Some((_, figures)) = &figures {
            report.total.add(figures);
        }
        if let Some((_, counts)) = &run {
            report.differences.add(counts);
        }
        report.days.push(DayReport { date, figures, run });
    }
    Ok(report)
}

/// A day's bill, as the report and the export take it.
pub(crate) struct DayBill {
    pub id: i64,
    pub figures: Figures,
    /// Whether its rows are in `bill_rows`.
    pub imported: bool,
}

/// Each day's latest recorded ALL bill with figures, by `yyyy-MM-dd`.
pub(crate) fn day_bills(
    conn: &Connection,
    mch_id: &str,
    month: YearMonth,
) -> rusqlite::Result<BTreeMap<String, DayBill>> {
    let mut statement = conn.prepare_cached(BILLS)?;
    let rows = statement.query_map(
        params![mch_id, iso(month.first()), iso(month.last())],
        |row| {
            let figures = Figures {
                payment_count: count(row, 2)?,
                payment_fen: row.get::<_, i64>(3)?.into(),
                refund_count: count(row, 4)?,
                refund_fen: row.get::<_, i64>(5)?.into(),
                settlement_fen: row.get::<_, i64>(6)?.into(),
                fee_units: row.get::<_, i64>(7)?.into(),
            };
            let bill = DayBill {
                id: row.get(1)?,
                figures,
                imported: row.get(8)?,
            };
            Ok((row.get(0)?, bill))
        },
    )?;
    // The day's bill is the one recorded last (the view day_bills' rule), kept here rather
    // than by an ORDER BY that the bills' unique index cannot give without a sort.
    let mut latest = BTreeMap::<String, DayBill>::new();
    for row in rows {
        let (day, bill) = row?;
        match latest.get(&day) {
            Some(kept) if kept.id > bill.id => {}
            _ => {
                latest.insert(day, bill);
            }
        }
    }
    Ok(latest)
}

/// A count, which SQLite holds as a signed integer.
fn count(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<u64> {
    let value: i64 = row.get(index)?;
    u64::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(index, value))
}

/// Each day's latest run: its id and summary, by `yyyy-MM-dd`.
pub(crate) fn day_runs(
    conn: &Connection,
    mch_id: &str,
    month: YearMonth,
) -> rusqlite::Result<BTreeMap<String, (i64, String)>> {
    let mut statement = conn.prepare_cached(RUNS)?;
    let rows = statement.query_map(
        params![mch_id, iso(month.first()), iso(month.last())],
        |row| Ok((row.get(0)?, (row.get(1)?, row.get(2)?))),
    )?;
    rows.collect()
}

/// The part of a run's summary the report reads: the bill's totals, as
/// `reconcile::report::summary_json` writes them.
#[derive(Deserialize)]
struct RunSummary {
    bill: RunBill,
}

#[derive(Deserialize)]
struct RunBill {
    payments: RunTally,
    refunds: RunTally,
    settlement_fen: i64,
    fees_yuan: String,
}

#[derive(Deserialize)]
struct RunTally {
    count: u64,
    amount: i64,
}

fn run_figures(summary: &str) -> Result<Figures, String> {
    let RunSummary { bill } = serde_json::from_str(summary).map_err(|e| e.to_string())?;
    let fees = BillAmount::parse(&bill.fees_yuan).map_err(|e| format!("bill.fees_yuan: {e}"))?;
    Ok(Figures {
        payment_count: bill.payments.count,
        payment_fen: bill.payments.amount.into(),
        refund_count: bill.refunds.count,
        refund_fen: bill.refunds.amount.into(),
        settlement_fen: bill.settlement_fen.into(),
        fee_units: fees.0.into(),
    })
}

/// The merchants the ledger has bills or runs of, for a report that names none.
pub fn merchants(ledger: &Ledger) -> Result<Vec<String>, LedgerError> {
    let path = ledger.path();
    let mut statement = ledger
        .conn()
        .prepare(
            "SELECT mch_id FROM bills UNION SELECT mch_id FROM runs \
             WHERE mch_id IS NOT NULL ORDER BY 1",
        )
        .map_err(sqlite(path))?;
    let rows = statement
        .query_map([], |row| row.get(0))
        .map_err(sqlite(path))?;
    rows.collect::<Result<_, _>>().map_err(sqlite(path))
}

#[cfg(test)]
mod tests;
