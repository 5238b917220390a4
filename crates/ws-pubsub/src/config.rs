//! Limits of a [`Topics`](crate::Topics) registry.

/// Limits of a [`Topics`](crate::Topics) registry. Built from [`Default`] and the setters:
///
/// ```
/// let config = ws_pubsub::TopicsConfig::default()
///     .backlog_limit(1 << 20)
///     .max_topics(10_000);
/// assert_eq!(config.backlog_limit, 1 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicsConfig {
    /// Bytes a subscriber may have unsent (its [`Sender::buffered_len`](ws_net::Sender::buffered_len))
    /// when a message is published to it. A subscriber over it is closed with 1008 (policy
    /// violation) and removed from the topic instead of being sent more (and from its other
    /// topics at their next message, which finds it closing): a slow reader never holds up
    /// the others and the memory it holds stays bounded. Default 4 MiB.
    pub backlog_limit: usize,
    /// The longest topic name, in bytes. Default 256.
    pub max_topic_len: usize,
    /// How many topics may have subscribers at once; subscribing to one more fails with
    /// [`PubSubError::TooManyTopics`](crate::PubSubError::TooManyTopics). Default 100 000.
    pub max_topics: usize,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            backlog_limit: 4 << 20,
            max_topic_len: 256,
            max_topics: 100_000,
        }
    }
}

impl TopicsConfig {
    /// Sets [`backlog_limit`](Self::backlog_limit).
    pub fn backlog_limit(mut self, bytes: usize) -> Self {
        self.backlog_limit = bytes;
        self
    }

    /// Sets [`max_topic_len`](Self::max_topic_len).
    pub fn max_topic_len(mut self, bytes: usize) -> Self {
        self.max_topic_len = bytes;
        self
    }

    /// Sets [`max_topics`](Self::max_topics).
    pub fn max_topics(mut self, topics: usize) -> Self {
        self.max_topics = topics;
        self
    }
}
