//! The `WebSocketServer` facade over loopback, with `WebSocket` clients: events, send, list,
//! close, stop, start errors, the default client limits.

mod support;

use std::sync::{Arc, Mutex};
use support::{local, until, within};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use ws_api::client::{events as client_events, MessageData, WebSocketCloseOptions};
use ws_api::server::{events, ServerCert, WebSocketConnection, WebSocketServerConfig};
use ws_api::{code, create_web_socket, create_web_socket_server, WebSocketServer};

/// Starts a server that records its events; returns it, its URL and the log.
async fn recording_server(
    config: WebSocketServerConfig,
) -> (WebSocketServer, String, Arc<Mutex<Vec<String>>>) {
    let server = create_web_socket_server();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&log);
    server.on(events::Connect, move |c| {
        l.lock().unwrap().push(format!("connect {}", c.client_ip))
    });
    let l = Arc::clone(&log);
    server.on(events::MessageReceive, move |m| {
        l.lock().unwrap().push(format!("message {:?}", m.data))
    });
    let l = Arc::clone(&log);
    server.on(events::Close, move |c| {
        l.lock().unwrap().push(format!(
            "close {} {}",
            c.close_reason.code, c.close_reason.reason
        ))
    });
    let l = Arc::clone(&log);
    server.on(events::Error, move |e| {
        l.lock()
            .unwrap()
            .push(format!("error {} {}", e.code, e.message))
    });
    assert_eq!(server.start(config).await, Ok(true));
    let url = format!("ws://127.0.0.1:{}/", server.local_port().unwrap());
    (server, url, log)
}

fn count(log: &Arc<Mutex<Vec<String>>>, prefix: &str) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with(prefix))
        .count()
}

#[tokio::test]
async fn connect_message_send_list_and_close() {
    let (server, url, log) = recording_server(local()).await;
    let ws = create_web_socket();
    let replies = Arc::new(Mutex::new(Vec::new()));
    let r = Arc::clone(&replies);
    ws.on(client_events::Message, move |m| {
        r.lock().unwrap().push(m.clone())
    });
    let closed = Arc::new(Mutex::new(None));
    let c = Arc::clone(&closed);
    ws.on(client_events::Close, move |close| {
        *c.lock().unwrap() = Some(close.clone())
    });
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    until("connect event", || count(&log, "connect") == 1).await;

    let connections = server.list_all_connections();
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0].client_ip, "127.0.0.1");
    ws.send_text("to the server").await.unwrap();
    until("message event", || count(&log, "message") == 1).await;
    assert_eq!(
        server
            .send(MessageData::Text("to the client".into()), &connections[0])
            .await,
        Ok(true)
    );
    until("reply", || replies.lock().unwrap().len() == 1).await;
    assert_eq!(
        replies.lock().unwrap()[0],
        MessageData::Text("to the client".into())
    );

    assert_eq!(server.close(&connections[0], None).await, Ok(true));
    until("client close event", || closed.lock().unwrap().is_some()).await;
    let close = closed.lock().unwrap().clone().unwrap();
    assert_eq!((close.code, close.reason.as_str()), (1000, "CLOSE_NORMAL"));
    until("server close event", || count(&log, "close") == 1).await;
    assert!(server.list_all_connections().is_empty());
    assert_eq!(
        *log.lock().unwrap(),
        [
            "connect 127.0.0.1",
            "message Text(\"to the server\")",
            "close 1000 "
        ]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_connections_and_bad_arguments_have_their_codes() {
    let (server, _, _) = recording_server(local()).await;
    let nobody = WebSocketConnection {
        client_ip: "127.0.0.1".into(),
        client_port: 1,
    };
    let err = server
        .send(MessageData::Text("x".into()), &nobody)
        .await
        .unwrap_err();
    assert_eq!(err.code, code::CONNECTION_NOT_EXIST);
    assert_eq!(
        server.close(&nobody, None).await.unwrap_err().code,
        code::CONNECTION_NOT_EXIST
    );
    let long = WebSocketCloseOptions {
        code: None,
        reason: Some("r".repeat(124)),
    };
    assert_eq!(
        server.close(&nobody, Some(long)).await.unwrap_err().code,
        code::PARAMETER_ERROR
    );
    let big = MessageData::Binary(vec![0; 5_242_865].into());
    assert_eq!(
        server.send(big, &nobody).await.unwrap_err().code,
        code::PARAMETER_ERROR
    );
    assert_eq!(server.start(local()).await.unwrap_err().code, code::UNKNOWN);
    server.stop().await.unwrap();
    assert_eq!(server.stop().await.unwrap_err().code, code::UNKNOWN);
}

#[tokio::test]
async fn start_errors_have_their_codes() {
    let server = create_web_socket_server();
    let with = |ip: &str, port: u32| WebSocketServerConfig {
        server_ip: Some(ip.into()),
        server_port: port,
        ..Default::default()
    };
    assert_eq!(
        server.start(with("not-an-ip", 0)).await.unwrap_err().code,
        code::CANNOT_LISTEN_ON_NIC
    );
    // TEST-NET-3: a valid address that is not this host's.
    assert_eq!(
        server.start(with("203.0.113.7", 0)).await.unwrap_err().code,
        code::CANNOT_LISTEN_ON_NIC
    );
    assert_eq!(
        server
            .start(with("127.0.0.1", 70_000))
            .await
            .unwrap_err()
            .code,
        code::CANNOT_LISTEN_ON_PORT
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = u32::from(taken.local_addr().unwrap().port());
    assert_eq!(
        server
            .start(with("127.0.0.1", port))
            .await
            .unwrap_err()
            .code,
        code::PORT_OCCUPIED
    );
    let missing = WebSocketServerConfig {
        server_cert: Some(ServerCert {
            cert_path: "/nonexistent/cert.pem".into(),
            key_path: "/nonexistent/key.pem".into(),
        }),
        ..with("127.0.0.1", 0)
    };
    assert_eq!(
        server.start(missing).await.unwrap_err().code,
        code::CERT_FILE_NOT_EXIST
    );
    // A client limit of 0: 2302999, one of start's documented codes (401 is not one).
    for zero in [
        WebSocketServerConfig {
            max_connections_for_one_client: 0,
            ..with("127.0.0.1", 0)
        },
        WebSocketServerConfig {
            max_concurrent_clients_number: 0,
            ..with("127.0.0.1", 0)
        },
    ] {
        let err = server.start(zero).await.unwrap_err();
        assert_eq!(err.code, code::UNKNOWN, "{err}");
        assert!(err.message.contains("must be positive"), "{err}");
    }
    // After all that it can still start.
    assert_eq!(
        server
            .start(with("::1", 0))
            .await
            .map_err(|e| e.code)
            .or_else(|c| if c == code::CANNOT_LISTEN_ON_NIC {
                Ok(true)
            } else {
                Err(c)
            }),
        Ok(true)
    );
}

#[tokio::test]
async fn stop_closes_everyone_with_1001_and_the_server_starts_again() {
    let (server, url, log) = recording_server(local()).await;
    let mut clients = Vec::new();
    let closes = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..3 {
        let ws = create_web_socket();
        let c = Arc::clone(&closes);
        ws.on(client_events::Close, move |close| {
            c.lock().unwrap().push(close.clone())
        });
        within("connect", ws.connect_and_wait(&url, None))
            .await
            .unwrap();
        clients.push(ws);
    }
    until("connect events", || count(&log, "connect") == 3).await;
    assert_eq!(within("stop", server.stop()).await, Ok(true));
    // The server's close events are out when stop resolves.
    assert_eq!(count(&log, "close 1001"), 3, "{:?}", log.lock().unwrap());
    until("client close events", || closes.lock().unwrap().len() == 3).await;
    for close in closes.lock().unwrap().iter() {
        assert_eq!(
            (close.code, close.reason.as_str()),
            (1001, "server is going away")
        );
    }
    assert_eq!(server.start(local()).await, Ok(true));
    let url = format!("ws://127.0.0.1:{}/", server.local_port().unwrap());
    within("reconnect", clients[0].connect_and_wait(&url, None))
        .await
        .unwrap();
    server.stop().await.unwrap();
}

/// Opens a WebSocket handshake from the loopback address `from`; returns the HTTP status line.
async fn handshake_from(from: &str, port: u16) -> (String, tokio::net::TcpStream) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let mut stream = socket
        .connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap();
    stream
        .write_all(format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        if stream.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    (String::from_utf8_lossy(&head).trim_end().to_owned(), stream)
}

#[tokio::test]
async fn the_default_limits_refuse_the_eleventh_connection_and_the_eleventh_address() {
    let (server, _, log) = recording_server(local()).await;
    let port = server.local_port().unwrap();
    let mut held = Vec::new();
    for _ in 0..10 {
        let (status, stream) = within("handshake", handshake_from("127.0.0.1", port)).await;
        assert!(status.contains("101"), "{status}");
        held.push(stream);
    }
    let (status, _) = within("11th connection", handshake_from("127.0.0.1", port)).await;
    assert!(status.contains("503"), "{status}");
    until("error event", || count(&log, "error") == 1).await;
    assert!(log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.starts_with("error 200") && l.contains("127.0.0.1")));
    // Nine more addresses make ten; the eleventh address is refused.
    for i in 2..=10 {
        let (status, stream) =
            within("handshake", handshake_from(&format!("127.0.0.{i}"), port)).await;
        assert!(status.contains("101"), "127.0.0.{i}: {status}");
        held.push(stream);
    }
    let (status, _) = within("11th address", handshake_from("127.0.0.11", port)).await;
    assert!(status.contains("503"), "{status}");
    assert_eq!(server.list_all_connections().len(), 19);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_ping_interval_extension_closes_a_client_that_never_answers() {
    let (server, _, log) = recording_server(WebSocketServerConfig {
        ping_interval: Some(1),
        ..local()
    })
    .await;
    let port = server.local_port().unwrap();
    let (status, mut silent) = handshake_from("127.0.0.1", port).await;
    assert!(status.contains("101"), "{status}");
    // The client reads (so the pings arrive) but never answers them.
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while let Ok(Ok(n)) = tokio::time::timeout(support::BOUND, silent.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        seen
    });
    until("the close event", || count(&log, "close 1006") == 1).await;
    let seen = within("the connection end", reader).await.unwrap();
    assert!(
        // An unmasked Ping frame with a short payload.
        seen.windows(2).any(|w| w[0] == 0x89 && w[1] <= 125),
        "no ping frame among {seen:?}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn max_message_size_sets_the_servers_receive_limit() {
    // Masking is slow in debug builds: 1 MiB stands for any size here (the client tests cross
    // the 64 MiB default, and the unit tests check every limit that follows the option).
    let max = 1 << 20;
    let server = create_web_socket_server();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&log);
    server.on(events::MessageReceive, move |m| {
        if let MessageData::Binary(b) = &m.data {
            l.lock().unwrap().push(format!("message {}", b.len()));
        }
    });
    let l = Arc::clone(&log);
    server.on(events::Error, move |e| {
        l.lock().unwrap().push(format!("error {}", e.message))
    });
    let l = Arc::clone(&log);
    server.on(events::Close, move |c| {
        l.lock().unwrap().push(format!(
            "close {} {}",
            c.close_reason.code, c.close_reason.reason
        ))
    });
    let config = WebSocketServerConfig {
        max_message_size: Some(max),
        ..local()
    };
    assert_eq!(server.start(config).await, Ok(true));
    let url = format!("ws://127.0.0.1:{}/", server.local_port().unwrap());
    let (conn, _) = ws_net::client::connect(&url, &ws_net::client::ClientConfig::default())
        .await
        .unwrap();
    let send = |len: usize| conn.send(ws_net::Message::Binary(vec![1u8; len].into()));
    within("send", send(max)).await.unwrap();
    until("the message", || count(&log, "message") == 1).await;
    let _ = within("send", send(max + 1)).await;
    until("close", || count(&log, "close") == 1).await;
    let log = log.lock().unwrap();
    assert_eq!(log[0], format!("message {max}"));
    assert!(
        log[1].starts_with("error") && log[1].contains("max_message_size"),
        "{log:?}"
    );
    // 1009, or 1006 when the client was still sending the rest of the frame.
    assert!(
        log[2].starts_with("close 1009") || log[2].starts_with("close 1006"),
        "{log:?}"
    );
    assert!(!log.iter().any(|l| l.contains("Limits::")), "{log:?}");
}

#[tokio::test]
async fn max_send_size_lets_the_server_send_larger_messages() {
    let (server, url, _log) = recording_server(WebSocketServerConfig {
        max_send_size: Some(6 << 20),
        ..local()
    })
    .await;
    let ws = create_web_socket();
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&sizes);
    ws.on(client_events::Message, move |m| {
        if let MessageData::Binary(b) = m {
            s.lock().unwrap().push(b.len());
        }
    });
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    until("listed", || server.list_all_connections().len() == 1).await;
    let client = server.list_all_connections().remove(0);
    let large = MessageData::Binary(vec![5u8; 6 << 20].into());
    assert_eq!(within("send", server.send(large, &client)).await, Ok(true));
    until("the message", || !sizes.lock().unwrap().is_empty()).await;
    assert_eq!(*sizes.lock().unwrap(), [6 << 20]);
    let over = MessageData::Binary(vec![5u8; (6 << 20) + 1].into());
    let err = server.send(over, &client).await.unwrap_err();
    assert_eq!(err.code, code::PARAMETER_ERROR);
    assert!(err.message.contains("max_send_size"), "{err}");
}

#[tokio::test]
async fn the_longest_url_a_client_accepts_is_admitted_and_larger_heads_get_431() {
    let (_server, url, log) = recording_server(local()).await;
    // Exactly MAX_URL_LENGTH characters, with a few ordinary headers besides.
    let path = "p".repeat(ws_api::client::MAX_URL_LENGTH - url.len());
    let long = format!("{url}{path}");
    assert_eq!(long.len(), ws_api::client::MAX_URL_LENGTH);
    let ws = create_web_socket();
    let options = ws_api::client::WebSocketRequestOptions {
        header: vec![
            ("Origin".into(), "https://example.com".into()),
            ("User-Agent".into(), "a".repeat(200)),
            ("Cookie".into(), "c".repeat(2000)),
        ],
        ..Default::default()
    };
    within("connect", ws.connect_and_wait(&long, Some(options)))
        .await
        .unwrap();
    until("connect event", || count(&log, "connect") == 1).await;
    ws.close(None).await.unwrap();

    // A head over MAX_REQUEST_HEAD_SIZE is answered with 431.
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    let padding = "x".repeat(ws_api::server::MAX_REQUEST_HEAD_SIZE);
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         X-Padding: {padding}\r\n\r\n"
    );
    let _ = raw.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = within("the answer", raw.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}
