//! WebSocket over HTTP/2 (RFC 8441), client side: feature `http2`.
//!
//! [`ClientConfig::http2`](crate::client::ClientConfig::http2) chooses when
//! [`connect`](crate::client::connect) tries it ([`Http2`]). Over HTTP/2 the opening handshake is
//! an extended CONNECT (`:method CONNECT`, `:protocol websocket`) on a new stream of an HTTP/2
//! connection, answered with 200, after which the WebSocket frames travel in that stream's DATA
//! frames. A server announces that it accepts such requests with the
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL` setting; the client waits for the server's settings and
//! falls back to HTTP/1.1 on a new connection when it is absent.
//!
//! The HTTP/2 connection carries this one WebSocket: it is closed when the WebSocket ends, by a
//! background task that sends GOAWAY (and, over TLS, close_notify) just after the connection
//! reports [`Incoming::Closed`](crate::Incoming::Closed); a program that exits at that very
//! moment may cut this short, which some servers log as an unclean disconnect.
//! [`H2Stream`] turns one HTTP/2 stream into an `AsyncRead + AsyncWrite`, so that a
//! [`Connection`] runs over it; it serves servers built on the `h2` crate as well.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf as _, Bytes};
use h2::{RecvStream, SendStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ws_proto::handshake::{ClientRequest, ExtendedConnect, Headers, Response};
use ws_proto::Role;

#[cfg(feature = "tls")]
use crate::client::tls_connect;
use crate::client::{bounded, connect_http1, open_tcp, ClientConfig};
#[cfg(feature = "tls")]
use crate::handshake::client_handshake;
use crate::handshake::with_deflate;
#[cfg(feature = "tls")]
use crate::tls::Peer;
use crate::trace::debug;
use crate::{Connection, Error};

/// The ALPN protocol identifier of HTTP/2 over TLS (RFC 9113 §3.2).
#[cfg(feature = "tls")]
const ALPN_H2: &[u8] = b"h2";
/// The ALPN protocol identifier of HTTP/1.1.
#[cfg(feature = "tls")]
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// How much the server may send on the stream, and on the connection, before the client has
/// read it: what an HTTP/2 connection buffers at most for the application.
const RECEIVE_WINDOW: u32 = 256 * 1024;

/// The most data written to a stream that h2 keeps until the peer's window lets it out.
const SEND_BUFFER: usize = 256 * 1024;

/// The most one write asks the HTTP/2 layer to take in (and to buffer until the peer's flow
/// control window lets it out).
const MAX_WRITE: usize = 64 * 1024;

/// When [`connect`](crate::client::connect) speaks WebSocket over HTTP/2 (RFC 8441).
///
/// | mode | `wss://` | `ws://` |
/// | --- | --- | --- |
/// | [`Off`](Self::Off) (default) | HTTP/1.1 (ALPN `http/1.1`) | HTTP/1.1 |
/// | [`Prefer`](Self::Prefer) | ALPN offers `h2` and `http/1.1`; HTTP/2 when the server picks `h2` and enables extended CONNECT, else HTTP/1.1 | HTTP/1.1 |
/// | [`PriorKnowledge`](Self::PriorKnowledge) | as `Prefer` | HTTP/2 in cleartext from the first byte ("prior knowledge", RFC 9113 §3.3); HTTP/1.1 when the server does not enable extended CONNECT |
///
/// The fallback to HTTP/1.1 opens a new connection, with fresh connect and handshake timeouts.
/// A server that speaks no HTTP/2 at all fails a `PriorKnowledge` connection over `ws://`
/// instead ([`Error::Io`]). Through an HTTP CONNECT proxy, HTTP/2 runs inside the tunnel like
/// TLS does. Which version was used is in
/// [`Response::version`](ws_proto::handshake::Response::version).
///
/// ```
/// use ws_net::client::ClientConfig;
/// use ws_net::http2::Http2;
///
/// let config = ClientConfig::default().http2(Http2::Prefer);
/// assert_eq!(config.http2, Http2::Prefer);
/// assert_eq!(ClientConfig::default().http2, Http2::Off);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Http2 {
    /// HTTP/1.1 only, as without the feature.
    #[default]
    Off,
    /// HTTP/2 over `wss://` when the server supports WebSocket over it, HTTP/1.1 otherwise;
    /// `ws://` uses HTTP/1.1.
    Prefer,
    /// Like [`Prefer`](Self::Prefer), and `ws://` starts HTTP/2 in cleartext directly: for
    /// servers known to speak it.
    PriorKnowledge,
}

/// Connects as `config.http2` says; `request` is `config`'s request for the URL.
pub(crate) async fn connect(
    request: &ClientRequest,
    config: &ClientConfig,
) -> Result<(Connection, Response), Error> {
    let target = request.url();
    let attempt = match (config.http2, target.secure()) {
        (Http2::Off, _) | (Http2::Prefer, false) => None,
        // Without TLS, the HTTP/1.1 path refuses `wss://` with `Error::FeatureDisabled`.
        #[cfg(not(feature = "tls"))]
        (Http2::Prefer | Http2::PriorKnowledge, true) => None,
        #[cfg(feature = "tls")]
        (Http2::Prefer | Http2::PriorKnowledge, true) => {
            let tls = config.tls.build()?.with_alpn(&[ALPN_H2, ALPN_HTTP11]);
            let mut opened = open_tcp(target, config).await?;
            let (span, deadline) = (opened.span.clone(), opened.deadline);
            let attempt = async move {
                opened.tunnel(target).await?;
                let stream = tls_connect(&tls, target, opened.tcp).await?;
                if stream.get_ref().1.alpn_protocol() == Some(ALPN_H2) {
                    debug!("HTTP/2: the server chose h2 in ALPN");
                    over_h2(stream, request, config)
                        .await
                        .map_err(|e| e.over_tls(Peer::Server))
                } else {
                    client_handshake(stream, request, config.connection.clone())
                        .await
                        .map(Some)
                        .map_err(|e| e.over_tls(Peer::Server))
                }
            };
            Some(bounded(deadline, span, config, attempt).await?)
        }
        (Http2::PriorKnowledge, false) => {
            let mut opened = open_tcp(target, config).await?;
            let (span, deadline) = (opened.span.clone(), opened.deadline);
            let attempt = async move {
                opened.tunnel(target).await?;
                over_h2(opened.tcp, request, config).await
            };
            Some(bounded(deadline, span, config, attempt).await?)
        }
    };
    match attempt.flatten() {
        Some(done) => Ok(done),
        None => {
            debug!(
                "HTTP/2: the server does not enable extended CONNECT; HTTP/1.1 on a new connection"
            );
            connect_http1(request, config).await
        }
    }
}

/// Runs HTTP/2 over `io` and the RFC 8441 handshake on a new stream. `Ok(None)`: the server does
/// not enable extended CONNECT (the connection is closed; use HTTP/1.1 instead).
async fn over_h2<S>(
    io: S,
    request: &ClientRequest,
    config: &ClientConfig,
) -> Result<Option<(Connection, Response)>, Error>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let connect = ExtendedConnect::new(request);
    let max_header_list = u32::try_from(connect.limits().max_head_size).unwrap_or(u32::MAX);
    let (send_request, mut connection) = h2::client::Builder::new()
        .enable_push(false)
        .initial_window_size(RECEIVE_WINDOW)
        .initial_connection_window_size(RECEIVE_WINDOW)
        .max_header_list_size(max_header_list)
        .max_send_buffer_size(SEND_BUFFER)
        .handshake::<S, Bytes>(io)
        .await
        .map_err(h2_error)?;
    let mut ping_pong = connection.ping_pong();
    // The connection runs in its own task until its one stream is over; it is stopped early
    // if the handshake fails or is abandoned (a timeout drops this future).
    let driver = AbortOnDrop(Some(
        tokio::spawn(async move {
            let _ = connection.await;
        })
        .abort_handle(),
    ));
    // The server's SETTINGS frame opens its side of the connection, so it has been read once a
    // PING sent now is answered: only then does `is_extended_connect_protocol_enabled` know.
    if let Some(ping_pong) = &mut ping_pong {
        ping_pong.ping(h2::Ping::opaque()).await.map_err(h2_error)?;
    }
    let mut send_request = send_request.ready().await.map_err(h2_error)?;
    if !send_request.is_extended_connect_protocol_enabled() {
        // Without handles or streams the connection says GOAWAY and closes on its own.
        drop(send_request);
        driver.disarm();
        return Ok(None);
    }
    let uri = http::Uri::builder()
        .scheme(connect.scheme())
        .authority(connect.authority())
        .path_and_query(connect.path())
        .build()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut builder = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(uri)
        .extension(h2::ext::Protocol::from_static(ExtendedConnect::PROTOCOL));
    for (name, value) in connect.headers() {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let http_request = builder
        .body(())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let (response, send) = send_request
        .send_request(http_request, false)
        .map_err(h2_error)?;
    // This stream is the connection's only one: once it is over, the connection closes.
    drop(send_request);
    let (parts, recv) = response.await.map_err(h2_error)?.into_parts();
    let mut headers = Headers::new();
    for (name, value) in &parts.headers {
        headers.push(name.as_str(), String::from_utf8_lossy(value.as_bytes()));
    }
    let response = connect
        .check_response(parts.status.as_u16(), headers)
        .map_err(Error::Response)?;
    let connection_config = with_deflate(
        config.connection.clone(),
        response.deflate,
        request.deflate_config(),
    );
    let connection = Connection::new(H2Stream::new(send, recv), Role::Client, connection_config);
    driver.disarm();
    Ok(Some((connection, response)))
}

/// Aborts a task when dropped, unless disarmed.
struct AbortOnDrop(Option<tokio::task::AbortHandle>);

impl AbortOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
        }
    }
}

/// An HTTP/2 failure as an I/O error (the original inside, as its source).
fn h2_error(error: h2::Error) -> Error {
    if error.is_io() {
        if let Some(io) = error.into_io() {
            return Error::Io(io);
        }
        return Error::Io(io::Error::other("HTTP/2 I/O error"));
    }
    Error::Io(io::Error::other(error))
}

/// One HTTP/2 stream as a byte stream: reads take the DATA frames received, writes send DATA
/// frames, shutdown ends the stream (END_STREAM).
///
/// Flow control is respected both ways: a write takes no more than the send window the peer
/// granted (and waits for more when it is exhausted), and received data is released to the
/// peer's window only as it is read, so the peer can never make either side buffer more than
/// the windows allow. Dropping it before shutdown resets the stream (`CANCEL`).
///
/// Both the client ([`connect`](crate::client::connect) with [`Http2`]) and a server built on
/// the `h2` crate can run a [`Connection`] over it: a server that accepted an extended CONNECT
/// with a 200 response passes the request's [`RecvStream`] and the response's [`SendStream`].
///
/// ```no_run
/// use bytes::Bytes;
/// use ws_net::http2::H2Stream;
/// use ws_net::{Connection, ConnectionConfig, Role};
///
/// # async fn demo(mut h2: h2::server::Connection<tokio::net::TcpStream, Bytes>)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// // `h2` was built with `h2::server::Builder::enable_connect_protocol`.
/// if let Some(accepted) = h2.accept().await {
///     let (request, mut respond) = accepted?;
///     let is_websocket = request.method() == http::Method::CONNECT
///         && request.extensions().get::<h2::ext::Protocol>().map(|p| p.as_str())
///             == Some("websocket");
///     if is_websocket {
///         let send = respond.send_response(http::Response::new(()), false)?;
///         let stream = H2Stream::new(send, request.into_body());
///         let connection = Connection::new(stream, Role::Server, ConnectionConfig::default());
///         # drop(connection);
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub struct H2Stream {
    send: SendStream<Bytes>,
    recv: RecvStream,
    /// Received but not yet read; its length is still counted against the peer's window.
    pending: Bytes,
    /// The peer ended its side (END_STREAM).
    eof: bool,
    /// We ended ours.
    ended: bool,
}

impl H2Stream {
    /// The stream whose outgoing half is `send` and incoming half `recv`.
    pub fn new(send: SendStream<Bytes>, recv: RecvStream) -> Self {
        H2Stream {
            send,
            recv,
            pending: Bytes::new(),
            eof: false,
            ended: false,
        }
    }
}

impl fmt::Debug for H2Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H2Stream")
            .field("pending", &self.pending.len())
            .field("eof", &self.eof)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// A stream error as an I/O error; a reset with NO_ERROR is the end of the stream.
fn stream_error(error: h2::Error) -> io::Error {
    if error.is_io() {
        if let Some(io) = error.into_io() {
            return io;
        }
        return io::Error::other("HTTP/2 I/O error");
    }
    let kind = match error.reason() {
        Some(_) if error.is_reset() || error.is_go_away() => io::ErrorKind::ConnectionReset,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, error)
}

impl AsyncRead for H2Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while this.pending.is_empty() {
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => this.pending = data,
                None => this.eof = true,
                Some(Err(error)) if error.reason() == Some(h2::Reason::NO_ERROR) => {
                    this.eof = true;
                }
                Some(Err(error)) => return Poll::Ready(Err(stream_error(error))),
            }
        }
        let n = this.pending.len().min(buf.remaining());
        buf.put_slice(&this.pending[..n]);
        this.pending.advance(n);
        // Read now: the peer may send as much again. The bytes are in `buf` already, so they
        // are delivered whatever happens here; a stream whose capacity cannot be released is a
        // stream h2 has closed, which the next read reports.
        let _ = this.recv.flow_control().release_capacity(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the HTTP/2 stream was shut down for writing",
            )));
        }
        loop {
            let capacity = this.send.capacity();
            if capacity > 0 {
                let n = capacity.min(buf.len());
                this.send
                    .send_data(Bytes::copy_from_slice(&buf[..n]), false)
                    .map_err(stream_error)?;
                return Poll::Ready(Ok(n));
            }
            this.send.reserve_capacity(buf.len().min(MAX_WRITE));
            match ready!(this.send.poll_capacity(cx)) {
                Some(Ok(_)) => {}
                Some(Err(error)) => return Poll::Ready(Err(stream_error(error))),
                None => {
                    // The stream can take no more data: reset by the peer, or the connection
                    // is gone. Say why when h2 knows.
                    let error = match this.send.poll_reset(cx) {
                        Poll::Ready(Ok(reason)) => io::Error::new(
                            io::ErrorKind::ConnectionReset,
                            format!("the peer reset the HTTP/2 stream ({reason})"),
                        ),
                        Poll::Ready(Err(error)) => stream_error(error),
                        Poll::Pending => io::Error::new(
                            io::ErrorKind::BrokenPipe,
                            "the HTTP/2 stream is closed for sending",
                        ),
                    };
                    return Poll::Ready(Err(error));
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Data handed to h2 is written out by the task driving the connection.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.ended {
            this.ended = true;
            // Fails only when the stream is already reset or closed: nothing left to end.
            let _ = this.send.send_data(Bytes::new(), true);
        }
        Poll::Ready(Ok(()))
    }
}

// A compile-time check that the stream can be handed to `Connection::new`.
const _: fn() = || {
    fn connection_transport<S: AsyncRead + AsyncWrite + Send + Unpin + 'static>() {}
    connection_transport::<H2Stream>();
};
