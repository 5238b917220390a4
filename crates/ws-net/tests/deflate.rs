//! permessage-deflate negotiation over loopback: both sides agree on the same parameters, and
//! either side without it configured negotiates nothing.

mod support;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ws_net::client::{connect, ClientConfig};
use ws_net::handshake::AcceptOptions;
use ws_net::server::{Client, Server, ServerConfig};
use ws_net::{Incoming, Message};
use ws_proto::deflate::{DeflateConfig, DeflateParams};

use support::*;

async fn start(deflate: Option<DeflateConfig>) -> Server {
    let config = ServerConfig::default().accept(AcceptOptions::default().deflate(deflate));
    Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

async fn next_client(server: &mut Server) -> Client {
    match within("accept", server.accept()).await {
        Some(Ok(client)) => client,
        Some(Err(rejected)) => panic!("unexpected rejection: {rejected}"),
        None => panic!("server stopped"),
    }
}

/// Connects a ws-net client with `deflate` to a ws-net server with `server_deflate`; returns
/// what each side agreed on, after checking that a message still makes the round trip.
async fn negotiate(
    deflate: Option<DeflateConfig>,
    server_deflate: Option<DeflateConfig>,
) -> (Option<DeflateParams>, Option<DeflateParams>, String) {
    let mut server = start(server_deflate).await;
    let url = format!("ws://{}", server.local_addr());
    let config = ClientConfig::default().deflate(deflate);
    let connecting = tokio::spawn(async move { connect(&url, &config).await });
    let client = next_client(&mut server).await;
    let accepted = client.accepted.deflate;
    tokio::spawn(echo(client.connection));
    let (mut conn, response) = within("connect", connecting).await.unwrap().unwrap();
    conn.send_text("hello hello hello").await.unwrap();
    match within("echo", conn.recv()).await {
        Some(Incoming::Message(Message::Text(text))) => assert_eq!(text, "hello hello hello"),
        other => panic!("{other:?}"),
    }
    let header = response
        .headers
        .get("Sec-WebSocket-Extensions")
        .unwrap_or_default()
        .to_owned();
    (response.deflate, accepted, header)
}

#[tokio::test]
async fn both_sides_agree_on_the_parameters() {
    let (client, server, header) = negotiate(
        Some(DeflateConfig::default()),
        Some(DeflateConfig::default()),
    )
    .await;
    assert_eq!(client, Some(DeflateParams::default()));
    assert_eq!(server, client);
    assert_eq!(header, "permessage-deflate");

    let ours = DeflateConfig::default()
        .client_no_context_takeover(true)
        .server_max_window_bits(Some(12));
    let theirs = DeflateConfig::default()
        .server_no_context_takeover(true)
        .client_max_window_bits(Some(10));
    let (client, server, header) = negotiate(Some(ours), Some(theirs)).await;
    let expected = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 12,
        client_max_window_bits: 10,
    };
    assert_eq!(client, Some(expected));
    assert_eq!(server, client);
    assert_eq!(
        header,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=12; client_max_window_bits=10"
    );
}

#[tokio::test]
async fn a_server_without_deflate_declines_the_offer() {
    let (client, server, header) = negotiate(Some(DeflateConfig::default()), None).await;
    assert_eq!((client, server), (None, None));
    assert_eq!(header, "");
}

#[tokio::test]
async fn a_client_without_deflate_offers_nothing() {
    let (client, server, header) = negotiate(None, Some(DeflateConfig::default())).await;
    assert_eq!((client, server), (None, None));
    assert_eq!(header, "");
}

/// The server's answer head to a hand-written upgrade request with `extensions` lines.
async fn raw_answer(server: &mut Server, extensions: &[&str]) -> (String, Client) {
    let mut socket = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut request = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        .to_owned();
    for e in extensions {
        request += &format!("Sec-WebSocket-Extensions: {e}\r\n");
    }
    request += "\r\n";
    socket.write_all(request.as_bytes()).await.unwrap();
    let client = next_client(server).await;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = within("answer", socket.read(&mut byte)).await.unwrap();
        assert_eq!(n, 1, "the server closed during the handshake");
        head.push(byte[0]);
    }
    (String::from_utf8(head).unwrap(), client)
}

#[tokio::test]
async fn a_server_answers_only_acceptable_offers() {
    let mut server = start(Some(DeflateConfig::default())).await;
    let (head, client) = raw_answer(&mut server, &[]).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(!head.contains("Sec-WebSocket-Extensions"), "{head}");
    assert_eq!(client.accepted.deflate, None);

    let (head, client) = raw_answer(
        &mut server,
        &["x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=8"],
    )
    .await;
    assert!(!head.contains("Sec-WebSocket-Extensions"), "{head}");
    assert_eq!(client.accepted.deflate, None);

    let (head, client) = raw_answer(
        &mut server,
        &[
            "permessage-deflate; bogus",
            "permessage-deflate; client_max_window_bits=\"11\"; server_max_window_bits=15",
        ],
    )
    .await;
    assert!(
        head.contains(
            "\r\nSec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=15; \
             client_max_window_bits=11\r\n"
        ),
        "{head}"
    );
    assert_eq!(
        client.accepted.deflate,
        Some(DeflateParams {
            client_max_window_bits: 11,
            ..DeflateParams::default()
        })
    );
}

#[tokio::test]
async fn negotiated_messages_go_over_the_wire_compressed_both_ways() {
    let mut server = start(Some(DeflateConfig::default())).await;
    let mut socket = TcpStream::connect(server.local_addr()).await.unwrap();
    socket
        .write_all(
            b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        )
        .await
        .unwrap();
    let mut client = next_client(&mut server).await;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        within("answer", socket.read_exact(&mut byte))
            .await
            .unwrap();
        head.push(byte[0]);
    }
    assert!(String::from_utf8_lossy(&head).contains("permessage-deflate"));

    // The server's 10,000-byte message arrives as one small frame with RSV1 set.
    let message = "all work and no play ".repeat(500);
    client.connection.send_text(&message).await.unwrap();
    let mut frame = [0u8; 2];
    within("frame", socket.read_exact(&mut frame))
        .await
        .unwrap();
    assert_eq!(frame[0], 0xC1, "FIN, RSV1, text");
    let len = usize::from(frame[1] & 0x7F);
    assert!(len < 125, "{len} bytes for {} of text", message.len());
    let mut payload = vec![0u8; len];
    within("payload", socket.read_exact(&mut payload))
        .await
        .unwrap();

    // The same bytes, masked, go back as a compressed client message; the server inflates them.
    let mut echo = vec![0xC1, 0x80 | len as u8, 0, 0, 0, 0];
    echo.extend_from_slice(&payload);
    socket.write_all(&echo).await.unwrap();
    match within("the inflated message", client.connection.recv()).await {
        Some(Incoming::Message(Message::Text(text))) => assert_eq!(text, message.as_str()),
        other => panic!("{other:?}"),
    }
}
