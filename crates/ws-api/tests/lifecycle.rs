//! How the facades' objects and connections live and end: listener panics, dropped handles,
//! listeners that capture their own object, foreign `off` handles, a cancelled connect, and
//! `close` against a peer that stopped reading.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{echo_server, until, within};
use tokio::net::TcpListener;
use ws_api::client::{events, MessageData, WebSocketRequestOptions};
use ws_api::server::{events as server_events, WebSocketServerConfig};
use ws_api::{code, create_web_socket, create_web_socket_server, WebSocket, WebSocketServer};
use ws_net::server::{Server, ServerConfig};
use ws_net::{Incoming, Sender};

type Log = Arc<Mutex<Vec<String>>>;

fn has(log: &Log, line: &str) -> bool {
    log.lock().unwrap().iter().any(|l| l.contains(line))
}

/// The object is usable again, nothing left half-closed: it connects to `url` and closes.
async fn connects_again(ws: &WebSocket, url: &str) {
    within("connect again", ws.connect_and_wait(url, None))
        .await
        .unwrap();
    within("close", ws.close(None)).await.unwrap();
}

/// Records every client event as a line.
fn record(ws: &WebSocket) -> Log {
    let log: Log = Arc::default();
    let l = Arc::clone(&log);
    ws.on(events::HeaderReceive, move |_| {
        l.lock().unwrap().push("headerReceive".into())
    });
    let l = Arc::clone(&log);
    ws.on(events::Open, move |_| l.lock().unwrap().push("open".into()));
    let l = Arc::clone(&log);
    ws.on(events::Message, move |m| {
        l.lock().unwrap().push(format!("message {m:?}"))
    });
    let l = Arc::clone(&log);
    ws.on(events::DataEnd, move |_| {
        l.lock().unwrap().push("dataEnd".into())
    });
    let l = Arc::clone(&log);
    ws.on(events::Close, move |c| {
        l.lock().unwrap().push(format!("close {}", c.code))
    });
    let l = Arc::clone(&log);
    ws.on(events::Error, move |e| {
        l.lock()
            .unwrap()
            .push(format!("error {} {}", e.code, e.message))
    });
    log
}

fn panic_on<E: ws_api::client::ClientEvent>(ws: &WebSocket, event: E) {
    ws.on(event, |_| panic!("this listener fails on purpose"));
}

#[tokio::test]
async fn a_panicking_client_listener_is_reported_and_the_connection_goes_on() {
    let (url, _) = echo_server(&[]).await;
    for event in ["headerReceive", "open", "message", "dataEnd", "close"] {
        let ws = create_web_socket();
        // Registered first, so the recorder runs after it: a panic stops no other listener.
        match event {
            "headerReceive" => panic_on(&ws, events::HeaderReceive),
            "open" => panic_on(&ws, events::Open),
            "message" => panic_on(&ws, events::Message),
            "dataEnd" => panic_on(&ws, events::DataEnd),
            _ => panic_on(&ws, events::Close),
        }
        let log = record(&ws);
        within("connect", ws.connect_and_wait(&url, None))
            .await
            .unwrap();
        ws.send_text("hi").await.unwrap();
        until("the echo", || has(&log, "dataEnd")).await;
        within("close", ws.close(None)).await.unwrap();
        until("the close event", || has(&log, "close 1000")).await;
        let reported = format!("error {} ", code::UNKNOWN);
        until("the panic report", || has(&log, &reported)).await;
        let lines = log.lock().unwrap().clone();
        let report = lines.iter().find(|l| l.starts_with(&reported)).unwrap();
        assert!(
            report.contains(&format!("{event:?} event panicked")),
            "{report}"
        );
        assert!(report.contains("fails on purpose"), "{report}");
        assert!(has(&log, "message Text"), "{event}: {lines:?}");
        connects_again(&ws, &url).await;
    }
}

#[tokio::test]
async fn a_panicking_error_listener_stops_nothing() {
    let ws = create_web_socket();
    ws.on(events::Error, |_| panic!("this listener fails on purpose"));
    let log = record(&ws);
    // Nothing listens there: the connect fails with an error event.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}/");
    let _ = within("connect", ws.connect_and_wait(&url, None)).await;
    until("the error event", || has(&log, "error 200")).await;
    let (url, _) = echo_server(&[]).await;
    connects_again(&ws, &url).await;
}

/// A facade server that echoes through a weak handle, with every event recorded.
async fn facade_echo_server(
    config: WebSocketServerConfig,
    panicking: Option<&str>,
) -> (WebSocketServer, Log, String) {
    let server = create_web_socket_server();
    let fail = |_: &dyn std::any::Any| panic!("this listener fails on purpose");
    match panicking {
        Some("connect") => drop(server.on(server_events::Connect, move |c| fail(c))),
        Some("messageReceive") => drop(server.on(server_events::MessageReceive, move |m| fail(m))),
        Some("close") => drop(server.on(server_events::Close, move |c| fail(c))),
        Some("error") => drop(server.on(server_events::Error, move |e| fail(e))),
        _ => {}
    }
    let log: Log = Arc::default();
    let l = Arc::clone(&log);
    server.on(server_events::Connect, move |c| {
        l.lock().unwrap().push(format!("connect {}", c.client_port))
    });
    let l = Arc::clone(&log);
    let echo = server.downgrade();
    server.on(server_events::MessageReceive, move |m| {
        l.lock().unwrap().push("messageReceive".into());
        if let Some(server) = echo.upgrade() {
            drop(server.send(m.data.clone(), &m.client_connection));
        }
    });
    let l = Arc::clone(&log);
    server.on(server_events::Close, move |c| {
        l.lock()
            .unwrap()
            .push(format!("close {}", c.close_reason.code))
    });
    let l = Arc::clone(&log);
    server.on(server_events::Error, move |e| {
        l.lock()
            .unwrap()
            .push(format!("error {} {}", e.code, e.message))
    });
    let config = WebSocketServerConfig {
        server_ip: Some("127.0.0.1".into()),
        ..config
    };
    server.start(config).await.unwrap();
    let url = format!("ws://127.0.0.1:{}/", server.local_port().unwrap());
    (server, log, url)
}

#[tokio::test]
async fn a_panicking_server_listener_is_reported_and_leaves_no_zombie_connection() {
    for event in ["connect", "messageReceive", "close"] {
        let (server, log, url) = facade_echo_server(Default::default(), Some(event)).await;
        let (mut client, _) = ws_net::client::connect(&url, &Default::default())
            .await
            .unwrap();
        client.send_text("hi").await.unwrap();
        match within("the echo", client.recv()).await {
            Some(Incoming::Message(m)) => assert_eq!(m.as_bytes(), b"hi", "{event}"),
            other => panic!("{event}: expected the echo, got {other:?}"),
        }
        client.close(ws_net::CloseCode::NORMAL, "").await.unwrap();
        while within("the closure", client.recv()).await.is_some() {}
        until("the close event", || has(&log, "close 1000")).await;
        let reported = format!("error {} ", code::UNKNOWN);
        until("the panic report", || has(&log, &reported)).await;
        assert!(
            has(&log, &format!("{event:?} event panicked")),
            "{:?}",
            log.lock().unwrap()
        );
        assert!(server.list_all_connections().is_empty(), "{event}");
        server.stop().await.unwrap();
    }

    // The error event: a client refused by a limit.
    let config = WebSocketServerConfig {
        max_connections_for_one_client: 1,
        ..Default::default()
    };
    let (server, log, url) = facade_echo_server(config, Some("error")).await;
    let (first, _) = ws_net::client::connect(&url, &Default::default())
        .await
        .unwrap();
    assert!(ws_net::client::connect(&url, &Default::default())
        .await
        .is_err());
    until("the refusal", || has(&log, "error 200")).await;
    first.send_text("still served").await.unwrap();
    until("the message", || has(&log, "messageReceive")).await;
    server.stop().await.unwrap();
}

/// Counts its drops: proves that what a listener captured was released.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn dropping_the_last_client_handle_closes_with_1001_and_frees_its_listeners() {
    let (url, mut closures) = echo_server(&[]).await;
    let drops = Arc::new(AtomicUsize::new(0));
    let ws = create_web_socket();
    let weak = ws.downgrade();
    let counter = DropCounter(Arc::clone(&drops));
    ws.on(events::Message, move |m| {
        let _keep = &counter;
        // The pattern of the docs: answer through a weak handle of the object itself.
        if let Some(ws) = weak.upgrade() {
            drop(ws.send(m.clone()));
        }
    });
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    ws.send_text("hello").await.unwrap();
    drop(ws);
    let closure = within("the server's closure", closures.recv()).await;
    assert_eq!(closure.map(|(code, _)| code), Some(1001));
    until("the listener's release", || {
        drops.load(Ordering::SeqCst) == 1
    })
    .await;
}

#[tokio::test]
async fn dropping_the_last_server_handle_stops_it_and_frees_its_listeners() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (server, _log, url) = facade_echo_server(Default::default(), None).await;
    let counter = DropCounter(Arc::clone(&drops));
    let weak = server.downgrade();
    server.on(server_events::Connect, move |_| {
        let _keep = &counter;
        let _ = weak.upgrade().map(|s| s.list_all_connections());
    });
    let (mut client, _) = ws_net::client::connect(&url, &Default::default())
        .await
        .unwrap();
    drop(server);
    loop {
        match within("the closure", client.recv()).await {
            Some(Incoming::Closed(status)) => {
                assert_eq!(status.code.as_u16(), 1001);
                break;
            }
            Some(_) => {}
            None => panic!("no closure"),
        }
    }
    until("the listener's release", || {
        drops.load(Ordering::SeqCst) == 1
    })
    .await;
    // Nothing listens any more.
    until("the port to close", || {
        std::net::TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches('/')).is_err()
    })
    .await;
}

#[tokio::test]
async fn a_listener_handle_of_another_object_removes_nothing() {
    let (url, _) = echo_server(&[]).await;
    let (ws, other) = (create_web_socket(), create_web_socket());
    let log = record(&ws);
    let foreign = other.on(events::Message, |_| {});
    // The same event and, as both objects' first listener of it, the same position.
    ws.off(events::Message, Some(foreign));
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    ws.send_text("kept").await.unwrap();
    until("the message", || has(&log, "message Text")).await;
    within("close", ws.close(None)).await.unwrap();
}

#[tokio::test]
async fn close_while_connecting_cancels_the_attempt() {
    // Accepts TCP connections and never answers the handshake.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            sockets.push(socket);
        }
    });
    let ws = create_web_socket();
    let log = record(&ws);
    let outcome = ws.connect_and_wait(&url, None);
    let closing = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ws.close(None).await
    };
    let (outcome, closed) = within("cancel", async { tokio::join!(outcome, closing) }).await;
    assert_eq!(closed, Ok(true));
    let error = outcome.unwrap_err();
    assert_eq!(error.code, 200);
    assert!(error.message.contains("cancelled"), "{}", error.message);
    until("the error event", || has(&log, "cancelled")).await;
    // Nothing opens later, and the object connects again at once.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !log.lock().unwrap().iter().any(|l| l == "open"),
        "{:?}",
        log.lock().unwrap()
    );
    let (echo, _) = echo_server(&[]).await;
    connects_again(&ws, &echo).await;
    held.abort();
}

/// A ws-net server whose connections never read; hands their senders to the test.
async fn deaf_server() -> (String, tokio::sync::mpsc::UnboundedReceiver<Sender>) {
    // Small socket-side buffers fill quickly: the client's writes stall.
    let config = ServerConfig::default()
        .connection(ws_net::ConnectionConfig::default().receive_queue_limit(16 * 1024));
    let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Some(client) = server.accept().await {
            let Ok(client) = client else { continue };
            let _ = tx.send(client.connection.sender().clone());
            // Kept, never read.
            kept.push(client.connection);
        }
    });
    (url, rx)
}

#[tokio::test]
async fn client_close_ends_within_the_close_timeout_when_the_server_stopped_reading() {
    let (url, _senders) = deaf_server().await;
    let ws = create_web_socket();
    let log = record(&ws);
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    // Queued at once, never read: megabytes wait in our write buffer.
    let big = MessageData::Binary(vec![0u8; 4 << 20].into());
    for _ in 0..3 {
        drop(ws.send(big.clone()));
    }
    let started = std::time::Instant::now();
    assert_eq!(within("close", ws.close(None)).await, Ok(true));
    until("the close event", || has(&log, "close ")).await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    // The object can connect again: no 2302003.
    let (echo, _) = echo_server(&[]).await;
    connects_again(&ws, &echo).await;
}

#[tokio::test]
async fn a_send_past_the_backlog_limit_closes_with_1008_and_an_error_event() {
    let (url, mut senders) = deaf_server().await;
    let ws = create_web_socket();
    let log = record(&ws);
    let options = WebSocketRequestOptions {
        send_backlog_limit: Some(8 << 20),
        ..Default::default()
    };
    within("connect", ws.connect_and_wait(&url, Some(options)))
        .await
        .unwrap();
    let _server_side = within("accept", senders.recv()).await.unwrap();
    let big = MessageData::Binary(vec![0u8; 4 << 20].into());
    let mut refused = None;
    for _ in 0..8 {
        // Each is queued at once; the accepted ones wait for room that never comes.
        let sending = ws.send(big.clone());
        if let Ok(Err(e)) = tokio::time::timeout(Duration::from_millis(100), sending).await {
            refused = Some(e);
            break;
        }
    }
    let refused = refused.expect("a send over the limit is refused");
    assert_eq!(refused.code, code::UNKNOWN);
    assert!(refused.message.contains("1008"), "{}", refused.message);
    until("the error event", || has(&log, "error 200")).await;
    until("the close event", || has(&log, "close ")).await;
}

#[tokio::test]
async fn server_close_ends_within_the_close_timeout_when_the_client_stopped_reading() {
    let (server, log, url) = facade_echo_server(Default::default(), None).await;
    // A client that never reads.
    let (client, _) = ws_net::client::connect(&url, &Default::default())
        .await
        .unwrap();
    until("the connection", || {
        !server.list_all_connections().is_empty()
    })
    .await;
    let target = server.list_all_connections().remove(0);
    let big = MessageData::Binary(vec![0u8; 4 << 20].into());
    for _ in 0..3 {
        drop(server.send(big.clone(), &target));
    }
    let started = std::time::Instant::now();
    assert_eq!(within("close", server.close(&target, None)).await, Ok(true));
    until("the close event", || has(&log, "close ")).await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(server.list_all_connections().is_empty());
    // stop() is bounded too, with a second deaf client.
    let (other, _) = ws_net::client::connect(&url, &Default::default())
        .await
        .unwrap();
    until("the connection", || {
        !server.list_all_connections().is_empty()
    })
    .await;
    let target = server.list_all_connections().remove(0);
    for _ in 0..3 {
        drop(server.send(big.clone(), &target));
    }
    let started = std::time::Instant::now();
    within("stop", server.stop()).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    drop((client, other));
}

#[tokio::test]
async fn a_message_larger_than_the_backlog_limit_is_refused_and_the_connection_kept() {
    let (url, _) = echo_server(&[]).await;
    let ws = create_web_socket();
    let log = record(&ws);
    let options = WebSocketRequestOptions {
        send_backlog_limit: Some(1024),
        ..Default::default()
    };
    within("connect", ws.connect_and_wait(&url, Some(options)))
        .await
        .unwrap();
    let refused = ws
        .send(MessageData::Binary(vec![0u8; 2048].into()))
        .await
        .unwrap_err();
    assert_eq!(refused.code, code::PARAMETER_ERROR, "{}", refused.message);
    ws.send_text("small").await.unwrap();
    until("the echo", || has(&log, "message Text")).await;
    assert!(!has(&log, "error"), "{:?}", log.lock().unwrap());
    within("close", ws.close(None)).await.unwrap();
}

#[tokio::test]
async fn a_server_started_again_while_the_last_run_stops_keeps_its_clients() {
    let (server, _log, url) = facade_echo_server(Default::default(), None).await;
    let port = server.local_port().unwrap();
    // A client that never answers, so the first run takes its full close timeout to end.
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_owned();
    let mut old = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = ws_proto::handshake::ClientRequest::from_url(&url).unwrap();
    let mut handshake = ws_proto::handshake::ClientHandshake::new(&request);
    tokio::io::AsyncWriteExt::write_all(&mut old, handshake.request_bytes())
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    loop {
        let n = tokio::io::AsyncReadExt::read(&mut old, &mut buf)
            .await
            .unwrap();
        assert!(n > 0, "the server closed during the handshake");
        if handshake.receive_data(&buf[..n]).unwrap().is_some() {
            break;
        }
    }
    until("the first client", || {
        server.list_all_connections().len() == 1
    })
    .await;
    // Ask to stop, without waiting for the end, and start again on the same port at once.
    let _ = tokio::time::timeout(Duration::ZERO, server.stop()).await;
    let config = WebSocketServerConfig {
        server_ip: Some("127.0.0.1".into()),
        server_port: u32::from(port),
        ..Default::default()
    };
    let restarted = async {
        loop {
            match server.start(config.clone()).await {
                Ok(_) => return,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    };
    within("the restart", restarted).await;
    let (new, _) = ws_net::client::connect(&url, &Default::default())
        .await
        .unwrap();
    until("the new client", || {
        server.list_all_connections().len() == 1
    })
    .await;
    // The first run's end (its client dropped after the close timeout) leaves the new client
    // listed.
    tokio::time::sleep(ws_api::server::STOP_TIMEOUT + Duration::from_secs(1)).await;
    assert_eq!(server.list_all_connections().len(), 1);
    drop(old);
    new.send_text("still here").await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_that_queues_more_than_the_sockets_hold_and_an_echo_server_do_not_wait_for_each_other(
) {
    let (server, _log, url) = facade_echo_server(Default::default(), None).await;
    let ws = create_web_socket();
    let received = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&received);
    ws.on(events::Message, move |m| {
        if let MessageData::Binary(bytes) = m {
            r.fetch_add(bytes.len(), Ordering::SeqCst);
        }
    });
    let options = WebSocketRequestOptions {
        send_backlog_limit: Some(128 << 20),
        ..Default::default()
    };
    within("connect", ws.connect_and_wait(&url, Some(options)))
        .await
        .unwrap();
    // 64 MiB queued at once, far more than the socket buffers hold: the server's answers must
    // still be read while our own output waits, or neither side ever reads again.
    let chunk = MessageData::Binary(vec![7u8; 256 * 1024].into());
    for _ in 0..256 {
        drop(ws.send(chunk.clone()));
    }
    until("every echo", || {
        received.load(Ordering::SeqCst) == 256 * 256 * 1024
    })
    .await;
    within("close", ws.close(None)).await.unwrap();
    server.stop().await.unwrap();
}
