//! Property fuzzing of the config file parser: any text gives a config or an error, and a
//! config it gives can be used without a panic.

use std::path::Path;

use proptest::prelude::*;
use proptest::sample::Index;

use super::check::check_profile;
use super::{Config, TEMPLATE};
use crate::wechat::fuzz_tests::fuzz_config;

const DOC_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

/// Lines that reach each part of the parser: tables, every key, values of each TOML type,
/// unquoted numbers (the "quote it" hint), bad sign types, keys inline and misplaced.
fn config_soup() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("default_profile"),
        Just("mch_id"),
        Just("appid"),
        Just("api_key"),
        Just("api_key_env"),
        Just("api_key_file"),
        Just("api_key_cmd"),
        Just("apiv3_key"),
        Just("apiv3_key_env"),
        Just("apiv3_key_file"),
        Just("apiv3_key_cmd"),
        Just("app_secret"),
        Just("app_secret_env"),
        Just("app_secret_file"),
        Just("app_secret_cmd"),
        Just("login_base"),
        Just("sign_type"),
        Just("api_version"),
        Just("api_base"),
        Just("cert_pem"),
        Just("cert_key_pem"),
        Just("cert_p12"),
        Just("cert_p12_password"),
        Just("ca_cert"),
        Just("private_key_pem"),
        Just("cert_serial"),
        Just("wechatpay_public_key_pem"),
        Just("wechatpay_public_key_id"),
        Just("platform_cert_dir"),
        Just("notify_url"),
        Just("profiles"),
        Just("bogus"),
        Just("\"quoted key\""),
        Just("a.b"),
        Just("中"),
    ];
    let value = prop_oneof![
        Just("\"10000100\"".to_owned()),
        Just("10000100".to_owned()),
        Just("1.5".to_owned()),
        Just("-0".to_owned()),
        Just("1e400".to_owned()),
        Just("true".to_owned()),
        Just("[1, \"a\"]".to_owned()),
        Just("{ a = 1 }".to_owned()),
        Just("\"md5\"".to_owned()),
        Just("\"HMAC-SHA256\"".to_owned()),
        Just("\"sha1\"".to_owned()),
        Just(format!("\"{DOC_KEY}\"")),
        Just(DOC_KEY.to_owned()),
        Just(format!("\"x{DOC_KEY}\\n\"")),
        Just("\"\"\"multi\nline\"\"\"".to_owned()),
        Just("'literal'".to_owned()),
        Just("\"\\u0000\\u001b]0;x\\u0007\"".to_owned()),
        Just("\"~/key\"".to_owned()),
        Just("\"https://api.mch.weixin.qq.com\"".to_owned()),
        Just("1979-05-27T07:32:00Z".to_owned()),
        "[ -~]{0,12}",
        "\"[^\"\\\\\n]{0,12}\"",
    ];
    let line = prop_oneof![
        3 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => "[a-z_ .\"中]{0,10}".prop_map(|name| format!("[profiles.{name}]")),
        1 => Just("[profiles]".to_owned()),
        1 => Just("[[profiles.a]]".to_owned()),
        1 => Just("# comment".to_owned()),
        1 => "[ -~\t\r中]{0,20}",
    ];
    let end = prop_oneof![Just("\n"), Just("\r\n"), Just(""), Just("\r")];
    prop::collection::vec((line, end), 0..16).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(line, end)| line + end)
            .collect::<String>()
    })
}

/// The template with one byte replaced, where that leaves UTF-8.
fn mutated_template() -> impl Strategy<Value = String> {
    (any::<Index>(), 0x09u8..0x7f).prop_map(|(at, byte)| {
        let mut bytes = TEMPLATE.as_bytes().to_vec();
        let at = at.index(bytes.len());
        bytes[at] = byte;
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

proptest! {
    #![proptest_config(fuzz_config(512))]

    /// Any text is a config or an error of one line; every profile of a config that parses
    /// can be selected, its key source named, and (unless it would run a command) checked.
    #[test]
    fn fuzz_config_parse_any_text(
        text in prop_oneof![any::<String>(), config_soup(), mutated_template()],
    ) {
        let path = Path::new("/nonexistent/wxpay-ops/config.toml");
        match Config::parse(path, &text, None) {
            Err(error) => {
                let shown = error.to_string();
                prop_assert!(!shown.contains('\n'), "{}", shown);
            }
            Ok(config) => {
                let _ = config.profile(None);
                let names: Vec<String> = config.profile_names().map(str::to_owned).collect();
                for name in names {
                    let (name, profile) = config.profile(Some(&name)).unwrap();
                    let _ = config.key_source(name, profile);
                    let _ = config.secret_source::<crate::wechat::AppSecret>(name, profile);
                    let _ = config.secret_source::<crate::wechat::ApiV3Key>(name, profile);
                    if profile.api_key_cmd.is_none()
                        && profile.apiv3_key_cmd.is_none()
                        && profile.app_secret_cmd.is_none()
                    {
                        let _ = check_profile(&config, name, profile, 1_700_000_000);
                    }
                }
            }
        }
    }
}
