//! TLS with rustls: client and server configuration from PEM files, and precise errors.
//!
//! - [`TlsClientOptions`] builds a [`TlsConnector`]: trust roots from a CA file or directory,
//!   the bundled Mozilla roots (feature `webpki-roots`) or the platform's (feature
//!   `native-roots`), an optional client certificate, a minimum TLS version.
//! - [`TlsServerOptions`] (or [`TlsAcceptor::from_pem_files`]) builds a [`TlsAcceptor`],
//!   optionally requiring client certificates.
//! - [`TlsError`] says what failed: which file, which host, which alert, and what to do.
//!
//! Keys may be PEM PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1
//! (`EC PRIVATE KEY`), and, with the `encrypted-keys` feature (on by default),
//! password-protected in either of the ways OpenSSL writes:
//!
//! - PKCS#8 `ENCRYPTED PRIVATE KEY`: PBES2 with PBKDF2 (HMAC-SHA256, -SHA224, -SHA384,
//!   -SHA512 or -SHA1) or scrypt, and AES-128/192/256-CBC, DES-EDE3-CBC or DES-CBC, as written
//!   by `openssl pkcs8 -topk8 -v2 aes-256-cbc` (or `-v2 des3`, `-v2prf hmacWithSHA1`, ...)
//!   and by OpenSSL 3's `openssl genpkey -aes256`, `openssl rsa -aes256`, ...
//! - OpenSSL's traditional encrypted PEM: an `RSA PRIVATE KEY`, `EC PRIVATE KEY` or
//!   `PRIVATE KEY` block with `Proc-Type: 4,ENCRYPTED` and `DEK-Info` headers, as written by
//!   `openssl rsa -aes256 -traditional`, `openssl ec -aes256` and OpenSSL 1.x's
//!   `openssl genrsa -aes256`; the `DEK-Info` cipher may be AES-128/192/256-CBC, DES-EDE3-CBC
//!   or DES-CBC.
//!
//! Not read: the older PKCS#5 v1.5 and PKCS#12 password-based schemes in
//! `ENCRYPTED PRIVATE KEY` (`openssl pkcs8 -topk8 -v1 ...`, the default of OpenSSL 1.0's
//! `pkcs8 -topk8`), and ciphers such as Camellia, ARIA, SEED or Blowfish; the error says so and
//! how to re-encrypt the key. Without `encrypted-keys`, an encrypted key fails with
//! [`TlsError::UnsupportedKeyFormat`] naming the feature.
//!
//! # Crypto provider
//!
//! Every configuration built here is given its rustls [`CryptoProvider`] explicitly
//! ([`crypto_provider`]), so nothing depends on (or panics for the lack of) a process-wide
//! default provider, and another library installing a different default changes nothing here.
//! The provider is chosen by feature:
//!
//! | features on | provider |
//! | --- | --- |
//! | `ring` (the default) | *ring* |
//! | `aws-lc-rs` | aws-lc-rs |
//! | both | aws-lc-rs: turning on `aws-lc-rs` switches even with the default features on (drop *ring* from the build with `default-features = false`) |
//! | neither | a compile error naming both |
//!
//! ```no_run
//! use tokio::net::TcpStream;
//! use ws_net::tls::TlsClientOptions;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let connector = TlsClientOptions::default().build()?;
//! let tcp = TcpStream::connect(("example.com", 443)).await?;
//! let tls = connector.connect("example.com", tcp).await?;
//! # drop(tls);
//! # Ok(())
//! # }
//! ```

#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
compile_error!(
    "ws-net's `tls` feature needs a crypto provider: enable the `ring` or the `aws-lc-rs` feature \
     (for example `ws-net = { version = \"0.1\", default-features = false, features = [\"tls\", \"ring\"] }`)"
);

mod ca_file;
mod client;
mod error;
mod pem;
mod server;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::SupportedProtocolVersion;

pub use client::{
    ClientCert, DangerousTlsClientOptions, ServerVerification, TlsClientOptions, TlsConnector,
};
pub use error::{Peer, PemFile, TlsError};
pub use server::{TlsAcceptor, TlsServerOptions};

/// The lowest TLS version to accept.
///
/// TLS 1.3 is always enabled; the default, [`TlsVersion::Tls12`], also allows TLS 1.2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TlsVersion {
    /// TLS 1.2 and TLS 1.3.
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl TlsVersion {
    pub(crate) fn protocol_versions(self) -> &'static [&'static SupportedProtocolVersion] {
        static BOTH: [&SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        static TLS13_ONLY: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self {
            TlsVersion::Tls12 => &BOTH,
            TlsVersion::Tls13 => &TLS13_ONLY,
        }
    }
}

/// ALPN protocol offered by the client and accepted by the server: WebSocket starts as HTTP/1.1.
pub(crate) const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The crypto provider every configuration of this module is built with: aws-lc-rs with the
/// `aws-lc-rs` feature, else *ring* (see [Crypto provider](self#crypto-provider)).
///
/// For rustls configurations built by hand, to be used with
/// [`TlsConnector::from_config`] or [`TlsAcceptor::from_config`] next to the ones built here:
///
/// ```
/// use std::sync::Arc;
/// use ws_net::tls::{crypto_provider, TlsConnector};
///
/// let config = rustls::ClientConfig::builder_with_provider(crypto_provider())
///     .with_safe_default_protocol_versions()?
///     .with_root_certificates(rustls::RootCertStore::empty())
///     .with_no_client_auth();
/// let connector = TlsConnector::from_config(Arc::new(config));
/// # drop(connector);
/// # Ok::<(), rustls::Error>(())
/// ```
pub fn crypto_provider() -> Arc<CryptoProvider> {
    #[cfg(feature = "aws-lc-rs")]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_follows_the_features() {
        // The key provider's Debug text is its type's name.
        let name = format!("{:?}", crypto_provider().key_provider);
        let expected = if cfg!(feature = "aws-lc-rs") {
            "AwsLcRs"
        } else {
            "Ring"
        };
        assert_eq!(name, expected);
    }

    #[test]
    fn default_version_allows_both() {
        assert_eq!(TlsVersion::default(), TlsVersion::Tls12);
        assert_eq!(TlsVersion::Tls12.protocol_versions().len(), 2);
        assert_eq!(
            TlsVersion::Tls13.protocol_versions()[0].version,
            rustls::ProtocolVersion::TLSv1_3
        );
    }
}
