//! A WebSocket echo server on tokio-websockets, as its `echo_server` example writes one:
//! `ServerBuilder::accept`, then `next()` / `send()` on the `WebSocketStream`, with frames as
//! large as the message (`Config::frame_size(usize::MAX)`) and each connection's task run
//! without tokio's co-operative budget. A peer for `cargo xtask bench echo`.
//!
//! Usage: `echo_tokio_websockets 127.0.0.1:PORT`. Runs until killed.

#![deny(unsafe_code)]

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_websockets::{Config, ServerBuilder};

fn main() -> std::io::Result<()> {
    ws_benches::server::run(|listener| async move {
        loop {
            let (stream, _) = listener.accept().await?;
            // As in tokio-websockets' example: the echo loop runs without tokio's co-operative
            // budget.
            tokio::spawn(tokio::task::unconstrained(serve(stream)));
        }
    })
}

async fn serve(stream: TcpStream) {
    // Each message goes out in one write; Nagle would only add latency.
    let _ = stream.set_nodelay(true);
    // The example's settings, but the default 64 MiB message limit (as the other peers keep
    // theirs) where it turns limits off: a bound check per frame, nothing more.
    let accepted = ServerBuilder::new()
        .config(Config::default().frame_size(usize::MAX))
        .accept(stream)
        .await;
    // Failed upgrades (e.g. the harness's readiness probe) just end the connection.
    let Ok((_request, mut ws)) = accepted else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        // Pings are answered and Close is echoed by tokio-websockets itself.
        if (message.is_binary() || message.is_text()) && ws.send(message).await.is_err() {
            return;
        }
    }
}
