//! Every call works whether or not the caller is inside a tokio runtime, starts its work when
//! called (the returned future only reports the outcome), and the end of a connection or of a
//! server can be awaited.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{block_on, local, within};
use tokio::sync::mpsc;
use ws_api::client::{events, CloseResult, MessageData, WebSocketCloseOptions};
use ws_api::server::events as server_events;
use ws_api::{code, create_web_socket, create_web_socket_server, WebSocketServer};

/// A facade echo server; its listener answers without awaiting.
fn echo_server() -> WebSocketServer {
    let server = create_web_socket_server();
    let echo = server.downgrade();
    server.on(server_events::MessageReceive, move |m| {
        if let Some(server) = echo.upgrade() {
            drop(server.send(m.data.clone(), &m.client_connection));
        }
    });
    server
}

/// Every call of both facades, awaited only through runtime-independent futures (the facades'
/// own and tokio's channels), so that it runs inside a runtime or on a plain thread.
async fn every_call() {
    let server = echo_server();
    assert_eq!(server.start(local()).await, Ok(true));
    let url = format!("ws://127.0.0.1:{}/", server.local_port().unwrap());

    // The promise forms.
    let ws = create_web_socket();
    let (messages, mut received) = mpsc::unbounded_channel();
    ws.on(events::Message, move |m| {
        let _ = messages.send(m.clone());
    });
    let (opens, mut opened) = mpsc::unbounded_channel();
    ws.on(events::Open, move |_| {
        let _ = opens.send(());
    });
    assert_eq!(ws.connect(&url, None).await, Ok(true));
    opened.recv().await.unwrap();
    assert_eq!(ws.send_text("promise").await, Ok(true));
    assert_eq!(
        received.recv().await,
        Some(MessageData::Text("promise".into()))
    );
    assert_eq!(ws.close(None).await, Ok(true));
    let closed = ws.closed().await.unwrap();
    assert_eq!(closed.code, 1000);

    // The callback forms, and the Rust-native wait for the open.
    let (results, mut result) = mpsc::unbounded_channel();
    let report = move |r| {
        let _ = results.send(r);
    };
    let again = report.clone();
    ws.connect_with_callback(&url, None, again);
    assert_eq!(result.recv().await, Some(Ok(true)));
    opened.recv().await.unwrap();
    let again = report.clone();
    ws.send_with_callback(MessageData::Binary(vec![1, 2].into()), again);
    assert_eq!(result.recv().await, Some(Ok(true)));
    assert_eq!(
        received.recv().await,
        Some(MessageData::Binary(vec![1, 2].into()))
    );
    let options = WebSocketCloseOptions {
        code: Some(1000),
        reason: Some("callback".into()),
    };
    ws.close_with_callback(Some(options), report);
    assert_eq!(result.recv().await, Some(Ok(true)));
    assert_eq!(ws.closed().await.unwrap().code, 1000);
    let open = ws.connect_and_wait(&url, None).await.unwrap();
    assert_eq!(open.status, 101);

    assert_eq!(server.stop().await, Ok(true));
    server.stopped().await;
    // The server's going-away reaches the client.
    assert_eq!(ws.closed().await.unwrap().code, 1001);
}

#[test]
fn every_call_works_outside_a_runtime() {
    assert!(tokio::runtime::Handle::try_current().is_err());
    block_on("every call", every_call());
}

#[test]
fn every_call_works_inside_a_current_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(within("every call", every_call()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_works_inside_a_multi_thread_runtime() {
    within("every call", every_call()).await;
}

#[test]
fn objects_made_outside_a_runtime_can_be_used_inside_one_and_the_other_way_round() {
    let server = echo_server();
    assert_eq!(block_on("start", server.start(local())), Ok(true));
    let url = format!("ws://127.0.0.1:{}/", server.local_port().unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ws = runtime.block_on(async {
        let ws = create_web_socket();
        within("connect", ws.connect_and_wait(&url, None))
            .await
            .unwrap();
        ws
    });
    // The connection runs on `runtime`; it is used from this plain thread.
    let (tx, mut rx) = mpsc::unbounded_channel();
    ws.on(events::Message, move |m| {
        let _ = tx.send(m.clone());
    });
    assert_eq!(block_on("send", ws.send_text("across")), Ok(true));
    assert_eq!(
        block_on("echo", rx.recv()),
        Some(MessageData::Text("across".into()))
    );
    assert_eq!(block_on("close", ws.close(None)), Ok(true));
    assert_eq!(block_on("closed", ws.closed()).unwrap().code, 1000);
    assert_eq!(runtime.block_on(within("stop", server.stop())), Ok(true));
}

#[tokio::test]
async fn calls_start_their_work_when_called_even_if_the_future_is_dropped() {
    let server = echo_server();
    let (closes, mut server_closed) = mpsc::unbounded_channel();
    server.on(server_events::Close, move |c| {
        let _ = closes.send(c.close_reason.clone());
    });
    within("start", server.start(local())).await.unwrap();
    let url = format!("ws://127.0.0.1:{}/", server.local_port().unwrap());

    // A connect whose future is dropped still connects.
    let ws = create_web_socket();
    let (opens, mut opened) = mpsc::unbounded_channel();
    ws.on(events::Open, move |_| {
        let _ = opens.send(());
    });
    drop(ws.connect(&url, None));
    within("open", opened.recv()).await.unwrap();

    // A listener closes its own connection without awaiting.
    let this = ws.downgrade();
    ws.on(events::Message, move |_| {
        if let Some(ws) = this.upgrade() {
            let options = WebSocketCloseOptions {
                code: Some(4000),
                reason: Some("from a listener".into()),
            };
            drop(ws.close(Some(options)));
        }
    });
    drop(ws.send_text("close me"));
    let close = within("server close event", server_closed.recv())
        .await
        .unwrap();
    assert_eq!(
        (close.code, close.reason.as_str()),
        (1000, "from a listener")
    );
    within("closed", ws.closed()).await.unwrap();

    // The server closes a client, and stops itself, from listeners, without awaiting.
    let ws = create_web_socket();
    let closer = server.downgrade();
    server.on(server_events::MessageReceive, move |m| {
        let Some(server) = closer.upgrade() else {
            return;
        };
        match &m.data {
            MessageData::Text(t) if t.as_str() == "close me" => {
                drop(server.close(&m.client_connection, None));
            }
            MessageData::Text(t) if t.as_str() == "stop" => {
                drop(server.stop());
            }
            _ => {}
        }
    });
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    drop(ws.send_text("close me"));
    let closed = within("closed", ws.closed()).await.unwrap();
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1000, "CLOSE_NORMAL")
    );
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    drop(ws.send_text("stop"));
    within("stopped", server.stopped()).await;
    assert_eq!(server.local_port(), None);
    assert_eq!(within("closed", ws.closed()).await.unwrap().code, 1001);
}

#[tokio::test]
async fn closed_reports_how_the_last_connection_ended() {
    let ws = create_web_socket();
    // Never connected.
    assert_eq!(
        within("closed", ws.closed()).await.unwrap_err().code,
        code::UNKNOWN
    );
    // A connect that never opened: the error of its `error` event.
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", refused.local_addr().unwrap());
    drop(refused);
    drop(ws.connect(&url, None));
    let err = within("closed", ws.closed()).await.unwrap_err();
    assert_eq!(err.code, code::CONNECT_FAILED);

    // An open connection: `closed` waits for the close event, after its listeners.
    let server = echo_server();
    within("start", server.start(local())).await.unwrap();
    let url = format!("ws://127.0.0.1:{}/", server.local_port().unwrap());
    let seen = Arc::new(Mutex::new(None));
    let s = Arc::clone(&seen);
    ws.on(events::Close, move |c| {
        // A slow listener: `closed` still resolves only after it.
        std::thread::sleep(Duration::from_millis(50));
        *s.lock().unwrap() = Some(c.clone());
    });
    within("connect", ws.connect_and_wait(&url, None))
        .await
        .unwrap();
    let waiting = ws.closed();
    let options = WebSocketCloseOptions {
        code: Some(1001),
        reason: Some("done".into()),
    };
    drop(ws.close(Some(options)));
    let closed: CloseResult = within("closed", waiting).await.unwrap();
    assert_eq!(closed.code, 1001);
    assert_eq!(seen.lock().unwrap().as_ref(), Some(&closed));
    // Already ended: at once, the same result.
    assert_eq!(within("closed again", ws.closed()).await, Ok(closed));

    // The server: at once when not running, else once stopped.
    let idle = create_web_socket_server();
    within("stopped", idle.stopped()).await;
    let stopping = server.stopped();
    assert_eq!(within("stop", server.stop()).await, Ok(true));
    within("stopped", stopping).await;
}

#[tokio::test]
async fn stop_while_starting_cancels_the_start() {
    let server = echo_server();
    let starting = server.start(local());
    assert_eq!(within("stop", server.stop()).await, Ok(true));
    // Either the start was cancelled, or it had already listened and the stop stopped it.
    match within("start", starting).await {
        Ok(true) => {}
        Err(e) => assert_eq!(e.code, code::UNKNOWN, "{e}"),
        other => panic!("{other:?}"),
    }
    within("stopped", server.stopped()).await;
    assert_eq!(server.local_port(), None);
    // And it starts again.
    assert_eq!(within("start", server.start(local())).await, Ok(true));
    assert!(server.local_port().is_some());
}
