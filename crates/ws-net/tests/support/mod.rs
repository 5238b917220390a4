//! Helpers shared by the integration tests: loopback socket pairs, raw peers that misbehave on
//! purpose, and time bounds.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use ws_net::{Connection, ConnectionConfig};
use ws_proto::frame::{encode_frame, OpCode};
use ws_proto::handshake::{ClientHandshake, ClientRequest};
use ws_proto::Role;

/// Every test step must finish within this; a hang fails the test instead of stalling CI.
pub const BOUND: Duration = Duration::from_secs(10);

pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

/// A connected pair of loopback TCP sockets.
pub async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (client.unwrap(), server.unwrap().0)
}

/// A client and a server connection over loopback TCP (the handshake is skipped).
pub async fn connection_pair(
    client: ConnectionConfig,
    server: ConnectionConfig,
) -> (Connection, Connection) {
    let (c, s) = tcp_pair().await;
    (
        Connection::new(c, Role::Client, client),
        Connection::new(s, Role::Server, server),
    )
}

/// A client connection whose peer is a raw socket the test drives by hand.
pub async fn client_with_raw_peer(config: ConnectionConfig) -> (Connection, TcpStream) {
    let (c, s) = tcp_pair().await;
    (Connection::new(c, Role::Client, config), s)
}

/// An unmasked frame as a server sends it.
pub fn server_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    encode_frame(&mut wire, fin, opcode, None, payload);
    wire
}

/// A masked frame as a client sends it.
pub fn client_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    encode_frame(&mut wire, fin, opcode, Some([1, 2, 3, 4]), payload);
    wire
}

/// Reads from `socket` until `want` bytes arrived (or EOF).
pub async fn read_exact_or_eof(socket: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut got = vec![0; want];
    let mut filled = 0;
    while filled < want {
        let n = socket.read(&mut got[filled..]).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        filled += n;
    }
    got.truncate(filled);
    got
}

/// Opens a TCP connection to `addr` and completes a WebSocket handshake by hand, returning the
/// raw socket: for clients that misbehave after the handshake.
pub async fn raw_ws_client(addr: std::net::SocketAddr, path: &str) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let request = ClientRequest::from_url(&format!("ws://{addr}{path}")).unwrap();
    let mut handshake = ClientHandshake::new(&request);
    socket.write_all(handshake.request_bytes()).await.unwrap();
    let mut buf = [0u8; 1024];
    loop {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "server closed during the handshake");
        if let Some(done) = handshake.receive_data(&buf[..n]).unwrap() {
            assert!(done.leftover.is_empty());
            return socket;
        }
    }
}

/// Starts a server (with TLS when `tls` is given) that echoes every message to its sender;
/// returns its port.
#[cfg(feature = "tls")]
pub async fn echo_server(tls: Option<ws_net::tls::TlsAcceptor>) -> u16 {
    let mut config = ws_net::server::ServerConfig::default();
    config.tls = tls;
    echo_server_with(config).await
}

/// Starts a server with `config` that echoes every message to its sender; returns its port.
pub async fn echo_server_with(config: ws_net::server::ServerConfig) -> u16 {
    let mut server = ws_net::server::Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let port = server.local_addr().port();
    tokio::spawn(async move {
        while let Some(client) = server.accept().await {
            let Ok(client) = client else { continue };
            tokio::spawn(echo(client.connection));
        }
    });
    port
}

/// Echoes every message of `connection` back until it closes.
pub async fn echo(mut connection: Connection) {
    while let Some(incoming) = connection.recv().await {
        if let ws_net::Incoming::Message(message) = incoming {
            if connection.send(message).await.is_err() {
                break;
            }
        }
    }
}

/// Sends a raw HTTP request and returns everything the server answers until it closes.
pub async fn raw_http(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}
