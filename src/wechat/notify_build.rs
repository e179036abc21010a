//! The notifications WeChat Pay sends, built: signed payment results (reference A4), refund
//! results with `req_info` encrypted under the key (A5), and cloud pay's callback event. The
//! emulator sends them to `notify_url`; `notify check` sends them, and broken copies of them,
//! to a merchant's own handler. One builder for both, so that what the check calls valid is
//! what the emulator sends.

use serde_json::{Map, Value};

use super::cloudpay::camel_case;
use super::notify::encrypt_req_info;
use super::sign::{nonce_str, set_sign};
use super::xml::push_cdata;
use super::{ApiKey, Message, SignType};

/// A paid order, as its payment notification reports it. Empty strings are left out of the
/// notification (sub-merchant fields outside service-provider mode, attach, device_info).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaidOrder {
    pub appid: String,
    pub mch_id: String,
    /// Service-provider mode: the sub-merchant, and its AppID with the payer under it.
    pub sub_mch_id: String,
    pub sub_appid: String,
    pub sub_openid: String,
    pub openid: String,
    pub is_subscribe: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub trade_type: String,
    pub bank_type: String,
    pub total_fee: i64,
    /// The amount fields as the order was paid, in order: `cash_fee`, and with a coupon
    /// `settlement_total_fee`, `coupon_fee`, `coupon_count` and each coupon's fields.
    pub amounts: Vec<(String, String)>,
    /// yyyyMMddHHmmss, Beijing time.
    pub time_end: String,
    pub attach: String,
    pub device_info: String,
}

impl PaidOrder {
    /// The notification's fields, with a fresh nonce_str and no sign.
    pub fn fields(&self) -> Message {
        let mut message = Message::new();
        message
            .set("appid", &self.appid)
            .set("bank_type", &self.bank_type)
            .set("fee_type", "CNY")
            .set("is_subscribe", &self.is_subscribe)
            .set("mch_id", &self.mch_id)
            .set("nonce_str", nonce_str())
            .set("openid", &self.openid)
            .set("out_trade_no", &self.out_trade_no)
            .set("result_code", "SUCCESS")
            .set("return_code", "SUCCESS")
            .set("time_end", &self.time_end)
            .set_int("total_fee", self.total_fee)
            .set("trade_type", &self.trade_type)
            .set("transaction_id", &self.transaction_id);
        for (name, value) in &self.amounts {
            message.set(name, value.as_str());
        }
        // Service-provider mode adds the sub-merchant, and the payer under sub_appid
        // (reference A4).
        if !self.sub_mch_id.is_empty() {
            message.set("sub_mch_id", &self.sub_mch_id);
        }
        if !self.sub_appid.is_empty() {
            message
                .set("sub_appid", &self.sub_appid)
                .set("sub_openid", &self.sub_openid)
                .set("sub_is_subscribe", "N");
        }
        for (name, value) in [("attach", &self.attach), ("device_info", &self.device_info)] {
            if !value.is_empty() {
                message.set(name, value.as_str());
            }
        }
        message
    }

    /// The notification as WeChat Pay sends it: the fields, signed with `key`.
    pub fn notification(&self, key: &ApiKey, sign_type: SignType) -> Message {
        let mut message = self.fields();
        sign_notification(&mut message, key, sign_type);
        message
    }

    /// Cloud pay's callback event: the notification's fields in camelCase, amounts as
    /// numbers, no sign (the channel is private; cloudpay.md "The payment-result callback").
    /// The cloud environment is the service provider: `mchId` is `provider_mch_id`, the
    /// merchant is `subMchId`, its app `subAppid` and the payer `subOpenid` as well.
    pub fn cloud_event(&self, provider_mch_id: &str) -> Value {
        let mut event = Map::new();
        for (name, value) in self.fields().pairs() {
            let value = match value.parse::<i64>() {
                Ok(number) if is_amount(name) => Value::from(number),
                _ => Value::from(value),
            };
            if name == "mch_id" {
                event.insert("mchId".into(), Value::from(provider_mch_id));
                event.insert("subAppid".into(), Value::from(self.appid.as_str()));
                event.insert("subMchId".into(), value);
            } else {
                event.insert(camel_case(name), value);
            }
        }
        if !self.openid.is_empty() {
            event.insert("subOpenid".into(), Value::from(self.openid.as_str()));
            event.insert(
                "subIsSubscribe".into(),
                Value::from(self.is_subscribe.as_str()),
            );
        }
        Value::Object(event)
    }
}

/// The service provider a cloud environment pays through: WeChat's cloud fills in its own
/// `mchId`; this stands for it in the events built here.
pub const CLOUD_PROVIDER_MCH_ID: &str = "1800000001";

/// Signs a notification: `sign_type` is declared when not MD5, then `sign` is set over every
/// other field.
pub fn sign_notification(message: &mut Message, key: &ApiKey, sign_type: SignType) {
    // UNCONFIRMED whether WeChat always declares sign_type; it must when not MD5, or the
    // merchant could not tell how to verify.
    if sign_type != SignType::Md5 {
        message.set("sign_type", sign_type.as_str());
    }
    set_sign(message, key, sign_type);
}

/// The fields that count money (fen) or coupons: numbers in JSON.
fn is_amount(name: &str) -> bool {
    name.ends_with("_fee") || name.contains("_fee_") || name == "coupon_count"
}

/// Whether a cloud function's answer acknowledges the callback, and why: HTTP 200 and a
/// JSON object whose `errcode` is the number 0 (reference: the function must return
/// `{"errcode": 0, "errmsg": ""}`; anything else counts as not received).
pub fn cloud_ack(status: u16, body: &[u8]) -> (bool, String) {
    if status != 200 {
        return (false, "not HTTP 200".to_owned());
    }
    let answer: Option<Map<String, Value>> = serde_json::from_slice(body).ok();
    match answer.as_ref().and_then(|a| a.get("errcode")) {
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => (true, "errcode 0, accepted".into()),
        Some(Value::Number(n)) => (false, format!("errcode {n} is not 0")),
        Some(other) => (false, format!("errcode {other} is not the number 0")),
        None => (
            false,
            "the answer is not a JSON object with errcode".to_owned(),
        ),
    }
}

/// Whether a cloud function acknowledged its callback ([`cloud_ack`] without the reason).
pub fn is_cloud_ack(status: u16, body: &[u8]) -> bool {
    cloud_ack(status, body).0
}

/// A refund's result, as its notification reports it (reference A5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefundResult {
    pub appid: String,
    pub mch_id: String,
    /// Service-provider mode: outside req_info, in the envelope.
    pub sub_appid: String,
    pub sub_mch_id: String,
    pub out_refund_no: String,
    pub out_trade_no: String,
    pub refund_account: String,
    pub refund_fee: i64,
    pub refund_id: String,
    pub refund_recv_accout: String,
    pub refund_request_source: String,
    /// SUCCESS, CHANGE or REFUNDCLOSE.
    pub refund_status: String,
    pub settlement_refund_fee: i64,
    pub settlement_total_fee: i64,
    /// `yyyy-MM-dd HH:mm:ss`; empty unless the refund succeeded.
    pub success_time: String,
    pub total_fee: i64,
    pub transaction_id: String,
}

impl RefundResult {
    /// The fields req_info carries, in WeChat's order; success_time only when the refund
    /// succeeded (not for CHANGE or REFUNDCLOSE).
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        [
            ("out_refund_no", self.out_refund_no.clone()),
            ("out_trade_no", self.out_trade_no.clone()),
            ("refund_account", self.refund_account.clone()),
            ("refund_fee", self.refund_fee.to_string()),
            ("refund_id", self.refund_id.clone()),
            ("refund_recv_accout", self.refund_recv_accout.clone()),
            ("refund_request_source", self.refund_request_source.clone()),
            ("refund_status", self.refund_status.clone()),
            (
                "settlement_refund_fee",
                self.settlement_refund_fee.to_string(),
            ),
            (
                "settlement_total_fee",
                self.settlement_total_fee.to_string(),
            ),
            ("success_time", self.success_time.clone()),
            ("total_fee", self.total_fee.to_string()),
            ("transaction_id", self.transaction_id.clone()),
        ]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .collect()
    }

    /// The `<root>` message that req_info encrypts, one field a line as WeChat writes it.
    pub fn plaintext(&self) -> String {
        let mut info = String::from("<root>\n");
        for (name, value) in self.fields() {
            info.push_str(&format!("<{name}>"));
            push_cdata(&mut info, &value);
            info.push_str(&format!("</{name}>\n"));
        }
        info.push_str("</root>");
        info
    }

    /// The notification as WeChat Pay sends it: an unsigned envelope around req_info,
    /// encrypted under `key`.
    pub fn notification(&self, key: &ApiKey) -> Message {
        let mut message = Message::new();
        message
            .set("return_code", "SUCCESS")
            .set("return_msg", "OK")
            .set("appid", &self.appid)
            .set("mch_id", &self.mch_id);
        // Service-provider mode adds these two outside req_info (reference A5).
        if !self.sub_appid.is_empty() {
            message.set("sub_appid", &self.sub_appid);
        }
        if !self.sub_mch_id.is_empty() {
            message.set("sub_mch_id", &self.sub_mch_id);
        }
        message.set("nonce_str", nonce_str()).set(
            "req_info",
            encrypt_req_info(self.plaintext().as_bytes(), key),
        );
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::notify::{decrypt_refund, verify_payment};

    const DOC_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    fn paid() -> PaidOrder {
        PaidOrder {
            appid: "wx2421b1c4370ec43b".into(),
            mch_id: "10000100".into(),
            openid: "oUpF8uMEb4qRXf22hE3X68TekukE".into(),
            is_subscribe: "Y".into(),
            out_trade_no: "1409811653".into(),
            transaction_id: "1004400740201409030005092168".into(),
            trade_type: "JSAPI".into(),
            bank_type: "CFT".into(),
            total_fee: 101,
            amounts: vec![
                ("cash_fee".into(), "91".into()),
                ("coupon_fee".into(), "10".into()),
                ("coupon_count".into(), "1".into()),
                ("coupon_fee_0".into(), "10".into()),
            ],
            time_end: "20140903131540".into(),
            attach: "支付测试".into(),
            ..PaidOrder::default()
        }
    }

    /// The builder's fields are those of the real sample (A4), signed as the sample's
    /// fields would be: the documented sign of the sample's own fields is reproduced.
    #[test]
    fn the_real_samples_fields_get_its_documented_sign() {
        let sample = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/real/paysuccess.notification.sample.xml"
        ))
        .unwrap();
        let mut sample = Message::parse(&sample).unwrap();
        sample.remove("sign");
        let key = ApiKey::new(DOC_KEY);
        sign_notification(&mut sample, &key, SignType::Md5);
        assert_eq!(sample.get("sign"), Some("F3F481B732273AFA2839E877583F311D"));
        assert_eq!(sample.get("sign_type"), None);
    }

    #[test]
    fn a_payment_notification_verifies_and_carries_the_order() {
        let key = ApiKey::new(DOC_KEY);
        for sign_type in [SignType::Md5, SignType::HmacSha256] {
            let xml = paid().notification(&key, sign_type).to_xml();
            let notification = verify_payment(xml.as_bytes(), &key, None).unwrap();
            assert!(notification.is_authentic(), "{sign_type:?}");
            assert_eq!(notification.failure(), None);
            let m = &notification.message;
            assert_eq!(m.get("total_fee"), Some("101"));
            assert_eq!(m.get("cash_fee"), Some("91"));
            assert_eq!(m.get("attach"), Some("支付测试"));
            assert_eq!(m.get("sub_mch_id"), None);
            assert_eq!(m.get("device_info"), None);
            assert_eq!(
                m.get("sign_type"),
                (sign_type != SignType::Md5).then_some("HMAC-SHA256")
            );
        }
        let other = ApiKey::new("Zq8xW3vN5mL2kJ7hG4fD9sA1pO6iU0yT");
        let xml = paid().notification(&other, SignType::Md5).to_xml();
        assert!(
            !verify_payment(xml.as_bytes(), &key, None)
                .unwrap()
                .is_authentic()
        );
    }

    #[test]
    fn service_provider_fields_appear_only_when_set() {
        let order = PaidOrder {
            sub_mch_id: "1900000109".into(),
            sub_appid: "wx8888888888888888".into(),
            sub_openid: "o-sub".into(),
            ..paid()
        };
        let fields = order.fields();
        assert_eq!(fields.get("sub_mch_id"), Some("1900000109"));
        assert_eq!(fields.get("sub_openid"), Some("o-sub"));
        assert_eq!(fields.get("sub_is_subscribe"), Some("N"));
    }

    #[test]
    fn each_notification_has_its_own_nonce() {
        assert_ne!(
            paid().fields().get("nonce_str"),
            paid().fields().get("nonce_str")
        );
    }

    #[test]
    fn the_cloud_event_is_camel_case_with_numbers_and_the_cloud_as_provider() {
        let event = paid().cloud_event(CLOUD_PROVIDER_MCH_ID);
        assert_eq!(event["outTradeNo"], "1409811653");
        assert_eq!(event["totalFee"], 101);
        assert_eq!(event["cashFee"], 91);
        assert_eq!(event["couponFee0"], 10);
        assert_eq!(event["couponCount"], 1);
        assert_eq!(event["timeEnd"], "20140903131540");
        assert_eq!(event["returnCode"], "SUCCESS");
        assert_eq!(event["mchId"], CLOUD_PROVIDER_MCH_ID);
        assert_eq!(event["subMchId"], "10000100");
        assert_eq!(event["subAppid"], "wx2421b1c4370ec43b");
        assert_eq!(event["appid"], "wx2421b1c4370ec43b");
        assert_eq!(event["subOpenid"], "oUpF8uMEb4qRXf22hE3X68TekukE");
        assert_eq!(event["subIsSubscribe"], "Y");
        assert!(event.get("sign").is_none() && event.get("total_fee").is_none());
        // A text that looks like a number stays text outside the amounts.
        assert_eq!(event["transactionId"], "1004400740201409030005092168");
    }

    #[test]
    fn only_a_numeric_errcode_0_acknowledges_a_cloud_callback() {
        assert!(is_cloud_ack(200, br#"{"errcode": 0, "errmsg": ""}"#));
        assert!(is_cloud_ack(200, br#"{"errcode":0}"#));
        for (status, body) in [
            (200, &br#"{"errcode": "0"}"#[..]),
            (200, br#"{"errcode": 1, "errmsg": "busy"}"#),
            (200, br#"{"errmsg": ""}"#),
            (200, b"ok"),
            (200, b""),
            (500, br#"{"errcode": 0}"#),
        ] {
            assert!(!is_cloud_ack(status, body), "{status} {body:?}");
        }
    }

    fn refund() -> RefundResult {
        RefundResult {
            appid: "wx2421b1c4370ec43b".into(),
            mch_id: "10000100".into(),
            out_refund_no: "R4001312001201707262674894706_4".into(),
            out_trade_no: "201707260201501501005710775".into(),
            refund_account: "REFUND_SOURCE_UNSETTLED_FUNDS".into(),
            refund_fee: 15,
            refund_id: "50000203702017072601461713166".into(),
            refund_recv_accout: "用户零钱".into(),
            refund_request_source: "API".into(),
            refund_status: "SUCCESS".into(),
            settlement_refund_fee: 15,
            settlement_total_fee: 100,
            success_time: "2017-07-26 02:45:49".into(),
            total_fee: 100,
            transaction_id: "4001312001201707262674894706".into(),
            ..RefundResult::default()
        }
    }

    /// The WxJava refund of reference A5, built and encrypted under the documentation key,
    /// is the reference's own ciphertext (Appendix 3): the plaintext is byte for byte WeChat's.
    #[test]
    fn the_wxjava_refund_encrypts_to_the_documented_req_info() {
        let envelope = refund().notification(&ApiKey::new(DOC_KEY));
        let req_info = envelope.get("req_info").unwrap();
        assert_eq!(refund().plaintext().len(), 815);
        assert!(
            req_info
                .starts_with("4gS8kbcHysCW7bHqyEU0M9umdFVGKPOUBs+y0jA3Blg38QNZN+Ke24ZVdDi+UNeV")
        );
        assert!(req_info.ends_with("hsHkXTdUvycJibCH4pohj+14j7FERSSfu"));
        assert_eq!(req_info.len(), 1088);
    }

    #[test]
    fn a_refund_notification_decrypts_with_its_key_only() {
        let key = ApiKey::new(DOC_KEY);
        let xml = refund().notification(&key).to_xml();
        let decrypted = decrypt_refund(xml.as_bytes(), &key).unwrap();
        assert_eq!(decrypted.info.get("refund_fee"), Some("15"));
        assert_eq!(
            decrypted.info.get("success_time"),
            Some("2017-07-26 02:45:49")
        );
        assert_eq!(decrypted.envelope.get("mch_id"), Some("10000100"));
        assert_eq!(decrypted.envelope.get("sign"), None);
        let other = ApiKey::new("Zq8xW3vN5mL2kJ7hG4fD9sA1pO6iU0yT");
        assert!(decrypt_refund(xml.as_bytes(), &other).is_err());
    }

    #[test]
    fn a_refund_without_success_time_leaves_it_out() {
        let closed = RefundResult {
            refund_status: "REFUNDCLOSE".into(),
            success_time: String::new(),
            ..refund()
        };
        assert!(!closed.plaintext().contains("success_time"));
        assert!(refund().plaintext().contains("<success_time>"));
    }
}
