//! Messages: reassembly of fragmented data frames, with limits and UTF-8 validation, delivered either
//! whole ([`Message`]) or as they arrive ([`Chunk`]).

use bytes::{Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::frame::{FrameHeader, OpCode};
use crate::limits::Limits;
use crate::utf8::{Utf8Bytes, Utf8Validator};
use crate::Rsv;

/// Whether a message carries text or binary data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text (opcode 0x1).
    Text,
    /// Arbitrary bytes (opcode 0x2).
    Binary,
}

impl MessageKind {
    /// The opcode of a message's first frame.
    pub const fn opcode(self) -> OpCode {
        match self {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        }
    }
}

/// A complete message. Payloads are shared buffers: cloning a message does not copy it.
///
/// ```
/// use ws_proto::{Message, MessageKind};
/// let m = Message::from("hi");
/// assert_eq!(m.kind(), MessageKind::Text);
/// assert_eq!(m.as_bytes(), b"hi");
/// assert_eq!(m.as_text(), Some("hi"));
/// assert_eq!(Message::from(vec![1, 2]).len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message, already checked to be UTF-8.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Text(_) => MessageKind::Text,
            Message::Binary(_) => MessageKind::Binary,
        }
    }

    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(data) => data,
        }
    }

    /// The text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(text) => Some(text.as_str()),
            Message::Binary(_) => None,
        }
    }

    /// The payload buffer, taking ownership.
    pub fn into_bytes(self) -> Bytes {
        match self {
            Message::Text(text) => text.into_bytes(),
            Message::Binary(data) => data,
        }
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// `true` for an empty payload.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Message::Text(text.into())
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Message::Text(text.into())
    }
}

impl From<Utf8Bytes> for Message {
    fn from(text: Utf8Bytes) -> Self {
        Message::Text(text)
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Self {
        Message::Binary(data.into())
    }
}

impl From<&[u8]> for Message {
    fn from(data: &[u8]) -> Self {
        Message::Binary(Bytes::copy_from_slice(data))
    }
}

impl From<Bytes> for Message {
    fn from(data: Bytes) -> Self {
        Message::Binary(data)
    }
}

/// A piece of a message in streaming mode ([`ReceiveMode::Streaming`]).
///
/// Text chunks always end on a code point boundary: bytes of a code point split across frames or
/// reads are held back until it is complete, so `data` of a text chunk is always valid UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The kind of the message this chunk belongs to.
    pub kind: MessageKind,
    /// Unmasked payload bytes (possibly empty).
    pub data: Bytes,
    /// This chunk ends a frame.
    pub frame_finished: bool,
    /// This chunk ends the message.
    pub message_finished: bool,
}

/// How received data messages are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReceiveMode {
    /// One [`Message`] per complete message (the default).
    #[default]
    Messages,
    /// [`Chunk`]s as the bytes arrive, so large messages need not be buffered.
    Streaming,
}

/// Reassembles data frames into messages: continuation rules, limits, UTF-8 validation, and the
/// buffer for messages that arrive in several frames.
///
/// The connection unmasks payload bytes in its input buffer as they arrive, shows them to
/// [`Assembler::arrived`] (so bad text fails fast), and hands over each frame's payload once it is
/// complete ([`Assembler::frame_complete`]) or, in streaming mode, whatever has arrived
/// ([`Assembler::chunk`]).
#[derive(Debug)]
pub(crate) struct Assembler {
    limits: Limits,
    mode: ReceiveMode,
    /// The message in progress.
    kind: Option<MessageKind>,
    /// The current frame is the first of its message.
    first: bool,
    /// The current frame is the last of its message.
    fin: bool,
    fragments: u32,
    size: u64,
    utf8: Utf8Validator,
    /// `utf8` has seen the bytes of the message so far (otherwise they are checked at the end).
    validated: bool,
    /// The frames so far of a message that arrives in several (messages mode).
    buf: BytesMut,
    /// Streaming text: the start of a code point whose remaining bytes have not arrived yet.
    carry: BytesMut,
    /// The message in progress is compressed (permessage-deflate: RSV1 on its first frame); its
    /// payload arrives through [`inflated`](Self::inflated).
    compressed: bool,
    /// Inflated bytes of the compressed message so far.
    inflated_len: u64,
    /// permessage-deflate is on: RSV1 marks compressed messages (otherwise an extension of the
    /// application's own may have claimed it).
    deflate: bool,
}

impl Assembler {
    pub(crate) fn new(limits: Limits, mode: ReceiveMode) -> Self {
        Assembler {
            limits,
            mode,
            kind: None,
            first: false,
            fin: false,
            fragments: 0,
            size: 0,
            utf8: Utf8Validator::new(),
            validated: false,
            buf: BytesMut::new(),
            carry: BytesMut::new(),
            compressed: false,
            inflated_len: 0,
            deflate: false,
        }
    }

    /// Makes RSV1 mark compressed messages (permessage-deflate was negotiated).
    pub(crate) fn set_deflate(&mut self, on: bool) {
        self.deflate = on;
    }

    /// Whether RSV1 marks compressed messages.
    pub(crate) fn deflate(&self) -> bool {
        self.deflate
    }

    pub(crate) fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// A data frame (Text, Binary or Continuation) begins: the continuation rules and the limits
    /// are checked on its header, before any payload is accepted.
    pub(crate) fn frame_start(&mut self, header: &FrameHeader) -> Result<(), ProtocolError> {
        let rsv1 = self.deflate && header.rsv.contains(Rsv::RSV1);
        self.first = match (header.opcode, self.kind) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            // RSV1 marks a compressed message on its first frame only (RFC 7692 §6.1).
            (OpCode::Continuation, Some(_)) if rsv1 => {
                return Err(ProtocolError::ReservedBits(Rsv::RSV1))
            }
            (OpCode::Continuation, Some(_)) => false,
            (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (opcode, None) => {
                self.kind = Some(if opcode == OpCode::Text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                });
                self.fragments = 0;
                self.size = 0;
                self.validated = false;
                self.utf8.reset();
                self.compressed = rsv1;
                self.inflated_len = 0;
                true
            }
        };
        self.fin = header.fin;
        self.fragments = self.fragments.saturating_add(1);
        if self.fragments > self.limits.max_fragments {
            return Err(ProtocolError::TooManyFragments {
                limit: self.limits.max_fragments,
            });
        }
        self.size = self.size.saturating_add(header.payload_len);
        if self.size > self.limits.max_message_size {
            return Err(ProtocolError::MessageTooLarge {
                limit: self.limits.max_message_size,
            });
        }
        Ok(())
    }

    /// Payload bytes of the current frame have arrived (already unmasked). `whole_frame` says they
    /// are the frame's entire payload, arrived at once.
    pub(crate) fn arrived(&mut self, bytes: &[u8], whole_frame: bool) -> Result<(), ProtocolError> {
        // A compressed message's text is checked once inflated.
        if self.kind != Some(MessageKind::Text) || self.compressed {
            return Ok(());
        }
        // A single-frame message that arrived at once is checked in one go when it is complete
        // (which is now); anything else is checked as it arrives, so bad text fails fast.
        let checked_at_end =
            whole_frame && self.first && self.fin && self.mode == ReceiveMode::Messages;
        if !checked_at_end {
            self.validated = true;
            self.utf8.feed(bytes).map_err(ProtocolError::InvalidUtf8)?;
        }
        Ok(())
    }

    /// Whether the message in progress is compressed.
    pub(crate) fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// Whether the current frame is the last of its message.
    pub(crate) fn is_final_frame(&self) -> bool {
        self.fin
    }

    /// How many inflated bytes the compressed message in progress has so far.
    pub(crate) fn inflated_len(&self) -> u64 {
        self.inflated_len
    }

    /// Inflated bytes of the compressed message in progress: counted, and for text validated as
    /// they come, so bad text fails at its first impossible byte.
    pub(crate) fn inflated(&mut self, bytes: &[u8]) -> Result<(), ProtocolError> {
        self.inflated_len = self.inflated_len.saturating_add(bytes.len() as u64);
        if self.kind == Some(MessageKind::Text) {
            self.validated = true;
            self.utf8.feed(bytes).map_err(ProtocolError::InvalidUtf8)?;
        }
        Ok(())
    }

    /// The current frame's whole payload (messages mode). Returns the message it completes.
    /// Whether the frame being completed is a whole message on its own (unfragmented): then its
    /// payload is the message, see [`whole_message`](Self::whole_message).
    pub(crate) fn completes_whole_message(&self) -> bool {
        self.first && self.fin
    }

    /// Completes an unfragmented message whose payload is `payload`, without a copy.
    pub(crate) fn whole_message(
        &mut self,
        payload: Bytes,
    ) -> Result<Option<Message>, ProtocolError> {
        let kind = self.kind.take().unwrap_or(MessageKind::Binary);
        self.finish(kind, payload).map(Some)
    }

    /// Completes a frame of a fragmented message: its payload is appended, and the last one
    /// yields the message.
    pub(crate) fn frame_complete(
        &mut self,
        payload: &[u8],
    ) -> Result<Option<Message>, ProtocolError> {
        let kind = self.kind.unwrap_or(MessageKind::Binary);
        if self.completes_whole_message() {
            return self.whole_message(Bytes::copy_from_slice(payload));
        }
        self.buf.extend_from_slice(payload);
        if !self.fin {
            return Ok(None);
        }
        self.kind = None;
        let data = self.buf.split().freeze();
        self.finish(kind, data).map(Some)
    }

    fn finish(&mut self, kind: MessageKind, data: Bytes) -> Result<Message, ProtocolError> {
        Ok(match kind {
            MessageKind::Binary => Message::Binary(data),
            MessageKind::Text => {
                if self.validated {
                    self.utf8.finish().map_err(ProtocolError::InvalidUtf8)?;
                }
                Message::Text(Utf8Bytes::try_from(data).map_err(ProtocolError::InvalidUtf8)?)
            }
        })
    }

    /// Payload bytes of the current frame (streaming mode); `frame_done` if they end the frame.
    pub(crate) fn chunk(
        &mut self,
        data: BytesMut,
        frame_done: bool,
    ) -> Result<Option<Chunk>, ProtocolError> {
        let kind = self.kind.unwrap_or(MessageKind::Binary);
        let mut data = if self.carry.is_empty() {
            data
        } else {
            let mut joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(&data);
            joined
        };
        let message_finished = frame_done && self.fin;
        if kind == MessageKind::Text {
            if message_finished {
                self.utf8.finish().map_err(ProtocolError::InvalidUtf8)?;
            } else {
                // Hold back an unfinished code point so that every text chunk is valid UTF-8.
                let pending = self.utf8.incomplete_len();
                self.carry = data.split_off(data.len() - pending);
            }
        }
        if data.is_empty() && !frame_done {
            return Ok(None);
        }
        if message_finished {
            self.kind = None;
        }
        Ok(Some(Chunk {
            kind,
            data: data.freeze(),
            frame_finished: frame_done,
            message_finished,
        }))
    }

    /// No message is in progress and the assembly buffers hold nothing.
    fn holds_nothing(&self) -> bool {
        self.kind.is_none() && self.buf.is_empty() && self.carry.is_empty()
    }

    /// The capacity of the assembly buffers while they hold nothing.
    pub(crate) fn spare_capacity(&self) -> usize {
        if self.holds_nothing() {
            self.buf.capacity() + self.carry.capacity()
        } else {
            0
        }
    }

    /// Frees the assembly buffers while they hold nothing.
    pub(crate) fn release_spare_buffers(&mut self) {
        if self.holds_nothing() {
            self.buf = BytesMut::new();
            self.carry = BytesMut::new();
        }
    }

    /// Drops any partial message (after the connection failed or closed) and its buffers.
    pub(crate) fn clear(&mut self) {
        self.kind = None;
        self.compressed = false;
        self.buf = BytesMut::new();
        self.carry = BytesMut::new();
    }
}
