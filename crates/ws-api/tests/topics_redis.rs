//! Topics shared by two servers through a real `redis-server` (the `broker` option, feature
//! `redis`) started on a free loopback port. Without redis-server this test is skipped, unless
//! `CI` is set (`cargo xtask ci` installs it).

mod rooms;
mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rooms::{local, next_text, text, Rooms};
use support::{until, BOUND};
use ws_api::server::WebSocketServerConfig;

/// A redis-server on 127.0.0.1, killed when dropped.
struct RedisServer {
    port: u16,
    child: Child,
}

impl RedisServer {
    /// A server on a port the OS picks; `None` (the test is skipped) when redis-server is not
    /// installed, except in CI where it must run.
    fn start() -> Option<RedisServer> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                std::env::var_os("CI").is_none_or(|v| v.is_empty()),
                "redis-server is not installed but CI is set, so the Redis tests must run: \
                 apt-get install redis-server (`cargo xtask ci` installs it)"
            );
            eprintln!("note: redis-server is not installed; skipping this test (apt-get install redis-server)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let server = RedisServer { port, child };
        let deadline = Instant::now() + BOUND;
        while !server.answers_ping() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Whether the server answers PING (RESP) now.
    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(BOUND));
        if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
            return false;
        }
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
