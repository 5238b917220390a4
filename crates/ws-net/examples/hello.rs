//! A server and a client talk over loopback, on built-in defaults, printing every step.
//!
//! ```text
//! cargo run -p ws-net --example hello
//! ```

use std::time::Duration;

use ws_net::client::{connect, ClientConfig};
use ws_net::server::{Server, ServerConfig};
use ws_net::{CloseCode, Incoming, Message};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = ServerConfig::default();
    config.accept.protocols = vec!["chat".into()];
    let mut server = Server::bind("127.0.0.1:0".parse()?, config).await?;
    let url = format!("ws://{}/hello", server.local_addr());
    println!("server: listening on {url}");

    let server_task = tokio::spawn(async move {
        // Serves the one client this example expects; a client turned away (an invalid request,
        // a limit) is reported and the server waits for the next.
        let mut client = loop {
            match server.accept().await {
                Some(Ok(client)) => break client,
                Some(Err(rejected)) => println!("server: turned away: {rejected}"),
                None => return,
            }
        };
        println!(
            "server: {} connected to {} (protocol {:?})",
            client.remote_addr, client.accepted.request.path, client.accepted.protocol
        );
        while let Some(incoming) = client.connection.recv().await {
            match incoming {
                Incoming::Message(message) => {
                    println!("server: got {}, echoing it", describe(&message));
                    let _ = client.connection.send(message).await;
                }
                Incoming::Ping(payload) => println!("server: ping {payload:?} (answered)"),
                Incoming::Closed(status) => {
                    println!("server: closed: {} {:?}", status.code, status.reason);
                }
                other => println!("server: {other:?}"),
            }
        }
        server.shutdown(Duration::from_secs(1)).await;
    });

    let client_config = ClientConfig::default().protocols(["chat"]);
    let (mut conn, response) = connect(&url, &client_config).await?;
    println!(
        "client: {} {}, protocol {:?}",
        response.status, response.reason, response.protocol
    );
    conn.send_text("hello, server").await?;
    conn.send_binary(&[1, 2, 3, 4]).await?;
    conn.ping(b"are you there?").await?;
    let mut echoes = 0;
    while let Some(incoming) = conn.recv().await {
        match incoming {
            Incoming::Message(message) => {
                println!("client: echo {}", describe(&message));
                echoes += 1;
                if echoes == 2 {
                    conn.close(CloseCode::NORMAL, "bye").await?;
                }
            }
            Incoming::Pong(payload) => println!("client: pong {payload:?}"),
            Incoming::Closed(status) => {
                println!(
                    "client: closed: {} {:?} (clean: {})",
                    status.code, status.reason, status.clean
                );
            }
            other => println!("client: {other:?}"),
        }
    }
    server_task.await?;
    Ok(())
}

fn describe(message: &Message) -> String {
    match message {
        Message::Text(text) => format!("text {:?}", text.as_str()),
        Message::Binary(data) => format!("binary {:?}", &data[..]),
    }
}
