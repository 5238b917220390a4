//! The Redis broker: one publishing connection, one subscribing connection with one channel
//! per topic that has local subscribers, both remade after Redis goes away.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubSink};
use redis::AsyncConnectionConfig;
use tokio::sync::{mpsc, watch, Notify};
use ws_net::Message;

use crate::topics::{bump, Forwarded, Inner};
use crate::{wire, PubSubError};

/// How to reach Redis and how to behave when it is away ([`Topics::with_redis`](crate::Topics::with_redis),
/// feature `redis`). Built with [`RedisConfig::new`] and the setters:
///
/// ```
/// use std::time::Duration;
///
/// let config = ws_pubsub::RedisConfig::new("redis://127.0.0.1:6379")
///     .channel_prefix("chat:")
///     .reconnect_backoff(Duration::from_millis(50), Duration::from_secs(2));
/// assert_eq!(config.channel_prefix, "chat:");
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisConfig {
    /// The server: `redis://[[user]:password@]host[:port][/db]` (`rediss://` is not supported:
    /// the `redis` crate is built without TLS here).
    pub url: String,
    /// Prepended to a topic to make its Redis channel: topic `lobby` is channel `ws:lobby` with
    /// the default `ws:`. Instances that share topics must use the same prefix.
    pub channel_prefix: String,
    /// The first wait before reconnecting after Redis went away or could not be reached; it
    /// doubles at each failure up to [`reconnect_max`](Self::reconnect_max). Default 100 ms.
    pub reconnect_min: Duration,
    /// The longest wait between reconnection attempts. Default 5 s.
    pub reconnect_max: Duration,
    /// Time allowed for a TCP connection and Redis' answer to a command (PUBLISH, SUBSCRIBE,
    /// PING); past it the connection counts as lost. Default 5 s.
    pub timeout: Duration,
    /// How often the subscribing connection is checked with a PING when nothing else happens,
    /// so a Redis that vanished without closing the connection is noticed. Default 10 s.
    pub ping_interval: Duration,
    /// Bytes of published messages waiting to be sent to Redis at most; a message that does
    /// not fit is dropped for the other instances and counted in
    /// [`Stats::broker_dropped`](crate::Stats::broker_dropped). Default 16 MiB.
    pub publish_queue_limit: usize,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password.
        let url = match self.url.rsplit_once('@') {
            Some((_, host)) => format!("redis://***@{host}"),
            None => self.url.clone(),
        };
        f.debug_struct("RedisConfig")
            .field("url", &url)
            .field("channel_prefix", &self.channel_prefix)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("timeout", &self.timeout)
            .field("ping_interval", &self.ping_interval)
            .field("publish_queue_limit", &self.publish_queue_limit)
            .finish()
    }
}

impl RedisConfig {
    /// The defaults, for the server at `url` (`redis://host:port`).
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            channel_prefix: "ws:".to_owned(),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(10),
            publish_queue_limit: 16 << 20,
        }
    }

    /// Sets [`channel_prefix`](Self::channel_prefix).
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.channel_prefix = prefix.into();
        self
    }

    /// Sets [`reconnect_min`](Self::reconnect_min) and [`reconnect_max`](Self::reconnect_max).
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }

    /// Sets [`timeout`](Self::timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`ping_interval`](Self::ping_interval).
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
        self
    }

    /// Sets [`publish_queue_limit`](Self::publish_queue_limit).
    pub fn publish_queue_limit(mut self, bytes: usize) -> Self {
        self.publish_queue_limit = bytes;
        self
    }
}

/// A message on its way to Redis: its channel and its payload in one buffer, so that a
/// published message costs one allocation.
struct Outgoing {
    bytes: Vec<u8>,
    /// Where the channel ends and the payload begins.
    channel_len: usize,
}

impl Outgoing {
    fn size(&self) -> usize {
        self.bytes.len()
    }

    fn channel(&self) -> &[u8] {
        &self.bytes[..self.channel_len]
    }

    fn payload(&self) -> &[u8] {
        &self.bytes[self.channel_len..]
    }
}

/// What the registry and the two tasks share.
#[derive(Debug, Default)]
struct State {
    publisher_up: AtomicBool,
    subscriber_up: AtomicBool,
    /// Channels subscribed now.
    subscribed: AtomicUsize,
    /// Bytes in the publish queue.
    queued_bytes: AtomicUsize,
    /// Set of topics with local subscribers changed.
    topics_changed: Notify,
    /// Bumped each time the subscribing connection is lost: the publishing connection, to the
    /// same server, is remade too instead of failing at the next PUBLISH.
    losses: AtomicU64,
    lost: Notify,
}

/// The registry's side of the broker.
pub(crate) struct Link {
    instance: u128,
    prefix: String,
    queue: mpsc::UnboundedSender<Outgoing>,
    queue_limit: usize,
    state: Arc<State>,
    /// Dropped with the registry: the tasks see it and end.
    _shutdown: watch::Sender<()>,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("instance", &format_args!("{:032x}", self.instance))
            .field("prefix", &self.prefix)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// The tasks, ready to be spawned once the registry exists.
pub(crate) struct Tasks {
    client: redis::Client,
    config: RedisConfig,
    instance: u128,
    state: Arc<State>,
    queue: mpsc::UnboundedReceiver<Outgoing>,
    shutdown: watch::Receiver<()>,
}

impl Link {
    pub(crate) fn new(config: RedisConfig) -> Result<(Link, Tasks), PubSubError> {
        let client =
            redis::Client::open(config.url.as_str()).map_err(PubSubError::InvalidRedisUrl)?;
        let instance = rand::random::<u128>();
        let state = Arc::new(State::default());
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let (shutdown_tx, shutdown_rx) = watch::channel(());
        let link = Link {
            instance,
            prefix: config.channel_prefix.clone(),
            queue: queue_tx,
            queue_limit: config.publish_queue_limit,
            state: Arc::clone(&state),
            _shutdown: shutdown_tx,
        };
        let tasks = Tasks {
            client,
            config,
            instance,
            state,
            queue: queue_rx,
            shutdown: shutdown_rx,
        };
        Ok((link, tasks))
    }

    pub(crate) fn topics_changed(&self) {
        self.state.topics_changed.notify_one();
    }

    pub(crate) fn connected(&self) -> bool {
        self.state.publisher_up.load(Ordering::Acquire)
            && self.state.subscriber_up.load(Ordering::Acquire)
    }

    pub(crate) fn subscribed_topics(&self) -> usize {
        self.state.subscribed.load(Ordering::Relaxed)
    }

    /// Queues `message` for Redis unless the publishing connection is down or the queue full.
    pub(crate) fn publish(&self, topic: &str, message: &Message) -> Forwarded {
        if !self.state.publisher_up.load(Ordering::Acquire) {
            return Forwarded::Dropped;
        }
        let channel_len = self.prefix.len() + topic.len();
        let mut bytes = Vec::with_capacity(channel_len + wire::HEADER_LEN + message.len());
        bytes.extend_from_slice(self.prefix.as_bytes());
        bytes.extend_from_slice(topic.as_bytes());
        wire::encode_into(&mut bytes, self.instance, message);
        let outgoing = Outgoing { bytes, channel_len };
        let size = outgoing.size();
        let before = self.state.queued_bytes.fetch_add(size, Ordering::AcqRel);
        if before + size > self.queue_limit || self.queue.send(outgoing).is_err() {
            self.state.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            return Forwarded::Dropped;
        }
        Forwarded::Queued
    }
}

/// Waits that double from `min` to `max`.
struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(config: &RedisConfig) -> Backoff {
        Backoff {
            min: config.reconnect_min,
            max: config.reconnect_max,
            next: config.reconnect_min,
        }
    }

    fn reset(&mut self) {
        self.next = self.min;
    }

    fn next(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }
}

/// Runs `work` unless the registry is dropped first (`None` then).
async fn or_shutdown<T>(
    shutdown: &mut watch::Receiver<()>,
    work: impl Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        biased;
        _ = shutdown.changed() => None,
        out = work => Some(out),
    }
}

/// The most messages sent to Redis in one pipeline.
const BATCH: usize = 256;

impl Tasks {
    pub(crate) fn spawn(self, runtime: &tokio::runtime::Handle, registry: Weak<Inner>) {
        let Tasks {
            client,
            config,
            instance,
            state,
            queue,
            shutdown,
        } = self;
        let publisher = Publisher {
            client: client.clone(),
            config: config.clone(),
            state: Arc::clone(&state),
            queue,
            shutdown: shutdown.clone(),
            registry: registry.clone(),
        };
        let subscriber = Subscriber {
            client,
            config,
            instance,
            state,
            shutdown,
            registry,
        };
        runtime.spawn(publisher.run());
        runtime.spawn(subscriber.run());
    }
}

struct Publisher {
    client: redis::Client,
    config: RedisConfig,
    state: Arc<State>,
    queue: mpsc::UnboundedReceiver<Outgoing>,
    shutdown: watch::Receiver<()>,
    registry: Weak<Inner>,
}

impl Publisher {
    fn dropped(&self, messages: usize) {
        if let Some(inner) = self.registry.upgrade() {
            bump(&inner.counters.broker_dropped, messages as u64);
        }
    }

    /// Empties the queue, counting what it held as dropped.
    fn drain(&mut self) {
        let mut dropped = 0;
        while let Ok(outgoing) = self.queue.try_recv() {
            self.state
                .queued_bytes
                .fetch_sub(outgoing.size(), Ordering::AcqRel);
            dropped += 1;
        }
        if dropped > 0 {
            self.dropped(dropped);
        }
    }

    async fn connect(&self) -> redis::RedisResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.config.timeout))
            .set_response_timeout(Some(self.config.timeout));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    async fn run(mut self) {
        let mut backoff = Backoff::new(&self.config);
        loop {
            let losses = self.state.losses.load(Ordering::Acquire);
            let connected = {
                let mut shutdown = self.shutdown.clone();
                match or_shutdown(&mut shutdown, self.connect()).await {
                    None => return,
                    Some(result) => result,
                }
            };
            if let Ok(mut connection) = connected {
                backoff.reset();
                self.state.publisher_up.store(true, Ordering::Release);
                let keep_going = self.serve(&mut connection, losses).await;
                self.state.publisher_up.store(false, Ordering::Release);
                if !keep_going {
                    return;
                }
            }
            // Messages queued before the connection was found lost would reach other instances
            // late and out of step with the ones dropped meanwhile: they are dropped too.
            self.drain();
            let wait = backoff.next();
            if or_shutdown(&mut self.shutdown, tokio::time::sleep(wait))
                .await
                .is_none()
            {
                return;
            }
        }
    }

    /// Sends queued messages in order until the connection fails (`true`) or the registry is
    /// gone (`false`).
    async fn serve(&mut self, connection: &mut MultiplexedConnection, losses: u64) -> bool {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let first = tokio::select! {
                biased;
                _ = self.shutdown.changed() => return false,
                _ = self.state.lost.notified() => {
                    if self.state.losses.load(Ordering::Acquire) != losses {
                        return true;
                    }
                    continue;
                }
                first = self.queue.recv() => match first {
                    Some(first) => first,
                    None => return false,
                },
            };
            batch.push(first);
            while batch.len() < BATCH {
                match self.queue.try_recv() {
                    Ok(outgoing) => batch.push(outgoing),
                    Err(_) => break,
                }
            }
            let mut pipe = redis::pipe();
            for outgoing in &batch {
                pipe.cmd("PUBLISH")
                    .arg(outgoing.channel())
                    .arg(outgoing.payload())
                    .ignore();
            }
            let sent = pipe.query_async::<()>(connection).await;
            let size: usize = batch.iter().map(Outgoing::size).sum();
            self.state.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            if sent.is_err() {
                // Some may have been published before the failure: at most once.
                self.dropped(batch.len());
                return true;
            }
            batch.clear();
        }
    }
}

struct Subscriber {
    client: redis::Client,
    config: RedisConfig,
    instance: u128,
    state: Arc<State>,
    shutdown: watch::Receiver<()>,
    registry: Weak<Inner>,
}

impl Subscriber {
    async fn run(mut self) {
        let mut backoff = Backoff::new(&self.config);
        loop {
            let timeout = self.config.timeout;
            let client = self.client.clone();
            let connected = or_shutdown(
                &mut self.shutdown,
                tokio::time::timeout(timeout, client.get_async_pubsub()),
            )
            .await;
            match connected {
                None => return,
                Some(Ok(Ok(pubsub))) => {
                    backoff.reset();
                    self.state.subscriber_up.store(true, Ordering::Release);
                    let keep_going = self.serve(pubsub).await;
                    self.state.subscriber_up.store(false, Ordering::Release);
                    self.state.subscribed.store(0, Ordering::Relaxed);
                    // The publishing connection goes to the same server: until it is remade,
                    // publishes are dropped rather than queued behind a dead connection.
                    self.state.publisher_up.store(false, Ordering::Release);
                    self.state.losses.fetch_add(1, Ordering::AcqRel);
                    self.state.lost.notify_one();
                    if !keep_going {
                        return;
                    }
                }
                Some(_) => {}
            }
            let wait = backoff.next();
            if or_shutdown(&mut self.shutdown, tokio::time::sleep(wait))
                .await
                .is_none()
            {
                return;
            }
        }
    }

    /// Receives and resubscribes until the connection fails (`true`) or the registry is gone
    /// (`false`).
    async fn serve(&mut self, pubsub: redis::aio::PubSub) -> bool {
        let (mut sink, mut stream) = pubsub.split();
        let mut subscribed = HashSet::new();
        let mut ping = tokio::time::interval(self.config.ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.reset();
        if self.reconcile(&mut sink, &mut subscribed).await.is_err() {
            return true;
        }
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.changed() => return false,
                message = stream.next() => match message {
                    Some(message) => self.receive(&message),
                    None => return true,
                },
                _ = self.state.topics_changed.notified() => {
                    if self.reconcile(&mut sink, &mut subscribed).await.is_err() {
                        return true;
                    }
                }
                _ = ping.tick() => {
                    let answer =
                        tokio::time::timeout(self.config.timeout, sink.ping::<String>()).await;
                    if !matches!(answer, Ok(Ok(_))) {
                        return true;
                    }
                }
            }
        }
    }

    /// Subscribes to the channels of the topics that have local subscribers and unsubscribes
    /// from the others.
    async fn reconcile(
        &self,
        sink: &mut PubSubSink,
        subscribed: &mut HashSet<Arc<str>>,
    ) -> Result<(), ()> {
        let Some(inner) = self.registry.upgrade() else {
            return Ok(());
        };
        let wanted: HashSet<Arc<str>> = inner.topic_names().into_iter().collect();
        drop(inner);
        let prefix = &self.config.channel_prefix;
        let timeout = self.config.timeout;
        let new: Vec<_> = wanted.difference(subscribed).cloned().collect();
        for topic in new {
            // One channel per command: each command waits for its own confirmation.
            let channel = format!("{prefix}{topic}");
            match tokio::time::timeout(timeout, sink.subscribe(&channel)).await {
                Ok(Ok(())) => {}
                _ => return Err(()),
            }
            subscribed.insert(topic);
            self.state
                .subscribed
                .store(subscribed.len(), Ordering::Relaxed);
        }
        let gone: Vec<_> = subscribed.difference(&wanted).cloned().collect();
        for topic in gone {
            let channel = format!("{prefix}{topic}");
            match tokio::time::timeout(timeout, sink.unsubscribe(&channel)).await {
                Ok(Ok(())) => {}
                _ => return Err(()),
            }
            subscribed.remove(&topic);
            self.state
                .subscribed
                .store(subscribed.len(), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Delivers a message of another instance to the local subscribers of its topic.
    fn receive(&self, message: &redis::Msg) {
        let Some(inner) = self.registry.upgrade() else {
            return;
        };
        let counters = &inner.counters;
        let topic = message
            .get_channel_name()
            .strip_prefix(self.config.channel_prefix.as_str());
        let decoded = wire::decode(message.get_payload_bytes());
        match (topic, decoded) {
            (Some(_), Ok((instance, _))) if instance == self.instance => {
                // Local subscribers had it from the fan-out at publish.
                bump(&counters.echoes_ignored, 1);
            }
            (Some(topic), Ok((_, message))) => {
                bump(&counters.received_from_broker, 1);
                inner.fan_out(topic, &message);
            }
            _ => bump(&counters.malformed_from_broker, 1),
        }
    }
}
