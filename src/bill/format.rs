//! Header rows and the line conventions of trade and fund-flow bills: a header line without
//! backticks, data lines whose every field starts with a backtick, UTF-8 with a BOM, CRLF.

use crate::wechat::{BillAmount, Fen};

/// Real bills start with a UTF-8 byte order mark.
pub const BOM: &str = "\u{feff}";
pub const LINE_END: &str = "\r\n";

/// The type of a trade bill, the `bill_type` WeChat Pay is asked for: which trades it lists
/// and under which header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillType {
    All,
    Success,
    Refund,
    /// Refunds of payments made with recharge coupons (充值券).
    RechargeRefund,
}

impl BillType {
    pub const TYPES: [BillType; 4] = [
        BillType::All,
        BillType::Success,
        BillType::Refund,
        BillType::RechargeRefund,
    ];

    pub fn parse(text: &str) -> Option<BillType> {
        match text {
            "ALL" => Some(BillType::All),
            "SUCCESS" => Some(BillType::Success),
            "REFUND" => Some(BillType::Refund),
            "RECHARGE_REFUND" => Some(BillType::RechargeRefund),
            _ => None,
        }
    }

    /// As the API, file names and the manifest spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            BillType::All => "ALL",
            BillType::Success => "SUCCESS",
            BillType::Refund => "REFUND",
            BillType::RechargeRefund => "RECHARGE_REFUND",
        }
    }

    /// Whether a row belongs in a bill of this type.
    pub fn includes(self, row: &TradeRow) -> bool {
        match self {
            BillType::All => true,
            BillType::Success => !row.is_refund(),
            BillType::Refund => row.is_refund(),
            // A row has no recharge coupons, so none is a recharge refund.
            BillType::RechargeRefund => false,
        }
    }

    pub fn header(self) -> &'static [&'static str] {
        match self {
            BillType::All => &ALL_HEADER,
            BillType::Success => &SUCCESS_HEADER,
            BillType::Refund => &REFUND_HEADER,
            BillType::RechargeRefund => &RECHARGE_REFUND_HEADER,
        }
    }
}

/// The new (免充值券) settlement format, the default for merchants since 2018.
pub const ALL_HEADER: [&str; 27] = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
];

pub const SUCCESS_HEADER: [&str; 20] = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "费率备注",
];

pub const REFUND_HEADER: [&str; 29] = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "退款申请时间",
    "退款成功时间",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
];

/// The refund header with 子商户号 and 返还手续费 in place of 特约商户号 and 手续费, and no
/// 费率备注.
pub const RECHARGE_REFUND_HEADER: [&str; 28] = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "子商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "退款申请时间",
    "退款成功时间",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "返还手续费",
    "费率",
    "订单金额",
    "申请退款金额",
];

pub const SUMMARY_HEADER: [&str; 7] = [
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
];

/// Fund-flow bill, as the v2 documentation prints it (full-width parentheses).
pub const FUND_FLOW_HEADER: [&str; 11] = [
    "记账时间",
    "微信支付业务单号",
    "资金流水单号",
    "业务名称",
    "业务类型",
    "收支类型",
    "收支金额（元）",
    "账户结余（元）",
    "资金变更提交申请人",
    "备注",
    "业务凭证号",
];

pub const FUND_FLOW_SUMMARY_HEADER: [&str; 5] = [
    "资金流水总笔数",
    "收入笔数",
    "收入金额",
    "支出笔数",
    "支出金额",
];

/// Appends a header line: names joined by commas, no backticks.
pub fn push_header(out: &mut String, names: &[&str]) {
    out.push_str(&names.join(","));
    out.push_str(LINE_END);
}

/// Appends a data line: every value prefixed with a backtick, joined by commas.
pub fn push_record<S: AsRef<str>>(out: &mut String, values: &[S]) {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('`');
        out.push_str(value.as_ref());
    }
    out.push_str(LINE_END);
}

/// A fee rate in hundredths of a percent (60 = 0.60%).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeRate(pub u32);

impl FeeRate {
    /// The fee on an amount, rounded half up to whole fen as real bills show it
    /// (6.00 at 0.60% is 0.04000, 0.01 is 0.00000).
    pub fn fee(self, amount: Fen) -> Fen {
        let raw = amount.0.abs() * i64::from(self.0);
        Fen(((raw + 5000) / 10000) * amount.0.signum())
    }

    pub fn label(self) -> String {
        format!("{}.{:02}%", self.0 / 100, self.0 % 100)
    }
}

/// One line of a trade bill: a payment (交易状态 SUCCESS) or a refund (REFUND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRow {
    /// 交易时间: payment time on a payment row, refund time on a refund row in ALL bills.
    pub time: String,
    pub appid: String,
    pub mch_id: String,
    /// 特约商户号: the sub-merchant in service-provider mode, empty (written `0`) otherwise.
    pub sub_mch_id: String,
    pub device_info: String,
    pub transaction_id: String,
    pub out_trade_no: String,
    pub openid: String,
    pub trade_type: String,
    pub bank_type: String,
    pub body: String,
    pub attach: String,
    pub total_fee: Fen,
    pub coupon_fee: Fen,
    pub rate: FeeRate,
    pub refund: Option<RefundPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundPart {
    /// The original payment time (交易时间 of REFUND bills).
    pub paid_time: String,
    pub applied_time: String,
    pub success_time: String,
    pub refund_id: String,
    pub out_refund_no: String,
    /// 申请退款金额: the refund asked for, coupon share included.
    pub refund_fee: Fen,
    /// 充值券退款金额: the coupon's share of the refund.
    pub coupon_refund_fee: Fen,
    pub refund_channel: String,
    pub refund_status: String,
}

impl RefundPart {
    /// 退款金额: the refund less its coupon share, as coupons are not settled.
    pub fn settlement_refund(&self) -> Fen {
        Fen(self.refund_fee.0 - self.coupon_refund_fee.0)
    }
}

impl TradeRow {
    pub fn is_refund(&self) -> bool {
        self.refund.is_some()
    }

    /// 应结订单金额: what settles, the total less coupons, on payment rows only.
    pub fn settlement(&self) -> Fen {
        match self.refund {
            None => Fen(self.total_fee.0 - self.coupon_fee.0),
            Some(_) => Fen(0),
        }
    }

    /// 手续费: charged on payments, returned (negative) on refunds.
    pub fn fee(&self) -> Fen {
        match &self.refund {
            None => self.rate.fee(self.settlement()),
            Some(refund) => self.rate.fee(Fen(-refund.settlement_refund().0)),
        }
    }

    /// The values of this row in the column order of `bill_type`.
    pub fn values(&self, bill_type: BillType) -> Vec<String> {
        let zero = || Fen(0).yuan();
        let (refund_id, out_refund_no, refund_fee, channel, status) = match &self.refund {
            Some(r) => (
                r.refund_id.clone(),
                r.out_refund_no.clone(),
                r.refund_fee.yuan(),
                r.refund_channel.clone(),
                r.refund_status.clone(),
            ),
            None => ("0".into(), "0".into(), zero(), String::new(), String::new()),
        };
        let (settlement_refund, coupon_refund) = match &self.refund {
            Some(r) => (r.settlement_refund().yuan(), r.coupon_refund_fee.yuan()),
            None => (zero(), zero()),
        };
        let order_amount = if self.is_refund() {
            zero()
        } else {
            self.total_fee.yuan()
        };
        let time = match (&self.refund, bill_type) {
            (Some(r), BillType::Refund | BillType::RechargeRefund) => r.paid_time.clone(),
            _ => self.time.clone(),
        };
        let mut values = vec![
            time,
            self.appid.clone(),
            self.mch_id.clone(),
            if self.sub_mch_id.is_empty() {
                "0".into()
            } else {
                self.sub_mch_id.clone()
            },
            self.device_info.clone(),
            self.transaction_id.clone(),
            self.out_trade_no.clone(),
            self.openid.clone(),
            self.trade_type.clone(),
            if self.is_refund() {
                "REFUND"
            } else {
                "SUCCESS"
            }
            .into(),
            self.bank_type.clone(),
            "CNY".into(),
            self.settlement().yuan(),
            if self.is_refund() {
                zero()
            } else {
                self.coupon_fee.yuan()
            },
        ];
        let fee = BillAmount::from_fen(self.fee()).format(5);
        match bill_type {
            BillType::All => values.extend([
                refund_id,
                out_refund_no,
                settlement_refund,
                coupon_refund,
                channel,
                status,
                self.body.clone(),
                self.attach.clone(),
                fee,
                self.rate.label(),
                order_amount,
                refund_fee,
                String::new(),
            ]),
            BillType::Success => values.extend([
                self.body.clone(),
                self.attach.clone(),
                fee,
                self.rate.label(),
                order_amount,
                String::new(),
            ]),
            BillType::Refund | BillType::RechargeRefund => {
                let refund = self.refund.as_ref();
                values.extend([
                    refund.map(|r| r.applied_time.clone()).unwrap_or_default(),
                    refund.map(|r| r.success_time.clone()).unwrap_or_default(),
                    refund_id,
                    out_refund_no,
                    settlement_refund,
                    coupon_refund,
                    channel,
                    status,
                    self.body.clone(),
                    self.attach.clone(),
                    fee,
                    self.rate.label(),
                    order_amount,
                    refund_fee,
                ]);
                if bill_type == BillType::Refund {
                    // 费率备注
                    values.push(String::new());
                }
            }
        }
        values
    }
}

/// The summary row, summed as rows are written so a bill of any size streams.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub count: u64,
    pub settlement: Fen,
    pub refund: Fen,
    pub coupon_refund: Fen,
    pub fee: Fen,
    pub order_total: Fen,
    pub refund_requested: Fen,
}

impl Summary {
    pub fn add(&mut self, row: &TradeRow) {
        self.count += 1;
        self.settlement.0 += row.settlement().0;
        self.fee.0 += row.fee().0;
        match &row.refund {
            Some(refund) => {
                self.refund.0 += refund.settlement_refund().0;
                self.coupon_refund.0 += refund.coupon_refund_fee.0;
                self.refund_requested.0 += refund.refund_fee.0;
            }
            None => self.order_total.0 += row.total_fee.0,
        }
    }

    pub fn values(&self) -> [String; 7] {
        [
            self.count.to_string(),
            self.settlement.yuan(),
            self.refund.yuan(),
            self.coupon_refund.yuan(),
            BillAmount::from_fen(self.fee).format(5),
            self.order_total.yuan(),
            self.refund_requested.yuan(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_rounds_half_up_to_whole_fen_like_real_bills() {
        let rate = FeeRate(60);
        assert_eq!(rate.fee(Fen(600)), Fen(4));
        assert_eq!(rate.fee(Fen(1)), Fen(0));
        assert_eq!(rate.fee(Fen(-101)), Fen(-1));
        assert_eq!(rate.label(), "0.60%");
        assert_eq!(FeeRate(3900).label(), "39.00%");
    }

    #[test]
    fn lines_use_backticks_and_crlf() {
        let mut out = String::new();
        push_header(&mut out, &SUMMARY_HEADER);
        push_record(&mut out, &["1", "", "0.01"]);
        assert!(out.ends_with("\r\n`1,`,`0.01\r\n"));
    }

    fn payment() -> TradeRow {
        TradeRow {
            time: "2019-07-25 08:35:41".into(),
            appid: "wx2421b1c4370ec43b".into(),
            mch_id: "10000100".into(),
            sub_mch_id: String::new(),
            device_info: String::new(),
            transaction_id: "4200000263201902167700134212".into(),
            out_trade_no: "T1".into(),
            openid: "oUpF8uMEb4qRXf22hE3X68TekukE".into(),
            trade_type: "JSAPI".into(),
            bank_type: "PSBC_DEBIT".into(),
            body: "body".into(),
            attach: "attach".into(),
            total_fee: Fen(600),
            coupon_fee: Fen(0),
            rate: FeeRate(60),
            refund: None,
        }
    }

    #[test]
    fn a_payment_row_matches_the_wxjava_sample_layout() {
        let values = payment().values(BillType::All);
        assert_eq!(values.len(), ALL_HEADER.len());
        let mut line = String::new();
        push_record(&mut line, &values);
        assert_eq!(
            line,
            "`2019-07-25 08:35:41,`wx2421b1c4370ec43b,`10000100,`0,`,`4200000263201902167700134212,`T1,`oUpF8uMEb4qRXf22hE3X68TekukE,`JSAPI,`SUCCESS,`PSBC_DEBIT,`CNY,`6.00,`0.00,`0,`0,`0.00,`0.00,`,`,`body,`attach,`0.04000,`0.60%,`6.00,`0.00,`\r\n"
        );
        assert_eq!(
            payment().values(BillType::Success).len(),
            SUCCESS_HEADER.len()
        );
    }

    #[test]
    fn refund_rows_and_summary() {
        let mut refund = payment();
        refund.refund = Some(RefundPart {
            paid_time: "2019-07-25 08:35:41".into(),
            applied_time: "2019-07-25 09:00:00".into(),
            success_time: "2019-07-25 09:00:05".into(),
            refund_id: "50000203702017072601461713166".into(),
            out_refund_no: "R1".into(),
            refund_fee: Fen(101),
            coupon_refund_fee: Fen(0),
            refund_channel: "ORIGINAL".into(),
            refund_status: "SUCCESS".into(),
        });
        assert_eq!(refund.values(BillType::Refund).len(), REFUND_HEADER.len());
        assert_eq!(
            refund.values(BillType::RechargeRefund).len(),
            RECHARGE_REFUND_HEADER.len()
        );
        let all = refund.values(BillType::All);
        assert_eq!(all[9], "REFUND");
        assert_eq!(all[12], "0.00");
        assert_eq!(all[16], "1.01");
        assert_eq!(all[22], "-0.01000");
        let mut summary = Summary::default();
        summary.add(&payment());
        summary.add(&refund);
        assert_eq!(
            summary.values(),
            ["2", "6.00", "1.01", "0.00", "0.03000", "6.00", "1.01"].map(String::from)
        );
    }
}
