//! The server verifier behind [`ServerVerification::Ca`](super::ServerVerification::Ca):
//! rustls' own, plus the one exception curl and OpenSSL make for a self-signed server
//! certificate that is itself in the CA file.
//!
//! `openssl req -x509` marks the certificates it makes `CA:TRUE`, and webpki refuses a CA
//! certificate as a server's own (`CaUsedAsEndEntity`) even when the user trusts exactly that
//! certificate. [`CaFileVerifier`] accepts it in that case only, still checking what webpki
//! did not get to: the extended key usage and the host name.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, VerifierBuilderError, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use x509_cert::der::oid::db::rfc5280::ID_KP_SERVER_AUTH;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::Certificate;

use super::error::is_ca_used_as_end_entity;

/// rustls' verifier for the roots of a CA file, which also trusts a `CA:TRUE` server
/// certificate that is byte for byte one of the file's certificates.
pub(crate) struct CaFileVerifier {
    inner: Arc<WebPkiServerVerifier>,
    /// The certificates the roots were made from, as read.
    certificates: Vec<CertificateDer<'static>>,
}

impl CaFileVerifier {
    /// A verifier for `roots`, made from `certificates`, with `provider`'s signature algorithms
    /// (what `with_root_certificates` would build, plus the exception).
    pub(crate) fn new(
        roots: RootCertStore,
        certificates: Vec<CertificateDer<'static>>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, VerifierBuilderError> {
        let inner =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
        Ok(CaFileVerifier {
            inner,
            certificates,
        })
    }

    fn holds(&self, cert: &CertificateDer<'_>) -> bool {
        self.certificates
            .iter()
            .any(|ours| ours.as_ref() == cert.as_ref())
    }
}

impl fmt::Debug for CaFileVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The certificates' bytes would drown a `ClientConfig` printed for debugging.
        f.debug_struct("CaFileVerifier")
            .field("inner", &self.inner)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

impl ServerCertVerifier for CaFileVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(err))
                if is_ca_used_as_end_entity(&err) && self.holds(end_entity) =>
            {
                // Why accepting here skips no check that matters: webpki (0.103,
                // `verify_cert.rs`) refuses with `CaUsedAsEndEntity` from
                // `check_issuer_independent_properties`, the first check of the end-entity
                // certificate, after it has parsed and after its validity period: that function
                // checks the validity (expired, not yet valid, inverted dates) before the basic
                // constraints, so an expired or not yet valid certificate fails as such and never
                // reaches this branch. What webpki did not get to:
                // - the extended key usage, checked right after the basic constraints: checked
                //   below, as webpki would;
                // - the chain (issuer, signatures, name constraints): not needed, the certificate
                //   is byte for byte one the user trusts, as OpenSSL trusts a certificate of its
                //   CA file presented as the server's;
                // - revocation: this verifier is built without CRLs;
                // - the host name, which rustls checks after the chain: checked below.
                if !allows_server_auth(end_entity) {
                    return Err(CertificateError::InvalidPurpose.into());
                }
                let cert = ParsedCertificate::try_from(end_entity)?;
                verify_server_name(&cert, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            result => result,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

/// Whether the extended key usage of a DER certificate lets it serve TLS, by webpki's rule for
/// servers: yes without the extension, else only when it lists id-kp-serverAuth. No when the
/// certificate cannot be decoded.
fn allows_server_auth(cert: &[u8]) -> bool {
    match extended_key_usage(cert) {
        Some(None) => true,
        Some(Some(purposes)) => purposes.0.contains(&ID_KP_SERVER_AUTH),
        None => false,
    }
}

/// The extended key usage extension of a DER certificate: `Some(None)` without the extension,
/// `None` when the certificate cannot be decoded, the extension is repeated or lists no purpose.
fn extended_key_usage(cert: &[u8]) -> Option<Option<ExtendedKeyUsage>> {
    let cert = Certificate::from_der(cert).ok()?;
    // `get` fails when the extension is there more than once or its value does not decode.
    match cert.tbs_certificate.get::<ExtendedKeyUsage>().ok()? {
        None => Some(None),
        Some((_critical, purposes)) if purposes.0.is_empty() => None,
        Some((_critical, purposes)) => Some(Some(purposes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, CustomExtension, ExtendedKeyUsagePurpose, KeyPair};

    /// id-ce-extKeyUsage, 2.5.29.37.
    const EXTENDED_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
    /// The DER of `SEQUENCE { id-kp-serverAuth }`.
    const SERVER_AUTH_ONLY: &[u8] = &[
        0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01,
    ];

    fn cert_with_extensions(
        purposes: Vec<ExtendedKeyUsagePurpose>,
        extra: Vec<CustomExtension>,
    ) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.extended_key_usages = purposes;
        params.custom_extensions = extra;
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn cert_with(purposes: Vec<ExtendedKeyUsagePurpose>) -> Vec<u8> {
        cert_with_extensions(purposes, Vec::new())
    }

    #[test]
    fn without_the_extension_any_use_is_allowed() {
        let cert = cert_with(Vec::new());
        assert_eq!(extended_key_usage(&cert), Some(None));
        assert!(allows_server_auth(&cert));
    }

    #[test]
    fn server_auth_must_be_listed_when_there_is_the_extension() {
        let server = cert_with(vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ]);
        assert_eq!(extended_key_usage(&server).unwrap().unwrap().0.len(), 2);
        assert!(allows_server_auth(&server));

        let client = cert_with(vec![ExtendedKeyUsagePurpose::ClientAuth]);
        assert_eq!(extended_key_usage(&client).unwrap().unwrap().0.len(), 1);
        assert!(!allows_server_auth(&client));
    }

    #[test]
    fn a_critical_extension_is_read_as_well() {
        let mut extension =
            CustomExtension::from_oid_content(EXTENDED_KEY_USAGE, SERVER_AUTH_ONLY.to_vec());
        extension.set_criticality(true);
        let cert = cert_with_extensions(Vec::new(), vec![extension]);
        assert_eq!(extended_key_usage(&cert).unwrap().unwrap().0.len(), 1);
        assert!(allows_server_auth(&cert));
    }

    #[test]
    fn unreadable_certificates_are_refused() {
        let cert = cert_with(vec![ExtendedKeyUsagePurpose::ServerAuth]);
        assert!(allows_server_auth(&cert));
        for cut in [0, 1, 2, 10, cert.len() / 2, cert.len() - 1] {
            assert!(!allows_server_auth(&cert[..cut]), "cut at {cut}");
        }
        assert!(!allows_server_auth(&[0xff, 0x01, 0x00]));
        // A length longer than the input.
        assert!(!allows_server_auth(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]));
    }

    #[test]
    fn a_repeated_extension_is_refused() {
        let again =
            CustomExtension::from_oid_content(EXTENDED_KEY_USAGE, SERVER_AUTH_ONLY.to_vec());
        let cert = cert_with_extensions(vec![ExtendedKeyUsagePurpose::ServerAuth], vec![again]);
        assert_eq!(extended_key_usage(&cert), None);
        assert!(!allows_server_auth(&cert));
    }

    #[test]
    fn an_empty_or_malformed_list_is_refused() {
        // `SEQUENCE {}`: the extension is there but lists no purpose.
        let empty = CustomExtension::from_oid_content(EXTENDED_KEY_USAGE, vec![0x30, 0x00]);
        let cert = cert_with_extensions(Vec::new(), vec![empty]);
        assert_eq!(extended_key_usage(&cert), None);
        assert!(!allows_server_auth(&cert));

        // An INTEGER where the list of OIDs belongs.
        let malformed =
            CustomExtension::from_oid_content(EXTENDED_KEY_USAGE, vec![0x02, 0x01, 0x01]);
        let cert = cert_with_extensions(Vec::new(), vec![malformed]);
        assert_eq!(extended_key_usage(&cert), None);
        assert!(!allows_server_auth(&cert));
    }
}
