//! A client for a profile: its server and backup, the CA it trusts, its merchant certificate,
//! merchant, key and sign type. Every command that calls WeChat Pay starts from these options.

use std::path::PathBuf;

use thiserror::Error;

use super::certs::{CertError, usable_identity_from_p12, usable_identity_from_pem};
use super::{Config, Profile};
use crate::wechat::client::{ClientOptions, DEFAULT_API_BASE};
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
        let base = profile.api_base.as_deref().unwrap_or(DEFAULT_API_BASE);
        if let Some(url) = std::iter::once(base)
            .chain(profile.backup_api_base.as_deref())
            .find(|url| !is_http_url(url))
        {
            return Err(ClientSetupError::NotHttp {
                url: url.to_owned(),
            });
        }
        let ca = self.read_ca(profile)?;
        let tls = tls_config(ca.as_deref(), None).map_err(ClientSetupError::BadCa)?;
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

    fn options(profile: &str, mutual_tls: MutualTls) -> Result<ClientOptions, ClientSetupError> {
        let text = format!(
            "[profiles.p]\nmch_id = \"1900000100\"\nappid = \"wx8888888888888888\"\n\
             api_key_env = \"K\"\n{profile}"
        );
        let access = super::super::Access {
            mode: 0o600,
            uid: rustix::process::geteuid().as_raw(),
        };
        let config = Config::parse(Path::new("/etc/wxpay/config.toml"), &text, Some(access));
        let config = config.unwrap();
        let (_, profile) = config.profile(None).unwrap();
        let key = ApiKey::new("ServiceProviderKey0123456789abcd");
        config.client_options(profile, key, mutual_tls, 0)
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
