//! WebSocket over tokio, built on the sans-IO core [`ws_proto`].
//!
//! - [`Connection`]: a WebSocket over any `AsyncRead + AsyncWrite`, split into a [`Sender`] and
//!   a [`Receiver`] that work from different tasks; pongs, the heartbeat and the closing
//!   handshake run in the background; sending applies backpressure; `recv` is cancel-safe.
//! - [`client::connect`]: `ws://` and `wss://` URLs, every resolved address tried, timeouts,
//!   subprotocols and extra headers, HTTP CONNECT proxies ([`proxy`]).
//! - [`tls`]: rustls with an explicit crypto provider (*ring* or aws-lc-rs), the Mozilla roots,
//!   the platform's or your own CA, client certificates, precise errors.
//! - [`server::Server`]: handshakes under a timeout and size limits, per-IP and distinct-IP
//!   limits, isolation between clients, graceful shutdown, an application hook on each request
//!   ([`server::ServerConfig::request_hook`]), on a listener it binds or one you made
//!   ([`server::Server::from_listener`]).
//! - Inside an HTTP server (features `hyper`, `axum`): `upgrade::upgrade` turns a request hyper
//!   parsed into a [`Connection`], and `axum::ConnectionUpgrade` is an extractor shaped like
//!   axum's `WebSocketUpgrade`; both accept HTTP/1.1 upgrades and WebSocket over HTTP/2
//!   (RFC 8441). See the `axum_echo` example.
//! - `Stream` and `Sink` (feature `futures`): a [`Connection`] is a `Stream` of
//!   `Result<Message, Error>` and a `Sink<Message>`, for code written against tokio-tungstenite.
//!
//! An echo server as a long-running service writes it: the accept loop goes on past clients it
//! turns away, and each connection's loop handles every [`Incoming`] item until the connection
//! is closed, pings included (they are answered already).
//!
//! ```
//! use ws_net::client::{connect, ClientConfig};
//! use ws_net::server::{Server, ServerConfig};
//! use ws_net::{CloseCode, Connection, Incoming, Message};
//!
//! /// Echoes every message until the connection ends, however it ends.
//! async fn echo(mut conn: Connection) {
//!     while let Some(incoming) = conn.recv().await {
//!         match incoming {
//!             Incoming::Message(message) => {
//!                 if let Err(error) = conn.send(message).await {
//!                     eprintln!("echo not sent: {error}");
//!                     break; // The connection is failing or closing: nothing more to echo.
//!                 }
//!             }
//!             // Pings are answered in the background; pongs answer our own pings.
//!             Incoming::Ping(_) | Incoming::Pong(_) => {}
//!             // Chunks come only in `ReceiveMode::Streaming`, which this server does not use.
//!             Incoming::Chunk(_) => {}
//!             Incoming::Error(error) => eprintln!("connection failed: {error}"),
//!             Incoming::Closed(status) => eprintln!("closed: {} {}", status.code, status.reason),
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // An echo server on a port the OS picks.
//! let mut server = Server::bind("127.0.0.1:0".parse()?, ServerConfig::default()).await?;
//! let addr = server.local_addr();
//! tokio::spawn(async move {
//!     while let Some(accepted) = server.accept().await {
//!         match accepted {
//!             Ok(client) => {
//!                 tokio::spawn(echo(client.connection));
//!             }
//!             // Turned away (a limit, a bad request, a timeout) and already answered: log it
//!             // and go on serving the others.
//!             Err(rejected) => eprintln!("{rejected}"),
//!         }
//!     }
//! });
//!
//! // A plain HTTP request is answered with an error; the server goes on.
//! # use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! let mut http = tokio::net::TcpStream::connect(addr).await?;
//! http.write_all(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n").await?;
//! let mut answer = Vec::new();
//! http.read_to_end(&mut answer).await?;
//! assert!(answer.starts_with(b"HTTP/1.1 4"));
//!
//! // A client that pings first is echoed like any other.
//! let (mut conn, _response) = connect(&format!("ws://{addr}/"), &ClientConfig::default()).await?;
//! conn.ping(b"still there?").await?;
//! conn.send_text("hello").await?;
//! loop {
//!     match conn.recv().await {
//!         Some(Incoming::Pong(payload)) => assert_eq!(&payload[..], b"still there?"),
//!         Some(Incoming::Message(Message::Text(text))) => {
//!             assert_eq!(text.as_str(), "hello");
//!             break;
//!         }
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//! conn.close(CloseCode::NORMAL, "done").await?;
//! assert!(matches!(conn.recv().await, Some(Incoming::Closed(status)) if status.clean));
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `tls` | on | `wss://` in [`client::connect`], `ServerConfig::tls` and the [`tls`] module (rustls, tokio-rustls; x509-cert reads the extended key usage of a self-signed server certificate trusted as its own CA). Without it those items do not exist and a `wss://` URL fails with [`Error::FeatureDisabled`]. Needs `ring` or `aws-lc-rs` (a compile error says so) |
//! | `ring` | on | rustls' crypto from *ring* |
//! | `aws-lc-rs` | off | rustls' crypto from aws-lc-rs (C, compiled with the system's C compiler), the provider reqwest and rustls default to, so that an application using both builds one. Wins over `ring` when both are on; `default-features = false` drops *ring* |
//! | `webpki-roots` | on | the Mozilla roots, [`ServerVerification::WebPkiRoots`](tls::ServerVerification::WebPkiRoots), the default verification; without it building that default fails with [`TlsError::FeatureDisabled`](tls::TlsError::FeatureDisabled) (give a CA with `TlsClientOptions::ca`, or use `native-roots`) |
//! | `native-roots` | off | the platform's roots: `ServerVerification::NativeRoots`, `TlsClientOptions::native_roots` (rustls-native-certs) |
//! | `encrypted-keys` | on | password-protected PEM keys, PKCS#8 and OpenSSL's traditional format (pkcs8, aes, cbc, des, md-5, pkcs1, sec1); without it an encrypted key fails with [`TlsError::UnsupportedKeyFormat`](tls::TlsError::UnsupportedKeyFormat) naming the feature |
//! | `hyper` | off | `upgrade`: WebSocket upgrades of requests a hyper 1.x server parsed, HTTP/1.1 and HTTP/2 extended CONNECT (RFC 8441) |
//! | `axum` | off | `axum::ConnectionUpgrade`: an axum 0.8 extractor handing out [`Connection`]s; implies `hyper` |
//! | `futures` | off | [`Connection`] and [`Receiver`] are a futures `Stream` of `Result<Message, Error>`, [`Connection`] and [`Sender`] a `Sink<Message>` (futures-core and futures-sink only), as code written for tokio-tungstenite or axum expects: `rx.forward(tx)` is an echo server. See the `Stream` and `Sink` implementations on those types for what becomes of pings, the closing handshake and errors. |
//! | `tracing` | on | Spans and events through [`tracing`](https://docs.rs/tracing): a `connection{id role peer}` span per connection; handshake outcomes, closes, violations, limits, TLS and proxy failures at debug to warn; per-message events at trace only. Off: nothing of tracing is compiled in. |
//! | `http2` | off | WebSocket over HTTP/2 (RFC 8441) for the client: `ClientConfig::http2` with `http2::Http2` (`Off`, `Prefer`: ALPN `h2` over `wss://` with fallback to HTTP/1.1, `PriorKnowledge`: also cleartext HTTP/2 over `ws://`), and `http2::H2Stream`, an HTTP/2 stream as a transport for a [`Connection`]. Uses the `h2` crate; `wss://` needs `tls` too. |
//!
//! The TLS features: every one but `tls` turns `tls` on. The provider is always passed to rustls
//! explicitly ([`tls::crypto_provider`]); a process-wide default provider is neither needed nor
//! used. Without TLS: `ws-net = { version = "0.1", default-features = false }` (add
//! `features = ["tracing"]` to keep the events); with aws-lc-rs in place of *ring*:
//! `ws-net = { version = "0.1", default-features = false, features = ["tracing", "aws-lc-rs", "webpki-roots", "encrypted-keys"] }`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]

pub mod proxy;
#[cfg(feature = "tls")]
pub mod tls;

#[cfg(feature = "axum")]
pub mod axum;
pub mod client;
mod config;
pub mod connection;
mod error;
pub mod handshake;
#[cfg(feature = "http2")]
pub mod http2;
pub mod server;
mod socket;
mod trace;
#[cfg(feature = "hyper")]
pub mod upgrade;

pub use config::ConnectionConfig;
pub use connection::{Connection, Incoming, Receiver, Sender};
pub use error::Error;
pub use ws_proto;
pub use ws_proto::{CloseCode, CloseStatus, Message, PreparedMessage, Role};
