//! permessage-deflate in `Connection`: compressed messages both ways, RSV1 rules, fragmentation,
//! streaming, thresholds, context takeover, limits and corrupt data.

use std::num::NonZeroUsize;

use proptest::prelude::*;
use ws_proto::deflate::{Deflate, DeflateConfig, DeflateParams};
use ws_proto::frame::{encode_frame, FrameHeader, OpCode};
use ws_proto::{
    Bytes, CloseCode, Config, Connection, Event, Limits, Message, PreparedMessage, ProtocolError,
    ReceiveMode, Role, Rsv, State,
};

fn deflate_with(params: DeflateParams, config: &DeflateConfig) -> Config {
    Config::default().deflate(Some(Deflate::new(params, config)))
}

fn deflate() -> Config {
    deflate_with(DeflateParams::default(), &DeflateConfig::default())
}

fn pair(config: Config) -> (Connection, Connection) {
    (
        Connection::new(Role::Client, config.clone()),
        Connection::new(Role::Server, config),
    )
}

/// Every event of `conn`, concluding an ending with `finish_closing` as a transport does.
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

/// The frame headers in `wire` (unmasked server output or masked client output alike).
fn headers(mut wire: &[u8]) -> Vec<FrameHeader> {
    let mut out = Vec::new();
    while let Ok(Some((header, len))) = FrameHeader::parse(wire) {
        out.push(header);
        wire = &wire[len + header.payload_len as usize..];
    }
    out
}

fn first_error(events: &[Event]) -> Option<ProtocolError> {
    events.iter().find_map(|e| match e {
        Event::Error(error) => Some(error.clone()),
        _ => None,
    })
}

#[test]
fn the_rfc_7692_hello_example_goes_out_as_written() {
    // RFC 7692 §7.2.3.1/§7.2.3.2: "Hello" compressed, then again with the window taken over.
    let mut server = Connection::new(Role::Server, deflate());
    server.send_text("Hello").unwrap();
    assert_eq!(
        server.take_output(),
        [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
    );
    server.send_text("Hello").unwrap();
    assert_eq!(
        server.take_output(),
        [0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]
    );
    // A client reads both.
    let mut client = Connection::new(Role::Client, deflate());
    client.receive_data(&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    client.receive_data(&[0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]);
    assert_eq!(
        events(&mut client),
        [
            Event::Message(Message::from("Hello")),
            Event::Message(Message::from("Hello"))
        ]
    );
}

#[test]
fn messages_round_trip_both_ways_with_rsv1_on_the_first_frame_only() {
    let json = br#"{"id":1,"user":"alice","text":"hello, hello, hello"}"#.repeat(40);
    let messages = [
        Message::from("short"),
        Message::from(""),
        Message::Binary(Bytes::from(json.clone())),
        Message::Binary(Bytes::from(vec![0u8; 100_000])),
        Message::from(String::from_utf8(json).unwrap()),
    ];
    for frame_size in [None, NonZeroUsize::new(7)] {
        for client_sends in [true, false] {
            let (mut client, mut server) = pair(deflate().max_send_frame_size(frame_size));
            let (from, to) = match client_sends {
                true => (&mut client, &mut server),
                false => (&mut server, &mut client),
            };
            for message in &messages {
                from.send(message).unwrap();
            }
            let wire = from.take_output();
            let mut first = true;
            for header in headers(&wire) {
                assert_eq!(header.rsv.contains(Rsv::RSV1), first, "{header:?}");
                first = header.fin;
            }
            to.receive_data(&wire);
            let received = events(to);
            assert_eq!(
                received,
                messages
                    .iter()
                    .cloned()
                    .map(Event::Message)
                    .collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn compression_shrinks_repetitive_messages_and_context_takeover_shrinks_repeats() {
    let message = br#"{"type":"quote","symbol":"ACME","bid":101.25,"ask":101.27}"#;
    let (mut client, _) = pair(deflate());
    client.send_binary(message).unwrap();
    let first = client.take_output().len();
    client.send_binary(message).unwrap();
    let second = client.take_output().len();
    assert!(first < message.len() + 6, "{first}");
    assert!(second < first / 2, "{first} then {second}");

    // Without context takeover each message is compressed on its own.
    let params = DeflateParams {
        client_no_context_takeover: true,
        ..DeflateParams::default()
    };
    let (mut client, mut server) = pair(deflate_with(params, &DeflateConfig::default()));
    client.send_binary(message).unwrap();
    let a = client.take_output();
    client.send_binary(message).unwrap();
    let b = client.take_output();
    assert_eq!(a.len(), b.len());
    server.receive_data(&a);
    server.receive_data(&b);
    assert_eq!(events(&mut server).len(), 2);
}

#[test]
fn messages_under_the_threshold_go_uncompressed() {
    let config = deflate_with(
        DeflateParams::default(),
        &DeflateConfig::default().threshold(100),
    );
    let (mut client, mut server) = pair(config);
    client.send_text("small").unwrap();
    client.send_binary(&[1u8; 100]).unwrap();
    client.send_text("small again").unwrap();
    let wire = client.take_output();
    let rsv1: Vec<bool> = headers(&wire)
        .iter()
        .map(|h| h.rsv.contains(Rsv::RSV1))
        .collect();
    assert_eq!(rsv1, [false, true, false]);
    server.receive_data(&wire);
    assert_eq!(
        events(&mut server),
        [
            Event::Message(Message::from("small")),
            Event::Message(Message::from(vec![1u8; 100])),
            Event::Message(Message::from("small again")),
        ]
    );
}

#[test]
fn messages_sent_in_pieces_are_compressed_and_arrive_whole() {
    let (mut client, mut server) = pair(deflate());
    let kind = ws_proto::MessageKind::Text;
    client
        .send_fragment(kind, "héllo ".as_bytes(), false)
        .unwrap();
    client.send_fragment(kind, b"wor", false).unwrap();
    client.send_fragment(kind, b"ld", true).unwrap();
    let wire = client.take_output();
    let rsv1: Vec<bool> = headers(&wire)
        .iter()
        .map(|h| h.rsv.contains(Rsv::RSV1))
        .collect();
    assert_eq!(rsv1, [true, false, false]);
    server.receive_data(&wire);
    assert_eq!(
        events(&mut server),
        [Event::Message(Message::from("héllo world"))]
    );
}

#[test]
fn streaming_mode_hands_out_inflated_chunks_of_valid_text() {
    let text = "€uro ".repeat(20_000);
    let (mut client, _) = pair(deflate().max_send_frame_size(NonZeroUsize::new(1000)));
    client.send_text(&text).unwrap();
    let wire = client.take_output();
    let mut server = Connection::new(Role::Server, deflate().receive_mode(ReceiveMode::Streaming));
    let mut got = String::new();
    let mut finished = false;
    for piece in wire.chunks(333) {
        server.receive_data(piece);
        for event in events(&mut server) {
            let Event::Chunk(chunk) = event else {
                panic!("{event:?}")
            };
            got.push_str(std::str::from_utf8(&chunk.data).expect("every text chunk is UTF-8"));
            finished = chunk.message_finished;
        }
    }
    assert!(finished);
    assert_eq!(got, text);
}

#[test]
fn a_small_frame_cannot_inflate_past_the_message_limit() {
    let (mut client, _) = pair(deflate());
    client.send_binary(&vec![0u8; 8 << 20]).unwrap();
    let bomb = client.take_output();
    assert!(bomb.len() < 20_000, "{}", bomb.len());
    let mut server = Connection::new(
        Role::Server,
        deflate().limits(Limits::default().max_message_size(1 << 20)),
    );
    server.receive_data(&bomb);
    let evs = events(&mut server);
    assert_eq!(
        first_error(&evs),
        Some(ProtocolError::MessageTooLarge { limit: 1 << 20 })
    );
    let close = server.take_output();
    assert_eq!(
        (close[0], &close[2..4]),
        (0x88, &[0x03, 0xf1][..]),
        "a Close frame with 1009"
    );
}

#[test]
fn rsv1_where_it_does_not_belong_fails_with_1002() {
    let key = Some([1, 2, 3, 4]);
    let with_rsv1 = |fin, opcode, payload: &[u8]| {
        let mut wire = Vec::new();
        encode_frame(&mut wire, fin, opcode, key, payload);
        wire[0] |= 0x40;
        wire
    };
    // On a continuation frame.
    let (mut client, mut server) = pair(deflate());
    client
        .send_fragment(ws_proto::MessageKind::Binary, b"a", false)
        .unwrap();
    let mut wire = client.take_output();
    wire.extend(with_rsv1(true, OpCode::Continuation, b"b"));
    server.receive_data(&wire);
    let error = first_error(&events(&mut server)).unwrap();
    assert_eq!(error, ProtocolError::ReservedBits(Rsv::RSV1));
    assert_eq!(error.close_code(), CloseCode::PROTOCOL_ERROR);
    // On a ping.
    let mut server = Connection::new(Role::Server, deflate());
    server.receive_data(&with_rsv1(true, OpCode::Ping, b""));
    assert_eq!(
        first_error(&events(&mut server)),
        Some(ProtocolError::ReservedBits(Rsv::RSV1))
    );
    // Without permessage-deflate negotiated.
    let mut server = Connection::new(Role::Server, Config::default());
    server.receive_data(&with_rsv1(true, OpCode::Text, b"x"));
    assert_eq!(
        first_error(&events(&mut server)),
        Some(ProtocolError::ReservedBits(Rsv::RSV1))
    );
}

#[test]
fn corrupt_compressed_data_and_bad_inflated_text_fail_with_1007() {
    let mut wire = Vec::new();
    encode_frame(
        &mut wire,
        true,
        OpCode::Binary,
        Some([9, 9, 9, 9]),
        &[0xff; 8],
    );
    wire[0] |= 0x40;
    let mut server = Connection::new(Role::Server, deflate());
    server.receive_data(&wire);
    let error = first_error(&events(&mut server)).unwrap();
    assert!(
        matches!(error, ProtocolError::InvalidCompressedData(_)),
        "{error:?}"
    );
    assert_eq!(error.close_code(), CloseCode::INVALID_PAYLOAD);

    // Text that inflates to invalid UTF-8: compressed as binary, then relabelled as text.
    let (mut client, mut server) = pair(deflate());
    client.send_binary(&[b'o', b'k', 0xff, 0xfe]).unwrap();
    let mut wire = client.take_output();
    wire[0] = (wire[0] & 0xf0) | 0x1;
    server.receive_data(&wire);
    let error = first_error(&events(&mut server)).unwrap();
    assert!(matches!(error, ProtocolError::InvalidUtf8(_)), "{error:?}");
    assert_eq!(error.close_code(), CloseCode::INVALID_PAYLOAD);
}

#[test]
fn a_window_of_eight_bits_demanded_of_our_compressor_means_uncompressed_messages() {
    let params = DeflateParams {
        server_max_window_bits: 8,
        ..DeflateParams::default()
    };
    let config = deflate_with(params, &DeflateConfig::default());
    let (mut client, mut server) = pair(config);
    server.send_text("hello hello hello").unwrap();
    let wire = server.take_output();
    assert!(!headers(&wire)[0].rsv.contains(Rsv::RSV1));
    client.receive_data(&wire);
    assert_eq!(
        events(&mut client),
        [Event::Message(Message::from("hello hello hello"))]
    );
    // The client still compresses (its own window is 15).
    client.send_text("hello hello hello").unwrap();
    let wire = client.take_output();
    assert!(headers(&wire)[0].rsv.contains(Rsv::RSV1));
    server.receive_data(&wire);
    assert_eq!(events(&mut server).len(), 1);
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        "[a-z {}:\",é€😀]{0,300}".prop_map(Message::from),
        proptest::collection::vec(any::<u8>(), 0..600).prop_map(Message::from),
        (0usize..40_000)
            .prop_map(|n| Message::from("abcabcabd".repeat(n / 9 + 1)[..n].to_string())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Long runs of messages, with and without context takeover, any frame size, any receive
    /// mode, the input split anywhere: the peer gets exactly what was sent.
    #[test]
    fn compressed_runs_round_trip_split_anywhere(
        messages in proptest::collection::vec(arb_message(), 1..40),
        client_sends in any::<bool>(),
        no_context_takeover in any::<bool>(),
        frame_size in prop_oneof![Just(None), (1usize..2000).prop_map(NonZeroUsize::new)],
        threshold in prop_oneof![Just(0usize), 0usize..200],
        streaming in any::<bool>(),
        cuts in proptest::collection::vec(1usize..5000, 1..50),
    ) {
        let params = DeflateParams {
            client_no_context_takeover: no_context_takeover,
            server_no_context_takeover: no_context_takeover,
            ..DeflateParams::default()
        };
        let local = DeflateConfig::default().threshold(threshold);
        let sender_role = if client_sends { Role::Client } else { Role::Server };
        let mut sender = Connection::new(
            sender_role,
            deflate_with(params, &local).max_send_frame_size(frame_size),
        );
        let mode = if streaming { ReceiveMode::Streaming } else { ReceiveMode::Messages };
        let mut receiver = Connection::new(
            sender_role.peer(),
            deflate_with(params, &local).receive_mode(mode),
        );
        for message in &messages {
            sender.send(message).unwrap();
        }
        let wire = sender.take_output();
        let mut rest = &wire[..];
        let mut cut = cuts.iter().cycle();
        let mut got: Vec<Message> = Vec::new();
        let mut partial: Vec<u8> = Vec::new();
        while !rest.is_empty() {
            let n = (*cut.next().unwrap()).min(rest.len());
            receiver.receive_data(&rest[..n]);
            rest = &rest[n..];
            while let Some(event) = receiver.next_event() {
                match event {
                    Event::Message(m) => got.push(m),
                    Event::Chunk(chunk) => {
                        partial.extend_from_slice(&chunk.data);
                        if chunk.message_finished {
                            let data = std::mem::take(&mut partial);
                            got.push(match chunk.kind {
                                ws_proto::MessageKind::Text => Message::from(String::from_utf8(data).unwrap()),
                                ws_proto::MessageKind::Binary => Message::from(data),
                            });
                        }
                    }
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
        }
        prop_assert_eq!(got, messages);
    }
}

#[test]
fn a_prepared_message_is_compressed_by_each_connection_that_negotiated_deflate() {
    let message = Message::from(r#"{"type":"quote","symbol":"ACME","bid":101.25,"ask":101.27}"#);
    let prepared = PreparedMessage::new(&message);
    let (mut client, mut server) = pair(deflate());
    server.send_prepared(&prepared).unwrap();
    let wire = server.take_output();
    assert_eq!(wire[0] & 0x40, 0x40, "RSV1: compressed");
    assert!(wire.len() < prepared.frame().len(), "{} bytes", wire.len());
    client.receive_data(&wire);
    assert_eq!(events(&mut client), [Event::Message(message)]);
}
