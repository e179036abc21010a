//! A client for a profile: its server and backup, the CA it trusts, its merchant certificate,
//! merchant, key and sign type. Every command that calls WeChat Pay starts from these options.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use super::certs::{CertError, usable_identity_from_p12, usable_identity_from_pem};
use super::check::{timeout_range, usable_timeout};
use super::{Config, Profile};
use crate::wechat::client::{
    ClientOptions, DEFAULT_API_BASE, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT,
};
use crate::wechat::login::DEFAULT_LOGIN_BASE;
use crate::wechat::transport::{Identity, TransportError, tls_config};
use crate::wechat::{ApiKey, is_http_url, shown_url};

/// Which requests present the merchant API certificate (mutual TLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MutualTls {
    /// None: the certificate is not even read.
    Never,
    /// `/secapi/*` requests (refunds).
    Secapi,
    /// Every request (fund-flow bills).
    Always,
}

/// Why a profile gives no client.
#[derive(Debug, Error)]
pub enum ClientSetupError {
    #[error("{:?} is not an http(s) URL", shown_url(url))]
    NotHttp { url: String },
    #[error("cannot read ca_cert {}: {source}", path.display())]
    ReadCa {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("ca_cert: {0}")]
    BadCa(TransportError),
    /// The command needs the certificate and the profile names none.
    #[error("no merchant API certificate")]
    NoCertificate,
    /// The certificate cannot be used: unreadable, expired, another merchant's ….
    #[error(transparent)]
    Certificate(CertError),
    /// The certificate and its key do not make a TLS identity.
    #[error(transparent)]
    Identity(TransportError),
}

fn plain_tls(ca: Option<&[u8]>) -> Result<rustls::ClientConfig, ClientSetupError> {
    tls_config(ca, None).map_err(ClientSetupError::BadCa)
}

/// A profile's timeout out of range: refused rather than silently replaced by the default.
#[derive(Debug, Error, PartialEq)]
#[error("{key} = {value} is not {}", timeout_range())]
pub struct BadTimeout {
    pub key: &'static str,
    pub value: f64,
}

impl Profile {
    /// The API host: the profile's api_base, else WeChat Pay's.
    pub fn effective_api_base(&self) -> &str {
        self.api_base.as_deref().unwrap_or(DEFAULT_API_BASE)
    }

    /// Where code2Session is called: the profile's login_base, else WeChat's; only http(s).
    pub fn effective_login_base(&self) -> Result<&str, ClientSetupError> {
        let base = self.login_base.as_deref().unwrap_or(DEFAULT_LOGIN_BASE);
        if is_http_url(base) {
            Ok(base)
        } else {
            Err(ClientSetupError::NotHttp {
                url: base.to_owned(),
            })
        }
    }

    /// The request and connection timeouts: each flag, else the profile's, else the default.
    pub fn timeouts(
        &self,
        request: Option<Duration>,
        connect: Option<Duration>,
    ) -> Result<(Duration, Duration), BadTimeout> {
        let pick = |key, flag: Option<Duration>, value: Option<f64>, default| match (flag, value) {
            (Some(flag), _) => Ok(flag),
            (None, None) => Ok(default),
            (None, Some(value)) if usable_timeout(value) => Ok(Duration::from_secs_f64(value)),
            (None, Some(value)) => Err(BadTimeout { key, value }),
        };
        Ok((
            pick("timeout", request, self.timeout, DEFAULT_TIMEOUT)?,
            pick(
                "connect_timeout",
                connect,
                self.connect_timeout,
                DEFAULT_CONNECT_TIMEOUT,
            )?,
        ))
    }
}

impl Config {
    /// The options of a client for `profile`, signing with `key`; `now` (seconds since 1970)
    /// is when the certificate must be valid. Timeouts, retries and the sub-merchant are the
    /// command's to set.
    pub fn client_options(
        &self,
        profile: &Profile,
        key: ApiKey,
        mutual_tls: MutualTls,
        now: i64,
    ) -> Result<ClientOptions, ClientSetupError> {
        let base = profile.effective_api_base();
        if let Some(url) = std::iter::once(base)
            .chain(profile.backup_api_base.as_deref())
            .find(|url| !is_http_url(url))
        {
            return Err(ClientSetupError::NotHttp {
                url: url.to_owned(),
            });
        }
        let ca = self.read_ca(profile)?;
        let tls = plain_tls(ca.as_deref())?;
        let identity = match mutual_tls {
            MutualTls::Never => None,
            MutualTls::Secapi | MutualTls::Always => Some(self.identity(profile, now)?),
        };
        let mutual = identity
            .map(|identity| tls_config(ca.as_deref(), Some(identity)))
            .transpose()
            .map_err(ClientSetupError::Identity)?;
        let (tls, secure_tls) = match mutual_tls {
            MutualTls::Always => (mutual, None),
            _ => (Some(tls), mutual),
        };
        Ok(ClientOptions {
            backup_base: profile.backup_api_base.clone(),
            tls,
            secure_tls,
            ..ClientOptions::new(
                base,
                &profile.mch_id,
                &profile.appid,
                key,
                profile.sign_type.unwrap_or_default(),
            )
        })
    }

    /// TLS without a client certificate, trusting the profile's ca_cert when it names one:
    /// for the calls outside the v2 client (code2Session, cloud pay).
    pub fn tls(&self, profile: &Profile) -> Result<rustls::ClientConfig, ClientSetupError> {
        plain_tls(self.read_ca(profile)?.as_deref())
    }

    /// The profile's ca_cert, read, when it names one: the roots that every request of the
    /// profile trusts instead of the system's.
    pub fn read_ca(&self, profile: &Profile) -> Result<Option<Vec<u8>>, ClientSetupError> {
        let Some(path) = &profile.ca_cert else {
            return Ok(None);
        };
        let path = self.resolve(path);
        let pem = std::fs::read(&path);
        Ok(Some(pem.map_err(|source| ClientSetupError::ReadCa {
            path,
            source,
        })?))
    }

    /// The merchant certificate of a profile: the PEM pair, else the .p12 (password: the
    /// mch_id unless set). Checked before anything is sent: an expired certificate, another
    /// merchant's or a key that is not its own fails the handshake with little to say why.
    fn identity(&self, profile: &Profile, now: i64) -> Result<Identity, ClientSetupError> {
        let mch_id = &profile.mch_id;
        let identity = match (&profile.cert_pem, &profile.cert_key_pem, &profile.cert_p12) {
            (Some(cert), Some(key), _) => {
                usable_identity_from_pem(&self.resolve(cert), &self.resolve(key), mch_id, now)
            }
            (_, _, Some(p12)) => {
                let password = profile.cert_p12_password.as_deref().unwrap_or(mch_id);
                usable_identity_from_p12(&self.resolve(p12), password, mch_id, now)
            }
            _ => return Err(ClientSetupError::NoCertificate),
        };
        identity.map_err(ClientSetupError::Certificate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(profile: &str) -> Config {
        let text = format!(
            "[profiles.p]\nmch_id = \"1900000100\"\nappid = \"wx8888888888888888\"\n\
             api_key_env = \"K\"\n{profile}"
        );
        let access = super::super::Access {
            mode: 0o600,
            uid: rustix::process::geteuid().as_raw(),
        };
        Config::parse(Path::new("/etc/wxpay/config.toml"), &text, Some(access)).unwrap()
    }

    fn options(profile: &str, mutual_tls: MutualTls) -> Result<ClientOptions, ClientSetupError> {
        let config = config(profile);
        let (_, profile) = config.profile(None).unwrap();
        let key = ApiKey::new("ServiceProviderKey0123456789abcd");
        config.client_options(profile, key, mutual_tls, 0)
    }

    #[test]
    fn a_flag_wins_over_the_profile_whose_timeout_wins_over_the_default() {
        let timeouts = |profile: &str, request, connect| {
            let config = config(profile);
            config.profile(None).unwrap().1.timeouts(request, connect)
        };
        let seconds = Duration::from_secs;
        assert_eq!(
            timeouts("", None, None),
            Ok((DEFAULT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT))
        );
        assert_eq!(
            timeouts("timeout = 30\nconnect_timeout = 2.5\n", None, None),
            Ok((seconds(30), Duration::from_millis(2500)))
        );
        assert_eq!(
            timeouts("timeout = 30\n", Some(seconds(7)), Some(seconds(1))),
            Ok((seconds(7), seconds(1)))
        );
        // An unusable value is refused, not replaced by the default, unless a flag stands in.
        assert_eq!(
            timeouts("connect_timeout = 0\n", None, None),
            Err(BadTimeout {
                key: "connect_timeout",
                value: 0.0
            })
        );
        assert!(timeouts("connect_timeout = 0\n", None, Some(seconds(1))).is_ok());
    }

    #[test]
    fn hosts_are_the_profile_s_else_wechat_s() {
        let config = config("login_base = \"api.weixin.qq.com\"\n");
        let profile = config.profile(None).unwrap().1;
        assert_eq!(profile.effective_api_base(), DEFAULT_API_BASE);
        assert!(matches!(
            profile.effective_login_base(),
            Err(ClientSetupError::NotHttp { url }) if url == "api.weixin.qq.com"
        ));
        let config = self::config("api_base = \"http://127.0.0.1:8787\"\n");
        let profile = config.profile(None).unwrap().1;
        assert_eq!(profile.effective_api_base(), "http://127.0.0.1:8787");
        assert_eq!(
            profile.effective_login_base().ok(),
            Some(DEFAULT_LOGIN_BASE)
        );
    }

    #[test]
    fn calls_outside_the_client_trust_the_profile_ca_cert() {
        let config = config("ca_cert = \"missing.pem\"\n");
        let result = config.tls(config.profile(None).unwrap().1);
        assert!(matches!(result, Err(ClientSetupError::ReadCa { .. })));
        let config = self::config("");
        assert!(config.tls(config.profile(None).unwrap().1).is_ok());
    }

    #[test]
    fn the_profile_gives_server_merchant_and_sign_type() {
        let options = options(
            "sign_type = \"HMAC-SHA256\"\nbackup_api_base = \"https://api2.example.com\"\n",
            MutualTls::Never,
        )
        .unwrap();
        assert_eq!(options.base, DEFAULT_API_BASE);
        assert_eq!(
            options.backup_base.as_deref(),
            Some("https://api2.example.com")
        );
        assert_eq!(options.mch_id, "1900000100");
        assert_eq!(options.sign_type, crate::wechat::SignType::HmacSha256);
        assert!(options.tls.is_some() && options.secure_tls.is_none());
        assert_eq!(options.sub_mch_id, None, "the command's to set");
    }

    #[test]
    fn what_the_profile_lacks_or_gets_wrong_is_named() {
        let error = options("backup_api_base = \"ftp://x\"\n", MutualTls::Never);
        assert!(matches!(error, Err(ClientSetupError::NotHttp { url }) if url == "ftp://x"));
        let error = options("ca_cert = \"missing.pem\"\n", MutualTls::Never);
        assert!(
            matches!(error, Err(ClientSetupError::ReadCa { path, .. }) if path.ends_with("missing.pem"))
        );
        // The certificate is read only when the command needs it.
        assert!(options("", MutualTls::Never).is_ok());
        assert!(matches!(
            options("", MutualTls::Secapi),
            Err(ClientSetupError::NoCertificate)
        ));
        assert!(matches!(
            options("cert_p12 = \"missing.p12\"\n", MutualTls::Always),
            Err(ClientSetupError::Certificate(CertError::Read { .. }))
        ));
    }
}
