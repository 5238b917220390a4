//! # ws-proto
//!
//! A sans-IO implementation of the WebSocket protocol (RFC 6455): no sockets, no async runtime, no
//! clock. You feed it bytes and the current time; it gives back events, bytes to write, and the
//! next deadline. Received bytes are decoded lazily, as events are asked for, and payloads are
//! unmasked in place and handed out as shared [`Bytes`] slices of the receive buffer. Every transport (the tokio one in `ws-net`, a test harness, a fuzzer) drives the
//! same state machines.
//!
//! - [`handshake`]: the opening handshake for both roles, as state machines fed with bytes.
//! - [`Connection`]: everything after it: framing, masking, fragmentation, UTF-8 validation, ping
//!   and pong, the closing handshake, limits, and the heartbeat and close timers.
//! - [`frame`], [`mask`], [`utf8`], [`close`]: the building blocks, usable on their own.
//!   [`frame::FrameDecoder`] checks headers with the code a [`Connection`] runs,
//!   [`frame::FrameRules::parse_header`], so it accepts and refuses the same frames.
//!
//! ## A client and a server, in memory
//!
//! ```
//! use std::time::Instant;
//! use ws_proto::handshake::{ClientHandshake, ClientRequest, ServerHandshake, WsUrl};
//! use ws_proto::{CloseCode, Config, Connection, Event, Message, Role, State};
//!
//! // Opening handshake: the client's request goes to the server, its answer comes back.
//! let url = WsUrl::parse("ws://example.com/chat").unwrap();
//! let request = ClientRequest::new(url).protocol("chat").unwrap();
//! let mut client_hs = ClientHandshake::new(&request);
//! let mut server_hs = ServerHandshake::default();
//! let offer = server_hs.receive_data(client_hs.request_bytes()).unwrap().expect("complete request");
//! let answer = offer.accept_response(offer.choose_protocol(&["chat"]).as_deref(), &[]).unwrap();
//! let done = client_hs.receive_data(&answer).unwrap().expect("complete response");
//! assert_eq!(done.response.protocol.as_deref(), Some("chat"));
//!
//! // Messages, both ways.
//! let mut client = Connection::new(Role::Client, Config::default());
//! let mut server = Connection::new(Role::Server, Config::default());
//! client.send_text("hello").unwrap();
//! server.receive_data(&client.take_output());
//! assert_eq!(server.next_event(), Some(Event::Message(Message::Text("hello".into()))));
//! server.send_binary(&[1, 2, 3]).unwrap();
//! client.receive_data(&server.take_output());
//! assert_eq!(client.next_event(), Some(Event::Message(Message::from(vec![1, 2, 3]))));
//!
//! // The closing handshake: the server answers the client's Close frame when it says so, once
//! // it has handled every event before it (it could still answer those messages).
//! client.close(CloseCode::NORMAL, "bye", Instant::now()).unwrap();
//! server.receive_data(&client.take_output());
//! assert!(matches!(server.next_event(), Some(Event::Closed(_))));
//! assert_eq!(server.state(), State::RemoteClosing);
//! server.finish_closing();
//! client.receive_data(&server.take_output());
//! match client.next_event() {
//!     Some(Event::Closed(status)) => assert_eq!((status.code, status.clean), (CloseCode::NORMAL, true)),
//!     other => panic!("expected Closed, got {other:?}"),
//! }
//! ```
//!
//! # Features
//!
//! None: ws-proto has no optional parts, and no I/O, TLS or runtime to choose.

// The one exception, `Utf8Bytes::as_str`, is allowed where it stands, with its proof.
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]

pub mod close;
pub mod connection;
pub mod deflate;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod limits;
pub mod mask;
pub mod message;
mod output;
pub mod prepared;
mod role;
mod rsv;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use connection::{CloseStatus, Config, Connection, Event, State};
pub use error::{ProtocolError, SendError};
pub use limits::Limits;
pub use message::{Chunk, Message, MessageKind, ReceiveMode};
pub use prepared::PreparedMessage;
pub use role::Role;
pub use rsv::Rsv;
pub use utf8::Utf8Bytes;

/// The shared byte buffers payloads are handed out in (re-exported from the `bytes` crate).
pub use bytes::{Bytes, BytesMut};
