//! The task that owns the transport: it reads into the protocol's buffer, decodes events for the
//! receiver, writes what the protocol queued, and runs the timers, whether or not the application
//! is reading or sending. That is what keeps pongs, heartbeat and the closing handshake going.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::time::{Instant, Sleep};
use ws_proto::{CloseCode, State as ProtoState};

use crate::connection::shared::{store_waker, Shared, State};
use crate::Error;

/// How many read/write rounds one poll does before yielding, so one busy connection cannot
/// starve the others on the same runtime thread.
const ROUNDS_PER_POLL: usize = 32;

/// The most the receive buffer grows by ahead of data actually received.
const MAX_READ_RESERVE: usize = 4 << 20;

pub(crate) struct Driver<S> {
    io: Option<S>,
    shared: Arc<Shared>,
    /// Armed only while the protocol has a deadline, so idle connections carry no timer.
    timer: Option<Pin<Box<Sleep>>>,
    read_size: usize,
    reading: bool,
    /// The output was written since the last flush.
    needs_flush: bool,
    shutting_down: bool,
    /// Once the protocol is closed: when to give up writing the last bytes to a peer that does
    /// not read them, so a half-open socket cannot keep the task alive.
    linger_until: Option<Instant>,
    close_timeout: std::time::Duration,
}

impl<S> std::fmt::Debug for Driver<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("reading", &self.reading)
            .field("shutting_down", &self.shutting_down)
            .finish_non_exhaustive()
    }
}

impl<S> Driver<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    pub(crate) fn new(io: S, shared: Arc<Shared>, config: &crate::ConnectionConfig) -> Self {
        Driver {
            io: Some(io),
            shared,
            timer: None,
            read_size: config.read_size.max(64),
            reading: true,
            needs_flush: false,
            shutting_down: false,
            linger_until: None,
            close_timeout: config.protocol.close_timeout,
        }
    }

    /// One pass over reading, decoding, timers and writing; returns whether anything moved.
    fn step(&mut self, cx: &mut Context<'_>, st: &mut State, wake: &mut Wakeups) -> bool {
        let mut progress = false;

        // All handles are gone: close politely (1001: nobody is there any more).
        if st.senders == 0 && !st.receiver_alive && st.conn.state() == ProtoState::Open {
            let _ = st.conn.close(CloseCode::GOING_AWAY, "", now());
            progress = true;
        }

        st.read_paused = !st.wants_input();
        if self.reading && !st.read_paused && st.closed.is_none() {
            if let Some(io) = self.io.as_mut() {
                progress |= read(io, cx, st, self.read_size, &mut self.reading);
            }
        }

        if st.pump() {
            if let Some(receiver) = st.receiver_waker.take() {
                wake.receiver = Some(receiver);
            }
            progress = true;
        }

        progress |= self.poll_timer(cx, st);

        if !self.shutting_down {
            progress |= self.write(cx, st, wake);
        }
        progress
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>, st: &mut State) -> bool {
        if st.conn.state() == ProtoState::Closed && self.linger_until.is_none() {
            self.linger_until = Some(Instant::now() + self.close_timeout);
        }
        let Some(deadline) = st
            .conn
            .poll_timeout()
            .map(Instant::from_std)
            .or(self.linger_until)
        else {
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
            if self
                .linger_until
                .is_some_and(|linger| linger <= Instant::now())
            {
                // The peer never took our last bytes: give up on it.
                self.io = None;
            }
            st.conn.handle_timeout(now());
            return true;
        }
        false
    }

    fn write(&mut self, cx: &mut Context<'_>, st: &mut State, wake: &mut Wakeups) -> bool {
        let Some(io) = self.io.as_mut() else {
            return false;
        };
        let mut progress = false;
        while st.conn.output_len() > 0 {
            match Pin::new(&mut *io).poll_write(cx, st.conn.output()) {
                Poll::Ready(Ok(0)) => {
                    let error =
                        io::Error::new(io::ErrorKind::WriteZero, "the socket took no bytes");
                    self.transport_failed(st, error);
                    return true;
                }
                Poll::Ready(Ok(n)) => {
                    st.conn.consume_output(n);
                    self.needs_flush = true;
                    progress = true;
                }
                Poll::Ready(Err(error)) => {
                    self.transport_failed(st, error);
                    return true;
                }
                Poll::Pending => break,
            }
        }
        if self.needs_flush && st.conn.output_len() == 0 {
            // TLS keeps records in its own buffer until flushed; TCP's flush does nothing.
            match Pin::new(&mut *io).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.needs_flush = false,
                Poll::Ready(Err(error)) => {
                    self.transport_failed(st, error);
                    return true;
                }
                Poll::Pending => {}
            }
        }
        if progress && st.has_room() {
            wake.writers.append(&mut st.writer_wakers);
        }
        progress
    }

    /// The transport broke: stop using it, and let the protocol report the end after the bytes
    /// that did arrive.
    fn transport_failed(&mut self, st: &mut State, error: io::Error) {
        st.conn.transport_closed(error.to_string());
        if st.transport_error.is_none() {
            st.transport_error = Some(Error::Io(error));
        }
        self.reading = false;
        self.io = None;
    }

    /// The protocol is done and its output written: shut the transport down (TCP FIN, TLS
    /// close_notify). Returns `Ready` when the driver may end.
    fn poll_finish(&mut self, cx: &mut Context<'_>, st: &State) -> Poll<()> {
        let Some(io) = self.io.as_mut() else {
            // The transport is gone; the receiver decodes whatever is left in the buffer.
            return Poll::Ready(());
        };
        if st.conn.state() != ProtoState::Closed || st.conn.output_len() > 0 || self.needs_flush {
            return Poll::Pending;
        }
        self.shutting_down = true;
        if Pin::new(io).poll_shutdown(cx).is_pending() {
            return Poll::Pending;
        }
        self.io = None;
        Poll::Ready(())
    }
}

/// Reads once into the protocol's receive buffer. Returns whether anything happened.
fn read<S: AsyncRead + Unpin>(
    io: &mut S,
    cx: &mut Context<'_>,
    st: &mut State,
    read_size: usize,
    reading: &mut bool,
) -> bool {
    // Room for the rest of the frame being received (known from its header), so a large
    // message arrives in a few large reads; capped so a peer must send data to make us allocate.
    let want = read_size.max(st.conn.frame_bytes_missing().min(MAX_READ_RESERVE));
    let buffer: &mut BytesMut = st.conn.input_buffer();
    if buffer.capacity() - buffer.len() < want {
        buffer.reserve(want);
    }
    let result = {
        let read = io.read_buf(buffer);
        tokio::pin!(read);
        read.poll(cx)
    };
    match result {
        Poll::Ready(Ok(0)) => {
            *reading = false;
            st.conn
                .transport_closed("the peer closed the connection without a Close frame");
            true
        }
        Poll::Ready(Ok(_)) => true,
        Poll::Ready(Err(error)) => {
            *reading = false;
            st.conn.transport_closed(error.to_string());
            if st.transport_error.is_none() {
                st.transport_error = Some(Error::Io(error));
            }
            true
        }
        Poll::Pending => {
            // An idle connection keeps no receive buffer.
            if buffer.is_empty() && buffer.capacity() > 0 {
                *buffer = BytesMut::new();
            }
            false
        }
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

impl<S> Future for Driver<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let shared = Arc::clone(&this.shared);
        let mut wake = Wakeups::default();
        let mut st = shared.lock();
        store_waker(&mut st.driver_waker, cx.waker());
        let mut result = Poll::Pending;
        for round in 0.. {
            if round == ROUNDS_PER_POLL {
                cx.waker().wake_by_ref();
                break;
            }
            let progress = this.step(cx, &mut st, &mut wake);
            if this.poll_finish(cx, &st).is_ready() {
                result = Poll::Ready(());
                break;
            }
            if !progress {
                break;
            }
        }
        if result.is_ready() {
            st.driver_done = true;
            // A closure may still sit undecoded behind a full queue; the receiver decodes it.
            wake.receiver = wake.receiver.or_else(|| st.receiver_waker.take());
            wake.writers.append(&mut st.writer_wakers);
        }
        drop(st);
        wake.wake();
        result
    }
}
