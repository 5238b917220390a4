//! WebSocket over HTTP/2 (RFC 8441): `connect` with `ClientConfig::http2` against a server built
//! on the `h2` crate that accepts extended CONNECT and echoes with ws-net's own `Connection`
//! (Role::Server over `H2Stream`), over TLS with ALPN and in cleartext with prior knowledge, and
//! the fallbacks to HTTP/1.1.
#![cfg(all(feature = "http2", feature = "tls"))]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use ws_net::client::{connect, ClientConfig};
use ws_net::handshake::{accept, AcceptOptions};
use ws_net::http2::{H2Stream, Http2};
use ws_net::tls::{TlsAcceptor, TlsClientOptions};
use ws_net::{CloseCode, Connection, ConnectionConfig, Error, Incoming, Message, Role};
use ws_proto::deflate::{Deflate, DeflateConfig, DeflateParams};
use ws_proto::handshake::{HttpVersion, ResponseError};
use ws_proto::Rsv;

use support::within;

/// How the test server behaves.
#[derive(Clone, Copy, Debug)]
struct Options {
    /// Serve TLS (ALPN decides the protocol); otherwise the first bytes do.
    tls: bool,
    /// Offer `h2` in ALPN (with TLS).
    alpn_h2: bool,
    /// Send SETTINGS_ENABLE_CONNECT_PROTOCOL.
    enable_connect: bool,
    /// The status answering an extended CONNECT.
    status: u16,
    /// The `sec-websocket-protocol` answer; `None`: "chat" when offered.
    protocol: Option<&'static str>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tls: false,
            alpn_h2: true,
            enable_connect: true,
            status: 200,
            protocol: None,
        }
    }
}

/// What the server saw, in order.
#[derive(Debug, PartialEq)]
enum Seen {
    /// A WebSocket handshake over HTTP/1.1.
    Http11,
    /// An HTTP/2 connection started.
    H2,
    /// An extended CONNECT on it.
    Connect {
        scheme: String,
        path: String,
        authority: String,
        headers: Vec<(String, String)>,
    },
    /// An HTTP/2 connection ended.
    H2Closed,
}

struct Server {
    port: u16,
    seen: mpsc::UnboundedReceiver<Seen>,
}

impl Server {
    async fn next(&mut self) -> Seen {
        within("the server's report", self.seen.recv())
            .await
            .expect("the server is gone")
    }
}

async fn server(options: Options) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, seen) = mpsc::unbounded_channel();
    let tls = options.tls.then(|| tls_acceptor(options.alpn_h2));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (tx, tls) = (tx.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    Some(tls) => {
                        let Ok(stream) = tls.accept(tcp).await else {
                            return;
                        };
                        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                        serve(stream, h2, options, tx).await;
                    }
                    None => {
                        let mut first = [0u8; 4];
                        let h2 = matches!(tcp.peek(&mut first).await, Ok(4) if &first == b"PRI ");
                        serve(tcp, h2, options, tx).await;
                    }
                }
            });
        }
    });
    Server { port, seen }
}

fn tls_acceptor(alpn_h2: bool) -> TlsAcceptor {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let mut config = rustls::ServerConfig::builder_with_provider(ws_net::tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = match alpn_h2 {
        true => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        false => vec![b"http/1.1".to_vec()],
    };
    TlsAcceptor::from_config(Arc::new(config))
}

async fn serve<S>(io: S, h2: bool, options: Options, tx: mpsc::UnboundedSender<Seen>)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    if !h2 {
        let accept_options = AcceptOptions::default()
            .protocols(["chat"])
            .deflate(Some(DeflateConfig::default()));
        if let Ok((connection, _)) = accept(io, &accept_options, ConnectionConfig::default()).await
        {
            let _ = tx.send(Seen::Http11);
            support::echo(connection).await;
        }
        return;
    }
    let mut builder = h2::server::Builder::new();
    if options.enable_connect {
        builder.enable_connect_protocol();
    }
    let Ok(mut connection) = builder.handshake::<S, Bytes>(io).await else {
        return;
    };
    let _ = tx.send(Seen::H2);
    // Accepting drives the connection: keep at it while the streams run in their own tasks.
    while let Some(Ok((request, respond))) = connection.accept().await {
        tokio::spawn(websocket_stream(request, respond, options, tx.clone()));
    }
    let _ = tx.send(Seen::H2Closed);
}

/// Answers one extended CONNECT and echoes on its stream.
async fn websocket_stream(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    options: Options,
    tx: mpsc::UnboundedSender<Seen>,
) {
    let protocol = request.extensions().get::<h2::ext::Protocol>();
    assert_eq!(request.method(), http::Method::CONNECT);
    assert_eq!(protocol.map(|p| p.as_str()), Some("websocket"));
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let offered_chat = header("sec-websocket-protocol").is_some_and(|p| p.contains("chat"));
    let offered_deflate =
        header("sec-websocket-extensions").is_some_and(|e| e.starts_with("permessage-deflate"));
    let _ = tx.send(Seen::Connect {
        scheme: request.uri().scheme_str().unwrap_or("").to_owned(),
        path: request.uri().path_and_query().unwrap().to_string(),
        authority: request.uri().authority().unwrap().to_string(),
        headers: request
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect(),
    });
    let mut response = http::Response::builder().status(options.status);
    match options.protocol {
        Some(answer) => response = response.header("sec-websocket-protocol", answer),
        None if offered_chat => response = response.header("sec-websocket-protocol", "chat"),
        None => {}
    }
    if offered_deflate {
        response = response.header("sec-websocket-extensions", "permessage-deflate");
    }
    let response = response.body(()).unwrap();
    if options.status != 200 {
        let _ = respond.send_response(response, true);
        return;
    }
    let Ok(send) = respond.send_response(response, false) else {
        return;
    };
    let mut config = ConnectionConfig::default();
    if offered_deflate {
        config.protocol.deflate = Some(Deflate::new(
            DeflateParams::default(),
            &DeflateConfig::default(),
        ));
        config.protocol.allowed_rsv |= Rsv::RSV1;
    }
    let connection = Connection::new(
        H2Stream::new(send, request.into_body()),
        Role::Server,
        config,
    );
    support::echo(connection).await;
}

fn client(http2: Http2) -> ClientConfig {
    ClientConfig::default()
        .protocols(["chat"])
        .header("Origin", "https://example.test")
        .tls(
            TlsClientOptions::default()
                .dangerous()
                .accept_any_server_certificate(),
        )
        .http2(http2)
}

/// Text and binary messages of 0 B, 125 B, 64 KiB and 1 MiB come back unchanged (the larger
/// ones need several rounds of HTTP/2 flow control both ways), then a clean close.
async fn echo_and_close(mut connection: Connection) {
    for size in [0, 125, 64 * 1024, 1024 * 1024] {
        let text: String = (0..size).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        let binary: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
        for message in [Message::from(text.clone()), Message::from(binary)] {
            within("sending", connection.send(message.clone()))
                .await
                .unwrap();
            loop {
                match within("the echo", connection.recv()).await {
                    Some(Incoming::Message(echoed)) => {
                        assert_eq!(echoed, message, "{size} B");
                        break;
                    }
                    Some(Incoming::Ping(_) | Incoming::Pong(_)) => {}
                    other => panic!("expected the echo of {size} B, got {other:?}"),
                }
            }
        }
    }
    within("closing", connection.close(CloseCode::NORMAL, "done"))
        .await
        .unwrap();
    loop {
        match within("the close", connection.recv()).await {
            Some(Incoming::Closed(status)) => {
                assert!(status.clean, "{status:?}");
                assert_eq!(status.code, CloseCode::NORMAL);
                break;
            }
            Some(Incoming::Ping(_) | Incoming::Pong(_)) => {}
            other => panic!("expected the close, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn prior_knowledge_runs_websocket_over_cleartext_http2() {
    let mut server = server(Options::default()).await;
    let url = format!("ws://127.0.0.1:{}/chat?room=1", server.port);
    let (connection, response) =
        within("connecting", connect(&url, &client(Http2::PriorKnowledge)))
            .await
            .unwrap();
    assert_eq!(response.version, HttpVersion::Http2);
    assert_eq!(response.status, 200);
    assert_eq!(response.protocol.as_deref(), Some("chat"));
    assert_eq!(response.deflate, None);
    assert_eq!(server.next().await, Seen::H2);
    let Seen::Connect {
        scheme,
        path,
        authority,
        headers,
    } = server.next().await
    else {
        panic!("expected the extended CONNECT")
    };
    assert_eq!(scheme, "http");
    assert_eq!(path, "/chat?room=1");
    assert_eq!(authority, format!("127.0.0.1:{}", server.port));
    let has = |name: &str, value: &str| headers.iter().any(|(n, v)| n == name && v == value);
    assert!(has("sec-websocket-version", "13"), "{headers:?}");
    assert!(has("sec-websocket-protocol", "chat"), "{headers:?}");
    assert!(has("origin", "https://example.test"), "{headers:?}");
    assert!(
        !headers
            .iter()
            .any(|(n, _)| n == "sec-websocket-key" || n == "upgrade" || n == "connection"),
        "{headers:?}"
    );
    echo_and_close(connection).await;
    // The HTTP/2 connection carried this one WebSocket and ends with it.
    assert_eq!(server.next().await, Seen::H2Closed);
}

#[tokio::test]
async fn alpn_h2_runs_websocket_over_http2_with_tls() {
    let mut server = server(Options {
        tls: true,
        ..Options::default()
    })
    .await;
    let url = format!("wss://127.0.0.1:{}/tls", server.port);
    let (connection, response) = within("connecting", connect(&url, &client(Http2::Prefer)))
        .await
        .unwrap();
    assert_eq!(response.version, HttpVersion::Http2);
    assert_eq!(server.next().await, Seen::H2);
    let Seen::Connect { scheme, path, .. } = server.next().await else {
        panic!("expected the extended CONNECT")
    };
    assert_eq!((scheme.as_str(), path.as_str()), ("https", "/tls"));
    echo_and_close(connection).await;
    assert_eq!(server.next().await, Seen::H2Closed);
}

#[tokio::test]
async fn permessage_deflate_is_negotiated_over_http2() {
    let mut server = server(Options::default()).await;
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let config = client(Http2::PriorKnowledge).deflate(Some(DeflateConfig::default()));
    let (connection, response) = within("connecting", connect(&url, &config)).await.unwrap();
    assert_eq!(response.version, HttpVersion::Http2);
    assert_eq!(response.deflate, Some(DeflateParams::default()));
    assert_eq!(server.next().await, Seen::H2);
    echo_and_close(connection).await;
}

#[tokio::test]
async fn alpn_http11_uses_http11() {
    let mut server = server(Options {
        tls: true,
        alpn_h2: false,
        ..Options::default()
    })
    .await;
    let url = format!("wss://127.0.0.1:{}/", server.port);
    let (connection, response) = within("connecting", connect(&url, &client(Http2::Prefer)))
        .await
        .unwrap();
    assert_eq!(response.version, HttpVersion::Http11);
    assert_eq!(response.status, 101);
    assert_eq!(server.next().await, Seen::Http11);
    echo_and_close(connection).await;
}

#[tokio::test]
async fn http2_is_off_by_default() {
    let mut server = server(Options {
        tls: true,
        ..Options::default()
    })
    .await;
    assert_eq!(ClientConfig::default().http2, Http2::Off);
    let url = format!("wss://127.0.0.1:{}/", server.port);
    let (connection, response) = within("connecting", connect(&url, &client(Http2::Off)))
        .await
        .unwrap();
    assert_eq!(response.version, HttpVersion::Http11);
    assert_eq!(server.next().await, Seen::Http11);
    echo_and_close(connection).await;
}

#[tokio::test]
async fn without_extended_connect_tls_falls_back_to_http11() {
    let mut server = server(Options {
        tls: true,
        enable_connect: false,
        ..Options::default()
    })
    .await;
    let url = format!("wss://127.0.0.1:{}/", server.port);
    let (connection, response) = within("connecting", connect(&url, &client(Http2::Prefer)))
        .await
        .unwrap();
    assert_eq!(response.version, HttpVersion::Http11);
    assert_eq!(response.protocol.as_deref(), Some("chat"));
    let mut seen = vec![
        server.next().await,
        server.next().await,
        server.next().await,
    ];
    seen.sort_by_key(|s| format!("{s:?}"));
    // The HTTP/2 connection was given up without a request, and HTTP/1.1 used on a new one.
    assert_eq!(seen, [Seen::H2, Seen::H2Closed, Seen::Http11]);
    echo_and_close(connection).await;
}

#[tokio::test]
async fn without_extended_connect_prior_knowledge_falls_back_to_http11() {
    let mut server = server(Options {
        enable_connect: false,
        ..Options::default()
    })
    .await;
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let (connection, response) =
        within("connecting", connect(&url, &client(Http2::PriorKnowledge)))
            .await
            .unwrap();
    assert_eq!(response.version, HttpVersion::Http11);
    let mut seen = vec![
        server.next().await,
        server.next().await,
        server.next().await,
    ];
    seen.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(seen, [Seen::H2, Seen::H2Closed, Seen::Http11]);
    echo_and_close(connection).await;
}

#[tokio::test]
async fn prefer_keeps_cleartext_on_http11() {
    let mut server = server(Options::default()).await;
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let (connection, response) = within("connecting", connect(&url, &client(Http2::Prefer)))
        .await
        .unwrap();
    assert_eq!(response.version, HttpVersion::Http11);
    assert_eq!(server.next().await, Seen::Http11);
    echo_and_close(connection).await;
}

#[tokio::test]
async fn refusals_over_http2_are_response_errors() {
    let server = server(Options {
        status: 403,
        ..Options::default()
    })
    .await;
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let err = within("connecting", connect(&url, &client(Http2::PriorKnowledge)))
        .await
        .unwrap_err();
    let Error::Response(ResponseError::UnexpectedStatus(response)) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(response.status, 403);
    assert_eq!(response.version, HttpVersion::Http2);
    assert!(err.to_string().contains("403"), "{err}");

    let server = server_with_protocol("other").await;
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let err = within("connecting", connect(&url, &client(Http2::PriorKnowledge)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Response(ResponseError::UnofferedProtocol(p)) if p == "other"),
        "{err:?}"
    );
}

async fn server_with_protocol(answer: &'static str) -> Server {
    server(Options {
        protocol: Some(answer),
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn prior_knowledge_to_a_server_without_http2_fails() {
    // A plain HTTP/1.1 WebSocket server: the HTTP/2 preface is not a request it accepts.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = accept(tcp, &AcceptOptions::default(), ConnectionConfig::default()).await;
            });
        }
    });
    let url = format!("ws://{addr}/");
    let err = within("connecting", connect(&url, &client(Http2::PriorKnowledge)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
}

#[tokio::test]
async fn a_silent_server_times_out() {
    // Accepts TCP and never answers the HTTP/2 preface.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut sockets: Vec<TcpStream> = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            sockets.push(tcp);
        }
    });
    let config =
        client(Http2::PriorKnowledge).handshake_timeout(std::time::Duration::from_millis(300));
    let err = within("connecting", connect(&format!("ws://{addr}/"), &config))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    held.abort();
}

/// A minimal HTTP CONNECT proxy on loopback: opens the tunnel asked for and copies bytes both
/// ways; reports each target.
async fn connect_proxy() -> (u16, mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, targets) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let Some(target) = head
                    .strip_prefix("CONNECT ")
                    .and_then(|rest| rest.split(' ').next())
                else {
                    return;
                };
                let Ok(mut upstream) = TcpStream::connect(target).await else {
                    return;
                };
                let _ = tx.send(target.to_owned());
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_ok()
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (port, targets)
}

#[tokio::test]
async fn http2_runs_inside_a_proxy_tunnel() {
    let (proxy_port, mut targets) = connect_proxy().await;
    let proxy =
        ws_net::proxy::ProxyConfig::Http(ws_net::proxy::HttpProxy::new("127.0.0.1", proxy_port));
    for (tls, http2) in [(false, Http2::PriorKnowledge), (true, Http2::Prefer)] {
        let mut server = server(Options {
            tls,
            ..Options::default()
        })
        .await;
        let scheme = if tls { "wss" } else { "ws" };
        let url = format!("{scheme}://127.0.0.1:{}/", server.port);
        let config = client(http2).proxy(proxy.clone());
        let (connection, response) = within("connecting", connect(&url, &config)).await.unwrap();
        assert_eq!(response.version, HttpVersion::Http2, "{scheme}");
        let target = within("the proxy's report", targets.recv()).await.unwrap();
        assert_eq!(target, format!("127.0.0.1:{}", server.port));
        assert_eq!(server.next().await, Seen::H2);
        echo_and_close(connection).await;
    }
}
