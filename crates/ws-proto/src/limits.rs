//! Resource limits on what a peer may make us buffer.

/// Bounds on incoming frames and messages.
///
/// Exceeding any of them fails the connection with close code 1009 (message too big). Because a
/// fragmented message is appended to one buffer, not kept as a list of frames, memory is bounded by
/// `max_message_size` however small the fragments are; `max_fragments` bounds the work per message.
///
/// ```
/// use ws_proto::Limits;
/// let limits = Limits { max_message_size: 1 << 20, ..Limits::default() };
/// assert_eq!(limits.max_message_size, 1_048_576);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
