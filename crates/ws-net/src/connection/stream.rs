//! The `futures` traits (feature `futures`): [`Receiver`] and [`Connection`] are a `Stream` of
//! messages, [`Sender`] and [`Connection`] a `Sink` of them, as code written for
//! tokio-tungstenite or axum expects.
//!
//! Both are thin layers over the poll methods the async ones use ([`Receiver::poll_recv`],
//! [`Sender::poll_writable`], [`Sender::poll_flush`]), so backpressure, cancel safety and the
//! background work (pongs, heartbeat, closing handshake) are the same.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::stream::{FusedStream, Stream};
use futures_sink::Sink;
use ws_proto::{CloseCode, Message, ReceiveMode, State as ProtoState};

use super::{close_now, Connection, Incoming, Receiver, Sender};
use crate::Error;

/// How many pings and pongs one `poll_next` passes over before it yields, so that a peer's
/// flood of them cannot keep the polling task from others on its thread.
const SKIPPED_PER_POLL: usize = 32;

/// The messages received, as tokio-tungstenite users expect them: control frames and the
/// closing handshake are handled inside.
///
/// - [`Incoming::Message`] is an item, `Ok(message)`.
/// - Pings and pongs are not items: pings are answered in the background, and pongs need no
///   answer.
/// - A clean close ends the stream (`None`); [`close_status`](Receiver::close_status) then
///   tells the peer's code and reason.
/// - An abnormal end (a protocol violation by the peer, a broken transport, an unresponsive
///   peer) is one `Err` with the [`Error`] that says what happened, then `None`.
/// - A connection in `ReceiveMode::Streaming` hands out pieces ([`Incoming::Chunk`]), which
///   cannot be items of a stream of whole messages, and joining them would buffer what
///   streaming mode exists to avoid: the stream yields one `Err(`[`Error::StreamingMode`]`)`
///   and ends before taking anything. The connection is left as it is:
///   [`recv`](Receiver::recv) returns every piece.
///
/// The stream is fused: after `None` it keeps returning `None`. Polling it is cancel-safe, as
/// `recv` is: a `next()` future dropped before it completes loses nothing.
impl Stream for Receiver {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.stream_ended {
            return Poll::Ready(None);
        }
        // Checked before anything is taken from the connection, so every piece is still there
        // for `recv`.
        if this.shared.lock().conn.config().receive_mode == ReceiveMode::Streaming {
            this.stream_ended = true;
            return Poll::Ready(Some(Err(Error::StreamingMode)));
        }
        for _ in 0..SKIPPED_PER_POLL {
            let item = match ready!(this.poll_recv(cx)) {
                Some(Incoming::Message(message)) => Ok(message),
                Some(Incoming::Ping(_) | Incoming::Pong(_)) => continue,
                // The connection's end comes next, as `Incoming::Closed`.
                Some(Incoming::Error(error)) => Err(error),
                // `None` follows: every abnormal end had its `Incoming::Error` before it.
                Some(Incoming::Closed(_)) => continue,
                // Only in streaming mode, refused above.
                Some(Incoming::Chunk(_)) => {
                    this.stream_ended = true;
                    Err(Error::StreamingMode)
                }
                None => {
                    this.stream_ended = true;
                    return Poll::Ready(None);
                }
            };
            return Poll::Ready(Some(item));
        }
        // More to pass over: come back after the other tasks had their turn.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl FusedStream for Receiver {
    fn is_terminated(&self) -> bool {
        self.stream_ended
    }
}

/// Sends messages with backpressure, as tokio-tungstenite users expect.
///
/// - `poll_ready` waits for room in the write buffer (it holds less than
///   [`ConnectionConfig::write_buffer_limit`](crate::ConnectionConfig::write_buffer_limit)
///   bytes), as [`Sender::writable`] does; a peer that does not read holds the sink there.
/// - `start_send` queues the message and starts writing it, as [`Sender::send_now`] does.
/// - `poll_flush` waits until everything queued is handed to the transport, as
///   [`Sender::flush`] does. The background task writes whether or not the sink is flushed.
/// - `poll_close` starts the closing handshake with 1000 (Normal Closure) unless it was started
///   already (by either side), and completes once the Close frame is written, not when the
///   peer has answered: the peer's answer ends the [`Receiver`]'s stream, and a peer that does
///   not answer is given up on after the close timeout, in the background. A connection that
///   is already over closes without an error.
///
/// Every method fails with [`Error::Closed`] once the connection is closing or closed (but
/// `poll_close`).
impl Sink<Message> for Sender {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_writable(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.send_now(&message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Sender::poll_flush(&self, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let open = {
            let st = self.shared.lock();
            !st.driver_done && st.conn.state() == ProtoState::Open
        };
        if open {
            match close_now(&self.shared, CloseCode::NORMAL, "") {
                // Closed: the other side or another handle was first.
                Ok(()) | Err(Error::Closed) => {}
                Err(other) => return Poll::Ready(Err(other)),
            }
        }
        match ready!(Sender::poll_flush(&self, cx)) {
            // The connection ended before the frame went out: the receiver hears how.
            Ok(()) | Err(Error::Closed) => Poll::Ready(Ok(())),
            Err(other) => Poll::Ready(Err(other)),
        }
    }
}

/// The connection's [`Receiver`] as a stream; see its `Stream` implementation for the items.
///
/// With the connection both a `Stream` and a `Sink`, an echo server is one `forward`. Split it
/// with ws-net's own [`Connection::split`] (a [`Sender`] and a [`Receiver`], usable from
/// different tasks) or with `futures`' `StreamExt::split`. Inherent methods come first in
/// method calls, so the sink's close is `SinkExt::close(&mut conn)` (`conn.close(code, reason)`
/// is the connection's own).
///
/// ```
/// use futures_util::{SinkExt, StreamExt};
/// use ws_net::{Connection, ConnectionConfig, Message, Role};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ws_net::Error> {
/// // Any AsyncRead + AsyncWrite will do; an in-memory pipe stands in for a socket here.
/// let (a, b) = tokio::io::duplex(64 * 1024);
///
/// // Echoes every message until the client closes: the stream then ends, and `forward`
/// // closes the sink (the closing handshake is already under way, so that just flushes).
/// let server = Connection::new(b, Role::Server, ConnectionConfig::default());
/// let echo = tokio::spawn(async move {
///     let (sink, stream) = server.split();
///     stream.forward(sink).await
/// });
///
/// let mut client = Connection::new(a, Role::Client, ConnectionConfig::default());
/// client.feed(Message::from("hello")).await?;
/// client.feed(Message::from(vec![1, 2, 3])).await?;
/// client.flush().await?;
/// assert_eq!(client.next().await.transpose()?, Some(Message::from("hello")));
/// assert_eq!(client.next().await.transpose()?, Some(Message::from(vec![1, 2, 3])));
///
/// // Close with 1000; the server's answer ends the stream.
/// SinkExt::close(&mut client).await?;
/// assert!(client.next().await.is_none());
/// assert!(client.close_status().is_some_and(|status| status.clean));
/// echo.await.expect("the echo task panicked")?;
/// # Ok(())
/// # }
/// ```
impl Stream for Connection {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.get_mut().receiver).poll_next(cx)
    }
}

impl FusedStream for Connection {
    fn is_terminated(&self) -> bool {
        self.receiver.is_terminated()
    }
}

/// The connection's [`Sender`] as a sink; see its `Sink` implementation.
impl Sink<Message> for Connection {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.get_mut().sender).poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        Pin::new(&mut self.get_mut().sender).start_send(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.get_mut().sender).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.get_mut().sender).poll_close(cx)
    }
}
