//! A WebSocket echo server on tokio-tungstenite, as its own examples write one: `accept_async`,
//! then `next()` / `send()` on the `WebSocketStream`. A peer for `cargo xtask bench echo`.
//!
//! Usage: `echo_tokio_tungstenite 127.0.0.1:PORT`. Runs until killed.

#![deny(unsafe_code)]

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_string());
    // One thread for every server in the benchmark, so they are compared on equal terms.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(serve(stream));
        }
    })
}

async fn serve(stream: TcpStream) {
    // Each message goes out in one write; Nagle would only add latency.
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        // Pings are answered and Close is echoed by tungstenite itself.
        if (msg.is_binary() || msg.is_text()) && ws.send(msg).await.is_err() {
            return;
        }
    }
}
