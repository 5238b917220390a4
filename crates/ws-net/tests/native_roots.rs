//! `ServerVerification::NativeRoots`: the platform's roots, here the ones `SSL_CERT_FILE` names,
//! which rustls-native-certs reads in place of the system store on every platform. A single
//! test in its own binary, since it changes the process environment.

#[path = "support/certs.rs"]
mod certs;
mod support;

use certs::{Ca, Leaf, TempDir};
use support::{echo_server, within};
use ws_net::client::{connect, ClientConfig};
use ws_net::tls::{TlsClientOptions, TlsError, TlsServerOptions};
use ws_net::{Error, Incoming, Message};

#[tokio::test]
async fn native_roots_trust_what_the_platform_trusts_and_nothing_else() {
    let dir = TempDir::new("native-roots");
    let ca = Ca::new("native roots test CA");
    let issued = ca.issue(&Leaf::server(&["localhost"]));
    let acceptor = TlsServerOptions::new(
        dir.write("server.pem", &issued.cert_pem),
        dir.write("server.key", issued.pkcs8_pem()),
    )
    .build()
    .unwrap();
    let port = echo_server(Some(acceptor)).await;
    let url = format!("wss://localhost:{port}/");
    let config = ClientConfig::default().tls(TlsClientOptions::default().native_roots());

    // The test CA as the platform's only root: the server is trusted.
    std::env::remove_var("SSL_CERT_DIR");
    std::env::set_var("SSL_CERT_FILE", dir.write("roots.pem", &ca.cert_pem));
    let (mut conn, _) = within("connect", connect(&url, &config)).await.unwrap();
    conn.send_text("native").await.unwrap();
    match within("echo", conn.recv()).await {
        Some(Incoming::Message(Message::Text(text))) => assert_eq!(text.as_str(), "native"),
        other => panic!("{other:?}"),
    }

    // Another CA as the only root: the server is not.
    let other = Ca::new("unrelated CA");
    std::env::set_var("SSL_CERT_FILE", dir.write("other.pem", &other.cert_pem));
    let err = within("connect", connect(&url, &config)).await.unwrap_err();
    assert!(
        matches!(err, Error::Tls(TlsError::UnknownIssuer { .. })),
        "{err:?}"
    );

    // No root at all: building fails, saying where it looked and what to do.
    std::env::set_var("SSL_CERT_FILE", dir.path().join("missing.pem"));
    let err = TlsClientOptions::default()
        .native_roots()
        .build()
        .unwrap_err();
    assert!(matches!(err, TlsError::NativeRoots { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("missing.pem"), "{text}");
    assert!(text.contains("SSL_CERT_FILE"), "{text}");

    std::env::set_var("SSL_CERT_FILE", dir.write("empty.pem", ""));
    let err = TlsClientOptions::default()
        .native_roots()
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("no certificate found"), "{err}");
}
