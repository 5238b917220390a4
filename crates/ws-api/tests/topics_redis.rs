//! Topics shared by two servers through a real `redis-server` (the `broker` option, feature
//! `redis`) started on a free loopback port. Without redis-server this test is skipped, unless
//! `CI` is set (`cargo xtask ci` installs it).

mod rooms;
mod support;

use redis_test_server::RedisServer;
use rooms::{next_text, text, Rooms};
use support::{local, until};
use ws_api::server::WebSocketServerConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_published_on_one_server_reaches_the_others_subscribers_once() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let config = || WebSocketServerConfig {
        broker: Some(redis.url()),
        ..local()
    };
    let (one, two) = (Rooms::start(config()).await, Rooms::start(config()).await);
    let (mut x1, _) = one.join("/x").await;
    let (mut x2, _) = two.join("/x").await;
    let (mut y2, _) = two.join("/y").await;
    // Each server's broker is connected and subscribed to the channels of its topics.
    for (rooms, topics) in [(&one, 1), (&two, 2)] {
        until("the broker to subscribe", || {
            let stats = rooms.server.topics_stats().unwrap();
            stats.broker_connected && stats.broker_topics == topics
        })
        .await;
    }

    x1.send_text("hello x").await.unwrap();
    assert_eq!(next_text(&mut x1).await, "hello x");
    assert_eq!(next_text(&mut x2).await, "hello x");
    // From the other side: each hears it once, so the next message is this one.
    assert_eq!(two.server.publish("x", text("second")), Ok(1));
    assert_eq!(next_text(&mut x2).await, "second");
    assert_eq!(next_text(&mut x1).await, "second");
    // "hello x" never reached /y: y2's first message is the one of its own topic.
    assert_eq!(one.server.publish("y", text("to y")), Ok(0));
    assert_eq!(next_text(&mut y2).await, "to y");

    let (stats1, stats2) = (
        one.server.topics_stats().unwrap(),
        two.server.topics_stats().unwrap(),
    );
    assert_eq!(stats2.received_from_broker, 2, "{stats2:?}");
    assert_eq!(stats1.received_from_broker, 1, "{stats1:?}");
    assert_eq!(stats1.broker_dropped + stats2.broker_dropped, 0);
    one.server.stop().await.unwrap();
    two.server.stop().await.unwrap();
}
