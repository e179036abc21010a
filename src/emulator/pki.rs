//! A throwaway PKI shaped like WeChat's: a CA, a server certificate for loopback, and
//! merchant API certificates whose common name is the mch_id, as a PEM pair and as a
//! PKCS#12 file protected by the mch_id.

use std::io;
use std::path::{Path, PathBuf};

use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation failed: {0}")]
    Generate(String),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

fn generation<E: std::fmt::Display>(e: E) -> PkiError {
    PkiError::Generate(e.to_string())
}

/// The CA and the server certificate of the emulator's TLS listener.
pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

/// A merchant API certificate, in both forms WeChat issues.
pub struct ClientCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub p12: Vec<u8>,
}

/// Where `ClientCert::write_to` put the files, named as the merchant console names them.
pub struct ClientPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub p12: PathBuf,
}

impl Pki {
    /// Certificates valid from a day ago for ten years.
    pub fn generate() -> Result<Pki, PkiError> {
        let now = OffsetDateTime::now_utc();
        Self::generate_valid(
            now - time::Duration::days(1),
            now + time::Duration::days(3650),
        )
    }

    pub fn generate_valid(
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Pki, PkiError> {
        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = name("wxpay-ops emulator CA", "wxpay-ops emulator");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.not_before = not_before;
        ca_params.not_after = not_after;
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(generation)?)
            .map_err(generation)?;

        let mut server_params =
            CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
                .map_err(generation)?;
        server_params.distinguished_name = name("localhost", "wxpay-ops emulator");
        server_params.not_before = not_before;
        server_params.not_after = not_after;
        let server_key = KeyPair::generate().map_err(generation)?;
        let server = server_params
            .signed_by(&server_key, &ca)
            .map_err(generation)?;
        Ok(Pki {
            ca,
            not_before,
            not_after,
            server_cert_pem: server.pem(),
            server_key_pem: server_key.serialize_pem(),
        })
    }

    pub fn ca_cert_pem(&self) -> String {
        self.ca.pem()
    }

    /// Issues a merchant API certificate for `mch_id` (its common name).
    pub fn issue_client(&self, mch_id: &str) -> Result<ClientCert, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = name(mch_id, "微信商户系统");
        params.not_before = self.not_before;
        params.not_after = self.not_after;
        let key = KeyPair::generate().map_err(generation)?;
        let cert = params.signed_by(&key, &self.ca).map_err(generation)?;
        let chain = PrivateKeyChain::new(
            Sha256::digest(cert.der()).to_vec(),
            PrivateKey::from_der(&key.serialize_der()).map_err(generation)?,
            [
                Certificate::from_der(cert.der()).map_err(generation)?,
                Certificate::from_der(self.ca.der()).map_err(generation)?,
            ],
        );
        let mut store = KeyStore::new();
        store.add_entry(mch_id, KeyStoreEntry::PrivateKeyChain(chain));
        // Legacy algorithms, as the merchant console's apiclient_cert.p12 uses.
        let p12 = store
            .writer(mch_id)
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .mac_algorithm(MacAlgorithm::HmacSha1)
            .write()
            .map_err(generation)?;
        Ok(ClientCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            p12,
        })
    }

    pub fn write_ca(&self, dir: &Path) -> Result<PathBuf, PkiError> {
        create_dir(dir)?;
        let path = dir.join("ca_cert.pem");
        write_file(&path, self.ca_cert_pem().as_bytes())?;
        Ok(path)
    }
}

impl ClientCert {
    /// Writes apiclient_cert.pem, apiclient_key.pem and apiclient_cert.p12 (mode 0600).
    pub fn write_to(&self, dir: &Path) -> Result<ClientPaths, PkiError> {
        create_dir(dir)?;
        let paths = ClientPaths {
            cert: dir.join("apiclient_cert.pem"),
            key: dir.join("apiclient_key.pem"),
            p12: dir.join("apiclient_cert.p12"),
        };
        write_file(&paths.cert, self.cert_pem.as_bytes())?;
        write_file(&paths.key, self.key_pem.as_bytes())?;
        write_file(&paths.p12, &self.p12)?;
        Ok(paths)
    }
}

/// A CA and one merchant's certificate, for tests and `config check` fixtures.
pub struct MerchantPki {
    pub pki: Pki,
    pub client: ClientCert,
}

/// The files of `MerchantPki::write_to`, all in one folder.
pub struct PkiPaths {
    pub ca_cert: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub client_p12: PathBuf,
}

impl MerchantPki {
    pub fn generate(mch_id: &str) -> Result<MerchantPki, PkiError> {
        let pki = Pki::generate()?;
        let client = pki.issue_client(mch_id)?;
        Ok(MerchantPki { pki, client })
    }

    pub fn generate_valid(
        mch_id: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<MerchantPki, PkiError> {
        let pki = Pki::generate_valid(not_before, not_after)?;
        let client = pki.issue_client(mch_id)?;
        Ok(MerchantPki { pki, client })
    }

    pub fn write_to(&self, dir: &Path) -> Result<PkiPaths, PkiError> {
        let ca_cert = self.pki.write_ca(dir)?;
        let client = self.client.write_to(dir)?;
        Ok(PkiPaths {
            ca_cert,
            client_cert: client.cert,
            client_key: client.key,
            client_p12: client.p12,
        })
    }
}

fn name(common_name: &str, organization: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "CN");
    dn.push(DnType::OrganizationName, organization);
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Creates a folder for private keys as 0700, whatever the umask (an existing folder is used
/// as it is: `emulator serve` checks its `--cert-dir` itself).
pub(crate) fn create_dir(dir: &Path) -> Result<(), PkiError> {
    crate::fsutil::create_private_dir_all(dir).map_err(|e| PkiError::Write {
        path: dir.to_owned(),
        source: e.into(),
    })
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    crate::fsutil::write_private(path, contents).map_err(|e| PkiError::Write {
        path: path.to_owned(),
        source: e.into(),
    })
}
