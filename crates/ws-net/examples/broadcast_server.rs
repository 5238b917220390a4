//! Broadcasts every message any client sends to every connected client, the sender included,
//! until killed.
//!
//! ```text
//! cargo run --release -p ws-net --example broadcast_server -- 127.0.0.1:9001
//! ```
//!
//! Prints the address it listens on, so port 0 works too. Runs on a single-threaded runtime (one
//! core serves every connection), and would run unchanged on a multi-threaded one.
//!
//! Design:
//! - The registry of subscribers is an `Arc<Mutex<HashMap<id, Sender>>>`: each connection's task
//!   adds its [`Sender`] when it starts and removes it when its connection ends, so closed
//!   connections leave the registry. The lock is a std `Mutex`, held only for short sections
//!   that never await (inserting, removing, one pass over the subscribers), so it cannot block
//!   the runtime for long and works the same whether tasks run on one thread or many.
//! - A message is encoded once, as a [`PreparedMessage`], and each subscriber queues the same
//!   frame bytes with [`Sender::send_prepared_now`], which neither copies nor waits: one slow
//!   reader does not hold up the others or the connection that sent the message.
//! - Instead of waiting, the broadcast bounds memory: a subscriber with more than
//!   [`MAX_UNSENT`] bytes queued and not yet written is closed with 1008 (policy violation). Its
//!   connection ends after the closing handshake (or its timeout) and its task removes it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use ws_net::server::{Server, ServerConfig};
use ws_net::{CloseCode, Connection, Incoming, Message, PreparedMessage, Sender};

/// A subscriber with more than this many bytes waiting to be written is too slow to keep.
const MAX_UNSENT: usize = 4 * 1024 * 1024;

/// Every connected client's sending half, by connection id.
type Registry = Arc<Mutex<HashMap<u64, Sender>>>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr: SocketAddr = "127.0.0.1:9001".parse()?;
    if let Some(arg) = std::env::args().nth(1) {
        addr = arg.parse()?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(addr))
}

async fn serve(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let mut server = Server::bind(addr, ServerConfig::default()).await?;
    println!("listening on {}", server.local_addr());
    let registry = Registry::default();
    let mut next_id = 0u64;
    while let Some(client) = server.accept().await {
        match client {
            Ok(client) => {
                next_id += 1;
                tokio::spawn(subscriber(
                    next_id,
                    client.connection,
                    Arc::clone(&registry),
                ));
            }
            // A client that was turned away or failed its handshake; the next one is served.
            Err(rejected) => eprintln!("{rejected}"),
        }
    }
    Ok(())
}

/// Registers a connection, broadcasts what it sends, and unregisters it when it ends.
async fn subscriber(id: u64, connection: Connection, registry: Registry) {
    let (sender, mut receiver) = connection.split();
    lock(&registry).insert(id, sender);
    while let Some(incoming) = receiver.recv().await {
        match incoming {
            Incoming::Message(message) => broadcast(&registry, &message),
            // Pings are answered in the background; no streaming mode, no pings of our own.
            Incoming::Ping(_) | Incoming::Pong(_) | Incoming::Chunk(_) => {}
            Incoming::Error(error) => eprintln!("connection {id} failed: {error}"),
            // The last item: the loop ends with the next `recv`.
            Incoming::Closed(_) => {}
        }
    }
    lock(&registry).remove(&id);
}

/// Queues `message`, encoded once, on every subscriber; closes those too slow to keep up.
fn broadcast(registry: &Registry, message: &Message) {
    let prepared = PreparedMessage::new(message);
    for subscriber in lock(registry).values() {
        if subscriber.buffered_len() > MAX_UNSENT {
            // Err: already closing, which is what was wanted.
            let _ = subscriber.start_close(CloseCode::POLICY_VIOLATION, "too slow");
        } else {
            // Err: the subscriber is closing; its task removes it once its connection ends.
            let _ = subscriber.send_prepared_now(&prepared);
        }
    }
}

/// The registry, even if a task panicked while holding it: every operation on the map leaves
/// it consistent, so there is nothing to repair.
fn lock(registry: &Registry) -> std::sync::MutexGuard<'_, HashMap<u64, Sender>> {
    registry.lock().unwrap_or_else(PoisonError::into_inner)
}
