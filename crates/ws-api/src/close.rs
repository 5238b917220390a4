//! Closing a connection, for both facades: the options, the documented defaults and rules, and
//! the result the `close` events carry.

use ws_net::CloseCode;
use ws_proto::close::MAX_REASON_LEN;

use crate::completion::Completion;
use crate::error::{code, BusinessError};

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
    check_reason(&reason)?;
    Ok((CloseCode::from(code), reason))
}

/// The code and reason `close_with_code` (an extension) sends: exactly `code`, when RFC 6455
/// lets an endpoint send it, and `reason` as given (empty: no reason); 401 otherwise.
pub(crate) fn exact_close_arguments(
    code: u16,
    reason: &str,
) -> Result<(CloseCode, String), BusinessError> {
    let close_code = CloseCode::from(code);
    if !close_code.is_sendable() {
        return Err(BusinessError::new(
            code::PARAMETER_ERROR,
            format!(
                "close code {code} may not be sent: RFC 6455 allows 1000-1003, 1007-1014 and \
                 3000-4999 (applications use 3000-4999)"
            ),
        ));
    }
    check_reason(reason)?;
    Ok((close_code, reason.to_owned()))
}

/// A close reason must fit in a Close frame with its code: at most 123 bytes (401).
fn check_reason(reason: &str) -> Result<(), BusinessError> {
    if reason.len() > MAX_REASON_LEN {
        return Err(BusinessError::new(
            code::PARAMETER_ERROR,
            format!(
                "the close reason is {} bytes; at most {MAX_REASON_LEN} are allowed",
                reason.len()
            ),
        ));
    }
    Ok(())
}

/// Starts closing the connection of `sender` with `code` and `reason` at once; the completion
/// reports when the Close frame is written (or the connection ended before: its closure is
/// reported as the `close` event).
pub(crate) fn close_on(
    sender: ws_net::Sender,
    code: CloseCode,
    reason: &str,
) -> Completion<Result<bool, BusinessError>> {
    let unknown = |e: ws_net::Error| BusinessError::from_net(code::UNKNOWN, e);
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

#[cfg(test)]
mod tests {
    use super::{close_arguments, exact_close_arguments, WebSocketCloseOptions};
    use crate::code;

    #[test]
    fn exact_codes_are_sent_as_given_or_refused_never_mapped() {
        for sendable in [1000, 1003, 1007, 1014, 3000, 4000, 4999] {
            let (sent, reason) = exact_close_arguments(sendable, "").unwrap();
            assert_eq!(sent.as_u16(), sendable);
            assert_eq!(reason, "");
        }
        for refused in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, u16::MAX] {
            let err = exact_close_arguments(refused, "bye").unwrap_err();
            assert_eq!(err.code, code::PARAMETER_ERROR, "{refused}");
            assert!(err.message.contains("3000-4999"), "{err}");
        }
        let long = "x".repeat(124);
        assert_eq!(
            exact_close_arguments(4000, &long).unwrap_err().code,
            code::PARAMETER_ERROR
        );
        assert!(exact_close_arguments(4000, &long[..123]).is_ok());
        // The reference's rules are unchanged: 4000 becomes 1000 there.
        let options = WebSocketCloseOptions {
            code: Some(4000),
            reason: None,
        };
        assert_eq!(close_arguments(Some(options)).unwrap().0.as_u16(), 1000);
    }
}
