//! A `WebSocketServer` that sends every message back to its sender, until Ctrl-C or SIGTERM.
//!
//! ```text
//! cargo run --release -p ws-api --example echo_server_api -- [IP:PORT] [--max-clients N]
//!     [--max-per-client N] [--max-message-size BYTES]
//! ```
//!
//! Listens on 127.0.0.1:9001 unless given an address (port 0 picks a free one) and prints
//! `listening on ws://IP:PORT/`, then a line per connect and close and, on stderr, per error
//! (a client turned away, a connection that failed). Runs on a single-threaded runtime.
//!
//! `--max-clients` and `--max-per-client` set the most distinct client addresses and the most
//! connections from one address (the reference's defaults, 10 and 10, otherwise; many
//! connections from 127.0.0.1 need more). `--max-message-size` is both the largest message
//! received and the largest sent [default: 5242864, the documented send limit], so that every
//! message accepted can be sent back; a client sending a larger one is closed with 1009.

use std::net::SocketAddr;
use std::process::ExitCode;

use ws_api::client::MAX_SEND_SIZE;
use ws_api::server::{events, WebSocketServerConfig};
use ws_api::BusinessError;

const USAGE: &str =
    "usage: echo_server_api [IP:PORT] [--max-clients N] [--max-per-client N] [--max-message-size BYTES]";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let (addr, config) = match config(std::env::args().skip(1)) {
        Ok(Some(settings)) => settings,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(mistake) => {
            eprintln!("echo_server_api: {mistake}");
            return ExitCode::from(2);
        }
    };
    match serve(addr, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("echo_server_api: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Serves until Ctrl-C or SIGTERM, then stops: every client gets 1001.
async fn serve(addr: SocketAddr, config: WebSocketServerConfig) -> Result<(), BusinessError> {
    let server = ws_api::create_web_socket_server();
    server.on(events::Connect, |client| {
        println!("connect {}:{}", client.client_ip, client.client_port);
    });
    // A weak handle: a listener must not keep its own server alive.
    let echo = server.downgrade();
    server.on(events::MessageReceive, move |message| {
        if let Some(server) = echo.upgrade() {
            // `send` queues at once, in order (the returned future only reports, and may be
            // dropped); the server delivers this client's next message once the answer has
            // room to be written. A client that does not read what it is sent is closed with
            // 1008 once its send backlog is full (an `error` event says so).
            drop(server.send(message.data.clone(), &message.client_connection));
        }
    });
    server.on(events::Close, |close| {
        let client = &close.client_connection;
        println!(
            "close {}:{} {} {:?}",
            client.client_ip,
            client.client_port,
            close.close_reason.code,
            close.close_reason.reason
        );
    });
    server.on(events::Error, |error| eprintln!("error: {error}"));

    server.start(config).await?;
    let port = server.local_port().unwrap_or(addr.port());
    println!("listening on ws://{}/", SocketAddr::new(addr.ip(), port));
    stop_signal().await;
    // Every client gets 1001; `stop` resolves once their close events are out.
    server.stop().await?;
    println!("stopped");
    Ok(())
}

/// The address and the server's settings from the command line; `None` for `--help`.
fn config(
    args: impl Iterator<Item = String>,
) -> Result<Option<(SocketAddr, WebSocketServerConfig)>, String> {
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 9001));
    let mut config = WebSocketServerConfig::default();
    let mut max_message_size = MAX_SEND_SIZE;
    let mut args = args;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value; {USAGE}"))
        };
        match arg.as_str() {
            "--max-clients" => config.max_concurrent_clients_number = positive(&arg, value(&arg)?)?,
            "--max-per-client" => {
                config.max_connections_for_one_client = positive(&arg, value(&arg)?)?
            }
            "--max-message-size" => max_message_size = positive(&arg, value(&arg)?)?,
            "-h" | "--help" => return Ok(None),
            other => {
                addr = other.parse().map_err(|_| {
                    format!("`{other}` is not IP:PORT (e.g. 127.0.0.1:9001); {USAGE}")
                })?
            }
        }
    }
    config.server_ip = Some(addr.ip().to_string());
    config.server_port = u32::from(addr.port());
    config.max_message_size = Some(max_message_size);
    config.max_send_size = Some(max_message_size);
    Ok(Some((addr, config)))
}

/// `value` as a positive number of the type `flag` sets.
fn positive<T: std::str::FromStr + Default + PartialOrd>(
    flag: &str,
    value: String,
) -> Result<T, String> {
    match value.parse::<T>() {
        Ok(n) if n > T::default() => Ok(n),
        _ => Err(format!(
            "{flag} {value:?}: expected a positive number; {USAGE}"
        )),
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
            Err(e) => eprintln!("cannot watch SIGTERM ({e}); stop with Ctrl-C"),
        }
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("cannot watch Ctrl-C ({e}); stopping");
    }
}
