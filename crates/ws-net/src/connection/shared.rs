//! The state that the connection's handles and its driver task share.
//!
//! One mutex guards it, and it is held only for in-memory work and non-blocking polls, never
//! across an `.await`: a sender encoding a message and the driver reading from the socket each
//! hold it for microseconds, so neither half waits on the other's I/O. The tasks' wakers sit
//! behind a second, smaller mutex, so that the socket's read waker can choose whom to wake even
//! while the state is locked.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Wake, Waker};
use std::time::Duration;

use tokio::time::Instant;

use ws_proto::{CloseCode, CloseStatus, Event};

use crate::connection::transport::Transport;
use crate::connection::Incoming;
use crate::Error;

/// How long an ending (a protocol violation, the peer's Close frame) waits at most for the
/// application to take the messages before it, and answer them, before ws-proto acts on it.
const ENDING_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// The tasks to wake, apart from the state: the socket's read waker needs them, and it may
    /// fire while the state is locked (tokio's cooperative budget wakes the polling task from
    /// inside a read). Never held while taking another lock, doing I/O or waking.
    wakers: Mutex<Wakers>,
    /// Registered with the socket for reads by whoever reads: wakes the receiver if it is
    /// waiting in `recv` (it then reads itself, with no hop through the driver), else the driver.
    pub(crate) read_waker: Waker,
}

#[derive(Debug, Default)]
pub(crate) struct Wakers {
    pub(crate) driver: Option<Waker>,
    pub(crate) receiver: Option<Waker>,
}

impl Shared {
    pub(crate) fn new(state: State) -> Arc<Self> {
        Arc::new_cyclic(|shared| Shared {
            state: Mutex::new(state),
            wakers: Mutex::default(),
            read_waker: Waker::from(Arc::new(ReadWake(shared.clone()))),
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
            wakers.receiver.take().or_else(|| wakers.driver.take())
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
    /// Payload bytes in `queue`.
    pub(crate) queued_bytes: usize,
    pub(crate) receive_queue_limit: usize,
    pub(crate) write_buffer_limit: usize,
    /// An `Incoming::Error` was queued: the closure needs no other explanation.
    pub(crate) error_reported: bool,
    /// An ending (a protocol violation, or the peer's Close frame) is queued behind messages the
    /// application has not taken: ws-proto acts on it (the Close frame goes out) once the
    /// application takes it, so that its answers to those messages go out first, but no later
    /// than this: an application that never reads must not leave the peer waiting.
    pub(crate) ending_held_until: Option<Instant>,
    /// How the connection ended, once `Event::Closed` was decoded.
    pub(crate) closed: Option<CloseStatus>,
    /// The driver has finished: the transport is gone.
    pub(crate) driver_done: bool,
    /// The driver stopped reading because the queue is full; popping should wake it.
    pub(crate) read_paused: bool,
    /// Whether a receiver exists; without one, decoded messages are dropped.
    pub(crate) receiver_alive: bool,
    /// Sender handles alive (clones included).
    pub(crate) senders: usize,
    /// Senders waiting for room in the write buffer, and flushes waiting for it to drain.
    pub(crate) writer_wakers: Vec<Waker>,
}

impl State {
    pub(crate) fn new(
        conn: ws_proto::Connection,
        transport: Transport,
        config: &crate::ConnectionConfig,
    ) -> Self {
        State {
            conn,
            transport,
            queue: VecDeque::new(),
            queued_bytes: 0,
            receive_queue_limit: config.receive_queue_limit,
            write_buffer_limit: config.write_buffer_limit.max(1),
            error_reported: false,
            ending_held_until: None,
            closed: None,
            driver_done: false,
            read_paused: false,
            receiver_alive: true,
            senders: 1,
            writer_wakers: Vec::new(),
        }
    }

    /// Room for more received events: reading goes on while this holds.
    pub(crate) fn wants_input(&self) -> bool {
        self.queue.is_empty() || self.queued_bytes < self.receive_queue_limit
    }

    /// Whether a sender may queue another message now.
    pub(crate) fn has_room(&self) -> bool {
        self.conn.output_len() < self.write_buffer_limit
    }

    /// Decodes received bytes into queued events while there is room. Returns whether any event
    /// was queued.
    pub(crate) fn pump(&mut self) -> bool {
        let mut queued = false;
        while self.wants_input() && self.closed.is_none() && self.ending_held_until.is_none() {
            let Some(event) = self.conn.next_event() else {
                break;
            };
            let failure = matches!(event, Event::Error(_));
            queued |= self.push(event);
            if failure {
                self.hold_ending();
            }
        }
        queued
    }

    fn push(&mut self, event: Event) -> bool {
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
                // Only the peer's Close frame leaves an answer to send.
                let answer_due = status.clean && !status.locally_initiated;
                self.closed = Some(status.clone());
                self.enqueue(Incoming::Closed(status));
                if answer_due {
                    self.hold_ending();
                }
                return true;
            }
        };
        if !self.receiver_alive {
            return false;
        }
        self.enqueue(incoming);
        true
    }

    fn enqueue(&mut self, incoming: Incoming) {
        if self.receiver_alive {
            self.queued_bytes += incoming.payload_len();
            self.queue.push_back(incoming);
        }
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

    /// The ending just queued waits while messages before it wait for the application.
    fn hold_ending(&mut self) {
        let answerable = self.receiver_alive
            && self
                .queue
                .iter()
                .any(|i| matches!(i, Incoming::Message(_) | Incoming::Chunk(_)));
        if answerable {
            self.ending_held_until = Some(Instant::now() + ENDING_GRACE);
        } else {
            self.release_ending();
        }
    }

    /// Lets ws-proto act on the ending: after a violation, decoding resumes (and fails the
    /// connection); after the peer's Close frame, the call after the closure queues the answer.
    pub(crate) fn release_ending(&mut self) {
        self.ending_held_until = None;
        if self.closed.is_some() {
            let _ = self.conn.next_event();
        }
    }

    pub(crate) fn pop(&mut self) -> Option<Incoming> {
        let incoming = self.queue.pop_front()?;
        if matches!(incoming, Incoming::Error(_) | Incoming::Closed(_))
            && self.ending_held_until.is_some()
        {
            // The application has everything before the ending: the Close frame goes out now
            // (the caller writes what this queued).
            self.release_ending();
            self.pump();
        }
        self.queued_bytes -= incoming.payload_len();
        Some(incoming)
    }
}

/// Stores `waker` in `slot` unless the one there already wakes the same task.
pub(crate) fn store_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(existing) if existing.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}
