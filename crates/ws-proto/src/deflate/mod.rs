//! permessage-deflate (RFC 7692): messages compressed with DEFLATE, negotiated in the opening
//! handshake, marked with RSV1 on their first frame.
//!
//! - [`DeflateConfig`]: what this endpoint offers or accepts, and how it compresses.
//! - [`DeflateParams`]: what the handshake agreed on.
//! - [`Deflate`]: the two together, set as [`Config::deflate`](crate::Config::deflate) of a
//!   [`Connection`](crate::Connection), which then compresses and inflates messages itself.
//!
//! Compression state is allocated when the first compressed message is sent or received, so an
//! idle connection costs what an uncompressed one does.

mod codec;

pub(crate) use codec::{Deflater, Inflater};

/// The largest LZ77 window, as a power of two (32 KiB), and the default of both window settings.
pub const MAX_WINDOW_BITS: u8 = 15;
/// The smallest window RFC 7692 lets a peer ask for (256 bytes).
pub const MIN_WINDOW_BITS: u8 = 8;
/// The smallest window this endpoint compresses with (512 bytes): a peer that demands an 8-bit
/// window for our compressor gets uncompressed messages (or its offer is declined), never a
/// compressor configured outside what it supports.
pub const MIN_COMPRESS_WINDOW_BITS: u8 = 9;

/// This endpoint's permessage-deflate settings: what a client offers and a server accepts, and
/// how messages are compressed.
///
/// | setting | default |
/// | --- | --- |
/// | [`server_no_context_takeover`](Self::server_no_context_takeover) | `false` |
/// | [`client_no_context_takeover`](Self::client_no_context_takeover) | `false` |
/// | [`server_max_window_bits`](Self::server_max_window_bits) | `None` (15) |
/// | [`client_max_window_bits`](Self::client_max_window_bits) | `None` (15) |
/// | [`level`](Self::level) | 6 |
/// | [`threshold`](Self::threshold) | 0: every message is compressed |
///
/// ```
/// use ws_proto::deflate::DeflateConfig;
/// let config = DeflateConfig::default().server_no_context_takeover(true).threshold(64);
/// assert_eq!(config.level, 6);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// The server compresses each message on its own (no LZ77 window kept between messages):
    /// a client asks for it in its offer; a server answers with it, whatever the client asked,
    /// which lets it share no state between messages (and keep less memory per connection).
    pub server_no_context_takeover: bool,
    /// The client compresses each message on its own: a client declares it in its offer; a
    /// server asks for it in its answer.
    pub client_no_context_takeover: bool,
    /// The server's window (9 to 15): a client asks for at most this; a server uses at most
    /// this. `None`: 15.
    pub server_max_window_bits: Option<u8>,
    /// The client's window (9 to 15): a client uses at most this; a server asks a client that
    /// allows it for at most this. `None`: 15.
    pub client_max_window_bits: Option<u8>,
    /// The compression level, 0 (store) to 9 (smallest).
    pub level: u32,
    /// Messages shorter than this many bytes are sent uncompressed (0: every message is
    /// compressed). Decided before compressing, so the peer's window stays in step.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: None,
            level: 6,
            threshold: 0,
        }
    }
}

impl DeflateConfig {
    /// Sets `server_no_context_takeover`.
    #[must_use]
    pub fn server_no_context_takeover(mut self, on: bool) -> Self {
        self.server_no_context_takeover = on;
        self
    }

    /// Sets `client_no_context_takeover`.
    #[must_use]
    pub fn client_no_context_takeover(mut self, on: bool) -> Self {
        self.client_no_context_takeover = on;
        self
    }

    /// Sets the server's window, 9 to 15 bits (values outside are brought into that range).
    #[must_use]
    pub fn server_max_window_bits(mut self, bits: Option<u8>) -> Self {
        self.server_max_window_bits = bits.map(compress_window);
        self
    }

    /// Sets the client's window, 9 to 15 bits (values outside are brought into that range).
    #[must_use]
    pub fn client_max_window_bits(mut self, bits: Option<u8>) -> Self {
        self.client_max_window_bits = bits.map(compress_window);
        self
    }

    /// Sets the compression level, 0 to 9 (higher values count as 9).
    #[must_use]
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }

    /// Sets the size under which messages are sent uncompressed.
    #[must_use]
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }
}

/// A window size this endpoint can compress with.
fn compress_window(bits: u8) -> u8 {
    bits.clamp(MIN_COMPRESS_WINDOW_BITS, MAX_WINDOW_BITS)
}

/// What the opening handshake agreed on (RFC 7692 §7.1): for each side, whether it keeps its
/// LZ77 window between messages and how large that window may be.
///
/// ```
/// use ws_proto::deflate::DeflateParams;
/// let params = DeflateParams::default();
/// assert_eq!((params.server_max_window_bits, params.client_max_window_bits), (15, 15));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// The server compresses each message on its own.
    pub server_no_context_takeover: bool,
    /// The client compresses each message on its own.
    pub client_no_context_takeover: bool,
    /// The server's window, 8 to 15 bits.
    pub server_max_window_bits: u8,
    /// The client's window, 8 to 15 bits.
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
        }
    }
}

/// permessage-deflate as a [`Connection`](crate::Connection) runs it: the agreed parameters and
/// this endpoint's level and threshold.
///
/// ```
/// use ws_proto::deflate::{Deflate, DeflateConfig, DeflateParams};
/// use ws_proto::Config;
/// let deflate = Deflate::new(DeflateParams::default(), &DeflateConfig::default());
/// let config = Config::default().deflate(Some(deflate));
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deflate {
    /// What the handshake agreed on.
    pub params: DeflateParams,
    /// The compression level, 0 to 9.
    pub level: u32,
    /// Messages shorter than this are sent uncompressed.
    pub threshold: usize,
}

impl Deflate {
    /// The agreed `params` with `config`'s level and threshold.
    pub fn new(params: DeflateParams, config: &DeflateConfig) -> Self {
        Deflate {
            params,
            level: config.level.min(9),
            threshold: config.threshold,
        }
    }
}

pub mod negotiate;
