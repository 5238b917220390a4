//! The `WebSocket` facade over loopback against a ws-net server: events and their order, error
//! codes, defaults and limits, listener semantics, heartbeat.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{echo_server, within};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws_api::client::{events, MessageData, WebSocketCloseOptions, WebSocketRequestOptions};
use ws_api::{code, create_web_socket, BusinessError};

/// Records every event as a line, in order.
fn record(ws: &ws_api::WebSocket) -> Arc<Mutex<Vec<String>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&log);
    ws.on(events::HeaderReceive, move |h| {
        l.lock()
            .unwrap()
            .push(format!("headerReceive upgrade={:?}", h.get("upgrade")))
    });
    let l = Arc::clone(&log);
    ws.on(events::Open, move |o| {
        l.lock()
            .unwrap()
            .push(format!("open {} {} {:?}", o.status, o.message, o.protocol))
    });
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
        l.lock()
            .unwrap()
            .push(format!("close {} {}", c.code, c.reason))
    });
    let l = Arc::clone(&log);
    ws.on(events::Error, move |e| {
        l.lock().unwrap().push(format!("error {}", e.code))
    });
    log
}

async fn wait_for(log: &Arc<Mutex<Vec<String>>>, prefix: &str) {
    within(prefix, async {
        while !log.lock().unwrap().iter().any(|l| l.starts_with(prefix)) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn events_arrive_in_order_with_their_payloads() {
    let (url, mut closures) = echo_server(&["chat"]).await;
    let ws = create_web_socket();
    let log = record(&ws);
    let options = WebSocketRequestOptions {
        protocol: Some("chat".into()),
        ..Default::default()
    };
    assert_eq!(ws.connect(&url, Some(options)).await, Ok(true));
    wait_for(&log, "open").await;
    assert_eq!(ws.protocol().as_deref(), Some("chat"));
    assert_eq!(ws.send_text("héllo").await, Ok(true));
    wait_for(&log, "dataEnd").await;
    assert_eq!(ws.send_binary(&[1, 2, 3]).await, Ok(true));
    assert_eq!(ws.send_text("").await, Ok(true));
    within("echoes", async {
        while log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| *l == "dataEnd")
            .count()
            < 3
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(ws.close(None).await, Ok(true));
    wait_for(&log, "close").await;
    assert_eq!(
        *log.lock().unwrap(),
        [
            "headerReceive upgrade=Some(One(\"websocket\"))",
            "open 101 Switching Protocols Some(\"chat\")",
            "message Text(\"héllo\")",
            "dataEnd",
            "message Binary(b\"\\x01\\x02\\x03\")",
            "dataEnd",
            "message Text(\"\")",
            "dataEnd",
            // The event reports the server's Close frame, which echoes our code only.
            "close 1000 ",
        ]
    );
    // The server saw the documented defaults.
    assert_eq!(
        within("server closure", closures.recv()).await,
        Some((1000, "CLOSE_NORMAL".into()))
    );
}

#[tokio::test]
async fn connect_argument_errors_have_their_codes() {
    let ws = create_web_socket();
    for url in [
        "http://example.com/",
        "ws://user@example.com/",
        "ws://example.com/#frag",
        "not a url",
    ] {
        let err = ws.connect(url, None).await.unwrap_err();
        assert_eq!(err.code, code::URL_ERROR, "{url}: {err}");
    }
    let long = format!("ws://example.com/{}", "a".repeat(8200));
    assert_eq!(
        ws.connect(&long, None).await.unwrap_err().code,
        code::URL_ERROR
    );
    for (name, value) in [
        ("Sec-WebSocket-Key", "x"),
        ("Bad Name", "x"),
        ("X-Ok", "a\r\nb"),
    ] {
        let options = WebSocketRequestOptions {
            header: vec![(name.into(), value.into())],
            ..Default::default()
        };
        let err = ws
            .connect("ws://127.0.0.1:1/", Some(options))
            .await
            .unwrap_err();
        assert_eq!(err.code, code::PARAMETER_ERROR, "{name}: {err}");
        assert!(err.message.contains(name), "{name}: {err}");
        // The facade's words, not the lower layers' (`.protocol()` is ws-proto's).
        assert!(!err.message.contains(".protocol()"), "{err}");
    }
    let options = WebSocketRequestOptions {
        ca_path: Some("/nonexistent/ca.pem".into()),
        ..Default::default()
    };
    let err = ws
        .connect("wss://127.0.0.1:1/", Some(options))
        .await
        .unwrap_err();
    assert_eq!(err.code, code::CERT_FILE_NOT_EXIST, "{err}");
    assert!(err
        .message
        .starts_with("Websocket certificate file does not exist"));
}

#[tokio::test]
async fn a_second_connect_is_refused_and_reconnecting_after_close_works() {
    let (url, _) = echo_server(&[]).await;
    let ws = create_web_socket();
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    let err = ws.connect(&url, None).await.unwrap_err();
    assert_eq!(err.code, code::CONNECTION_ALREADY_EXISTS);
    let log = record(&ws);
    ws.close(None).await.unwrap();
    wait_for(&log, "close").await;
    within("reconnect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    assert_eq!(ws.send_text("again").await, Ok(true));
}

#[tokio::test]
async fn send_and_close_are_rejected_unless_open() {
    let ws = create_web_socket();
    assert_eq!(
        ws.send_text("too early").await.unwrap_err().code,
        code::UNKNOWN
    );
    assert_eq!(ws.close(None).await.unwrap_err().code, code::UNKNOWN);
    let (url, _) = echo_server(&[]).await;
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    let too_big = vec![0u8; 5_242_865];
    assert_eq!(
        ws.send_binary(&too_big).await.unwrap_err().code,
        code::PARAMETER_ERROR
    );
    let limit = vec![0u8; 5_242_864];
    assert_eq!(within("send", ws.send_binary(&limit)).await, Ok(true));
    let long_reason = WebSocketCloseOptions {
        code: None,
        reason: Some("r".repeat(124)),
    };
    assert_eq!(
        ws.close(Some(long_reason)).await.unwrap_err().code,
        code::PARAMETER_ERROR
    );
    ws.close(None).await.unwrap();
    assert_eq!(
        ws.send_text("too late").await.unwrap_err().code,
        code::UNKNOWN
    );
    assert_eq!(ws.close(None).await.unwrap_err().code, code::UNKNOWN);
}

#[tokio::test]
async fn close_codes_that_must_not_be_sent_become_1000() {
    for (given, sent) in [
        (1001, 1001),
        (1005, 1000),
        (1006, 1000),
        (999, 1000),
        (3000, 1000),
        (1015, 1000),
        (1014, 1014),
    ] {
        let (url, mut closures) = echo_server(&[]).await;
        let ws = create_web_socket();
        within("connect", ws.connect_and_wait(&url, None))
            .await
            .unwrap();
        let options = WebSocketCloseOptions {
            code: Some(given),
            reason: Some("why".into()),
        };
        ws.close(Some(options)).await.unwrap();
        assert_eq!(
            within("closure", closures.recv()).await,
            Some((sent, "why".into())),
            "{given}"
        );
    }
}

#[tokio::test]
async fn a_failed_connect_emits_error_and_no_close() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ws = create_web_socket();
    let log = record(&ws);
    let err = within(
        "connect",
        ws.connect_and_wait(&format!("ws://127.0.0.1:{port}/"), None),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, code::CONNECT_FAILED);
    assert!(err.message.contains("refused"), "{err}");
    assert_eq!(*log.lock().unwrap(), ["error 200"]);

    // A plain HTTP server: the handshake status is the error's data.
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
    let err: BusinessError = within(
        "connect",
        ws.connect_and_wait(&format!("ws://{addr}/"), None),
    )
    .await
    .unwrap_err();
    assert_eq!((err.code, err.data), (code::CONNECT_FAILED, Some(404)));
    assert!(!log.lock().unwrap().iter().any(|l| l.starts_with("close")));
}

#[tokio::test]
async fn listeners_run_in_order_and_off_removes_one_or_all() {
    let (url, _) = echo_server(&[]).await;
    let ws = create_web_socket();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (a, b, c) = (Arc::clone(&seen), Arc::clone(&seen), Arc::clone(&seen));
    let first = ws.on(events::Message, move |_| a.lock().unwrap().push("first"));
    ws.on(events::Message, move |_| b.lock().unwrap().push("second"));
    ws.on(events::Message, move |_| c.lock().unwrap().push("third"));
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    let sent = |n: usize| {
        let seen = Arc::clone(&seen);
        async move {
            within("listeners", async {
                while seen.lock().unwrap().len() < n {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await
        }
    };
    ws.send_text("1").await.unwrap();
    sent(3).await;
    ws.off(events::Message, Some(first));
    ws.send_text("2").await.unwrap();
    sent(5).await;
    ws.off(events::Message, None);
    ws.send_text("3").await.unwrap();
    // An event with no listener is dropped; a later echo proves the third one arrived.
    let got = Arc::new(Mutex::new(None));
    let g = Arc::clone(&got);
    ws.on(events::Message, move |m: &MessageData| {
        *g.lock().unwrap() = Some(m.clone())
    });
    ws.send_text("4").await.unwrap();
    within("fourth", async {
        while got.lock().unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(
        *seen.lock().unwrap(),
        ["first", "second", "third", "second", "third"]
    );
}

#[tokio::test]
async fn the_heartbeat_detects_a_silent_server() {
    // Completes the handshake, then never reads or answers again.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut handshake = ws_proto::handshake::ServerHandshake::default();
        let mut buf = [0u8; 4096];
        let request = loop {
            let n = socket.read(&mut buf).await.unwrap();
            if let Some(request) = handshake.receive_data(&buf[..n]).unwrap() {
                break request;
            }
        };
        socket
            .write_all(&request.accept_response(None, &[]).unwrap())
            .await
            .unwrap();
        // Keep the TCP connection open, but never read or answer a ping.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(socket);
    });
    let ws = create_web_socket();
    let log = record(&ws);
    let options = WebSocketRequestOptions {
        ping_interval: Some(1),
        pong_timeout: Some(1),
        ..Default::default()
    };
    let started = tokio::time::Instant::now();
    within(
        "connect",
        ws.connect_and_wait(&format!("ws://{addr}/"), Some(options)),
    )
    .await
    .unwrap();
    wait_for(&log, "close").await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let log = log.lock().unwrap();
    assert_eq!(
        log[log.len() - 2..],
        [
            "error 200".to_string(),
            "close 1006 no pong received within 1s of a ping: the peer is unresponsive".to_string()
        ]
    );
}

#[tokio::test]
async fn the_callback_form_of_connect_reports_the_same_results() {
    let (url, _) = echo_server(&[]).await;
    let ws = create_web_socket();
    let (tx, rx) = tokio::sync::oneshot::channel();
    ws.connect_with_callback("ftp://nowhere/", None, move |result| {
        let _ = tx.send(result);
    });
    assert_eq!(rx.await.unwrap().unwrap_err().code, code::URL_ERROR);
    let log = record(&ws);
    let (tx, rx) = tokio::sync::oneshot::channel();
    ws.connect_with_callback(&url, None, move |result| {
        let _ = tx.send(result);
    });
    assert_eq!(rx.await.unwrap(), Ok(true));
    wait_for(&log, "open").await;
}

#[tokio::test]
async fn the_callback_forms_of_send_and_close() {
    let (url, mut closures) = echo_server(&[]).await;
    let ws = create_web_socket();
    let log = record(&ws);
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    ws.send_with_callback(MessageData::Text("by callback".into()), move |r| {
        let _ = tx.send(r);
    });
    assert_eq!(within("send", rx).await.unwrap(), Ok(true));
    wait_for(&log, "dataEnd").await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let options = WebSocketCloseOptions {
        code: Some(1000),
        reason: Some("callback".into()),
    };
    ws.close_with_callback(Some(options), move |r| {
        let _ = tx.send(r);
    });
    assert_eq!(within("close", rx).await.unwrap(), Ok(true));
    assert_eq!(
        within("server closure", closures.recv()).await,
        Some((1000, "callback".into()))
    );
    let (tx, rx) = tokio::sync::oneshot::channel();
    ws.send_with_callback(MessageData::Text("late".into()), move |r| {
        let _ = tx.send(r);
    });
    assert_eq!(
        within("send", rx).await.unwrap().unwrap_err().code,
        code::UNKNOWN
    );
}

/// A ws-net server that sends each client one binary message of `len` bytes.
async fn sending_server(len: usize) -> String {
    use ws_net::server::{Server, ServerConfig};

    let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let message = ws_net::Message::Binary(vec![7u8; len].into());
    tokio::spawn(async move {
        while let Some(client) = server.accept().await {
            let Ok(mut client) = client else { continue };
            let message = message.clone();
            tokio::spawn(async move {
                let _ = client.connection.send(message).await;
                while client.connection.recv().await.is_some() {}
            });
        }
    });
    url
}

#[tokio::test]
async fn max_message_size_raises_every_receive_limit_and_errors_name_it() {
    // One frame of 64 MiB + 1 byte: over the default frame and message limits.
    let len = (64 << 20) + 1;
    let url = sending_server(len).await;
    let ws = create_web_socket();
    let received = Arc::new(Mutex::new(Vec::new()));
    let r = Arc::clone(&received);
    ws.on(events::Message, move |m| {
        if let MessageData::Binary(b) = m {
            r.lock().unwrap().push(b.len());
        }
    });
    let options = WebSocketRequestOptions {
        max_message_size: Some(len),
        ..Default::default()
    };
    within("connect", ws.connect_and_wait(&url, Some(options)))
        .await
        .unwrap();
    support::until("the large message", || !received.lock().unwrap().is_empty()).await;
    assert_eq!(*received.lock().unwrap(), [len]);
    ws.close(None).await.unwrap();

    // With the default limit (64 MiB) the same message closes with 1009, and the error event
    // names the facade's option.
    let ws = create_web_socket();
    let log = record(&ws);
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e = Arc::clone(&errors);
    ws.on(events::Error, move |error| {
        e.lock().unwrap().push(error.message.clone())
    });
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    wait_for(&log, "close").await;
    // The client stops reading the rest of the frame: the connection ends with 1009 or,
    // while the server still writes the rest, 1006; either way the reason is the facade's.
    let close = log
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.starts_with("close"))
        .cloned()
        .unwrap();
    assert!(
        close.starts_with("close 1009") || close.starts_with("close 1006"),
        "{close}"
    );
    assert!(!close.contains("Limits::"), "{close}");
    let errors = errors.lock().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("max_message_size"), "{}", errors[0]);
    assert!(!errors[0].contains("Limits::"), "{}", errors[0]);
}

#[tokio::test]
async fn max_send_size_lets_larger_messages_go_out() {
    let (url, _) = echo_server(&[]).await;
    let ws = create_web_socket();
    let echoes = Arc::new(Mutex::new(Vec::new()));
    let e = Arc::clone(&echoes);
    ws.on(events::Message, move |m| {
        if let MessageData::Binary(b) = m {
            e.lock().unwrap().push(b.len());
        }
    });
    let options = WebSocketRequestOptions {
        max_send_size: Some(6 << 20),
        ..Default::default()
    };
    within("connect", ws.connect_and_wait(&url, Some(options)))
        .await
        .unwrap();
    let large = vec![3u8; 6 << 20];
    assert_eq!(within("send", ws.send_binary(&large)).await, Ok(true));
    support::until("the echo", || !echoes.lock().unwrap().is_empty()).await;
    assert_eq!(*echoes.lock().unwrap(), [6 << 20]);
    let err = ws.send_binary(&vec![0u8; (6 << 20) + 1]).await.unwrap_err();
    assert_eq!(err.code, code::PARAMETER_ERROR);
    assert!(err.message.contains("max_send_size"), "{err}");
    assert_eq!(within("send", ws.send_text("still open")).await, Ok(true));
}

/// A ws-net server that answers each client with the request target it asked for.
async fn path_server() -> String {
    use ws_net::server::{Server, ServerConfig};

    let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let url = format!("ws://{}", server.local_addr());
    tokio::spawn(async move {
        while let Some(client) = server.accept().await {
            let Ok(mut client) = client else { continue };
            tokio::spawn(async move {
                let path = client.accepted.request.path.clone();
                let _ = client.connection.send_text(&path).await;
                while client.connection.recv().await.is_some() {}
            });
        }
    });
    url
}

#[tokio::test]
async fn non_ascii_paths_and_queries_are_percent_encoded_as_browsers_do() {
    let base = path_server().await;
    for (path, sent) in [
        ("/café?q=naïve", "/caf%C3%A9?q=na%C3%AFve"),
        (
            "/聊天 室?名前=値&x='a b'",
            "/%E8%81%8A%E5%A4%A9%20%E5%AE%A4?%E5%90%8D%E5%89%8D=%E5%80%A4&x=%27a%20b%27",
        ),
        ("?emoji=😀", "/?emoji=%F0%9F%98%80"),
        ("/already%20encoded", "/already%20encoded"),
    ] {
        let ws = create_web_socket();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        ws.on(events::Message, move |m| {
            if let MessageData::Text(t) = m {
                let _ = tx.send(t.as_str().to_owned());
            }
        });
        within(
            "connect",
            ws.connect_and_wait(&format!("{base}{path}"), None),
        )
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(within("path", rx.recv()).await.unwrap(), sent, "{path}");
        ws.close(None).await.unwrap();
    }
    // A non-ASCII host is refused with a message that says so.
    let ws = create_web_socket();
    let err = ws.connect("ws://bücher.example/", None).await.unwrap_err();
    assert_eq!(err.code, code::URL_ERROR);
    assert!(err.message.contains("not ASCII"), "{err}");
    // The length limit applies to the URL as sent: 3000 'é' are 6000 bytes, 18000 characters
    // once percent-encoded.
    let long = format!("{base}/{}", "é".repeat(3000));
    let err = ws.connect(&long, None).await.unwrap_err();
    assert_eq!(err.code, code::URL_ERROR);
    assert!(err.message.contains("percent-encoded"), "{err}");
}
