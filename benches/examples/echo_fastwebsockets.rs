//! A WebSocket echo server on fastwebsockets, as its `echo_server` example writes one: hyper
//! serves the HTTP upgrade, then a `FragmentCollector` reads whole messages (answering pings and
//! Close itself) and each is written back. A peer for `cargo xtask bench echo`.
//!
//! Usage: `echo_fastwebsockets 127.0.0.1:PORT`. Runs until killed.

#![deny(unsafe_code)]

use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

fn main() -> std::io::Result<()> {
    ws_benches::server::run(|listener| async move {
        loop {
            let (stream, _) = listener.accept().await?;
            // Each frame goes out in one write; Nagle would only add latency.
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let io = TokioIo::new(stream);
                // Failed upgrades (e.g. the harness's readiness probe) just end the connection.
                let _ = http1::Builder::new()
                    .serve_connection(io, service_fn(server_upgrade))
                    .with_upgrades()
                    .await;
            });
        }
    })
}

async fn server_upgrade(
    mut req: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade::upgrade(&mut req)?;
    tokio::spawn(async move {
        // As in fastwebsockets' example: the echo loop runs without tokio's co-operative budget.
        let _ = tokio::task::unconstrained(echo(fut)).await;
    });
    Ok(response)
}

async fn echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(fut.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}
