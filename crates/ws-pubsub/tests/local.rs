//! The in-process registry with real ws-net connections on loopback.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use support::{closed, next_message, next_text, text, wait_until, Harness, WAIT};
use ws_net::client::ClientConfig;
use ws_net::ws_proto::Bytes;
use ws_net::{CloseCode, ConnectionConfig, Incoming, Message};
use ws_pubsub::{Forwarded, PubSubError, Topics, TopicsConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_receives_every_message_in_order() {
    let topics = Topics::new(TopicsConfig::default());
    let mut harness = Harness::start().await;
    let mut room = Vec::new();
    let mut subscriptions = Vec::new();
    for _ in 0..3 {
        let (client, sender, _receiver) = harness.client().await;
        subscriptions.push(topics.subscribe("room", sender).unwrap());
        room.push((client, _receiver));
    }
    let (mut elsewhere, sender, _receiver) = harness.client().await;
    let _other = topics.subscribe("other", sender).unwrap();
    assert_eq!(topics.stats().topics, 2);
    assert_eq!(topics.stats().subscriptions, 4);

    for i in 0..200 {
        let delivery = topics.publish("room", text(&format!("m{i}"))).unwrap();
        assert_eq!(delivery.local, 3);
        assert_eq!(delivery.closed_for_backlog, 0);
        assert_eq!(delivery.broker, Forwarded::NoBroker);
    }
    let big = Message::Binary(Bytes::from(vec![7u8; 300_000]));
    assert_eq!(topics.publish("room", big.clone()).unwrap().local, 3);
    for (client, _) in &mut room {
        for i in 0..200 {
            assert_eq!(next_text(client).await, format!("m{i}"));
        }
        assert_eq!(next_message(client).await, big);
    }
    // The other topic got none of it: its first message is its own.
    topics.publish("other", text("only here")).unwrap();
    assert_eq!(next_text(&mut elsewhere).await, "only here");

    let stats = topics.stats();
    assert_eq!(stats.published, 202);
    assert_eq!(stats.delivered_local, 201 * 3 + 1);
    assert_eq!(stats.closed_for_backlog, 0);
    assert!(stats.broker_connected);
    assert_eq!(stats.broker_topics, 0);
}

#[tokio::test]
async fn a_topic_without_subscribers_takes_messages() {
    let topics = Topics::new(TopicsConfig::default());
    let delivery = topics.publish("nobody", text("hello?")).unwrap();
    assert_eq!(delivery.local, 0);
    assert_eq!(delivery.broker, Forwarded::NoBroker);
    assert_eq!(topics.stats().published, 1);
    assert_eq!(topics.stats().topics, 0);
}

#[tokio::test]
async fn dropping_or_ending_a_subscription_leaves_the_topic() {
    let topics = Topics::default();
    let mut harness = Harness::start().await;
    let (mut client, sender, _receiver) = harness.client().await;
    // One connection in two topics.
    let in_a = topics.subscribe("a", sender.clone()).unwrap();
    let in_b = topics.subscribe("b", sender).unwrap();
    assert_eq!(in_a.topic(), "a");
    assert_eq!(topics.stats().subscriptions, 2);

    topics.publish("a", text("a1")).unwrap();
    assert_eq!(next_text(&mut client).await, "a1");
    drop(in_a);
    assert_eq!(topics.publish("a", text("a2")).unwrap().local, 0);
    assert_eq!(topics.stats().topics, 1);
    topics.publish("b", text("b1")).unwrap();
    // Not "a2": it went nowhere.
    assert_eq!(next_text(&mut client).await, "b1");
    in_b.unsubscribe();
    assert_eq!(topics.publish("b", text("b2")).unwrap().local, 0);
    let stats = topics.stats();
    assert_eq!((stats.topics, stats.subscriptions), (0, 0));
}

#[tokio::test]
async fn closed_connections_are_removed() {
    let topics = Topics::default();
    let mut harness = Harness::start().await;
    let (mut leaving, sender, _receiver) = harness.client().await;
    let server_side = sender.clone();
    let subscription = topics.subscribe("room", sender).unwrap();
    let (mut staying, sender, _receiver2) = harness.client().await;
    let _staying = topics.subscribe("room", sender).unwrap();

    leaving.close(CloseCode::NORMAL, "bye").await.unwrap();
    assert!(closed(&mut leaving).await.clean);
    wait_until("the server to see the close", || server_side.is_closed()).await;

    let delivery = topics.publish("room", text("still here?")).unwrap();
    assert_eq!(delivery.local, 1);
    assert_eq!(topics.stats().subscriptions, 1);
    assert_eq!(next_text(&mut staying).await, "still here?");
    // Its guard, dropped late, finds it gone already.
    drop(subscription);
    assert_eq!(topics.stats().subscriptions, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_reads_is_closed_and_the_others_go_on() {
    const LIMIT: usize = 256 * 1024;
    const CHUNK: usize = 64 * 1024;
    let topics = Topics::new(TopicsConfig::default().backlog_limit(LIMIT));
    let mut harness = Harness::start().await;
    // The slow client stops reading from its socket once 64 KiB wait for it.
    let slow_config =
        ClientConfig::default().connection(ConnectionConfig::default().receive_queue_limit(CHUNK));
    let (mut slow, sender, _slow_receiver) = harness.client_with(&slow_config).await;
    let _slow = topics.subscribe("feed", sender).unwrap();
    let (mut fast, sender, _fast_receiver) = harness.client().await;
    let _fast = topics.subscribe("feed", sender).unwrap();

    // The fast client reads everything and reports how far it got.
    let received = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&received);
    let reader = tokio::spawn(async move {
        let mut expected = 0u32;
        loop {
            match fast.recv().await {
                Some(Incoming::Message(Message::Binary(data))) => {
                    assert_eq!(data.len(), CHUNK);
                    assert_eq!(data[..4], expected.to_be_bytes(), "out of order");
                    expected += 1;
                    counter.fetch_add(1, Ordering::Release);
                }
                Some(Incoming::Message(Message::Text(text))) if text.as_str() == "end" => {
                    return fast;
                }
                other => panic!("fast client got {other:?}"),
            }
        }
    });

    // 64 KiB messages until the slow one is closed, each read by the fast one before the next
    // (so only the slow one piles up); far more than the socket buffers hold.
    let mut closed_at = None;
    for i in 0..3000u32 {
        let mut data = vec![0u8; CHUNK];
        data[..4].copy_from_slice(&i.to_be_bytes());
        let delivery = topics
            .publish("feed", Message::Binary(data.into()))
            .unwrap();
        let target = i as usize + 1;
        wait_until("the fast client", || {
            received.load(Ordering::Acquire) >= target
        })
        .await;
        if delivery.closed_for_backlog == 1 {
            assert_eq!(delivery.local, 1);
            closed_at = Some(i);
            break;
        }
        assert_eq!(delivery.local, 2);
    }
    let closed_at = closed_at.expect("the slow subscriber was never closed");
    assert_eq!(topics.stats().closed_for_backlog, 1);
    assert_eq!(topics.stats().subscriptions, 1);

    // The fast one keeps receiving.
    for i in closed_at + 1..closed_at + 20 {
        let mut data = vec![0u8; CHUNK];
        data[..4].copy_from_slice(&i.to_be_bytes());
        assert_eq!(
            topics
                .publish("feed", Message::Binary(data.into()))
                .unwrap()
                .local,
            1
        );
    }
    topics.publish("feed", text("end")).unwrap();
    tokio::time::timeout(WAIT, reader)
        .await
        .expect("fast client done in time")
        .unwrap();

    // The slow one, reading at last, finds its backlog and then a 1008 close.
    let status = closed(&mut slow).await;
    assert_eq!(status.code, CloseCode::POLICY_VIOLATION);
    assert_eq!(status.reason, "subscriber too slow");
}

#[tokio::test]
async fn topic_limits_are_enforced() {
    let topics = Topics::new(TopicsConfig::default().max_topic_len(8).max_topics(2));
    let mut harness = Harness::start().await;
    let (_client, sender, _receiver) = harness.client().await;

    let too_long = topics.subscribe("123456789", sender.clone()).unwrap_err();
    assert!(matches!(
        too_long,
        PubSubError::TopicTooLong { len: 9, max: 8 }
    ));
    assert!(too_long.to_string().contains("max_topic_len"));
    assert!(matches!(
        topics.publish("123456789", text("x")),
        Err(PubSubError::TopicTooLong { .. })
    ));

    let _a = topics.subscribe("a", sender.clone()).unwrap();
    let _b = topics.subscribe("b", sender.clone()).unwrap();
    // A third topic is refused; another subscriber of an existing one is not.
    let too_many = topics.subscribe("c", sender.clone()).unwrap_err();
    assert!(matches!(too_many, PubSubError::TooManyTopics { max: 2 }));
    assert!(too_many.to_string().contains("max_topics"));
    let _a2 = topics.subscribe("a", sender).unwrap();
    assert_eq!(topics.stats().subscriptions, 3);
    assert!(format!("{topics:?}").contains("subscriptions: 3"));
}
