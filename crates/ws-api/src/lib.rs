//! OpenHarmony's `@ohos.net.webSocket` in Rust: the `WebSocket` client and the `WebSocketServer`,
//! with the documented options, events, defaults, limits and error codes, on top of [`ws_net`].
//!
//! Promise forms start their work when called, as the reference's do, and return a
//! [`Completion`]: a future of `Result<_, BusinessError>` that only reports the outcome and may
//! be dropped. Events are registered with `on(event, closure)`, which returns a handle for
//! `off`. Every call works from any thread, inside a tokio runtime (the connections run on it)
//! or not (they run on a shared background runtime).
//!
//! ```no_run
//! use ws_api::client::events;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ws_api::BusinessError> {
//! let ws = ws_api::create_web_socket();
//! ws.on(events::Message, |data| println!("got {data:?}"));
//! ws.on(events::Error, |err| eprintln!("error: {err}"));
//! ws.connect_and_wait("ws://127.0.0.1:9001/", None).await?;
//! ws.send_text("hello").await?;
//! ws.close(None).await?;
//! let closed = ws.closed().await?;
//! println!("closed: {} {}", closed.code, closed.reason);
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `tracing` | on | Events through [`tracing`](https://docs.rs/tracing): the server's start and stop, failed connects, listeners that panicked; and ws-net's `tracing` feature (its connection spans and events). |
//! | `tls` | on | `wss://` URLs and `serverCert` (`server_cert`). Without it both are refused with code 2302999 and a message naming the feature. Needs `ring` or `aws-lc-rs` |
//! | `ring` | on | rustls' crypto from *ring* |
//! | `aws-lc-rs` | off | rustls' crypto from aws-lc-rs; wins over `ring` when both are on |
//! | `webpki-roots` | on | the Mozilla roots, trusted when `caPath` (`ca_path`) is unset |
//! | `native-roots` | off | the platform's roots, trusted when `caPath` is unset and `webpki-roots` is off |
//! | `encrypted-keys` | on | `keyPassword` (`key_password`): encrypted client keys; without it such a key fails with 401 naming the feature |
//! | `redis` | off | the server's `broker` option (extension): topics shared by several server instances through Redis (ws-pubsub's `redis` feature); without it a `broker` fails `start` with 401 naming the feature |
//!
//! The TLS features are ws-net's of the same names (see [its table](ws_net#features)); every
//! one but `tls` turns `tls` on.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]

pub mod client;
mod close;
mod completion;
mod deflate;
mod error;
mod limits;
mod listeners;
mod message;
mod runtime;
mod sending;
pub mod server;
mod trace;

pub use client::{create_web_socket, WeakWebSocket, WebSocket};
pub use close::{CloseResult, WebSocketCloseOptions, DEFAULT_CLOSE_REASON};
pub use completion::Completion;
pub use error::{code, documented_message, BusinessError};
pub use listeners::ListenerHandle;
pub use message::MessageData;
pub use server::{create_web_socket_server, WebSocketServer};

/// A number no other call of this function in the process returns: identities of objects,
/// connect attempts and server runs.
fn fresh_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Locks `mutex`, whatever a panicking holder left behind (the data stay consistent: every
/// holder writes whole values).
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The README's Rust examples, compiled (and the in-memory one run) with the doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
/// The layer below, re-exported so that users name the same version: the typed causes of
/// [`BusinessError`]s (their [`source`](std::error::Error::source)) are [`ws_net::Error`]s.
pub use ws_net;
pub use ws_proto::{Bytes, Utf8Bytes};
/// The topics under the server's `subscribe` and `publish` extensions, re-exported for the types
/// of [`WebSocketServer::topics_stats`] and the delivery guarantees its docs describe.
pub use ws_pubsub;
