//! The Rust-native extensions of the facades: `ping` and the `pong` event, `close_with_code`,
//! the typed cause of a `BusinessError`, and the HTTP status of a client the server turned
//! away.

mod support;

use std::error::Error as _;
use std::sync::{Arc, Mutex};

use support::{echo_server, until, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws_api::client::events;
use ws_api::server::{events as server_events, WebSocketConnection, WebSocketServerConfig};
use ws_api::ws_net;
use ws_api::{code, create_web_socket, create_web_socket_server, BusinessError, Bytes};

/// A ws-net server that answers pings (ws-net does it by itself) and answers every message
/// with an unsolicited Pong carrying the message's bytes.
async fn ponging_server() -> String {
    use ws_net::server::{Server, ServerConfig};
    use ws_net::{Incoming, Message};

    let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let url = format!("ws://{}/", server.local_addr());
    tokio::spawn(async move {
        while let Some(client) = server.accept().await {
            let Ok(mut client) = client else { continue };
            tokio::spawn(async move {
                while let Some(incoming) = client.connection.recv().await {
                    if let Incoming::Message(Message::Text(text)) = incoming {
                        let _ = client
                            .connection
                            .sender()
                            .pong(text.as_str().as_bytes())
                            .await;
                    }
                }
            });
        }
    });
    url
}

/// Records the payload of every `pong` event.
fn record_pongs(ws: &ws_api::WebSocket) -> Arc<Mutex<Vec<Bytes>>> {
    let pongs = Arc::new(Mutex::new(Vec::new()));
    let p = Arc::clone(&pongs);
    ws.on(events::Pong, move |payload| {
        p.lock().unwrap().push(payload.clone())
    });
    pongs
}

#[tokio::test]
async fn a_ping_is_answered_by_a_pong_event_with_the_same_payload() {
    let url = ponging_server().await;
    let ws = create_web_socket();
    let pongs = record_pongs(&ws);
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    assert_eq!(within("ping", ws.ping(b"are you there?")).await, Ok(true));
    until("the pong", || pongs.lock().unwrap().len() == 1).await;
    assert_eq!(pongs.lock().unwrap()[0], &b"are you there?"[..]);
    // The largest payload, and an empty one.
    let largest = [7u8; 125];
    within("ping", ws.ping(&largest)).await.unwrap();
    within("ping", ws.ping(b"")).await.unwrap();
    until("two more pongs", || pongs.lock().unwrap().len() == 3).await;
    assert_eq!(pongs.lock().unwrap()[1], &largest[..]);
    assert!(pongs.lock().unwrap()[2].is_empty());
    // An unsolicited pong is an event too.
    ws.send_text("unasked").await.unwrap();
    until("the unsolicited pong", || pongs.lock().unwrap().len() == 4).await;
    assert_eq!(pongs.lock().unwrap()[3], &b"unasked"[..]);
    ws.close(None).await.unwrap();
    within("close", ws.closed()).await.unwrap();
}

#[tokio::test]
async fn the_heartbeats_pongs_are_pong_events() {
    let url = ponging_server().await;
    let ws = create_web_socket();
    let pongs = record_pongs(&ws);
    let options = ws_api::client::WebSocketRequestOptions {
        ping_interval: Some(1),
        pong_timeout: Some(1),
        ..Default::default()
    };
    within("connect", ws.connect_and_wait(&url, Some(options)))
        .await
        .unwrap();
    until("a heartbeat pong", || !pongs.lock().unwrap().is_empty()).await;
    ws.close(None).await.unwrap();
    within("close", ws.closed()).await.unwrap();
}

#[tokio::test]
async fn a_panicking_pong_listener_is_reported_and_the_connection_goes_on() {
    let url = ponging_server().await;
    let ws = create_web_socket();
    ws.on(events::Pong, |_| panic!("a pong listener failed"));
    let pongs = record_pongs(&ws);
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e = Arc::clone(&errors);
    ws.on(events::Error, move |err: &BusinessError| {
        e.lock().unwrap().push(err.clone())
    });
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    ws.ping(b"1").await.unwrap();
    until("the error event", || errors.lock().unwrap().len() == 1).await;
    {
        let errors = errors.lock().unwrap();
        assert_eq!(errors[0].code, code::UNKNOWN);
        assert!(errors[0].message.contains("\"pong\""), "{}", errors[0]);
    }
    // The listener after the panicking one ran, and the connection still works.
    until("the pong", || pongs.lock().unwrap().len() == 1).await;
    ws.ping(b"2").await.unwrap();
    until("the second pong", || pongs.lock().unwrap().len() == 2).await;
    ws.close(None).await.unwrap();
    assert_eq!(within("close", ws.closed()).await.unwrap().code, 1000);
}

#[tokio::test]
async fn ping_checks_its_payload_first_then_the_state() {
    let ws = create_web_socket();
    let too_long = [0u8; 126];
    assert_eq!(
        ws.ping(&too_long).await.unwrap_err().code,
        code::PARAMETER_ERROR
    );
    let err = ws.ping(b"x").await.unwrap_err();
    assert_eq!(err.code, code::UNKNOWN);
    assert!(err.message.contains("the connection is not open"), "{err}");

    let (url, _closures) = echo_server(&[]).await;
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    let err = ws.ping(&too_long).await.unwrap_err();
    assert_eq!(err.code, code::PARAMETER_ERROR);
    assert!(err.message.contains("125"), "{err}");
    ws.close(None).await.unwrap();
    within("close", ws.closed()).await.unwrap();
    assert_eq!(ws.ping(b"x").await.unwrap_err().code, code::UNKNOWN);
}

#[tokio::test]
async fn close_with_code_sends_exactly_the_code() {
    for (sent, reason) in [(4000, "bye"), (3000, ""), (1001, "away")] {
        let (url, mut closures) = echo_server(&[]).await;
        let ws = create_web_socket();
        within("connect", ws.connect_and_wait(&url, None))
            .await
            .unwrap();
        assert_eq!(ws.close_with_code(sent, reason).await, Ok(true));
        assert_eq!(
            within("closure", closures.recv()).await,
            Some((sent, reason.to_owned()))
        );
        // The server's answer echoes the code (its reason is its own).
        assert_eq!(within("close", ws.closed()).await.unwrap().code, sent);
    }
}

#[tokio::test]
async fn close_with_code_refuses_what_may_not_be_sent() {
    let ws = create_web_socket();
    // Not open: as for `close`.
    assert_eq!(
        ws.close_with_code(4000, "bye").await.unwrap_err().code,
        code::UNKNOWN
    );
    let (url, mut closures) = echo_server(&[]).await;
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    for refused in [1005, 5000, 1006, 1015, 2999] {
        let err = ws.close_with_code(refused, "bye").await.unwrap_err();
        assert_eq!(err.code, code::PARAMETER_ERROR, "{refused}");
        assert!(err.message.contains("3000-4999"), "{err}");
    }
    let err = ws
        .close_with_code(4000, &"x".repeat(124))
        .await
        .unwrap_err();
    assert_eq!(err.code, code::PARAMETER_ERROR);
    // Nothing was sent: the connection is still open and closes as asked.
    ws.send_text("still open").await.unwrap();
    ws.close_with_code(4999, "done").await.unwrap();
    assert_eq!(
        within("closure", closures.recv()).await,
        Some((4999, "done".to_owned()))
    );
}

#[tokio::test]
async fn close_with_code_while_connecting_cancels() {
    // A listener that never answers the handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let ws = create_web_socket();
    let outcome = ws.connect_and_wait(&format!("ws://127.0.0.1:{port}/"), None);
    let _accepted = within("accept", listener.accept()).await.unwrap();
    assert_eq!(ws.close_with_code(4000, "never mind").await, Ok(true));
    let err = within("the connect", outcome).await.unwrap_err();
    assert!(err.message.contains("cancelled"), "{err}");
}

#[tokio::test]
async fn the_server_closes_a_client_with_exactly_the_code() {
    let server = create_web_socket_server();
    let config = WebSocketServerConfig {
        server_ip: Some("127.0.0.1".into()),
        ..Default::default()
    };
    server.start(config).await.unwrap();
    let url = format!("ws://127.0.0.1:{}/", server.local_port().unwrap());
    let ws = create_web_socket();
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    until("the connection", || {
        server.list_all_connections().len() == 1
    })
    .await;
    let connection = server.list_all_connections().remove(0);
    assert_eq!(
        server
            .close_with_code(&connection, 5000, "bye")
            .await
            .unwrap_err()
            .code,
        code::PARAMETER_ERROR
    );
    let unknown = WebSocketConnection {
        client_ip: "127.0.0.1".into(),
        client_port: 1,
    };
    assert_eq!(
        server
            .close_with_code(&unknown, 4000, "bye")
            .await
            .unwrap_err()
            .code,
        code::CONNECTION_NOT_EXIST
    );
    assert_eq!(
        server.close_with_code(&connection, 4001, "bye").await,
        Ok(true)
    );
    let closed = within("close", ws.closed()).await.unwrap();
    assert_eq!((closed.code, closed.reason.as_str()), (4001, "bye"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn business_errors_keep_the_typed_cause() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ws = create_web_socket();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let e = Arc::clone(&seen);
    ws.on(events::Error, move |err: &BusinessError| {
        e.lock().unwrap().push(err.clone())
    });
    let err = within(
        "connect",
        ws.connect_and_wait(&format!("ws://127.0.0.1:{port}/"), None),
    )
    .await
    .unwrap_err();
    let cause = err.source().and_then(|s| s.downcast_ref::<ws_net::Error>());
    assert!(
        matches!(cause, Some(ws_net::Error::Connect { target, .. }) if target.contains(&port.to_string())),
        "{cause:?}"
    );
    // The event carries it too.
    let event = seen.lock().unwrap()[0].clone();
    assert!(event
        .source()
        .and_then(|s| s.downcast_ref::<ws_net::Error>())
        .is_some());
    // Equality compares code, message and data, not the cause.
    let mut same = BusinessError::new(err.code, "").with_data(err.data);
    same.message = err.message.clone();
    assert!(same.source().is_none());
    assert_eq!(same, err);
    // An error event of an open connection carries its cause.
    let ws = create_web_socket();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let e = Arc::clone(&seen);
    ws.on(events::Error, move |err: &BusinessError| {
        e.lock().unwrap().push(err.clone())
    });
    let options = ws_api::client::WebSocketRequestOptions {
        max_message_size: Some(16),
        ..Default::default()
    };
    let (url, _closures) = echo_server(&[]).await;
    within("connect", ws.connect_and_wait(&url, Some(options)))
        .await
        .unwrap();
    ws.send_text(&"x".repeat(64)).await.unwrap();
    until("the error event", || seen.lock().unwrap().len() == 1).await;
    let event = seen.lock().unwrap()[0].clone();
    assert!(
        matches!(
            event
                .source()
                .and_then(|s| s.downcast_ref::<ws_net::Error>()),
            Some(ws_net::Error::Protocol(_))
        ),
        "{event}"
    );
    within("close", ws.closed()).await.unwrap();
    // Errors of the facade's own checks have none.
    let err = ws.send_text("x").await.unwrap_err();
    assert!(err.source().is_none());
}

#[tokio::test]
async fn a_client_over_a_limit_is_reported_with_503_and_the_typed_limit() {
    let server = create_web_socket_server();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e = Arc::clone(&errors);
    server.on(server_events::Error, move |err: &BusinessError| {
        e.lock().unwrap().push(err.clone())
    });
    let config = WebSocketServerConfig {
        server_ip: Some("127.0.0.1".into()),
        max_connections_for_one_client: 1,
        ..Default::default()
    };
    server.start(config).await.unwrap();
    let port = server.local_port().unwrap();
    let url = format!("ws://127.0.0.1:{port}/");
    let first = create_web_socket();
    within("connect", first.connect_and_wait(&url, None))
        .await
        .unwrap();
    let second = create_web_socket();
    let refused = within("second connect", second.connect_and_wait(&url, None))
        .await
        .unwrap_err();
    assert_eq!(refused.data, Some(503));
    until("the server's error event", || {
        errors.lock().unwrap().len() == 1
    })
    .await;
    let error = errors.lock().unwrap()[0].clone();
    assert_eq!(error.code, code::CONNECT_FAILED);
    assert_eq!(error.data, Some(503));
    let cause = error
        .source()
        .and_then(|s| s.downcast_ref::<ws_net::Error>());
    assert!(
        matches!(
            cause,
            Some(ws_net::Error::LimitExceeded(
                ws_net::server::Limit::ConnectionsFromOneAddress { limit: 1, ip }
            )) if ip.to_string() == "127.0.0.1"
        ),
        "{cause:?}"
    );

    // An invalid upgrade request (from another address: this one holds its one connection):
    // the status it was answered with.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut raw = within(
        "connect",
        socket.connect(format!("127.0.0.1:{port}").parse().unwrap()),
    )
    .await
    .unwrap();
    raw.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    within("the answer", raw.read_to_string(&mut answer))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 405 "), "{answer}");
    until("the server's error event", || {
        errors.lock().unwrap().len() == 2
    })
    .await;
    let error = errors.lock().unwrap()[1].clone();
    assert_eq!(error.data, Some(405), "{error}");
    assert!(matches!(
        error
            .source()
            .and_then(|s| s.downcast_ref::<ws_net::Error>()),
        Some(ws_net::Error::Request(_))
    ));
    server.stop().await.unwrap();
}
