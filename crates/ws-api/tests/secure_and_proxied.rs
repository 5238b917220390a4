//! wss through the facades (caPath, a client certificate with an encrypted key,
//! skipServerCertVerification, refusals), connections through a real tinyproxy and around it
//! with an exclusion list, and a broadcast to several clients.

mod support;

#[path = "../../ws-net/tests/support/certs.rs"]
mod certs;
#[path = "../../ws-net/tests/support/tinyproxy.rs"]
mod tinyproxy;

use std::sync::{Arc, Mutex};
use support::{until, within};

use certs::{Ca, KeyKind, Leaf, TempDir};
use tinyproxy::{Tinyproxy, TinyproxyConfig};
use ws_api::client::{
    events as client_events, ClientCert, HttpProxy, MessageData, ProxyConfiguration, TlsProtocol,
    WebSocketRequestOptions,
};
use ws_api::server::{events, ServerCert, WebSocketServerConfig};
use ws_api::{code, create_web_socket, create_web_socket_server, WebSocketServer};

/// A started echo server (wss when `cert` is given); returns it and its port.
async fn echo_server(cert: Option<ServerCert>) -> (WebSocketServer, u16) {
    let server = create_web_socket_server();
    let echo = server.clone();
    server.on(events::MessageReceive, move |m| {
        let (server, m) = (echo.clone(), m.clone());
        tokio::spawn(async move { server.send(m.data, &m.client_connection).await });
    });
    let config = WebSocketServerConfig {
        server_ip: Some("127.0.0.1".into()),
        server_cert: cert,
        ..Default::default()
    };
    server.start(config).await.unwrap();
    let port = server.local_port().unwrap();
    (server, port)
}

/// Connects, sends a message and checks its echo.
async fn round_trip(url: &str, options: WebSocketRequestOptions) {
    let ws = create_web_socket();
    let echoed = Arc::new(Mutex::new(None));
    let e = Arc::clone(&echoed);
    ws.on(client_events::Message, move |m| {
        *e.lock().unwrap() = Some(m.clone())
    });
    within("connect", ws.connect_and_wait(url, Some(options)))
        .await
        .unwrap();
    ws.send_text("secret").await.unwrap();
    until("echo", || echoed.lock().unwrap().is_some()).await;
    assert_eq!(
        echoed.lock().unwrap().clone(),
        Some(MessageData::Text("secret".into()))
    );
    ws.close(None).await.unwrap();
}

fn server_cert(dir: &TempDir, ca: &Ca, leaf: &Leaf) -> ServerCert {
    let issued = ca.issue(leaf);
    ServerCert {
        cert_path: dir.write("server.pem", &issued.cert_pem),
        key_path: dir.write("server.key", issued.pkcs8_pem()),
    }
}

#[tokio::test]
async fn wss_with_ca_path_and_refusals() {
    let dir = TempDir::new("api-wss");
    let ca = Ca::new("api test CA");
    let (_server, port) =
        echo_server(Some(server_cert(&dir, &ca, &Leaf::server(&["localhost"])))).await;
    let trusting = WebSocketRequestOptions {
        ca_path: Some(dir.write("ca.pem", &ca.cert_pem)),
        ..Default::default()
    };
    round_trip(&format!("wss://localhost:{port}/"), trusting.clone()).await;

    // The bundled roots do not know this CA: an error event, no open.
    let ws = create_web_socket();
    let err = within(
        "connect",
        ws.connect_and_wait(&format!("wss://localhost:{port}/"), None),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, code::CONNECT_FAILED);
    assert!(err.message.to_lowercase().contains("issuer"), "{err}");
    // The explicit opt-out accepts it.
    let skip = WebSocketRequestOptions {
        skip_server_cert_verification: Some(true),
        ..Default::default()
    };
    round_trip(&format!("wss://localhost:{port}/"), skip).await;
    // The wrong name is refused even by a trusted CA: 127.0.0.1 is not in the certificate.
    let err = within(
        "connect",
        ws.connect_and_wait(&format!("wss://127.0.0.1:{port}/"), Some(trusting)),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, code::CONNECT_FAILED);
    assert!(err.message.contains("127.0.0.1"), "{err}");
}

#[tokio::test]
async fn an_expired_server_certificate_is_refused() {
    let dir = TempDir::new("api-expired");
    let ca = Ca::new("api test CA");
    let leaf = Leaf::server(&["localhost"]).valid_between((2020, 1, 1), (2021, 1, 1));
    let (_server, port) = echo_server(Some(server_cert(&dir, &ca, &leaf))).await;
    let options = WebSocketRequestOptions {
        ca_path: Some(dir.write("ca.pem", &ca.cert_pem)),
        ..Default::default()
    };
    let ws = create_web_socket();
    let err = within(
        "connect",
        ws.connect_and_wait(&format!("wss://localhost:{port}/"), Some(options)),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, code::CONNECT_FAILED);
    assert!(err.message.contains("expired"), "{err}");
}

#[tokio::test]
async fn a_client_certificate_with_an_encrypted_key() {
    let dir = TempDir::new("api-client-cert");
    let ca = Ca::new("api test CA");
    let server_issued = ca.issue(&Leaf::server(&["localhost"]));
    // A ws-net server that requires client certificates signed by the same CA.
    let tls = ws_net::tls::TlsServerOptions::new(
        dir.write("server.pem", &server_issued.cert_pem),
        dir.write("server.key", server_issued.pkcs8_pem()),
    )
    .client_ca(dir.write("clients-ca.pem", &ca.cert_pem))
    .build()
    .unwrap();
    let port = net_echo_server(tls).await;
    let client = ca.issue(&Leaf::client(KeyKind::EcdsaP256));
    let with_password = |password: &str| WebSocketRequestOptions {
        ca_path: Some(dir.write("ca.pem", &ca.cert_pem)),
        client_cert: Some(ClientCert {
            cert_path: dir.write("client.pem", &client.cert_pem),
            key_path: dir.write("client.key", client.encrypted_pem("p4ss")),
            key_password: Some(password.into()),
        }),
        ..Default::default()
    };
    round_trip(&format!("wss://localhost:{port}/"), with_password("p4ss")).await;
    let ws = create_web_socket();
    let err = ws
        .connect(
            &format!("wss://localhost:{port}/"),
            Some(with_password("wrong")),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, code::PARAMETER_ERROR, "{err}");
    assert!(err.message.contains("password"), "{err}");
}

#[tokio::test]
async fn through_tinyproxy_and_around_it_with_an_exclusion_list() {
    let (_server, port) = echo_server(None).await;
    let url = format!("ws://127.0.0.1:{port}/");
    if let Some(proxy) = Tinyproxy::start(&TinyproxyConfig::default().basic_auth("user", "pw")) {
        let via = WebSocketRequestOptions {
            proxy: Some(ProxyConfiguration::Http(HttpProxy {
                host: "127.0.0.1".into(),
                port: proxy.port(),
                username: Some("user".into()),
                password: Some("pw".into()),
                ..Default::default()
            })),
            ..Default::default()
        };
        round_trip(&url, via).await;
        // A refusing proxy: the error quotes its status.
        let refused = WebSocketRequestOptions {
            proxy: Some(ProxyConfiguration::Http(HttpProxy {
                host: "127.0.0.1".into(),
                port: proxy.port(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let ws = create_web_socket();
        let err = within("connect", ws.connect_and_wait(&url, Some(refused)))
            .await
            .unwrap_err();
        assert!(err.message.contains("407"), "{err}");
    }
    // A proxy nobody listens on, with the target excluded: the connection goes direct.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let excluded = WebSocketRequestOptions {
        proxy: Some(ProxyConfiguration::Http(HttpProxy {
            host: "127.0.0.1".into(),
            port: dead,
            exclusion_list: vec!["127.0.0.1".into()],
            ..Default::default()
        })),
        ..Default::default()
    };
    round_trip(&url, excluded).await;
}

#[tokio::test]
async fn a_server_broadcasts_to_several_clients() {
    let (server, port) = echo_server(None).await;
    let url = format!("ws://127.0.0.1:{port}/");
    let received = Arc::new(Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for i in 0..4 {
        let ws = create_web_socket();
        let r = Arc::clone(&received);
        ws.on(client_events::Message, move |m| {
            r.lock().unwrap().push((i, m.clone()))
        });
        within("connect", ws.connect_and_wait(&url, None))
            .await
            .unwrap();
        clients.push(ws);
    }
    until("all connected", || server.list_all_connections().len() == 4).await;
    for connection in server.list_all_connections() {
        server
            .send(
                MessageData::Binary(ws_api::Bytes::from_static(b"to all")),
                &connection,
            )
            .await
            .unwrap();
    }
    until("everyone got it", || received.lock().unwrap().len() == 4).await;
    let mut who: Vec<usize> = received.lock().unwrap().iter().map(|(i, _)| *i).collect();
    who.sort();
    assert_eq!(who, [0, 1, 2, 3]);
    assert!(received
        .lock()
        .unwrap()
        .iter()
        .all(|(_, m)| *m == MessageData::Binary(ws_api::Bytes::from_static(b"to all"))));
    server.stop().await.unwrap();
}

/// A ws-net echo server with the given TLS acceptor; returns its port.
async fn net_echo_server(tls: ws_net::tls::TlsAcceptor) -> u16 {
    let config = ws_net::server::ServerConfig::default().tls(tls);
    let mut server = ws_net::server::Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let port = server.local_addr().port();
    tokio::spawn(async move {
        while let Some(client) = server.accept().await {
            let Ok(mut client) = client else { continue };
            tokio::spawn(async move {
                while let Some(ws_net::Incoming::Message(m)) = client.connection.recv().await {
                    let _ = client.connection.send(m).await;
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn min_support_tls_protocol_1_3_refuses_a_tls_1_2_server() {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let dir = TempDir::new("api-tls12");
    let ca = Ca::new("api test CA");
    let issued = ca.issue(&Leaf::server(&["localhost"]));
    let config = rustls::ServerConfig::builder_with_provider(ws_net::tls::crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(issued.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(issued.key.serialize_der())),
        )
        .unwrap();
    let port = net_echo_server(ws_net::tls::TlsAcceptor::from_config(std::sync::Arc::new(
        config,
    )))
    .await;
    let url = format!("wss://localhost:{port}/");
    let with_min = |min| WebSocketRequestOptions {
        ca_path: Some(dir.write("ca.pem", &ca.cert_pem)),
        min_support_tls_protocol: Some(min),
        ..Default::default()
    };
    // 1.0, 1.1 and 1.2 all mean "1.2 and up", which this server speaks.
    for min in [
        TlsProtocol::TlsV10,
        TlsProtocol::TlsV11,
        TlsProtocol::TlsV12,
    ] {
        round_trip(&url, with_min(min)).await;
    }
    let ws = create_web_socket();
    let err = within(
        "connect",
        ws.connect_and_wait(&url, Some(with_min(TlsProtocol::TlsV13))),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, code::CONNECT_FAILED);
    assert!(err.message.contains("version"), "{err}");
}

#[tokio::test]
async fn skip_verification_accepts_a_self_signed_server() {
    let dir = TempDir::new("api-self-signed");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let server_cert = ServerCert {
        cert_path: dir.write("self.pem", cert.pem()),
        key_path: dir.write("self.key", key.serialize_pem()),
    };
    let (_server, port) = echo_server(Some(server_cert)).await;
    let url = format!("wss://localhost:{port}/");
    let ws = create_web_socket();
    let err = within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap_err();
    assert_eq!(err.code, code::CONNECT_FAILED, "{err}");
    let skip = WebSocketRequestOptions {
        skip_server_cert_verification: Some(true),
        ..Default::default()
    };
    round_trip(&url, skip).await;
}
