//! One open connection, from `open` to its end: what the user types goes out, what arrives is
//! printed, and whoever closes, the closing handshake is seen through.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::debug;
use ws_api::client::{events, CloseResult, MessageData};
use ws_api::{BusinessError, WebSocket};

use super::pings::Pings;
use super::seconds;
use super::typed::{Typed, Typing};
use crate::args::ConnectArgs;
use crate::command::{self, Line};
use crate::explain::{self, Flags};
use crate::input::Input;
use crate::output::Output;
use crate::text::with_reason;

/// How long to wait for the server's answer to our Close frame; the facade gives up after 5 s.
const CLOSE_WAIT: Duration = Duration::from_secs(10);
/// `--show-ping` without `--ping-interval`.
const SHOW_PING_INTERVAL: Duration = Duration::from_secs(1);
/// What ends a connection, as its listeners report it.
#[derive(Debug)]
pub(super) enum Ending {
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
pub(super) enum Outcome {
    /// ws closed it (end of input, --count, Ctrl-C, /close, /quit): exit with this status.
    Finished(ExitCode),
    /// The server closed it, or it failed: reconnect when asked to.
    Ended { status: ExitCode, why: String },
}

/// Prints messages (up to `--count`) and the round trips of our pings as they arrive; reports
/// what ends the connection on the returned channel.
pub(super) fn listen_to(
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
pub(super) struct Session<'a> {
    pub(super) ws: &'a WebSocket,
    pub(super) args: &'a ConnectArgs,
    pub(super) output: &'a Output,
    pub(super) pings: &'a Mutex<Pings>,
    pub(super) flags: Flags,
}

impl Session<'_> {
    pub(super) async fn run(
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
        loop {
            tokio::select! {
                next = typed.next() => {
                    let item = match next {
                        Typing::Input(item) => item,
                        Typing::Interrupted => return self.close_as_asked(endings, failed).await,
                    };
                    match item {
                        Input::Line(Line::Send(text)) => self.sent(self.ws.send_text(&text).await),
                        Input::Binary(bytes) => self.sent(self.ws.send_binary(&bytes).await),
                        Input::Line(Line::Ping(data)) => self.ping(data.into_bytes()).await,
                        Input::Line(Line::Help) => self.output.notice(command::COMMANDS),
                        Input::Mistake(mistake) => self.output.notice(&format!("ws: {mistake}")),
                        Input::Line(Line::Close(Some((code, reason)))) => {
                            typed.open = false;
                            return self.close(code, &reason, endings, failed).await;
                        }
                        Input::Line(Line::Close(None) | Line::Quit) | Input::Interrupted => {
                            typed.open = false;
                            return self.close_as_asked(endings, failed).await;
                        }
                        Input::Failed(why) => {
                            typed.open = false;
                            self.output.notice(&format!("ws: {why}"));
                            self.close_as_asked(endings, failed).await;
                            return Outcome::Finished(ExitCode::FAILURE);
                        }
                        Input::End => {
                            typed.open = false;
                            if !self.args.no_close {
                                return self.close_as_asked(endings, failed).await;
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
                            let closure = with_reason(close.code, &close.reason);
                            format!("the server closed the connection ({closure})")
                        });
                        let status = if clean { ExitCode::SUCCESS } else { ExitCode::FAILURE };
                        return Outcome::Ended { status, why };
                    }
                    Some(Ending::CountReached) => {
                        // What was asked for arrived, however the server answers the close.
                        self.close_as_asked(endings, failed).await;
                        return Outcome::Finished(ExitCode::SUCCESS);
                    }
                    Some(Ending::OutputClosed) => {
                        return self.close_as_asked(endings, failed).await;
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
            }
        }
    }

    /// Reports a send that failed; a connection that is gone reports itself (error, close).
    fn sent(&self, result: Result<bool, BusinessError>) {
        if let Err(e) = result {
            self.output
                .notice(&format!("ws: not sent: {}", not_sent(&e)));
        }
    }

    async fn ping(&self, data: Vec<u8>) {
        self.pings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sent(data.clone());
        if let Err(e) = self.ws.ping(&data).await {
            self.output
                .notice(&format!("ws: ping not sent: {}", not_sent(&e)));
        }
    }

    /// Closes with `--close-code` and `--close-reason`.
    async fn close_as_asked(
        &self,
        endings: &mut mpsc::UnboundedReceiver<Ending>,
        failed: Option<String>,
    ) -> Outcome {
        let (code, reason) = (self.args.close_code, &self.args.close_reason);
        self.close(code, reason, endings, failed).await
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

/// Why a send failed, in the command's words: the only failures left once the flags are
/// checked are a connection that is closing and a server that does not read.
fn not_sent(error: &BusinessError) -> String {
    match error.code {
        // Not open any more, as the facade sees it (no transport error behind it).
        ws_api::code::UNKNOWN if explain::net_error(error).is_none() => {
            "the connection is closing".to_owned()
        }
        _ => explain::detail(error).to_owned(),
    }
}
