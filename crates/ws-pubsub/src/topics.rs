//! The local registry: topics, their subscribers, publishing and the counters.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ws_net::{CloseCode, Message, PreparedMessage, Sender};

use crate::{PubSubError, TopicsConfig};

/// What became of a published message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Local subscribers it was queued on.
    pub local: usize,
    /// Local subscribers closed instead, their backlog over
    /// [`TopicsConfig::backlog_limit`](crate::TopicsConfig::backlog_limit).
    pub closed_for_backlog: usize,
    /// What the broker did with it.
    pub broker: Forwarded,
}

/// What the broker did with a published message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Forwarded {
    /// There is no broker ([`Topics::new`]): local subscribers are all there is.
    NoBroker,
    /// Queued for the broker, which sends messages in the order they were queued. If the
    /// connection to the broker is lost before it goes out, it is dropped then and counted in
    /// [`Stats::broker_dropped`].
    Queued,
    /// Dropped for other instances: the broker is unreachable, or its queue is full. Local
    /// subscribers got it all the same; counted in [`Stats::broker_dropped`].
    Dropped,
}

/// Counters and gauges of a [`Topics`], from [`Topics::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Messages published through [`Topics::publish`].
    pub published: u64,
    /// Messages queued on local subscribers (one per subscriber), published here or received
    /// from the broker.
    pub delivered_local: u64,
    /// Messages of other instances received from the broker.
    pub received_from_broker: u64,
    /// This instance's own messages that came back from the broker and were not delivered a
    /// second time.
    pub echoes_ignored: u64,
    /// Messages from the broker that were not understood (bad header, text not UTF-8), ignored.
    pub malformed_from_broker: u64,
    /// Published messages that did not reach the broker (unreachable, queue full, or lost with
    /// the connection): other instances did not get them.
    pub broker_dropped: u64,
    /// Subscribers closed with 1008 because their backlog was over the limit.
    pub closed_for_backlog: u64,
    /// Topics with local subscribers now.
    pub topics: usize,
    /// Subscriptions now (a connection in three topics counts three times).
    pub subscriptions: usize,
    /// Whether the broker is connected now: always `true` without a broker; for Redis,
    /// both the publishing and the subscribing connection are up.
    pub broker_connected: bool,
    /// Topics the broker is subscribed to for this instance now (Redis channels); 0 without a
    /// broker.
    pub broker_topics: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) published: AtomicU64,
    pub(crate) delivered_local: AtomicU64,
    pub(crate) received_from_broker: AtomicU64,
    pub(crate) echoes_ignored: AtomicU64,
    pub(crate) malformed_from_broker: AtomicU64,
    pub(crate) broker_dropped: AtomicU64,
    pub(crate) closed_for_backlog: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

struct Subscriber {
    id: u64,
    sender: Sender,
}

pub(crate) struct Topic {
    subscribers: Mutex<Vec<Subscriber>>,
}

pub(crate) struct Inner {
    pub(crate) config: TopicsConfig,
    /// Topic name to its subscribers. Lock order: this one, then a topic's. Never held across
    /// an await.
    registry: Mutex<HashMap<Arc<str>, Arc<Topic>>>,
    pub(crate) counters: Counters,
    next_id: AtomicU64,
    #[cfg(feature = "redis")]
    pub(crate) redis: Option<crate::redis::Link>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing under these locks can leave the data half-updated, so a panic elsewhere while
    // one was held does not make it unusable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    /// The topics with local subscribers.
    #[cfg(feature = "redis")]
    pub(crate) fn topic_names(&self) -> Vec<Arc<str>> {
        lock(&self.registry).keys().cloned().collect()
    }

    /// Queues `message` on every local subscriber of `topic`, closing those over the backlog
    /// limit and dropping closed ones. Returns (delivered, closed for backlog).
    pub(crate) fn fan_out(&self, topic: &str, message: &Message) -> (usize, usize) {
        let Some(entry) = lock(&self.registry).get(topic).cloned() else {
            return (0, 0);
        };
        let prepared = PreparedMessage::new(message);
        let limit = self.config.backlog_limit;
        let (mut delivered, mut closed) = (0, 0);
        let now_empty = {
            let mut subscribers = lock(&entry.subscribers);
            subscribers.retain(|subscriber| {
                if subscriber.sender.buffered_len() > limit {
                    // Queued past the write bound, after what is waiting: the peer sees the
                    // reason once it reads its backlog.
                    let _ = subscriber
                        .sender
                        .start_close(CloseCode::POLICY_VIOLATION, "subscriber too slow");
                    closed += 1;
                    return false;
                }
                match subscriber.sender.send_prepared_now(&prepared) {
                    Ok(()) => {
                        delivered += 1;
                        true
                    }
                    // Closing or closed: it is gone from the topic.
                    Err(_) => false,
                }
            });
            subscribers.is_empty()
        };
        if now_empty {
            self.remove_if_empty(topic, &entry);
        }
        bump(&self.counters.delivered_local, delivered as u64);
        bump(&self.counters.closed_for_backlog, closed as u64);
        (delivered, closed)
    }

    /// Removes `topic` from the registry when it is still `entry` and has no subscriber left.
    fn remove_if_empty(&self, topic: &str, entry: &Arc<Topic>) {
        let removed = {
            let mut registry = lock(&self.registry);
            let empty = registry.get(topic).is_some_and(|current| {
                Arc::ptr_eq(current, entry) && lock(&current.subscribers).is_empty()
            });
            if empty {
                registry.remove(topic);
            }
            empty
        };
        if removed {
            self.topics_changed();
        }
    }

    fn topics_changed(&self) {
        #[cfg(feature = "redis")]
        if let Some(link) = &self.redis {
            link.topics_changed();
        }
    }

    fn unsubscribe(&self, topic: &str, id: u64) {
        let Some(entry) = lock(&self.registry).get(topic).cloned() else {
            return;
        };
        let now_empty = {
            let mut subscribers = lock(&entry.subscribers);
            subscribers.retain(|s| s.id != id);
            subscribers.is_empty()
        };
        if now_empty {
            self.remove_if_empty(topic, &entry);
        }
    }
}

/// The topics of this process and their subscribers: cheap to clone (every clone is the same
/// registry), `Send + Sync`.
///
/// [`subscribe`](Self::subscribe) adds a connection's [`Sender`] to a topic;
/// [`publish`](Self::publish) queues a message on every subscriber of a topic, encoded once,
/// and hands it to the broker, if any, for the other instances. Nothing here awaits: publishing
/// from a connection's receive loop never waits for a slow subscriber.
#[derive(Clone)]
pub struct Topics {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Topics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.stats();
        f.debug_struct("Topics")
            .field("config", &self.inner.config)
            .field("topics", &stats.topics)
            .field("subscriptions", &stats.subscriptions)
            .field("broker_connected", &stats.broker_connected)
            .finish_non_exhaustive()
    }
}

impl Default for Topics {
    fn default() -> Self {
        Topics::new(TopicsConfig::default())
    }
}

impl Topics {
    /// An in-process registry: no broker, one process, nothing else to run. Publishing is the
    /// local fan-out only.
    pub fn new(config: TopicsConfig) -> Topics {
        Topics {
            inner: Arc::new(Inner::new(
                config,
                #[cfg(feature = "redis")]
                None,
            )),
        }
    }

    /// A registry whose messages also reach the other instances through Redis PUBLISH /
    /// SUBSCRIBE (feature `redis`; see the crate docs for the delivery guarantees). It starts
    /// the broker's tasks on the current tokio runtime and returns at once: the connections to
    /// Redis are made (and remade) in the background, and [`Stats::broker_connected`] tells
    /// when they are up. The tasks end when the last clone of the `Topics` and the last
    /// [`Subscription`] are dropped.
    ///
    /// # Errors
    ///
    /// [`PubSubError::InvalidRedisUrl`] for a URL the Redis client does not accept;
    /// [`PubSubError::NoRuntime`] outside a tokio runtime.
    #[cfg(feature = "redis")]
    pub fn with_redis(
        config: TopicsConfig,
        redis: crate::RedisConfig,
    ) -> Result<Topics, PubSubError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| PubSubError::NoRuntime)?;
        let (link, tasks) = crate::redis::Link::new(redis)?;
        let inner = Arc::new(Inner::new(config, Some(link)));
        tasks.spawn(&runtime, Arc::downgrade(&inner));
        Ok(Topics { inner })
    }

    /// The limits this registry was made with.
    pub fn config(&self) -> &TopicsConfig {
        &self.inner.config
    }

    fn check_topic(&self, topic: &str) -> Result<(), PubSubError> {
        let max = self.inner.config.max_topic_len;
        if topic.len() > max {
            return Err(PubSubError::TopicTooLong {
                len: topic.len(),
                max,
            });
        }
        Ok(())
    }

    /// Adds `sender` to `topic`'s subscribers until the returned [`Subscription`] is dropped
    /// (or [`unsubscribed`](Subscription::unsubscribe)). A connection may subscribe to several
    /// topics, each with its own clone of its `Sender`. The first subscriber of a topic makes
    /// the broker subscribe to it for this instance; the last one leaving unsubscribes it.
    ///
    /// # Errors
    ///
    /// [`PubSubError::TopicTooLong`] and [`PubSubError::TooManyTopics`] (the limits of
    /// [`TopicsConfig`]).
    pub fn subscribe(&self, topic: &str, sender: Sender) -> Result<Subscription, PubSubError> {
        self.check_topic(topic)?;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (name, created) = {
            let mut registry = lock(&self.inner.registry);
            // The registry's key is shared with the subscription: the name is copied once,
            // by the topic's first subscriber.
            let (name, entry, created) = match registry.get_key_value(topic) {
                Some((name, entry)) => (Arc::clone(name), Arc::clone(entry), false),
                None => {
                    if registry.len() >= self.inner.config.max_topics {
                        return Err(PubSubError::TooManyTopics {
                            max: self.inner.config.max_topics,
                        });
                    }
                    let name: Arc<str> = Arc::from(topic);
                    let entry = Arc::new(Topic {
                        subscribers: Mutex::new(Vec::new()),
                    });
                    registry.insert(Arc::clone(&name), Arc::clone(&entry));
                    (name, entry, true)
                }
            };
            lock(&entry.subscribers).push(Subscriber { id, sender });
            (name, created)
        };
        if created {
            self.inner.topics_changed();
        }
        Ok(Subscription {
            inner: Some(Arc::clone(&self.inner)),
            topic: name,
            id,
        })
    }

    /// Publishes `message` to `topic`: encodes it once and queues it on every local subscriber
    /// (without waiting: one over [`TopicsConfig::backlog_limit`] is closed with 1008 instead,
    /// closed ones are removed), then hands it to the broker for the other instances. A topic
    /// nobody subscribes to is fine: 0 local deliveries. Messages published one after another
    /// reach each subscriber, here and on other instances, in that order.
    ///
    /// # Errors
    ///
    /// [`PubSubError::TopicTooLong`] for a name over [`TopicsConfig::max_topic_len`]. An
    /// unreachable broker is not an error: see [`Delivery::broker`].
    pub fn publish(&self, topic: &str, message: Message) -> Result<Delivery, PubSubError> {
        self.check_topic(topic)?;
        bump(&self.inner.counters.published, 1);
        let (local, closed_for_backlog) = self.inner.fan_out(topic, &message);
        let broker = self.forward(topic, &message);
        Ok(Delivery {
            local,
            closed_for_backlog,
            broker,
        })
    }

    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    fn forward(&self, topic: &str, message: &Message) -> Forwarded {
        #[cfg(feature = "redis")]
        if let Some(link) = &self.inner.redis {
            let forwarded = link.publish(topic, message);
            if forwarded == Forwarded::Dropped {
                bump(&self.inner.counters.broker_dropped, 1);
            }
            return forwarded;
        }
        Forwarded::NoBroker
    }

    /// The counters and gauges now.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let (topics, subscriptions) = {
            let registry = lock(&self.inner.registry);
            let subscriptions = registry.values().map(|t| lock(&t.subscribers).len()).sum();
            (registry.len(), subscriptions)
        };
        #[cfg(feature = "redis")]
        let (broker_connected, broker_topics) = match &self.inner.redis {
            Some(link) => (link.connected(), link.subscribed_topics()),
            None => (true, 0),
        };
        #[cfg(not(feature = "redis"))]
        let (broker_connected, broker_topics) = (true, 0);
        Stats {
            published: get(&c.published),
            delivered_local: get(&c.delivered_local),
            received_from_broker: get(&c.received_from_broker),
            echoes_ignored: get(&c.echoes_ignored),
            malformed_from_broker: get(&c.malformed_from_broker),
            broker_dropped: get(&c.broker_dropped),
            closed_for_backlog: get(&c.closed_for_backlog),
            topics,
            subscriptions,
            broker_connected,
            broker_topics,
        }
    }
}

impl Inner {
    fn new(
        config: TopicsConfig,
        #[cfg(feature = "redis")] redis: Option<crate::redis::Link>,
    ) -> Inner {
        Inner {
            config,
            registry: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            next_id: AtomicU64::new(0),
            #[cfg(feature = "redis")]
            redis,
        }
    }
}

/// A connection's place in a topic: dropping it (or [`unsubscribe`](Self::unsubscribe))
/// removes it. A subscriber closed for its backlog or found closed is removed already; dropping
/// its guard then does nothing.
pub struct Subscription {
    inner: Option<Arc<Inner>>,
    topic: Arc<str>,
    id: u64,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The topic subscribed to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Leaves the topic now (as dropping the guard does).
    pub fn unsubscribe(mut self) {
        self.leave();
    }

    fn leave(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.unsubscribe(&self.topic, self.id);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.leave();
    }
}
