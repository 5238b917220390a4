//! The client side of the Autobahn TestSuite, on the `WebSocket` facade: asks a fuzzing server
//! for its case count, runs every case (echoing each message back, text as text, binary as
//! binary), then asks for the reports.
//!
//! ```text
//! kosoku -m fuzzingserver 127.0.0.1:9001 &
//! cargo run --release -p ws-api --example autobahn_client -- ws://127.0.0.1:9001 ws-api \
//!     [--max-message-size BYTES] [--deflate]
//! ```
//!
//! `--deflate` offers permessage-deflate (the `permessage_deflate` extension option).
//! `--max-message-size` sets the largest message received and sent (the `max_message_size`
//! and `max_send_size` options). A message larger than the send limit (by default the
//! documented 5,242,864 bytes) cannot be echoed: the client closes with 1009 instead.
//! `cargo xtask autobahn` runs it with 64 MiB, and with the defaults, and checks the reports.

use tokio::sync::mpsc;
use ws_api::client::{
    events, MessageData, PermessageDeflate, WebSocketCloseOptions, WebSocketRequestOptions,
    MAX_SEND_SIZE,
};
use ws_api::{code, create_web_socket, BusinessError};

#[tokio::main]
async fn main() -> Result<(), BusinessError> {
    let mut positional = Vec::new();
    let mut max_message_size = None;
    let mut permessage_deflate = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--deflate" {
            permessage_deflate = Some(PermessageDeflate::default());
        } else if arg == "--max-message-size" {
            let value = args.next().and_then(|v| v.parse::<usize>().ok());
            let Some(value) = value else {
                return Err(BusinessError::new(
                    code::PARAMETER_ERROR,
                    "--max-message-size needs a number of bytes",
                ));
            };
            max_message_size = Some(value);
        } else {
            positional.push(arg);
        }
    }
    let mut positional = positional.into_iter();
    let base = positional
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = positional.next().unwrap_or_else(|| "ws-api".into());
    let base = base.trim_end_matches('/');
    let options = WebSocketRequestOptions {
        max_message_size,
        max_send_size: max_message_size,
        permessage_deflate,
        ..Default::default()
    };
    let send_limit = max_message_size.unwrap_or(MAX_SEND_SIZE);

    let count = case_count(base).await?;
    println!("{count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        if let Err(e) = echo(&url, &options, send_limit).await {
            // A case may well end in a failed connection; the report judges it.
            println!("case {case}: {e}");
        }
    }
    let update = format!("{base}/updateReports?agent={agent}");
    run_until_closed(&update, &WebSocketRequestOptions::default(), |_, _| {}).await?;
    println!("reports updated");
    Ok(())
}

async fn case_count(base: &str) -> Result<u32, BusinessError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let url = format!("{base}/getCaseCount");
    run_until_closed(&url, &WebSocketRequestOptions::default(), move |_, data| {
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
async fn echo(
    url: &str,
    options: &WebSocketRequestOptions,
    send_limit: usize,
) -> Result<(), BusinessError> {
    run_until_closed(url, options, move |ws, data| {
        // `send` queues at once, so echoes keep the order of the messages.
        let len = match data {
            MessageData::Text(text) => text.as_bytes().len(),
            MessageData::Binary(bytes) => bytes.len(),
        };
        if len > send_limit {
            let close = WebSocketCloseOptions {
                code: Some(1009),
                reason: Some(format!("message over the {send_limit}-byte send limit")),
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
    options: &WebSocketRequestOptions,
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
    ws.connect_and_wait(url, Some(options.clone())).await?;
    ws.closed().await.map(|_| ())
}
