//! The client side of the Autobahn TestSuite, on the `WebSocket` facade: asks a fuzzing server
//! for its case count, runs every case (echoing each message back, text as text, binary as
//! binary), then asks for the reports.
//!
//! ```text
//! kosoku -m fuzzingserver 127.0.0.1:9001 &
//! cargo run --release -p ws-api --example autobahn_client -- ws://127.0.0.1:9001 ws-api
//! ```
//!
//! A message larger than the facade's send limit (5,242,864 bytes) cannot be echoed: the
//! client closes with 1009 instead. `cargo xtask autobahn` runs it and checks the reports.

use tokio::sync::mpsc;
use ws_api::client::{events, MessageData, WebSocketCloseOptions, MAX_SEND_SIZE};
use ws_api::{code, create_web_socket, BusinessError};

#[tokio::main]
async fn main() -> Result<(), BusinessError> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = args.next().unwrap_or_else(|| "ws-api".into());
    let base = base.trim_end_matches('/');

    let count = case_count(base).await?;
    println!("{count} cases");
    for case in 1..=count {
        if let Err(e) = echo(&format!("{base}/runCase?case={case}&agent={agent}")).await {
            // A case may well end in a failed connection; the report judges it.
            println!("case {case}: {e}");
        }
    }
    run_until_closed(&format!("{base}/updateReports?agent={agent}"), |_, _| {}).await?;
    println!("reports updated");
    Ok(())
}

async fn case_count(base: &str) -> Result<u32, BusinessError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    run_until_closed(&format!("{base}/getCaseCount"), move |_, data| {
        if let MessageData::Text(text) = data {
            let _ = tx.send(text.as_str().trim().parse::<u32>());
        }
    })
    .await?;
    match rx.try_recv() {
        Ok(Ok(count)) => Ok(count),
        _ => Err(BusinessError::new(
            code::UNKNOWN,
            "the fuzzing server sent no case count",
        )),
    }
}

/// Echoes every message until the connection closes.
async fn echo(url: &str) -> Result<(), BusinessError> {
    run_until_closed(url, |ws, data| {
        // `send` queues at once, so echoes keep the order of the messages.
        let len = match data {
            MessageData::Text(text) => text.as_bytes().len(),
            MessageData::Binary(bytes) => bytes.len(),
        };
        if len > MAX_SEND_SIZE {
            let close = WebSocketCloseOptions {
                code: Some(1009),
                reason: Some(format!("message over the {MAX_SEND_SIZE}-byte send limit")),
            };
            drop(ws.close(Some(close)));
            return;
        }
        // The next message is delivered once this one's echo has room to be written.
        drop(ws.send(data.clone()));
    })
    .await
}

/// Connects, hands every message to `on_message`, and returns once the `close` event is out.
async fn run_until_closed(
    url: &str,
    on_message: impl Fn(&ws_api::WebSocket, &MessageData) + Send + Sync + 'static,
) -> Result<(), BusinessError> {
    let ws = create_web_socket();
    // A weak handle: the listener must not keep its own `WebSocket` alive.
    let this = ws.downgrade();
    ws.on(events::Message, move |data| {
        if let Some(ws) = this.upgrade() {
            on_message(&ws, data);
        }
    });
    // Failures are the fuzzing server's to judge; they are printed for the log.
    ws.on(events::Error, |e| {
        println!("error {}: {}", e.code, e.message)
    });
    ws.connect_and_wait(url, None).await?;
    ws.closed().await.map(|_| ())
}
