//! The whole CLI, fuzzed: argument vectors drawn from the real subcommands and flags (read
//! from the clap definition) mixed with garbage, arbitrary input on stdin and in files, and
//! config files of any shape. Every run must end with a documented exit code, no panic, no
//! key in its output, no control character that could drive a terminal, and a failure in the
//! `error:`/`hint:` shape.
//!
//! CI runs a few dozen cases; a long run sets `PROPTEST_CASES` (see DEVELOPMENT.md,
//! Fuzzing).

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;
use wxpay_ops::wechat::notify::encrypt_req_info;
use wxpay_ops::wechat::sign::{set_sign, sign_in_place};
use wxpay_ops::wechat::{ApiKey, Message, SignType};

use crate::common::{DOC_KEY, Env, OTHER_KEY, Output, real_fixture, set_mode};

/// Exit codes the docs document (README.md, docs/reference.md).
const DOCUMENTED_CODES: [i32; 6] = [0, 1, 2, 3, 4, 75];

/// The debug binary in CI runs any command in well under a second; a minute means a hang.
const TIME_LIMIT: Duration = Duration::from_secs(60);

fn cases(ci: u32) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = ci;
    }
    config
}

struct Flag {
    long: Option<String>,
    short: Option<char>,
    takes_value: bool,
    /// Values that mean something to this flag.
    pool: &'static [String],
}

/// A command line that can be run: its subcommand path, flags and positional values.
struct Leaf {
    path: Vec<String>,
    flags: Vec<Flag>,
    positional_pool: &'static [String],
    /// Whether anything but `--help` can run it: not the bare program, a command group or a
    /// `help` subcommand.
    runs: bool,
}

/// Every subcommand of the real definition except `emulator serve`, which serves until
/// stopped.
static LEAVES: LazyLock<Vec<Leaf>> = LazyLock::new(|| {
    let mut command = wxpay_ops::cli::command();
    command.build();
    let mut leaves = Vec::new();
    collect(&command, &mut Vec::new(), &mut leaves);
    leaves.retain(|leaf| leaf.path != ["emulator", "serve"]);
    leaves
});

static RUNNABLE: LazyLock<Vec<&'static Leaf>> =
    LazyLock::new(|| LEAVES.iter().filter(|leaf| leaf.runs).collect());

static ALL_FLAGS: LazyLock<Vec<&'static Flag>> =
    LazyLock::new(|| LEAVES.iter().flat_map(|leaf| &leaf.flags).collect());

fn collect(command: &clap::Command, path: &mut Vec<String>, leaves: &mut Vec<Leaf>) {
    let pool = |arg: &clap::Arg| -> &'static [String] {
        let choices: Vec<String> = arg
            .get_possible_values()
            .iter()
            .map(|v| v.get_name().to_owned())
            .collect();
        if choices.is_empty() {
            let name = arg.get_value_names().and_then(|names| names.first());
            pool_for(name.map_or("", |n| n.as_str()))
        } else {
            Box::leak(choices.into_boxed_slice())
        }
    };
    let is_help = path.iter().any(|name| name == "help");
    leaves.push(Leaf {
        path: path.clone(),
        flags: command
            .get_arguments()
            .filter(|arg| !arg.is_positional())
            .map(|arg| Flag {
                long: arg.get_long().map(str::to_owned),
                short: arg.get_short(),
                takes_value: arg.get_action().takes_values(),
                pool: pool(arg),
            })
            .collect(),
        positional_pool: command.get_positionals().next().map_or(&[], pool),
        runs: !is_help && (!command.has_subcommands() || *path == ["sign"]),
    });
    for sub in command.get_subcommands() {
        path.push(sub.get_name().to_owned());
        collect(sub, path, leaves);
        path.pop();
    }
}

/// Files in the case's folder. Not the key: `config path --config KEY` prints the path it
/// was given, as data. No absolute path and no `/` anywhere: the tests run as root,
/// and nothing outside the case's folder may be written.
const FILES: &[&str] = &[
    // The case's input, thrice as likely as any other file.
    "-",
    "-",
    "-",
    "input.xml",
    "input.xml",
    "input.xml",
    "input.json",
    "input.bin",
    "paysuccess.xml",
    "unifiedorder.xml",
    "xxe.xml",
    "missing.xml",
    ".",
    "out.csv",
    "key.txt",
    "key-open.txt",
    "~",
];
const VARS: &[&str] = &[
    "TEST_API_KEY",
    "SHORT_KEY",
    "PADDED_KEY",
    "NO_SUCH_VAR",
    "",
    DOC_KEY,
];
const PARAMS: &[&str] = &[
    "appid=wxd930ea5d5a258f4f",
    "mch_id=10000100",
    "body=test",
    "nonce_str=ibuaiVcKdpRxkhJA",
    "total_fee=1",
    "sign_type=HMAC-SHA256",
    "sign_type=md5",
    "sign=9A0A8659F005D6984697E2CA0A9CF3B7",
    "=x",
    "a==b",
    "1a=b",
    "detail={\"a\":1}\r\n",
    "-",
];
const IDS: &[&str] = &[
    "10000100",
    "1900000109",
    "wxd930ea5d5a258f4f",
    "wx2421b1c4370ec43b",
    "wx201410272009395522657a690389285100",
    "ibuaiVcKdpRxkhJA",
];
const NUMBERS: &[&str] = &["0", "3", "-1", "1414561699", "99999999999999999999", "1.5"];
const DAYS: &[&str] = &[
    "2024-05-01:20",
    "2024-05-01:20:7",
    "2024-13-45:1",
    "2024-05-01",
];
const ODD: &[&str] = &[
    "\u{1b}]0;owned\u{7}",
    "=HYPERLINK(\"x\")",
    "",
    " ",
    "--",
    "-q",
    "--help",
    "中文",
    "doc",
    "shop",
];

/// The values for an argument of this value name: its own kind, numbers for the counts and
/// rates, else anything.
fn pool_for(value_name: &str) -> &'static [String] {
    static POOLS: LazyLock<HashMap<&str, Vec<String>>> = LazyLock::new(|| {
        let own = |lists: &[&[&str]]| -> Vec<String> {
            lists.concat().into_iter().map(str::to_owned).collect()
        };
        // The key as a word of its own is hidden wherever it lands: by the loaded key, or in
        // error prose by its shape. Inside a longer word only the loaded key can be found, and
        // a usage error comes before any key is loaded, so `x{key}x` is left to the unit tests.
        let mut params = own(&[PARAMS]);
        params.extend([
            format!("key={DOC_KEY}"),
            format!("attach={DOC_KEY}"),
            format!("mch_id=\"{DOC_KEY}\""),
        ]);
        let mut any = own(&[FILES, VARS, PARAMS, IDS, NUMBERS, DAYS, ODD]);
        any.retain(|value| !value.contains(DOC_KEY));
        HashMap::from([
            ("FILE", own(&[FILES])),
            ("DIR", own(&[FILES])),
            ("VAR", own(&[VARS])),
            ("NAME=VALUE", params),
            ("MCH_ID", own(&[IDS])),
            ("APPID", own(&[IDS])),
            ("ID", own(&[IDS])),
            ("NONCE", own(&[IDS, ODD])),
            ("TIMESTAMP", own(&[NUMBERS])),
            ("DATE:TRADES[:SEED]", own(&[DAYS])),
            ("NUMBER", own(&[NUMBERS])),
            ("ANY", any),
        ])
    });
    let counted = !value_name.is_empty()
        && value_name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c == '_');
    let name = match value_name {
        name if POOLS.contains_key(name) => name,
        _ if counted => "NUMBER",
        _ => "ANY",
    };
    &POOLS[name]
}

fn any_known() -> &'static [String] {
    pool_for("")
}

#[derive(Debug, Clone)]
enum Value {
    /// One of the flag's or positional's possible values, else a known value.
    Choice(Index),
    Known(Index),
    Garbage(String),
}

#[derive(Debug, Clone)]
enum Word {
    /// A flag of the command, written `--long v`, `--long=v` or `-s v`.
    Own(Index, Option<Value>, bool),
    /// A flag of any command.
    Foreign(Index, Option<Value>, bool),
    /// A positional value; a stray one is given to a command that takes none.
    Positional(Value, bool),
}

/// Garbage without `/` or NUL (see [`FILES`]), with control characters and non-ASCII.
fn garbage() -> impl Strategy<Value = String> {
    "[ -.0-~\t\n\r\u{1b}\u{7}\u{9b}\u{85}\u{feff}中文]{0,12}"
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => any::<Index>().prop_map(Value::Choice),
        3 => any::<Index>().prop_map(Value::Known),
        1 => garbage().prop_map(Value::Garbage),
    ]
}

fn word() -> impl Strategy<Value = Word> {
    let flag = || {
        (
            any::<Index>(),
            prop::option::weighted(0.9, value()),
            any::<bool>(),
        )
    };
    prop_oneof![
        4 => flag().prop_map(|(i, v, joined)| Word::Own(i, v, joined)),
        1 => flag().prop_map(|(i, v, joined)| Word::Foreign(i, v, joined)),
        1 => (value(), prop::bool::weighted(0.15)).prop_map(|(v, stray)| Word::Positional(v, stray)),
    ]
}

fn render_value(value: &Value, pool: &[String]) -> String {
    match value {
        Value::Choice(i) if !pool.is_empty() => i.get(pool).clone(),
        Value::Choice(i) | Value::Known(i) => i.get(any_known()).clone(),
        Value::Garbage(text) => text.clone(),
    }
}

fn render_flag(flag: &Flag, value: &Option<Value>, joined: bool, args: &mut Vec<String>) {
    let name = match (&flag.long, flag.short) {
        (Some(_), Some(short)) if joined => format!("-{short}"),
        (Some(long), _) => format!("--{long}"),
        (None, Some(short)) => format!("-{short}"),
        (None, None) => return,
    };
    match (value, flag.takes_value) {
        // A value given to a switch must be refused; now and then, one is.
        (Some(value @ Value::Garbage(_)), false) if joined => {
            args.push(format!("{name}={}", render_value(value, flag.pool)));
        }
        (Some(value), true) => {
            let value = render_value(value, flag.pool);
            if joined && name.starts_with("--") {
                args.push(format!("{name}={value}"));
            } else {
                args.extend([name, value]);
            }
        }
        _ => args.push(name),
    }
}

fn render_args(leaf: &Leaf, first: Option<Index>, words: &[Word]) -> Vec<String> {
    let mut args = leaf.path.clone();
    // Most commands need their positional argument to get anywhere.
    if let Some(first) = first
        && !leaf.positional_pool.is_empty()
    {
        args.push(first.get(leaf.positional_pool).clone());
    }
    for word in words {
        match word {
            Word::Own(i, value, joined) if !leaf.flags.is_empty() => {
                render_flag(i.get(&leaf.flags), value, *joined, &mut args)
            }
            Word::Own(i, value, joined) | Word::Foreign(i, value, joined) => {
                render_flag(i.get::<&Flag>(&ALL_FLAGS), value, *joined, &mut args)
            }
            Word::Positional(value, stray) if *stray || !leaf.positional_pool.is_empty() => {
                args.push(render_value(value, leaf.positional_pool))
            }
            Word::Positional(..) => {}
        }
    }
    args
}

/// What the case gives on stdin and in `input.*`.
#[derive(Debug, Clone)]
enum Input {
    Bytes(Vec<u8>),
    /// The real notification readdressed to the doc merchant (or not) and signed with the
    /// doc key, perhaps declaring HMAC-SHA256, perhaps reporting a failed payment, perhaps
    /// with one byte changed.
    Notification {
        hmac: bool,
        failed: bool,
        foreign: bool,
        change: Option<(Index, u8)>,
    },
    /// A refund notification encrypted with the doc key or another, its envelope perhaps
    /// saying FAIL or naming another merchant, perhaps with one byte changed.
    Refund {
        other_key: bool,
        fail: bool,
        foreign: bool,
        change: Option<(Index, u8)>,
    },
    /// A JSON object of parameters, perhaps cut short.
    Json(Vec<u8>),
}

fn json_text() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "appid",
            "mch_id",
            "body",
            "total_fee",
            "sign_type",
            "sign",
            "key",
            "detail",
            "1bad",
            "a b",
            "",
            "中",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,8}",
    ];
    let member = prop_oneof![
        garbage().prop_map(|s| serde_json::to_string(&s).unwrap()),
        prop::sample::select(vec![
            format!("\"{DOC_KEY}\""),
            "\"MD5\"".into(),
            "\"md5\"".into(),
            "\"HMAC-SHA256\"".into(),
            "1".into(),
            "-7".into(),
            "1e30".into(),
            "18446744073709551616".into(),
            "1.5".into(),
            "null".into(),
            "true".into(),
            "[1]".into(),
            "{\"a\":1}".into(),
            "\"\\u0000\\u001b\"".into(),
        ]),
    ];
    (
        prop::collection::vec((name, member), 0..6),
        prop::option::of(any::<Index>()),
    )
        .prop_map(|(members, cut)| {
            let body = members
                .iter()
                .map(|(name, value)| format!("{}:{value}", serde_json::to_string(name).unwrap()))
                .collect::<Vec<_>>()
                .join(",");
            let mut bytes = format!("{{{body}}}").into_bytes();
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len()));
            }
            bytes
        })
}

fn input() -> impl Strategy<Value = Input> {
    let change = || {
        let byte = prop_oneof![1 => any::<u8>(), 3 => 0x20u8..0x7f];
        prop::option::weighted(0.3, (any::<Index>(), byte))
    };
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Input::Bytes),
        2 => (any::<bool>(), any::<bool>(), any::<bool>(), change()).prop_map(
            |(hmac, failed, foreign, change)| Input::Notification {
                hmac,
                failed,
                foreign,
                change,
            }
        ),
        2 => (any::<bool>(), any::<bool>(), any::<bool>(), change()).prop_map(
            |(other_key, fail, foreign, change)| Input::Refund {
                other_key,
                fail,
                foreign,
                change,
            }
        ),
        1 => json_text().prop_map(Input::Json),
    ]
}

fn changed(mut bytes: Vec<u8>, change: &Option<(Index, u8)>) -> Vec<u8> {
    if let Some((at, byte)) = change {
        let at = at.index(bytes.len());
        bytes[at] = *byte;
    }
    bytes
}

fn render_input(input: &Input) -> Vec<u8> {
    match input {
        Input::Bytes(bytes) => bytes.clone(),
        Input::Json(bytes) => bytes.clone(),
        Input::Notification {
            hmac,
            failed,
            foreign,
            change,
        } => {
            let sample = std::fs::read(real_fixture("paysuccess.notification.sample.xml")).unwrap();
            let mut message = Message::parse(&sample).unwrap();
            if !foreign {
                message
                    .set("appid", "wxd930ea5d5a258f4f")
                    .set("mch_id", "10000100");
            }
            if *failed {
                message
                    .set("result_code", "FAIL")
                    .set("err_code", "ORDERCLOSED");
            }
            let key = ApiKey::new(DOC_KEY);
            if *hmac {
                sign_in_place(&mut message, &key, SignType::HmacSha256);
            } else {
                set_sign(&mut message, &key, SignType::Md5);
            }
            changed(message.to_xml().into_bytes(), change)
        }
        Input::Refund {
            other_key,
            fail,
            foreign,
            change,
        } => {
            let plaintext =
                std::fs::read(real_fixture("refund.notification.req_info.sample.xml")).unwrap();
            let key = ApiKey::new(if *other_key { OTHER_KEY } else { DOC_KEY });
            let mut envelope = Message::new();
            envelope
                .set("return_code", if *fail { "FAIL" } else { "SUCCESS" })
                .set("appid", "wxd930ea5d5a258f4f")
                .set("mch_id", if *foreign { "1900000109" } else { "10000100" })
                .set("nonce_str", "TeqClE3i0mvn3DrK")
                .set("req_info", encrypt_req_info(&plaintext, &key));
            changed(envelope.to_xml().into_bytes(), change)
        }
    }
}

/// The config file of the case.
#[derive(Debug, Clone)]
enum Setup {
    None,
    /// The doc merchant, key from $TEST_API_KEY.
    Doc,
    /// The doc merchant with the key inline, in a file of this mode.
    Inline(u32),
    /// The doc merchant, key printed by a command, which may also say it on stderr.
    Command {
        stderr: bool,
    },
    Text(Vec<&'static str>),
}

static CONFIG_LINES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let owned: Vec<String> = vec![
        "[profiles.doc]".into(),
        "[profiles.shop]".into(),
        "default_profile = \"doc\"".into(),
        "default_profile = \"nope\"".into(),
        "mch_id = \"10000100\"".into(),
        "mch_id = 10000100".into(),
        "appid = \"wxd930ea5d5a258f4f\"".into(),
        "appid = \"bad\"".into(),
        "api_key_env = \"TEST_API_KEY\"".into(),
        format!("api_key_env = \"{DOC_KEY}\""),
        format!("api_key = \"{DOC_KEY}\""),
        format!("api_key = {DOC_KEY}"),
        format!("api_key = \"x{DOC_KEY}\""),
        "api_key_file = \"key.txt\"".into(),
        "api_key_file = \"key-open.txt\"".into(),
        format!("api_key_cmd = \"echo {DOC_KEY}\""),
        format!("api_key_cmd = \"echo {DOC_KEY} >&2; exit 3\""),
        format!("api_key_cmd = \"printf x{DOC_KEY}x\""),
        "sign_type = \"hmac-sha256\"".into(),
        format!("sign_type = \"{DOC_KEY}\""),
        "api_base = \"ftp://x\"".into(),
        format!("notify_url = \"https://shop.example.com/{DOC_KEY}\""),
        "cert_p12 = \"input.bin\"".into(),
        "cert_pem = \"input.bin\"".into(),
        "cert_key_pem = \"input.xml\"".into(),
        "ca_cert = \"input.bin\"".into(),
        format!("[profiles.{DOC_KEY}]"),
        format!("{DOC_KEY} = 1"),
        "garbage ==".into(),
        "\u{1b}]0;x\u{7} = \"\u{7}\"".into(),
    ];
    owned
        .into_iter()
        .map(|line| &*Box::leak(line.into_boxed_str()))
        .collect()
});

fn setup() -> impl Strategy<Value = Setup> {
    prop_oneof![
        1 => Just(Setup::None),
        3 => Just(Setup::Doc),
        1 => prop_oneof![Just(0o600), Just(0o644)].prop_map(Setup::Inline),
        1 => any::<bool>().prop_map(|stderr| Setup::Command { stderr }),
        2 => prop::collection::vec(prop::sample::select(CONFIG_LINES.clone()), 0..8)
            .prop_map(Setup::Text),
    ]
}

const DOC_PROFILE: &str = "[profiles.doc]\nmch_id = \"10000100\"\nappid = \"wxd930ea5d5a258f4f\"\n";

fn prepare(setup: &Setup, input: &[u8]) -> Env {
    let mut env = Env::new();
    env.time_limit(TIME_LIMIT);
    env.set("OTHER_API_KEY", OTHER_KEY);
    env.set("SHORT_KEY", "short");
    env.set("PADDED_KEY", &format!(" {DOC_KEY}\n"));
    for name in ["input.xml", "input.json", "input.bin"] {
        std::fs::write(env.path(name), input).unwrap();
    }
    for (name, fixture) in [
        ("paysuccess.xml", "paysuccess.notification.sample.xml"),
        ("unifiedorder.xml", "unifiedorder.sample.xml"),
        ("xxe.xml", "invalid.xxe_injection.sample.xml"),
    ] {
        std::fs::copy(real_fixture(fixture), env.path(name)).unwrap();
    }
    std::fs::write(env.path("key.txt"), DOC_KEY).unwrap();
    set_mode(&env.path("key.txt"), 0o600);
    std::fs::write(env.path("key-open.txt"), DOC_KEY).unwrap();
    set_mode(&env.path("key-open.txt"), 0o644);
    match setup {
        Setup::None => {}
        Setup::Doc => {
            env.doc_profile();
        }
        Setup::Inline(mode) => {
            let path = env.write_config(&format!("{DOC_PROFILE}api_key = \"{DOC_KEY}\"\n"));
            set_mode(&path, *mode);
        }
        Setup::Command { stderr } => {
            let echo = if *stderr {
                format!("echo {DOC_KEY}; echo {DOC_KEY} said >&2")
            } else {
                format!("echo {DOC_KEY}")
            };
            env.write_config(&format!("{DOC_PROFILE}api_key_cmd = \"{echo}\"\n"));
        }
        Setup::Text(lines) => {
            env.write_config(&lines.join("\n"));
        }
    }
    env
}

/// What every run must satisfy; [`Env::run_with_stdin`] has already checked that no key is
/// shown, that the output is UTF-8 and that the process exited within its time limit.
fn check(args: &[String], out: &Output) -> Result<(), TestCaseError> {
    let shown = || {
        format!(
            "{args:?}\nexit {}\nstdout:\n{}\nstderr:\n{}",
            out.code, out.stdout, out.stderr
        )
    };
    prop_assert!(
        DOCUMENTED_CODES.contains(&out.code),
        "undocumented exit code: {}",
        shown()
    );
    prop_assert!(!out.stderr.contains("panicked"), "panic: {}", shown());
    // A line feed ends lines; tabs and carriage returns belong to completion scripts and CSV.
    prop_assert!(
        !out.stdout
            .chars()
            .any(|c| c.is_control() && !"\n\t\r".contains(c)),
        "a control character on stdout: {}",
        shown()
    );
    prop_assert!(
        !out.stderr.chars().any(|c| c.is_control() && c != '\n'),
        "a control character on stderr: {}",
        shown()
    );
    if out.code != 0 && out.code != 1 {
        // Status and warnings may come first; the failure is one error line and its hint.
        let lines: Vec<&str> = out.stderr.lines().collect();
        let error = lines.iter().position(|l| l.starts_with("error: "));
        prop_assert!(
            error.is_some(),
            "a failure without an error line: {}",
            shown()
        );
        let after = &lines[error.unwrap() + 1..];
        prop_assert!(
            after.len() <= 1 && after.iter().all(|l| l.starts_with("hint: ")),
            "the error line must be followed by one hint and nothing else: {}",
            shown()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(48))]

    #[test]
    fn fuzz_cli_any_command_line(
        leaf in (prop::bool::weighted(0.9), any::<Index>()),
        first in prop::option::weighted(0.9, any::<Index>()),
        words in prop::collection::vec(word(), 0..5),
        input in input(),
        on_stdin in prop::bool::weighted(0.8),
        setup in setup(),
    ) {
        let leaf = match leaf {
            (true, i) => *i.get(&RUNNABLE),
            (false, i) => i.get(&LEAVES),
        };
        let args = render_args(leaf, first, &words);
        let input = render_input(&input);
        let env = prepare(&setup, &input);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = env.run_with_stdin(&argv, on_stdin.then_some(input.as_slice()));
        check(&args, &out)?;
    }
}

/// The vocabulary really comes from the definition: a renamed or removed command fails here
/// instead of silently leaving the fuzzer with nothing to run.
#[test]
fn fuzz_cli_vocabulary_covers_every_command() {
    let paths: Vec<String> = LEAVES.iter().map(|leaf| leaf.path.join(" ")).collect();
    for expected in [
        "sign",
        "sign verify",
        "paysign",
        "notify verify",
        "notify decrypt",
        "config check",
        "emulator export",
        "demo",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} in {paths:?}"
        );
    }
    assert!(!paths.iter().any(|p| p == "emulator serve"));
    let sign = LEAVES.iter().find(|leaf| leaf.path == ["sign"]).unwrap();
    let sign_type = sign
        .flags
        .iter()
        .find(|f| f.long.as_deref() == Some("sign-type"));
    assert_eq!(sign_type.unwrap().pool, ["MD5", "HMAC-SHA256"]);
    assert!(sign.positional_pool.iter().any(|v| v == "body=test"));
}
