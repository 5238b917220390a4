//! Behaviour of `Connection`: messages, fragmentation, control frames, closing, limits, timers.

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use ws_proto::frame::{encode_frame, OpCode};
use ws_proto::{
    Bytes, Chunk, CloseCode, CloseStatus, Config, Connection, Event, Limits, Message, MessageKind,
    PreparedMessage, ProtocolError, ReceiveMode, Role, Rsv, SendError, State,
};

const KEY: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

/// A frame as a client would send it to the server (masked).
fn client_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    encode_frame(&mut wire, fin, opcode, Some(KEY), payload);
    wire
}

fn server() -> Connection {
    Connection::new(Role::Server, Config::default())
}

/// Every event, as a transport takes them: an ending (the peer's Close, a violation) is
/// concluded with `finish_closing` once it is reported.
fn events(conn: &mut Connection) -> Vec<Event> {
    let mut all = Vec::new();
    loop {
        match conn.next_event() {
            Some(event) => all.push(event),
            None if matches!(conn.state(), State::RemoteClosing | State::Failing) => {
                conn.finish_closing()
            }
            None => return all,
        }
    }
}

/// Feeds `bytes`, decodes everything, and returns the protocol error it caused, if any.
fn feed(conn: &mut Connection, bytes: &[u8]) -> Result<Vec<Event>, ProtocolError> {
    conn.receive_data(bytes);
    let evs = events(conn);
    match evs.iter().find_map(|e| match e {
        Event::Error(error) => Some(error.clone()),
        _ => None,
    }) {
        Some(error) => Err(error),
        None => Ok(evs),
    }
}

/// Decodes what `from` wrote as seen by a peer of the other role.
fn peer_view(from: &mut Connection) -> Vec<Event> {
    let mut peer = Connection::new(
        from.role().peer(),
        Config::default().limits(Limits::UNLIMITED),
    );
    peer.receive_data(&from.take_output());
    events(&mut peer)
}

fn closed(code: u16, clean: bool, locally_initiated: bool) -> impl Fn(&Event) -> bool {
    move |e| {
        matches!(e, Event::Closed(CloseStatus { code: c, clean: k, locally_initiated: l, .. })
        if c.as_u16() == code && *k == clean && *l == locally_initiated)
    }
}

/// Feeds `wire` to a server and returns the error and the close code it sent.
fn fail_with(wire: &[u8]) -> (ProtocolError, CloseCode) {
    let mut conn = server();
    conn.receive_data(wire);
    let mut evs: Vec<Event> = std::iter::from_fn(|| conn.next_event()).collect();
    // The violation is reported; the Close frame waits for the application's word.
    assert_eq!(conn.state(), State::Failing);
    assert_eq!(conn.output_len(), 0);
    assert_eq!(conn.send_text("x"), Err(SendError::Failed));
    assert_eq!(
        conn.close(CloseCode::NORMAL, "", Instant::now()),
        Err(SendError::Failed)
    );
    conn.finish_closing();
    evs.extend(std::iter::from_fn(|| conn.next_event()));
    assert_eq!(conn.state(), State::Closed);
    assert!(conn
        .close_status()
        .is_some_and(|s| s.code == CloseCode::ABNORMAL));
    let [Event::Error(err), last] = &evs[..] else {
        panic!("expected Error and Closed, got {evs:?}")
    };
    assert!(closed(1006, false, true)(last), "{evs:?}");
    let sent = conn.take_output();
    assert_eq!(sent[0], 0x88, "a Close frame is queued");
    let code = CloseCode::from(u16::from_be_bytes([sent[2], sent[3]]));
    assert_eq!(code, err.close_code());
    (err.clone(), code)
}

#[test]
fn whole_messages_of_both_kinds() {
    let mut conn = server();
    let mut wire = client_frame(true, OpCode::Text, "héllo".as_bytes());
    wire.extend(client_frame(true, OpCode::Binary, &[0, 1, 2]));
    wire.extend(client_frame(true, OpCode::Text, b""));
    conn.receive_data(&wire);
    assert_eq!(
        events(&mut conn),
        [
            Event::Message(Message::Text("héllo".into())),
            Event::Message(Message::from(vec![0, 1, 2])),
            Event::Message(Message::Text("".into())),
        ]
    );
}

#[test]
fn fragmented_message_with_control_frames_between_fragments() {
    let mut conn = server();
    let mut wire = client_frame(false, OpCode::Text, b"fra");
    wire.extend(client_frame(true, OpCode::Ping, b"p"));
    wire.extend(client_frame(false, OpCode::Continuation, b"gmen"));
    wire.extend(client_frame(true, OpCode::Pong, b"q"));
    wire.extend(client_frame(true, OpCode::Continuation, b"ted"));
    conn.receive_data(&wire);
    assert_eq!(
        events(&mut conn),
        [
            Event::Ping(Bytes::from_static(b"p")),
            Event::Pong(Bytes::from_static(b"q")),
            Event::Message(Message::Text("fragmented".into())),
        ]
    );
    // The ping was answered with a pong carrying the same payload.
    assert_eq!(
        peer_view(&mut conn),
        [Event::Pong(Bytes::from_static(b"p"))]
    );
}

#[test]
fn one_byte_at_a_time_gives_the_same_events() {
    let mut wire = client_frame(false, OpCode::Binary, &[7; 300]);
    wire.extend(client_frame(true, OpCode::Ping, b""));
    wire.extend(client_frame(true, OpCode::Continuation, &[8; 70_000]));
    let mut conn = server();
    for byte in &wire {
        conn.receive_data(std::slice::from_ref(byte));
    }
    let mut expected = vec![7; 300];
    expected.extend([8; 70_000]);
    assert_eq!(
        events(&mut conn),
        [
            Event::Ping(Bytes::new()),
            Event::Message(Message::from(expected))
        ]
    );
}

#[test]
fn continuation_rules() {
    let (err, code) = fail_with(&client_frame(true, OpCode::Continuation, b"x"));
    assert_eq!(
        (err, code),
        (
            ProtocolError::UnexpectedContinuation,
            CloseCode::PROTOCOL_ERROR
        )
    );
    let mut wire = client_frame(false, OpCode::Text, b"a");
    wire.extend(client_frame(true, OpCode::Binary, b"b"));
    assert_eq!(fail_with(&wire).0, ProtocolError::ExpectedContinuation);
}

#[test]
fn frame_rules_fail_with_1002() {
    let mut reserved = client_frame(true, OpCode::Text, b"x");
    reserved[0] = 0x83;
    assert_eq!(fail_with(&reserved).1, CloseCode::PROTOCOL_ERROR);
    let mut rsv = client_frame(true, OpCode::Text, b"x");
    rsv[0] |= 0x40;
    assert_eq!(fail_with(&rsv).0, ProtocolError::ReservedBits(Rsv::RSV1));
    let mut unmasked = Vec::new();
    encode_frame(&mut unmasked, true, OpCode::Text, None, b"x");
    assert_eq!(fail_with(&unmasked).0, ProtocolError::UnmaskedFrame);
    assert_eq!(
        fail_with(&client_frame(false, OpCode::Ping, b"")).0,
        ProtocolError::FragmentedControlFrame
    );
    assert_eq!(
        fail_with(&client_frame(true, OpCode::Ping, &[0; 126])).0,
        ProtocolError::ControlFrameTooLong(126)
    );

    // A client refuses masked frames from a server.
    let mut client = Connection::new(Role::Client, Config::default());
    assert_eq!(
        feed(&mut client, &client_frame(true, OpCode::Text, b"x")).map(|_| ()),
        Err(ProtocolError::MaskedFrame)
    );
}

#[test]
fn valid_messages_before_a_violation_are_not_lost() {
    let mut wire = client_frame(true, OpCode::Text, b"first");
    wire.extend(client_frame(true, OpCode::Continuation, b"bad"));
    wire.extend(client_frame(true, OpCode::Text, b"never"));
    let mut conn = server();
    conn.receive_data(&wire);
    let evs = events(&mut conn);
    assert_eq!(evs[0], Event::Message(Message::Text("first".into())));
    assert_eq!(evs[1], Event::Error(ProtocolError::UnexpectedContinuation));
    assert!(closed(1006, false, true)(&evs[2]));
    assert_eq!(evs.len(), 3);
}

#[test]
fn messages_before_a_violation_can_still_be_answered_before_the_close_frame() {
    // Autobahn 3.2, 4.1.3, 5.15 and the like: a valid message, then a violation, in one read.
    let mut conn = server();
    let mut wire = client_frame(true, OpCode::Text, b"first");
    // A frame with the reserved opcode 0x3 (FIN, masked, empty).
    wire.extend_from_slice(&[0x83, 0x80, 1, 2, 3, 4]);
    conn.receive_data(&wire);
    assert_eq!(
        conn.next_event(),
        Some(Event::Message(Message::Text("first".into())))
    );
    // The application answers the message it got before the error...
    conn.send_text("first").unwrap();
    assert!(matches!(conn.next_event(), Some(Event::Error(_))));
    // ...and once it has seen the error, the connection fails: echo first, then the Close frame.
    conn.finish_closing();
    assert!(closed(1006, false, true)(&conn.next_event().unwrap()));
    let out = conn.take_output();
    assert_eq!(&out[..7], &[0x81, 5, b'f', b'i', b'r', b's', b't']);
    assert_eq!(out[7], 0x88);
    assert_eq!(u16::from_be_bytes([out[9], out[10]]), 1002);
}

#[test]
fn invalid_utf8_fails_fast_with_1007() {
    // The first fragment is already impossible: no need to wait for the end of the message.
    let mut conn = server();
    let err = feed(
        &mut conn,
        &client_frame(false, OpCode::Text, &[b'o', b'k', 0xC0, 0x80]),
    )
    .unwrap_err();
    assert!(matches!(err, ProtocolError::InvalidUtf8(_)));
    assert_eq!(err.close_code(), CloseCode::INVALID_PAYLOAD);
    // Valid prefix split across fragments is fine, a truncated code point at the end is not.
    let mut wire = client_frame(false, OpCode::Text, &[0xE2, 0x82]);
    wire.extend(client_frame(true, OpCode::Continuation, &[0xAC]));
    let mut conn = server();
    conn.receive_data(&wire);
    assert_eq!(
        events(&mut conn),
        [Event::Message(Message::Text("€".into()))]
    );
    let mut conn = server();
    assert!(feed(
        &mut conn,
        &client_frame(true, OpCode::Text, &[b'a', 0xE2, 0x82])
    )
    .is_err());
}

#[test]
fn invalid_utf8_split_across_reads_of_one_frame_fails_before_the_frame_ends() {
    let wire = client_frame(true, OpCode::Text, &[b'a', b'b', 0xFF, b'c', b'd', b'e']);
    let mut conn = server();
    // Header and the first three payload bytes only.
    let cut = wire.len() - 3;
    assert!(feed(&mut conn, &wire[..cut]).is_err());
}

#[test]
fn limits_fail_with_1009() {
    let limits = Limits::default()
        .max_frame_size(100)
        .max_message_size(150)
        .max_fragments(3);
    let config = Config::default().limits(limits);
    let mut conn = Connection::new(Role::Server, config.clone());
    let err = feed(&mut conn, &client_frame(true, OpCode::Binary, &[0; 101])).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::FrameTooLarge {
            size: 101,
            limit: 100
        }
    );
    assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);

    let mut conn = Connection::new(Role::Server, config.clone());
    let mut wire = client_frame(false, OpCode::Binary, &[0; 100]);
    wire.extend(client_frame(true, OpCode::Continuation, &[0; 51]));
    assert_eq!(
        feed(&mut conn, &wire).map(|_| ()),
        Err(ProtocolError::MessageTooLarge { limit: 150 })
    );

    let mut conn = Connection::new(Role::Server, config);
    let mut wire = Vec::new();
    wire.extend(client_frame(false, OpCode::Binary, b"a"));
    for _ in 0..3 {
        wire.extend(client_frame(false, OpCode::Continuation, b"a"));
    }
    assert_eq!(
        feed(&mut conn, &wire).map(|_| ()),
        Err(ProtocolError::TooManyFragments { limit: 3 })
    );
}

#[test]
fn one_byte_fragment_flood_is_stopped() {
    let config = Config::default().limits(Limits::default().max_fragments(1000));
    let mut conn = Connection::new(Role::Server, config);
    conn.receive_data(&client_frame(false, OpCode::Binary, b"x"));
    let one = client_frame(false, OpCode::Continuation, b"x");
    let mut failed = false;
    for _ in 0..2000 {
        if feed(&mut conn, &one).is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed);
    assert_eq!(conn.state(), State::Closed);
}

#[test]
fn peer_initiated_close_is_echoed() {
    let mut conn = server();
    let mut payload = 4001u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"done");
    conn.receive_data(&client_frame(true, OpCode::Close, &payload));
    let first = conn.next_event().unwrap();
    assert!(closed(4001, true, false)(&first));
    // Reported, not answered yet: only the answer may be sent now.
    assert_eq!(conn.state(), State::RemoteClosing);
    assert_eq!(conn.next_event(), None);
    assert_eq!(conn.output_len(), 0);
    assert_eq!(conn.send_text("late"), Err(SendError::PeerClosed));
    assert_eq!(conn.ping(b""), Err(SendError::PeerClosed));
    conn.finish_closing();
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(
        conn.close_status(),
        match &first {
            Event::Closed(s) => Some(s),
            _ => None,
        }
    );
    let evs = [first];
    assert!(matches!(&evs[0], Event::Closed(s) if s.reason == "done"));
    // The echo carries the same code.
    let echo = conn.take_output();
    assert_eq!(echo, [0x88, 0x02, 0x0F, 0xA1]);
    // Nothing can be sent any more, and later bytes are ignored.
    assert_eq!(conn.send_text("late"), Err(SendError::Closed));
    conn.receive_data(&client_frame(true, OpCode::Text, b"late"));
    assert!(events(&mut conn).is_empty());
}

#[test]
fn empty_close_reports_1005_and_is_answered_with_an_empty_close() {
    let mut conn = server();
    conn.receive_data(&client_frame(true, OpCode::Close, b""));
    assert!(closed(1005, true, false)(&events(&mut conn)[0]));
    assert_eq!(conn.take_output(), [0x88, 0x00]);
}

#[test]
fn invalid_close_payloads() {
    assert_eq!(
        fail_with(&client_frame(true, OpCode::Close, &[3])).1,
        CloseCode::PROTOCOL_ERROR
    );
    for code in [999u16, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        assert_eq!(
            fail_with(&client_frame(true, OpCode::Close, &code.to_be_bytes())).1,
            CloseCode::PROTOCOL_ERROR
        );
    }
    let (_, code) = fail_with(&client_frame(
        true,
        OpCode::Close,
        &[0x03, 0xE8, 0xFF, 0xFE],
    ));
    assert_eq!(code, CloseCode::INVALID_PAYLOAD);
}

#[test]
fn locally_initiated_close_handshake() {
    let now = Instant::now();
    let mut client = Connection::new(Role::Client, Config::default());
    let mut server = server();
    client.close(CloseCode::GOING_AWAY, "bye", now).unwrap();
    assert_eq!(client.state(), State::LocalClosing);
    assert_eq!(client.send_binary(b"x"), Err(SendError::Closed));
    assert_eq!(client.ping(b""), Err(SendError::Closed));
    assert_eq!(
        client.close(CloseCode::NORMAL, "", now),
        Err(SendError::Closed)
    );

    // The server may still send data before it answers; the closing client still receives it.
    server.send_text("last words").unwrap();
    server.receive_data(&client.take_output());
    assert!(closed(1001, true, false)(&events(&mut server)[0]));
    client.receive_data(&server.take_output());
    let evs = events(&mut client);
    assert_eq!(evs[0], Event::Message(Message::Text("last words".into())));
    assert!(closed(1001, true, true)(&evs[1]));
    assert_eq!(client.state(), State::Closed);
}

#[test]
fn close_refuses_codes_that_must_not_be_sent_and_long_reasons() {
    let now = Instant::now();
    let mut conn = server();
    for code in [1004u16, 1005, 1006, 1015, 0, 2000, 5000] {
        assert_eq!(
            conn.close(code.into(), "", now),
            Err(SendError::UnsendableCloseCode(code.into()))
        );
    }
    assert_eq!(
        conn.close(CloseCode::NORMAL, &"x".repeat(124), now),
        Err(SendError::ReasonTooLong(124))
    );
    assert!(conn.close(CloseCode::NORMAL, &"x".repeat(123), now).is_ok());
}

#[test]
fn close_timeout_ends_with_1006() {
    let now = Instant::now();
    let config = Config::default().close_timeout(Duration::from_secs(2));
    let mut conn = Connection::new(Role::Client, config);
    conn.close(CloseCode::NORMAL, "", now).unwrap();
    assert_eq!(conn.poll_timeout(), Some(now + Duration::from_secs(2)));
    conn.handle_timeout(now + Duration::from_secs(1));
    assert_eq!(conn.state(), State::LocalClosing);
    conn.handle_timeout(now + Duration::from_secs(2));
    assert_eq!(conn.state(), State::Closed);
    assert!(closed(1006, false, true)(&events(&mut conn)[0]));
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn large_server_messages_are_queued_without_copying_and_arrive_intact() {
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let message = Message::Binary(payload.clone().into());
    for frame_size in [None, NonZeroUsize::new(30_000), NonZeroUsize::new(16_384)] {
        let mut conn = Connection::new(
            Role::Server,
            Config::default().max_send_frame_size(frame_size),
        );
        conn.send_text("before").unwrap();
        conn.send(&message).unwrap();
        conn.send_text("after").unwrap();
        // Written out the way a transport does it: vectored, a few bytes short each time.
        let mut wire = Vec::new();
        while conn.output_len() > 0 {
            let mut slices = [std::io::IoSlice::new(&[]); 8];
            let n = conn.output_vectored(&mut slices);
            let total: usize = slices[..n].iter().map(|s| s.len()).sum();
            let take = (total * 2 / 3).max(1);
            let mut left = take;
            for slice in &slices[..n] {
                let k = slice.len().min(left);
                wire.extend_from_slice(&slice[..k]);
                left -= k;
            }
            conn.consume_output(take);
        }
        let mut client = Connection::new(Role::Client, Config::default());
        client.receive_data(&wire);
        let evs = events(&mut client);
        assert_eq!(
            evs,
            [
                Event::Message(Message::Text("before".into())),
                Event::Message(message.clone()),
                Event::Message(Message::Text("after".into())),
            ],
            "frame size {frame_size:?}"
        );
    }
}

#[test]
fn small_payloads_are_copied_when_asked_and_large_ones_shared() {
    let mut conn = Connection::new(Role::Server, Config::default().copy_payload_max(100));
    let mut wire = client_frame(true, OpCode::Binary, &[1; 100]);
    wire.extend_from_slice(&client_frame(true, OpCode::Binary, &[2; 101]));
    conn.receive_data(&wire);
    let evs = events(&mut conn);
    let [Event::Message(Message::Binary(small)), Event::Message(Message::Binary(large))] = &evs[..]
    else {
        panic!("{evs:?}")
    };
    assert_eq!(&small[..], &[1; 100][..]);
    assert_eq!(&large[..], &[2; 101][..]);
    // The copy owns its memory; the large payload shares the receive buffer.
    assert!(small.is_unique());
    assert!(!large.is_unique());
}

#[test]
fn transport_end_comes_after_the_messages_received_before_it() {
    let mut conn = server();
    let mut wire = client_frame(true, OpCode::Text, b"last words");
    wire.extend_from_slice(&client_frame(false, OpCode::Binary, b"half a mess"));
    conn.receive_data(&wire);
    conn.transport_closed("the peer closed the TCP connection");
    let evs = events(&mut conn);
    assert_eq!(evs[0], Event::Message(Message::Text("last words".into())));
    assert!(closed(1006, false, false)(&evs[1]), "{evs:?}");
    assert_eq!(evs.len(), 2);
    assert_eq!(conn.state(), State::Closed);
    let Event::Closed(status) = &evs[1] else {
        unreachable!()
    };
    assert_eq!(status.reason, "the peer closed the TCP connection");
}

#[test]
fn transport_end_after_the_closing_handshake_changes_nothing() {
    let mut conn = server();
    conn.receive_data(&client_frame(true, OpCode::Close, &1000u16.to_be_bytes()));
    conn.transport_closed("eof");
    let evs = events(&mut conn);
    assert_eq!(evs.len(), 1);
    assert!(closed(1000, true, false)(&evs[0]), "{evs:?}");
}

#[test]
fn heartbeat_pings_and_detects_a_dead_peer() {
    let t0 = Instant::now();
    let s = Duration::from_secs;
    let mut conn = server();
    conn.set_heartbeat(Some(s(10)), Some(s(3)), t0);
    assert_eq!(conn.poll_timeout(), Some(t0 + s(10)));
    conn.handle_timeout(t0 + s(5));
    assert_eq!(conn.output_len(), 0, "no ping before the interval");
    conn.handle_timeout(t0 + s(10));
    assert!(matches!(&peer_view(&mut conn)[..], [Event::Ping(_)]));
    assert_eq!(conn.poll_timeout(), Some(t0 + s(13)));

    // A pong clears the deadline.
    let mut pong = Vec::new();
    encode_frame(&mut pong, true, OpCode::Pong, Some(KEY), b"");
    assert_eq!(feed(&mut conn, &pong).unwrap(), [Event::Pong(Bytes::new())]);
    assert_eq!(conn.poll_timeout(), Some(t0 + s(20)));
    conn.handle_timeout(t0 + s(20));
    assert_eq!(peer_view(&mut conn).len(), 1);

    // No pong this time.
    conn.handle_timeout(t0 + s(23));
    assert_eq!(conn.state(), State::Closed);
    let evs = events(&mut conn);
    assert!(closed(1006, false, true)(evs.last().unwrap()), "{evs:?}");
    assert!(matches!(evs.last(), Some(Event::Closed(s)) if s.reason.contains("pong")));
}

#[test]
fn heartbeat_without_pong_timeout_only_pings() {
    let t0 = Instant::now();
    let mut conn = server();
    conn.set_heartbeat(Some(Duration::from_secs(1)), None, t0);
    for i in 1..=5 {
        conn.handle_timeout(t0 + Duration::from_secs(i));
    }
    assert_eq!(conn.state(), State::Open);
    assert_eq!(peer_view(&mut conn).len(), 5);
    conn.set_heartbeat(None, None, t0);
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn zero_heartbeat_durations_count_as_none() {
    let t0 = Instant::now();
    let mut conn = server();
    // A zero interval would make a ping due all the time: no heartbeat instead.
    conn.set_heartbeat(Some(Duration::ZERO), Some(Duration::from_secs(1)), t0);
    assert_eq!(conn.poll_timeout(), None);
    // A zero pong timeout would fail every ping at once: pings without a timeout instead.
    conn.set_heartbeat(Some(Duration::from_secs(1)), Some(Duration::ZERO), t0);
    for i in 1..=3 {
        conn.handle_timeout(t0 + Duration::from_secs(i));
    }
    assert_eq!(conn.state(), State::Open);
    assert_eq!(peer_view(&mut conn).len(), 3);
}

#[test]
fn outgoing_fragmentation() {
    let config = Config::default().max_send_frame_size(NonZeroUsize::new(4));
    let mut conn = Connection::new(Role::Server, config);
    conn.send_text("abcdefghij").unwrap();
    let wire = conn.take_output();
    // Three frames: 4 + 4 + 2 bytes, Text then Continuations, FIN only on the last.
    assert_eq!(&wire[..2], [0x01, 4]);
    assert_eq!(&wire[6..8], [0x00, 4]);
    assert_eq!(&wire[12..14], [0x80, 2]);
    conn.send_text("abcdefghij").unwrap();
    assert_eq!(
        peer_view(&mut conn),
        [Event::Message(Message::Text("abcdefghij".into()))]
    );
}

#[test]
fn streaming_send_of_fragments() {
    let mut conn = Connection::new(Role::Client, Config::default());
    conn.send_fragment(MessageKind::Binary, b"ab", false)
        .unwrap();
    assert_eq!(conn.send_text("x"), Err(SendError::FragmentationMismatch));
    assert_eq!(
        conn.send_fragment(MessageKind::Text, b"x", true),
        Err(SendError::FragmentationMismatch)
    );
    conn.send_fragment(MessageKind::Binary, b"cd", true)
        .unwrap();
    assert_eq!(
        peer_view(&mut conn),
        [Event::Message(Message::from(b"abcd".to_vec()))]
    );
}

#[test]
fn streaming_mode_delivers_chunks_with_flags() {
    let config = Config::default().receive_mode(ReceiveMode::Streaming);
    let mut conn = Connection::new(Role::Server, config);
    let mut wire = client_frame(false, OpCode::Text, "a€".as_bytes());
    wire.extend(client_frame(true, OpCode::Continuation, b""));
    let cut = 8; // inside the payload of the first frame, splitting the euro sign
    conn.receive_data(&wire[..cut]);
    conn.receive_data(&wire[cut..]);
    let evs = events(&mut conn);
    let chunks: Vec<Chunk> = evs
        .into_iter()
        .map(|e| match e {
            Event::Chunk(c) => c,
            other => panic!("{other:?}"),
        })
        .collect();
    let text: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
    assert_eq!(text, "a€".as_bytes());
    for c in &chunks {
        assert!(
            std::str::from_utf8(&c.data).is_ok(),
            "each text chunk is valid UTF-8"
        );
    }
    let last = chunks.last().unwrap();
    assert!(last.frame_finished && last.message_finished);
    assert_eq!(chunks.iter().filter(|c| c.frame_finished).count(), 2);
}

#[test]
fn send_errors() {
    let mut conn = server();
    assert_eq!(
        conn.ping(&[0; 126]),
        Err(SendError::ControlPayloadTooLong(126))
    );
    assert!(conn.ping(&[0; 125]).is_ok());
    assert!(conn.pong(b"unsolicited").is_ok());
}

#[test]
fn client_frames_are_masked_with_fresh_keys() {
    let mut conn = Connection::new(Role::Client, Config::default());
    conn.send_binary(&[0; 8]).unwrap();
    conn.send_binary(&[0; 8]).unwrap();
    let wire = conn.take_output();
    assert_eq!(wire[1] & 0x80, 0x80);
    let (k1, k2) = (&wire[2..6], &wire[16..20]);
    assert_ne!(
        k1, k2,
        "two random 32-bit keys are equal with probability 2^-32"
    );
}

#[test]
fn output_can_be_written_in_pieces() {
    let mut conn = server();
    conn.send_binary(&[1; 10]).unwrap();
    let all = conn.output().to_vec();
    conn.consume_output(5);
    assert_eq!(conn.output(), &all[5..]);
    conn.consume_output(100);
    assert_eq!(conn.output_len(), 0);
}

/// Feeds `wire` cut at `cuts`, taking the events after every piece as a transport would.
fn feed_in_pieces(
    receiver: &mut Connection,
    wire: &[u8],
    cuts: &[proptest::sample::Index],
) -> Vec<Event> {
    let mut positions: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
    positions.sort_unstable();
    let mut received = Vec::new();
    let mut last = 0;
    for p in positions.into_iter().chain([wire.len()]) {
        receiver.receive_data(&wire[last..p]);
        received.extend(events(receiver));
        last = p;
    }
    received
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        "\\PC{0,200}".prop_map(Message::from),
        proptest::collection::vec(any::<u8>(), 0..600).prop_map(Message::from),
    ]
}

proptest! {
    #[test]
    fn messages_round_trip_split_anywhere(messages in proptest::collection::vec(arb_message(), 1..6),
                                          frame_size in 1usize..300,
                                          cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..10),
                                          client_sends in any::<bool>()) {
        let role = if client_sends { Role::Client } else { Role::Server };
        let mut sender = Connection::new(role, Config::default().max_send_frame_size(NonZeroUsize::new(frame_size)));
        for m in &messages { sender.send(m).unwrap(); }
        sender.ping(b"mid").unwrap();
        let wire = sender.take_output();
        let mut receiver = Connection::new(role.peer(), Config::default());
        let received = feed_in_pieces(&mut receiver, &wire, &cuts);
        let mut expected: Vec<Event> = messages.into_iter().map(Event::Message).collect();
        expected.push(Event::Ping(Bytes::from_static(b"mid")));
        prop_assert_eq!(received, expected);
    }

    #[test]
    fn output_written_in_any_pieces_is_the_same_stream(sizes in proptest::collection::vec(0usize..40_000, 1..6),
                                                       frame_size in 1_000usize..50_000,
                                                       steps in proptest::collection::vec(1usize..30_000, 1..40),
                                                       vectored in any::<bool>()) {
        // Large payloads are queued without copying between copied headers and small frames;
        // however the transport takes the output, the peer sees the same messages.
        let config = Config::default().max_send_frame_size(NonZeroUsize::new(frame_size));
        let mut sender = Connection::new(Role::Server, config.clone());
        let messages: Vec<Message> = sizes.iter().enumerate()
            .map(|(i, &n)| Message::Binary(vec![i as u8; n].into()))
            .collect();
        for m in &messages {
            sender.send(m).unwrap();
            sender.ping(b"between").unwrap();
        }
        let mut reference = Connection::new(Role::Server, config);
        for m in &messages {
            reference.send(m).unwrap();
            reference.ping(b"between").unwrap();
        }
        let expected_wire = reference.take_output();
        let mut wire = Vec::new();
        let mut step = steps.iter().cycle();
        while sender.output_len() > 0 {
            let want = *step.next().unwrap();
            let mut taken = 0;
            if vectored {
                let mut slices = [std::io::IoSlice::new(&[]); 4];
                let n = sender.output_vectored(&mut slices);
                for slice in &slices[..n] {
                    let k = slice.len().min(want - taken);
                    wire.extend_from_slice(&slice[..k]);
                    taken += k;
                }
            } else {
                let front = sender.output();
                taken = front.len().min(want);
                wire.extend_from_slice(&front[..taken]);
            }
            prop_assert!(taken > 0);
            sender.consume_output(taken);
        }
        prop_assert_eq!(&wire, &expected_wire);
        let mut peer = Connection::new(Role::Client, Config::default());
        peer.receive_data(&wire);
        let mut expected = Vec::new();
        for m in messages {
            expected.push(Event::Message(m));
            expected.push(Event::Ping(Bytes::from_static(b"between")));
        }
        prop_assert_eq!(events(&mut peer), expected);
    }

    #[test]
    fn streaming_chunks_reassemble_to_the_message(text in "\\PC{0,100}", frame_size in 1usize..40,
                                                  cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..10)) {
        let mut sender = Connection::new(Role::Client, Config::default().max_send_frame_size(NonZeroUsize::new(frame_size)));
        sender.send_text(&text).unwrap();
        let wire = sender.take_output();
        let mut receiver = Connection::new(Role::Server, Config::default().receive_mode(ReceiveMode::Streaming));
        let received = feed_in_pieces(&mut receiver, &wire, &cuts);
        let mut got = Vec::new();
        let mut finished = 0;
        for e in received {
            let Event::Chunk(c) = e else { panic!("unexpected {e:?}") };
            prop_assert!(std::str::from_utf8(&c.data).is_ok());
            got.extend(c.data);
            finished += usize::from(c.message_finished);
        }
        prop_assert_eq!(finished, 1);
        prop_assert_eq!(got, text.into_bytes());
    }

    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400), server_role in any::<bool>(),
                            streaming in any::<bool>(), split in any::<proptest::sample::Index>()) {
        let role = if server_role { Role::Server } else { Role::Client };
        let mode = if streaming { ReceiveMode::Streaming } else { ReceiveMode::Messages };
        let mut conn = Connection::new(role, Config::default().receive_mode(mode));
        let at = split.index(bytes.len() + 1);
        conn.receive_data(&bytes[..at]);
        let _ = events(&mut conn);
        conn.receive_data(&bytes[at..]);
        let _ = events(&mut conn);
    }
}

#[test]
fn messages_before_the_peers_close_can_be_answered_before_the_close_answer() {
    let mut server = Connection::new(Role::Server, Config::default());
    let mut client = Connection::new(Role::Client, Config::default());
    client.send_text("last").unwrap();
    client
        .close(CloseCode::NORMAL, "bye", std::time::Instant::now())
        .unwrap();
    server.receive_data(&client.take_output());
    assert_eq!(
        server.next_event(),
        Some(Event::Message(Message::Text("last".into())))
    );
    // The Close frame is decoded only when asked for: the server answers the message first...
    server.send_text("echo").unwrap();
    assert!(matches!(server.next_event(), Some(Event::Closed(s)) if s.code == CloseCode::NORMAL));
    // ...then answers the closure, behind it.
    assert_eq!(server.state(), State::RemoteClosing);
    assert_eq!(server.send_text("too late"), Err(SendError::PeerClosed));
    server.finish_closing();
    assert_eq!(server.state(), State::Closed);
    client.receive_data(&server.take_output());
    assert_eq!(
        client.next_event(),
        Some(Event::Message(Message::Text("echo".into())))
    );
    match client.next_event() {
        Some(Event::Closed(status)) => {
            assert_eq!((status.code, status.clean), (CloseCode::NORMAL, true))
        }
        other => panic!("expected the closure, got {other:?}"),
    }
}

#[test]
fn a_ping_flood_is_answered_with_a_few_pongs_while_output_waits() {
    let mut conn = server();
    conn.send_binary(&[0; 1000]).unwrap(); // unwritten: the peer does not read
    let queued = conn.output_len();
    for i in 0..10_000u32 {
        conn.receive_data(&client_frame(true, OpCode::Ping, &i.to_be_bytes()));
        assert!(matches!(conn.next_event(), Some(Event::Ping(_))));
    }
    // Sixteen pongs (6 bytes each) were queued; then only the latest ping is answered, once
    // the output drains.
    assert_eq!(conn.output_len(), queued + 16 * 6);
    conn.consume_output(queued + 16 * 6);
    let out = conn.take_output();
    assert_eq!(out, [0x8A, 4, 0, 0, 0x27, 0x0F], "one pong, for ping 9999");
    // With nothing waiting, a ping is answered at once.
    conn.receive_data(&client_frame(true, OpCode::Ping, b"now"));
    assert!(matches!(conn.next_event(), Some(Event::Ping(_))));
    assert_eq!(conn.take_output(), [0x8A, 3, b'n', b'o', b'w']);
}

#[test]
fn a_burst_of_pings_gets_every_answer() {
    // Autobahn 2.10: ten pings in one read, all answered although none was written yet.
    let mut conn = server();
    let mut wire = Vec::new();
    for i in 0..10u8 {
        wire.extend(client_frame(true, OpCode::Ping, &[i]));
    }
    conn.receive_data(&wire);
    assert_eq!(events(&mut conn).len(), 10);
    let out = conn.take_output();
    let pongs: Vec<u8> = out.chunks(3).map(|pong| pong[2]).collect();
    assert_eq!(pongs, (0..10).collect::<Vec<u8>>());
}

#[test]
fn a_held_pong_goes_out_before_later_frames() {
    let mut conn = server();
    conn.send_text("first").unwrap();
    // Enough pings that the answer to the last one is held.
    for _ in 0..16 {
        conn.receive_data(&client_frame(true, OpCode::Ping, b"q"));
        assert!(matches!(conn.next_event(), Some(Event::Ping(_))));
    }
    conn.receive_data(&client_frame(true, OpCode::Ping, b"p"));
    assert!(matches!(conn.next_event(), Some(Event::Ping(_))));
    // While sixteen wait, a message does not let the held pong through...
    conn.send_text("second").unwrap();
    assert_eq!(conn.output_len(), 7 + 16 * 3 + 8);
    // ...once one is written, it is queued, before what is sent next.
    conn.consume_output(7 + 3);
    conn.send_text("third").unwrap();
    let out = conn.take_output();
    let pong = [0x8A, 1, b'p'];
    let at = out
        .windows(3)
        .position(|w| w == pong)
        .expect("the pong is sent");
    assert_eq!(
        at,
        15 * 3 + 8,
        "after the other pongs and the second, before the third"
    );
    assert_eq!(&out[at + 3..], [0x81, 5, b't', b'h', b'i', b'r', b'd']);
}

#[test]
fn no_pong_goes_after_our_close_frame() {
    let mut conn = server();
    conn.send_text("first").unwrap();
    for _ in 0..17 {
        conn.receive_data(&client_frame(true, OpCode::Ping, b"q"));
        assert!(matches!(conn.next_event(), Some(Event::Ping(_))));
    }
    conn.close(CloseCode::NORMAL, "", Instant::now()).unwrap();
    let out = conn.take_output();
    assert_eq!(out.len(), 7 + 16 * 3 + 4, "the held pong was dropped");
    assert_eq!(&out[out.len() - 4..], [0x88, 2, 0x03, 0xE8]);
}

#[test]
fn the_state_says_how_the_connection_is_ending() {
    // The transport ends while the peer's Close waits for its answer: closed, no second event.
    let mut conn = server();
    conn.receive_data(&client_frame(true, OpCode::Close, &1000u16.to_be_bytes()));
    assert!(matches!(conn.next_event(), Some(Event::Closed(_))));
    assert_ne!(conn.state(), State::Open);
    conn.transport_closed("reset");
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.next_event(), None);
    assert_eq!(conn.close_status().map(|s| s.code), Some(CloseCode::NORMAL));

    // The transport ends while a violation waits for its Close frame: closed with 1006 and
    // nothing left to write.
    let mut conn = server();
    conn.receive_data(&[0x83, 0x80, 1, 2, 3, 4]);
    assert!(matches!(conn.next_event(), Some(Event::Error(_))));
    conn.transport_closed("reset");
    assert!(closed(1006, false, true)(&conn.next_event().unwrap()));
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.output_len(), 0);

    // Our own close timing out.
    let now = Instant::now();
    let mut conn = server();
    conn.close(CloseCode::NORMAL, "", now).unwrap();
    assert_eq!(conn.state(), State::LocalClosing);
    conn.handle_timeout(now + Duration::from_secs(5));
    assert!(closed(1006, false, true)(&conn.next_event().unwrap()));
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.send_text("x"), Err(SendError::Closed));

    // Answering the peer's Close with a code of our own.
    let mut conn = server();
    conn.receive_data(&client_frame(true, OpCode::Close, &1000u16.to_be_bytes()));
    assert!(matches!(conn.next_event(), Some(Event::Closed(_))));
    conn.close(CloseCode::GOING_AWAY, "", now).unwrap();
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.take_output(), [0x88, 2, 0x03, 0xE9]);
}

#[test]
fn pongs_are_counted_as_they_are_written_not_when_the_output_drains() {
    // A server that keeps large messages in flight: its output never drains, yet pings keep
    // being answered as the earlier pongs go out.
    let mut conn = server();
    let big = Message::Binary(Bytes::from(vec![0u8; 20 * 1024]));
    conn.send(&big).unwrap();
    let header = conn.output_len() - 20 * 1024;
    for i in 0..20u8 {
        conn.receive_data(&client_frame(true, OpCode::Ping, &[i]));
        assert!(matches!(conn.next_event(), Some(Event::Ping(_))));
    }
    // Sixteen pongs of 3 bytes are queued behind the message, the 20th ping's answer is held.
    assert_eq!(conn.output_len(), header + 20 * 1024 + 16 * 3);
    // The message and the first pong are written: the held pong takes the free place.
    conn.consume_output(header + 20 * 1024 + 3);
    assert_eq!(conn.output_len(), 16 * 3);
    conn.send(&big).unwrap();
    let out = conn.take_output();
    assert_eq!(
        &out[15 * 3..16 * 3],
        &[0x8A, 1, 19],
        "the latest ping's answer, before the message"
    );
    assert_eq!(out.len(), 16 * 3 + header + 20 * 1024);
}

#[test]
fn a_violation_while_closing_ends_without_a_second_close_frame() {
    let now = Instant::now();
    let mut conn = server();
    conn.close(CloseCode::NORMAL, "bye", now).unwrap();
    let ours = conn.take_output();
    assert_eq!(ours[0], 0x88);
    conn.receive_data(&[0x83, 0x80, 1, 2, 3, 4]); // reserved opcode
    assert!(matches!(conn.next_event(), Some(Event::Error(_))));
    assert!(closed(1006, false, true)(&conn.next_event().unwrap()));
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.output_len(), 0, "no second Close frame");
}

// ----- prepared messages (one frame for many connections) ------------------------------------

#[test]
fn a_prepared_message_goes_out_as_send_writes_it() {
    for len in [0usize, 5, 125, 126, 4096, 65_536, 70_000] {
        let message = Message::from(vec![0xa5; len]);
        let prepared = PreparedMessage::new(&message);
        let (mut by_send, mut by_prepared) = (server(), server());
        by_send.send(&message).unwrap();
        by_prepared.send_prepared(&prepared).unwrap();
        assert_eq!(by_prepared.output_len(), prepared.frame().len());
        assert_eq!(
            by_prepared.take_output(),
            by_send.take_output(),
            "length {len}"
        );
    }
    let text = PreparedMessage::from(Message::from("news"));
    let mut conn = server();
    conn.send_prepared(&text).unwrap();
    assert_eq!(
        peer_view(&mut conn),
        [Event::Message(Message::from("news"))]
    );
}

#[test]
fn where_the_frame_cannot_be_shared_the_payload_is_encoded_by_the_connection() {
    let prepared = PreparedMessage::new(&Message::from(vec![7u8; 300]));

    // A client masks its frames with keys of its own.
    let mut client = Connection::new(Role::Client, Config::default());
    client.send_prepared(&prepared).unwrap();
    let wire = client.output().to_vec();
    assert_eq!(wire[1] & 0x80, 0x80, "masked");
    let mut server = server();
    assert_eq!(
        feed(&mut server, &wire).unwrap(),
        [Event::Message(Message::from(vec![7u8; 300]))]
    );

    // A smaller frame size splits the message.
    let mut split = Connection::new(
        Role::Server,
        Config::default().max_send_frame_size(NonZeroUsize::new(100)),
    );
    split.send_prepared(&prepared).unwrap();
    assert_eq!(split.output()[0], 0x02, "first of several frames");
    assert_eq!(
        peer_view(&mut split),
        [Event::Message(Message::from(vec![7u8; 300]))]
    );
}

#[test]
fn prepared_messages_keep_the_order_and_rules_of_send() {
    let prepared = PreparedMessage::new(&Message::from("b"));
    let mut conn = server();
    conn.send_text("a").unwrap();
    conn.send_prepared(&prepared).unwrap();
    conn.send_text("c").unwrap();
    assert_eq!(
        peer_view(&mut conn),
        ["a", "b", "c"].map(|t| Event::Message(Message::from(t)))
    );

    conn.send_fragment(MessageKind::Text, b"half", false)
        .unwrap();
    assert_eq!(
        conn.send_prepared(&prepared),
        Err(SendError::FragmentationMismatch)
    );
    conn.send_fragment(MessageKind::Text, b"", true).unwrap();
    conn.close(CloseCode::NORMAL, "", Instant::now()).unwrap();
    assert_eq!(conn.send_prepared(&prepared), Err(SendError::Closed));
}

#[test]
fn releasing_spare_buffers_keeps_what_is_in_progress() {
    let mut conn = server();
    // Half of a fragmented message, and output not yet written.
    conn.receive_data(&client_frame(false, OpCode::Text, b"hel"));
    assert_eq!(events(&mut conn), []);
    conn.send_text("queued").unwrap();
    conn.release_spare_buffers();
    conn.receive_data(&client_frame(true, OpCode::Continuation, b"lo"));
    assert_eq!(events(&mut conn), [Event::Message(Message::from("hello"))]);
    assert_eq!(
        peer_view(&mut conn),
        [Event::Message(Message::from("queued"))]
    );
    // Idle: released, and the next messages allocate again.
    conn.send_binary(&[0; 4000]).unwrap();
    conn.consume_output(conn.output_len());
    assert!(conn.spare_capacity() >= 4000, "{}", conn.spare_capacity());
    conn.release_spare_buffers();
    assert_eq!(conn.spare_capacity(), 0);
    conn.send_text("after").unwrap();
    assert_eq!(
        peer_view(&mut conn),
        [Event::Message(Message::from("after"))]
    );
}
