//! WebSocket over tokio, built on the sans-IO core [`ws_proto`].
//!
//! - [`Connection`]: a WebSocket over any `AsyncRead + AsyncWrite`, split into a [`Sender`] and
//!   a [`Receiver`] that work from different tasks; pongs, the heartbeat and the closing
//!   handshake run in the background; sending applies backpressure; `recv` is cancel-safe.
//! - [`client::connect`]: `ws://` and `wss://` URLs, every resolved address tried, timeouts,
//!   subprotocols and extra headers, HTTP CONNECT proxies ([`proxy`]).
//! - [`tls`]: rustls with an explicit crypto provider, the Mozilla roots or your own CA, client
//!   certificates, precise errors.
//! - [`server::Server`]: handshakes under a timeout and size limits, per-IP and distinct-IP
//!   limits, isolation between clients, graceful shutdown.
//!
//! # Features
//!
//! None is on by default.
//!
//! | feature | what it adds |
//! | --- | --- |
//! | `http2` | WebSocket over HTTP/2 (RFC 8441) for the client: `ClientConfig::http2` with `http2::Http2` (`Off`, `Prefer`: ALPN `h2` over `wss://` with fallback to HTTP/1.1, `PriorKnowledge`: also cleartext HTTP/2 over `ws://`), and `http2::H2Stream`, an HTTP/2 stream as a transport for a [`Connection`]. Uses the `h2` crate. |
//!
//! ```
//! use ws_net::client::{connect, ClientConfig};
//! use ws_net::server::{Server, ServerConfig};
//! use ws_net::{CloseCode, Incoming, Message};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // An echo server on a port the OS picks.
//! let mut server = Server::bind("127.0.0.1:0".parse()?, ServerConfig::default()).await?;
//! let url = format!("ws://{}/", server.local_addr());
//! tokio::spawn(async move {
//!     while let Some(Ok(mut client)) = server.accept().await {
//!         tokio::spawn(async move {
//!             while let Some(Incoming::Message(m)) = client.connection.recv().await {
//!                 let _ = client.connection.send(m).await;
//!             }
//!         });
//!     }
//! });
//!
//! let (mut conn, _response) = connect(&url, &ClientConfig::default()).await?;
//! conn.send_text("hello").await?;
//! assert!(matches!(conn.recv().await, Some(Incoming::Message(Message::Text(t))) if t.as_str() == "hello"));
//! conn.close(CloseCode::NORMAL, "done").await?;
//! assert!(matches!(conn.recv().await, Some(Incoming::Closed(status)) if status.clean));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]

pub mod proxy;
pub mod tls;

pub mod client;
mod config;
pub mod connection;
mod error;
pub mod handshake;
#[cfg(feature = "http2")]
pub mod http2;
pub mod server;
mod socket;

pub use config::ConnectionConfig;
pub use connection::{Connection, Incoming, Receiver, Sender};
pub use error::Error;
pub use ws_proto;
pub use ws_proto::{CloseCode, CloseStatus, Message, Role};
