//! Peers that flood a connection and never read: whatever they send, the connection's memory
//! stays bounded (its own buffered-byte counters say so), and the closing handshake still ends
//! within the close timeout.

mod support;

use std::time::Duration;

use support::{client_frame, raw_ws_client, within};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use ws_net::server::{Server, ServerConfig};
use ws_net::{CloseCode, ConnectionConfig, Incoming, Sender};
use ws_proto::frame::OpCode;

/// Writes `frame` to `socket` again and again until the peer stops taking it (no write
/// completes for half a second) or `max_bytes` went out; returns the bytes written.
async fn flood(socket: &mut TcpStream, frame: &[u8], max_bytes: usize) -> usize {
    let batch: Vec<u8> = frame.repeat((64 * 1024 / frame.len()).max(1));
    let mut written = 0;
    while written < max_bytes {
        match tokio::time::timeout(Duration::from_millis(500), socket.write_all(&batch)).await {
            Ok(Ok(())) => written += batch.len(),
            Ok(Err(_)) | Err(_) => break,
        }
    }
    written
}

/// A server whose connections echo every message (waiting for room, as `send` does); hands
/// each connection's sender to the test.
async fn echo_server(config: ConnectionConfig) -> (u16, tokio::sync::mpsc::Receiver<Sender>) {
    let config = ServerConfig::default().connection(config);
    let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let port = server.local_addr().port();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(client) = server.accept().await {
            let Ok(client) = client else { continue };
            let mut connection = client.connection;
            let _ = tx.send(connection.sender().clone()).await;
            tokio::spawn(async move {
                while let Some(incoming) = connection.recv().await {
                    if let Incoming::Message(message) = incoming {
                        if connection.send(message).await.is_err() {
                            break;
                        }
                    }
                }
            });
        }
    });
    (port, rx)
}

fn bound(config: &ConnectionConfig, largest_message: usize) -> (usize, usize) {
    // Output: the write bound, plus one message (a message is never split to fit) and the
    // pongs that may wait unwritten (16, and the answer to the latest ping).
    let output = config.write_buffer_limit + largest_message + 17 * 131;
    // Input: the receive queue, one message beyond it, and one read.
    let input = config.receive_queue_limit + largest_message + 64 * 1024;
    (output, input)
}

/// Floods an echo server's connection with `frame` from a client that never reads; checks the
/// connection's buffered-byte counters against the bounds and returns the bytes sent.
async fn flood_an_echo_server(what: &str, frame: &[u8], largest_message: usize) -> usize {
    let config = ConnectionConfig::default();
    let (port, mut senders) = echo_server(config.clone()).await;
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut peer = raw_ws_client(addr, "/").await;
    let sender = within("accept", senders.recv()).await.unwrap();
    let sent = flood(&mut peer, frame, 256 << 20).await;
    let (max_output, max_input) = bound(&config, largest_message);
    let (output, input) = (sender.buffered_len(), sender.received_len());
    eprintln!("{what} flood of {sent} bytes: {output} to write, {input} received");
    assert!(output <= max_output, "{what}: {output} bytes to write");
    assert!(input <= max_input, "{what}: {input} bytes received");
    // The connection is still alive: a close reaches the closing state at once.
    within("close", sender.close(CloseCode::NORMAL, "enough"))
        .await
        .unwrap();
    sent
}

#[tokio::test]
async fn a_ping_flood_from_a_peer_that_never_reads_stays_bounded() {
    let ping = client_frame(true, OpCode::Ping, &[0x55; 125]);
    // Far more pongs than the socket buffers could hold if each ping got its own.
    let sent = flood_an_echo_server("ping", &ping, 0).await;
    assert!(
        sent > 4 << 20,
        "the flood went on long enough to matter ({sent} bytes)"
    );
}

#[tokio::test]
async fn a_message_flood_from_a_peer_that_never_reads_stays_bounded() {
    let message = client_frame(true, OpCode::Binary, &[7; 1000]);
    let sent = flood_an_echo_server("message", &message, 1000).await;
    assert!(
        sent > 1 << 20,
        "the flood went on long enough to matter ({sent} bytes)"
    );
}

#[tokio::test]
async fn close_ends_within_the_close_timeout_when_the_peer_stopped_reading() {
    let mut config = ConnectionConfig::default();
    config.protocol.close_timeout = Duration::from_secs(1);
    let (port, mut senders) = echo_server(config.clone()).await;
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut peer = raw_ws_client(addr, "/").await;
    let sender = within("accept", senders.recv()).await.unwrap();
    // Fill the server's write buffer: the peer never reads the echoes.
    let message = client_frame(true, OpCode::Binary, &[7; 16 * 1024]);
    flood(&mut peer, &message, 64 << 20).await;
    assert!(sender.buffered_len() >= config.write_buffer_limit);
    let started = tokio::time::Instant::now();
    // Resolves although the Close frame cannot be written: the close timeout ends it.
    within("close", sender.close(CloseCode::NORMAL, "bye"))
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(waited <= config.protocol.close_timeout * 3, "{waited:?}");
    assert!(sender.is_closed());
    drop(peer);
}

#[tokio::test]
async fn a_client_flooded_with_pings_by_a_server_that_never_reads_stays_bounded() {
    let config = ConnectionConfig::default();
    let (client, mut peer) = support::client_with_raw_peer(config.clone()).await;
    // The application reads everything, so nothing but the pongs can hold the flood back.
    let (sender, mut receiver) = client.split();
    let reading = tokio::spawn(async move { while receiver.recv().await.is_some() {} });
    let ping = support::server_frame(true, OpCode::Ping, &[0x33; 125]);
    let sent = flood(&mut peer, &ping, 128 << 20).await;
    let (max_output, max_input) = bound(&config, 0);
    assert!(
        sender.buffered_len() <= max_output,
        "{} bytes to write",
        sender.buffered_len()
    );
    assert!(
        sender.received_len() <= max_input,
        "{} bytes received",
        sender.received_len()
    );
    assert!(
        sent > 4 << 20,
        "the flood went on long enough to matter ({sent} bytes)"
    );
    drop(peer);
    within("the end", reading).await.unwrap();
}

#[tokio::test]
async fn two_peers_that_both_send_more_than_the_socket_buffers_hold_do_not_deadlock() {
    let (client, server) = support::connection_pair(Default::default(), Default::default()).await;
    // Each side sends 32 MiB while a task of its own reads what the other sends.
    let exchange = |connection: ws_net::Connection| async move {
        let (sender, mut receiver) = connection.split();
        let reading = tokio::spawn(async move {
            let mut received = 0usize;
            while received < 32 << 20 {
                match receiver.recv().await {
                    Some(Incoming::Message(m)) => received += m.len(),
                    Some(_) => {}
                    None => break,
                }
            }
            received
        });
        let chunk = vec![0x5a; 256 * 1024];
        for _ in 0..128 {
            sender.send_binary(&chunk).await.unwrap();
        }
        reading.await.unwrap()
    };
    let (a, b) = within("the exchange", async {
        tokio::join!(exchange(client), exchange(server))
    })
    .await;
    assert_eq!((a, b), (32 << 20, 32 << 20));
}

#[tokio::test]
async fn a_ping_that_arrives_while_the_application_holds_a_message_is_still_answered() {
    let (mut client, mut peer) = support::client_with_raw_peer(ConnectionConfig::default()).await;
    peer.write_all(&support::server_frame(true, OpCode::Text, b"work"))
        .await
        .unwrap();
    assert!(matches!(
        within("message", client.recv()).await,
        Some(Incoming::Message(_))
    ));
    // The application is busy with it from now on and never calls recv again.
    tokio::time::sleep(Duration::from_millis(100)).await;
    peer.write_all(&support::server_frame(true, OpCode::Ping, b"there?"))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let pong = within("the pong", support::read_exact_or_eof(&mut peer, 8)).await;
    assert_eq!(pong[..2], [0x8A, 0x86]);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    drop(client);
}

#[tokio::test]
async fn a_connection_whose_receiver_was_dropped_reads_on_to_the_peers_close() {
    let (client, mut peer) = support::client_with_raw_peer(ConnectionConfig::default()).await;
    let (sender, mut receiver) = client.split();
    // A small message, then one much larger than the receive queue, then the Close frame.
    let mut wire = support::server_frame(true, OpCode::Text, b"first");
    wire.extend(support::server_frame(
        true,
        OpCode::Binary,
        &vec![1; 2 << 20],
    ));
    wire.extend(support::server_frame(
        true,
        OpCode::Close,
        &1000u16.to_be_bytes(),
    ));
    let writing = tokio::spawn(async move {
        peer.write_all(&wire).await.unwrap();
        peer
    });
    assert!(matches!(
        within("message", receiver.recv()).await,
        Some(Incoming::Message(_))
    ));
    // Let the large frame start arriving while the application holds the first message.
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(receiver);
    let mut peer = within("the peer's writes", writing).await.unwrap();
    let answer = within("the close answer", support::read_exact_or_eof(&mut peer, 2)).await;
    assert_eq!(answer, [0x88, 0x82]);
    drop(sender);
}

#[tokio::test]
async fn a_receive_queue_of_one_byte_still_delivers_everything() {
    let config = ConnectionConfig::default().receive_queue_limit(1);
    let (mut client, mut peer) = support::client_with_raw_peer(config).await;
    let mut wire = Vec::new();
    for i in 0..20u32 {
        wire.extend(support::server_frame(
            true,
            OpCode::Binary,
            &i.to_be_bytes(),
        ));
    }
    // Pieces that end inside a frame header, so that a read leaves half a header buffered.
    let writing = tokio::spawn(async move {
        for piece in wire.chunks(7) {
            peer.write_all(piece).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        peer
    });
    for i in 0..20u32 {
        match within("a message", client.recv()).await {
            Some(Incoming::Message(m)) => assert_eq!(m.as_bytes(), i.to_be_bytes()),
            other => panic!("message {i}: {other:?}"),
        }
    }
    drop(within("the writes", writing).await.unwrap());
}
