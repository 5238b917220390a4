//! The opening handshake over a transport: ws-proto's state machines fed from a socket.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ws_proto::deflate::{Deflate, DeflateConfig, DeflateParams};
use ws_proto::handshake::{
    Accept, ClientHandshake, ClientRequest, HandshakeError, HandshakeLimits, Request, Response,
    ServerHandshake,
};
use ws_proto::{Role, Rsv};

use crate::trace::{debug, info};
use crate::{Connection, ConnectionConfig, Error};

/// Reads are this big during the handshake. Every handshake in progress holds one in its task,
/// and a burst of clients holds thousands at once (what the allocator keeps afterwards shows as
/// resident memory per connection), so it is small: a short head fits in one, a browser's in
/// two.
const HANDSHAKE_READ: usize = 512;

/// Runs the client side of the opening handshake on `io` (a connected TCP or TLS stream, or a
/// proxy tunnel) and starts the connection.
///
/// Returns the connection and the server's response; a non-101 answer is
/// [`Error::Response`] carrying the response (status, reason, headers). Bound it with a timeout:
/// it waits as long as the server does. When `request` offers permessage-deflate
/// ([`ClientRequest::deflate`]) and the server accepts, the connection is configured with the
/// agreed parameters ([`Response::deflate`]).
///
/// ```
/// use ws_net::handshake::{accept, client_handshake, AcceptOptions};
/// use ws_net::ConnectionConfig;
/// use ws_proto::handshake::ClientRequest;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ws_net::Error> {
/// let (client_io, server_io) = tokio::io::duplex(4096);
/// let server = tokio::spawn(async move {
///     let options = AcceptOptions::default().protocols(["chat"]);
///     accept(server_io, &options, ConnectionConfig::default()).await
/// });
/// let request = ClientRequest::from_url("ws://example.com/chat")?.protocol("chat")?;
/// let (_client, response) =
///     client_handshake(client_io, &request, ConnectionConfig::default()).await?;
/// assert_eq!(response.status, 101);
/// assert_eq!(response.protocol.as_deref(), Some("chat"));
/// let (_server, accepted) = server.await.unwrap()?;
/// assert_eq!(accepted.request.path, "/chat");
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`Error::Response`] when the server refuses or answers incorrectly, [`Error::Io`] or
/// [`Error::ConnectionLost`] when the transport fails or closes first.
pub async fn client_handshake<S>(
    mut io: S,
    request: &ClientRequest,
    config: ConnectionConfig,
) -> Result<(Connection, Response), Error>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut handshake = ClientHandshake::new(request);
    io.write_all(handshake.request_bytes()).await?;
    io.flush().await?;
    let mut buf = [0u8; HANDSHAKE_READ];
    loop {
        let n = io.read(&mut buf).await?;
        if n == 0 {
            return Err(Error::ConnectionLost(
                "the server closed the connection during the opening handshake".into(),
            ));
        }
        let received = handshake.receive_data(&buf[..n]);
        if let Err(HandshakeError::Response(error)) = &received {
            match error.status() {
                Some(status) => info!(status, %error, "handshake: refused by the server"),
                None => info!(%error, "handshake: the server's answer is invalid"),
            }
        }
        if let Some(done) = received? {
            let response = &done.response;
            debug!(
                status = response.status,
                protocol = ?response.protocol,
                deflate = ?response.deflate,
                "handshake: connected"
            );
            let config = with_deflate(config, done.response.deflate, request.deflate_config());
            let connection = Connection::with_received(io, Role::Client, config, &done.leftover);
            return Ok((connection, done.response));
        }
    }
}

/// What a server accepts in an opening handshake: no subprotocol, no extension and
/// [`HandshakeLimits::default`] unless set.
///
/// ```
/// use ws_net::handshake::AcceptOptions;
/// use ws_net::ws_proto::handshake::HandshakeLimits;
///
/// let options = AcceptOptions::default()
///     .protocols(["chat"])
///     .limits(HandshakeLimits::default().max_head_size(16 * 1024));
/// assert_eq!(options.limits.max_head_size, 16 * 1024);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AcceptOptions {
    /// Subprotocols the server speaks. The first protocol in the client's list (its order of
    /// preference) that is also in this one is selected; if none is, the response names no
    /// protocol (the client decides whether to go on).
    pub protocols: Vec<String>,
    /// Bounds on the request head (size, header count).
    pub limits: HandshakeLimits,
    /// permessage-deflate (RFC 7692) accepted from clients that offer it, with these settings;
    /// `None` (the default): offers are declined and messages are never compressed.
    pub deflate: Option<DeflateConfig>,
}

impl AcceptOptions {
    /// Sets the subprotocols the server speaks, in any order: the client's preference decides.
    #[must_use]
    pub fn protocols<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the bounds on the request head.
    #[must_use]
    pub fn limits(mut self, limits: HandshakeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Accepts permessage-deflate from clients that offer it, with `config`'s settings (the
    /// client's first acceptable offer wins, see
    /// [`Request::choose_deflate`](ws_proto::handshake::Request::choose_deflate)), or declines
    /// every offer with `None` (the default).
    ///
    /// Memory: a connection that compresses holds a compressor of about 256 KiB (15-bit window,
    /// zlib memory level 8; less with a smaller `server_max_window_bits`) and an inflater of 32 to
    /// 40 KiB, allocated when the first compressed message is sent or received.
    /// `server_no_context_takeover` lets the compressor start afresh for each message.
    #[must_use]
    pub fn deflate(mut self, config: Option<DeflateConfig>) -> Self {
        self.deflate = config;
        self
    }
}

impl AcceptOptions {
    /// The subprotocol these options select for `request`: the first one in the client's
    /// order of preference that they list.
    pub(crate) fn choose_protocol(&self, request: &Request) -> Option<String> {
        let supported: Vec<&str> = self.protocols.iter().map(String::as_str).collect();
        request.choose_protocol(&supported)
    }

    /// How these options answer `request`: the subprotocol they select, and permessage-deflate
    /// parameters when they accept it and the client offers it.
    pub(crate) fn answer_for(&self, request: &Request) -> Accept {
        let deflate = self
            .deflate
            .as_ref()
            .and_then(|config| request.choose_deflate(config));
        Accept::default()
            .protocol(self.choose_protocol(request))
            .deflate(deflate)
    }
}

/// A request the server accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The client's upgrade request: path, host, headers, offered protocols, origin.
    pub request: Request,
    /// The subprotocol selected, if any.
    pub protocol: Option<String>,
    /// The permessage-deflate parameters agreed, if any (the connection compresses with them).
    pub deflate: Option<DeflateParams>,
}

/// Reads the client's upgrade request from `io`, answers it and starts the connection.
///
/// An invalid request gets the matching HTTP error response (400, 405, 426, 431) before the
/// error is returned, so plain HTTP clients learn what went wrong. Bound it with a timeout: a
/// client that sends nothing would otherwise hold it forever.
///
/// # Errors
///
/// [`Error::Request`] when the request is not a valid upgrade (already answered with its HTTP
/// status), [`Error::Input`] for an unusable protocol list, [`Error::Io`] or
/// [`Error::ConnectionLost`] when the transport fails or closes first.
pub async fn accept<S>(
    io: S,
    options: &AcceptOptions,
    config: ConnectionConfig,
) -> Result<(Connection, Accepted), Error>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut io, request) = read_request(io, options.limits).await?;
    let (protocol, deflate) = answer(&mut io, &request, options).await?;
    let config = with_deflate(config, deflate, options.deflate.as_ref());
    let connection = Connection::with_received(io, Role::Server, config, &request.leftover);
    Ok((
        connection,
        Accepted {
            request,
            protocol,
            deflate,
        },
    ))
}

/// Sends the 101 response, selecting the client's most preferred protocol among the supported
/// ones and permessage-deflate parameters when configured and offered.
pub(crate) async fn answer<S>(
    io: &mut S,
    request: &Request,
    options: &AcceptOptions,
) -> Result<(Option<String>, Option<DeflateParams>), Error>
where
    S: AsyncWrite + Unpin,
{
    let accept = options.answer_for(request);
    io.write_all(&request.accept(&accept)?).await?;
    io.flush().await?;
    let (protocol, deflate) = (accept.protocol, accept.deflate);
    debug!(
        path = %request.path,
        protocol = ?protocol,
        deflate = ?deflate,
        "handshake: accepted"
    );
    Ok((protocol, deflate))
}

/// `config` with the negotiated permessage-deflate, if any: the connection compresses with the
/// agreed parameters and `config`'s level and threshold, and accepts RSV1.
pub(crate) fn with_deflate(
    mut config: ConnectionConfig,
    params: Option<DeflateParams>,
    deflate: Option<&DeflateConfig>,
) -> ConnectionConfig {
    if let (Some(params), Some(deflate)) = (params, deflate) {
        config.protocol.deflate = Some(Deflate::new(params, deflate));
        config.protocol.allowed_rsv |= Rsv::RSV1;
    }
    config
}

/// Reads the upgrade request head; on an invalid one, answers with its HTTP error first.
pub(crate) async fn read_request<S>(
    mut io: S,
    limits: HandshakeLimits,
) -> Result<(S, Request), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut handshake = ServerHandshake::new(limits);
    let mut buf = [0u8; HANDSHAKE_READ];
    loop {
        let n = io.read(&mut buf).await?;
        if n == 0 {
            return Err(Error::ConnectionLost(
                "the client closed the connection during the opening handshake".into(),
            ));
        }
        match handshake.receive_data(&buf[..n]) {
            Ok(Some(request)) => return Ok((io, request)),
            Ok(None) => {}
            Err(error) => {
                // Any client can send a bad request: debug, not a warning.
                if let HandshakeError::Request(refused) = &error {
                    debug!(status = refused.status(), reason = %refused, "handshake: refused");
                }
                if let Some(answer) = error.response() {
                    // Best effort: the client may be gone already.
                    let _ = io.write_all(&answer).await;
                    let _ = io.shutdown().await;
                }
                return Err(error.into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiated_deflate_configures_the_connection() {
        let base = ConnectionConfig::default();
        let settings = DeflateConfig::default().level(3).threshold(100);
        let config = with_deflate(base.clone(), None, Some(&settings));
        assert_eq!(config.protocol.deflate, None);
        assert_eq!(config.protocol.allowed_rsv, Rsv::NONE);
        let params = DeflateParams {
            server_max_window_bits: 10,
            ..DeflateParams::default()
        };
        let config = with_deflate(base, Some(params), Some(&settings));
        assert_eq!(
            config.protocol.deflate,
            Some(Deflate {
                params,
                level: 3,
                threshold: 100
            })
        );
        assert!(config.protocol.allowed_rsv.contains(Rsv::RSV1));
    }
}
