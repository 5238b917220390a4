//! TLS with rustls: client and server configuration from PEM files, and precise errors.
//!
//! - [`TlsClientOptions`] builds a [`TlsConnector`]: trust roots from a CA file or directory
//!   (or the bundled webpki roots), an optional client certificate, a minimum TLS version.
//! - [`TlsServerOptions`] (or [`TlsAcceptor::from_pem_files`]) builds a [`TlsAcceptor`],
//!   optionally requiring client certificates.
//! - [`TlsError`] says what failed: which file, which host, which alert, and what to do.
//!
//! Keys may be PEM PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1
//! (`EC PRIVATE KEY`), and password-protected in either of the ways OpenSSL writes:
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
//! how to re-encrypt the key.
//!
//! Every configuration uses the *ring* crypto provider explicitly, so nothing depends on
//! (or panics for the lack of) a process-wide default provider.
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

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    use super::*;

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
