//! The size limits of both facades' extension options, and what they become in the lower
//! layers' settings.

use ws_proto::Limits;

use crate::error::{code, BusinessError};
use crate::sending::DEFAULT_SEND_BACKLOG_LIMIT;

/// Heartbeat default of both facades, in seconds (`pingInterval`, `pongTimeout`).
pub const DEFAULT_HEARTBEAT_SECONDS: u64 = 30;
/// Largest heartbeat setting, in seconds; larger values fall back to the default.
pub const MAX_HEARTBEAT_SECONDS: u64 = 30_000;
/// Longest URL accepted, in characters, as given and as sent (percent-encoded).
pub const MAX_URL_LENGTH: usize = 8196;

/// Default of the `max_message_size` extension option: the largest message received, 64 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;

/// The largest message `send` accepts by default (the documented 5 × 1024 × 1024 − 16 bytes;
/// larger → 401). The `max_send_size` extension option changes it.
pub const MAX_SEND_SIZE: usize = 5_242_864;

/// What one connection may send: the largest message (`max_send_size`) and the most bytes that
/// may wait to be sent (`send_backlog_limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SendLimits {
    pub(crate) max_send_size: usize,
    pub(crate) backlog_limit: usize,
}

impl SendLimits {
    /// The options as set: `max_send_size` defaults to [`MAX_SEND_SIZE`]; the backlog limit to
    /// [`DEFAULT_SEND_BACKLOG_LIMIT`] or, for a larger `max_send_size`, three of the largest
    /// messages, so that raising the one lets such messages go out without raising the other.
    pub(crate) fn new(max_send_size: Option<usize>, backlog_limit: Option<usize>) -> SendLimits {
        let max_send_size = max_send_size.unwrap_or(MAX_SEND_SIZE);
        let backlog_limit = backlog_limit
            .unwrap_or_else(|| DEFAULT_SEND_BACKLOG_LIMIT.max(max_send_size.saturating_mul(3)));
        SendLimits {
            max_send_size,
            backlog_limit,
        }
    }

    /// Refuses (401) a message of `len` bytes larger than `max_send_size`.
    pub(crate) fn check(&self, len: usize) -> Result<(), BusinessError> {
        if len > self.max_send_size {
            return Err(BusinessError::new(
                code::PARAMETER_ERROR,
                format!(
                    "the message is {len} bytes; at most {} may be sent (the max_send_size option)",
                    self.max_send_size
                ),
            ));
        }
        Ok(())
    }
}

/// The receive limits the `max_message_size` option asks for (`None`: the defaults, 64 MiB):
/// ws-proto's limits for messages up to that size, frame and fragment limits included.
pub(crate) fn receive_limits(max_message_size: Option<usize>) -> Limits {
    max_message_size.map_or_else(Limits::default, |max| {
        Limits::for_messages_up_to(max as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_limits_and_their_defaults() {
        let default = SendLimits::new(None, None);
        assert_eq!(default.max_send_size, 5_242_864);
        assert_eq!(default.backlog_limit, DEFAULT_SEND_BACKLOG_LIMIT);
        assert!(default.check(5_242_864).is_ok());
        let err = default.check(5_242_865).unwrap_err();
        assert_eq!(err.code, code::PARAMETER_ERROR);
        assert!(err.message.contains("max_send_size"), "{err}");
        let raised = SendLimits::new(Some(64 << 20), None);
        assert!(raised.check(64 << 20).is_ok());
        assert_eq!(raised.backlog_limit, 3 * (64 << 20));
        let both = SendLimits::new(Some(64 << 20), Some(1 << 20));
        assert_eq!(both.backlog_limit, 1 << 20);
    }

    #[test]
    fn the_receive_limits_follow_max_message_size() {
        assert_eq!(receive_limits(None), Limits::default());
        let default = receive_limits(Some(DEFAULT_MAX_MESSAGE_SIZE));
        assert_eq!(default, Limits::default());
        let big = receive_limits(Some(256 << 20));
        assert_eq!(big.max_message_size, 256 << 20);
        assert_eq!(big.max_frame_size, 256 << 20);
        assert_eq!(big.max_fragments, 4 * Limits::default().max_fragments);
        let small = receive_limits(Some(1000));
        assert_eq!((small.max_message_size, small.max_frame_size), (1000, 1000));
        assert_eq!(small.max_fragments, Limits::default().max_fragments);
        let huge = receive_limits(Some(usize::MAX));
        assert_eq!(huge.max_fragments, u32::MAX);
    }
}
