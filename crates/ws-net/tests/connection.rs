//! A connection over real loopback sockets: messages, split halves, background pongs and
//! closing handshakes, cancellation safety, backpressure, heartbeat and failures.

mod support;

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws_net::{CloseCode, ConnectionConfig, Error, Incoming, Message};
use ws_proto::frame::OpCode;
use ws_proto::{MessageKind, ReceiveMode};

use support::*;

fn message(incoming: Option<Incoming>) -> Message {
    match incoming {
        Some(Incoming::Message(message)) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn closed(incoming: Option<Incoming>) -> ws_net::CloseStatus {
    match incoming {
        Some(Incoming::Closed(status)) => status,
        other => panic!("expected the closure, got {other:?}"),
    }
}

fn error(incoming: Option<Incoming>) -> Error {
    match incoming {
        Some(Incoming::Error(error)) => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn messages_of_every_size_round_trip_both_ways() {
    let (mut client, mut server) =
        connection_pair(ConnectionConfig::default(), ConnectionConfig::default()).await;
    let big: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    within("sending", async {
        client.send_text("hello").await.unwrap();
        client.send_binary(b"").await.unwrap();
        client.send_binary(&big).await.unwrap();
    })
    .await;
    within("receiving", async {
        assert_eq!(message(server.recv().await), Message::Text("hello".into()));
        assert_eq!(message(server.recv().await), Message::Binary(Bytes::new()));
        assert_eq!(message(server.recv().await).as_bytes(), &big[..]);
        server.send_text("¡hola!").await.unwrap();
        assert_eq!(message(client.recv().await), Message::Text("¡hola!".into()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halves_send_and_receive_from_different_tasks() {
    let (client, server) =
        connection_pair(ConnectionConfig::default(), ConnectionConfig::default()).await;
    let (client_tx, mut client_rx) = client.split();
    let (server_tx, mut server_rx) = server.split();
    const N: usize = 2000;
    // The server echoes from one task while the client sends from a second and receives in a
    // third: no half waits for the other.
    let echo = tokio::spawn(async move {
        while let Some(Incoming::Message(m)) = server_rx.recv().await {
            server_tx.send(m).await.unwrap();
        }
    });
    let sender = tokio::spawn(async move {
        for i in 0..N {
            client_tx.send_text(&i.to_string()).await.unwrap();
        }
        client_tx
    });
    within("echoes", async {
        for i in 0..N {
            let m = message(client_rx.recv().await);
            assert_eq!(m, Message::Text(i.to_string().into()));
        }
    })
    .await;
    let client_tx = sender.await.unwrap();
    client_tx.close(CloseCode::NORMAL, "done").await.unwrap();
    assert_eq!(
        within("closure", client_rx.recv())
            .await
            .map(|i| matches!(i, Incoming::Closed(_))),
        Some(true)
    );
    within("echo task", echo).await.unwrap();
}

#[tokio::test]
async fn pongs_go_out_while_the_application_is_not_reading() {
    let (mut client, _server_not_reading) =
        connection_pair(ConnectionConfig::default(), ConnectionConfig::default()).await;
    client.ping(b"anyone?").await.unwrap();
    match within("pong", client.recv()).await {
        Some(Incoming::Pong(payload)) => assert_eq!(&payload[..], b"anyone?"),
        other => panic!("expected a pong, got {other:?}"),
    }
}

#[tokio::test]
async fn the_closing_handshake_completes_while_the_peer_application_is_not_reading() {
    let (mut client, mut server) =
        connection_pair(ConnectionConfig::default(), ConnectionConfig::default()).await;
    client.close(CloseCode::NORMAL, "bye").await.unwrap();
    let status = closed(within("client closure", client.recv()).await);
    assert_eq!(status.code, CloseCode::NORMAL);
    assert!(status.clean && status.locally_initiated);
    assert!(within("end", client.recv()).await.is_none());
    // The server's application learns about it whenever it looks.
    let status = closed(within("server closure", server.recv()).await);
    assert_eq!(
        (status.code, status.reason.as_str()),
        (CloseCode::NORMAL, "bye")
    );
    assert!(status.clean && !status.locally_initiated);
    assert!(matches!(server.send_text("late").await, Err(Error::Closed)));
}

#[tokio::test]
async fn recv_is_cancel_safe_under_select() {
    let (mut client, server) =
        connection_pair(ConnectionConfig::default(), ConnectionConfig::default()).await;
    const N: usize = 300;
    let sender = tokio::spawn(async move {
        for i in 0..N {
            server.send_text(&i.to_string()).await.unwrap();
            if i % 7 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        server
    });
    let mut received = Vec::new();
    let mut cancelled = 0;
    within("all messages", async {
        while received.len() < N {
            tokio::select! {
                incoming = client.recv() => received.push(message(incoming)),
                // Often wins while recv is waiting, dropping its future.
                _ = tokio::time::sleep(Duration::from_micros(500)) => cancelled += 1,
            }
        }
    })
    .await;
    let expected: Vec<Message> = (0..N)
        .map(|i| Message::Text(i.to_string().into()))
        .collect();
    assert_eq!(received, expected, "nothing lost, nothing reordered");
    assert!(
        cancelled > 0,
        "the timer branch never won, so nothing was cancelled"
    );
    drop(sender.await.unwrap());
}

#[tokio::test]
async fn a_peer_that_never_reads_makes_senders_wait_with_bounded_memory() {
    let limit = 64 * 1024;
    let config = ConnectionConfig::default().write_buffer_limit(limit);
    let (client, _peer_never_reads) = client_with_raw_peer(config).await;
    let chunk = vec![7u8; 16 * 1024];
    let mut sent = 0usize;
    let blocked = within("the sender to block", async {
        loop {
            match tokio::time::timeout(Duration::from_millis(300), client.send_binary(&chunk)).await
            {
                Ok(result) => {
                    result.unwrap();
                    sent += chunk.len();
                }
                Err(_) => break true,
            }
            assert!(
                client.sender().buffered_len() <= limit + chunk.len() + 14,
                "buffer grew to {}",
                client.sender().buffered_len()
            );
        }
    })
    .await;
    assert!(blocked);
    // The kernel's socket buffers take some; the rest waits in ours, within the limit.
    assert!(
        sent < 64 << 20,
        "sent {sent} bytes into a peer that never reads"
    );
    assert!(client.sender().buffered_len() >= limit);
}

#[tokio::test]
async fn send_now_queues_in_call_order_past_the_limit_and_writable_waits_for_room() {
    let limit = 16 * 1024;
    let config = ConnectionConfig::default().write_buffer_limit(limit);
    let (client, mut peer) = client_with_raw_peer(config).await;
    let sender = client.sender().clone();
    // Far more than the limit and the kernel's buffers, queued without waiting.
    let big = Message::Binary(Bytes::from(vec![1u8; 8 << 20]));
    sender.send_now(&big).unwrap();
    sender.send_now(&Message::Text("after".into())).unwrap();
    assert!(sender.buffered_len() > limit);
    let waiting = tokio::time::timeout(Duration::from_millis(200), sender.writable()).await;
    assert!(
        waiting.is_err(),
        "writable while the buffer is over the limit"
    );
    // Once the peer reads, the buffer drains and both frames arrive in call order.
    let reader = tokio::spawn(async move {
        let mut got = vec![0u8; 14 + (8 << 20) + 6 + 5];
        peer.read_exact(&mut got).await.unwrap();
        got
    });
    within("room in the buffer", sender.writable())
        .await
        .unwrap();
    let got = within("both frames", reader).await.unwrap();
    assert_eq!(got[0], 0x82, "the binary frame first");
    let text = &got[14 + (8 << 20)..];
    assert_eq!(text[0], 0x81, "then the text frame");
    let mask = [text[2], text[3], text[4], text[5]];
    let payload: Vec<u8> = text[6..]
        .iter()
        .zip(mask.iter().cycle())
        .map(|(b, m)| b ^ m)
        .collect();
    assert_eq!(payload, b"after");
}

#[tokio::test]
async fn the_heartbeat_declares_a_silent_peer_dead() {
    let config = ConnectionConfig::default()
        .ping_interval(Some(Duration::from_millis(100)))
        .pong_timeout(Some(Duration::from_millis(200)));
    let (mut client, mut peer) = client_with_raw_peer(config).await;
    // The peer reads the ping but never answers.
    let ping = read_exact_or_eof(&mut peer, 2).await;
    assert_eq!(ping[0], 0x89, "a ping frame arrives");
    let error = error(within("the failure", client.recv()).await);
    assert!(
        matches!(&error, Error::ConnectionLost(reason) if reason.contains("no pong")),
        "{error}"
    );
    let status = closed(within("the closure", client.recv()).await);
    assert_eq!(status.code, CloseCode::ABNORMAL);
    assert!(status.reason.contains("no pong"), "{}", status.reason);
}

#[tokio::test]
async fn a_peer_that_answers_pings_stays_connected() {
    let config = ConnectionConfig::default()
        .ping_interval(Some(Duration::from_millis(50)))
        .pong_timeout(Some(Duration::from_millis(50)));
    let (mut client, _server_not_reading) =
        connection_pair(config, ConnectionConfig::default()).await;
    for _ in 0..5 {
        match within("a heartbeat pong", client.recv()).await {
            Some(Incoming::Pong(_)) => {}
            other => panic!("expected a pong, got {other:?}"),
        }
    }
    client.send_text("still here").await.unwrap();
}

#[tokio::test]
async fn a_protocol_violation_fails_the_connection_with_1002() {
    let (mut client, mut peer) = client_with_raw_peer(ConnectionConfig::default()).await;
    peer.write_all(&server_frame(true, OpCode::Text, b"fine"))
        .await
        .unwrap();
    // Servers must not mask their frames.
    peer.write_all(&client_frame(true, OpCode::Text, b"masked"))
        .await
        .unwrap();
    assert_eq!(
        message(within("message", client.recv()).await),
        Message::Text("fine".into())
    );
    assert!(matches!(
        error(within("error", client.recv()).await),
        Error::Protocol(_)
    ));
    assert_eq!(
        closed(within("closure", client.recv()).await).code,
        CloseCode::ABNORMAL
    );
    // The peer is told why: a Close frame with 1002, then the end of the stream.
    let mut wire = Vec::new();
    within("close frame", peer.read_to_end(&mut wire))
        .await
        .unwrap();
    assert_eq!(wire[0], 0x88);
    assert_eq!(wire[1] & 0x80, 0x80, "a client masks its frames");
    let code = u16::from_be_bytes([wire[6] ^ wire[2], wire[7] ^ wire[3]]);
    assert_eq!(code, 1002);
}

#[tokio::test]
async fn a_vanishing_peer_ends_with_1006_after_its_last_message() {
    let (mut client, mut peer) = client_with_raw_peer(ConnectionConfig::default()).await;
    peer.write_all(&server_frame(true, OpCode::Binary, b"last"))
        .await
        .unwrap();
    drop(peer);
    assert_eq!(
        message(within("message", client.recv()).await),
        Message::Binary(Bytes::from_static(b"last"))
    );
    assert!(matches!(
        error(within("error", client.recv()).await),
        Error::ConnectionLost(_)
    ));
    let status = closed(within("closure", client.recv()).await);
    assert_eq!(status.code, CloseCode::ABNORMAL);
    assert!(!status.clean);
    assert!(within("end", client.recv()).await.is_none());
    assert!(client.send_text("anyone?").await.is_err());
}

#[tokio::test]
async fn dropping_every_handle_closes_with_1001() {
    let (client, mut server) =
        connection_pair(ConnectionConfig::default(), ConnectionConfig::default()).await;
    let (tx, rx) = client.split();
    let tx2 = tx.clone();
    drop(tx);
    drop(rx);
    tx2.send_text("from the last sender").await.unwrap();
    drop(tx2);
    assert_eq!(
        message(within("message", server.recv()).await),
        Message::Text("from the last sender".into())
    );
    let status = closed(within("closure", server.recv()).await);
    assert_eq!(status.code, CloseCode::GOING_AWAY);
}

#[tokio::test]
async fn streaming_mode_hands_out_chunks_as_they_arrive() {
    let mut server_config = ConnectionConfig::default();
    server_config.protocol.receive_mode = ReceiveMode::Streaming;
    let (client, mut server) = connection_pair(ConnectionConfig::default(), server_config).await;
    client
        .sender()
        .send_fragment(MessageKind::Binary, b"part one,", false)
        .await
        .unwrap();
    let mut data = Vec::new();
    loop {
        match within("chunk", server.recv()).await {
            Some(Incoming::Chunk(chunk)) => {
                data.extend_from_slice(&chunk.data);
                if data.len() == 9 {
                    assert!(!chunk.message_finished);
                    break;
                }
            }
            other => panic!("expected a chunk, got {other:?}"),
        }
    }
    client
        .sender()
        .send_fragment(MessageKind::Binary, b" part two", true)
        .await
        .unwrap();
    loop {
        match within("chunk", server.recv()).await {
            Some(Incoming::Chunk(chunk)) => {
                data.extend_from_slice(&chunk.data);
                if chunk.message_finished {
                    break;
                }
            }
            other => panic!("expected a chunk, got {other:?}"),
        }
    }
    assert_eq!(data, b"part one, part two");
}

#[tokio::test]
async fn invalid_sends_are_refused_with_a_reason() {
    let (client, _server) =
        connection_pair(ConnectionConfig::default(), ConnectionConfig::default()).await;
    assert!(matches!(client.ping(&[0; 126]).await, Err(Error::Send(_))));
    assert!(matches!(
        client.close(CloseCode::ABNORMAL, "").await,
        Err(Error::Send(_))
    ));
    assert!(matches!(
        client.close(CloseCode::NORMAL, &"x".repeat(124)).await,
        Err(Error::Send(_))
    ));
    client.send_text("still open").await.unwrap();
}

#[tokio::test]
async fn large_messages_stay_intact_while_the_application_holds_earlier_ones() {
    let (client, mut server) =
        connection_pair(ConnectionConfig::default(), ConnectionConfig::default()).await;
    // Receive buffers are reused between large messages; messages the application still holds
    // must never be overwritten by later ones.
    let payload = |i: u8| vec![i; 300_000 + usize::from(i) * 1000];
    let sender = tokio::spawn(async move {
        for i in 0..12u8 {
            client.send_binary(&payload(i)).await.unwrap();
        }
        client
    });
    let mut held = Vec::new();
    for i in 0..12u8 {
        let m = message(within("large message", server.recv()).await);
        assert_eq!(m.as_bytes(), &payload(i)[..]);
        held.push(m);
        if i % 3 == 2 {
            // Let go of some, keep the others.
            held.remove(0);
        }
    }
    for m in &held {
        let first = m.as_bytes()[0];
        assert!(m.as_bytes().iter().all(|&b| b == first));
        assert_eq!(m.len(), payload(first).len());
    }
    drop(sender.await.unwrap());
}

#[tokio::test]
async fn pongs_go_out_after_a_cancelled_recv_while_nobody_reads() {
    let (mut client, mut server) =
        connection_pair(ConnectionConfig::default(), ConnectionConfig::default()).await;
    // The application waits for a message, gives up, and then does not read any more.
    tokio::select! {
        incoming = client.recv() => panic!("nothing was sent, got {incoming:?}"),
        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
    }
    server.ping(b"still there?").await.unwrap();
    match within("pong", server.recv()).await {
        Some(Incoming::Pong(payload)) => assert_eq!(&payload[..], b"still there?"),
        other => panic!("expected a pong, got {other:?}"),
    }
    // Nothing was lost on the client's side either.
    server.send_text("later").await.unwrap();
    match within("ping event", client.recv()).await {
        Some(Incoming::Ping(payload)) => assert_eq!(&payload[..], b"still there?"),
        other => panic!("expected the ping, got {other:?}"),
    }
    assert_eq!(
        message(within("message", client.recv()).await),
        Message::Text("later".into())
    );
}

#[tokio::test]
async fn messages_before_a_violation_are_answered_before_the_close_frame() {
    let (mut client, mut peer) = client_with_raw_peer(ConnectionConfig::default()).await;
    // A valid message, then a frame with a reserved bit set, in one write.
    let mut wire = server_frame(true, OpCode::Text, b"first");
    wire.extend_from_slice(&[0xA1, 0x00]);
    peer.write_all(&wire).await.unwrap();
    let first = message(within("message", client.recv()).await);
    client.send(first).await.unwrap();
    assert!(matches!(
        error(within("error", client.recv()).await),
        Error::Protocol(_)
    ));
    assert_eq!(
        closed(within("closure", client.recv()).await).code,
        CloseCode::ABNORMAL
    );
    let mut got = Vec::new();
    within("echo and close", peer.read_to_end(&mut got))
        .await
        .unwrap();
    // The echo (a masked text frame of 5 bytes), then the Close frame.
    assert_eq!(&got[..2], &[0x81, 0x85]);
    assert_eq!(got[11], 0x88, "{got:?}");
}

#[tokio::test]
async fn messages_before_the_peers_close_are_answered_before_the_close_answer() {
    let (mut client, mut peer) = client_with_raw_peer(ConnectionConfig::default()).await;
    // A message and the Close frame right behind it, in one write.
    let mut wire = server_frame(true, OpCode::Text, b"last");
    wire.extend_from_slice(&server_frame(true, OpCode::Close, &1000u16.to_be_bytes()));
    peer.write_all(&wire).await.unwrap();
    let last = message(within("message", client.recv()).await);
    client.send(last).await.unwrap();
    let status = closed(within("closure", client.recv()).await);
    assert_eq!((status.code, status.clean), (CloseCode::NORMAL, true));
    let mut got = vec![0u8; 2 + 4 + 4 + 2 + 4 + 2];
    within("echo and close answer", peer.read_exact(&mut got))
        .await
        .unwrap();
    // The echo (a masked text frame of 4 bytes), then the Close answer with code 1000.
    assert_eq!(&got[..2], &[0x81, 0x84]);
    assert_eq!(&got[10..12], &[0x88, 0x82], "{got:?}");
}

#[tokio::test]
async fn the_peers_close_is_answered_at_once_when_nothing_waits_to_be_answered() {
    let (mut client, mut peer) = client_with_raw_peer(ConnectionConfig::default()).await;
    peer.write_all(&server_frame(true, OpCode::Close, &1000u16.to_be_bytes()))
        .await
        .unwrap();
    // The application is not reading; the answer goes out anyway.
    let mut answer = [0u8; 2];
    within("close answer", peer.read_exact(&mut answer))
        .await
        .unwrap();
    assert_eq!(answer, [0x88, 0x82]);
    assert_eq!(
        closed(within("closure", client.recv()).await).code,
        CloseCode::NORMAL
    );
}

/// A message and the peer's Close frame arrive together; the application takes `taken` of the
/// message (0 or 1) and then stops reading. The Close answer must still come, long before a
/// peer's usual close timeout.
async fn close_answer_for_an_application_that_stops(taken: usize) {
    let (mut client, mut peer) = client_with_raw_peer(ConnectionConfig::default()).await;
    let mut wire = server_frame(true, OpCode::Text, b"the message");
    wire.extend_from_slice(&server_frame(true, OpCode::Close, &1000u16.to_be_bytes()));
    peer.write_all(&wire).await.unwrap();
    for _ in 0..taken {
        // Its recv reads both frames at once.
        let message = message(within("message", client.recv()).await);
        assert_eq!(message.as_bytes(), b"the message");
    }
    let started = std::time::Instant::now();
    let mut answer = [0u8; 2];
    within("close answer", peer.read_exact(&mut answer))
        .await
        .unwrap();
    assert_eq!(answer, [0x88, 0x82]);
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    drop(client);
}

#[tokio::test]
async fn the_close_answer_waits_at_most_a_moment_for_an_application_that_never_reads() {
    close_answer_for_an_application_that_stops(0).await;
}

#[tokio::test]
async fn the_close_answer_comes_within_a_moment_when_the_application_stops_after_one_message() {
    close_answer_for_an_application_that_stops(1).await;
}

#[tokio::test]
async fn sending_after_the_peers_close_is_refused_with_a_clear_error() {
    let (mut client, mut peer) = client_with_raw_peer(ConnectionConfig::default()).await;
    peer.write_all(&server_frame(true, OpCode::Close, &1000u16.to_be_bytes()))
        .await
        .unwrap();
    assert_eq!(
        closed(within("closure", client.recv()).await).code,
        CloseCode::NORMAL
    );
    assert!(client.sender().is_closed());
    let refused = client.send_text("too late").await.unwrap_err();
    assert!(
        matches!(refused, Error::Closed | Error::Send(_)),
        "{refused:?}"
    );
    assert!(!refused.to_string().is_empty());
}

#[tokio::test]
async fn a_prepared_message_reaches_every_subscriber_and_a_slow_one_is_closed_alone() {
    use ws_net::{PreparedMessage, Role};
    const READERS: usize = 4;
    let mut readers = Vec::new();
    let mut subscribers = Vec::new();
    for _ in 0..READERS {
        let (client, server) =
            connection_pair(ConnectionConfig::default(), ConnectionConfig::default()).await;
        readers.push(client);
        subscribers.push(server);
    }
    // A subscriber whose client never reads.
    let (raw_client, server_end) = tcp_pair().await;
    let slow = ws_net::Connection::new(server_end, Role::Server, ConnectionConfig::default());
    subscribers.push(slow);

    let bound = 256 * 1024;
    let payload = vec![3u8; 64 * 1024];
    let mut closed_slow = None;
    // Until the kernel's buffers toward the slow client are full and ours pass the bound; then
    // a few more rounds for the others.
    for round in 0..=u8::MAX {
        if closed_slow.is_some_and(|at| round > at + 3) {
            break;
        }
        let mut data = payload.clone();
        data[0] = round;
        let prepared = PreparedMessage::new(&Message::from(data));
        for subscriber in &subscribers {
            if subscriber.sender().buffered_len() > bound {
                let _ = subscriber
                    .sender()
                    .start_close(CloseCode::POLICY_VIOLATION, "too slow");
                closed_slow.get_or_insert(round);
            } else {
                let _ = subscriber.sender().send_prepared_now(&prepared);
            }
            assert!(subscriber.sender().buffered_len() <= bound + prepared.frame().len() + 8);
        }
        // The readers take each round as it comes.
        for reader in &mut readers {
            let got = message(within("a broadcast message", reader.recv()).await);
            assert_eq!(got.len(), payload.len());
            assert_eq!(got.as_bytes()[0], round);
        }
    }
    assert!(
        closed_slow.is_some(),
        "the subscriber that never reads was closed"
    );
    drop(raw_client);
}
