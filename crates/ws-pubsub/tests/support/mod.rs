//! A WebSocket server on loopback whose accepted connections are handed to the test, and
//! clients that read with a bound on the wait.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;
use ws_net::client::{connect, ClientConfig};
use ws_net::server::{Server, ServerConfig};
use ws_net::{CloseStatus, Connection, Incoming, Message, Receiver, Sender};

/// How long any single network wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// A server whose connections come out of [`Harness::accept`].
pub struct Harness {
    pub addr: SocketAddr,
    accepted: mpsc::UnboundedReceiver<(Sender, Receiver)>,
}

impl Harness {
    pub async fn start() -> Harness {
        let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
            .await
            .expect("bind on loopback");
        let addr = server.local_addr();
        let (tx, accepted) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(accepted) = server.accept().await {
                match accepted {
                    Ok(client) => {
                        if tx.send(client.connection.split()).is_err() {
                            return;
                        }
                    }
                    Err(rejected) => eprintln!("{rejected}"),
                }
            }
        });
        Harness { addr, accepted }
    }

    /// A client connected to this server, and the server's halves of its connection.
    pub async fn client_with(&mut self, config: &ClientConfig) -> (Connection, Sender, Receiver) {
        let url = format!("ws://{}/", self.addr);
        let (client, _) = tokio::time::timeout(WAIT, connect(&url, config))
            .await
            .expect("connect timed out")
            .expect("connect");
        let (sender, receiver) = tokio::time::timeout(WAIT, self.accepted.recv())
            .await
            .expect("accept timed out")
            .expect("server running");
        (client, sender, receiver)
    }

    pub async fn client(&mut self) -> (Connection, Sender, Receiver) {
        self.client_with(&ClientConfig::default()).await
    }
}

/// A text message.
pub fn text(s: &str) -> Message {
    Message::Text(s.into())
}

/// The next message `client` receives (pings and pongs skipped); panics on anything else or
/// after [`WAIT`].
pub async fn next_message(client: &mut Connection) -> Message {
    loop {
        match tokio::time::timeout(WAIT, client.recv()).await {
            Ok(Some(Incoming::Message(message))) => return message,
            Ok(Some(Incoming::Ping(_) | Incoming::Pong(_))) => {}
            Ok(other) => panic!("expected a message, got {other:?}"),
            Err(_) => panic!("no message within {WAIT:?}"),
        }
    }
}

/// The next text message `client` receives.
pub async fn next_text(client: &mut Connection) -> String {
    match next_message(client).await {
        Message::Text(text) => text.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Reads until the connection ends and returns how, skipping messages; panics after [`WAIT`].
pub async fn closed(client: &mut Connection) -> CloseStatus {
    let reading = async {
        loop {
            match client.recv().await {
                Some(Incoming::Closed(status)) => return status,
                Some(_) => {}
                None => panic!("connection ended without a close status"),
            }
        }
    };
    tokio::time::timeout(WAIT, reading)
        .await
        .expect("connection not closed in time")
}

/// Waits until `condition` holds, checking every few milliseconds; panics after [`WAIT`]
/// naming `what`.
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
