//! Time bounds shared by the facade tests (a hang fails the test instead of stalling CI), and
//! the servers they talk to.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

/// A server configuration that listens on loopback only (on the default port unless set).
pub fn local() -> ws_api::server::WebSocketServerConfig {
    ws_api::server::WebSocketServerConfig {
        server_ip: Some("127.0.0.1".into()),
        ..Default::default()
    }
}

pub const BOUND: Duration = Duration::from_secs(10);

pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(BOUND, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

/// Waits (bounded) until `condition` holds; events arrive on other tasks.
pub async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    within(what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// A ws-net echo server that reports each connection's closure (code, reason) on a channel.
pub async fn echo_server(
    protocols: &[&str],
) -> (String, tokio::sync::mpsc::UnboundedReceiver<(u16, String)>) {
    use ws_net::server::{Server, ServerConfig};
    use ws_net::Incoming;

    let mut config = ServerConfig::default();
    config.accept.protocols = protocols.iter().map(|p| p.to_string()).collect();
    let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(client) = server.accept().await {
            let Ok(mut client) = client else { continue };
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(incoming) = client.connection.recv().await {
                    match incoming {
                        Incoming::Message(m) => {
                            let _ = client.connection.send(m).await;
                        }
                        Incoming::Closed(status) => {
                            let _ = tx.send((status.code.as_u16(), status.reason));
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    (url, rx)
}

/// Runs `future` to its end on this thread without any async runtime (a thread-parking
/// executor), failing the test after [`BOUND`].
pub fn block_on<F: Future>(what: &str, future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    use std::time::Instant;

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    let deadline = Instant::now() + BOUND;
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        let now = Instant::now();
        assert!(now < deadline, "{what} did not finish within {BOUND:?}");
        std::thread::park_timeout(deadline - now);
    }
}
