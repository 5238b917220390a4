//! The state that the connection's handles and its driver task share.
//!
//! One mutex guards it, and it is held only for in-memory work and non-blocking polls, never
//! across an `.await`: a sender encoding a message and the driver reading from the socket each
//! hold it for microseconds, so neither half waits on the other's I/O. The tasks' wakers sit
//! behind a second, smaller mutex, so that the socket's read waker can choose whom to wake even
//! while the state is locked.

use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Wake, Waker};
use std::time::Duration;

use tokio::time::Instant;
use ws_proto::{CloseCode, CloseStatus, Event, State as ProtoState};

use crate::connection::transport::Transport;
use crate::connection::Incoming;
use crate::trace::{debug, info, trace_in, Span};
use crate::Error;

/// What a queued event costs on top of its payload, so that a flood of empty pings or pongs
/// fills the receive queue too.
const EVENT_OVERHEAD: usize = 64;

/// How long decoding waits for the application to come back for the next event (counted from
/// when the driver first sees the wait, so up to twice this from the event itself). An
/// application that holds its receiver and stops reading must not leave a peer's Close frame
/// (or pongs) undecoded: past this, decoding goes on into the queue, and the Close frame is
/// answered even if the application's answers to earlier messages come too late.
const DECODE_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// The tasks to wake, apart from the state: the socket's read waker needs them, and it may
    /// fire while the state is locked (tokio's cooperative budget wakes the polling task from
    /// inside a read). Never held while taking another lock, doing I/O or waking.
    wakers: Mutex<Wakers>,
    /// Registered with the socket for reads by whoever reads: wakes the receiver if it is
    /// waiting in `recv` (it then reads itself, with no hop through the driver), else the driver
    /// (see [`Wakers::receiver_reads`]).
    pub(crate) read_waker: Waker,
    /// Sender handles alive (clones included). Outside the state's mutex, so that cloning and
    /// dropping a sender (once per message in some applications) costs an atomic operation
    /// rather than a lock round trip.
    pub(crate) senders: AtomicUsize,
}

#[derive(Debug, Default)]
pub(crate) struct Wakers {
    pub(crate) driver: Option<Waker>,
    pub(crate) receiver: Option<Waker>,
    /// The receiver reads the socket itself when woken (it waits in `recv`), so the socket's
    /// read waker wakes it rather than the driver. A receiver polled by hand (`poll_recv`, the
    /// `Stream`) may never be polled again, so its read wakeups go to the driver instead.
    pub(crate) receiver_reads: bool,
}

impl Shared {
    pub(crate) fn new(state: State) -> Arc<Self> {
        Arc::new_cyclic(|shared| Shared {
            state: Mutex::new(state),
            wakers: Mutex::default(),
            read_waker: Waker::from(Arc::new(ReadWake(shared.clone()))),
            senders: AtomicUsize::new(1),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the state consistent enough to close.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn wakers(&self) -> MutexGuard<'_, Wakers> {
        self.wakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a receiver waits in `recv`, which reads the socket itself when woken.
    pub(crate) fn receiver_reads_itself(&self) -> bool {
        let wakers = self.wakers();
        wakers.receiver_reads && wakers.receiver.is_some()
    }

    /// Wakes the driver task (it stores its waker again when it runs).
    pub(crate) fn wake_driver(&self) {
        let driver = self.wakers().driver.take();
        if let Some(driver) = driver {
            driver.wake();
        }
    }
}

/// The socket's read waker; see [`Shared::read_waker`].
struct ReadWake(Weak<Shared>);

impl Wake for ReadWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let Some(shared) = self.0.upgrade() else {
            return;
        };
        let waker = {
            let mut wakers = shared.wakers();
            let receiver = if wakers.receiver_reads {
                wakers.receiver.take()
            } else {
                None
            };
            receiver.or_else(|| wakers.driver.take())
        };
        // Neither: the driver was woken already and will read.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) conn: ws_proto::Connection,
    pub(crate) transport: Transport,
    /// Decoded events waiting for the receiver.
    pub(crate) queue: VecDeque<Incoming>,
    /// What `queue` holds, in bytes: payloads plus a fixed cost per event.
    pub(crate) queued_bytes: usize,
    /// Messages (or chunks) in `queue`.
    queued_messages: usize,
    /// A message was handed to the application, which has not asked for the next event since.
    /// Nothing more is decoded meanwhile (for [`DECODE_WAIT`] at most): what follows may be the
    /// peer's Close frame or a violation, and the application's answer to that message must go
    /// out before ours.
    message_outstanding: bool,
    /// Whether decoding waits for the application, and since when.
    wait: DecodeWait,
    /// When the driver's timer next looks at the wait. Kept until it fires, even when the wait
    /// ended meanwhile, so that the many short waits of steady traffic need not wake the driver.
    wait_check_at: Option<Instant>,
    pub(crate) receive_queue_limit: usize,
    pub(crate) write_buffer_limit: usize,
    /// An `Incoming::Error` was queued: the closure needs no other explanation.
    error_reported: bool,
    /// How the connection ended, once `Incoming::Closed` was queued.
    pub(crate) closed: Option<CloseStatus>,
    /// The driver has finished: the transport is gone.
    pub(crate) driver_done: bool,
    /// The driver stopped reading (see `wants_input`); whoever makes room should wake it.
    pub(crate) read_paused: bool,
    /// Whether a receiver exists; without one, decoded messages are dropped.
    pub(crate) receiver_alive: bool,
    /// The connection's span: its driver task runs in it, and what the handles' tasks log about
    /// the connection goes in it too.
    pub(crate) span: Span,
    /// Senders waiting for room in the write buffer, and flushes waiting for it to drain.
    pub(crate) writer_wakers: Vec<Waker>,
}

impl State {
    pub(crate) fn new(
        conn: ws_proto::Connection,
        transport: Transport,
        config: &crate::ConnectionConfig,
        span: Span,
    ) -> Self {
        State {
            conn,
            transport,
            queue: VecDeque::new(),
            queued_bytes: 0,
            queued_messages: 0,
            message_outstanding: false,
            wait: DecodeWait::No,
            wait_check_at: None,
            // Zero would stop reading for good; one byte still lets one event through.
            receive_queue_limit: config.receive_queue_limit.max(1),
            write_buffer_limit: config.write_buffer_limit.max(1),
            error_reported: false,
            closed: None,
            driver_done: false,
            read_paused: false,
            receiver_alive: true,
            writer_wakers: Vec::new(),
            span,
        }
    }

    /// Whether decoding waits for the application: it holds a message, or has one queued, and
    /// the wait has not run out.
    fn decoding_waits(&self) -> bool {
        match self.wait {
            DecodeWait::Started => true,
            DecodeWait::Since(since) => since.elapsed() < DECODE_WAIT,
            DecodeWait::No | DecodeWait::RanOut => false,
        }
    }

    /// For the driver's timer: when to look at the wait for the application next. A wait the
    /// driver sees for the first time is stamped with the driver's clock (the handles' hot
    /// path reads none).
    pub(crate) fn wait_check(&mut self) -> Option<Instant> {
        if let DecodeWait::Started = self.wait {
            self.wait = DecodeWait::Since(Instant::now());
        }
        if let (None, DecodeWait::Since(since)) = (self.wait_check_at, self.wait) {
            self.wait_check_at = Some(since + DECODE_WAIT);
        }
        self.wait_check_at
    }

    /// Called when a message was handed out: if no check of the wait is due yet, schedules one
    /// and returns `true`, and the driver must be woken to arm its timer for it. An
    /// application that never comes back must not leave what arrives meanwhile (a Close frame
    /// perhaps, already buffered or still in the socket) unread and undecoded. With a check
    /// due, nothing is done: steady traffic reads the clock and wakes the driver about once a
    /// second at most.
    pub(crate) fn schedule_wait_check(&mut self) -> bool {
        if !matches!(self.wait, DecodeWait::Started) || self.wait_check_at.is_some() {
            return false;
        }
        let now = Instant::now();
        self.wait = DecodeWait::Since(now);
        self.wait_check_at = Some(now + DECODE_WAIT);
        true
    }

    /// The driver's timer fired: a wait that ran out lets decoding go on until the application
    /// comes back; a wait still running is looked at again when it runs out.
    pub(crate) fn check_wait(&mut self, now: Instant) {
        if self.wait_check_at.is_none_or(|at| at > now) {
            return;
        }
        self.wait_check_at = None;
        if let DecodeWait::Since(since) = self.wait {
            if since + DECODE_WAIT <= now {
                self.wait = DecodeWait::RanOut;
            } else {
                self.wait_check_at = Some(since + DECODE_WAIT);
            }
        }
    }

    /// Starts or ends the wait as the application holds messages or not.
    fn update_wait(&mut self) {
        let holds = self.message_outstanding || self.queued_messages > 0;
        match (holds, self.wait) {
            (false, _) => self.wait = DecodeWait::No,
            (true, DecodeWait::No) => self.wait = DecodeWait::Started,
            (true, _) => {}
        }
    }

    /// Whether to read more from the socket: while the events waiting for the application and
    /// the bytes not decoded yet stay under `receive_queue_limit`, and beyond it only to
    /// complete a frame that is being decoded (it may grow to the receive limits).
    ///
    /// Reading goes on while our output waits for the peer: what reading adds to it is bounded
    /// (ws-proto holds back pongs, senders wait for room), and stopping would deadlock two peers
    /// that both send more than the socket buffers hold before they read.
    pub(crate) fn wants_input(&self) -> bool {
        if self.closed.is_some() || self.queued_bytes >= self.receive_queue_limit {
            return false;
        }
        self.queued_bytes + self.conn.pending_input() < self.receive_queue_limit
            || (!self.decoding_waits() && self.conn.needs_input())
    }

    /// Whether a sender may queue another message now.
    pub(crate) fn has_room(&self) -> bool {
        self.conn.output_len() < self.write_buffer_limit
    }

    /// The application is back for the next event: decoding may go on.
    pub(crate) fn receiver_returned(&mut self) {
        self.message_outstanding = false;
        // Any wait ends here; the messages still queued, if any, are waited for anew.
        self.wait = DecodeWait::No;
        self.update_wait();
    }

    /// Decodes received bytes into queued events while there is room and decoding need not
    /// wait for the application. Returns whether any event was queued.
    pub(crate) fn pump(&mut self) -> bool {
        let mut queued = false;
        while self.closed.is_none()
            && !self.decoding_waits()
            && self.queued_bytes < self.receive_queue_limit
        {
            let Some(event) = self.conn.next_event() else {
                break;
            };
            queued |= self.push(event);
            if matches!(
                self.conn.state(),
                ProtoState::RemoteClosing | ProtoState::Failing
            ) {
                // The application has handled every message before the ending (decoding
                // waited for it), so our Close frame goes out now.
                self.conn.finish_closing();
            }
        }
        queued
    }

    fn push(&mut self, event: Event) -> bool {
        self.log(&event);
        let incoming = match event {
            Event::Message(message) => Incoming::Message(message),
            Event::Chunk(chunk) => Incoming::Chunk(chunk),
            Event::Ping(payload) => Incoming::Ping(payload),
            Event::Pong(payload) => Incoming::Pong(payload),
            Event::Error(error) => {
                self.error_reported = true;
                Incoming::Error(Error::Protocol(error))
            }
            Event::Closed(status) => {
                // Every abnormal closure comes with an error that says what happened.
                if status.code == CloseCode::ABNORMAL && !self.error_reported {
                    let error = self
                        .transport
                        .error
                        .take()
                        .unwrap_or_else(|| Error::ConnectionLost(status.reason.clone()));
                    self.error_reported = true;
                    self.enqueue(Incoming::Error(error));
                }
                self.closed = Some(status.clone());
                self.enqueue(Incoming::Closed(status));
                return true;
            }
        };
        if !self.receiver_alive {
            return false;
        }
        self.enqueue(incoming);
        true
    }

    /// Logs a decoded event in the connection's span: violations and the closure at debug (a
    /// peer can cause any number of them), a message over the size limits at info, every other
    /// event at trace.
    fn log(&self, event: &Event) {
        match event {
            Event::Message(message) => trace_in!(
                self.span,
                kind = ?message.kind(),
                len = message.as_bytes().len(),
                "message received"
            ),
            Event::Chunk(chunk) => trace_in!(
                self.span,
                len = chunk.data.len(),
                last = chunk.message_finished,
                "message chunk received"
            ),
            Event::Ping(payload) => trace_in!(self.span, len = payload.len(), "ping received"),
            Event::Pong(payload) => trace_in!(self.span, len = payload.len(), "pong received"),
            Event::Error(error) => {
                let close_code = error.close_code().as_u16();
                self.span.in_scope(|| {
                    if close_code == CloseCode::MESSAGE_TOO_BIG.as_u16() {
                        info!(%error, close_code, "limit hit: failing the connection");
                    } else {
                        debug!(%error, close_code, "protocol violation: failing the connection");
                    }
                });
            }
            Event::Closed(status) => self.span.in_scope(|| {
                debug!(
                    code = status.code.as_u16(),
                    reason = %status.reason,
                    clean = status.clean,
                    initiated_by = %if status.locally_initiated { "us" } else { "peer" },
                    "closed"
                );
            }),
        }
    }

    fn enqueue(&mut self, incoming: Incoming) {
        if self.receiver_alive {
            self.queued_bytes += incoming.payload_len() + EVENT_OVERHEAD;
            if matches!(incoming, Incoming::Message(_) | Incoming::Chunk(_)) {
                self.queued_messages += 1;
                self.update_wait();
            }
            if self.queue.capacity() == 0 {
                // Most connections hold one event at a time: room for one, not the default
                // four, until more are queued at once.
                self.queue.reserve_exact(1);
            }
            self.queue.push_back(incoming);
        }
    }

    /// The receiver is gone: drop what waits for it, and decode on without waiting.
    pub(crate) fn receiver_dropped(&mut self) {
        self.receiver_alive = false;
        self.queue.clear();
        self.queued_bytes = 0;
        self.queued_messages = 0;
        self.message_outstanding = false;
        self.wait = DecodeWait::No;
    }

    /// Writes the output at once, from a handle's task, registering the driver's waker with the
    /// socket so that the driver, not the handle, hears when the socket can take more. Returns
    /// the wakers to call: the driver's if the transport broke, waiting writers' if room freed.
    pub(crate) fn write_now(&mut self, shared: &Shared) -> Vec<Waker> {
        let Some(driver) = shared.wakers().driver.clone() else {
            // The driver is already scheduled (whoever took its waker woke it); it will write.
            return Vec::new();
        };
        let mut cx = std::task::Context::from_waker(&driver);
        if !self.transport.write(&mut cx, &mut self.conn) {
            return Vec::new();
        }
        let mut wake = Vec::new();
        if self.transport.is_gone() {
            wake.push(driver);
        }
        if self.has_room() {
            wake.append(&mut self.writer_wakers);
        }
        wake
    }

    /// After traffic, once the connection has been quiet for a moment: frees the buffers and
    /// queues it kept for reuse, so that a connection that goes idle costs what one that never
    /// had traffic does.
    pub(crate) fn release_idle_memory(&mut self) {
        if !self.transport.release_buffer(&mut self.conn) {
            return;
        }
        self.conn.release_spare_buffers();
        if self.queue.is_empty() {
            self.queue = VecDeque::new();
        }
    }

    pub(crate) fn pop(&mut self) -> Option<Incoming> {
        let incoming = self.queue.pop_front()?;
        self.queued_bytes -= incoming.payload_len() + EVENT_OVERHEAD;
        if matches!(incoming, Incoming::Message(_) | Incoming::Chunk(_)) {
            self.queued_messages -= 1;
            self.message_outstanding = true;
            self.update_wait();
        }
        Some(incoming)
    }
}

/// Whether decoding waits for the application to come back for the next event.
#[derive(Debug, Clone, Copy)]
enum DecodeWait {
    /// The application holds no message: decode freely.
    No,
    /// It holds one; the driver has not stamped the wait yet.
    Started,
    /// It holds one since then (as the driver first saw it): wait, for [`DECODE_WAIT`] at most.
    Since(Instant),
    /// It has held one for too long: decode on until it comes back.
    RanOut,
}

/// Stores `waker` in `slot` unless the one there already wakes the same task.
pub(crate) fn store_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(existing) if existing.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}
