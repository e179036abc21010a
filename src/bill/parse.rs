//! The streaming bill parser: one pass, flat memory, no copy of a row unless it straddles two
//! reads.
//!
//! # Visiting records
//!
//! ```text
//! let report = bill::parse::read(file, |record: &BillRecord<'_>| {
//!     // record borrows the parser's buffer: copy out what you keep
//!     index.insert(record.out_trade_no().to_owned(), record.total_fee());
//!     Ok::<(), Infallible>(())
//! })?;
//! if !report.is_consistent() { … report.mismatches() … }
//! ```
//!
//! [`read`] takes any `Read + Send` (a file, stdin, a gzip file: detected by its magic
//! bytes; a thread reads ahead) and calls the visitor once per data row, in file order, on
//! the caller's thread, with a [`BillRecord`] that borrows the line. For bytes that arrive in pieces (a download), [`Parser::feed`] each piece and
//! [`Parser::finish`] at the end. A visitor error stops the parse and comes back as
//! [`ParseError::Visit`].
//!
//! A [`BillRecord`] gives every column by [`Column`] ([`BillRecord::get`] for text,
//! [`BillRecord::amount`] / [`BillRecord::fen`] for money, exact, never floats), and the key fields
//! of a reconciliation directly: [`BillRecord::trade_time`], [`BillRecord::out_trade_no`],
//! [`BillRecord::transaction_id`], [`BillRecord::trade_state`], [`BillRecord::total_fee`],
//! [`BillRecord::refund_id`], [`BillRecord::out_refund_no`], [`BillRecord::refund_fee`],
//! [`BillRecord::refund_status`], [`BillRecord::fee`]. Which columns a bill has is in
//! [`BillRecord::layout`] (the same [`Layout`] for every record of a bill).
//!
//! The [`Report`] at the end has the row count and the self-checks: every total of the
//! summary row against what the rows add up to, and in a fund-flow bill the running balance
//! (账户结余): each row's must be the balance the row before left, moved by the row's own
//! amount, in or out as its 收支类型 says.

use std::io::{self, Read};

use thiserror::Error;

use super::layout::{BillKind, Column, Direction, Layout, MAX_COLUMNS, Total};
use crate::wechat::money::MoneyError;
use crate::wechat::{BillAmount, Fen, Message};

/// No real bill line comes near this; a longer one is not a bill, and refusing it keeps
/// memory flat whatever the input.
pub const MAX_LINE: usize = 64 * 1024;

/// An XML answer is read up to this size to say what WeChat Pay refused.
const MAX_XML: usize = 64 * 1024;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// One unit of [`BillAmount`] per count, for nothing: counts are compared as integers.
const YUAN_UNITS_PER_FEN: i64 = 1000;

/// What is wrong with a bill, and where (lines count from 1).
#[derive(Debug, Error)]
pub enum BillError {
    #[error("empty: no header line")]
    Empty,
    #[error("line 1: not a bill header: {0}")]
    UnknownHeader(String),
    #[error("line {line}: not UTF-8 (byte {byte} of the line)")]
    NotUtf8 { line: u64, byte: usize },
    #[error("line {line}: longer than {MAX_LINE} bytes, which no bill line is")]
    LineTooLong { line: u64 },
    #[error("line {line}: {found} fields where the header has {expected}")]
    FieldCount {
        line: u64,
        found: usize,
        expected: usize,
    },
    #[error("line {line}: {reason}")]
    Unexpected { line: u64, reason: &'static str },
    #[error("line {line}, column {column}: {source}")]
    Amount {
        line: u64,
        column: String,
        source: MoneyError,
    },
    #[error("line {line}, column {column}: {text:?} has fractions of a fen")]
    FractionOfFen {
        line: u64,
        column: String,
        text: String,
    },
    #[error("line {line}: 收支类型 is {text:?}, neither 收入 nor 支出")]
    Direction { line: u64, text: String },
    #[error("line {line}: the summary's {name} is {text:?}, not a count")]
    Count {
        line: u64,
        name: &'static str,
        text: String,
    },
    #[error("line {line}: summary header: {reason}")]
    UnknownSummary { line: u64, reason: String },
    #[error("the bill ends in the middle of line {line}: it was cut short")]
    CutMidLine { line: u64 },
    #[error("the bill ends after line {line} without its summary row: it was cut short")]
    NoSummary { line: u64 },
    #[error("an XML message where a bill was expected: {0}")]
    XmlBody(String),
    #[error("the gzip data is damaged or cut short (after line {line}): {source}")]
    Gzip { line: u64, source: io::Error },
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
}

/// A bill error, or the visitor's own.
#[derive(Debug, Error)]
pub enum ParseError<E> {
    #[error(transparent)]
    Bill(#[from] BillError),
    #[error("{0}")]
    Visit(E),
}

/// One data row of a bill, borrowed from the parser's buffer.
#[derive(Debug, Clone, Copy)]
pub struct BillRecord<'a> {
    line: u64,
    text: &'a str,
    bounds: &'a [(u32, u32)],
    amounts: &'a [i64],
    layout: &'a Layout,
}

impl<'a> BillRecord<'a> {
    /// The line of the file this row is on (1 is the header).
    pub fn line(&self) -> u64 {
        self.line
    }

    pub fn layout(&self) -> &'a Layout {
        self.layout
    }

    /// The value at `position`, without its backtick.
    pub fn value(&self, position: usize) -> &'a str {
        let (start, end) = self.bounds[position];
        &self.text[start as usize..end as usize]
    }

    /// Every value in column order, as records are shown: text as the bill has it, money in
    /// fen ([`push_fen`]), written into `numbers`, which the amounts borrow.
    pub fn values_in_fen<'s>(
        &'s self,
        numbers: &'s mut String,
    ) -> impl Iterator<Item = FieldValue<'s>> + 's {
        let columns = &self.layout.columns;
        numbers.clear();
        let mut ends = [0usize; MAX_COLUMNS];
        for (position, column) in columns.iter().enumerate() {
            if column.is_money() {
                push_fen(numbers, self.amount_at(position));
                ends[position] = numbers.len();
            }
        }
        let numbers: &'s str = numbers;
        let mut start = 0;
        columns.iter().enumerate().map(move |(position, column)| {
            if column.is_money() {
                let text = &numbers[start..ends[position]];
                start = ends[position];
                FieldValue::Fen(text)
            } else {
                FieldValue::Text(self.value(position))
            }
        })
    }

    /// The amount at `position`, when that column holds money (zero otherwise).
    pub fn amount_at(&self, position: usize) -> BillAmount {
        BillAmount(self.amounts[position])
    }

    /// The text of a column, if the bill has it.
    pub fn get(&self, column: Column) -> Option<&'a str> {
        self.layout.position(column).map(|p| self.value(p))
    }

    /// A money column, exactly.
    pub fn amount(&self, column: Column) -> Option<BillAmount> {
        let position = self.layout.position(column)?;
        column
            .is_money()
            .then(|| BillAmount(self.amounts[position]))
    }

    /// A money column in fen. Every money column but the fee is whole fen (checked while
    /// parsing); a fee is rounded half away from zero.
    pub fn fen(&self, column: Column) -> Option<Fen> {
        self.amount(column).map(amount_fen)
    }

    fn text_or_empty(&self, column: Column) -> &'a str {
        self.get(column).unwrap_or("")
    }

    /// 交易时间 (trade bills) or 记账时间 (fund flow), as the bill writes it.
    pub fn trade_time(&self) -> &'a str {
        match self.layout.kind {
            BillKind::Trade => self.text_or_empty(Column::TradeTime),
            BillKind::FundFlow => self.text_or_empty(Column::BookingTime),
        }
    }

    /// 商户订单号; empty on fund-flow rows.
    pub fn out_trade_no(&self) -> &'a str {
        self.text_or_empty(Column::OutTradeNo)
    }

    /// 微信订单号; on fund-flow rows 微信支付业务单号.
    pub fn transaction_id(&self) -> &'a str {
        match self.layout.kind {
            BillKind::Trade => self.text_or_empty(Column::TransactionId),
            BillKind::FundFlow => self.text_or_empty(Column::BusinessNo),
        }
    }

    /// 交易状态: SUCCESS, REFUND, REVOKED …
    pub fn trade_state(&self) -> &'a str {
        self.text_or_empty(Column::TradeState)
    }

    pub fn is_refund(&self) -> bool {
        self.trade_state() == "REFUND"
    }

    /// 订单金额 (legacy 总金额); zero where the bill has no such column.
    pub fn total_fee(&self) -> Fen {
        self.fen(Column::TotalFee).unwrap_or_default()
    }

    /// 应结订单金额; zero where the bill has no such column.
    pub fn settlement_total_fee(&self) -> Fen {
        self.fen(Column::SettlementTotalFee).unwrap_or_default()
    }

    /// 微信退款单号, on refund rows only (payment rows print `0`).
    pub fn refund_id(&self) -> Option<&'a str> {
        self.get(Column::RefundId)
            .filter(|id| !matches!(*id, "" | "0"))
    }

    /// 商户退款单号, on refund rows only.
    pub fn out_refund_no(&self) -> Option<&'a str> {
        self.get(Column::OutRefundNo)
            .filter(|no| !matches!(*no, "" | "0"))
    }

    /// 申请退款金额 (legacy 退款金额); zero on payment rows.
    pub fn refund_fee(&self) -> Fen {
        self.fen(Column::RefundFee).unwrap_or_default()
    }

    /// 退款状态, on refund rows only.
    pub fn refund_status(&self) -> Option<&'a str> {
        self.get(Column::RefundStatus).filter(|s| !s.is_empty())
    }

    /// 手续费, exact (5 decimals; negative when returned on a refund).
    pub fn fee(&self) -> BillAmount {
        self.amount(Column::Fee).unwrap_or_default()
    }

    /// The columns in file order with their values.
    pub fn fields(&self) -> impl Iterator<Item = (Column, &'a str)> + '_ {
        self.layout
            .columns
            .iter()
            .enumerate()
            .map(|(position, column)| (*column, self.value(position)))
    }
}

/// Whole fen as they are; a fraction (fees only) rounded half away from zero.
fn amount_fen(amount: BillAmount) -> Fen {
    let half = YUAN_UNITS_PER_FEN / 2 * amount.0.signum();
    Fen((amount.0 + half) / YUAN_UNITS_PER_FEN)
}

/// A value of a record as it is shown: text, or money in fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValue<'a> {
    Text(&'a str),
    Fen(&'a str),
}

/// A count or an amount of the summary row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    Count(u64),
    Money(BillAmount),
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Quantity::Count(n) => write!(f, "{n}"),
            Quantity::Money(amount) => {
                // Fees keep their 5 decimals; other money reads as yuan with 2.
                let places = if amount.to_fen().is_some() { 2 } else { 5 };
                f.write_str(&amount.format(places))
            }
        }
    }
}

impl Quantity {
    /// As JSON: a count, or an amount in fen (see [`push_fen`]).
    pub fn fen_json(self) -> serde_json::Value {
        match self {
            Quantity::Count(count) => count.into(),
            Quantity::Money(amount) => {
                let mut text = String::new();
                push_fen(&mut text, amount);
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
            }
        }
    }
}

/// An amount in fen: an integer, or a decimal for the rare fee with a fraction of a fen.
pub fn push_fen(out: &mut String, amount: BillAmount) {
    if amount.0 % YUAN_UNITS_PER_FEN == 0 {
        out.push_str(itoa::Buffer::new().format(amount.0 / YUAN_UNITS_PER_FEN));
    } else {
        // 0.00001 yuan is a thousandth of a fen.
        let sign = if amount.0 < 0 { "-" } else { "" };
        let magnitude = amount.0.unsigned_abs();
        let fraction = format!("{:03}", magnitude % 1000);
        out.push_str(&format!(
            "{sign}{}.{}",
            magnitude / 1000,
            fraction.trim_end_matches('0')
        ));
    }
}

/// One total of the summary row and what the rows give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotalCheck {
    pub total: Total,
    pub stated: Quantity,
    pub computed: Quantity,
}

impl TotalCheck {
    pub fn holds(&self) -> bool {
        self.stated == self.computed
    }
}

/// A fund-flow row whose balance (账户结余) is not the balance the row before left, moved by
/// the row's amount: a row is missing, out of order or altered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceBreak {
    pub line: u64,
    /// The balance the row before states.
    pub before: BillAmount,
    /// This row's amount, signed: in (收入) positive, out (支出) negative.
    pub moved: BillAmount,
    /// The balance this row states.
    pub stated: BillAmount,
}

impl BalanceBreak {
    /// The balance the row should state.
    pub fn expected(&self) -> BillAmount {
        BillAmount(self.before.0.saturating_add(self.moved.0))
    }
}

/// What a whole bill said: its layout, row count and summary against the rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub layout: Layout,
    pub rows: u64,
    /// Bytes read (after gzip), BOM and line ends included.
    pub bytes: u64,
    pub totals: Vec<TotalCheck>,
    /// Fund-flow rows whose balance does not follow from the row before (0 for trade
    /// bills), and the first of them.
    pub balance_breaks: u64,
    pub first_balance_break: Option<BalanceBreak>,
}

impl Report {
    pub fn mismatches(&self) -> impl Iterator<Item = &TotalCheck> {
        self.totals.iter().filter(|check| !check.holds())
    }

    /// The summary row matches the rows, and a fund flow's balance runs without a break.
    pub fn is_consistent(&self) -> bool {
        self.mismatches().next().is_none() && self.balance_breaks == 0
    }

    /// The summary row by name: counts, and amounts in fen.
    pub fn stated_totals(&self) -> serde_json::Map<String, serde_json::Value> {
        (self.totals.iter())
            .map(|check| (check.total.name().to_owned(), check.stated.fen_json()))
            .collect()
    }

    /// A stated total by name, when the summary has it.
    pub fn stated(&self, total: Total) -> Option<Quantity> {
        self.totals
            .iter()
            .find(|check| check.total == total)
            .map(|check| check.stated)
    }
}

enum State {
    /// Before the header; nothing seen yet.
    Start,
    /// The input began with `<`: an XML answer, kept to say what it was.
    Xml(Vec<u8>),
    Rows,
    SummaryValues,
    Done,
}

/// The push parser: [`Parser::feed`] bytes as they come, then [`Parser::finish`].
pub struct Parser {
    state: State,
    layout: Option<Layout>,
    totals: Vec<Total>,
    stated: Vec<Quantity>,
    line: u64,
    bytes: u64,
    rows: u64,
    /// A line begun in one piece of input and ended in a later one.
    carry: Vec<u8>,
    bounds: [(u32, u32); MAX_COLUMNS],
    amounts: [i64; MAX_COLUMNS],
    money: Vec<(usize, Column)>,
    direction: Option<usize>,
    /// Where 账户结余 is, in a fund-flow bill that has it.
    balance: Option<usize>,
    /// The balance the last row stated, which the next row moves on from.
    last_balance: Option<i64>,
    balance_breaks: u64,
    first_balance_break: Option<BalanceBreak>,
    sums: [i128; Column::COUNT],
    by_direction: [(u64, i128); 2],
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new()
    }
}

impl Parser {
    pub fn new() -> Parser {
        Parser {
            state: State::Start,
            layout: None,
            totals: Vec::new(),
            stated: Vec::new(),
            line: 0,
            bytes: 0,
            rows: 0,
            carry: Vec::new(),
            bounds: [(0, 0); MAX_COLUMNS],
            amounts: [0; MAX_COLUMNS],
            money: Vec::new(),
            direction: None,
            balance: None,
            last_balance: None,
            balance_breaks: 0,
            first_balance_break: None,
            sums: [0; Column::COUNT],
            by_direction: [(0, 0); 2],
        }
    }

    /// The bill's layout, once its header has been read.
    pub fn layout(&self) -> Option<&Layout> {
        self.layout.as_ref()
    }

    /// The number of lines seen so far.
    pub fn lines(&self) -> u64 {
        self.line
    }

    /// The data rows read so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The sum of each money column over the rows read so far, by [`Column`].
    pub fn sums(&self) -> &[i128; Column::COUNT] {
        &self.sums
    }

    /// Parses the complete lines in `bytes`, keeping an unfinished last line for later.
    pub fn feed<E>(
        &mut self,
        mut bytes: &[u8],
        visit: &mut impl FnMut(&BillRecord<'_>) -> Result<(), E>,
    ) -> Result<(), ParseError<E>> {
        self.bytes += bytes.len() as u64;
        if !self.carry.is_empty() {
            let Some(end) = memchr::memchr(b'\n', bytes) else {
                return self.keep(bytes);
            };
            self.keep(&bytes[..end])?;
            let carried = std::mem::take(&mut self.carry);
            let result = self.line(&carried, true, visit);
            self.carry = carried;
            self.carry.clear();
            result?;
            bytes = &bytes[end + 1..];
        }
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', bytes) {
            self.line(&bytes[start..end], true, visit)?;
            start = end + 1;
        }
        self.keep(&bytes[start..])
    }

    fn keep<E>(&mut self, bytes: &[u8]) -> Result<(), ParseError<E>> {
        if self.carry.len() + bytes.len() > MAX_LINE {
            return Err(BillError::LineTooLong {
                line: self.line + 1,
            }
            .into());
        }
        self.carry.extend_from_slice(bytes);
        Ok(())
    }

    /// Ends the input: a last line without a line end is read, then the summary checked.
    pub fn finish<E>(
        &mut self,
        visit: &mut impl FnMut(&BillRecord<'_>) -> Result<(), E>,
    ) -> Result<Report, ParseError<E>> {
        if !self.carry.is_empty() {
            let carried = std::mem::take(&mut self.carry);
            self.line(&carried, false, visit)?;
        }
        let checks = match std::mem::replace(&mut self.state, State::Done) {
            State::Start => return Err(BillError::Empty.into()),
            State::Xml(body) => return Err(BillError::XmlBody(describe_xml(&body)).into()),
            State::Rows | State::SummaryValues => {
                return Err(BillError::NoSummary { line: self.line }.into());
            }
            State::Done => self.checks(),
        };
        Ok(Report {
            layout: self.layout.clone().expect("the header was read"),
            rows: self.rows,
            bytes: self.bytes,
            totals: checks,
            balance_breaks: self.balance_breaks,
            first_balance_break: self.first_balance_break,
        })
    }

    fn checks(&self) -> Vec<TotalCheck> {
        let money = |sum: i128| Quantity::Money(BillAmount(saturate(sum)));
        let side = |d: Direction| self.by_direction[d as usize];
        self.totals
            .iter()
            .zip(&self.stated)
            .map(|(total, stated)| TotalCheck {
                total: *total,
                stated: *stated,
                computed: match *total {
                    Total::Count => Quantity::Count(self.rows),
                    Total::Sum(column) => money(self.sums[column as usize]),
                    Total::DirectionCount(d) => Quantity::Count(side(d).0),
                    Total::DirectionSum(d) => money(side(d).1),
                },
            })
            .collect()
    }

    fn line<E>(
        &mut self,
        raw: &[u8],
        complete: bool,
        visit: &mut impl FnMut(&BillRecord<'_>) -> Result<(), E>,
    ) -> Result<(), ParseError<E>> {
        self.line += 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.len() > MAX_LINE {
            return Err(BillError::LineTooLong { line: self.line }.into());
        }
        match &mut self.state {
            State::Rows if line.first() == Some(&b'`') => {
                let cut = |e| match e {
                    BillError::FieldCount { .. } | BillError::Amount { .. } if !complete => {
                        BillError::CutMidLine { line: self.line }
                    }
                    other => other,
                };
                let layout = self.layout.as_ref().expect("rows follow the header");
                let (fields, ascii) =
                    split(line, &mut self.bounds, layout.columns.len(), self.line).map_err(cut)?;
                let text = utf8_after(line, ascii, self.line)?;
                row_amounts(
                    text,
                    &self.bounds[..fields],
                    &self.money,
                    &mut self.amounts,
                    &mut self.sums,
                    layout,
                    self.line,
                )
                .map_err(cut)?;
                if let Some(position) = self.direction {
                    let (start, end) = self.bounds[position];
                    let side = match &text[start as usize..end as usize] {
                        "收入" => Direction::Income,
                        "支出" => Direction::Expense,
                        other => {
                            return Err(BillError::Direction {
                                line: self.line,
                                text: other.to_owned(),
                            }
                            .into());
                        }
                    };
                    let amount = layout.position(Column::Amount).expect("required column");
                    let amount = self.amounts[amount];
                    let entry = &mut self.by_direction[side as usize];
                    entry.0 += 1;
                    entry.1 += i128::from(amount);
                    if let Some(position) = self.balance {
                        let moved = match side {
                            Direction::Income => amount,
                            Direction::Expense => amount.saturating_neg(),
                        };
                        let stated = self.amounts[position];
                        if let Some(before) = self.last_balance
                            && i128::from(before) + i128::from(moved) != i128::from(stated)
                        {
                            self.balance_breaks += 1;
                            self.first_balance_break.get_or_insert(BalanceBreak {
                                line: self.line,
                                before: BillAmount(before),
                                moved: BillAmount(moved),
                                stated: BillAmount(stated),
                            });
                        }
                        // The next row moves on from what this one states, so one altered
                        // balance is two breaks and a missing row one, not every row after.
                        self.last_balance = Some(stated);
                    }
                }
                self.rows += 1;
                let record = BillRecord {
                    line: self.line,
                    text,
                    bounds: &self.bounds[..fields],
                    amounts: &self.amounts[..fields],
                    layout,
                };
                visit(&record).map_err(ParseError::Visit)
            }
            State::Start => {
                let line = line.strip_prefix(BOM).unwrap_or(line);
                if line.trim_ascii_start().starts_with(b"<") {
                    let mut body = line.to_vec();
                    body.push(b'\n');
                    self.state = State::Xml(body);
                    return Ok(());
                }
                if line.trim_ascii().is_empty() {
                    return Err(BillError::Empty.into());
                }
                let text = utf8(line, self.line)?;
                let layout = Layout::from_header(text)
                    .map_err(|e| BillError::UnknownHeader(e.to_string()))?;
                self.money = (layout.columns.iter().enumerate())
                    .filter(|(_, c)| c.is_money())
                    .map(|(p, c)| (p, *c))
                    .collect();
                self.direction = layout.position(Column::Direction);
                self.balance = layout.position(Column::Balance);
                self.layout = Some(layout);
                self.state = State::Rows;
                Ok(())
            }
            State::Xml(body) => {
                if body.len() + line.len() < MAX_XML {
                    body.extend_from_slice(line);
                    body.push(b'\n');
                }
                Ok(())
            }
            State::Rows => {
                if line.trim_ascii().is_empty() {
                    return Err(self.unexpected("an empty line among the rows"));
                }
                let text = utf8(line, self.line)?;
                let layout = self.layout.as_ref().expect("rows follow the header");
                self.totals =
                    layout
                        .summary_from_header(text)
                        .map_err(|e| BillError::UnknownSummary {
                            line: self.line,
                            reason: e.reason,
                        })?;
                self.state = State::SummaryValues;
                Ok(())
            }
            State::SummaryValues => {
                if line.first() != Some(&b'`') {
                    return Err(self.unexpected(
                        "the summary values must follow the summary header, each with a backtick",
                    ));
                }
                let (count, ascii) = split(line, &mut self.bounds, self.totals.len(), self.line)
                    .map_err(|e| match e {
                        BillError::FieldCount { .. } if !complete => {
                            BillError::CutMidLine { line: self.line }
                        }
                        other => other,
                    })?;
                let text = utf8_after(line, ascii, self.line)?;
                let mut stated = Vec::with_capacity(count);
                for (total, (start, end)) in self.totals.iter().zip(&self.bounds[..count]) {
                    let value = &text[*start as usize..*end as usize];
                    stated.push(summary_value(*total, value, self.line)?);
                }
                self.stated = stated;
                self.state = State::Done;
                Ok(())
            }
            State::Done => {
                if line.trim_ascii().is_empty() {
                    Ok(())
                } else {
                    Err(self.unexpected("more lines after the summary row"))
                }
            }
        }
    }

    fn unexpected<E>(&self, reason: &'static str) -> ParseError<E> {
        BillError::Unexpected {
            line: self.line,
            reason,
        }
        .into()
    }
}

fn saturate(sum: i128) -> i64 {
    i64::try_from(sum).unwrap_or(if sum < 0 { i64::MIN } else { i64::MAX })
}

fn utf8(line: &[u8], number: u64) -> Result<&str, BillError> {
    utf8_after(line, 0, number)
}

/// [`utf8`] of a line known to be ASCII up to `ascii`: only the rest is checked.
fn utf8_after(line: &[u8], ascii: usize, number: u64) -> Result<&str, BillError> {
    debug_assert!(line[..ascii].is_ascii());
    let rest = &line[ascii..];
    if !rest.is_empty() {
        std::str::from_utf8(rest).map_err(|e| BillError::NotUtf8 {
            line: number,
            byte: ascii + e.valid_up_to() + 1,
        })?;
    }
    // SAFETY: ASCII followed by valid UTF-8 (or nothing) is valid UTF-8.
    Ok(unsafe { std::str::from_utf8_unchecked(line) })
}

/// Splits a backtick line (`` `v1,`v2,…,`vN ``) on the two-byte separator `` ,` ``, as
/// WeChat's own SDKs do: a comma inside a product name or attach stays in its value. Returns
/// the number of fields, which must be `expected`, and where the line's first byte that is
/// not ASCII is (its length if none), found on the way.
fn split(
    line: &[u8],
    bounds: &mut [(u32, u32); MAX_COLUMNS],
    expected: usize,
    number: u64,
) -> Result<(usize, usize), BillError> {
    let mut fields = 0;
    let mut start = 1;
    let ascii = separator_masks(line, |mut hits, base| {
        let count = hits.count_ones() as usize;
        // One check for the whole stretch rather than one a separator.
        let slots = match bounds.get_mut(fields..fields + count) {
            Some(slots) if fields + count < expected => slots,
            _ => {
                return Err(BillError::FieldCount {
                    line: number,
                    found: count_fields(line),
                    expected,
                });
            }
        };
        for slot in slots {
            let at = (base + hits.trailing_zeros() as usize) as u32;
            *slot = (start, at - 1);
            start = at + 1;
            hits &= hits - 1;
        }
        fields += count;
        Ok(())
    })?;
    bounds[fields] = (start, line.len() as u32);
    fields += 1;
    if fields != expected {
        return Err(BillError::FieldCount {
            line: number,
            found: fields,
            expected,
        });
    }
    Ok((fields, ascii))
}

/// Finds the separators of `line`: calls `found(mask, base)` for each stretch of it, in order,
/// with bit i of `mask` set when the byte at `base + i` is the backtick of a separator (a
/// backtick whose byte before is a comma); stops at its first error. Separators are too
/// dense (one every 8 bytes or so) for memchr's per-call cost to pay off: a block of bytes is
/// compared at once into bit masks instead. Returns the position of the first byte that is not
/// ASCII (the line's length if none), which the same blocks give almost for free.
#[cfg(target_arch = "x86_64")]
fn separator_masks<E>(
    line: &[u8],
    found: impl FnMut(u64, usize) -> Result<(), E>,
) -> Result<usize, E> {
    separator_masks_sse2(line, found)
}

#[cfg(not(target_arch = "x86_64"))]
fn separator_masks<E>(
    line: &[u8],
    found: impl FnMut(u64, usize) -> Result<(), E>,
) -> Result<usize, E> {
    separator_masks_swar(line, found)
}

/// [`separator_masks`] 64 bytes at a time, as four SSE2 compares (SSE2 is part of every
/// x86_64).
#[cfg(target_arch = "x86_64")]
fn separator_masks_sse2<E>(
    line: &[u8],
    mut found: impl FnMut(u64, usize) -> Result<(), E>,
) -> Result<usize, E> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    /// The commas, the backticks and the bytes that are not ASCII of `chunk`, bit i for byte i.
    fn masks(chunk: &[u8; 64]) -> (u64, u64, u64) {
        let (mut commas, mut backticks, mut high) = (0, 0, 0);
        for (index, block) in chunk.as_chunks::<16>().0.iter().enumerate() {
            // SAFETY: every x86_64 has SSE2; `block` is 16 readable bytes and loadu needs
            // no alignment.
            let (block_commas, block_backticks, block_high) = unsafe {
                let bytes = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
                let is = |byte: u8| {
                    _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(byte as i8))) as u16
                };
                (is(b','), is(b'`'), _mm_movemask_epi8(bytes) as u16)
            };
            commas |= u64::from(block_commas) << (16 * index);
            backticks |= u64::from(block_backticks) << (16 * index);
            high |= u64::from(block_high) << (16 * index);
        }
        (commas, backticks, high)
    }
    let mut ascii = line.len();
    let mut previous_commas = 0u64;
    let (chunks, tail) = line.as_chunks::<64>();
    for (index, chunk) in chunks.iter().enumerate() {
        let (commas, backticks, high) = masks(chunk);
        let base = index * 64;
        found(backticks & ((commas << 1) | (previous_commas >> 63)), base)?;
        previous_commas = commas;
        if high != 0 && ascii == line.len() {
            ascii = base + high.trailing_zeros() as usize;
        }
    }
    if tail.is_empty() {
        return Ok(ascii);
    }
    let base = line.len() - tail.len();
    let (hits, high) = match line.last_chunk::<64>() {
        // The last 64 bytes of the line: the comma before the first byte not yet scanned is
        // in them, and the bytes already scanned are shifted out.
        Some(last) => {
            let (commas, backticks, high) = masks(last);
            let seen = 64 - tail.len();
            ((backticks & (commas << 1)) >> seen, high >> seen)
        }
        // A line shorter than 64 bytes, padded with zeros.
        None => {
            let mut padded = [0u8; 64];
            padded[..tail.len()].copy_from_slice(tail);
            let (commas, backticks, high) = masks(&padded);
            (backticks & (commas << 1), high)
        }
    };
    found(hits, base)?;
    if high != 0 && ascii == line.len() {
        ascii = base + high.trailing_zeros() as usize;
    }
    Ok(ascii)
}

/// [`separator_masks`] eight bytes at a time in a `u64`, for any architecture.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn separator_masks_swar<E>(
    line: &[u8],
    mut found: impl FnMut(u64, usize) -> Result<(), E>,
) -> Result<usize, E> {
    /// The high bit of byte i moved to bit i.
    fn gather(high_bits: u64) -> u64 {
        (high_bits >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
    }
    let mut ascii = line.len();
    let mut previous_commas = 0u64;
    let mut scan = |word: u64, base: usize| -> Result<(), E> {
        let commas = zero_bytes(word ^ (ONES * u64::from(b',')));
        let after_comma = (commas << 8) | (previous_commas >> 56);
        previous_commas = commas;
        let backticks = zero_bytes(word ^ (ONES * u64::from(b'`')));
        found(gather(backticks & after_comma), base)?;
        let high = word & HIGHS;
        if high != 0 && ascii == line.len() {
            ascii = base + (high.trailing_zeros() / 8) as usize;
        }
        Ok(())
    };
    let (words, tail) = line.as_chunks::<8>();
    for (index, word) in words.iter().enumerate() {
        scan(u64::from_le_bytes(*word), index * 8)?;
    }
    if !tail.is_empty() {
        let mut padded = [0u8; 8];
        padded[..tail.len()].copy_from_slice(tail);
        scan(u64::from_le_bytes(padded), line.len() - tail.len())?;
    }
    Ok(ascii)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of every byte of `word` that is zero, and of no other (exact: no carry
/// crosses a byte).
fn zero_bytes(word: u64) -> u64 {
    !(((word & !HIGHS) + !HIGHS) | word) & HIGHS
}

fn count_fields(line: &[u8]) -> usize {
    1 + line.windows(2).filter(|pair| pair == b",`").count()
}

fn row_amounts(
    text: &str,
    bounds: &[(u32, u32)],
    money: &[(usize, Column)],
    amounts: &mut [i64; MAX_COLUMNS],
    sums: &mut [i128; Column::COUNT],
    layout: &Layout,
    number: u64,
) -> Result<(), BillError> {
    for &(position, column) in money {
        let (start, end) = bounds[position];
        // Bounds from `split` lie next to ASCII separators: slicing the bytes needs no check
        // for character boundaries, which slicing the text would do.
        let Some(amount) = parse_amount_in(text.as_bytes(), start as usize, end as usize) else {
            let value = &text[start as usize..end as usize];
            // The slow parser says precisely what is wrong.
            let source = match BillAmount::parse(value) {
                Err(e) => e,
                Ok(_) => MoneyError::NotYuan(value.to_owned(), BillAmount::DECIMALS),
            };
            return Err(BillError::Amount {
                line: number,
                column: layout.header[position].clone(),
                source,
            });
        };
        if !column.allows_fractions_of_a_fen() && amount % YUAN_UNITS_PER_FEN != 0 {
            return Err(BillError::FractionOfFen {
                line: number,
                column: layout.header[position].clone(),
                text: text[start as usize..end as usize].to_owned(),
            });
        }
        amounts[position] = amount;
        sums[column as usize] += i128::from(amount);
    }
    Ok(())
}

/// [`parse_amount`] of `line[start..end]`, eight bytes at once for the common short shapes
/// ("197.24", "0.00", "0", "-1.26000"); anything else goes to [`parse_amount`], so both accept
/// exactly the same.
fn parse_amount_in(line: &[u8], start: usize, end: usize) -> Option<i64> {
    let negative = line.get(start) == Some(&b'-');
    let digits = end.wrapping_sub(start + usize::from(negative));
    // The eight bytes that end with the value: those before it (the separator, the field
    // before) are masked off, which leaves the digits where `eight_digits` wants them.
    let window = end.checked_sub(8).and_then(|from| line.get(from..end));
    let fast = match window {
        Some(window) if (1..=8).contains(&digits) => {
            let word = u64::from_le_bytes(window.try_into().expect("eight bytes"));
            short_amount(word, digits)
        }
        _ => None,
    };
    match fast {
        Some(value) => Some(if negative { -value } else { value }),
        None => parse_amount(line.get(start..end)?),
    }
}

/// The unsigned amount in the last `len` (1 to 8) bytes of `word` (little-endian, so its
/// highest bytes), if it has at most one `.` with digits on both sides and at most 5 after;
/// `None` for anything else, which may still be an amount for [`parse_amount`].
fn short_amount(word: u64, len: usize) -> Option<i64> {
    const ZEROS: u64 = ONES * b'0' as u64;
    const SCALE: [i64; 6] = [100_000, 10_000, 1_000, 100, 10, 1];
    let kept = u64::MAX << (8 * (8 - len));
    let value = word & kept;
    let dots = zero_bytes(value ^ (ONES * u64::from(b'.')));
    let (digits, places) = if dots == 0 {
        (value | (ZEROS & !kept), 0)
    } else {
        // The first `.` (the lowest byte); a second stays among the digits and fails below.
        let dot = (dots.trailing_zeros() / 8) as usize;
        let places = 7 - dot;
        let whole_from = 8 - len;
        if dot <= whole_from || !(1..=5).contains(&places) {
            return None;
        }
        // Close the gap: the whole part moves up one byte onto the `.`.
        let fraction = value & (u64::MAX << (8 * (dot + 1)));
        let whole = value & ((1u64 << (8 * dot)) - 1);
        (fraction | (whole << 8) | (ZEROS & !(kept << 8)), places)
    };
    // Every byte '0'..='9': high nibble 3, and still 3 after adding 6 (exact: a byte that
    // carries into the next fails on its own high nibble).
    const HIGH_NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    let carried = digits.wrapping_add(ONES * 6);
    if (digits & HIGH_NIBBLES) | ((carried & HIGH_NIBBLES) >> 4) != ONES * 0x33 {
        return None;
    }
    Some(eight_digits(digits) as i64 * SCALE[places])
}

/// The number written by eight ASCII digits, the first in the lowest byte: pairs, then
/// fours, then all eight combined by multiplication.
fn eight_digits(digits: u64) -> u64 {
    let pairs = ((digits & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(10 << 8 | 1)) >> 8;
    let fours = ((pairs & 0x00FF_00FF_00FF_00FF).wrapping_mul(100 << 16 | 1)) >> 16;
    ((fours & 0x0000_FFFF_0000_FFFF).wrapping_mul(10000 << 32 | 1)) >> 32
}

/// [`BillAmount::parse`] for the hot path: the same accepted set (an optional `-`, 1 to 13
/// digits, then optionally `.` and digits of which only the first 5 may be non-zero), in
/// units of 0.00001 yuan, without allocating. `None` for anything else.
pub(super) fn parse_amount(text: &[u8]) -> Option<i64> {
    /// Units of 0.00001 yuan per unit of the last digit read, by the decimals read.
    const SCALE: [i64; 6] = [100_000, 10_000, 1_000, 100, 10, 1];
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    // One pass, one multiply-add a digit: 13 whole and 5 decimal digits fit an i64.
    let mut value: i64 = 0;
    let mut whole = 0;
    while let Some(digit) = digits.get(whole).map(|b| b.wrapping_sub(b'0')) {
        // A 14th digit stops here and is refused below as "not a `.`".
        if digit > 9 || whole == 13 {
            break;
        }
        value = value * 10 + i64::from(digit);
        whole += 1;
    }
    if whole == 0 {
        return None;
    }
    let mut places = 0;
    if let [dot, fraction @ ..] = &digits[whole..] {
        if *dot != b'.' || fraction.is_empty() {
            return None;
        }
        let (kept, zeros) = fraction.split_at(fraction.len().min(5));
        for &b in kept {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                return None;
            }
            value = value * 10 + i64::from(digit);
        }
        if zeros.iter().any(|&b| b != b'0') {
            return None;
        }
        places = kept.len();
    }
    let value = value * SCALE[places];
    Some(if negative { -value } else { value })
}

fn summary_value(total: Total, text: &str, line: u64) -> Result<Quantity, BillError> {
    let amount = BillAmount::parse(text).map_err(|source| BillError::Amount {
        line,
        column: total.name().to_owned(),
        source,
    })?;
    if !total.is_count() {
        return Ok(Quantity::Money(amount));
    }
    // Real summaries print counts as floats (`45.0`): whole numbers only.
    let units = 10i64.pow(BillAmount::DECIMALS);
    match u64::try_from(amount.0) {
        Ok(value) if amount.0 % units == 0 => Ok(Quantity::Count(value / units as u64)),
        _ => Err(BillError::Count {
            line,
            name: total.name(),
            text: text.to_owned(),
        }),
    }
}

/// What an XML answer in place of a bill says, for the error message.
fn describe_xml(body: &[u8]) -> String {
    let Ok(message) = Message::parse(body) else {
        return "a body starting with `<` that is not a WeChat Pay message".to_owned();
    };
    let fields: Vec<String> = [
        "return_code",
        "return_msg",
        "error_code",
        "result_code",
        "err_code",
        "err_code_des",
    ]
    .iter()
    .filter_map(|name| message.get(name).map(|value| format!("{name}={value}")))
    .collect();
    if fields.is_empty() {
        "a WeChat Pay message without return_code".to_owned()
    } else {
        fields.join(" ")
    }
}

/// How much is read at a time.
const READ_SIZE: usize = 1 << 20;

/// Parses a whole bill from `reader` (gzip detected by its magic bytes), visiting each row.
/// A thread of its own reads (and gunzips) ahead, so that the copying in of the next block
/// overlaps with parsing this one; two blocks in flight keep memory flat.
pub fn read<R: Read + Send, E>(
    reader: R,
    mut visit: impl FnMut(&BillRecord<'_>) -> Result<(), E>,
) -> Result<Report, ParseError<E>> {
    let mut parser = Parser::new();
    std::thread::scope(|scope| -> Result<(), ParseError<E>> {
        let (full, blocks) = std::sync::mpsc::sync_channel::<Result<Vec<u8>, ReadFailure>>(2);
        let (spare, empty) = std::sync::mpsc::sync_channel::<Vec<u8>>(3);
        scope.spawn(move || read_ahead(reader, &full, &empty));
        for block in blocks {
            match block {
                Ok(block) => {
                    parser.feed(&block, &mut visit)?;
                    let _ = spare.try_send(block);
                }
                Err(ReadFailure { gzip: true, error }) => {
                    return Err(BillError::Gzip {
                        line: parser.lines(),
                        source: error,
                    }
                    .into());
                }
                Err(ReadFailure { error, .. }) => return Err(BillError::Io(error).into()),
            }
        }
        // Dropping `blocks` and `spare` on an early return stops the reader.
        drop(spare);
        Ok(())
    })?;
    parser.finish(&mut visit)
}

struct ReadFailure {
    gzip: bool,
    error: io::Error,
}

/// The reading thread: blocks of the (decompressed) input, in order, then the end.
fn read_ahead<R: Read>(
    mut reader: R,
    full: &std::sync::mpsc::SyncSender<Result<Vec<u8>, ReadFailure>>,
    empty: &std::sync::mpsc::Receiver<Vec<u8>>,
) {
    let mut head = [0u8; 2];
    let mut seen = 0;
    while seen < head.len() {
        match reader.read(&mut head[seen..]) {
            Ok(0) => break,
            Ok(n) => seen += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                let _ = full.send(Err(ReadFailure { gzip: false, error }));
                return;
            }
        }
    }
    let start = io::Cursor::new(head[..seen].to_vec());
    if head[..seen] == GZIP_MAGIC {
        let gzip = flate2::read::MultiGzDecoder::new(start.chain(reader));
        pump(gzip, true, full, empty);
    } else {
        pump(start.chain(reader), false, full, empty);
    }
}

fn pump<R: Read>(
    mut reader: R,
    gzip: bool,
    full: &std::sync::mpsc::SyncSender<Result<Vec<u8>, ReadFailure>>,
    empty: &std::sync::mpsc::Receiver<Vec<u8>>,
) {
    loop {
        let mut block = empty.try_recv().unwrap_or_default();
        block.clear();
        // Fill the block (a pipe or a decoder gives little at a time), or reach the end;
        // read_to_end writes into spare capacity without zeroing it first.
        let filled = match reader
            .by_ref()
            .take(READ_SIZE as u64)
            .read_to_end(&mut block)
        {
            Ok(filled) => filled,
            Err(error) => {
                let _ = full.send(Err(ReadFailure { gzip, error }));
                return;
            }
        };
        let end = filled < READ_SIZE;
        if (!block.is_empty() && full.send(Ok(block)).is_err()) || end {
            return;
        }
    }
}

/// The fast paths against plain versions of the same; the bill tests cover the rest.
#[cfg(test)]
mod fast_path_tests {
    use proptest::prelude::*;

    use super::{parse_amount, parse_amount_in, separator_masks_swar, short_amount, utf8_after};

    fn positions(scan: fn(&[u8], &mut Vec<usize>)) -> impl Fn(&[u8]) -> Vec<usize> {
        move |line| {
            let mut found = Vec::new();
            scan(line, &mut found);
            found
        }
    }

    /// The positions of the bits of the masks.
    fn walk(found: &mut Vec<usize>) -> impl FnMut(u64, usize) -> Result<(), ()> + '_ {
        |mut mask, base| {
            while mask != 0 {
                found.push(base + mask.trailing_zeros() as usize);
                mask &= mask - 1;
            }
            Ok(())
        }
    }

    /// The separators, then the position of the first byte that is not ASCII.
    fn by_swar(line: &[u8], found: &mut Vec<usize>) {
        let ascii = separator_masks_swar(line, walk(found));
        found.push(ascii.unwrap());
    }

    fn by_pairs(line: &[u8], found: &mut Vec<usize>) {
        found.extend((1..line.len()).filter(|&at| &line[at - 1..=at] == b",`"));
        found.push(
            line.iter()
                .position(|b| !b.is_ascii())
                .unwrap_or(line.len()),
        );
    }

    #[cfg(target_arch = "x86_64")]
    fn by_sse2(line: &[u8], found: &mut Vec<usize>) {
        let ascii = super::separator_masks_sse2(line, walk(found));
        found.push(ascii.unwrap());
    }

    /// Lines dense in commas and backticks, with bytes of every kind between them, of every
    /// length around the block sizes.
    fn lines() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            3 => Just(b','),
            3 => Just(b'`'),
            1 => Just(b'a'),
            1 => Just(0u8),
            1 => any::<u8>().prop_map(|b| b & 0x7f),
        ];
        // Bytes that are not ASCII: none, one anywhere (a block of its own, or one already
        // scanned), or many.
        let high = prop_oneof![
            Just(None),
            (any::<prop::sample::Index>(), 0x80u8..).prop_map(Some),
        ];
        (prop::collection::vec(byte, 0..200), high, any::<bool>()).prop_map(
            |(mut line, high, many)| {
                if let Some((at, byte)) = high.filter(|_| !line.is_empty()) {
                    let at = at.index(line.len());
                    line[at] = byte;
                    if many {
                        line[at..].iter_mut().step_by(3).for_each(|b| *b |= 0x80);
                    }
                }
                line
            },
        )
    }

    #[test]
    fn separators_and_bytes_not_ascii_across_block_ends_and_in_short_tails() {
        let mut cases: Vec<Vec<u8>> = vec![b"".to_vec(), b",`".to_vec(), b"`,`,`".to_vec()];
        for at in [6, 7, 8, 14, 15, 16, 17, 23, 31, 32, 62, 63, 64, 126, 127] {
            for len in [at + 2, at + 3, 33, 40, 64, 65, 127, 128, 129, 200]
                .into_iter()
                .filter(|len| *len >= at + 2)
            {
                let mut line = vec![b'x'; len];
                line[at] = b',';
                line[at + 1] = b'`';
                cases.push(line);
            }
        }
        for at in [0, 7, 8, 15, 16, 63, 64, 65, 127, 130] {
            for len in [at + 1, 70, 200].into_iter().filter(|len| *len > at) {
                let mut line = b",`".repeat(len / 2 + 1);
                line.truncate(len);
                line[at] = 0xE4;
                cases.push(line);
            }
        }
        for line in cases {
            let expected = positions(by_pairs)(&line);
            assert_eq!(positions(by_swar)(&line), expected, "{line:?}");
            #[cfg(target_arch = "x86_64")]
            assert_eq!(positions(by_sse2)(&line), expected, "{line:?}");
        }
    }

    /// Every string of up to 7 bytes over an alphabet of amount bytes and one other, after
    /// a separator or at the start of the line.
    #[test]
    fn every_short_amount_parses_as_on_its_own() {
        const ALPHABET: &[u8] = b"-.019x";
        let mut value = Vec::new();
        for len in 0..=7u32 {
            for mut index in 0..ALPHABET.len().pow(len) {
                value.clear();
                for _ in 0..len {
                    value.push(ALPHABET[index % ALPHABET.len()]);
                    index /= ALPHABET.len();
                }
                let expected = parse_amount(&value);
                for before in [&b""[..], b"`0.00,`", b"`SUCCESS,`CNY,`"] {
                    let line = [before, &value, b",`"].concat();
                    let (start, end) = (before.len(), before.len() + value.len());
                    assert_eq!(parse_amount_in(&line, start, end), expected, "{line:?}");
                }
            }
        }
        // Eight bytes, the most the fast path takes, with the `.` anywhere.
        for mut index in 0..3usize.pow(8) {
            let value: Vec<u8> = (0..8)
                .map(|_| {
                    let byte = b"0.7"[index % 3];
                    index /= 3;
                    byte
                })
                .collect();
            let line = [b"`CNY,`", value.as_slice()].concat();
            assert_eq!(
                parse_amount_in(&line, 6, 14),
                parse_amount(&value),
                "{value:?}"
            );
        }
    }

    /// The shapes of nearly every bill amount take the eight-byte path, not the fallback.
    #[test]
    fn common_amounts_take_the_short_path() {
        for (text, expected) in [
            ("197.24", 19_724_000),
            ("0.00", 0),
            ("0", 0),
            ("1.18000", 118_000),
            ("12345678", 1_234_567_800_000),
            ("123456.7", 12_345_670_000),
        ] {
            let line = [b"`0.60%,`", text.as_bytes()].concat();
            let word = u64::from_le_bytes(line[line.len() - 8..].try_into().unwrap());
            assert_eq!(short_amount(word, text.len()), Some(expected), "{text}");
        }
    }

    proptest! {
        #[test]
        fn checking_only_after_the_ascii_gives_what_checking_all_gives(
            line in prop::collection::vec(prop_oneof![any::<u8>(), Just(b'a'), Just(0xE4), Just(0xB8)], 0..40),
        ) {
            let ascii = line.iter().position(|b| !b.is_ascii()).unwrap_or(line.len());
            let fast = utf8_after(&line, ascii, 2).map_err(|e| e.to_string());
            let plain = std::str::from_utf8(&line).map_err(|e| {
                format!("line 2: not UTF-8 (byte {} of the line)", e.valid_up_to() + 1)
            });
            prop_assert_eq!(fast, plain);
        }

        #[test]
        fn every_scanner_finds_what_a_plain_search_finds(line in lines()) {
            let expected = positions(by_pairs)(&line);
            prop_assert_eq!(positions(by_swar)(&line), expected.clone());
            #[cfg(target_arch = "x86_64")]
            prop_assert_eq!(positions(by_sse2)(&line), expected);
        }

        #[test]
        fn amounts_in_a_line_parse_as_on_their_own(
            before in prop::collection::vec(prop_oneof![Just(b'`'), Just(b','), Just(b'.'), any::<u8>()], 0..12),
            value in "-?[0-9.]{0,10}|[-0-9. a]{0,12}|-?[0-9]{1,13}(\\.[0-9]{1,7})?",
            after in prop::collection::vec(any::<u8>(), 0..4),
        ) {
            let line = [before.as_slice(), value.as_bytes(), &after].concat();
            let (start, end) = (before.len(), before.len() + value.len());
            prop_assert_eq!(parse_amount_in(&line, start, end), parse_amount(value.as_bytes()));
        }
    }
}
