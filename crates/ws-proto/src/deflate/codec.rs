//! The compressor and the inflater of one connection: raw DEFLATE streams (RFC 7692 §7.2), kept
//! between messages or reset after each, allocated on first use.
//!
//! Without context takeover a stream holds nothing between messages, so it goes back to a small
//! process-wide pool after each message and the next message (of any connection) takes one from
//! there: an idle connection then holds no compression state at all.

use std::sync::Mutex;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::{Deflate, MAX_WINDOW_BITS, MIN_COMPRESS_WINDOW_BITS};
use crate::error::ProtocolError;
use crate::Role;

/// What a sync flush ends with, and what the sender strips from each message (§7.2.1); the
/// receiver appends it again before inflating the message's last bytes (§7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Output is produced in steps of at most this many bytes, so that an inflated message stops at
/// its limit rather than after it.
const STEP: usize = 64 * 1024;

/// How many idle streams of each kind the pools keep; more are freed.
const POOL_MAX: usize = 64;

/// Reset streams of connections without context takeover, between their messages, with the
/// settings they were made with.
struct Pool<K, T>(Mutex<Vec<(K, Box<T>)>>);

impl<K: PartialEq, T> Pool<K, T> {
    const fn new() -> Self {
        Pool(Mutex::new(Vec::new()))
    }

    /// A pooled stream made with `key`, or a new one from `make`.
    fn take(&self, key: K, make: impl FnOnce() -> Box<T>) -> Box<T> {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match pool.iter().position(|(k, _)| *k == key) {
            Some(i) => pool.swap_remove(i).1,
            None => {
                drop(pool);
                make()
            }
        }
    }

    /// Keeps a reset `state` for the next message, unless the pool is full.
    fn put(&self, key: K, state: Box<T>) {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_MAX {
            pool.push((key, state));
        }
    }
}

/// Compressors by level and window.
static COMPRESSORS: Pool<(u32, u8), Compress> = Pool::new();
/// Inflaters by window.
static INFLATERS: Pool<u8, Decompress> = Pool::new();

fn new_compressor(level: u32, bits: u8) -> Box<Compress> {
    Box::new(Compress::new_with_window_bits(
        Compression::new(level),
        false,
        bits,
    ))
}

fn new_inflater(bits: u8) -> Box<Decompress> {
    Box::new(Decompress::new_with_window_bits(false, bits))
}

/// Compresses the messages this endpoint sends.
pub(crate) struct Deflater {
    level: u32,
    /// `None` when the peer demanded a window this endpoint cannot compress with: every message
    /// then goes uncompressed, which RFC 7692 allows.
    window_bits: Option<u8>,
    no_context_takeover: bool,
    threshold: usize,
    state: Option<Box<Compress>>,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("level", &self.level)
            .field("window_bits", &self.window_bits)
            .field("no_context_takeover", &self.no_context_takeover)
            .field("threshold", &self.threshold)
            .field("allocated", &self.state.is_some())
            .finish()
    }
}

impl Deflater {
    /// The compressor of an endpoint in `role`: it follows the agreed parameters of its own side.
    pub(crate) fn new(deflate: &Deflate, role: Role) -> Self {
        let params = &deflate.params;
        let (bits, no_context_takeover) = match role {
            Role::Client => (
                params.client_max_window_bits,
                params.client_no_context_takeover,
            ),
            Role::Server => (
                params.server_max_window_bits,
                params.server_no_context_takeover,
            ),
        };
        Deflater {
            level: deflate.level.min(9),
            window_bits: (MIN_COMPRESS_WINDOW_BITS..=MAX_WINDOW_BITS)
                .contains(&bits)
                .then_some(bits),
            no_context_takeover,
            threshold: deflate.threshold,
            state: None,
        }
    }

    /// Whether a whole message of `len` bytes goes out compressed. Decided before compressing:
    /// a message compressed and then sent as it was would leave the peer's window behind ours.
    pub(crate) fn compresses(&self, len: usize) -> bool {
        self.window_bits.is_some() && len >= self.threshold
    }

    /// Whether a message sent in pieces goes out compressed (the threshold cannot apply: its
    /// length is not known when the first piece goes).
    pub(crate) fn compresses_pieces(&self) -> bool {
        self.window_bits.is_some()
    }

    /// Compresses the next piece of a message; `last` ends the message. Every piece is flushed,
    /// so what it returns can be sent at once; the message's last piece lacks the 4 bytes of the
    /// final flush, as §7.2.1 says.
    pub(crate) fn compress(&mut self, data: &[u8], last: bool) -> Vec<u8> {
        let level = self.level;
        let bits = self.window_bits.unwrap_or(MAX_WINDOW_BITS);
        let no_context_takeover = self.no_context_takeover;
        let state = self.state.get_or_insert_with(|| match no_context_takeover {
            true => COMPRESSORS.take((level, bits), || new_compressor(level, bits)),
            false => new_compressor(level, bits),
        });
        // Compressed data rarely grows by more than a few bytes per 16 KiB block.
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let start = state.total_in();
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let consumed = (state.total_in() - start) as usize;
            // With a valid state and input, a sync flush only fails on a broken stream, which a
            // fresh compressor replaces; the message then goes out as far as it was compressed.
            if state
                .compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
                .is_err()
            {
                self.state = None;
                break;
            }
            let consumed = (state.total_in() - start) as usize;
            // The flush is complete once all input is taken and the output was not filled.
            if consumed == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        if last {
            if out.ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            }
            if out.is_empty() {
                // Nothing to flush (an empty message right after a flushed one): one empty
                // stored block, which the peer's appended tail completes (§7.2.3.6).
                out.push(0x00);
            }
            if self.no_context_takeover {
                if let Some(mut state) = self.state.take() {
                    state.reset();
                    COMPRESSORS.put((level, bits), state);
                }
            }
        }
        out
    }
}

/// Inflates the compressed messages this endpoint receives.
pub(crate) struct Inflater {
    window_bits: u8,
    no_context_takeover: bool,
    state: Option<Box<Decompress>>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("window_bits", &self.window_bits)
            .field("no_context_takeover", &self.no_context_takeover)
            .field("allocated", &self.state.is_some())
            .finish()
    }
}

impl Inflater {
    /// The inflater of an endpoint in `role`: it follows the agreed parameters of the peer's
    /// side. A window larger than the peer's is always safe, so an 8-bit peer window is inflated
    /// with a 9-bit one.
    pub(crate) fn new(deflate: &Deflate, role: Role) -> Self {
        let params = &deflate.params;
        let (bits, no_context_takeover) = match role {
            Role::Client => (
                params.server_max_window_bits,
                params.server_no_context_takeover,
            ),
            Role::Server => (
                params.client_max_window_bits,
                params.client_no_context_takeover,
            ),
        };
        Inflater {
            window_bits: bits.clamp(MIN_COMPRESS_WINDOW_BITS, MAX_WINDOW_BITS),
            no_context_takeover,
            state: None,
        }
    }

    /// Inflates the next compressed bytes of a message into `out`; `last` says they end the
    /// message. Fails with [`ProtocolError::MessageTooLarge`] as soon as the message's inflated
    /// size would pass `limit` (counting what `out` already held of it, `so_far`), and with
    /// [`ProtocolError::InvalidCompressedData`] when the bytes are not DEFLATE data.
    pub(crate) fn inflate(
        &mut self,
        data: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        so_far: u64,
        limit: u64,
    ) -> Result<(), ProtocolError> {
        let bits = self.window_bits;
        let no_context_takeover = self.no_context_takeover;
        let state = self.state.get_or_insert_with(|| match no_context_takeover {
            true => INFLATERS.take(bits, || new_inflater(bits)),
            false => new_inflater(bits),
        });
        let start_len = out.len();
        let mut result = inflate_into(state, data, out, so_far, limit);
        if result.is_ok() && last {
            let so_far = so_far.saturating_add((out.len() - start_len) as u64);
            result = inflate_into(state, &TAIL, out, so_far, limit);
        }
        if result.is_err() {
            // A failed stream cannot go on.
            state.reset(false);
        } else if last && no_context_takeover {
            // The peer starts afresh with its next message: nothing to keep until then.
            if let Some(mut state) = self.state.take() {
                state.reset(false);
                INFLATERS.put(bits, state);
            }
        }
        result
    }
}

/// Runs `state` over all of `input`, appending to `out` in bounded steps.
fn inflate_into(
    state: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    so_far: u64,
    limit: u64,
) -> Result<(), ProtocolError> {
    let start_len = out.len();
    let start_in = state.total_in();
    loop {
        let produced = (out.len() - start_len) as u64;
        let total = so_far.saturating_add(produced);
        if total > limit {
            return Err(ProtocolError::MessageTooLarge { limit });
        }
        if out.capacity() == out.len() {
            // Room for at most one byte past the limit: enough to tell that it was passed.
            let allowed = usize::try_from(limit - total)
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            out.reserve_exact(allowed.min(STEP));
        }
        let consumed = (state.total_in() - start_in) as usize;
        let before = (state.total_in(), out.len());
        let status = state
            .decompress_vec(&input[consumed..], out, FlushDecompress::Sync)
            .map_err(|e| ProtocolError::InvalidCompressedData(e.to_string()))?;
        let consumed = (state.total_in() - start_in) as usize;
        let progressed = (state.total_in(), out.len()) != before;
        let produced = (out.len() - start_len) as u64;
        if so_far.saturating_add(produced) > limit {
            return Err(ProtocolError::MessageTooLarge { limit });
        }
        match status {
            // A final block ends the stream: what follows in this message is not inflated, and
            // the next message starts a new stream.
            Status::StreamEnd => {
                state.reset(false);
                return Ok(());
            }
            _ if consumed == input.len() && out.len() < out.capacity() => return Ok(()),
            _ if !progressed => {
                return Err(ProtocolError::InvalidCompressedData(
                    "the compressed data stops making progress".into(),
                ))
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::{DeflateConfig, DeflateParams};

    fn deflate(params: DeflateParams) -> Deflate {
        Deflate::new(params, &DeflateConfig::default())
    }

    fn round_trip(params: DeflateParams, messages: &[&[u8]]) -> Vec<Vec<u8>> {
        let d = deflate(params);
        let mut tx = Deflater::new(&d, Role::Client);
        let mut rx = Inflater::new(&d, Role::Server);
        messages
            .iter()
            .map(|m| {
                let wire = tx.compress(m, true);
                let mut out = Vec::new();
                rx.inflate(&wire, true, &mut out, 0, u64::MAX).unwrap();
                out
            })
            .collect()
    }

    #[test]
    fn messages_round_trip_with_and_without_context_takeover() {
        let messages: [&[u8]; 6] = [
            b"",
            b"hello hello hello",
            b"",
            b"",
            b"hello hello hello",
            &[7; 70_000],
        ];
        for no_context_takeover in [false, true] {
            let params = DeflateParams {
                client_no_context_takeover: no_context_takeover,
                ..DeflateParams::default()
            };
            let out = round_trip(params, &messages);
            assert_eq!(out, messages.map(<[u8]>::to_vec));
        }
    }

    #[test]
    fn context_takeover_makes_repeats_small() {
        let d = deflate(DeflateParams::default());
        let mut tx = Deflater::new(&d, Role::Server);
        let message = br#"{"id":12345,"name":"alice","tags":["a","b","c"],"active":true}"#;
        let first = tx.compress(message, true).len();
        let second = tx.compress(message, true).len();
        assert!(second < first / 3, "{first} then {second}");
        // RFC 7692 §7.2.3.2's example: the same "Hello" twice with context takeover.
        let mut tx = Deflater::new(&d, Role::Server);
        assert_eq!(
            tx.compress(b"Hello", true),
            [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
        );
        assert_eq!(tx.compress(b"Hello", true), [0xf2, 0x00, 0x11, 0x00, 0x00]);
    }

    #[test]
    fn pieces_inflate_to_the_message() {
        let d = deflate(DeflateParams::default());
        let mut tx = Deflater::new(&d, Role::Client);
        let mut rx = Inflater::new(&d, Role::Server);
        let mut out = Vec::new();
        let pieces: [&[u8]; 3] = [b"one ", b"two ", b"three"];
        for (i, piece) in pieces.iter().enumerate() {
            let last = i == pieces.len() - 1;
            let wire = tx.compress(piece, last);
            let so_far = out.len() as u64;
            rx.inflate(&wire, last, &mut out, so_far, u64::MAX).unwrap();
        }
        assert_eq!(out, b"one two three");
    }

    #[test]
    fn inflating_stops_at_the_limit() {
        let d = deflate(DeflateParams::default());
        let mut tx = Deflater::new(&d, Role::Client);
        let bomb = tx.compress(&vec![0u8; 10 << 20], true);
        assert!(bomb.len() < 20_000, "{}", bomb.len());
        let mut rx = Inflater::new(&d, Role::Server);
        let mut out = Vec::new();
        let err = rx.inflate(&bomb, true, &mut out, 0, 1 << 20).unwrap_err();
        assert_eq!(err, ProtocolError::MessageTooLarge { limit: 1 << 20 });
        // It stopped at the limit, not after inflating all 10 MiB.
        assert!(out.len() <= (1 << 20) + 1, "{}", out.len());
        assert!(out.capacity() <= (1 << 20) + STEP, "{}", out.capacity());
    }

    #[test]
    fn garbage_is_invalid_compressed_data() {
        let d = deflate(DeflateParams::default());
        let mut rx = Inflater::new(&d, Role::Server);
        let mut out = Vec::new();
        let err = rx
            .inflate(&[0xff, 0xff, 0xff, 0xff], true, &mut out, 0, u64::MAX)
            .unwrap_err();
        assert!(
            matches!(err, ProtocolError::InvalidCompressedData(_)),
            "{err:?}"
        );
    }

    #[test]
    fn an_eight_bit_window_for_our_compressor_means_no_compression() {
        let params = DeflateParams {
            client_max_window_bits: 8,
            ..DeflateParams::default()
        };
        let d = deflate(params);
        assert!(!Deflater::new(&d, Role::Client).compresses(100));
        assert!(Deflater::new(&d, Role::Server).compresses(100));
        // The server inflates the client's 8-bit stream with a 9-bit window.
        assert_eq!(Inflater::new(&d, Role::Server).window_bits, 9);
    }

    #[test]
    fn without_context_takeover_no_state_is_held_between_messages() {
        let params = DeflateParams {
            client_no_context_takeover: true,
            ..DeflateParams::default()
        };
        let d = deflate(params);
        let mut tx = Deflater::new(&d, Role::Client);
        let mut rx = Inflater::new(&d, Role::Server);
        for _ in 0..3 {
            let wire = tx.compress(b"hello hello hello", true);
            assert!(tx.state.is_none());
            let mut out = Vec::new();
            rx.inflate(&wire, true, &mut out, 0, u64::MAX).unwrap();
            assert!(rx.state.is_none());
            assert_eq!(out, b"hello hello hello");
        }
        // A message sent in pieces keeps its stream until its last piece.
        tx.compress(b"one", false);
        assert!(tx.state.is_some());
        tx.compress(b"two", true);
        assert!(tx.state.is_none());
    }

    #[test]
    fn nothing_is_allocated_before_the_first_message() {
        let d = deflate(DeflateParams::default());
        let tx = Deflater::new(&d, Role::Client);
        let rx = Inflater::new(&d, Role::Server);
        assert!(tx.state.is_none() && rx.state.is_none());
    }
}
