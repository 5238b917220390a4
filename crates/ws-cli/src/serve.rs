//! `ws serve`: a `WebSocketServer` that echoes, broadcasts, or talks to its clients from stdin,
//! printing what happens to them.
//!
//! Broadcast mode publishes on the server's topics: a client joins the topic of its path when
//! it connects ([`topic_of`]), and each message it sends is published there, through the Redis
//! broker with `--broker`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use ws_api::client::{MessageData, WebSocketCloseOptions, MAX_SEND_SIZE};
use ws_api::server::{
    events, PermessageDeflate, ServerCert, WeakWebSocketServer, WebSocketConnection,
    WebSocketServerConfig,
};
use ws_api::{code, create_web_socket_server, BusinessError, WebSocketServer};

use crate::args::{Mode, ServeArgs};
use crate::command::Line;
use crate::explain::{self, Flags};
use crate::input::{self, Input, Reading, Source};
use crate::output::Output;
use crate::signals::Interrupts;
use crate::text::{binary_summary, one_line, with_reason};

pub async fn run(args: ServeArgs, verbose: u8) -> ExitCode {
    let flags = Flags {
        verbose: verbose > 0,
        ca: false,
    };
    let send_limit = args.max_message_size.unwrap_or(MAX_SEND_SIZE);
    // Before the line editor starts (see `signals`).
    let mut interrupts = Interrupts::watch();
    // Chat mode reads stdin; the other modes leave it alone.
    let (input, output) = match args.mode {
        Mode::Chat => {
            let mut reading = input::start(Source::detect(false), send_limit);
            let output = Output::new(false, &mut reading);
            (Some(reading.input), output)
        }
        Mode::Echo | Mode::Broadcast => (None, Output::new(false, &mut Reading::none())),
    };
    let output = Arc::new(output);
    let status = serve(&args, flags, send_limit, input, &output, &mut interrupts).await;
    output.finish().await;
    status
}

/// Runs the server until Ctrl-C, SIGTERM or (in chat mode) `/quit`.
async fn serve(
    args: &ServeArgs,
    flags: Flags,
    send_limit: usize,
    input: Option<mpsc::Receiver<Input>>,
    output: &Arc<Output>,
    interrupts: &mut Interrupts,
) -> ExitCode {
    let server = create_web_socket_server();
    listen_to(&server, args, output, send_limit, flags);
    let config = WebSocketServerConfig {
        server_ip: Some(args.listen.ip().to_string()),
        server_port: u32::from(args.listen.port()),
        server_cert: args.cert.clone().map(|(cert_path, key_path)| ServerCert {
            cert_path,
            key_path,
        }),
        protocol: args.protocol.clone(),
        max_concurrent_clients_number: args.max_clients,
        max_connections_for_one_client: args.max_per_client,
        ping_interval: Some(args.ping_interval),
        max_message_size: args.max_message_size,
        max_send_size: args.max_message_size,
        permessage_deflate: args.deflate.then(PermessageDeflate::default),
        broker: args.broker.clone(),
        ..WebSocketServerConfig::default()
    };
    let secure = config.server_cert.is_some();
    if let Err(e) = server.start(config).await {
        return failed(&e, "could not start the server", flags, output);
    }
    let port = server.local_port().unwrap_or(args.listen.port());
    let scheme = if secure { "wss" } else { "ws" };
    let _ = output.line(&format!(
        "listening on {scheme}://{}/",
        SocketAddr::new(args.listen.ip(), port)
    ));
    if args.broker.is_some() {
        tokio::spawn(watch_broker(server.downgrade()));
    }
    info!(mode = ?args.mode, "serving until Ctrl-C or SIGTERM");
    match input {
        Some(input) => {
            tokio::select! {
                () = interrupts.next() => {}
                () = chat(&server, input, output) => {}
            }
        }
        None => interrupts.next().await,
    }
    info!("stopping: closing every connection with 1001");
    if let Err(e) = server.stop().await {
        return failed(&e, "could not stop the server cleanly", flags, output);
    }
    let _ = output.line("stopped");
    ExitCode::SUCCESS
}

/// Chat mode: every line of stdin goes to every client, until `/quit` or Ctrl-C. The end of
/// stdin ends only the typing: the server goes on.
async fn chat(server: &WebSocketServer, mut input: mpsc::Receiver<Input>, output: &Output) {
    while let Some(item) = input.recv().await {
        match item {
            Input::Line(Line::Send(text)) => {
                let clients = server.list_all_connections();
                if clients.is_empty() {
                    output.notice("ws: no client is connected; the line was not sent");
                    continue;
                }
                for client in &clients {
                    // Queued at once and in order; a client that does not read is closed
                    // with 1008 once its send backlog is full (the error line says so).
                    drop(server.send(MessageData::Text(text.as_str().into()), client));
                }
                debug!(clients = clients.len(), "sent");
            }
            // Chat mode reads lines, never raw bytes.
            Input::Binary(_) => {}
            Input::Line(Line::Help) => output.notice(CHAT_HELP),
            Input::Line(Line::Ping(_) | Line::Close(_)) => {
                output.notice("ws: /ping and /close are `ws connect` commands; /help lists these");
            }
            Input::Mistake(mistake) => output.notice(&format!("ws: {mistake}")),
            Input::Line(Line::Quit) | Input::Interrupted => return,
            Input::Failed(why) => {
                output.notice(&format!("ws: {why}; no more lines are sent"));
                break;
            }
            Input::End => break,
        }
    }
    // Typing is over; serving goes on until Ctrl-C or SIGTERM.
    std::future::pending::<()>().await;
}

/// How often the broker's state is looked at for `watch_broker`.
const BROKER_POLL: Duration = Duration::from_millis(100);
/// How long the broker may take to connect at start before a warning says it has not.
const BROKER_GRACE: Duration = Duration::from_secs(3);

/// With `--broker`: says (with -v) when the broker connects and how many topics it is
/// subscribed to, and warns when it is lost or cannot be reached, until the server stops.
async fn watch_broker(server: WeakWebSocketServer) {
    info!("broker: connecting to Redis");
    let started = tokio::time::Instant::now();
    let (mut connected, mut subscribed, mut warned) = (false, 0, false);
    loop {
        let Some(stats) = server.upgrade().and_then(|s| s.topics_stats()) else {
            return;
        };
        if stats.broker_connected != connected {
            connected = stats.broker_connected;
            if connected {
                info!("broker: connected");
                warned = false;
            } else {
                warn!(
                    "broker: the connection to Redis was lost; reconnecting (until then, \
                     messages reach this server's clients only)"
                );
                warned = true;
            }
        }
        if !connected && !warned && started.elapsed() >= BROKER_GRACE {
            warn!(
                "broker: Redis cannot be reached yet; still trying (until then, messages \
                 reach this server's clients only)"
            );
            warned = true;
        }
        if stats.broker_topics != subscribed {
            subscribed = stats.broker_topics;
            info!("broker: subscribed to {subscribed} topic(s)");
        }
        tokio::time::sleep(BROKER_POLL).await;
    }
}

/// The topic of a request target in broadcast mode: the path without its leading `/` and
/// without the query, so `/room/x?token=1` is `room/x`, and `/` the empty topic.
fn topic_of(target: &str) -> &str {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    path.strip_prefix('/').unwrap_or(path)
}

/// Broadcast mode: subscribes a client that just connected to the topic of its path; one whose
/// path cannot name a topic is closed with 1008.
fn join_topic(server: &WebSocketServer, client: &WebSocketConnection) {
    // Gone already: nothing to join.
    let Some(target) = server.request_path(client) else {
        return;
    };
    if let Err(e) = server.subscribe(client, topic_of(&target)) {
        let reason = if e.code == code::PARAMETER_ERROR {
            "the path is too long to name a room"
        } else {
            "no more rooms can be opened"
        };
        warn!(client = %address(client), "{reason}: {}", explain::detail(&e));
        drop(server.close_with_code(client, 1008, reason));
    }
}

/// What `/help` prints in chat mode.
const CHAT_HELP: &str = "\
each line typed goes to every client as a text message
/quit                   stop the server (as Ctrl-C)
/help                   this list
//TEXT                  send the line /TEXT";

/// Prints connects, closes, refusals (and messages with --print); answers messages in the
/// order they arrive.
fn listen_to(
    server: &WebSocketServer,
    args: &ServeArgs,
    output: &Arc<Output>,
    send_limit: usize,
    flags: Flags,
) {
    if args.mode == Mode::Broadcast {
        // Before the line below is printed: a client reported connected is in its room.
        let joining = server.downgrade();
        server.on(events::Connect, move |client| {
            if let Some(server) = joining.upgrade() {
                join_topic(&server, client);
            }
        });
    }
    let printing = Arc::clone(output);
    server.on(events::Connect, move |client| {
        let _ = printing.line(&format!("connect {}", address(client)));
    });
    let printing = Arc::clone(output);
    server.on(events::Close, move |close| {
        let _ = printing.line(&format!(
            "close {} {}",
            address(&close.client_connection),
            with_reason(close.close_reason.code, &close.close_reason.reason)
        ));
    });
    // A client turned away gets a line; a connection's failure shows in its close line
    // (-v says more).
    let printing = Arc::clone(output);
    server.on(events::Error, move |e| match explain::refused(e, flags) {
        Some(line) => {
            let _ = printing.line(&line);
        }
        None => info!("{}", explain::detail(e)),
    });
    // A weak handle: the listener must not keep its own server alive.
    let answering = server.downgrade();
    let (mode, print) = (args.mode, args.print);
    let printing = Arc::clone(output);
    server.on(events::MessageReceive, move |message| {
        let from = &message.client_connection;
        if print {
            let shown = match &message.data {
                MessageData::Text(text) => one_line(text.as_str()),
                MessageData::Binary(bytes) => binary_summary(bytes),
            };
            let _ = printing.line(&format!("message {} {shown}", address(from)));
        } else {
            debug!(from = %address(from), "{}", describe(&message.data));
        }
        let Some(server) = answering.upgrade() else {
            return;
        };
        match mode {
            Mode::Echo => answer(&server, &message.data, from, send_limit),
            Mode::Broadcast if message.data.len() > send_limit => {
                // Its sender gets the 1009; the others are not concerned.
                answer(&server, &message.data, from, send_limit);
            }
            Mode::Broadcast => {
                // The sender's room; it closed already if it has none.
                let Some(target) = server.request_path(from) else {
                    return;
                };
                // Queued at once on everyone in the room, here and, with --broker, on the
                // other instances; a client that stopped reading is closed with 1008 once
                // its backlog is full.
                if let Err(e) = server.publish(topic_of(&target), message.data.clone()) {
                    warn!(from = %address(from), "not broadcast: {}", explain::detail(&e));
                }
            }
            Mode::Chat => {}
        }
    });
}

/// Sends `data` to `target`, or closes `target` with 1009 when it is over the send limit.
fn answer(
    server: &WebSocketServer,
    data: &MessageData,
    target: &WebSocketConnection,
    send_limit: usize,
) {
    if data.len() > send_limit {
        // Too large to send back: say so to the client instead of leaving it waiting for an
        // answer that will never come.
        warn!(to = %address(target), "not sent, closing with 1009: over the send limit");
        let close = WebSocketCloseOptions {
            code: Some(1009),
            reason: Some(format!("message over the {send_limit}-byte send limit")),
        };
        // Closes at the call; the outcome shows in the close event.
        drop(server.close(target, Some(close)));
        return;
    }
    // `send` queues at once, so answers keep the order of the messages; its future only
    // reports when the write buffer has room again, which the server waits for before it
    // delivers that client's next message. A client that stopped reading is closed with 1008
    // once its send backlog is full (an `error` event says so).
    drop(server.send(data.clone(), target));
}

fn address(connection: &WebSocketConnection) -> String {
    match connection.client_ip.parse::<std::net::IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, connection.client_port).to_string(),
        Err(_) => format!("{}:{}", connection.client_ip, connection.client_port),
    }
}

fn describe(data: &MessageData) -> String {
    match data {
        MessageData::Text(_) => format!("text message, {} bytes", data.len()),
        MessageData::Binary(_) => format!("binary message, {} bytes", data.len()),
    }
}

fn failed(e: &BusinessError, what: &str, flags: Flags, output: &Output) -> ExitCode {
    output.notice(&explain::server_failed(e).render(what, e, flags));
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::topic_of;

    #[test]
    fn the_topic_is_the_path_without_its_slash_and_query() {
        for (target, topic) in [
            ("/", ""),
            ("/?token=1", ""),
            ("/room/x", "room/x"),
            ("/room/x?token=1", "room/x"),
            ("/room/x/", "room/x/"),
            ("/a?b?c", "a"),
        ] {
            assert_eq!(topic_of(target), topic, "{target}");
        }
    }
}
