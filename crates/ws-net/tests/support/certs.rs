//! Certificates and keys for the TLS tests, made at run time with rcgen in a private temp dir.
//!
//! ring cannot generate RSA keys, so the RSA key is a fixed, test-only key committed next to
//! this file (`rsa-2048.pem`), together with a copy that `openssl pkcs8 -topk8 -v2 aes-256-cbc`
//! encrypted with the password [`OPENSSL_KEY_PASSWORD`], to check interoperability with the
//! most common tool. [`openssl`] runs the real `openssl` command, for the tests of the key
//! encryptions that only it writes; it fails the test, saying what to install, when the
//! command is missing.

#![allow(dead_code)] // Each test file uses a different part.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pkcs8::der::pem::LineEnding;
use pkcs8::der::Decode;
use pkcs8::pkcs5::pbes2;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

pub const RSA_KEY_PKCS8: &str = include_str!("rsa-2048.pem");
pub const RSA_KEY_OPENSSL_ENCRYPTED: &str = include_str!("rsa-2048-openssl-aes256.pem");
pub const OPENSSL_KEY_PASSWORD: &str = "openssl-secret";

/// A directory under the system temp dir, unique to this process and call, removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "ws-net-tls-{tag}-{}-{nanos}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to `name` inside the directory and returns the full path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent dir");
        }
        fs::write(&path, contents).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Which key a certificate is made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    EcdsaP256,
    Rsa2048,
}

impl KeyKind {
    fn key_pair(self) -> KeyPair {
        match self {
            KeyKind::EcdsaP256 => KeyPair::generate().expect("generate P-256 key"),
            KeyKind::Rsa2048 => KeyPair::from_pem(RSA_KEY_PKCS8).expect("load RSA test key"),
        }
    }
}

/// A self-signed certificate authority.
pub struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pub cert_pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("generate CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert_pem = params.self_signed(&key).expect("self-sign CA").pem();
        Ca {
            params,
            key,
            cert_pem,
        }
    }

    pub fn issue(&self, spec: &Leaf) -> Issued {
        let key = spec.key.key_pair();
        let mut params = CertificateParams::new(spec.names.clone()).expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, "ws-net test");
        params.extended_key_usages = vec![if spec.client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        if let Some((y, m, d)) = spec.not_before {
            params.not_before = rcgen::date_time_ymd(y, m, d);
        }
        if let Some((y, m, d)) = spec.not_after {
            params.not_after = rcgen::date_time_ymd(y, m, d);
        }
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("sign leaf");
        Issued {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key,
        }
    }
}

/// What to put in a leaf certificate.
#[derive(Clone, Debug)]
pub struct Leaf {
    pub names: Vec<String>,
    pub client: bool,
    pub key: KeyKind,
    pub not_before: Option<(i32, u8, u8)>,
    pub not_after: Option<(i32, u8, u8)>,
}

impl Leaf {
    pub fn server(names: &[&str]) -> Leaf {
        Leaf {
            names: names.iter().map(|n| n.to_string()).collect(),
            client: false,
            key: KeyKind::EcdsaP256,
            not_before: None,
            not_after: None,
        }
    }

    pub fn client(key: KeyKind) -> Leaf {
        Leaf {
            names: vec!["client.test".to_owned()],
            client: true,
            key,
            not_before: None,
            not_after: None,
        }
    }

    pub fn valid_between(mut self, from: (i32, u8, u8), until: (i32, u8, u8)) -> Leaf {
        self.not_before = Some(from);
        self.not_after = Some(until);
        self
    }
}

/// A certificate and its key.
pub struct Issued {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub key: KeyPair,
}

impl Issued {
    /// `PRIVATE KEY` (PKCS#8).
    pub fn pkcs8_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// `RSA PRIVATE KEY` (PKCS#1) for RSA keys, `EC PRIVATE KEY` (SEC1) for EC keys: the key
    /// structure that PKCS#8 wraps.
    pub fn traditional_pem(&self) -> String {
        let der = self.key.serialize_der();
        let info = pkcs8::PrivateKeyInfo::from_der(&der).expect("parse PKCS#8");
        let label = match info.algorithm.oid.to_string().as_str() {
            "1.2.840.113549.1.1.1" => "RSA PRIVATE KEY",
            "1.2.840.10045.2.1" => "EC PRIVATE KEY",
            other => panic!("no traditional format for key algorithm {other}"),
        };
        pkcs8::der::pem::encode_string(label, LineEnding::LF, info.private_key).expect("encode PEM")
    }

    /// `ENCRYPTED PRIVATE KEY` (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC) under `password`.
    pub fn encrypted_pem(&self, password: &str) -> String {
        let der = self.key.serialize_der();
        let info = pkcs8::PrivateKeyInfo::from_der(&der).expect("parse PKCS#8");
        let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"ws-net-salt", &[7; 16])
            .expect("PBES2 parameters");
        info.encrypt_with_params(params, password)
            .expect("encrypt key")
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .expect("encode PEM")
            .to_string()
    }
}

/// How long one `openssl` command may take before the test fails.
const OPENSSL_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `openssl ARGS...` in `dir` and fails the test, with what it printed, unless it
/// succeeds within [`OPENSSL_TIMEOUT`].
pub fn openssl(dir: &Path, args: &[&str]) {
    let command = format!("openssl {}", args.join(" "));
    let stderr_path = dir.join("openssl.stderr");
    let stderr = File::create(&stderr_path).expect("create openssl.stderr");
    let mut child = match Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
    {
        Ok(child) => child,
        Err(err) if err.kind() == io::ErrorKind::NotFound => panic!(
            "this test needs the `openssl` command, which is not on PATH: install OpenSSL \
             (Debian/Ubuntu: `apt-get install openssl`; `cargo xtask ci` installs it)"
        ),
        Err(err) => panic!("cannot run `{command}`: {err}"),
    };
    let deadline = Instant::now() + OPENSSL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for openssl") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{command}` did not finish within {OPENSSL_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let printed = fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "`{command}` failed ({status}): {printed}");
}

/// `issued`'s key, encrypted under `password` by `openssl ARGS... -in plain.key -out NAME
/// -passout pass:PASSWORD` (the first of `args` names the openssl command); returns the path.
pub fn openssl_encrypted_key(
    dir: &TempDir,
    issued: &Issued,
    name: &str,
    args: &[&str],
    password: &str,
) -> PathBuf {
    let plain = dir.write("plain.key", issued.pkcs8_pem());
    let out = dir.path().join(name);
    let passout = format!("pass:{password}");
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "-in",
        plain.to_str().expect("UTF-8 temp path"),
        "-out",
        out.to_str().expect("UTF-8 temp path"),
        "-passout",
        &passout,
    ]);
    openssl(dir.path(), &all);
    fs::remove_file(&plain).expect("remove plain.key");
    out
}
