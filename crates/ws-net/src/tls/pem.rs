//! Loading certificates, trust roots and private keys from PEM files.
//!
//! PEM blocks are decoded by rustls-pki-types. rustls cannot decrypt keys, so, with the
//! `encrypted-keys` feature, encrypted PKCS#8 keys (`ENCRYPTED PRIVATE KEY`, PBES2) are
//! decrypted with the `pkcs8` crate, and OpenSSL's traditional encrypted PEM keys
//! (`Proc-Type: 4,ENCRYPTED` with `DEK-Info`) in `traditional`. Without it, either kind of
//! encrypted key is refused with an error naming the feature.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

#[cfg(feature = "encrypted-keys")]
use pkcs8::der::Decode;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, RootCertStore};

use super::error::{PemFile, TlsError};

#[cfg(feature = "encrypted-keys")]
mod traditional;

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
#[cfg(feature = "encrypted-keys")]
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
const CONVERT_HINT: &str = "convert it to PKCS#8 with \
     `openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD.key -out NEW.key` (or `-nocrypt` for no password)";
/// What to do about a key whose encryption is not supported.
#[cfg(feature = "encrypted-keys")]
const REENCRYPT_HINT: &str = "Re-encrypt it with \
     `openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD.key -out NEW.key` (OpenSSL 3 reads old \
     ciphers such as BF, IDEA, RC2 or SEED only with `-provider legacy -provider default`)";

/// Reads a whole file, telling a missing file apart from an unreadable one.
fn read(file: PemFile, path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| io_error(file, path, source))
}

fn io_error(file: PemFile, path: &Path, source: io::Error) -> TlsError {
    match source.kind() {
        io::ErrorKind::NotFound => TlsError::FileMissing {
            file,
            path: path.to_owned(),
        },
        _ => TlsError::FileUnreadable {
            file,
            path: path.to_owned(),
            source,
        },
    }
}

fn invalid_pem(file: PemFile, path: &Path, err: pem::Error) -> TlsError {
    TlsError::InvalidPem {
        file,
        path: path.to_owned(),
        detail: err.to_string(),
    }
}

/// Every PEM section of `data`, in order, with its kind.
fn sections(
    file: PemFile,
    path: &Path,
    data: &[u8],
) -> Result<Vec<(SectionKind, Vec<u8>)>, TlsError> {
    <(SectionKind, Vec<u8>)>::pem_slice_iter(data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| invalid_pem(file, path, err))
}

fn certificates_in(
    file: PemFile,
    path: &Path,
    data: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    Ok(sections(file, path, data)?
        .into_iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| CertificateDer::from(der))
        .collect())
}

/// All certificates of a PEM file, in file order; at least one.
pub(crate) fn load_certificates(
    file: PemFile,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = certificates_in(file, path, &read(file, path)?)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            file,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// Trust roots from a PEM file, or from every PEM file of a directory.
///
/// In a directory, files without any certificate (READMEs, CRLs, ...) are skipped and
/// subdirectories are not searched; a file with broken PEM is an error, since a trust root
/// that silently disappears is hard to debug. At least one certificate must be found.
pub(crate) fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    load_roots_and_certificates(path).map(|(roots, _)| roots)
}

/// [`load_roots`], together with the certificates the roots were made from, in the order they
/// were read.
pub(crate) fn load_roots_and_certificates(
    path: &Path,
) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), TlsError> {
    let file = PemFile::CaCertificates;
    let meta = fs::metadata(path).map_err(|err| io_error(file, path, err))?;
    let mut roots = RootCertStore::empty();
    let mut certificates = Vec::new();
    if !meta.is_dir() {
        let certs = load_certificates(file, path)?;
        add_roots(&mut roots, path, &certs)?;
        return Ok((roots, certs));
    }

    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in fs::read_dir(path).map_err(|err| io_error(file, path, err))? {
        let entry = entry.map_err(|err| io_error(file, path, err))?;
        paths.push(entry.path());
    }
    // Sorted so that the first bad file reported is the same on every run.
    paths.sort();
    for entry in paths {
        // Follows symlinks, as in OpenSSL-style hashed CA directories.
        match fs::metadata(&entry) {
            Ok(meta) if meta.is_file() => {}
            _ => continue,
        }
        let certs = certificates_in(file, &entry, &read(file, &entry)?)?;
        add_roots(&mut roots, &entry, &certs)?;
        certificates.extend(certs);
    }
    if roots.is_empty() {
        return Err(TlsError::NoCertificate {
            file,
            path: path.to_owned(),
        });
    }
    Ok((roots, certificates))
}

fn add_roots(
    roots: &mut RootCertStore,
    path: &Path,
    certs: &[CertificateDer<'static>],
) -> Result<(), TlsError> {
    for cert in certs {
        roots
            .add(CertificateDer::from(cert.as_ref()))
            .map_err(|err| TlsError::InvalidCertificate {
                file: PemFile::CaCertificates,
                path: path.to_owned(),
                detail: err.to_string(),
            })?;
    }
    Ok(())
}

/// The first private key of a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), plain or, with
/// `password`, encrypted (`ENCRYPTED PRIVATE KEY`, or OpenSSL's traditional `Proc-Type` and
/// `DEK-Info` headers).
pub(crate) fn load_private_key(
    path: &Path,
    password: Option<&str>,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let data = read(PemFile::PrivateKey, path)?;
    parse_private_key(path, &data, password)
}

fn parse_private_key(
    path: &Path,
    data: &[u8],
    password: Option<&str>,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = String::from_utf8_lossy(data);
    // Without `encrypted-keys` no password is ever used: an encrypted key is refused either way.
    #[cfg(not(feature = "encrypted-keys"))]
    let _ = password;
    #[cfg(not(feature = "encrypted-keys"))]
    if text.contains(ENCRYPTED_BEGIN) || has_proc_type_header(&text) {
        return Err(TlsError::UnsupportedKeyFormat {
            path: path.to_owned(),
            detail: "it is encrypted, and this build of ws-net reads encrypted keys only with its \
                     `encrypted-keys` feature: enable it in Cargo.toml (ws-api and ws-cli have it \
                     too), or decrypt the key with `openssl pkcs8 -topk8 -nocrypt -in OLD.key -out \
                     NEW.key`"
                .to_owned(),
        });
    }
    #[cfg(feature = "encrypted-keys")]
    if let Some(start) = text.find(ENCRYPTED_BEGIN) {
        let Some(password) = password else {
            return Err(TlsError::KeyPasswordRequired {
                path: path.to_owned(),
            });
        };
        return decrypt_pkcs8(path, &text[start..], password);
    }
    // OpenSSL's traditional encryption puts headers inside the block, which the PEM parser
    // would only report as bad base64.
    #[cfg(feature = "encrypted-keys")]
    if let Some(block) = traditional::find(&text) {
        let block = block.map_err(|detail| TlsError::InvalidPem {
            file: PemFile::PrivateKey,
            path: path.to_owned(),
            detail,
        })?;
        return traditional::decrypt(path, &block, password);
    }

    for (kind, der) in sections(PemFile::PrivateKey, path, data)? {
        let key = match kind {
            SectionKind::PrivateKey => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
            SectionKind::RsaPrivateKey => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
            SectionKind::EcPrivateKey => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
            _ => continue,
        };
        return Ok(key);
    }

    if let Some(label) = unsupported_key_label(&text) {
        return Err(TlsError::UnsupportedKeyFormat {
            path: path.to_owned(),
            detail: format!("`{label}` keys are not supported; {CONVERT_HINT}"),
        });
    }
    Err(TlsError::NoPrivateKey {
        path: path.to_owned(),
    })
}

/// The label of a `-----BEGIN ... PRIVATE KEY-----` line that the PEM parser did not take,
/// such as `OPENSSH PRIVATE KEY` or `DSA PRIVATE KEY`.
fn unsupported_key_label(text: &str) -> Option<&str> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("-----BEGIN "))
        .filter_map(|rest| rest.strip_suffix("-----"))
        .find(|label| label.ends_with("PRIVATE KEY"))
}

/// Whether a `... PRIVATE KEY` block of `text` starts with a `Proc-Type` header, as OpenSSL's
/// traditional encrypted keys do.
#[cfg(not(feature = "encrypted-keys"))]
fn has_proc_type_header(text: &str) -> bool {
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let is_key_begin = line
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
            .is_some_and(|label| label.ends_with("PRIVATE KEY"));
        if is_key_begin
            && lines
                .clone()
                .next()
                .is_some_and(|next| next.starts_with("Proc-Type:"))
        {
            return true;
        }
    }
    false
}

/// Decrypts the `ENCRYPTED PRIVATE KEY` block that `text` starts with.
#[cfg(feature = "encrypted-keys")]
fn decrypt_pkcs8(
    path: &Path,
    text: &str,
    password: &str,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let invalid = |detail: String| TlsError::InvalidPem {
        file: PemFile::PrivateKey,
        path: path.to_owned(),
        detail,
    };
    let end = text
        .find(ENCRYPTED_END)
        .ok_or_else(|| invalid(format!("missing `{ENCRYPTED_END}` line")))?;
    let block = &text[..end + ENCRYPTED_END.len()];
    let (_, document) = pkcs8::Document::from_pem(block).map_err(|err| invalid(err.to_string()))?;
    let info = pkcs8::EncryptedPrivateKeyInfo::from_der(document.as_bytes()).map_err(|err| {
        let detail = if is_pkcs12_pbe(document.as_bytes()) {
            format!(
                "it is encrypted with a PKCS#12 password-based scheme (as `openssl pkcs8 -topk8 \
                 -v1 PBE-SHA1-3DES` and OpenSSL 1.0's `openssl pkcs8 -topk8` write), which is \
                 not supported. {REENCRYPT_HINT}"
            )
        } else {
            format!(
                "the encrypted key cannot be parsed, or its encryption scheme is not supported \
                 ({err}). {REENCRYPT_HINT}"
            )
        };
        TlsError::UnsupportedKeyFormat {
            path: path.to_owned(),
            detail,
        }
    })?;

    let wrong_password = || TlsError::WrongKeyPassword {
        path: path.to_owned(),
    };
    let plain = match info.decrypt(password.as_bytes()) {
        Ok(plain) => plain,
        // A wrong key shows up as bad CBC padding (which pkcs5 0.7 reports as
        // `EncryptFailed`), or, rarely, as padding that happens to be right around bytes that
        // are not DER.
        Err(pkcs8::Error::EncryptedPrivateKey(
            pkcs8::pkcs5::Error::DecryptFailed | pkcs8::pkcs5::Error::EncryptFailed,
        ))
        | Err(pkcs8::Error::Asn1(_)) => return Err(wrong_password()),
        Err(err) => {
            return Err(TlsError::UnsupportedKeyFormat {
                path: path.to_owned(),
                detail: format!("its encryption scheme is not supported ({err}). {REENCRYPT_HINT}"),
            })
        }
    };
    // Same reasoning: decrypted bytes that are not a PKCS#8 key mean the password was wrong.
    if pkcs8::PrivateKeyInfo::from_der(plain.as_bytes()).is_err() {
        return Err(wrong_password());
    }
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
    )))
}

#[cfg(feature = "encrypted-keys")]
/// Whether `der`, an `EncryptedPrivateKeyInfo`, names one of PKCS#12's password-based
/// encryption schemes (`pkcs-12PbeIds`, 1.2.840.113549.1.12.1), which pkcs8 cannot parse.
fn is_pkcs12_pbe(der: &[u8]) -> bool {
    use pkcs8::der::asn1::{ObjectIdentifier, OctetStringRef};
    use pkcs8::der::{Reader, SliceReader};
    use pkcs8::spki::AlgorithmIdentifierRef;
    const PKCS12_PBE_IDS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1");
    let Ok(mut reader) = SliceReader::new(der) else {
        return false;
    };
    reader
        .sequence(|outer| {
            let algorithm: AlgorithmIdentifierRef<'_> = outer.decode()?;
            outer.decode::<OctetStringRef<'_>>()?;
            Ok(algorithm.oid)
        })
        .is_ok_and(|oid| oid.parent() == Some(PKCS12_PBE_IDS))
}

/// A certificate chain and its private key, checked to belong together and to be usable
/// with `provider`.
pub(crate) fn load_certified_key(
    cert_chain: &Path,
    key: &Path,
    password: Option<&str>,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = load_certificates(PemFile::CertificateChain, cert_chain)?;
    let key_der = load_private_key(key, password)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|err| TlsError::UnsupportedKeyFormat {
            path: key.to_owned(),
            detail: format!("{err}; supported are RSA, ECDSA (P-256, P-384) and Ed25519 keys"),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // Some key types cannot tell their public key; the handshake will catch a mismatch.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch {
            cert_chain: cert_chain.to_owned(),
            key: key.to_owned(),
        }),
        Err(err) => Err(TlsError::InvalidCertificate {
            file: PemFile::CertificateChain,
            path: cert_chain.to_owned(),
            detail: err.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str, password: Option<&str>) -> Result<PrivateKeyDer<'static>, TlsError> {
        parse_private_key(Path::new("test.key"), text.as_bytes(), password)
    }

    #[test]
    fn recognises_the_three_plain_key_formats() {
        let pkcs8 = key(
            "-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----\n",
            None,
        );
        assert!(matches!(pkcs8, Ok(PrivateKeyDer::Pkcs8(_))));
        let pkcs1 = key(
            "junk before\n-----BEGIN RSA PRIVATE KEY-----\nAAEC\n-----END RSA PRIVATE KEY-----\n",
            None,
        );
        assert!(matches!(pkcs1, Ok(PrivateKeyDer::Pkcs1(_))));
        let sec1 = key(
            "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n\
             -----BEGIN EC PRIVATE KEY-----\nAAEC\n-----END EC PRIVATE KEY-----\n",
            None,
        );
        assert!(matches!(sec1, Ok(PrivateKeyDer::Sec1(_))));
    }

    #[cfg(feature = "encrypted-keys")]
    #[test]
    fn encrypted_key_without_password() {
        let err = key(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAEC\n-----END ENCRYPTED PRIVATE KEY-----\n",
            None,
        )
        .unwrap_err();
        assert!(
            matches!(err, TlsError::KeyPasswordRequired { .. }),
            "{err:?}"
        );
        assert!(err.is_key_error());
    }

    #[cfg(feature = "encrypted-keys")]
    #[test]
    fn traditional_encrypted_key_without_password() {
        let err = key(
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
             DEK-Info: AES-128-CBC,00000000000000000000000000000000\n\n\
             AAAAAAAAAAAAAAAAAAAAAA==\n-----END RSA PRIVATE KEY-----\n",
            None,
        )
        .unwrap_err();
        assert!(
            matches!(err, TlsError::KeyPasswordRequired { .. }),
            "{err:?}"
        );
    }

    #[cfg(not(feature = "encrypted-keys"))]
    #[test]
    fn encrypted_keys_name_the_feature() {
        let pkcs8 =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let traditional = "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
             DEK-Info: AES-128-CBC,00000000000000000000000000000000\n\n\
             AAAAAAAAAAAAAAAAAAAAAA==\n-----END EC PRIVATE KEY-----\n";
        for text in [pkcs8, traditional] {
            for password in [None, Some("pw")] {
                let err = key(text, password).unwrap_err();
                assert!(
                    matches!(err, TlsError::UnsupportedKeyFormat { .. }),
                    "{err:?}"
                );
                assert!(err.is_key_error());
                assert!(
                    err.to_string().contains("`encrypted-keys` feature"),
                    "{err}"
                );
            }
        }
        // A plain key next to a header-less block is still read.
        let plain = key(
            "-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----\n",
            None,
        );
        assert!(matches!(plain, Ok(PrivateKeyDer::Pkcs8(_))));
    }

    #[test]
    fn foreign_keys_are_unsupported() {
        let ssh = key(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAEC\n-----END OPENSSH PRIVATE KEY-----\n",
            None,
        )
        .unwrap_err();
        assert!(ssh.to_string().contains("`OPENSSH PRIVATE KEY`"), "{ssh}");
    }

    #[test]
    fn garbage_and_broken_pem() {
        let none = key("hello world\n", None).unwrap_err();
        assert!(matches!(none, TlsError::NoPrivateKey { .. }), "{none:?}");
        let broken = key(
            "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
            None,
        )
        .unwrap_err();
        assert!(matches!(broken, TlsError::InvalidPem { .. }), "{broken:?}");
        let unterminated = key("-----BEGIN PRIVATE KEY-----\nAAEC\n", None).unwrap_err();
        assert!(matches!(unterminated, TlsError::InvalidPem { .. }));
    }

    #[cfg(feature = "encrypted-keys")]
    #[test]
    fn encrypted_block_that_is_not_pkcs8() {
        // An empty DER SEQUENCE: valid PEM, but no EncryptedPrivateKeyInfo.
        let err = key(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
            Some("pw"),
        )
        .unwrap_err();
        assert!(
            matches!(err, TlsError::UnsupportedKeyFormat { .. }),
            "{err:?}"
        );

        let not_der = key(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAEC\n-----END ENCRYPTED PRIVATE KEY-----\n",
            Some("pw"),
        )
        .unwrap_err();
        assert!(
            matches!(not_der, TlsError::InvalidPem { .. }),
            "{not_der:?}"
        );

        let unterminated = key("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n", Some("pw"));
        assert!(matches!(unterminated, Err(TlsError::InvalidPem { .. })));
    }

    #[cfg(feature = "encrypted-keys")]
    /// A throwaway P-256 key in PKCS#8, for the vectors that `openssl` wrote from it.
    pub(super) const SMALL_EC_PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\
        /gf9HQvLPesGJV9BzRhAdpNNqKX3M29wHrAn6nTcqguhRANCAASF1/KxOGkxnBhbubBVgSooG48DFsOy+Cub+OZZ\
        SKCHVTaFho24OJ7cH4j9Q39gEIKUsFmeU/k19hKkspW/mpXg";
    #[cfg(feature = "encrypted-keys")]
    pub(super) const SMALL_EC_PASSWORD: &str = "vector pw";

    #[cfg(feature = "encrypted-keys")]
    pub(super) fn base64(text: &str) -> Vec<u8> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    }

    #[cfg(feature = "encrypted-keys")]
    #[test]
    fn pbes2_with_single_des_as_openssl_wrote_it() {
        // `openssl pkcs8 -topk8 -v2 des -iter 1 -provider legacy -provider default`: OpenSSL 3
        // reads DES only with its legacy provider, so this is a fixed vector.
        let decrypted = key(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\n\
             MIHfMEoGCSqGSIb3DQEFDTA9MCgGCSqGSIb3DQEFDDAbBAiiuU0uws1ShAIBATAM\n\
             BggqhkiG9w0CCQUAMBEGBSsOAwIHBAiduWaUCUCEowSBkI4zPxwolJXe/7xiGcjs\n\
             pMf1q9r9F4KuEse4XgIvW1VBLRhla2PqNdehZHmgvZtF4Zm6cgvbebylQxfjYSgC\n\
             KmD5raYieoZkfed96ZWa++bblKzyUZL/b9s8Wy7rA1d1R7lp+wqsRzaLt5JlRT2b\n\
             9roQ6I1fF99C5FJHMoJHJBmojCJuxK9zlo5vm+Z6E7vUYg==\n\
             -----END ENCRYPTED PRIVATE KEY-----\n",
            Some(SMALL_EC_PASSWORD),
        )
        .unwrap();
        assert!(matches!(decrypted, PrivateKeyDer::Pkcs8(_)));
        assert_eq!(decrypted.secret_der(), base64(SMALL_EC_PKCS8));
    }

    #[cfg(feature = "encrypted-keys")]
    #[test]
    fn pkcs12_encrypted_key_is_named_as_such() {
        // `openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES -iter 1` of a throwaway P-256 key.
        let err = key(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\n\
             MIGwMBsGCiqGSIb3DQEMAQMwDQQIKTn9Q9bEBtQCAQEEgZDYgMwk+JIJz76wNbuh\n\
             Rq515jqySVjsdEbu0j3vFP8D68yXPNbUby3szImqanrSmA2R3jQ4FBpI9k8Nuum9\n\
             5CWsyEifY1M7CjuZpCimLKQhO0FTrYfbl6WZuE1HamABgAMi5e0JIQFObfTf6xLc\n\
             s1Gv79QDNAZxDhvGOHH3u7p2gh9LCucSxi6i7IPbjlrX5Js=\n\
             -----END ENCRYPTED PRIVATE KEY-----\n",
            Some("pw"),
        )
        .unwrap_err();
        assert!(
            matches!(err, TlsError::UnsupportedKeyFormat { .. }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("PKCS#12"), "{text}");
        assert!(
            text.contains("openssl pkcs8 -topk8 -v2 aes-256-cbc"),
            "{text}"
        );
    }

    #[cfg(feature = "encrypted-keys")]
    #[test]
    fn every_wrong_password_is_reported_as_wrong() {
        // RFC 8410's Ed25519 example key, encrypted with a single PBKDF2 round to keep this fast.
        let plain = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(
            b"-----BEGIN PRIVATE KEY-----\n\
              MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
              -----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let info = pkcs8::PrivateKeyInfo::from_der(plain.secret_pkcs8_der()).unwrap();
        let params =
            pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(1, b"salt", &[1; 16]).unwrap();
        let encrypted = info
            .encrypt_with_params(params, "right")
            .unwrap()
            .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
            .unwrap();

        let decrypted = key(&encrypted, Some("right")).unwrap();
        assert_eq!(decrypted.secret_der(), plain.secret_pkcs8_der());
        // About one wrong key in 256 still yields valid padding; those must not slip through
        // as another kind of error.
        for n in 0..1000 {
            let err = key(&encrypted, Some(&format!("wrong {n}"))).unwrap_err();
            assert!(
                matches!(err, TlsError::WrongKeyPassword { .. }),
                "{n}: {err:?}"
            );
        }
    }
}
