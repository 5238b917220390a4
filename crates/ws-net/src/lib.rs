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
//!   limits, isolation between clients, graceful shutdown, an application hook on each request.
//!
//! # Features
//!
//! | feature | what it adds |
//! | --- | --- |
//! | `hyper` | `upgrade`: WebSocket upgrades of requests a hyper 1.x server parsed, HTTP/1.1 and HTTP/2 extended CONNECT (RFC 8441) |
//! | `axum` | `axum::ConnectionUpgrade`: an axum 0.8 extractor handing out [`Connection`]s; implies `hyper` |
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

#[cfg(feature = "axum")]
pub mod axum;
pub mod client;
mod config;
pub mod connection;
mod error;
pub mod handshake;
pub mod server;
mod socket;
#[cfg(feature = "hyper")]
pub mod upgrade;

pub use config::ConnectionConfig;
pub use connection::{Connection, Incoming, Receiver, Sender};
pub use error::Error;
pub use ws_proto;
pub use ws_proto::{CloseCode, CloseStatus, Message, Role};
