//! The `futures` `Stream` and `Sink` of a connection: a `forward` echo server, backpressure,
//! how errors and the end show, and interoperability with tokio-tungstenite.

mod support;

use std::time::Duration;

use futures_util::stream::FusedStream;
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ws_net::client::{connect, ClientConfig};
use ws_net::server::{Server, ServerConfig};
use ws_net::{CloseCode, Connection, ConnectionConfig, Error, Incoming, Message};
use ws_proto::frame::OpCode;
use ws_proto::{ReceiveMode, Role};

use support::{client_with_raw_peer, read_exact_or_eof, server_frame, within};

/// A server on a port the OS picks that echoes every message of each client with
/// `StreamExt::forward`, as tokio-tungstenite servers are written. Each client's `forward`
/// result goes to the returned channel.
async fn forward_echo_server() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<Result<(), Error>>,
) {
    let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let (results, finished) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(client) = server.accept().await {
            let Ok(client) = client else { continue };
            let results = results.clone();
            tokio::spawn(async move {
                // futures' own split (one value behind a lock), not ws-net's halves.
                let (tx, rx) = StreamExt::split(client.connection);
                let _ = results.send(rx.forward(tx).await);
            });
        }
    });
    (url, finished)
}

async fn next_message(conn: &mut Connection) -> Message {
    within("the next message", conn.next())
        .await
        .expect("the stream ended early")
        .expect("the stream failed")
}

#[tokio::test]
async fn a_forward_echo_server_echoes_text_binary_and_large_messages_and_closes_cleanly() {
    let (url, mut finished) = forward_echo_server().await;
    let (mut client, _) = within("connect", connect(&url, &ClientConfig::default()))
        .await
        .unwrap();

    let text = Message::from("hello");
    within("send", client.send(text.clone())).await.unwrap();
    assert_eq!(next_message(&mut client).await, text);
    let binary = Message::from(vec![0u8, 1, 2, 255]);
    within("send", SinkExt::send(&mut client, binary.clone()))
        .await
        .unwrap();
    assert_eq!(next_message(&mut client).await, binary);

    // A ping is answered by the server's background task while it forwards; the pong reaches
    // a receiver that asks for everything...
    within("ping", client.ping(b"are you there")).await.unwrap();
    match within("the pong", client.recv()).await {
        Some(Incoming::Pong(payload)) => assert_eq!(&payload[..], b"are you there"),
        other => panic!("expected the pong, got {other:?}"),
    }
    // ...and is no item of the stream, which goes on with the next message.
    within("ping", client.ping(b"again")).await.unwrap();
    within("send", client.send(Message::from("after the ping")))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut client).await,
        Message::from("after the ping")
    );

    // Large messages, well over the write buffer limit and the socket buffers.
    let large_binary = Message::from((0..4 << 20).map(|i| i as u8).collect::<Vec<u8>>());
    let large_text = Message::from("0123456789abcdef".repeat(64 * 1024).as_str());
    for large in [large_binary, large_text] {
        within(
            "send a large message",
            SinkExt::send(&mut client, large.clone()),
        )
        .await
        .unwrap();
        assert_eq!(next_message(&mut client).await, large);
    }

    // A burst sent while the echoes come back: the server's sink and stream apply backpressure
    // to each other, nothing is lost or reordered.
    let (mut tx, mut rx) = client.split();
    let burst = tokio::spawn(async move {
        for i in 0..200u32 {
            let message = Message::from(vec![(i % 256) as u8; 10_000 + i as usize]);
            tx.feed(message).await.unwrap();
        }
        tx.flush().await.unwrap();
        tx
    });
    for i in 0..200u32 {
        let echoed = within("an echo of the burst", rx.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            echoed,
            Message::from(vec![(i % 256) as u8; 10_000 + i as usize])
        );
    }
    let mut tx = within("the burst", burst).await.unwrap();

    // Closing the sink sends 1000; the server's stream ends, its forward closes its sink (the
    // answer), and the client's stream ends cleanly.
    within("close", SinkExt::close(&mut tx)).await.unwrap();
    assert!(within("the end", rx.next()).await.is_none());
    assert!(rx.is_terminated());
    let status = rx.close_status().expect("the connection has ended");
    assert!(status.clean, "{status:?}");
    assert_eq!(status.code, CloseCode::NORMAL);
    assert!(status.locally_initiated);
    within("the server's forward", finished.recv())
        .await
        .unwrap()
        .expect("the server's forward failed");
    // Sending after the close fails.
    assert!(matches!(
        within("send after close", tx.send(Message::from("late"))).await,
        Err(Error::Closed)
    ));
}

#[tokio::test]
async fn a_tokio_tungstenite_client_talks_to_a_forward_echo_server() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as TCloseCode;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::Message as TMessage;

    let (url, mut finished) = forward_echo_server().await;
    let socket = TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches('/'))
        .await
        .unwrap();
    let (mut ws, _) = within(
        "the tokio-tungstenite handshake",
        tokio_tungstenite::client_async(url.as_str(), socket),
    )
    .await
    .unwrap();

    let large: Vec<u8> = (0..1 << 20).map(|i| (i * 7) as u8).collect();
    let sent = [
        TMessage::text("hello from tungstenite"),
        TMessage::binary(vec![9u8, 8, 7]),
        TMessage::Ping(b"ping payload".to_vec().into()),
        TMessage::binary(large.clone()),
    ];
    for message in sent {
        within("tungstenite send", ws.send(message)).await.unwrap();
    }
    let mut received = Vec::new();
    while received.len() < 4 {
        let message = within("tungstenite receive", ws.next())
            .await
            .expect("the server ended the connection")
            .unwrap();
        received.push(message);
    }
    // ws-net answered the ping in the background, somewhere among the echoes.
    let pongs: Vec<_> = received.iter().filter(|m| m.is_pong()).collect();
    assert_eq!(pongs, [&TMessage::Pong(b"ping payload".to_vec().into())]);
    let echoes: Vec<_> = received.into_iter().filter(|m| !m.is_pong()).collect();
    assert_eq!(
        echoes,
        [
            TMessage::text("hello from tungstenite"),
            TMessage::binary(vec![9u8, 8, 7]),
            TMessage::binary(large),
        ]
    );

    let close = CloseFrame {
        code: TCloseCode::Normal,
        reason: "bye".into(),
    };
    within("tungstenite close", ws.close(Some(close)))
        .await
        .unwrap();
    // The server answers the Close frame with its own (1000) and ends the connection.
    match within("the server's Close frame", ws.next()).await {
        Some(Ok(TMessage::Close(Some(frame)))) => assert_eq!(frame.code, TCloseCode::Normal),
        other => panic!("expected the server's Close frame, got {other:?}"),
    }
    within("the server's forward", finished.recv())
        .await
        .unwrap()
        .expect("the server's forward failed");
}

#[tokio::test]
async fn a_ws_net_client_talks_to_a_tokio_tungstenite_echo_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(socket).await.unwrap();
        let (tx, rx) = ws.split();
        // tokio-tungstenite's idiom: forward data messages only.
        rx.try_filter(|m| std::future::ready(m.is_text() || m.is_binary()))
            .forward(tx)
            .await
    });

    let (conn, _) = within("connect", connect(&url, &ClientConfig::default()))
        .await
        .unwrap();
    // ws-net's own halves as Sink and Stream.
    let (mut tx, mut rx) = conn.split();
    let messages = [
        Message::from("text to tungstenite"),
        Message::from(vec![1u8; 300_000]),
    ];
    for message in &messages {
        within("send", tx.send(message.clone())).await.unwrap();
        let echoed = within("the echo", rx.next()).await.unwrap().unwrap();
        assert_eq!(&echoed, message);
    }
    within("close", SinkExt::close(&mut tx)).await.unwrap();
    assert!(within("the end", rx.next()).await.is_none());
    let status = rx.close_status().unwrap();
    assert!(status.clean, "{status:?}");
    within("the tungstenite server", server)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn the_sink_waits_for_a_peer_that_does_not_read_and_goes_on_when_it_reads() {
    let mut config = ConnectionConfig::default();
    config.write_buffer_limit = 16 * 1024;
    let (conn, peer) = client_with_raw_peer(config).await;
    let (mut sink, _receiver) = conn.split();
    let probe = sink.clone();
    let message = Message::from(vec![7u8; 64 * 1024]);

    // The peer reads nothing: once the socket buffers are full, the write buffer fills and
    // `feed` (poll_ready, then start_send) pends in poll_ready.
    let mut fed = 0usize;
    let pending = loop {
        let mut feed = Box::pin(sink.feed(message.clone()));
        match tokio::time::timeout(Duration::from_millis(300), &mut feed).await {
            Ok(result) => {
                result.unwrap();
                fed += 1;
                assert!(
                    fed < 2_000,
                    "128 MiB queued for a peer that reads nothing: no backpressure"
                );
            }
            Err(_) => break feed,
        }
    };
    let buffered = probe.buffered_len();
    assert!(
        (16 * 1024..=16 * 1024 + 64 * 1024 + 14).contains(&buffered),
        "{buffered} bytes queued: the sink waits once the write buffer holds its limit, and \
         queues one message at most past it"
    );

    // The peer starts reading: the pending send completes, and so does the next.
    let (mut peer_read, _peer_write) = peer.into_split();
    let reader = tokio::spawn(async move {
        let mut total = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match peer_read.read(&mut buf).await {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n as u64,
            }
        }
    });
    within("the pending feed", pending).await.unwrap();
    // `send` also flushes: everything is handed to the socket.
    within("a send", sink.send(message.clone())).await.unwrap();
    assert_eq!(sink.buffered_len(), 0);
    // Closing writes the Close frame (the peer never answers it; the sink does not wait for
    // that).
    within("close", SinkExt::close(&mut sink)).await.unwrap();
    drop((sink, probe));
    reader.abort();
}

#[tokio::test]
async fn a_protocol_violation_is_one_error_then_the_end() {
    let (conn, mut peer) = client_with_raw_peer(ConnectionConfig::default()).await;
    let (_tx, mut rx) = conn.split();
    let mut wire = server_frame(true, OpCode::Text, b"before");
    // FIN, reserved opcode 0x3, no payload.
    wire.extend_from_slice(&[0x83, 0x00]);
    peer.write_all(&wire).await.unwrap();

    assert_eq!(
        within("the message", rx.next()).await.unwrap().unwrap(),
        Message::from("before")
    );
    match within("the error", rx.next()).await {
        Some(Err(Error::Protocol(_))) => {}
        other => panic!("expected a protocol error, got {other:?}"),
    }
    // The client sent Close 1002; the peer goes away without answering.
    let close = read_exact_or_eof(&mut peer, 2).await;
    assert_eq!(close[0], 0x88, "a Close frame");
    drop(peer);
    assert!(within("the end", rx.next()).await.is_none());
    assert!(within("still the end", rx.next()).await.is_none());
    let status = rx.close_status().unwrap();
    assert!(!status.clean);
}

#[tokio::test]
async fn a_vanished_peer_is_one_error_then_the_end() {
    let (conn, peer) = client_with_raw_peer(ConnectionConfig::default()).await;
    let (_tx, mut rx) = conn.split();
    drop(peer);
    match within("the error", rx.next()).await {
        Some(Err(Error::ConnectionLost(_) | Error::Io(_))) => {}
        other => panic!("expected the connection's loss, got {other:?}"),
    }
    assert!(within("the end", rx.next()).await.is_none());
    assert_eq!(rx.close_status().unwrap().code, CloseCode::ABNORMAL);
}

#[tokio::test]
async fn pings_and_pongs_are_no_items_and_a_clean_close_ends_the_stream() {
    let (conn, mut peer) = client_with_raw_peer(ConnectionConfig::default()).await;
    let (_tx, mut rx) = conn.split();
    let mut wire = server_frame(true, OpCode::Ping, b"p");
    wire.extend(server_frame(true, OpCode::Pong, b"unsolicited"));
    wire.extend(server_frame(true, OpCode::Binary, &[1, 2, 3]));
    let mut close = 4001u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"done");
    wire.extend(server_frame(true, OpCode::Close, &close));
    peer.write_all(&wire).await.unwrap();

    assert_eq!(
        within("the message", rx.next()).await.unwrap().unwrap(),
        Message::from(vec![1u8, 2, 3])
    );
    assert!(within("the end", rx.next()).await.is_none());
    let status = rx.close_status().unwrap();
    assert_eq!(status.code.as_u16(), 4001);
    assert_eq!(status.reason, "done");
    // The ping was answered (a masked pong of 1 byte: 2 + 4 + 1 bytes), then the Close frame.
    let answer = within("the pong", read_exact_or_eof(&mut peer, 7)).await;
    assert_eq!(answer[0], 0x8A, "a pong first");
    let answer = within("the Close answer", read_exact_or_eof(&mut peer, 2)).await;
    assert_eq!(answer[0], 0x88, "then the Close frame");
}

#[tokio::test]
async fn a_streaming_mode_connection_yields_one_error_and_leaves_every_piece_to_recv() {
    let mut config = ConnectionConfig::default();
    config.protocol = config.protocol.clone().receive_mode(ReceiveMode::Streaming);
    let (conn, mut peer) = client_with_raw_peer(config).await;
    let (_tx, mut rx) = conn.split();
    peer.write_all(&server_frame(true, OpCode::Text, b"in pieces"))
        .await
        .unwrap();
    match within("the error", rx.next()).await {
        Some(Err(Error::StreamingMode)) => {}
        other => panic!("expected Error::StreamingMode, got {other:?}"),
    }
    assert!(within("the end", rx.next()).await.is_none());
    assert!(rx.is_terminated());
    // Nothing was taken: the piece is still there for `recv`.
    match within("the piece", rx.recv()).await {
        Some(Incoming::Chunk(chunk)) => assert_eq!(&chunk.data[..], b"in pieces"),
        other => panic!("expected the piece, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stream_that_stopped_being_polled_holds_no_pong_up() {
    let (conn, mut peer) = client_with_raw_peer(ConnectionConfig::default()).await;
    let (_tx, mut rx) = conn.split();
    // Poll once and give up: the stream is left waiting, its task's waker stored.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), rx.next())
            .await
            .is_err(),
        "nothing was sent yet"
    );
    // The background task still reads and answers a ping while nobody polls the stream.
    peer.write_all(&server_frame(true, OpCode::Ping, b"x"))
        .await
        .unwrap();
    let pong = within("the pong", read_exact_or_eof(&mut peer, 7)).await;
    assert_eq!(pong[0], 0x8A);
    // And a cancelled `next` lost nothing.
    peer.write_all(&server_frame(true, OpCode::Text, b"kept"))
        .await
        .unwrap();
    assert_eq!(
        within("the message", rx.next()).await.unwrap().unwrap(),
        Message::from("kept")
    );
}

#[tokio::test]
async fn a_connection_as_stream_and_sink_splits_with_futures_and_echoes_itself() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let server = Connection::new(b, Role::Server, ConnectionConfig::default());
    let echo = tokio::spawn(async move {
        let (sink, stream) = StreamExt::split(server);
        stream.forward(sink).await
    });
    let mut client = Connection::new(a, Role::Client, ConnectionConfig::default());
    client.send(Message::from("one")).await.unwrap();
    assert_eq!(next_message(&mut client).await, Message::from("one"));
    SinkExt::close(&mut client).await.unwrap();
    assert!(within("the end", client.next()).await.is_none());
    within("the echo", echo).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_flood_of_pings_is_passed_over_in_turns_and_the_message_behind_it_arrives() {
    let (conn, mut peer) = client_with_raw_peer(ConnectionConfig::default()).await;
    let (_tx, mut rx) = conn.split();
    let mut wire = Vec::new();
    for _ in 0..1_000 {
        wire.extend(server_frame(true, OpCode::Ping, b""));
    }
    wire.extend(server_frame(true, OpCode::Text, b"behind the flood"));
    let (mut peer_read, mut peer_write) = peer.split();
    // Take the pongs as they come, so the client's output never waits on us.
    let drain = async {
        let mut buf = vec![0u8; 64 * 1024];
        while peer_read.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    };
    let receive = async {
        peer_write.write_all(&wire).await.unwrap();
        // The stream yields to other tasks every few dozen pings, and comes back.
        within("the message", rx.next()).await.unwrap().unwrap()
    };
    let message = tokio::select! {
        message = receive => message,
        () = drain => panic!("the client closed the connection"),
    };
    assert_eq!(message, Message::from("behind the flood"));
}
