//! OpenSSL's traditional encrypted PEM keys: a `... PRIVATE KEY` block with RFC 1421 headers,
//! as `openssl rsa -aes256 -traditional` or `openssl ec -aes256` write them:
//!
//! ```text
//! -----BEGIN RSA PRIVATE KEY-----
//! Proc-Type: 4,ENCRYPTED
//! DEK-Info: AES-256-CBC,<IV in hex>
//!
//! <base64 of the CBC-encrypted, PKCS#7-padded key>
//! -----END RSA PRIVATE KEY-----
//! ```
//!
//! The cipher key comes from OpenSSL's `EVP_BytesToKey` (MD5, one round) over the password,
//! salted with the first 8 bytes of the IV. The decrypted bytes are the key structure that the
//! label names: PKCS#1 for `RSA PRIVATE KEY`, SEC1 for `EC PRIVATE KEY`, PKCS#8 for
//! `PRIVATE KEY`.
//!
//! rustls' PEM parser does not take header lines, so these blocks are parsed here.

use std::path::Path;

use base64::Engine as _;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockCipher, BlockDecryptMut, KeyInit, KeyIvInit};
use md5::{Digest as _, Md5};
use pkcs8::der::Decode;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

use super::{TlsError, REENCRYPT_HINT};
use crate::tls::error::PemFile;

/// The `DEK-Info` ciphers that can be decrypted, as OpenSSL names them.
const SUPPORTED_CIPHERS: &str = "AES-128-CBC, AES-192-CBC, AES-256-CBC, DES-EDE3-CBC and DES-CBC";

/// A cipher named by `DEK-Info`, in CBC mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cipher {
    Aes128,
    Aes192,
    Aes256,
    DesEde3,
    Des,
}

impl Cipher {
    /// OpenSSL's cipher names are case-insensitive.
    fn from_name(name: &str) -> Option<Cipher> {
        Some(match name.to_ascii_uppercase().as_str() {
            "AES-128-CBC" => Cipher::Aes128,
            "AES-192-CBC" => Cipher::Aes192,
            "AES-256-CBC" => Cipher::Aes256,
            "DES-EDE3-CBC" => Cipher::DesEde3,
            "DES-CBC" => Cipher::Des,
            _ => return None,
        })
    }

    fn key_len(self) -> usize {
        match self {
            Cipher::Aes128 => 16,
            Cipher::Aes192 | Cipher::DesEde3 => 24,
            Cipher::Aes256 => 32,
            Cipher::Des => 8,
        }
    }

    /// The block size, which is also the IV size.
    fn block_len(self) -> usize {
        match self {
            Cipher::Aes128 | Cipher::Aes192 | Cipher::Aes256 => 16,
            Cipher::DesEde3 | Cipher::Des => 8,
        }
    }

    /// Decrypts and unpads `data`; `None` when the padding is wrong, which is what a wrong
    /// key usually gives.
    fn decrypt(self, key: &[u8], iv: &[u8], data: &[u8]) -> Option<Vec<u8>> {
        match self {
            Cipher::Aes128 => cbc_decrypt::<aes::Aes128>(key, iv, data),
            Cipher::Aes192 => cbc_decrypt::<aes::Aes192>(key, iv, data),
            Cipher::Aes256 => cbc_decrypt::<aes::Aes256>(key, iv, data),
            Cipher::DesEde3 => cbc_decrypt::<des::TdesEde3>(key, iv, data),
            Cipher::Des => cbc_decrypt::<des::Des>(key, iv, data),
        }
    }
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], data: &[u8]) -> Option<Vec<u8>>
where
    C: BlockCipher + BlockDecryptMut + KeyInit,
{
    let decryptor = cbc::Decryptor::<C>::new_from_slices(key, iv).ok()?;
    let mut buf = data.to_vec();
    let len = decryptor.decrypt_padded_mut::<Pkcs7>(&mut buf).ok()?.len();
    buf.truncate(len);
    Some(buf)
}

/// OpenSSL's `EVP_BytesToKey` with MD5 and one round, as its PEM code calls it: the
/// concatenation of `D_i = MD5(D_(i-1) || password || salt)`, cut to `len` bytes.
fn evp_bytes_to_key(password: &[u8], salt: &[u8], len: usize) -> Vec<u8> {
    let mut key = Vec::with_capacity(len + 16);
    let mut previous: Option<md5::digest::Output<Md5>> = None;
    while key.len() < len {
        let mut md5 = Md5::new();
        if let Some(previous) = &previous {
            md5.update(previous);
        }
        md5.update(password);
        md5.update(salt);
        let block = md5.finalize();
        key.extend_from_slice(&block);
        previous = Some(block);
    }
    key.truncate(len);
    key
}

/// A `... PRIVATE KEY` block that carries RFC 1421 headers.
#[derive(Debug)]
pub(super) struct Block<'a> {
    label: &'a str,
    /// `(name, value)` in file order.
    headers: Vec<(&'a str, String)>,
    body: String,
}

impl<'a> Block<'a> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn begin_label(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix("-----BEGIN ")?
        .strip_suffix("-----")
        .filter(|label| label.ends_with("PRIVATE KEY"))
}

/// The first private key block of `text` whose first line is a `Proc-Type` header, if any.
/// `Err` is a detail for [`TlsError::InvalidPem`].
pub(super) fn find(text: &str) -> Option<Result<Block<'_>, String>> {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(label) = begin_label(line) else {
            continue;
        };
        let first = lines.clone().next().unwrap_or("");
        if !first.trim_start().starts_with("Proc-Type:") {
            continue;
        }
        return Some(parse_block(label, lines));
    }
    None
}

fn parse_block<'a>(label: &'a str, lines: std::str::Lines<'a>) -> Result<Block<'a>, String> {
    let end = format!("-----END {label}-----");
    let mut headers: Vec<(&'a str, String)> = Vec::new();
    let mut body = String::new();
    let mut in_headers = true;
    for line in lines {
        let line = line.trim_end();
        if line.trim_start() == end {
            if headers.is_empty() || in_headers {
                return Err("no blank line after the `Proc-Type` and `DEK-Info` headers".into());
            }
            return Ok(Block {
                label,
                headers,
                body,
            });
        }
        if line.trim_start().starts_with("-----") {
            break;
        }
        if in_headers {
            if line.is_empty() {
                in_headers = false;
            } else if line.starts_with([' ', '\t']) {
                // A header continued on the next line (RFC 1421).
                match headers.last_mut() {
                    Some((_, value)) => value.push_str(line.trim()),
                    None => return Err(format!("unexpected line `{line}`")),
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim(), value.trim().to_owned()));
            } else {
                return Err(format!("expected a header or a blank line, found `{line}`"));
            }
        } else {
            body.push_str(line.trim());
        }
    }
    Err(format!("missing `{end}` line"))
}

/// Decrypts an encrypted traditional key block.
pub(super) fn decrypt(
    path: &Path,
    block: &Block<'_>,
    password: Option<&str>,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let invalid = |detail: String| TlsError::InvalidPem {
        file: PemFile::PrivateKey,
        path: path.to_owned(),
        detail,
    };
    let unsupported = |detail: String| TlsError::UnsupportedKeyFormat {
        path: path.to_owned(),
        detail,
    };

    let kind = match block.label {
        "RSA PRIVATE KEY" => KeyKind::Pkcs1,
        "EC PRIVATE KEY" => KeyKind::Sec1,
        "PRIVATE KEY" => KeyKind::Pkcs8,
        other => {
            return Err(unsupported(format!(
                "`{other}` keys are not supported; supported are RSA, ECDSA (P-256, P-384) and \
                 Ed25519 keys"
            )))
        }
    };
    match block.header("Proc-Type") {
        Some(value) if value.replace(' ', "") == "4,ENCRYPTED" => {}
        Some(value) => {
            return Err(unsupported(format!(
                "its PEM header `Proc-Type: {value}` is not supported (expected \
                 `Proc-Type: 4,ENCRYPTED`)"
            )))
        }
        None => return Err(invalid("missing `Proc-Type` header".into())),
    }
    let dek_info = block.header("DEK-Info").ok_or_else(|| {
        invalid("missing `DEK-Info` header after `Proc-Type: 4,ENCRYPTED`".into())
    })?;
    let (name, iv_hex) = dek_info
        .split_once(',')
        .map(|(name, iv)| (name.trim(), iv.trim()))
        .ok_or_else(|| {
            invalid(format!(
                "`DEK-Info: {dek_info}` is not of the form `DEK-Info: CIPHER,IV`"
            ))
        })?;
    let cipher = Cipher::from_name(name).ok_or_else(|| {
        unsupported(format!(
            "it is encrypted with {name} (`DEK-Info` header), which is not supported; \
             supported are {SUPPORTED_CIPHERS}. {REENCRYPT_HINT}"
        ))
    })?;
    let iv = decode_hex(iv_hex)
        .filter(|iv| iv.len() == cipher.block_len())
        .ok_or_else(|| {
            invalid(format!(
                "the IV in `DEK-Info: {dek_info}` is not {} hex digits",
                2 * cipher.block_len()
            ))
        })?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(&block.body)
        .map_err(|err| invalid(format!("bad base64 in the encrypted key ({err})")))?;
    if data.is_empty() || data.len() % cipher.block_len() != 0 {
        return Err(invalid(format!(
            "the encrypted key is {} bytes long, not a whole number of {name} blocks",
            data.len()
        )));
    }

    let Some(password) = password else {
        return Err(TlsError::KeyPasswordRequired {
            path: path.to_owned(),
        });
    };
    let key = evp_bytes_to_key(password.as_bytes(), &iv[..8], cipher.key_len());
    // A wrong password shows up as bad padding or, when the padding happens to come out
    // right, as bytes that are not the key structure the label promises.
    cipher
        .decrypt(&key, &iv, &data)
        .and_then(|plain| kind.check(plain))
        .ok_or_else(|| TlsError::WrongKeyPassword {
            path: path.to_owned(),
        })
}

/// What the decrypted bytes of a block are.
#[derive(Clone, Copy, Debug)]
enum KeyKind {
    Pkcs1,
    Sec1,
    Pkcs8,
}

impl KeyKind {
    /// `plain` as a key, if it parses as one of this kind.
    fn check(self, plain: Vec<u8>) -> Option<PrivateKeyDer<'static>> {
        Some(match self {
            KeyKind::Pkcs1 => {
                pkcs1::RsaPrivateKey::from_der(&plain).ok()?;
                PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(plain))
            }
            KeyKind::Sec1 => {
                sec1::EcPrivateKey::from_der(&plain).ok()?;
                PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(plain))
            }
            KeyKind::Pkcs8 => {
                pkcs8::PrivateKeyInfo::from_der(&plain).ok()?;
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(plain))
            }
        })
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digits = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(digits, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::tls::pem::tests::{base64, SMALL_EC_PASSWORD as PASSWORD, SMALL_EC_PKCS8};

    fn key(text: &str, password: Option<&str>) -> Result<PrivateKeyDer<'static>, TlsError> {
        super::super::parse_private_key(Path::new("test.key"), text.as_bytes(), password)
    }

    // The throwaway P-256 key of pem.rs' tests, written by `openssl ec -aes128 -passout
    // 'pass:vector pw'`, by `openssl ec -des3 ...` and by `openssl ec -des ...` (with
    // `-provider legacy -provider default`), and its plain SEC1 DER.
    const EC_AES128: &str = "-----BEGIN EC PRIVATE KEY-----
Proc-Type: 4,ENCRYPTED
DEK-Info: AES-128-CBC,283FE482E02AC32665A731C5F89D3788

t1DdHlaSEej79AOVKNqFGkYvZdT/BMSZQMA5tGEZYXJs5KpbcskcBL2wSB06b5lu
7bDB+lK4xo/vVYvi+eKFeEnB0+OApl6tLehm/Eg9sxisqeUFqKPJED32VI6weyK8
aCOz80L4Mi3CN8PKaWP86geX/9/n7VtIFkHlLewKWpo=
-----END EC PRIVATE KEY-----
";
    const EC_DES3: &str = "-----BEGIN EC PRIVATE KEY-----
Proc-Type: 4,ENCRYPTED
DEK-Info: DES-EDE3-CBC,F7E27973AB93C0D3

FAtPs5K6LLRycXI2GHmCuQTsGMI3wVLOygTIQla4yIWqtg3uKCS7/CNF0BkjUFRP
7rxiR8TLjRbGIOOXpP176zvn/O1inZVnExNv8v1EgngBkzCiPGHiaU6d9SYtzEkW
Y3qpMMQZpi+661ryxpJ9fDc4PifspVUNnL+SXbisZC0=
-----END EC PRIVATE KEY-----
";
    const EC_DES: &str = "-----BEGIN EC PRIVATE KEY-----
Proc-Type: 4,ENCRYPTED
DEK-Info: DES-CBC,712CAB69B87592D3

EU8ZlP0Ry07KInZ0XPZtgwweTyUh0oSvumIn6yDarrUD4iBzG8xdM5mpFIMYt3Gd
DbG1SJdO8pVNnP+HPgl5ha0V/9zBcV8PjvqQ3txhqtH9CZEZgjl4PTx4KSfJoEqG
uRW+lWA08W0WKZ4zzYZQOVH/ayqTGReS2hLnE0Pasu4=
-----END EC PRIVATE KEY-----
";
    const EC_SEC1: &str = "MHcCAQEEIP4H/R0Lyz3rBiVfQc0YQHaTTail9zNvcB6wJ+p03KoLoAoGCCqGSM49AwEHoUQDQgAEhdfysThpMZwYW7mwVYEqKBuPAxbDsvgrm/jmWUigh1U2hYaNuDie3B+I/UN/YBCClLBZnlP5NfYSpLKVv5qV4A==";
    // The PKCS#8 DER of the same key, encrypted with `openssl enc -aes-128-cbc -K KEY -iv IV`
    // where KEY is what `openssl enc -aes-128-cbc -md md5 -S 0011223344556677 -P` derives
    // from the password. OpenSSL reads this block too (`openssl pkey -in ...`), though none
    // of its commands writes one.
    const PKCS8_AES128: &str = "-----BEGIN PRIVATE KEY-----
Proc-Type: 4,ENCRYPTED
DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF

HZRt86ckAVkys53ERdVrU/v1aWcfhBY1mg8rTurwhOD7rE9X5huA8DvIhxqjwI4T
MIIn4WjTJalaXOVFMoIMM9YgEie6Bn+ZjJIwKeASc4TzD6gWTJthHZAvbz6W1lBg
5metIoxvJA9hLl089il3AEvLRGTQoPf1zTuxh53hl7wQMZ7CoZTNJDQuD52GbKX0
-----END PRIVATE KEY-----
";

    #[test]
    fn evp_bytes_to_key_matches_openssl() {
        // `openssl enc -aes-256-cbc -md md5 -S 0001020304050607 -pass 'pass:correct horse' -P`
        // prints the first 32 bytes as the key and the next 16 as the IV.
        let expected = "E0F73587E34C3D27E658B26999358AE4E1D03CD6305D935C07BCD4F3CA3D2587\
                        327C5CDB618F5AEF59184CEC4BF628B8";
        let salt = [0, 1, 2, 3, 4, 5, 6, 7];
        let derived = evp_bytes_to_key(b"correct horse", &salt, 48);
        assert_eq!(derived, decode_hex(expected).unwrap());
        // Shorter keys are prefixes: 16 bytes for AES-128, 24 for AES-192 and 3DES.
        assert_eq!(evp_bytes_to_key(b"correct horse", &salt, 24), derived[..24]);
        assert_eq!(evp_bytes_to_key(b"correct horse", &salt, 8), derived[..8]);
    }

    #[test]
    fn decrypts_what_openssl_wrote() {
        for pem in [EC_AES128, EC_DES3, EC_DES] {
            let decrypted = key(pem, Some(PASSWORD)).unwrap();
            assert!(matches!(decrypted, PrivateKeyDer::Sec1(_)));
            assert_eq!(decrypted.secret_der(), base64(EC_SEC1));
        }
        let decrypted = key(PKCS8_AES128, Some(PASSWORD)).unwrap();
        assert!(matches!(decrypted, PrivateKeyDer::Pkcs8(_)));
        assert_eq!(decrypted.secret_der(), base64(SMALL_EC_PKCS8));
    }

    #[test]
    fn headers_may_be_spaced_folded_and_end_in_crlf() {
        let folded = EC_AES128
            .replace("DEK-Info: AES-128-CBC,", "DEK-Info: aes-128-cbc,\n  ")
            .replace('\n', "\r\n");
        let text = format!("Bag Attributes\n    friendlyName: test\n{folded}");
        let decrypted = key(&text, Some(PASSWORD)).unwrap();
        assert_eq!(decrypted.secret_der(), base64(EC_SEC1));
    }

    #[test]
    fn every_wrong_password_is_reported_as_wrong() {
        // About one wrong key in 256 still yields valid padding (a last byte of 1); those
        // must be caught by the structure check.
        for pem in [EC_AES128, EC_DES3, EC_DES, PKCS8_AES128] {
            for n in 0..1000 {
                let err = key(pem, Some(&format!("wrong {n}"))).unwrap_err();
                assert!(
                    matches!(err, TlsError::WrongKeyPassword { .. }),
                    "{n}: {err:?}"
                );
                assert!(err.is_key_error());
            }
        }
    }

    #[test]
    fn no_password_asks_for_one() {
        let err = key(EC_AES128, None).unwrap_err();
        assert!(
            matches!(err, TlsError::KeyPasswordRequired { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("password is required"), "{err}");
    }

    #[test]
    fn unsupported_cipher_is_named_with_a_way_out() {
        let camellia = EC_AES128.replace("AES-128-CBC", "CAMELLIA-128-CBC");
        // Said before asking for a password, which would not help.
        for password in [None, Some(PASSWORD)] {
            let err = key(&camellia, password).unwrap_err();
            assert!(
                matches!(err, TlsError::UnsupportedKeyFormat { .. }),
                "{err:?}"
            );
            let text = err.to_string();
            assert!(text.contains("CAMELLIA-128-CBC"), "{text}");
            assert!(text.contains("AES-256-CBC"), "{text}");
            assert!(text.contains("openssl pkcs8 -topk8"), "{text}");
        }
    }

    #[test]
    fn unsupported_key_types_and_header_values() {
        let dsa = EC_AES128.replace("EC PRIVATE KEY", "DSA PRIVATE KEY");
        let err = key(&dsa, Some(PASSWORD)).unwrap_err();
        assert!(err.to_string().contains("`DSA PRIVATE KEY`"), "{err}");
        let mic = EC_AES128.replace("4,ENCRYPTED", "4,MIC-ONLY");
        let err = key(&mic, Some(PASSWORD)).unwrap_err();
        assert!(
            matches!(err, TlsError::UnsupportedKeyFormat { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("4,MIC-ONLY"), "{err}");
    }

    #[test]
    fn malformed_blocks_are_invalid_pem() {
        let cases = [
            EC_AES128.replace(
                "DEK-Info: AES-128-CBC,283FE482E02AC32665A731C5F89D3788\n",
                "",
            ),
            EC_AES128.replace("AES-128-CBC,283F", "AES-128-CBC283F"),
            EC_AES128.replace(",283FE482E02AC32665A731C5F89D3788", ",283FE482"),
            EC_AES128.replace(
                ",283FE482E02AC32665A731C5F89D3788",
                ",+83FE482E02AC32665A731C5F89D3788",
            ),
            EC_AES128.replace("3788\n\n", "3788\n"),
            EC_AES128.replace("-----END EC PRIVATE KEY-----\n", ""),
            EC_AES128.replace("LewKWpo=", "LewK"),
            EC_AES128.replace("t1DdHlaS", "t1Dd!!aS"),
        ];
        for (n, text) in cases.iter().enumerate() {
            let err = key(text, Some(PASSWORD)).unwrap_err();
            assert!(matches!(err, TlsError::InvalidPem { .. }), "{n}: {err:?}");
            assert!(err.is_key_error());
        }
    }

    #[test]
    fn plain_blocks_are_left_to_the_pem_parser() {
        assert!(
            find("-----BEGIN RSA PRIVATE KEY-----\nAAEC\n-----END RSA PRIVATE KEY-----\n")
                .is_none()
        );
        assert!(find("-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n").is_none());
    }
}
