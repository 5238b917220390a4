//! `wss://` to a server whose certificate is self-signed and marked `CA:TRUE` (what
//! `openssl req -x509` makes), trusted by giving that certificate as the CA, as curl
//! (`--cacert`) and OpenSSL do; every other check still applies.

#[path = "support/certs.rs"]
mod certs;
mod support;

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use ws_net::client::{connect, ClientConfig};
use ws_net::tls::{Peer, TlsClientOptions, TlsError, TlsServerOptions};
use ws_net::{Error, Incoming, Message};

use certs::{Ca, Leaf, TempDir};
use support::{echo_server, within};

/// A self-signed `CA:TRUE` certificate for `names` (DNS names or IP addresses), changed by
/// `edit` before signing; returns the certificate's and the key's PEM.
fn self_signed_ca(names: &[&str], edit: impl FnOnce(&mut CertificateParams)) -> (String, String) {
    let key = KeyPair::generate().expect("generate key");
    let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("certificate params");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    edit(&mut params);
    let cert = params.self_signed(&key).expect("self-sign");
    (cert.pem(), key.serialize_pem())
}

/// A wss echo server on 127.0.0.1 with this certificate and key (PEM files); returns its port.
async fn serve(cert: &Path, key: &Path) -> u16 {
    let acceptor = TlsServerOptions::new(cert, key)
        .build()
        .expect("server TLS configuration");
    echo_server(Some(acceptor)).await
}

/// Writes the certificate and key into `dir` and serves them.
async fn serve_pem(dir: &TempDir, (cert, key): &(String, String)) -> u16 {
    serve(
        &dir.write("server.pem", cert),
        &dir.write("server.key", key),
    )
    .await
}

fn trusting(ca: PathBuf) -> ClientConfig {
    ClientConfig::default().tls(TlsClientOptions::default().ca(ca))
}

/// Connects to `url` and checks that a text message comes back.
async fn echoes(url: &str, config: &ClientConfig) {
    let (mut conn, response) = within("connect", connect(url, config))
        .await
        .unwrap_or_else(|err| panic!("{url}: {err}"));
    assert_eq!(response.status, 101);
    conn.send_text("self-signed").await.unwrap();
    match within("echo", conn.recv()).await {
        Some(Incoming::Message(Message::Text(text))) => assert_eq!(text.as_str(), "self-signed"),
        other => panic!("{url}: {other:?}"),
    }
}

/// The TLS error of a connection to `url` that must fail.
async fn refused(url: &str, config: &ClientConfig) -> TlsError {
    match within("connect", connect(url, config)).await {
        Err(Error::Tls(err)) => err,
        Err(other) => panic!("{url}: not a TLS error: {other}"),
        Ok(_) => panic!("{url}: connected, but must be refused"),
    }
}

#[tokio::test]
async fn a_self_signed_ca_certificate_given_as_the_ca_is_trusted() {
    let dir = TempDir::new("self-signed-ca");
    let pem = self_signed_ca(&["localhost", "127.0.0.1"], |_| {});
    let port = serve_pem(&dir, &pem).await;

    let config = trusting(dir.write("ca.pem", &pem.0));
    echoes(&format!("wss://localhost:{port}/"), &config).await;
    echoes(&format!("wss://127.0.0.1:{port}/"), &config).await;

    // In a bundle after another CA, and in a CA directory.
    let other = Ca::new("Another CA");
    let bundle = dir.write("bundle.pem", format!("{}{}", other.cert_pem, pem.0));
    echoes(&format!("wss://localhost:{port}/"), &trusting(bundle)).await;
    dir.write("roots/other.pem", &other.cert_pem);
    dir.write("roots/server.pem", &pem.0);
    let roots = dir.path().join("roots");
    echoes(&format!("wss://localhost:{port}/"), &trusting(roots)).await;
}

#[tokio::test]
async fn the_certificate_of_openssl_req_x509_given_as_the_ca_is_trusted() {
    let dir = TempDir::new("openssl-x509");
    certs::openssl(
        dir.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "30",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
    );
    let cert = dir.path().join("cert.pem");
    let port = serve(&cert, &dir.path().join("key.pem")).await;
    let config = trusting(cert);
    echoes(&format!("wss://localhost:{port}/"), &config).await;
    echoes(&format!("wss://127.0.0.1:{port}/"), &config).await;
}

#[tokio::test]
async fn the_host_name_is_still_checked() {
    let dir = TempDir::new("self-signed-ca-name");
    let pem = self_signed_ca(&["ws.example.test"], |_| {});
    let port = serve_pem(&dir, &pem).await;
    let config = trusting(dir.write("ca.pem", &pem.0));
    for host in ["localhost", "127.0.0.1"] {
        let err = refused(&format!("wss://{host}:{port}/"), &config).await;
        match &err {
            TlsError::NameMismatch {
                host: name,
                presented,
            } => {
                assert_eq!(name, host);
                assert_eq!(presented, &["ws.example.test"]);
            }
            other => panic!("{host}: {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains(&format!("not valid for {host}")), "{text}");
        assert!(text.contains("(it is valid for ws.example.test)"), "{text}");
    }
}

#[tokio::test]
async fn the_validity_period_is_still_checked() {
    let dir = TempDir::new("self-signed-ca-expired");
    let expired = self_signed_ca(&["localhost"], |params| {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let port = serve_pem(&dir, &expired).await;
    let err = refused(
        &format!("wss://localhost:{port}/"),
        &trusting(dir.write("ca.pem", &expired.0)),
    )
    .await;
    assert!(
        matches!(
            err,
            TlsError::CertificateExpired {
                peer: Peer::Server,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("valid until 2021-01-01"), "{err}");

    let dir = TempDir::new("self-signed-ca-future");
    let future = self_signed_ca(&["localhost"], |params| {
        params.not_before = rcgen::date_time_ymd(2090, 1, 1);
        params.not_after = rcgen::date_time_ymd(2091, 1, 1);
    });
    let port = serve_pem(&dir, &future).await;
    let err = refused(
        &format!("wss://localhost:{port}/"),
        &trusting(dir.write("ca.pem", &future.0)),
    )
    .await;
    assert!(
        matches!(
            err,
            TlsError::CertificateNotYetValid {
                peer: Peer::Server,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_extended_key_usage_is_still_checked() {
    let dir = TempDir::new("self-signed-ca-eku");
    let client_only = self_signed_ca(&["localhost"], |params| {
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    });
    let port = serve_pem(&dir, &client_only).await;
    let err = refused(
        &format!("wss://localhost:{port}/"),
        &trusting(dir.write("ca.pem", &client_only.0)),
    )
    .await;
    assert!(
        matches!(
            err,
            TlsError::BadCertificate {
                peer: Peer::Server,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("extended key usage"), "{err}");

    // Listing serverAuth is what a server certificate needs.
    let dir = TempDir::new("self-signed-ca-eku-server");
    let server = self_signed_ca(&["localhost"], |params| {
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    let port = serve_pem(&dir, &server).await;
    let config = trusting(dir.write("ca.pem", &server.0));
    echoes(&format!("wss://localhost:{port}/"), &config).await;
}

#[tokio::test]
async fn another_ca_certificate_is_refused_in_words() {
    let dir = TempDir::new("self-signed-ca-other");
    let served = self_signed_ca(&["localhost"], |_| {});
    // Same subject, different key: not the certificate the server presents.
    let given = self_signed_ca(&["localhost"], |_| {});
    let port = serve_pem(&dir, &served).await;
    let err = refused(
        &format!("wss://localhost:{port}/"),
        &trusting(dir.write("ca.pem", &given.0)),
    )
    .await;
    assert!(
        matches!(err, TlsError::CaUsedAsEndEntity { peer: Peer::Server }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the server's certificate is a CA certificate (CA:TRUE) used as the server's own; \
         trust it by giving that exact certificate as the CA, or serve a certificate issued by \
         the CA"
    );
}

#[tokio::test]
async fn a_certificate_issued_by_the_ca_still_works() {
    let dir = TempDir::new("self-signed-ca-leaf");
    let ca = Ca::new("Ordinary CA");
    let issued = ca.issue(&Leaf::server(&["localhost"]));
    let port = serve(
        &dir.write("server.pem", &issued.cert_pem),
        &dir.write("server.key", issued.pkcs8_pem()),
    )
    .await;
    let config = trusting(dir.write("ca.pem", &ca.cert_pem));
    echoes(&format!("wss://localhost:{port}/"), &config).await;

    // The CA certificate itself is in the file, but the server is not presenting it: the
    // chain is what is checked, and a host outside the leaf's names still fails.
    let err = refused(&format!("wss://127.0.0.1:{port}/"), &config).await;
    assert!(matches!(err, TlsError::NameMismatch { .. }), "{err:?}");

    // Another CA's file does not trust it.
    let other = Ca::new("Another CA");
    let err = refused(
        &format!("wss://localhost:{port}/"),
        &trusting(dir.write("other.pem", &other.cert_pem)),
    )
    .await;
    assert!(
        matches!(err, TlsError::UnknownIssuer { peer: Peer::Server }),
        "{err:?}"
    );
}
