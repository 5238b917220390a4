//! Echoes every message back to its sender until killed.
//!
//! ```text
//! cargo run --release -p ws-net --example echo_server -- 127.0.0.1:9001
//! ```
//!
//! Runs on a single-threaded runtime (one core serves every connection). Prints the address it
//! listens on, so port 0 works too.

use std::net::SocketAddr;

use ws_net::server::{Server, ServerConfig};
use ws_net::{Connection, Incoming};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into())
        .parse()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(addr))
}

async fn serve(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let mut server = Server::bind(addr, ServerConfig::default()).await?;
    println!("listening on {}", server.local_addr());
    while let Some(client) = server.accept().await {
        match client {
            Ok(client) => {
                tokio::spawn(echo(client.connection));
            }
            Err(rejected) => eprintln!("{rejected}"),
        }
    }
    Ok(())
}

async fn echo(mut connection: Connection) {
    while let Some(incoming) = connection.recv().await {
        if let Incoming::Message(message) = incoming {
            if connection.send(message).await.is_err() {
                break;
            }
        }
    }
}
