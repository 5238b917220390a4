//! The task that keeps a connection moving: it reads into the protocol's buffer, decodes events
//! for the receiver, writes what the protocol queued, and runs the timers, whether or not the
//! application is reading or sending. That is what keeps pongs, heartbeat and the closing
//! handshake going.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tokio::time::{Instant, Sleep};
use ws_proto::{CloseCode, State as ProtoState};

use crate::connection::shared::{store_waker, Shared, State};
use crate::trace::debug;

/// How many read/write rounds one poll does before yielding, so one busy connection cannot
/// starve the others on the same runtime thread.
const ROUNDS_PER_POLL: usize = 32;

#[derive(Debug)]
pub(crate) struct Driver {
    shared: Arc<Shared>,
    /// Armed only while the protocol has a deadline, so idle connections carry no timer.
    timer: Option<Pin<Box<Sleep>>>,
    /// Once the protocol is closed: when to give up writing the last bytes to a peer that does
    /// not read them, so a half-open socket cannot keep the task alive.
    linger_until: Option<Instant>,
    close_timeout: std::time::Duration,
}

impl Driver {
    pub(crate) fn new(shared: Arc<Shared>, config: &crate::ConnectionConfig) -> Self {
        Driver {
            shared,
            timer: None,
            linger_until: None,
            close_timeout: config.protocol.close_timeout,
        }
    }

    /// One pass over reading, decoding, timers and writing; returns whether anything moved.
    fn step(&mut self, cx: &mut Context<'_>, st: &mut State, wake: &mut Wakeups) -> bool {
        let mut progress = false;

        // All handles are gone: close politely (1001: nobody is there any more).
        if self.shared.senders.load(Ordering::Acquire) == 0
            && !st.receiver_alive
            && st.conn.state() == ProtoState::Open
        {
            let _ = st.conn.close(CloseCode::GOING_AWAY, "", now());
            debug!(code = 1001, "closing: every handle was dropped");
            progress = true;
        }

        st.read_paused = !st.wants_input();
        // A receiver waiting in `recv` reads the socket itself when data arrives (it registered
        // for that when its read found nothing): a driver woken for something else (a timer,
        // room to write) would only find the socket empty, at the cost of a system call.
        if !st.read_paused && !self.shared.receiver_reads_itself() {
            let mut read_cx = Context::from_waker(&self.shared.read_waker);
            progress |= st.transport.read(&mut read_cx, &mut st.conn);
        }

        if st.pump() {
            if let Some(receiver) = self.shared.wakers().receiver.take() {
                wake.receiver = Some(receiver);
            }
            progress = true;
        }

        progress |= self.poll_timer(cx, st);

        // Decoding or a timer may have made room (a wait that ran out, a header parsed): go
        // round again to read, or nothing would wake us for it.
        if st.read_paused && st.wants_input() {
            progress = true;
        }

        if st.transport.write(cx, &mut st.conn) {
            progress = true;
            if st.has_room() {
                wake.writers.append(&mut st.writer_wakers);
            }
        }
        progress
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>, st: &mut State) -> bool {
        if st.conn.state() != ProtoState::Open && self.linger_until.is_none() {
            // Our Close frame is queued (or the connection is over): from now on the peer has
            // one close timeout to take our last bytes and answer.
            self.linger_until = Some(Instant::now() + self.close_timeout);
        }
        let deadlines = [
            st.conn.poll_timeout().map(Instant::from_std),
            self.linger_until,
            st.transport.release_buffer_at,
            st.wait_check(),
        ];
        let Some(deadline) = deadlines.into_iter().flatten().min() else {
            self.timer = None;
            return false;
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        if timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            if st.transport.release_buffer_at.is_some_and(|at| at <= now) {
                st.release_idle_memory();
            }
            st.check_wait(now);
            let before = st.conn.state();
            st.conn.handle_timeout(now.into_std());
            if before != ProtoState::Closed && st.conn.state() == ProtoState::Closed {
                // Only two deadlines end a connection: our Close frame's, and the heartbeat's.
                match before {
                    ProtoState::LocalClosing => {
                        let timeout = self.close_timeout;
                        debug!(?timeout, "close timeout: no Close frame from the peer");
                    }
                    _ => debug!("heartbeat: no pong in time, the peer is unresponsive"),
                }
            }
            if self.linger_until.is_some_and(|linger| linger <= now) {
                // The peer never took our last bytes: give up on it.
                st.transport.close();
                st.conn.transport_closed(format!(
                    "the peer did not take our Close frame within {:?}",
                    self.close_timeout
                ));
            }
            return true;
        }
        false
    }

    /// Ready when the driver may end: the transport is gone, or the protocol is closed, its
    /// output written and the transport shut down.
    fn poll_finish(&mut self, cx: &mut Context<'_>, st: &mut State) -> Poll<()> {
        if st.transport.is_gone() {
            // The receiver decodes whatever is left in the buffer.
            return Poll::Ready(());
        }
        if st.conn.state() != ProtoState::Closed || !st.transport.is_flushed(&st.conn) {
            return Poll::Pending;
        }
        st.transport.poll_shutdown(cx)
    }
}

impl Drop for Driver {
    /// The task was aborted (e.g. by a server's shutdown after its grace period): the transport
    /// is gone, and the handles must hear it, not wait forever.
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        if st.driver_done {
            return;
        }
        st.driver_done = true;
        st.transport.close();
        st.conn
            .transport_closed("the connection was dropped before its closing handshake ended");
        let mut wake = Wakeups {
            writers: std::mem::take(&mut st.writer_wakers),
            ..Wakeups::default()
        };
        let mut wakers = self.shared.wakers();
        wakers.driver = None;
        wake.receiver = wakers.receiver.take();
        drop(wakers);
        drop(st);
        wake.wake();
    }
}

fn now() -> std::time::Instant {
    // tokio's clock, so that tests with a paused clock drive the protocol's timers too.
    Instant::now().into_std()
}

/// Wakers to call once the lock is released.
#[derive(Default)]
struct Wakeups {
    receiver: Option<Waker>,
    writers: Vec<Waker>,
}

impl Wakeups {
    fn wake(self) {
        if let Some(waker) = self.receiver {
            waker.wake();
        }
        for waker in self.writers {
            waker.wake();
        }
    }
}

impl Future for Driver {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let shared = Arc::clone(&this.shared);
        let mut wake = Wakeups::default();
        let mut st = shared.lock();
        store_waker(&mut shared.wakers().driver, cx.waker());
        let mut result = Poll::Pending;
        for round in 0.. {
            if round == ROUNDS_PER_POLL {
                cx.waker().wake_by_ref();
                break;
            }
            let progress = this.step(cx, &mut st, &mut wake);
            if this.poll_finish(cx, &mut st).is_ready() {
                result = Poll::Ready(());
                break;
            }
            if !progress {
                break;
            }
        }
        if result.is_ready() {
            st.driver_done = true;
            let mut wakers = shared.wakers();
            wakers.driver = None;
            // A closure may still sit undecoded behind a full queue; the receiver decodes it.
            wake.receiver = wake.receiver.or_else(|| wakers.receiver.take());
            drop(wakers);
            wake.writers.append(&mut st.writer_wakers);
        }
        drop(st);
        wake.wake();
        result
    }
}
