//! Property fuzzing of the protocol core: the XML codec, signing and notifications.
//!
//! CI runs each property with a few hundred cases; a long run sets `PROPTEST_CASES` (see
//! DEVELOPMENT.md, Fuzzing).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

use super::ApiKey;
use super::notify::{
    Recipient, decrypt_refund, decrypt_req_info, encrypt_req_info, envelope_failure, reply_fail,
    reply_for, verify_payment,
};
use super::sign::{SignType, canonical, set_sign, sign_in_place, verify};
use super::xml::{Message, push_cdata};

const DOC_KEY: &str = "192006250b4c09247ec02edce69f6a2d";
const OTHER_KEY: &str = "Zq8xW3vN5mL2kJ7hG4fD9sA1pO6iU0yT";
const REAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/real/");
const XML_FIXTURES: [&str; 4] = [
    "paysuccess.notification.sample.xml",
    "unifiedorder.sample.xml",
    "refund.notification.req_info.sample.xml",
    "invalid.xxe_injection.sample.xml",
];

/// Cases per property: `PROPTEST_CASES` when set (a long run), else `ci` (seconds in CI).
pub(crate) fn fuzz_config(ci: u32) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = ci;
    }
    config
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{REAL}{name}")).expect("shared fixtures beside the checkout")
}

fn field_name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,12}"
}

/// Values that stress the encoder: CDATA ends, markup, line ends, controls, non-ASCII.
pub(crate) fn field_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,16}",
        prop::collection::vec(
            prop_oneof![
                Just("]]>"),
                Just("<![CDATA["),
                Just("&amp;"),
                Just("<"),
                Just("&"),
                Just("\r"),
                Just("\n"),
                Just("\t"),
                Just(" "),
                Just("\u{0}"),
                Just("\u{1b}]0;x\u{7}"),
                Just("\u{85}"),
                Just("\u{2028}"),
                Just("\u{feff}"),
                Just("支付"),
                Just("a"),
            ],
            0..8
        )
        .prop_map(|parts| parts.concat()),
    ]
}

/// Distinct field names with values, in the order given; `sign` and `sign_type` are left
/// to the signer.
fn field_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((field_name(), field_value()), 0..10).prop_map(|pairs| {
        let mut seen = std::collections::HashSet::new();
        pairs
            .into_iter()
            .filter(|(name, _)| name != "sign" && name != "sign_type" && seen.insert(name.clone()))
            .collect()
    })
}

/// Token soup that reaches the parser's states: roots, fields, CDATA, references, DTDs.
fn xml_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("<xml>"),
        Just("</xml>"),
        Just("<root>"),
        Just("</root>"),
        Just("<a>"),
        Just("</a>"),
        Just("<sign>"),
        Just("</sign>"),
        Just("<sign_type>"),
        Just("</sign_type>"),
        Just("<a/>"),
        Just("<1a>"),
        Just("<a:b>"),
        Just("<a x=\"1\">"),
        Just("<![CDATA["),
        Just("]]>"),
        Just("&amp;"),
        Just("&lt;"),
        Just("&#x4E2D;"),
        Just("&#0;"),
        Just("&#13;"),
        Just("&#xD800;"),
        Just("&#x110000;"),
        Just("&xxe;"),
        Just("&#"),
        Just("<!DOCTYPE xml [<!ENTITY x \"y\">]>"),
        Just("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        Just("<!--"),
        Just("-->"),
        Just("<?pi x?>"),
        Just(" "),
        Just("\n"),
        Just("\r"),
        Just("\u{feff}"),
        Just("支付"),
        Just("MD5"),
        Just("HMAC-SHA256"),
        Just("9A0A8659F005D6984697E2CA0A9CF3B7"),
        Just("<"),
        Just(">"),
        Just("&"),
        Just("/"),
    ];
    prop::collection::vec(
        prop_oneof![4 => token.prop_map(String::from), 1 => "[ -~]{0,6}"],
        0..40,
    )
    .prop_map(|tokens| tokens.concat())
}

/// A flat message whose field contents are soup: mostly valid, with odd values.
fn message_soup() -> impl Strategy<Value = String> {
    let content = prop::collection::vec(
        prop_oneof![
            Just("<![CDATA[".to_owned()),
            Just("]]>".to_owned()),
            Just("&#13;".to_owned()),
            Just("&#x1F600;".to_owned()),
            Just("&quot;".to_owned()),
            Just("&bogus;".to_owned()),
            Just("\r\n".to_owned()),
            Just("<b/>".to_owned()),
            "[ -~]{0,6}",
            field_value().prop_map(|v| {
                let mut out = String::new();
                push_cdata(&mut out, &v);
                out
            }),
        ],
        0..4,
    );
    (
        prop_oneof![Just("xml"), Just("root")],
        prop::collection::vec((field_name(), content), 0..8),
    )
        .prop_map(|(root, fields)| {
            let mut xml = format!("<{root}>");
            for (name, parts) in fields {
                xml.push_str(&format!("<{name}>{}</{name}>\n", parts.concat()));
            }
            xml.push_str(&format!("</{root}>"));
            xml
        })
}

/// A real sample with one byte replaced, to reach deep into valid-looking messages.
fn mutated_fixture() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(&XML_FIXTURES[..]),
        any::<Index>(),
        prop_oneof![any::<u8>(), 0x20u8..0x7f],
    )
        .prop_map(|(name, at, byte)| {
            let mut bytes = fixture(name);
            let at = at.index(bytes.len());
            bytes[at] = byte;
            bytes
        })
}

fn any_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        xml_soup().prop_map(String::into_bytes),
        message_soup().prop_map(String::into_bytes),
        mutated_fixture(),
    ]
}

fn sign_types() -> impl Strategy<Value = Option<SignType>> {
    prop::option::of(prop_oneof![Just(SignType::Md5), Just(SignType::HmacSha256)])
}

fn sign_type() -> impl Strategy<Value = SignType> {
    prop_oneof![Just(SignType::Md5), Just(SignType::HmacSha256)]
}

proptest! {
    #![proptest_config(fuzz_config(512))]

    /// Any input gives a message or an error; a message it gives is flat, well named, and
    /// written out again it reads back the same.
    #[test]
    fn fuzz_xml_parse_any_input(bytes in any_input()) {
        if let Ok(message) = Message::parse(&bytes) {
            prop_assert!(message.len() <= super::xml::MAX_FIELDS);
            prop_assert!(message.pairs().all(|(name, _)| super::xml::is_valid_name(name)));
            let again = Message::parse(message.to_xml().as_bytes());
            prop_assert_eq!(again.as_ref(), Ok(&message), "{}", message.to_xml());
        }
    }

    /// Any field map, written and read back, is the same map in the same order.
    #[test]
    fn fuzz_xml_round_trip(pairs in field_pairs(), amount in prop::option::of(any::<i64>())) {
        let mut message = Message::from_pairs(pairs).unwrap();
        if let Some(amount) = amount {
            message.set_int("total_fee", amount);
        }
        let xml = message.to_xml();
        let parsed = Message::parse(xml.as_bytes());
        prop_assert!(parsed.is_ok(), "{:?} from {}", parsed, xml);
        let parsed = parsed.unwrap();
        prop_assert_eq!(parsed.pairs().collect::<Vec<_>>(), message.pairs().collect::<Vec<_>>());
    }

    /// Verifying whatever parses never panics, whatever key or sign type is given.
    #[test]
    fn fuzz_sign_verify_any_message(bytes in any_input(), given in sign_types()) {
        if let Ok(message) = Message::parse(&bytes) {
            for key in [DOC_KEY, OTHER_KEY] {
                let _ = verify(&message, &ApiKey::new(key), given);
            }
        }
    }

    /// A message signed with the key verifies after the wire round trip, with the sign type
    /// declared or inferred from the sign's length; another key never verifies it, and no
    /// one-byte change to the wire form verifies unless it left the signed content as it was.
    #[test]
    fn fuzz_sign_then_tamper(
        pairs in field_pairs(),
        sign_type in sign_type(),
        declare in any::<bool>(),
        at in any::<Index>(),
        byte in prop_oneof![any::<u8>(), 0x20u8..0x7f],
    ) {
        let key = ApiKey::new(DOC_KEY);
        let mut message = Message::from_pairs(pairs).unwrap();
        if declare {
            sign_in_place(&mut message, &key, sign_type);
        } else {
            set_sign(&mut message, &key, sign_type);
        }
        let xml = message.to_xml();
        let parsed = Message::parse(xml.as_bytes()).unwrap();
        let verification = verify(&parsed, &key, None).unwrap();
        prop_assert!(verification.valid, "{}", xml);
        prop_assert_eq!(verification.sign_type, sign_type);
        prop_assert!(!verify(&parsed, &ApiKey::new(OTHER_KEY), None).unwrap().valid);

        let mut tampered = xml.into_bytes();
        let at = at.index(tampered.len());
        tampered[at] = if tampered[at] == byte { byte ^ 1 } else { byte };
        if let Ok(changed) = Message::parse(&tampered)
            && let Ok(verification) = verify(&changed, &key, None)
            && verification.valid
        {
            let signed = |m: &Message| {
                (canonical(m.pairs()).string, m.get("sign").map(str::to_owned))
            };
            prop_assert_eq!(
                signed(&changed),
                signed(&parsed),
                "a changed message verified: {}",
                String::from_utf8_lossy(&tampered)
            );
        }
    }

    /// Payment notifications of any shape: parsed and judged without a panic, and the reply
    /// is always one WeChat reads.
    #[test]
    fn fuzz_notify_verify_any_input(
        bytes in any_input(),
        given in sign_types(),
        mch_id in prop::option::of("[0-9]{0,10}"),
    ) {
        if let Ok(notification) = verify_payment(&bytes, &ApiKey::new(DOC_KEY), given) {
            let recipient = Recipient { mch_id: mch_id.as_deref(), appid: Some("wx2421b1c4370ec43b") };
            let rejections = notification.rejections(&recipient);
            let _ = notification.failure();
            let reply = Message::parse(reply_for(&rejections).as_bytes()).unwrap();
            let expected = if rejections.is_empty() { "SUCCESS" } else { "FAIL" };
            prop_assert_eq!(reply.get("return_code"), Some(expected));
        }
    }

    /// Refund notifications and req_info of any shape decrypt or fail cleanly.
    #[test]
    fn fuzz_notify_decrypt_any_input(
        bytes in any_input(),
        req_info in prop_oneof![
            any::<String>(),
            prop::collection::vec(any::<u8>(), 0..96).prop_map(|b| BASE64.encode(b)),
            // Whole AES blocks, so that decryption runs and the padding check decides.
            (1usize..6).prop_flat_map(|n| prop::collection::vec(any::<u8>(), n * 16))
                .prop_map(|b| BASE64.encode(b)),
        ],
    ) {
        let key = ApiKey::new(DOC_KEY);
        if let Ok(refund) = decrypt_refund(&bytes, &key) {
            let _ = envelope_failure(&refund.envelope);
            let _ = refund.extra_fields().count();
        }
        let _ = decrypt_req_info(&req_info, &key);
        let mut envelope = String::from("<xml><return_code>SUCCESS</return_code><req_info>");
        push_cdata(&mut envelope, &req_info);
        envelope.push_str("</req_info></xml>");
        let _ = decrypt_refund(envelope.as_bytes(), &key);
    }

    /// Any req_info encrypted with the key decrypts to the same fields; with another key it
    /// never does.
    #[test]
    fn fuzz_notify_encrypt_decrypt_round_trip(pairs in field_pairs()) {
        let key = ApiKey::new(DOC_KEY);
        let info = Message::from_pairs(pairs).unwrap();
        let plaintext = info.to_xml().replacen("<xml>", "<root>", 1).replace("</xml>", "</root>");
        let mut envelope = Message::new();
        envelope.set("return_code", "SUCCESS").set("req_info", encrypt_req_info(plaintext.as_bytes(), &key));
        let refund = decrypt_refund(envelope.to_xml().as_bytes(), &key);
        prop_assert!(refund.is_ok(), "{}", plaintext);
        prop_assert_eq!(refund.unwrap().info, info);
        if let Ok(wrong) = decrypt_refund(envelope.to_xml().as_bytes(), &ApiKey::new(OTHER_KEY)) {
            prop_assert_ne!(wrong.info, Message::parse(plaintext.as_bytes()).unwrap());
        }
    }

    /// A failure reply carries any reason intact.
    #[test]
    fn fuzz_notify_reply_carries_any_reason(reason in field_value()) {
        let reply = Message::parse(reply_fail(&reason).as_bytes()).unwrap();
        prop_assert_eq!(reply.get("return_msg"), Some(reason.as_str()));
    }
}
