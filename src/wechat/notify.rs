//! Notifications WeChat Pay sends to `notify_url`: payments (signed, A4) and refunds
//! (encrypted `req_info`, A5), and the replies it expects.

use aes::Aes256;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyInit, block_padding::Pkcs7};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest, Md5};
use thiserror::Error;

use super::api::Pairs;
use super::secret::ApiKey;
use super::sign::{SignError, SignType, Verification, verify};
use super::xml::{Message, XmlError, push_cdata};

/// The one reply WeChat accepts as "received": anything else, even `success` or JSON, makes
/// it deliver the notification again.
pub const REPLY_SUCCESS: &str = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>";

/// A failure reply: WeChat will retry on its schedule.
pub fn reply_fail(reason: &str) -> String {
    let mut out = String::from("<xml><return_code><![CDATA[FAIL]]></return_code><return_msg>");
    push_cdata(&mut out, reason);
    out.push_str("</return_msg></xml>");
    out
}

/// Only the documented reply counts: an `<xml>` message whose return_code is SUCCESS, with
/// nothing around it. `success`, JSON, an HTML page, another root element or stray text are
/// failures and are retried. (White space between elements stays acceptable: XML parsers,
/// WeChat's most likely too, do not see it.)
pub fn is_success_reply(status: u16, body: &[u8]) -> bool {
    status == 200
        && !body.first().is_some_and(u8::is_ascii_whitespace)
        && !body.last().is_some_and(u8::is_ascii_whitespace)
        && Message::parse_with_root(body)
            .is_ok_and(|(root, reply)| root == "xml" && reply.get("return_code") == Some("SUCCESS"))
}

#[derive(Debug, Error)]
pub enum NotifyError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("the notification has no {0} field")]
    MissingField(&'static str),
    #[error("the notification's {0} field is empty")]
    EmptyField(&'static str),
    #[error("req_info is not valid Base64")]
    Base64,
    #[error(
        "req_info could not be decrypted: it was encrypted with another API key, or it is damaged"
    )]
    Decrypt,
    #[error("the decrypted req_info is not a valid message: {0}")]
    DecryptedXml(XmlError),
}

/// Whom a notification must be addressed to. A `None` is not checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Recipient<'a> {
    pub mch_id: Option<&'a str>,
    pub appid: Option<&'a str>,
}

impl Recipient<'_> {
    fn expected(&self) -> [(&'static str, Option<&str>); 2] {
        [("mch_id", self.mch_id), ("appid", self.appid)]
    }

    /// The fields that name another merchant or app.
    pub fn mismatches(&self, message: &Message) -> Vec<Rejection> {
        self.expected()
            .into_iter()
            .filter_map(|(field, expected)| {
                let expected = expected?;
                let received = message.get(field).unwrap_or("");
                (received != expected).then(|| Rejection::Foreign {
                    field,
                    expected: expected.to_owned(),
                    received: received.to_owned(),
                })
            })
            .collect()
    }

    /// The fields of a refund notification's envelope that name another merchant or app. A
    /// bare failure (see [`is_bare_failure`]) typically carries nothing but return_code and
    /// return_msg: there only a field that is present and names someone else makes it foreign.
    pub fn envelope_mismatches(&self, envelope: &Message) -> Vec<Rejection> {
        let mut rejections = self.mismatches(envelope);
        if is_bare_failure(envelope) {
            rejections.retain(
                |r| !matches!(r, Rejection::Foreign { received, .. } if received.is_empty()),
            );
        }
        rejections
    }

    /// The fields that nothing was given to check against.
    pub fn unchecked(&self) -> Vec<&'static str> {
        self.expected()
            .into_iter()
            .filter(|(_, expected)| expected.is_none())
            .map(|(field, _)| field)
            .collect()
    }
}

/// A value a notification must carry, and where the caller got it (a flag, a profile), in
/// the caller's words, to name when a notification carries another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedValue {
    pub value: String,
    pub by: String,
}

/// A [`Recipient`] that owns its values and knows where each came from.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub mch_id: Option<ExpectedValue>,
    pub appid: Option<ExpectedValue>,
}

impl Expectations {
    pub fn recipient(&self) -> Recipient<'_> {
        Recipient {
            mch_id: self.mch_id.as_ref().map(|e| e.value.as_str()),
            appid: self.appid.as_ref().map(|e| e.value.as_str()),
        }
    }

    /// Where the expected value of a rejected field came from; `None` for a bad sign.
    pub fn origin(&self, rejection: &Rejection) -> Option<&str> {
        let expected = match rejection {
            Rejection::Sign => return None,
            Rejection::Foreign {
                field: "mch_id", ..
            } => &self.mch_id,
            Rejection::Foreign { .. } => &self.appid,
        };
        Some(expected.as_ref().map_or("", |e| e.by.as_str()))
    }
}

/// Why a notification is answered with a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The sign does not match, or cannot be checked at all.
    Sign,
    /// `mch_id` or `appid` names another merchant or app.
    Foreign {
        field: &'static str,
        expected: String,
        received: String,
    },
}

impl Rejection {
    /// The reply's return_msg. It names the cause, so that whoever reads the delivery log
    /// does not go hunting for a key problem when the notification was for another app.
    pub fn return_msg(&self) -> String {
        match self {
            Rejection::Sign => "签名失败".to_owned(),
            Rejection::Foreign { field, .. } => format!("{field}不匹配"),
        }
    }
}

/// The reply to send: success, or a failure naming the first rejection.
pub fn reply_for(rejections: &[Rejection]) -> String {
    match rejections.first() {
        None => REPLY_SUCCESS.to_owned(),
        Some(rejection) => reply_fail(&rejection.return_msg()),
    }
}

/// Why an authentic notification still reports no success: `return_code` or `result_code`
/// other than SUCCESS, with WeChat's own code and description.
fn reported_failure(message: &Message) -> Option<String> {
    let field = |name| message.get(name).unwrap_or("");
    if field("return_code") != "SUCCESS" {
        return Some(format!(
            "return_code={}: {}",
            or_missing(field("return_code")),
            or_missing(field("return_msg"))
        ));
    }
    None
}

fn or_missing(value: &str) -> &str {
    if value.is_empty() { "(missing)" } else { value }
}

pub struct PaymentNotification {
    pub message: Message,
    /// An error when the sign cannot even be checked (missing, unknown sign type): such a
    /// notification is as untrustworthy as one whose sign does not match.
    pub verification: Result<Verification, SignError>,
}

impl PaymentNotification {
    pub fn is_authentic(&self) -> bool {
        self.verification.as_ref().is_ok_and(|v| v.valid)
    }

    /// Everything that makes this notification one to refuse: a bad sign first, then the
    /// fields that name another merchant or app.
    pub fn rejections(&self, recipient: &Recipient) -> Vec<Rejection> {
        let mut rejections = Vec::new();
        if !self.is_authentic() {
            rejections.push(Rejection::Sign);
        }
        rejections.extend(recipient.mismatches(&self.message));
        rejections
    }

    /// Why the payment did not succeed, when the notification says so: WeChat's failure codes
    /// (`return_code`, then `result_code` with `err_code` and `err_code_des`). `None` for a
    /// paid order. Meaningful only for an authentic notification.
    pub fn failure(&self) -> Option<String> {
        if let Some(failure) = reported_failure(&self.message) {
            return Some(failure);
        }
        let field = |name| self.message.get(name).unwrap_or("");
        (field("result_code") != "SUCCESS").then(|| {
            format!(
                "result_code={}, err_code={}: {}",
                or_missing(field("result_code")),
                or_missing(field("err_code")),
                or_missing(field("err_code_des"))
            )
        })
    }
}

/// Parses and verifies a payment notification. Authenticity is the caller's decision: one
/// that is not authentic must be answered with a failure.
pub fn verify_payment(
    body: &[u8],
    key: &ApiKey,
    sign_type: Option<SignType>,
) -> Result<PaymentNotification, XmlError> {
    let message = Message::parse(body)?;
    let verification = verify(&message, key, sign_type);
    Ok(PaymentNotification {
        message,
        verification,
    })
}

/// The fields a refund notification's envelope has (reference A5). None of them is signed.
pub const REFUND_ENVELOPE_FIELDS: [&str; 8] = [
    "return_code",
    "return_msg",
    "appid",
    "mch_id",
    "nonce_str",
    "req_info",
    "sub_appid",
    "sub_mch_id",
];

pub struct RefundNotification {
    /// The outer envelope: return_code, appid, mch_id, nonce_str, req_info. It is neither
    /// signed nor encrypted: anyone on the way can change or add fields.
    pub envelope: Message,
    /// The decrypted `<root>` fields.
    pub info: Message,
}

/// As `notify decrypt` prints it (docs/reference.md): what the envelope reports, its protocol
/// fields and any others apart, then what decrypted. The command adds the reply and notes.
impl serde::Serialize for RefundNotification {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let envelope: Vec<(&str, &str)> = (self.envelope.pairs())
            .filter(|(name, _)| *name != "req_info" && REFUND_ENVELOPE_FIELDS.contains(name))
            .collect();
        let extra: Vec<(&str, &str)> = self.extra_fields().collect();
        let mut out = serializer.serialize_struct("RefundNotification", 5)?;
        out.serialize_field("decrypted", &true)?;
        out.serialize_field("reported_failure", &envelope_failure(&self.envelope))?;
        out.serialize_field("envelope", &Pairs(&envelope))?;
        out.serialize_field("unsigned_extra_fields", &Pairs(&extra))?;
        out.serialize_field("fields", &self.info)?;
        out.end()
    }
}

impl RefundNotification {
    /// Fields of the envelope that the protocol does not define. Being outside req_info,
    /// they prove nothing, whatever they claim.
    pub fn extra_fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.envelope
            .pairs()
            .filter(|(name, _)| !REFUND_ENVELOPE_FIELDS.contains(name))
    }
}

/// The envelope's `return_code=FAIL` (or anything but SUCCESS), with its return_msg: WeChat
/// reports no refund result in such a notification.
pub fn envelope_failure(envelope: &Message) -> Option<String> {
    reported_failure(envelope)
}

/// Whether a refund envelope reports a failure and carries no req_info: no refund result at all.
pub fn is_bare_failure(envelope: &Message) -> bool {
    envelope_failure(envelope).is_some() && envelope.get("req_info").is_none()
}

/// Decrypts a refund notification. It carries no `sign`: successful decryption with the
/// merchant's key is what makes it authentic.
pub fn decrypt_refund(body: &[u8], key: &ApiKey) -> Result<RefundNotification, NotifyError> {
    decrypt_envelope(Message::parse(body)?, key)
}

/// Decrypts the req_info of an envelope already parsed.
pub fn decrypt_envelope(
    envelope: Message,
    key: &ApiKey,
) -> Result<RefundNotification, NotifyError> {
    let req_info = match envelope.get("req_info") {
        None => return Err(NotifyError::MissingField("req_info")),
        Some("") => return Err(NotifyError::EmptyField("req_info")),
        Some(text) => text,
    };
    let info = decrypt_req_info(req_info, key)?;
    Ok(RefundNotification { envelope, info })
}

/// The AES-256 key: the lower-case hex MD5 of the API key, its 32 ASCII bytes used as is.
fn req_info_cipher_key(key: &ApiKey) -> [u8; 32] {
    let hex = super::hex_upper(&Md5::digest(key.expose().as_bytes())).to_lowercase();
    hex.as_bytes()
        .try_into()
        .expect("an MD5 hex digest has 32 characters")
}

pub fn decrypt_req_info(req_info: &str, key: &ApiKey) -> Result<Message, NotifyError> {
    let compact: String = req_info.split_ascii_whitespace().collect();
    let ciphertext = BASE64.decode(compact).map_err(|_| NotifyError::Base64)?;
    let plaintext = ecb::Decryptor::<Aes256>::new(&req_info_cipher_key(key).into())
        .decrypt_padded_vec::<Pkcs7>(&ciphertext)
        .map_err(|_| NotifyError::Decrypt)?;
    Message::parse(&plaintext).map_err(NotifyError::DecryptedXml)
}

/// Encrypts a `<root>` plaintext as WeChat does; the emulator uses it to send refund results.
pub fn encrypt_req_info(plaintext: &[u8], key: &ApiKey) -> String {
    let ciphertext = ecb::Encryptor::<Aes256>::new(&req_info_cipher_key(key).into())
        .encrypt_padded_vec::<Pkcs7>(plaintext);
    BASE64.encode(ciphertext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_success_xml_counts() {
        let ok = b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>";
        assert!(is_success_reply(200, ok));
        assert!(is_success_reply(
            200,
            b"<xml><return_code>SUCCESS</return_code></xml>"
        ));
        assert!(!is_success_reply(500, ok));
        for bad in [
            &b"success"[..],
            b"SUCCESS",
            b"{\"return_code\":\"SUCCESS\",\"return_msg\":\"OK\"}",
            b"<html><body>ok</body></html>",
            b"<xml><return_code><![CDATA[FAIL]]></return_code></xml>",
            b"<xml><return_code>SUCCESS</return_code></xml>trailing",
            b"<xml><return_code>SUCCESS</return_code></xml>\n",
            b"<root><return_code>SUCCESS</return_code></root>",
            b"<xml><return_code>SUCCESS</return_code>\\n</xml>",
            b"",
        ] {
            assert!(
                !is_success_reply(200, bad),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    const DOC_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    /// The WxJava plaintext of reference A5, exactly: LF line ends, no trailing newline.
    const WXJAVA_PLAINTEXT: &str = "<root>\n<out_refund_no><![CDATA[R4001312001201707262674894706_4]]></out_refund_no>\n<out_trade_no><![CDATA[201707260201501501005710775]]></out_trade_no>\n<refund_account><![CDATA[REFUND_SOURCE_UNSETTLED_FUNDS]]></refund_account>\n<refund_fee><![CDATA[15]]></refund_fee>\n<refund_id><![CDATA[50000203702017072601461713166]]></refund_id>\n<refund_recv_accout><![CDATA[用户零钱]]></refund_recv_accout>\n<refund_request_source><![CDATA[API]]></refund_request_source>\n<refund_status><![CDATA[SUCCESS]]></refund_status>\n<settlement_refund_fee><![CDATA[15]]></settlement_refund_fee>\n<settlement_total_fee><![CDATA[100]]></settlement_total_fee>\n<success_time><![CDATA[2017-07-26 02:45:49]]></success_time>\n<total_fee><![CDATA[100]]></total_fee>\n<transaction_id><![CDATA[4001312001201707262674894706]]></transaction_id>\n</root>";

    /// Reference Appendix 3, joined: 1088 characters.
    const APPENDIX_3: &str = concat!(
        "4gS8kbcHysCW7bHqyEU0M9umdFVGKPOUBs+y0jA3Blg38QNZN+Ke24ZVdDi+UNeVAWsJuOJibMtOg0xUQPkJeMciCQysLCjHDLsa",
        "2ZuUjYeEuYUy2mRGagZt+o63AmqazCOpMIMWsQyJ1E1GKPpu4PnVO1GCIKDY8KeJPfKxrsNq7qvOEJh8DdMfO6BlGqSFalUHJ4+o",
        "V/CmpC59BHda9uzUyI41qfDPxbZYeu6QQG6xHpEPFyIbrm+Kx7BlKTUQ7HiJy1hTtXWRqJxg6QCPsQJl8R8LxOO1op72+t79jiKs",
        "w3Y4jkohUYNjaz3K3khOfMCcWH+Vp4YRKKyMGtzqcpyMhzrllcJLINwiF1/fkSjUJPesFGmbGg/dT5WIVkg2R+HtCoFCBKZilVK+",
        "8g5ZYpgXRWRhqp3Gw+0xdK3xWe8AyvXUOLULHfLVx9JAqMukyG6yu6kHksGHbhDASGyOhliWyGP6UN6F/8uSUgcdTEEvZn37H9y4",
        "++1zLZfDShydUj8RH68A4ehjvkIsTIjA8xjtzwa6nz9Zm1/elohtPQWq1Rsr8ogUAtWfz8pOW46RmJEbdhs0Xj9oeHn+d+lmRFf8",
        "aPaprZvWwEgRUsBo0AK1SBA5Bnc91SkId7nYP8CD/Lr6hqAKzYF/5Wf9+75v0iSQ7c2RA8xEW/rkyJ2JW8v+y8Gvh7eVLcDtqCwG",
        "CTlDmQkNZKVjpCmIcn5X0yE2MuEzSnuf/h1k9rIawNuQloxQXzDdbKEa7t0lJm0S1gpD2Fgkh0WjhEs1161QcrC5yHph5INg6uox",
        "HQRmbePFvtP8GsdUSex1pyEhGh0HYcWqWH5U5WBshQx8y5UlHPjzjJ8mFKYlkQQZVDg3MqP06njro+tMtOVyA8RXpdvU4TgtKCDs",
        "fNnEsuBJTwE82wuAixblpPmiI/7QfCe/zixYAOStAV9YtXcrJlhbqAyO1M5+31uYTcnNWKXLUpEsU12PEbYMHXOPX0nMFrRE8Go4",
        "dDRpx+TNV7PqAoRka31LO7wMeROC6/qXmThgOTHAj9iEQGNw4U7+ikJhsHkXTdUvycJibCH4pohj+14j7FERSSfu",
    );

    #[test]
    fn cipher_key_is_the_lowercase_md5_of_the_api_key() {
        assert_eq!(
            &req_info_cipher_key(&ApiKey::new(DOC_KEY)),
            b"d96eb16afdd491fa1e705096edbc2205"
        );
        assert_eq!(
            &req_info_cipher_key(&ApiKey::new("1234567890abcdef1234567890abcdef")),
            b"24cc2089ec57ab0b8fa883e360598865"
        );
    }

    #[test]
    fn appendix_3_vector_both_ways() {
        assert_eq!(WXJAVA_PLAINTEXT.len(), 815);
        assert_eq!(APPENDIX_3.len(), 1088);
        let key = ApiKey::new(DOC_KEY);
        assert_eq!(
            encrypt_req_info(WXJAVA_PLAINTEXT.as_bytes(), &key),
            APPENDIX_3
        );
        let info = decrypt_req_info(APPENDIX_3, &key).unwrap();
        assert_eq!(info.get("refund_id"), Some("50000203702017072601461713166"));
        assert_eq!(info.get("refund_recv_accout"), Some("用户零钱"));
        assert_eq!(info.len(), 13);
    }

    #[test]
    fn raw_aes_vectors_from_sdks() {
        // wechatpay-php and SKIT use a raw 32-byte key; feed it through the same cipher.
        let decrypt = |key: &[u8; 32], b64: &str| {
            let bytes = BASE64.decode(b64).unwrap();
            ecb::Decryptor::<Aes256>::new(key.into())
                .decrypt_padded_vec::<Pkcs7>(&bytes)
                .unwrap()
        };
        assert_eq!(
            decrypt(
                b"0123456789abcdef0123456789abcdef",
                "pZwJZBLuy3mDACEQT4YTBw=="
            ),
            b"hello"
        );
        assert_eq!(
            decrypt(
                b"01234567890abcdefedcba9876543210",
                "l/aL5GyVfl/tw3Lww6GvCQ=="
            ),
            b"SKIT is great!"
        );
    }

    #[test]
    fn wrong_key_and_garbage_fail_cleanly() {
        let wrong = ApiKey::new("00000000000000000000000000000000");
        assert!(matches!(
            decrypt_req_info(APPENDIX_3, &wrong),
            Err(NotifyError::Decrypt | NotifyError::DecryptedXml(_))
        ));
        let key = ApiKey::new(DOC_KEY);
        assert!(matches!(
            decrypt_req_info("%%%", &key),
            Err(NotifyError::Base64)
        ));
        assert!(matches!(
            decrypt_req_info("AAAA", &key),
            Err(NotifyError::Decrypt)
        ));
        for cut in (0..APPENDIX_3.len()).step_by(7) {
            let _ = decrypt_req_info(&APPENDIX_3[..cut], &key);
        }
    }

    #[test]
    fn refund_envelope_round_trip() {
        let key = ApiKey::new(DOC_KEY);
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/real/refund.notification.req_info.sample.xml"
        );
        let plaintext = std::fs::read(path).unwrap();
        let mut envelope = Message::new();
        envelope
            .set("return_code", "SUCCESS")
            .set("appid", "wx2421b1c4370ec43b")
            .set("mch_id", "10000100")
            .set("nonce_str", "TeqClE3i0mvn3DrK")
            .set("req_info", encrypt_req_info(&plaintext, &key));
        let refund = decrypt_refund(envelope.to_xml().as_bytes(), &key).unwrap();
        assert_eq!(refund.info.get("refund_fee"), Some("3960"));
        assert_eq!(refund.envelope.get("mch_id"), Some("10000100"));
        let empty = b"<xml><return_code>SUCCESS</return_code></xml>";
        assert!(matches!(
            decrypt_refund(empty, &key),
            Err(NotifyError::MissingField("req_info"))
        ));
    }

    fn signed_payment(fields: &[(&str, &str)]) -> PaymentNotification {
        let key = ApiKey::new(DOC_KEY);
        let mut message = Message::from_pairs(fields.iter().copied()).unwrap();
        super::super::sign::set_sign(&mut message, &key, SignType::Md5);
        verify_payment(message.to_xml().as_bytes(), &key, None).unwrap()
    }

    const PAID: [(&str, &str); 4] = [
        ("return_code", "SUCCESS"),
        ("result_code", "SUCCESS"),
        ("mch_id", "10000100"),
        ("appid", "wx2421b1c4370ec43b"),
    ];

    #[test]
    fn rejections_name_what_was_wrong_in_the_reply() {
        let ours = Recipient {
            mch_id: Some("10000100"),
            appid: Some("wx2421b1c4370ec43b"),
        };
        let paid = signed_payment(&PAID);
        assert!(paid.rejections(&ours).is_empty());
        assert_eq!(reply_for(&paid.rejections(&ours)), REPLY_SUCCESS);
        assert_eq!(paid.failure(), None);

        let other_app = Recipient {
            appid: Some("wxd930ea5d5a258f4f"),
            ..ours
        };
        let rejections = paid.rejections(&other_app);
        assert_eq!(
            rejections,
            vec![Rejection::Foreign {
                field: "appid",
                expected: "wxd930ea5d5a258f4f".into(),
                received: "wx2421b1c4370ec43b".into(),
            }]
        );
        assert!(reply_for(&rejections).contains("<![CDATA[appid不匹配]]>"));
        let other_merchant = Recipient {
            mch_id: Some("1900000109"),
            ..ours
        };
        assert!(reply_for(&paid.rejections(&other_merchant)).contains("mch_id不匹配"));

        // A bad sign comes first: nothing else in the message can be believed.
        let mut forged = Message::parse(paid.message.to_xml().as_bytes()).unwrap();
        forged.set("mch_id", "1900000109");
        let forged =
            verify_payment(forged.to_xml().as_bytes(), &ApiKey::new(DOC_KEY), None).unwrap();
        let rejections = forged.rejections(&ours);
        assert_eq!(rejections[0], Rejection::Sign);
        assert_eq!(rejections.len(), 2);
        assert!(reply_for(&rejections).contains("签名失败"));

        assert_eq!(Recipient::default().unchecked(), vec!["mch_id", "appid"]);
        assert!(Recipient::default().mismatches(&paid.message).is_empty());
        assert_eq!(other_app.unchecked(), Vec::<&str>::new());
    }

    #[test]
    fn failed_payments_are_told_apart_from_paid_ones() {
        let mut fields = PAID.to_vec();
        fields[1] = ("result_code", "FAIL");
        fields.push(("err_code", "ORDERCLOSED"));
        fields.push(("err_code_des", "订单已关闭"));
        let failed = signed_payment(&fields);
        assert!(failed.is_authentic());
        assert_eq!(
            failed.failure().as_deref(),
            Some("result_code=FAIL, err_code=ORDERCLOSED: 订单已关闭")
        );
        let refused =
            signed_payment(&[("return_code", "FAIL"), ("return_msg", "参数格式校验错误")]);
        assert_eq!(
            refused.failure().as_deref(),
            Some("return_code=FAIL: 参数格式校验错误")
        );
        let bare = signed_payment(&[("return_code", "SUCCESS")]);
        assert_eq!(
            bare.failure().as_deref(),
            Some("result_code=(missing), err_code=(missing): (missing)")
        );
    }

    #[test]
    fn refund_envelopes_report_failure_and_extra_fields() {
        let key = ApiKey::new(DOC_KEY);
        let mut envelope = Message::new();
        envelope
            .set("return_code", "FAIL")
            .set("return_msg", "系统繁忙")
            .set("mch_id", "10000100")
            .set("refund_fee", "99999")
            .set("req_info", APPENDIX_3);
        assert_eq!(
            envelope_failure(&envelope).as_deref(),
            Some("return_code=FAIL: 系统繁忙")
        );
        let refund = decrypt_envelope(envelope, &key).unwrap();
        assert_eq!(
            refund.extra_fields().collect::<Vec<_>>(),
            vec![("refund_fee", "99999")]
        );
        // Printed, the envelope's own fields and the others are apart, req_info in neither.
        let printed = serde_json::to_value(&refund).unwrap();
        assert_eq!(
            printed,
            serde_json::json!({
                "decrypted": true,
                "reported_failure": "return_code=FAIL: 系统繁忙",
                "envelope": {"return_code": "FAIL", "return_msg": "系统繁忙", "mch_id": "10000100"},
                "unsigned_extra_fields": {"refund_fee": "99999"},
                "fields": refund.info,
            })
        );
        envelope = Message::new();
        envelope.set("return_code", "SUCCESS");
        assert_eq!(envelope_failure(&envelope), None);
    }

    #[test]
    fn a_bare_failure_is_foreign_only_for_a_field_that_names_someone_else() {
        let ours = Recipient {
            mch_id: Some("10000100"),
            appid: Some("wx2421b1c4370ec43b"),
        };
        let mut envelope = Message::new();
        envelope.set("return_code", "FAIL").set("return_msg", "x");
        assert!(is_bare_failure(&envelope));
        assert_eq!(ours.envelope_mismatches(&envelope), vec![]);
        envelope.set("mch_id", "10000199");
        assert_eq!(
            ours.envelope_mismatches(&envelope),
            vec![Rejection::Foreign {
                field: "mch_id",
                expected: "10000100".into(),
                received: "10000199".into(),
            }]
        );
        // With req_info, a missing field is as foreign as a wrong one.
        envelope
            .set("mch_id", "10000100")
            .set("req_info", APPENDIX_3);
        assert!(!is_bare_failure(&envelope));
        let rejections = ours.envelope_mismatches(&envelope);
        assert!(
            matches!(&rejections[..], [Rejection::Foreign { field: "appid", received, .. }] if received.is_empty()),
            "{rejections:?}"
        );
    }

    #[test]
    fn replies() {
        assert!(REPLY_SUCCESS.starts_with("<xml><return_code><![CDATA[SUCCESS]]>"));
        assert_eq!(
            reply_fail("签名错误"),
            "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[签名错误]]></return_msg></xml>"
        );
    }

    #[test]
    fn expectations_name_where_each_value_came_from() {
        let expected = |value: &str, by: &str| ExpectedValue {
            value: value.into(),
            by: by.into(),
        };
        let expectations = Expectations {
            mch_id: Some(expected("10000100", "--mch-id")),
            appid: Some(expected("wx2421b1c4370ec43b", "profile \"shop\"")),
        };
        let message = Message::from_pairs([("mch_id", "1"), ("appid", "wx1")]).unwrap();
        let rejections = expectations.recipient().mismatches(&message);
        let origins: Vec<_> = rejections.iter().map(|r| expectations.origin(r)).collect();
        assert_eq!(origins, [Some("--mch-id"), Some("profile \"shop\"")]);
        assert_eq!(expectations.origin(&Rejection::Sign), None);

        let partial = Expectations {
            appid: Some(expected("wx1", "--appid")),
            ..Expectations::default()
        };
        assert_eq!(partial.recipient().unchecked(), ["mch_id"]);
        assert!(partial.recipient().mismatches(&message).is_empty());
    }
}
