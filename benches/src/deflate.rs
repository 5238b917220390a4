//! permessage-deflate (RFC 7692) candidates for the `deflate` bench and the `deflate_memory`
//! example: a JSON-like corpus, and one compressor + decompressor pair per DEFLATE backend, each
//! driven the way the extension needs it: raw deflate, a sync flush per message with the
//! trailing `00 00 ff ff` removed, and the same four bytes appended before inflating.
//!
//! Backends: zlib-rs (its own API, which takes memLevel), miniz_oxide (window fixed at 15 bits,
//! no memLevel) and, with the `c-zlib` feature, C zlib through flate2 (memLevel fixed at 8).

use std::fmt;

/// The four bytes a sync flush ends with, removed from every compressed message (RFC 7692 7.2.1).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Compression settings of one direction of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// zlib compression level, 0–9.
    pub level: u32,
    /// Base-2 logarithm of the LZ77 window, 9–15 (`*_max_window_bits`).
    pub window_bits: u8,
    /// zlib's memLevel, 1–9: the size of the hash table and of the pending-symbol buffer.
    pub mem_level: u8,
    /// Keep the LZ77 window from one message to the next; `false` resets both sides after each
    /// message (`*_no_context_takeover`).
    pub context_takeover: bool,
}

impl Settings {
    /// zlib's defaults, with context takeover: level 6, window 15, memLevel 8.
    pub const DEFAULT: Settings = Settings {
        level: 6,
        window_bits: 15,
        mem_level: 8,
        context_takeover: true,
    };

    /// Short label, e.g. `L6 w15 m8 ctx` or `L1 w15 m8 no-ctx`.
    pub fn label(&self) -> String {
        format!(
            "L{} w{} m{} {}",
            self.level,
            self.window_bits,
            self.mem_level,
            if self.context_takeover {
                "ctx"
            } else {
                "no-ctx"
            }
        )
    }
}

/// The DEFLATE implementations measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    ZlibRs,
    MinizOxide,
    /// C zlib (the bundled source built by libz-sys) through flate2; needs the `c-zlib` feature.
    CZlib,
}

impl Backend {
    /// Every backend compiled into this build, zlib-rs first.
    pub fn all() -> Vec<Backend> {
        let mut all = vec![Backend::ZlibRs, Backend::MinizOxide];
        if cfg!(feature = "c-zlib") {
            all.push(Backend::CZlib);
        }
        all
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::ZlibRs => "zlib-rs",
            Backend::MinizOxide => "miniz_oxide",
            Backend::CZlib => "c-zlib",
        }
    }

    /// A compressor + decompressor pair with `settings`, or why the backend cannot have them.
    pub fn codec(self, settings: Settings) -> Result<Box<dyn Codec>, String> {
        if !(9..=15).contains(&settings.window_bits) || !(1..=9).contains(&settings.mem_level) {
            return Err(format!("settings out of range: {}", settings.label()));
        }
        match self {
            Backend::ZlibRs => Ok(Box::new(zlib_rs_codec::ZlibRs::new(settings))),
            Backend::MinizOxide => {
                if settings.window_bits != 15 || settings.mem_level != 8 {
                    return Err("miniz_oxide has a fixed 15-bit window and no memLevel".into());
                }
                Ok(Box::new(miniz_codec::Miniz::new(settings)))
            }
            Backend::CZlib => c_zlib_codec(settings),
        }
    }
}

#[cfg(feature = "c-zlib")]
fn c_zlib_codec(settings: Settings) -> Result<Box<dyn Codec>, String> {
    if settings.mem_level != 8 {
        return Err("flate2 fixes memLevel at 8".into());
    }
    Ok(Box::new(c_zlib::CZlib::new(settings)))
}

#[cfg(not(feature = "c-zlib"))]
fn c_zlib_codec(_settings: Settings) -> Result<Box<dyn Codec>, String> {
    Err("built without the `c-zlib` feature".into())
}

/// One connection's compressor and decompressor: what one side of a permessage-deflate
/// connection holds for its outgoing and incoming messages.
pub trait Codec: fmt::Debug {
    /// Appends `message` compressed, sync-flushed, without the trailing [`TAIL`], to `out`.
    fn compress(&mut self, message: &[u8], out: &mut Output);

    /// Appends the message that [`Codec::compress`] turned into `payload` to `out`.
    fn decompress(&mut self, payload: &[u8], out: &mut Output);

    /// Compresses `message` into `compressed`, decompresses it into `plain` (both cleared first)
    /// and returns the compressed size.
    fn roundtrip(&mut self, message: &[u8], compressed: &mut Output, plain: &mut Output) -> usize {
        compressed.clear();
        plain.clear();
        self.compress(message, compressed);
        self.decompress(compressed.as_slice(), plain);
        compressed.len()
    }
}

/// A growable output buffer that zero-fills only when it grows, so reusing it costs nothing.
#[derive(Debug, Default)]
pub struct Output {
    buf: Vec<u8>,
    len: usize,
}

impl Output {
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// At least `min` writable bytes after the content.
    fn spare(&mut self, min: usize) -> &mut [u8] {
        if self.buf.len() - self.len < min {
            let grown = (self.len + min).max(self.buf.len() * 2);
            self.buf.resize(grown, 0);
        }
        &mut self.buf[self.len..]
    }

    fn commit(&mut self, written: usize) {
        self.len += written;
    }

    /// Ends a compressed message that started at `start`: removes the sync flush's trailing
    /// `00 00 ff ff`, or, when the flush wrote nothing (zlib declines to flush twice in a row
    /// without new input, as for an empty message), writes the single `00` byte of RFC 7692
    /// 7.2.3.6 instead.
    fn finish_message(&mut self, start: usize) {
        if self.len == start {
            self.spare(1)[0] = 0x00;
            self.commit(1);
            return;
        }
        assert!(
            self.as_slice()[start..].ends_with(&TAIL),
            "a sync flush ends with 00 00 ff ff"
        );
        self.len -= TAIL.len();
    }
}

/// Calls `step(rest_of_input, spare_output) -> (consumed, written)` until the input is consumed
/// and a call leaves output space unused, which is how zlib says a flush is complete.
fn drive(
    input: &[u8],
    out: &mut Output,
    min_room: usize,
    mut step: impl FnMut(&[u8], &mut [u8]) -> (usize, usize),
) {
    let mut pos = 0;
    loop {
        let spare = out.spare(min_room);
        let room = spare.len();
        let (consumed, written) = step(&input[pos..], spare);
        out.commit(written);
        pos += consumed;
        if pos == input.len() && written < room {
            return;
        }
        assert!(
            consumed > 0 || written > 0,
            "the (de)compressor made no progress"
        );
    }
}

/// Output room for compressing `n` bytes: what deflate may need at worst (stored blocks) and more.
fn compress_room(n: usize) -> usize {
    n + n / 8 + 64
}

/// Output room for one inflate call on `n` compressed bytes; the buffer doubles if it is short.
fn decompress_room(n: usize) -> usize {
    (n * 8).max(4096)
}

mod zlib_rs_codec {
    use super::{compress_room, decompress_room, drive, Codec, Output, Settings, TAIL};
    use std::fmt;
    use zlib_rs::{
        Deflate, DeflateConfig, DeflateFlush, Inflate, InflateFlush, Method, Status, Strategy,
    };

    pub struct ZlibRs {
        settings: Settings,
        deflate: Deflate,
        inflate: Inflate,
    }

    impl fmt::Debug for ZlibRs {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("ZlibRs")
                .field("settings", &self.settings)
                .finish_non_exhaustive()
        }
    }

    impl ZlibRs {
        pub fn new(settings: Settings) -> Self {
            ZlibRs {
                settings,
                deflate: Deflate::new_with_config(DeflateConfig {
                    level: settings.level as i32,
                    method: Method::Deflated,
                    // Negative: raw deflate, no zlib header or trailer.
                    window_bits: -i32::from(settings.window_bits),
                    mem_level: i32::from(settings.mem_level),
                    strategy: Strategy::Default,
                }),
                inflate: Inflate::new(false, settings.window_bits),
            }
        }
    }

    impl Codec for ZlibRs {
        fn compress(&mut self, message: &[u8], out: &mut Output) {
            let deflate = &mut self.deflate;
            let start = out.len();
            drive(
                message,
                out,
                compress_room(message.len()),
                |input, output| {
                    let (in0, out0) = (deflate.total_in(), deflate.total_out());
                    match deflate.compress(input, output, DeflateFlush::SyncFlush) {
                        Ok(Status::Ok | Status::BufError) => {}
                        other => panic!("zlib-rs deflate: {other:?}"),
                    }
                    (
                        (deflate.total_in() - in0) as usize,
                        (deflate.total_out() - out0) as usize,
                    )
                },
            );
            out.finish_message(start);
            if !self.settings.context_takeover {
                self.deflate.reset();
            }
        }

        fn decompress(&mut self, payload: &[u8], out: &mut Output) {
            let inflate = &mut self.inflate;
            for part in [payload, &TAIL[..]] {
                drive(part, out, decompress_room(part.len()), |input, output| {
                    let (in0, out0) = (inflate.total_in(), inflate.total_out());
                    match inflate.decompress(input, output, InflateFlush::SyncFlush) {
                        Ok(Status::Ok | Status::BufError) => {}
                        other => panic!("zlib-rs inflate: {other:?}"),
                    }
                    (
                        (inflate.total_in() - in0) as usize,
                        (inflate.total_out() - out0) as usize,
                    )
                });
            }
            if !self.settings.context_takeover {
                if self.settings.window_bits == 15 {
                    self.inflate.reset(false);
                } else {
                    // `Inflate::reset` restores the default 15-bit window.
                    self.inflate = Inflate::new(false, self.settings.window_bits);
                }
            }
        }
    }
}

mod miniz_codec {
    use super::{compress_room, decompress_room, drive, Codec, Output, Settings, TAIL};
    use miniz_oxide::deflate::core::CompressorOxide;
    use miniz_oxide::deflate::stream::deflate;
    use miniz_oxide::inflate::stream::{inflate, InflateState};
    use miniz_oxide::{DataFormat, MZError, MZFlush, StreamResult};
    use std::fmt;

    pub struct Miniz {
        settings: Settings,
        deflate: Box<CompressorOxide>,
        inflate: Box<InflateState>,
    }

    impl fmt::Debug for Miniz {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Miniz")
                .field("settings", &self.settings)
                .finish_non_exhaustive()
        }
    }

    impl Miniz {
        /// `settings.window_bits` must be 15 and `mem_level` 8 (checked by the caller).
        pub fn new(settings: Settings) -> Self {
            let mut deflate = Box::<CompressorOxide>::default();
            deflate.set_format_and_level(DataFormat::Raw, settings.level as u8);
            Miniz {
                settings,
                deflate,
                inflate: InflateState::new_boxed(DataFormat::Raw),
            }
        }
    }

    fn progress(what: &str, result: StreamResult) -> (usize, usize) {
        match result.status {
            Ok(_) | Err(MZError::Buf) => (result.bytes_consumed, result.bytes_written),
            Err(e) => panic!("miniz_oxide {what}: {e:?}"),
        }
    }

    impl Codec for Miniz {
        fn compress(&mut self, message: &[u8], out: &mut Output) {
            let compressor = &mut *self.deflate;
            let start = out.len();
            drive(
                message,
                out,
                compress_room(message.len()),
                |input, output| {
                    progress("deflate", deflate(compressor, input, output, MZFlush::Sync))
                },
            );
            out.finish_message(start);
            if !self.settings.context_takeover {
                self.deflate.reset();
            }
        }

        fn decompress(&mut self, payload: &[u8], out: &mut Output) {
            let state = &mut *self.inflate;
            for part in [payload, &TAIL[..]] {
                drive(part, out, decompress_room(part.len()), |input, output| {
                    progress("inflate", inflate(state, input, output, MZFlush::Sync))
                });
            }
            if !self.settings.context_takeover {
                self.inflate.reset(DataFormat::Raw);
            }
        }
    }
}

#[cfg(feature = "c-zlib")]
mod c_zlib {
    use super::{compress_room, decompress_room, drive, Codec, Output, Settings, TAIL};
    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

    #[derive(Debug)]
    pub struct CZlib {
        settings: Settings,
        deflate: Compress,
        inflate: Decompress,
    }

    impl CZlib {
        /// `settings.mem_level` must be 8 (checked by the caller): flate2 does not expose it.
        pub fn new(settings: Settings) -> Self {
            CZlib {
                settings,
                deflate: Compress::new_with_window_bits(
                    Compression::new(settings.level),
                    false,
                    settings.window_bits,
                ),
                inflate: Decompress::new_with_window_bits(false, settings.window_bits),
            }
        }
    }

    impl Codec for CZlib {
        fn compress(&mut self, message: &[u8], out: &mut Output) {
            let deflate = &mut self.deflate;
            let start = out.len();
            drive(
                message,
                out,
                compress_room(message.len()),
                |input, output| {
                    let (in0, out0) = (deflate.total_in(), deflate.total_out());
                    match deflate.compress(input, output, FlushCompress::Sync) {
                        Ok(Status::Ok | Status::BufError) => {}
                        other => panic!("zlib deflate: {other:?}"),
                    }
                    (
                        (deflate.total_in() - in0) as usize,
                        (deflate.total_out() - out0) as usize,
                    )
                },
            );
            out.finish_message(start);
            if !self.settings.context_takeover {
                self.deflate.reset();
            }
        }

        fn decompress(&mut self, payload: &[u8], out: &mut Output) {
            let inflate = &mut self.inflate;
            for part in [payload, &TAIL[..]] {
                drive(part, out, decompress_room(part.len()), |input, output| {
                    let (in0, out0) = (inflate.total_in(), inflate.total_out());
                    match inflate.decompress(input, output, FlushDecompress::Sync) {
                        Ok(Status::Ok | Status::BufError) => {}
                        other => panic!("zlib inflate: {other:?}"),
                    }
                    (
                        (inflate.total_in() - in0) as usize,
                        (inflate.total_out() - out0) as usize,
                    )
                });
            }
            if !self.settings.context_takeover {
                self.inflate.reset(false);
            }
        }
    }
}

/// A small deterministic generator (SplitMix64), so every run compresses the same bytes.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const KINDS: [&str; 5] = ["trade", "quote", "chat", "presence", "order"];
const SYMBOLS: [&str; 8] = [
    "BTC-USD", "ETH-USD", "SOL-USD", "EUR-USD", "AAPL", "MSFT", "GOOG", "TSLA",
];
const USERS: [&str; 10] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
];
const WORDS: [&str; 16] = [
    "hello", "world", "the", "market", "is", "up", "down", "today", "see", "you", "soon", "ok",
    "thanks", "buy", "sell", "order",
];
const STATUSES: [&str; 4] = ["open", "filled", "cancelled", "partial"];

/// One JSON field (`"key":value`) with repeated keys and varying values.
fn field(rng: &mut Rng, out: &mut String) {
    use std::fmt::Write;
    let n = rng.next_u64();
    match rng.below(10) {
        0 => write!(out, "\"symbol\":\"{}\"", rng.pick(&SYMBOLS)),
        1 => write!(out, "\"price\":{}.{:02}", 10 + n % 90_000, (n >> 20) % 100),
        2 => write!(out, "\"qty\":{}", 1 + n % 5_000),
        3 => write!(out, "\"user\":\"{}\"", rng.pick(&USERS)),
        4 => write!(out, "\"ts\":{}", 1_700_000_000_000 + n % 100_000_000),
        5 => write!(out, "\"status\":\"{}\"", rng.pick(&STATUSES)),
        6 => write!(out, "\"seq\":{}", n % 10_000_000),
        7 => write!(out, "\"active\":{}", n.is_multiple_of(2)),
        8 => {
            out.push_str("\"text\":\"");
            for i in 0..1 + rng.below(8) {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(rng.pick(&WORDS));
            }
            out.push('"');
            Ok(())
        }
        _ => write!(
            out,
            "\"tags\":[\"{}\",\"{}\"]",
            rng.pick(&WORDS),
            rng.pick(&WORDS)
        ),
    }
    .expect("writing to a String cannot fail");
}

/// One JSON object of about `target` bytes: a `type` and an `id`, then fields until the next
/// one could pass `max`.
fn object(rng: &mut Rng, target: usize, max: usize) -> String {
    let mut s = format!(
        "{{\"type\":\"{}\",\"id\":{}",
        rng.pick(&KINDS),
        rng.below(1_000_000)
    );
    let mut f = String::new();
    while s.len() < target {
        f.clear();
        f.push(',');
        field(rng, &mut f);
        if s.len() + f.len() + 1 > max {
            break;
        }
        s.push_str(&f);
    }
    s.push('}');
    s
}

/// `count` small JSON messages of 60–300 bytes.
pub fn small_messages(count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            let target = 60 + rng.below(241) as usize;
            object(&mut rng, target, 300).into_bytes()
        })
        .collect()
}

/// `count` JSON documents of `size` bytes or a little less: `{"items":[...]}` of records.
pub fn documents(size: usize, count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            let mut doc = String::from("{\"items\":[");
            loop {
                let target = 60 + rng.below(241) as usize;
                let record = object(&mut rng, target, 300);
                if doc.len() + record.len() + 2 > size {
                    break;
                }
                if !doc.ends_with('[') {
                    doc.push(',');
                }
                doc.push_str(&record);
            }
            doc.push_str("]}");
            doc.into_bytes()
        })
        .collect()
}

/// The bench corpus: named sets of messages.
pub fn corpus() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    vec![
        ("json-small", small_messages(10_000, 1)),
        ("4KiB", documents(4 * 1024, 16, 2)),
        ("64KiB", documents(64 * 1024, 4, 3)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_sizes() {
        let small = small_messages(1_000, 1);
        assert!(small.iter().all(|m| (60..=300).contains(&m.len())));
        for (size, docs) in [
            (4096, documents(4096, 4, 2)),
            (65536, documents(65536, 2, 3)),
        ] {
            assert!(docs.iter().all(|d| d.len() <= size && d.len() > size - 310));
        }
        assert_eq!(small_messages(10, 7), small_messages(10, 7));
    }

    #[test]
    fn every_backend_roundtrips() {
        let messages = small_messages(200, 9);
        let doc = documents(64 * 1024, 1, 4).remove(0);
        let settings = [
            Settings::DEFAULT,
            Settings {
                level: 1,
                ..Settings::DEFAULT
            },
            Settings {
                context_takeover: false,
                ..Settings::DEFAULT
            },
            Settings {
                window_bits: 12,
                mem_level: 5,
                context_takeover: false,
                ..Settings::DEFAULT
            },
        ];
        let (mut compressed, mut plain) = (Output::default(), Output::default());
        for backend in Backend::all() {
            for s in settings {
                let Ok(mut codec) = backend.codec(s) else {
                    continue;
                };
                for m in messages.iter().chain([&doc, &Vec::new()]) {
                    codec.roundtrip(m, &mut compressed, &mut plain);
                    assert_eq!(plain.as_slice(), &m[..], "{} {}", backend.name(), s.label());
                }
            }
        }
    }

    #[test]
    fn backends_read_each_other() {
        let messages = small_messages(100, 11);
        let (mut compressed, mut plain) = (Output::default(), Output::default());
        for from in Backend::all() {
            for to in Backend::all() {
                let mut sender = from.codec(Settings::DEFAULT).unwrap();
                let mut receiver = to.codec(Settings::DEFAULT).unwrap();
                for m in &messages {
                    compressed.clear();
                    plain.clear();
                    sender.compress(m, &mut compressed);
                    receiver.decompress(compressed.as_slice(), &mut plain);
                    assert_eq!(plain.as_slice(), &m[..], "{} -> {}", from.name(), to.name());
                }
            }
        }
    }

    #[test]
    fn miniz_rejects_other_windows() {
        let s = Settings {
            window_bits: 12,
            ..Settings::DEFAULT
        };
        assert!(Backend::MinizOxide.codec(s).is_err());
        assert!(Backend::ZlibRs.codec(s).is_ok());
    }
}
