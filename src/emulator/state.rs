//! Orders and refunds, and the rules that move them between states. No I/O: every method
//! takes the emulator's `now`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use time::{Duration, OffsetDateTime};

use crate::time::{api_time, bill_time};
use crate::wechat::SignType;
use crate::wechat::notify_build::{PaidOrder, RefundResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeState {
    NotPay,
    Success,
    Refund,
    Closed,
    PayError,
}

impl TradeState {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeState::NotPay => "NOTPAY",
            TradeState::Success => "SUCCESS",
            TradeState::Refund => "REFUND",
            TradeState::Closed => "CLOSED",
            TradeState::PayError => "PAYERROR",
        }
    }

    /// `trade_state_desc` as real servers word it.
    pub fn description(self) -> &'static str {
        match self {
            TradeState::NotPay => "订单未支付",
            TradeState::Success => "支付成功",
            TradeState::Refund => "订单发生过退款",
            TradeState::Closed => "订单已关闭",
            TradeState::PayError => "支付失败，请重新下单支付",
        }
    }

    pub fn is_paid(self) -> bool {
        matches!(self, TradeState::Success | TradeState::Refund)
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Payment {
    pub transaction_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub time_end: OffsetDateTime,
    pub openid: String,
    pub bank_type: String,
    pub is_subscribe: String,
    pub coupon_fee: i64,
    /// The coupon's own id (coupon_id_0), unique to it; empty without a coupon.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub coupon_id: String,
    /// The payer under the order's sub_appid, in service-provider mode.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sub_openid: String,
}

/// The emulator's coupons are all 免充值券 (NO_CASH): the merchant funds them, so they are
/// neither cash nor settled.
pub const COUPON_TYPE: &str = "NO_CASH";

impl Order {
    pub fn account(&self) -> Account {
        Account {
            mch_id: self.mch_id.clone(),
            sub_mch_id: self.sub_mch_id.clone(),
        }
    }

    /// The order as its payment notification reports it; None until it is paid.
    pub fn paid_order(&self) -> Option<PaidOrder> {
        let payment = self.payment.as_ref()?;
        let mut amounts = crate::wechat::Message::new();
        self.set_paid_amounts(&mut amounts);
        Some(PaidOrder {
            appid: self.appid.clone(),
            mch_id: self.mch_id.clone(),
            sub_mch_id: self.sub_mch_id.clone(),
            sub_appid: self.sub_appid.clone(),
            sub_openid: payment.sub_openid.clone(),
            openid: payment.openid.clone(),
            is_subscribe: payment.is_subscribe.clone(),
            out_trade_no: self.out_trade_no.clone(),
            transaction_id: payment.transaction_id.clone(),
            trade_type: self.trade_type.clone(),
            bank_type: payment.bank_type.clone(),
            total_fee: self.total_fee,
            amounts: amounts
                .pairs()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
            time_end: api_time(payment.time_end),
            attach: self.attach.clone(),
            device_info: self.device_info.clone(),
        })
    }

    /// The amount fields of a paid order, as orderquery and the notification carry them:
    /// cash_fee, and with a coupon (免充值券, NO_CASH) the settled total and the coupon.
    pub fn set_paid_amounts(&self, message: &mut crate::wechat::Message) {
        let Some(payment) = &self.payment else {
            message.set_int("cash_fee", self.total_fee);
            return;
        };
        let coupon = payment.coupon_fee;
        message.set_int("cash_fee", self.total_fee - coupon);
        if coupon > 0 {
            message
                .set_int("settlement_total_fee", self.total_fee - coupon)
                .set_int("coupon_fee", coupon)
                .set_int("coupon_count", 1)
                .set("coupon_type_0", COUPON_TYPE)
                .set("coupon_id_0", &payment.coupon_id)
                .set_int("coupon_fee_0", coupon);
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Order {
    pub mch_id: String,
    /// Service-provider mode: the sub-merchant (特约商户) the order is for.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sub_mch_id: String,
    pub appid: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sub_appid: String,
    pub out_trade_no: String,
    pub body: String,
    pub attach: String,
    pub device_info: String,
    pub total_fee: i64,
    pub trade_type: String,
    pub openid: String,
    /// The payer under sub_appid, in service-provider mode.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sub_openid: String,
    pub product_id: String,
    pub notify_url: String,
    /// Placed by cloud pay: the cloud function (`ENV/NAME`) that gets the payment result
    /// instead of a notify_url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_function: Option<String>,
    pub prepay_id: String,
    #[serde(serialize_with = "serialize_sign_type")]
    pub sign_type: SignType,
    /// Placed on API v3: its payment result goes to notify_url as a v3 callback.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub v3: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub state: TradeState,
    pub payment: Option<Payment>,
    /// The business parameters of the unified order, to tell a retry from a conflicting reuse.
    #[serde(skip)]
    pub fingerprint: String,
}

fn serialize_sign_type<S: serde::Serializer>(t: &SignType, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.as_str())
}

/// refund_status (reference A2.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RefundStatus {
    #[serde(rename = "PROCESSING")]
    Processing,
    #[serde(rename = "SUCCESS")]
    Success,
    /// Abnormal: the payer's card was frozen or cancelled; handled by hand in the console.
    #[serde(rename = "CHANGE")]
    Change,
    /// Closed: the refund failed and no money moved.
    #[serde(rename = "REFUNDCLOSE")]
    RefundClose,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Processing => "PROCESSING",
            RefundStatus::Success => "SUCCESS",
            RefundStatus::Change => "CHANGE",
            RefundStatus::RefundClose => "REFUNDCLOSE",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Refund {
    pub mch_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sub_mch_id: String,
    pub appid: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sub_appid: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub out_refund_no: String,
    pub refund_id: String,
    pub total_fee: i64,
    /// The order's coupon (NO_CASH), in fen; 0 without one.
    pub coupon_fee: i64,
    /// The order's coupon's id, which coupon_refund_id names; empty without one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub coupon_id: String,
    pub refund_fee: i64,
    /// The coupon's share of refund_fee (reference A8: a refund is split between cash and
    /// coupon in proportion).
    pub coupon_refund_fee: i64,
    pub refund_account: String,
    pub notify_url: String,
    /// Applied for by cloud pay: the cloud function (`ENV/NAME`) that gets the refund result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_function: Option<String>,
    #[serde(serialize_with = "serialize_sign_type")]
    pub sign_type: SignType,
    /// Made on API v3: its result goes to notify_url as a v3 callback.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub v3: bool,
    pub status: RefundStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub success_time: Option<OffsetDateTime>,
}

impl Refund {
    pub fn account(&self) -> Account {
        Account {
            mch_id: self.mch_id.clone(),
            sub_mch_id: self.sub_mch_id.clone(),
        }
    }

    /// The refund as its notification reports it.
    pub fn result(&self) -> RefundResult {
        RefundResult {
            appid: self.appid.clone(),
            mch_id: self.mch_id.clone(),
            sub_appid: self.sub_appid.clone(),
            sub_mch_id: self.sub_mch_id.clone(),
            out_refund_no: self.out_refund_no.clone(),
            out_trade_no: self.out_trade_no.clone(),
            refund_account: self.refund_account.clone(),
            refund_fee: self.refund_fee,
            refund_id: self.refund_id.clone(),
            refund_recv_accout: REFUND_RECEIVED_INTO.to_owned(),
            refund_request_source: "API".to_owned(),
            refund_status: self.status.as_str().to_owned(),
            settlement_refund_fee: self.settlement_refund_fee(),
            settlement_total_fee: self.settlement_total_fee(),
            success_time: self.success_time.map(bill_time).unwrap_or_default(),
            total_fee: self.total_fee,
            transaction_id: self.transaction_id.clone(),
        }
    }

    /// The order total less its non-cash coupon; also cash_fee, as every coupon is NO_CASH.
    pub fn settlement_total_fee(&self) -> i64 {
        self.total_fee - self.coupon_fee
    }

    /// The refund less its non-cash coupon share: what leaves the merchant's account, and
    /// also cash_refund_fee.
    pub fn settlement_refund_fee(&self) -> i64 {
        self.refund_fee - self.coupon_refund_fee
    }

    /// Whether the refund's money counts: every refund's but a closed one's (REFUNDCLOSE:
    /// it failed and moved nothing). Processing and CHANGE refunds count, as their money has
    /// left, or is leaving, the order.
    pub fn counts(&self) -> bool {
        self.status != RefundStatus::RefundClose
    }
}

/// A business refusal: the err_code and err_code_des of a signed `result_code=FAIL` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub description: String,
}

pub fn refuse(code: &'static str, description: impl Into<String>) -> Refusal {
    Refusal {
        code,
        description: description.into(),
    }
}

/// How the user pays an order, from the control plane.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayOptions {
    pub transaction_id: Option<String>,
    /// `yyyyMMddHHmmss`; default now.
    pub time_end: Option<String>,
    pub openid: Option<String>,
    pub bank_type: Option<String>,
    /// Paid partly with a coupon (免充值券) worth this many fen: the cash and the settled
    /// amount are the rest.
    pub coupon_fee: Option<i64>,
    /// The sub-merchant the order belongs to, in service-provider mode.
    pub sub_mch_id: Option<String>,
}

pub const MAX_REFUNDS_PER_ORDER: usize = 50;

/// Where the emulator's refunds go: the payer's change (零钱), as real answers word it.
pub const REFUND_RECEIVED_INTO: &str = "支付用户的零钱";

/// Whose orders and refunds: a merchant's own, or a sub-merchant's (特约商户) placed through
/// its service provider. Order and refund numbers are unique within one account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Account {
    pub mch_id: String,
    /// Empty for a merchant's own trades.
    pub sub_mch_id: String,
}

impl Account {
    pub fn direct(mch_id: &str) -> Account {
        Account {
            mch_id: mch_id.to_owned(),
            sub_mch_id: String::new(),
        }
    }
}

type OrderKey = (Account, String);

#[derive(Debug, Default)]
pub struct Ledger {
    orders: HashMap<OrderKey, Order>,
    /// Insertion order, for stable listings and bills.
    order_keys: Vec<OrderKey>,
    by_transaction: HashMap<String, OrderKey>,
    refunds: Vec<Refund>,
    refund_by_out_no: HashMap<(Account, String), usize>,
    refund_by_id: HashMap<String, usize>,
    /// Indexes of refunds still PROCESSING, so settling does not walk every refund.
    processing: Vec<usize>,
    /// Indexes of each order's refunds, so a refund or a bill does not walk every refund.
    refunds_by_order: HashMap<OrderKey, Vec<usize>>,
    /// Numbers every id the ledger makes (prepay_id, code_url, transaction_id, refund_id,
    /// coupon_id); shared with the sandbox's ledger, so that no id is made twice.
    sequence: Arc<AtomicU64>,
}

impl Ledger {
    /// An empty ledger whose ids continue the numbering of `self`'s, as the sandbox's do
    /// production's: the real service never gives two orders one code_url.
    pub fn sharing_numbers(&self) -> Ledger {
        Ledger {
            sequence: Arc::clone(&self.sequence),
            ..Ledger::default()
        }
    }

    fn next(&mut self) -> u64 {
        self.sequence.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn prepay_id(&mut self, now: OffsetDateTime) -> String {
        let n = self.next();
        format!(
            "wx{}{:020x}",
            api_time(now),
            n.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        )
    }

    /// Places a unified order, or answers a retry with the same prepay_id.
    pub fn place(&mut self, mut order: Order, now: OffsetDateTime) -> Result<String, Refusal> {
        let key = (order.account(), order.out_trade_no.clone());
        if let Some(existing) = self.orders.get_mut(&key) {
            expire(existing, now);
            return match existing.state {
                TradeState::Success | TradeState::Refund => {
                    Err(refuse("ORDERPAID", "该订单已支付"))
                }
                TradeState::Closed => Err(refuse("ORDERCLOSED", "订单已关闭")),
                _ if existing.fingerprint != order.fingerprint => {
                    Err(refuse("OUT_TRADE_NO_USED", "商户订单号重复"))
                }
                _ => Ok(existing.prepay_id.clone()),
            };
        }
        order.prepay_id = self.prepay_id(now);
        let prepay_id = order.prepay_id.clone();
        self.order_keys.push(key.clone());
        self.orders.insert(key, order);
        Ok(prepay_id)
    }

    /// Finds an order by transaction_id (which wins) or out_trade_no, applying expiry first.
    pub fn find(
        &mut self,
        account: &Account,
        transaction_id: Option<&str>,
        out_trade_no: Option<&str>,
        now: OffsetDateTime,
    ) -> Option<&mut Order> {
        let key = match (transaction_id, out_trade_no) {
            (Some(id), _) => self.by_transaction.get(id)?.clone(),
            (None, Some(no)) => (account.clone(), no.to_owned()),
            (None, None) => return None,
        };
        if &key.0 != account {
            return None;
        }
        let order = self.orders.get_mut(&key)?;
        expire(order, now);
        Some(order)
    }

    /// An order by out_trade_no, or the ORDERNOTEXIST refusal.
    fn order(
        &mut self,
        account: &Account,
        out_trade_no: &str,
        now: OffsetDateTime,
    ) -> Result<&mut Order, Refusal> {
        self.find(account, None, Some(out_trade_no), now)
            .ok_or_else(|| refuse("ORDERNOTEXIST", "订单不存在"))
    }

    /// Closes an unpaid order, no sooner than `min_age` after it was placed.
    pub fn close(
        &mut self,
        account: &Account,
        out_trade_no: &str,
        min_age: Duration,
        now: OffsetDateTime,
    ) -> Result<(), Refusal> {
        let order = self.order(account, out_trade_no, now)?;
        match order.state {
            // Reference A2.3 and A8: an order may not be closed within 5 minutes of its
            // creation. UNCONFIRMED: the answer; TRADE_STATE_ERROR is the closeorder code
            // for a state that does not allow the operation, and its wording is ours.
            TradeState::NotPay | TradeState::PayError if now - order.created_at < min_age => {
                Err(refuse(
                    "TRADE_STATE_ERROR",
                    format!(
                        "订单创建{}分钟内不能关闭，请稍后再试",
                        min_age.whole_minutes()
                    ),
                ))
            }
            TradeState::NotPay | TradeState::PayError => {
                order.state = TradeState::Closed;
                Ok(())
            }
            TradeState::Success | TradeState::Refund => Err(refuse("ORDERPAID", "该订单已支付")),
            TradeState::Closed => Err(refuse("ORDERCLOSED", "订单已关闭")),
        }
    }

    /// The user pays: NOTPAY → SUCCESS. Returns the paid order, for the notification.
    pub fn pay(
        &mut self,
        account: &Account,
        out_trade_no: &str,
        options: &PayOptions,
        now: OffsetDateTime,
    ) -> Result<Order, Refusal> {
        let sequence = self.next();
        let order = self.order(account, out_trade_no, now)?;
        match order.state {
            TradeState::NotPay => {}
            TradeState::Success | TradeState::Refund => {
                return Err(refuse("ORDERPAID", "该订单已支付"));
            }
            TradeState::Closed => return Err(refuse("ORDERCLOSED", "订单已关闭")),
            TradeState::PayError => {
                return Err(refuse("TRADE_STATE_ERROR", "订单支付失败，请重新下单"));
            }
        }
        let time_end = match &options.time_end {
            Some(text) => crate::time::parse_api_time(text)
                .ok_or_else(|| refuse("PARAM_ERROR", "time_end must be yyyyMMddHHmmss"))?,
            None => now,
        };
        let date = &api_time(time_end)[..8];
        let transaction_id = options
            .transaction_id
            .clone()
            .unwrap_or_else(|| format!("4200000{:03}{date}{:010}", sequence % 1000, sequence));
        let coupon_fee = options.coupon_fee.unwrap_or(0);
        // Each coupon its own id, as the real service numbers them.
        let coupon_id = if coupon_fee > 0 {
            format!("2{sequence:09}")
        } else {
            String::new()
        };
        if self.by_transaction.contains_key(&transaction_id) {
            return Err(refuse("PARAM_ERROR", "transaction_id is already used"));
        }
        let order = self
            .find(account, None, Some(out_trade_no), now)
            .expect("found above");
        if !(0..order.total_fee).contains(&coupon_fee) {
            return Err(refuse(
                "PARAM_ERROR",
                "coupon_fee must be at least 0 and below total_fee",
            ));
        }
        let openid = options.openid.clone().unwrap_or_else(|| {
            if order.openid.is_empty() {
                format!("oEmu{:024}", sequence)
            } else {
                order.openid.clone()
            }
        });
        let sub_openid = match (order.sub_appid.is_empty(), order.sub_openid.is_empty()) {
            (true, _) => String::new(),
            (false, true) => format!("oSub{:024}", sequence),
            (false, false) => order.sub_openid.clone(),
        };
        order.state = TradeState::Success;
        order.payment = Some(Payment {
            transaction_id: transaction_id.clone(),
            time_end,
            openid,
            bank_type: options.bank_type.clone().unwrap_or_else(|| "CFT".into()),
            is_subscribe: "N".into(),
            coupon_fee,
            coupon_id,
            sub_openid,
        });
        let paid = order.clone();
        self.by_transaction
            .insert(transaction_id, (account.clone(), out_trade_no.to_owned()));
        Ok(paid)
    }

    /// The payment fails at the bank: NOTPAY → PAYERROR.
    pub fn fail(
        &mut self,
        account: &Account,
        out_trade_no: &str,
        now: OffsetDateTime,
    ) -> Result<(), Refusal> {
        let order = self.order(account, out_trade_no, now)?;
        if order.state != TradeState::NotPay {
            return Err(refuse("TRADE_STATE_ERROR", "订单状态错误"));
        }
        order.state = TradeState::PayError;
        Ok(())
    }

    /// Applies for a refund. The same out_refund_no with the same amounts answers with the
    /// refund already made; with other amounts it is refused.
    #[allow(clippy::too_many_arguments)]
    pub fn refund(
        &mut self,
        account: &Account,
        transaction_id: Option<&str>,
        out_trade_no: Option<&str>,
        out_refund_no: &str,
        total_fee: i64,
        refund_fee: i64,
        refund_account: &str,
        notify_url: &str,
        cloud_function: Option<&str>,
        sign_type: SignType,
        now: OffsetDateTime,
    ) -> Result<Refund, Refusal> {
        if let Some(&index) = self
            .refund_by_out_no
            .get(&(account.clone(), out_refund_no.to_owned()))
        {
            let existing = &self.refunds[index];
            let same_order = transaction_id.is_none_or(|id| id == existing.transaction_id)
                && out_trade_no.is_none_or(|no| no == existing.out_trade_no);
            if same_order && existing.total_fee == total_fee && existing.refund_fee == refund_fee {
                return Ok(existing.clone());
            }
            return Err(refuse(
                "ERROR",
                "订单金额或退款金额与之前请求不一致，请核实后再试",
            ));
        }
        let sequence = self.next();
        let order = self
            .find(account, transaction_id, out_trade_no, now)
            .ok_or_else(|| refuse("ORDERNOTEXIST", "订单不存在"))?;
        // Unpaid orders do not exist as far as refunds are concerned (reference A2.10).
        let payment = match (&order.payment, order.state.is_paid()) {
            (Some(payment), true) => payment.clone(),
            _ => return Err(refuse("ORDERNOTEXIST", "订单不存在")),
        };
        if now - payment.time_end > Duration::days(365) {
            return Err(refuse("TRADE_OVERDUE", "订单已经超过退款期限"));
        }
        if total_fee != order.total_fee {
            return Err(refuse("PARAM_ERROR", "订单金额与实际支付金额不符"));
        }
        let key = (order.account(), order.out_trade_no.clone());
        let order_refunds = self.refunds_of(&key);
        if order_refunds.len() >= MAX_REFUNDS_PER_ORDER {
            return Err(refuse("ERROR", "一笔订单最多可退款50次"));
        }
        // A closed refund moved no money, so its amount may be refunded again.
        let (refunded, coupon_refunded) = order_refunds
            .iter()
            .filter(|r| r.counts())
            .fold((0, 0), |(all, coupon), r| {
                (all + r.refund_fee, coupon + r.coupon_refund_fee)
            });
        // UNCONFIRMED wording; the rule (cumulative refunds never above the paid amount) is
        // documented.
        if refunded + refund_fee > total_fee {
            return Err(refuse("ERROR", "累计退款金额大于支付金额"));
        }
        let coupon_fee = payment.coupon_fee;
        // The split is proportional (reference A8); how the coupon share is rounded is
        // UNCONFIRMED. The emulator rounds it down, and the refund that completes the order
        // takes whatever is left of the coupon, so a refund in parts returns exactly the
        // coupon, as one whole refund does.
        let coupon_refund_fee = if refunded + refund_fee == total_fee {
            coupon_fee - coupon_refunded
        } else {
            refund_fee * coupon_fee / total_fee
        };
        let order = self.orders.get_mut(&key).expect("order found above");
        order.state = TradeState::Refund;
        let refund = Refund {
            mch_id: order.mch_id.clone(),
            sub_mch_id: order.sub_mch_id.clone(),
            appid: order.appid.clone(),
            sub_appid: order.sub_appid.clone(),
            out_trade_no: order.out_trade_no.clone(),
            transaction_id: payment.transaction_id.clone(),
            out_refund_no: out_refund_no.to_owned(),
            refund_id: format!("50300{}{:016}", &api_time(now)[..8], sequence),
            total_fee,
            coupon_fee,
            coupon_id: payment.coupon_id.clone(),
            refund_fee,
            coupon_refund_fee,
            refund_account: refund_account.to_owned(),
            notify_url: notify_url.to_owned(),
            cloud_function: cloud_function.map(str::to_owned),
            sign_type,
            v3: false,
            status: RefundStatus::Processing,
            created_at: now,
            success_time: None,
        };
        let index = self.refunds.len();
        self.refund_by_out_no
            .insert((account.clone(), out_refund_no.to_owned()), index);
        self.refund_by_id.insert(refund.refund_id.clone(), index);
        self.processing.push(index);
        self.refunds_by_order.entry(key).or_default().push(index);
        self.refunds.push(refund.clone());
        Ok(refund)
    }

    /// Refunds that have been processing for `delay` end, as `ending` says (SUCCESS unless
    /// told otherwise); returns them, to notify.
    pub fn settle_refunds(
        &mut self,
        delay: Duration,
        now: OffsetDateTime,
        mut ending: impl FnMut(&Refund) -> RefundStatus,
    ) -> Vec<Refund> {
        let mut settled = Vec::new();
        let refunds = &mut self.refunds;
        self.processing.retain(|&index| {
            let refund = &mut refunds[index];
            let due = now - refund.created_at >= delay;
            if due {
                refund.status = ending(refund);
                // Only a refund that succeeded has a success time (refund_success_time_$n).
                if refund.status == RefundStatus::Success {
                    refund.success_time = Some(refund.created_at + delay);
                }
                settled.push(refund.clone());
            }
            !due
        });
        settled
    }

    /// The refunds a refundquery asks for, by the first key given in the documented
    /// precedence: refund_id > out_refund_no > transaction_id > out_trade_no.
    pub fn query_refunds(
        &mut self,
        account: &Account,
        refund_id: Option<&str>,
        out_refund_no: Option<&str>,
        transaction_id: Option<&str>,
        out_trade_no: Option<&str>,
        now: OffsetDateTime,
    ) -> Option<(Order, Vec<Refund>)> {
        let single = match (refund_id, out_refund_no) {
            (Some(id), _) => Some(*self.refund_by_id.get(id)?),
            (None, Some(no)) => Some(
                *self
                    .refund_by_out_no
                    .get(&(account.clone(), no.to_owned()))?,
            ),
            (None, None) => None,
        };
        let (transaction_id, out_trade_no) = match single {
            Some(index) => {
                let refund = &self.refunds[index];
                if refund.account() != *account {
                    return None;
                }
                (None, Some(refund.out_trade_no.clone()))
            }
            None => (
                transaction_id.map(str::to_owned),
                out_trade_no.map(str::to_owned),
            ),
        };
        let order = self
            .find(
                account,
                transaction_id.as_deref(),
                out_trade_no.as_deref(),
                now,
            )?
            .clone();
        let refunds: Vec<Refund> = match single {
            Some(index) => vec![self.refunds[index].clone()],
            None => self
                .refunds
                .iter()
                .filter(|r| r.account() == order.account() && r.out_trade_no == order.out_trade_no)
                .cloned()
                .collect(),
        };
        (!refunds.is_empty()).then_some((order, refunds))
    }

    fn refunds_of(&self, key: &OrderKey) -> Vec<&Refund> {
        self.refunds_by_order
            .get(key)
            .map(|indexes| indexes.iter().map(|&i| &self.refunds[i]).collect())
            .unwrap_or_default()
    }

    pub fn refund_by_id(&self, refund_id: &str) -> Option<&Refund> {
        self.refund_by_id.get(refund_id).map(|&i| &self.refunds[i])
    }

    pub fn refund_by_out_no(&self, account: &Account, out_refund_no: &str) -> Option<&Refund> {
        self.refund_by_out_no
            .get(&(account.clone(), out_refund_no.to_owned()))
            .map(|&i| &self.refunds[i])
    }

    /// Marks an order as placed on API v3, so that its payment result goes out as a v3
    /// callback.
    pub fn mark_v3_order(&mut self, account: &Account, out_trade_no: &str) {
        if let Some(order) = self
            .orders
            .get_mut(&(account.clone(), out_trade_no.to_owned()))
        {
            order.v3 = true;
        }
    }

    /// Marks a refund as made on API v3, so that its result goes out as a v3 callback.
    pub fn mark_v3_refund(&mut self, account: &Account, out_refund_no: &str) {
        let key = (account.clone(), out_refund_no.to_owned());
        if let Some(&index) = self.refund_by_out_no.get(&key) {
            self.refunds[index].v3 = true;
        }
    }

    /// An order by its transaction_id, as it is (no expiry applied).
    pub fn order_by_transaction(&self, transaction_id: &str) -> Option<&Order> {
        self.by_transaction
            .get(transaction_id)
            .and_then(|key| self.orders.get(key))
    }

    /// An order by account and out_trade_no, as it is (no expiry applied).
    pub fn order_by_no(&self, account: &Account, out_trade_no: &str) -> Option<&Order> {
        self.orders.get(&(account.clone(), out_trade_no.to_owned()))
    }

    pub fn orders(&self) -> impl Iterator<Item = &Order> {
        self.order_keys.iter().map(|k| &self.orders[k])
    }

    pub fn refunds(&self) -> &[Refund] {
        &self.refunds
    }

    /// Closes every unpaid order whose time has run out.
    pub fn expire_all(&mut self, now: OffsetDateTime) {
        for order in self.orders.values_mut() {
            expire(order, now);
        }
    }
}

fn expire(order: &mut Order, now: OffsetDateTime) {
    if order.state == TradeState::NotPay && now >= order.expires_at {
        order.state = TradeState::Closed;
    }
}
