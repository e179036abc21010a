//! `config check`: everything about a profile that can be known without calling WeChat Pay.

use super::certs::{CertError, CertInfo, read_certificate, read_p12, read_pem_pair};
use super::v3::{V3Error, read_platform_certificates};
use super::{Config, ConfigError, Loaded, Profile, ProfileSecret};
use crate::wechat::client::{DEFAULT_API_BASE, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
use crate::wechat::shown_url;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub status: CheckStatus,
    pub detail: String,
}

fn check(name: &'static str, status: CheckStatus, detail: impl Into<String>) -> Check {
    Check {
        name,
        status,
        detail: detail.into(),
    }
}

/// A certificate that expires within this many days is reported as a warning.
const EXPIRY_WARNING_DAYS: i64 = 30;

/// The longest timeout, in seconds, a profile or flag may set: longer would leave a cron job
/// hanging.
pub const MAX_TIMEOUT_SECS: f64 = 3600.0;

/// The shortest: no answer from WeChat Pay comes sooner, and a tinier one (1e-300) rounds to
/// no time at all, which fails every request as a timeout.
pub const MIN_TIMEOUT_SECS: f64 = 0.1;

/// Whether `seconds` is a usable timeout: from a tenth of a second to an hour (NaN is not).
pub fn usable_timeout(seconds: f64) -> bool {
    (MIN_TIMEOUT_SECS..=MAX_TIMEOUT_SECS).contains(&seconds)
}

/// How a timeout out of range is described, in flags and profiles alike.
pub fn timeout_range() -> String {
    format!("a number of seconds from {MIN_TIMEOUT_SECS} to {MAX_TIMEOUT_SECS}")
}

/// An http(s) api_base: shown without credentials, and a warning when it is plain http to
/// another machine.
fn checked_base(name: &'static str, url: &str) -> Check {
    match plain_http_warning(url) {
        Some(warning) => check(name, CheckStatus::Warn, warning),
        None => check(name, CheckStatus::Ok, shown_url(url)),
    }
}

/// What is wrong with sending to `url`, when it is plain http to another machine.
pub fn plain_http_warning(url: &str) -> Option<String> {
    crate::wechat::is_plain_http_remote(url).then(|| {
        format!(
            "{} is plain http:// to another machine: requests and answers can be read, held back \
             or replayed on the way; use https://",
            shown_url(url)
        )
    })
}

/// Merchant numbers, the service provider's and its sub-merchants': 8 (early merchants,
/// e.g. 10000100) to 10 digits.
fn is_merchant_number(text: &str) -> bool {
    (8..=10).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// An AppID: "wx" and 16 hex digits.
fn is_appid(text: &str) -> bool {
    text.len() == 18 && text.starts_with("wx") && text[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Runs every check on one profile; `now` is seconds since 1970.
pub fn check_profile(config: &Config, name: &str, profile: &Profile, now: i64) -> Vec<Check> {
    let mut checks = Vec::new();

    let mch_id = &profile.mch_id;
    checks.push(if is_merchant_number(mch_id) {
        check("mch_id", CheckStatus::Ok, mch_id.clone())
    } else {
        check(
            "mch_id",
            CheckStatus::Fail,
            format!("{mch_id:?} is not a merchant number (8 to 10 digits)"),
        )
    });

    let appid = &profile.appid;
    checks.push(if is_appid(appid) {
        check("appid", CheckStatus::Ok, appid.clone())
    } else {
        check(
            "appid",
            CheckStatus::Fail,
            format!("{appid:?} is not an AppID (\"wx\" and 16 hex digits)"),
        )
    });

    checks.push(secret(config, name, profile, config.api_key(name, profile)));
    // The AppSecret is optional: only `openid` needs it.
    match config.app_secret(name, profile) {
        Err(ConfigError::NoKeySource { .. }) => {}
        loaded => checks.push(secret(config, name, profile, loaded)),
    }
    // So is the APIv3 key: only the decryption of API v3 callbacks needs it.
    match config.apiv3_key(name, profile) {
        Err(ConfigError::NoKeySource { .. }) => {}
        loaded => checks.push(secret(config, name, profile, loaded)),
    }

    checks.push(check(
        "sign_type",
        CheckStatus::Ok,
        profile.sign_type.unwrap_or_default().as_str(),
    ));

    checks.push(match &profile.api_base {
        None => check(
            "api_base",
            CheckStatus::Ok,
            format!("{DEFAULT_API_BASE} (default)"),
        ),
        Some(url) if !crate::wechat::is_http_url(url) => check(
            "api_base",
            CheckStatus::Fail,
            format!("{:?} is not an http(s) URL", shown_url(url)),
        ),
        Some(url) => checked_base("api_base", url),
    });

    if let Some(url) = &profile.login_base {
        checks.push(if crate::wechat::is_http_url(url) {
            checked_base("login_base", url)
        } else {
            check(
                "login_base",
                CheckStatus::Fail,
                format!("{:?} is not an http(s) URL", shown_url(url)),
            )
        });
    }

    if let Some(url) = &profile.backup_api_base {
        checks.push(if !crate::wechat::is_http_url(url) {
            check(
                "backup_api_base",
                CheckStatus::Fail,
                format!("{:?} is not an http(s) URL", shown_url(url)),
            )
        } else if profile.api_base.as_deref() == Some(url.as_str()) {
            check(
                "backup_api_base",
                CheckStatus::Warn,
                "is the same as api_base, so it is no backup",
            )
        } else {
            checked_base("backup_api_base", url)
        });
    }

    checks.extend(timeouts(profile));

    if profile.sandbox {
        checks.push(check(
            "sandbox",
            CheckStatus::Ok,
            "on: requests go to the /sandboxnew paths, signed with the sandbox key",
        ));
    }

    checks.extend(sub_merchant(profile));

    checks.push(certificate(config, profile, now));
    checks.extend(v3(config, name, profile));

    if let Some(ca) = &profile.ca_cert {
        let path = config.resolve(ca);
        checks.push(match read_certificate(&path) {
            Ok(_) => check("ca_cert", CheckStatus::Ok, path.display().to_string()),
            Err(e) => check("ca_cert", CheckStatus::Fail, e.to_string()),
        });
    }

    if let Some(url) = &profile.notify_url {
        checks.push(if !crate::wechat::is_http_url(url) {
            check(
                "notify_url",
                CheckStatus::Fail,
                format!("{url:?} is not an http(s) URL"),
            )
        } else if url.contains('?') {
            check(
                "notify_url",
                CheckStatus::Warn,
                "has a query string, which WeChat Pay does not allow in notify_url",
            )
        } else {
            check("notify_url", CheckStatus::Ok, url.clone())
        });
    }
    checks
}

/// A secret read from its source: where from and its fingerprint, never the secret.
fn secret<T: ProfileSecret>(
    config: &Config,
    name: &str,
    profile: &Profile,
    loaded: Result<Loaded<T>, ConfigError>,
) -> Check {
    let field = T::SECRET.field();
    match loaded {
        Ok(loaded) => check(
            field,
            CheckStatus::Ok,
            format!(
                "32 characters from {} (sha256 {}){}",
                config
                    .secret_source::<T>(name, profile)
                    .expect("the secret was read from it"),
                loaded.key.fingerprint(),
                match &loaded.stderr {
                    Some(stderr) => format!("; the command said on stderr: {stderr}"),
                    None => String::new(),
                }
            ),
        ),
        Err(e) => check(field, CheckStatus::Fail, e.to_string()),
    }
}

/// The API v3 credentials, when the profile names any: the private key readable and RSA, the
/// serial well formed and (with cert_pem) that certificate's, the key that certificate's, and
/// the WeChat Pay public key with its ID.
fn v3(config: &Config, name: &str, profile: &Profile) -> Vec<Check> {
    let named = [
        profile.private_key_pem.is_some(),
        profile.cert_serial.is_some(),
        profile.wechatpay_public_key_pem.is_some(),
        profile.wechatpay_public_key_id.is_some(),
        profile.platform_cert_dir.is_some(),
    ];
    if !named.contains(&true) {
        return Vec::new();
    }
    let mut checks = Vec::new();
    let key = config.merchant_key(name, profile);
    // A profile that only checks WeChat Pay's callbacks needs no key of its own to sign with.
    let unsigned = "v3 requests and `paysign --api v3` need it";
    checks.push(match &key {
        Ok(_) => check(
            "private_key_pem",
            CheckStatus::Ok,
            "an RSA private key, mode 0600",
        ),
        Err(e @ V3Error::NoPrivateKey { .. }) => check(
            "private_key_pem",
            CheckStatus::Warn,
            format!("{e}: {unsigned}"),
        ),
        Err(e) => check("private_key_pem", CheckStatus::Fail, e.to_string()),
    });
    let serial = config.merchant_serial(name, profile);
    // The certificate in cert_pem as an RSA key named by its serial, when there is one.
    let certificate = (profile.cert_pem.as_ref())
        .map(|cert| read_platform_certificates(&config.resolve(cert)))
        .transpose()
        .map(|keys| keys.and_then(|keys| keys.into_iter().next()));
    let certificate = match certificate {
        Ok(certificate) => certificate,
        Err(e) => {
            checks.push(check(
                "cert_serial",
                CheckStatus::Warn,
                format!("not checked against cert_pem, whose certificate is not an RSA one of API v3: {e}"),
            ));
            None
        }
    };
    checks.push(match (&serial, &certificate) {
        (Err(e @ V3Error::NoSerial { .. }), _) => {
            check("cert_serial", CheckStatus::Warn, format!("{e}: {unsigned}"))
        }
        (Err(e), _) => check("cert_serial", CheckStatus::Fail, e.to_string()),
        (Ok(serial), Some(cert)) if *serial != cert.serial => check(
            "cert_serial",
            CheckStatus::Fail,
            format!(
                "{serial} is not the serial of the certificate in cert_pem ({})",
                cert.serial
            ),
        ),
        (Ok(serial), Some(cert)) => match &key {
            Ok(key) if !key.is_pair_of(cert) => check(
                "cert_serial",
                CheckStatus::Fail,
                format!("{serial}: the private key is not the key of the certificate in cert_pem"),
            ),
            _ => check(
                "cert_serial",
                CheckStatus::Ok,
                format!("{serial}, the certificate in cert_pem"),
            ),
        },
        (Ok(serial), None) => check(
            "cert_serial",
            CheckStatus::Ok,
            format!("{serial} (set cert_pem to check it, and the key, against the certificate)"),
        ),
    });
    let public = (
        &profile.wechatpay_public_key_pem,
        &profile.wechatpay_public_key_id,
    );
    checks.push(match config.wechatpay_keys(name, profile) {
        Ok(keys) if keys.is_empty() => check(
            "wechatpay_public_key",
            CheckStatus::Warn,
            "no platform certificate cached in platform_cert_dir yet: `wxpay-ops certs download` fetches them",
        ),
        Ok(keys) => check(
            "wechatpay_public_key",
            CheckStatus::Ok,
            match public {
                (Some(_), Some(_)) => format!("{}, an RSA public key", keys[0].serial),
                _ => format!(
                    "platform certificates {}",
                    keys.iter().map(|k| k.serial.as_str()).collect::<Vec<_>>().join(", ")
                ),
            },
        ),
        // Signing needs no WeChat Pay key; checking answers and callbacks does.
        Err(e) if public == (&None, &None) => check(
            "wechatpay_public_key",
            CheckStatus::Warn,
            format!("{e}: `sign v3 verify` and v3 callbacks need wechatpay_public_key_pem and wechatpay_public_key_id"),
        ),
        Err(e) => check("wechatpay_public_key", CheckStatus::Fail, e.to_string()),
    });
    checks
}

/// `timeout` and `connect_timeout`: usable numbers of seconds, the connection within the
/// whole.
fn timeouts(profile: &Profile) -> Vec<Check> {
    let mut checks = Vec::new();
    for (name, value, default) in [
        ("timeout", profile.timeout, DEFAULT_TIMEOUT.as_secs_f64()),
        (
            "connect_timeout",
            profile.connect_timeout,
            DEFAULT_CONNECT_TIMEOUT.as_secs_f64(),
        ),
    ] {
        checks.push(match value {
            None => check(name, CheckStatus::Ok, format!("{default} s (default)")),
            Some(seconds) if usable_timeout(seconds) => {
                check(name, CheckStatus::Ok, format!("{seconds} s"))
            }
            Some(seconds) => check(
                name,
                CheckStatus::Fail,
                format!("{seconds} is not {}", timeout_range()),
            ),
        });
    }
    if let (Some(connect), Some(total)) = (profile.connect_timeout, profile.timeout)
        && usable_timeout(connect)
        && usable_timeout(total)
        && connect > total
    {
        checks.push(check(
            "connect_timeout",
            CheckStatus::Warn,
            format!("{connect} s is longer than the whole request's timeout of {total} s"),
        ));
    }
    checks
}

/// Service-provider mode: the sub-merchant's number and AppID.
fn sub_merchant(profile: &Profile) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Some(sub_mch_id) = &profile.sub_mch_id {
        checks.push(if !is_merchant_number(sub_mch_id) {
            check(
                "sub_mch_id",
                CheckStatus::Fail,
                format!("{sub_mch_id:?} is not a merchant number (8 to 10 digits)"),
            )
        } else if *sub_mch_id == profile.mch_id {
            check(
                "sub_mch_id",
                CheckStatus::Warn,
                "is the profile's own mch_id: in service-provider mode mch_id is the service \
                 provider's, sub_mch_id the sub-merchant's",
            )
        } else {
            check(
                "sub_mch_id",
                CheckStatus::Ok,
                format!(
                    "{sub_mch_id}: requests are made for this sub-merchant of service provider {}",
                    profile.mch_id
                ),
            )
        });
    }
    if let Some(sub_appid) = &profile.sub_appid {
        // WeChat's own sample sub_appid (wxd678efh567hg6999, which the emulator uses too)
        // is not hex, so only letters and digits are asked for here.
        let shaped = sub_appid.len() == 18
            && sub_appid.starts_with("wx")
            && sub_appid[2..].bytes().all(|b| b.is_ascii_alphanumeric());
        checks.push(if !shaped {
            check(
                "sub_appid",
                CheckStatus::Fail,
                format!("{sub_appid:?} is not an AppID (\"wx\" and 16 letters or digits)"),
            )
        } else if profile.sub_mch_id.is_none() {
            check(
                "sub_appid",
                CheckStatus::Fail,
                "needs sub_mch_id: a sub_appid is the AppID of a sub-merchant",
            )
        } else {
            check("sub_appid", CheckStatus::Ok, sub_appid.clone())
        });
    }
    checks
}

fn certificate(config: &Config, profile: &Profile, now: i64) -> Check {
    let pem = (&profile.cert_pem, &profile.cert_key_pem);
    let info = match (pem, &profile.cert_p12) {
        ((None, None), None) => {
            return check(
                "certificate",
                CheckStatus::Warn,
                "none configured: refunds and fund-flow bills need the merchant API certificate",
            );
        }
        ((Some(_), _) | (_, Some(_)), Some(_)) => {
            return check(
                "certificate",
                CheckStatus::Fail,
                "set either cert_pem with cert_key_pem, or cert_p12, not both",
            );
        }
        ((Some(_), None), None) | ((None, Some(_)), None) => {
            return check(
                "certificate",
                CheckStatus::Fail,
                "cert_pem and cert_key_pem go together; set both",
            );
        }
        ((Some(cert), Some(key)), None) => {
            read_pem_pair(&config.resolve(cert), &config.resolve(key))
        }
        ((None, None), Some(p12)) => {
            let password = profile
                .cert_p12_password
                .as_deref()
                .unwrap_or(&profile.mch_id);
            read_p12(&config.resolve(p12), password).map(|contents| contents.info)
        }
    };
    match info {
        Err(e) => check("certificate", CheckStatus::Fail, with_remedy(&e)),
        Ok(info) => judge_certificate(&info, &profile.mch_id, now),
    }
}

/// The error, and what to do about it where that is known.
fn with_remedy(error: &CertError) -> String {
    match error {
        CertError::Der { path } => format!(
            "{error}; convert it: openssl x509 -inform der -in {} -out apiclient_cert.pem",
            path.display()
        ),
        CertError::KeyMismatch { .. } => format!(
            "{error}; use the apiclient_key.pem downloaded together with this apiclient_cert.pem"
        ),
        other => other.to_string(),
    }
}

fn judge_certificate(info: &CertInfo, mch_id: &str, now: i64) -> Check {
    let days_left = (info.not_after - now).div_euclid(86_400);
    if !info.issued_for(mch_id) {
        return check(
            "certificate",
            CheckStatus::Fail,
            format!(
                "issued for {} (common name {:?}), not for mch_id {mch_id}",
                info.subject,
                info.common_name.as_deref().unwrap_or("")
            ),
        );
    }
    if info.not_after < now {
        return check(
            "certificate",
            CheckStatus::Fail,
            format!("expired {} days ago (serial {})", -days_left, info.serial),
        );
    }
    if info.not_before > now {
        return check(
            "certificate",
            CheckStatus::Fail,
            format!("not valid yet (serial {})", info.serial),
        );
    }
    let status = if days_left < EXPIRY_WARNING_DAYS {
        CheckStatus::Warn
    } else {
        CheckStatus::Ok
    };
    check(
        "certificate",
        status,
        format!(
            "issued for mch_id {mch_id}, serial {}, expires in {days_left} days",
            info.serial
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::pki::MerchantPki;
    use std::path::Path;

    fn config_with(dir: &Path, extra: &str) -> Config {
        let text = format!(
            "[profiles.shop]\nmch_id = \"1900000109\"\nappid = \"wx2421b1c4370ec43b\"\n\
             api_key_cmd = \"echo 192006250b4c09247ec02edce69f6a2d\"\n{extra}"
        );
        let path = dir.join("config.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path).unwrap()
    }

    fn statuses(config: &Config) -> Vec<(&'static str, CheckStatus)> {
        let (name, profile) = config.profile(None).unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        check_profile(config, name, profile, now)
            .into_iter()
            .map(|c| (c.name, c.status))
            .collect()
    }

    fn status_of(config: &Config, name: &str) -> CheckStatus {
        statuses(config)
            .into_iter()
            .find(|c| c.0 == name)
            .unwrap()
            .1
    }

    #[test]
    fn good_profile_with_pem_pair_and_with_p12() {
        let dir = tempfile::tempdir().unwrap();
        MerchantPki::generate("1900000109")
            .unwrap()
            .write_to(dir.path())
            .unwrap();
        let pem = config_with(
            dir.path(),
            "cert_pem = \"apiclient_cert.pem\"\ncert_key_pem = \"apiclient_key.pem\"\nca_cert = \"ca_cert.pem\"\n",
        );
        assert!(
            statuses(&pem).iter().all(|c| c.1 == CheckStatus::Ok),
            "{:?}",
            statuses(&pem)
        );
        let p12 = config_with(dir.path(), "cert_p12 = \"apiclient_cert.p12\"\n");
        assert_eq!(status_of(&p12, "certificate"), CheckStatus::Ok);
        let wrong = config_with(
            dir.path(),
            "cert_p12 = \"apiclient_cert.p12\"\ncert_p12_password = \"nope\"\n",
        );
        assert_eq!(status_of(&wrong, "certificate"), CheckStatus::Fail);
    }

    #[test]
    fn certificate_of_another_merchant_or_expired_fails() {
        let dir = tempfile::tempdir().unwrap();
        MerchantPki::generate("1900000999")
            .unwrap()
            .write_to(dir.path())
            .unwrap();
        let other = config_with(
            dir.path(),
            "cert_p12 = \"apiclient_cert.p12\"\ncert_p12_password = \"1900000999\"\n",
        );
        assert_eq!(status_of(&other, "certificate"), CheckStatus::Fail);

        let expired_dir = tempfile::tempdir().unwrap();
        MerchantPki::generate_valid(
            "1900000109",
            rcgen::date_time_ymd(2019, 1, 1),
            rcgen::date_time_ymd(2020, 1, 1),
        )
        .unwrap()
        .write_to(expired_dir.path())
        .unwrap();
        let expired = config_with(
            expired_dir.path(),
            "cert_pem = \"apiclient_cert.pem\"\ncert_key_pem = \"apiclient_key.pem\"\n",
        );
        assert_eq!(status_of(&expired, "certificate"), CheckStatus::Fail);
    }

    #[test]
    fn certificate_failures_say_what_to_do() {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let dir = tempfile::tempdir().unwrap();
        let paths = MerchantPki::generate("1900000109")
            .unwrap()
            .write_to(dir.path())
            .unwrap();
        let der = CertificateDer::from_pem_file(&paths.client_cert).unwrap();
        std::fs::write(dir.path().join("cert.der"), der.as_ref()).unwrap();
        let config = config_with(
            dir.path(),
            "cert_pem = \"cert.der\"\ncert_key_pem = \"apiclient_key.pem\"\n",
        );
        let (name, profile) = config.profile(None).unwrap();
        let checks = check_profile(&config, name, profile, 0);
        let certificate = checks.iter().find(|c| c.name == "certificate").unwrap();
        assert_eq!(certificate.status, CheckStatus::Fail);
        assert!(
            certificate.detail.contains("openssl x509 -inform der"),
            "{}",
            certificate.detail
        );
    }

    #[test]
    fn timeouts_backup_host_sandbox_and_service_provider_fields() {
        let dir = tempfile::tempdir().unwrap();
        let good = config_with(
            dir.path(),
            "timeout = 30\nconnect_timeout = 2.5\nsandbox = true\n\
             backup_api_base = \"https://api2.mch.weixin.qq.com\"\n\
             sub_mch_id = \"1900000201\"\nsub_appid = \"wxd678efh567hg6999\"\n",
        );
        for name in [
            "timeout",
            "connect_timeout",
            "sandbox",
            "backup_api_base",
            "sub_mch_id",
            "sub_appid",
        ] {
            assert_eq!(status_of(&good, name), CheckStatus::Ok, "{name}");
        }
        let bad = config_with(
            dir.path(),
            "timeout = 0\nconnect_timeout = -1\nbackup_api_base = \"api2\"\n\
             sub_mch_id = \"12ab\"\nsub_appid = \"wechat\"\n",
        );
        for name in [
            "timeout",
            "connect_timeout",
            "backup_api_base",
            "sub_mch_id",
            "sub_appid",
        ] {
            assert_eq!(status_of(&bad, name), CheckStatus::Fail, "{name}");
        }
        let long = config_with(dir.path(), "timeout = 3601\n");
        assert_eq!(status_of(&long, "timeout"), CheckStatus::Fail);
        let lonely = config_with(dir.path(), "sub_appid = \"wxd678efe567de6999\"\n");
        assert_eq!(status_of(&lonely, "sub_appid"), CheckStatus::Fail);
        let own = config_with(dir.path(), "sub_mch_id = \"1900000109\"\n");
        assert_eq!(status_of(&own, "sub_mch_id"), CheckStatus::Warn);
        let plain = config_with(dir.path(), "");
        assert_eq!(status_of(&plain, "timeout"), CheckStatus::Ok);
        assert!(
            statuses(&plain)
                .iter()
                .all(|c| c.0 != "sub_mch_id" && c.0 != "sandbox")
        );
    }

    #[test]
    fn the_app_secret_and_login_base_are_checked_when_present() {
        let dir = tempfile::tempdir().unwrap();
        let plain = config_with(dir.path(), "");
        assert!(
            statuses(&plain)
                .iter()
                .all(|c| c.0 != "app_secret" && c.0 != "login_base")
        );
        let good = config_with(
            dir.path(),
            "app_secret_cmd = \"echo a5f1c3e0b2d94f6e8c7b1a0d9e8f7c6b\"\n\
             login_base = \"https://api.weixin.qq.com\"\n",
        );
        assert_eq!(status_of(&good, "app_secret"), CheckStatus::Ok);
        assert_eq!(status_of(&good, "login_base"), CheckStatus::Ok);
        let (name, profile) = good.profile(None).unwrap();
        let detail = check_profile(&good, name, profile, 0)
            .into_iter()
            .find(|c| c.name == "app_secret")
            .unwrap()
            .detail;
        // The command is named as written (the printer hides the loaded secret in it).
        assert!(detail.contains("sha256 "), "{detail}");
        let bad = config_with(
            dir.path(),
            "app_secret_env = \"WXPAY_OPS_TEST_NEVER_SET\"\nlogin_base = \"api.weixin.qq.com\"\n",
        );
        assert_eq!(status_of(&bad, "app_secret"), CheckStatus::Fail);
        assert_eq!(status_of(&bad, "login_base"), CheckStatus::Fail);
        let remote = config_with(dir.path(), "login_base = \"http://10.0.0.2:8787\"\n");
        assert_eq!(status_of(&remote, "login_base"), CheckStatus::Warn);
    }

    #[test]
    fn shapes_and_missing_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_with(
            dir.path(),
            "cert_pem = \"missing.pem\"\nnotify_url = \"https://a.example/n?x=1\"\n",
        );
        assert_eq!(status_of(&config, "certificate"), CheckStatus::Fail);
        assert_eq!(status_of(&config, "notify_url"), CheckStatus::Warn);
        let text = "[profiles.x]\nmch_id = \"12ab\"\nappid = \"wechat\"\napi_key_cmd = \"echo short\"\napi_base = \"ftp://x\"\n";
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let bad = Config::load(&path).unwrap();
        for name in ["mch_id", "appid", "api_key", "api_base"] {
            assert_eq!(status_of(&bad, name), CheckStatus::Fail, "{name}");
        }
        assert_eq!(status_of(&bad, "certificate"), CheckStatus::Warn);
    }

    /// The documentation's RSA key, its certificate (serial 5DEA10EF), and the real WeChat Pay
    /// public key, in `dir`.
    fn v3_files(dir: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let key = include_str!("../wechat/v3/testdata/doc_private_key.pem");
        std::fs::write(dir.join("apiclient_key.pem"), key).unwrap();
        let mode = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(dir.join("apiclient_key.pem"), mode).unwrap();
        let pair = rcgen::KeyPair::from_pem(key).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x5D, 0xEA, 0x10, 0xEF]));
        let cert = params.self_signed(&pair).unwrap().pem();
        std::fs::write(dir.join("v3_cert.pem"), cert).unwrap();
        let public = include_str!("../wechat/v3/testdata/wechatpay_public_key.pem");
        std::fs::write(dir.join("pub_key.pem"), public).unwrap();
    }

    #[test]
    fn api_v3_credentials_are_checked_when_the_profile_names_them() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            !statuses(&config_with(dir.path(), ""))
                .iter()
                .any(|c| c.0 == "cert_serial")
        );
        v3_files(dir.path());
        let public = "wechatpay_public_key_pem = \"pub_key.pem\"\n\
                      wechatpay_public_key_id = \"PUB_KEY_ID_0114232134912410000000000000\"\n";
        let good = config_with(
            dir.path(),
            &format!(
                "private_key_pem = \"apiclient_key.pem\"\ncert_serial = \"5dea10ef\"\n{public}"
            ),
        );
        for name in ["private_key_pem", "cert_serial", "wechatpay_public_key"] {
            assert_eq!(status_of(&good, name), CheckStatus::Ok, "{name}");
        }
        // The serial checked against cert_pem's certificate, whose key it is.
        let with_cert = |serial: &str| {
            config_with(
                dir.path(),
                &format!(
                    "private_key_pem = \"apiclient_key.pem\"\ncert_pem = \"v3_cert.pem\"\n\
                     cert_key_pem = \"apiclient_key.pem\"\ncert_serial = \"{serial}\"\n{public}"
                ),
            )
        };
        assert_eq!(
            status_of(&with_cert("5DEA10EF"), "cert_serial"),
            CheckStatus::Ok
        );
        assert_eq!(
            status_of(&with_cert("5DEA10EE"), "cert_serial"),
            CheckStatus::Fail
        );
        let bad_id = config_with(
            dir.path(),
            "private_key_pem = \"apiclient_key.pem\"\ncert_serial = \"1A\"\n\
             wechatpay_public_key_pem = \"pub_key.pem\"\nwechatpay_public_key_id = \"5DEA\"\n",
        );
        assert_eq!(
            status_of(&bad_id, "wechatpay_public_key"),
            CheckStatus::Fail
        );
        use std::os::unix::fs::PermissionsExt;
        let open = std::fs::Permissions::from_mode(0o644);
        std::fs::set_permissions(dir.path().join("apiclient_key.pem"), open).unwrap();
        assert_eq!(status_of(&good, "private_key_pem"), CheckStatus::Fail);
    }
}
