//! The `permessage_deflate` extension option over loopback: off by default on both sides, and
//! negotiated when set (checked against ws-net peers that report what they agreed on).

mod support;

use support::within;
use ws_api::client::{PermessageDeflate, WebSocketRequestOptions};
use ws_api::server::WebSocketServerConfig;
use ws_api::{create_web_socket, create_web_socket_server};
use ws_net::client::{connect, ClientConfig};
use ws_net::handshake::AcceptOptions;
use ws_net::server::{Server, ServerConfig};
use ws_proto::deflate::{DeflateConfig, DeflateParams};

/// Connects a ws-api client with `option` to a ws-net server accepting permessage-deflate;
/// returns what the server agreed on.
async fn client_against_deflate_server(option: Option<PermessageDeflate>) -> Option<DeflateParams> {
    let config = ServerConfig::default()
        .accept(AcceptOptions::default().deflate(Some(DeflateConfig::default())));
    let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let ws = create_web_socket();
    let options = WebSocketRequestOptions {
        permessage_deflate: option,
        ..Default::default()
    };
    let opening = ws.connect_and_wait(&url, Some(options));
    let client = match within("accept", server.accept()).await {
        Some(Ok(client)) => client,
        other => panic!("{other:?}"),
    };
    let open = within("open", opening).await.unwrap();
    assert_eq!(open.status, 101);
    client.accepted.deflate
}

#[tokio::test]
async fn a_client_offers_permessage_deflate_only_when_asked() {
    assert_eq!(client_against_deflate_server(None).await, None);
    let option = PermessageDeflate {
        client_no_context_takeover: true,
        client_max_window_bits: Some(11),
        ..Default::default()
    };
    assert_eq!(
        client_against_deflate_server(Some(option)).await,
        Some(DeflateParams {
            client_no_context_takeover: true,
            client_max_window_bits: 11,
            ..DeflateParams::default()
        })
    );
}

/// Starts a ws-api server with `option` and connects a ws-net client offering
/// permessage-deflate; returns what the client agreed on.
async fn deflate_client_against_server(option: Option<PermessageDeflate>) -> Option<DeflateParams> {
    let server = create_web_socket_server();
    let config = WebSocketServerConfig {
        server_ip: Some("127.0.0.1".into()),
        permessage_deflate: option,
        ..Default::default()
    };
    assert_eq!(server.start(config).await, Ok(true));
    let url = format!("ws://127.0.0.1:{}/", server.local_port().unwrap());
    let client = ClientConfig::default().deflate(Some(DeflateConfig::default()));
    let (_conn, response) = within("connect", connect(&url, &client)).await.unwrap();
    assert_eq!(server.stop().await, Ok(true));
    response.deflate
}

#[tokio::test]
async fn a_server_accepts_permessage_deflate_only_when_asked() {
    assert_eq!(deflate_client_against_server(None).await, None);
    let option = PermessageDeflate {
        server_no_context_takeover: true,
        server_max_window_bits: Some(10),
        ..Default::default()
    };
    assert_eq!(
        deflate_client_against_server(Some(option)).await,
        Some(DeflateParams {
            server_no_context_takeover: true,
            server_max_window_bits: 10,
            ..DeflateParams::default()
        })
    );
}
