//! The server on a caller's listener, and its request hook: accepting, refusing with a status of
//! the application's choice, awaiting, panicking, and running out of time.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use ws_net::client::{connect, ClientConfig};
use ws_net::server::{Refusal, Rejected, Server, ServerConfig};
use ws_net::{Error, Incoming, Message};
use ws_proto::handshake::ResponseError;

use support::*;

async fn next(server: &mut Server) -> Result<ws_net::server::Client, Rejected> {
    within("accept", server.accept())
        .await
        .expect("server running")
}

fn upgrade_request(addr: std::net::SocketAddr, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn serves_on_the_callers_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut server = Server::from_listener(listener, ServerConfig::default()).unwrap();
    assert_eq!(server.local_addr(), addr);
    let connecting = tokio::spawn(async move {
        connect(&format!("ws://{addr}/here"), &ClientConfig::default()).await
    });
    let client = next(&mut server).await.expect("a client");
    assert_eq!(client.accepted.request.path, "/here");
    tokio::spawn(echo(client.connection));
    let (mut conn, _) = within("connect", connecting).await.unwrap().unwrap();
    conn.send_text("over the caller's socket").await.unwrap();
    match within("echo", conn.recv()).await {
        Some(Incoming::Message(Message::Text(t))) => {
            assert_eq!(t.as_str(), "over the caller's socket")
        }
        other => panic!("unexpected {other:?}"),
    }
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn the_hook_sees_path_headers_and_peer_and_may_refuse() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let config = ServerConfig::default().request_hook(move |info| {
        let log = Arc::clone(&log);
        async move {
            // The hook may await (an authentication lookup, say).
            tokio::time::sleep(Duration::from_millis(10)).await;
            let token = info.request.headers.get("x-token").map(str::to_owned);
            log.lock()
                .unwrap()
                .push((info.request.path.clone(), info.remote_addr));
            if token.as_deref() == Some("let-me-in") {
                Ok(())
            } else {
                Err(Refusal::new(401)
                    .header("WWW-Authenticate", "Bearer")
                    .body("a valid X-Token is required\n"))
            }
        }
    });
    let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let addr = server.local_addr();

    // Refused: the client gets the hook's status, headers and body.
    let answer = within(
        "raw refusal",
        raw_http(addr, &upgrade_request(addr, "/secret")),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains("\r\nWWW-Authenticate: Bearer\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with("\r\n\r\na valid X-Token is required\n"),
        "{answer}"
    );
    let rejected = next(&mut server).await.unwrap_err();
    assert_eq!(rejected.remote_addr.map(|a| a.ip()), Some(addr.ip()));
    match &rejected.error {
        Error::Refused(refusal) => {
            assert_eq!(refusal.status, 401);
            assert_eq!(refusal.reason, "Unauthorized");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(rejected.to_string().contains("401"), "{rejected}");

    // ws-net's client sees the status.
    let url = format!("ws://{addr}/secret");
    let err = within("refused connect", connect(&url, &ClientConfig::default()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Response(e @ ResponseError::UnexpectedStatus(_)) if e.status() == Some(401)),
        "{err:?}"
    );
    let _ = next(&mut server).await.unwrap_err();

    // Accepted: the hook saw the path and the client's own address.
    let config = ClientConfig::default().header("X-Token", "let-me-in");
    let connecting =
        tokio::spawn(async move { connect(&format!("ws://{addr}/open?x=1"), &config).await });
    let client = next(&mut server).await.expect("accepted");
    let (conn, _) = within("connect", connecting).await.unwrap().unwrap();
    drop(conn);
    assert_eq!(client.accepted.request.path, "/open?x=1");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].0, "/open?x=1");
    assert_eq!(seen[2].1, client.remote_addr);
}

#[tokio::test]
async fn a_panicking_hook_answers_500_and_the_server_goes_on() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let config = ServerConfig::default().request_hook(move |info| {
        counter.fetch_add(1, Ordering::SeqCst);
        // A panic in the call itself, before any future exists...
        assert!(info.request.path != "/panic-now", "hook bug (call)");
        async move {
            // ...and one while the future runs.
            if info.request.path == "/panic-later" {
                panic!("hook bug (future)");
            }
            Ok(())
        }
    });
    let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let addr = server.local_addr();
    for (path, message) in [
        ("/panic-now", "hook bug (call)"),
        ("/panic-later", "hook bug (future)"),
    ] {
        let answer = within("raw", raw_http(addr, &upgrade_request(addr, path))).await;
        assert!(
            answer.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
            "{answer}"
        );
        let rejected = next(&mut server).await.unwrap_err();
        assert!(
            matches!(&rejected.error, Error::HookPanicked(m) if m == message),
            "{rejected:?}"
        );
    }
    // Not wedged: the next client gets through.
    let connecting = tokio::spawn(async move {
        connect(&format!("ws://{addr}/fine"), &ClientConfig::default()).await
    });
    let client = next(&mut server).await.expect("accepted");
    assert_eq!(client.accepted.request.path, "/fine");
    within("connect", connecting).await.unwrap().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(server.connection_count(), 1);
}

#[tokio::test]
async fn a_slow_hook_runs_within_the_handshake_timeout() {
    let config = ServerConfig::default()
        .handshake_timeout(Duration::from_millis(200))
        .request_hook(|_| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        });
    let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let addr = server.local_addr();
    let answer = within("raw", raw_http(addr, &upgrade_request(addr, "/"))).await;
    assert_eq!(answer, "", "the connection is closed without an answer");
    let rejected = next(&mut server).await.unwrap_err();
    assert!(matches!(rejected.error, Error::Timeout(_)), "{rejected:?}");
    // The slot is free again.
    assert_eq!(server.connection_count(), 0);
}

#[tokio::test]
async fn refusals_outside_300_to_599_are_sent_as_500() {
    let refusal = Refusal::new(200).body("not a refusal");
    assert_eq!(refusal.reason, "Refused");
    assert_eq!(refusal.to_string(), "200 Refused: not a refusal");
    assert_eq!(Refusal::new(403).reason("Nope").to_string(), "403 Nope");
    let config =
        ServerConfig::default().request_hook(move |_| std::future::ready(Err(refusal.clone())));
    let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let addr = server.local_addr();
    let answer = within("raw", raw_http(addr, &upgrade_request(addr, "/"))).await;
    assert!(
        answer.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
        "{answer}"
    );
    assert!(answer.ends_with("\r\n\r\nnot a refusal"), "{answer}");
    let rejected = next(&mut server).await.unwrap_err();
    assert!(matches!(&rejected.error, Error::Refused(r) if r.status == 200));
}
