//! Topics over [`ws_net`]: a connection subscribes to a topic, a message published to the
//! topic reaches every subscriber, in this process and, through a broker, in the other
//! instances of the server.
//!
//! - [`Topics`]: the registry of this process, cheap to clone and shared by every connection
//!   task. [`Topics::subscribe`] adds a connection's [`Sender`](ws_net::Sender) to a topic for as
//!   long as the returned [`Subscription`] lives; [`Topics::publish`] encodes a message once
//!   ([`PreparedMessage`](ws_net::PreparedMessage)) and queues the same bytes on every
//!   subscriber without waiting, then hands it to the broker.
//! - Slow subscribers: one with more than [`TopicsConfig::backlog_limit`] bytes unsent when a
//!   message comes is closed with 1008 (policy violation) and removed from its topics. It
//!   never holds up the others, and the memory it holds stays bounded.
//! - The broker: none with [`Topics::new`] (nothing else to run), or, with the `redis` feature,
//!   Redis ([`Topics::with_redis`]) to fan messages out across instances behind a load balancer.
//! - [`Topics::stats`]: what was published, delivered, received from the broker, dropped.
//!
//! # Example: a broadcast server
//!
//! Each connection subscribes to the topic of its path (`/room/NAME` is topic `NAME`, any other
//! path the topic `lobby`) and publishes every message it receives there; everyone in the room
//! gets it, the sender included.
//!
//! ```
//! use ws_net::client::{connect, ClientConfig};
//! use ws_net::server::{Client, Server, ServerConfig};
//! use ws_net::{CloseCode, Incoming, Message};
//! use ws_pubsub::{Topics, TopicsConfig};
//!
//! /// The topic of a request path: `/room/NAME` is `NAME`, anything else the lobby.
//! fn topic_of(path: &str) -> &str {
//!     let path = path.split('?').next().unwrap_or_default();
//!     match path.strip_prefix("/room/") {
//!         Some(name) if !name.is_empty() => name,
//!         _ => "lobby",
//!     }
//! }
//!
//! /// Subscribes the client to its topic and publishes what it sends until it leaves.
//! async fn serve(topics: Topics, client: Client) {
//!     let topic = topic_of(&client.accepted.request.path).to_owned();
//!     let (sender, mut receiver) = client.connection.split();
//!     let _subscription = match topics.subscribe(&topic, sender.clone()) {
//!         Ok(subscription) => subscription,
//!         Err(error) => {
//!             // A name over the length limit, or too many topics: say why and leave.
//!             eprintln!("{}: {error}", client.remote_addr);
//!             let _ = sender.close(CloseCode::POLICY_VIOLATION, "topic refused").await;
//!             return;
//!         }
//!     };
//!     while let Some(incoming) = receiver.recv().await {
//!         match incoming {
//!             Incoming::Message(message) => {
//!                 if let Err(error) = topics.publish(&topic, message) {
//!                     eprintln!("not published: {error}");
//!                 }
//!             }
//!             // Pings are answered in the background; pongs answer our own pings.
//!             Incoming::Ping(_) | Incoming::Pong(_) => {}
//!             // Chunks come only in `ReceiveMode::Streaming`, which this server does not use.
//!             Incoming::Chunk(_) => {}
//!             Incoming::Error(error) => eprintln!("{}: {error}", client.remote_addr),
//!             Incoming::Closed(_) => {}
//!         }
//!     }
//!     // Dropping the subscription here leaves the topic.
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let topics = Topics::new(TopicsConfig::default());
//! let mut server = Server::bind("127.0.0.1:0".parse()?, ServerConfig::default()).await?;
//! let addr = server.local_addr();
//! let accepting = topics.clone();
//! tokio::spawn(async move {
//!     while let Some(accepted) = server.accept().await {
//!         match accepted {
//!             Ok(client) => {
//!                 tokio::spawn(serve(accepting.clone(), client));
//!             }
//!             // Turned away (a limit, a bad request, a timeout) and already answered: log it
//!             // and go on serving the others.
//!             Err(rejected) => eprintln!("{rejected}"),
//!         }
//!     }
//! });
//!
//! // Two clients in the same room: what one says, both hear.
//! let url = format!("ws://{addr}/room/rust");
//! let (mut alice, _) = connect(&url, &ClientConfig::default()).await?;
//! let (mut bob, _) = connect(&url, &ClientConfig::default()).await?;
//! # // Both are subscribed once the server has seen them.
//! # while topics.stats().subscriptions < 2 { tokio::task::yield_now().await; }
//! alice.send_text("hello").await?;
//! for client in [&mut alice, &mut bob] {
//!     match client.recv().await {
//!         Some(Incoming::Message(Message::Text(text))) => assert_eq!(text.as_str(), "hello"),
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//! assert_eq!(topics.stats().delivered_local, 2);
//! # Ok(())
//! # }
//! ```
//!
//! # Several instances: the Redis broker (feature `redis`)
//!
//! With [`Topics::with_redis`]`(config, `[`RedisConfig::new`]`(url))`
//! every instance keeps one Redis connection for publishing and one for subscribing; the latter
//! is subscribed to one channel per topic that has local subscribers (`ws:` + topic by
//! default, see [`RedisConfig::channel_prefix`]): SUBSCRIBE when a topic's first local
//! subscriber arrives, UNSUBSCRIBE when its last leaves, not one per connection.
//!
//! - A published message reaches the local subscribers at once, from the fan-out in
//!   [`Topics::publish`], and is queued for Redis. Each message carries a header with a random
//!   id of the instance that published it; when Redis hands the message back to that instance
//!   it is not delivered a second time ([`Stats::echoes_ignored`]).
//! - Order: the messages published by one instance reach each subscriber, on every instance, in
//!   the order they were published (one connection sends them in order, and Redis keeps the
//!   order of one connection's messages).
//! - Delivery is **at most once** across instances. While Redis is unreachable, publishing
//!   still reaches this instance's subscribers; for the other instances the message is dropped
//!   and counted in [`Stats::broker_dropped`] (so are the messages in the queue when the
//!   connection is lost, and those that do not fit in
//!   [`RedisConfig::publish_queue_limit`]). Nothing is kept to be sent later, so nothing queues
//!   without bound and no old message arrives after newer ones.
//! - After Redis goes away, both connections are remade with a backoff
//!   ([`RedisConfig::reconnect_min`] doubling to [`RedisConfig::reconnect_max`]) and every
//!   topic that still has local subscribers is subscribed again. Messages other instances
//!   publish before that are missed. [`Stats::broker_connected`] and
//!   [`Stats::broker_topics`] tell where it stands.
//! - A message that arrives on a channel subscribed a moment before is delivered; one published
//!   on another instance before this instance's SUBSCRIBE was confirmed is not: a client that
//!   just subscribed may miss what was published at the same moment.
//! - What comes from Redis is checked: an unknown header, a text message that is not UTF-8, a
//!   channel without the prefix are counted in [`Stats::malformed_from_broker`] and ignored.
//! - Redis itself bounds what it holds for a slow subscribing connection
//!   (`client-output-buffer-limit pubsub`); this crate reads its connection without waiting on
//!   any WebSocket peer, so it is never that slow connection.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `redis` | off | [`Topics::with_redis`] and [`RedisConfig`], on the `redis` crate (tokio). Off by default: one process needs no broker, and the Redis client is a large dependency. |
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]

mod config;
mod error;
#[cfg(feature = "redis")]
mod redis;
mod topics;
#[cfg(feature = "redis")]
mod wire;

pub use config::TopicsConfig;
pub use error::PubSubError;
#[cfg(feature = "redis")]
pub use redis::RedisConfig;
pub use topics::{Delivery, Forwarded, Stats, Subscription, Topics};
