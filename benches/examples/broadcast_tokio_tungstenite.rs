//! A WebSocket broadcast server on tokio-tungstenite, written as axum's chat example writes one:
//! every connection subscribes to one `tokio::sync::broadcast` channel; its reading half sends
//! each message it receives into the channel and its writing half sends every message the
//! channel delivers, each connection encoding its own frame. A receiver that falls more than the
//! channel's capacity behind skips what it missed (`RecvError::Lagged`). A peer for `cargo
//! xtask bench broadcast`.
//!
//! Usage: `broadcast_tokio_tungstenite 127.0.0.1:PORT`. Runs until killed.

#![deny(unsafe_code)]

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

/// Messages the channel keeps for receivers that are behind (axum's chat example keeps 100).
const CAPACITY: usize = 1024;

fn main() -> std::io::Result<()> {
    ws_benches::server::run(|listener| async move {
        let (tx, _) = broadcast::channel(CAPACITY);
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(serve(stream, tx.clone()));
        }
    })
}

async fn serve(stream: TcpStream, tx: broadcast::Sender<Message>) {
    // Each message goes out in one write; Nagle would only add latency.
    let _ = stream.set_nodelay(true);
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let mut rx = tx.subscribe();
    let mut send_task = tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(msg) => {
                    if sink.send(msg).await.is_err() {
                        return;
                    }
                }
                // Too far behind: the missed messages are gone; carry on with the oldest kept.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let mut recv_task = tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            // Pings are answered and Close is echoed by tungstenite itself.
            if msg.is_binary() || msg.is_text() {
                // Err: no receivers, which cannot happen while this connection subscribes.
                let _ = tx.send(msg);
            }
        }
    });
    // Either half ending ends the connection.
    tokio::select! {
        _ = &mut send_task => recv_task.abort(),
        _ = &mut recv_task => send_task.abort(),
    }
}
