//! A WebSocket broadcast server on fastwebsockets: hyper serves the HTTP upgrade, as in
//! fastwebsockets' examples, and every connection subscribes to one `tokio::sync::broadcast`
//! channel, as axum's chat example does. The connection is split (fastwebsockets'
//! `echo_server_split` example): its reading half, a `FragmentCollectorRead`, sends each message
//! into the channel, and a writer task writes every message the channel delivers, each
//! connection encoding its own frame. A receiver that falls more than the channel's capacity
//! behind skips what it missed (`RecvError::Lagged`). A peer for `cargo xtask bench broadcast`.
//!
//! Usage: `broadcast_fastwebsockets 127.0.0.1:PORT`. Runs until killed.

#![deny(unsafe_code)]

use std::sync::Arc;

use fastwebsockets::{upgrade, FragmentCollectorRead, Frame, OpCode, Payload, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::{broadcast, Mutex};

/// Messages the channel keeps for receivers that are behind (axum's chat example keeps 100).
const CAPACITY: usize = 1024;

/// A message as the channel carries it: text or binary, and its payload.
type Shared = (OpCode, Bytes);

fn main() -> std::io::Result<()> {
    ws_benches::server::run(|listener| async move {
        let (tx, _) = broadcast::channel::<Shared>(CAPACITY);
        loop {
            let (stream, _) = listener.accept().await?;
            // Each frame goes out in one write; Nagle would only add latency.
            let _ = stream.set_nodelay(true);
            let tx = tx.clone();
            tokio::spawn(async move {
                let io = TokioIo::new(stream);
                // Failed upgrades (e.g. the harness's readiness probe) just end the connection.
                let _ = http1::Builder::new()
                    .serve_connection(io, service_fn(move |req| server_upgrade(req, tx.clone())))
                    .with_upgrades()
                    .await;
            });
        }
    })
}

async fn server_upgrade(
    mut req: Request<Incoming>,
    tx: broadcast::Sender<Shared>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade::upgrade(&mut req)?;
    tokio::spawn(async move {
        // As in fastwebsockets' examples: the connection runs without tokio's co-operative budget.
        let _ = tokio::task::unconstrained(serve(fut, tx)).await;
    });
    Ok(response)
}

async fn serve(
    fut: upgrade::UpgradeFut,
    tx: broadcast::Sender<Shared>,
) -> Result<(), WebSocketError> {
    let ws = fut.await?;
    let (rx_half, tx_half) = ws.split(tokio::io::split);
    let mut reader = FragmentCollectorRead::new(rx_half);
    // Shared by the writer task and the reader's obligated sends (pongs, the Close reply).
    let writer = Arc::new(Mutex::new(tx_half));
    let mut rx = tx.subscribe();
    let send_writer = Arc::clone(&writer);
    let mut send_task = tokio::spawn(tokio::task::unconstrained(async move {
        loop {
            match rx.recv().await {
                Ok((opcode, payload)) => {
                    let frame = Frame::new(true, opcode, None, Payload::Borrowed(&payload));
                    if send_writer.lock().await.write_frame(frame).await.is_err() {
                        return;
                    }
                }
                // Too far behind: the missed messages are gone; carry on with the oldest kept.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }));
    let read = async {
        loop {
            let frame = reader
                .read_frame(&mut |frame: Frame<'_>| {
                    let writer = Arc::clone(&writer);
                    // An obligated frame borrows the reader's buffer; it is sent as a copy.
                    let frame = Frame::new(
                        frame.fin,
                        frame.opcode,
                        None,
                        Payload::Owned(frame.payload.to_vec()),
                    );
                    async move { writer.lock().await.write_frame(frame).await }
                })
                .await?;
            match frame.opcode {
                OpCode::Close => return Ok(()),
                OpCode::Text | OpCode::Binary => {
                    // Err: no receivers, which cannot happen while this connection subscribes.
                    let _ = tx.send((frame.opcode, Bytes::copy_from_slice(&frame.payload)));
                }
                _ => {}
            }
        }
    };
    // Either half ending ends the connection.
    let result = tokio::select! {
        result = read => result,
        _ = &mut send_task => Ok(()),
    };
    send_task.abort();
    result
}
