//! The flat `<xml>` messages of API v2: one child element per parameter.

use std::collections::HashSet;

use quick_xml::Reader;
use quick_xml::events::Event;
use thiserror::Error;

/// WeChat messages are a few kilobytes; `detail` (6000 chars) is the largest field. A megabyte
/// leaves room for any real message while keeping hostile input cheap to refuse.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// The largest real messages (a refund query page with coupons) have a few hundred fields.
pub const MAX_FIELDS: usize = 2000;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum XmlError {
    #[error("the message is empty")]
    Empty,
    #[error("the message is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("the message is not valid UTF-8 (byte {0})")]
    NotUtf8(usize),
    #[error(
        "the message contains a DTD (<!DOCTYPE …>); WeChat Pay messages never do, and it is refused to prevent XXE attacks"
    )]
    Dtd,
    #[error(
        "the message uses the entity {0:?}; only the five predefined XML entities and character references are accepted"
    )]
    Entity(String),
    #[error("malformed XML at byte {position}: {reason}")]
    Malformed { position: u64, reason: String },
    #[error("field {0:?} contains nested elements; WeChat Pay messages are flat")]
    Nested(String),
    #[error("field {0:?} appears more than once")]
    Duplicate(String),
    #[error("the message has more than {MAX_FIELDS} fields")]
    TooManyFields,
    #[error(
        "{0:?} is not a valid field name (letters, digits and _ only, not starting with a digit)"
    )]
    BadName(String),
    #[error("content after the closing tag of {0:?}")]
    TrailingContent(String),
}

/// How a value is written: strings in CDATA, integer amounts bare, as the real server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Int,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: String,
    pub kind: FieldKind,
}

/// An ordered set of named fields. Order is kept as received or inserted, so output is stable;
/// it never matters for signing, which sorts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    fields: Vec<Field>,
}

pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 64
}

impl Message {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a message from user-supplied pairs, refusing bad names and duplicates.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, XmlError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut message = Message::new();
        let mut seen = HashSet::new();
        for (name, value) in pairs {
            message.push_unique(&mut seen, name.into(), value.into())?;
        }
        Ok(message)
    }

    /// Appends a field, refusing bad names, repeats (tracked in `seen`, so that building a
    /// message stays linear) and more than `MAX_FIELDS` fields.
    fn push_unique(
        &mut self,
        seen: &mut HashSet<String>,
        name: String,
        value: String,
    ) -> Result<(), XmlError> {
        if !is_valid_name(&name) {
            return Err(XmlError::BadName(name));
        }
        if self.fields.len() >= MAX_FIELDS {
            return Err(XmlError::TooManyFields);
        }
        if !seen.insert(name.clone()) {
            return Err(XmlError::Duplicate(name));
        }
        self.fields.push(Field {
            name,
            value,
            kind: FieldKind::Text,
        });
        Ok(())
    }

    /// Sets a string field, replacing an existing value in place.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.set_kind(name, value.into(), FieldKind::Text)
    }

    /// Sets an integer field (written without CDATA).
    pub fn set_int(&mut self, name: &str, value: i64) -> &mut Self {
        self.set_kind(name, value.to_string(), FieldKind::Int)
    }

    fn set_kind(&mut self, name: &str, value: String, kind: FieldKind) -> &mut Self {
        debug_assert!(is_valid_name(name), "field name {name:?}");
        match self.fields.iter_mut().find(|f| f.name == name) {
            Some(field) => {
                field.value = value;
                field.kind = kind;
            }
            None => self.fields.push(Field {
                name: name.to_owned(),
                value,
                kind,
            }),
        }
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.as_str())
    }

    /// The value when present and not empty: WeChat treats an empty element as absent.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        let index = self.fields.iter().position(|f| f.name == name)?;
        Some(self.fields.remove(index).value)
    }

    /// Orders the fields by name, as real refund-query answers come.
    pub fn sort_by_name(&mut self) {
        self.fields.sort_by(|a, b| a.name.cmp(&b.name));
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Parses a flat message under any root element (`<xml>` for API messages, `<root>` for
    /// the decrypted refund `req_info`).
    pub fn parse(bytes: &[u8]) -> Result<Message, XmlError> {
        Self::parse_with_root(bytes).map(|(_, message)| message)
    }

    /// Parses a flat message and names its root element.
    pub fn parse_with_root(bytes: &[u8]) -> Result<(String, Message), XmlError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(XmlError::TooLarge {
                size: bytes.len(),
                limit: MAX_MESSAGE_BYTES,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| XmlError::NotUtf8(e.valid_up_to()))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim().is_empty() {
            return Err(XmlError::Empty);
        }
        Parser::new(text).run()
    }

    /// Writes the wire form: `<xml>` with the first field on its line, one field per line.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(64 + self.fields.len() * 48);
        out.push_str("<xml>");
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            write_element(&mut out, &field.name, &field.value, field.kind);
        }
        if !self.fields.is_empty() {
            out.push('\n');
        }
        out.push_str("</xml>");
        out
    }
}

/// Printed as one object of its fields, in their order.
impl serde::Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.pairs())
    }
}

fn write_element(out: &mut String, name: &str, value: &str, kind: FieldKind) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    match kind {
        FieldKind::Int => out.push_str(value),
        FieldKind::Text => push_cdata(out, value),
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// CDATA cannot contain `]]>`, so such a value is split over two sections. A carriage return
/// goes between sections as `&#13;`: every XML parser reads a literal one as a line feed, so
/// the receiver would check the sign over another value.
pub fn push_cdata(out: &mut String, value: &str) {
    for (i, line) in value.split('\r').enumerate() {
        if i > 0 {
            out.push_str("&#13;");
        }
        out.push_str("<![CDATA[");
        out.push_str(&line.replace("]]>", "]]]]><![CDATA[>"));
        out.push_str("]]>");
    }
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    message: Message,
    seen: HashSet<String>,
    /// Where the event being handled starts, for error positions.
    event_start: u64,
}

enum Level {
    /// Before the root element.
    Prolog,
    /// Inside the root, between fields.
    Root,
    /// Inside a field element, collecting its value.
    Field { name: String, value: String },
    /// After the root element closed.
    Done,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = true;
        Parser {
            reader,
            message: Message::new(),
            seen: HashSet::new(),
            event_start: 0,
        }
    }

    fn malformed(&self, reason: impl Into<String>) -> XmlError {
        XmlError::Malformed {
            position: self.event_start,
            reason: reason.into(),
        }
    }

    fn run(mut self) -> Result<(String, Message), XmlError> {
        let mut level = Level::Prolog;
        let mut root = String::new();
        loop {
            self.event_start = self.reader.buffer_position();
            let event = match self.reader.read_event() {
                Ok(event) => event,
                Err(e) => {
                    return Err(XmlError::Malformed {
                        position: self.reader.error_position(),
                        reason: e.to_string(),
                    });
                }
            };
            match event {
                Event::DocType(_) => return Err(XmlError::Dtd),
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
                Event::Start(start) => {
                    let name = start.name().as_ref().to_owned();
                    level = match level {
                        Level::Prolog => {
                            root = name;
                            Level::Root
                        }
                        Level::Root => {
                            if !is_valid_name(&name) {
                                return Err(XmlError::BadName(name));
                            }
                            Level::Field {
                                name,
                                value: String::new(),
                            }
                        }
                        Level::Field { name: outer, .. } => return Err(XmlError::Nested(outer)),
                        Level::Done => return Err(XmlError::TrailingContent(root)),
                    };
                }
                Event::End(_) => {
                    level = match level {
                        Level::Field { name, value } => {
                            self.message.push_unique(&mut self.seen, name, value)?;
                            Level::Root
                        }
                        Level::Root => Level::Done,
                        Level::Prolog | Level::Done => {
                            return Err(self.malformed("unexpected closing tag"));
                        }
                    };
                }
                Event::Text(text) => {
                    let content = text.xml10_content();
                    match &mut level {
                        Level::Field { value, .. } => value.push_str(&content),
                        _ if content.trim().is_empty() => {}
                        Level::Done => return Err(XmlError::TrailingContent(root)),
                        _ => return Err(self.malformed("text outside of a field")),
                    }
                }
                Event::CData(cdata) => match &mut level {
                    Level::Field { value, .. } => value.push_str(&cdata.xml10_content()),
                    _ => return Err(self.malformed("CDATA outside of a field")),
                },
                Event::GeneralRef(reference) => {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(c)) => c,
                        Ok(None) => match predefined_entity(&reference.xml10_content()) {
                            Some(c) => c,
                            None => {
                                return Err(XmlError::Entity(
                                    reference.xml10_content().into_owned(),
                                ));
                            }
                        },
                        Err(e) => return Err(self.malformed(e.to_string())),
                    };
                    match &mut level {
                        Level::Field { value, .. } => value.push(resolved),
                        _ => return Err(self.malformed("reference outside of a field")),
                    }
                }
                Event::Empty(_) => unreachable!("expand_empty_elements is set"),
                Event::Eof => {
                    return match level {
                        Level::Done => Ok((root, self.message)),
                        Level::Prolog => Err(self.malformed("no root element")),
                        _ => Err(self.malformed("the message ends before its closing tag")),
                    };
                }
            }
        }
    }
}

fn predefined_entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/real/");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{REAL}{name}")).expect("shared fixtures beside the checkout")
    }

    #[test]
    fn a_message_prints_as_one_object_of_its_fields_in_order() {
        let message = Message::from_pairs([("b", "1"), ("a", "<x>")]).unwrap();
        assert_eq!(
            serde_json::to_string(&message).unwrap(),
            r#"{"b":"1","a":"<x>"}"#
        );
    }

    #[test]
    fn reads_cdata_and_plain_values_of_the_real_notification() {
        let message = Message::parse(&fixture("paysuccess.notification.sample.xml")).unwrap();
        assert_eq!(message.len(), 20);
        assert_eq!(message.get("attach"), Some("支付测试"));
        assert_eq!(message.get("total_fee"), Some("1"));
        assert_eq!(message.get("coupon_id"), Some("10000"));
    }

    #[test]
    fn reads_the_official_unifiedorder_sample_with_cdata_json() {
        let message = Message::parse(&fixture("unifiedorder.sample.xml")).unwrap();
        assert!(
            message
                .get("detail")
                .unwrap()
                .starts_with("{ \"goods_detail\"")
        );
        assert_eq!(message.get("body"), Some("JSAPI支付测试"));
    }

    #[test]
    fn reads_the_refund_req_info_root() {
        let message = Message::parse(&fixture("refund.notification.req_info.sample.xml")).unwrap();
        assert_eq!(message.get("refund_recv_accout"), Some("支付用户零钱"));
    }

    #[test]
    fn refuses_the_real_xxe_sample() {
        let err = Message::parse(&fixture("invalid.xxe_injection.sample.xml")).unwrap_err();
        assert_eq!(err, XmlError::Dtd);
    }

    #[test]
    fn refuses_undeclared_entities_but_accepts_predefined_ones() {
        let err = Message::parse(b"<xml><a>&xxe;</a></xml>").unwrap_err();
        assert_eq!(err, XmlError::Entity("xxe".into()));
        let ok = Message::parse(b"<xml><a>x&amp;y&#x4E2D;&lt;</a></xml>").unwrap();
        assert_eq!(ok.get("a"), Some("x&y中<"));
        // Names from hostile input are quoted, so they cannot forge lines of output.
        let err = Message::parse(b"<xml><a>&x\nhint: forged;</a></xml>").unwrap_err();
        assert!(!err.to_string().contains('\n'), "{err}");
    }

    #[test]
    fn many_fields_parse_in_linear_time_up_to_the_limit() {
        let mut xml = String::from("<xml>");
        for i in 0..MAX_FIELDS {
            xml.push_str(&format!("<f{i}/>"));
        }
        xml.push_str("</xml>");
        assert_eq!(Message::parse(xml.as_bytes()).unwrap().len(), MAX_FIELDS);
        let over = xml.replace("</xml>", "<extra/></xml>");
        assert_eq!(
            Message::parse(over.as_bytes()),
            Err(XmlError::TooManyFields)
        );
        let text = "<xml>text outside</xml>";
        assert!(matches!(
            Message::parse(text.as_bytes()),
            Err(XmlError::Malformed { position: 5, .. })
        ));
    }

    #[test]
    fn refuses_duplicates_nesting_and_trailing_content() {
        assert_eq!(
            Message::parse(b"<xml><a>1</a><a>2</a></xml>"),
            Err(XmlError::Duplicate("a".into()))
        );
        assert_eq!(
            Message::parse(b"<xml><a><b>1</b></a></xml>"),
            Err(XmlError::Nested("a".into()))
        );
        assert!(matches!(
            Message::parse(b"<xml><a>1</a></xml><xml/>"),
            Err(XmlError::TrailingContent(_))
        ));
        assert!(Message::parse(b"<xml><a>1</a></xml>\n").is_ok());
    }

    #[test]
    fn empty_elements_are_empty_values() {
        let message = Message::parse(b"<xml><a/><b></b><c><![CDATA[]]></c></xml>").unwrap();
        assert_eq!(message.get("a"), Some(""));
        assert_eq!(message.non_empty("c"), None);
    }

    #[test]
    fn writes_strings_in_cdata_and_integers_bare() {
        let mut message = Message::new();
        message
            .set("return_code", "SUCCESS")
            .set_int("total_fee", 1)
            .set("odd", "a]]>b");
        let xml = message.to_xml();
        assert_eq!(
            xml,
            "<xml><return_code><![CDATA[SUCCESS]]></return_code>\n<total_fee>1</total_fee>\n\
             <odd><![CDATA[a]]]]><![CDATA[>b]]></odd>\n</xml>"
        );
        assert_eq!(
            Message::parse(xml.as_bytes()).unwrap().get("odd"),
            Some("a]]>b")
        );
    }

    #[test]
    fn carriage_returns_survive_the_wire() {
        let mut message = Message::new();
        message.set("detail", "{\r\n}\r");
        let xml = message.to_xml();
        assert_eq!(
            xml,
            "<xml><detail><![CDATA[{]]>&#13;<![CDATA[\n}]]>&#13;<![CDATA[]]></detail>\n</xml>"
        );
        assert_eq!(Message::parse(xml.as_bytes()).unwrap(), message);
        // A literal one is a line feed to any XML parser, WeChat Pay's included.
        let literal = Message::parse(b"<xml><a><![CDATA[x\r\ny\r]]></a></xml>").unwrap();
        assert_eq!(literal.get("a"), Some("x\ny\n"));
    }

    #[test]
    fn size_limit_and_encoding() {
        let big = vec![b' '; MAX_MESSAGE_BYTES + 1];
        assert!(matches!(
            Message::parse(&big),
            Err(XmlError::TooLarge { .. })
        ));
        assert_eq!(
            Message::parse(b"<xml><a>\xff</a></xml>"),
            Err(XmlError::NotUtf8(8))
        );
        assert_eq!(Message::parse(b"  \n"), Err(XmlError::Empty));
    }

    #[test]
    fn truncated_and_garbage_inputs_give_errors_not_panics() {
        for name in [
            "paysuccess.notification.sample.xml",
            "unifiedorder.sample.xml",
            "refund.notification.req_info.sample.xml",
            "invalid.xxe_injection.sample.xml",
        ] {
            let bytes = fixture(name);
            for cut in 0..bytes.len() {
                let _ = Message::parse(&bytes[..cut]);
            }
        }
        let mut state = 0x2545F4914F6CDD1Du64;
        for _ in 0..2000 {
            let len = (state % 64) as usize;
            let garbage: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    b"<>/![]CDAT&;x ml\"'=?-#"[(state % 22) as usize]
                })
                .collect();
            let _ = Message::parse(&garbage);
        }
    }
}
