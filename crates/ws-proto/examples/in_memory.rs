//! A client and a server talking through ws-proto alone, in memory: the opening handshake, a few
//! messages both ways (one of them fragmented), a ping, and the closing handshake. Every byte that
//! would cross the network is passed by hand, which is all a transport does.
//!
//! Run it with `cargo run -p ws-proto --example in_memory`.

use std::num::NonZeroUsize;
use std::time::Instant;

use ws_proto::handshake::{ClientHandshake, ClientRequest, ServerHandshake, WsUrl};
use ws_proto::{CloseCode, Config, Connection, Event, Message, Role};

fn main() {
    // Opening handshake.
    let url = WsUrl::parse("ws://localhost:9001/chat").expect("valid URL");
    let request = ClientRequest::new(url)
        .protocol("chat")
        .expect("a valid protocol name");
    let mut client_hs = ClientHandshake::new(&request);
    println!(
        "client -> server: {} bytes of handshake request",
        client_hs.request_bytes().len()
    );
    let mut server_hs = ServerHandshake::default();
    let offer = server_hs
        .receive_data(client_hs.request_bytes())
        .expect("valid request")
        .expect("complete request");
    let protocol = offer.choose_protocol(&["chat"]);
    let answer = offer
        .accept_response(protocol.as_deref(), &[])
        .expect("acceptable request");
    let done = client_hs
        .receive_data(&answer)
        .expect("valid response")
        .expect("complete response");
    println!(
        "server -> client: {} {} (protocol {:?})",
        done.response.status, done.response.reason, done.response.protocol
    );

    let config = Config::default().max_send_frame_size(NonZeroUsize::new(8));
    let mut client = Connection::new(Role::Client, config.clone());
    let mut server = Connection::new(Role::Server, config);

    client.send_text("hello, server").unwrap(); // 13 bytes: sent as two frames of at most 8
    client.send_binary(&[0xde, 0xad, 0xbe, 0xef]).unwrap();
    client.ping(b"rtt").unwrap();
    transfer("client", &mut client, "server", &mut server);
    // The server echoes every message; the pong for the ping is already queued.
    server.send_text("hello, client").unwrap();
    transfer("server", &mut server, "client", &mut client);

    client
        .close(CloseCode::NORMAL, "bye", Instant::now())
        .unwrap();
    transfer("client", &mut client, "server", &mut server);
    transfer("server", &mut server, "client", &mut client);
}

/// Moves everything `from` has to send to `to`, and prints what `to` makes of it.
fn transfer(from_name: &str, from: &mut Connection, to_name: &str, to: &mut Connection) {
    let bytes = from.take_output();
    println!("{from_name} -> {to_name}: {} bytes", bytes.len());
    to.receive_data(&bytes);
    while let Some(event) = to.next_event() {
        match event {
            Event::Message(Message::Text(text)) => {
                println!("  {to_name} got text {:?}", text.as_str())
            }
            Event::Message(Message::Binary(data)) => println!("  {to_name} got binary {data:02x?}"),
            Event::Ping(payload) => println!("  {to_name} got ping {payload:?} (pong queued)"),
            Event::Pong(payload) => println!("  {to_name} got pong {payload:?}"),
            Event::Closed(status) => println!(
                "  {to_name}: connection closed, code {}, reason {:?}, clean {}",
                status.code, status.reason, status.clean
            ),
            other => println!("  {to_name}: {other:?}"),
        }
    }
}
