//! An echo server written the way tokio-tungstenite code is: each connection's `Stream` of
//! messages forwarded into its own `Sink` (feature `futures`).
//!
//! ```text
//! cargo run --release -p ws-net --features futures --example stream_echo -- 127.0.0.1:9001 [--deflate]
//! ```
//!
//! Runs on a single-threaded runtime, like `echo_server`, so the two can be compared under the
//! same load (`cargo xtask bench echo --stream`). Prints the address it listens on, so port 0
//! works too. `--deflate` accepts permessage-deflate.

use std::net::SocketAddr;

use futures_util::StreamExt;
use ws_net::handshake::AcceptOptions;
use ws_net::server::{Server, ServerConfig};
use ws_net::ws_proto::deflate::DeflateConfig;
use ws_net::Connection;

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
            // Turned away (a limit, a bad request, a timeout) and already answered.
            Err(rejected) => eprintln!("{rejected}"),
        }
    }
    Ok(())
}

/// Echoes until the client closes. Pings are answered in the background and are no items; a
/// clean close ends the stream, after which `forward` closes the sink; an abnormal end is the
/// one error `forward` returns.
async fn echo(connection: Connection) {
    let (sender, receiver) = connection.split();
    if let Err(error) = receiver.forward(sender).await {
        eprintln!("connection failed: {error}");
    }
}
