//! Platform certificates (平台证书, B2's legacy mode): `/v3/certificates` lists them, each
//! encrypted with the merchant's APIv3 key (B3, associated_data `certificate`); a merchant
//! without the WeChat Pay public key checks answers with them, and fetches them again when an
//! answer names a serial it does not have. They are cached as one PEM file per serial.

use std::path::{Path, PathBuf};

use serde_json::Value;
use thiserror::Error;
use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::VerifyKey;
use super::notify::{DecryptError, Resource, decrypt};
use crate::fsutil::{FileError, create_private_dir_all, write_private};
use crate::wechat::ApiV3Key;

/// A platform certificate as `/v3/certificates` gives it, decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformCert {
    /// Uppercase hex, as `Wechatpay-Serial` names it.
    pub serial: String,
    pub effective_time: String,
    pub expire_time: String,
    pub pem: String,
}

#[derive(Debug, Error)]
pub enum CertsError {
    #[error("the answer has no data list of certificates")]
    NoData,
    #[error("certificate {index} of the answer has no {field}")]
    Missing { index: usize, field: &'static str },
    #[error("certificate {serial}: {source}")]
    Decrypt {
        serial: String,
        source: DecryptError,
    },
    #[error("certificate {serial} does not read as one RSA certificate")]
    NotCertificate { serial: String },
    #[error(
        "certificate {named} decrypts to the certificate of serial {inside}: it is not the one named"
    )]
    WrongSerial { named: String, inside: String },
    #[error(transparent)]
    File(#[from] FileError),
}

/// Reads `/v3/certificates`' answer: each certificate decrypted with the APIv3 key (which is
/// what makes it authentic: AES-GCM opens only under the key that sealed it) and checked to
/// be the certificate its `serial_no` names.
pub fn read_answer(answer: &Value, apiv3_key: &ApiV3Key) -> Result<Vec<PlatformCert>, CertsError> {
    let data = answer
        .get("data")
        .and_then(Value::as_array)
        .ok_or(CertsError::NoData)?;
    let mut certs = Vec::new();
    for (index, entry) in data.iter().enumerate() {
        let text = |field: &'static str| {
            entry
                .get(field)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or(CertsError::Missing { index, field })
        };
        let serial = text("serial_no")?.to_ascii_uppercase();
        let resource: Resource = entry
            .get("encrypt_certificate")
            .and_then(|e| serde_json::from_value(e.clone()).ok())
            .ok_or(CertsError::Missing {
                index,
                field: "encrypt_certificate",
            })?;
        let pem = decrypt(apiv3_key, &resource).map_err(|source| CertsError::Decrypt {
            serial: serial.clone(),
            source,
        })?;
        // One certificate per entry: a PEM of several would slip others in under its name.
        let inside = VerifyKey::certificates(pem.as_bytes())
            .ok()
            .filter(|keys| keys.len() == 1)
            .and_then(|keys| keys.into_iter().next())
            .ok_or_else(|| CertsError::NotCertificate {
                serial: serial.clone(),
            })?;
        if inside.serial != serial {
            return Err(CertsError::WrongSerial {
                named: serial,
                inside: inside.serial,
            });
        }
        certs.push(PlatformCert {
            serial,
            effective_time: text("effective_time").unwrap_or_default(),
            expire_time: text("expire_time").unwrap_or_default(),
            pem,
        });
    }
    Ok(certs)
}

/// Where a certificate is cached: `<dir>/<serial>.pem`.
pub fn cached_path(dir: &Path, serial: &str) -> PathBuf {
    dir.join(format!("{serial}.pem"))
}

/// Writes the certificates into `dir` (created 0700), each in its own file, mode 0600;
/// whether each was new there.
pub fn cache(dir: &Path, certs: &[PlatformCert]) -> Result<Vec<bool>, CertsError> {
    create_private_dir_all(dir)?;
    let mut new = Vec::new();
    for cert in certs {
        let path = cached_path(dir, &cert.serial);
        new.push(!path.exists());
        write_private(&path, cert.pem.as_bytes())?;
    }
    Ok(new)
}

impl CertInfo {
    /// Whether `now` (Unix seconds) is within the certificate's validity.
    pub fn valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now < self.not_after
    }
}

/// Whether a cached file's name is `<serial>.pem` in WeChat Pay's spelling: only such files
/// are read, and only when the certificate inside has that serial.
pub fn is_cache_name(path: &Path) -> Option<&str> {
    let name = path.file_name()?.to_str()?.strip_suffix(".pem")?;
    super::is_serial(name).then_some(name)
}

/// A certificate's serial and validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub serial: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

/// What the first certificate of a PEM says of itself; None when there is none.
pub fn describe(pem: &[u8]) -> Option<CertInfo> {
    let block = Pem::iter_from_buffer(pem)
        .map_while(Result::ok)
        .find(|block| block.label == "CERTIFICATE")?;
    let (_, cert) = X509Certificate::from_der(&block.contents).ok()?;
    let validity = cert.validity();
    Some(CertInfo {
        serial: super::serial_hex(cert.tbs_certificate.raw_serial()),
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::v3::notify::encrypt;

    const KEY: &str = "EmulatorV3Key0123456789abcdefABC";

    fn answer(serial: &str, pem: &str, key: &ApiV3Key) -> Value {
        let sealed = encrypt(key, "certificate", "certificate", pem).unwrap();
        serde_json::json!({"data": [{
            "serial_no": serial,
            "effective_time": "2026-01-01T08:00:00+08:00",
            "expire_time": "2126-01-01T08:00:00+08:00",
            "encrypt_certificate": sealed,
        }]})
    }

    #[test]
    fn a_certificate_is_read_only_under_the_key_and_as_the_one_named() {
        let pem = include_str!("../../emulator/keys/wechatpay_platform_cert_1.pem");
        let serial = "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC";
        let key = ApiV3Key::new(KEY);
        let certs = read_answer(&answer(&serial.to_lowercase(), pem, &key), &key).unwrap();
        assert_eq!(certs[0].serial, serial);
        assert_eq!(certs[0].pem, pem);
        let other = ApiV3Key::new("EmulatorV3Key0123456789abcdefXYZ");
        assert!(matches!(
            read_answer(&answer(serial, pem, &key), &other),
            Err(CertsError::Decrypt { .. })
        ));
        assert!(matches!(
            read_answer(&answer("0123ABCD", pem, &key), &key),
            Err(CertsError::WrongSerial { .. })
        ));
        let described = describe(pem.as_bytes()).unwrap();
        assert_eq!(described.serial, serial);
        assert_eq!(described.not_before, 1_767_225_600);
    }
}
