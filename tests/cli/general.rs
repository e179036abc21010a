use std::process::{Command, Stdio};

use crate::common::Env;

#[test]
fn help_documents_the_exit_codes() {
    let out = Env::new().run(&["--help"]).expect(0);
    for line in [
        "0   success",
        "4   a sign that does not check out",
        "75  try again later",
    ] {
        assert!(out.stdout.contains(line), "{}", out.stdout);
    }
}

/// Each exit code in the help names the commands of this build that give it.
#[test]
fn exit_code_help_names_only_what_exists() {
    let env = Env::new();
    let help = env.run(&["--help"]).expect(0).stdout;
    let codes = &help[help.find("Exit codes:").expect("an exit-code section")..];
    // clap may wrap a long entry; a line that does not start with a code continues the one before.
    let mut entries: Vec<String> = Vec::new();
    for line in codes.lines().skip(1) {
        match entries.last_mut() {
            Some(entry) if !line.trim_start().starts_with(|c: char| c.is_ascii_digit()) => {
                entry.push(' ');
                entry.push_str(line.trim());
            }
            _ => entries.push(line.trim().to_owned()),
        }
    }
    for line in entries
        .iter()
        .filter(|l| !l.contains("success") && !l.contains("every command"))
    {
        let named: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
        assert!(!named.is_empty(), "no command named for {line:?}");
        for named in named {
            let (flags, mut args): (Vec<&str>, Vec<&str>) =
                named.split_whitespace().partition(|w| w.starts_with('-'));
            args.push("--help");
            let help = env.run(&args).expect(0).stdout;
            for flag in flags {
                assert!(help.contains(flag), "{named}: no {flag} in\n{help}");
            }
        }
    }
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new();
    env.run(&["--no-such-flag"]).expect(2);
    env.run(&["sign", "verify"]).expect(2);
    env.run(&["completions", "tcsh"]).expect(2);
}

/// A missing argument is named in the error line, not left to a list clap prints below it.
#[test]
fn missing_arguments_are_named() {
    let env = Env::new();
    let out = env
        .run(&["completions"])
        .expect(2)
        .error_mentions("<SHELL>")
        .hint_mentions("usage: wxpay-ops completions");
    let error = out.stderr.lines().next().unwrap();
    assert!(
        error.contains("not provided: <SHELL>"),
        "the name follows the sentence:\n{}",
        out.stderr
    );
    env.run(&["sign", "verify"])
        .expect(2)
        .error_mentions("not provided: <FILE>");
}

/// The options every command takes are listed apart from the command's own, under their own
/// heading, in every command's help.
#[test]
fn global_options_have_their_own_heading() {
    let env = Env::new();
    for args in [
        vec!["--help"],
        vec!["order", "query", "--help"],
        vec!["reconcile", "--help"],
        vec!["sign", "verify", "--help"],
    ] {
        let help = env.run(&args).expect(0).stdout;
        let global = help
            .find("\nGlobal options:\n")
            .unwrap_or_else(|| panic!("{args:?}: no Global options heading:\n{help}"));
        let (own, global) = help.split_at(global);
        for flag in [
            "--config <FILE>",
            "--profile <PROFILE>",
            "--format <FORMAT>",
            "--quiet",
            "--verbose",
        ] {
            assert!(
                global.contains(flag),
                "{args:?}: {flag} not under Global options:\n{help}"
            );
            assert!(
                !own.contains(flag),
                "{args:?}: {flag} among the command's own:\n{help}"
            );
        }
    }
}

#[test]
fn the_demo_day_runs_on_api_v3_and_reconciles_the_same() {
    let env = Env::new();
    let v3 = env.run(&["demo", "--api", "v3"]).expect(0).json();
    let v2 = env.run(&["demo"]).expect(0).json();
    // The same bill, the same export, the same report, whichever API carried the day.
    assert_eq!(
        v3["reconcile"]["differences"],
        v2["reconcile"]["differences"]
    );
    assert_eq!(
        v3["reconcile"]["summary"]["categories"],
        v2["reconcile"]["summary"]["categories"]
    );
    let steps = v3["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["check"] == "ok"), "{steps:?}");
    let commands: Vec<&str> = steps.iter().filter_map(|s| s["command"].as_str()).collect();
    let typed = |prefix: &str| {
        let found = commands.iter().find(|c| c.starts_with(prefix));
        assert!(
            found.is_some_and(|c| c.ends_with("--api v3")),
            "{prefix}: {found:?}"
        );
    };
    for prefix in [
        "wxpay-ops order create",
        "wxpay-ops order query",
        "wxpay-ops order close",
        "wxpay-ops refund create",
        "wxpay-ops bill download",
        "wxpay-ops paysign",
    ] {
        typed(prefix);
    }
    let callbacks = steps
        .iter()
        .find(|s| {
            s["step"]
                .as_str()
                .is_some_and(|n| n.starts_with("notify_url"))
        })
        .unwrap();
    assert!(
        callbacks["result"]
            .as_str()
            .unwrap()
            .contains("resource decrypted"),
        "{callbacks}"
    );
}

/// The published vectors, then a merchant's day: every step passes, each comes with the
/// command for a real merchant, and the reconciliation finds exactly the planted differences,
/// one of each category.
#[test]
fn demo_runs_on_built_in_data() {
    let env = Env::new();
    let demo = env.run(&["demo"]).expect(0).json();
    let steps = demo["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["check"] == "ok"), "{steps:#?}");
    let result_of = |name: &str| {
        let step = steps.iter().find(|s| s["step"] == name);
        step.unwrap_or_else(|| panic!("no step {name:?}"))["result"].clone()
    };
    assert_eq!(
        result_of("sign official example (MD5)"),
        "9A0A8659F005D6984697E2CA0A9CF3B7"
    );
    assert_eq!(result_of("XXE attack sample refused"), "refused");

    let commands: Vec<&str> = steps.iter().filter_map(|s| s["command"].as_str()).collect();
    let typed = |prefix: &str| commands.iter().filter(|c| c.starts_with(prefix)).count();
    for trade_type in ["JSAPI", "NATIVE", "APP", "MWEB"] {
        let create = format!("wxpay-ops order create --trade-type {trade_type} --out-trade-no ");
        assert!(
            typed(&create) >= 1,
            "no {trade_type} order in {commands:#?}"
        );
    }
    let created = typed("wxpay-ops order create ");
    let paid = typed("wxpay-ops order query --out-trade-no ");
    assert!(
        paid > created / 2 && paid < created,
        "{paid} of {created} paid"
    );
    for prefix in [
        "wxpay-ops paysign jsapi --prepay-id wx",
        "wxpay-ops refund create --out-trade-no ",
        "wxpay-ops order close --out-trade-no ",
        "wxpay-ops notify verify ",
    ] {
        assert_eq!(typed(prefix), 1, "{prefix} in {commands:#?}");
    }
    // One cloud-pay order, whose cloud function acknowledges the second call.
    assert_eq!(typed("wxpay-ops order create --cloud "), 1);
    let calls: Vec<&str> = steps
        .iter()
        .filter(|s| s["step"].as_str().unwrap().starts_with("cloud function "))
        .map(|s| s["result"].as_str().unwrap())
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].contains("errcode 1 is not 0"), "{calls:?}");
    assert!(calls[1].contains("errcode 0, accepted"), "{calls:?}");
    assert_eq!(typed("wxpay-ops bill download --date 2026-11-20"), 1);
    assert_eq!(
        typed("wxpay-ops reconcile --date 2026-11-20 --export orders.csv"),
        1
    );
    // The second day closes the first day's cross-day payment in the ledger, and the month
    // report counts both days.
    assert_eq!(
        typed("wxpay-ops bill download --date 2026-11-21 --import"),
        1
    );
    assert_eq!(
        typed("wxpay-ops reconcile --date 2026-11-21 --export orders-1121.csv"),
        1
    );
    let second = result_of("reconcile 2026-11-21: the bill against orders-1121.csv");
    let second = second.as_str().unwrap();
    assert!(
        second.starts_with("1 difference (missing_in_export DEMO1120-10), 1 matched; run 2 closed 2026-11-20's difference #"),
        "{second}"
    );
    let open = result_of("ledger open: the differences still open");
    assert!(
        open.as_str()
            .unwrap()
            .starts_with("5 open, all of 2026-11-20: "),
        "{open}"
    );
    assert!(!open.as_str().unwrap().contains("DEMO1120-10"), "{open}");
    let month = result_of("ledger report --month 2026-11");
    let month = month.as_str().unwrap();
    assert!(
        month.starts_with("2 days: 9 payments 155.19 yuan, 1 refund 10.00 yuan"),
        "{month}"
    );
    assert!(
        month.ends_with("differences 7 found, 2 closed, 5 open"),
        "{month}"
    );
    assert_eq!(typed("wxpay-ops ledger report --month 2026-11"), 1);
    let pay_sign = steps
        .iter()
        .find(|s| {
            s["command"]
                .as_str()
                .is_some_and(|c| c.starts_with("wxpay-ops paysign"))
        })
        .unwrap()["result"]
        .as_str()
        .unwrap();
    let pay_sign = pay_sign.strip_prefix("paySign=").unwrap();
    assert!(pay_sign.len() == 32 && pay_sign.chars().all(|c| c.is_ascii_hexdigit()));

    let pairs = |list: &serde_json::Value| -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let field = |name: &str| d[name].as_str().unwrap().to_owned();
                (field("category"), field("out_trade_no"))
            })
            .collect();
        pairs.sort();
        pairs
    };
    let planted = pairs(&demo["planted"]);
    let found = pairs(&demo["reconcile"]["differences"]);
    assert_eq!(found, planted);
    let categories: Vec<&str> = planted.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        categories,
        [
            "amount_mismatch",
            "cross_day",
            "duplicate",
            "missing_in_bill",
            "missing_in_export",
            "status_mismatch"
        ]
    );
    let summary = &demo["reconcile"]["summary"];
    assert_eq!(summary["day"], "2026-11-20");
    assert_eq!(summary["balanced"], false);
    assert_eq!(summary["bill"]["summary_consistent"], true);
    for category in categories {
        assert_eq!(summary["categories"][category]["count"], 1, "{category}");
    }
    // Three payments and a partial refund agree on both sides.
    assert_eq!(summary["categories"]["matched"]["count"], 4);
    let differences = demo["reconcile"]["differences"].as_array().unwrap();
    let amounts = differences
        .iter()
        .find(|d| d["category"] == "amount_mismatch")
        .unwrap();
    assert_eq!(amounts["bill_amount_fen"], 880);
    assert_eq!(amounts["export_amount_fen"], 800);
    assert_eq!(amounts["difference_fen"], 80);

    // People get the steps, then the report exactly as `reconcile` shows it.
    let table = env.run(&["demo", "--format", "table"]).expect(0).stdout;
    for shown in [
        "wxpay-ops bill download",
        "day 2026-11-20",
        "missing_in_export",
    ] {
        assert!(table.contains(shown), "{shown} not in\n{table}");
    }
}

#[test]
fn a_closed_stdout_ends_quietly_with_0() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wxpay-ops"))
        .args(["completions", "bash"])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn quiet_silences_status_but_not_data() {
    let env = Env::new();
    let out = env.run(&["-q", "demo"]).expect(0);
    assert!(out.stderr.is_empty());
    assert!(!out.stdout.is_empty());
}

#[test]
fn a_missing_input_file_says_where_it_was_looked_for() {
    let env = Env::new();
    for args in [
        &["bill", "parse", "nope.csv"][..],
        &["sign", "verify", "nope.xml"],
    ] {
        env.run(args)
            .expect(2)
            .error_mentions("No such file or directory")
            .hint_mentions("a relative one is taken from");
    }
}
