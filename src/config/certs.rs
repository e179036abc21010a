//! Reading the merchant API certificate (PEM pair or PKCS#12) to check it before use.
//! File contents are parsed, never echoed: errors name the file and the problem only.

use std::path::{Path, PathBuf};

use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;
use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::wechat::transport::Identity;

/// Certificates and keys are a few kilobytes.
const MAX_CERT_FILE_BYTES: u64 = 256 * 1024;

#[derive(Debug, Error)]
pub enum CertError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is larger than 256 KiB; it is not a certificate file")]
    TooLarge(PathBuf),
    #[error("{path} holds no PEM {what}")]
    NoPem { path: PathBuf, what: &'static str },
    #[error("{path} holds a certificate that cannot be parsed")]
    BadCertificate { path: PathBuf },
    #[error("{path} cannot be opened: wrong password or not a PKCS#12 file")]
    BadP12 { path: PathBuf },
    #[error("{path} holds no private key with a certificate")]
    EmptyP12 { path: PathBuf },
    #[error("{path} is a DER (binary) certificate; WeChat Pay's PEM form is expected")]
    Der { path: PathBuf },
    #[error("{key} is not the private key of the certificate in {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("{path} holds a private key that cannot be read")]
    BadKey { path: PathBuf },
    #[error("the certificate in {path} expired on {date} (UTC)")]
    Expired { path: PathBuf, date: String },
    #[error("the certificate in {path} is valid only from {date} (UTC)")]
    NotYetValid { path: PathBuf, date: String },
    #[error("the certificate in {path} is issued for {issued_for:?}, not for mch_id {mch_id}")]
    OtherMerchant {
        path: PathBuf,
        issued_for: String,
        mch_id: String,
    },
}

impl CertInfo {
    /// Whether the certificate can open a connection for `mch_id` at `now` (seconds since
    /// 1970): inside its validity and issued for that merchant. WeChat Pay would refuse it in
    /// the handshake otherwise, and a handshake failure says little.
    pub fn check_usable(&self, path: &Path, mch_id: &str, now: i64) -> Result<(), CertError> {
        let date = |at: i64| {
            time::OffsetDateTime::from_unix_timestamp(at)
                .map(|t| t.date().to_string())
                .unwrap_or_else(|_| at.to_string())
        };
        if now > self.not_after {
            return Err(CertError::Expired {
                path: path.to_owned(),
                date: date(self.not_after),
            });
        }
        if now < self.not_before {
            return Err(CertError::NotYetValid {
                path: path.to_owned(),
                date: date(self.not_before),
            });
        }
        if !self.issued_for(mch_id) {
            return Err(CertError::OtherMerchant {
                path: path.to_owned(),
                issued_for: self.common_name.clone().unwrap_or_default(),
                mch_id: mch_id.to_owned(),
            });
        }
        Ok(())
    }
}

/// The client identity of a PEM pair, once the key is found to be the certificate's and the
/// certificate usable for `mch_id` at `now` (see [`CertInfo::check_usable`]).
pub fn usable_identity_from_pem(
    cert: &Path,
    key: &Path,
    mch_id: &str,
    now: i64,
) -> Result<Identity, CertError> {
    read_pem_pair(cert, key)?.check_usable(cert, mch_id, now)?;
    identity_from_pem(cert, key)
}

/// The client identity of a PKCS#12 file, checked as [`usable_identity_from_pem`] checks.
pub fn usable_identity_from_p12(
    path: &Path,
    password: &str,
    mch_id: &str,
    now: i64,
) -> Result<Identity, CertError> {
    let contents = read_p12(path, password)?;
    let key = PrivateKeyDer::Pkcs8(contents.key_der.clone().into());
    match key_matches(&contents.cert_der, key) {
        Some(true) => {}
        Some(false) => {
            return Err(CertError::KeyMismatch {
                cert: path.to_owned(),
                key: path.to_owned(),
            });
        }
        None => {
            return Err(CertError::BadKey {
                path: path.to_owned(),
            });
        }
    }
    contents.info.check_usable(path, mch_id, now)?;
    Ok(contents.identity())
}

/// What `config check` needs to know of a client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub common_name: Option<String>,
    pub serial: String,
    /// Validity bounds, seconds since 1970 (UTC).
    pub not_before: i64,
    pub not_after: i64,
}

impl CertInfo {
    fn from_der(der: &[u8], path: &Path) -> Result<CertInfo, CertError> {
        let bad = || CertError::BadCertificate {
            path: path.to_owned(),
        };
        let (_, cert) = X509Certificate::from_der(der).map_err(|_| bad())?;
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned);
        Ok(CertInfo {
            subject: cert.subject().to_string(),
            common_name,
            serial: crate::wechat::v3::serial_hex(cert.raw_serial()),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }

    /// WeChat issues the API certificate with the merchant number as its common name.
    pub fn issued_for(&self, mch_id: &str) -> bool {
        self.common_name.as_deref() == Some(mch_id)
    }
}

fn read_limited(path: &Path) -> Result<Vec<u8>, CertError> {
    let read_error = |source| CertError::Read {
        path: path.to_owned(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    if metadata.len() > MAX_CERT_FILE_BYTES {
        return Err(CertError::TooLarge(path.to_owned()));
    }
    std::fs::read(path).map_err(read_error)
}

fn pem_blocks(path: &Path) -> Result<Vec<Pem>, CertError> {
    let bytes = read_limited(path)?;
    Ok(Pem::iter_from_buffer(&bytes)
        .map_while(Result::ok)
        .collect())
}

/// The DER of the first certificate of a PEM file.
fn leaf_der(cert: &Path) -> Result<Vec<u8>, CertError> {
    let bytes = read_limited(cert)?;
    let leaf = Pem::iter_from_buffer(&bytes)
        .map_while(Result::ok)
        .find(|pem| pem.label == "CERTIFICATE");
    match leaf {
        Some(pem) => Ok(pem.contents),
        None if X509Certificate::from_der(&bytes).is_ok() => Err(CertError::Der {
            path: cert.to_owned(),
        }),
        None => Err(CertError::NoPem {
            path: cert.to_owned(),
            what: "CERTIFICATE block",
        }),
    }
}

/// Reads the first certificate of a PEM file.
pub fn read_certificate(cert: &Path) -> Result<CertInfo, CertError> {
    CertInfo::from_der(&leaf_der(cert)?, cert)
}

/// Whether `key` is the private key of the certificate `cert_der`: its public half must be
/// the certificate's subject public key.
fn key_matches(cert_der: &[u8], key: PrivateKeyDer<'static>) -> Option<bool> {
    crate::wechat::transport::install_crypto_provider();
    let signing_key = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key)
        .ok()?;
    let public = signing_key.public_key()?;
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    Some(public.as_ref() == cert.public_key().raw)
}

/// Reads the leaf certificate of a PEM file, and checks that the key file holds its key.
pub fn read_pem_pair(cert: &Path, key: &Path) -> Result<CertInfo, CertError> {
    let der = leaf_der(cert)?;
    let info = CertInfo::from_der(&der, cert)?;
    let identity = identity_from_pem(cert, key)?;
    match key_matches(&der, identity.key) {
        Some(true) => Ok(info),
        Some(false) => Err(CertError::KeyMismatch {
            cert: cert.to_owned(),
            key: key.to_owned(),
        }),
        None => Err(CertError::BadKey {
            path: key.to_owned(),
        }),
    }
}

/// The client identity of a PEM pair, for mutual TLS.
pub fn identity_from_pem(cert: &Path, key: &Path) -> Result<Identity, CertError> {
    let certs = pem_blocks(cert)?
        .into_iter()
        .filter(|pem| pem.label == "CERTIFICATE")
        .map(|pem| CertificateDer::from(pem.contents))
        .collect::<Vec<_>>();
    if certs.is_empty() {
        return Err(CertError::NoPem {
            path: cert.to_owned(),
            what: "CERTIFICATE block",
        });
    }
    let key_bytes = read_limited(key)?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|_| CertError::NoPem {
        path: key.to_owned(),
        what: "PRIVATE KEY block",
    })?;
    Ok(Identity {
        certs,
        key: key_der,
    })
}

impl P12Contents {
    pub fn identity(&self) -> Identity {
        Identity {
            certs: vec![CertificateDer::from(self.cert_der.clone())],
            key: PrivateKeyDer::Pkcs8(self.key_der.clone().into()),
        }
    }
}

/// The leaf certificate and private key (PKCS#8 DER) of a PKCS#12 file.
pub struct P12Contents {
    pub info: CertInfo,
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
}

pub fn read_p12(path: &Path, password: &str) -> Result<P12Contents, CertError> {
    let bytes = read_limited(path)?;
    let store =
        KeyStore::from_pkcs12(&bytes, password, Pkcs12ImportPolicy::Relaxed).map_err(|_| {
            CertError::BadP12 {
                path: path.to_owned(),
            }
        })?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| CertError::EmptyP12 {
            path: path.to_owned(),
        })?;
    let leaf = chain.certs().first().ok_or_else(|| CertError::EmptyP12 {
        path: path.to_owned(),
    })?;
    Ok(P12Contents {
        info: CertInfo::from_der(leaf.as_der(), path)?,
        cert_der: leaf.as_der().to_vec(),
        key_der: chain.key().as_der().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::pki::MerchantPki;

    #[test]
    fn reads_the_pem_pair_and_the_p12_of_a_merchant_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let paths = MerchantPki::generate("1900000109")
            .unwrap()
            .write_to(dir.path())
            .unwrap();
        let pem = read_pem_pair(&paths.client_cert, &paths.client_key).unwrap();
        assert!(pem.issued_for("1900000109"));
        assert!(!pem.issued_for("10000100"));
        assert!(pem.not_after > pem.not_before);
        let p12 = read_p12(&paths.client_p12, "1900000109").unwrap();
        assert_eq!(p12.info, pem);
        assert!(!p12.key_der.is_empty());
        assert!(matches!(
            read_p12(&paths.client_p12, "wrong"),
            Err(CertError::BadP12 { .. })
        ));
        // The key file is not a certificate, and the certificate holds no key.
        assert!(matches!(
            read_pem_pair(&paths.client_key, &paths.client_key),
            Err(CertError::NoPem { .. })
        ));
        assert!(matches!(
            read_pem_pair(&paths.client_cert, &paths.client_cert),
            Err(CertError::NoPem { .. })
        ));
        // Another merchant's key does not fit this certificate.
        let other_dir = tempfile::tempdir().unwrap();
        let other = MerchantPki::generate("1900000109")
            .unwrap()
            .write_to(other_dir.path())
            .unwrap();
        assert!(matches!(
            read_pem_pair(&paths.client_cert, &other.client_key),
            Err(CertError::KeyMismatch { .. })
        ));
        // A DER certificate is recognised and named as such.
        let der = dir.path().join("cert.der");
        std::fs::write(
            &der,
            CertificateDer::from_pem_file(&paths.client_cert)
                .unwrap()
                .as_ref(),
        )
        .unwrap();
        assert!(matches!(read_certificate(&der), Err(CertError::Der { .. })));
    }

    #[test]
    fn garbage_and_truncated_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let paths = MerchantPki::generate("1900000109")
            .unwrap()
            .write_to(dir.path())
            .unwrap();
        let p12 = std::fs::read(&paths.client_p12).unwrap();
        let pem = std::fs::read(&paths.client_cert).unwrap();
        let cut = dir.path().join("cut");
        for len in (0..p12.len()).step_by(37) {
            std::fs::write(&cut, &p12[..len]).unwrap();
            assert!(read_p12(&cut, "1900000109").is_err());
        }
        for len in (0..pem.len()).step_by(29) {
            std::fs::write(&cut, &pem[..len]).unwrap();
            let _ = read_pem_pair(&cut, &paths.client_key);
        }
        let missing = dir.path().join("missing.pem");
        assert!(matches!(
            read_pem_pair(&missing, &paths.client_key),
            Err(CertError::Read { .. })
        ));
    }
}
