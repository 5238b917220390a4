//! The server side: [`TlsServerOptions`] → [`TlsAcceptor`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::SingleCertAndKey;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};

use super::error::{Peer, TlsError};
use super::{crypto_provider, pem, TlsVersion, ALPN_HTTP11};

/// How a server authenticates itself and, optionally, its clients.
///
/// ```
/// use ws_net::tls::{TlsServerOptions, TlsVersion};
///
/// let options = TlsServerOptions::new("/etc/ws/cert.pem", "/etc/ws/key.pem")
///     .client_ca("/etc/ws/clients-ca.pem")
///     .min_version(TlsVersion::Tls13);
/// // options.build() loads the files and fails if any is missing or unusable.
/// # let _ = options;
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct TlsServerOptions {
    /// PEM file with the server's certificate chain, its own certificate first.
    pub cert_chain: PathBuf,
    /// PEM file with the private key: PKCS#8, PKCS#1 or SEC1, plain or encrypted (see the
    /// [module docs](crate::tls) for the encryptions read).
    pub key: PathBuf,
    /// Password for an encrypted key (`ENCRYPTED PRIVATE KEY`, or a block with a
    /// `Proc-Type: 4,ENCRYPTED` header); ignored for unencrypted keys.
    pub key_password: Option<String>,
    /// When set, clients must present a certificate issued by one of these roots (a PEM file
    /// or a directory of PEM files).
    pub client_ca: Option<PathBuf>,
    /// The lowest TLS version to negotiate.
    pub min_version: TlsVersion,
}

impl fmt::Debug for TlsServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServerOptions")
            .field("cert_chain", &self.cert_chain)
            .field("key", &self.key)
            // Debug output ends up in logs; the password must not.
            .field(
                "key_password",
                &self.key_password.as_ref().map(|_| "<redacted>"),
            )
            .field("client_ca", &self.client_ca)
            .field("min_version", &self.min_version)
            .finish()
    }
}

impl TlsServerOptions {
    /// Options for a server with this certificate chain and key, TLS 1.2 and 1.3, no client
    /// authentication.
    pub fn new(cert_chain: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        TlsServerOptions {
            cert_chain: cert_chain.into(),
            key: key.into(),
            key_password: None,
            client_ca: None,
            min_version: TlsVersion::default(),
        }
    }

    /// Sets the password of an encrypted key.
    #[must_use]
    pub fn key_password(mut self, password: impl Into<String>) -> Self {
        self.key_password = Some(password.into());
        self
    }

    /// Requires clients to present a certificate issued by the roots in `path` (a PEM file or
    /// a directory of PEM files).
    #[must_use]
    pub fn client_ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.client_ca = Some(path.into());
        self
    }

    /// Sets the lowest TLS version to negotiate.
    #[must_use]
    pub fn min_version(mut self, version: TlsVersion) -> Self {
        self.min_version = version;
        self
    }

    /// Loads the configured files and builds the acceptor.
    ///
    /// # Errors
    ///
    /// A [`TlsError`] naming the file and the problem: missing, not PEM, without certificates, a
    /// key encrypted without a password or with the wrong one, a key that does not match the
    /// certificate.
    pub fn build(&self) -> Result<TlsAcceptor, TlsError> {
        let certified = pem::load_certified_key(
            &self.cert_chain,
            &self.key,
            self.key_password.as_deref(),
            &crypto_provider(),
        )?;
        let client_verifier = self.client_ca.as_deref().map(client_verifier).transpose()?;
        TlsAcceptor::assemble(
            Arc::new(SingleCertAndKey::from(certified)),
            vec![ALPN_HTTP11.to_vec()],
            client_verifier,
            self.min_version,
        )
    }
}

/// Accepts TLS connections over any byte stream. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    client_verifier: Option<Arc<dyn ClientCertVerifier>>,
    min_version: TlsVersion,
}

impl TlsAcceptor {
    /// An acceptor presenting the chain in `cert_chain` with the unencrypted key in `key`.
    ///
    /// ```
    /// use std::path::Path;
    /// use ws_net::tls::TlsAcceptor;
    ///
    /// match TlsAcceptor::from_pem_files(Path::new("cert.pem"), Path::new("key.pem")) {
    ///     Ok(acceptor) => println!("ready: {acceptor:?}"),
    ///     Err(err) if err.is_file_missing() => eprintln!("{err}"),
    ///     Err(err) => eprintln!("bad TLS setup: {err}"),
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`TlsServerOptions::build`].
    pub fn from_pem_files(cert_chain: &Path, key: &Path) -> Result<Self, TlsError> {
        TlsServerOptions::new(cert_chain, key).build()
    }

    /// Requires every client to present a certificate issued by a root in `ca` (a PEM file or
    /// a directory of PEM files); connections without one fail in [`accept`](Self::accept)
    /// with [`TlsError::ClientCertificateMissing`].
    ///
    /// # Errors
    ///
    /// A [`TlsError`] when `ca` is missing, unreadable or holds no certificate.
    pub fn require_client_auth(self, ca: &Path) -> Result<Self, TlsError> {
        let verifier = client_verifier(ca)?;
        self.rebuild(Some(verifier), self.min_version)
    }

    /// Sets the lowest TLS version to negotiate.
    ///
    /// # Errors
    ///
    /// [`TlsError::Config`] when the crypto provider cannot serve that version.
    pub fn with_min_version(self, min_version: TlsVersion) -> Result<Self, TlsError> {
        self.rebuild(self.client_verifier.clone(), min_version)
    }

    /// Wraps a rustls configuration built elsewhere, used as is.
    ///
    /// [`require_client_auth`](Self::require_client_auth) and
    /// [`with_min_version`](Self::with_min_version) on such an acceptor build a fresh
    /// configuration that keeps only its certificate resolver and ALPN protocols.
    pub fn from_config(config: Arc<ServerConfig>) -> Self {
        TlsAcceptor {
            config,
            client_verifier: None,
            min_version: TlsVersion::default(),
        }
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Runs the TLS handshake over `io`, as the server.
    ///
    /// # Errors
    ///
    /// A [`TlsError`] naming what failed: the client's certificate (missing, unknown issuer,
    /// expired), a version mismatch, an alert from the client, a transport error.
    pub async fn accept<S>(&self, io: S) -> Result<tokio_rustls::server::TlsStream<S>, TlsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
            .accept(io)
            .await
            .map_err(|err| TlsError::from_io(err, Peer::Client))
    }

    fn rebuild(
        &self,
        client_verifier: Option<Arc<dyn ClientCertVerifier>>,
        min_version: TlsVersion,
    ) -> Result<Self, TlsError> {
        Self::assemble(
            self.config.cert_resolver.clone(),
            self.config.alpn_protocols.clone(),
            client_verifier,
            min_version,
        )
    }

    fn assemble(
        cert_resolver: Arc<dyn ResolvesServerCert>,
        alpn_protocols: Vec<Vec<u8>>,
        client_verifier: Option<Arc<dyn ClientCertVerifier>>,
        min_version: TlsVersion,
    ) -> Result<Self, TlsError> {
        let builder = ServerConfig::builder_with_provider(crypto_provider())
            .with_protocol_versions(min_version.protocol_versions())
            .map_err(TlsError::Config)?;
        let builder = match &client_verifier {
            Some(verifier) => builder.with_client_cert_verifier(verifier.clone()),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(cert_resolver);
        config.alpn_protocols = alpn_protocols;
        Ok(TlsAcceptor {
            config: Arc::new(config),
            client_verifier,
            min_version,
        })
    }
}

impl From<Arc<ServerConfig>> for TlsAcceptor {
    fn from(config: Arc<ServerConfig>) -> Self {
        TlsAcceptor::from_config(config)
    }
}

fn client_verifier(ca: &Path) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let roots = pem::load_roots(ca)?;
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crypto_provider())
        .build()
        .map_err(|err| TlsError::Config(rustls::Error::General(err.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let mut options = TlsServerOptions::new("c.pem", "k.pem");
        options.key_password = Some("hunter2".into());
        let text = format!("{options:?}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
