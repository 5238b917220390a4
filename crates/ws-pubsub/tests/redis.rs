//! The Redis broker against a real `redis-server` started on a free loopback port. Without
//! redis-server these tests are skipped, unless `CI` is set (`cargo xtask ci` installs it).

mod support;

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use redis_test_server::RedisServer;
use support::{next_text, text, wait_until, Harness};
use ws_net::{Connection, Message, Receiver};
use ws_pubsub::{Forwarded, RedisConfig, Subscription, Topics, TopicsConfig};

/// One server instance: its registry on Redis and its WebSocket clients.
struct Instance {
    topics: Topics,
    harness: Harness,
    clients: Vec<(Connection, Receiver, Subscription)>,
}

impl Instance {
    async fn start(url: &str, prefix: &str) -> Instance {
        let config = RedisConfig::new(url)
            .channel_prefix(prefix)
            .reconnect_backoff(Duration::from_millis(50), Duration::from_millis(400))
            .timeout(Duration::from_secs(2));
        let topics = Topics::with_redis(TopicsConfig::default(), config).unwrap();
        Instance {
            topics,
            harness: Harness::start().await,
            clients: Vec::new(),
        }
    }

    async fn add_subscriber(&mut self, topic: &str) {
        let (client, sender, receiver) = self.harness.client().await;
        let subscription = self.topics.subscribe(topic, sender).unwrap();
        self.clients.push((client, receiver, subscription));
    }

    /// Waits until both Redis connections are up and `topics` channels subscribed.
    async fn wait_ready(&self, topics: usize) {
        wait_until("the broker to be connected and subscribed", || {
            let stats = self.topics.stats();
            stats.broker_connected && stats.broker_topics == topics
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_other_instances_once_and_in_order() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut a = Instance::start(&redis.url(), "order:").await;
    let mut b = Instance::start(&redis.url(), "order:").await;
    for _ in 0..2 {
        a.add_subscriber("room").await;
        b.add_subscriber("room").await;
    }
    a.wait_ready(1).await;
    b.wait_ready(1).await;

    const N: usize = 300;
    for i in 0..N {
        let delivery = a.topics.publish("room", text(&format!("m{i}"))).unwrap();
        assert_eq!(delivery.local, 2);
        assert_eq!(delivery.broker, Forwarded::Queued);
    }
    // Every echo came back to `a` and was not delivered again.
    wait_until("a's echoes", || a.topics.stats().echoes_ignored == N as u64).await;
    a.topics.publish("room", text("end")).unwrap();
    for instance in [&mut a, &mut b] {
        for (client, _, _) in &mut instance.clients {
            for i in 0..N {
                assert_eq!(next_text(client).await, format!("m{i}"));
            }
            // Nothing twice: the next one is the last.
            assert_eq!(next_text(client).await, "end");
        }
    }
    let (sa, sb) = (a.topics.stats(), b.topics.stats());
    assert_eq!(sa.delivered_local, 2 * (N as u64 + 1));
    assert_eq!(sa.received_from_broker, 0);
    assert_eq!(sb.received_from_broker, N as u64 + 1);
    assert_eq!(sb.delivered_local, 2 * (N as u64 + 1));
    assert_eq!(sb.echoes_ignored, 0);
    assert_eq!(sa.broker_dropped + sb.broker_dropped, 0);

    // The other way, binary this time.
    b.topics
        .publish("room", Message::Binary(vec![1, 2, 3].into()))
        .unwrap();
    for (client, _, _) in &mut a.clients {
        assert_eq!(
            support::next_message(client).await,
            Message::Binary(vec![1, 2, 3].into())
        );
    }

    // The last local subscriber leaving unsubscribes the channel.
    b.clients.clear();
    wait_until("b to unsubscribe", || b.topics.stats().broker_topics == 0).await;
    assert_eq!(b.topics.stats().topics, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_redis_restarts() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut a = Instance::start(&redis.url(), "restart:").await;
    let mut b = Instance::start(&redis.url(), "restart:").await;
    a.add_subscriber("room").await;
    b.add_subscriber("room").await;
    a.wait_ready(1).await;
    b.wait_ready(1).await;
    a.topics.publish("room", text("before")).unwrap();
    assert_eq!(next_text(&mut b.clients[0].0).await, "before");
    assert_eq!(next_text(&mut a.clients[0].0).await, "before");

    // Redis goes away: publishing still reaches local subscribers, and is dropped for others.
    let port = redis.port();
    drop(redis);
    wait_until("a to see Redis gone", || !a.topics.stats().broker_connected).await;
    wait_until("b to see Redis gone", || !b.topics.stats().broker_connected).await;
    for i in 0..5 {
        let delivery = a
            .topics
            .publish("room", text(&format!("during{i}")))
            .unwrap();
        assert_eq!(delivery.local, 1);
        assert_eq!(delivery.broker, Forwarded::Dropped);
    }
    assert_eq!(a.topics.stats().broker_dropped, 5);
    for i in 0..5 {
        assert_eq!(next_text(&mut a.clients[0].0).await, format!("during{i}"));
    }

    // Back again on the same port: both reconnect and subscribe "room" again.
    let redis = RedisServer::on(port);
    a.wait_ready(1).await;
    b.wait_ready(1).await;
    a.topics.publish("room", text("after")).unwrap();
    // b never got the ones dropped during the outage.
    assert_eq!(next_text(&mut b.clients[0].0).await, "after");
    assert_eq!(next_text(&mut a.clients[0].0).await, "after");
    b.topics.publish("room", text("from b")).unwrap();
    assert_eq!(next_text(&mut a.clients[0].0).await, "from b");
    assert_eq!(next_text(&mut b.clients[0].0).await, "from b");

    // A second restart, while a new topic is subscribed meanwhile.
    let redis = redis.restart();
    a.add_subscriber("late").await;
    b.add_subscriber("late").await;
    a.wait_ready(2).await;
    b.wait_ready(2).await;
    a.topics.publish("late", text("late news")).unwrap();
    assert_eq!(next_text(&mut b.clients[1].0).await, "late news");
    drop(redis);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_from_redis_are_counted_and_ignored() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut a = Instance::start(&redis.url(), "bad:").await;
    a.add_subscriber("room").await;
    a.wait_ready(1).await;

    let publish = |payload: &[u8]| {
        let reply = redis.command(&[b"PUBLISH", b"bad:room", payload]);
        assert_eq!(
            reply.as_deref(),
            Some(b":1\r\n".as_slice()),
            "one subscriber"
        );
    };
    publish(b"not ours");
    publish(b"");
    let mut header = vec![b'W', 1, b't'];
    header.extend_from_slice(&42u128.to_be_bytes());
    let mut bad_utf8 = header.clone();
    bad_utf8.extend_from_slice(&[0xc3, 0x28]);
    publish(&bad_utf8);
    let mut bad_kind = header.clone();
    bad_kind[2] = b'?';
    publish(&bad_kind);
    let mut good = header;
    good.extend_from_slice("héllo".as_bytes());
    publish(&good);

    // Only the good one arrives, after the four bad ones were seen.
    assert_eq!(next_text(&mut a.clients[0].0).await, "héllo");
    let stats = a.topics.stats();
    assert_eq!(stats.malformed_from_broker, 4);
    assert_eq!(stats.received_from_broker, 1);
    assert_eq!(stats.delivered_local, 1);
}

#[tokio::test]
async fn an_unreachable_redis_drops_for_others_but_not_locally() {
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut a = Instance::start(&format!("redis://127.0.0.1:{port}"), "none:").await;
    a.add_subscriber("room").await;
    let delivery = a.topics.publish("room", text("local only")).unwrap();
    assert_eq!((delivery.local, delivery.broker), (1, Forwarded::Dropped));
    assert_eq!(next_text(&mut a.clients[0].0).await, "local only");
    let stats = a.topics.stats();
    assert!(!stats.broker_connected);
    assert_eq!(stats.broker_dropped, 1);
    assert!(format!("{:?}", RedisConfig::new("redis://:secret@h:1")).contains("***@h:1"));
    assert!(!format!("{:?}", RedisConfig::new("redis://:secret@h:1")).contains("secret"));
}

#[tokio::test]
async fn an_invalid_url_is_refused() {
    let error = Topics::with_redis(
        TopicsConfig::default(),
        RedisConfig::new("http://not-redis"),
    )
    .unwrap_err();
    assert!(error.to_string().contains("redis://"), "{error}");
}

#[test]
fn the_redis_broker_needs_a_runtime() {
    let error = Topics::with_redis(
        TopicsConfig::default(),
        RedisConfig::new("redis://127.0.0.1:1"),
    )
    .unwrap_err();
    assert!(matches!(error, ws_pubsub::PubSubError::NoRuntime));
}

/// Sends `signal` (STOP, CONT) to the redis-server.
fn signal(redis: &RedisServer, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &redis.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_stops_answering_is_noticed_by_its_pings() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let config = RedisConfig::new(redis.url())
        .channel_prefix("frozen:")
        .reconnect_backoff(Duration::from_millis(50), Duration::from_millis(200))
        .timeout(Duration::from_millis(500))
        .ping_interval(Duration::from_millis(100));
    let topics = Topics::with_redis(TopicsConfig::default(), config).unwrap();
    let mut harness = Harness::start().await;
    let (mut client, sender, _receiver) = harness.client().await;
    let _subscription = topics.subscribe("room", sender).unwrap();
    wait_until("connected", || topics.stats().broker_connected).await;

    // Frozen: the connections stay open but nothing answers.
    signal(&redis, "STOP");
    let resumed = Resume(&redis);
    wait_until("the frozen Redis to be noticed", || {
        !topics.stats().broker_connected
    })
    .await;
    let delivery = topics.publish("room", text("meanwhile")).unwrap();
    assert_eq!(delivery.broker, Forwarded::Dropped);
    assert_eq!(next_text(&mut client).await, "meanwhile");

    drop(resumed);
    wait_until("reconnected and subscribed", || {
        let stats = topics.stats();
        stats.broker_connected && stats.broker_topics == 1
    })
    .await;
    // Another publisher on Redis reaches the subscriber again.
    let mut payload = vec![b'W', 1, b't'];
    payload.extend_from_slice(&7u128.to_be_bytes());
    payload.extend_from_slice(b"thawed");
    let reply = redis.command(&[b"PUBLISH", b"frozen:room", &payload]);
    assert_eq!(reply.as_deref(), Some(b":1\r\n".as_slice()));
    assert_eq!(next_text(&mut client).await, "thawed");
}

/// Resumes the stopped server when dropped, even if the test fails before.
struct Resume<'a>(&'a RedisServer);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}
