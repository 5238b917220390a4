//! Echoes every message back to its sender until killed.
//!
//! ```text
//! cargo run --release -p ws-net --example echo_server -- 127.0.0.1:9001 [--deflate]
//! ```
//!
//! Runs on a single-threaded runtime (one core serves every connection). Prints the address it
//! listens on, so port 0 works too. `--deflate` accepts permessage-deflate (every message
//! compressed, whatever its size).

use std::net::SocketAddr;

use ws_net::handshake::AcceptOptions;
use ws_net::server::{Server, ServerConfig};
use ws_net::ws_proto::deflate::DeflateConfig;
use ws_net::{Connection, Incoming};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr: SocketAddr = "127.0.0.1:9001".parse()?;
    let mut deflate = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--deflate" => deflate = Some(DeflateConfig::default()),
            other => addr = other.parse()?,
        }
    }
    let config = ServerConfig::default().accept(AcceptOptions::default().deflate(deflate));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(addr, config))
}

async fn serve(addr: SocketAddr, config: ServerConfig) -> Result<(), Box<dyn std::error::Error>> {
    let mut server = Server::bind(addr, config).await?;
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
        match incoming {
            Incoming::Message(message) => {
                if connection.send(message).await.is_err() {
                    break; // Failing or closing: nothing more to echo.
                }
            }
            // Pings are answered in the background; no streaming mode, no pings of our own.
            Incoming::Ping(_) | Incoming::Pong(_) | Incoming::Chunk(_) => {}
            Incoming::Error(error) => eprintln!("connection failed: {error}"),
            Incoming::Closed(_) => {}
        }
    }
}
