//! Echo check of a WebSocket server over HTTP/2 (RFC 8441).
//!
//! ```text
//! cargo run -p ws-net --features http2 --example h2_client -- URL [--insecure]
//! ```
//!
//! Connects to `URL` over HTTP/2 (cleartext with prior knowledge for `ws://`, ALPN `h2` for
//! `wss://`; `--insecure` accepts any server certificate), fails unless HTTP/2 was used, sends
//! text and binary messages of 0 B, 125 B, 64 KiB and 1 MiB, checks that each comes back
//! unchanged, closes with 1000 and waits for the server's Close. Exits with 0 when all went
//! well, 1 with the reason on stderr otherwise.

use std::process::ExitCode;
use std::time::Duration;

use ws_net::client::{connect, ClientConfig};
use ws_net::http2::Http2;
use ws_net::tls::TlsClientOptions;
use ws_net::ws_proto::handshake::HttpVersion;
use ws_net::{CloseCode, Connection, Incoming, Message};

/// Sizes of the messages sent, each as text and as binary.
const SIZES: [usize; 4] = [0, 125, 64 * 1024, 1024 * 1024];
/// Bound of each wait for the server.
const BOUND: Duration = Duration::from_secs(30);

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut url = None;
    let mut insecure = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--insecure" => insecure = true,
            _ if url.is_none() && !arg.starts_with('-') => url = Some(arg),
            _ => {
                eprintln!("usage: h2_client URL [--insecure]");
                return ExitCode::from(2);
            }
        }
    }
    let Some(url) = url else {
        eprintln!("usage: h2_client URL [--insecure]");
        return ExitCode::from(2);
    };
    match run(&url, insecure).await {
        Ok(()) => {
            println!("ok: every message echoed over HTTP/2, closed cleanly");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("h2_client: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str, insecure: bool) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = ClientConfig::default()
        .http2(Http2::PriorKnowledge)
        .protocols(["echo"]);
    if insecure {
        config = config.tls(
            TlsClientOptions::default()
                .dangerous()
                .accept_any_server_certificate(),
        );
    }
    let (mut connection, response) = connect(url, &config).await?;
    println!(
        "connected: {} {}, subprotocol {:?}",
        response.version, response.status, response.protocol
    );
    if response.version != HttpVersion::Http2 {
        return Err(format!("the server answered over {}, not HTTP/2", response.version).into());
    }
    for size in SIZES {
        let text: String = (0..size)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let binary: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
        for message in [Message::from(text), Message::from(binary)] {
            connection.send(message.clone()).await?;
            let echoed = next_message(&mut connection).await?;
            if echoed != message {
                return Err(format!(
                    "a {:?} message of {size} B came back as {:?} of {} B",
                    message.kind(),
                    echoed.kind(),
                    echoed.len()
                )
                .into());
            }
            println!("echoed: {:?} {size} B", message.kind());
        }
    }
    connection.close(CloseCode::NORMAL, "done").await?;
    loop {
        match tokio::time::timeout(BOUND, connection.recv()).await {
            Err(_) => return Err("the server did not answer the Close frame".into()),
            Ok(Some(Incoming::Closed(status))) if status.clean => {
                println!("closed: {} {:?}", u16::from(status.code), status.reason);
                return Ok(());
            }
            Ok(Some(Incoming::Closed(status))) => {
                return Err(format!("the connection ended uncleanly: {status:?}").into())
            }
            Ok(Some(Incoming::Error(error))) => return Err(error.into()),
            // Messages still in flight, pings and pongs: nothing to check while closing.
            Ok(Some(Incoming::Message(_) | Incoming::Chunk(_))) => {}
            Ok(Some(Incoming::Ping(_) | Incoming::Pong(_))) => {}
            Ok(None) => return Err("the connection ended without a close status".into()),
        }
    }
}

/// The next message, skipping pings and pongs.
async fn next_message(connection: &mut Connection) -> Result<Message, Box<dyn std::error::Error>> {
    loop {
        match tokio::time::timeout(BOUND, connection.recv()).await {
            Err(_) => return Err(format!("no echo within {BOUND:?}").into()),
            Ok(Some(Incoming::Message(message))) => return Ok(message),
            Ok(Some(Incoming::Ping(_) | Incoming::Pong(_))) => {}
            Ok(Some(Incoming::Chunk(_))) => {
                return Err("received a chunk, but the connection is in message mode".into())
            }
            Ok(Some(Incoming::Error(error))) => return Err(error.into()),
            Ok(Some(Incoming::Closed(status))) => {
                return Err(format!("the server closed the connection: {status:?}").into())
            }
            Ok(None) => return Err("the connection is closed".into()),
        }
    }
}
