//! [`MessageData`]: a message as both facades send and receive it.

use ws_net::Message as NetMessage;

use crate::error::BusinessError;
use crate::limits::SendLimits;

/// A message: text (valid UTF-8) or binary. Received payloads are shared with the receive
/// buffer, not copied; build one with `MessageData::Text("hi".into())` or
/// `MessageData::Binary(vec![1, 2].into())`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageData {
    /// A text message (`string`).
    Text(ws_proto::Utf8Bytes),
    /// A binary message (`ArrayBuffer`).
    Binary(ws_proto::Bytes),
}

impl MessageData {
    /// The message's size in bytes (UTF-8 bytes for text), what the send limit counts.
    ///
    /// ```
    /// use ws_api::MessageData;
    /// assert_eq!(MessageData::Text("héllo".into()).len(), 6);
    /// assert!(MessageData::Binary(Vec::new().into()).is_empty());
    /// ```
    pub fn len(&self) -> usize {
        match self {
            MessageData::Text(text) => text.as_bytes().len(),
            MessageData::Binary(bytes) => bytes.len(),
        }
    }

    /// Whether the message is empty (an empty message is a valid one).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn from_net(message: NetMessage) -> MessageData {
        match message {
            NetMessage::Text(text) => MessageData::Text(text),
            NetMessage::Binary(bytes) => MessageData::Binary(bytes),
        }
    }

    /// The message to send, checked against the send limit (401 above it).
    pub(crate) fn into_net(self, limits: SendLimits) -> Result<NetMessage, BusinessError> {
        limits.check(self.len())?;
        Ok(match self {
            MessageData::Text(t) => NetMessage::Text(t),
            MessageData::Binary(b) => NetMessage::Binary(b),
        })
    }
}
