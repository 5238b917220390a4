//! The client side of the Autobahn TestSuite, on ws-net: asks a fuzzing server for its case
//! count, runs every case (echoing each message back, text as text, binary as binary), then
//! asks for the reports.
//!
//! ```text
//! kosoku -m fuzzingserver 127.0.0.1:9001 &
//! cargo run --release -p ws-net --example autobahn_client_net -- ws://127.0.0.1:9001 ws-net \
//!     [--deflate]
//! ```
//!
//! `--deflate` offers permessage-deflate. `cargo xtask autobahn` runs it and checks the reports.

use ws_net::client::{connect, ClientConfig};
use ws_net::ws_proto::deflate::DeflateConfig;
use ws_net::{Incoming, Message};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let mut positional = Vec::new();
    let mut config = ClientConfig::default();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--deflate" => config = config.deflate(Some(DeflateConfig::default())),
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    let base = positional
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = positional.next().unwrap_or_else(|| "ws-net".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(base.trim_end_matches('/'), &agent, &config))
}

async fn run(base: &str, agent: &str, config: &ClientConfig) -> Result<()> {
    let config = config.clone();
    let count = case_count(base, &config).await?;
    println!("{count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        if let Err(e) = echo(&url, &config).await {
            // A case may well end in a failed connection; the report judges it.
            println!("case {case}: {e}");
        }
    }
    let (mut reports, _) = connect(&format!("{base}/updateReports?agent={agent}"), &config).await?;
    while reports.recv().await.is_some() {}
    println!("reports updated");
    Ok(())
}

async fn case_count(base: &str, config: &ClientConfig) -> Result<u32> {
    let (mut connection, _) = connect(&format!("{base}/getCaseCount"), config).await?;
    let mut count = None;
    while let Some(incoming) = connection.recv().await {
        if let Incoming::Message(Message::Text(text)) = incoming {
            count = Some(text.as_str().trim().parse()?);
        }
    }
    Ok(count.ok_or("the fuzzing server sent no case count")?)
}

/// Echoes every message until the connection closes.
async fn echo(url: &str, config: &ClientConfig) -> Result<()> {
    let (mut connection, _) = connect(url, config).await?;
    while let Some(incoming) = connection.recv().await {
        if let Incoming::Message(message) = incoming {
            if connection.send(message).await.is_err() {
                break;
            }
        }
    }
    Ok(())
}
