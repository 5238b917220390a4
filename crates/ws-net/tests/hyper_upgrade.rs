//! `ws_net::upgrade` in a plain hyper service (no framework): the request is checked, answered
//! and turned into a connection; refusals get the listener's answers.

mod support;

use std::convert::Infallible;

use hyper::body::Incoming as Body;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use ws_net::client::{connect, ClientConfig};
use ws_net::handshake::AcceptOptions;
use ws_net::upgrade::upgrade;
use ws_net::{ConnectionConfig, Incoming, Message};
use ws_proto::deflate::DeflateConfig;

use support::*;

async fn handle(
    mut request: http::Request<Body>,
    accepted: mpsc::UnboundedSender<(Option<String>, bool)>,
) -> Result<http::Response<String>, Infallible> {
    let options = AcceptOptions::default()
        .protocols(["chat"])
        .deflate(Some(DeflateConfig::default()));
    let (response, upgrading) = match upgrade(&mut request, &options, ConnectionConfig::default()) {
        Ok(accepted) => accepted,
        Err(refused) => return Ok(refused.response()),
    };
    let _ = accepted.send((
        upgrading.accepted().protocol.clone(),
        upgrading.accepted().deflate.is_some(),
    ));
    tokio::spawn(async move {
        if let Ok(connection) = upgrading.await {
            echo(connection).await;
        }
    });
    Ok(response)
}

#[tokio::test]
async fn a_hyper_service_upgrades_and_refuses() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| handle(request, tx.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .with_upgrades()
                    .await;
            });
        }
    });

    let config = ClientConfig::default()
        .protocols(["chat"])
        .deflate(Some(DeflateConfig::default()));
    let (mut conn, response) = within("connect", connect(&format!("ws://{addr}/"), &config))
        .await
        .unwrap();
    assert_eq!(response.protocol.as_deref(), Some("chat"));
    assert!(response.deflate.is_some());
    assert_eq!(
        within("accepted", rx.recv()).await,
        Some((Some("chat".to_owned()), true))
    );
    conn.send_text("through hyper").await.unwrap();
    match within("echo", conn.recv()).await {
        Some(Incoming::Message(Message::Text(t))) => assert_eq!(t.as_str(), "through hyper"),
        other => panic!("unexpected {other:?}"),
    }

    let answer = within(
        "refusal",
        raw_http(
            addr,
            b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        ),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with("Sec-WebSocket-Key header, but none was sent\n"),
        "{answer}"
    );
}
