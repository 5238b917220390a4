//! The socket and its I/O state. It lives in the shared state so that whoever holds the lock can
//! move bytes: the driver task, and a sender that writes its message at once instead of waking
//! the driver to do it (one task switch less per message).

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::time::Instant;

use crate::connection::read_buffers;
use crate::Error;

/// What a connection runs over, type-erased so that the handles need no type parameter.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// How long a connection keeps what it allocated for traffic (a receive buffer grown for large
/// frames, queues, the output buffer) after data last arrived: it is freed between one and two
/// of these after the traffic stops.
const KEEP_BUFFER: Duration = Duration::from_millis(500);

/// Spare buffers of a connection (ws-proto's, for output and assembly) above this size are
/// freed once it goes quiet.
const SPARE_WORTH_FREEING: usize = 1024;

/// Runs of output handed to one vectored write.
const MAX_SLICES: usize = 16;

/// The most the receive buffer grows by ahead of data actually received.
const MAX_READ_RESERVE: usize = 4 << 20;

/// The least one read may take in (when the buffer has room for it).
const MIN_READ_LIMIT: usize = 64 * 1024;

pub(crate) struct Transport {
    io: Option<Box<dyn Io>>,
    /// Reads go on until EOF or an error.
    pub(crate) reading: bool,
    /// Bytes were written since the last flush (TLS keeps records until flushed).
    needs_flush: bool,
    read_size: usize,
    /// Why the transport broke, reported just before the closure.
    pub(crate) error: Option<Error>,
    /// When to check whether the receive buffer, kept for reuse, can be released.
    pub(crate) release_buffer_at: Option<Instant>,
    /// The most the receive buffer was grown by since it was last released.
    reserved: usize,
    /// A large receive buffer that still holds a message the application has not dropped yet.
    parked: BytesMut,
    /// Data arrived since the buffer's keep-alive was last checked.
    used: bool,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("open", &self.io.is_some())
            .field("reading", &self.reading)
            .field("needs_flush", &self.needs_flush)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub(crate) fn new(io: Box<dyn Io>, read_size: usize) -> Self {
        Transport {
            io: Some(io),
            reading: true,
            needs_flush: false,
            read_size: read_size.max(64),
            error: None,
            release_buffer_at: None,
            reserved: 0,
            parked: BytesMut::new(),
            used: false,
        }
    }

    /// The socket is gone (closed by us, or broken).
    pub(crate) fn is_gone(&self) -> bool {
        self.io.is_none()
    }

    /// Output written and flushed.
    pub(crate) fn is_flushed(&self, conn: &ws_proto::Connection) -> bool {
        conn.output_len() == 0 && !self.needs_flush
    }

    /// Drops the socket (closing it).
    pub(crate) fn close(&mut self) {
        self.reading = false;
        self.io = None;
    }

    /// Reads once into the protocol's receive buffer. Returns whether anything happened.
    pub(crate) fn read(&mut self, cx: &mut Context<'_>, conn: &mut ws_proto::Connection) -> bool {
        let Some(io) = self.io.as_mut().filter(|_| self.reading) else {
            return false;
        };
        // Room for the rest of the frame being received (known from its header), so a large
        // message arrives in a few large reads; capped so a peer must send data to make us
        // allocate.
        let want = self
            .read_size
            .max(conn.frame_bytes_missing().min(MAX_READ_RESERVE));
        let buffer: &mut BytesMut = conn.input_buffer();
        if buffer.capacity() - buffer.len() < want && !buffer.try_reclaim(want) {
            if want > self.read_size && self.parked.try_reclaim(want) {
                // The application let go of the large buffer parked earlier: continue the frame
                // in it (moving the few bytes received so far) instead of allocating.
                self.parked.extend_from_slice(buffer);
                *buffer = std::mem::take(&mut self.parked);
            } else {
                if buffer.is_empty() && self.reserved > self.read_size {
                    // The application still holds a message in this large buffer: park it, to
                    // take it back once the message is dropped.
                    self.parked = std::mem::take(buffer);
                }
                if buffer.is_empty() && want <= self.read_size {
                    if let Some(spare) = read_buffers::take(want) {
                        *buffer = spare;
                    }
                }
                if buffer.capacity() - buffer.len() < want {
                    buffer.reserve(want);
                }
                // A buffer's capacity hides how large its allocation is once messages have been
                // split off it, so remember the size asked for.
                self.reserved = self.reserved.max(want);
            }
        }
        let result = {
            // A buffer grown for an earlier large message must not let one read take in more
            // than the receive bounds allow; a small read_size must not split small frames.
            let mut limited = bytes::BufMut::limit(&mut *buffer, want.max(MIN_READ_LIMIT));
            let read = io.read_buf(&mut limited);
            tokio::pin!(read);
            read.poll(cx)
        };
        match result {
            Poll::Ready(Ok(0)) => {
                self.reading = false;
                conn.transport_closed("the peer closed the connection without a Close frame");
                true
            }
            Poll::Ready(Ok(_)) => {
                self.used = true;
                true
            }
            Poll::Ready(Err(error)) => {
                self.reading = false;
                self.record(conn, error);
                true
            }
            Poll::Pending => {
                // A connection waiting for data keeps no receive buffer of the standard size: it
                // goes back to the thread's spares, for the next read of any connection. One
                // grown for large frames is kept until the connection has been quiet for
                // `KEEP_BUFFER`, so that a stream of large messages does not allocate (and
                // page-fault) a fresh one each time. The same check frees the other buffers
                // kept for reuse, if they hold much: connections that exchange small messages
                // now and then arm no timer for it.
                if buffer.is_empty() {
                    if self.reserved <= self.read_size {
                        read_buffers::give_back(std::mem::take(buffer), self.read_size);
                        self.reserved = 0;
                    }
                    let worth_freeing = self.reserved > self.read_size
                        || conn.spare_capacity() > SPARE_WORTH_FREEING;
                    if self.used && worth_freeing && self.release_buffer_at.is_none() {
                        self.release_buffer_at = Some(Instant::now() + KEEP_BUFFER);
                    }
                }
                false
            }
        }
    }

    /// Writes what the protocol queued, then flushes. Returns whether any byte moved (or the
    /// transport failed).
    pub(crate) fn write(&mut self, cx: &mut Context<'_>, conn: &mut ws_proto::Connection) -> bool {
        let Some(io) = self.io.as_mut() else {
            return false;
        };
        let mut progress = false;
        while conn.output_len() > 0 {
            let written = if io.is_write_vectored() && conn.output().len() < conn.output_len() {
                // Headers and large payloads queued without a copy go out in one call.
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let n = conn.output_vectored(&mut slices);
                Pin::new(&mut **io).poll_write_vectored(cx, &slices[..n])
            } else {
                // One run: a plain write, which for TCP is send(2), cheaper than writev(2).
                Pin::new(&mut **io).poll_write(cx, conn.output())
            };
            match written {
                Poll::Ready(Ok(0)) => {
                    let error =
                        io::Error::new(io::ErrorKind::WriteZero, "the socket took no bytes");
                    self.fail(conn, error);
                    return true;
                }
                Poll::Ready(Ok(n)) => {
                    conn.consume_output(n);
                    self.needs_flush = true;
                    progress = true;
                }
                Poll::Ready(Err(error)) => {
                    self.fail(conn, error);
                    return true;
                }
                Poll::Pending => return progress,
            }
        }
        if self.needs_flush {
            match Pin::new(&mut **io).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.needs_flush = false,
                Poll::Ready(Err(error)) => {
                    self.fail(conn, error);
                    return true;
                }
                Poll::Pending => {}
            }
        }
        progress
    }

    /// The keep-alive of the receive buffer expired: release it if no data came meanwhile, and
    /// return `true` (the connection is quiet); else keep it for another period.
    pub(crate) fn release_buffer(&mut self, conn: &mut ws_proto::Connection) -> bool {
        if std::mem::take(&mut self.used) {
            self.release_buffer_at = Some(Instant::now() + KEEP_BUFFER);
            return false;
        }
        self.release_buffer_at = None;
        self.parked = BytesMut::new();
        if conn.pending_input() == 0 {
            *conn.input_buffer() = BytesMut::new();
            self.reserved = 0;
        }
        true
    }

    /// Shuts the sending side down (TCP FIN, TLS close_notify), then drops the socket.
    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(io) = self.io.as_mut() {
            if Pin::new(&mut **io).poll_shutdown(cx).is_pending() {
                return Poll::Pending;
            }
        }
        self.close();
        Poll::Ready(())
    }

    /// The transport broke: stop using it, and let the protocol report the end after the bytes
    /// that did arrive.
    fn fail(&mut self, conn: &mut ws_proto::Connection, error: io::Error) {
        self.record(conn, error);
        self.close();
    }

    fn record(&mut self, conn: &mut ws_proto::Connection, error: io::Error) {
        conn.transport_closed(error.to_string());
        if self.error.is_none() {
            self.error = Some(Error::Io(error));
        }
    }
}
