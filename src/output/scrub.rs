//! What every printed byte passes through: control characters escaped, so that no input can
//! forge a line or drive the terminal; every key this process loaded hidden, wherever it
//! appears; key-shaped tokens hidden where users paste keys by mistake; and CSV cells that a
//! spreadsheet would run as formulas defused.

use std::borrow::Cow;

use crate::wechat::secret::{API_KEY_LEN, redact_loaded};

const HIDDEN_BY_SHAPE: &str = "<32 characters hidden: possibly an API key>";

/// Text for people on stderr (errors, hints, status, warnings): one line, no control
/// characters, and no token of 32 letters and digits, since that is where a key pasted in
/// place of a name or a path ends up.
pub fn prose(text: &str) -> String {
    hide_key_shapes(&escaped(text, ""), |_, _| true)
}

/// One data value (a table cell, a CSV cell, a JSON string). Signs and nonces have the shape
/// of a key, so a value that is one token is shown as it is; inside a sentence (a config
/// check's detail, say) a key-shaped word is hidden as in [`prose`]. Tokens joined by `=`,
/// `&`, `/`, `.`, `_`, `-`, `:` or `+` are parts of a string to sign, a URL, a path or Base64,
/// not words;
/// so is the quoted value of a pair (`nonce_str="…"` in an API v3 Authorization header,
/// `"out_trade_no":"…"` in a JSON body).
pub fn value(text: &str) -> String {
    let escaped = escaped(text, "");
    if !escaped.contains(char::is_whitespace) {
        return escaped;
    }
    let joins = |c: Option<char>| c.is_some_and(|c| "=&/._-:+".contains(c));
    hide_key_shapes(&escaped, |head, after| {
        let before = head.chars().next_back();
        let quoted_pair = after.starts_with('"')
            && (head.strip_suffix('"')).is_some_and(|h| h.trim_end().ends_with([':', '=']));
        !joins(before) && !joins(after.chars().next()) && !quoted_pair
    })
}

/// A block of text written as it is (a completion script, a path): lines and tabs are kept,
/// other control characters escaped, loaded keys hidden.
pub fn block(text: &str) -> String {
    escaped(text, "\n\t")
}

/// A CSV cell that Excel or LibreOffice would evaluate (`=`, `+`, `-`, `@`, tab or carriage
/// return first) gets a leading `'`, as OWASP advises; a plain number such as `-12.50` is left
/// alone, since it is data that spreadsheets read as a number and never run.
pub fn csv_cell(text: &str) -> String {
    let text = value(text);
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !is_plain_number(&text) {
        format!("'{text}")
    } else {
        text
    }
}

/// [`value`] without a copy for the common cell of a long stream: printable ASCII shorter
/// than `shortest_key` (from [`crate::wechat::secret::shortest_loaded`], read once per row)
/// and than a key's shape, which none of the rules can change.
pub fn value_cow(text: &str, shortest_key: usize) -> Cow<'_, str> {
    if is_short_plain(text, shortest_key) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(value(text))
    }
}

/// Whether [`csv_cell`] leaves `text` as it is and CSV needs no quotes around it: the common
/// cell of a long stream, written as it is after this one look (see [`value_cow`]).
pub fn is_plain_csv(text: &str, shortest_key: usize) -> bool {
    let risky = text.starts_with(['=', '+', '-', '@']);
    // One pass without early exit, which the compiler turns into a few vector compares.
    let plain = text.bytes().fold(true, |plain, b| {
        plain & (0x20..0x7f).contains(&b) & (b != b',') & (b != b'"')
    });
    plain && text.len() < API_KEY_LEN.min(shortest_key) && (!risky || is_plain_number(text))
}

fn is_short_plain(text: &str, shortest_key: usize) -> bool {
    text.len() < API_KEY_LEN.min(shortest_key) && text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn is_plain_number(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// Control characters escaped and loaded keys hidden, before escaping (a key may hold a
/// control character) and after: an escape such as `\n` supplies the `n` a key may start with.
fn escaped(text: &str, kept: &str) -> String {
    redact_loaded(&escape_controls(&redact_loaded(text), kept)).into_owned()
}

pub fn escape_controls(text: &str, kept: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && !kept.contains(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Replaces each run of exactly 32 ASCII letters and digits for which `hide(before, after)`
/// holds, given the text before the run (since the last run) and after it.
fn hide_key_shapes(text: &str, hide: impl Fn(&str, &str) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphanumeric()) {
        // Runs are maximal, so whatever stands before this one is in `head`.
        let (head, tail) = rest.split_at(start);
        out.push_str(head);
        let end = tail
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(tail.len());
        let (run, after) = tail.split_at(end);
        if run.len() == API_KEY_LEN && hide(head, after) {
            out.push_str(HIDDEN_BY_SHAPE);
        } else {
            out.push_str(run);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::ApiKey;

    /// Shaped as a key and loaded by no test: the documentation's key is loaded by other
    /// tests of this process, which would hide it as a loaded key instead of by its shape.
    const KEY_SHAPED: &str = "8c1d0e6f2a3b4c5d6e7f8091a2b3c4d5";

    #[test]
    fn prose_hides_key_shaped_tokens_and_escapes_control_characters() {
        assert_eq!(
            prose(&format!("environment variable {KEY_SHAPED} is not set")),
            format!("environment variable {HIDDEN_BY_SHAPE} is not set")
        );
        assert_eq!(prose("a\nhint: x\u{1b}[2K"), "a\\nhint: x\\u{1b}[2K");
        let nonce_like = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS1";
        assert_eq!(prose(nonce_like), nonce_like, "33 characters are not a key");
        assert_eq!(prose("签名错误"), "签名错误");
        assert_eq!(prose("\u{9b}2J"), "\\u{9b}2J", "C1 controls too");
    }

    #[test]
    fn values_keep_signs_and_strings_to_sign_but_not_keys_in_sentences() {
        let sign = "9A0A8659F005D6984697E2CA0A9CF3B7";
        assert_eq!(value(sign), sign);
        let to_sign = format!("body=a b&nonce_str={sign}&key=<API key sha256:1a2b>");
        assert_eq!(value(&to_sign), to_sign);
        assert_eq!(
            value(&format!("32 characters from command `echo {KEY_SHAPED}`")),
            format!("32 characters from command `echo {HIDDEN_BY_SHAPE}`")
        );
        assert_eq!(value("\u{1b}]0;owned\u{7}"), "\\u{1b}]0;owned\\u{7}");
        let header =
            format!("WECHATPAY2-SHA256-RSA2048 mchid=\"1\",nonce_str=\"{sign}\",timestamp=\"1\"");
        assert_eq!(value(&header), header);
        // Base64 (an RSA signature) has runs of 32 letters and digits between its `+` and `/`.
        let base64 = format!("WECHATPAY2-SHA256-RSA2048 signature=\"Ab+{sign}+cD/e\"");
        assert_eq!(value(&base64), base64);
        let json = format!("{{\"out_trade_no\": \"{sign}\", \"total\": 1}}");
        assert_eq!(value(&json), json);
        assert_eq!(
            value(&format!("the key is \"{KEY_SHAPED}\"")),
            format!("the key is \"{HIDDEN_BY_SHAPE}\"")
        );
    }

    #[test]
    fn a_loaded_key_is_hidden_everywhere_even_inside_a_longer_word() {
        let key = "Hq8xW3vN5mL2kJ7hG4fD9sA1pO6iU0yZ";
        let _loaded = ApiKey::new(key);
        for scrub in [prose, value, block, csv_cell] {
            let shown = scrub(&format!("x{key}x"));
            assert!(!shown.contains(key), "{shown}");
        }
    }

    #[test]
    fn an_escape_cannot_complete_a_loaded_key() {
        let key = "nW3vN5mL2kJ7hG4fD9sA1pO6iU0yZq8x";
        let _loaded = ApiKey::new(key);
        for scrub in [prose, value, csv_cell] {
            let shown = scrub(&format!("\n{}", &key[1..]));
            assert!(!shown.contains(key), "{shown}");
        }
    }

    #[test]
    fn csv_cells_are_safe_to_open_in_a_spreadsheet() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("+1+1"), "'+1+1");
        assert_eq!(csv_cell("-2+3"), "'-2+3");
        assert_eq!(csv_cell("-12.50"), "-12.50");
        assert_eq!(csv_cell("-1"), "-1");
        assert_eq!(csv_cell("商品"), "商品");
    }

    #[test]
    fn the_copy_free_cells_agree_with_the_full_rules() {
        let key = "Pq8xW3vN5mL2kJ7hG4fD9sA1pO6iU0yZ";
        let _loaded = ApiKey::new(key);
        let shortest = crate::wechat::secret::shortest_loaded();
        assert!(shortest <= key.len());
        // Other tests load keys of their own (as short as 16 characters), so the plain cases
        // are checked against a key length of their own choosing.
        assert!(is_plain_csv("2019-02-19 05:01:46", API_KEY_LEN));
        assert!(is_plain_csv("-0.02", API_KEY_LEN));
        assert!(!is_plain_csv("-2+3", API_KEY_LEN));
        assert!(!is_plain_csv("a,b", API_KEY_LEN));
        assert!(!is_plain_csv(key, shortest));
        for text in [
            "2019-02-19 05:01:46",
            "-0.02",
            "-2+3",
            "=1",
            "@x",
            "商品",
            "a\u{1b}b",
            "",
            key,
            &format!("x{key}"),
            "4200000263201902167700134212",
            "a,b",
            "say \"x\"",
        ] {
            assert_eq!(value_cow(text, shortest), value(text), "{text:?}");
            if is_plain_csv(text, shortest) {
                assert_eq!(csv_cell(text), text);
                assert!(!text.contains([',', '"']));
            }
            assert_eq!(value_cow(text, 20), value(text), "{text:?}");
        }
    }

    #[test]
    fn block_keeps_lines() {
        assert_eq!(block("a\n\tb\u{7}\n"), "a\n\tb\\u{7}\n");
    }
}
