//! `wss://` end to end: the server with a PEM certificate, `connect` verifying it.

#[path = "support/certs.rs"]
mod certs;
mod support;

use certs::{Ca, Leaf, TempDir};
use ws_net::client::{connect, ClientConfig};
use ws_net::tls::{TlsClientOptions, TlsError, TlsServerOptions};
use ws_net::{Error, Incoming, Message};

use support::{echo_server, within};

/// A wss server for `names`, signed by a fresh CA, echoing every message; returns its port and
/// the CA's PEM path.
async fn wss_server(dir: &TempDir, names: &[&str]) -> (u16, std::path::PathBuf) {
    let ca = Ca::new("wss test CA");
    let issued = ca.issue(&Leaf::server(names));
    let cert = dir.write("server.pem", &issued.cert_pem);
    let key = dir.write("server.key", issued.pkcs8_pem());
    let port = echo_server(Some(TlsServerOptions::new(cert, key).build().unwrap())).await;
    (port, dir.write("ca.pem", &ca.cert_pem))
}

fn trusting(ca: std::path::PathBuf) -> ClientConfig {
    ClientConfig::default().tls(TlsClientOptions::default().ca(ca))
}

#[tokio::test]
async fn wss_round_trip_with_a_verified_certificate() {
    let dir = TempDir::new("wss-ok");
    let (port, ca) = wss_server(&dir, &["localhost"]).await;
    // Both sides run on the provider the features chose: aws-lc-rs when on, else ring.
    let provider = format!("{:?}", ws_net::tls::crypto_provider().key_provider);
    let expected = if cfg!(feature = "aws-lc-rs") {
        "AwsLcRs"
    } else {
        "Ring"
    };
    assert_eq!(provider, expected);
    let (mut conn, response) = within(
        "connect",
        connect(&format!("wss://localhost:{port}/secure"), &trusting(ca)),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 101);
    conn.send_text("over TLS").await.unwrap();
    match within("echo", conn.recv()).await {
        Some(Incoming::Message(Message::Text(text))) => assert_eq!(text.as_str(), "over TLS"),
        other => panic!("{other:?}"),
    }
    let big = vec![0x5a; 300_000];
    conn.send_binary(&big).await.unwrap();
    match within("echo", conn.recv()).await {
        Some(Incoming::Message(m)) => assert_eq!(m.as_bytes(), &big[..]),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn wss_refuses_a_wrong_host_and_an_untrusted_issuer() {
    let dir = TempDir::new("wss-bad");
    let (port, ca) = wss_server(&dir, &["some-other-name.test"]).await;
    let err = within(
        "connect",
        connect(&format!("wss://localhost:{port}/"), &trusting(ca)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::Tls(TlsError::NameMismatch { .. })),
        "{err}"
    );
    // Default roots (the bundled Mozilla set) do not know the test CA; a build without them
    // refuses to guess and names the feature.
    let err = within(
        "connect",
        connect(
            &format!("wss://localhost:{port}/"),
            &ClientConfig::default(),
        ),
    )
    .await
    .unwrap_err();
    if cfg!(feature = "webpki-roots") {
        assert!(
            matches!(err, Error::Tls(TlsError::UnknownIssuer { .. })),
            "{err}"
        );
    } else {
        assert!(
            matches!(
                err,
                Error::Tls(TlsError::FeatureDisabled {
                    feature: "webpki-roots",
                    ..
                })
            ),
            "{err}"
        );
    }
    // The explicit opt-out accepts it.
    let insecure = ClientConfig::default().tls(
        TlsClientOptions::default()
            .dangerous()
            .accept_any_server_certificate(),
    );
    within(
        "connect",
        connect(&format!("wss://localhost:{port}/"), &insecure),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_missing_ca_file_fails_before_connecting() {
    let config = trusting("/nonexistent/ca.pem".into());
    // Port 1 on loopback: nothing listens, but the file check comes first.
    let err = within("connect", connect("wss://127.0.0.1:1/", &config))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Tls(e) if e.is_file_missing()),
        "{err}"
    );
}

#[tokio::test]
async fn plain_ws_to_a_tls_server_fails_cleanly() {
    let dir = TempDir::new("wss-plain");
    let (port, _) = wss_server(&dir, &["localhost"]).await;
    let err = within(
        "connect",
        connect(&format!("ws://localhost:{port}/"), &ClientConfig::default()),
    )
    .await
    .unwrap_err();
    // The TLS server answers the HTTP request with an alert and hangs up.
    assert!(
        matches!(
            err,
            Error::Response(_) | Error::ConnectionLost(_) | Error::Io(_)
        ),
        "{err}"
    );
}
