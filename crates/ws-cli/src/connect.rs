//! `ws connect`: a `WebSocket` client that sends stdin and prints what it receives.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{debug, info};
use ws_api::client::{
    events, ClientCert, CloseResult, HttpProxy, MessageData, PermessageDeflate, ProxyConfiguration,
    TlsProtocol, WebSocketRequestOptions, MAX_SEND_SIZE,
};
use ws_api::{code, create_web_socket, BusinessError, WebSocket};

use crate::args::{ConnectArgs, Proxy};
use crate::command::{self, Line};
use crate::explain::{self, Flags};
use crate::input::{self, Input, Source};
use crate::output::Output;
use crate::text::with_reason;
use crate::USAGE_STATUS;

/// How long to wait for the server's answer to our Close frame; the facade gives up after 5 s.
const CLOSE_WAIT: Duration = Duration::from_secs(10);
/// `--reconnect`: the first wait, and the longest.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// `--show-ping` without `--ping-interval`.
const SHOW_PING_INTERVAL: Duration = Duration::from_secs(1);
/// The most pings waiting for their pong; older ones are forgotten (a server that never
/// answers cannot grow the list).
const PENDING_PINGS: usize = 64;

/// What ends a connection, as its listeners report it.
#[derive(Debug)]
enum Ending {
    /// The connection failed (a close event follows when it was open).
    Failed(BusinessError),
    /// The closing handshake is over, or the connection is gone (`close` event).
    Closed(CloseResult),
    /// `--count` messages have been printed.
    CountReached,
    /// stdout is gone (`| head` has exited): nobody reads what arrives.
    OutputClosed,
}

/// How one connection ended.
#[derive(Debug)]
enum Outcome {
    /// ws closed it (end of input, --count, Ctrl-C, /close, /quit): exit with this status.
    Finished(ExitCode),
    /// The server closed it, or it failed: reconnect when asked to.
    Ended { status: ExitCode, why: String },
}

/// Pings we sent and when, to time their pongs.
#[derive(Debug, Default)]
struct Pings {
    pending: VecDeque<(Vec<u8>, Instant)>,
}

impl Pings {
    fn sent(&mut self, data: Vec<u8>) {
        if self.pending.len() == PENDING_PINGS {
            self.pending.pop_front();
        }
        self.pending.push_back((data, Instant::now()));
    }

    /// The round trip of the oldest ping with this data, if it was ours.
    fn answered(&mut self, data: &[u8]) -> Option<Duration> {
        let at = self.pending.iter().position(|(sent, _)| sent == data)?;
        let (_, sent) = self.pending.remove(at)?;
        Some(sent.elapsed())
    }
}

pub async fn run(args: ConnectArgs, verbose: u8) -> ExitCode {
    let options = match request_options(&args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("ws: {e}");
            return ExitCode::from(USAGE_STATUS);
        }
    };
    let flags = Flags {
        verbose: verbose > 0,
        ca: args.ca.is_some(),
    };
    let send_limit = args.max_message_size.unwrap_or(MAX_SEND_SIZE);
    let mut reading = input::start(Source::detect(args.binary), send_limit);
    let output = Arc::new(Output::new(args.binary, &mut reading));
    let status = converse(&args, &options, flags, &output, &mut reading.input).await;
    output.finish().await;
    status
}

/// Connects (again, with --reconnect) and runs each connection until the conversation ends.
async fn converse(
    args: &ConnectArgs,
    options: &WebSocketRequestOptions,
    flags: Flags,
    output: &Arc<Output>,
    input: &mut mpsc::Receiver<Input>,
) -> ExitCode {
    let received = Arc::new(AtomicU64::new(0));
    let pings = Arc::new(Mutex::new(Pings::default()));
    let mut backoff = FIRST_BACKOFF;
    let mut typed = Typed {
        input,
        held: None,
        open: true,
    };
    loop {
        let ws = create_web_socket();
        let mut endings = listen_to(&ws, args, output, &received, &pings);
        info!(url = %args.url, "connecting");
        let connecting = ws.connect_and_wait(&args.url, Some(options.clone()));
        let connected = tokio::select! {
            connected = connecting => connected,
            () = typed.stop_requested(output) => {
                output.notice("ws: stopped before the connection opened");
                return ExitCode::FAILURE;
            }
        };
        let open = match connected {
            Ok(open) => open,
            Err(e) => {
                let explained = explain::connect_failed(&e, flags);
                let text =
                    explained.render(&format!("could not connect to {}", args.url), &e, flags);
                let usage = matches!(
                    e.code,
                    code::PARAMETER_ERROR | code::URL_ERROR | code::CERT_FILE_NOT_EXIST
                );
                if usage {
                    output.notice(&text);
                    return ExitCode::from(USAGE_STATUS);
                }
                if !args.reconnect {
                    output.notice(&text);
                    return ExitCode::FAILURE;
                }
                output.notice(&format!(
                    "{text}\nws: connecting again in {}",
                    seconds(backoff)
                ));
                if !wait(backoff, &mut typed, output).await {
                    return ExitCode::FAILURE;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = FIRST_BACKOFF;
        match &open.protocol {
            Some(protocol) => {
                output.notice(&format!("connected to {} (protocol {protocol})", args.url))
            }
            None => output.notice(&format!("connected to {}", args.url)),
        }
        let session = Session {
            ws: &ws,
            args,
            output,
            pings: &pings,
            flags,
        };
        match session.run(&mut endings, &mut typed).await {
            Outcome::Finished(status) => return status,
            Outcome::Ended { status, why } => {
                // Once the input is over, a new connection would only be closed at once.
                if !args.reconnect || (!typed.open && !args.no_close) {
                    return status;
                }
                output.notice(&format!(
                    "ws: {why}; connecting again in {}",
                    seconds(backoff)
                ));
                if !wait(backoff, &mut typed, output).await {
                    return status;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// `1 s`, `30 s`.
fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs())
}

/// Waits before connecting again; false when the user says to stop instead.
async fn wait(backoff: Duration, typed: &mut Typed<'_>, output: &Output) -> bool {
    tokio::select! {
        () = tokio::time::sleep(backoff) => true,
        () = typed.stop_requested(output) => false,
    }
}

/// The input, across connections: what is typed while there is no connection is held for the
/// next one (and reading pauses meanwhile), while a request to stop is acted on at once.
struct Typed<'a> {
    input: &'a mut mpsc::Receiver<Input>,
    /// Read while there was no connection: the next connection takes it first.
    held: Option<Input>,
    /// False once the input has ended.
    open: bool,
}

impl Typed<'_> {
    /// The next input, the held one first.
    async fn next(&mut self) -> Input {
        match self.held.take() {
            Some(held) => held,
            None => self.input.recv().await.unwrap_or(Input::End),
        }
    }

    /// Resolves when the user asks to stop while there is no connection: Ctrl-C, `/quit`,
    /// `/close`, or input that cannot go on. Lines to send are held for the next connection.
    async fn stop_requested(&mut self, output: &Output) {
        loop {
            if self.held.is_some() || !self.open {
                // Only Ctrl-C (outside the line editor, which reads it as a key) is left.
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
            tokio::select! {
                item = self.input.recv() => match item.unwrap_or(Input::End) {
                    Input::End => self.open = false,
                    Input::Interrupted | Input::Line(Line::Quit | Line::Close(_)) => return,
                    Input::Failed(why) => {
                        output.notice(&format!("ws: {why}"));
                        self.open = false;
                        return;
                    }
                    Input::Line(Line::Help) => output.notice(command::COMMANDS),
                    Input::Mistake(mistake) => output.notice(&format!("ws: {mistake}")),
                    other @ (Input::Line(Line::Send(_) | Line::Ping(_)) | Input::Binary(_)) => {
                        self.held = Some(other);
                    }
                },
                _ = tokio::signal::ctrl_c() => return,
            }
        }
    }
}

/// Prints messages (up to `--count`) and the round trips of our pings as they arrive; reports
/// what ends the connection on the returned channel.
fn listen_to(
    ws: &WebSocket,
    args: &ConnectArgs,
    output: &Arc<Output>,
    received: &Arc<AtomicU64>,
    pings: &Arc<Mutex<Pings>>,
) -> mpsc::UnboundedReceiver<Ending> {
    // Unbounded, but short: a connection ends once, after at most a few errors.
    let (tx, rx) = mpsc::unbounded_channel();
    ws.on(events::HeaderReceive, |headers| {
        debug!("response headers: {headers:?}")
    });
    let (printing, count, received) = (Arc::clone(output), args.count, Arc::clone(received));
    let done = tx.clone();
    ws.on(events::Message, move |data: &MessageData| {
        let number = received.fetch_add(1, Ordering::SeqCst) + 1;
        if count.is_some_and(|count| number > count) {
            return;
        }
        if printing.message(data).is_err() {
            let _ = done.send(Ending::OutputClosed);
        } else if count == Some(number) {
            let _ = done.send(Ending::CountReached);
        }
    });
    let (timing, pings) = (Arc::clone(output), Arc::clone(pings));
    ws.on(events::Pong, move |data| {
        let answered = pings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .answered(data);
        match answered {
            Some(rtt) if data.is_empty() => timing.notice(&format!("pong after {}", millis(rtt))),
            Some(rtt) => timing.notice(&format!(
                "pong {:?} after {}",
                String::from_utf8_lossy(data),
                millis(rtt)
            )),
            // The heartbeat's, or one the server sent unasked.
            None => debug!(bytes = data.len(), "pong"),
        }
    });
    let closes = tx.clone();
    ws.on(events::Close, move |close| {
        let _ = closes.send(Ending::Closed(close.clone()));
    });
    ws.on(events::Error, move |e| {
        let _ = tx.send(Ending::Failed(e.clone()));
    });
    rx
}

/// `0.42 ms`, `12.3 ms`.
fn millis(rtt: Duration) -> String {
    let ms = rtt.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// One open connection, from `open` to its end.
struct Session<'a> {
    ws: &'a WebSocket,
    args: &'a ConnectArgs,
    output: &'a Output,
    pings: &'a Mutex<Pings>,
    flags: Flags,
}

impl Session<'_> {
    async fn run(
        &self,
        endings: &mut mpsc::UnboundedReceiver<Ending>,
        typed: &mut Typed<'_>,
    ) -> Outcome {
        let mut failed = None;
        let interval = match self.args.ping_interval {
            Some(0) | None => SHOW_PING_INTERVAL,
            Some(seconds) => Duration::from_secs(seconds),
        };
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sequence = 0u64;
        let default_close = (self.args.close_code, self.args.close_reason.clone());
        if !typed.open && !self.args.no_close {
            // The input ended while connecting.
            let (code, reason) = &default_close;
            return self.close(*code, reason, endings, failed).await;
        }
        loop {
            tokio::select! {
                item = typed.next(), if typed.open => {
                    match item {
                        Input::Line(Line::Send(text)) => self.sent(self.ws.send_text(&text).await),
                        Input::Binary(bytes) => self.sent(self.ws.send_binary(&bytes).await),
                        Input::Line(Line::Ping(data)) => self.ping(data.into_bytes()).await,
                        Input::Line(Line::Help) => self.output.notice(command::COMMANDS),
                        Input::Mistake(mistake) => self.output.notice(&format!("ws: {mistake}")),
                        Input::Line(Line::Close(how)) => {
                            typed.open = false;
                            let (code, reason) = how.unwrap_or(default_close.clone());
                            return self.close(code, &reason, endings, failed).await;
                        }
                        Input::Line(Line::Quit) | Input::Interrupted => {
                            typed.open = false;
                            let (code, reason) = &default_close;
                            return self.close(*code, reason, endings, failed).await;
                        }
                        Input::Failed(why) => {
                            typed.open = false;
                            self.output.notice(&format!("ws: {why}"));
                            let (code, reason) = &default_close;
                            self.close(*code, reason, endings, failed).await;
                            return Outcome::Finished(ExitCode::FAILURE);
                        }
                        Input::End => {
                            typed.open = false;
                            if !self.args.no_close {
                                let (code, reason) = &default_close;
                                return self.close(*code, reason, endings, failed).await;
                            }
                            debug!("end of input: receiving until the server closes (--no-close)");
                        }
                    }
                }
                ending = endings.recv() => match ending {
                    Some(Ending::Failed(e)) => {
                        let explained = explain::connection_lost(&e);
                        self.output.notice(&explained.render("connection lost", &e, self.flags));
                        failed = Some(explained.what);
                    }
                    Some(Ending::Closed(close)) => {
                        if failed.is_none() {
                            let closure = with_reason(close.code, &close.reason);
                            self.output.notice(&format!("closed by the server: {closure}"));
                        }
                        let clean = failed.is_none() && matches!(close.code, 1000 | 1001);
                        let why = failed.unwrap_or_else(|| {
                            format!("the server closed the connection ({})", with_reason(close.code, &close.reason))
                        });
                        let status = if clean { ExitCode::SUCCESS } else { ExitCode::FAILURE };
                        return Outcome::Ended { status, why };
                    }
                    Some(Ending::CountReached | Ending::OutputClosed) => {
                        let (code, reason) = &default_close;
                        return self.close(*code, reason, endings, failed).await;
                    }
                    None => {
                        self.output.notice("ws: the connection ended without a close event");
                        return Outcome::Finished(ExitCode::FAILURE);
                    }
                },
                _ = ticks.tick(), if self.args.show_ping => {
                    sequence += 1;
                    self.ping(format!("ws {sequence}").into_bytes()).await;
                }
                _ = tokio::signal::ctrl_c() => {
                    let (code, reason) = &default_close;
                    return self.close(*code, reason, endings, failed).await;
                }
            }
        }
    }

    /// Reports a send that failed; a connection that is gone reports itself (error, close).
    fn sent(&self, result: Result<bool, BusinessError>) {
        if let Err(e) = result {
            self.output
                .notice(&format!("ws: not sent: {}", explain::detail(&e)));
        }
    }

    async fn ping(&self, data: Vec<u8>) {
        self.pings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sent(data.clone());
        if let Err(e) = self.ws.ping(&data).await {
            self.output
                .notice(&format!("ws: ping not sent: {}", explain::detail(&e)));
        }
    }

    /// Closes with `code` and `reason` and waits for the end of the closing handshake.
    async fn close(
        &self,
        code: u16,
        reason: &str,
        endings: &mut mpsc::UnboundedReceiver<Ending>,
        mut failed: Option<String>,
    ) -> Outcome {
        debug!(code, reason, "closing");
        // Fails only when the server closed first; its close event is on the way.
        if let Err(e) = self.ws.close_with_code(code, reason).await {
            debug!("close: {e}");
        }
        let closed = tokio::time::timeout(CLOSE_WAIT, async {
            loop {
                match endings.recv().await {
                    Some(Ending::Closed(close)) => return Some(close),
                    Some(Ending::Failed(e)) => failed = Some(explain::connection_lost(&e).what),
                    Some(Ending::CountReached | Ending::OutputClosed) => {}
                    None => return None,
                }
            }
        })
        .await;
        match closed {
            Ok(Some(close)) => {
                self.output.notice(&format!(
                    "closed: {}",
                    with_reason(close.code, &close.reason)
                ));
                if let Some(why) = failed {
                    self.output.notice(&format!("ws: connection lost: {why}"));
                    return Outcome::Finished(ExitCode::FAILURE);
                }
                // A clean end: the server answered with our code (or a normal one); another
                // code means it closed for a reason of its own (1009, 1011...), and 1006 that it
                // never answered.
                let clean = close.code == code || matches!(close.code, 1000 | 1001);
                Outcome::Finished(if clean {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            Ok(None) => {
                self.output
                    .notice("ws: the connection ended without a close event");
                Outcome::Finished(ExitCode::FAILURE)
            }
            Err(_) => {
                self.output.notice(&format!(
                    "ws: the connection did not close within {}",
                    seconds(CLOSE_WAIT)
                ));
                Outcome::Finished(ExitCode::FAILURE)
            }
        }
    }
}

fn request_options(args: &ConnectArgs) -> Result<WebSocketRequestOptions, String> {
    Ok(WebSocketRequestOptions {
        header: args.headers.clone(),
        ca_path: args.ca.clone(),
        client_cert: args.cert.as_ref().map(|(cert, key)| ClientCert {
            cert_path: cert.clone(),
            key_path: key.clone(),
            key_password: args.key_password.clone(),
        }),
        proxy: Some(match &args.proxy {
            Proxy::System => ProxyConfiguration::System,
            Proxy::None => ProxyConfiguration::NoProxy,
            Proxy::Url(url) => ProxyConfiguration::Http(http_proxy(url)?),
        }),
        protocol: args.protocol.clone(),
        skip_server_cert_verification: args.insecure.then_some(true),
        ping_interval: args.ping_interval,
        pong_timeout: args.pong_timeout,
        min_support_tls_protocol: args.tls_min_1_3.then_some(TlsProtocol::TlsV13),
        max_message_size: args.max_message_size,
        max_send_size: args.max_message_size,
        permessage_deflate: args.deflate.then(PermessageDeflate::default),
        ..WebSocketRequestOptions::default()
    })
}

/// `http://[user[:password]@]host[:port][/]`.
fn http_proxy(url: &str) -> Result<HttpProxy, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("--proxy {url:?}: expected http://[user:password@]host:port, `system` or `none`")
    })?;
    let rest = rest.trim_end_matches('/');
    let (credentials, host_port) = match rest.rsplit_once('@') {
        Some((credentials, host_port)) => (Some(credentials), host_port),
        None => (None, rest),
    };
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("--proxy {url:?}: unclosed `[` in the host"))?;
            (host, after.strip_prefix(':'))
        }
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err(format!("--proxy {url:?}: the host is missing"));
    }
    let port = match port {
        None => 80,
        Some(port) => port
            .parse()
            .map_err(|_| format!("--proxy {url:?}: {port:?} is not a port number"))?,
    };
    let (username, password) = match credentials {
        None => (None, None),
        Some(credentials) => match credentials.split_once(':') {
            Some((user, password)) => (Some(user.to_owned()), Some(password.to_owned())),
            None => (Some(credentials.to_owned()), None),
        },
    };
    Ok(HttpProxy {
        host: host.to_owned(),
        port,
        exclusion_list: Vec::new(),
        username,
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls() {
        let p = http_proxy("http://user:secret@proxy.example:3128/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.example", 3128));
        assert_eq!(p.username.as_deref(), Some("user"));
        assert_eq!(p.password.as_deref(), Some("secret"));
        let p = http_proxy("http://[::1]:8080").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 8080));
        let p = http_proxy("http://proxy").unwrap();
        assert_eq!((p.host.as_str(), p.port, p.username), ("proxy", 80, None));
        for bad in [
            "socks5://proxy:1080",
            "http://:3128",
            "http://proxy:port",
            "http://[::1",
        ] {
            assert!(http_proxy(bad).is_err(), "{bad}");
        }
    }
}
