//! Closing a connection, for both facades: the options, the documented defaults and rules, and
//! the result the `close` events carry.

use ws_net::CloseCode;

use crate::completion::Completion;
use crate::error::{code, describe, BusinessError};

/// The reason `close` sends when none is given.
pub const DEFAULT_CLOSE_REASON: &str = "CLOSE_NORMAL";

/// `CloseResult`: the code and reason of the closure (RFC 6455 §7.1.5–7.1.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseResult {
    /// 1005 when the peer's Close frame had no code; 1006 when there was no Close frame.
    pub code: u16,
    /// The peer's reason, or what happened for 1006.
    pub reason: String,
}

/// `WebSocketCloseOptions`.
#[derive(Debug, Clone, Default)]
pub struct WebSocketCloseOptions {
    /// Close code; default 1000.
    pub code: Option<u16>,
    /// Close reason; default `"CLOSE_NORMAL"`.
    pub reason: Option<String>,
}

/// The code and reason `close` sends, per the documented defaults and rules.
pub(crate) fn close_arguments(
    options: Option<WebSocketCloseOptions>,
) -> Result<(CloseCode, String), BusinessError> {
    let options = options.unwrap_or_default();
    let code = match options.code {
        Some(c @ 1000..=1015) if !matches!(c, 1004 | 1005 | 1006 | 1015) => c,
        _ => 1000,
    };
    let reason = options
        .reason
        .unwrap_or_else(|| DEFAULT_CLOSE_REASON.to_owned());
    if reason.len() > 123 {
        return Err(BusinessError::new(
            code::PARAMETER_ERROR,
            format!(
                "the close reason is {} bytes; at most 123 are allowed",
                reason.len()
            ),
        ));
    }
    Ok((CloseCode::from(code), reason))
}

/// Starts closing the connection of `sender` with `code` and `reason` at once; the completion
/// reports when the Close frame is written (or the connection ended before: its closure is
/// reported as the `close` event).
pub(crate) fn close_on(
    sender: ws_net::Sender,
    code: CloseCode,
    reason: &str,
) -> Completion<Result<bool, BusinessError>> {
    let unknown = |e: ws_net::Error| BusinessError::new(code::UNKNOWN, describe(&e));
    if let Err(error) = sender.start_close(code, reason) {
        return Completion::ready(Err(unknown(error)));
    }
    Completion::waiting(async move {
        match sender.flush().await {
            Ok(()) | Err(ws_net::Error::Closed) => Ok(true),
            Err(other) => Err(unknown(other)),
        }
    })
}
