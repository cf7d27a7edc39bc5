//! HTTPS and `wss://` served directly: the server's certificate and key ([`TlsIdentity`]), given to
//! [`Serve::tls`](crate::Serve::tls). Behind a TLS-terminating proxy (nginx, Caddy, a cloud load balancer) none of
//! this is needed: the proxy speaks TLS and forwards plain HTTP.
//!
//! ```no_run
//! # async fn demo(router: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
//! use grest_ws_server::{TlsIdentity, serve};
//!
//! let identity = TlsIdentity::from_pem_files("cert.pem", "key.pem")?;
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:443").await?;
//! serve(listener, router).tls(identity).await?;
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

/// The certificate chain and private key a server presents, as a rustls configuration. Cheap to clone.
#[derive(Clone)]
pub struct TlsIdentity(Arc<rustls::ServerConfig>);

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("alpn_protocols", &self.0.alpn_protocols)
            .finish_non_exhaustive()
    }
}

/// Why a [`TlsIdentity`] could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsIdentityError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("cannot read {what} from {path}: {reason}")]
    Pem {
        /// `certificates` or `private key`.
        what: &'static str,
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the pair (a key that does not match the certificate, an unsupported key type…).
    #[error("the certificate and key do not make a TLS identity: {0}")]
    Rustls(#[from] rustls::Error),
}

impl TlsIdentity {
    /// Reads the certificate chain (leaf first) from the PEM file `certificates` and the private key (PKCS#8,
    /// PKCS#1 or SEC1) from the PEM file `key`.
    pub fn from_pem_files(certificates: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, TlsIdentityError> {
        let pem_error = |what: &'static str, path: &Path, reason: String| TlsIdentityError::Pem {
            what,
            path: path.display().to_string(),
            reason,
        };
        let (certificates, key) = (certificates.as_ref(), key.as_ref());
        let chain = CertificateDer::pem_file_iter(certificates)
            .map_err(|e| pem_error("certificates", certificates, e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_error("certificates", certificates, e.to_string()))?;
        if chain.is_empty() {
            return Err(pem_error("certificates", certificates, "no CERTIFICATE block".into()));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error("private key", key, e.to_string()))?;
        TlsIdentity::new(chain, key)
    }

    /// Presents `chain` (leaf first) with `key`.
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Result<Self, TlsIdentityError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        // WebSocket upgrades are HTTP/1.1.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsIdentity(Arc::new(config)))
    }

    /// Uses a rustls configuration as it is (client certificates, several certificates by SNI…); give it the
    /// ALPN protocol `http/1.1` if clients ask for one.
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> Self {
        TlsIdentity(config)
    }

    /// The acceptor that runs the handshake of each connection.
    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.0.clone())
    }
}
