//! What a bill's header says: which columns it has, where, and what its summary row sums.
//!
//! Columns are recognised by name, never by position, so every variant of reference A6.4
//! reads the same way: the new and legacy trade bills of every type, the red-packet naming,
//! RECHARGE_REFUND, and fund-flow bills with full-width or half-width parentheses.

use std::fmt;

/// A bill column under its English name. The Chinese names of every variant map onto these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    TradeTime,
    Appid,
    MchId,
    SubMchId,
    DeviceInfo,
    TransactionId,
    OutTradeNo,
    Openid,
    TradeType,
    TradeState,
    BankType,
    FeeType,
    /// 应结订单金额: the order total less non-cash coupons.
    SettlementTotalFee,
    CouponFee,
    /// 订单金额, or the legacy 总金额.
    TotalFee,
    RefundApplyTime,
    RefundSuccessTime,
    RefundId,
    OutRefundNo,
    /// 退款金额 of the new format: the settlement part of a refund.
    SettlementRefundFee,
    RechargeCouponRefundFee,
    /// The legacy 代金券或立减优惠退款金额 / 企业红包退款金额.
    CouponRefundFee,
    /// 申请退款金额, or the legacy 退款金额.
    RefundFee,
    /// 退款类型: ORIGINAL or BALANCE.
    RefundChannel,
    RefundStatus,
    Body,
    Attach,
    /// 手续费 (5 decimals, negative when returned on a refund), or 返还手续费.
    Fee,
    Rate,
    RateNote,
    BookingTime,
    BusinessNo,
    FlowNo,
    BusinessName,
    BusinessType,
    /// 收支类型: 收入 or 支出.
    Direction,
    Amount,
    Balance,
    Initiator,
    Remark,
    VoucherNo,
}

impl Column {
    pub const COUNT: usize = Column::VoucherNo as usize + 1;

    /// The snake_case name used in JSON and CSV output.
    pub fn name(self) -> &'static str {
        use Column::*;
        match self {
            TradeTime => "trade_time",
            Appid => "appid",
            MchId => "mch_id",
            SubMchId => "sub_mch_id",
            DeviceInfo => "device_info",
            TransactionId => "transaction_id",
            OutTradeNo => "out_trade_no",
            Openid => "openid",
            TradeType => "trade_type",
            TradeState => "trade_state",
            BankType => "bank_type",
            FeeType => "fee_type",
            SettlementTotalFee => "settlement_total_fee",
            CouponFee => "coupon_fee",
            TotalFee => "total_fee",
            RefundApplyTime => "refund_apply_time",
            RefundSuccessTime => "refund_success_time",
            RefundId => "refund_id",
            OutRefundNo => "out_refund_no",
            SettlementRefundFee => "settlement_refund_fee",
            RechargeCouponRefundFee => "recharge_coupon_refund_fee",
            CouponRefundFee => "coupon_refund_fee",
            RefundFee => "refund_fee",
            RefundChannel => "refund_channel",
            RefundStatus => "refund_status",
            Body => "body",
            Attach => "attach",
            Fee => "fee",
            Rate => "rate",
            RateNote => "rate_note",
            BookingTime => "booking_time",
            BusinessNo => "business_no",
            FlowNo => "flow_no",
            BusinessName => "business_name",
            BusinessType => "business_type",
            Direction => "direction",
            Amount => "amount",
            Balance => "balance",
            Initiator => "initiator",
            Remark => "remark",
            VoucherNo => "voucher_no",
        }
    }

    /// Whether the column holds money (yuan with 2 decimals, 5 for fees).
    pub fn is_money(self) -> bool {
        use Column::*;
        matches!(
            self,
            SettlementTotalFee
                | CouponFee
                | TotalFee
                | SettlementRefundFee
                | RechargeCouponRefundFee
                | CouponRefundFee
                | RefundFee
                | Fee
                | Amount
                | Balance
        )
    }

    /// Fees are the one column printed with 5 decimals; every other amount is whole fen.
    pub fn allows_fractions_of_a_fen(self) -> bool {
        self == Column::Fee
    }

    fn is_fund_flow(self) -> bool {
        self as usize >= Column::BookingTime as usize
    }
}

/// Header names of trade bills, every variant. 退款金额 is settled below: the new format's
/// settlement refund, or the legacy format's only refund amount.
const TRADE_NAMES: &[(&str, Column)] = &[
    ("交易时间", Column::TradeTime),
    ("公众账号ID", Column::Appid),
    ("商户号", Column::MchId),
    ("特约商户号", Column::SubMchId),
    ("子商户号", Column::SubMchId),
    ("设备号", Column::DeviceInfo),
    ("微信订单号", Column::TransactionId),
    ("商户订单号", Column::OutTradeNo),
    ("用户标识", Column::Openid),
    ("交易类型", Column::TradeType),
    ("交易状态", Column::TradeState),
    ("付款银行", Column::BankType),
    ("货币种类", Column::FeeType),
    ("应结订单金额", Column::SettlementTotalFee),
    ("代金券金额", Column::CouponFee),
    ("代金券或立减优惠金额", Column::CouponFee),
    ("企业红包金额", Column::CouponFee),
    ("订单金额", Column::TotalFee),
    ("总金额", Column::TotalFee),
    ("退款申请时间", Column::RefundApplyTime),
    ("退款成功时间", Column::RefundSuccessTime),
    ("微信退款单号", Column::RefundId),
    ("商户退款单号", Column::OutRefundNo),
    ("退款金额", Column::SettlementRefundFee),
    ("充值券退款金额", Column::RechargeCouponRefundFee),
    ("代金券或立减优惠退款金额", Column::CouponRefundFee),
    ("企业红包退款金额", Column::CouponRefundFee),
    ("申请退款金额", Column::RefundFee),
    ("退款类型", Column::RefundChannel),
    ("退款状态", Column::RefundStatus),
    ("商品名称", Column::Body),
    ("商户数据包", Column::Attach),
    ("手续费", Column::Fee),
    ("返还手续费", Column::Fee),
    ("费率", Column::Rate),
    ("费率备注", Column::RateNote),
];

/// Fund-flow header names, with parentheses already made half-width.
const FUND_FLOW_NAMES: &[(&str, Column)] = &[
    ("记账时间", Column::BookingTime),
    ("微信支付业务单号", Column::BusinessNo),
    ("资金流水单号", Column::FlowNo),
    ("业务名称", Column::BusinessName),
    ("业务类型", Column::BusinessType),
    ("收支类型", Column::Direction),
    ("收支金额(元)", Column::Amount),
    ("账户结余(元)", Column::Balance),
    ("资金变更提交申请人", Column::Initiator),
    ("备注", Column::Remark),
    ("业务凭证号", Column::VoucherNo),
];

const TRADE_REQUIRED: &[Column] = &[
    Column::TradeTime,
    Column::TransactionId,
    Column::OutTradeNo,
    Column::TradeState,
];
const FUND_FLOW_REQUIRED: &[Column] = &[Column::BookingTime, Column::Direction, Column::Amount];

/// What a summary column states, to be compared with what the rows give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    /// The number of data rows.
    Count,
    /// The sum of a money column over all rows.
    Sum(Column),
    /// Fund flow: rows and money in (收入) or out (支出).
    DirectionCount(Direction),
    DirectionSum(Direction),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Income,
    Expense,
}

impl Total {
    /// The snake_case name used in output.
    pub fn name(self) -> &'static str {
        match self {
            Total::Count => "count",
            Total::Sum(column) => column.name(),
            Total::DirectionCount(Direction::Income) => "income_count",
            Total::DirectionCount(Direction::Expense) => "expense_count",
            Total::DirectionSum(Direction::Income) => "income",
            Total::DirectionSum(Direction::Expense) => "expense",
        }
    }

    pub fn is_count(self) -> bool {
        matches!(self, Total::Count | Total::DirectionCount(_))
    }
}

/// Summary header names. The new format's 退款总金额 sums the settlement refunds; the
/// legacy 总退款金额 sums its only refund column. Whether the legacy 总交易额 counts refund
/// rows' 总金额 is UNCONFIRMED (no legacy sample has a refund): here it sums every row.
const TRADE_SUMMARY_NAMES: &[(&str, Total)] = &[
    ("总交易单数", Total::Count),
    ("应结订单总金额", Total::Sum(Column::SettlementTotalFee)),
    ("退款总金额", Total::Sum(Column::SettlementRefundFee)),
    (
        "充值券退款总金额",
        Total::Sum(Column::RechargeCouponRefundFee),
    ),
    ("手续费总金额", Total::Sum(Column::Fee)),
    ("订单总金额", Total::Sum(Column::TotalFee)),
    ("申请退款总金额", Total::Sum(Column::RefundFee)),
    ("总交易额", Total::Sum(Column::TotalFee)),
    ("总退款金额", Total::Sum(Column::RefundFee)),
    (
        "总代金券或立减优惠退款金额",
        Total::Sum(Column::CouponRefundFee),
    ),
    ("总企业红包退款金额", Total::Sum(Column::CouponRefundFee)),
];

const FUND_FLOW_SUMMARY_NAMES: &[(&str, Total)] = &[
    ("资金流水总笔数", Total::Count),
    ("收入笔数", Total::DirectionCount(Direction::Income)),
    ("收入金额", Total::DirectionSum(Direction::Income)),
    ("支出笔数", Total::DirectionCount(Direction::Expense)),
    ("支出金额", Total::DirectionSum(Direction::Expense)),
];

/// Trade bill (交易账单) or fund-flow bill (资金账单).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillKind {
    Trade,
    FundFlow,
}

/// A bill's columns, found from its header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub kind: BillKind,
    /// The names as the header gave them, in order.
    pub header: Vec<String>,
    /// The column at each position.
    pub columns: Vec<Column>,
    index: [Option<u8>; Column::COUNT],
}

/// Why a header line is not one we know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownHeader {
    pub reason: String,
}

impl fmt::Display for UnknownHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; expected a trade bill header (ALL, SUCCESS, REFUND or RECHARGE_REFUND, new or legacy) \
             with columns from: {}; or a fund-flow header with columns from: {}",
            self.reason,
            names(TRADE_NAMES),
            names(FUND_FLOW_NAMES)
        )
    }
}

fn names<T>(table: &[(&str, T)]) -> String {
    table
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(",")
}

/// The most columns any known header has (29, REFUND); headers past this are refused.
pub const MAX_COLUMNS: usize = 40;

/// Header names compare with half-width parentheses and without surrounding spaces.
fn normalise(name: &str) -> String {
    name.trim().replace('（', "(").replace('）', ")")
}

fn lookup<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

impl Layout {
    /// Reads a header line (without BOM or line end).
    pub fn from_header(line: &str) -> Result<Layout, UnknownHeader> {
        let header: Vec<String> = line.split(',').map(normalise).collect();
        if header.len() > MAX_COLUMNS {
            return Err(UnknownHeader {
                reason: format!("the header has {} columns", header.len()),
            });
        }
        let kind = if header.iter().any(|n| lookup(FUND_FLOW_NAMES, n).is_some()) {
            BillKind::FundFlow
        } else {
            BillKind::Trade
        };
        let (table, required) = match kind {
            BillKind::Trade => (TRADE_NAMES, TRADE_REQUIRED),
            BillKind::FundFlow => (FUND_FLOW_NAMES, FUND_FLOW_REQUIRED),
        };
        let unknown: Vec<&str> = header
            .iter()
            .filter(|n| lookup(table, n).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(UnknownHeader {
                reason: format!("unknown column(s) {}", quoted(&unknown)),
            });
        }
        let legacy = kind == BillKind::Trade && !header.iter().any(|n| n == "应结订单金额");
        let mut columns = Vec::with_capacity(header.len());
        let mut index = [None; Column::COUNT];
        for (position, name) in header.iter().enumerate() {
            let mut column = lookup(table, name).expect("checked above");
            if legacy && column == Column::SettlementRefundFee {
                column = Column::RefundFee;
            }
            if index[column as usize].is_some() {
                return Err(UnknownHeader {
                    reason: format!("column {name:?} (or another name for it) appears twice"),
                });
            }
            index[column as usize] = Some(position as u8);
            columns.push(column);
        }
        let missing: Vec<&str> = required
            .iter()
            .filter(|c| index[**c as usize].is_none())
            .map(|c| c.name())
            .collect();
        if !missing.is_empty() {
            return Err(UnknownHeader {
                reason: format!("the header lacks {}", missing.join(", ")),
            });
        }
        debug_assert!(
            columns
                .iter()
                .all(|c| c.is_fund_flow() == (kind == BillKind::FundFlow))
        );
        Ok(Layout {
            kind,
            header,
            columns,
            index,
        })
    }

    /// The position of a column, if the bill has it.
    pub fn position(&self, column: Column) -> Option<usize> {
        self.index[column as usize].map(usize::from)
    }

    pub fn has(&self, column: Column) -> bool {
        self.position(column).is_some()
    }

    /// A name for the variant, for people: `ALL`, `legacy SUCCESS`, `fund flow` …
    pub fn variant(&self) -> &'static str {
        let legacy = !self.has(Column::SettlementTotalFee);
        match self.kind {
            BillKind::FundFlow => "fund flow",
            BillKind::Trade if self.header.iter().any(|n| n == "返还手续费") => {
                "RECHARGE_REFUND"
            }
            BillKind::Trade => match (
                legacy,
                self.has(Column::RefundApplyTime),
                self.has(Column::RefundId),
            ) {
                (false, true, _) => "REFUND",
                (false, false, true) => "ALL",
                (false, false, false) => "SUCCESS",
                (true, true, _) => "legacy REFUND",
                (true, false, true) => "legacy ALL",
                (true, false, false) => "legacy SUCCESS",
            },
        }
    }

    /// Reads the summary header line that follows the data rows.
    pub fn summary_from_header(&self, line: &str) -> Result<Vec<Total>, UnknownHeader> {
        let table = match self.kind {
            BillKind::Trade => TRADE_SUMMARY_NAMES,
            BillKind::FundFlow => FUND_FLOW_SUMMARY_NAMES,
        };
        let mut totals = Vec::new();
        for name in line.split(',').map(normalise) {
            let mut total = lookup(table, &name).ok_or_else(|| UnknownHeader {
                reason: format!(
                    "unknown summary column {name:?}; expected columns from: {}",
                    names(table)
                ),
            })?;
            // 退款总金额 sums 退款金额, which is the refund itself in a legacy bill.
            let legacy = !self.has(Column::SettlementTotalFee);
            if total == Total::Sum(Column::SettlementRefundFee) && legacy {
                total = Total::Sum(Column::RefundFee);
            }
            if totals.contains(&total) {
                return Err(UnknownHeader {
                    reason: format!("summary column {name:?} appears twice"),
                });
            }
            totals.push(total);
            if totals.len() > MAX_COLUMNS {
                return Err(UnknownHeader {
                    reason: "the summary header has too many columns".into(),
                });
            }
        }
        Ok(totals)
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bill::format::{
        ALL_HEADER, FUND_FLOW_HEADER, FUND_FLOW_SUMMARY_HEADER, RECHARGE_REFUND_HEADER,
        REFUND_HEADER, SUCCESS_HEADER, SUMMARY_HEADER,
    };

    const LEGACY_ALL: &str = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,代金券或立减优惠金额,微信退款单号,商户退款单号,退款金额,代金券或立减优惠退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率";
    const LEGACY_SUCCESS: &str = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,代金券或立减优惠金额,商品名称,商户数据包,手续费,费率";
    const LEGACY_REFUND: &str = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,代金券或立减优惠金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,代金券或立减优惠退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率";
    const FUND_FLOW_HALF_WIDTH: &str = "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号";

    fn layout(header: &str) -> Layout {
        Layout::from_header(header).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_known_header_is_recognised_with_its_variant() {
        for (header, variant, columns) in [
            (ALL_HEADER.join(","), "ALL", 27),
            (SUCCESS_HEADER.join(","), "SUCCESS", 20),
            (REFUND_HEADER.join(","), "REFUND", 29),
            (RECHARGE_REFUND_HEADER.join(","), "RECHARGE_REFUND", 28),
            (LEGACY_ALL.to_owned(), "legacy ALL", 24),
            (LEGACY_SUCCESS.to_owned(), "legacy SUCCESS", 18),
            (LEGACY_REFUND.to_owned(), "legacy REFUND", 26),
            (
                LEGACY_ALL.replace("代金券或立减优惠", "企业红包"),
                "legacy ALL",
                24,
            ),
            (FUND_FLOW_HEADER.join(","), "fund flow", 11),
            (FUND_FLOW_HALF_WIDTH.to_owned(), "fund flow", 11),
        ] {
            let layout = layout(&header);
            assert_eq!(layout.variant(), variant, "{header}");
            assert_eq!(layout.columns.len(), columns);
        }
    }

    #[test]
    fn the_refund_amount_column_depends_on_the_format() {
        let new = layout(&ALL_HEADER.join(","));
        assert_eq!(new.position(Column::SettlementRefundFee), Some(16));
        assert_eq!(new.position(Column::RefundFee), Some(25));
        let legacy = layout(LEGACY_ALL);
        assert_eq!(legacy.position(Column::RefundFee), Some(16));
        assert!(!legacy.has(Column::SettlementRefundFee));
        assert_eq!(legacy.position(Column::TotalFee), Some(12));
        assert_eq!(
            legacy
                .summary_from_header(
                    "总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额"
                )
                .unwrap(),
            [
                Total::Count,
                Total::Sum(Column::TotalFee),
                Total::Sum(Column::RefundFee),
                Total::Sum(Column::CouponRefundFee),
                Total::Sum(Column::Fee)
            ]
        );
        assert_eq!(
            new.summary_from_header(&SUMMARY_HEADER.join(",")).unwrap()[2],
            Total::Sum(Column::SettlementRefundFee)
        );
        let flow = layout(FUND_FLOW_HALF_WIDTH);
        assert_eq!(
            flow.summary_from_header(&FUND_FLOW_SUMMARY_HEADER.join(","))
                .unwrap()
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>(),
            [
                "count",
                "income_count",
                "income",
                "expense_count",
                "expense"
            ]
        );
    }

    #[test]
    fn columns_are_found_by_name_in_any_order() {
        let mut names = ALL_HEADER.to_vec();
        names.reverse();
        let layout = layout(&names.join(","));
        assert_eq!(layout.position(Column::TradeTime), Some(26));
        assert_eq!(layout.variant(), "ALL");
    }

    #[test]
    fn unknown_headers_say_what_was_expected() {
        for (header, needle) in [
            ("a,b,c", "unknown column(s) \"a\", \"b\", \"c\""),
            ("交易时间,商户订单号,交易状态", "lacks transaction_id"),
            ("交易时间,交易时间,微信订单号,商户订单号,交易状态", "twice"),
            (
                "记账时间,收支类型,收支金额（元）,交易时间",
                "unknown column(s) \"交易时间\"",
            ),
        ] {
            let error = Layout::from_header(header).unwrap_err().to_string();
            assert!(error.contains(needle), "{error}");
            assert!(
                error.contains("应结订单金额") && error.contains("记账时间"),
                "{error}"
            );
        }
        let trade = layout(&ALL_HEADER.join(","));
        assert!(trade.summary_from_header("总交易单数,x").is_err());
        assert!(trade.summary_from_header("总交易单数,总交易单数").is_err());
    }
}
