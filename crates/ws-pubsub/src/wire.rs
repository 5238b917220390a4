//! The payload of a message on Redis: a small header, then the message's bytes.
//!
//! ```text
//! byte 0      b'W' (a message of this crate)
//! byte 1      1 (the format's version)
//! byte 2      b't' (text) or b'b' (binary)
//! bytes 3..19 the publishing instance's id, 16 bytes big-endian
//! bytes 19..  the message
//! ```

use ws_net::ws_proto::{Bytes, Utf8Bytes};
use ws_net::Message;

const MAGIC: u8 = b'W';
const VERSION: u8 = 1;
pub(crate) const HEADER_LEN: usize = 19;

/// Appends the payload for `message` published by `instance` to `out` (`HEADER_LEN` bytes and
/// the message's).
pub(crate) fn encode_into(out: &mut Vec<u8>, instance: u128, message: &Message) {
    let (kind, data) = match message {
        Message::Text(text) => (b't', text.as_bytes()),
        Message::Binary(data) => (b'b', &data[..]),
    };
    out.reserve(HEADER_LEN + data.len());
    out.extend_from_slice(&[MAGIC, VERSION, kind]);
    out.extend_from_slice(&instance.to_be_bytes());
    out.extend_from_slice(data);
}

/// Why a payload was not understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    Header,
    Utf8,
}

/// The publishing instance and the message, from a payload.
pub(crate) fn decode(payload: &[u8]) -> Result<(u128, Message), Malformed> {
    if payload.len() < HEADER_LEN || payload[0] != MAGIC || payload[1] != VERSION {
        return Err(Malformed::Header);
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&payload[3..HEADER_LEN]);
    let instance = u128::from_be_bytes(id);
    let data = Bytes::copy_from_slice(&payload[HEADER_LEN..]);
    let message = match payload[2] {
        b't' => Message::Text(Utf8Bytes::try_from(data).map_err(|_| Malformed::Utf8)?),
        b'b' => Message::Binary(data),
        _ => return Err(Malformed::Header),
    };
    Ok((instance, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(instance: u128, message: &Message) -> Vec<u8> {
        let mut payload = Vec::new();
        encode_into(&mut payload, instance, message);
        payload
    }

    #[test]
    fn round_trip() {
        let text = Message::Text("héllo".into());
        let binary = Message::Binary(Bytes::from_static(&[0, 255, 1]));
        for message in [text, binary] {
            let payload = encode(0x0123_4567_89ab_cdef_0011_2233_4455_6677, &message);
            assert_eq!(payload.len(), HEADER_LEN + message.as_bytes().len());
            let (instance, back) = decode(&payload).unwrap();
            assert_eq!(instance, 0x0123_4567_89ab_cdef_0011_2233_4455_6677);
            assert_eq!(back, message);
        }
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let good = encode(7, &Message::Text("ok".into()));
        assert_eq!(decode(&good[..HEADER_LEN - 1]), Err(Malformed::Header));
        assert_eq!(decode(b""), Err(Malformed::Header));
        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        assert_eq!(decode(&bad_magic), Err(Malformed::Header));
        let mut bad_version = good.clone();
        bad_version[1] = 2;
        assert_eq!(decode(&bad_version), Err(Malformed::Header));
        let mut bad_kind = good.clone();
        bad_kind[2] = b'x';
        assert_eq!(decode(&bad_kind), Err(Malformed::Header));
        let mut bad_utf8 = good.clone();
        bad_utf8.extend_from_slice(&[0xff, 0xfe]);
        assert_eq!(decode(&bad_utf8), Err(Malformed::Utf8));
        // The same bytes as binary are fine.
        bad_utf8[2] = b'b';
        assert!(decode(&bad_utf8).is_ok());
        // An empty message is a header alone.
        assert_eq!(
            decode(&encode(1, &Message::Binary(Bytes::new())))
                .unwrap()
                .1,
            Message::Binary(Bytes::new())
        );
    }
}
