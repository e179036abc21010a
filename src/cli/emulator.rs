//! `wxpay-ops emulator serve`: the local WeChat Pay v2 server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::failure::{Failure, exit};
use super::settings::Context;
use crate::bill::format::FeeRate;
use crate::emulator::core::Options;
use crate::emulator::merchant::{Merchant, load_merchants};
use crate::emulator::{Emulator, ServeOptions};

#[derive(Debug, Subcommand)]
pub enum EmulatorCommand {
    /// Serve the WeChat Pay v2 API on loopback until Ctrl-C
    Serve(ServeArgs),
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
}

/// `--config FILE` (the global flag, not WXPAY_OPS_CONFIG) names the emulator's merchants file
/// here: `[[merchants]]` tables with mch_id, appids, api_key and optional sign_types.
pub fn run(
    context: &Context,
    merchants_file: Option<PathBuf>,
    command: EmulatorCommand,
) -> Result<u8, Failure> {
    let EmulatorCommand::Serve(args) = command;
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
            printer.status(&format!(
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
    printer.status("press Ctrl-C to stop");
    emulator.wait_for_ctrl_c();
    printer.status("stopped");
    Ok(exit::OK)
}
