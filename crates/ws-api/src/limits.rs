//! The size limits of both facades' extension options, and what they become in the lower
//! layers' settings.

use ws_proto::Limits;

/// Default of the `max_message_size` extension option: the largest message received, 64 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;

/// The receive limits a message of `max_message_size` bytes needs (`None`: the defaults, 64
/// MiB). A frame never needs to be larger than a message, so the frame limit follows the
/// message limit; the fragment limit grows with it so that a message of the largest size may
/// come in fragments as small as the defaults allow (256 bytes on average).
pub(crate) fn receive_limits(max_message_size: Option<usize>) -> Limits {
    let mut limits = Limits::default();
    let Some(max) = max_message_size else {
        return limits;
    };
    let max = max as u64;
    let bytes_per_fragment = limits.max_message_size / u64::from(limits.max_fragments).max(1);
    let fragments = u32::try_from(max / bytes_per_fragment.max(1)).unwrap_or(u32::MAX);
    limits.max_message_size = max;
    limits.max_frame_size = max;
    limits.max_fragments = limits.max_fragments.max(fragments);
    limits
}

#[cfg(test)]
mod tests {
    use super::*;

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
