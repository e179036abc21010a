//! `notify check --api v3`: the acceptance cases of a v3 notify handler (B2, B3, B4). Each
//! callback is built as WeChat Pay builds one: the event JSON with its resource encrypted
//! under the merchant's APIv3 key, and the B2 headers signed with WeChat Pay's key, the one
//! whose public key the handler verifies with (the emulator's, in a test setup).

use serde_json::{Value, json};

use super::{Answer, CaseResult, Checker, Sent, Signer, WECHAT_WAIT, result, seconds};
use crate::wechat::notify_build::PaidOrder;
use crate::wechat::sign::nonce_str;
use crate::wechat::v3::notify::encrypt;
use crate::wechat::v3::{MerchantKey, PROBE_PREFIX, SCHEME, answer_message};
use crate::wechat::{ApiV3Key, notify_check::Case};

/// What v3 callbacks are signed and encrypted with.
pub struct V3Signer {
    /// WeChat Pay's private key: the handler verifies with its public key.
    pub key: MerchantKey,
    /// The ID the handler knows that public key by (`Wechatpay-Serial`).
    pub serial: String,
    /// The merchant's APIv3 key, which the handler decrypts resources with.
    pub apiv3_key: ApiV3Key,
}

/// A callback: its headers and body.
type Callback = (Vec<(&'static str, String)>, Vec<u8>);

/// How old the stale case's timestamp is: twice the window WeChat Pay's own SDKs allow.
const STALE_SECONDS: i64 = 10 * 60;

impl Checker {
    pub(super) async fn run_v3(&mut self, case: Case) -> CaseResult {
        if !matches!(self.options.signer, Signer::V3(_)) {
            let note = "the v3 cases need WeChat Pay's signing key and the APIv3 key".to_owned();
            return result(case, Vec::new(), false, Some(note));
        }
        match case {
            Case::V3Valid => self.v3_valid().await,
            Case::V3Again => self.v3_again().await,
            Case::V3Changed => self.v3_changed().await,
            Case::V3Probe => self.v3_probe().await,
            Case::V3Stale => self.v3_stale().await,
            Case::V3Amount => self.v3_amount().await,
            Case::V3Foreign => self.v3_foreign().await,
            Case::V3Refund => self.v3_refund().await,
            _ => unreachable!("only v3 cases come here"),
        }
    }

    fn signer(&self) -> &V3Signer {
        match &self.options.signer {
            Signer::V3(signer) => signer,
            Signer::V2 { .. } => unreachable!("checked in run_v3"),
        }
    }

    /// A callback of `event_type` with `resource` encrypted under `apiv3_key`, signed with a
    /// timestamp `age` seconds old.
    fn callback(
        &self,
        event_type: &str,
        original_type: &str,
        resource: &Value,
        apiv3_key: &ApiV3Key,
        age: i64,
    ) -> Callback {
        let at = time::OffsetDateTime::now_utc() - time::Duration::seconds(age);
        let sealed = encrypt(
            apiv3_key,
            original_type,
            original_type,
            &resource.to_string(),
        )
        .expect("an APIv3 key of 32 bytes, checked when it was read");
        let body = json!({
            "id": format!("EV-{}", nonce_str().to_uppercase()),
            "create_time": crate::time::rfc3339(at),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": if original_type == "refund" { "退款成功" } else { "支付成功" },
            "resource": sealed,
        })
        .to_string()
        .into_bytes();
        (self.sign(&body, at.unix_timestamp()), body)
    }

    /// The B2 headers of `body`, signed at `timestamp`.
    fn sign(&self, body: &[u8], timestamp: i64) -> Vec<(&'static str, String)> {
        let signer = self.signer();
        let (timestamp, nonce) = (timestamp.to_string(), nonce_str());
        let signature = signer.key.sign(&answer_message(&timestamp, &nonce, body));
        vec![
            ("Wechatpay-Timestamp", timestamp),
            ("Wechatpay-Nonce", nonce),
            ("Wechatpay-Signature", signature),
            ("Wechatpay-Serial", signer.serial.clone()),
            ("Wechatpay-Signature-Type", SCHEME.to_owned()),
            ("Request-ID", nonce_str().to_uppercase()),
        ]
    }

    /// A TRANSACTION.SUCCESS callback of `order` under the merchant's APIv3 key.
    pub(super) fn payment_callback(&self, order: &PaidOrder) -> Callback {
        let key = &self.signer().apiv3_key;
        self.callback(
            "TRANSACTION.SUCCESS",
            "transaction",
            &transaction(order),
            key,
            0,
        )
    }

    async fn deliver(&self, what: &'static str, url: &str, (headers, body): Callback) -> Sent {
        self.send_with(what, url, headers, body).await
    }

    async fn v3_valid(&mut self) -> CaseResult {
        let callback = self.payment_callback(&self.options.order);
        self.first = Some(callback.1.clone());
        let sent = self.deliver("valid", &self.options.url, callback).await;
        let in_time = sent.elapsed <= WECHAT_WAIT;
        let holds = sent.answer.acknowledged() && in_time;
        let note = match (&sent.answer, in_time) {
            (Answer::Acknowledged { .. }, true) => None,
            (Answer::Acknowledged { .. }, false) => Some(format!(
                "acknowledged after {}: WeChat Pay stops waiting at 5 s and sends the \
                 callback again; answer first, work afterwards",
                seconds(sent.elapsed)
            )),
            _ => Some(format!(
                "a valid callback was not taken, so WeChat Pay would send it again for 24 \
                 hours: verify the signature with the WeChat Pay public key ({}), decrypt the \
                 resource with the APIv3 key (`wxpay-ops notify decrypt --api v3` shows both \
                 steps), and know order {} of {} fen; the acknowledgement is HTTP 200 or 204",
                self.signer().serial,
                self.options.order.out_trade_no,
                self.options.order.total_fee
            )),
        };
        result(Case::V3Valid, vec![sent], holds, note)
    }

    async fn v3_again(&mut self) -> CaseResult {
        let url = self.options.url.clone();
        let mut sent = Vec::new();
        let body = match self.first.clone() {
            Some(body) => body,
            None => {
                let callback = self.payment_callback(&self.options.order);
                let body = callback.1.clone();
                sent.push(self.deliver("first", &url, callback).await);
                body
            }
        };
        // WeChat Pay sends the same body again, signed at the time of sending.
        let headers = self.sign(&body, time::OffsetDateTime::now_utc().unix_timestamp());
        let again = self.send_with("again", &url, headers, body).await;
        let holds = again.answer.acknowledged();
        sent.push(again);
        let note = (!holds).then(|| {
            "a repeated callback was not taken: WeChat Pay delivers a callback more than \
             once; answer a known, already paid order with 200 or 204 from its stored state"
                .to_owned()
        });
        result(Case::V3Again, sent, holds, note)
    }

    async fn v3_changed(&mut self) -> CaseResult {
        let (headers, body) = self.payment_callback(&self.options.order);
        let mut event: Value = serde_json::from_slice(&body).unwrap_or_default();
        event["summary"] = json!("支付成功!");
        let changed = event.to_string().into_bytes();
        let url = self.options.url.clone();
        let sent = self.deliver("changed", &url, (headers, changed)).await;
        let note = "it took a callback whose body was changed after WeChat Pay signed it: \
                    verify Wechatpay-Signature over TIMESTAMP\\nNONCE\\nBODY\\n, the body exactly \
                    as received, before anything else";
        self.rejected(Case::V3Changed, vec![sent], note)
    }

    async fn v3_probe(&mut self) -> CaseResult {
        let (mut headers, body) = self.payment_callback(&self.options.order);
        for (name, value) in &mut headers {
            if *name == "Wechatpay-Signature" {
                *value = format!("{PROBE_PREFIX}{}", nonce_str());
            }
        }
        let url = self.options.url.clone();
        let sent = self.deliver("probe", &url, (headers, body)).await;
        let note = "it took a probe: WeChat Pay sends callbacks whose signature starts with \
                    WECHATPAY/SIGNTEST/ to see that the handler verifies; answer them 4xx or 5xx";
        self.rejected(Case::V3Probe, vec![sent], note)
    }

    async fn v3_stale(&mut self) -> CaseResult {
        let key = self.signer().apiv3_key.clone();
        let resource = transaction(&self.options.order);
        let callback = self.callback(
            "TRANSACTION.SUCCESS",
            "transaction",
            &resource,
            &key,
            STALE_SECONDS,
        );
        let url = self.options.url.clone();
        let sent = self.deliver("10 minutes old", &url, callback).await;
        let note = "it took a callback signed 10 minutes ago: a recorded callback could be \
                    replayed; refuse a Wechatpay-Timestamp more than 5 minutes from now";
        self.rejected(Case::V3Stale, vec![sent], note)
    }

    async fn v3_amount(&mut self) -> CaseResult {
        let order = &self.options.order;
        let changed = super::another_amount(order);
        let amount = changed.total_fee;
        let callback = self.payment_callback(&changed);
        let url = self.options.url.clone();
        let sent = self.deliver("amount changed", &url, callback).await;
        let note = format!(
            "it took amount.total {amount} for order {} of {} fen: compare the amount with \
             the order's own before taking it or shipping",
            order.out_trade_no, order.total_fee
        );
        self.rejected(Case::V3Amount, vec![sent], &note)
    }

    async fn v3_foreign(&mut self) -> CaseResult {
        let order = self.options.order.clone();
        let url = self.options.url.clone();
        // A key of the right shape that is not the merchant's.
        let other_key = ApiV3Key::new(nonce_str());
        let resource = transaction(&order);
        let under_other = self.callback(
            "TRANSACTION.SUCCESS",
            "transaction",
            &resource,
            &other_key,
            0,
        );
        let another_mchid = PaidOrder {
            mch_id: super::another(&order.mch_id),
            ..order.clone()
        };
        let sent = vec![
            self.deliver("another APIv3 key", &url, under_other).await,
            (self.deliver("another mchid", &url, self.payment_callback(&another_mchid))).await,
        ];
        let note = "it took a callback whose resource does not decrypt with the APIv3 key, or \
                    names another merchant: only a resource that decrypts is authentic, and its \
                    mchid and appid must be yours";
        self.rejected(Case::V3Foreign, sent, note)
    }

    async fn v3_refund(&mut self) -> CaseResult {
        let order = &self.options.order;
        let resource = json!({
            "mchid": order.mch_id,
            "transaction_id": order.transaction_id,
            "out_trade_no": order.out_trade_no,
            "refund_id": format!("50300{}", super::digits(24)),
            "out_refund_no": format!("CHECK{}", &nonce_str()[..12]),
            "refund_status": "SUCCESS",
            "success_time": crate::time::rfc3339(time::OffsetDateTime::now_utc()),
            "user_received_account": "支付用户的零钱",
            "amount": {
                "total": order.total_fee,
                "refund": order.total_fee,
                "payer_total": order.total_fee,
                "payer_refund": order.total_fee,
            },
        });
        let key = self.signer().apiv3_key.clone();
        let callback = self.callback("REFUND.SUCCESS", "refund", &resource, &key, 0);
        let url = self.options.refund_url.clone();
        let sent = self.deliver("refund", &url, callback).await;
        let holds = sent.answer.acknowledged();
        let note = (!holds).then(|| {
            "a valid REFUND.SUCCESS callback was not taken: its resource decrypts with the \
             APIv3 key as a payment's does (associated_data \"refund\"); answer 200 or 204"
                .to_owned()
        });
        result(Case::V3Refund, vec![sent], holds, note)
    }
}

/// The order as a v3 Transaction (B4), the resource of TRANSACTION.SUCCESS: what the payer
/// paid is v2's cash_fee.
fn transaction(order: &PaidOrder) -> Value {
    let payer_total = (order.amounts.iter())
        .find(|(name, _)| name == "cash_fee")
        .and_then(|(_, fee)| fee.parse::<i64>().ok())
        .unwrap_or(order.total_fee);
    let success_time = crate::time::parse_api_time(&order.time_end)
        .map(crate::time::rfc3339)
        .unwrap_or_default();
    json!({
        "appid": order.appid,
        "mchid": order.mch_id,
        "out_trade_no": order.out_trade_no,
        "transaction_id": order.transaction_id,
        "trade_type": order.trade_type,
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": order.bank_type,
        "attach": order.attach,
        "success_time": success_time,
        "payer": { "openid": order.openid },
        "amount": {
            "total": order.total_fee,
            "payer_total": payer_total,
            "currency": "CNY",
            "payer_currency": "CNY",
        },
    })
}
