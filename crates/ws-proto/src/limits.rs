//! Resource limits on what a peer may make us buffer.

/// Bounds on incoming frames and messages.
///
/// Exceeding any of them fails the connection with close code 1009 (message too big). Because a
/// fragmented message is appended to one buffer, not kept as a list of frames, memory is bounded by
/// `max_message_size` however small the fragments are; `max_fragments` bounds the work per message.
///
/// | limit | default |
/// | --- | --- |
/// | [`max_frame_size`](Self::max_frame_size) | 64 MiB |
/// | [`max_message_size`](Self::max_message_size) | 64 MiB |
/// | [`max_fragments`](Self::max_fragments) | 262,144 |
///
/// ```
/// use ws_proto::Limits;
/// let limits = Limits::default().max_message_size(1 << 20);
/// assert_eq!(limits.max_message_size, 1_048_576);
/// // A message may be as large as allowed, in frames of any size, in any number of fragments:
/// let limits = Limits::for_messages_up_to(256 << 20);
/// assert_eq!((limits.max_frame_size, limits.max_message_size), (256 << 20, 256 << 20));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest accepted payload of one frame, in bytes. Default 64 MiB.
    pub max_frame_size: u64,
    /// Largest accepted message (all fragments together), in bytes. Default 64 MiB.
    pub max_message_size: u64,
    /// Most frames one fragmented message may consist of. Default 262,144 (enough for a 16 MiB
    /// message in 64-byte fragments).
    pub max_fragments: u32,
}

impl Limits {
    /// Sets the largest accepted payload of one frame.
    #[must_use]
    pub fn max_frame_size(mut self, bytes: u64) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets the largest accepted message.
    #[must_use]
    pub fn max_message_size(mut self, bytes: u64) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets the most frames one fragmented message may consist of.
    #[must_use]
    pub fn max_fragments(mut self, count: u32) -> Self {
        self.max_fragments = count;
        self
    }

    /// Limits that admit any message of up to `bytes`, however the peer frames it: frames up to
    /// the same size, and at least the default fragment count, raised so that a message of
    /// `bytes` may come in fragments as small, on average, as the defaults allow (256 bytes).
    pub fn for_messages_up_to(bytes: u64) -> Self {
        let defaults = Limits::default();
        let bytes_per_fragment =
            (defaults.max_message_size / u64::from(defaults.max_fragments).max(1)).max(1);
        let fragments = u32::try_from(bytes / bytes_per_fragment).unwrap_or(u32::MAX);
        Limits {
            max_frame_size: bytes,
            max_message_size: bytes,
            max_fragments: defaults.max_fragments.max(fragments),
        }
    }

    /// Limits that accept anything a 64-bit length can describe (for trusted peers and tests).
    pub const UNLIMITED: Limits = Limits {
        max_frame_size: u64::MAX,
        max_message_size: u64::MAX,
        max_fragments: u32::MAX,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_size: 64 << 20,
            max_message_size: 64 << 20,
            max_fragments: 1 << 18,
        }
    }
}
