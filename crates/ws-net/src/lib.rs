//! WebSocket over tokio, built on the sans-IO core [`ws_proto`].
//!
//! - A connection over any `AsyncRead + AsyncWrite`, split into halves that work from different
//!   tasks, with pongs, heartbeat and the closing handshake handled in the background.
//! - Client connect for `ws://` and `wss://` URLs, through HTTP CONNECT proxies if asked.
//! - TLS with rustls ([`tls`]).
//! - A server listener with handshake, connection limits and graceful shutdown.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod proxy;
pub mod tls;

pub mod client;
mod config;
pub mod connection;
mod error;
pub mod handshake;
pub mod server;

pub use config::ConnectionConfig;
pub use connection::{Connection, Incoming, Receiver, Sender};
pub use error::Error;
pub use ws_proto;
pub use ws_proto::{CloseCode, CloseStatus, Message, Role};
