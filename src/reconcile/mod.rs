//! Reconciliation: a day's WeChat Pay trade bill against the merchant's own export.
//!
//! Payments match on 商户订单号 (out_trade_no), refunds on 商户退款单号 (out_refund_no), or
//! on the order number when the export has no refund numbers. Only the bill's Beijing day
//! is in scope: an export entry dated on another day is left out, unless the bill has it.
//! Every entry of the day ends in exactly one [`Category`].
//!
//! [`reference`] states the rules as plain code; it is the specification. The fast engine
//! reads the export into a compact hash index ([`store`]) and streams the bill past it, fed
//! as [`BillRow`]s, which the bill parser's record visitor fills; [`bill::reconcile_files`]
//! reads each file in as many parts as it is given threads. Property tests hold the two
//! engines to the same results.

pub mod bill;
pub mod export;
#[cfg(test)]
mod fuzz_tests;
pub mod records;
pub mod reference;
pub mod report;
pub mod settings;
pub mod store;
pub mod time_format;
pub mod watch;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use thiserror::Error;

use crate::time::stamp::{self, DAY, Day, NO_TIME, Stamp, bill_stamp};
use export::{Export, FOLDED};
use store::{Entry, EntryKind, OrderStatus, flag, key_hash};
use watch::{Sighting, Take, Watch};

use crate::bill::parse::Report;
use crate::wechat::{BillAmount, Fen};

/// How close to midnight an entry missing from the bill is a likely cut-off difference,
/// when neither a flag nor a profile says: five minutes.
pub const DEFAULT_CUTOFF_WINDOW: u32 = 300;

/// The most one WeChat Pay order carries: total_fee is a 32-bit count of fen.
pub const MAX_ORDER_FEN: i64 = i32::MAX as i64;

/// What a reconciliation gives, from either engine.
#[derive(Debug)]
pub struct Reconciled {
    pub outcome: Reconciliation,
    /// The bill's summary row checked against its rows.
    pub report: Report,
    pub export: export::ExportInfo,
}

/// The key fields of one trade bill row, as the bill parser's visitor gives them.
#[derive(Debug, Clone, Copy)]
pub struct BillRow<'a> {
    pub line: u64,
    /// 交易时间, `yyyy-MM-dd HH:mm:ss` Beijing time (the refund's time on a refund row).
    pub time: &'a str,
    pub mch_id: &'a str,
    pub out_trade_no: &'a str,
    /// 商户退款单号: `Some` on refund rows.
    pub out_refund_no: Option<&'a str>,
    /// 订单金额 on a payment row, 申请退款金额 on a refund row.
    pub amount: Fen,
    /// 应结订单金额 (payment rows).
    pub settlement: Fen,
    /// 手续费, negative when a refund returns it.
    pub fee: BillAmount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Matched,
    MissingInExport,
    MissingInBill,
    AmountMismatch,
    StatusMismatch,
    Duplicate,
    CrossDay,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::Matched,
        Category::MissingInExport,
        Category::MissingInBill,
        Category::AmountMismatch,
        Category::StatusMismatch,
        Category::Duplicate,
        Category::CrossDay,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::Matched => "matched",
            Category::MissingInExport => "missing_in_export",
            Category::MissingInBill => "missing_in_bill",
            Category::AmountMismatch => "amount_mismatch",
            Category::StatusMismatch => "status_mismatch",
            Category::Duplicate => "duplicate",
            Category::CrossDay => "cross_day",
        }
    }
}

impl BillRowError {
    /// The error with its line moved `by` lines down.
    pub fn shifted(mut self, by: u64) -> BillRowError {
        match &mut self {
            BillRowError::Time { line, .. }
            | BillRowError::WrongDay { line, .. }
            | BillRowError::WrongMerchant { line, .. }
            | BillRowError::Amount { line, .. }
            | BillRowError::TooManyLines { line } => *line += by,
        }
        self
    }
}

/// A bill row that cannot belong to this reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BillRowError {
    #[error("line {line}: 交易时间 {text:?} is not a time (yyyy-MM-dd HH:mm:ss)")]
    Time { line: u64, text: String },
    #[error(
        "line {line}: a row of {found}, in the bill of {expected}: this is the bill of another day"
    )]
    WrongDay {
        line: u64,
        found: String,
        expected: Day,
    },
    #[error("line {line}: 商户号 {found}, not {expected}: this is the bill of another merchant")]
    WrongMerchant {
        line: u64,
        found: String,
        expected: String,
    },
    #[error(
        "line {line}: an amount of {yuan} yuan, more than one WeChat Pay order can carry (21474836.47): this is no WeChat Pay bill"
    )]
    Amount { line: u64, yuan: String },
    #[error("line {line}: a bill of more than 4294967295 lines, which no day has")]
    TooManyLines { line: u64 },
}

/// Refuses a bill row whose time (`time`, already read) is not on the bill's `day`.
pub fn check_day(row: &BillRow<'_>, time: Stamp, day: Day) -> Result<(), BillRowError> {
    if day.contains(time) {
        Ok(())
    } else {
        Err(BillRowError::WrongDay {
            line: row.line,
            found: Day::of(time).to_string(),
            expected: day,
        })
    }
}

/// Refuses a bill row of an amount no order can carry, so that sums of rows stay exact.
pub fn check_amount(row: &BillRow<'_>) -> Result<(), BillRowError> {
    if row.line > u64::from(u32::MAX) {
        return Err(BillRowError::TooManyLines { line: row.line });
    }
    if row.amount.0.unsigned_abs() > MAX_ORDER_FEN as u64 {
        return Err(BillRowError::Amount {
            line: row.line,
            yuan: row.amount.yuan(),
        });
    }
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The bill's day; else the day of its first row.
    pub day: Option<Day>,
    /// The merchant the bill must be of.
    pub mch_id: Option<String>,
    /// Export entries missing from the bill this close to midnight are flagged as likely
    /// cut-off differences when the adjacent day's bill is not given.
    pub cutoff_window: u32,
    pub previous_bill: bool,
    pub next_bill: bool,
    /// Threads to read the bill and sort the entries with; 0 or 1: the calling thread.
    pub threads: usize,
    /// Keys to report as seen ([`Reconciliation::sightings`]): the ledger's open
    /// differences of other days.
    pub watch: Option<Arc<Watch>>,
}

/// One side's view of an entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Side {
    pub amount: i64,
    pub time: Stamp,
    pub line: u64,
}

/// A payment or refund that is not `matched`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub category: Category,
    pub kind: EntryKind,
    pub out_trade_no: String,
    pub out_refund_no: Option<String>,
    pub bill: Option<Side>,
    pub export: Option<Side>,
    /// What the export says of the order.
    pub export_status: Option<OrderStatus>,
    pub note: String,
}

impl Difference {
    /// The bill's amount less the export's (a missing side counts as zero).
    pub fn difference(&self) -> i64 {
        self.bill.as_ref().map_or(0, |s| s.amount) - self.export.as_ref().map_or(0, |s| s.amount)
    }
}

/// Sums are exact: i128 holds any sum of the rows of any file.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub amount: i128,
}

impl Tally {
    fn add(&mut self, amount: i64) {
        self.count += 1;
        self.amount += i128::from(amount);
    }

    fn merge(&mut self, other: Tally) {
        self.count += other.count;
        self.amount += other.amount;
    }
}

/// What the bill's rows add up to.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct BillTotals {
    pub rows: u64,
    /// 订单金额 of payment rows.
    pub payments: Tally,
    /// 申请退款金额 of refund rows.
    pub refunds: Tally,
    /// 应结订单金额, fen.
    pub settlement: i128,
    /// 手续费 in 0.00001 yuan (fees have five decimals).
    pub fees: i128,
}

impl BillTotals {
    /// Counts one row of the bill: a payment's 订单金额 and 应结订单金额, or a refund's
    /// 申请退款金额, and its fee.
    pub fn add(&mut self, row: &BillRow<'_>) {
        self.rows += 1;
        self.fees += i128::from(row.fee.0);
        match row.out_refund_no {
            None => {
                self.payments.add(row.amount.0);
                self.settlement += i128::from(row.settlement.0);
            }
            Some(_) => self.refunds.add(row.amount.0),
        }
    }

    /// The day's net settlement in 0.00001 yuan: settled payments − refunds − fees.
    pub fn net(&self) -> i128 {
        (self.settlement - self.refunds.amount) * 1000 - self.fees
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ExportTotals {
    pub rows: u64,
    pub skipped_bad_lines: u64,
    /// Charged payments of the day.
    pub payments: Tally,
    pub refunds: Tally,
    /// Orders closed or unpaid, absent from the bill as they should be.
    pub not_charged: u64,
    /// Entries dated on another day that the bill does not have.
    pub out_of_scope: u64,
}

/// Entries of one category, with both sides' sums (a refund counts negative).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct CategoryTotal {
    pub count: u64,
    pub bill_amount: i128,
    pub export_amount: i128,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    pub day: Day,
    pub bill: BillTotals,
    pub export: ExportTotals,
    pub categories: [CategoryTotal; 7],
    /// Every entry not matched, payments and refunds, in a stable order.
    pub differences: Vec<Difference>,
    /// The watched keys this run met, in the order of their keys.
    pub sightings: Vec<Sighting>,
}

impl Reconciliation {
    pub fn category(&self, category: Category) -> CategoryTotal {
        self.categories[category as usize]
    }

    pub fn balanced(&self) -> bool {
        self.differences.is_empty() && self.export.skipped_bad_lines == 0
    }
}

/// The bill's side of an entry that needs more than a flag: a different amount, a refund
/// sum, or a row to show.
#[derive(Debug, Clone, Copy)]
struct BillSide {
    amount: i64,
    time: Stamp,
    line: u64,
}

/// Entry indexes are no secret to guard against flooding: a fast hash will do.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// A bill row whose key the export does not have.
#[derive(Debug, Clone)]
struct BillOnly {
    order: String,
    refund: Option<String>,
    side: BillSide,
    repeated: bool,
}

/// Matches bill rows against an export; one per bill, fed in file order. Matching marks
/// the export's entries, so an export is matched once.
pub struct Matcher<'e> {
    export: &'e Export,
    options: Options,
    day: Option<Day>,
    bill: BillTotals,
    sides: FastMap<usize, BillSide>,
    adjacent: FastMap<usize, BillSide>,
    bill_only: HashMap<(EntryKind, Box<str>), BillOnly>,
    /// Bill rows repeating a key the export has: (entry, row).
    bill_repeats: Vec<(usize, BillSide)>,
    /// The bill's side of each watched key met, by its place in the watch.
    sighted: FastMap<usize, BillSide>,
    /// The first row this matcher saw, to name it if another matcher's day differs.
    first_line: u64,
    /// Rows checked and counted, waiting to be looked up a batch at a time.
    pending: Batch,
    /// The part of the bill this matcher reads, and how far each part's lines move down
    /// (its lines count from its copy of the header).
    part: usize,
    shifts: Vec<u64>,
}

/// A bill row's place, packed into a u64 that an entry holds: the part of the bill it was
/// read in (15 bits), its line there (32), its second of the bill's day (17). Places order
/// as rows do in the file.
fn place(part: usize, line: u64, second: u32) -> u64 {
    ((part as u64) << 49) | ((line & 0xffff_ffff) << 17) | u64::from(second)
}

impl<'e> Matcher<'e> {
    pub fn new(export: &'e Export, options: Options) -> Matcher<'e> {
        Matcher::for_part(export, options, 0)
    }

    /// A matcher of part `part` of a bill read in parts.
    pub fn for_part(export: &'e Export, options: Options, part: usize) -> Matcher<'e> {
        Matcher {
            export,
            day: options.day,
            options,
            bill: BillTotals::default(),
            sides: FastMap::default(),
            adjacent: FastMap::default(),
            bill_only: HashMap::new(),
            bill_repeats: Vec::new(),
            sighted: FastMap::default(),
            first_line: 0,
            pending: Batch::default(),
            part,
            shifts: vec![0; part + 1],
        }
    }

    /// The line and time of a packed place.
    fn unplace(&self, place: u64, day: Day) -> (u64, Stamp) {
        let part = (place >> 49) as usize;
        let line = (place >> 17) & 0xffff_ffff;
        (
            line + self.shifts[part],
            day.start() + (place & 0x1_ffff) as u32,
        )
    }

    /// Moves every line this matcher noted `by` lines down: it read a later part of the bill
    /// behind a copy of the header.
    pub fn shift_lines(&mut self, by: u64) {
        self.flush();
        self.shifts[self.part] += by;
        self.first_line += by;
        for side in self.sides.values_mut() {
            side.line += by;
        }
        for only in self.bill_only.values_mut() {
            only.side.line += by;
        }
        for (_, side) in &mut self.bill_repeats {
            side.line += by;
        }
        for side in self.sighted.values_mut() {
            side.line += by;
        }
    }

    /// Takes in what another matcher of the same bill found (rows matched on another
    /// thread). The flags on the export's entries are already shared.
    pub fn merge(&mut self, mut other: Matcher<'e>) {
        self.flush();
        other.flush();
        if self.day.is_none() {
            self.day = other.day;
        }
        let bill = &mut self.bill;
        bill.rows += other.bill.rows;
        bill.payments.count += other.bill.payments.count;
        bill.payments.amount += other.bill.payments.amount;
        bill.refunds.count += other.bill.refunds.count;
        bill.refunds.amount += other.bill.refunds.amount;
        bill.settlement += other.bill.settlement;
        bill.fees += other.bill.fees;
        for (index, side) in other.sides {
            match self.sides.get_mut(&index) {
                // Refunds of one order, summed on both threads.
                Some(mine) => {
                    mine.amount += side.amount;
                    if side.line < mine.line {
                        (mine.line, mine.time) = (side.line, side.time);
                    }
                }
                None => {
                    self.sides.insert(index, side);
                }
            }
        }
        for (key, only) in other.bill_only {
            self.bill_only
                .entry(key)
                .and_modify(|mine| {
                    mine.repeated = true;
                    if only.side.line < mine.side.line {
                        mine.side = only.side;
                    }
                })
                .or_insert(only);
        }
        self.bill_repeats.extend(other.bill_repeats);
        if let Some(watch) = self.options.watch.as_deref() {
            for (at, side) in other.sighted {
                let Some(mine) = self.sighted.get_mut(&at) else {
                    self.sighted.insert(at, side);
                    continue;
                };
                let earlier = side.line < mine.line;
                match watch::take_of(&watch.keys()[at]) {
                    Take::First if earlier => *mine = side,
                    Take::First => {}
                    Take::Sum => {
                        mine.amount += side.amount;
                        if earlier {
                            (mine.line, mine.time) = (side.line, side.time);
                        }
                    }
                }
            }
        }
        if self.shifts.len() < other.shifts.len() {
            self.shifts.resize(other.shifts.len(), 0);
        }
        self.shifts[other.part] = other.shifts[other.part];
    }

    fn check(&mut self, row: &BillRow<'_>) -> Result<Stamp, BillRowError> {
        if let Some(expected) = &self.options.mch_id
            && row.mch_id != expected
        {
            return Err(BillRowError::WrongMerchant {
                line: row.line,
                found: row.mch_id.to_owned(),
                expected: expected.clone(),
            });
        }
        bill_stamp(row.time).ok_or_else(|| BillRowError::Time {
            line: row.line,
            text: row.time.to_owned(),
        })
    }

    /// One row of the day's bill, matched at once.
    pub fn row(&mut self, row: &BillRow<'_>) -> Result<(), BillRowError> {
        self.push(row)?;
        self.flush();
        Ok(())
    }

    /// One row of the day's bill: checked and counted now, matched with the rows of its
    /// batch (before [`Matcher::finish`] at the latest).
    pub fn push(&mut self, row: &BillRow<'_>) -> Result<(), BillRowError> {
        let time = self.check(row)?;
        if self.day.is_none() || self.first_line == 0 {
            self.first_line = row.line;
        }
        check_day(row, time, *self.day.get_or_insert(Day::of(time)))?;
        check_amount(row)?;
        self.bill.add(row);
        if let Some(watch) = self.options.watch.as_deref() {
            for &at in watch.of_order(row.out_trade_no) {
                let Some(take) = watch::take(&watch.keys()[at], row.out_refund_no) else {
                    continue;
                };
                let side = BillSide {
                    amount: row.amount.0,
                    time,
                    line: row.line,
                };
                self.sighted
                    .entry(at)
                    .and_modify(|first| {
                        if take == Take::Sum {
                            first.amount += side.amount;
                        }
                    })
                    .or_insert(side);
            }
        }
        let (kind, key) = self.first_key(row);
        let hash = key_hash(kind, key);
        self.export.index.prefetch(hash);
        self.pending.push(row, time, hash);
        if self.pending.len() >= MATCH_BATCH {
            self.flush();
        }
        Ok(())
    }

    /// The key a bill row is looked up by first.
    fn first_key<'r>(&self, row: &BillRow<'r>) -> (EntryKind, &'r [u8]) {
        match row.out_refund_no {
            None => (EntryKind::Payment, row.out_trade_no.as_bytes()),
            Some(number) if self.export.info.refund_numbers => {
                (EntryKind::Refund, number.as_bytes())
            }
            Some(_) => (EntryKind::OrderRefund, row.out_trade_no.as_bytes()),
        }
    }

    /// Matches the pending rows. Each lookup is a few cache misses (index slot, entry,
    /// key): the slots were prefetched as the rows came, and the entries and keys of the
    /// rows ahead are prefetched while a row is matched.
    fn flush(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let export = self.export;
        let rows = pending.rows();
        for (i, row) in rows.iter().enumerate() {
            if let Some(candidate) = rows.get(i + 8).and_then(|r| export.index.first(r.hash)) {
                export.entries.prefetch(candidate);
            }
            if let Some(candidate) = rows.get(i + 4).and_then(|r| export.index.first(r.hash)) {
                export.arena.prefetch(export.entries.get(candidate).key);
            }
            self.match_row(&pending, row);
        }
        self.pending = pending;
        self.pending.clear();
    }

    fn match_row(&mut self, pending: &Batch, row: &Pending) {
        let day = self.day.expect("set by the first row");
        let side = BillSide {
            amount: row.amount,
            time: row.time,
            line: row.line,
        };
        let (order, refund) = pending.keys(row);
        match refund {
            None => match self.export.find(EntryKind::Payment, row.hash, order) {
                Some(index) => self.seen(index, side, day),
                None => self.only(EntryKind::Payment, order, None, side),
            },
            Some(number) => {
                let found = if self.export.info.refund_numbers {
                    self.export
                        .find(EntryKind::Refund, row.hash, number)
                        .or_else(|| {
                            let hash = key_hash(EntryKind::OrderRefund, order);
                            self.export.find(EntryKind::OrderRefund, hash, order)
                        })
                } else {
                    self.export.find(EntryKind::OrderRefund, row.hash, order)
                };
                match found {
                    Some(index)
                        if self.export.entries.get(index).kind == EntryKind::OrderRefund =>
                    {
                        // Several refunds of one order add up. The common case, a single
                        // refund of the export's amount, is only a flag; anything else is
                        // summed apart (on each thread, added up when they merge).
                        let entry = self.export.entries.get(index);
                        entry.seen_first(place(self.part, side.line, side.time - day.start()));
                        let first = entry.set(flag::SEEN) & flag::SEEN == 0;
                        if first && row.amount == entry.amount {
                            entry.set(flag::FIRST_AS_EXPORTED);
                        } else {
                            self.sides
                                .entry(index)
                                .or_insert(BillSide { amount: 0, ..side })
                                .amount += row.amount;
                        }
                    }
                    Some(index) => self.seen(index, side, day),
                    None => self.only(EntryKind::Refund, order, Some(number), side),
                }
            }
        }
    }

    fn seen(&mut self, index: usize, side: BillSide, day: Day) {
        let entry = self.export.entries.get(index);
        if entry.set(flag::SEEN) & flag::SEEN != 0 {
            entry.set(flag::BILL_DUPLICATE);
            self.bill_repeats.push((index, side));
            return;
        }
        // The row that set the flag; any other is a repeat, whatever thread met it first.
        entry.seen_by(place(self.part, side.line, side.time - day.start()));
        // Only a different amount needs keeping: the place says the rest.
        if entry.amount != side.amount {
            entry.set(flag::AMOUNT);
            self.sides.insert(index, side);
        }
    }

    fn only(&mut self, kind: EntryKind, order: &[u8], refund: Option<&[u8]>, side: BillSide) {
        // Bill rows are UTF-8 (the parser checked).
        let text = |bytes| String::from_utf8_lossy(bytes).into_owned();
        let key = text(refund.unwrap_or(order));
        self.bill_only
            .entry((kind, key.into()))
            .and_modify(|only| only.repeated = true)
            .or_insert_with(|| BillOnly {
                order: text(order),
                refund: refund.map(text),
                side,
                repeated: false,
            });
    }

    /// A row of the previous or next day's bill: only its payments are looked for, to
    /// confirm the export's entries of this day that this day's bill lacks.
    pub fn adjacent_row(&mut self, row: &BillRow<'_>, next: bool) -> Result<(), BillRowError> {
        let time = self.check(row)?;
        if row.out_refund_no.is_some() {
            return Ok(());
        }
        let order = row.out_trade_no.as_bytes();
        if let Some(index) = self
            .export
            .find(EntryKind::Payment, key_hash(EntryKind::Payment, order), order)
            // The first row found, the previous day's bill read before the next.
            && !self.adjacent.contains_key(&index)
        {
            self.export.entries.get(index).set(if next {
                flag::NEXT_BILL
            } else {
                flag::PREVIOUS_BILL
            });
            self.adjacent.insert(
                index,
                BillSide {
                    amount: row.amount.0,
                    time,
                    line: row.line,
                },
            );
        }
        Ok(())
    }

    /// The day of the bill, once a row has been read.
    pub fn day(&self) -> Option<Day> {
        self.day
    }

    /// The line of the first row this matcher took.
    pub fn first_line(&self) -> u64 {
        self.first_line
    }

    /// Sorts a share of the export's entries into their categories.
    fn sort_entries(&self, chunks: &[(usize, &[Entry])], day: Day, notes: &Notes) -> Sorted {
        let export = self.export;
        let mut out = Sorted::default();
        let window = self.options.cutoff_window;
        let near_midnight = |t: Stamp| {
            let after_start = t >= day.start() && t < day.start() + window;
            let before_end =
                t < day.start() + DAY && t >= (day.start() + DAY).saturating_sub(window);
            t != NO_TIME
                && ((after_start && !self.options.previous_bill)
                    || (before_end && !self.options.next_bill))
        };
        for (index, entry) in store::indexed(chunks) {
            let flags = entry.flags();
            if flags & FOLDED != 0 {
                continue;
            }
            let seen = flags & flag::SEEN != 0;
            let in_scope = entry.time == NO_TIME || day.contains(entry.time);
            let charged = entry.status.charged();
            if !seen && !in_scope {
                out.export.out_of_scope += 1;
                continue;
            }
            if !seen && !charged {
                out.export.not_charged += 1;
                continue;
            }
            if in_scope && charged {
                match entry.kind {
                    EntryKind::Payment => out.export.payments.add(entry.amount),
                    _ => out.export.refunds.add(entry.amount),
                }
            }
            // Only the flagged few have repeats to look up.
            let repeats = (flags & flag::BILL_DUPLICATE != 0)
                .then(|| notes.bill.get(&index))
                .flatten();
            // The row that matched first, by time on some thread; the first in the file is
            // this one or an earlier repeat.
            let matched = entry.first_bill().map(|place| {
                let (line, time) = self.unplace(place, day);
                BillSide {
                    amount: match entry.kind {
                        // The refunds of an order, summed.
                        EntryKind::OrderRefund => {
                            let exported = flags & flag::FIRST_AS_EXPORTED != 0;
                            self.sides.get(&index).map_or(0, |s| s.amount)
                                + if exported { entry.amount } else { 0 }
                        }
                        _ if flags & flag::AMOUNT != 0 => self.sides[&index].amount,
                        _ => entry.amount,
                    },
                    time,
                    line,
                }
            });
            // The first row of the key in the file.
            let first = match repeats {
                None => matched,
                Some(repeats) => (matched.into_iter())
                    .chain(repeats.iter().copied())
                    .min_by_key(|side| side.line),
            };
            let bill_amount = first.as_ref().map_or(0, |side| side.amount);
            let export_repeats = (flags & flag::EXPORT_DUPLICATE != 0)
                .then(|| notes.export.get(&index))
                .flatten();
            let (category, note) = if export_repeats.is_some() || repeats.is_some() {
                let side = if export_repeats.is_some() {
                    "export"
                } else {
                    "bill"
                };
                let mut note = format!("the {side} has this key more than once");
                for line in export_repeats.into_iter().flatten() {
                    note += &format!("; again on line {line}");
                }
                let mut lines: Vec<u64> = (matched.iter().chain(repeats.into_iter().flatten()))
                    .map(|side| side.line)
                    .collect();
                lines.sort_unstable();
                for line in lines.iter().skip(1) {
                    note += &format!("; bill line {line} again");
                }
                (Category::Duplicate, note)
            } else if seen {
                if entry.kind == EntryKind::Payment && !charged {
                    (
                        Category::StatusMismatch,
                        format!(
                            "WeChat Pay took the money; the export says {}",
                            entry.status.name()
                        ),
                    )
                } else if !in_scope && flags & flag::UNDATED == 0 {
                    (
                        Category::CrossDay,
                        format!("the export dates it {}", stamp::format_stamp(entry.time)),
                    )
                } else if bill_amount != entry.amount {
                    (Category::AmountMismatch, String::new())
                } else {
                    (Category::Matched, String::new())
                }
            } else if flags & (flag::PREVIOUS_BILL | flag::NEXT_BILL) != 0 {
                let which = if flags & flag::PREVIOUS_BILL != 0 {
                    "previous"
                } else {
                    "next"
                };
                (Category::CrossDay, format!("in the {which} day's bill"))
            } else if near_midnight(entry.time) {
                (
                    Category::CrossDay,
                    "likely cut-off: dated close to midnight and not in this day's bill; give the adjacent day's bill to confirm".to_owned(),
                )
            } else {
                (Category::MissingInBill, String::new())
            };
            let total = &mut out.categories[category as usize];
            total.count += 1;
            total.export_amount += sign(entry.kind) * i128::from(entry.amount);
            total.bill_amount += sign(entry.kind) * i128::from(bill_amount);
            if category == Category::Matched {
                continue;
            }
            let (key, order) = export.keys(entry);
            let bill = first.as_ref().or(self.adjacent.get(&index));
            out.differences.push(Difference {
                category,
                kind: entry.kind,
                out_trade_no: String::from_utf8_lossy(order).into_owned(),
                out_refund_no: (entry.kind == EntryKind::Refund)
                    .then(|| String::from_utf8_lossy(key).into_owned()),
                bill: bill.map(|side| Side {
                    amount: side.amount,
                    time: side.time,
                    line: side.line,
                }),
                export: Some(export_side(entry)),
                export_status: Some(entry.status),
                note,
            });
        }
        out
    }

    /// The watched keys met, on the bill's side or the export's.
    fn sightings(&self) -> Vec<Sighting> {
        let Some(watch) = self.options.watch.as_deref() else {
            return Vec::new();
        };
        let export = self.export;
        let find = |kind, key: &str| {
            let key = key.as_bytes();
            export.find(kind, key_hash(kind, key), key)
        };
        let mut out = Vec::new();
        for (at, key) in watch.keys().iter().enumerate() {
            let order = &key.out_trade_no;
            let found = match (key.kind, &key.out_refund_no) {
                (EntryKind::Refund, Some(number)) => {
                    find(EntryKind::Refund, number).or_else(|| find(EntryKind::OrderRefund, order))
                }
                (kind, _) => find(kind, order),
            };
            let entry = found.map(|i| export.entries.get(i));
            let bill = self.sighted.get(&at);
            if bill.is_none() && entry.is_none() {
                continue;
            }
            out.push(Sighting {
                key: key.clone(),
                bill: bill.map(|side| Side {
                    amount: side.amount,
                    time: side.time,
                    line: side.line,
                }),
                export: entry.map(export_side),
                export_status: entry.map(|e| e.status),
            });
        }
        out
    }

    /// Sorts every entry into its category.
    pub fn finish(mut self) -> Reconciliation {
        self.flush();
        let day = self.day.or(self.options.day).unwrap_or(Day(0));
        let export = self.export;
        let mut out = Reconciliation {
            day,
            bill: self.bill.clone(),
            export: ExportTotals {
                rows: export.info.rows,
                skipped_bad_lines: export.info.skipped,
                ..ExportTotals::default()
            },
            categories: [CategoryTotal::default(); 7],
            differences: Vec::new(),
            sightings: self.sightings(),
        };
        let mut notes = Notes::default();
        for repeat in &export.repeats {
            let line = export.entries.get(repeat.again).line;
            notes.export.entry(repeat.first).or_default().push(line);
        }
        for (index, side) in std::mem::take(&mut self.bill_repeats) {
            notes.bill.entry(index).or_default().push(side);
        }
        // The entries are sorted in shares of whole chunks, one per thread, in file order.
        let chunks: Vec<(usize, &[Entry])> = export.entries.chunks().collect();
        let threads = self.options.threads.clamp(1, chunks.len().max(1));
        let per_share = chunks.len().div_ceil(threads).max(1);
        let shares: Vec<&[(usize, &[Entry])]> = chunks.chunks(per_share).collect();
        let (this, notes) = (&self, &notes);
        let sorted: Vec<Sorted> = std::thread::scope(|scope| {
            let later: Vec<_> = (shares.iter().skip(1))
                .map(|share| scope.spawn(move || this.sort_entries(share, day, notes)))
                .collect();
            let first = shares
                .first()
                .map(|share| this.sort_entries(share, day, notes));
            first
                .into_iter()
                .chain(later.into_iter().map(|share| {
                    share
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p))
                }))
                .collect()
        });
        for share in sorted {
            out.differences.extend(share.differences);
            let (mine, theirs) = (&mut out.export, share.export);
            mine.payments.merge(theirs.payments);
            mine.refunds.merge(theirs.refunds);
            mine.not_charged += theirs.not_charged;
            mine.out_of_scope += theirs.out_of_scope;
            for (mine, theirs) in out.categories.iter_mut().zip(share.categories) {
                mine.count += theirs.count;
                mine.bill_amount += theirs.bill_amount;
                mine.export_amount += theirs.export_amount;
            }
        }
        let mut only: Vec<_> = self.bill_only.into_iter().collect();
        only.sort_by_key(|(_, o)| o.side.line);
        for ((kind, _), only) in only {
            let order_entry = export
                .find(
                    EntryKind::Payment,
                    key_hash(EntryKind::Payment, only.order.as_bytes()),
                    only.order.as_bytes(),
                )
                .map(|i| export.entries.get(i));
            let (category, note) = if only.repeated {
                (
                    Category::Duplicate,
                    "the bill has this key more than once".to_owned(),
                )
            } else if kind == EntryKind::Refund
                && !export.info.transactions
                && let Some(order) = order_entry.filter(|o| o.status != OrderStatus::Refunded)
            {
                (
                    Category::StatusMismatch,
                    format!(
                        "WeChat Pay refunded it; the export says {}",
                        order.status.name()
                    ),
                )
            } else {
                (Category::MissingInExport, String::new())
            };
            let total = &mut out.categories[category as usize];
            total.count += 1;
            total.bill_amount += sign(kind) * i128::from(only.side.amount);
            out.differences.push(Difference {
                category,
                kind,
                out_trade_no: only.order,
                out_refund_no: only.refund,
                bill: Some(Side {
                    amount: only.side.amount,
                    time: only.side.time,
                    line: only.side.line,
                }),
                export: None,
                export_status: order_entry.map(|o| o.status),
                note,
            });
        }
        out.differences.sort_by(|a, b| {
            (a.category, &a.out_trade_no, a.kind, &a.out_refund_no).cmp(&(
                b.category,
                &b.out_trade_no,
                b.kind,
                &b.out_refund_no,
            ))
        });
        out
    }
}

/// A payment counts positive in the totals, a refund negative.
pub fn sign(kind: EntryKind) -> i128 {
    if kind == EntryKind::Payment { 1 } else { -1 }
}

/// The repeats of each duplicated entry's key: the lines of the export's, and the bill's
/// rows.
#[derive(Default)]
struct Notes {
    export: FastMap<usize, Vec<u32>>,
    bill: FastMap<usize, Vec<BillSide>>,
}

/// What sorting a share of the export's entries found.
#[derive(Default)]
struct Sorted {
    export: ExportTotals,
    categories: [CategoryTotal; 7],
    differences: Vec<Difference>,
}

fn export_side(entry: &Entry) -> Side {
    Side {
        amount: entry.amount,
        time: entry.time,
        line: u64::from(entry.line),
    }
}

/// Rows matched at a time, so that the lookups of the rows ahead can be prefetched.
const MATCH_BATCH: usize = 256;

/// Bill rows copied out of the parser's buffer, to be matched a batch at a time: their
/// keys, and what a difference shows.
#[derive(Debug, Default)]
struct Batch {
    keys: Vec<u8>,
    rows: Vec<Pending>,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    hash: u64,
    line: u64,
    time: Stamp,
    /// Where the order number is in `keys`, and how long it and the refund number are.
    start: u32,
    order_len: u16,
    /// The refund number's length + 1 on a refund row, 0 on a payment.
    refund_len: u16,
    amount: i64,
}

impl Batch {
    fn push(&mut self, row: &BillRow<'_>, time: Stamp, hash: u64) {
        // Longer fields are no bill's; cut, they still fail every check they should.
        let start = self.keys.len() as u32;
        let mut add = |text: &str| {
            let text = &text.as_bytes()[..text.len().min(usize::from(u16::MAX) - 1)];
            self.keys.extend_from_slice(text);
            text.len() as u16
        };
        let order_len = add(row.out_trade_no);
        let refund_len = row.out_refund_no.map_or(0, |number| add(number) + 1);
        self.rows.push(Pending {
            hash,
            line: row.line,
            time,
            start,
            order_len,
            refund_len,
            amount: row.amount.0,
        });
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn clear(&mut self) {
        self.keys.clear();
        self.rows.clear();
    }

    fn rows(&self) -> &[Pending] {
        &self.rows
    }

    /// A row's order number, and its refund number on a refund row.
    fn keys(&self, row: &Pending) -> (&[u8], Option<&[u8]>) {
        let start = row.start as usize;
        let (order, rest) = self.keys[start..].split_at(usize::from(row.order_len));
        let refund = row
            .refund_len
            .checked_sub(1)
            .map(|len| &rest[..usize::from(len)]);
        (order, refund)
    }
}

#[cfg(test)]
mod tests;
