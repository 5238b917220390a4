//! A server whose clients join the topic of their path, and clients that read with a bound on
//! the wait: what the topics tests share.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use crate::support::{until, within};
use ws_api::server::{events, WebSocketConnection, WebSocketServerConfig};
use ws_api::{create_web_socket_server, MessageData, WebSocketServer};
use ws_net::client::{connect, ClientConfig};
use ws_net::{Connection, Incoming, Message};

/// A server whose clients join the topic of their path (without its leading `/`) when they
/// connect and publish there every message they send: a chat with one room per path.
pub struct Rooms {
    pub server: WebSocketServer,
    pub port: u16,
    /// The connections, in the order they joined their topic.
    joined: Arc<Mutex<Vec<WebSocketConnection>>>,
}

fn topic_of(path: &str) -> String {
    path.strip_prefix('/').unwrap_or(path).to_owned()
}

impl Rooms {
    pub async fn start(config: WebSocketServerConfig) -> Rooms {
        let server = create_web_socket_server();
        let joined = Arc::new(Mutex::new(Vec::new()));
        let (weak, record) = (server.downgrade(), Arc::clone(&joined));
        server.on(events::Connect, move |connection| {
            let server = weak.upgrade().unwrap();
            let topic = topic_of(&server.request_path(connection).unwrap());
            server.subscribe(connection, &topic).unwrap();
            record.lock().unwrap().push(connection.clone());
        });
        let weak = server.downgrade();
        server.on(events::MessageReceive, move |message| {
            let server = weak.upgrade().unwrap();
            let from = &message.client_connection;
            let topic = topic_of(&server.request_path(from).unwrap());
            server.publish(&topic, message.data.clone()).unwrap();
        });
        assert_eq!(within("start", server.start(config)).await, Ok(true));
        let port = server.local_port().unwrap();
        Rooms {
            server,
            port,
            joined,
        }
    }

    /// A client on `path`, once the server subscribed it, and its connection on the server.
    pub async fn join(&self, path: &str) -> (Connection, WebSocketConnection) {
        let before = self.joined.lock().unwrap().len();
        let url = format!("ws://127.0.0.1:{}{path}", self.port);
        let (client, _) = within("connect", connect(&url, &ClientConfig::default()))
            .await
            .unwrap();
        until("the subscription", || {
            self.joined.lock().unwrap().len() > before
        })
        .await;
        let connection = self.joined.lock().unwrap()[before].clone();
        (client, connection)
    }
}

/// The next message `client` receives, as text (pings and pongs skipped).
pub async fn next_text(client: &mut Connection) -> String {
    loop {
        match within("a message", client.recv()).await {
            Some(Incoming::Message(Message::Text(text))) => return text.as_str().to_owned(),
            Some(Incoming::Ping(_) | Incoming::Pong(_)) => {}
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

pub fn text(s: &str) -> MessageData {
    MessageData::Text(s.into())
}
