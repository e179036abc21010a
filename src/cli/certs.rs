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
use crate::wechat::v3::certs::{CachedCert, cache, cached_path, describe};

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
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            context.printer.status(&format!(
                "no platform certificates: {} does not exist yet (`wxpay-ops certs download` fills it)",
                dir.display()
            ));
            return Ok(exit::OK);
        }
        Err(e) => return Err(Failure::input(&dir.display().to_string(), e)),
    };
    let mut certs: Vec<CachedCert> = Vec::new();
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pem"))
    {
        let pem = crate::config::v3::read_certificate_file(path)?;
        match describe(path, &pem) {
            Some(cert) => certs.push(cert),
            None => context.printer.warn(&format!(
                "{} is not a certificate; left out",
                path.display()
            )),
        }
    }
    let now = crate::time::now().unix_timestamp();
    let rows: Vec<Record> = certs
        .iter()
        .map(|cert| {
            let at = |seconds| crate::time::rfc3339_of_unix(seconds);
            record(json!({
                "serial": cert.serial,
                "not_before": at(cert.not_before),
                "not_after": at(cert.not_after),
                "valid_now": cert.not_before <= now && now < cert.not_after,
                "file": cert.path,
            }))
        })
        .collect();
    context.printer.records(
        &["serial", "not_before", "not_after", "valid_now", "file"],
        &rows,
    )?;
    Ok(exit::OK)
}
