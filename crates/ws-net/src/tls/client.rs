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

use super::error::{Peer, TlsError};
use super::{pem, provider, TlsVersion, ALPN_HTTP11};

/// A client certificate for servers that require client authentication.
#[derive(Clone)]
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

/// How a client verifies servers and authenticates itself.
///
/// ```
/// use ws_net::tls::TlsClientOptions;
///
/// // The bundled webpki roots, TLS 1.2 and 1.3, no client certificate.
/// let connector = TlsClientOptions::default().build().unwrap();
/// # drop(connector);
/// ```
#[derive(Clone, Debug, Default)]
pub struct TlsClientOptions {
    /// Trust roots: a PEM file, or a directory whose PEM files are all read (files holding no
    /// certificate are skipped, subdirectories are not searched). When set, these are the
    /// *only* roots; when `None`, the Mozilla roots bundled by `webpki-roots` are used.
    pub ca: Option<PathBuf>,
    /// A certificate to present when the server asks for one.
    pub client_cert: Option<ClientCert>,
    /// **Unsafe.** Accept any server certificate: untrusted, expired, for another host.
    ///
    /// The connection is still encrypted, but anyone on the network path can impersonate the
    /// server and read everything. Only for testing against servers with throwaway
    /// certificates; never in production. When set, `ca` is not used.
    pub skip_verification: bool,
    /// The lowest TLS version to negotiate.
    pub min_version: TlsVersion,
}

impl TlsClientOptions {
    /// Loads the configured files and builds the connector.
    ///
    /// Fails with a [`TlsError`] naming the file and the problem: missing
    /// ([`TlsError::is_file_missing`]), not PEM, without certificates, a key that is encrypted
    /// without a password or with the wrong one, or a key that does not match the certificate.
    pub fn build(&self) -> Result<TlsConnector, TlsError> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(self.min_version.protocol_versions())
            .map_err(TlsError::Config)?;

        let builder = if self.skip_verification {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert {
                    provider: provider.clone(),
                }))
        } else {
            let roots = match &self.ca {
                Some(path) => pem::load_roots(path)?,
                None => RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                },
            };
            builder.with_root_certificates(roots)
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

    #[test]
    fn default_options_use_webpki_roots() {
        let connector = TlsClientOptions::default().build().unwrap();
        assert_eq!(
            connector.config().alpn_protocols,
            vec![b"http/1.1".to_vec()]
        );
    }
}
