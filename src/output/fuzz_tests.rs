//! Property fuzzing of the scrubber that every printed byte passes through.

use proptest::prelude::*;

use super::scrub::{block, csv_cell, prose, value};
use crate::wechat::ApiKey;
use crate::wechat::fuzz_tests::{field_value, fuzz_config};

/// Keys are remembered for the life of the process, so they come from a small pool (a first
/// character and a length): the scrubber's work stays flat over a long run, and a shrunk
/// case cannot register a word that other tests print.
fn loaded_key() -> impl Strategy<Value = String> {
    const BODY: &str = "Qx7fUzZk3yW9pL2mN8vB4cR6tJ1hD5gS0aE";
    // n, t and r, which escaping can supply (`\n` for `n`), come often.
    let first = prop_oneof!["[A-Za-z0-9]", "[ntr]"];
    (first, prop_oneof![Just(16usize), Just(32), Just(35)])
        .prop_map(|(first, len)| format!("{first}{}", &BODY[..len - 1]))
}

/// Text around a key: the characters that escaping turns into letters (`\n` → `\` `n`), word
/// characters that extend a run, and anything else.
fn surrounding() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        field_value(),
        "[\n\r\t\u{1b}a-z0-9 =&_:-]{0,4}",
    ]
}

fn scrubbed(text: &str) -> [(&'static str, String); 4] {
    [
        ("prose", prose(text)),
        ("value", value(text)),
        ("csv_cell", csv_cell(text)),
        ("block", block(text)),
    ]
}

proptest! {
    #![proptest_config(fuzz_config(512))]

    /// No output has a control character, except the lines and tabs that a block keeps.
    #[test]
    fn fuzz_scrub_leaves_no_control_characters(text in prop_oneof![any::<String>(), field_value()]) {
        for (name, shown) in scrubbed(&text) {
            let kept = if name == "block" { "\n\t" } else { "" };
            prop_assert!(
                !shown.chars().any(|c| c.is_control() && !kept.contains(c)),
                "{} gave {:?}", name, shown
            );
        }
    }

    /// A key this process loaded never appears in any output, wherever it stood in the input.
    #[test]
    fn fuzz_scrub_never_shows_a_loaded_key(
        key in loaded_key(),
        before in surrounding(),
        inside in prop::option::weighted(0.7, (prop_oneof![Just(0usize), 0usize..64], 0usize..2, surrounding())),
        after in surrounding(),
    ) {
        let _loaded = ApiKey::new(key.as_str());
        // The key whole, or with a character replaced by (or text put in) something that
        // scrubbing might turn into key characters: `\n` for an `n`, say.
        let middle = match &inside {
            None => key.clone(),
            Some((at, dropped, text)) => {
                let at = at % key.len();
                format!("{}{text}{}", &key[..at], &key[(at + dropped).min(key.len())..])
            }
        };
        let text = format!("{before}{middle}{after}");
        for (name, shown) in scrubbed(&text) {
            prop_assert!(!shown.contains(&key), "{} gave {:?}", name, shown);
        }
    }

    /// A CSV cell never starts a formula, and a one-word value is shown as it is: signs and
    /// nonces are data.
    #[test]
    fn fuzz_scrub_csv_cells_and_plain_words(text in prop_oneof![any::<String>(), "[-+=@]?[ -~]{0,40}"]) {
        let cell = csv_cell(&text);
        let is_number = cell.strip_prefix(['-', '+'])
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
        prop_assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']) || is_number, "{:?}", cell);
        let word = !text.chars().any(|c| c.is_whitespace() || c.is_control());
        if word && crate::wechat::secret::redact_loaded(&text) == text {
            prop_assert_eq!(value(&text), text);
        }
    }
}
