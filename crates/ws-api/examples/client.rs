//! The reference's client examples in one program: `connect` with options, every event (`open`,
//! `message`, `close`, `error`, `dataEnd`, `headerReceive`), `send` (text and binary), `close`
//! with options, and `off`.
//!
//! ```text
//! cargo run -p ws-api --example client -- ws://127.0.0.1:PORT/ [stop]
//! ```
//!
//! Against the `server` example it also asks for the connection list; with `stop` as second
//! argument it finally asks the server to stop.

use std::time::Duration;

use tokio::sync::mpsc;
use ws_api::client::{events, WebSocketCloseOptions, WebSocketRequestOptions};
use ws_api::{code, create_web_socket, BusinessError};

/// How long to wait for the server's answers before giving up.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BusinessError> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let stop_server = args.next().as_deref() == Some("stop");

    let ws = create_web_socket();
    ws.on(events::HeaderReceive, |headers| {
        println!(
            "headerReceive {} headers, upgrade: {:?}",
            headers.len(),
            headers.get("upgrade")
        );
    });
    ws.on(events::Open, |open| {
        println!("open {} {}", open.status, open.message)
    });
    let (answered, mut answers) = mpsc::unbounded_channel();
    let message_listener = ws.on(events::Message, move |data| {
        println!("message {data:?}");
        let _ = answered.send(());
    });
    ws.on(events::DataEnd, |_| println!("dataEnd"));
    ws.on(events::Close, |close| {
        println!("close {} {:?}", close.code, close.reason)
    });
    ws.on(events::Error, |err| {
        println!("error {}: {}", err.code, err.message)
    });

    let options = WebSocketRequestOptions {
        header: vec![("X-Example".into(), "client".into())],
        ..Default::default()
    };
    ws.connect_and_wait(&url, Some(options)).await?;
    println!("protocol {:?}", ws.protocol());
    ws.send_text("Hello, server").await?;
    ws.send_binary(&[0xde, 0xad, 0xbe, 0xef]).await?;
    ws.send_text("list").await?;
    // The server answers each of the three; it may also close first.
    let three_answers = async {
        for _ in 0..3 {
            answers.recv().await;
        }
    };
    tokio::select! {
        waited = tokio::time::timeout(ANSWER_TIMEOUT, three_answers) => {
            if waited.is_err() {
                let _ = ws.close(None).await;
                return Err(BusinessError::new(
                    code::UNKNOWN,
                    format!("the server did not answer within {ANSWER_TIMEOUT:?}"),
                ));
            }
        }
        ended = ws.closed() => {
            let closed = ended?;
            println!("the server closed first: {} {:?}", closed.code, closed.reason);
            return Ok(());
        }
    }
    ws.off(events::Message, Some(message_listener));
    if stop_server {
        ws.send_text("stop").await?;
    }
    let close = WebSocketCloseOptions {
        code: Some(1000),
        reason: Some("done".into()),
    };
    ws.close(Some(close)).await?;
    // The closing handshake ends (or times out, 5 s) and the close listener has run.
    let closed = ws.closed().await?;
    println!("closed cleanly: {}", closed.code == 1000);
    Ok(())
}
