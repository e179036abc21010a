use crate::common::{DOC_KEY, Env, real_fixture};

const DOC_ARGS: [&str; 5] = [
    "appid=wxd930ea5d5a258f4f",
    "mch_id=10000100",
    "device_info=1000",
    "body=test",
    "nonce_str=ibuaiVcKdpRxkhJA",
];

fn sign_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["sign", "--key-env", "TEST_API_KEY"];
    args.extend(DOC_ARGS);
    args.extend(extra);
    args
}

#[test]
fn signs_the_official_example_with_md5_and_hmac() {
    let env = Env::new();
    let md5 = env.run(&sign_args(&[])).expect(0).json();
    assert_eq!(md5["sign"], "9A0A8659F005D6984697E2CA0A9CF3B7");
    assert_eq!(md5["sign_type"], "MD5");
    let hmac = env
        .run(&sign_args(&["--sign-type", "HMAC-SHA256"]))
        .expect(0)
        .json();
    assert_eq!(
        hmac["sign"],
        "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
    );
}

#[test]
fn explain_shows_the_hashed_string_with_the_key_masked() {
    let env = Env::new();
    let out = env
        .run(&sign_args(&["empty=", "--explain"]))
        .expect(0)
        .json();
    assert_eq!(
        out["string_to_sign"].as_str().unwrap(),
        format!(
            "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA&key=<API key sha256:{}>",
            out["key_fingerprint"].as_str().unwrap()
        )
    );
    assert_eq!(out["omitted"][0]["field"], "empty");
    assert_eq!(out["omitted"][0]["reason"], "empty values are left out");
}

#[test]
fn explain_warns_of_hmac_without_a_declared_sign_type() {
    let env = Env::new();
    let out = env
        .run(&sign_args(&["--sign-type", "HMAC-SHA256", "--explain"]))
        .expect(0)
        .json();
    let notes = out["notes"].to_string();
    assert!(notes.contains("sign_type=HMAC-SHA256"), "{notes}");
    // Declared in the parameters, the note goes away and the declared type is used.
    let declared = env
        .run(&sign_args(&["sign_type=HMAC-SHA256", "--explain"]))
        .expect(0)
        .json();
    assert_eq!(declared["sign_type"], "HMAC-SHA256");
    assert_eq!(declared["notes"].as_array().unwrap().len(), 0);
}

#[test]
fn a_key_pasted_as_a_parameter_is_not_echoed() {
    let env = Env::new();
    let key_arg = format!("key={DOC_KEY}");
    // The runner itself fails the test if the key shows up anywhere.
    env.run(&sign_args(&[&key_arg, "--explain"])).expect(0);
}

#[test]
fn signs_json_and_xml_files_and_stdin() {
    let env = Env::new();
    let json = env.path("params.json");
    std::fs::write(
        &json,
        r#"{"appid":"wxd930ea5d5a258f4f","mch_id":10000100,"device_info":"1000","body":"test","nonce_str":"ibuaiVcKdpRxkhJA","attach":null}"#,
    )
    .unwrap();
    let out = env
        .run(&[
            "sign",
            "--key-env",
            "TEST_API_KEY",
            "--file",
            json.to_str().unwrap(),
        ])
        .expect(0)
        .json();
    assert_eq!(out["sign"], "9A0A8659F005D6984697E2CA0A9CF3B7");

    // The official unified order sample: its placeholder sign is left out of signing.
    let fixture = real_fixture("unifiedorder.sample.xml");
    let out = env
        .run(&[
            "sign",
            "--key-env",
            "TEST_API_KEY",
            "-f",
            fixture.to_str().unwrap(),
            "--explain",
        ])
        .expect(0)
        .json();
    assert_ne!(out["sign"], "0CB01533B8C1EF103065174F50BCA001");
    assert!(out["omitted"].to_string().contains("\"sign\""));

    let xml = b"<xml><appid>wxd930ea5d5a258f4f</appid><mch_id>10000100</mch_id><device_info>1000</device_info><body>test</body><nonce_str>ibuaiVcKdpRxkhJA</nonce_str></xml>";
    let out = env
        .run_with_stdin(&["sign", "--key-env", "TEST_API_KEY", "-f", "-"], Some(xml))
        .expect(0)
        .json();
    assert_eq!(out["sign"], "9A0A8659F005D6984697E2CA0A9CF3B7");
}

#[test]
fn bad_parameters_are_usage_errors_that_name_the_input() {
    let env = Env::new();
    env.run(&["sign", "--key-env", "TEST_API_KEY"])
        .expect(2)
        .error_mentions("no parameters")
        .hint_mentions("NAME=VALUE");
    env.run(&sign_args(&["novalue"]))
        .expect(2)
        .error_mentions("\"novalue\" is not NAME=VALUE");
    env.run(&sign_args(&["body=again"]))
        .expect(2)
        .error_mentions("body");
    env.run(&sign_args(&["bad-name=x"]))
        .expect(2)
        .error_mentions("bad-name");
    // Rejected by the argument parser, in clap's own error format.
    let out = env.run(&sign_args(&["--sign-type", "SHA1"])).expect(2);
    assert!(
        out.stderr.contains("unknown sign type \"SHA1\""),
        "{}",
        out.stderr
    );
    env.run(&sign_args(&["sign_type=MD5", "--sign-type", "HMAC-SHA256"]))
        .expect(2)
        .error_mentions("declare sign_type=MD5");

    let xxe = real_fixture("invalid.xxe_injection.sample.xml");
    env.run(&[
        "sign",
        "--key-env",
        "TEST_API_KEY",
        "-f",
        xxe.to_str().unwrap(),
    ])
    .expect(2)
    .error_mentions("DTD")
    .hint_mentions("attack");
    let json = env.path("nested.json");
    std::fs::write(&json, r#"{"detail":{"a":1}}"#).unwrap();
    env.run(&[
        "sign",
        "--key-env",
        "TEST_API_KEY",
        "-f",
        json.to_str().unwrap(),
    ])
    .expect(2)
    .error_mentions("detail");
    env.run(&["sign", "--key-env", "TEST_API_KEY", "-f", "missing.xml"])
        .expect(2)
        .error_mentions("missing.xml");
    env.run_with_stdin(
        &["sign", "--key-env", "TEST_API_KEY", "-f", "-"],
        Some(b"<xml><a>1</b></xml>"),
    )
    .expect(2)
    .error_mentions("standard input");
}

#[test]
fn key_problems_are_usage_errors_with_hints() {
    let mut env = Env::new();
    env.run(
        &sign_args(&[])
            .into_iter()
            .filter(|a| *a != "--key-env" && *a != "TEST_API_KEY")
            .collect::<Vec<_>>(),
    )
    .expect(2)
    .error_mentions("no API key")
    .hint_mentions("config init");
    env.set("SHORT_KEY", "abc");
    let mut args = sign_args(&[]);
    args[2] = "SHORT_KEY";
    env.run(&args)
        .expect(2)
        .error_mentions("3 characters")
        .hint_mentions("API v2 key");
    args[2] = "UNSET_KEY";
    env.run(&args).expect(2).error_mentions("UNSET_KEY");
}

#[test]
fn verify_holds_for_a_correct_sign_and_fails_with_4_otherwise() {
    let env = Env::new();
    let good = env.path("good.xml");
    let fixture =
        std::fs::read_to_string(real_fixture("paysuccess.notification.sample.xml")).unwrap();
    std::fs::write(
        &good,
        fixture.replace(
            "B552ED6B279343CB493C5DD0D78AB241",
            "F3F481B732273AFA2839E877583F311D",
        ),
    )
    .unwrap();
    let out = env
        .run(&[
            "sign",
            "verify",
            good.to_str().unwrap(),
            "--key-env",
            "TEST_API_KEY",
        ])
        .expect(0)
        .json();
    assert_eq!(out["valid"], true);
    assert!(
        out["sign_type_source"]
            .as_str()
            .unwrap()
            .contains("inferred")
    );

    let original = real_fixture("paysuccess.notification.sample.xml");
    let out = env
        .run(&[
            "sign",
            "verify",
            original.to_str().unwrap(),
            "--key-env",
            "TEST_API_KEY",
        ])
        .expect(4)
        .error_mentions("does not match")
        .hint_mentions("sign --explain");
    let data = out.json();
    assert_eq!(data["valid"], false);
    assert_eq!(data["received"], "B552ED6B279343CB493C5DD0D78AB241");

    let skit = b"<xml><appid>wxd930ea5d5a258f4f</appid><mch_id>10000100</mch_id><device_info>1000</device_info><body>test</body><nonce_str>ibuaiVcKdpRxkhJA</nonce_str><sign>9A0A8659F005D6984697E2CA0A9CF3B7</sign></xml>";
    env.run_with_stdin(
        &["sign", "verify", "-", "--key-env", "TEST_API_KEY"],
        Some(skit),
    )
    .expect(0);
    env.run_with_stdin(
        &["sign", "verify", "-", "--key-env", "TEST_API_KEY"],
        Some(b"<xml><a>1</a></xml>"),
    )
    .expect(2)
    .error_mentions("no sign field");
}

#[test]
fn a_key_given_where_a_name_or_path_belongs_is_never_echoed() {
    let env = Env::new();
    // The runner fails the test if the key appears in any output.
    env.run(&["sign", "a=1", "--key-env", DOC_KEY])
        .expect(2)
        .error_mentions("hidden");
    env.run(&["sign", "a=1", "--key-file", DOC_KEY])
        .expect(2)
        .error_mentions("hidden");
    env.run(&["sign", DOC_KEY, "--key-env", "TEST_API_KEY"])
        .expect(2);
    let xml = format!("<xml><{DOC_KEY}>1</{DOC_KEY}><a>&{DOC_KEY};</a></xml>");
    env.run_with_stdin(
        &["sign", "-f", "-", "--key-env", "TEST_API_KEY"],
        Some(xml.as_bytes()),
    )
    .expect(2);
}

#[test]
fn hmac_without_a_declared_sign_type_is_warned_about_even_without_explain() {
    let env = Env::new();
    let out = env
        .run(&sign_args(&["--sign-type", "HMAC-SHA256"]))
        .expect(0);
    assert!(
        out.stderr
            .starts_with("warning: the parameters carry no sign_type"),
        "{}",
        out.stderr
    );
    let quiet = env
        .run(&sign_args(&["--sign-type", "HMAC-SHA256", "-q"]))
        .expect(0);
    assert!(quiet.stderr.is_empty());
}

#[test]
fn json_parameters_with_repeats_or_inexact_numbers_are_refused() {
    let env = Env::new();
    let path = env.path("p.json");
    std::fs::write(&path, r#"{"a":"1","a":"2"}"#).unwrap();
    env.run(&[
        "sign",
        "--key-env",
        "TEST_API_KEY",
        "-f",
        path.to_str().unwrap(),
    ])
    .expect(2)
    .error_mentions("\"a\" appears more than once");
    std::fs::write(&path, r#"{"total_fee":123456789012345678901234567890}"#).unwrap();
    env.run(&[
        "sign",
        "--key-env",
        "TEST_API_KEY",
        "-f",
        path.to_str().unwrap(),
    ])
    .expect(2)
    .error_mentions("too large");
}

#[test]
fn key_flags_work_beside_a_broken_or_absent_config() {
    let mut env = Env::new();
    env.write_config("not toml [");
    let out = env.run(&sign_args(&[])).expect(0);
    assert!(
        out.stderr.contains("warning: not using the config file"),
        "{}",
        out.stderr
    );
    assert_eq!(out.json()["sign"], "9A0A8659F005D6984697E2CA0A9CF3B7");
    env.set("WXPAY_OPS_CONFIG", "");
    env.set("WXPAY_OPS_PROFILE", "nope");
    std::fs::remove_file(env.config_path()).unwrap();
    env.run(&sign_args(&[])).expect(0);
}

/// The sign valid for the official notification sample's fields under the documentation key.
const VALID_FOR_SAMPLE: &str = "F3F481B732273AFA2839E877583F311D";

#[test]
fn verify_shows_the_expected_sign_only_with_explain_and_a_warning() {
    let env = Env::new();
    let original = real_fixture("paysuccess.notification.sample.xml");
    let path = original.to_str().unwrap();
    for format in ["json", "table", "csv"] {
        let out = env
            .run(&[
                "sign",
                "verify",
                path,
                "--key-env",
                "TEST_API_KEY",
                "--format",
                format,
            ])
            .expect(4)
            .error_mentions("does not match");
        assert!(
            !out.stdout.contains(VALID_FOR_SAMPLE) && !out.stdout.contains("expected"),
            "{format}: a valid sign for forged fields was printed:\n{}",
            out.stdout
        );
    }
    let out = env
        .run(&[
            "sign",
            "verify",
            path,
            "--key-env",
            "TEST_API_KEY",
            "--explain",
        ])
        .expect(4);
    assert_eq!(out.json()["expected"], VALID_FOR_SAMPLE);
    assert!(
        out.stderr
            .starts_with("warning: `expected` is a valid sign")
            && out.stderr.contains("never paste it"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("error: "), "{}", out.stderr);
}

fn good_notification(env: &Env) -> std::path::PathBuf {
    let good = env.path("good.xml");
    let fixture =
        std::fs::read_to_string(real_fixture("paysuccess.notification.sample.xml")).unwrap();
    std::fs::write(
        &good,
        fixture.replace("B552ED6B279343CB493C5DD0D78AB241", VALID_FOR_SAMPLE),
    )
    .unwrap();
    good
}

#[test]
fn sign_type_source_names_the_message_the_flag_or_the_profile() {
    let env = Env::new();
    let good = good_notification(&env);
    let good = good.to_str().unwrap();
    let source = |extra: &[&str]| {
        let mut args = vec!["sign", "verify", good, "--key-env", "TEST_API_KEY"];
        args.extend(extra);
        env.run(&args).expect(0).json()["sign_type_source"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(source(&[]).starts_with("inferred from the length of sign"));
    // Any case on the command line and in the profile.
    assert_eq!(source(&["--sign-type", "md5"]), "the --sign-type flag");
    env.write_config(
        "[profiles.doc]\nmch_id = \"10000100\"\nappid = \"wx2421b1c4370ec43b\"\napi_key_env = \"TEST_API_KEY\"\nsign_type = \"md5\"\n",
    );
    assert_eq!(source(&[]), "the sign_type of profile \"doc\"");
    assert_eq!(source(&["--sign-type", "Md5"]), "the --sign-type flag");

    let declared = b"<xml><appid>wxd930ea5d5a258f4f</appid><mch_id>10000100</mch_id><device_info>1000</device_info><body>test</body><nonce_str>ibuaiVcKdpRxkhJA</nonce_str><sign_type>HMAC-SHA256</sign_type><sign>0</sign></xml>";
    let out = env
        .run_with_stdin(&["sign", "verify", "-", "--explain"], Some(declared))
        .expect(4)
        .json();
    assert_eq!(out["sign_type"], "HMAC-SHA256");
    assert_eq!(out["sign_type_source"], "the message's sign_type field");

    let signed = env.run(&sign_args(&[])).expect(0).json();
    assert_eq!(
        signed["sign_type_source"],
        "the sign_type of profile \"doc\""
    );
    let signed = env
        .run(&sign_args(&["--sign-type", "hmac-sha256"]))
        .expect(0)
        .json();
    assert_eq!(
        signed["sign"],
        "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
    );
    assert_eq!(signed["sign_type_source"], "the --sign-type flag");
    let out = env
        .run(&sign_args(&["--sign-type", "HMAC_SHA256"]))
        .expect(2);
    assert!(out.stderr.contains("HMAC_SHA256"), "{}", out.stderr);
    // A message's own field is spelled as WeChat Pay compares it: exactly.
    env.run(&sign_args(&["sign_type=md5"]))
        .expect(2)
        .error_mentions("\"md5\"")
        .hint_mentions("write sign_type=MD5");
}

#[test]
fn help_tells_the_real_order_of_sign_types() {
    let env = Env::new();
    for command in [
        &["sign", "verify", "--help"][..],
        &["notify", "verify", "--help"],
    ] {
        let help = env.run(command).expect(0).stdout;
        let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains(
                "(the field always wins) [default: the profile's sign_type, else by sign length"
            ),
            "{help}"
        );
    }
    let help = env.run(&["sign", "--help"]).expect(0).stdout;
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("[default: the profile's sign_type, else MD5]") && flat.contains("any case"),
        "{help}"
    );
}

#[test]
fn a_lone_dash_reads_the_parameters_from_stdin() {
    let env = Env::new();
    let json = br#"{"appid":"wxd930ea5d5a258f4f","mch_id":"10000100","device_info":"1000","body":"test","nonce_str":"ibuaiVcKdpRxkhJA"}"#;
    let out = env
        .run_with_stdin(&["sign", "-", "--key-env", "TEST_API_KEY"], Some(json))
        .expect(0);
    assert_eq!(out.json()["sign"], "9A0A8659F005D6984697E2CA0A9CF3B7");
    assert!(
        out.stderr.is_empty(),
        "a pipe is not told to type: {}",
        out.stderr
    );
    for empty in [&b""[..], b" \n"] {
        env.run_with_stdin(&["sign", "-", "--key-env", "TEST_API_KEY"], Some(empty))
            .expect(2)
            .error_mentions("standard input: empty")
            .hint_mentions("wxpay-ops sign -");
    }
    env.run_with_stdin(
        &["sign", "-", "body=test", "--key-env", "TEST_API_KEY"],
        Some(json),
    )
    .expect(2)
    .error_mentions("cannot be mixed");
}

/// On a terminal, `sign -` says that it waits for input.
#[test]
fn a_lone_dash_on_a_terminal_says_that_input_is_awaited() {
    let env = Env::new();
    // Ctrl-D at the start of a line ends the input on a terminal.
    let out = env
        .run_in_terminal(
            &["sign", "-", "--key-env", "TEST_API_KEY", "--format", "json"],
            Some(b"{\"body\":\"test\"}\n\x04"),
        )
        .expect(0);
    assert!(
        out.stdout
            .contains("reading parameters from standard input (Ctrl-D to end)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("\"sign\""), "{}", out.stdout);
}

/// `sign verify` notes, as `sign` does, that a 64-character sign on a message without
/// sign_type is checked by WeChat Pay as MD5 (and refused with 签名错误), even when it holds.
#[test]
fn verify_warns_of_a_hmac_sign_without_a_declared_sign_type() {
    let env = Env::new();
    let hmac = "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6";
    let message = format!(
        "<xml><appid>wxd930ea5d5a258f4f</appid><mch_id>10000100</mch_id><device_info>1000</device_info><body>test</body><nonce_str>ibuaiVcKdpRxkhJA</nonce_str><sign>{hmac}</sign></xml>"
    );
    let args = ["sign", "verify", "-", "--key-env", "TEST_API_KEY"];
    let out = env
        .run_with_stdin(&args, Some(message.as_bytes()))
        .expect(0);
    assert!(
        out.stderr
            .starts_with("warning: the message carries no sign_type field")
            && out.stderr.contains("签名错误"),
        "{}",
        out.stderr
    );
    let json = out.json();
    assert_eq!(json["valid"], true);
    assert!(
        json["notes"].to_string().contains("sign_type=HMAC-SHA256"),
        "{json}"
    );

    // A declared sign_type, or a 32-character MD5 sign, gets no such note.
    let md5 = "<xml><appid>wxd930ea5d5a258f4f</appid><mch_id>10000100</mch_id><device_info>1000</device_info><body>test</body><nonce_str>ibuaiVcKdpRxkhJA</nonce_str><sign>9A0A8659F005D6984697E2CA0A9CF3B7</sign></xml>";
    let out = env.run_with_stdin(&args, Some(md5.as_bytes())).expect(0);
    assert!(!out.stderr.contains("sign_type"), "{}", out.stderr);
}
