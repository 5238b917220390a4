//! Messages: reassembly of fragmented data frames, with limits and UTF-8 validation, delivered either
//! whole ([`Message`]) or as they arrive ([`Chunk`]).

use crate::error::ProtocolError;
use crate::frame::{FrameHeader, OpCode, Payload};
use crate::limits::Limits;
use crate::utf8::{InvalidUtf8, Utf8Validator};

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

/// A complete message.
///
/// ```
/// use ws_proto::{Message, MessageKind};
/// let m = Message::from("hi");
/// assert_eq!(m.kind(), MessageKind::Text);
/// assert_eq!(m.as_bytes(), b"hi");
/// assert_eq!(Message::from(vec![1, 2]).len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message, already checked to be UTF-8.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
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

    /// The payload, taking ownership.
    pub fn into_bytes(self) -> Vec<u8> {
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
        Message::Text(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Message::Text(text.to_owned())
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Self {
        Message::Binary(data)
    }
}

impl From<&[u8]> for Message {
    fn from(data: &[u8]) -> Self {
        Message::Binary(data.to_vec())
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
    pub data: Vec<u8>,
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

/// What the assembler hands up.
#[derive(Debug)]
pub(crate) enum Assembled {
    Message(Message),
    Chunk(Chunk),
}

/// Reassembles data frames into messages.
#[derive(Debug)]
pub(crate) struct Assembler {
    limits: Limits,
    mode: ReceiveMode,
    /// The message in progress.
    kind: Option<MessageKind>,
    buf: Vec<u8>,
    size: u64,
    fragments: u32,
    utf8: Utf8Validator,
    /// Whether `utf8` has seen the bytes of this message; if not, they are checked once at the end.
    validated_incrementally: bool,
    frame_fin: bool,
    frame_len: u64,
    frame_end_reported: bool,
}

impl Assembler {
    pub(crate) fn new(limits: Limits, mode: ReceiveMode) -> Self {
        Assembler {
            limits,
            mode,
            kind: None,
            buf: Vec::new(),
            size: 0,
            fragments: 0,
            utf8: Utf8Validator::new(),
            validated_incrementally: false,
            frame_fin: false,
            frame_len: 0,
            frame_end_reported: false,
        }
    }

    pub(crate) fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// A data frame (Text, Binary or Continuation) begins.
    pub(crate) fn frame_start(&mut self, header: &FrameHeader) -> Result<(), ProtocolError> {
        match (header.opcode, self.kind) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(ProtocolError::ExpectedContinuation)
            }
            (OpCode::Text, None) => self.begin(MessageKind::Text),
            (OpCode::Binary, None) => self.begin(MessageKind::Binary),
            _ => {}
        }
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
        if self.mode == ReceiveMode::Messages {
            // Reserve what the header announced, but never more than arrives: a peer cannot make us
            // allocate by merely announcing a large frame.
            self.buf.reserve(header.payload_len.min(64 * 1024) as usize);
        }
        self.frame_fin = header.fin;
        self.frame_len = header.payload_len;
        self.frame_end_reported = false;
        Ok(())
    }

    fn begin(&mut self, kind: MessageKind) {
        self.kind = Some(kind);
        self.size = 0;
        self.fragments = 0;
        self.validated_incrementally = false;
        self.utf8.reset();
    }

    /// The next piece of the current frame's payload.
    pub(crate) fn payload(
        &mut self,
        piece: &Payload<'_>,
    ) -> Result<Option<Assembled>, ProtocolError> {
        let kind = self.kind.unwrap_or(MessageKind::Binary);
        let ends_frame = piece.offset + piece.data.len() as u64 == self.frame_len;
        match self.mode {
            ReceiveMode::Messages => {
                let start = self.buf.len();
                piece.unmask_into(&mut self.buf);
                if kind == MessageKind::Text {
                    // A single-frame message that arrived in one piece is checked once, at the end;
                    // anything else is checked as it arrives so that bad text fails fast.
                    let whole_message_here =
                        self.frame_fin && start == 0 && piece.offset == 0 && ends_frame;
                    if !whole_message_here || self.validated_incrementally {
                        self.validated_incrementally = true;
                        self.utf8
                            .feed(&self.buf[start..])
                            .map_err(ProtocolError::InvalidUtf8)?;
                    }
                }
                Ok(None)
            }
            ReceiveMode::Streaming => {
                let mut data = std::mem::take(&mut self.buf);
                let held = data.len();
                piece.unmask_into(&mut data);
                if kind == MessageKind::Text {
                    self.utf8
                        .feed(&data[held..])
                        .map_err(ProtocolError::InvalidUtf8)?;
                    let keep = self.utf8.incomplete_len();
                    self.buf = data.split_off(data.len() - keep);
                }
                if ends_frame {
                    self.frame_end_reported = true;
                }
                let message_finished = ends_frame && self.frame_fin;
                if message_finished && kind == MessageKind::Text {
                    self.utf8.finish().map_err(ProtocolError::InvalidUtf8)?;
                }
                if message_finished {
                    self.kind = None;
                }
                Ok(Some(Assembled::Chunk(Chunk {
                    kind,
                    data,
                    frame_finished: ends_frame,
                    message_finished,
                })))
            }
        }
    }

    /// The current data frame is complete.
    pub(crate) fn frame_end(&mut self) -> Result<Option<Assembled>, ProtocolError> {
        let Some(kind) = self.kind else {
            // Streaming mode already reported the end of this message with its last chunk.
            return Ok(None);
        };
        if self.mode == ReceiveMode::Streaming {
            if self.frame_end_reported {
                return Ok(None);
            }
            // A frame with an empty payload: nothing was reported for it yet.
            if self.frame_fin {
                if kind == MessageKind::Text {
                    self.utf8.finish().map_err(ProtocolError::InvalidUtf8)?;
                }
                self.kind = None;
            }
            let data = if self.frame_fin {
                std::mem::take(&mut self.buf)
            } else {
                Vec::new()
            };
            return Ok(Some(Assembled::Chunk(Chunk {
                kind,
                data,
                frame_finished: true,
                message_finished: self.frame_fin,
            })));
        }
        if !self.frame_fin {
            return Ok(None);
        }
        self.kind = None;
        let data = std::mem::take(&mut self.buf);
        let message = match kind {
            MessageKind::Binary => Message::Binary(data),
            MessageKind::Text => {
                if self.validated_incrementally {
                    self.utf8.finish().map_err(ProtocolError::InvalidUtf8)?;
                }
                match String::from_utf8(data) {
                    Ok(text) => Message::Text(text),
                    Err(e) => {
                        let position = e.utf8_error().valid_up_to();
                        return Err(ProtocolError::InvalidUtf8(InvalidUtf8 { position }));
                    }
                }
            }
        };
        Ok(Some(Assembled::Message(message)))
    }

    /// Drops any partial message (after the connection failed or closed).
    pub(crate) fn clear(&mut self) {
        self.kind = None;
        self.buf = Vec::new();
    }
}
