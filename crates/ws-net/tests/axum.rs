//! The axum extractor on a router served over loopback by hyper-util's HTTP/1.1 + HTTP/2
//! builder: echo, subprotocols, permessage-deflate, refusals like the listener's, HTTP/2
//! extended CONNECT (RFC 8441) with the `h2` crate as client, and failures that must not take
//! the server down.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use axum::response::Response;
use axum::routing::any;
use axum::Router;
use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use ws_net::axum::ConnectionUpgrade;
use ws_net::client::{connect, ClientConfig};
use ws_net::server::{Server, ServerConfig};
use ws_net::{CloseCode, Error, Incoming, Message};
use ws_proto::deflate::DeflateConfig;
use ws_proto::frame::{encode_frame, OpCode};

use support::*;

/// Serves `app` on a loopback port the OS picks: HTTP/1.1 with upgrades, and HTTP/2 (prior
/// knowledge) with extended CONNECT.
async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let service = TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let mut builder = auto::Builder::new(TokioExecutor::new());
                builder.http2().enable_connect_protocol();
                let _ = builder
                    .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

async fn echo_handler(ws: ConnectionUpgrade) -> Response {
    ws.protocols(["a", "b"])
        .deflate(Some(DeflateConfig::default()))
        .on_upgrade(echo)
}

fn echo_app() -> Router {
    Router::new().route("/ws", any(echo_handler))
}

#[tokio::test]
async fn echo_over_http11_with_the_clients_preferred_protocol() {
    let addr = serve(echo_app()).await;
    let config = ClientConfig::default().protocols(["b", "a"]);
    let (mut conn, response) = within("connect", connect(&format!("ws://{addr}/ws"), &config))
        .await
        .unwrap();
    assert_eq!(response.status, 101);
    assert_eq!(response.protocol.as_deref(), Some("b"));
    assert_eq!(response.deflate, None, "the client did not offer deflate");
    conn.send_text("hello").await.unwrap();
    conn.send_binary(&[1, 2, 3]).await.unwrap();
    for expected in [
        Message::Text("hello".into()),
        Message::Binary(vec![1, 2, 3].into()),
    ] {
        match within("echo", conn.recv()).await {
            Some(Incoming::Message(m)) => assert_eq!(m, expected),
            other => panic!("unexpected {other:?}"),
        }
    }
    conn.close(CloseCode::NORMAL, "bye").await.unwrap();
    match within("close", conn.recv()).await {
        Some(Incoming::Closed(status)) => assert!(status.clean, "{status:?}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn deflate_is_negotiated_when_offered() {
    let addr = serve(echo_app()).await;
    let config = ClientConfig::default().deflate(Some(DeflateConfig::default()));
    let (mut conn, response) = within("connect", connect(&format!("ws://{addr}/ws"), &config))
        .await
        .unwrap();
    assert!(response.deflate.is_some(), "{response:?}");
    assert_eq!(
        response.protocol, None,
        "no protocol offered, none selected"
    );
    let text = "compressible ".repeat(200);
    conn.send_text(text.as_str()).await.unwrap();
    match within("echo", conn.recv()).await {
        Some(Incoming::Message(Message::Text(t))) => assert_eq!(t.as_str(), text),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn the_handler_sees_the_request_and_the_selection_before_upgrading() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/room/{id}",
        any(move |ws: ConnectionUpgrade| {
            let tx = tx.clone();
            async move {
                let ws = ws.protocols(["x"]);
                let _ = tx.send((
                    ws.request().path.clone(),
                    ws.request().headers.get("x-trace").map(str::to_owned),
                    ws.selected_protocol(),
                    ws.selected_deflate(),
                ));
                ws.on_upgrade(echo)
            }
        }),
    );
    let addr = serve(app).await;
    let config = ClientConfig::default()
        .protocols(["y", "x"])
        .header("X-Trace", "t1");
    within(
        "connect",
        connect(&format!("ws://{addr}/room/7?k=v"), &config),
    )
    .await
    .unwrap();
    let seen = within("handler", rx.recv()).await.unwrap();
    assert_eq!(
        seen,
        (
            "/room/7?k=v".into(),
            Some("t1".into()),
            Some("x".into()),
            None
        )
    );
}

/// The status line and body of a raw HTTP answer.
fn status_and_body(answer: &str) -> (&str, &str) {
    let status = answer.lines().next().unwrap_or_default();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body)
}

#[tokio::test]
async fn refusals_answer_like_the_listener() {
    let addr = serve(echo_app()).await;
    let mut listener = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let listener_addr = listener.local_addr();
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    for (request, status, header) in [
        (
            "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".to_owned(),
            "HTTP/1.1 400 Bad Request",
            None,
        ),
        (
            format!(
                "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n\
                 Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 8\r\n\r\n"
            ),
            "HTTP/1.1 426 Upgrade Required",
            Some("sec-websocket-version: 13"),
        ),
        (
            format!(
                "POST /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n\
                 Content-Length: 0\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ),
            "HTTP/1.1 405 Method Not Allowed",
            Some("allow: GET"),
        ),
    ] {
        let from_axum = within("axum", raw_http(addr, request.as_bytes())).await;
        let from_listener = within("listener", raw_http(listener_addr, request.as_bytes())).await;
        let _ = within("rejection", listener.accept()).await;
        let (axum_status, axum_body) = status_and_body(&from_axum);
        assert_eq!(axum_status, status, "{from_axum}");
        assert_eq!(
            (axum_status, axum_body),
            status_and_body(&from_listener),
            "{from_axum}\n---\n{from_listener}"
        );
        assert!(!axum_body.is_empty());
        if let Some(header) = header {
            assert!(
                from_axum
                    .to_ascii_lowercase()
                    .contains(&header.to_ascii_lowercase()),
                "{from_axum}"
            );
        }
    }
    // ws-net's client reports the status.
    let err = within(
        "connect",
        connect(&format!("ws://{addr}/nowhere"), &ClientConfig::default()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::Response(e) if e.status() == Some(404)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_panicking_callback_does_not_take_the_server_down() {
    let app = echo_app().route(
        "/panic",
        any(|ws: ConnectionUpgrade| async move {
            ws.on_upgrade(|_conn| async move { panic!("callback bug") })
        }),
    );
    let addr = serve(app).await;
    let (mut doomed, _) = within(
        "connect",
        connect(&format!("ws://{addr}/panic"), &ClientConfig::default()),
    )
    .await
    .unwrap();
    // The connection was dropped with the callback's task: the client sees it end.
    match within("end", doomed.recv()).await {
        Some(Incoming::Error(_) | Incoming::Closed(_)) => {}
        other => panic!("unexpected {other:?}"),
    }
    let (mut conn, _) = within(
        "connect",
        connect(&format!("ws://{addr}/ws"), &ClientConfig::default()),
    )
    .await
    .unwrap();
    conn.send_text("still here").await.unwrap();
    assert!(matches!(
        within("echo", conn.recv()).await,
        Some(Incoming::Message(Message::Text(t))) if t.as_str() == "still here"
    ));
}

#[tokio::test]
async fn a_failed_upgrade_after_the_response_is_reported_not_panicked() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/ws",
        any(move |ws: ConnectionUpgrade| {
            let tx = tx.clone();
            async move {
                ws.on_failed_upgrade(move |error| {
                    let _ = tx.send(error);
                })
                .on_upgrade(echo)
            }
        }),
    );
    // Served without upgrades: hyper sends the 101, then cannot hand the stream over.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let service = TowerToHyperService::new(app);
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tcp), service)
            .await;
    });
    let result = within(
        "connect",
        connect(&format!("ws://{addr}/ws"), &ClientConfig::default()),
    )
    .await;
    let error = within("failure", rx.recv()).await.unwrap();
    assert!(matches!(error, Error::ConnectionLost(_)), "{error:?}");
    assert!(error.to_string().contains("upgrade"), "{error}");
    if let Ok((mut conn, _)) = result {
        match within("end", conn.recv()).await {
            Some(Incoming::Error(_) | Incoming::Closed(_)) | None => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// A masked client frame, encoded by hand.
fn masked(opcode: OpCode, payload: &[u8]) -> Bytes {
    let mut wire = Vec::new();
    encode_frame(&mut wire, true, opcode, Some([7, 8, 9, 10]), payload);
    wire.into()
}

/// Reads from an HTTP/2 stream until `want` bytes arrived, returning capacity as it goes.
async fn read_h2(body: &mut h2::RecvStream, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < want {
        match body.data().await {
            Some(Ok(chunk)) => {
                let _ = body.flow_control().release_capacity(chunk.len());
                got.extend_from_slice(&chunk);
            }
            Some(Err(e)) => panic!("stream failed: {e}"),
            None => break,
        }
    }
    got
}

#[tokio::test]
async fn echo_over_http2_extended_connect() {
    let addr = serve(echo_app()).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, connection) = within("h2 handshake", h2::client::handshake(tcp))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut client = within("ready", client.ready()).await.unwrap();
    // The server's SETTINGS arrive with the connection preface.
    let mut waited = Duration::ZERO;
    while !client.is_extended_connect_protocol_enabled() {
        assert!(
            waited < BOUND,
            "SETTINGS_ENABLE_CONNECT_PROTOCOL never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += Duration::from_millis(10);
    }

    let connect = |extensions: Option<&str>| {
        let mut request = http::Request::builder()
            .method(http::Method::CONNECT)
            .uri(format!("http://{addr}/ws"))
            .header("sec-websocket-version", "13")
            .header("sec-websocket-protocol", "b");
        if let Some(offer) = extensions {
            request = request.header("sec-websocket-extensions", offer);
        }
        let mut request = request.body(()).unwrap();
        request
            .extensions_mut()
            .insert(h2::ext::Protocol::from_static("websocket"));
        request
    };

    // Two WebSockets multiplexed on one HTTP/2 connection; the first offers permessage-deflate.
    let (deflating, mut deflating_send) = client
        .send_request(connect(Some("permessage-deflate")), false)
        .unwrap();
    let (plain, mut send) = client.send_request(connect(None), false).unwrap();
    let deflating = within("response", deflating).await.unwrap();
    assert_eq!(deflating.status(), http::StatusCode::OK);
    assert_eq!(
        deflating.headers()["sec-websocket-extensions"],
        "permessage-deflate"
    );
    let plain = within("response", plain).await.unwrap();
    assert_eq!(plain.status(), http::StatusCode::OK);
    assert_eq!(plain.headers()["sec-websocket-protocol"], "b");
    assert!(plain.headers().get("sec-websocket-extensions").is_none());
    assert!(plain.headers().get("sec-websocket-accept").is_none());
    let mut body = plain.into_body();

    send.send_data(masked(OpCode::Text, b"hi"), false).unwrap();
    assert_eq!(within("echo", read_h2(&mut body, 4)).await, b"\x81\x02hi");
    // Closing handshakes: the server answers Close with Close (never compressed).
    let close = masked(OpCode::Close, &1000u16.to_be_bytes());
    for (send, body) in [
        (&mut send, &mut body),
        (&mut deflating_send, &mut deflating.into_body()),
    ] {
        send.send_data(close.clone(), false).unwrap();
        assert_eq!(
            within("close", read_h2(body, 4)).await,
            [0x88, 0x02, 0x03, 0xe8]
        );
    }
}

#[tokio::test]
async fn http2_requests_that_are_not_extended_connect_are_refused() {
    let addr = serve(echo_app()).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, connection) = within("h2 handshake", h2::client::handshake(tcp))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut client = within("ready", client.ready()).await.unwrap();
    let request = http::Request::builder()
        .method(http::Method::GET)
        .uri(format!("http://{addr}/ws"))
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    let response = within("response", response).await.unwrap();
    assert_eq!(response.status(), http::StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "CONNECT");
    let mut body = response.into_body();
    let text = within("body", read_h2(&mut body, usize::MAX)).await;
    assert!(
        String::from_utf8_lossy(&text).contains("RFC 8441"),
        "{text:?}"
    );
}
