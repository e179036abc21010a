//! Notifications WeChat Pay sends to `notify_url`: payments (signed, A4) and refunds
//! (encrypted `req_info`, A5), and the replies it expects.

use aes::Aes256;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyInit, block_padding::Pkcs7};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest, Md5};
use thiserror::Error;

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

pub struct RefundNotification {
    /// The outer envelope: return_code, appid, mch_id, nonce_str, req_info.
    pub envelope: Message,
    /// The decrypted `<root>` fields.
    pub info: Message,
}

/// Decrypts a refund notification. It carries no `sign`: successful decryption with the
/// merchant's key is what makes it authentic.
pub fn decrypt_refund(body: &[u8], key: &ApiKey) -> Result<RefundNotification, NotifyError> {
    let envelope = Message::parse(body)?;
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

    #[test]
    fn replies() {
        assert!(REPLY_SUCCESS.starts_with("<xml><return_code><![CDATA[SUCCESS]]>"));
        assert_eq!(
            reply_fail("签名错误"),
            "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[签名错误]]></return_msg></xml>"
        );
    }
}
