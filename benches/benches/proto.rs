//! ws-proto's codec against tungstenite's, in the same run: unmasking, frame encoding, frame
//! decoding and whole-message decoding at 16 B, 1 KiB, 64 KiB and 1 MiB.
//!
//! Every group has a `ws-proto` function; `cargo xtask bench proto` prints the others' times as
//! ratios against it.

use std::hint::black_box;
use std::io::{self, Cursor, Read, Write};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ws_benches::{messages_per_iteration, payload, wire, SIZES};
use ws_proto::frame::{encode_frame, Decoded, FrameDecoder, OpCode};
use ws_proto::mask::{apply_mask, apply_mask_bytewise};
use ws_proto::{Config, Connection, Event, Limits, Role};

/// A read-only stream over a byte slice (tungstenite wants `Read + Write`; writes are discarded).
struct Input<'a>(Cursor<&'a [u8]>);

impl Read for Input<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Input<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn unmask(c: &mut Criterion) {
    let mut group = c.benchmark_group("unmask");
    for (size, label) in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let source = payload(size);
        let mut buf = source.clone();
        let key = [0x37, 0xfa, 0x21, 0x3d];
        group.bench_function(BenchmarkId::new("ws-proto", label), |b| {
            b.iter(|| apply_mask(black_box(&mut buf), key, 0))
        });
        group.bench_function(BenchmarkId::new("bytewise", label), |b| {
            b.iter(|| apply_mask_bytewise(black_box(&mut buf), key, 0))
        });
        group.bench_function(BenchmarkId::new("memcpy", label), |b| {
            b.iter(|| black_box(&mut buf).copy_from_slice(black_box(&source)))
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode_frame");
    for (size, label) in SIZES {
        let count = messages_per_iteration(size);
        group.throughput(Throughput::Bytes((size * count) as u64));
        let data = payload(size);
        let shared = tungstenite::Bytes::from(data.clone());
        let mut out = Vec::with_capacity(count * (size + 14));
        group.bench_function(BenchmarkId::new("ws-proto", label), |b| {
            b.iter(|| {
                out.clear();
                for _ in 0..count {
                    encode_frame(&mut out, true, OpCode::Binary, None, black_box(&data));
                }
                black_box(out.len())
            })
        });
        group.bench_function(BenchmarkId::new("tungstenite", label), |b| {
            b.iter(|| {
                out.clear();
                for _ in 0..count {
                    let frame = tungstenite::protocol::frame::Frame::message(
                        black_box(shared.clone()),
                        tungstenite::protocol::frame::coding::OpCode::Data(
                            tungstenite::protocol::frame::coding::Data::Binary,
                        ),
                        true,
                    );
                    frame.format(&mut out).unwrap();
                }
                black_box(out.len())
            })
        });
    }
    group.finish();
}

/// Frames as a client receives them (unmasked). Both libraries first copy the input into their read
/// buffer (standing in for the socket read), then hand out a view of every payload without copying
/// it again: ws-proto a slice of that buffer, tungstenite a `Bytes` of it. ws-proto's
/// `FrameDecoder` checks each header with `FrameRules::parse_header`, the code `Connection` runs;
/// the payload slicing is the decoder's own (`decode_message` measures the connection's).
fn decode_frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_frame");
    for (size, label) in SIZES {
        let count = messages_per_iteration(size);
        group.throughput(Throughput::Bytes((size * count) as u64));
        let input = wire(count, OpCode::Binary, &payload(size), false);
        let mut read_buffer = Vec::with_capacity(input.len());
        group.bench_function(BenchmarkId::new("ws-proto", label), |b| {
            b.iter(|| {
                read_buffer.clear();
                read_buffer.extend_from_slice(&input);
                let mut decoder = FrameDecoder::new(Role::Client, u64::MAX);
                let mut rest = &read_buffer[..];
                let mut frames = 0;
                while let (Some(item), used) = decoder.decode(rest).unwrap() {
                    rest = &rest[used..];
                    match item {
                        Decoded::Frame(_, piece) => {
                            black_box(piece.data);
                            frames += 1;
                        }
                        Decoded::Payload(piece) => {
                            black_box(piece.data);
                        }
                        Decoded::FrameStart(_) => {}
                        Decoded::FrameEnd => frames += 1,
                    }
                }
                assert_eq!(frames, count);
            })
        });
        group.bench_function(BenchmarkId::new("tungstenite", label), |b| {
            b.iter(|| {
                let mut socket =
                    tungstenite::protocol::frame::FrameSocket::new(Input(Cursor::new(&input)));
                let mut frames = 0;
                while let Some(frame) = socket.read(None).unwrap() {
                    black_box(frame.into_payload());
                    frames += 1;
                }
                assert_eq!(frames, count);
            })
        });
    }
    group.finish();
}

/// Whole messages as a server receives them (masked), through each library's connection type. Both
/// connections live across iterations, as on a long-lived socket, so setup costs are not measured.
fn decode_messages(c: &mut Criterion, group_name: &str, opcode: OpCode) {
    let mut group = c.benchmark_group(group_name);
    for (size, label) in SIZES {
        let count = messages_per_iteration(size);
        group.throughput(Throughput::Bytes((size * count) as u64));
        let input = wire(count, opcode, &payload(size), true);
        let config = Config::default().limits(Limits::UNLIMITED);
        let mut conn = Connection::new(Role::Server, config);
        group.bench_function(BenchmarkId::new("ws-proto", label), |b| {
            b.iter(|| {
                conn.receive_data(&input);
                let mut messages = 0;
                while let Some(event) = conn.next_event() {
                    if let Event::Message(m) = event {
                        black_box(m);
                        messages += 1;
                    }
                }
                assert_eq!(messages, count);
            })
        });
        let config = tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(None)
            .max_frame_size(None);
        let mut socket = tungstenite::WebSocket::from_raw_socket(
            Input(Cursor::new(&input)),
            tungstenite::protocol::Role::Server,
            Some(config),
        );
        group.bench_function(BenchmarkId::new("tungstenite", label), |b| {
            b.iter(|| {
                socket.get_mut().0.set_position(0);
                for _ in 0..count {
                    black_box(socket.read().unwrap());
                }
            })
        });
    }
    group.finish();
}

fn decode_binary(c: &mut Criterion) {
    decode_messages(c, "decode_message", OpCode::Binary);
}

fn decode_text(c: &mut Criterion) {
    decode_messages(c, "decode_text_message", OpCode::Text);
}

criterion_group!(
    benches,
    unmask,
    encode,
    decode_frames,
    decode_binary,
    decode_text
);
criterion_main!(benches);
