//! The server over loopback: handshakes, subprotocols, limits, hostile clients, isolation and
//! graceful shutdown.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use ws_net::client::{connect, ClientConfig};
use ws_net::server::{Client, Limit, Server, ServerConfig};
use ws_net::{CloseCode, Error, Incoming, Message};
use ws_proto::frame::OpCode;

use support::*;

async fn start(config: ServerConfig) -> (Server, String) {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let url = format!("ws://{}", server.local_addr());
    (server, url)
}

async fn next_client(server: &mut Server) -> Client {
    match within("accept", server.accept()).await {
        Some(Ok(client)) => client,
        Some(Err(rejected)) => panic!("unexpected rejection: {rejected}"),
        None => panic!("server stopped"),
    }
}

async fn next_rejection(server: &mut Server) -> ws_net::server::Rejected {
    match within("accept", server.accept()).await {
        Some(Err(rejected)) => rejected,
        Some(Ok(client)) => panic!("unexpected client {}", client.remote_addr),
        None => panic!("server stopped"),
    }
}

#[tokio::test]
async fn handshake_path_protocol_headers_and_remote_address() {
    let mut config = ServerConfig::default();
    config.accept.protocols = vec!["v2".into(), "v1".into()];
    let (mut server, url) = start(config).await;
    let client_config = ClientConfig::default()
        .protocols(["v1", "v2"])
        .header("X-Trace", "abc");
    let connecting =
        tokio::spawn(async move { connect(&format!("{url}/room?id=7"), &client_config).await });
    let client = next_client(&mut server).await;
    // The client lists protocols by preference (RFC 6455 §4.1): its first supported one wins.
    assert_eq!(client.accepted.protocol.as_deref(), Some("v1"));
    assert_eq!(client.accepted.request.path, "/room?id=7");
    assert_eq!(client.accepted.request.headers.get("x-trace"), Some("abc"));
    let (local, _) = within("connect", connecting).await.unwrap().unwrap();
    assert_eq!(
        client.remote_addr.ip(),
        "127.0.0.1".parse::<std::net::IpAddr>().unwrap()
    );
    drop(local);
}

#[tokio::test]
async fn the_client_gets_the_response_and_an_unoffered_protocol_fails() {
    let (mut server, url) = start(ServerConfig::default()).await;
    let accepting = tokio::spawn(async move {
        let client = next_client(&mut server).await;
        tokio::spawn(echo(client.connection));
        server
    });
    let (mut conn, response) = within("connect", connect(&url, &ClientConfig::default()))
        .await
        .unwrap();
    assert_eq!(response.status, 101);
    assert_eq!(response.reason, "Switching Protocols");
    assert_eq!(response.protocol, None);
    conn.send_text("echo?").await.unwrap();
    match within("echo", conn.recv()).await {
        Some(Incoming::Message(Message::Text(text))) => assert_eq!(text.as_str(), "echo?"),
        other => panic!("{other:?}"),
    }
    drop(accepting.await.unwrap());
}

#[tokio::test]
async fn connect_reports_refused_and_unresolvable_targets() {
    // A port nobody listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = within(
        "connect",
        connect(&format!("ws://127.0.0.1:{port}/"), &ClientConfig::default()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::Connect { source, .. } if source.kind() == std::io::ErrorKind::ConnectionRefused),
        "{err}"
    );
    let err = within(
        "connect",
        connect("ws://no-such-host.invalid/", &ClientConfig::default()),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Resolve { .. }), "{err}");
    let err = within(
        "connect",
        connect("http://example.com/", &ClientConfig::default()),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Url(_)), "{err}");
    let bad_header = ClientConfig::default().header("Sec-WebSocket-Key", "x");
    let err = within("connect", connect("ws://127.0.0.1:1/", &bad_header))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Input(_)), "{err}");
}

#[tokio::test]
async fn a_non_websocket_answer_is_reported_with_its_status() {
    // A plain HTTP server that answers 404.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = socket.read(&mut buf).await;
        socket
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
    });
    let err = within(
        "connect",
        connect(&format!("ws://{addr}/"), &ClientConfig::default()),
    )
    .await
    .unwrap_err();
    match err {
        Error::Response(e) => {
            assert_eq!(e.status(), Some(404));
            assert!(e.to_string().contains("404"), "{e}");
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn a_silent_client_times_out_and_a_huge_request_gets_431() {
    let config = ServerConfig::default().handshake_timeout(Duration::from_millis(200));
    let (mut server, _) = start(config).await;
    let addr = server.local_addr();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let rejected = next_rejection(&mut server).await;
    assert!(matches!(rejected.error, Error::Timeout(_)), "{rejected}");
    let mut rest = Vec::new();
    within("the server to hang up", silent.read_to_end(&mut rest))
        .await
        .unwrap();

    let mut huge = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    huge.extend(
        std::iter::repeat_n(
            b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".as_slice(),
            400,
        )
        .flatten(),
    );
    huge.extend_from_slice(b"\r\n");
    let answer = within("answer", raw_http(addr, &huge)).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    assert!(matches!(
        next_rejection(&mut server).await.error,
        Error::Request(e) if e.status() == 431
    ));
}

#[tokio::test]
async fn plain_http_requests_get_a_proper_answer() {
    let (mut server, _) = start(ServerConfig::default()).await;
    let addr = server.local_addr();
    let answer = within(
        "answer",
        raw_http(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 400 ") || answer.starts_with("HTTP/1.1 426 "),
        "{answer}"
    );
    let answer = within(
        "answer",
        raw_http(addr, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n"),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 405 "), "{answer}");
    next_rejection(&mut server).await;
    next_rejection(&mut server).await;
}

#[tokio::test]
async fn the_per_ip_limit_answers_503() {
    let config = ServerConfig::default().max_connections_per_ip(Some(2));
    let (mut server, url) = start(config).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let (conn, _) = within("connect", connect(&url, &ClientConfig::default()))
            .await
            .unwrap();
        held.push((conn, next_client(&mut server).await));
    }
    let err = within("connect", connect(&url, &ClientConfig::default()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    let rejected = next_rejection(&mut server).await;
    assert!(
        matches!(
            &rejected.error,
            Error::LimitExceeded(Limit::ConnectionsFromOneAddress { ip, limit: 2 })
                if ip.to_string() == "127.0.0.1"
        ),
        "{rejected}"
    );
    assert!(rejected.to_string().contains("127.0.0.1"), "{rejected}");
    // A slot frees up when a connection ends.
    let (conn, _client) = held.pop().unwrap();
    conn.close(CloseCode::NORMAL, "").await.unwrap();
    drop(conn);
    within("the slot to free up", async {
        while server.connection_count() > 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let (_conn, _) = within("connect", connect(&url, &ClientConfig::default()))
        .await
        .unwrap();
    next_client(&mut server).await;
}

/// A socket connected to `addr` from the loopback address `from` (127.0.0.0/8 is all local).
async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

#[tokio::test]
async fn the_distinct_client_ip_limit_answers_503() {
    let config = ServerConfig::default().max_client_ips(Some(1));
    let (mut server, _) = start(config).await;
    let addr = server.local_addr();
    let first = connect_from("127.0.0.1", addr).await;
    let _first = ws_net::handshake::client_handshake(
        first,
        &ws_proto::handshake::ClientRequest::from_url(&format!("ws://{addr}/")).unwrap(),
        Default::default(),
    )
    .await
    .unwrap();
    next_client(&mut server).await;
    // A second connection from the same address is fine; a second address is not.
    let mut other = connect_from("127.0.0.2", addr).await;
    other.write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").as_bytes()).await.unwrap();
    let mut answer = String::new();
    within("answer", other.read_to_string(&mut answer))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    let rejected = next_rejection(&mut server).await;
    assert_eq!(rejected.remote_addr.unwrap().ip().to_string(), "127.0.0.2");
    assert!(
        matches!(
            rejected.error,
            Error::LimitExceeded(Limit::ClientAddresses { limit: 1 })
        ),
        "{rejected}"
    );
}

#[tokio::test]
async fn one_misbehaving_client_does_not_disturb_the_others() {
    let (mut server, url) = start(ServerConfig::default()).await;
    let addr = server.local_addr();
    let (mut good, _) = within("connect", connect(&url, &ClientConfig::default()))
        .await
        .unwrap();
    tokio::spawn(echo(next_client(&mut server).await.connection));

    // One client breaks the protocol, one vanishes mid-message, one never reads its echoes.
    let mut rude = raw_ws_client(addr, "/").await;
    let mut rude_server = next_client(&mut server).await.connection;
    rude.write_all(&server_frame(true, OpCode::Text, b"unmasked"))
        .await
        .unwrap();
    let mut vanishing = raw_ws_client(addr, "/").await;
    let mut vanishing_server = next_client(&mut server).await.connection;
    vanishing
        .write_all(&client_frame(false, OpCode::Binary, b"half"))
        .await
        .unwrap();
    drop(vanishing);
    let _slow = raw_ws_client(addr, "/").await;
    let slow_server = next_client(&mut server).await.connection;
    let flood = tokio::spawn(async move {
        let chunk = vec![0u8; 64 * 1024];
        // Blocks once the slow client's buffers are full; must not affect anyone else.
        while slow_server.send_binary(&chunk).await.is_ok() {}
    });

    assert!(matches!(
        within("rude error", rude_server.recv()).await,
        Some(Incoming::Error(Error::Protocol(_)))
    ));
    assert!(matches!(
        within("vanished", vanishing_server.recv()).await,
        Some(Incoming::Error(Error::ConnectionLost(_)))
    ));
    for i in 0..100 {
        good.send_text(&format!("{i}")).await.unwrap();
        match within("echo", good.recv()).await {
            Some(Incoming::Message(m)) => assert_eq!(m, Message::Text(i.to_string().into())),
            other => panic!("{other:?}"),
        }
    }
    flood.abort();
}

#[tokio::test]
async fn shutdown_closes_every_connection_with_1001() {
    let (mut server, url) = start(ServerConfig::default()).await;
    let mut clients = Vec::new();
    let mut kept = Vec::new();
    for _ in 0..3 {
        let (conn, _) = within("connect", connect(&url, &ClientConfig::default()))
            .await
            .unwrap();
        clients.push(conn);
        // The application holds the server side but does nothing with it.
        kept.push(next_client(&mut server).await);
    }
    within("shutdown", server.shutdown(Duration::from_secs(5))).await;
    for mut conn in clients {
        let status = loop {
            match within("closure", conn.recv()).await {
                Some(Incoming::Closed(status)) => break status,
                Some(_) => {}
                None => panic!("ended without a closure"),
            }
        };
        assert_eq!(status.code, CloseCode::GOING_AWAY);
        assert_eq!(status.reason, "server is going away");
        assert!(status.clean);
    }
    // The server's own handles see the closure too.
    for mut client in kept {
        let status = loop {
            match within("closure", client.connection.recv()).await {
                Some(Incoming::Closed(status)) => break status,
                Some(_) => {}
                None => panic!("ended without a closure"),
            }
        };
        assert_eq!(status.code, CloseCode::GOING_AWAY);
    }
}

#[tokio::test]
async fn shutdown_gives_up_on_clients_that_never_answer() {
    let (mut server, _) = start(ServerConfig::default()).await;
    let addr = server.local_addr();
    // Completes the handshake, then never reads or answers again.
    let _deaf = raw_ws_client(addr, "/").await;
    let mut client = next_client(&mut server).await;
    let started = tokio::time::Instant::now();
    within("shutdown", server.shutdown(Duration::from_millis(300))).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    // The application's handle hears that the connection was dropped.
    assert!(matches!(
        within("the failure", client.connection.recv()).await,
        Some(Incoming::Error(Error::ConnectionLost(_)))
    ));
    match within("the closure", client.connection.recv()).await {
        Some(Incoming::Closed(status)) => assert_eq!(status.code, CloseCode::ABNORMAL),
        other => panic!("{other:?}"),
    }
    assert!(client.connection.send_text("anyone?").await.is_err());
}

#[tokio::test]
async fn ipv6_loopback_end_to_end() {
    let Ok(mut server) = Server::bind("[::1]:0".parse().unwrap(), ServerConfig::default()).await
    else {
        // This host has no IPv6 loopback.
        return;
    };
    let url = format!("ws://[::1]:{}/v6", server.local_addr().port());
    let connecting = tokio::spawn(async move { connect(&url, &ClientConfig::default()).await });
    let client = next_client(&mut server).await;
    assert!(client.remote_addr.is_ipv6());
    assert_eq!(
        client.accepted.request.host,
        format!("[::1]:{}", server.local_addr().port())
    );
    within("connect", connecting).await.unwrap().unwrap();
}

#[tokio::test]
async fn the_server_heartbeat_drops_a_client_that_went_silent() {
    let config = ServerConfig::default().connection(
        ws_net::ConnectionConfig::default()
            .ping_interval(Some(Duration::from_millis(100)))
            .pong_timeout(Some(Duration::from_millis(200))),
    );
    let (mut server, _) = start(config).await;
    let addr = server.local_addr();
    // Completes the handshake, then neither reads nor answers: a half-open peer.
    let _silent = raw_ws_client(addr, "/").await;
    let mut client = next_client(&mut server).await;
    match within("the failure", client.connection.recv()).await {
        Some(Incoming::Error(Error::ConnectionLost(reason))) => {
            assert!(reason.contains("no pong"), "{reason}")
        }
        other => panic!("expected the heartbeat failure, got {other:?}"),
    }
    match within("the closure", client.connection.recv()).await {
        Some(Incoming::Closed(status)) => assert_eq!(status.code, CloseCode::ABNORMAL),
        other => panic!("{other:?}"),
    }
    // Its slot is freed once the transport is gone.
    within("the slot to free up", async {
        while server.connection_count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_client_that_never_answers_the_close_is_dropped_after_the_close_timeout() {
    let mut config = ServerConfig::default();
    config.connection.protocol.close_timeout = Duration::from_millis(200);
    let (mut server, _) = start(config).await;
    let _deaf = raw_ws_client(server.local_addr(), "/").await;
    let mut client = next_client(&mut server).await;
    client
        .connection
        .close(CloseCode::NORMAL, "bye")
        .await
        .unwrap();
    assert!(matches!(
        within("the failure", client.connection.recv()).await,
        Some(Incoming::Error(Error::ConnectionLost(_)))
    ));
    match within("the closure", client.connection.recv()).await {
        Some(Incoming::Closed(status)) => {
            assert_eq!(status.code, CloseCode::ABNORMAL);
            assert!(status.locally_initiated);
        }
        other => panic!("{other:?}"),
    }
    within("the slot to free up", async {
        while server.connection_count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// The keepalive timers (`tr` 2 in /proc/net/tcp) of the established loopback sockets with
/// `port` at one end: (the server's side, the client's side).
#[cfg(target_os = "linux")]
fn keepalive_timers(port: u16) -> (Vec<bool>, Vec<bool>) {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let mut sides = (Vec::new(), Vec::new());
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port_of =
            |addr: &str| u16::from_str_radix(addr.rsplit(':').next().unwrap(), 16).unwrap();
        if fields[3] != "01" {
            continue; // not established
        }
        let keepalive = fields[5].starts_with("02:");
        if port_of(fields[1]) == port {
            sides.0.push(keepalive);
        } else if port_of(fields[2]) == port {
            sides.1.push(keepalive);
        }
    }
    sides
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn accepted_and_connected_sockets_watch_for_a_vanished_peer() {
    let port = echo_server_with(ServerConfig::default()).await;
    let url = format!("ws://127.0.0.1:{port}/");
    let (client, _) = ws_net::client::connect(&url, &Default::default())
        .await
        .unwrap();
    client.send_text("hello").await.unwrap();
    let (server_side, client_side) = keepalive_timers(port);
    assert_eq!(
        server_side,
        [true],
        "the accepted socket runs a keepalive timer"
    );
    assert_eq!(
        client_side,
        [true],
        "the connected socket runs a keepalive timer"
    );

    // Turned off, the system's default (no keepalive) stays.
    let mut config = ws_net::client::ClientConfig::default();
    config.connection.tcp_keepalive = None;
    let (other, _) = ws_net::client::connect(&url, &config).await.unwrap();
    other.send_text("hello").await.unwrap();
    let (_, client_side) = keepalive_timers(port);
    assert_eq!(
        client_side.iter().filter(|on| !**on).count(),
        1,
        "{client_side:?}"
    );
    drop((client, other));
}
