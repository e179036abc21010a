//! Bills rendered from the emulator's own ledger, in the exact byte format of reference A6.

use std::io::{self, Write};

use time::Date;

use super::state::{Account, Ledger, Order, Refund, RefundStatus};
use crate::bill::format::{
    BOM, BillType, FUND_FLOW_HEADER, FUND_FLOW_SUMMARY_HEADER, FeeRate, RefundPart, SUMMARY_HEADER,
    Summary, TradeRow, push_header, push_record,
};
use crate::time::{BEIJING, bill_date, bill_time};
use crate::wechat::Fen;

/// Writes a whole trade bill (BOM, header, rows, summary) row by row, so that a bill of
/// any size streams with flat memory. Returns the summary.
pub fn write_trade_bill<W: Write + ?Sized>(
    out: &mut W,
    bill_type: BillType,
    rows: impl Iterator<Item = TradeRow>,
) -> io::Result<Summary> {
    let mut line = String::with_capacity(512);
    line.push_str(BOM);
    push_header(&mut line, bill_type.header());
    out.write_all(line.as_bytes())?;
    let mut summary = Summary::default();
    for row in rows.filter(|row| bill_type.includes(row)) {
        summary.add(&row);
        line.clear();
        push_record(&mut line, &row.values(bill_type));
        out.write_all(line.as_bytes())?;
    }
    line.clear();
    push_header(&mut line, &SUMMARY_HEADER);
    push_record(&mut line, &summary.values());
    out.write_all(line.as_bytes())?;
    Ok(summary)
}

fn payment_row(order: &Order, rate: FeeRate) -> Option<TradeRow> {
    let payment = order.payment.as_ref()?;
    Some(TradeRow {
        time: bill_time(payment.time_end),
        appid: order.appid.clone(),
        mch_id: order.mch_id.clone(),
        sub_mch_id: order.sub_mch_id.clone(),
        device_info: order.device_info.clone(),
        transaction_id: payment.transaction_id.clone(),
        out_trade_no: order.out_trade_no.clone(),
        openid: payment.openid.clone(),
        trade_type: order.trade_type.clone(),
        bank_type: payment.bank_type.clone(),
        body: order.body.clone(),
        attach: order.attach.clone(),
        total_fee: Fen(order.total_fee),
        coupon_fee: Fen(payment.coupon_fee),
        rate,
        refund: None,
    })
}

fn refund_row(order: &Order, refund: &Refund, rate: FeeRate) -> Option<TradeRow> {
    let mut row = payment_row(order, rate)?;
    // A closed refund moved no money: it is listed, with its status, but counts nothing in
    // any amount column or total (UNCONFIRMED how real bills fill a closed refund's
    // amounts; showing what was asked would have reconciliations count money that never
    // left).
    let (refund_fee, coupon_refund_fee) = if refund.counts() {
        (refund.refund_fee, refund.coupon_refund_fee)
    } else {
        (0, 0)
    };
    row.refund = Some(RefundPart {
        paid_time: row.time.clone(),
        applied_time: bill_time(refund.created_at),
        success_time: refund.success_time.map(bill_time).unwrap_or_default(),
        refund_id: refund.refund_id.clone(),
        out_refund_no: refund.out_refund_no.clone(),
        refund_fee: Fen(refund_fee),
        coupon_refund_fee: Fen(coupon_refund_fee),
        refund_channel: "ORIGINAL".into(),
        refund_status: refund.status.as_str().into(),
    });
    // In ALL bills a refund row is dated when the refund was made.
    row.time = bill_time(refund.created_at);
    Some(row)
}

/// Which day a refund belongs to: trade bills list refunds by the day they were applied for,
/// fund-flow bills by the day the money left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundDay {
    Applied,
    Succeeded,
}

/// Whose trades a bill holds: a merchant's, and of a service provider either all its
/// sub-merchants' or one's.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub mch_id: &'a str,
    /// One sub-merchant's trades only (empty: the merchant's own); all when None.
    pub sub_mch_id: Option<&'a str>,
}

impl<'a> Scope<'a> {
    /// Exactly the trades of one account.
    pub fn account(account: &'a Account) -> Scope<'a> {
        Scope {
            mch_id: &account.mch_id,
            sub_mch_id: Some(&account.sub_mch_id),
        }
    }

    pub fn includes(&self, mch_id: &str, sub_mch_id: &str) -> bool {
        self.mch_id == mch_id && self.sub_mch_id.is_none_or(|s| s == sub_mch_id)
    }
}

/// The rows of one Beijing day in `scope`: payments made, and refunds of that day.
pub fn day_rows(
    ledger: &Ledger,
    scope: &Scope<'_>,
    day: Date,
    rate: FeeRate,
    refund_day: RefundDay,
) -> Vec<TradeRow> {
    rows_dated(ledger, scope, rate, refund_day, |date| date == day)
}

/// The rows of every day before `day`: what the balance at the start of `day` is made of.
pub fn rows_before(ledger: &Ledger, scope: &Scope<'_>, day: Date, rate: FeeRate) -> Vec<TradeRow> {
    rows_dated(ledger, scope, rate, RefundDay::Succeeded, |date| date < day)
}

/// When a row's money moved in the account: a payment when it was paid, a refund when it
/// succeeded. The fund flow's 记账时间, by which its rows and balance run.
pub fn booked_at(row: &TradeRow) -> &str {
    match &row.refund {
        Some(refund) => &refund.success_time,
        None => &row.time,
    }
}

/// Merges two streams of rows, each in booking order (`booked_at`), into one in that order;
/// at equal times `a`'s row comes first.
pub fn merge_booked(
    a: impl Iterator<Item = TradeRow>,
    b: impl Iterator<Item = TradeRow>,
) -> impl Iterator<Item = TradeRow> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if booked_at(y) < booked_at(x) => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}

/// The rows whose Beijing date passes `wanted`, in the time order of their bill: for trade
/// bills by 交易时间, for the fund flow by when they were booked.
fn rows_dated(
    ledger: &Ledger,
    scope: &Scope<'_>,
    rate: FeeRate,
    refund_day: RefundDay,
    wanted: impl Fn(Date) -> bool,
) -> Vec<TradeRow> {
    let dated = |at: time::OffsetDateTime| wanted(at.to_offset(BEIJING).date());
    let mut rows: Vec<TradeRow> = ledger
        .orders()
        .filter(|o| scope.includes(&o.mch_id, &o.sub_mch_id))
        .filter(|o| o.payment.as_ref().is_some_and(|p| dated(p.time_end)))
        .filter_map(|o| payment_row(o, rate))
        .collect();
    for refund in ledger.refunds().iter().filter(|r| {
        let at = match refund_day {
            RefundDay::Applied => Some(r.created_at),
            RefundDay::Succeeded => r.success_time,
        };
        scope.includes(&r.mch_id, &r.sub_mch_id) && at.is_some_and(dated)
    }) {
        let order = ledger.order_by_no(&refund.account(), &refund.out_trade_no);
        if let Some(row) = order.and_then(|o| refund_row(o, refund, rate)) {
            rows.push(row);
        }
    }
    match refund_day {
        RefundDay::Applied => rows.sort_by(|a, b| a.time.cmp(&b.time)),
        RefundDay::Succeeded => rows.sort_by(|a, b| booked_at(a).cmp(booked_at(b))),
    }
    rows
}

/// The account and day a fund-flow bill is of.
#[derive(Debug, Clone)]
pub struct FundFlowAccount {
    /// The merchant that asked: its refunds are initiated as `<mch_id>API`.
    pub mch_id: String,
    /// Whose account: the merchant's own, or a sub-merchant's.
    pub account: Account,
    pub day: Date,
    /// The balance at the end of the day before, in fen.
    pub opening: i64,
}

impl FundFlowAccount {
    /// The start of the day's 资金流水单号: the account's number (ten digits) and the day,
    /// as the official sample's `1900009231` `20180201` `5884652186` reads; each line adds
    /// its own ten digits, so that numbers are unique across days and accounts.
    fn flow_no_prefix(&self) -> String {
        let account = match self.account.sub_mch_id.as_str() {
            "" => &self.account.mch_id,
            sub_mch_id => sub_mch_id,
        };
        format!("{account:0>10}{}", bill_date(self.day))
    }
}

/// A fund-flow bill being written line by line, with the running balance and the summary
/// counts, so a day of any size streams.
struct FundFlow<'w, W: Write + ?Sized> {
    out: &'w mut W,
    line: String,
    flow_no_prefix: String,
    lines: u64,
    balance: i64,
    income: (u64, i64),
    expense: (u64, i64),
}

struct Movement<'a> {
    time: &'a str,
    business_no: &'a str,
    name: &'a str,
    income: bool,
    amount: Fen,
    initiator: &'a str,
    remark: String,
    voucher: &'a str,
}

impl<W: Write + ?Sized> FundFlow<'_, W> {
    fn push(&mut self, m: Movement<'_>) -> io::Result<()> {
        let (direction, totals) = if m.income {
            self.balance += m.amount.0;
            ("收入", &mut self.income)
        } else {
            self.balance -= m.amount.0;
            ("支出", &mut self.expense)
        };
        totals.0 += 1;
        totals.1 += m.amount.0;
        self.lines += 1;
        self.line.clear();
        push_record(
            &mut self.line,
            &[
                m.time,
                m.business_no,
                &format!("{}{:010}", self.flow_no_prefix, self.lines),
                m.name,
                m.name,
                direction,
                &m.amount.yuan(),
                &Fen(self.balance).yuan(),
                m.initiator,
                &m.remark,
                m.voucher,
            ],
        );
        self.out.write_all(self.line.as_bytes())
    }
}

/// Whether a row moves money in the Basic account: a payment, or a refund that succeeded.
/// (UNCONFIRMED whether a CHANGE refund's money shows before it is handled by hand; the
/// emulator books only refunds that succeeded.)
pub fn moves_funds(row: &TradeRow) -> bool {
    row.refund
        .as_ref()
        .is_none_or(|refund| refund.refund_status == RefundStatus::Success.as_str())
}

/// What a row moves in the Basic account, in fen.
enum Flow {
    /// The settled amount comes in, and the fee goes out.
    Payment { settled: Fen, fee: Fen },
    /// The settled refund goes out, less its share of the fee, which WeChat returns (the
    /// trade bill's negative 手续费 on the refund row).
    Refund { settled: Fen, fee_returned: Fen },
}

fn flow(row: &TradeRow) -> Option<Flow> {
    if !moves_funds(row) {
        return None;
    }
    Some(match &row.refund {
        None => Flow::Payment {
            settled: row.settlement(),
            fee: row.fee(),
        },
        Some(refund) => Flow::Refund {
            settled: refund.settlement_refund(),
            fee_returned: Fen(-row.fee().0),
        },
    })
}

/// How much the rows change the Basic account's balance: what the day's fund-flow bill
/// adds up to.
pub fn fund_flow_net(rows: impl Iterator<Item = TradeRow>) -> i64 {
    rows.filter_map(|row| flow(&row))
        .map(|flow| match flow {
            Flow::Payment { settled, fee } => settled.0 - fee.0,
            Flow::Refund {
                settled,
                fee_returned,
            } => fee_returned.0 - settled.0,
        })
        .sum()
}

/// Writes the Basic-account fund flow of `rows` (in booking order, see `booked_at`): income
/// per payment and the fee taken from it, and each successful refund net of the fee it
/// returns, with the balance running on from the account's opening balance, then the
/// summary.
///
/// UNCONFIRMED: how a returned fee is booked. The remark of real refund rows,
/// `退款总金额X元;含手续费Y元`, reads as a total that includes the returned fee, so the
/// emulator books one 退款 row of X − Y with that remark, rather than a separate row of a
/// business name no sample shows.
pub fn write_fund_flow<W: Write + ?Sized>(
    out: &mut W,
    rows: impl Iterator<Item = TradeRow>,
    book: &FundFlowAccount,
) -> io::Result<()> {
    let mut head = String::from(BOM);
    push_header(&mut head, &FUND_FLOW_HEADER);
    out.write_all(head.as_bytes())?;
    let mut flow_bill = FundFlow {
        out,
        line: String::with_capacity(256),
        flow_no_prefix: book.flow_no_prefix(),
        lines: 0,
        balance: book.opening,
        income: (0, 0),
        expense: (0, 0),
    };
    let by_api = format!("{}API", book.mch_id);
    for row in rows {
        match (flow(&row), &row.refund) {
            (Some(Flow::Payment { settled, fee }), _) => {
                flow_bill.push(Movement {
                    time: &row.time,
                    business_no: &row.transaction_id,
                    name: "交易",
                    income: true,
                    amount: settled,
                    initiator: "system",
                    remark: String::new(),
                    voucher: &row.out_trade_no,
                })?;
                if fee.0 > 0 {
                    flow_bill.push(Movement {
                        time: &row.time,
                        business_no: &row.transaction_id,
                        name: "扣除交易手续费",
                        income: false,
                        amount: fee,
                        initiator: "system",
                        remark: String::new(),
                        voucher: &row.out_trade_no,
                    })?;
                }
            }
            (
                Some(Flow::Refund {
                    settled,
                    fee_returned,
                }),
                Some(refund),
            ) if settled.0 > 0 => flow_bill.push(Movement {
                time: &refund.success_time,
                business_no: &refund.refund_id,
                name: "退款",
                income: false,
                amount: Fen(settled.0 - fee_returned.0),
                initiator: &by_api,
                remark: format!(
                    "退款总金额{}元;含手续费{}元",
                    settled.yuan(),
                    fee_returned.yuan()
                ),
                voucher: &refund.out_refund_no,
            })?,
            _ => {}
        }
    }
    let mut tail = String::new();
    push_header(&mut tail, &FUND_FLOW_SUMMARY_HEADER);
    push_record(
        &mut tail,
        &[
            (flow_bill.income.0 + flow_bill.expense.0).to_string(),
            flow_bill.income.0.to_string(),
            Fen(flow_bill.income.1).yuan(),
            flow_bill.expense.0.to_string(),
            Fen(flow_bill.expense.1).yuan(),
        ],
    );
    flow_bill.out.write_all(tail.as_bytes())
}
