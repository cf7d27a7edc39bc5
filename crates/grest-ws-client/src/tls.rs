//! `wss://`: how the client checks a server's certificate ([`TlsConfig`]), through rustls with the ring
//! provider.
//!
//! By default the client trusts the web-PKI roots (Mozilla's list, built in), which is what a public server's
//! certificate chains to. For a private CA or a self-signed development certificate, trust its PEM file with
//! [`TlsConfig::from_pem_file`]; for the operating system's store, [`TlsConfig::native_roots`] (the
//! `tls-native-roots` feature); for anything else (client certificates, pinned keys), build a
//! [`rustls::ClientConfig`] and pass it to [`TlsConfig::from_rustls`].
//!
//! ```no_run
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use grest_ws_client::{ClientConfig, TlsConfig};
//!
//! let config = ClientConfig::default().tls(TlsConfig::from_pem_file("dev-ca.pem")?);
//! # let _ = config; Ok(()) }
//! ```

use std::sync::{Arc, OnceLock};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use crate::TransportError;

/// How `wss://` connections check the server's certificate. Cheap to clone; the default trusts the web-PKI
/// roots.
#[derive(Clone)]
pub struct TlsConfig(Arc<rustls::ClientConfig>);

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("alpn_protocols", &self.0.alpn_protocols)
            .finish_non_exhaustive()
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig::webpki_roots()
    }
}

/// Why a [`TlsConfig`] could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// The PEM file could not be read, or holds no certificate.
    #[error("cannot read CA certificates from {path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// A certificate was refused as a trust anchor.
    #[error("not a usable CA certificate: {0}")]
    Certificate(#[from] rustls::Error),
    /// The operating system's store yielded no certificate.
    #[error("no CA certificates found in the operating system's store")]
    NoNativeRoots,
}

impl TlsConfig {
    /// Trusts the web-PKI roots (Mozilla's list, built into the `webpki-roots` crate): public servers.
    pub fn webpki_roots() -> Self {
        static WEBPKI: OnceLock<TlsConfig> = OnceLock::new();
        WEBPKI
            .get_or_init(|| {
                let roots = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                TlsConfig::with_roots(roots)
            })
            .clone()
    }

    /// Trusts exactly `roots`.
    pub fn with_roots(roots: rustls::RootCertStore) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        // The upgrade is an HTTP/1.1 request.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsConfig(Arc::new(config))
    }

    /// Trusts the CA certificates in the PEM file at `path` (and only those): a private CA, or a self-signed
    /// development certificate.
    pub fn from_pem_file(path: impl AsRef<std::path::Path>) -> Result<Self, TlsConfigError> {
        let path = path.as_ref();
        let pem_error = |reason: String| TlsConfigError::Pem {
            path: path.display().to_string(),
            reason,
        };
        let mut roots = rustls::RootCertStore::empty();
        for certificate in CertificateDer::pem_file_iter(path).map_err(|e| pem_error(e.to_string()))? {
            roots.add(certificate.map_err(|e| pem_error(e.to_string()))?)?;
        }
        if roots.is_empty() {
            return Err(pem_error("no CERTIFICATE block".into()));
        }
        Ok(TlsConfig::with_roots(roots))
    }

    /// Trusts the operating system's certificate store (read once, now).
    #[cfg(feature = "tls-native-roots")]
    pub fn native_roots() -> Result<Self, TlsConfigError> {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = rustls::RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(TlsConfigError::NoNativeRoots);
        }
        Ok(TlsConfig::with_roots(roots))
    }

    /// Uses a rustls configuration as it is (client certificates, custom verifiers…); set its ALPN to
    /// `http/1.1` if the server insists on ALPN.
    pub fn from_rustls(config: Arc<rustls::ClientConfig>) -> Self {
        TlsConfig(config)
    }

    /// Runs the TLS handshake over `tcp`, checking the certificate against `host`.
    pub(crate) async fn connect(
        &self,
        host: &str,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, TransportError> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| TransportError::Invalid(format!("{host:?} is not a valid TLS server name")))?;
        tokio_rustls::TlsConnector::from(self.0.clone())
            .connect(name, tcp)
            .await
            .map_err(|error| TransportError::Tls(tls_message(&error)))
    }
}

/// The handshake's failure in words, with what to do about an untrusted certificate.
fn tls_message(error: &std::io::Error) -> String {
    let text = error.to_string();
    let untrusted = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| {
            matches!(
                e,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
            )
        });
    if untrusted {
        format!(
            "{text} (the server's certificate is not signed by a trusted CA; trust yours with TlsConfig::from_pem_file)"
        )
    } else {
        text
    }
}
