//! [`TlsError`]: what failed while loading TLS material or during a handshake, in words that
//! tell the user what to do about it.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use rustls::pki_types::UnixTime;
use rustls::{AlertDescription, CertificateError, PeerIncompatible};

/// Which of the configured files an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PemFile {
    /// Trust roots: a PEM file or a directory of them.
    CaCertificates,
    /// The certificate chain presented to the peer (end-entity certificate first).
    CertificateChain,
    /// The private key that belongs to the certificate chain.
    PrivateKey,
}

impl fmt::Display for PemFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PemFile::CaCertificates => "CA certificate",
            PemFile::CertificateChain => "certificate chain",
            PemFile::PrivateKey => "private key",
        })
    }
}

/// The other side of a handshake: whose certificate was rejected, or who sent an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    /// We are the client; the peer is the server.
    Server,
    /// We are the server; the peer is the client.
    Client,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Peer::Server => "server",
            Peer::Client => "client",
        })
    }
}

/// Everything that can go wrong while building a TLS configuration or during a handshake.
///
/// The [`Display`](fmt::Display) text names the file, host or alert involved and, where there is
/// one, the usual fix. [`is_file_missing`](Self::is_file_missing) and
/// [`is_key_error`](Self::is_key_error) sort errors for callers that map them to their own codes.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A configured file or directory does not exist.
    FileMissing {
        /// What the file was supposed to hold.
        file: PemFile,
        /// The path as configured.
        path: PathBuf,
    },
    /// A configured file exists but could not be read (permissions, a directory where a file
    /// was expected, ...).
    FileUnreadable {
        /// What the file was supposed to hold.
        file: PemFile,
        /// The path as configured.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file is not well-formed PEM (bad base64, a missing `-----END` line, ...).
    InvalidPem {
        /// What the file was supposed to hold.
        file: PemFile,
        /// The offending file.
        path: PathBuf,
        /// What the PEM parser reported.
        detail: String,
    },
    /// A file (or every file of a CA directory) holds no `CERTIFICATE` block.
    NoCertificate {
        /// What the file was supposed to hold.
        file: PemFile,
        /// The offending file or directory.
        path: PathBuf,
    },
    /// A `CERTIFICATE` block could not be parsed as an X.509 certificate.
    InvalidCertificate {
        /// What the file was supposed to hold.
        file: PemFile,
        /// The offending file.
        path: PathBuf,
        /// What the certificate parser reported.
        detail: String,
    },
    /// The key file holds no private key block.
    NoPrivateKey {
        /// The key file.
        path: PathBuf,
    },
    /// The key is encrypted (`ENCRYPTED PRIVATE KEY`, or a block with a
    /// `Proc-Type: 4,ENCRYPTED` header) and no password was given.
    KeyPasswordRequired {
        /// The key file.
        path: PathBuf,
    },
    /// The key is encrypted and the given password does not decrypt it.
    WrongKeyPassword {
        /// The key file.
        path: PathBuf,
    },
    /// The key is in a format or of a type that is not supported.
    UnsupportedKeyFormat {
        /// The key file.
        path: PathBuf,
        /// Which format or algorithm, and how to convert it.
        detail: String,
    },
    /// The private key does not belong to the first certificate of the chain.
    KeyMismatch {
        /// The certificate chain file.
        cert_chain: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// The host to connect to is neither a valid DNS name nor an IP address.
    InvalidServerName {
        /// The host as given.
        name: String,
    },
    /// rustls refused the configuration.
    Config(rustls::Error),
    /// The configuration needs a Cargo feature of ws-net that this build was compiled without
    /// (ws-api and ws-cli forward the feature under the same name).
    FeatureDisabled {
        /// The feature to enable, such as `webpki-roots`.
        feature: &'static str,
        /// What needs it.
        what: &'static str,
    },
    /// The platform's trust roots could not be loaded
    /// ([`ServerVerification::NativeRoots`](super::ServerVerification), feature
    /// `native-roots`), or there are none.
    NativeRoots {
        /// What went wrong where: files, directories or the system store.
        detail: String,
    },
    /// The peer's certificate is not issued by a trusted authority.
    UnknownIssuer {
        /// Whose certificate.
        peer: Peer,
    },
    /// The peer's certificate (or one in its chain) has expired.
    CertificateExpired {
        /// Whose certificate.
        peer: Peer,
        /// The end of the validity period, when known.
        not_after: Option<SystemTime>,
        /// The time it was checked against, when known.
        now: Option<SystemTime>,
    },
    /// The peer's certificate (or one in its chain) is not valid yet.
    CertificateNotYetValid {
        /// Whose certificate.
        peer: Peer,
        /// The start of the validity period, when known.
        not_before: Option<SystemTime>,
        /// The time it was checked against, when known.
        now: Option<SystemTime>,
    },
    /// The server's certificate is valid, but not for the host we connected to.
    NameMismatch {
        /// The host name or IP address we expected.
        host: String,
        /// The names the certificate is valid for, when known, as people write them:
        /// `ws.example.test`, `*.example.test`, `127.0.0.1`, `::1`. A name of another kind
        /// (a URI, a directory name) is in rustls' debug form, such as
        /// `UniformResourceIdentifier("https://example.test/")`.
        presented: Vec<String>,
    },
    /// The peer's certificate is a CA certificate (basic constraints `CA:TRUE`, as
    /// `openssl req -x509` marks a self-signed certificate) used as the peer's own.
    ///
    /// A client that trusts a CA file ([`TlsClientOptions::ca`](super::TlsClientOptions::ca))
    /// accepts such a server certificate when it is exactly one of that file's certificates, so
    /// this error means that the CA file (or the roots in use) does not hold it.
    CaUsedAsEndEntity {
        /// Whose certificate.
        peer: Peer,
    },
    /// The peer's certificate has been revoked.
    CertificateRevoked {
        /// Whose certificate.
        peer: Peer,
    },
    /// Any other problem with the peer's certificate (bad signature, wrong purpose, ...).
    BadCertificate {
        /// Whose certificate.
        peer: Peer,
        /// What the verifier reported.
        reason: String,
    },
    /// We are the server, client authentication is required and the client sent no certificate.
    ClientCertificateMissing,
    /// The peer aborted the handshake with a TLS alert.
    AlertReceived {
        /// Who sent the alert.
        peer: Peer,
        /// The alert.
        alert: AlertDescription,
    },
    /// The two sides have no TLS protocol version in common.
    VersionMismatch {
        /// The other side.
        peer: Peer,
        /// What was found out of step.
        detail: String,
    },
    /// Any other TLS protocol failure.
    Handshake {
        /// The other side.
        peer: Peer,
        /// What rustls reported.
        source: rustls::Error,
    },
    /// The connection failed underneath TLS (reset, closed during the handshake, ...).
    Io(io::Error),
}

impl TlsError {
    /// True when a configured file or directory does not exist.
    ///
    /// ```
    /// use std::path::Path;
    /// use ws_net::tls::TlsAcceptor;
    ///
    /// let err = TlsAcceptor::from_pem_files(
    ///     Path::new("/nonexistent/cert.pem"),
    ///     Path::new("/nonexistent/key.pem"),
    /// )
    /// .unwrap_err();
    /// assert!(err.is_file_missing());
    /// assert!(err.to_string().contains("/nonexistent/cert.pem"));
    /// ```
    pub fn is_file_missing(&self) -> bool {
        matches!(self, TlsError::FileMissing { .. })
    }

    /// True when the private key exists but cannot be used: unreadable, malformed, encrypted
    /// without a password, wrong password, unsupported format, or not matching the certificate.
    ///
    /// A missing key file is reported by [`is_file_missing`](Self::is_file_missing) instead.
    pub fn is_key_error(&self) -> bool {
        match self {
            TlsError::FileUnreadable { file, .. } | TlsError::InvalidPem { file, .. } => {
                *file == PemFile::PrivateKey
            }
            TlsError::NoPrivateKey { .. }
            | TlsError::KeyPasswordRequired { .. }
            | TlsError::WrongKeyPassword { .. }
            | TlsError::UnsupportedKeyFormat { .. }
            | TlsError::KeyMismatch { .. } => true,
            _ => false,
        }
    }

    /// Turns an error from a TLS stream into a `TlsError`.
    ///
    /// tokio-rustls reports TLS failures as [`io::Error`]s wrapping a [`rustls::Error`]; this
    /// unwraps them. Use it for errors from reads and writes after the handshake too: with
    /// TLS 1.3 a server that requires a client certificate only says so (with an alert) after
    /// the client has finished its side of the handshake, so the client sees it on its first
    /// read.
    pub fn from_io(err: io::Error, peer: Peer) -> TlsError {
        Self::from_io_for(err, peer, None)
    }

    pub(crate) fn from_io_for(err: io::Error, peer: Peer, host: Option<&str>) -> TlsError {
        if err
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            let kind = err.kind();
            return match err
                .into_inner()
                .map(|inner| inner.downcast::<rustls::Error>())
            {
                Some(Ok(tls)) => Self::from_rustls(*tls, peer, host),
                // Unreachable after the `is` check, but losing the error is worse than a branch.
                Some(Err(other)) => TlsError::Io(io::Error::new(kind, other)),
                None => TlsError::Io(io::Error::from(kind)),
            };
        }
        TlsError::Io(err)
    }

    /// Turns a [`rustls::Error`] from a handshake with `peer` into a `TlsError`.
    pub fn from_rustls(err: rustls::Error, peer: Peer, host: Option<&str>) -> TlsError {
        match err {
            rustls::Error::InvalidCertificate(cert) => {
                Self::from_certificate_error(cert, peer, host)
            }
            rustls::Error::NoCertificatesPresented if peer == Peer::Client => {
                TlsError::ClientCertificateMissing
            }
            rustls::Error::AlertReceived(AlertDescription::ProtocolVersion) => {
                TlsError::VersionMismatch {
                    peer,
                    detail: format!("the {peer} answered with a protocol_version alert"),
                }
            }
            rustls::Error::AlertReceived(alert) => TlsError::AlertReceived { peer, alert },
            rustls::Error::PeerIncompatible(incompatible) if is_version_problem(&incompatible) => {
                TlsError::VersionMismatch {
                    peer,
                    detail: version_problem(&incompatible).to_owned(),
                }
            }
            other => TlsError::Handshake {
                peer,
                source: other,
            },
        }
    }

    fn from_certificate_error(err: CertificateError, peer: Peer, host: Option<&str>) -> TlsError {
        match err {
            CertificateError::UnknownIssuer => TlsError::UnknownIssuer { peer },
            CertificateError::Expired => TlsError::CertificateExpired {
                peer,
                not_after: None,
                now: None,
            },
            CertificateError::ExpiredContext { time, not_after } => TlsError::CertificateExpired {
                peer,
                not_after: Some(to_system_time(not_after)),
                now: Some(to_system_time(time)),
            },
            CertificateError::NotValidYet => TlsError::CertificateNotYetValid {
                peer,
                not_before: None,
                now: None,
            },
            CertificateError::NotValidYetContext { time, not_before } => {
                TlsError::CertificateNotYetValid {
                    peer,
                    not_before: Some(to_system_time(not_before)),
                    now: Some(to_system_time(time)),
                }
            }
            CertificateError::NotValidForName => TlsError::NameMismatch {
                host: host.unwrap_or("the requested host").to_owned(),
                presented: Vec::new(),
            },
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => TlsError::NameMismatch {
                host: expected.to_str().into_owned(),
                presented: presented.into_iter().map(readable_name).collect(),
            },
            CertificateError::Revoked => TlsError::CertificateRevoked { peer },
            other if is_ca_used_as_end_entity(&other) => TlsError::CaUsedAsEndEntity { peer },
            other => TlsError::BadCertificate {
                peer,
                reason: certificate_reason(&other),
            },
        }
    }
}

/// One of the names rustls lists in `NotValidForNameContext`, as people write it.
///
/// rustls (0.23) passes on webpki's debug form of each subject alternative name as a string:
/// `DnsName("ws.example.test")`, `IpAddress(127.0.0.1)`, `IpAddress(0::1)`. Those two forms are
/// unwrapped when what is inside reads as a name or an address; anything else (another kind of
/// name, a DNS name with characters a host name cannot have, an address webpki could not print)
/// is kept as it is.
fn readable_name(presented: String) -> String {
    let readable = if let Some(name) = presented
        .strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
    {
        // Printable ASCII without quotes or spaces, as a host name (or a wildcard) is;
        // anything else may be webpki's replacement of bytes that are not UTF-8.
        let plain = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b'"');
        plain.then(|| name.to_owned())
    } else if let Some(address) = presented
        .strip_prefix("IpAddress(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        // webpki writes IPv6 addresses its own way (`0::1`): the standard form comes from
        // parsing them. What does not parse is kept: `[invalid: ..]`, for a length that is
        // neither 4 nor 16, and `1::2::3`, webpki's form of an address with two runs of zeros.
        address.parse::<IpAddr>().ok().map(|ip| ip.to_string())
    } else {
        None
    };
    readable.unwrap_or(presented)
}

fn is_version_problem(incompatible: &PeerIncompatible) -> bool {
    matches!(
        incompatible,
        PeerIncompatible::ServerDoesNotSupportTls12Or13
            | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig
            | PeerIncompatible::SupportedVersionsExtensionRequired
            | PeerIncompatible::Tls12NotOffered
            | PeerIncompatible::Tls12NotOfferedOrEnabled
    )
}

fn version_problem(incompatible: &PeerIncompatible) -> &'static str {
    match incompatible {
        PeerIncompatible::ServerDoesNotSupportTls12Or13 => {
            "the server supports neither TLS 1.2 nor TLS 1.3"
        }
        PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig => {
            "the server chose a TLS version below our minimum"
        }
        PeerIncompatible::SupportedVersionsExtensionRequired => {
            "the client offers no TLS 1.3, which this server requires"
        }
        PeerIncompatible::Tls12NotOffered => "the client offers no TLS 1.2 or later",
        _ => "the client offers no TLS version that this server allows",
    }
}

fn certificate_reason(err: &CertificateError) -> String {
    match err {
        CertificateError::BadEncoding => "it is not a well-formed X.509 certificate".to_owned(),
        CertificateError::BadSignature => "its signature does not verify".to_owned(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "it is not issued for this purpose (extended key usage)".to_owned()
        }
        CertificateError::UnhandledCriticalExtension => {
            "it has a critical extension that is not understood".to_owned()
        }
        other => other.to_string(),
    }
}

/// True for webpki's refusal of a CA certificate (`CA:TRUE`) as the end-entity certificate.
///
/// rustls has no variant for it and passes the webpki error itself, so it is told apart by its
/// type rather than its text.
pub(crate) fn is_ca_used_as_end_entity(err: &CertificateError) -> bool {
    match err {
        CertificateError::Other(other) => matches!(
            other.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}

fn to_system_time(t: UnixTime) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(t.as_secs())
}

/// Writes `t` as `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) struct Utc(pub(crate) SystemTime);

impl fmt::Display for Utc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = match self.0.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_secs(),
            Err(_) => return f.write_str("a time before 1970"),
        };
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

// Howard Hinnant's days-to-civil algorithm, for days since 1970-01-01 (never negative here).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

fn owner(peer: Peer) -> &'static str {
    match peer {
        Peer::Server => "the server's",
        Peer::Client => "the client's",
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::FileMissing {
                file: PemFile::CaCertificates,
                path,
            } => write!(
                f,
                "CA certificate file or directory not found: {}",
                path.display()
            ),
            TlsError::FileMissing { file, path } => {
                write!(f, "{file} file not found: {}", path.display())
            }
            TlsError::FileUnreadable { file, path, source } => {
                write!(f, "cannot read {file} file {}: {source}", path.display())
            }
            TlsError::InvalidPem { file, path, detail } => write!(
                f,
                "{file} file {} is not valid PEM ({detail})",
                path.display()
            ),
            TlsError::NoCertificate {
                file: PemFile::CaCertificates,
                path,
            } => write!(
                f,
                "no CA certificate found in {} (expected a PEM file, or a directory of PEM \
                 files, with blocks starting with `-----BEGIN CERTIFICATE-----`)",
                path.display()
            ),
            TlsError::NoCertificate { file, path } => write!(
                f,
                "no certificate found in {file} file {} (expected PEM blocks starting with \
                 `-----BEGIN CERTIFICATE-----`)",
                path.display()
            ),
            TlsError::InvalidCertificate { file, path, detail } => write!(
                f,
                "a certificate in {file} file {} cannot be used: {detail}",
                path.display()
            ),
            TlsError::NoPrivateKey { path } => write!(
                f,
                "no private key found in {} (expected a PEM block such as \
                 `-----BEGIN PRIVATE KEY-----`, `-----BEGIN RSA PRIVATE KEY-----` or \
                 `-----BEGIN EC PRIVATE KEY-----`)",
                path.display()
            ),
            TlsError::KeyPasswordRequired { path } => write!(
                f,
                "private key {} is encrypted: a key password is required (`key_password`)",
                path.display()
            ),
            TlsError::WrongKeyPassword { path } => write!(
                f,
                "wrong password for encrypted private key {}",
                path.display()
            ),
            TlsError::UnsupportedKeyFormat { path, detail } => {
                write!(f, "unsupported private key in {}: {detail}", path.display())
            }
            TlsError::KeyMismatch { cert_chain, key } => write!(
                f,
                "private key {} does not belong to the first certificate in {}",
                key.display(),
                cert_chain.display()
            ),
            TlsError::InvalidServerName { name } => write!(
                f,
                "invalid server name {name:?}: expected a DNS name or an IP address"
            ),
            TlsError::Config(err) => write!(f, "invalid TLS configuration: {err}"),
            TlsError::FeatureDisabled { feature, what } => write!(
                f,
                "{what} needs the `{feature}` feature, which this build of ws-net was compiled \
                 without: enable it in Cargo.toml (ws-net, ws-api and ws-cli all have it)"
            ),
            TlsError::NativeRoots { detail } => write!(
                f,
                "the platform's trust roots could not be loaded: {detail}; install the system's CA \
                 certificates, point SSL_CERT_FILE or SSL_CERT_DIR at them, or give a CA with the \
                 `ca` option"
            ),
            TlsError::UnknownIssuer { peer } => {
                write!(
                    f,
                    "{} certificate is not trusted: it is not issued by a known certificate \
                     authority (unknown issuer)",
                    owner(*peer)
                )?;
                match peer {
                    Peer::Server => f.write_str("; add its CA with the `ca` option"),
                    Peer::Client => f.write_str("; add its CA to the client CA file"),
                }
            }
            TlsError::CertificateExpired {
                peer,
                not_after,
                now,
            } => {
                write!(f, "{} certificate has expired", owner(*peer))?;
                if let Some(t) = not_after {
                    write!(f, " (valid until {}", Utc(*t))?;
                    if let Some(now) = now {
                        write!(f, ", now {}", Utc(*now))?;
                    }
                    f.write_str(")")?;
                }
                f.write_str("; renew it, or check this machine's clock")
            }
            TlsError::CertificateNotYetValid {
                peer,
                not_before,
                now,
            } => {
                write!(f, "{} certificate is not valid yet", owner(*peer))?;
                if let Some(t) = not_before {
                    write!(f, " (valid from {}", Utc(*t))?;
                    if let Some(now) = now {
                        write!(f, ", now {}", Utc(*now))?;
                    }
                    f.write_str(")")?;
                }
                f.write_str("; check this machine's clock")
            }
            TlsError::NameMismatch { host, presented } => {
                write!(f, "the server's certificate is not valid for {host}")?;
                if !presented.is_empty() {
                    write!(f, " (it is valid for {})", presented.join(", "))?;
                }
                Ok(())
            }
            TlsError::CaUsedAsEndEntity { peer: Peer::Server } => f.write_str(
                "the server's certificate is a CA certificate (CA:TRUE) used as the server's own; \
                 trust it by giving that exact certificate as the CA, or serve a certificate \
                 issued by the CA",
            ),
            TlsError::CaUsedAsEndEntity { peer: Peer::Client } => f.write_str(
                "the client's certificate is a CA certificate (CA:TRUE) used as the client's own; \
                 give the client a certificate issued by the CA instead",
            ),
            TlsError::CertificateRevoked { peer } => {
                write!(f, "{} certificate has been revoked", owner(*peer))
            }
            TlsError::BadCertificate { peer, reason } => {
                write!(f, "{} certificate was rejected: {reason}", owner(*peer))
            }
            TlsError::ClientCertificateMissing => f.write_str(
                "the client sent no certificate, but this server requires client authentication",
            ),
            TlsError::AlertReceived { peer, alert } => write_alert(f, *peer, *alert),
            TlsError::VersionMismatch { peer, detail } => write!(
                f,
                "no TLS protocol version in common with the {peer} ({detail}); check the minimum \
                 TLS version on both sides"
            ),
            TlsError::Handshake { peer, source } => {
                write!(f, "TLS handshake with the {peer} failed: {source}")
            }
            TlsError::Io(err) => match err.kind() {
                io::ErrorKind::UnexpectedEof => {
                    write!(f, "the connection was closed during TLS: {err}")
                }
                _ => write!(f, "I/O error on the TLS connection: {err}"),
            },
        }
    }
}

fn write_alert(f: &mut fmt::Formatter<'_>, peer: Peer, alert: AlertDescription) -> fmt::Result {
    use AlertDescription as A;
    match (peer, alert) {
        (Peer::Server, A::CertificateRequired) => f.write_str(
            "the server requires a client certificate: configure one with `client_cert`",
        ),
        (Peer::Server, A::HandshakeFailure) => f.write_str(
            "the server aborted the handshake (handshake_failure): it may require a client \
             certificate, or there are no cipher suites or key types in common",
        ),
        (
            _,
            A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateUnknown
            | A::UnknownCA
            | A::CertificateExpired
            | A::CertificateRevoked
            | A::AccessDenied,
        ) => {
            let ours = match peer {
                Peer::Server => "our client certificate",
                Peer::Client => "this server's certificate",
            };
            write!(
                f,
                "the {peer} rejected {ours} (alert {alert:?}); make sure the {peer} trusts \
                 its issuer and that it is valid"
            )
        }
        (_, A::NoApplicationProtocol) => write!(
            f,
            "the {peer} supports none of the offered application protocols (ALPN)"
        ),
        (_, alert) => write!(
            f,
            "the {peer} aborted the TLS handshake with alert {alert:?}"
        ),
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::FileUnreadable { source, .. } | TlsError::Io(source) => Some(source),
            TlsError::Config(source) | TlsError::Handshake { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;

    fn at(secs: u64) -> String {
        Utc(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)).to_string()
    }

    #[test]
    fn utc_dates() {
        assert_eq!(at(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(at(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(at(1_704_067_199), "2023-12-31 23:59:59 UTC");
        assert_eq!(at(4_102_444_800), "2100-01-01 00:00:00 UTC");
    }

    #[test]
    fn expired_names_both_times() {
        let err = TlsError::from_rustls(
            rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
                time: UnixTime::since_unix_epoch(Duration::from_secs(1_704_067_200)),
                not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_704_067_199)),
            }),
            Peer::Server,
            Some("example.com"),
        );
        let text = err.to_string();
        assert!(
            matches!(err, TlsError::CertificateExpired { .. }),
            "{err:?}"
        );
        assert!(
            text.contains("valid until 2023-12-31 23:59:59 UTC"),
            "{text}"
        );
        assert!(text.contains("now 2024-01-01 00:00:00 UTC"), "{text}");
    }

    #[test]
    fn name_mismatch_without_context_uses_the_host() {
        let err = TlsError::from_rustls(
            rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
            Peer::Server,
            Some("example.com"),
        );
        assert_eq!(
            err.to_string(),
            "the server's certificate is not valid for example.com"
        );
    }

    #[test]
    fn name_mismatch_lists_the_names_as_people_write_them() {
        let presented = [
            "DnsName(\"ws.example.test\")",
            "DnsName(\"*.example.test\")",
            "IpAddress(127.0.0.1)",
            "IpAddress(0::1)",
            "IpAddress(2001:db8::1)",
        ];
        let err = TlsError::from_rustls(
            rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                expected: ServerName::try_from("example.com").unwrap(),
                presented: presented.iter().map(|name| name.to_string()).collect(),
            }),
            Peer::Server,
            Some("example.com"),
        );
        match &err {
            TlsError::NameMismatch { host, presented } => {
                assert_eq!(host, "example.com");
                assert_eq!(
                    presented,
                    &[
                        "ws.example.test",
                        "*.example.test",
                        "127.0.0.1",
                        "::1",
                        "2001:db8::1"
                    ]
                );
            }
            other => panic!("expected a name mismatch, got {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "the server's certificate is not valid for example.com (it is valid for \
             ws.example.test, *.example.test, 127.0.0.1, ::1, 2001:db8::1)"
        );
    }

    #[test]
    fn names_of_other_forms_are_kept_as_they_are() {
        for kept in [
            "UniformResourceIdentifier(\"https://example.test/\")",
            "DirectoryName",
            "Unsupported(0x66)",
            "IpAddress([invalid: 01, 02, 03, 04, 05, 06])",
            // webpki shortens every run of zero groups: 1:0:0:2:0:0:0:3 is not one address.
            "IpAddress(1::2::3)",
            "IpAddress()",
            "DnsName(\"\")",
            "DnsName(\"caf\u{fffd}.example\")",
            "DnsName(\"a b\")",
            "DnsName(\"a\") DnsName(\"b\")",
            "DnsName(\"unterminated",
            "dnsname(\"example.test\")",
            "",
        ] {
            assert_eq!(readable_name(kept.to_owned()), kept);
        }
    }

    #[test]
    fn a_ca_certificate_as_the_peers_own_is_a_variant_of_its_own() {
        let webpki_error = || {
            rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                std::sync::Arc::new(webpki::Error::CaUsedAsEndEntity),
            )))
        };
        let server = TlsError::from_rustls(webpki_error(), Peer::Server, Some("localhost"));
        assert!(
            matches!(server, TlsError::CaUsedAsEndEntity { peer: Peer::Server }),
            "{server:?}"
        );
        assert!(
            server
                .to_string()
                .contains("trust it by giving that exact certificate as the CA"),
            "{server}"
        );
        let client = TlsError::from_rustls(webpki_error(), Peer::Client, None);
        assert!(
            matches!(client, TlsError::CaUsedAsEndEntity { peer: Peer::Client }),
            "{client:?}"
        );
        assert!(
            client.to_string().starts_with("the client's certificate"),
            "{client}"
        );

        // Other webpki errors rustls has no variant for stay generic.
        let other = TlsError::from_rustls(
            rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                std::sync::Arc::new(webpki::Error::EndEntityUsedAsCa),
            ))),
            Peer::Server,
            None,
        );
        assert!(
            matches!(other, TlsError::BadCertificate { .. }),
            "{other:?}"
        );
    }

    #[test]
    fn io_errors_are_unwrapped() {
        let wrapped = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(AlertDescription::CertificateRequired),
        );
        let err = TlsError::from_io(wrapped, Peer::Server);
        assert!(matches!(
            err,
            TlsError::AlertReceived {
                peer: Peer::Server,
                alert: AlertDescription::CertificateRequired
            }
        ));
        assert!(err.to_string().contains("requires a client certificate"));

        let plain = TlsError::from_io(io::ErrorKind::ConnectionReset.into(), Peer::Server);
        assert!(matches!(plain, TlsError::Io(_)));
    }

    #[test]
    fn key_errors_and_missing_files_are_disjoint() {
        let missing = TlsError::FileMissing {
            file: PemFile::PrivateKey,
            path: "k.pem".into(),
        };
        assert!(missing.is_file_missing() && !missing.is_key_error());
        let wrong = TlsError::WrongKeyPassword {
            path: "k.pem".into(),
        };
        assert!(wrong.is_key_error() && !wrong.is_file_missing());
        let unreadable_ca = TlsError::FileUnreadable {
            file: PemFile::CaCertificates,
            path: "ca".into(),
            source: io::ErrorKind::PermissionDenied.into(),
        };
        assert!(!unreadable_ca.is_key_error());
    }
}
