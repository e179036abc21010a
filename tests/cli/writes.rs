//! Where commands write files: `-`, devices, symlinks, missing folders.

use std::os::unix::fs::{FileTypeExt, symlink};

use crate::common::Env;

const HEADER: &str = "out_trade_no,status,amount,refund_amount,paid_at\n";

fn export(env: &Env, output: &str) -> crate::common::Output {
    env.run(&[
        "emulator",
        "export",
        "--day",
        "20261120:200:3",
        "-o",
        output,
    ])
}

#[test]
fn export_through_a_symlink_replaces_the_target_and_keeps_the_link() {
    let env = Env::new();
    std::fs::create_dir(env.path("data")).unwrap();
    let target = env.path("data/orders.csv");
    std::fs::write(&target, "old").unwrap();
    let link = env.path("orders.csv");
    symlink("data/orders.csv", &link).unwrap();

    let expected = export(&env, link.to_str().unwrap()).expect(0).json();
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.starts_with(HEADER), "{text}");
    assert_eq!(
        text.lines().count() as u64 - 1,
        expected["export_rows"].as_u64().unwrap()
    );
    assert_eq!(std::fs::read_dir(env.path("data")).unwrap().count(), 1);
}

#[test]
fn export_to_a_device_writes_it_in_place() {
    let env = Env::new();
    export(&env, "/dev/null").expect(0).json();
    let null = std::fs::metadata("/dev/null").unwrap();
    assert!(null.file_type().is_char_device());
}

#[test]
fn export_to_stdout_keeps_stdout_for_the_csv() {
    let env = Env::new();
    for output in ["-", "/dev/stdout"] {
        let out = export(&env, output).expect(0);
        assert!(out.stdout.starts_with(HEADER), "{}", out.stdout);
        let counts: serde_json::Value = serde_json::from_str(out.stderr.trim()).unwrap();
        assert_eq!(
            out.stdout.lines().count() as u64 - 1,
            counts["export_rows"].as_u64().unwrap(),
            "{output}"
        );
    }
    assert!(!env.path("-").exists());
}

#[test]
fn export_into_a_missing_folder_names_the_file_and_says_what_to_do() {
    let env = Env::new();
    let out = export(&env, "reports/nov/orders.csv")
        .expect(2)
        .error_mentions("reports/nov/orders.csv: the folder reports/nov does not exist")
        .hint_mentions("mkdir -p reports/nov");
    assert!(!out.stderr.contains(".tmp"), "{}", out.stderr);
}

/// Every command that writes data to stdout, its reader gone before it writes (`| head -0`):
/// a quiet exit 0, never `error: Broken pipe`. A new command must be added here or to the
/// commands left out, with the reason.
#[test]
fn every_data_command_ends_quietly_on_a_closed_stdout() {
    use std::process::Stdio;

    let shop = crate::numbers::shop();
    let config = shop.config.display().to_string();
    std::fs::write(
        shop.env.path("message.xml"),
        "<xml><appid>wxd930ea5d5a258f4f</appid><sign>ABC</sign></xml>",
    )
    .unwrap();
    let day = (time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8))
        - time::Duration::days(2))
    .date()
    .to_string();
    // Two ledgers: one of a balanced day, one of a day whose export lacks an order.
    let mch_id = wxpay_ops::emulator::merchant::DEFAULT_MCH_ID;
    let orders = std::fs::read_to_string(shop.env.path("day-orders.csv")).unwrap();
    let missing = orders.lines().find(|l| l.contains(",PAID,")).unwrap();
    let number = missing.split(',').next().unwrap().to_owned();
    let lacking = orders.replace(&format!("{missing}\n"), "");
    std::fs::write(shop.env.path("lacking.csv"), lacking).unwrap();
    for (export, ledger, code) in [
        ("day-orders.csv", "balanced.sqlite3", 0),
        ("lacking.csv", "differs.sqlite3", 1),
    ] {
        let args = [
            "reconcile",
            "--bill",
            "day.ALL.csv",
            "--export",
            export,
            "--mch-id",
            mch_id,
            "--ledger",
            ledger,
        ];
        shop.env.run(&args).expect(code);
    }
    let own = |path: &[&str]| -> Option<Vec<String>> {
        let words = |list: &[&str]| list.iter().map(|w| (*w).to_owned()).collect();
        Some(match path {
            ["sign"] => words(&["sign", "appid=wxd930ea5d5a258f4f", "body=test"]),
            ["sign", "verify"] => words(&["sign", "verify", "message.xml"]),
            ["sign", "v3"] => crate::sign_v3::working_sign(&shop.env),
            ["sign", "v3", "verify"] => crate::sign_v3::working_verify(&shop.env),
            ["completions"] => words(&["completions", "bash"]),
            ["certs", "download"] => words(&["certs", "download", "--dir", "platform"]),
            ["certs", "list"] => words(&["certs", "list", "--dir", "platform"]),
            ["config", "path"] => words(&["config", "path"]),
            ["config", "show"] => words(&["config", "show"]),
            ["config", "check"] => words(&["config", "check"]),
            ["bill", "parse"] => words(&["bill", "parse", "day.ALL.csv"]),
            ["bill", "summary"] => words(&["bill", "summary", "--date", &day, "--bill-dir", "b"]),
            ["ledger", "import"] => words(&["ledger", "import", "day.ALL.csv", "--ledger", "l.db"]),
            ["emulator", "export"] => {
                words(&["emulator", "export", "--day", "20261120:20000", "-o", "-"])
            }
            ["demo"] => words(&["demo"]),
            ["ledger", "open"] => words(&["ledger", "open", "--ledger", "balanced.sqlite3"]),
            ["ledger", "resolve"] => words(&[
                "ledger",
                "resolve",
                "1",
                "--note",
                "test",
                "--ledger",
                "differs.sqlite3",
            ]),
            ["ledger", "show"] => {
                words(&["ledger", "show", &number, "--ledger", "differs.sqlite3"])
            }
            ["ledger", command] => {
                // A month of days the ledger knows nothing of is still a month of rows.
                let ledger = ["--ledger", "balanced.sqlite3", "--mch-id", "1900000109"];
                let mut line = vec!["ledger", command, "--month", "2000-01"];
                line.extend(ledger);
                if *command == "export" {
                    line.push("exports");
                }
                words(&line)
            }
            _ => return None,
        })
    };
    // Left out: serve runs until stopped; init writes a file and prints status only.
    let left_out: [&[&str]; 2] = [&["emulator", "serve"], &["config", "init"]];
    let mut command = wxpay_ops::cli::command();
    command.build();
    let mut leaves = Vec::new();
    fn walk(command: &clap::Command, path: &mut Vec<String>, leaves: &mut Vec<Vec<String>>) {
        let subs: Vec<_> = command
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .collect();
        if subs.is_empty()
            || command.is_args_conflicts_with_subcommands_set()
            || !path.is_empty() && command.get_positionals().next().is_some()
        {
            leaves.push(path.clone());
        }
        for sub in subs {
            path.push(sub.get_name().to_owned());
            walk(sub, path, leaves);
            path.pop();
        }
    }
    walk(&command, &mut Vec::new(), &mut leaves);
    let mut failures = Vec::new();
    let mut covered = Vec::new();
    for (n, path) in leaves.iter().enumerate() {
        let words: Vec<&str> = path.iter().map(String::as_str).collect();
        if words.is_empty() || left_out.contains(&words.as_slice()) {
            continue;
        }
        let args = own(&words)
            .or_else(|| crate::numbers::base(&shop, path, 5000 + n as u32))
            .unwrap_or_else(|| panic!("`{}`: add a command line here", words.join(" ")));
        covered.push(words.join(" "));
        let mut argv = vec!["-q", "--config", &config];
        argv.extend(args.iter().map(String::as_str));
        let mut child = shop
            .env
            .command(&argv)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.code() != Some(0) || !stderr.is_empty() {
            failures.push(format!("{argv:?}: {:?}\n{stderr}", output.status.code()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for expected in [
        "sign",
        "sign verify",
        "emulator export",
        "order query",
        "reconcile",
    ] {
        assert!(
            covered.iter().any(|c| c == expected),
            "{expected}: {covered:?}"
        );
    }
}
