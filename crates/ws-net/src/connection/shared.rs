//! The state that the connection's handles and its driver task share.
//!
//! One mutex guards it, and it is held only for in-memory work and non-blocking polls, never
//! across an `.await`: a sender encoding a message and the driver reading from the socket each
//! hold it for microseconds, so neither half waits on the other's I/O.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;

use ws_proto::{CloseCode, CloseStatus, Event};

use crate::connection::Incoming;
use crate::Error;

#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    pub(crate) fn new(state: State) -> Self {
        Shared {
            state: Mutex::new(state),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the state consistent enough to close.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) conn: ws_proto::Connection,
    /// Decoded events waiting for the receiver.
    pub(crate) queue: VecDeque<Incoming>,
    /// Payload bytes in `queue`.
    pub(crate) queued_bytes: usize,
    pub(crate) receive_queue_limit: usize,
    pub(crate) write_buffer_limit: usize,
    /// The failure that ended the transport, reported just before the closure.
    pub(crate) transport_error: Option<Error>,
    /// An `Incoming::Error` was queued: the closure needs no other explanation.
    pub(crate) error_reported: bool,
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
    pub(crate) driver_waker: Option<Waker>,
    pub(crate) receiver_waker: Option<Waker>,
    /// Senders waiting for room in the write buffer, and flushes waiting for it to drain.
    pub(crate) writer_wakers: Vec<Waker>,
}

impl State {
    pub(crate) fn new(conn: ws_proto::Connection, config: &crate::ConnectionConfig) -> Self {
        State {
            conn,
            queue: VecDeque::new(),
            queued_bytes: 0,
            receive_queue_limit: config.receive_queue_limit,
            write_buffer_limit: config.write_buffer_limit.max(1),
            transport_error: None,
            error_reported: false,
            closed: None,
            driver_done: false,
            read_paused: false,
            receiver_alive: true,
            senders: 1,
            driver_waker: None,
            receiver_waker: None,
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
        while self.wants_input() && self.closed.is_none() {
            let Some(event) = self.conn.next_event() else {
                break;
            };
            queued |= self.push(event);
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
                        .transport_error
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

    fn enqueue(&mut self, incoming: Incoming) {
        if self.receiver_alive {
            self.queued_bytes += incoming.payload_len();
            self.queue.push_back(incoming);
        }
    }

    pub(crate) fn pop(&mut self) -> Option<Incoming> {
        let incoming = self.queue.pop_front()?;
        self.queued_bytes -= incoming.payload_len();
        Some(incoming)
    }
}

/// Wakes a stored waker unless it is already the current one's.
pub(crate) fn store_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(existing) if existing.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}
