//! The parser against every sample of reference A6.6, the real fixture, each header variant,
//! the line conventions, bad input and arbitrary bytes.

use std::convert::Infallible;
use std::io::Write;

use super::format::{ALL_HEADER, SUMMARY_HEADER};
use super::layout::{Column, Total};
use super::parse::{BillError, BillRecord, ParseError, Parser, Quantity, Report, read};
use crate::wechat::{BillAmount, Fen};

/// A record copied out of the parser: (column, value) in file order, plus its line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    line: u64,
    fields: Vec<(Column, String)>,
    total_fee: Fen,
    refund_fee: Fen,
    fee: BillAmount,
}

impl Row {
    fn of(record: &BillRecord<'_>) -> Row {
        Row {
            line: record.line(),
            fields: record.fields().map(|(c, v)| (c, v.to_owned())).collect(),
            total_fee: record.total_fee(),
            refund_fee: record.refund_fee(),
            fee: record.fee(),
        }
    }

    fn get(&self, column: Column) -> &str {
        self.fields
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no column {column:?}"))
    }
}

fn parse(bytes: &[u8]) -> Result<(Vec<Row>, Report), BillError> {
    let mut rows = Vec::new();
    let report = read(bytes, |record: &BillRecord<'_>| {
        rows.push(Row::of(record));
        Ok::<(), Infallible>(())
    })
    .map_err(|e| match e {
        ParseError::Bill(e) => e,
        ParseError::Visit(never) => match never {},
    })?;
    Ok((rows, report))
}

fn parse_ok(bytes: &[u8]) -> (Vec<Row>, Report) {
    parse(bytes).unwrap_or_else(|e| panic!("{e}"))
}

fn parse_err(bytes: &[u8]) -> BillError {
    match parse(bytes) {
        Ok((rows, _)) => panic!("parsed {} rows of a bad bill", rows.len()),
        Err(e) => e,
    }
}

fn money(text: &str) -> Quantity {
    Quantity::Money(BillAmount::parse(text).unwrap())
}

/// The (stated, computed) pairs that differ, by output name.
fn mismatches(report: &Report) -> Vec<(&'static str, Quantity, Quantity)> {
    report
        .mismatches()
        .map(|c| (c.total.name(), c.stated, c.computed))
        .collect()
}

fn real_fixture() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/real/bill.ALL.probe.csv"
    );
    std::fs::read(path).expect("the real fixture is beside the repository")
}

#[test]
fn the_real_probe_bill_parses_with_bom_crlf_and_float_counts() {
    let bytes = real_fixture();
    let (rows, report) = parse_ok(&bytes);
    assert_eq!(rows.len(), 45);
    assert_eq!(report.rows, 45);
    assert_eq!(report.bytes, bytes.len() as u64);
    assert_eq!(report.layout.variant(), "ALL");
    let first = &rows[0];
    assert_eq!(first.line, 2);
    assert_eq!(first.get(Column::TradeTime), "2019-02-19 05:01:46");
    assert_eq!(
        first.get(Column::OutTradeNo),
        "autotest_20190216081946_82335"
    );
    assert_eq!(first.get(Column::TradeState), "REFUND");
    assert_eq!(first.get(Column::RefundId), "50000709672019011908420787722");
    assert_eq!(first.get(Column::RefundStatus), "SUCCESS");
    assert_eq!(
        first.get(Column::Body),
        "系统拨测-cheeryin-test_micropay_succ"
    );
    assert_eq!(first.get(Column::RateNote), "");
    assert_eq!((first.total_fee, first.refund_fee), (Fen(0), Fen(1)));
    let third = &rows[2];
    assert_eq!(third.get(Column::TradeState), "SUCCESS");
    assert_eq!(third.get(Column::DeviceInfo), "");
    assert_eq!(third.total_fee, Fen(3));
    assert_eq!(third.fee, BillAmount::parse("0.01000").unwrap());
    assert_eq!(third.get(Column::Rate), "39.00%");
    let last = rows.last().unwrap();
    assert_eq!(last.line, 46);
    assert_eq!(
        last.get(Column::OutTradeNo),
        "autotest_20190219015157_13391"
    );
    let refunds = rows
        .iter()
        .filter(|r| r.get(Column::TradeState) == "REFUND")
        .count();
    assert_eq!(refunds, 14);
    // Summary `45.0,0.47,0.14,0.0,0.08,0.47,0.14`, and the rows add up to it.
    assert!(report.is_consistent(), "{:?}", mismatches(&report));
    assert_eq!(report.stated(Total::Count), Some(Quantity::Count(45)));
    assert_eq!(
        report.stated(Total::Sum(Column::SettlementTotalFee)),
        Some(money("0.47"))
    );
    assert_eq!(report.stated(Total::Sum(Column::Fee)), Some(money("0.08")));
    assert_eq!(
        report.stated(Total::Sum(Column::RefundFee)),
        Some(money("0.14"))
    );
}

const WXJAVA_ALL: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注
`2019-07-25 08:35:41,`WWWW,`XXXXXXXX,`0,`,`XXXXXXXXXXXXX,`XXXXXXXXXX,`XXXXXXXXXXX,`JSAPI,`SUCCESS,`PSBC_DEBIT,`CNY,`6.00,`0.00,`0,`0,`0.00,`0.00,`,`,`XXXXXX,`XXXXXXX,`0.04000,`0.60%,`6.00,`0.00,`
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额
`48,`5.76,`1.42,`0.00,`0.01000,`5.76,`1.42";

const WXJAVA_SUCCESS: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注
`2019-07-23 18:46:41,`XXXX,`XXX,`XXX,`,`XXX,`XXX,`XXX,`JSAPI,`SUCCESS,`CFT,`CNY,`0.01,`0.00,`XXX,`XXXX,`0.00000,`0.60%,`0.01,`
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额
`31,`3.05,`0.00,`0.00,`0.02000,`3.05,`0.00";

const WXJAVA_REFUND: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注
`2019-07-23 20:53:36,`xxx,`xxx,`xxx,`,`xxx,`xxxx,`xxxxx,`JSAPI,`REFUND,`CFT,`CNY,`0.00,`0.00,`2019-07-23 20:53:36,`2019-07-23 20:53:40,`xxxx,`xxx,`0.01,`0.00,`ORIGINAL,`SUCCESS,`xxxx,`xxxx,`0.00000,`0.60%,`0.00,`0.01,`
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额
`4,`0.00,`2.02,`0.00,`-0.02000,`0.00,`2.02";

const LEGACY_ALL: &str = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,代金券或立减优惠金额,微信退款单号,商户退款单号,退款金额,代金券或立减优惠退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率
`2014-11-10 16：33：45,`wx2421b1c4370ec43b,`10000100,`0,`1000,`1001690740201411100005734289,`1415640626,`085e9858e3ba5186aafcbaed1,`MICROPAY,`SUCCESS,`OTHERS,`CNY,`0.01,`0.0,`0,`0,`0,`0,`,`,`被扫支付测试,`订单额外描述,`0,`0.60%
`2014-11-10 16：46：14,`wx2421b1c4370ec43b,`10000100,`0,`1000,`1002780740201411100005729794,`1415635270,`085e9858e90ca40c0b5aee463,`MICROPAY,`SUCCESS,`OTHERS,`CNY,`0.01,`0.0,`0,`0,`0,`0,`,`,`被扫支付测试,`订单额外描述,`0,`0.60%
总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额
`2,`0.02,`0.0,`0.0,`0";

const GUNSLUO_ALL: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注
`2021-01-28 17:07:11,`wx81be3101902f7cb2,`1601959334,`0,`,`4200000925202101284997714292,`S20210128170702357723,`ofyak5qR_1wYsC99CsWA6R9MJazA,`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`for testing,`cipher code,`0.00000,`1.00%,`0.01,`0.00,`
`2021-01-28 15:35:18,`wx81be3101902f7cb2,`1601959334,`0,`,`4200000910202101282955148400,`S20210128153505214586,`ofyak5qR_1wYsC99CsWA6R9MJazA,`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`for testing,`cipher code,`0.00000,`1.00%,`0.01,`0.00,`
`2021-01-28 16:59:46,`wx81be3101902f7cb2,`1601959334,`0,`,`4200000926202101281412639609,`S20210128165824499930,`ofyak5qR_1wYsC99CsWA6R9MJazA,`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`for testing,`cipher code,`0.00000,`1.00%,`0.01,`0.00,`
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额
`3,`0.03,`0.00,`0.00,`0.00000,`0.03,`0.00
";

const GUNSLUO_REFUND: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注
`2021-01-24 16:16:25,`wx81be3101902f7cb2,`1601959334,`0,`,`4200000844202101245866928772,`S20210124161554311546,`ofyak5qR_1wYsC99CsWA6R9MJazA,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`2021-02-01 14:33:21,`2021-02-01 14:33:24,`50300807172021020106006664916,`S20210201143320649393,`0.01,`0.00,`ORIGINAL,`SUCCESS,`for testing,`cipher code,`0.00000,`1.00%,`0.00,`0.01,`
`2021-01-19 16:31:18,`wx81be3101902f7cb2,`1601959334,`0,`,`4200000846202101197461830397,`S20210119083100844726118382,`ofyak5qR_1wYsC99CsWA6R9MJazA,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`2021-02-01 14:00:45,`2021-02-01 14:00:50,`50300907032021020105978998710,`S20210201140044552846,`0.01,`0.00,`ORIGINAL,`SUCCESS,`Package Venue,`,`0.00000,`1.00%,`0.00,`0.01,`
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额
`2,`0.00,`0.02,`0.00,`0.00000,`0.00,`0.02
";

const SANDBOX_2016_ROW: &str = "`2016-05-04  02:18:18,`wxf7c30a8258df4208,`10014843,`0,`harryma007,`4.00123E+27,`autotest_20160501030456_45023,`oT2kauIMXH398DZBeJ4m22CuSDQ0,`NATIVE,`REFUND,`PAB_DEBIT,`CNY,`0,`0,`2.00123E+27,`REF4001232001201605015390231647,`0.01,`0,`ORIGINAL,`PROCESSING,`body中文测试,`attach中文测试,`0,`0.60%,`0,`0.01,`";

const FUND_FLOW_OFFICIAL: &str = "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,资金变更提交申请人,备注,业务凭证号
`2018-02-01 04:21:23,`50000305742018020103387128253,`1900009231201802015884652186,`退款,`退款,`支出,`0.02,`0.17,`system,`缺货,`REF4200000068201801293084726067
资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额
`20.0,`17.0,`0.35,`3.0,`0.18";

const FUND_FLOW_V3: &str = "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号
`2021-02-01 13:54:01,`50300806962021020105978994968,`4200000920202101197964319284,`退款,`退款,`支出,`0.01,`0.22,`1601959334API,`退款总金额0.01元;含手续费0.00元,`S20210201135356381941
`2021-02-01 14:00:45,`50300907032021020105978998710,`4200000846202101197461830397,`退款,`退款,`支出,`0.01,`0.21,`1601959334API,`退款总金额0.01元;含手续费0.00元,`S20210201140044552846
资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额
`3,`1,`0.01,`2,`0.02
";

#[test]
fn wxjava_samples_parse_and_their_excerpted_summaries_are_reported() {
    let (rows, report) = parse_ok(WXJAVA_ALL.as_bytes());
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.get(Column::BankType), "PSBC_DEBIT");
    assert_eq!(row.get(Column::Body), "XXXXXX");
    assert_eq!(row.get(Column::Attach), "XXXXXXX");
    assert_eq!(row.get(Column::RateNote), "");
    assert_eq!(row.total_fee, Fen(600));
    assert_eq!(row.fee, BillAmount(4000));
    // The sample is one row of a 48-row bill: every total differs, and says so with numbers.
    assert_eq!(
        mismatches(&report),
        [
            ("count", Quantity::Count(48), Quantity::Count(1)),
            ("settlement_total_fee", money("5.76"), money("6.00")),
            ("settlement_refund_fee", money("1.42"), money("0")),
            ("fee", money("0.01"), money("0.04")),
            ("total_fee", money("5.76"), money("6.00")),
            ("refund_fee", money("1.42"), money("0")),
        ]
    );

    let (rows, report) = parse_ok(WXJAVA_SUCCESS.as_bytes());
    assert_eq!(report.layout.variant(), "SUCCESS");
    assert_eq!(rows[0].total_fee, Fen(1));
    assert_eq!(rows[0].get(Column::SubMchId), "XXX");
    // A SUCCESS bill has no refund columns; its summary's refund totals sum to zero.
    assert_eq!(mismatches(&report).len(), 4);
    assert!(mismatches(&report).iter().all(|m| m.0 != "refund_fee"));

    let (rows, report) = parse_ok(WXJAVA_REFUND.as_bytes());
    assert_eq!(report.layout.variant(), "REFUND");
    let row = &rows[0];
    assert_eq!(row.get(Column::RefundApplyTime), "2019-07-23 20:53:36");
    assert_eq!(row.get(Column::RefundSuccessTime), "2019-07-23 20:53:40");
    assert_eq!(row.refund_fee, Fen(1));
    assert!(mismatches(&report).contains(&("fee", money("-0.02000"), money("0"))));
}

#[test]
fn the_legacy_bill_with_full_width_colons_is_consistent() {
    let (rows, report) = parse_ok(LEGACY_ALL.as_bytes());
    assert_eq!(report.layout.variant(), "legacy ALL");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get(Column::TradeTime), "2014-11-10 16：33：45");
    assert_eq!(rows[0].get(Column::SubMchId), "0");
    assert_eq!(rows[0].get(Column::CouponFee), "0.0");
    assert_eq!(rows[1].get(Column::OutTradeNo), "1415635270");
    assert_eq!(rows[1].total_fee, Fen(1));
    assert_eq!(rows[1].refund_fee, Fen(0));
    assert_eq!(rows[1].get(Column::Rate), "0.60%");
    assert!(report.is_consistent(), "{:?}", mismatches(&report));
    assert_eq!(
        report.stated(Total::Sum(Column::TotalFee)),
        Some(money("0.02"))
    );
}

#[test]
fn gunsluo_samples_are_consistent() {
    let (rows, report) = parse_ok(GUNSLUO_ALL.as_bytes());
    assert_eq!(rows.len(), 3);
    assert!(report.is_consistent(), "{:?}", mismatches(&report));
    assert_eq!(rows[1].get(Column::OutTradeNo), "S20210128153505214586");
    assert_eq!(rows[1].get(Column::Attach), "cipher code");

    let (rows, report) = parse_ok(GUNSLUO_REFUND.as_bytes());
    assert!(report.is_consistent(), "{:?}", mismatches(&report));
    assert_eq!(rows[1].get(Column::OutRefundNo), "S20210201140044552846");
    assert_eq!(rows[1].get(Column::Attach), "");
    assert_eq!(rows[1].refund_fee, Fen(1));
    assert_eq!(
        report.stated(Total::Sum(Column::RefundFee)),
        Some(money("0.02"))
    );
}

#[test]
fn the_2016_sandbox_row_keeps_its_mangled_ids_and_processing_state() {
    let bill = format!(
        "{}\n{SANDBOX_2016_ROW}\n{}\n`1,`0,`0.01,`0,`0,`0,`0.01\n",
        ALL_HEADER.join(","),
        SUMMARY_HEADER.join(",")
    );
    let (rows, report) = parse_ok(bill.as_bytes());
    let row = &rows[0];
    assert_eq!(row.get(Column::TradeTime), "2016-05-04  02:18:18");
    assert_eq!(row.get(Column::TransactionId), "4.00123E+27");
    assert_eq!(row.get(Column::RefundStatus), "PROCESSING");
    assert_eq!(row.get(Column::Body), "body中文测试");
    assert_eq!(row.refund_fee, Fen(1));
    assert!(report.is_consistent(), "{:?}", mismatches(&report));
}

#[test]
fn fund_flow_bills_with_either_parenthesis() {
    let (rows, report) = parse_ok(FUND_FLOW_OFFICIAL.as_bytes());
    assert_eq!(report.layout.variant(), "fund flow");
    let row = &rows[0];
    assert_eq!(row.get(Column::Direction), "支出");
    assert_eq!(row.get(Column::Remark), "缺货");
    assert_eq!(
        row.get(Column::VoucherNo),
        "REF4200000068201801293084726067"
    );
    assert_eq!(
        mismatches(&report),
        [
            ("count", Quantity::Count(20), Quantity::Count(1)),
            ("income_count", Quantity::Count(17), Quantity::Count(0)),
            ("income", money("0.35"), money("0")),
            ("expense_count", Quantity::Count(3), Quantity::Count(1)),
            ("expense", money("0.18"), money("0.02")),
        ]
    );

    let mut by_direction = Vec::new();
    let report = read(FUND_FLOW_V3.as_bytes(), |record: &BillRecord<'_>| {
        by_direction.push((
            record.get(Column::Direction).unwrap().to_owned(),
            record.fen(Column::Amount).unwrap(),
            record.fen(Column::Balance).unwrap(),
            record.trade_time().to_owned(),
            record.transaction_id().to_owned(),
        ));
        Ok::<(), Infallible>(())
    })
    .unwrap();
    assert_eq!(by_direction[1].0, "支出");
    assert_eq!((by_direction[1].1, by_direction[1].2), (Fen(1), Fen(21)));
    assert_eq!(by_direction[1].3, "2021-02-01 14:00:45");
    assert_eq!(by_direction[1].4, "50300907032021020105978998710");
    // The sample leaves out the day's one income row.
    assert_eq!(
        mismatches(&report),
        [
            ("count", Quantity::Count(3), Quantity::Count(2)),
            ("income_count", Quantity::Count(1), Quantity::Count(0)),
            ("income", money("0.01"), money("0")),
        ]
    );
}

/// A fund-flow day of four rows whose balance runs from 10.00: in 6.00, out 0.04 (the fee),
/// in 1.00, out 2.98 (a refund).
const FUND_FLOW_RUNNING: &str = "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,资金变更提交申请人,备注,业务凭证号
`2026-11-20 12:00:00,`4200000001,`1900000109202611200000000001,`交易,`交易,`收入,`6.00,`16.00,`system,`,`T1
`2026-11-20 12:00:00,`4200000001,`1900000109202611200000000002,`扣除交易手续费,`扣除交易手续费,`支出,`0.04,`15.96,`system,`,`T1
`2026-11-20 12:00:02,`4200000002,`1900000109202611200000000003,`交易,`交易,`收入,`1.00,`16.96,`system,`,`T2
`2026-11-20 12:00:05,`5030000001,`1900000109202611200000000004,`退款,`退款,`支出,`2.98,`13.98,`1900000109API,`退款总金额3.00元;含手续费0.02元,`R1
资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额
`4,`2,`7.00,`2,`3.02
";

#[test]
fn a_fund_flow_running_balance_is_checked_row_by_row() {
    let (_, report) = parse_ok(FUND_FLOW_RUNNING.as_bytes());
    assert!(report.is_consistent(), "{:?}", report.first_balance_break);
    assert_eq!(report.balance_breaks, 0);

    // One balance altered: its row, and the row after it, no longer follow.
    let altered = FUND_FLOW_RUNNING.replace("`16.96,", "`16.90,");
    let (_, report) = parse_ok(altered.as_bytes());
    assert!(mismatches(&report).is_empty(), "the summary still holds");
    assert!(!report.is_consistent());
    assert_eq!(report.balance_breaks, 2);
    let first = report.first_balance_break.unwrap();
    assert_eq!(first.line, 4);
    assert_eq!(
        (first.before, first.moved, first.stated, first.expected()),
        (
            BillAmount::parse("15.96").unwrap(),
            BillAmount::parse("1.00").unwrap(),
            BillAmount::parse("16.90").unwrap(),
            BillAmount::parse("16.96").unwrap(),
        )
    );

    // Rows listed out of the order they were booked in: the balance breaks where the
    // refund comes before the payment it was booked after.
    let lines: Vec<&str> = FUND_FLOW_RUNNING.lines().collect();
    let swapped = [
        lines[0], lines[1], lines[2], lines[4], lines[3], lines[5], lines[6],
    ]
    .join("\n");
    let (_, report) = parse_ok(swapped.as_bytes());
    assert_eq!(report.balance_breaks, 2);
    assert_eq!(report.first_balance_break.unwrap().line, 4);
    let moved = report.first_balance_break.unwrap().moved;
    assert_eq!(
        moved,
        BillAmount::parse("-2.98").unwrap(),
        "an expense moves out"
    );

    // A trade bill has no running balance.
    let (_, report) = parse_ok(&real_fixture());
    assert_eq!(
        (report.balance_breaks, report.first_balance_break),
        (0, None)
    );
}

#[test]
fn other_header_variants_parse_by_name() {
    let recharge = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,返还手续费,费率,订单金额,申请退款金额
`2021-01-24 16:16:25,`wx1,`1601959334,`0,`,`4200000844,`S1,`o1,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`2021-02-01 14:33:21,`2021-02-01 14:33:24,`503008,`R1,`0.00,`1.00,`ORIGINAL,`SUCCESS,`coupon,`,`-0.01000,`1.00%,`0.00,`1.00
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额
`1,`0.00,`0.00,`1.00,`-0.01000,`0.00,`1.00
";
    let (rows, report) = parse_ok(recharge.as_bytes());
    assert_eq!(report.layout.variant(), "RECHARGE_REFUND");
    assert_eq!(rows[0].fee, BillAmount(-1000));
    assert_eq!(rows[0].refund_fee, Fen(100));
    assert!(report.is_consistent(), "{:?}", mismatches(&report));

    let red_packet = LEGACY_ALL.replace("代金券或立减优惠", "企业红包");
    let (rows, report) = parse_ok(red_packet.as_bytes());
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get(Column::CouponFee), "0.0");
    assert!(report.is_consistent(), "{:?}", mismatches(&report));
}

#[test]
fn line_conventions_bom_crlf_lf_and_no_final_newline_give_the_same_records() {
    let lf = GUNSLUO_ALL.trim_end();
    let expected = parse_ok(lf.as_bytes()).0;
    for bill in [
        format!("{lf}\n"),
        format!("\u{feff}{lf}\n"),
        format!("\u{feff}{}\r\n", lf.replace('\n', "\r\n")),
        lf.replace('\n', "\r\n"),
        format!("{lf}\n\n"),
    ] {
        let (rows, report) = parse_ok(bill.as_bytes());
        assert_eq!(rows, expected, "{bill:?}");
        assert!(report.is_consistent());
        assert_eq!(report.bytes, bill.len() as u64);
    }
}

#[test]
fn commas_inside_product_names_and_attach_stay_in_their_values() {
    let row = "`2021-01-28 17:07:11,`wx1,`1601959334,`0,`,`4200000925,`S1,`o1,`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`苹果,香蕉, and pears,`a=1,b=2,`0.00000,`1.00%,`0.01,`0.00,`";
    let bill = format!(
        "{}\n{row}\n{}\n`1,`0.01,`0.00,`0.00,`0.00000,`0.01,`0.00",
        ALL_HEADER.join(","),
        SUMMARY_HEADER.join(",")
    );
    let (rows, report) = parse_ok(bill.as_bytes());
    assert_eq!(rows[0].get(Column::Body), "苹果,香蕉, and pears");
    assert_eq!(rows[0].get(Column::Attach), "a=1,b=2");
    assert!(report.is_consistent());
}

#[test]
fn any_split_of_the_input_gives_the_same_records() {
    let bytes = real_fixture();
    let whole = parse_ok(&bytes);
    for size in [1, 2, 3, 7, 64, 1000] {
        let mut parser = Parser::new();
        let mut rows = Vec::new();
        let mut visit = |record: &BillRecord<'_>| {
            rows.push(Row::of(record));
            Ok::<(), Infallible>(())
        };
        for piece in bytes.chunks(size) {
            parser.feed(piece, &mut visit).unwrap();
        }
        let report = parser.finish(&mut visit).unwrap();
        assert_eq!((rows, report), whole, "pieces of {size}");
    }
}

#[test]
fn gzip_is_detected_by_its_magic_bytes() {
    let bytes = real_fixture();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&bytes).unwrap();
    let gzip = encoder.finish().unwrap();
    let (rows, report) = parse_ok(&gzip);
    assert_eq!(rows.len(), 45);
    assert_eq!(report.bytes, bytes.len() as u64);
    let cut = parse_err(&gzip[..gzip.len() / 2]);
    assert!(matches!(cut, BillError::Gzip { .. }), "{cut}");
    assert!(cut.to_string().contains("cut short"), "{cut}");
}

#[test]
fn the_emulators_bills_parse_and_check_out() {
    use crate::bill::format::{BillType, FeeRate};
    use crate::emulator::bills::write_trade_bill;
    use crate::emulator::synth::SyntheticDay;
    let day = SyntheticDay {
        mch_id: "10000100".into(),
        appid: "wx2421b1c4370ec43b".into(),
        bill_date: "20261120".into(),
        trades: 500,
        seed: 7,
    };
    for bill_type in [BillType::All, BillType::Success, BillType::Refund] {
        let mut bytes = Vec::new();
        let summary =
            write_trade_bill(&mut bytes, bill_type, day.clone().into_rows(FeeRate(60))).unwrap();
        let (rows, report) = parse_ok(&bytes);
        assert_eq!(rows.len() as u64, summary.count);
        assert!(report.is_consistent(), "{:?}", mismatches(&report));
        assert_eq!(
            report.stated(Total::Sum(Column::Fee)),
            Some(Quantity::Money(BillAmount::from_fen(summary.fee)))
        );
    }
}

fn error_text(bytes: &[u8]) -> String {
    parse_err(bytes).to_string()
}

#[test]
fn bad_input_is_a_clear_error_naming_the_line() {
    let good = GUNSLUO_ALL.as_bytes();
    // Cut in the middle of the second row.
    let cut = &good[..GUNSLUO_ALL.find("`2021-01-28 15:35:18").unwrap() + 60];
    assert_eq!(
        error_text(cut),
        "the bill ends in the middle of line 3: it was cut short"
    );
    // Cut at a line end, before the summary.
    let cut = &good[..GUNSLUO_ALL.find("总交易单数").unwrap()];
    assert_eq!(
        error_text(cut),
        "the bill ends after line 4 without its summary row: it was cut short"
    );
    // A row with a field too many.
    let extra = GUNSLUO_ALL.replacen("`for testing,", "`for testing,`extra,", 1);
    assert_eq!(
        error_text(extra.as_bytes()),
        "line 2: 28 fields where the header has 27"
    );
    let fewer = GUNSLUO_ALL.replacen("`for testing,`cipher code,", "`for testing cipher code,", 1);
    assert_eq!(
        error_text(fewer.as_bytes()),
        "line 2: 26 fields where the header has 27"
    );
    // A byte that is not UTF-8 (a GBK-encoded name).
    let mut gbk = good.to_vec();
    let at = GUNSLUO_ALL.find("for testing").unwrap();
    gbk[at] = 0xB2;
    let byte = at - GUNSLUO_ALL.find('\n').unwrap();
    assert_eq!(
        error_text(&gbk),
        format!("line 2: not UTF-8 (byte {byte} of the line)")
    );
    // An XML error where a bill was expected.
    let xml = "<xml><return_code><![CDATA[FAIL]]></return_code>\n<return_msg><![CDATA[No Bill Exist]]></return_msg>\n<error_code><![CDATA[20002]]></error_code>\n</xml>";
    assert_eq!(
        error_text(xml.as_bytes()),
        "an XML message where a bill was expected: return_code=FAIL return_msg=No Bill Exist error_code=20002"
    );
    // Money that is not money, and fen split where only fees may be.
    let bad_amount = GUNSLUO_ALL.replacen("`0.01,`0.00,`0,", "`0.0x,`0.00,`0,", 1);
    assert!(
        error_text(bad_amount.as_bytes())
            .starts_with("line 2, column 应结订单金额: \"0.0x\" is not a yuan amount"),
        "{}",
        error_text(bad_amount.as_bytes())
    );
    let sub_fen = GUNSLUO_ALL.replacen("`0.01,`0.00,`0,", "`0.015,`0.00,`0,", 1);
    assert_eq!(
        error_text(sub_fen.as_bytes()),
        "line 2, column 应结订单金额: \"0.015\" has fractions of a fen"
    );
    assert!(error_text(b"").starts_with("empty"));
    assert!(error_text(b"a,b\n").contains("unknown column(s) \"a\", \"b\""));
    let trailing = format!("{GUNSLUO_ALL}`more\n");
    assert_eq!(
        error_text(trailing.as_bytes()),
        "line 7: more lines after the summary row"
    );
    let long = format!("{}\n`{}", ALL_HEADER.join(","), "x".repeat(70_000));
    assert!(error_text(long.as_bytes()).contains("longer than"));
    let count = GUNSLUO_ALL.replace("`3,`0.03", "`3.5,`0.03");
    assert_eq!(
        error_text(count.as_bytes()),
        "line 6: the summary's count is \"3.5\", not a count"
    );
}

#[test]
fn a_visitor_error_stops_the_parse() {
    let mut seen = 0;
    let result = read(GUNSLUO_ALL.as_bytes(), |_: &BillRecord<'_>| {
        seen += 1;
        if seen == 2 { Err("enough") } else { Ok(()) }
    });
    assert!(matches!(result, Err(ParseError::Visit("enough"))));
    assert_eq!(seen, 2);
}

/// Arbitrary bytes, and valid bills with random damage, never panic.
#[test]
fn arbitrary_bytes_never_panic() {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let seeds: Vec<Vec<u8>> = [
        real_fixture(),
        GUNSLUO_ALL.as_bytes().to_vec(),
        LEGACY_ALL.as_bytes().to_vec(),
        FUND_FLOW_OFFICIAL.as_bytes().to_vec(),
        WXJAVA_REFUND.as_bytes().to_vec(),
    ]
    .into();
    let alphabet = b"`,\r\n.-0123456789<>\xEF\xBB\xBF\x1f\x8b\xff a";
    for round in 0..4000 {
        let mut bytes = if round % 5 == 0 {
            let len = rng.random_range(0..300);
            (0..len).map(|_| rng.random()).collect()
        } else {
            seeds[round % seeds.len()].clone()
        };
        for _ in 0..rng.random_range(1..8) {
            if bytes.is_empty() {
                break;
            }
            let at = rng.random_range(0..bytes.len());
            match rng.random_range(0..4) {
                0 => bytes[at] = alphabet[rng.random_range(0..alphabet.len())],
                1 => {
                    bytes.remove(at);
                }
                2 => bytes.insert(at, alphabet[rng.random_range(0..alphabet.len())]),
                _ => bytes.truncate(at),
            }
        }
        // Either outcome is fine; a panic fails the test.
        let _ = parse(&bytes);
        let mut parser = Parser::new();
        let mut visit = |_: &BillRecord<'_>| Ok::<(), Infallible>(());
        let fed = bytes
            .chunks(rng.random_range(1..50))
            .try_for_each(|piece| parser.feed(piece, &mut visit));
        if fed.is_ok() {
            let _ = parser.finish(&mut visit);
        }
    }
}

#[test]
fn the_fast_amount_parser_accepts_exactly_what_bill_amount_does() {
    use super::parse::parse_amount;
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let alphabet = b"-.0123456789 e+";
    let mut cases: Vec<String> = [
        "0",
        "0.0",
        "45.0",
        "-0.02000",
        "0.04000",
        "6.00",
        "1.",
        ".5",
        "-",
        "",
        "--1",
        "1.2.3",
        "0.000001",
        "0.0000010",
        "9999999999999.99999",
        "99999999999999",
        "+1",
        "1e3",
    ]
    .map(String::from)
    .into();
    for _ in 0..20_000 {
        let len = rng.random_range(0..18);
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[rng.random_range(0..alphabet.len())])
            .collect();
        cases.push(String::from_utf8(bytes).unwrap());
    }
    for case in cases {
        assert_eq!(
            parse_amount(case.as_bytes()),
            BillAmount::parse(&case).ok().map(|a| a.0),
            "{case:?}"
        );
    }
}

#[test]
fn fees_in_fen_round_half_away_from_zero() {
    let bill = GUNSLUO_ALL
        .replacen("`0.00000,`1.00%", "`-0.01500,`1.00%", 1)
        .replacen("`0.00000,`1.00%", "`0.00499,`1.00%", 1)
        .replace("`0.00000,`0.03", "`-0.01001,`0.03");
    let mut fees = Vec::new();
    let report = read(bill.as_bytes(), |record: &BillRecord<'_>| {
        fees.push((record.fee(), record.fen(Column::Fee).unwrap()));
        Ok::<(), Infallible>(())
    })
    .unwrap();
    assert_eq!(
        fees,
        [
            (BillAmount(-1500), Fen(-2)),
            (BillAmount(499), Fen(0)),
            (BillAmount(0), Fen(0))
        ]
    );
    assert!(report.is_consistent(), "{:?}", mismatches(&report));
}

#[test]
fn amounts_in_fen_keep_a_fraction_only_where_the_bill_has_one() {
    use super::parse::push_fen;
    let fen = |text: &str| {
        let mut out = String::new();
        push_fen(&mut out, BillAmount::parse(text).unwrap());
        out
    };
    assert_eq!(fen("6.00"), "600");
    assert_eq!(fen("-0.01"), "-1");
    assert_eq!(fen("0.04000"), "4");
    assert_eq!(fen("0.00360"), "0.36");
    assert_eq!(fen("-0.00001"), "-0.001");
    assert_eq!(Quantity::Count(45).fen_json(), serde_json::json!(45));
    let fee = Quantity::Money(BillAmount::parse("0.00360").unwrap());
    assert_eq!(fee.fen_json(), serde_json::json!(0.36));
}

#[test]
fn records_show_money_in_fen() {
    use super::parse::FieldValue;
    let bill = real_fixture();
    let mut first = Vec::new();
    read(&bill[..], |record: &BillRecord<'_>| {
        if first.is_empty() {
            let mut numbers = String::new();
            first = (record.values_in_fen(&mut numbers))
                .map(|value| match value {
                    FieldValue::Text(text) => format!("text {text}"),
                    FieldValue::Fen(fen) => format!("fen {fen}"),
                })
                .collect();
        }
        Ok::<(), Infallible>(())
    })
    .unwrap();
    assert_eq!(first.len(), ALL_HEADER.len());
    assert_eq!(first[0], "text 2019-02-19 05:01:46");
    assert_eq!(first[12], "fen 0", "应结订单金额 0.00");
    assert_eq!(first[16], "fen 1", "退款金额 0.01");
    assert_eq!(first[22], "fen 0", "手续费 0.00000");
}
