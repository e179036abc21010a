//! The API v3 client of a profile: its keys and server, and the refusal of what v3 has no
//! place for (the sandbox, service-provider mode, the API v2 key flags).

use std::time::Duration;

use crate::cli::common::api::{tls, verbose_observer};
use crate::cli::failure::Failure;
use crate::cli::settings::{ApiV3KeyArgs, Context, KeyArgs, Selected};
use crate::config::check::plain_http_warning;
use crate::wechat::client::RetryPolicy;
use crate::wechat::v3::client::{CertRefresh, V3Client, V3Options};

pub(crate) fn on_v3_only(what: &str) -> Failure {
    Failure::usage(format!("{what} is for API v2: API v3 has none"))
        .hint("pass --api v2, or leave it out")
}

pub(crate) fn no_partner_on_v3() -> Failure {
    Failure::usage(
        "service-provider mode (sub_mch_id, sub_appid) is not made on API v3 by this tool yet",
    )
    .hint("pass --api v2 for a sub-merchant's orders and bills")
}

/// The v3 client for a profile: the merchant's private key and certificate serial, WeChat
/// Pay's key, and the profile's server and TLS trust. v3 has no sandbox, and
/// service-provider paths are other endpoints, so both are refused rather than quietly left
/// out, as are the API v2 key flags.
pub fn v3_client(
    context: &Context,
    selected: &Selected,
    keys: &KeyArgs,
    (timeout, connect_timeout): (Duration, Duration),
    retry: RetryPolicy,
) -> Result<V3Client, Failure> {
    let profile = &selected.profile;
    if profile.sandbox {
        return Err(on_v3_only(&format!(
            "the sandbox (profile {:?} has sandbox = true)",
            selected.name
        )));
    }
    if profile.sub_mch_id.is_some() || profile.sub_appid.is_some() {
        return Err(no_partner_on_v3());
    }
    if let Some(flag) = keys.given() {
        return Err(on_v3_only(&format!("{flag} (the API v2 key)")));
    }
    let base = profile.effective_api_base().to_owned();
    if !crate::wechat::is_http_url(&base) {
        return Err(
            Failure::usage(format!("api_base {base:?} is not an http(s) URL"))
                .hint(format!("fix api_base in profile {:?}", selected.name)),
        );
    }
    if let Some(warning) = plain_http_warning(&base) {
        context.printer.warn(&format!("api_base {warning}"));
    }
    let config = &selected.config;
    let options = V3Options {
        refresh: cert_refresh(context, selected)?,
        base,
        mch_id: profile.mch_id.clone(),
        appid: profile.appid.clone(),
        key: config.merchant_key(&selected.name, profile)?,
        serial: config.merchant_serial(&selected.name, profile)?,
        wechatpay_keys: config.wechatpay_keys(&selected.name, profile)?,
        tls: Some(tls(selected)?),
        timeout,
        connect_timeout,
        retry,
        on_attempt: context.verbose.then(verbose_observer),
    };
    V3Client::new(options).map_err(|e| Failure::usage(format!("cannot set up HTTPS: {e}")))
}

/// Platform-certificate mode: where certificates are cached, and the APIv3 key that opens
/// them when an answer names a serial not cached yet; None without a platform_cert_dir or an
/// APIv3 key.
fn cert_refresh(context: &Context, selected: &Selected) -> Result<Option<CertRefresh>, Failure> {
    let profile = &selected.profile;
    let Some(dir) = &profile.platform_cert_dir else {
        return Ok(None);
    };
    let named = profile.apiv3_key_env.is_some()
        || profile.apiv3_key_file.is_some()
        || profile.apiv3_key_cmd.is_some()
        || profile.apiv3_key.is_some();
    if !named {
        return Ok(None);
    }
    Ok(Some(CertRefresh {
        apiv3_key: context.apiv3_key(&ApiV3KeyArgs::default(), Some(selected))?,
        dir: selected.config.resolve(dir),
    }))
}
