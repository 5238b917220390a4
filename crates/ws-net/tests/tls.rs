//! TLS over loopback TCP: a real server built with `TlsAcceptor` (or plain rustls where the
//! test needs a setting the API does not offer) and a real client built with
//! `TlsClientOptions`. Certificates are made at run time.

#[path = "support/certs.rs"]
mod certs;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::AlertDescription;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use ws_net::tls::{
    ClientCert, Peer, PemFile, TlsAcceptor, TlsClientOptions, TlsError, TlsServerOptions,
    TlsVersion,
};

use certs::{Ca, Issued, KeyKind, Leaf, TempDir};

const GREETING: &[u8] = b"hello from the server";
const PING: &[u8] = b"ping from the client";
const PONG: &[u8] = b"pong from the server";

/// Fails the test instead of hanging it.
async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("test step timed out")
}

/// Accepts one TLS connection on 127.0.0.1 and runs the exchange: the server greets, the
/// client pings, the server pongs. The server speaks first so that a client rejected after
/// its handshake (TLS 1.3 client auth) learns of it on a read, with nothing of its own in
/// flight that could turn the server's close into a reset.
async fn serve_once(acceptor: TlsAcceptor) -> (SocketAddr, JoinHandle<Result<(), TlsError>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(TlsError::Io)?;
        let mut tls = acceptor.accept(tcp).await?;
        let io = |err| TlsError::from_io(err, Peer::Client);
        tls.write_all(GREETING).await.map_err(io)?;
        tls.flush().await.map_err(io)?;
        let mut ping = vec![0; PING.len()];
        tls.read_exact(&mut ping).await.map_err(io)?;
        assert_eq!(ping, PING);
        tls.write_all(PONG).await.map_err(io)?;
        tls.shutdown().await.map_err(io)?;
        Ok(())
    });
    (addr, server)
}

/// The client half of [`serve_once`].
async fn exchange(
    options: &TlsClientOptions,
    host: &str,
    addr: SocketAddr,
) -> Result<(), TlsError> {
    let connector = options.build()?;
    let tcp = TcpStream::connect(addr).await.map_err(TlsError::Io)?;
    let mut tls = connector.connect(host, tcp).await?;
    let io = |err| TlsError::from_io(err, Peer::Server);
    let mut greeting = vec![0; GREETING.len()];
    tls.read_exact(&mut greeting).await.map_err(io)?;
    assert_eq!(greeting, GREETING);
    tls.write_all(PING).await.map_err(io)?;
    tls.flush().await.map_err(io)?;
    let mut pong = vec![0; PONG.len()];
    tls.read_exact(&mut pong).await.map_err(io)?;
    assert_eq!(pong, PONG);
    Ok(())
}

/// Runs one connection; returns the client's and the server's results.
async fn run(
    acceptor: TlsAcceptor,
    options: &TlsClientOptions,
    host: &str,
) -> (Result<(), TlsError>, Result<(), TlsError>) {
    bounded(async {
        let (addr, server) = serve_once(acceptor).await;
        let client = exchange(options, host, addr).await;
        let server = server.await.expect("server task panicked");
        (client, server)
    })
    .await
}

/// Writes a server certificate and key for `leaf`, issued by `ca`, and builds an acceptor.
fn acceptor_for(dir: &TempDir, ca: &Ca, leaf: &Leaf) -> TlsAcceptor {
    let issued = ca.issue(leaf);
    let cert = dir.write("server.crt", &issued.cert_pem);
    let key = dir.write("server.key", issued.pkcs8_pem());
    TlsAcceptor::from_pem_files(&cert, &key).expect("server acceptor")
}

fn trusting(ca_path: PathBuf) -> TlsClientOptions {
    TlsClientOptions::default().ca(ca_path)
}

fn localhost() -> Leaf {
    Leaf::server(&["localhost"])
}

#[tokio::test]
async fn valid_chain_with_ca_file_round_trips() {
    let dir = TempDir::new("ca-file");
    let ca = Ca::new("Test CA");
    let acceptor = acceptor_for(&dir, &ca, &localhost());
    let options = trusting(dir.write("ca.pem", &ca.cert_pem));

    let (client, server) = run(acceptor, &options, "localhost").await;
    client.expect("client");
    server.expect("server");
}

#[tokio::test]
async fn valid_chain_with_ca_directory_round_trips() {
    let dir = TempDir::new("ca-dir");
    let ca = Ca::new("Test CA");
    let other = Ca::new("Other CA");
    dir.write("roots/a-other.pem", &other.cert_pem);
    dir.write("roots/b-ours.crt", &ca.cert_pem);
    dir.write("roots/README", "certificates for the tests\n");
    dir.write("roots/nested/ignored.pem", "not even PEM");
    let acceptor = acceptor_for(&dir, &ca, &localhost());

    let (client, server) = run(acceptor, &trusting(dir.path().join("roots")), "localhost").await;
    client.expect("client");
    server.expect("server");
}

#[tokio::test]
async fn ca_directory_without_certificates_is_rejected() {
    let dir = TempDir::new("ca-dir-empty");
    dir.write("roots/README", "nothing here\n");
    let err = trusting(dir.path().join("roots")).build().unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::NoCertificate {
                file: PemFile::CaCertificates,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("roots"), "{err}");
}

#[tokio::test]
async fn expired_certificate_is_reported_as_expired() {
    let dir = TempDir::new("expired");
    let ca = Ca::new("Test CA");
    let acceptor = acceptor_for(
        &dir,
        &ca,
        &localhost().valid_between((2000, 1, 1), (2001, 1, 1)),
    );

    let (client, server) = run(
        acceptor,
        &trusting(dir.write("ca.pem", &ca.cert_pem)),
        "localhost",
    )
    .await;
    let err = client.unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::CertificateExpired {
                peer: Peer::Server,
                not_after: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("expired") && text.contains("2001-01-01"),
        "{text}"
    );
    // The server learns why from the client's alert.
    let server_err = server.unwrap_err();
    assert!(
        matches!(
            server_err,
            TlsError::AlertReceived {
                peer: Peer::Client,
                ..
            }
        ),
        "{server_err:?}"
    );
}

#[tokio::test]
async fn not_yet_valid_certificate_is_reported() {
    let dir = TempDir::new("not-yet");
    let ca = Ca::new("Test CA");
    let acceptor = acceptor_for(
        &dir,
        &ca,
        &localhost().valid_between((2090, 1, 1), (2091, 1, 1)),
    );

    let (client, _) = run(
        acceptor,
        &trusting(dir.write("ca.pem", &ca.cert_pem)),
        "localhost",
    )
    .await;
    let err = client.unwrap_err();
    assert!(
        matches!(err, TlsError::CertificateNotYetValid { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("2090-01-01"), "{err}");
}

#[tokio::test]
async fn wrong_host_name_is_a_name_mismatch_naming_the_host() {
    let dir = TempDir::new("name");
    let ca = Ca::new("Test CA");
    let acceptor = acceptor_for(&dir, &ca, &localhost());

    let (client, _) = run(
        acceptor,
        &trusting(dir.write("ca.pem", &ca.cert_pem)),
        "wrong.example",
    )
    .await;
    let err = client.unwrap_err();
    match &err {
        TlsError::NameMismatch { host, .. } => assert_eq!(host, "wrong.example"),
        other => panic!("expected a name mismatch, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("not valid for wrong.example"), "{text}");
    assert!(text.contains("(it is valid for localhost)"), "{text}");
}

#[tokio::test]
async fn untrusted_issuer_is_unknown_issuer() {
    let dir = TempDir::new("untrusted");
    let ca = Ca::new("Test CA");
    let stranger = Ca::new("Someone else");
    let acceptor = acceptor_for(&dir, &stranger, &localhost());

    let (client, server) = run(
        acceptor,
        &trusting(dir.write("ca.pem", &ca.cert_pem)),
        "localhost",
    )
    .await;
    let err = client.unwrap_err();
    assert!(
        matches!(err, TlsError::UnknownIssuer { peer: Peer::Server }),
        "{err:?}"
    );
    assert!(err.to_string().contains("unknown issuer"), "{err}");
    let server_err = server.unwrap_err();
    assert!(
        matches!(
            server_err,
            TlsError::AlertReceived {
                peer: Peer::Client,
                alert: AlertDescription::UnknownCA
            }
        ),
        "{server_err:?}"
    );
    assert!(
        server_err
            .to_string()
            .contains("rejected this server's certificate"),
        "{server_err}"
    );
}

#[tokio::test]
async fn certificate_for_an_ip_address_is_verified_by_ip() {
    let dir = TempDir::new("ip");
    let ca = Ca::new("Test CA");
    let acceptor = acceptor_for(&dir, &ca, &Leaf::server(&["127.0.0.1"]));
    let options = trusting(dir.write("ca.pem", &ca.cert_pem));

    let (client, server) = run(acceptor, &options, "127.0.0.1").await;
    client.expect("client");
    server.expect("server");

    // A certificate for other addresses is not valid for this one, and the error lists the
    // addresses as people write them.
    let acceptor = acceptor_for(&dir, &ca, &Leaf::server(&["127.0.0.1", "::1"]));
    let (client, _) = run(acceptor, &options, "127.0.0.2").await;
    let err = client.unwrap_err();
    match &err {
        TlsError::NameMismatch { host, presented } => {
            assert_eq!(host, "127.0.0.2");
            assert_eq!(presented, &["127.0.0.1", "::1"]);
        }
        other => panic!("expected a name mismatch, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.ends_with("not valid for 127.0.0.2 (it is valid for 127.0.0.1, ::1)"),
        "{text}"
    );
}

#[tokio::test]
async fn skip_verification_accepts_an_untrusted_expired_certificate() {
    let dir = TempDir::new("skip");
    let stranger = Ca::new("Someone else");
    let acceptor = acceptor_for(
        &dir,
        &stranger,
        &localhost().valid_between((2000, 1, 1), (2001, 1, 1)),
    );
    let options = TlsClientOptions::default()
        .dangerous()
        .accept_any_server_certificate();

    let (client, server) = run(acceptor, &options, "not-the-name.example").await;
    client.expect("client");
    server.expect("server");
}

/// A server that speaks only TLS 1.2, built with plain rustls.
fn tls12_only_server(issued: &Issued) -> TlsAcceptor {
    let config = rustls::ServerConfig::builder_with_provider(ws_net::tls::crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .expect("TLS 1.2 config")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(issued.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(issued.key.serialize_der())),
        )
        .expect("server cert");
    TlsAcceptor::from_config(Arc::new(config))
}

#[tokio::test]
async fn min_version_tls13_fails_against_a_tls12_only_server() {
    let dir = TempDir::new("version");
    let ca = Ca::new("Test CA");
    let issued = ca.issue(&localhost());
    let ca_path = dir.write("ca.pem", &ca.cert_pem);

    let strict = trusting(ca_path.clone()).min_version(TlsVersion::Tls13);
    let (client, server) = run(tls12_only_server(&issued), &strict, "localhost").await;
    let err = client.unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::VersionMismatch {
                peer: Peer::Server,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("no TLS protocol version in common"),
        "{err}"
    );
    let server_err = server.unwrap_err();
    assert!(
        matches!(
            server_err,
            TlsError::VersionMismatch {
                peer: Peer::Client,
                ..
            }
        ),
        "{server_err:?}"
    );

    let lenient = trusting(ca_path).min_version(TlsVersion::Tls12);
    let (client, server) = run(tls12_only_server(&issued), &lenient, "localhost").await;
    client.expect("client");
    server.expect("server");
}

#[tokio::test]
async fn server_min_version_tls13_refuses_a_tls12_only_client() {
    let dir = TempDir::new("server-version");
    let ca = Ca::new("Test CA");
    let acceptor = acceptor_for(&dir, &ca, &localhost())
        .with_min_version(TlsVersion::Tls13)
        .expect("TLS 1.3 acceptor");
    let config = rustls::ClientConfig::builder_with_provider(ws_net::tls::crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .expect("TLS 1.2 client")
        .with_root_certificates({
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from(pem_der(&ca.cert_pem)))
                .expect("root");
            roots
        })
        .with_no_client_auth();
    let connector = ws_net::tls::TlsConnector::from_config(Arc::new(config));

    bounded(async {
        let (addr, server) = serve_once(acceptor).await;
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let err = connector.connect("localhost", tcp).await.unwrap_err();
        assert!(matches!(err, TlsError::VersionMismatch { .. }), "{err:?}");
        let server_err = server.await.expect("server task").unwrap_err();
        assert!(
            matches!(
                server_err,
                TlsError::VersionMismatch {
                    peer: Peer::Client,
                    ..
                }
            ),
            "{server_err:?}"
        );
    })
    .await;
}

fn pem_der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("certificate PEM")
        .to_vec()
}

/// A server that requires client certificates from `client_ca`.
fn client_auth_server(dir: &TempDir, server_ca: &Ca, client_ca: &Ca) -> TlsAcceptor {
    let client_ca_path = dir.write("client-ca.pem", &client_ca.cert_pem);
    acceptor_for(dir, server_ca, &localhost())
        .require_client_auth(&client_ca_path)
        .expect("client auth")
}

fn with_client_cert(dir: &TempDir, ca: &Ca, cert: ClientCert) -> TlsClientOptions {
    trusting(dir.write("ca.pem", &ca.cert_pem)).client_cert(cert)
}

#[tokio::test]
async fn client_auth_required_without_a_client_certificate_fails_clearly() {
    let dir = TempDir::new("no-client-cert");
    let ca = Ca::new("Test CA");
    let acceptor = client_auth_server(&dir, &ca, &ca);

    let (client, server) = run(
        acceptor,
        &trusting(dir.write("ca.pem", &ca.cert_pem)),
        "localhost",
    )
    .await;
    let err = client.unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::AlertReceived {
                peer: Peer::Server,
                alert: AlertDescription::CertificateRequired
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("the server requires a client certificate"),
        "{err}"
    );
    let server_err = server.unwrap_err();
    assert!(
        matches!(server_err, TlsError::ClientCertificateMissing),
        "{server_err:?}"
    );
}

/// Issues a client certificate for `kind`, writes its key with `write_key`, and connects.
async fn client_auth_round_trip(
    tag: &str,
    kind: KeyKind,
    write_key: impl FnOnce(&TempDir, &Issued) -> (PathBuf, Option<String>),
) {
    let dir = TempDir::new(tag);
    let ca = Ca::new("Test CA");
    let acceptor = client_auth_server(&dir, &ca, &ca);
    let issued = ca.issue(&Leaf::client(kind));
    let (key, key_password) = write_key(&dir, &issued);
    let options = with_client_cert(&dir, &ca, {
        let mut cert = ClientCert::new(dir.write("client.crt", &issued.cert_pem), key);
        cert.key_password = key_password;
        cert
    });

    let (client, server) = run(acceptor, &options, "localhost").await;
    client.expect("client");
    server.expect("server");
}

#[tokio::test]
async fn client_auth_with_pkcs8_ec_key() {
    client_auth_round_trip("pkcs8", KeyKind::EcdsaP256, |dir, issued| {
        (dir.write("client.key", issued.pkcs8_pem()), None)
    })
    .await;
}

#[tokio::test]
async fn client_auth_with_pkcs8_rsa_key() {
    client_auth_round_trip("pkcs8-rsa", KeyKind::Rsa2048, |dir, issued| {
        (dir.write("client.key", issued.pkcs8_pem()), None)
    })
    .await;
}

#[tokio::test]
async fn client_auth_with_pkcs1_rsa_key() {
    client_auth_round_trip("pkcs1", KeyKind::Rsa2048, |dir, issued| {
        let pem = issued.traditional_pem();
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        (dir.write("client.key", pem), None)
    })
    .await;
}

#[tokio::test]
async fn client_auth_with_sec1_ec_key() {
    client_auth_round_trip("sec1", KeyKind::EcdsaP256, |dir, issued| {
        let pem = issued.traditional_pem();
        assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----"));
        (dir.write("client.key", pem), None)
    })
    .await;
}

#[tokio::test]
async fn client_auth_with_encrypted_pkcs8_key_and_right_password() {
    client_auth_round_trip("encrypted", KeyKind::EcdsaP256, |dir, issued| {
        let pem = issued.encrypted_pem("s3cret pass");
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        (dir.write("client.key", pem), Some("s3cret pass".to_owned()))
    })
    .await;
}

#[tokio::test]
async fn client_auth_with_openssl_encrypted_rsa_key() {
    client_auth_round_trip("openssl-encrypted", KeyKind::Rsa2048, |dir, _| {
        (
            dir.write("client.key", certs::RSA_KEY_OPENSSL_ENCRYPTED),
            Some(certs::OPENSSL_KEY_PASSWORD.to_owned()),
        )
    })
    .await;
}

#[tokio::test]
async fn server_with_encrypted_key_via_options() {
    let dir = TempDir::new("server-encrypted");
    let ca = Ca::new("Test CA");
    let issued = ca.issue(&localhost());
    let mut server_options = TlsServerOptions::new(
        dir.write("server.crt", &issued.cert_pem),
        dir.write("server.key", issued.encrypted_pem("server pw")),
    );
    server_options.key_password = Some("server pw".to_owned());
    server_options.client_ca = Some(dir.write("client-ca.pem", &ca.cert_pem));
    let acceptor = server_options.build().expect("acceptor");
    let client = ca.issue(&Leaf::client(KeyKind::EcdsaP256));
    let options = with_client_cert(
        &dir,
        &ca,
        ClientCert::new(
            dir.write("client.crt", &client.cert_pem),
            dir.write("client.key", client.pkcs8_pem()),
        ),
    );

    let (client, server) = run(acceptor, &options, "localhost").await;
    client.expect("client");
    server.expect("server");
}

/// The password of every key that the `openssl` command encrypts below.
const OPENSSL_PASSWORD: &str = "open sesame";

/// What building a client configuration with `issued`'s certificate and `key` reports.
fn key_error(dir: &TempDir, issued: &Issued, key: &Path, password: Option<&str>) -> TlsError {
    let mut cert = ClientCert::new(dir.write("client.crt", &issued.cert_pem), key);
    cert.key_password = password.map(str::to_owned);
    TlsClientOptions::default()
        .client_cert(cert)
        .build()
        .unwrap_err()
}

/// Has `openssl ARGS...` encrypt a client key of `kind` under [`OPENSSL_PASSWORD`], lets
/// `check` look at the PEM it wrote, checks that a wrong or missing password is reported as
/// such, and then completes a handshake that the key signs.
async fn openssl_key_round_trip(tag: &str, kind: KeyKind, args: &[&str], check: impl FnOnce(&str)) {
    client_auth_round_trip(tag, kind, |dir, issued| {
        let key = certs::openssl_encrypted_key(dir, issued, "client.key", args, OPENSSL_PASSWORD);
        check(&std::fs::read_to_string(&key).expect("read the key openssl wrote"));

        let wrong = key_error(dir, issued, &key, Some("open sesame!"));
        assert!(
            matches!(wrong, TlsError::WrongKeyPassword { .. }),
            "{wrong:?}"
        );
        assert!(wrong.is_key_error());
        assert!(wrong.to_string().contains("wrong password"), "{wrong}");
        let missing = key_error(dir, issued, &key, None);
        assert!(
            matches!(missing, TlsError::KeyPasswordRequired { .. }),
            "{missing:?}"
        );
        assert!(missing.is_key_error());

        (key, Some(OPENSSL_PASSWORD.to_owned()))
    })
    .await;
}

/// A round trip with a key in OpenSSL's traditional encrypted PEM: `cipher` is the option of
/// `openssl rsa` / `openssl ec`, `dek_info` the name OpenSSL writes in the `DEK-Info` header.
async fn openssl_traditional_round_trip(kind: KeyKind, cipher: &str, dek_info: &str) {
    let (args, label) = match kind {
        // OpenSSL 3's `rsa` writes PKCS#8 unless told otherwise; its `ec` has no such option
        // and always writes SEC1.
        KeyKind::Rsa2048 => (vec!["rsa", "-traditional", cipher], "RSA PRIVATE KEY"),
        KeyKind::EcdsaP256 => (vec!["ec", cipher], "EC PRIVATE KEY"),
    };
    let tag = format!("openssl-traditional-{}{cipher}", args[0]);
    openssl_key_round_trip(&tag, kind, &args, |pem| {
        assert!(
            pem.starts_with(&format!("-----BEGIN {label}-----\n")),
            "{pem}"
        );
        assert!(pem.contains("\nProc-Type: 4,ENCRYPTED\n"), "{pem}");
        assert!(pem.contains(&format!("\nDEK-Info: {dek_info},")), "{pem}");
    })
    .await;
}

#[tokio::test]
async fn client_auth_with_openssl_traditional_rsa_key_aes128() {
    openssl_traditional_round_trip(KeyKind::Rsa2048, "-aes128", "AES-128-CBC").await;
}

#[tokio::test]
async fn client_auth_with_openssl_traditional_rsa_key_aes192() {
    openssl_traditional_round_trip(KeyKind::Rsa2048, "-aes192", "AES-192-CBC").await;
}

#[tokio::test]
async fn client_auth_with_openssl_traditional_rsa_key_aes256() {
    openssl_traditional_round_trip(KeyKind::Rsa2048, "-aes256", "AES-256-CBC").await;
}

#[tokio::test]
async fn client_auth_with_openssl_traditional_rsa_key_des3() {
    openssl_traditional_round_trip(KeyKind::Rsa2048, "-des3", "DES-EDE3-CBC").await;
}

#[tokio::test]
async fn client_auth_with_openssl_traditional_ec_key_aes128() {
    openssl_traditional_round_trip(KeyKind::EcdsaP256, "-aes128", "AES-128-CBC").await;
}

#[tokio::test]
async fn client_auth_with_openssl_traditional_ec_key_aes192() {
    openssl_traditional_round_trip(KeyKind::EcdsaP256, "-aes192", "AES-192-CBC").await;
}

#[tokio::test]
async fn client_auth_with_openssl_traditional_ec_key_aes256() {
    openssl_traditional_round_trip(KeyKind::EcdsaP256, "-aes256", "AES-256-CBC").await;
}

#[tokio::test]
async fn client_auth_with_openssl_traditional_ec_key_des3() {
    openssl_traditional_round_trip(KeyKind::EcdsaP256, "-des3", "DES-EDE3-CBC").await;
}

/// The PBES2 parameters of an `ENCRYPTED PRIVATE KEY` PEM: the PBKDF2 PRF and the cipher.
fn pbes2_of(pem: &str) -> (pkcs8::pkcs5::pbes2::Pbkdf2Prf, String) {
    use pkcs8::der::Decode;
    let (label, document) = pkcs8::Document::from_pem(pem).expect("PEM");
    assert_eq!(label, "ENCRYPTED PRIVATE KEY");
    let info = pkcs8::EncryptedPrivateKeyInfo::from_der(document.as_bytes()).expect("DER");
    let params = info.encryption_algorithm.pbes2().expect("PBES2");
    let prf = params.kdf.pbkdf2().expect("PBKDF2").prf;
    (prf, params.encryption.oid().to_string())
}

const DES_EDE3_CBC_OID: &str = "1.2.840.113549.3.7";
const AES_256_CBC_OID: &str = "2.16.840.1.101.3.4.1.42";

#[tokio::test]
async fn client_auth_with_openssl_pkcs8_3des_ec_key() {
    let args = ["pkcs8", "-topk8", "-v2", "des3"];
    openssl_key_round_trip("openssl-pbes2-3des-ec", KeyKind::EcdsaP256, &args, |pem| {
        let (prf, cipher) = pbes2_of(pem);
        assert_eq!(prf, pkcs8::pkcs5::pbes2::Pbkdf2Prf::HmacWithSha256);
        assert_eq!(cipher, DES_EDE3_CBC_OID);
    })
    .await;
}

#[tokio::test]
async fn client_auth_with_openssl_pkcs8_3des_rsa_key() {
    let args = ["pkcs8", "-topk8", "-v2", "des3"];
    openssl_key_round_trip("openssl-pbes2-3des-rsa", KeyKind::Rsa2048, &args, |pem| {
        assert_eq!(pbes2_of(pem).1, DES_EDE3_CBC_OID);
    })
    .await;
}

#[tokio::test]
async fn client_auth_with_openssl_pkcs8_pbkdf2_hmac_sha1_key() {
    let args = [
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-v2prf",
        "hmacWithSHA1",
    ];
    openssl_key_round_trip("openssl-pbes2-sha1", KeyKind::EcdsaP256, &args, |pem| {
        let (prf, cipher) = pbes2_of(pem);
        assert_eq!(prf, pkcs8::pkcs5::pbes2::Pbkdf2Prf::HmacWithSha1);
        assert_eq!(cipher, AES_256_CBC_OID);
    })
    .await;
}

#[tokio::test]
async fn client_auth_with_openssl_pkcs8_3des_and_hmac_sha1_rsa_key() {
    let args = ["pkcs8", "-topk8", "-v2", "des3", "-v2prf", "hmacWithSHA1"];
    openssl_key_round_trip("openssl-pbes2-3des-sha1", KeyKind::Rsa2048, &args, |pem| {
        let (prf, cipher) = pbes2_of(pem);
        assert_eq!(prf, pkcs8::pkcs5::pbes2::Pbkdf2Prf::HmacWithSha1);
        assert_eq!(cipher, DES_EDE3_CBC_OID);
    })
    .await;
}

#[tokio::test]
async fn server_with_openssl_traditional_encrypted_key() {
    let dir = TempDir::new("server-openssl-traditional");
    let ca = Ca::new("Test CA");
    let issued = ca.issue(&localhost());
    let key = certs::openssl_encrypted_key(
        &dir,
        &issued,
        "server.key",
        &["ec", "-aes256"],
        OPENSSL_PASSWORD,
    );
    let mut server_options = TlsServerOptions::new(dir.write("server.crt", &issued.cert_pem), key);
    server_options.key_password = Some("not it".to_owned());
    let err = server_options.build().unwrap_err();
    assert!(matches!(err, TlsError::WrongKeyPassword { .. }), "{err:?}");
    server_options.key_password = Some(OPENSSL_PASSWORD.to_owned());
    let acceptor = server_options.build().expect("acceptor");

    let (client, server) = run(
        acceptor,
        &trusting(dir.write("ca.pem", &ca.cert_pem)),
        "localhost",
    )
    .await;
    client.expect("client");
    server.expect("server");
}

fn client_cert_error(dir: &TempDir, key_pem: &str, password: Option<&str>) -> TlsError {
    let ca = Ca::new("Test CA");
    let issued = ca.issue(&Leaf::client(KeyKind::EcdsaP256));
    let options = with_client_cert(dir, &ca, {
        let mut cert = ClientCert::new(
            dir.write("client.crt", &issued.cert_pem),
            dir.write("client.key", key_pem),
        );
        cert.key_password = password.map(str::to_owned);
        cert
    });
    options.build().unwrap_err()
}

#[test]
fn wrong_key_password_is_its_own_error() {
    let dir = TempDir::new("wrong-password");
    let ca = Ca::new("Test CA");
    let issued = ca.issue(&Leaf::client(KeyKind::EcdsaP256));
    let err = client_cert_error(&dir, &issued.encrypted_pem("right"), Some("wrong"));
    assert!(matches!(err, TlsError::WrongKeyPassword { .. }), "{err:?}");
    assert!(err.is_key_error() && !err.is_file_missing());
    assert!(err.to_string().contains("wrong password"), "{err}");

    let err = client_cert_error(&dir, certs::RSA_KEY_OPENSSL_ENCRYPTED, Some("not it"));
    assert!(matches!(err, TlsError::WrongKeyPassword { .. }), "{err:?}");
}

#[test]
fn encrypted_key_without_password_asks_for_one() {
    let dir = TempDir::new("no-password");
    let ca = Ca::new("Test CA");
    let issued = ca.issue(&Leaf::client(KeyKind::EcdsaP256));
    let err = client_cert_error(&dir, &issued.encrypted_pem("right"), None);
    assert!(
        matches!(err, TlsError::KeyPasswordRequired { .. }),
        "{err:?}"
    );
    assert!(err.is_key_error());
    let text = err.to_string();
    assert!(
        text.contains("encrypted") && text.contains("password is required"),
        "{text}"
    );
    assert!(text.contains("client.key"), "{text}");
}

#[test]
fn key_of_another_certificate_is_a_mismatch() {
    let dir = TempDir::new("mismatch");
    let ca = Ca::new("Test CA");
    let other = ca.issue(&Leaf::client(KeyKind::EcdsaP256));
    let err = client_cert_error(&dir, &other.pkcs8_pem(), None);
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
    assert!(err.is_key_error());
}

fn assert_missing(err: TlsError, file: PemFile, path: &Path) {
    assert!(err.is_file_missing(), "{err:?}");
    assert!(
        matches!(&err, TlsError::FileMissing { file: f, .. } if *f == file),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn missing_files_are_reported_as_missing() {
    let dir = TempDir::new("missing");
    let nowhere = dir.path().join("does-not-exist.pem");
    let ca = Ca::new("Test CA");
    let issued = ca.issue(&Leaf::client(KeyKind::EcdsaP256));
    let cert = dir.write("client.crt", &issued.cert_pem);
    let key = dir.write("client.key", issued.pkcs8_pem());

    assert_missing(
        trusting(nowhere.clone()).build().unwrap_err(),
        PemFile::CaCertificates,
        &nowhere,
    );

    let missing_chain =
        TlsClientOptions::default().client_cert(ClientCert::new(nowhere.clone(), key.clone()));
    assert_missing(
        missing_chain.build().unwrap_err(),
        PemFile::CertificateChain,
        &nowhere,
    );

    let missing_key =
        TlsClientOptions::default().client_cert(ClientCert::new(cert.clone(), nowhere.clone()));
    let err = missing_key.build().unwrap_err();
    assert!(!err.is_key_error());
    assert_missing(err, PemFile::PrivateKey, &nowhere);

    assert_missing(
        TlsAcceptor::from_pem_files(&nowhere, &key).unwrap_err(),
        PemFile::CertificateChain,
        &nowhere,
    );
    assert_missing(
        TlsAcceptor::from_pem_files(&cert, &nowhere).unwrap_err(),
        PemFile::PrivateKey,
        &nowhere,
    );
    let acceptor = TlsAcceptor::from_pem_files(&cert, &key).expect("acceptor");
    assert_missing(
        acceptor.require_client_auth(&nowhere).unwrap_err(),
        PemFile::CaCertificates,
        &nowhere,
    );
}

#[test]
fn garbage_pem_is_reported_clearly() {
    let dir = TempDir::new("garbage");
    let garbage = dir.write(
        "garbage.pem",
        "this is not a certificate\n\x00\x01\x02 binary junk",
    );

    let err = trusting(garbage.clone()).build().unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::NoCertificate {
                file: PemFile::CaCertificates,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("no CA certificate found")
            && err.to_string().contains("garbage.pem"),
        "{err}"
    );

    let ca = Ca::new("Test CA");
    let issued = ca.issue(&localhost());
    let cert = dir.write("server.crt", &issued.cert_pem);
    let err = TlsAcceptor::from_pem_files(&cert, &garbage).unwrap_err();
    assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err:?}");
    assert!(err.is_key_error());
    assert!(err.to_string().contains("no private key found"), "{err}");

    let err = TlsAcceptor::from_pem_files(&garbage, &garbage).unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::NoCertificate {
                file: PemFile::CertificateChain,
                ..
            }
        ),
        "{err:?}"
    );

    let broken = dir.write(
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\n%%% not base64 %%%\n-----END CERTIFICATE-----\n",
    );
    let err = trusting(broken).build().unwrap_err();
    assert!(matches!(err, TlsError::InvalidPem { .. }), "{err:?}");
    assert!(err.to_string().contains("broken.pem"), "{err}");

    let not_a_cert = dir.write(
        "not-a-cert.pem",
        "-----BEGIN CERTIFICATE-----\nAAECAwQ=\n-----END CERTIFICATE-----\n",
    );
    let err = trusting(not_a_cert).build().unwrap_err();
    assert!(
        matches!(err, TlsError::InvalidCertificate { .. }),
        "{err:?}"
    );
}

#[test]
fn unreadable_path_is_not_missing() {
    let dir = TempDir::new("unreadable");
    let ca = Ca::new("Test CA");
    let issued = ca.issue(&localhost());
    let cert = dir.write("server.crt", &issued.cert_pem);
    // A directory where the key file should be: exists, but cannot be read as a file.
    let err = TlsAcceptor::from_pem_files(&cert, dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::FileUnreadable {
                file: PemFile::PrivateKey,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_file_missing() && err.is_key_error());
}

#[test]
fn default_options_build_with_webpki_roots() {
    let connector = TlsClientOptions::default()
        .build()
        .expect("default options");
    assert_eq!(
        connector.config().alpn_protocols,
        vec![b"http/1.1".to_vec()]
    );
}

#[tokio::test]
async fn invalid_server_name_is_rejected_before_the_handshake() {
    let connector = TlsClientOptions::default()
        .build()
        .expect("default options");
    let (client, _server) = tokio::io::duplex(64);
    let err = bounded(connector.connect("not a host name", client))
        .await
        .unwrap_err();
    assert!(matches!(err, TlsError::InvalidServerName { .. }), "{err:?}");
    assert!(err.to_string().contains("not a host name"), "{err}");
}

/// What `openssl req -x509` makes by default: self-signed, with CA:TRUE; returns the
/// certificate's and the key's PEM.
fn self_signed_ca() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

#[tokio::test]
async fn a_ca_certificate_served_as_its_own_leaf_is_trusted_only_as_itself() {
    let dir = TempDir::new("ca-as-leaf");
    let (cert, key) = self_signed_ca();
    let cert_path = dir.write("server.crt", &cert);
    let key_path = dir.write("server.key", key);
    let acceptor = || TlsAcceptor::from_pem_files(&cert_path, &key_path).expect("server acceptor");

    // Given as the CA, byte for byte: trusted, as curl and OpenSSL do.
    let (client, server) = run(acceptor(), &trusting(cert_path.clone()), "localhost").await;
    client.expect("client");
    server.expect("server");

    // Any other CA:TRUE certificate as the CA: refused, saying why.
    let (other, _) = self_signed_ca();
    let (client, _) = run(
        acceptor(),
        &trusting(dir.write("other.pem", other)),
        "localhost",
    )
    .await;
    let err = client.unwrap_err();
    assert!(
        matches!(err, TlsError::CaUsedAsEndEntity { peer: Peer::Server }),
        "{err:?}"
    );
    assert!(err.to_string().contains("CA:TRUE"), "{err}");
}
