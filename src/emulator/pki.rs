//! A throwaway PKI shaped like WeChat's: a CA, a server certificate for loopback, and a
//! merchant API certificate whose common name is the mch_id, as a PEM pair and as a
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

pub struct MerchantPki {
    pub ca_cert_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
    pub client_p12: Vec<u8>,
}

/// The files `write_to` creates, named as the merchant console names them.
pub struct PkiPaths {
    pub ca_cert: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub client_p12: PathBuf,
}

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

impl MerchantPki {
    /// Certificates valid from a day ago for ten years.
    pub fn generate(mch_id: &str) -> Result<MerchantPki, PkiError> {
        let now = OffsetDateTime::now_utc();
        Self::generate_valid(
            mch_id,
            now - time::Duration::days(1),
            now + time::Duration::days(3650),
        )
    }

    pub fn generate_valid(
        mch_id: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<MerchantPki, PkiError> {
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

        let mut client_params = CertificateParams::default();
        client_params.distinguished_name = name(mch_id, "微信商户系统");
        client_params.not_before = not_before;
        client_params.not_after = not_after;
        let client_key = KeyPair::generate().map_err(generation)?;
        let client = client_params
            .signed_by(&client_key, &ca)
            .map_err(generation)?;

        let chain = PrivateKeyChain::new(
            Sha256::digest(client.der()).to_vec(),
            PrivateKey::from_der(&client_key.serialize_der()).map_err(generation)?,
            [
                Certificate::from_der(client.der()).map_err(generation)?,
                Certificate::from_der(ca.der()).map_err(generation)?,
            ],
        );
        let mut store = KeyStore::new();
        store.add_entry(mch_id, KeyStoreEntry::PrivateKeyChain(chain));
        // Legacy algorithms, as the merchant console's apiclient_cert.p12 uses.
        let client_p12 = store
            .writer(mch_id)
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .mac_algorithm(MacAlgorithm::HmacSha1)
            .write()
            .map_err(generation)?;

        Ok(MerchantPki {
            ca_cert_pem: ca.pem(),
            server_cert_pem: server.pem(),
            server_key_pem: server_key.serialize_pem(),
            client_cert_pem: client.pem(),
            client_key_pem: client_key.serialize_pem(),
            client_p12,
        })
    }

    /// Writes the CA and the merchant files into `dir` (created if needed), keys with mode 0600.
    pub fn write_to(&self, dir: &Path) -> Result<PkiPaths, PkiError> {
        std::fs::create_dir_all(dir).map_err(|source| PkiError::Write {
            path: dir.to_owned(),
            source,
        })?;
        let paths = PkiPaths {
            ca_cert: dir.join("ca_cert.pem"),
            client_cert: dir.join("apiclient_cert.pem"),
            client_key: dir.join("apiclient_key.pem"),
            client_p12: dir.join("apiclient_cert.p12"),
        };
        write_file(&paths.ca_cert, self.ca_cert_pem.as_bytes())?;
        write_file(&paths.client_cert, self.client_cert_pem.as_bytes())?;
        write_file(&paths.client_key, self.client_key_pem.as_bytes())?;
        write_file(&paths.client_p12, &self.client_p12)?;
        Ok(paths)
    }
}

fn name(common_name: &str, organization: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "CN");
    dn.push(DnType::OrganizationName, organization);
    dn.push(DnType::CommonName, common_name);
    dn
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    crate::fsutil::write_private(path, contents).map_err(|source| PkiError::Write {
        path: path.to_owned(),
        source,
    })
}
