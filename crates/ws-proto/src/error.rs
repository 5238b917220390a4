//! Errors: what the peer did wrong ([`ProtocolError`]) and what the caller asked for that cannot be
//! done ([`SendError`]).

use std::fmt;

use crate::close::CloseCode;
use crate::utf8::InvalidUtf8;
use crate::Rsv;

/// The peer broke RFC 6455 or one of our [`Limits`](crate::Limits).
///
/// Each variant knows the close code to fail the connection with ([`ProtocolError::close_code`]);
/// [`Connection`](crate::Connection) queues that Close frame by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An opcode the RFC reserves (3–7, 11–15).
    ReservedOpcode(u8),
    /// RSV bits set that no negotiated extension claims.
    ReservedBits(Rsv),
    /// A 64-bit payload length with the most significant bit set.
    LengthOverflow,
    /// A control frame with more than 125 bytes of payload.
    ControlFrameTooLong(u64),
    /// A control frame without the FIN bit.
    FragmentedControlFrame,
    /// A client sent an unmasked frame (servers require masking).
    UnmaskedFrame,
    /// A server sent a masked frame (clients require unmasked frames).
    MaskedFrame,
    /// A continuation frame arrived with no fragmented message in progress.
    UnexpectedContinuation,
    /// A new Text or Binary frame arrived while a fragmented message was still in progress.
    ExpectedContinuation,
    /// A frame larger than `Limits::max_frame_size`.
    FrameTooLarge {
        /// The announced payload length.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A message larger than `Limits::max_message_size`.
    MessageTooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// A message in more frames than `Limits::max_fragments`.
    TooManyFragments {
        /// The configured limit.
        limit: u32,
    },
    /// A text message that is not UTF-8.
    InvalidUtf8(InvalidUtf8),
    /// A Close frame with a 1-byte payload.
    CloseCodeTruncated,
    /// A Close frame with a code that may not be sent.
    InvalidCloseCode(u16),
    /// A Close frame whose reason is not UTF-8.
    InvalidCloseReason,
    /// A compressed message (permessage-deflate) whose payload is not DEFLATE data; the text
    /// says what the inflater found.
    InvalidCompressedData(String),
}

impl ProtocolError {
    /// The close code to fail the connection with.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::FrameTooLarge { .. }
            | ProtocolError::MessageTooLarge { .. }
            | ProtocolError::TooManyFragments { .. } => CloseCode::MESSAGE_TOO_BIG,
            ProtocolError::InvalidUtf8(_)
            | ProtocolError::InvalidCloseReason
            | ProtocolError::InvalidCompressedData(_) => CloseCode::INVALID_PAYLOAD,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedOpcode(op) => write!(f, "peer used reserved opcode {op:#x}"),
            ProtocolError::ReservedBits(bits) => {
                write!(
                    f,
                    "peer set reserved bits {bits} without a negotiated extension"
                )
            }
            ProtocolError::LengthOverflow => {
                f.write_str("peer sent a 64-bit frame length with the top bit set")
            }
            ProtocolError::ControlFrameTooLong(len) => {
                write!(
                    f,
                    "peer sent a control frame of {len} bytes (at most 125 are allowed)"
                )
            }
            ProtocolError::FragmentedControlFrame => {
                f.write_str("peer sent a fragmented control frame")
            }
            ProtocolError::UnmaskedFrame => f.write_str("client sent an unmasked frame"),
            ProtocolError::MaskedFrame => f.write_str("server sent a masked frame"),
            ProtocolError::UnexpectedContinuation => {
                f.write_str("peer sent a continuation frame with no message in progress")
            }
            ProtocolError::ExpectedContinuation => {
                f.write_str("peer started a new message before finishing the fragmented one")
            }
            ProtocolError::FrameTooLarge { size, limit } => {
                write!(f, "peer sent a {size}-byte frame, over the {limit}-byte limit (raise Limits::max_frame_size to accept it)")
            }
            ProtocolError::MessageTooLarge { limit } => {
                write!(f, "peer sent a message over the {limit}-byte limit (raise Limits::max_message_size to accept it)")
            }
            ProtocolError::TooManyFragments { limit } => {
                write!(f, "peer sent a message in more than {limit} fragments (raise Limits::max_fragments to accept it)")
            }
            ProtocolError::InvalidUtf8(e) => {
                write!(f, "peer sent a text message that is not UTF-8: {e}")
            }
            ProtocolError::CloseCodeTruncated => {
                f.write_str("peer sent a Close frame with a 1-byte payload")
            }
            ProtocolError::InvalidCloseCode(code) => {
                write!(f, "peer sent invalid close code {code}")
            }
            ProtocolError::InvalidCloseReason => {
                f.write_str("peer sent a close reason that is not UTF-8")
            }
            ProtocolError::InvalidCompressedData(what) => {
                write!(
                    f,
                    "peer sent a compressed message that does not inflate: {what}"
                )
            }
        }
    }
}

impl std::error::Error for ProtocolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProtocolError::InvalidUtf8(e) => Some(e),
            _ => None,
        }
    }
}

/// A send, ping or close that the connection cannot carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// We sent a Close frame (or the connection is closed): no more frames may be sent.
    Closed,
    /// The peer sent a Close frame: no more messages may be sent, only the Close frame that
    /// answers it ([`Connection::finish_closing`](crate::Connection::finish_closing) or
    /// [`Connection::close`](crate::Connection::close)).
    PeerClosed,
    /// The connection failed on a protocol violation: nothing more may be sent.
    Failed,
    /// A ping or pong payload over 125 bytes.
    ControlPayloadTooLong(usize),
    /// A close code that may not go on the wire (such as 1005, 1006 or 1015).
    UnsendableCloseCode(CloseCode),
    /// A close reason over 123 bytes.
    ReasonTooLong(usize),
    /// A frame of a new message while a fragmented one is still being sent, or a continuation of one
    /// that was never started.
    FragmentationMismatch,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("the connection is closing or closed; nothing more can be sent"),
            SendError::PeerClosed => f.write_str(
                "the peer closed the connection; nothing more can be sent but the Close frame that answers it",
            ),
            SendError::Failed => f.write_str(
                "the connection failed on a protocol violation; nothing more can be sent",
            ),
            SendError::ControlPayloadTooLong(len) => {
                write!(f, "control frame payload is {len} bytes; at most 125 are allowed")
            }
            SendError::UnsendableCloseCode(code) => write!(
                f,
                "close code {code} may not be sent; use 1000-1003, 1007-1014 or 3000-4999"
            ),
            SendError::ReasonTooLong(len) => write!(f, "close reason is {len} bytes; at most 123 are allowed"),
            SendError::FragmentationMismatch => f.write_str(
                "fragments must continue the message being sent: finish it (fin = true) before starting another",
            ),
        }
    }
}

impl std::error::Error for SendError {}
