//! A WebSocket connection over any `AsyncRead + AsyncWrite`, and its two halves.
//!
//! [`Connection::new`] spawns a driver task that owns the transport (see `driver.rs`); the
//! [`Sender`] and [`Receiver`] handles talk to it through a small shared state (see `shared.rs`).

mod driver;
mod read_buffers;
mod shared;
#[cfg(feature = "futures")]
mod stream;
mod transport;

use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use ws_proto::{Chunk, CloseCode, CloseStatus, Message, MessageKind, PreparedMessage, Role};

use crate::{ConnectionConfig, Error};
use driver::Driver;
use shared::{store_waker, Shared, State};
use transport::Transport;

/// Something received on a connection, in the order it happened.
///
/// A connection yields any number of messages (or chunks, in streaming mode) and pings/pongs,
/// then exactly one [`Incoming::Closed`], the last item. An abnormal end (code 1006) is preceded
/// by [`Incoming::Error`] saying what went wrong.
#[derive(Debug)]
pub enum Incoming {
    /// A complete message (`ReceiveMode::Messages`, the default).
    Message(Message),
    /// A piece of a message (`ReceiveMode::Streaming`).
    Chunk(Chunk),
    /// The peer pinged us; the pong has been sent already.
    Ping(Bytes),
    /// A pong arrived.
    Pong(Bytes),
    /// The connection failed: a protocol violation, a broken transport, an unresponsive peer.
    Error(Error),
    /// The connection is closed; nothing follows.
    Closed(CloseStatus),
}

impl Incoming {
    fn payload_len(&self) -> usize {
        match self {
            Incoming::Message(message) => message.as_bytes().len(),
            Incoming::Chunk(chunk) => chunk.data.len(),
            Incoming::Ping(payload) | Incoming::Pong(payload) => payload.len(),
            Incoming::Error(_) | Incoming::Closed(_) => 0,
        }
    }
}

/// A WebSocket connection after the opening handshake.
///
/// Created from a transport that has completed the handshake (see [`crate::client::connect`] and
/// [`crate::server::Server`] for the usual ways to get one). Receive with [`recv`](Self::recv),
/// send with [`send`](Self::send) and friends, or [`split`](Self::split) it to read and write from
/// different tasks. Pongs, the heartbeat and the closing handshake run in a background task, so
/// they go on while the application is busy elsewhere. With the `futures` feature it is also a
/// `Stream` of messages and a `Sink` for them (see those implementations below).
///
/// ```
/// use ws_net::{Connection, ConnectionConfig, Incoming};
/// use ws_proto::{Message, Role};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ws_net::Error> {
/// // Any AsyncRead + AsyncWrite will do; an in-memory pipe stands in for a socket here.
/// let (a, b) = tokio::io::duplex(4096);
/// let mut client = Connection::new(a, Role::Client, ConnectionConfig::default());
/// let mut server = Connection::new(b, Role::Server, ConnectionConfig::default());
///
/// client.send_text("hello").await?;
/// match server.recv().await {
///     Some(Incoming::Message(Message::Text(text))) => assert_eq!(text.as_str(), "hello"),
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Connection {
    sender: Sender,
    receiver: Receiver,
}

impl Connection {
    /// Starts a connection over `io`, whose opening handshake is done, in `role`. Spawns the
    /// driver task on the current tokio runtime (so call it from within one).
    pub fn new<S>(io: S, role: Role, config: ConnectionConfig) -> Connection
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        Connection::with_received(io, role, config, &[])
    }

    /// Like [`new`](Self::new), for when bytes after the handshake were already read from `io`
    /// (the handshake's leftover): they are decoded before anything read later.
    pub fn with_received<S>(
        io: S,
        role: Role,
        config: ConnectionConfig,
        received: &[u8],
    ) -> Connection
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        Connection::start(io, role, config, received, ()).0
    }

    /// Starts the driver task, which holds `guard` until the transport is gone.
    pub(crate) fn start<S, G>(
        io: S,
        role: Role,
        config: ConnectionConfig,
        received: &[u8],
        guard: G,
    ) -> (Connection, tokio::task::JoinHandle<()>)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
        G: Send + 'static,
    {
        let mut conn = ws_proto::Connection::new(role, config.protocol.clone());
        conn.receive_data(received);
        if config.ping_interval.is_some() {
            conn.set_heartbeat(
                config.ping_interval,
                config.pong_timeout,
                tokio::time::Instant::now().into_std(),
            );
        }
        let transport = Transport::new(Box::new(io), config.read_size);
        let span = crate::trace::current_or_new(role);
        let shared = Shared::new(State::new(conn, transport, &config, span.clone()));
        let driver = Driver::new(Arc::clone(&shared), &config);
        let task = tokio::spawn(crate::trace::instrument(
            async move {
                driver.await;
                drop(guard);
            },
            span,
        ));
        let connection = Connection {
            sender: Sender {
                shared: Arc::clone(&shared),
            },
            receiver: Receiver::new(shared),
        };
        (connection, task)
    }

    /// A handle that can close the connection without keeping it alive.
    pub(crate) fn closer(&self) -> Closer {
        Closer(Arc::downgrade(&self.sender.shared))
    }

    /// Splits the connection into a sending and a receiving half, usable from different tasks.
    pub fn split(self) -> (Sender, Receiver) {
        (self.sender, self.receiver)
    }

    /// The next thing received; `None` after [`Incoming::Closed`] was returned. See
    /// [`Receiver::recv`].
    pub async fn recv(&mut self) -> Option<Incoming> {
        self.receiver.recv().await
    }

    /// Sends a message. See [`Sender::send`].
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the connection is closing or closed; [`Error::Send`] when the message
    /// cannot be sent as asked (a control payload over 125 bytes, a fragment out of order).
    pub async fn send(&self, message: Message) -> Result<(), Error> {
        self.sender.send(message).await
    }

    /// Sends a text message.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the connection is closing or closed; [`Error::Send`] when the message
    /// cannot be sent as asked (a control payload over 125 bytes, a fragment out of order).
    pub async fn send_text(&self, text: &str) -> Result<(), Error> {
        self.sender.send_text(text).await
    }

    /// Sends a binary message.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the connection is closing or closed; [`Error::Send`] when the message
    /// cannot be sent as asked (a control payload over 125 bytes, a fragment out of order).
    pub async fn send_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.sender.send_binary(data).await
    }

    /// Sends a ping.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the connection is closing or closed; [`Error::Send`] when the message
    /// cannot be sent as asked (a control payload over 125 bytes, a fragment out of order).
    pub async fn ping(&self, payload: &[u8]) -> Result<(), Error> {
        self.sender.ping(payload).await
    }

    /// Starts the closing handshake. See [`Sender::close`].
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] when the connection is already closing or closed; [`Error::Send`] for a
    /// code that may not be sent or a reason over 123 bytes.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.sender.close(code, reason).await
    }

    /// How the connection ended, once its end has been decoded. See
    /// [`Receiver::close_status`].
    pub fn close_status(&self) -> Option<CloseStatus> {
        self.receiver.close_status()
    }

    /// The sending half, e.g. to clone it for another task.
    pub fn sender(&self) -> &Sender {
        &self.sender
    }
}

/// The sending half of a [`Connection`]. Clones send on the same connection; each message goes
/// out whole, never interleaved with another's frames. With the `futures` feature it is also a
/// `Sink` for messages (see that implementation below).
#[derive(Debug)]
pub struct Sender {
    shared: Arc<Shared>,
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        // A new handle is made from an existing one, so nothing needs ordering here (as for
        // `Arc`'s count).
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        // The last one wakes the driver, which closes the connection if the receiver is gone
        // too; what this handle queued before is in the state already.
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.wake_driver();
        }
    }
}

impl Sender {
    /// Queues `message` for sending. Waits while the write buffer holds
    /// [`ConnectionConfig::write_buffer_limit`] bytes or more, so a slow peer slows the sender
    /// down instead of growing memory. Cancel-safe: if the future is dropped before it completes,
    /// nothing was queued.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the connection is closing or closed; [`Error::Send`] when the message
    /// cannot be sent as asked (a control payload over 125 bytes, a fragment out of order).
    pub async fn send(&self, message: Message) -> Result<(), Error> {
        self.queue(|conn| conn.send(&message)).await
    }

    /// Queues a message encoded once for many connections (see [`PreparedMessage`]): the
    /// frame's bytes are shared, not copied. Waits for room as [`send`](Self::send) does; to
    /// fan a message out from one task without one slow peer holding up the others, use
    /// [`send_prepared_now`](Self::send_prepared_now) with a bound on
    /// [`buffered_len`](Self::buffered_len).
    ///
    /// # Errors
    ///
    /// As for [`send`](Self::send).
    pub async fn send_prepared(&self, prepared: &PreparedMessage) -> Result<(), Error> {
        self.queue(|conn| conn.send_prepared(prepared)).await
    }

    /// Queues a text message (see [`send`](Self::send)).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the connection is closing or closed; [`Error::Send`] when the message
    /// cannot be sent as asked (a control payload over 125 bytes, a fragment out of order).
    pub async fn send_text(&self, text: &str) -> Result<(), Error> {
        self.queue(|conn| conn.send_text(text)).await
    }

    /// Queues a binary message (see [`send`](Self::send)).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the connection is closing or closed; [`Error::Send`] when the message
    /// cannot be sent as asked (a control payload over 125 bytes, a fragment out of order).
    pub async fn send_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.queue(|conn| conn.send_binary(data)).await
    }

    /// Queues one frame of a message sent in pieces: the first call starts a message of `kind`,
    /// later ones continue it, and the one with `fin` ends it.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the connection is closing or closed; [`Error::Send`] when the message
    /// cannot be sent as asked (a control payload over 125 bytes, a fragment out of order).
    pub async fn send_fragment(
        &self,
        kind: MessageKind,
        data: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        self.queue(|conn| conn.send_fragment(kind, data, fin)).await
    }

    /// Queues a ping (payload at most 125 bytes).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the connection is closing or closed; [`Error::Send`] when the message
    /// cannot be sent as asked (a control payload over 125 bytes, a fragment out of order).
    pub async fn ping(&self, payload: &[u8]) -> Result<(), Error> {
        self.queue(|conn| conn.ping(payload)).await
    }

    /// Queues an unsolicited pong (payload at most 125 bytes).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the connection is closing or closed; [`Error::Send`] when the message
    /// cannot be sent as asked (a control payload over 125 bytes, a fragment out of order).
    pub async fn pong(&self, payload: &[u8]) -> Result<(), Error> {
        self.queue(|conn| conn.pong(payload)).await
    }

    /// Sends a Close frame with `code` and `reason` (at most 123 bytes) and waits until it is
    /// written, or until the connection is over. The Close frame is queued at once, however
    /// full the write buffer is, and the close timeout starts now: the receiver gets the peer's
    /// answer as [`Incoming::Closed`], and a peer that does not answer (or does not read) within
    /// `close_timeout` ends the connection with 1006, so this never waits longer than that.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] when the connection is already closing or closed; [`Error::Send`] for a
    /// code that may not be sent or a reason over 123 bytes.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        close_now(&self.shared, code, reason)?;
        match self.flush().await {
            // The connection ended before the frame went out (the close timeout, a broken
            // transport): the closure is reported to the receiver.
            Ok(()) | Err(Error::Closed) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// Starts the closing handshake at once, without waiting: the Close frame is queued past
    /// the write bound and the close timeout starts now. For callers that cannot await, such
    /// as an event callback; [`close`](Self::close) also waits for the frame to be written.
    ///
    /// # Errors
    ///
    /// As for [`close`](Self::close).
    pub fn start_close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        close_now(&self.shared, code, reason)
    }

    /// Queues `message` at once, however full the write buffer is, and starts writing it.
    ///
    /// For callers that cannot wait at the point where the order is decided, such as an event
    /// callback that answers the message it was given: messages go out in the order of the
    /// calls. It skips the write-buffer limit, so pair it with [`writable`](Self::writable)
    /// to keep a slow peer from growing memory.
    ///
    /// ```
    /// # async fn answer(sender: ws_net::Sender) -> Result<(), ws_net::Error> {
    /// sender.send_now(&ws_net::Message::Text("first".into()))?;
    /// sender.writable().await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the connection is closing or closed; [`Error::Send`] when the message
    /// cannot be sent as asked (a control payload over 125 bytes, a fragment out of order).
    pub fn send_now(&self, message: &Message) -> Result<(), Error> {
        self.queue_now(|conn| conn.send(message))
    }

    /// Queues a message encoded once for many connections at once, however full the write
    /// buffer is, as [`send_now`](Self::send_now) does; the frame's bytes are shared, not
    /// copied. A broadcast queues it on every recipient and drops (or closes) those whose
    /// [`buffered_len`](Self::buffered_len) is over a bound of its choice, so a slow reader
    /// neither grows memory nor holds up the others:
    ///
    /// ```
    /// use ws_net::{Message, PreparedMessage, Sender};
    ///
    /// /// Sends `message` to every subscriber; one that has more than 1 MiB unsent is closed.
    /// fn broadcast(subscribers: &[Sender], message: &Message) {
    ///     let prepared = PreparedMessage::new(message);
    ///     for subscriber in subscribers {
    ///         if subscriber.buffered_len() > 1 << 20 {
    ///             let _ = subscriber.start_close(ws_net::CloseCode::POLICY_VIOLATION, "too slow");
    ///         } else {
    ///             // An error means the subscriber is closing: it is gone from the next round.
    ///             let _ = subscriber.send_prepared_now(&prepared);
    ///         }
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`send_now`](Self::send_now).
    pub fn send_prepared_now(&self, prepared: &PreparedMessage) -> Result<(), Error> {
        self.queue_now(|conn| conn.send_prepared(prepared))
    }

    /// Queues a ping (payload at most 125 bytes) at once, however full the write buffer is, in
    /// order with [`send_now`](Self::send_now)'s messages. As for `send_now`, pair it with
    /// [`writable`](Self::writable); [`ping`](Self::ping) waits for room first instead.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the connection is closing or closed; [`Error::Send`] for a payload
    /// over 125 bytes.
    pub fn ping_now(&self, payload: &[u8]) -> Result<(), Error> {
        self.queue_now(|conn| conn.ping(payload))
    }

    /// Encodes a frame into the write buffer at once, past the write bound, and starts writing.
    fn queue_now(
        &self,
        encode: impl FnOnce(&mut ws_proto::Connection) -> Result<(), ws_proto::SendError>,
    ) -> Result<(), Error> {
        let mut st = self.shared.lock();
        if st.driver_done {
            return Err(Error::Closed);
        }
        let result = encode(&mut st.conn);
        let wakers = match result {
            Ok(()) => st.write_now(&self.shared),
            Err(_) => Vec::new(),
        };
        drop(st);
        wakers.into_iter().for_each(Waker::wake);
        result.map_err(Error::from)
    }

    /// Waits until the write buffer holds less than
    /// [`ConnectionConfig::write_buffer_limit`] bytes, when [`send`](Self::send) would queue
    /// without waiting.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the connection is over: nothing more will be written.
    pub async fn writable(&self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_writable(cx)).await
    }

    /// Polls for room in the write buffer, as [`writable`](Self::writable) waits for it:
    /// `Ready(Ok(()))` when it holds less than [`ConnectionConfig::write_buffer_limit`] bytes,
    /// `Pending` with the task woken once the driver has written enough.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the connection is over: nothing more will be written.
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut st = self.shared.lock();
        if st.driver_done {
            return Poll::Ready(Err(Error::Closed));
        }
        if st.has_room() {
            return Poll::Ready(Ok(()));
        }
        push_waker(&mut st.writer_wakers, cx.waker());
        Poll::Pending
    }

    /// Waits until everything queued so far is handed to the transport.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] when the connection ended before everything was written.
    pub async fn flush(&self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Polls for the write buffer to drain, as [`flush`](Self::flush) waits for it:
    /// `Ready(Ok(()))` once everything queued so far is handed to the transport, `Pending` with
    /// the task woken when the driver has written more. The driver does the writing, whether or
    /// not this is polled.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] when the connection ended before everything was written.
    pub fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut st = self.shared.lock();
        if st.conn.output_len() == 0 {
            return Poll::Ready(Ok(()));
        }
        if st.driver_done {
            return Poll::Ready(Err(Error::Closed));
        }
        push_waker(&mut st.writer_wakers, cx.waker());
        Poll::Pending
    }

    /// Bytes queued and not yet handed to the transport.
    pub fn buffered_len(&self) -> usize {
        self.shared.lock().conn.output_len()
    }

    /// Bytes received and not yet taken by the application: what the protocol has not decoded
    /// yet, and the events waiting for the receiver (payloads plus a small fixed cost each).
    /// Reading from the socket stops once this reaches `ConnectionConfig::receive_queue_limit`,
    /// but to complete a frame being decoded; it passes the limit by one message and one read
    /// at most.
    pub fn received_len(&self) -> usize {
        let st = self.shared.lock();
        st.conn.pending_input() + st.queued_bytes
    }

    /// Whether the connection has closed (its closure was decoded, or its transport is gone).
    pub fn is_closed(&self) -> bool {
        let st = self.shared.lock();
        st.closed.is_some() || st.driver_done
    }

    async fn queue(
        &self,
        mut encode: impl FnMut(&mut ws_proto::Connection) -> Result<(), ws_proto::SendError>,
    ) -> Result<(), Error> {
        poll_fn(|cx| {
            let mut st = self.shared.lock();
            if st.driver_done {
                return Poll::Ready(Err(Error::Closed));
            }
            if !st.has_room() {
                push_waker(&mut st.writer_wakers, cx.waker());
                return Poll::Pending;
            }
            let result = encode(&mut st.conn);
            let wakers = match result {
                Ok(()) => st.write_now(&self.shared),
                Err(_) => Vec::new(),
            };
            drop(st);
            wakers.into_iter().for_each(Waker::wake);
            Poll::Ready(result.map_err(Error::from))
        })
        .await
    }
}

/// Queues a Close frame at once, past the write bound (a control frame may exceed it by its own
/// size), and starts writing it; the driver arms the close timeout.
fn close_now(shared: &Arc<Shared>, code: CloseCode, reason: &str) -> Result<(), Error> {
    let mut st = shared.lock();
    if st.driver_done {
        return Err(Error::Closed);
    }
    let result = st
        .conn
        .close(code, reason, tokio::time::Instant::now().into_std());
    if result.is_ok() {
        st.span.in_scope(|| {
            crate::trace::debug!(code = code.as_u16(), reason, "closing: Close frame queued");
        });
    }
    let wakers = match result {
        Ok(()) => st.write_now(shared),
        Err(_) => Vec::new(),
    };
    drop(st);
    // The close timeout is a new deadline: the driver arms its timer for it.
    shared.wake_driver();
    wakers.into_iter().for_each(Waker::wake);
    result.map_err(Error::from)
}

/// Closes a connection if it still exists; does not count as a sender.
#[derive(Debug, Clone)]
pub(crate) struct Closer(std::sync::Weak<Shared>);

impl Closer {
    pub(crate) fn close(&self, code: CloseCode, reason: &str) {
        if let Some(shared) = self.0.upgrade() {
            let _ = close_now(&shared, code, reason);
        }
    }
}

fn push_waker(wakers: &mut Vec<Waker>, waker: &Waker) {
    if !wakers.iter().any(|w| w.will_wake(waker)) {
        wakers.push(waker.clone());
    }
}

/// The receiving half of a [`Connection`]. With the `futures` feature it is also a `Stream` of
/// messages (see that implementation below).
#[derive(Debug)]
pub struct Receiver {
    shared: Arc<Shared>,
    /// Its task's waker is stored for the driver to wake (see [`Receiver::poll_incoming`]).
    registered: bool,
    /// The `Stream` ended (see `stream.rs`).
    #[cfg(feature = "futures")]
    stream_ended: bool,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.lock().receiver_dropped();
        self.shared.wake_driver();
    }
}

impl Receiver {
    fn new(shared: Arc<Shared>) -> Self {
        Receiver {
            shared,
            registered: false,
            #[cfg(feature = "futures")]
            stream_ended: false,
        }
    }

    /// The next thing received; `None` once [`Incoming::Closed`] has been returned.
    ///
    /// After a message, the connection decodes nothing more until the next call (for a second
    /// or two at most), so that what you send in answer to it goes out before the Close frame
    /// that may follow. Writing, the timers and the closing handshake go on meanwhile; a ping that
    /// arrived after the message is answered once it is decoded.
    ///
    /// Cancel-safe: dropping the future (e.g. when another branch of `tokio::select!` wins) loses
    /// nothing; the next call returns what this one would have.
    pub async fn recv(&mut self) -> Option<Incoming> {
        let waiting = Waiting(self);
        poll_fn(|cx| waiting.0.poll_incoming(cx, true)).await
    }

    /// Polls for the next thing received, for code that implements a future or a stream by
    /// hand: `Ready(Some(_))` as [`recv`](Self::recv) would return it, `Ready(None)` once
    /// [`Incoming::Closed`] has been returned, `Pending` with the task woken when something
    /// arrives.
    ///
    /// It decodes what has arrived when polled, like `recv`; while it is pending the background
    /// task reads the socket and wakes this task (`recv` reads the socket itself when woken),
    /// so a task that stops polling holds nothing up. Nothing is lost between polls.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Incoming>> {
        self.poll_incoming(cx, false)
    }

    /// How the connection ended, once its end has been decoded (events received before it may
    /// still wait for [`recv`](Self::recv)); `None` while it is open. The way to learn the
    /// peer's close code and reason when the end itself is not an item, as with the `futures`
    /// `Stream`.
    pub fn close_status(&self) -> Option<CloseStatus> {
        self.shared.lock().closed.clone()
    }

    /// The one path of `recv` and `poll_recv`. With `reads_itself`, the socket's read waker
    /// wakes this task while it waits, and it then reads itself (one task switch less per
    /// message); that needs the waiter to say when it gives up (`Waiting`'s drop). Without, the
    /// read waker wakes the driver, which reads and wakes this task once something is queued.
    fn poll_incoming(
        &mut self,
        cx: &mut Context<'_>,
        reads_itself: bool,
    ) -> Poll<Option<Incoming>> {
        let Receiver {
            shared, registered, ..
        } = self;
        let shared = &**shared;
        let mut st = shared.lock();
        st.receiver_returned();
        let was_paused = st.read_paused;
        let mut wake_driver = false;
        if st.queue.is_empty() && !st.pump() && st.closed.is_none() && !st.driver_done {
            // Read here rather than wait for the driver to read and wake us: one task switch
            // less per message.
            let mut read_cx = Context::from_waker(&shared.read_waker);
            let keep_alive_armed = st.transport.release_buffer_at.is_some();
            while st.wants_input() {
                let st = &mut *st;
                if !st.transport.read(&mut read_cx, &mut st.conn) || st.pump() {
                    break;
                }
            }
            // The end of the stream or a closure (the driver finishes the transport), or a new
            // deadline to release the receive buffer (the driver arms its timer for it).
            wake_driver = !st.transport.reading
                || st.closed.is_some()
                || (!keep_alive_armed && st.transport.release_buffer_at.is_some());
        }
        let Some(incoming) = st.pop() else {
            if st.closed.is_some() {
                drop(st);
                unregister(shared, registered);
                return Poll::Ready(None);
            }
            {
                let mut wakers = shared.wakers();
                store_waker(&mut wakers.receiver, cx.waker());
                wakers.receiver_reads = reads_itself;
            }
            *registered = true;
            drop(st);
            if wake_driver {
                shared.wake_driver();
            }
            return Poll::Pending;
        };
        // Decoding may have queued a pong or a Close answer.
        let mut wakers = if st.conn.output_len() > 0 {
            st.write_now(shared)
        } else {
            Vec::new()
        };
        // A paused driver may read again; a closed connection's driver shuts the transport down;
        // received bytes now wait for the application, and the driver's timer bounds the wait.
        wake_driver |=
            (was_paused && st.wants_input()) || st.closed.is_some() || st.schedule_wait_check();
        drop(st);
        unregister(shared, registered);
        if wake_driver {
            shared.wake_driver();
        }
        wakers.drain(..).for_each(Waker::wake);
        Poll::Ready(Some(incoming))
    }
}

/// Forgets the receiver's waker, stored while it waited, now that it has its event.
fn unregister(shared: &Shared, registered: &mut bool) {
    if std::mem::take(registered) {
        shared.wakers().receiver = None;
    }
}

/// A `recv` in progress. While it waits, the socket's read waker wakes its task, which then reads
/// itself; if it is dropped while waiting, reading goes back to the driver.
struct Waiting<'a>(&'a mut Receiver);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if std::mem::take(&mut self.0.registered) {
            // Cancelled while waiting: a read wakeup may have gone to this task, so let the
            // driver look at the socket.
            let driver = {
                let mut wakers = self.0.shared.wakers();
                wakers.receiver = None;
                wakers.driver.take()
            };
            if let Some(driver) = driver {
                driver.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn receive_buffer_capacity(sender: &Sender) -> usize {
        sender.shared.lock().conn.input_buffer().capacity()
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_waiting_for_data_holds_no_receive_buffer() {
        let (a, b) = tokio::io::duplex(4 << 20);
        let client = Connection::new(a, Role::Client, ConnectionConfig::default());
        let mut server = Connection::new(b, Role::Server, ConnectionConfig::default());
        let probe = server.sender().clone();
        // Never received anything: no buffer at all.
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(receive_buffer_capacity(&probe), 0);

        // The application waits in recv, so it reads the socket itself (not the driver).
        let receiving = tokio::spawn(async move {
            let mut sizes = Vec::new();
            while let Some(Incoming::Message(message)) = server.recv().await {
                sizes.push(message.len());
                if sizes.len() == 5 {
                    break;
                }
            }
            (server, sizes)
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        for _ in 0..3 {
            client.send_binary(&[7; 100]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
            // Between messages the standard buffer is with the thread's spares, not held.
            assert_eq!(receive_buffer_capacity(&probe), 0);
        }
        let spare = read_buffers::take(ConnectionConfig::default().read_size);
        assert!(spare.is_some(), "the buffer went back to the spares");
        read_buffers::give_back(spare.unwrap(), ConnectionConfig::default().read_size);

        // A buffer grown for a large message is kept while such messages come...
        client.send_binary(&vec![1; 1 << 20]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(receive_buffer_capacity(&probe) >= 1 << 20);
        // ...and released within a second after the data stops, with the event queue.
        tokio::time::sleep(Duration::from_millis(1010)).await;
        assert_eq!(receive_buffer_capacity(&probe), 0);
        assert_eq!(probe.shared.lock().queue.capacity(), 0);
        client.send_text("still works").await.unwrap();
        let (_server, sizes) = receiving.await.unwrap();
        assert_eq!(sizes, [100, 100, 100, 1 << 20, 11]);
    }
}
