//! A profile's API v3 credentials: the merchant's private key and certificate serial, which
//! sign requests and pay parameters, and the WeChat Pay public key, which checks answers.
//! Key files are read, never echoed: errors name the file and the problem only.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::certs::{CertError, read_certificate};
use super::{Config, Profile};
use crate::wechat::v3::certs::{self as platform, CertInfo};
use crate::wechat::v3::{KeyError, MerchantKey, VerifyKey};

/// Key files are a few kilobytes.
const MAX_KEY_FILE_BYTES: u64 = 256 * 1024;

#[derive(Debug, Error)]
pub enum V3Error {
    #[error("profile {profile} has no merchant private key for API v3")]
    NoPrivateKey { profile: String },
    #[error("profile {profile} has no merchant certificate serial for API v3")]
    NoSerial { profile: String },
    #[error(
        "cert_serial {0:?} is not a certificate serial (hex digits, as the merchant console shows it)"
    )]
    BadSerial(String),
    #[error(
        "profile {profile} has no WeChat Pay public key, and no platform certificates, to check answers with"
    )]
    NoPublicKey { profile: String },
    #[error(
        "wechatpay_public_key_id {0:?} is not a WeChat Pay public key ID (PUB_KEY_ID_ and digits)"
    )]
    BadKeyId(String),
    #[error(
        "{path} is readable by other users (mode {mode:o}) and holds the merchant's private key"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is larger than 256 KiB; it is not a key file")]
    TooLarge(PathBuf),
    #[error("{0} is not a regular file; a key is a PEM file")]
    NotAFile(PathBuf),
    #[error("{path}: {problem}")]
    Key { path: PathBuf, problem: KeyError },
    #[error(transparent)]
    Certificate(#[from] CertError),
}

/// What signs API v3 requests and pay parameters for a merchant.
pub struct MerchantSigner {
    pub mch_id: String,
    /// The merchant certificate's serial, uppercase hex (`serial_no` of the header).
    pub serial: String,
    pub key: MerchantKey,
}

/// The file of a private key, which no one but its owner may read (as ssh has it).
pub fn read_private_key(path: &Path) -> Result<MerchantKey, V3Error> {
    let bytes = read_limited(path, true)?;
    MerchantKey::from_pem(&bytes).map_err(|problem| V3Error::Key {
        path: path.to_owned(),
        problem,
    })
}

/// The file of the WeChat Pay public key, named by its ID.
pub fn read_public_key(path: &Path, key_id: &str) -> Result<VerifyKey, V3Error> {
    if !is_public_key_id(key_id) {
        return Err(V3Error::BadKeyId(key_id.to_owned()));
    }
    let bytes = read_limited(path, false)?;
    VerifyKey::public_key(&bytes, key_id).map_err(|problem| V3Error::Key {
        path: path.to_owned(),
        problem,
    })
}

/// Every platform certificate of a PEM file, named by its serial.
pub fn read_platform_certificates(path: &Path) -> Result<Vec<VerifyKey>, V3Error> {
    let bytes = read_limited(path, false)?;
    VerifyKey::certificates(&bytes).map_err(|problem| V3Error::Key {
        path: path.to_owned(),
        problem,
    })
}

/// A certificate file's bytes, bounded as every key file's are.
pub fn read_certificate_file(path: &Path) -> Result<Vec<u8>, V3Error> {
    read_limited(path, false)
}

/// A `*.pem` file of the platform-certificate cache, and whether answers are checked with it.
pub struct CachedFile {
    pub path: PathBuf,
    /// What the certificate inside says of itself; None when there is none.
    pub info: Option<CertInfo>,
    /// Checked with: named `<serial>.pem` after the certificate inside, and valid now (an
    /// expired or not yet valid platform certificate checks nothing, as WeChat's SDKs have
    /// it; a misnamed file could slip a certificate in under another's name).
    pub used: bool,
    bytes: Vec<u8>,
}

/// Every `*.pem` file of the cache, in name order; none when the folder does not exist yet.
pub fn read_platform_cache(dir: &Path) -> Result<Vec<CachedFile>, V3Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(V3Error::Read {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "pem"))
        .collect();
    paths.sort();
    let now = crate::time::now().unix_timestamp();
    let mut files = Vec::new();
    for path in paths {
        let bytes = read_limited(&path, false)?;
        let info = platform::describe(&bytes);
        let named = platform::is_cache_name(&path);
        let used = info
            .as_ref()
            .is_some_and(|info| named == Some(info.serial.as_str()) && info.valid_at(now));
        files.push(CachedFile {
            path,
            info,
            used,
            bytes,
        });
    }
    Ok(files)
}

/// The platform certificates answers are checked with: those of the cache it uses.
pub fn read_platform_cert_dir(dir: &Path) -> Result<Vec<VerifyKey>, V3Error> {
    let mut keys = Vec::new();
    for file in read_platform_cache(dir)?
        .into_iter()
        .filter(|file| file.used)
    {
        let serial = file.info.map(|info| info.serial).unwrap_or_default();
        let found = VerifyKey::certificates(&file.bytes).map_err(|problem| V3Error::Key {
            path: file.path.clone(),
            problem,
        })?;
        keys.extend(found.into_iter().filter(|key| key.serial == serial).take(1));
    }
    Ok(keys)
}

/// `PUB_KEY_ID_` and digits, as the merchant console names the WeChat Pay public key.
pub fn is_public_key_id(text: &str) -> bool {
    text.strip_prefix("PUB_KEY_ID_")
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// A certificate serial as WeChat Pay writes it: uppercase hex.
pub fn serial_of(text: &str) -> Result<String, V3Error> {
    let serial = text.trim().to_ascii_uppercase();
    if !crate::wechat::v3::is_serial(&serial) {
        return Err(V3Error::BadSerial(text.to_owned()));
    }
    Ok(serial)
}

impl Config {
    /// `private_key_pem`, else `cert_key_pem`: the same apiclient_key.pem signs v3 requests
    /// and opens v2's TLS.
    pub fn merchant_key(&self, name: &str, profile: &Profile) -> Result<MerchantKey, V3Error> {
        let path = (profile.private_key_pem.as_ref())
            .or(profile.cert_key_pem.as_ref())
            .ok_or_else(|| V3Error::NoPrivateKey {
                profile: name.to_owned(),
            })?;
        read_private_key(&self.resolve(path))
    }

    /// `cert_serial`, else the serial of the certificate in `cert_pem`.
    pub fn merchant_serial(&self, name: &str, profile: &Profile) -> Result<String, V3Error> {
        match (&profile.cert_serial, &profile.cert_pem) {
            (Some(serial), _) => serial_of(serial),
            (None, Some(cert)) => Ok(read_certificate(&self.resolve(cert))?.serial),
            (None, None) => Err(V3Error::NoSerial {
                profile: name.to_owned(),
            }),
        }
    }

    /// The keys WeChat Pay's answers are checked with: the public key the profile names
    /// (`wechatpay_public_key_pem` with `wechatpay_public_key_id`), and the platform
    /// certificates cached in `platform_cert_dir` (none yet is no error: the first answer
    /// fetches them).
    pub fn wechatpay_keys(&self, name: &str, profile: &Profile) -> Result<Vec<VerifyKey>, V3Error> {
        let mut keys = match (
            &profile.wechatpay_public_key_pem,
            &profile.wechatpay_public_key_id,
        ) {
            (Some(path), Some(id)) => vec![read_public_key(&self.resolve(path), id)?],
            _ if profile.platform_cert_dir.is_some() => Vec::new(),
            _ => {
                return Err(V3Error::NoPublicKey {
                    profile: name.to_owned(),
                });
            }
        };
        if let Some(dir) = &profile.platform_cert_dir {
            keys.extend(read_platform_cert_dir(&self.resolve(dir))?);
        }
        Ok(keys)
    }
}

fn read_limited(path: &Path, private: bool) -> Result<Vec<u8>, V3Error> {
    let read_error = |source| V3Error::Read {
        path: path.to_owned(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    // A device or a pipe has no size to check, and may never end.
    if !metadata.is_file() {
        return Err(V3Error::NotAFile(path.to_owned()));
    }
    if private && metadata.mode() & 0o077 != 0 {
        return Err(V3Error::TooOpen {
            path: path.to_owned(),
            mode: metadata.mode() & 0o777,
        });
    }
    if metadata.len() > MAX_KEY_FILE_BYTES {
        return Err(V3Error::TooLarge(path.to_owned()));
    }
    // The file may have grown since it was looked at.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_KEY_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(V3Error::TooLarge(path.to_owned()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_certificates_named_by_their_serial_are_read_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let first = include_str!("../emulator/keys/wechatpay_platform_cert_1.pem");
        let serial = "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC";
        std::fs::write(dir.path().join(format!("{serial}.pem")), first).unwrap();
        // Named as the second certificate, holding the first; and not named by a serial.
        let second = "3C21F8A6B09E5D47C2A0E9F4D1B8C6A57E3F2D19";
        std::fs::write(dir.path().join(format!("{second}.pem")), first).unwrap();
        std::fs::write(dir.path().join("apiclient_cert.pem"), first).unwrap();
        let keys = read_platform_cert_dir(dir.path()).unwrap();
        let serials: Vec<&str> = keys.iter().map(|k| k.serial.as_str()).collect();
        assert_eq!(serials, [serial]);
        assert!(
            read_platform_cert_dir(&dir.path().join("absent"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn key_ids_and_serials_are_checked() {
        assert!(is_public_key_id("PUB_KEY_ID_0114232134912410000000000000"));
        assert!(!is_public_key_id("PUB_KEY_ID_"));
        assert!(!is_public_key_id(
            "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC"
        ));
        assert_eq!(serial_of(" 5dea10ef ").unwrap(), "5DEA10EF");
        assert!(serial_of("5DEA-10EF").is_err());
        assert!(serial_of("").is_err());
    }

    #[test]
    fn an_open_private_key_is_refused_and_a_closed_one_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apiclient_key.pem");
        std::fs::write(
            &path,
            include_str!("../wechat/v3/testdata/doc_private_key.pem"),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            read_private_key(&path),
            Err(V3Error::TooOpen { mode: 0o644, .. })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(read_private_key(&path).is_ok());
        // The error names the file, never its contents.
        std::fs::write(
            &path,
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let error = read_private_key(&path).err().unwrap().to_string();
        assert!(
            error.contains("apiclient_key.pem") && !error.contains("c2VjcmV0"),
            "{error}"
        );
    }
}
