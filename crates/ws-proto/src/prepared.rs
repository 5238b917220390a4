//! A message encoded once and sent on many connections: the frame of a broadcast.

use bytes::Bytes;

use crate::frame::encode_frame;
use crate::message::{Message, MessageKind};

/// A message already encoded as one unmasked frame, for sending the same message on many
/// server connections (a broadcast, a topic's subscribers) without encoding it again:
/// [`Connection::send_prepared`](crate::Connection::send_prepared) queues the frame's shared
/// bytes as they are, so every recipient holds the same buffer and pays a reference count,
/// not a copy.
///
/// Frames are only shareable where every connection would write the same bytes. A connection
/// that would not (a client, whose frames are masked with a key of their own; one that
/// compresses the message with permessage-deflate; one whose
/// [`Config::max_send_frame_size`](crate::Config::max_send_frame_size) is below the payload's
/// size) encodes the payload itself, as [`Connection::send`](crate::Connection::send) does, so
/// the message goes out right in every case.
///
/// Cloning is cheap: clones share the frame.
///
/// ```
/// use ws_proto::{Config, Connection, Event, Message, PreparedMessage, Role};
///
/// let prepared = PreparedMessage::new(&Message::from("tick 42"));
/// let mut subscribers: Vec<Connection> =
///     (0..3).map(|_| Connection::new(Role::Server, Config::default())).collect();
/// for subscriber in &mut subscribers {
///     subscriber.send_prepared(&prepared).unwrap();
/// }
/// // Each one writes the same bytes: the frame encoded once.
/// let mut client = Connection::new(Role::Client, Config::default());
/// client.receive_data(&subscribers[0].take_output());
/// assert_eq!(client.next_event(), Some(Event::Message(Message::from("tick 42"))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedMessage {
    kind: MessageKind,
    /// The whole frame: header, then payload.
    frame: Bytes,
    /// Where the payload starts in `frame`.
    header_len: usize,
}

impl PreparedMessage {
    /// Encodes `message` as one final, unmasked frame (one copy of its payload).
    pub fn new(message: &Message) -> PreparedMessage {
        let payload = message.as_bytes();
        let mut frame = Vec::new();
        encode_frame(&mut frame, true, message.kind().opcode(), None, payload);
        PreparedMessage {
            kind: message.kind(),
            header_len: frame.len() - payload.len(),
            frame: Bytes::from(frame),
        }
    }

    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.frame[self.header_len..]
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.frame.len() - self.header_len
    }

    /// `true` for an empty payload.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoded frame, header and payload, as a server writes it.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }
}

impl From<Message> for PreparedMessage {
    fn from(message: Message) -> Self {
        PreparedMessage::new(&message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::OpCode;

    #[test]
    fn the_frame_is_what_encode_frame_writes() {
        for len in [0usize, 1, 125, 126, 65_535, 65_536, 70_000] {
            let payload = vec![0x5a; len];
            let prepared = PreparedMessage::new(&Message::from(payload.clone()));
            let mut expected = Vec::new();
            encode_frame(&mut expected, true, OpCode::Binary, None, &payload);
            assert_eq!(prepared.frame()[..], expected[..], "length {len}");
            assert_eq!(prepared.payload(), &payload[..]);
            assert_eq!(prepared.len(), len);
            assert_eq!(prepared.is_empty(), len == 0);
            assert_eq!(prepared.kind(), MessageKind::Binary);
        }
        let text = PreparedMessage::from(Message::from("héllo"));
        assert_eq!(text.kind(), MessageKind::Text);
        assert_eq!(text.frame()[0], 0x81);
        assert_eq!(text.payload(), "héllo".as_bytes());
    }
}
