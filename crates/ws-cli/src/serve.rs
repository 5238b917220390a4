//! `ws serve`: a `WebSocketServer` that echoes or broadcasts every message.

use std::net::SocketAddr;
use std::process::ExitCode;

use tracing::{debug, info, warn};
use ws_api::client::{MessageData, WebSocketCloseOptions, MAX_SEND_SIZE};
use ws_api::server::{
    events, PermessageDeflate, ServerCert, WebSocketConnection, WebSocketServerConfig,
};
use ws_api::{create_web_socket_server, BusinessError, WebSocketServer};

use crate::args::{Mode, ServeArgs};
use crate::with_reason;

pub async fn run(args: ServeArgs) -> ExitCode {
    let server = create_web_socket_server();
    listen_to(
        &server,
        args.mode,
        args.max_message_size.unwrap_or(MAX_SEND_SIZE),
    );
    let config = WebSocketServerConfig {
        server_ip: Some(args.listen.ip().to_string()),
        server_port: u32::from(args.listen.port()),
        server_cert: args.cert.map(|(cert_path, key_path)| ServerCert {
            cert_path,
            key_path,
        }),
        protocol: args.protocol,
        max_concurrent_clients_number: args.max_clients,
        max_connections_for_one_client: args.max_per_client,
        ping_interval: Some(args.ping_interval),
        max_message_size: args.max_message_size,
        max_send_size: args.max_message_size,
        permessage_deflate: args.deflate.then(PermessageDeflate::default),
        ..WebSocketServerConfig::default()
    };
    let secure = config.server_cert.is_some();
    if let Err(e) = server.start(config).await {
        return failed(&e, "could not start the server");
    }
    let port = server.local_port().unwrap_or(args.listen.port());
    let scheme = if secure { "wss" } else { "ws" };
    println!(
        "listening on {scheme}://{}/",
        SocketAddr::new(args.listen.ip(), port)
    );
    info!(mode = ?args.mode, "serving until Ctrl-C or SIGTERM");
    stop_signal().await;
    info!("stopping: closing every connection with 1001");
    if let Err(e) = server.stop().await {
        return failed(&e, "could not stop the server cleanly");
    }
    println!("stopped");
    ExitCode::SUCCESS
}

/// Prints connects and closes; answers messages in the order they arrive.
fn listen_to(server: &WebSocketServer, mode: Mode, send_limit: usize) {
    server.on(events::Connect, |client| {
        println!("connect {}", address(client));
    });
    server.on(events::Close, |close| {
        println!(
            "close {} {}",
            address(&close.client_connection),
            with_reason(close.close_reason.code, &close.close_reason.reason)
        );
    });
    // A client's failure is its own business (its close line shows the code); -v shows why.
    server.on(events::Error, |e| info!("error {}: {}", e.code, e.message));
    // A weak handle: the listener must not keep its own server alive.
    let answering = server.downgrade();
    server.on(events::MessageReceive, move |message| {
        debug!(
            from = %address(&message.client_connection),
            "{}",
            describe(&message.data)
        );
        let Some(server) = answering.upgrade() else {
            return;
        };
        let targets = match mode {
            Mode::Echo => vec![message.client_connection.clone()],
            Mode::Broadcast => server.list_all_connections(),
        };
        for target in targets {
            if message_len(&message.data) > send_limit {
                // Too large to send back: say so to the client instead of leaving it waiting
                // for an answer that will never come.
                warn!(to = %address(&target), "not sent, closing with 1009: over the send limit");
                let close = WebSocketCloseOptions {
                    code: Some(1009),
                    reason: Some(format!("message over the {send_limit}-byte send limit")),
                };
                // Closes at the call; the outcome shows in the close event.
                drop(server.close(&target, Some(close)));
                continue;
            }
            // `send` queues at once, so answers keep the order of the messages; its future
            // only reports when the write buffer has room again, which the server waits for
            // before it delivers that client's next message. A client that stopped reading
            // is closed with 1008 once its send backlog is full (an `error` event says so).
            drop(server.send(message.data.clone(), &target));
        }
    });
}

fn message_len(data: &MessageData) -> usize {
    match data {
        MessageData::Text(text) => text.as_bytes().len(),
        MessageData::Binary(bytes) => bytes.len(),
    }
}

fn address(connection: &WebSocketConnection) -> String {
    match connection.client_ip.parse::<std::net::IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, connection.client_port).to_string(),
        Err(_) => format!("{}:{}", connection.client_ip, connection.client_port),
    }
}

fn describe(data: &MessageData) -> String {
    match data {
        MessageData::Text(_) => format!("text message, {} bytes", message_len(data)),
        MessageData::Binary(_) => format!("binary message, {} bytes", message_len(data)),
    }
}

/// Ctrl-C, or SIGTERM on Unix (what `kill` and service managers send).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
            Err(e) => warn!("cannot watch SIGTERM ({e}); stop with Ctrl-C"),
        }
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        warn!("cannot watch Ctrl-C ({e}); stopping");
    }
}

fn failed(e: &BusinessError, what: &str) -> ExitCode {
    eprintln!("ws: {what}: error {}: {}", e.code, e.message);
    ExitCode::FAILURE
}
