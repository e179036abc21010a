//! What reaches the user's terminal and files: no control characters, no key in any shape,
//! CSV that a spreadsheet opens safely, and tables that fit the terminal or stay unwrapped.

use crate::common::{DOC_KEY, Env};

const KEY_FLAG: [&str; 2] = ["--key-env", "TEST_API_KEY"];

/// A notification whose attach would move the cursor, clear a line, retitle the terminal and
/// ring its bell; its sign is a placeholder, so it does not verify.
fn hostile_notification(env: &Env) -> String {
    let path = env.path("e.xml");
    let sign = "0".repeat(32);
    std::fs::write(
        &path,
        format!(
            "<xml><attach>\u{1b}[1A\u{1b}[2K\u{1b}]0;owned\u{7}</attach><sign>{sign}</sign></xml>"
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn control_characters_from_input_never_reach_the_terminal() {
    let env = Env::new();
    let file = hostile_notification(&env);
    for format in ["table", "csv", "json"] {
        let mut args = vec!["--format", format, "notify", "verify", &file];
        args.extend(KEY_FLAG);
        let out = env.run(&args).expect(4);
        for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(
                !text.contains(['\u{1b}', '\u{7}']),
                "{format}: raw control characters on {stream}:\n{text:?}"
            );
        }
        assert!(out.stdout.contains("owned"), "{format}: {}", out.stdout);
    }
}

#[test]
fn csv_cells_that_a_spreadsheet_would_run_are_defused() {
    let env = Env::new();
    let path = env.path("formula.xml");
    std::fs::write(
        &path,
        "<xml><attach><![CDATA[=HYPERLINK(\"http://evil.example\",\"x\")]]></attach>\
         <cash_fee>-5</cash_fee><sign>00000000000000000000000000000000</sign></xml>",
    )
    .unwrap();
    let file = path.display().to_string();
    let mut args = vec!["--format", "csv", "notify", "verify", &file];
    args.extend(KEY_FLAG);
    let out = env.run(&args).expect(4);
    let mut reader = csv::Reader::from_reader(out.stdout.as_bytes());
    let header = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let cell = |name: &str| {
        let index = header.iter().position(|h| h == name).unwrap();
        row[index].to_owned()
    };
    assert_eq!(
        cell("fields.attach"),
        "'=HYPERLINK(\"http://evil.example\",\"x\")"
    );
    assert_eq!(
        cell("fields.cash_fee"),
        "-5",
        "a plain number is left alone"
    );
}

#[test]
fn config_check_shows_where_a_key_comes_from_never_the_key() {
    let env = Env::new();
    env.write_config(&format!(
        "[profiles.cmd]\nmch_id = \"10000100\"\nappid = \"wxd930ea5d5a258f4f\"\napi_key_cmd = \"echo {DOC_KEY}\"\n\
         [profiles.env]\nmch_id = \"10000100\"\nappid = \"wxd930ea5d5a258f4f\"\napi_key_env = \"{DOC_KEY}\"\n\
         [profiles.quoted]\nmch_id = \"{DOC_KEY}\"\nappid = \"wxd930ea5d5a258f4f\"\napi_key_env = \"TEST_API_KEY\"\n"
    ));
    // Every run checks all output for the key; the formats lay the same rows out differently.
    for format in ["table", "csv", "json"] {
        env.run(&["--format", format, "-p", "cmd", "config", "check"])
            .expect(0);
        env.run(&["--format", format, "-p", "env", "config", "check"]);
        env.run(&["--format", format, "-p", "quoted", "config", "check"]);
    }
    let out = env.run(&["-p", "env", "config", "check", "--format", "json"]);
    assert!(out.stdout.contains("hidden"), "{}", out.stdout);
}

#[test]
fn a_loaded_key_is_hidden_inside_a_word_and_as_a_received_sign() {
    let env = Env::new();
    let inside = format!("attach=x{DOC_KEY}x");
    let mut args = vec!["sign", "appid=wxd930ea5d5a258f4f", &inside, "--explain"];
    args.extend(KEY_FLAG);
    let out = env.run(&args).expect(0);
    assert!(out.stdout.contains("x<API key>x"), "{}", out.stdout);

    let message = env.path("signed-with-the-key.xml");
    std::fs::write(
        &message,
        format!("<xml><appid>wxd930ea5d5a258f4f</appid><sign>{DOC_KEY}</sign></xml>"),
    )
    .unwrap();
    let file = message.display().to_string();
    let mut args = vec!["sign", "verify", &file];
    args.extend(KEY_FLAG);
    env.run(&args).expect(4);
}

#[test]
fn usage_errors_are_scrubbed_and_in_our_shape() {
    let env = Env::new();
    env.run(&["sign", "--sign-type", DOC_KEY, "a=b"])
        .expect(2)
        .error_mentions("--sign-type")
        .hint_mentions("--help");
    env.run(&["sign", "--no-such-flag"])
        .expect(2)
        .error_mentions("--no-such-flag");
    env.run(&["notify"])
        .expect(2)
        .error_mentions("`wxpay-ops notify` needs a command: verify, decrypt")
        .hint_mentions("wxpay-ops notify --help");
    let help = env.run(&["--help"]).expect(0);
    assert!(help.stdout.contains("Exit codes:"), "{}", help.stdout);
}

/// The published JSAPI example as a table on a terminal.
fn jsapi_table(env: &Env) -> crate::common::Output {
    let mut args = vec![
        "--format",
        "table",
        "paysign",
        "jsapi",
        "--appid",
        "wxd930ea5d5a258f4f",
        "--prepay-id",
        "wx201410272009395522657a690389285100",
        "--timestamp",
        "1414561699",
        "--nonce",
        "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
        "--sign-type",
        "HMAC-SHA256",
    ];
    args.extend(KEY_FLAG);
    env.run_in_terminal(&args, None).expect(0)
}

const HMAC_PAYSIGN: &str = "FC7A79E4918B4FFA96E836F5AD4A510F31241FB46C14C971D6D7B4F8E15AF262";

#[test]
fn a_terminal_of_zero_columns_gets_an_unwrapped_table() {
    let env = Env::new();
    let out = jsapi_table(&env);
    assert!(out.stdout.contains(HMAC_PAYSIGN), "{}", out.stdout);
    assert!(out.stdout.contains("timeStamp"), "{}", out.stdout);
    let rows = out.stdout.lines().filter(|l| l.contains("1414561699"));
    assert_eq!(rows.count(), 1, "{}", out.stdout);
}

#[test]
fn columns_sets_the_width_and_copyable_values_stay_whole() {
    let env = Env::new();
    let path = env.path("long.xml");
    let attach = "a note from the shop system that is long enough to need wrapping ".repeat(3);
    std::fs::write(
        &path,
        format!(
            "<xml><attach>{attach}</attach><sign>{}</sign></xml>",
            "0".repeat(32)
        ),
    )
    .unwrap();
    let file = path.display().to_string();
    let table_at = |columns: &str| {
        let mut env = Env::new();
        env.set("COLUMNS", columns);
        let mut args = vec!["--format", "table", "notify", "verify", &file];
        args.extend(KEY_FLAG);
        env.run_in_terminal(&args, None).expect(4).stdout
    };
    let narrow = table_at("60");
    let wide = table_at("400");
    assert!(wide.contains(attach.trim()), "{wide}");
    assert!(!narrow.contains(attach.trim()), "wrapped at 60:\n{narrow}");
    assert!(narrow.lines().count() > wide.lines().count());
    let reply = "<xml><return_code><![CDATA[FAIL]]></return_code>";
    assert!(
        narrow.contains(reply),
        "the reply stays on one line:\n{narrow}"
    );
}

#[test]
fn box_drawing_only_in_a_utf8_locale() {
    let mut env = Env::new();
    env.set("LANG", "C");
    let plain = jsapi_table(&env);
    assert!(plain.stdout.is_ascii(), "{}", plain.stdout);
    env.set("LANG", "C.UTF-8");
    let boxed = jsapi_table(&env);
    assert!(boxed.stdout.contains('│'), "{}", boxed.stdout);
}

/// Terminals `columns` wide, one told by COLUMNS and one by its window size, as a person's
/// terminal tells the binary.
fn terminals_of(columns: u16) -> [Env; 2] {
    let mut by_variable = Env::new();
    by_variable.set("COLUMNS", &columns.to_string());
    let mut by_size = Env::new();
    by_size.terminal_columns(columns);
    [by_variable, by_size]
}

/// No line is wider than the terminal, but one holding a value that cannot break, whole.
#[track_caller]
fn assert_fits(text: &str, columns: u16, unbreakable: &[&str]) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= usize::from(columns)
                || unbreakable.iter().any(|value| line.contains(value)),
            "wider than {columns} columns:\n{line}\nin:\n{text}"
        );
    }
}

#[test]
fn reconcile_fits_terminals_of_60_and_80_columns_and_keeps_order_numbers_whole() {
    let env = Env::new();
    let date = "20261120";
    let day = wxpay_ops::emulator::synth::SyntheticDay {
        mch_id: "1900000109".into(),
        appid: "wx2421b1c4370ec43b".into(),
        bill_date: date.into(),
        trades: 300,
        seed: 7,
    };
    let bill = env.path("2026-11-20.ALL.csv");
    let rows = day.into_rows(wxpay_ops::bill::format::FeeRate(60));
    let mut file = std::fs::File::create(&bill).unwrap();
    let bill_type = wxpay_ops::bill::format::BillType::All;
    wxpay_ops::emulator::bills::write_trade_bill(&mut file, bill_type, rows).unwrap();
    let orders = env.path("orders.csv");
    let (bill, orders) = (bill.to_str().unwrap(), orders.to_str().unwrap());
    let mut export = vec![
        "emulator",
        "export",
        "--day",
        "20261120:300:7",
        "-o",
        orders,
    ];
    for category in [
        "--missing-in-export",
        "--missing-in-bill",
        "--amount-mismatch",
        "--status-mismatch",
        "--cross-day",
        "--duplicate",
    ] {
        export.extend([category, "1"]);
    }
    env.run(&export).expect(0);
    let args = [
        "reconcile",
        "--bill",
        bill,
        "--export",
        orders,
        "--mch-id",
        "1900000109",
    ];
    let differences = env
        .run(&[&["--format", "json"], &args[..]].concat())
        .expect(1);
    let differences = differences.json();
    let numbers: Vec<&str> = (differences.as_array().unwrap().iter())
        .map(|d| d["out_trade_no"].as_str().unwrap())
        .collect();
    assert_eq!(numbers.len(), 6);
    for columns in [60, 80] {
        for terminal in terminals_of(columns) {
            let out = terminal.run_in_terminal(&[&["-q"], &args[..]].concat(), None);
            let out = out.expect(1);
            assert_fits(&out.stdout, columns, &[]);
            for number in &numbers {
                assert!(
                    out.stdout.contains(number),
                    "{number} whole in\n{}",
                    out.stdout
                );
            }
        }
    }
}

/// The demo on narrow terminals: only a value that cannot break (the HMAC-SHA256 sign, the
/// MWEB scene_info) may stand wider than the terminal, and every command the user is to type
/// comes whole, over lines continued with ` \` as a shell reads them.
#[test]
fn the_demo_fits_terminals_of_60_and_80_columns_and_its_commands_copy_whole() {
    let demo = Env::new().run(&["demo"]).expect(0).json();
    let steps = demo["steps"].as_array().unwrap();
    let field = |step: &serde_json::Value, name: &str| step[name].as_str().map(str::to_owned);
    let results: Vec<String> = steps.iter().filter_map(|s| field(s, "result")).collect();
    let commands: Vec<String> = (steps.iter())
        .filter_map(|s| field(s, "command"))
        .flat_map(|c| c.split("; ").map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let hmac = results.iter().find(|r| r.len() == 64).unwrap();
    let scene_info = (commands.iter())
        .find_map(|c| c.split_once("--scene-info "))
        .unwrap()
        .1;
    for columns in [60, 80] {
        for terminal in terminals_of(columns) {
            let out = terminal.run_in_terminal(&["-q", "demo"], None).expect(0);
            assert_fits(&out.stdout, columns, &[hmac, scene_info]);
            let typed = out.stdout.replace(" \\\n", "\u{0}");
            let typed: Vec<String> = (typed.lines())
                .map(|line| {
                    let parts = line.split('\u{0}').map(str::trim);
                    parts.collect::<Vec<_>>().join(" ")
                })
                .collect();
            for command in &commands {
                assert!(
                    typed.contains(command),
                    "{command} not whole in\n{}",
                    out.stdout
                );
            }
            assert!(out.stdout.contains("DEMO1120-06"), "{}", out.stdout);
        }
    }
}

/// A list longer than the printer holds at once goes out through its writer thread, whole and
/// in order, in every format.
#[test]
fn a_long_list_streams_whole() {
    let mut env = Env::new();
    // A writer thread that is never told the list ended would hang the command.
    env.time_limit(std::time::Duration::from_secs(60));
    let day = wxpay_ops::emulator::synth::SyntheticDay {
        mch_id: "1900000109".into(),
        appid: "wx2421b1c4370ec43b".into(),
        bill_date: "20261120".into(),
        trades: 4000,
        seed: 7,
    };
    let bill = env.path("2026-11-20.ALL.csv");
    let mut file = std::fs::File::create(&bill).unwrap();
    let rows = day.into_rows(wxpay_ops::bill::format::FeeRate(60));
    let bill_type = wxpay_ops::bill::format::BillType::All;
    let summary = wxpay_ops::emulator::bills::write_trade_bill(&mut file, bill_type, rows);
    let count = summary.unwrap().count as usize;
    let bill = bill.to_str().unwrap();
    let out = env
        .run(&["bill", "parse", bill, "--format", "csv"])
        .expect(0);
    assert!(
        out.stdout.len() > 3 << 18,
        "{} bytes: more than a few blocks",
        out.stdout.len()
    );
    let mut reader = csv::Reader::from_reader(out.stdout.as_bytes());
    let numbers: Vec<String> = (reader.records())
        .map(|row| row.unwrap()[6].to_owned())
        .collect();
    assert_eq!(numbers.len(), count);
    let json = env
        .run(&["bill", "parse", bill, "--format", "json"])
        .expect(0)
        .json();
    let records = json["records"].as_array().unwrap();
    let in_json: Vec<&str> = (records.iter())
        .map(|r| r["out_trade_no"].as_str().unwrap())
        .collect();
    assert_eq!(in_json, numbers);
    let lines = env
        .run(&["bill", "parse", bill, "--format", "jsonl"])
        .expect(0);
    assert_eq!(lines.stdout.lines().count(), count + 1);
}
