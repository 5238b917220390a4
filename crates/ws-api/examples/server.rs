//! The reference's server examples in one program: `start`, the `connect`, `messageReceive`,
//! `close` and `error` events, `send`, `listAllConnections`, `close` and `stop`.
//!
//! ```text
//! cargo run -p ws-api --example server -- [IP [PORT]]    (default 127.0.0.1, a free port)
//! ```
//!
//! It echoes every message. Three texts are commands: `list` answers with the connected
//! clients, `close me` closes the sender's connection, `stop` stops the server (and the program)
//! once the connected clients have closed, or after 5 s.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use ws_api::client::MessageData;
use ws_api::server::{events, WebSocketServerConfig};
use ws_api::{create_web_socket_server, BusinessError};

/// How long the clients have to finish their own closing handshakes before the server stops.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BusinessError> {
    let mut args = std::env::args().skip(1);
    let ip = args.next().unwrap_or_else(|| "127.0.0.1".into());
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);

    let server = create_web_socket_server();
    let stop = Arc::new(Notify::new());
    let closes = Arc::new(Notify::new());

    server.on(events::Connect, |connection| {
        println!(
            "connect {}:{}",
            connection.client_ip, connection.client_port
        );
    });
    let closed = Arc::clone(&closes);
    server.on(events::Close, move |close| {
        println!(
            "close {}:{} {} {:?}",
            close.client_connection.client_ip,
            close.client_connection.client_port,
            close.close_reason.code,
            close.close_reason.reason
        );
        closed.notify_one();
    });
    server.on(events::Error, |err| {
        println!("error {}: {}", err.code, err.message)
    });
    // A weak handle: the listener must not keep its own server alive.
    let handler = server.downgrade();
    let stopper = Arc::clone(&stop);
    server.on(events::MessageReceive, move |message| {
        println!("messageReceive {:?}", message.data);
        let Some(server) = handler.upgrade() else {
            return;
        };
        let from = &message.client_connection;
        // `send` and `close` start at the call, so answers keep the order of the messages; the
        // next message of this client is delivered once the answer has room to be written.
        match &message.data {
            MessageData::Text(text) if text.as_str() == "list" => {
                let list: Vec<String> = server
                    .list_all_connections()
                    .iter()
                    .map(|c| format!("{}:{}", c.client_ip, c.client_port))
                    .collect();
                drop(server.send(MessageData::Text(list.join(",").into()), from));
            }
            MessageData::Text(text) if text.as_str() == "close me" => {
                drop(server.close(from, None));
            }
            MessageData::Text(text) if text.as_str() == "stop" => stopper.notify_one(),
            _ => drop(server.send(message.data.clone(), from)),
        }
    });

    let config = WebSocketServerConfig {
        server_ip: Some(ip.clone()),
        server_port: port,
        ..Default::default()
    };
    server.start(config).await?;
    let port = server.local_port().unwrap_or_default();
    let host = ws_proto::handshake::bracketed_host(&ip);
    println!("listening on ws://{host}:{port}/");
    stop.notified().await;
    // Let the clients finish their own closing handshakes (bounded), then stop: the rest get
    // 1001, and `stop` resolves once every close event is out.
    let clients_gone = async {
        while !server.list_all_connections().is_empty() {
            closes.notified().await;
        }
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, clients_gone).await;
    server.stop().await?;
    println!("stopped");
    Ok(())
}
