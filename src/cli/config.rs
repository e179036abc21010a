//! `wxpay-ops config init|path|show|check`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::common::api::record;
use super::failure::{Failure, exit};
use super::settings::{Context, Selected};
use crate::config::check::{CheckStatus, check_profile};
use crate::config::{ConfigError, KeySource, ProfileSecret, TEMPLATE};
use crate::fsutil::{create_private_dir_all, is_stdout, write_new_private, write_private};
use crate::output::{Format, Record};
use crate::wechat::client::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
use crate::wechat::login::DEFAULT_LOGIN_BASE;
use crate::wechat::{ApiKey, ApiV3Key, AppSecret, shown_url};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write a commented template (mode 0600) to the config path
    Init(InitArgs),
    /// Print the config file's path
    Path,
    /// Show the selected profile, secrets masked
    Show,
    /// Validate the selected profile: key, mch_id and appid shapes, certificate files,
    /// timeouts, the backup host, the service-provider fields, and the AppSecret, the APIv3
    /// key and login_base when set
    Check,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Replace an existing file
    #[arg(long)]
    force: bool,
}

pub fn run(context: &Context, command: ConfigCommand) -> Result<u8, Failure> {
    match command {
        ConfigCommand::Init(args) => init(context, args),
        ConfigCommand::Path => path(context),
        ConfigCommand::Show => show(context),
        ConfigCommand::Check => check(context),
    }
}

fn init(context: &Context, args: InitArgs) -> Result<u8, Failure> {
    let path = context.config_path()?;
    let exists = || {
        Failure::usage(format!("{} already exists", path.display()))
            .hint("pass --force to replace it, or edit it")
    };
    if is_stdout(&path) {
        write_private(&path, TEMPLATE.as_bytes())?;
        return Ok(exit::OK);
    }
    if path.exists() && !args.force {
        return Err(exists());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir_all(dir)?;
    }
    let written = if args.force {
        write_private(&path, TEMPLATE.as_bytes())
    } else {
        // A file that appeared since the check above is someone's, and stays.
        write_new_private(&path, TEMPLATE.as_bytes())
    };
    written.map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => exists(),
        _ => e.into(),
    })?;
    context.printer.status(&format!(
        "wrote {} (mode 600); set mch_id, appid and the API key source, then run `wxpay-ops config check`",
        path.display()
    ));
    Ok(exit::OK)
}

fn path(context: &Context) -> Result<u8, Failure> {
    let path = context.config_path()?;
    // A bare path is what `$(wxpay-ops config path)` wants; JSON only when asked for.
    if context.printer.format(Format::Table).is_json() {
        let mut record = Record::new();
        record.insert("path".into(), json!(path.display().to_string()));
        record.insert("exists".into(), json!(path.exists()));
        context.printer.record(&record)?;
    } else {
        context.printer.data(&format!("{}\n", path.display()))?;
    }
    if !path.exists() {
        context
            .printer
            .warn("the file does not exist yet; `wxpay-ops config init` creates it");
    }
    Ok(exit::OK)
}

fn show(context: &Context) -> Result<u8, Failure> {
    let selected = context.select()?;
    let profile = &selected.profile;
    let path = |path: &Option<std::path::PathBuf>| {
        (path.as_ref()).map(|path| selected.config.resolve(path).display().to_string())
    };
    let api_key = shown_secret::<ApiKey>(&selected).unwrap_or_else(|e| format!("unusable: {e}"));
    // Optional: only `openid` needs the AppSecret, only `notify decrypt --api v3` the APIv3 key.
    let optional = |shown: Result<String, ConfigError>| match shown {
        Ok(shown) => Some(shown),
        Err(ConfigError::NoKeySource { .. }) => None,
        Err(e) => Some(format!("unusable: {e}")),
    };
    let app_secret = optional(shown_secret::<AppSecret>(&selected));
    let apiv3_key = optional(shown_secret::<ApiV3Key>(&selected));
    let p12_password = match &profile.cert_p12_password {
        Some(_) => "********",
        None => "(the mch_id)",
    };
    // The [reconcile] table's keys as the file sets them; flags override each.
    let mapping = profile.reconcile.as_ref().map(|mapping| {
        let mut keys = serde_json::to_value(mapping).unwrap_or(Value::Null);
        if let Value::Object(keys) = &mut keys {
            keys.retain(|_, value| !value.is_null());
        }
        keys
    });
    // The values API commands use, defaults included (as for sign_type and api_base).
    context.printer.record(&record(json!({
        "config": selected.config.path.display().to_string(),
        "profile": selected.name,
        "mch_id": profile.mch_id,
        "appid": profile.appid,
        "api_key": api_key,
        "app_secret": app_secret,
        "apiv3_key": apiv3_key,
        "sign_type": profile.sign_type.unwrap_or_default().as_str(),
        "api_version": match profile.api_version(None) {
            crate::wechat::ApiVersion::V2 => 2,
            crate::wechat::ApiVersion::V3 => 3,
        },
        "api_base": shown_url(profile.effective_api_base()),
        "login_base": shown_url(profile.login_base.as_deref().unwrap_or(DEFAULT_LOGIN_BASE)),
        "cert_pem": path(&profile.cert_pem),
        "cert_key_pem": path(&profile.cert_key_pem),
        "cert_p12": path(&profile.cert_p12),
        "cert_p12_password": p12_password,
        "ca_cert": path(&profile.ca_cert),
        "private_key_pem": path(&profile.private_key_pem),
        "cert_serial": profile.cert_serial,
        "wechatpay_public_key_pem": path(&profile.wechatpay_public_key_pem),
        "platform_cert_dir": path(&profile.platform_cert_dir),
        "wechatpay_public_key_id": profile.wechatpay_public_key_id,
        "notify_url": profile.notify_url,
        "backup_api_base": profile.backup_api_base.as_deref().map(shown_url),
        "timeout": profile.timeout.unwrap_or(DEFAULT_TIMEOUT.as_secs_f64()),
        "connect_timeout": (profile.connect_timeout)
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT.as_secs_f64()),
        "sandbox": profile.sandbox,
        "sub_mch_id": profile.sub_mch_id,
        "sub_appid": profile.sub_appid,
        "bill_dir": path(&profile.bill_dir),
        "ledger": path(&profile.ledger),
        "reconcile": mapping,
    })))?;
    Ok(exit::OK)
}

/// Where a secret comes from, never the secret (the printer also hides one pasted in as a
/// variable name or inside a command), with its fingerprint when it can be read without
/// running anything: a command may prompt, or cost a call.
fn shown_secret<T: ProfileSecret>(selected: &Selected) -> Result<String, ConfigError> {
    let (config, name, profile) = (&selected.config, &selected.name, &selected.profile);
    let source = config.secret_source::<T>(name, profile)?;
    let fingerprint = match source {
        KeySource::Command(_) => None,
        _ => config.secret::<T>(name, profile).ok(),
    };
    Ok(match fingerprint {
        Some(loaded) => format!(
            "******** from {source} (sha256 {})",
            loaded.key.fingerprint()
        ),
        None => format!("******** from {source}"),
    })
}

fn check(context: &Context) -> Result<u8, Failure> {
    let selected = context.select()?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let checks = check_profile(&selected.config, &selected.name, &selected.profile, now);
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            vec![
                c.name.to_owned(),
                c.status.as_str().to_owned(),
                c.detail.clone(),
            ]
        })
        .collect();
    context
        .printer
        .rows(&["check", "status", "detail"], &rows)?;
    let failed = checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .count();
    if failed > 0 {
        return Err(Failure::usage(format!(
            "profile {:?} in {} fails {}",
            selected.name,
            selected.config.path.display(),
            super::common::counted(failed, "check")
        ))
        .hint("fix the lines marked fail; `wxpay-ops config init` writes a commented template"));
    }
    context
        .printer
        .status(&format!("profile {:?} is ready", selected.name));
    Ok(exit::OK)
}
