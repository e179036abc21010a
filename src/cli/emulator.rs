//! `wxpay-ops emulator serve`: the local WeChat Pay v2 server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::failure::{Failure, exit};
use super::settings::Context;
use crate::bill::format::FeeRate;
use crate::emulator::core::Options;
use crate::emulator::merchant::{Merchant, load_merchants};
use crate::emulator::synth::{Differences, SynthError, SyntheticDay, write_export};
use crate::emulator::{Emulator, ServeOptions};
use crate::fsutil::{FileError, WriteError, is_stdout, write_atomic};

#[derive(Debug, Subcommand)]
pub enum EmulatorCommand {
    /// Serve the WeChat Pay v2 API on loopback until Ctrl-C
    Serve(ServeArgs),
    /// Write the merchant order export (CSV) of a synthetic day, with chosen differences
    Export(ExportArgs),
}

/// A synthetic day: DATE:TRADES[:SEED], e.g. 20261120:1000000:7
#[derive(Debug, Clone)]
pub struct DaySpec {
    bill_date: String,
    trades: u64,
    seed: u64,
}

fn parse_day(text: &str) -> Result<DaySpec, String> {
    let mut parts = text.split(':');
    let bill_date = parts.next().unwrap_or_default().to_owned();
    let number = |part: Option<&str>, what: &str| -> Result<u64, String> {
        part.map_or(Ok(0), |p| {
            p.parse()
                .map_err(|_| format!("{what} {p:?} is not a whole number"))
        })
    };
    let trades = number(parts.next(), "TRADES")?;
    let seed = number(parts.next(), "SEED")?;
    let max = crate::emulator::synth::MAX_SYNTHETIC_TRADES;
    if parts.next().is_some()
        || crate::emulator::clock::parse_bill_date(&bill_date).is_none()
        || !(1..=max).contains(&trades)
    {
        return Err(format!(
            "expected DATE:TRADES[:SEED], DATE as yyyyMMdd and TRADES from 1 to {max}"
        ));
    }
    Ok(DaySpec {
        bill_date,
        trades,
        seed,
    })
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The synthetic day, as given to `serve --synthetic-day`
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

    /// Paid orders left out of the export
    #[arg(long, default_value_t = 0)]
    missing_in_merchant: u64,
    /// Paid orders in the export that WeChat never saw
    #[arg(long, default_value_t = 0)]
    missing_in_wechat: u64,
    /// Orders whose amount differs
    #[arg(long, default_value_t = 0)]
    amount_mismatch: u64,
    /// Orders whose status differs
    #[arg(long, default_value_t = 0)]
    status_mismatch: u64,
    /// Payments of the day's last seconds recorded after midnight (at most 10)
    #[arg(long, default_value_t = 0)]
    near_midnight: u64,
    /// Orders listed twice
    #[arg(long, default_value_t = 0)]
    duplicates: u64,

    /// Bill fee rate, as given to `serve --fee-rate`
    #[arg(long, default_value_t = 60)]
    fee_rate: u32,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Plain HTTP address for the endpoints that need no client certificate
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,

    /// HTTPS address (all endpoints; /secapi/* and downloadfundflow need the client certificate)
    #[arg(long, default_value = "127.0.0.1:8788")]
    tls_listen: SocketAddr,

    /// Folder for the CA and the merchant certificates [default: a new temporary folder]
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,

    /// Bill fee rate in hundredths of a percent (60 = 0.60%)
    #[arg(long, default_value_t = 60)]
    fee_rate: u32,

    /// Multiplies the notification retry schedule (15 s, 15 s, 30 s, 3 min …); 0.01 makes it 100 times faster
    #[arg(long, default_value_t = 1.0)]
    notify_time_factor: f64,

    /// Seconds a refund stays PROCESSING before it succeeds
    #[arg(long, default_value_t = 5)]
    refund_delay: i64,

    /// Add a synthetic day of the first merchant: DATE:TRADES[:SEED] (repeatable)
    #[arg(long, value_name = "DATE:TRADES[:SEED]", value_parser = parse_day)]
    synthetic_day: Vec<DaySpec>,
}

/// `--config FILE` (the global flag, not WXPAY_OPS_CONFIG) names the emulator's merchants file
/// here: `[[merchants]]` tables with mch_id, appids, api_key and optional sign_types.
pub fn run(
    context: &Context,
    merchants_file: Option<PathBuf>,
    command: EmulatorCommand,
) -> Result<u8, Failure> {
    match command {
        EmulatorCommand::Serve(args) => serve(context, merchants_file, args),
        EmulatorCommand::Export(args) => export(context, args),
    }
}

fn export(context: &Context, args: ExportArgs) -> Result<u8, Failure> {
    let day = SyntheticDay {
        mch_id: args.mch_id,
        appid: args.appid,
        bill_date: args.day.bill_date,
        trades: args.day.trades,
        seed: args.day.seed,
    };
    let differences = Differences {
        missing_in_merchant: args.missing_in_merchant,
        missing_in_wechat: args.missing_in_wechat,
        amount_mismatch: args.amount_mismatch,
        status_mismatch: args.status_mismatch,
        near_midnight: args.near_midnight,
        duplicates: args.duplicates,
    };
    let expected = write_atomic(&args.output, |out| {
        write_export(&day, &differences, FeeRate(args.fee_rate), out)
    })
    .map_err(|e| match e {
        WriteError::File(e) => Failure::from(e),
        WriteError::Inner(SynthError::Io(e)) => FileError::new(&args.output, e).into(),
        WriteError::Inner(other) => Failure::usage(other.to_string()),
    })?;
    let json = serde_json::to_value(&expected).expect("the record serializes");
    if is_stdout(&args.output) {
        // Stdout holds the CSV alone, ready for a pipe; the expected counts, which a script
        // needs as much as the rows, go to stderr as one JSON line.
        eprintln!("{json}");
        return Ok(exit::OK);
    }
    context.printer.status(&format!(
        "wrote {} export rows to {}",
        expected.export_rows,
        args.output.display()
    ));
    let record = json.as_object().cloned().unwrap_or_default();
    context.printer.record(&record)?;
    Ok(exit::OK)
}

fn serve(
    context: &Context,
    merchants_file: Option<PathBuf>,
    args: ServeArgs,
) -> Result<u8, Failure> {
    let merchants = match &merchants_file {
        Some(path) => load_merchants(path).map_err(|e| {
            Failure::usage(e.to_string())
                .hint("each [[merchants]] table needs mch_id, appids = [\"wx…\"] and a 32-character api_key")
        })?,
        None => vec![Merchant::default_merchant()],
    };
    if !(0.0..=1000.0).contains(&args.notify_time_factor) {
        return Err(Failure::usage(
            "--notify-time-factor must be between 0 and 1000",
        ));
    }
    if args.refund_delay < 0 {
        return Err(Failure::usage("--refund-delay cannot be negative"));
    }
    let options = ServeOptions {
        core: Options {
            merchants,
            fee_rate: FeeRate(args.fee_rate),
            notify_time_factor: args.notify_time_factor,
            refund_delay: time::Duration::seconds(args.refund_delay),
            ..Options::default()
        },
        http: args.listen,
        https: args.tls_listen,
        cert_dir: args.cert_dir,
    };
    let emulator = Emulator::start(options).map_err(|e| {
        Failure::usage(e.to_string())
            .hint("pick free ports with --listen and --tls-listen (port 0 picks one)")
    })?;
    for spec in &args.synthetic_day {
        let merchant = &emulator.core().options.merchants[0];
        emulator
            .core()
            .add_synthetic_day(SyntheticDay {
                mch_id: merchant.mch_id.clone(),
                appid: merchant.appids[0].clone(),
                bill_date: spec.bill_date.clone(),
                trades: spec.trades,
                seed: spec.seed,
            })
            .map_err(Failure::usage)?;
    }
    let printer = &context.printer;
    printer.status(&format!(
        "WeChat Pay v2 emulator on {} and {}",
        emulator.base_url(),
        emulator.tls_base_url()
    ));
    printer.status(&format!(
        "control plane: {}/__emulator/",
        emulator.base_url()
    ));
    printer.status(&format!("CA certificate: {}", emulator.ca_cert().display()));
    for merchant in &emulator.core().options.merchants {
        let certs = emulator.client_cert(&merchant.mch_id);
        printer.status(&format!(
            "merchant mch_id={} appids={}",
            merchant.mch_id,
            merchant.appids.join(",")
        ));
        if merchants_file.is_none() {
            // The built-in merchant's key is public test data, printed so a backend can use it.
            printer.status_showing_test_key(&format!(
                "  api_key={}",
                crate::emulator::merchant::DEFAULT_API_KEY
            ));
        }
        if let Some(certs) = certs {
            printer.status(&format!(
                "  cert_pem={} cert_key_pem={} cert_p12={} (password: the mch_id)",
                certs.cert.display(),
                certs.key.display(),
                certs.p12.display()
            ));
        }
    }
    printer.status(&format!(
        "wxpay-ops profile for it: {} (try: wxpay-ops --config {} config check)",
        emulator.profile().display(),
        emulator.profile().display()
    ));
    printer.status("press Ctrl-C to stop");
    emulator.wait_for_ctrl_c();
    printer.status("stopped");
    Ok(exit::OK)
}
