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
    pub(crate) fn from_net(message: NetMessage) -> MessageData {
        match message {
            NetMessage::Text(text) => MessageData::Text(text),
            NetMessage::Binary(bytes) => MessageData::Binary(bytes),
        }
    }

    /// The message to send, checked against the send limit (401 above it).
    pub(crate) fn into_net(self, limits: SendLimits) -> Result<NetMessage, BusinessError> {
        limits.check(match &self {
            MessageData::Text(t) => t.as_bytes().len(),
            MessageData::Binary(b) => b.len(),
        })?;
        Ok(match self {
            MessageData::Text(t) => NetMessage::Text(t),
            MessageData::Binary(b) => NetMessage::Binary(b),
        })
    }
}
