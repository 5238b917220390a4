//! Shared inputs for the benchmarks: the message sizes and the wire bytes every peer decodes.

pub mod deflate;
pub mod load;
pub mod server;

use ws_proto::frame::{encode_frame, OpCode};

/// The payload sizes every benchmark runs at, with their labels.
pub const SIZES: [(usize, &str); 4] = [
    (16, "16B"),
    (1024, "1KiB"),
    (64 * 1024, "64KiB"),
    (1024 * 1024, "1MiB"),
];

/// How many messages of `size` one iteration handles: enough that per-iteration overhead vanishes.
pub fn messages_per_iteration(size: usize) -> usize {
    (256 * 1024 / size.max(1)).clamp(1, 4096)
}

/// A payload of `size` bytes of ASCII text (valid as both text and binary).
pub fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// `count` single-frame messages of `opcode` with `payload`, masked as a client sends them when
/// `masked`, unmasked as a server sends them otherwise.
pub fn wire(count: usize, opcode: OpCode, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(count * (payload.len() + 14));
    for i in 0..count {
        let key = masked.then_some([0x12, 0x34, 0x56, (i % 251) as u8]);
        encode_frame(&mut out, true, opcode, key, payload);
    }
    out
}
