//! `wxpay-ops emulator serve`: the local WeChat Pay server, API v2 and v3.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::failure::{Failure, exit};
use super::settings::Context;
use crate::bill::format::FeeRate;
use crate::emulator::cloudpay::CloudFunction;
use crate::emulator::core::EmulatorOptions;
use crate::emulator::merchant::{Merchant, load_merchants};
use crate::emulator::server::{CONTROL_PREFIX, ServeError, listen_addresses};
use crate::emulator::synth::{DaySpec, Differences, SynthError, write_export};
use crate::emulator::{Emulator, ServeOptions};
use crate::fsutil::{FileError, WriteError, is_stdout, write_atomic};
use crate::output::{Format, Printer};

#[derive(Debug, Subcommand)]
pub enum EmulatorCommand {
    /// Serve WeChat Pay API v2 and v3 on loopback until Ctrl-C, SIGTERM or SIGHUP
    Serve(ServeArgs),
    /// Write the merchant order export (CSV) of a synthetic day, with chosen differences
    Export(ExportArgs),
}

/// `DATE:TRADES[:SEED]`, e.g. 20261120:1000000:7, counted from the current Beijing day.
fn parse_day(text: &str) -> Result<DaySpec, String> {
    DaySpec::parse(text, crate::time::today()).map_err(|e| e.to_string())
}

/// A count of differences: a synthetic day has no more trades than this.
fn count() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(0..=crate::emulator::synth::MAX_SYNTHETIC_TRADES)
}

/// Hundredths of a percent, up to the whole amount.
fn fee_rate() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(0..=10_000)
}

/// The notification schedule's factor: NaN, infinities and negatives have no schedule, and
/// beyond 1000 the last retry would come years later.
fn parse_time_factor(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|factor| (0.0..=1000.0).contains(factor))
        .ok_or_else(|| format!("{text:?} is not a number from 0 to 1000"))
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The synthetic day, as given to `serve --synthetic-day`: DATE as yyyy-MM-dd, yyyyMMdd,
    /// today or yesterday (Beijing time), TRADES from 1 to 100 million, SEED a whole number
    /// [default: 0]
    #[arg(long, value_name = "DATE:TRADES[:SEED]", value_parser = parse_day)]
    day: DaySpec,

    /// Merchant of the day
    #[arg(long, default_value = crate::emulator::merchant::DEFAULT_MCH_ID)]
    mch_id: String,

    /// AppID of the day's trades
    #[arg(long, default_value = crate::emulator::merchant::DEFAULT_APPIDS[0])]
    appid: String,

    /// Where to write the CSV (written whole, then moved into place); `-` for stdout, with the
    /// expected counts on stderr
    #[arg(long, short, value_name = "FILE")]
    output: PathBuf,

    /// Paid orders left out of the export (reconcile's missing_in_export)
    #[arg(long, alias = "missing-in-merchant", default_value_t = 0, value_parser = count())]
    missing_in_export: u64,
    /// Paid orders in the export that WeChat never saw (missing_in_bill)
    #[arg(long, alias = "missing-in-wechat", default_value_t = 0, value_parser = count())]
    missing_in_bill: u64,
    /// Orders whose amount differs
    #[arg(long, default_value_t = 0, value_parser = count())]
    amount_mismatch: u64,
    /// Orders whose status differs
    #[arg(long, default_value_t = 0, value_parser = count())]
    status_mismatch: u64,
    /// Payments of the day's last seconds recorded after midnight (cross_day; at most 10)
    #[arg(long, alias = "near-midnight", default_value_t = 0, value_parser = count())]
    cross_day: u64,
    /// Orders listed twice (duplicate)
    #[arg(long, alias = "duplicates", default_value_t = 0, value_parser = count())]
    duplicate: u64,

    /// Bill fee rate, as given to `serve --fee-rate`
    #[arg(long, default_value_t = 60, value_parser = fee_rate())]
    fee_rate: u32,
}

#[derive(Debug, Args)]
#[command(after_help = "\
With --format json, one JSON object goes to stdout once the emulator listens: its URLs and \
ports, the control URL (and token), the CA, profile and certificate paths, and the merchants. \
Scripts that listen on port 0, or run with -q, read the chosen ports from it. Without \
--format json, a banner goes to stderr, even when stdout is no terminal.

The global --config names the wxpay-ops config, which the emulator does not read: give its \
merchants file with --merchants.")]
pub struct ServeArgs {
    /// Not read here, so hidden from help: it stands in for the global --config (which it
    /// shadows), only so that `serve --config FILE` is refused with the way to --merchants.
    #[arg(long, value_name = "FILE", hide = true)]
    config: Option<PathBuf>,

    /// The emulator's merchants file: [[merchants]] tables with mch_id, appids, api_key and
    /// optional sign_types, app_secrets and open_platform_appids (see
    /// emulator-merchants.sample.toml) [default: one built-in merchant]
    #[arg(long, value_name = "FILE")]
    merchants: Option<PathBuf>,

    /// Plain HTTP address for the endpoints that need no client certificate; port 0 picks a
    /// free one (see --format json) [default: 127.0.0.1:8787]
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// HTTPS address (all endpoints; /secapi/* and downloadfundflow need the client
    /// certificate) [default: 127.0.0.1:8788, or a free port on --listen's address when only
    /// --listen is given]
    #[arg(long, value_name = "ADDR")]
    tls_listen: Option<SocketAddr>,

    /// Allow addresses other than loopback, and notify_urls on other hosts. The control plane
    /// then requires the control token printed at start, as `Authorization: Bearer TOKEN`
    #[arg(long)]
    allow_remote: bool,

    /// Folder for the CA and the merchant certificates, created 0700 [default: a new temporary
    /// folder, removed on exit]
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,

    /// Keep the temporary certificate folder on exit, and say where it is
    #[arg(long)]
    keep: bool,

    /// Bill fee rate in hundredths of a percent (60 = 0.60%), 0 to 10000
    #[arg(long, default_value_t = 60, value_parser = fee_rate())]
    fee_rate: u32,

    /// Multiplies the notification retry schedule (15 s, 15 s, 30 s, 3 min …); 0.01 makes it
    /// 100 times faster; 0 to 1000
    #[arg(long, default_value_t = 1.0, value_parser = parse_time_factor)]
    notify_time_factor: f64,

    /// Seconds a refund stays PROCESSING before it succeeds, 0 to 86400
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(i64).range(0..=86_400))]
    refund_delay: i64,

    /// Add a synthetic day of the first merchant (repeatable): DATE as yyyy-MM-dd, yyyyMMdd,
    /// today or yesterday (Beijing time), TRADES from 1 to 100 million, SEED a whole number
    /// [default: 0]
    #[arg(long, value_name = "DATE:TRADES[:SEED]", value_parser = parse_day)]
    synthetic_day: Vec<DaySpec>,

    /// A cloud function for cloud pay's callbacks (repeatable): ENV/NAME=URL, the envId and
    /// functionName that orders name, and the local URL the emulator posts the events to
    #[arg(long, value_name = "ENV/NAME=URL", value_parser = CloudFunction::parse)]
    cloud_function: Vec<CloudFunction>,
}

/// The listening addresses, or which flag names one that is not loopback.
fn addresses(args: &ServeArgs) -> Result<(SocketAddr, SocketAddr), Failure> {
    listen_addresses(args.listen, args.tls_listen, args.allow_remote).map_err(|refused| {
        let flag = if refused.tls {
            "--tls-listen"
        } else {
            "--listen"
        };
        Failure::usage(format!(
            "{flag} {} is not a loopback address, and the emulator's control plane \
             can move money and time",
            refused.addr
        ))
        .hint(
            "add --allow-remote to serve other machines; the control plane then requires \
             the token printed at start",
        )
    })
}

/// `config_flag`: whether the global `--config` was given. It names the wxpay-ops config,
/// which the emulator does not read; its merchants file is `serve --merchants`.
pub fn run(context: &Context, config_flag: bool, command: EmulatorCommand) -> Result<u8, Failure> {
    match command {
        EmulatorCommand::Serve(args) => serve(context, config_flag, args),
        EmulatorCommand::Export(args) => export(context, args),
    }
}

fn export(context: &Context, args: ExportArgs) -> Result<u8, Failure> {
    let day = args.day.of(&args.mch_id, &args.appid);
    let differences = Differences {
        missing_in_export: args.missing_in_export,
        missing_in_bill: args.missing_in_bill,
        amount_mismatch: args.amount_mismatch,
        status_mismatch: args.status_mismatch,
        cross_day: args.cross_day,
        duplicate: args.duplicate,
    };
    let expected = write_atomic(&args.output, |out| {
        write_export(&day, &differences, FeeRate(args.fee_rate), out)
    })
    .map_err(|e| match e {
        WriteError::File(e) => Failure::from(e),
        WriteError::Inner(SynthError::Io(e)) => FileError::new(&args.output, e).into(),
        WriteError::Inner(other) => Failure::usage(other.to_string()),
    })?;
    if is_stdout(&args.output) {
        // Stdout holds the CSV alone, ready for a pipe; the expected counts, which a script
        // needs as much as the rows, go to stderr as one JSON line.
        let json = serde_json::to_string(&expected).expect("the record serializes");
        context.printer.data_to_stderr(&format!("{json}\n"));
        return Ok(exit::OK);
    }
    context.printer.status(&format!(
        "wrote {} export rows to {}",
        expected.export_rows,
        args.output.display()
    ));
    context.printer.record(&expected)?;
    Ok(exit::OK)
}

fn serve(context: &Context, config_flag: bool, args: ServeArgs) -> Result<u8, Failure> {
    if config_flag || args.config.is_some() {
        // Whoever passes --config here means the merchants file, as older versions read it.
        return Err(Failure::usage(
            "emulator serve does not read --config, the wxpay-ops config file",
        )
        .hint("name the emulator's merchants file with `emulator serve --merchants FILE`"));
    }
    let (http, https) = addresses(&args)?;
    let merchants = match &args.merchants {
        Some(path) => load_merchants(path).map_err(|e| {
            Failure::usage(e.to_string())
                .hint("each [[merchants]] table needs mch_id, appids = [\"wx…\"] and a 32-character api_key")
        })?,
        None => vec![Merchant::default_merchant()],
    };
    let control_token = args
        .allow_remote
        .then(crate::emulator::server::new_control_token);
    let options = ServeOptions {
        core: EmulatorOptions {
            merchants,
            fee_rate: FeeRate(args.fee_rate),
            notify_time_factor: args.notify_time_factor,
            refund_delay: time::Duration::seconds(args.refund_delay),
            allow_remote_notify: args.allow_remote,
            ..EmulatorOptions::default()
        },
        http,
        https,
        cert_dir: args.cert_dir,
        control_token: control_token.clone(),
        ..ServeOptions::default()
    };
    let mut emulator = Emulator::start(options).map_err(start_failure)?;
    for spec in &args.synthetic_day {
        let merchant = &emulator.core().options.merchants[0];
        let day = spec.of(&merchant.mch_id, &merchant.appids[0]);
        emulator
            .core()
            .add_synthetic_day(day)
            .map_err(Failure::usage)?;
    }
    for function in &args.cloud_function {
        emulator
            .core()
            .add_cloud_function(function.clone())
            .map_err(|e| Failure::usage(format!("--cloud-function {}: {e}", function.key())))?;
    }
    if args.keep {
        emulator.keep_cert_dir();
    }
    let signals = emulator
        .catch_stop_signals()
        .map_err(|e| Failure::usage(format!("cannot catch the stop signals: {e}")))?;
    let printer = &context.printer;
    if printer.format(Format::Table).is_json() {
        printer.record(&emulator.listening(control_token.as_deref()))?;
    } else {
        banner(
            printer,
            &emulator,
            args.merchants.is_none(),
            control_token.as_deref(),
        );
    }
    printer.status("press Ctrl-C to stop");
    let signal = emulator.wait_for(signals);
    if args.keep && !emulator.is_temporary() {
        printer.status(&format!(
            "stopped by {signal}; certificates kept in {}",
            emulator.cert_dir().display()
        ));
    } else {
        printer.status(&format!("stopped by {signal}"));
    }
    // Dropping the emulator removes its temporary folder.
    drop(emulator);
    Ok(exit::OK)
}

/// Why the emulator did not start, with the remedy where there is one.
fn start_failure(error: ServeError) -> Failure {
    let failure = Failure::usage(error.to_string());
    match error {
        ServeError::Listen { .. } => {
            failure.hint("pick free ports with --listen and --tls-listen (port 0 picks one)")
        }
        ServeError::OpenFolder { .. } => {
            failure.hint("run `chmod 700` on it, or name a new folder with --cert-dir")
        }
        _ => failure,
    }
}

fn banner(printer: &Printer, emulator: &Emulator, built_in: bool, control_token: Option<&str>) {
    printer.status(&format!(
        "WeChat Pay emulator (API v2 and v3) on {} and {}",
        emulator.base_url(),
        emulator.tls_base_url()
    ));
    printer.status(&format!(
        "control plane: {}{CONTROL_PREFIX}/",
        emulator.base_url()
    ));
    printer.status(&format!(
        "cloud pay (CloudPay.unifiedOrder, queryOrder, closeOrder, refund, queryRefund): POST {}{}/<operation>",
        emulator.base_url(),
        crate::emulator::cloudpay::PREFIX
    ));
    if let Some(token) = control_token {
        printer.status(&format!(
            "control token (send it as Authorization: Bearer TOKEN): {token}"
        ));
    }
    printer.status(&format!("CA certificate: {}", emulator.ca_cert().display()));
    for merchant in &emulator.core().options.merchants {
        printer.status(&format!(
            "merchant mch_id={} appids={}{}",
            merchant.mch_id,
            merchant.appids.join(","),
            if merchant.is_service_provider() {
                " (service provider: trade requests name one of its sub_mch_ids)"
            } else {
                ""
            }
        ));
        if built_in {
            // The built-in merchant's key is public test data, printed so a backend can use it.
            printer.status_showing_test_key(&format!(
                "  api_key={}",
                crate::emulator::merchant::DEFAULT_API_KEY
            ));
        }
        for sub in &merchant.sub_merchants {
            printer.status(&format!(
                "  sub-merchant sub_mch_id={} sub_appids={}",
                sub.sub_mch_id,
                if sub.sub_appids.is_empty() {
                    "(none)".to_owned()
                } else {
                    sub.sub_appids.join(",")
                }
            ));
        }
        for appid in merchant.app_secrets.keys() {
            if let Some(file) = emulator.app_secret_file(appid) {
                printer.status(&format!(
                    "  AppSecret of {appid} (for code2Session): in {}",
                    file.display()
                ));
            }
        }
        if let Some(certs) = emulator.client_cert(&merchant.mch_id) {
            printer.status(&format!(
                "  cert_pem={} cert_key_pem={} cert_p12={} (password: the mch_id)",
                certs.cert.display(),
                certs.key.display(),
                certs.p12.display()
            ));
        }
    }
    for function in emulator.core().cloud_functions() {
        printer.status(&format!(
            "cloud function {} (cloud pay's callbacks): {}",
            function.key(),
            function.url
        ));
    }
    printer.status(&format!(
        "wxpay-ops profile for it: {} (try: wxpay-ops --config {} config check)",
        emulator.profile().display(),
        emulator.profile().display()
    ));
}
