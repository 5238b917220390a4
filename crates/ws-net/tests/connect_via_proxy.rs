//! `connect` through a real HTTP CONNECT proxy (tinyproxy) to our own server, for ws and wss.

#[path = "support/certs.rs"]
mod certs;
mod support;
#[path = "support/tinyproxy.rs"]
mod tinyproxy;

use certs::{Ca, Leaf, TempDir};
use tinyproxy::{Tinyproxy, TinyproxyConfig};
use ws_net::client::{connect, ClientConfig};
use ws_net::proxy::{HttpProxy, ProxyConfig, ProxyError};
use ws_net::tls::{TlsClientOptions, TlsServerOptions};
use ws_net::{Connection, Error, Incoming, Message};

use support::{echo_server, within};

fn via(proxy: &Tinyproxy) -> HttpProxy {
    HttpProxy::new("127.0.0.1", proxy.port())
}

async fn assert_echoes(conn: &mut Connection) {
    conn.send_text("through the tunnel").await.unwrap();
    match within("echo", conn.recv()).await {
        Some(Incoming::Message(Message::Text(t))) => assert_eq!(t.as_str(), "through the tunnel"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn ws_through_a_proxy() {
    let Some(proxy) = Tinyproxy::start(&TinyproxyConfig::default()) else {
        return;
    };
    let port = echo_server(None).await;
    let config = ClientConfig::default().proxy(ProxyConfig::Http(via(&proxy)));
    let (mut conn, response) = within(
        "connect",
        connect(&format!("ws://127.0.0.1:{port}/"), &config),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 101);
    assert_echoes(&mut conn).await;
}

#[tokio::test]
async fn wss_through_a_proxy_with_basic_auth() {
    let Some(proxy) = Tinyproxy::start(&TinyproxyConfig::default().basic_auth("alice", "s3cret"))
    else {
        return;
    };
    let dir = TempDir::new("proxy-wss");
    let ca = Ca::new("proxy test CA");
    let issued = ca.issue(&Leaf::server(&["localhost"]));
    let cert = dir.write("server.pem", &issued.cert_pem);
    let key = dir.write("server.key", issued.pkcs8_pem());
    let port = echo_server(Some(TlsServerOptions::new(cert, key).build().unwrap())).await;
    let config = ClientConfig::default()
        .proxy(ProxyConfig::Http(
            via(&proxy).with_credentials("alice", "s3cret"),
        ))
        .tls(TlsClientOptions::default().ca(dir.write("ca.pem", &ca.cert_pem)));
    // TLS runs end to end inside the tunnel: the certificate is checked against "localhost".
    let (mut conn, _) = within(
        "connect",
        connect(&format!("wss://localhost:{port}/"), &config),
    )
    .await
    .unwrap();
    assert_echoes(&mut conn).await;

    let wrong = config.clone().proxy(ProxyConfig::Http(
        via(&proxy).with_credentials("alice", "wrong"),
    ));
    let err = within(
        "connect",
        connect(&format!("wss://localhost:{port}/"), &wrong),
    )
    .await
    .unwrap_err();
    // tinyproxy 1.11.1 answers a wrong password with 401, later versions with 407.
    assert!(
        matches!(
            &err,
            Error::Proxy(ProxyError::Refused {
                status: 401 | 407,
                ..
            })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_refusing_proxy_is_reported_with_its_status_line() {
    let Some(proxy) = Tinyproxy::start(&TinyproxyConfig::default().connect_port(443)) else {
        return;
    };
    let port = echo_server(None).await;
    let config = ClientConfig::default().proxy(ProxyConfig::Http(via(&proxy)));
    let err = within(
        "connect",
        connect(&format!("ws://127.0.0.1:{port}/"), &config),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::Proxy(ProxyError::Refused { status: 403, .. })),
        "{err}"
    );
    assert!(err.to_string().contains("403"), "{err}");
}

#[tokio::test]
async fn excluded_hosts_and_no_proxy_go_direct() {
    let port = echo_server(None).await;
    // A proxy address nobody listens on: using it would fail.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let excluded = ClientConfig::default().proxy(ProxyConfig::Http(
        HttpProxy::new("127.0.0.1", dead).with_exclusions(["127.0.0.1"]),
    ));
    let (mut conn, _) = within(
        "connect",
        connect(&format!("ws://127.0.0.1:{port}/"), &excluded),
    )
    .await
    .unwrap();
    assert_echoes(&mut conn).await;
    let through_dead =
        ClientConfig::default().proxy(ProxyConfig::Http(HttpProxy::new("127.0.0.1", dead)));
    let err = within(
        "connect",
        connect(&format!("ws://127.0.0.1:{port}/"), &through_dead),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("proxy"), "{err}");
    let direct = ClientConfig::default().proxy(ProxyConfig::None);
    within(
        "connect",
        connect(&format!("ws://127.0.0.1:{port}/"), &direct),
    )
    .await
    .unwrap();
}
