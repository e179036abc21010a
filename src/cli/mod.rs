//! The command layer: clap types, settings resolution, rendering. No protocol logic here.

mod bill;
mod certs;
mod common;
mod completions;
mod config;
mod demo;
mod emulator;
pub mod failure;
mod ledger;
mod notify;
mod openid;
mod order;
mod paysign;
mod reconcile;
mod refund;
mod settings;
mod sign;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::output::{self, Format, Printer};
use failure::{EXIT_CODES_HELP, Failure};
use settings::Context;

/// The help heading of the options every command takes.
const GLOBAL: &str = "Global options";

/// WeChat Pay (微信支付) API v2 merchant operations: signatures and why they fail, pay
/// parameters, notifications, orders and refunds, bills, reconciliation against the shop's own
/// export, and a local WeChat Pay server.
#[derive(Debug, Parser)]
#[command(name = "wxpay-ops", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]
    #[arg(long, global = true, value_name = "FILE", help_heading = GLOBAL)]
    config: Option<PathBuf>,

    /// Profile to use [env: WXPAY_OPS_PROFILE] [default: the file's default_profile]
    #[arg(long, short = 'p', global = true, help_heading = GLOBAL)]
    profile: Option<String>,

    /// Output format [default: table on a terminal, otherwise json]
    #[arg(long, global = true, value_enum, help_heading = GLOBAL)]
    format: Option<Format>,

    /// No status or warnings on stderr; data and errors only
    #[arg(long, short, global = true, help_heading = GLOBAL)]
    quiet: bool,

    /// Show each attempt of an API call (URL, outcome, pause before a retry) on stderr
    #[arg(long, short, global = true, help_heading = GLOBAL)]
    verbose: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign a parameter set (MD5 or HMAC-SHA256), or verify a signed message
    Sign(sign::SignArgs),
    /// Client-side pay parameters for wx.requestPayment, WeixinJSBridge or the APP SDK
    Paysign(paysign::PaysignArgs),
    /// Place, query and close orders (unifiedorder, orderquery, closeorder)
    #[command(subcommand)]
    Order(order::OrderCommand),
    /// Refund paid orders and follow refunds (refund, refundquery)
    #[command(subcommand)]
    Refund(refund::RefundCommand),
    /// Verify payment notifications, decrypt refund notifications, check your notify handler
    #[command(subcommand)]
    Notify(notify::NotifyCommand),
    /// The openid (and unionid) of a mini-program user, from a code of wx.login (code2Session)
    Openid(openid::OpenidArgs),
    /// API v3: WeChat Pay's platform certificates, fetched, checked and cached
    #[command(subcommand)]
    Certs(certs::CertsCommand),
    /// Create, locate, show and check the config file
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Print shell completions
    Completions(completions::CompletionsArgs),
    /// A local WeChat Pay server (API v2 and v3) for tests and development
    #[command(subcommand)]
    Emulator(emulator::EmulatorCommand),
    /// Download bills into a folder with a manifest, and read them
    #[command(subcommand)]
    Bill(bill::BillCommand),
    /// Reconcile the day's WeChat Pay bill against the shop's own order export
    Reconcile(Box<reconcile::ReconcileArgs>),
    /// The ledger: bills, reconcile runs, their differences across days, month reports
    #[command(subcommand)]
    Ledger(ledger::LedgerCommand),
    /// Check the toolkit against published values, then run a merchant's day on the built-in emulator
    Demo(demo::DemoArgs),
}

pub fn main() -> ExitCode {
    crate::fsutil::route_stdout(output::scrubbed_stdout);
    completions::answer_if_asked();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return ExitCode::from(usage_error(&error)),
    };
    // Flag over environment; an empty variable counts as unset, as shells often leave them.
    let from_env = |name| std::env::var_os(name).filter(|value| !value.is_empty());
    // Only to refuse it: the emulator's merchants file is `serve --merchants`.
    let config_flag = cli.config.is_some();
    let context = Context {
        config: cli
            .config
            .or_else(|| from_env("WXPAY_OPS_CONFIG").map(PathBuf::from)),
        profile: cli
            .profile
            .or_else(|| from_env("WXPAY_OPS_PROFILE").map(|v| v.to_string_lossy().into_owned())),
        printer: Printer::new(cli.format, cli.quiet),
        verbose: cli.verbose && !cli.quiet,
    };
    let result = match cli.command {
        Command::Sign(args) => sign::run(&context, args),
        Command::Paysign(args) => paysign::run(&context, args),
        Command::Order(command) => order::run(&context, command),
        Command::Refund(command) => refund::run(&context, command),
        Command::Notify(command) => notify::run(&context, command),
        Command::Openid(args) => openid::run(&context, args),
        Command::Certs(command) => certs::run(&context, command),
        Command::Config(command) => config::run(&context, command),
        Command::Completions(args) => completions::run(&context, args),
        Command::Emulator(command) => emulator::run(&context, config_flag, command),
        Command::Bill(command) => bill::run(&context, command),
        Command::Reconcile(args) => reconcile::run_command(&context, *args),
        Command::Ledger(command) => ledger::run(&context, command),
        Command::Demo(args) => demo::run(&context, args),
    };
    ExitCode::from(match result {
        Ok(code) => code,
        Err(failure) => {
            failure.print(&context.printer);
            failure.code
        }
    })
}

/// Help and version as clap writes them; a usage error in our own shape (one `error:` line,
/// then hints), scrubbed like every error: a bad flag value is often a pasted key.
fn usage_error(error: &clap::Error) -> u8 {
    if !error.use_stderr() {
        // --help or --version; a closed stdout here is no error either.
        let _ = error.print();
        return failure::exit::OK;
    }
    if error.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let failure = missing_subcommand();
        failure.print(&Printer::new(None, false));
        return failure.code;
    }
    let rendered = error.render().to_string();
    // clap lists the missing arguments on the lines below its first; they belong in the message.
    let missing = missing_arguments(error);
    let mut lines = rendered
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !missing.iter().any(|name| name == l));
    let message = lines.next().unwrap_or_default();
    let mut message = message
        .strip_prefix("error: ")
        .unwrap_or(message)
        .to_owned();
    let named: Vec<String> = missing
        .iter()
        .map(|name| one_of(name).unwrap_or_else(|| name.clone()))
        .collect();
    if let [group] = missing.as_slice()
        && let Some(group) = one_of(group)
    {
        message = format!("{group} is required");
    } else if !named.is_empty() {
        message = format!("{} {}", message.trim_end(), named.join(", "));
    }
    let mut failure = Failure::usage(message);
    let hints: Vec<String> = lines
        .map(|line| {
            let line = line.strip_prefix("tip: ").unwrap_or(line);
            line.strip_prefix("Usage: ")
                .map_or_else(|| line.to_owned(), |usage| format!("usage: {usage}"))
        })
        .collect();
    if !hints.is_empty() {
        failure = failure.hint(hints.join("; "));
    }
    failure.print(&Printer::new(None, false));
    failure.code
}

/// The arguments a missing-argument error names, as clap lists them under its first line.
fn missing_arguments(error: &clap::Error) -> Vec<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if error.kind() != ErrorKind::MissingRequiredArgument {
        return Vec::new();
    }
    match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::Strings(names)) => names.clone(),
        Some(ContextValue::String(name)) => vec![name.clone()],
        _ => Vec::new(),
    }
}

/// A required group of arguments as clap names it, `<--bill <FILE>|--date <DATE>>`, in words:
/// `one of --bill <FILE> or --date <DATE>`. None for a single argument.
fn one_of(name: &str) -> Option<String> {
    let inner = name.strip_prefix("<--")?.strip_suffix('>')?;
    let choices: Vec<String> = inner.split("|--").map(|c| format!("--{c}")).collect();
    match choices.as_slice() {
        [] | [_] => None,
        [init @ .., last] => Some(format!("one of {} or {last}", init.join(", "))),
    }
}

/// A command group given without its subcommand: which ones it has, in our error shape
/// (clap would print the group's whole help).
fn missing_subcommand() -> Failure {
    let mut group = command();
    let mut path = vec![group.get_name().to_owned()];
    for arg in std::env::args().skip(1) {
        if let Some(sub) = group.find_subcommand(&arg).cloned() {
            path.push(arg);
            group = sub;
        }
    }
    let path = path.join(" ");
    let names: Vec<&str> = group
        .get_subcommands()
        .map(clap::Command::get_name)
        .filter(|name| *name != "help")
        .collect();
    Failure::usage(format!("`{path}` needs a command: {}", names.join(", ")))
        .hint(format!("see `{path} --help`"))
}

/// The clap definition, for completions and their drift test.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
