//! TLS for talking to WeChat Pay (or the emulator): trusted roots and, for `/secapi/*` and
//! fund-flow bills, the merchant API certificate as client identity.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TransportError {
    #[error("the CA certificate is not a PEM certificate")]
    BadCa,
    #[error("the client certificate and key do not fit together: {0}")]
    BadIdentity(String),
}

/// A client certificate chain and its private key.
pub struct Identity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// Selects ring as rustls's crypto provider, once per process; every TLS user calls this
/// before building a client or server.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An HTTP client for a one-off call (code2Session, cloud pay): `tls` when given (a custom
/// CA), else reqwest's own roots, and the call's time limits.
pub fn one_off_client(
    tls: Option<rustls::ClientConfig>,
    timeout: std::time::Duration,
    connect_timeout: std::time::Duration,
) -> reqwest::Result<reqwest::Client> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(connect_timeout);
    if let Some(tls) = tls {
        builder = builder.tls_backend_preconfigured(tls);
    }
    builder.build()
}

/// A rustls client configuration. With `ca_pem`, only that CA is trusted (the emulator's);
/// otherwise the system's roots.
pub fn tls_config(
    ca_pem: Option<&[u8]>,
    identity: Option<Identity>,
) -> Result<rustls::ClientConfig, TransportError> {
    install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(pem) {
                roots
                    .add(cert.map_err(|_| TransportError::BadCa)?)
                    .map_err(|_| TransportError::BadCa)?;
                added += 1;
            }
            if added == 0 {
                return Err(TransportError::BadCa);
            }
        }
        None => {
            // Unreadable system certificates are skipped; a missing root then shows as a
            // handshake error naming the server.
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(Arc::new(roots));
    match identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.certs, identity.key)
            .map_err(|e| TransportError::BadIdentity(e.to_string())),
        None => Ok(builder.with_no_client_auth()),
    }
}
