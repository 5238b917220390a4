//! What each fuzz target does with its input, and what must hold whatever the input.
//!
//! This file is compiled into the fuzz targets and, by path, into ws-proto's regression tests,
//! which replay every input kept under `fuzz/regressions/`.

use std::time::{Duration, Instant};

use ws_proto::deflate::{Deflate, DeflateConfig, DeflateParams};
use ws_proto::frame::{encode_frame, OpCode};
use ws_proto::handshake::{Accept, ClientHandshake, ClientRequest, ServerHandshake, WsUrl};
use ws_proto::{
    CloseCode, Config, Connection, Event, Limits, Message, MessageKind, ReceiveMode, Role, State,
};

/// Feeds `data` to a connection of `role` and checks every event.
///
/// The first byte chooses the settings: bit 0 streaming mode, bit 1 tiny limits, bit 2 whether the
/// rest is raw wire bytes or a list of frames to encode (which reaches message assembly far more
/// often than random bytes do), bit 3 feeding through `input_buffer`, and the high bits how the
/// input is split into reads.
pub fn decode(role: Role, data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let config = Config::default()
        .receive_mode(if control & 1 != 0 {
            ReceiveMode::Streaming
        } else {
            ReceiveMode::Messages
        })
        .limits(if control & 2 != 0 {
            Limits::default()
                .max_frame_size(64)
                .max_message_size(200)
                .max_fragments(6)
        } else {
            Limits::default()
        });
    let wire = if control & 4 != 0 {
        frames(role.peer(), rest)
    } else {
        rest.to_vec()
    };
    let read_size = 1 + usize::from(control >> 4) * 5;
    let mut conn = Connection::new(role, config);
    let start = Instant::now();
    conn.set_heartbeat(
        Some(Duration::from_secs(1)),
        Some(Duration::from_secs(1)),
        start,
    );
    let mut closed = false;
    for (i, read) in wire.chunks(read_size).enumerate() {
        if control & 8 != 0 {
            conn.input_buffer().extend_from_slice(read);
        } else {
            conn.receive_data(read);
        }
        loop {
            let Some(event) = conn.next_event() else {
                // An ending waits for the application's word; give it, as a transport does.
                if matches!(conn.state(), State::RemoteClosing | State::Failing) {
                    conn.finish_closing();
                    assert_eq!(conn.state(), State::Closed);
                    continue;
                }
                break;
            };
            assert!(!closed, "an event after Closed: {event:?}");
            check(&event);
            closed = matches!(event, Event::Closed(_));
            match &event {
                Event::Closed(_) => assert!(
                    matches!(conn.state(), State::RemoteClosing | State::Closed),
                    "{:?} after Closed",
                    conn.state()
                ),
                Event::Error(_) => assert_eq!(conn.state(), State::Failing),
                _ => {}
            }
        }
        // Exercise the sending side and the timers in between reads.
        let now = start + Duration::from_millis(300 * i as u64);
        conn.handle_timeout(now);
        if i % 3 == 0 {
            let _ = conn.send_text("echo");
        }
        let _ = conn.take_output();
    }
    if conn.state() == State::Open {
        conn.close(CloseCode::NORMAL, "done", start)
            .expect("an open connection can close");
        assert!(!conn.output().is_empty());
    }
}

/// Feeds compressed traffic (permessage-deflate) to a connection and checks every event.
///
/// The first byte chooses the settings: bit 0 the receiving role, bit 1 streaming mode, bit 2
/// no context takeover on both sides, bit 3 tiny limits, bit 4 whether the rest is raw wire bytes
/// or messages that a compressing peer sends (so the inflater mostly sees valid DEFLATE data),
/// bit 5 flipping one byte of that peer's output, and the high bits the peer's frame size.
pub fn decode_deflate(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let role = if control & 1 != 0 {
        Role::Server
    } else {
        Role::Client
    };
    let no_context_takeover = control & 4 != 0;
    let params = DeflateParams {
        server_no_context_takeover: no_context_takeover,
        client_no_context_takeover: no_context_takeover,
        ..DeflateParams::default()
    };
    let deflate = Some(Deflate::new(params, &DeflateConfig::default()));
    let limits = if control & 8 != 0 {
        Limits::default()
            .max_frame_size(64)
            .max_message_size(300)
            .max_fragments(6)
    } else {
        Limits::default()
    };
    let config = Config::default()
        .deflate(deflate)
        .limits(limits)
        .receive_mode(if control & 2 != 0 {
            ReceiveMode::Streaming
        } else {
            ReceiveMode::Messages
        });
    let wire = if control & 16 != 0 {
        let frame_size = std::num::NonZeroUsize::new(1 + usize::from(control >> 6) * 40);
        let mut peer = Connection::new(
            role.peer(),
            Config::default()
                .deflate(deflate)
                .max_send_frame_size(frame_size),
        );
        // Each input byte pair is a message: its kind and length, taken from what follows.
        let mut spec = rest;
        while let [head, len, more @ ..] = spec {
            let take = usize::from(*len).min(more.len());
            let payload = &more[..take];
            let _ = match head & 1 {
                0 => peer.send_binary(payload),
                _ => peer.send_text(&String::from_utf8_lossy(payload)),
            };
            spec = &more[take..];
        }
        let mut wire = peer.take_output();
        if control & 32 != 0 && !wire.is_empty() {
            let at = usize::from(rest.first().copied().unwrap_or(0)) % wire.len();
            wire[at] ^= 0x5A;
        }
        wire
    } else {
        rest.to_vec()
    };
    let mut conn = Connection::new(role, config);
    let mut closed = false;
    for read in wire.chunks(97) {
        conn.receive_data(read);
        loop {
            let Some(event) = conn.next_event() else {
                if matches!(conn.state(), State::RemoteClosing | State::Failing) {
                    conn.finish_closing();
                    continue;
                }
                break;
            };
            assert!(!closed, "an event after Closed: {event:?}");
            check(&event);
            if let Event::Message(message) = &event {
                assert!(message.len() as u64 <= limits.max_message_size);
            }
            closed = matches!(event, Event::Closed(_));
        }
        let _ = conn.send_text("echo echo echo");
        let _ = conn.take_output();
    }
}

fn check(event: &Event) {
    match event {
        Event::Message(Message::Text(text)) => {
            let std = std::str::from_utf8(text.as_bytes()).expect("text messages are UTF-8");
            assert_eq!(std, text.as_str());
        }
        Event::Chunk(chunk) if chunk.kind == MessageKind::Text => {
            assert!(
                std::str::from_utf8(&chunk.data).is_ok(),
                "text chunks are UTF-8"
            );
        }
        Event::Ping(payload) | Event::Pong(payload) => assert!(payload.len() <= 125),
        Event::Closed(status) => {
            assert!(status.clean || status.code == CloseCode::ABNORMAL);
        }
        _ => {}
    }
}

/// Encodes `spec` as frames sent by `sender`: each frame is a header byte (FIN in bit 7, the
/// opcode chosen by the low bits), a length byte, and that many payload bytes.
fn frames(sender: Role, mut spec: &[u8]) -> Vec<u8> {
    const OPCODES: [OpCode; 8] = [
        OpCode::Continuation,
        OpCode::Text,
        OpCode::Binary,
        OpCode::Close,
        OpCode::Ping,
        OpCode::Pong,
        OpCode::Text,
        OpCode::Continuation,
    ];
    let mut wire = Vec::new();
    while let [head, len, rest @ ..] = spec {
        let take = usize::from(*len).min(rest.len());
        let mask = (sender == Role::Client).then_some([head ^ 0x5A, *len, 0x33, 0xC4]);
        encode_frame(
            &mut wire,
            head & 0x80 != 0,
            OPCODES[usize::from(head & 7)],
            mask,
            &rest[..take],
        );
        spec = &rest[take..];
    }
    wire
}

/// Feeds `data` to a client handshake as the server's response. The first byte sets the read size.
pub fn client_handshake(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let url = WsUrl::parse("ws://example.com/chat").expect("a valid URL");
    let request = ClientRequest::new(url)
        .protocol("chat, superchat")
        .expect("valid protocol names");
    let mut handshake = ClientHandshake::with_key(&request, *b"the sample nonce");
    for read in rest.chunks(1 + usize::from(control)) {
        match handshake.receive_data(read) {
            Ok(None) => {}
            Ok(Some(done)) => {
                assert_eq!(done.response.status, 101);
                if let Some(protocol) = &done.response.protocol {
                    assert!(protocol == "chat" || protocol == "superchat", "{protocol}");
                }
                return;
            }
            Err(_) => return,
        }
    }
    // Also throw the raw bytes at the URL parser.
    if let Ok(text) = std::str::from_utf8(rest) {
        if let Ok(url) = WsUrl::parse(text) {
            assert!(url.resource().starts_with('/'));
            assert!(url.port() != 0);
        }
    }
}

/// Feeds `data` to a server handshake as the client's request. The first byte sets the read size.
pub fn server_handshake(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let mut handshake = ServerHandshake::default();
    for read in rest.chunks(1 + usize::from(control)) {
        match handshake.receive_data(read) {
            Ok(None) => {}
            Ok(Some(request)) => {
                let protocol = request.choose_protocol(&["chat", "superchat"]);
                let response = request
                    .accept_response(protocol.as_deref(), &[])
                    .expect("a parsed request can be accepted with a protocol it offered");
                assert!(response.starts_with(b"HTTP/1.1 101 "));
                // Whatever permessage-deflate parameters are chosen make a valid answer.
                let config = if control % 2 == 0 {
                    DeflateConfig::default()
                } else {
                    DeflateConfig::default()
                        .server_no_context_takeover(true)
                        .server_max_window_bits(Some(10))
                        .client_max_window_bits(Some(9))
                };
                let deflate = request.choose_deflate(&config);
                let response = request
                    .accept(&Accept::default().deflate(deflate))
                    .expect("chosen permessage-deflate parameters answer an offer");
                assert_eq!(
                    deflate.is_some(),
                    response
                        .windows(26)
                        .any(|w| w == b"Sec-WebSocket-Extensions: ")
                );
                return;
            }
            Err(error) => {
                if let Some(response) = error.response() {
                    assert!(response.starts_with(b"HTTP/1.1 "));
                }
                return;
            }
        }
    }
}
