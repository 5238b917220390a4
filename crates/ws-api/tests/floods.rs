//! Clients that flood a facade server and never read: the server's memory (this process's RSS)
//! stays bounded, and the other clients are served meanwhile.
//!
//! One test runs the scenarios one after the other, so that nothing else in this process moves
//! the RSS it measures.
#![cfg(target_os = "linux")]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{until, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ws_api::server::{events, WebSocketServerConfig};
use ws_api::{create_web_socket_server, WebSocketServer};
use ws_net::Incoming;
use ws_proto::frame::{encode_frame, OpCode};
use ws_proto::handshake::{ClientHandshake, ClientRequest};

/// What the server may grow by during a flood. Far below what the floods would cost if
/// anything queued without a bound (hundreds of MiB), and above the bounded buffers (a few
/// MiB per connection) plus the allocator's slack.
const MAX_GROWTH: usize = 48 << 20;

fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Samples the RSS every few milliseconds until dropped; reports the peak.
struct Peak {
    peak: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Peak {
    fn start() -> Peak {
        let peak = Arc::new(AtomicUsize::new(rss()));
        let p = Arc::clone(&peak);
        let task = tokio::spawn(async move {
            loop {
                p.fetch_max(rss(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        Peak { peak, task }
    }

    fn stop(self) -> usize {
        self.task.abort();
        self.peak.load(Ordering::Relaxed).max(rss())
    }
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Echo,
    Broadcast,
}

/// A facade server answering every message as `ws serve` does: queued at once, in order.
async fn facade_server(mode: Mode) -> (WebSocketServer, String, Arc<Mutex<Vec<String>>>) {
    let server = create_web_socket_server();
    let answering = server.downgrade();
    server.on(events::MessageReceive, move |m| {
        let Some(server) = answering.upgrade() else {
            return;
        };
        let targets = match mode {
            Mode::Echo => vec![m.client_connection.clone()],
            Mode::Broadcast => server.list_all_connections(),
        };
        for target in targets {
            drop(server.send(m.data.clone(), &target));
        }
    });
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e = Arc::clone(&errors);
    server.on(events::Error, move |error| {
        e.lock().unwrap().push(error.message.clone())
    });
    let config = WebSocketServerConfig {
        server_ip: Some("127.0.0.1".into()),
        ..Default::default()
    };
    server.start(config).await.unwrap();
    let url = format!("127.0.0.1:{}", server.local_port().unwrap());
    (server, url, errors)
}

/// A client socket past the handshake, for clients that misbehave.
async fn raw_client(addr: &str) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let request = ClientRequest::from_url(&format!("ws://{addr}/")).unwrap();
    let mut handshake = ClientHandshake::new(&request);
    socket.write_all(handshake.request_bytes()).await.unwrap();
    let mut buf = [0u8; 1024];
    loop {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "the server closed during the handshake");
        if handshake.receive_data(&buf[..n]).unwrap().is_some() {
            return socket;
        }
    }
}

fn frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    encode_frame(&mut wire, true, opcode, Some([9, 8, 7, 6]), payload);
    wire
}

/// Writes `frame` until the server stops taking it (no write completes for half a second) or
/// `max_bytes` went out; returns the bytes written.
async fn flood(socket: &mut TcpStream, frame: &[u8], max_bytes: usize) -> usize {
    let batch = frame.repeat((64 * 1024 / frame.len()).max(1));
    let mut written = 0;
    while written < max_bytes {
        match tokio::time::timeout(Duration::from_millis(500), socket.write_all(&batch)).await {
            Ok(Ok(())) => written += batch.len(),
            Ok(Err(_)) | Err(_) => break,
        }
    }
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_from_clients_that_never_read_keep_the_server_bounded() {
    // Pings, answered with pongs the client never reads.
    {
        let (server, addr, _) = facade_server(Mode::Echo).await;
        let mut flooder = raw_client(&addr).await;
        let peak = Peak::start();
        let before = rss();
        let sent = flood(&mut flooder, &frame(OpCode::Ping, &[1; 125]), 128 << 20).await;
        let growth = peak.stop().saturating_sub(before);
        eprintln!(
            "ping flood of {} MiB: the server grew by {} KiB",
            sent >> 20,
            growth >> 10
        );
        assert!(growth < MAX_GROWTH, "grew by {growth} bytes");
        server.stop().await.unwrap();
    }

    // Messages, echoed to a client that never reads the echoes.
    {
        let (server, addr, _) = facade_server(Mode::Echo).await;
        let mut flooder = raw_client(&addr).await;
        let peak = Peak::start();
        let before = rss();
        let sent = flood(&mut flooder, &frame(OpCode::Binary, &[2; 4096]), 256 << 20).await;
        let growth = peak.stop().saturating_sub(before);
        eprintln!(
            "echo flood of {} MiB: the server grew by {} KiB",
            sent >> 20,
            growth >> 10
        );
        assert!(growth < MAX_GROWTH, "grew by {growth} bytes");
        assert!(
            sent < 128 << 20,
            "the server kept reading {sent} bytes it could not answer"
        );
        server.stop().await.unwrap();
    }

    // Broadcast: a flooding client that never reads, and a healthy one that keeps receiving.
    {
        let (server, addr, _) = facade_server(Mode::Broadcast).await;
        let url = format!("ws://{addr}/");
        let (mut healthy, _) = ws_net::client::connect(&url, &Default::default())
            .await
            .unwrap();
        let mut flooder = raw_client(&addr).await;
        until("both connections", || {
            server.list_all_connections().len() == 2
        })
        .await;
        let received = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&received);
        let reader = tokio::spawn(async move {
            while let Some(incoming) = healthy.recv().await {
                if let Incoming::Message(_) = incoming {
                    r.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let peak = Peak::start();
        let before = rss();
        let sent = flood(&mut flooder, &frame(OpCode::Text, &[b'x'; 1024]), 256 << 20).await;
        let growth = peak.stop().saturating_sub(before);
        let got = received.load(Ordering::Relaxed);
        eprintln!(
            "broadcast flood of {} MiB: the server grew by {} KiB; the healthy client got {got}",
            sent >> 20,
            growth >> 10
        );
        assert!(growth < MAX_GROWTH, "grew by {growth} bytes");
        assert!(got > 0, "the healthy client received nothing");
        // The healthy client is still served: a message of its own comes back to it.
        let (probe, _) = ws_net::client::connect(&url, &Default::default())
            .await
            .unwrap();
        probe.send_text("still there?").await.unwrap();
        let before = received.load(Ordering::Relaxed);
        until("the healthy client's next message", || {
            received.load(Ordering::Relaxed) > before
        })
        .await;
        server.stop().await.unwrap();
        within("the reader", reader).await.unwrap();
    }

    // Broadcast to a client that never reads, from a healthy sender: the slow reader is closed
    // with 1008 once its backlog is full; the sender gets every broadcast meanwhile.
    {
        let (server, addr, errors) = facade_server(Mode::Broadcast).await;
        let url = format!("ws://{addr}/");
        let mut deaf = raw_client(&addr).await;
        let (mut sender, _) = ws_net::client::connect(&url, &Default::default())
            .await
            .unwrap();
        until("both connections", || {
            server.list_all_connections().len() == 2
        })
        .await;
        let peak = Peak::start();
        let before = rss();
        let payload = vec![b'y'; 64 * 1024];
        let count = 1024; // 64 MiB in all: four times the default backlog limit
        let mut echoed = 0;
        for _ in 0..count {
            sender.send_binary(&payload).await.unwrap();
            match within("the sender's own broadcast", sender.recv()).await {
                Some(Incoming::Message(_)) => echoed += 1,
                other => panic!("expected the broadcast, got {other:?}"),
            }
        }
        let growth = peak.stop().saturating_sub(before);
        eprintln!(
            "broadcast of {} MiB to a client that never reads: the server grew by {} KiB",
            (count * payload.len()) >> 20,
            growth >> 10
        );
        assert_eq!(echoed, count);
        assert!(growth < MAX_GROWTH, "grew by {growth} bytes");
        until("the slow reader's error event", || {
            errors.lock().unwrap().iter().any(|e| e.contains("1008"))
        })
        .await;
        // The slow reader's connection ends: reading its socket reaches the Close frame (1008)
        // behind the backlog, or the end of the connection.
        let mut sink = vec![0u8; 1 << 20];
        let ended = within("the slow reader's end", async {
            loop {
                match deaf.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        });
        ended.await;
        server.stop().await.unwrap();
    }
}
