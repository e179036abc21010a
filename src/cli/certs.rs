//! `wxpay-ops certs download|list`: WeChat Pay's platform certificates, for merchants on API
//! v3 who check answers with them rather than with the WeChat Pay public key.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;

use super::common::api::{record, timeouts};
use super::common::v3_client::v3_client;
use super::failure::{Failure, exit};
use super::settings::{ApiV3KeyArgs, Context, KeyArgs, Selected};
use crate::output::Record;
use crate::wechat::api::Endpoint;
use crate::wechat::client::RetryPolicy;
use crate::wechat::v3::certs::{cache, cached_path};

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Fetch the platform certificates (GET /v3/certificates), decrypt them with the APIv3
    /// key, check the answer with them, and cache them (one <serial>.pem each, mode 0600)
    Download(DownloadArgs),
    /// The cached platform certificates: serial and validity
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The cache folder [default: the profile's platform_cert_dir]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,

    #[command(flatten)]
    apiv3_keys: ApiV3KeyArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The cache folder [default: the profile's platform_cert_dir]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn run(context: &Context, command: CertsCommand) -> Result<u8, Failure> {
    match command {
        CertsCommand::Download(args) => download(context, args),
        CertsCommand::List(args) => list(context, args),
    }
}

/// `--dir`, else the profile's platform_cert_dir.
fn folder(flag: Option<&Path>, selected: Option<&Selected>) -> Result<PathBuf, Failure> {
    if let Some(dir) = flag {
        return std::path::absolute(dir)
            .map_err(|e| Failure::usage(format!("--dir {}: {e}", dir.display())));
    }
    let configured = selected.and_then(|s| {
        let dir = s.profile.platform_cert_dir.as_ref()?;
        Some(s.config.resolve(dir))
    });
    configured.ok_or_else(|| {
        Failure::usage("no folder for platform certificates")
            .hint("pass --dir DIR, or set platform_cert_dir in the profile")
    })
}

fn download(context: &Context, args: DownloadArgs) -> Result<u8, Failure> {
    let mut selected = context.select()?;
    let dir = folder(args.dir.as_deref(), Some(&selected))?;
    let apiv3_key = context.apiv3_key(&args.apiv3_keys, Some(&selected))?;
    // The client checks answers with what the folder holds (none yet is no error).
    selected.profile.platform_cert_dir = Some(dir.clone());
    let timeouts = timeouts(&selected, None, None)?;
    let client = v3_client(
        context,
        &selected,
        &KeyArgs::default(),
        timeouts,
        RetryPolicy::default(),
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::TEMPORARY, format!("cannot start: {e}")))?;
    let certs = runtime
        .block_on(client.download_certificates(&apiv3_key))
        .map_err(|error| {
            let failed = crate::wechat::client::CallError { error, attempts: 1 };
            let again = "fetching the certificates changes nothing: it is safe to run again";
            super::common::api::call_failure(
                "the platform certificates (/v3/certificates)",
                Endpoint::OrderQuery,
                failed,
                again,
                None,
            )
        })?;
    let new = cache(&dir, &certs).map_err(|e| {
        Failure::usage(e.to_string()).hint("check that the folder is yours and can be written")
    })?;
    let rows: Vec<Record> = (certs.iter().zip(new))
        .map(|(cert, new)| {
            record(json!({
                "serial": cert.serial,
                "effective_time": cert.effective_time,
                "expire_time": cert.expire_time,
                "new": new,
                "file": cached_path(&dir, &cert.serial),
            }))
        })
        .collect();
    let columns = ["serial", "effective_time", "expire_time", "new", "file"];
    context.printer.records(&columns, &rows)?;
    context.printer.status(&format!(
        "{} in {}",
        crate::output::counted(certs.len(), "platform certificate"),
        dir.display()
    ));
    Ok(exit::OK)
}

fn list(context: &Context, args: ListArgs) -> Result<u8, Failure> {
    let selected = context.select_optional()?;
    let dir = folder(args.dir.as_deref(), selected.as_ref())?;
    let files = crate::config::v3::read_platform_cache(&dir)?;
    if files.is_empty() {
        context.printer.status(&format!(
            "no platform certificates in {} (`wxpay-ops certs download` fills it)",
            dir.display()
        ));
    }
    let now = crate::time::now().unix_timestamp();
    let mut rows: Vec<Record> = Vec::new();
    for file in &files {
        let Some(info) = &file.info else {
            let warning = format!("{} is not a certificate; left out", file.path.display());
            context.printer.warn(&warning);
            continue;
        };
        let at = |seconds| crate::time::rfc3339_of_unix(seconds);
        rows.push(record(json!({
            "serial": info.serial,
            "not_before": at(info.not_before),
            "not_after": at(info.not_after),
            "valid_now": info.valid_at(now),
            "used": file.used,
            "file": file.path,
        })));
    }
    let columns = [
        "serial",
        "not_before",
        "not_after",
        "valid_now",
        "used",
        "file",
    ];
    context.printer.records(&columns, &rows)?;
    Ok(exit::OK)
}
