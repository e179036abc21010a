//! Parameters to sign as a person gives them: NAME=VALUE pairs, a JSON object or an XML message.

use serde_json::Value;
use thiserror::Error;

use super::xml::{Message, XmlError};

#[derive(Debug, Error)]
pub enum ParamsError {
    #[error("{0:?} is not NAME=VALUE")]
    NotPair(String),
    #[error("not UTF-8 text")]
    NotUtf8,
    #[error("empty: no parameters to sign")]
    Empty,
    #[error("neither a JSON object nor an XML message")]
    UnknownShape,
    #[error("invalid JSON: {0}")]
    Json(serde_json::Error),
    #[error("field {0:?} is a fraction or too large for an integer")]
    NotInteger(String),
    /// A JSON value that is neither text nor an integer (shown as JSON).
    #[error("field {field:?} is {value}; WeChat Pay parameters are strings or integers")]
    NotText { field: String, value: String },
    #[error(transparent)]
    Xml(#[from] XmlError),
}

/// Parameters given as `name=value`, split at the first `=`.
pub fn parse_pairs(fields: &[String]) -> Result<Message, ParamsError> {
    let pairs = fields
        .iter()
        .map(|field| {
            field
                .split_once('=')
                .ok_or_else(|| ParamsError::NotPair(field.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Message::from_pairs(pairs)?)
}

/// A parameter file: a JSON object or an XML message, told apart by its first character.
pub fn parse_parameters(bytes: &[u8]) -> Result<Message, ParamsError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParamsError::NotUtf8)?;
    let text = text.trim_start_matches('\u{feff}').trim_start();
    match text.chars().next() {
        None => Err(ParamsError::Empty),
        Some('{') => parse_json(text),
        Some('<') => Ok(Message::parse(text.as_bytes())?),
        _ => Err(ParamsError::UnknownShape),
    }
}

/// A JSON object's members in order, repeats included, so that they can be refused.
struct Members(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object of parameters")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// Strings as they are, null as empty (left out of the sign), integers in their digits.
fn parse_json(text: &str) -> Result<Message, ParamsError> {
    let Members(members) = serde_json::from_str(text).map_err(ParamsError::Json)?;
    let pairs = members
        .into_iter()
        .map(|(field, value)| {
            let text = match value {
                Value::String(s) => s,
                Value::Null => String::new(),
                Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
                Value::Number(_) => return Err(ParamsError::NotInteger(field)),
                other => {
                    let value = other.to_string();
                    return Err(ParamsError::NotText { field, value });
                }
            };
            Ok((field, text))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Message::from_pairs(pairs)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_files_of_any_shape_give_errors_not_panics() {
        let json =
            r#"{"appid":"wxd930ea5d5a258f4f","total_fee":1,"attach":null,"detail":"{\"a\":1}"}"#;
        let message = parse_parameters(json.as_bytes()).unwrap();
        assert_eq!(message.len(), 4);
        assert_eq!(message.get("total_fee"), Some("1"));
        assert_eq!(message.get("attach"), Some(""));
        assert_eq!(message.get("detail"), Some("{\"a\":1}"));
        for cut in 0..json.len() {
            let _ = parse_parameters(&json.as_bytes()[..cut]);
        }
        for garbage in [
            "",
            "[]",
            "{\"a\":[1]}",
            "{\"a\":true}",
            "{\"a\":1.5}",
            "\u{feff}",
            "plain",
        ] {
            assert!(parse_parameters(garbage.as_bytes()).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn each_shape_has_its_error() {
        let error = |text: &str| parse_parameters(text.as_bytes()).unwrap_err();
        assert!(matches!(error(" \u{feff}"), ParamsError::UnknownShape));
        assert!(matches!(error("\u{feff} "), ParamsError::Empty));
        assert!(matches!(
            parse_parameters(b"\xff"),
            Err(ParamsError::NotUtf8)
        ));
        assert!(matches!(error("{\"a\":"), ParamsError::Json(_)));
        assert!(matches!(error("{\"a\":1.5}"), ParamsError::NotInteger(f) if f == "a"));
        assert_eq!(
            error("{\"a\":[1]}").to_string(),
            "field \"a\" is [1]; WeChat Pay parameters are strings or integers"
        );
        assert!(matches!(
            error("{\"a\":\"1\",\"a\":\"2\"}"),
            ParamsError::Xml(XmlError::Duplicate(_))
        ));
        assert!(matches!(error("<xml>"), ParamsError::Xml(_)));
        let xml = parse_parameters(b"\xef\xbb\xbf <xml><a>1</a></xml>").unwrap();
        assert_eq!(xml.get("a"), Some("1"));
    }

    #[test]
    fn pairs_split_at_the_first_equals_sign() {
        assert!(matches!(
            parse_pairs(&["a".into()]),
            Err(ParamsError::NotPair(f)) if f == "a"
        ));
        assert!(matches!(
            parse_pairs(&["=x".into()]),
            Err(ParamsError::Xml(_))
        ));
        assert_eq!(parse_pairs(&["a==b".into()]).unwrap().get("a"), Some("=b"));
        assert!(matches!(
            parse_pairs(&["a=1".into(), "a=2".into()]),
            Err(ParamsError::Xml(XmlError::Duplicate(_)))
        ));
    }
}
