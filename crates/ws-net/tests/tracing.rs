//! What ws-net logs through `tracing`: handshake refusals with their status, and protocol
//! violations with their close code, inside the connection's span (role, peer address).
#![cfg(feature = "tracing")]

#[cfg(feature = "tls")]
#[path = "support/certs.rs"]
mod certs;
mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use ws_net::client::{connect, ClientConfig};
use ws_net::proxy::ProxyConfig;
use ws_net::server::{Server, ServerConfig};
use ws_net::{Error, Incoming};
use ws_proto::frame::OpCode;

#[cfg(feature = "tls")]
use certs::{Ca, Leaf, TempDir};
use support::{client_with_raw_peer, raw_ws_client, server_frame, within};

/// Everything logged by this test binary, as the fmt layer writes it (no colours, one event a
/// line). The subscriber is global, so events from every runtime thread land here; each test
/// picks its own lines by the peer address in the span.
fn logged() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&log);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            // Plain text even where another crate turns tracing-subscriber's colours on.
            .with_ansi(false)
            .with_writer(move || Buffer(Arc::clone(&writer)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        log
    })
}

struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The logged lines that contain every one of `parts`.
fn lines_with(parts: &[&str]) -> Vec<String> {
    let log = logged().lock().unwrap();
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|line| parts.iter().all(|part| line.contains(part)))
        .map(str::to_owned)
        .collect()
}

fn everything() -> String {
    String::from_utf8_lossy(&logged().lock().unwrap()).into_owned()
}

async fn server() -> Server {
    Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_refused_request_is_logged_with_its_status_in_the_clients_span() {
    logged();
    let mut server = server().await;
    let mut socket = TcpStream::connect(server.local_addr()).await.unwrap();
    let me = socket.local_addr().unwrap();
    socket
        .write_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    within("the refusal", socket.read_to_end(&mut answer))
        .await
        .unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 405 "));
    let rejected = within("the rejection", server.accept()).await.unwrap();
    assert!(matches!(rejected, Err(r) if matches!(r.error, Error::Request(_))));

    let peer = format!("peer={me}");
    let lines = lines_with(&["handshake: refused", "status=405", &peer, "role=server"]);
    assert_eq!(lines.len(), 1, "{}", everything());
    assert!(lines[0].contains("DEBUG"), "{}", lines[0]);
}

#[tokio::test]
async fn a_refusal_by_the_server_is_logged_with_its_status_by_the_client() {
    logged();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let refuse = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = socket.read(&mut buf).await.unwrap();
        socket
            .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        socket
    });
    let config = ClientConfig::default().proxy(ProxyConfig::None);
    let result = within("connect", connect(&format!("ws://{addr}/"), &config)).await;
    let error = result.expect_err("the server refused");
    assert!(
        matches!(&error, Error::Response(e) if e.status() == Some(403)),
        "{error}"
    );
    drop(within("the refusing server", refuse).await.unwrap());

    let peer = format!("peer={addr}");
    let lines = lines_with(&["refused by the server", "status=403", &peer, "role=client"]);
    assert_eq!(lines.len(), 1, "{}", everything());
}

#[tokio::test]
async fn a_protocol_violation_is_logged_with_its_close_code_in_the_peers_span() {
    logged();
    let mut server = server().await;
    let addr = server.local_addr();
    let mut socket = within("the handshake", raw_ws_client(addr, "/")).await;
    let me: SocketAddr = socket.local_addr().unwrap();
    let mut client = within("accept", server.accept()).await.unwrap().unwrap();
    // Clients must mask their frames: this one does not.
    socket
        .write_all(&server_frame(true, OpCode::Text, b"unmasked"))
        .await
        .unwrap();
    let mut saw_error = false;
    while let Some(incoming) = within("the failure", client.connection.recv()).await {
        match incoming {
            Incoming::Error(_) => saw_error = true,
            Incoming::Closed(status) => {
                assert_eq!(status.code.as_u16(), 1006);
                break;
            }
            Incoming::Message(_) | Incoming::Chunk(_) | Incoming::Ping(_) | Incoming::Pong(_) => {}
        }
    }
    assert!(saw_error);

    let peer = format!("peer={me}");
    let violation = lines_with(&["protocol violation", "close_code=1002", &peer]);
    assert_eq!(violation.len(), 1, "{}", everything());
    assert!(violation[0].contains("role=server"), "{}", violation[0]);
    assert!(violation[0].contains("DEBUG"), "{}", violation[0]);
    let closed = lines_with(&["closed", "code=1006", "clean=false", &peer]);
    assert_eq!(closed.len(), 1, "{}", everything());
    let accepted = lines_with(&["handshake: accepted", "path=/", &peer]);
    assert_eq!(accepted.len(), 1, "{}", everything());
}

#[tokio::test]
async fn a_message_over_the_limit_is_logged_at_info() {
    logged();
    let config = ServerConfig::default()
        .connection(ws_net::ConnectionConfig::default().protocol(
            ws_proto::Config::default().limits(ws_proto::Limits::for_messages_up_to(16)),
        ));
    let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let mut socket = within("the handshake", raw_ws_client(server.local_addr(), "/")).await;
    let me = socket.local_addr().unwrap();
    let mut client = within("accept", server.accept()).await.unwrap().unwrap();
    socket
        .write_all(&support::client_frame(true, OpCode::Binary, &[7; 64]))
        .await
        .unwrap();
    while let Some(incoming) = within("the failure", client.connection.recv()).await {
        if let Incoming::Closed(_) = incoming {
            break;
        }
    }
    let peer = format!("peer={me}");
    let lines = lines_with(&["limit hit", "close_code=1009", &peer]);
    assert_eq!(lines.len(), 1, "{}", everything());
    assert!(lines[0].contains("INFO"), "{}", lines[0]);
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn tls_failures_are_logged_with_their_reason_at_warn_by_the_client_and_debug_by_the_server() {
    logged();
    let dir = TempDir::new("tracing-tls");
    let ca = Ca::new("tracing test CA");
    let issued = ca.issue(&Leaf::server(&["some-other-name.test"]));
    let cert = dir.write("server.pem", &issued.cert_pem);
    let key = dir.write("server.key", issued.pkcs8_pem());
    let acceptor = ws_net::tls::TlsServerOptions::new(cert, key)
        .build()
        .unwrap();
    let mut server = Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        ServerConfig::default().tls(acceptor),
    )
    .await
    .unwrap();
    let port = server.local_addr().port();
    let config = ClientConfig::default()
        .proxy(ProxyConfig::None)
        .tls(ws_net::tls::TlsClientOptions::default().ca(dir.write("ca.pem", &ca.cert_pem)));
    let url = format!("wss://localhost:{port}/");
    let error = within("connect", connect(&url, &config)).await.unwrap_err();
    assert!(matches!(error, Error::Tls(_)), "{error}");
    let rejected = within("the rejection", server.accept()).await.unwrap();
    let rejected = rejected.expect_err("the client gave up");
    let client_port = rejected.remote_addr.unwrap().port();

    // The client's own failure, with the reason: the certificate names another host.
    let lines = lines_with(&[
        "TLS: handshake with the server failed",
        "some-other-name.test",
    ]);
    assert_eq!(lines.len(), 1, "{}", everything());
    assert!(lines[0].contains("WARN"), "{}", lines[0]);
    assert!(
        lines[0].contains(&format!("peer=127.0.0.1:{port}")),
        "{}",
        lines[0]
    );
    // The server's side: a client failed its handshake, which any client can do.
    let peer = format!("peer=127.0.0.1:{client_port}");
    let lines = lines_with(&[
        "TLS: handshake with the client failed",
        &peer,
        "role=server",
    ]);
    assert_eq!(lines.len(), 1, "{}", everything());
    assert!(lines[0].contains("DEBUG"), "{}", lines[0]);
}

#[tokio::test]
async fn a_missing_pong_is_logged_at_debug() {
    logged();
    let config = ws_net::ConnectionConfig::default()
        .ping_interval(Some(std::time::Duration::from_millis(20)))
        .pong_timeout(Some(std::time::Duration::from_millis(50)));
    // The raw peer reads nothing and answers nothing.
    let (mut connection, _peer) = client_with_raw_peer(config).await;
    let mut closed = None;
    while let Some(incoming) = within("the heartbeat", connection.recv()).await {
        if let Incoming::Closed(status) = incoming {
            closed = Some(status);
        }
    }
    assert_eq!(closed.map(|s| s.code.as_u16()), Some(1006));
    let lines = lines_with(&["heartbeat: no pong in time", "role=client"]);
    assert_eq!(lines.len(), 1, "{}", everything());
    assert!(lines[0].contains("DEBUG"), "{}", lines[0]);
}
