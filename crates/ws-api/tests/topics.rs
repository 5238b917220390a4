//! The server's topics (extensions): `request_path`, `subscribe`, `unsubscribe`, `publish` and
//! `topics_stats`, with real clients over loopback, in one process (no broker).

mod rooms;
mod support;

use rooms::{next_text, text, Rooms};
use support::{local, until, within};
use ws_api::server::{WebSocketConnection, WebSocketServerConfig, MAX_TOPIC_LEN};
use ws_api::{code, create_web_socket_server, MessageData};
use ws_net::{CloseCode, Incoming, Message};

#[tokio::test]
async fn a_message_reaches_every_client_of_its_topic_and_no_other() {
    let rooms = Rooms::start(local()).await;
    let (mut a1, _) = rooms.join("/a").await;
    let (mut a2, _) = rooms.join("/a").await;
    let (mut b, _) = rooms.join("/b").await;
    let stats = rooms.server.topics_stats().unwrap();
    assert_eq!((stats.topics, stats.subscriptions), (2, 3));

    a1.send_text("to a").await.unwrap();
    // The sender hears itself, as everyone in its topic.
    assert_eq!(next_text(&mut a1).await, "to a");
    assert_eq!(next_text(&mut a2).await, "to a");
    b.send_text("to b").await.unwrap();
    // b's first message is its own: "to a" never reached it.
    assert_eq!(next_text(&mut b).await, "to b");

    // From the server itself: the local deliveries are counted.
    assert_eq!(rooms.server.publish("a", text("news")), Ok(2));
    assert_eq!(next_text(&mut a1).await, "news");
    assert_eq!(next_text(&mut a2).await, "news");
    assert_eq!(rooms.server.publish("nobody", text("void")), Ok(0));
    let binary = MessageData::Binary(vec![1, 2, 3].into());
    assert_eq!(rooms.server.publish("b", binary), Ok(1));
    match within("a message", b.recv()).await {
        Some(Incoming::Message(Message::Binary(bytes))) => assert_eq!(&bytes[..], [1, 2, 3]),
        other => panic!("expected the binary message, got {other:?}"),
    }
    let stats = rooms.server.topics_stats().unwrap();
    assert_eq!(stats.published, 5);
    assert_eq!(stats.delivered_local, 2 + 1 + 2 + 1);
    // In process: no broker, nothing to be connected to.
    assert!(stats.broker_connected);
    assert_eq!(stats.broker_topics, 0);
    rooms.server.stop().await.unwrap();
    assert_eq!(rooms.server.topics_stats(), None);
}

#[tokio::test]
async fn request_path_is_the_target_the_client_asked_for_while_it_is_connected() {
    let rooms = Rooms::start(local()).await;
    let (client, connection) = rooms.join("/room/rust?token=1").await;
    assert_eq!(
        rooms.server.request_path(&connection).as_deref(),
        Some("/room/rust?token=1")
    );
    let (_root, root) = rooms.join("/").await;
    assert_eq!(rooms.server.request_path(&root).as_deref(), Some("/"));
    let nobody = WebSocketConnection {
        client_ip: "127.0.0.1".into(),
        client_port: 1,
    };
    assert_eq!(rooms.server.request_path(&nobody), None);
    client.close(CloseCode::NORMAL, "").await.unwrap();
    until("the connection to be gone", || {
        rooms.server.request_path(&connection).is_none()
    })
    .await;
    rooms.server.stop().await.unwrap();
}

#[tokio::test]
async fn unsubscribe_ends_one_subscription_and_subscribing_twice_changes_nothing() {
    let rooms = Rooms::start(local()).await;
    let (mut a1, _) = rooms.join("/a").await;
    let (mut a2, second) = rooms.join("/a").await;
    // Already in "a": still one subscription.
    assert_eq!(rooms.server.subscribe(&second, "a"), Ok(()));
    assert_eq!(rooms.server.topics_stats().unwrap().subscriptions, 2);
    assert_eq!(rooms.server.publish("a", text("both")), Ok(2));
    assert_eq!(next_text(&mut a1).await, "both");
    assert_eq!(next_text(&mut a2).await, "both");

    assert_eq!(rooms.server.subscribe(&second, "c"), Ok(()));
    assert_eq!(rooms.server.unsubscribe(&second, "a"), Ok(true));
    assert_eq!(rooms.server.unsubscribe(&second, "a"), Ok(false));
    assert_eq!(rooms.server.unsubscribe(&second, "never"), Ok(false));
    assert_eq!(rooms.server.publish("a", text("first only")), Ok(1));
    assert_eq!(next_text(&mut a1).await, "first only");
    assert_eq!(rooms.server.publish("c", text("in c")), Ok(1));
    // a2's next message is the one of "c": "first only" did not reach it.
    assert_eq!(next_text(&mut a2).await, "in c");
    let stats = rooms.server.topics_stats().unwrap();
    assert_eq!((stats.topics, stats.subscriptions), (2, 2));
    rooms.server.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_connections_and_bad_arguments_have_their_codes() {
    let rooms = Rooms::start(local()).await;
    let (_client, connection) = rooms.join("/a").await;
    let nobody = WebSocketConnection {
        client_ip: "127.0.0.1".into(),
        client_port: 1,
    };
    let server = &rooms.server;
    let err = server.subscribe(&nobody, "a").unwrap_err();
    assert_eq!(err.code, code::CONNECTION_NOT_EXIST);
    assert!(err.message.contains("127.0.0.1:1"), "{err}");
    let err = server.unsubscribe(&nobody, "a").unwrap_err();
    assert_eq!(err.code, code::CONNECTION_NOT_EXIST);

    let long = "t".repeat(MAX_TOPIC_LEN + 1);
    let err = server.subscribe(&connection, &long).unwrap_err();
    assert_eq!(err.code, code::PARAMETER_ERROR);
    assert!(err.message.contains("MAX_TOPIC_LEN"), "{err}");
    assert_eq!(
        server.subscribe(&connection, &long[1..]),
        Ok(()),
        "the longest name is allowed"
    );
    let err = server.publish(&long, text("x")).unwrap_err();
    assert_eq!(err.code, code::PARAMETER_ERROR);

    // Over the send limit (the documented 5,242,864 bytes by default).
    let big = MessageData::Binary(vec![0; 5_242_865].into());
    let err = server.publish("a", big).unwrap_err();
    assert_eq!(err.code, code::PARAMETER_ERROR);
    assert!(err.message.contains("max_send_size"), "{err}");
    let largest = MessageData::Binary(vec![0; 5_242_864].into());
    assert_eq!(server.publish("nobody", largest), Ok(0));

    server.stop().await.unwrap();
    let err = server.publish("a", text("x")).unwrap_err();
    assert_eq!(err.code, code::UNKNOWN);
    assert!(err.message.contains("not running"), "{err}");
    let err = server.subscribe(&connection, "a").unwrap_err();
    assert_eq!(err.code, code::CONNECTION_NOT_EXIST);
}

#[tokio::test]
async fn a_message_over_the_send_backlog_limit_by_itself_is_refused() {
    let rooms = Rooms::start(WebSocketServerConfig {
        send_backlog_limit: Some(1000),
        ..local()
    })
    .await;
    let (mut client, _) = rooms.join("/a").await;
    let err = rooms
        .server
        .publish("a", MessageData::Binary(vec![0; 1001].into()))
        .unwrap_err();
    assert_eq!(err.code, code::PARAMETER_ERROR);
    assert!(err.message.contains("send backlog limit"), "{err}");
    assert_eq!(rooms.server.publish("a", text("small")), Ok(1));
    assert_eq!(next_text(&mut client).await, "small");
    rooms.server.stop().await.unwrap();
}

#[tokio::test]
async fn subscriptions_end_when_the_connection_closes_and_when_the_server_stops() {
    let rooms = Rooms::start(local()).await;
    let (first, _) = rooms.join("/a").await;
    let (_second, second) = rooms.join("/b").await;
    assert_eq!(rooms.server.subscribe(&second, "a"), Ok(()));
    assert_eq!(rooms.server.topics_stats().unwrap().subscriptions, 3);
    first.close(CloseCode::NORMAL, "bye").await.unwrap();
    until("the first client's subscription to end", || {
        rooms.server.topics_stats().unwrap().subscriptions == 2
    })
    .await;
    assert_eq!(rooms.server.publish("a", text("x")), Ok(1));

    rooms.server.stop().await.unwrap();
    assert_eq!(rooms.server.topics_stats(), None);
    // Started again: new topics, nobody in them.
    assert_eq!(rooms.server.start(local()).await, Ok(true));
    let stats = rooms.server.topics_stats().unwrap();
    assert_eq!(
        (stats.topics, stats.subscriptions, stats.published),
        (0, 0, 0)
    );
    rooms.server.stop().await.unwrap();
}

#[cfg(not(feature = "redis"))]
#[tokio::test]
async fn a_broker_without_the_redis_feature_is_refused_naming_it() {
    let server = create_web_socket_server();
    let err = server
        .start(WebSocketServerConfig {
            broker: Some("redis://127.0.0.1:6379".into()),
            ..local()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, code::PARAMETER_ERROR);
    assert!(err.message.contains("`redis` feature"), "{err}");
    assert_eq!(server.local_port(), None);
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn an_invalid_redis_url_fails_start_and_an_unreachable_redis_does_not() {
    let server = create_web_socket_server();
    let err = server
        .start(WebSocketServerConfig {
            broker: Some("http://127.0.0.1:6379".into()),
            ..local()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, code::PARAMETER_ERROR);
    assert!(err.message.contains("Redis URL"), "{err}");
    assert_eq!(server.local_port(), None);

    // Nothing listens on a port that was just free: the server starts and its own clients
    // still hear each other.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rooms = Rooms::start(WebSocketServerConfig {
        broker: Some(format!("redis://127.0.0.1:{port}")),
        ..local()
    })
    .await;
    let (mut client, _) = rooms.join("/a").await;
    client.send_text("still here").await.unwrap();
    assert_eq!(next_text(&mut client).await, "still here");
    let stats = rooms.server.topics_stats().unwrap();
    assert!(!stats.broker_connected);
    assert_eq!(stats.broker_dropped, 1);
    rooms.server.stop().await.unwrap();
}
