//! A WebSocket echo server on tokio-tungstenite, as its own examples write one: `accept_async`,
//! then `next()` / `send()` on the `WebSocketStream`. A peer for `cargo xtask bench echo`.
//!
//! Usage: `echo_tokio_tungstenite 127.0.0.1:PORT`. Runs until killed.

#![deny(unsafe_code)]

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;

fn main() -> std::io::Result<()> {
    ws_benches::server::run(|listener| async move {
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
