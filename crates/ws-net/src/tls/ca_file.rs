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

/// The DER of OID 2.5.29.37, the extended key usage extension.
const EXTENDED_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
/// The DER of OID 1.3.6.1.5.5.7.3.1, id-kp-serverAuth.
const SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];

const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
const OBJECT_IDENTIFIER: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
/// `[3] EXPLICIT`: the extensions of a `TBSCertificate`.
const EXTENSIONS: u8 = 0xa3;

/// Whether the extended key usage of a DER certificate lets it serve TLS, by webpki's rule for
/// servers: yes without the extension, else only when it lists serverAuth. No when the
/// certificate cannot be read.
fn allows_server_auth(cert: &[u8]) -> bool {
    match extended_key_usage(cert) {
        Some(None) => true,
        Some(Some(purposes)) => purposes.contains(&SERVER_AUTH),
        None => false,
    }
}

/// The purposes (OID contents) of a DER certificate's extended key usage extension:
/// `Some(None)` without the extension, `None` when the DER cannot be walked, the extension is
/// repeated or lists no purpose.
fn extended_key_usage(cert: &[u8]) -> Option<Option<Vec<&[u8]>>> {
    let (certificate, _) = expect(cert, SEQUENCE)?;
    let (mut tbs, _) = expect(certificate, SEQUENCE)?;
    let mut extensions = None;
    while !tbs.is_empty() {
        let (tag, value, rest) = tlv(tbs)?;
        tbs = rest;
        if tag == EXTENSIONS {
            extensions = Some(value);
        }
    }
    let Some(extensions) = extensions else {
        return Some(None);
    };
    let (mut extensions, _) = expect(extensions, SEQUENCE)?;
    let mut found = None;
    while !extensions.is_empty() {
        let (extension, rest) = expect(extensions, SEQUENCE)?;
        extensions = rest;
        let (oid, fields) = expect(extension, OBJECT_IDENTIFIER)?;
        if oid != EXTENDED_KEY_USAGE {
            continue;
        }
        if found.is_some() {
            return None;
        }
        // `critical BOOLEAN DEFAULT FALSE`, then the value.
        let (tag, value, rest) = tlv(fields)?;
        let (value, rest) = match tag {
            BOOLEAN => expect(rest, OCTET_STRING)?,
            OCTET_STRING => (value, rest),
            _ => return None,
        };
        if !rest.is_empty() {
            return None;
        }
        let (mut list, _) = expect(value, SEQUENCE)?;
        let mut purposes = Vec::new();
        while !list.is_empty() {
            let (purpose, rest) = expect(list, OBJECT_IDENTIFIER)?;
            purposes.push(purpose);
            list = rest;
        }
        if purposes.is_empty() {
            return None;
        }
        found = Some(purposes);
    }
    Some(found)
}

/// The value of the DER element at the start of `input` if its tag is `tag`, and what follows.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match tlv(input)? {
        (found, value, rest) if found == tag => Some((value, rest)),
        _ => None,
    }
}

/// The tag, value and remainder of the DER element at the start of `input`: single-byte tags,
/// definite lengths of up to four bytes.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes.iter().try_fold(0usize, |len, &b| {
            len.checked_mul(256)?.checked_add(usize::from(b))
        })?;
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    Some((tag, value, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyPair};

    fn cert_with(purposes: Vec<ExtendedKeyUsagePurpose>) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.extended_key_usages = purposes;
        params.self_signed(&key).unwrap().der().to_vec()
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
        assert_eq!(extended_key_usage(&server).unwrap().unwrap().len(), 2);
        assert!(allows_server_auth(&server));

        let client = cert_with(vec![ExtendedKeyUsagePurpose::ClientAuth]);
        assert_eq!(extended_key_usage(&client).unwrap().unwrap().len(), 1);
        assert!(!allows_server_auth(&client));
    }

    #[test]
    fn unreadable_certificates_are_refused() {
        let cert = cert_with(vec![ExtendedKeyUsagePurpose::ServerAuth]);
        for cut in [0, 1, 2, 10, cert.len() / 2] {
            assert!(!allows_server_auth(&cert[..cut]), "cut at {cut}");
        }
        assert!(!allows_server_auth(&[0xff, 0x01, 0x00]));
        // A length longer than the input.
        assert_eq!(tlv(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(tlv(&[0x30, 0x85, 0, 0, 0, 0, 1, 0]), None);
        assert_eq!(
            tlv(&[0x04, 0x81, 0x01, 0xaa]),
            Some((0x04, &[0xaa][..], &[][..]))
        );
    }
}
