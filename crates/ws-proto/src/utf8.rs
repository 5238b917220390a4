//! Incremental UTF-8 validation for text messages that arrive in pieces.
//!
//! A text message may be split across frames, and a frame across reads, at any byte, including in
//! the middle of a code point. [`Utf8Validator`] keeps at most three bytes of an unfinished code point
//! between pieces and fails as soon as the bytes seen so far can no longer be the start of valid
//! UTF-8 (RFC 6455 §8.1 asks endpoints to fail such connections with 1007), without waiting for the
//! message to end. The heavy lifting is `simdutf8`, which checks 32 or 64 bytes per step where the
//! CPU allows (std's validator checks 16), with the same answers as `std::str::from_utf8`.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

/// The bytes of a text message are not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8 {
    /// Offset, from the start of the message, of the first byte that cannot be part of valid UTF-8.
    pub position: usize,
}

impl fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "text is not valid UTF-8 (first bad byte at offset {})",
            self.position
        )
    }
}

impl std::error::Error for InvalidUtf8 {}

/// Validates a byte stream piece by piece.
///
/// ```
/// use ws_proto::utf8::Utf8Validator;
/// let text = "héllo €".as_bytes();
/// let mut v = Utf8Validator::new();
/// for byte in text {
///     v.feed(std::slice::from_ref(byte)).unwrap(); // split anywhere, even inside "é" or "€"
/// }
/// v.finish().unwrap();
///
/// // 0xC3 0x28 can never become valid: the error comes at once, not at the end.
/// let mut v = Utf8Validator::new();
/// assert!(v.feed(&[b'a', 0xC3]).is_ok());
/// assert!(v.feed(&[0x28]).is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    /// The unfinished code point at the end of the last piece.
    pending: [u8; 4],
    pending_len: usize,
    /// Bytes accepted so far, for error positions.
    seen: usize,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets everything, ready for the next message.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// `true` if the last piece ended inside a code point.
    pub fn is_incomplete(&self) -> bool {
        self.pending_len != 0
    }

    /// The number of bytes at the end of the input so far that belong to an unfinished code point.
    pub fn incomplete_len(&self) -> usize {
        self.pending_len
    }

    /// Checks the next piece of the message.
    ///
    /// # Errors
    ///
    /// [`InvalidUtf8`] at the first byte that cannot start or continue a UTF-8 sequence; feeding
    /// stops there.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            // Complete the pending code point with the first bytes of this piece.
            let need = utf8_width(self.pending[0]) - self.pending_len;
            let take = need.min(bytes.len());
            let mut joined = self.pending;
            joined[self.pending_len..self.pending_len + take].copy_from_slice(&bytes[..take]);
            let joined_len = self.pending_len + take;
            match simdutf8::compat::from_utf8(&joined[..joined_len]) {
                Ok(_) => {
                    self.seen += joined_len;
                    self.pending_len = 0;
                    bytes = &bytes[take..];
                }
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix; `bytes` was too short to finish it.
                    self.pending = joined;
                    self.pending_len = joined_len;
                    return Ok(());
                }
                Err(e) => {
                    return Err(InvalidUtf8 {
                        position: self.seen + e.valid_up_to(),
                    })
                }
            }
        }
        match simdutf8::compat::from_utf8(bytes) {
            Ok(_) => {
                self.seen += bytes.len();
                Ok(())
            }
            Err(e) => {
                let valid = e.valid_up_to();
                if e.error_len().is_some() {
                    return Err(InvalidUtf8 {
                        position: self.seen + valid,
                    });
                }
                let tail = &bytes[valid..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len();
                self.seen += valid;
                Ok(())
            }
        }
    }

    /// Declares the message finished: an unfinished code point at the end is an error.
    ///
    /// # Errors
    ///
    /// [`InvalidUtf8`] when the input ends inside a code point.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        if self.pending_len != 0 {
            return Err(InvalidUtf8 {
                position: self.seen,
            });
        }
        self.reset();
        Ok(())
    }
}

/// The length of the code point that `first` starts (1 for bytes that cannot start one, so callers
/// always make progress and let `from_utf8` report the error).
fn utf8_width(first: u8) -> usize {
    match first {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// Text known to be UTF-8, in a shared, reference-counted buffer.
///
/// Received text messages are handed out as `Utf8Bytes` so that they need neither a copy nor a
/// second validation; it derefs to `&str`.
///
/// ```
/// use ws_proto::utf8::Utf8Bytes;
/// let text = Utf8Bytes::from("héllo");
/// assert_eq!(text.as_str(), "héllo");
/// assert_eq!(text.len(), 6);
/// assert!(text.starts_with('h')); // any `str` method, through `Deref`
/// assert!(Utf8Bytes::try_from(bytes::Bytes::from_static(b"\xff")).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Text from a static string, without allocating.
    pub const fn from_static(text: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(text.as_bytes()))
    }

    /// The text.
    #[allow(unsafe_code)]
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor establishes that `self.0` is UTF-8: `From<String>`/`From<&str>`
        // take a `str`, `TryFrom<Bytes>` validates exactly these bytes (with simdutf8, whose
        // answers the tests below compare with `std::str::from_utf8`), and
        // `Bytes` is immutable. Decoding received text this way saves a second full validation pass
        // (see the `decode_text_message` benchmark); the tests below and the decoder fuzz targets
        // compare every result with `std::str::from_utf8`.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The underlying buffer.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = InvalidUtf8;

    fn try_from(bytes: Bytes) -> Result<Self, InvalidUtf8> {
        if simdutf8::basic::from_utf8(&bytes).is_ok() {
            return Ok(Utf8Bytes(bytes));
        }
        // The fast check only says "invalid"; the compatible one also says where.
        let position = simdutf8::compat::from_utf8(&bytes).map_or_else(|e| e.valid_up_to(), |_| 0);
        Err(InvalidUtf8 { position })
    }
}

impl From<String> for Utf8Bytes {
    fn from(text: String) -> Self {
        Utf8Bytes(Bytes::from(text.into_bytes()))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(text: &str) -> Self {
        Utf8Bytes(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Bytes {
        text.0
    }
}

impl From<Utf8Bytes> for String {
    fn from(text: Utf8Bytes) -> String {
        text.as_str().to_owned()
    }
}

impl Deref for Utf8Bytes {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Utf8Bytes {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn validate_in_pieces(bytes: &[u8], cuts: &[usize]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::new();
        let mut last = 0;
        for &cut in cuts {
            let cut = cut.clamp(last, bytes.len());
            v.feed(&bytes[last..cut])?;
            last = cut;
        }
        v.feed(&bytes[last..])?;
        v.finish()
    }

    #[test]
    fn accepts_multibyte_split_everywhere() {
        let text = "κόσμε 𝄞 €uro ✓".as_bytes();
        for a in 0..=text.len() {
            for b in a..=text.len() {
                assert!(validate_in_pieces(text, &[a, b]).is_ok(), "cuts {a} {b}");
            }
        }
    }

    #[test]
    fn fails_fast_on_impossible_prefix() {
        // Autobahn 6.4.x: the error must come with the first impossible byte.
        let mut v = Utf8Validator::new();
        v.feed("κόσμε".as_bytes()).unwrap();
        assert!(v.feed(&[0xED, 0xA0, 0x80]).is_err(), "surrogate half");
        let mut v = Utf8Validator::new();
        assert!(v.feed(&[0xF4]).is_ok());
        assert!(v.feed(&[0x90]).is_err(), "above U+10FFFF");
        let mut v = Utf8Validator::new();
        assert!(v.feed(&[0xFF]).is_err());
    }

    #[test]
    fn truncated_code_point_fails_at_finish() {
        let mut v = Utf8Validator::new();
        v.feed(&[b'a', 0xE2, 0x82]).unwrap();
        assert!(v.is_incomplete());
        assert_eq!(v.finish(), Err(InvalidUtf8 { position: 1 }));
    }

    #[test]
    fn reports_position_of_first_bad_byte() {
        let mut v = Utf8Validator::new();
        v.feed(b"abc").unwrap();
        assert_eq!(v.feed(b"de\xFFf"), Err(InvalidUtf8 { position: 5 }));
    }

    #[test]
    fn utf8_bytes_accepts_exactly_what_std_accepts() {
        // Every 1- and 2-byte input, and every 3-byte input starting with a multi-byte lead.
        let mut inputs: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                inputs.push(vec![a, b]);
            }
        }
        for a in 0xC0..=0xFFu8 {
            for b in (0x70..=0xC0u8).step_by(7) {
                for c in (0x70..=0xC0u8).step_by(5) {
                    inputs.push(vec![a, b, c]);
                }
            }
        }
        for input in inputs {
            let std = std::str::from_utf8(&input);
            let ours = Utf8Bytes::try_from(Bytes::from(input.clone()));
            assert_eq!(ours.is_ok(), std.is_ok(), "{input:x?}");
            if let (Ok(ours), Ok(std)) = (ours, std) {
                assert_eq!(ours.as_str(), std);
            }
        }
    }

    proptest! {
        #[test]
        fn utf8_bytes_agrees_with_std_on_long_mostly_valid_text(s in "\\PC{0,300}", junk in any::<u8>(),
                                                                 at in any::<proptest::sample::Index>(), corrupt in any::<bool>()) {
            // Long inputs reach the SIMD paths; one stray byte anywhere must be found.
            let mut bytes = s.into_bytes();
            if corrupt {
                let i = at.index(bytes.len() + 1);
                bytes.insert(i, junk);
            }
            let ours = Utf8Bytes::try_from(Bytes::from(bytes.clone())).map(|t| t.as_str().to_owned());
            let std = std::str::from_utf8(&bytes).map(str::to_owned);
            prop_assert_eq!(ours.ok(), std.ok());
        }

        #[test]
        fn utf8_bytes_agrees_with_std(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let ours = Utf8Bytes::try_from(Bytes::from(bytes.clone())).map(|t| t.as_str().to_owned());
            let std = std::str::from_utf8(&bytes).map(str::to_owned);
            prop_assert_eq!(ours.ok(), std.ok());
        }

        #[test]
        fn agrees_with_std(bytes in proptest::collection::vec(any::<u8>(), 0..64),
                           cuts in proptest::collection::vec(0usize..64, 0..6)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let ours = validate_in_pieces(&bytes, &cuts).is_ok();
            prop_assert_eq!(ours, std::str::from_utf8(&bytes).is_ok());
        }

        #[test]
        fn agrees_with_std_on_mostly_valid_text(s in "\\PC{0,40}", junk in any::<u8>(), at in any::<proptest::sample::Index>(),
                                               cuts in proptest::collection::vec(0usize..200, 0..6)) {
            let mut bytes = s.into_bytes();
            let i = at.index(bytes.len() + 1);
            bytes.insert(i, junk);
            let mut cuts = cuts;
            cuts.sort_unstable();
            prop_assert_eq!(validate_in_pieces(&bytes, &cuts).is_ok(), std::str::from_utf8(&bytes).is_ok());
        }
    }
}
