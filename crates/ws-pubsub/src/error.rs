//! What can go wrong.

use std::fmt;

/// Why subscribing, publishing or starting a broker failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PubSubError {
    /// The topic name is longer than [`TopicsConfig::max_topic_len`](crate::TopicsConfig::max_topic_len).
    TopicTooLong {
        /// The name's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// [`TopicsConfig::max_topics`](crate::TopicsConfig::max_topics) topics have subscribers
    /// already.
    TooManyTopics {
        /// The limit.
        max: usize,
    },
    /// The Redis URL could not be used (feature `redis`).
    #[cfg(feature = "redis")]
    InvalidRedisUrl(redis::RedisError),
    /// A broker that runs background tasks was started outside a tokio runtime.
    NoRuntime,
}

impl fmt::Display for PubSubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PubSubError::TopicTooLong { len, max } => write!(
                f,
                "topic name of {len} bytes is over the limit of {max}: use a shorter name \
                 or raise TopicsConfig::max_topic_len"
            ),
            PubSubError::TooManyTopics { max } => write!(
                f,
                "{max} topics have subscribers already: unsubscribe from some or raise \
                 TopicsConfig::max_topics"
            ),
            #[cfg(feature = "redis")]
            PubSubError::InvalidRedisUrl(e) => write!(
                f,
                "invalid Redis URL ({e}): give one like redis://127.0.0.1:6379 or \
                 redis://:password@host:6379/0"
            ),
            PubSubError::NoRuntime => f.write_str(
                "the broker must be started inside a tokio runtime: create the Topics from \
                 async code or within Runtime::enter",
            ),
        }
    }
}

impl std::error::Error for PubSubError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            #[cfg(feature = "redis")]
            PubSubError::InvalidRedisUrl(e) => Some(e),
            _ => None,
        }
    }
}
