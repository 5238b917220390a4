//! The client side: [`TlsClientOptions`] → [`TlsConnector`].

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::SingleCertAndKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};

use super::ca_file::CaFileVerifier;
use super::error::{Peer, TlsError};
use super::{crypto_provider, pem, TlsVersion, ALPN_HTTP11};

/// A client certificate for servers that require client authentication.
///
/// ```
/// use ws_net::tls::ClientCert;
/// let cert = ClientCert::new("client.pem", "client.key").key_password("secret");
/// assert_eq!(cert.key_password.as_deref(), Some("secret"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientCert {
    /// PEM file with the certificate chain, the client's own certificate first.
    pub cert_chain: PathBuf,
    /// PEM file with the private key: PKCS#8, PKCS#1 or SEC1, plain or encrypted (see the
    /// [module docs](crate::tls) for the encryptions read).
    pub key: PathBuf,
    /// Password for an encrypted key (`ENCRYPTED PRIVATE KEY`, or a block with a
    /// `Proc-Type: 4,ENCRYPTED` header); ignored for unencrypted keys.
    pub key_password: Option<String>,
}

impl ClientCert {
    /// A certificate chain and its unencrypted key.
    pub fn new(cert_chain: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        ClientCert {
            cert_chain: cert_chain.into(),
            key: key.into(),
            key_password: None,
        }
    }

    /// Sets the password of an encrypted key.
    #[must_use]
    pub fn key_password(mut self, password: impl Into<String>) -> Self {
        self.key_password = Some(password.into());
        self
    }
}

impl fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCert")
            .field("cert_chain", &self.cert_chain)
            .field("key", &self.key)
            // Debug output ends up in logs; the password must not.
            .field(
                "key_password",
                &self.key_password.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// How a client checks the server's certificate.
///
/// The default is [`WebPkiRoots`](Self::WebPkiRoots) whatever the features: a build without
/// `webpki-roots` fails to [`build`](TlsClientOptions::build) it with
/// [`TlsError::FeatureDisabled`] rather than trust something else unasked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerVerification {
    /// Against the Mozilla roots bundled by the `webpki-roots` crate (feature `webpki-roots`,
    /// on by default).
    #[default]
    WebPkiRoots,
    /// Against the platform's trust roots (feature `native-roots`), as rustls-native-certs
    /// finds them: the files and directories named by `SSL_CERT_FILE` and `SSL_CERT_DIR` when
    /// set, else the system's CA store (OpenSSL's locations on Linux and the BSDs, the
    /// keychain on macOS, the certificate store on Windows). Read at each
    /// [`build`](TlsClientOptions::build).
    #[cfg(feature = "native-roots")]
    NativeRoots,
    /// Against these roots only: a PEM file, or a directory whose PEM files are all read (files
    /// holding no certificate are skipped, subdirectories are not searched).
    ///
    /// A server certificate that is itself one of these certificates is trusted even when it is
    /// marked `CA:TRUE`, as `openssl req -x509` makes self-signed certificates and as curl and
    /// OpenSSL accept them (see [`TlsClientOptions::ca`]).
    Ca(PathBuf),
    /// Not at all, set through [`TlsClientOptions::dangerous`]. The connection is still
    /// encrypted, but anyone on the network path can impersonate the server and read
    /// everything.
    AcceptAnyCertificate,
}

/// How a client verifies servers and authenticates itself.
///
/// | setting | default |
/// | --- | --- |
/// | [`verification`](Self::verification) | [`ServerVerification::WebPkiRoots`] |
/// | [`client_cert`](Self::client_cert) | none |
/// | [`min_version`](Self::min_version) | [`TlsVersion::Tls12`]: TLS 1.2 and 1.3 |
///
/// ```
/// use ws_net::tls::{ServerVerification, TlsClientOptions, TlsVersion};
///
/// // The bundled webpki roots, TLS 1.2 and 1.3, no client certificate.
/// let connector = TlsClientOptions::default().build().unwrap();
/// # drop(connector);
/// let options = TlsClientOptions::default().ca("/etc/ws/ca.pem").min_version(TlsVersion::Tls13);
/// assert_eq!(options.verification(), &ServerVerification::Ca("/etc/ws/ca.pem".into()));
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct TlsClientOptions {
    verification: ServerVerification,
    /// A certificate to present when the server asks for one.
    pub client_cert: Option<ClientCert>,
    /// The lowest TLS version to negotiate.
    pub min_version: TlsVersion,
}

impl TlsClientOptions {
    /// How the server's certificate is checked.
    pub fn verification(&self) -> &ServerVerification {
        &self.verification
    }

    /// Trusts only the roots in `path` (a PEM file, or a directory of PEM files) instead of the
    /// bundled Mozilla roots.
    ///
    /// A self-signed server certificate given as the CA is trusted even when it is marked
    /// `CA:TRUE`, as `openssl req -x509` makes it, and as curl (`--cacert`) and OpenSSL do: when
    /// the certificate the server presents is byte for byte one of the certificates in `path`.
    /// Its host name, validity period and extended key usage are still checked. Any other
    /// `CA:TRUE` certificate presented as the server's own is refused with
    /// [`TlsError::CaUsedAsEndEntity`].
    ///
    /// ```no_run
    /// # fn main() -> Result<(), ws_net::tls::TlsError> {
    /// // cert.pem: the server's own certificate, made with `openssl req -x509 -newkey rsa:2048
    /// //   -nodes -keyout key.pem -out cert.pem -days 30 -subj /CN=localhost
    /// //   -addext subjectAltName=DNS:localhost,IP:127.0.0.1`.
    /// let connector = ws_net::tls::TlsClientOptions::default().ca("cert.pem").build()?;
    /// # drop(connector);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.verification = ServerVerification::Ca(path.into());
        self
    }

    /// Trusts the bundled Mozilla roots (the default; needs the `webpki-roots` feature).
    #[must_use]
    pub fn webpki_roots(mut self) -> Self {
        self.verification = ServerVerification::WebPkiRoots;
        self
    }

    /// Trusts the platform's roots ([`ServerVerification::NativeRoots`]) instead of the bundled
    /// Mozilla roots.
    ///
    /// ```
    /// use ws_net::tls::{ServerVerification, TlsClientOptions};
    /// let options = TlsClientOptions::default().native_roots();
    /// assert_eq!(options.verification(), &ServerVerification::NativeRoots);
    /// ```
    #[cfg(feature = "native-roots")]
    #[must_use]
    pub fn native_roots(mut self) -> Self {
        self.verification = ServerVerification::NativeRoots;
        self
    }

    /// Presents this certificate when the server asks for one.
    #[must_use]
    pub fn client_cert(mut self, cert: ClientCert) -> Self {
        self.client_cert = Some(cert);
        self
    }

    /// Sets the lowest TLS version to negotiate.
    #[must_use]
    pub fn min_version(mut self, version: TlsVersion) -> Self {
        self.min_version = version;
        self
    }

    /// Settings that turn off the protections TLS exists for; only for tests against servers
    /// with throwaway certificates.
    ///
    /// ```
    /// use ws_net::tls::{ServerVerification, TlsClientOptions};
    /// let options = TlsClientOptions::default().dangerous().accept_any_server_certificate();
    /// assert_eq!(options.verification(), &ServerVerification::AcceptAnyCertificate);
    /// ```
    pub fn dangerous(self) -> DangerousTlsClientOptions {
        DangerousTlsClientOptions { options: self }
    }

    /// Loads the configured files and builds the connector.
    ///
    /// # Errors
    ///
    /// A [`TlsError`] naming the file and the problem: missing
    /// ([`TlsError::is_file_missing`]), not PEM, without certificates, a key that is encrypted
    /// without a password or with the wrong one, or a key that does not match the certificate;
    /// [`TlsError::FeatureDisabled`] for the Mozilla roots without the `webpki-roots` feature;
    /// [`TlsError::NativeRoots`] when the platform's roots cannot be loaded.
    pub fn build(&self) -> Result<TlsConnector, TlsError> {
        let provider = crypto_provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(self.min_version.protocol_versions())
            .map_err(TlsError::Config)?;

        let builder = match &self.verification {
            ServerVerification::AcceptAnyCertificate => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert {
                    provider: provider.clone(),
                })),
            ServerVerification::Ca(path) => {
                let (roots, certificates) = pem::load_roots_and_certificates(path)?;
                let verifier = CaFileVerifier::new(roots, certificates, provider.clone())
                    .map_err(|err| TlsError::Config(rustls::Error::General(err.to_string())))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
            }
            ServerVerification::WebPkiRoots => builder.with_root_certificates(webpki_roots()?),
            #[cfg(feature = "native-roots")]
            ServerVerification::NativeRoots => builder.with_root_certificates(native_roots()?),
        };

        let mut config = match &self.client_cert {
            Some(cert) => {
                let certified = pem::load_certified_key(
                    &cert.cert_chain,
                    &cert.key,
                    cert.key_password.as_deref(),
                    &provider,
                )?;
                builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified)))
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        Ok(TlsConnector {
            config: Arc::new(config),
        })
    }
}

/// The Mozilla roots, when built in.
fn webpki_roots() -> Result<RootCertStore, TlsError> {
    #[cfg(feature = "webpki-roots")]
    return Ok(RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    });
    #[cfg(not(feature = "webpki-roots"))]
    return Err(TlsError::FeatureDisabled {
        feature: "webpki-roots",
        what: "verifying servers against the bundled Mozilla roots (the default; \
               `TlsClientOptions::ca` trusts a CA file instead)",
    });
}

/// The platform's roots: all that parse, as long as there is at least one.
#[cfg(feature = "native-roots")]
fn native_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (_added, _unparsable) = roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let detail = match found.errors.as_slice() {
            [] => "no certificate found".to_owned(),
            errors => errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        };
        return Err(TlsError::NativeRoots { detail });
    }
    Ok(roots)
}

/// The step of [`TlsClientOptions`] that switches server verification off. Its name is meant to
/// show up in code review.
#[derive(Debug)]
pub struct DangerousTlsClientOptions {
    options: TlsClientOptions,
}

impl DangerousTlsClientOptions {
    /// **Unsafe.** Accepts any server certificate: untrusted, expired, for another host.
    #[must_use]
    pub fn accept_any_server_certificate(mut self) -> TlsClientOptions {
        self.options.verification = ServerVerification::AcceptAnyCertificate;
        self.options
    }
}

/// Opens TLS client connections over any byte stream. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl TlsConnector {
    /// Wraps a rustls configuration built elsewhere, used as is.
    pub fn from_config(config: Arc<ClientConfig>) -> Self {
        TlsConnector { config }
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// The same configuration offering `protocols` in ALPN, most preferred first, instead.
    #[cfg(feature = "http2")]
    pub(crate) fn with_alpn(&self, protocols: &[&[u8]]) -> TlsConnector {
        let mut config = ClientConfig::clone(&self.config);
        config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
        TlsConnector {
            config: Arc::new(config),
        }
    }

    /// Runs the TLS handshake over `io` for `host`.
    ///
    /// `host` is a DNS name, sent as SNI and checked against the certificate's DNS names, or an
    /// IP address (IPv6 with or without brackets), checked against its IP address entries and
    /// not sent as SNI.
    ///
    /// Some failures surface only after this returns: with TLS 1.3 a server that rejects the
    /// client (for example for lacking a client certificate) says so once the client has
    /// finished its part of the handshake. Convert errors from later reads with
    /// [`TlsError::from_io`]`(err, Peer::Server)`.
    ///
    /// ```no_run
    /// use tokio::net::TcpStream;
    /// use ws_net::tls::TlsClientOptions;
    ///
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let connector = TlsClientOptions::default().build()?;
    /// let tcp = TcpStream::connect("[2001:db8::1]:443").await?;
    /// let tls = connector.connect("[2001:db8::1]", tcp).await?;
    /// # drop(tls);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`TlsError`] naming what failed: an invalid server name, the server's certificate (unknown
    /// issuer, expired, another host's), a version mismatch, an alert from the server.
    pub async fn connect<S>(
        &self,
        host: &str,
        io: S,
    ) -> Result<tokio_rustls::client::TlsStream<S>, TlsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = server_name(host)?;
        tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, io)
            .await
            .map_err(|err| TlsError::from_io_for(err, Peer::Server, Some(host)))
    }
}

impl From<Arc<ClientConfig>> for TlsConnector {
    fn from(config: Arc<ClientConfig>) -> Self {
        TlsConnector::from_config(config)
    }
}

/// Parses `host` as an IP address (brackets allowed around IPv6) or a DNS name.
fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'));
    if let Some(ip) = unbracketed {
        if let Ok(ip @ IpAddr::V6(_)) = ip.parse::<IpAddr>() {
            return Ok(ServerName::IpAddress(ip.into()));
        }
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_owned()).map_err(|_| TlsError::InvalidServerName {
        name: host.to_owned(),
    })
}

/// Accepts every server certificate but still checks that the server holds the certificate's
/// key, so that at least the handshake itself is sound.
#[derive(Debug)]
struct AcceptAnyServerCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        assert!(matches!(
            server_name("example.com"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(matches!(
            server_name("127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(server_name("::1"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(server_name("[::1]"), Ok(ServerName::IpAddress(_))));
        for bad in ["", "[127.0.0.1]", "[::1", "exa mple.com", "[example.com]"] {
            let err = server_name(bad).unwrap_err();
            assert!(matches!(err, TlsError::InvalidServerName { .. }), "{bad}");
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let cert = ClientCert {
            cert_chain: "c.pem".into(),
            key: "k.pem".into(),
            key_password: Some("hunter2".into()),
        };
        let text = format!("{cert:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[cfg(not(feature = "webpki-roots"))]
    #[test]
    fn default_options_without_webpki_roots_name_the_feature() {
        let err = TlsClientOptions::default().build().unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::FeatureDisabled {
                    feature: "webpki-roots",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("`webpki-roots` feature"), "{err}");
    }

    #[cfg(feature = "webpki-roots")]
    #[test]
    fn default_options_use_webpki_roots() {
        let connector = TlsClientOptions::default().build().unwrap();
        assert_eq!(
            connector.config().alpn_protocols,
            vec![b"http/1.1".to_vec()]
        );
    }
}
