//! Every numeric flag of every command, found by walking the clap definition, fed extreme
//! values through the real binary: each is refused at parse time (exit 2, naming the flag) or
//! the command succeeds. Never a panic (exit 101), never a wait of days, never a timeout of
//! no time at all. A new numeric flag is covered as soon as it exists; a new command with one
//! needs a working invocation in [`base`].

use std::any::TypeId;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use wxpay_ops::bill::format::{BillType, FeeRate};
use wxpay_ops::emulator::bills::write_trade_bill;
use wxpay_ops::emulator::merchant::{DEFAULT_APPIDS, DEFAULT_MCH_ID};
use wxpay_ops::emulator::synth::{Differences, SyntheticDay, write_export};

use crate::order::Shop;

const EXTREMES: &[&str] = &[
    "0",
    "-1",
    "1e-300",
    "1e-20",
    "1e-7",
    "1e300",
    "NaN",
    "inf",
    "-inf",
    "4294967296",
    "9223372036854775807",
    "18446744073709551616",
    "99999999999999999999999999999",
    "99999999999999999999999h",
];

/// A flag whose value is a number (or a duration, which is one with a unit).
fn is_numeric(arg: &clap::Arg) -> bool {
    let parsed = arg.get_value_parser().type_id();
    [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<i8>(),
        TypeId::of::<i16>(),
        TypeId::of::<i32>(),
        TypeId::of::<i64>(),
        TypeId::of::<isize>(),
        TypeId::of::<f32>(),
        TypeId::of::<f64>(),
        TypeId::of::<Duration>(),
    ]
    .iter()
    .any(|id| parsed == *id)
}

/// (command path, long flag) of every numeric flag.
fn numeric_flags() -> Vec<(Vec<String>, String)> {
    fn walk(
        command: &clap::Command,
        path: &mut Vec<String>,
        found: &mut Vec<(Vec<String>, String)>,
    ) {
        for arg in command.get_arguments() {
            if let (Some(long), true) = (arg.get_long(), is_numeric(arg)) {
                found.push((path.clone(), long.to_owned()));
            }
        }
        for sub in command.get_subcommands() {
            path.push(sub.get_name().to_owned());
            walk(sub, path, found);
            path.pop();
        }
    }
    let mut command = wxpay_ops::cli::command();
    command.build();
    let mut found = Vec::new();
    walk(&command, &mut Vec::new(), &mut found);
    found
}

fn days_ago(days: i64) -> time::Date {
    (time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8))
        - time::Duration::days(days))
    .date()
}

fn iso(date: time::Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// A command line of `path` that succeeds on this shop, the flag under test still to come.
/// Commands that change something get fresh numbers each time.
pub(crate) fn base(shop: &Shop, path: &[String], fresh: u32) -> Option<Vec<String>> {
    let words = |list: &[&str]| list.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
    let day = iso(days_ago(2));
    let bills = shop.env.path("bills").display().to_string();
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    Some(match path.as_slice() {
        ["order", "create"] => words(&[
            "order",
            "create",
            "--trade-type",
            "NATIVE",
            "--out-trade-no",
            &format!("C{fresh}"),
            "--amount",
            "1",
            "--body",
            "b",
            "--notify-url",
            crate::order::NOTIFY,
        ]),
        ["order", "query"] => words(&["order", "query", "--from-csv", "orders.csv"]),
        ["order", "close"] => {
            // What is tested is the command's flags, not WeChat Pay's 5 minutes.
            shop.emulator.core().allow_early_close(true);
            let number = format!("X{fresh}");
            shop.place(&number, "1");
            words(&["order", "close", "--out-trade-no", &number, "--yes"])
        }
        ["refund", "create"] => words(&[
            "refund",
            "create",
            "--out-trade-no",
            "PAID",
            "--total",
            "100000",
            "--refund",
            "1",
            "--out-refund-no",
            &format!("R{fresh}"),
            "--yes",
        ]),
        ["refund", "query"] => words(&["refund", "query", "--out-trade-no", "PAID"]),
        // A code is used once: a fresh one each time, minted as wx.login would give it.
        ["openid"] => {
            let minted = shop
                .emulator
                .core()
                .mint_login_code(DEFAULT_APPIDS[0], None)
                .unwrap();
            words(&["openid", "--code", &minted.code])
        }
        ["bill", "download"] => words(&[
            "bill",
            "download",
            "--date",
            &day,
            "--force",
            "--bill-dir",
            &bills,
        ]),
        ["bill", "fundflow"] => words(&[
            "bill",
            "fundflow",
            "--date",
            &day,
            "--account-type",
            "Basic",
            "--force",
            "--bill-dir",
            &bills,
        ]),
        ["emulator", "export"] => words(&[
            "emulator",
            "export",
            "--day",
            "20261120:50:3",
            "-o",
            "export.csv",
        ]),
        ["emulator", "serve"] => words(&[
            "emulator",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--format",
            "json",
        ]),
        ["notify", "check"] => crate::notify_check::working_check(&format!("NC{fresh}")),
        ["notify", command @ ("verify" | "decrypt")] => {
            crate::notify_v3::working(&shop.env, command)
        }
        ["sign", "v3"] => crate::sign_v3::working_sign(&shop.env),
        ["sign", "v3", "verify"] => crate::sign_v3::working_verify(&shop.env),
        ["paysign"] => words(&[
            "paysign",
            "jsapi",
            "--prepay-id",
            "wx201410272009395522657a690389285100",
        ]),
        ["reconcile"] => words(&[
            "reconcile",
            "--bill",
            "day.ALL.csv",
            "--export",
            "day-orders.csv",
            "--mch-id",
            DEFAULT_MCH_ID,
            "--out",
            "report",
        ]),
        _ => return None,
    })
}

/// The shop every base invocation works in: a paid order with room for many refunds, a bill
/// two days ago, an orders file, and a reconcilable day.
pub(crate) fn shop() -> Shop {
    let shop = Shop::new();
    shop.place("PAID", "100000");
    shop.pay("PAID");
    std::fs::write(shop.env.path("orders.csv"), "out_trade_no\nPAID\n").unwrap();
    let date = days_ago(2);
    let day = SyntheticDay {
        mch_id: DEFAULT_MCH_ID.into(),
        appid: DEFAULT_APPIDS[0].into(),
        bill_date: iso(date).replace('-', ""),
        trades: 20,
        seed: 3,
    };
    shop.emulator.core().add_synthetic_day(day.clone()).unwrap();
    let mut bill = std::fs::File::create(shop.env.path("day.ALL.csv")).unwrap();
    write_trade_bill(&mut bill, BillType::All, day.clone().into_rows(FeeRate(60))).unwrap();
    let mut export = Vec::new();
    write_export(&day, &Differences::default(), FeeRate(60), &mut export).unwrap();
    std::fs::write(shop.env.path("day-orders.csv"), export).unwrap();
    shop
}

/// `emulator serve` serves until stopped: it either refuses at once (exit 2) or says it
/// listens, and is then stopped.
fn serve(shop: &Shop, args: &[String]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wxpay-ops"))
        .args(args)
        .env_clear()
        .env("HOME", shop.env.dir.path())
        .current_dir(shop.env.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    if first.trim_start().starts_with('{') {
        child.kill().unwrap();
        child.wait().unwrap();
        return (Some(0), String::new());
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn every_numeric_flag_refuses_extremes_at_parse_time_or_works() {
    let flags = numeric_flags();
    for expected in ["rate", "timeout", "retries", "concurrency", "fee-rate"] {
        assert!(
            flags.iter().any(|(_, long)| long == expected),
            "--{expected} not found in {flags:?}"
        );
    }
    let mut shop = shop();
    // --rate 1e-7 once waited 115 days between requests.
    shop.env.time_limit(Duration::from_secs(60));
    let fresh = AtomicU32::new(0);
    let mut failures = Vec::new();
    for (path, long) in &flags {
        for value in EXTREMES {
            let n = fresh.fetch_add(1, Ordering::Relaxed);
            let Some(mut args) = base(&shop, path, n) else {
                panic!(
                    "`{}` has the numeric flag --{long}: give it a working invocation in base()",
                    path.join(" ")
                );
            };
            // Joined, so that a negative value is the flag's and not a flag of its own.
            args.push(format!("--{long}={value}"));
            let (code, stderr) = if path == &["emulator", "serve"] {
                serve(&shop, &args)
            } else {
                let argv: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = shop.run(&argv);
                (Some(out.code), out.stderr)
            };
            let refused_by_name = code == Some(2)
                && stderr.starts_with("error: ")
                && stderr.contains(&format!("--{long}"));
            if !(code == Some(0) || refused_by_name) {
                failures.push(format!("{args:?}: exit {code:?}\n{stderr}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
