//! WebSocket upgrades of requests that a hyper 1.x server parsed (feature `hyper`): HTTP/1.1
//! upgrades (RFC 6455) and HTTP/2 extended CONNECT (RFC 8441) alike.
//!
//! The request is checked by ws-proto ([`Request::from_parts`]), exactly as
//! [`Server`](crate::server::Server) checks the requests it reads, and a refused one gets the
//! same answer (400, 405, 426). An accepted one is answered with `101 Switching Protocols`
//! (HTTP/1.1) or `200` (HTTP/2), and [`Upgrading`] resolves to the [`Connection`] once hyper
//! hands over the stream.
//!
//! Serve connections with upgrades enabled: `serve_connection_with_upgrades` of hyper-util's
//! auto builder, or hyper's `http1::Builder::serve_connection(..).with_upgrades()`; for HTTP/2,
//! build the server with `http2().enable_connect_protocol()` so clients may send extended
//! CONNECT.
//!
//! ```no_run
//! use std::convert::Infallible;
//! use hyper::body::Incoming as Body;
//! use ws_net::handshake::AcceptOptions;
//! use ws_net::upgrade::upgrade;
//! use ws_net::{ConnectionConfig, Incoming};
//!
//! async fn handle(mut req: http::Request<Body>) -> Result<http::Response<String>, Infallible> {
//!     let options = AcceptOptions::default().protocols(["chat"]);
//!     let (response, upgrading) = match upgrade(&mut req, &options, ConnectionConfig::default()) {
//!         Ok(accepted) => accepted,
//!         // 400, 405, 426: the same answers as the listener's.
//!         Err(refused) => return Ok(refused.response()),
//!     };
//!     tokio::spawn(async move {
//!         let mut conn = match upgrading.await {
//!             Ok(conn) => conn,
//!             Err(error) => return eprintln!("upgrade failed: {error}"),
//!         };
//!         while let Some(incoming) = conn.recv().await {
//!             match incoming {
//!                 Incoming::Message(message) => {
//!                     if let Err(error) = conn.send(message).await {
//!                         eprintln!("send failed: {error}");
//!                         break;
//!                     }
//!                 }
//!                 Incoming::Closed(status) => {
//!                     eprintln!("closed: {status:?}");
//!                     break;
//!                 }
//!                 Incoming::Error(error) => {
//!                     eprintln!("connection failed: {error}");
//!                     break;
//!                 }
//!                 // Pongs are sent automatically; chunks come only in streaming mode.
//!                 Incoming::Ping(_) | Incoming::Pong(_) | Incoming::Chunk(_) => {}
//!             }
//!         }
//!     });
//!     Ok(response)
//! }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::request::Parts;
use http::{Response, StatusCode, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use ws_proto::handshake::{
    is_connection_specific, Headers, HttpAnswer, HttpVersion, InputError, Request, RequestError,
    RequestParts,
};
use ws_proto::Role;

use crate::handshake::{with_deflate, AcceptOptions, Accepted};
use crate::{Connection, ConnectionConfig, Error};

/// Checks the upgrade request hyper parsed and answers it with `options`: the first
/// subprotocol of the client's that `options` lists, permessage-deflate when `options` accepts
/// it and the client offers it. Returns the response to send (101, or 200 over HTTP/2) and the
/// future of the connection, which resolves once hyper has sent the response and handed over
/// the stream (so spawn it; do not await it before returning the response).
///
/// A shorthand for [`UpgradeRequest::from_request`] then [`UpgradeRequest::accept`].
/// [`AcceptOptions::limits`] does not apply: hyper parsed the head under its own limits.
///
/// # Errors
///
/// [`Refused`] when the request is no valid WebSocket upgrade, or cannot be upgraded; send
/// [`Refused::response`].
pub fn upgrade<B>(
    request: &mut http::Request<B>,
    options: &AcceptOptions,
    config: ConnectionConfig,
) -> Result<(Response<String>, Upgrading), Refused> {
    UpgradeRequest::from_request(request)?.accept(options, config)
}

/// A valid WebSocket upgrade request from a hyper server, not answered yet: look at it
/// ([`request`](Self::request): path, headers, offered subprotocols), then
/// [`accept`](Self::accept) it or send a refusal of your own.
pub struct UpgradeRequest {
    request: Request,
    on_upgrade: OnUpgrade,
    version: Version,
}

impl fmt::Debug for UpgradeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpgradeRequest")
            .field("request", &self.request)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl UpgradeRequest {
    /// Checks the request and takes its upgrade handle (so the request can be upgraded once).
    ///
    /// # Errors
    ///
    /// As [`from_parts`](Self::from_parts).
    pub fn from_request<B>(request: &mut http::Request<B>) -> Result<UpgradeRequest, Refused> {
        let checked = check(
            request.method(),
            request.version(),
            request.uri(),
            request.headers(),
            request.extensions(),
        )?;
        let version = request.version();
        let on_upgrade = take_on_upgrade(request.extensions_mut(), version)?;
        Ok(UpgradeRequest {
            request: checked,
            on_upgrade,
            version,
        })
    }

    /// Like [`from_request`](Self::from_request), for a request already split into its parts
    /// (as extractors of web frameworks see it).
    ///
    /// # Errors
    ///
    /// [`Refused`] with [`RefusalReason::Request`] when the request is no valid upgrade (the
    /// ws-proto checks of [`Request::from_parts`]), [`RefusalReason::NotUpgradable`] when it
    /// carries no hyper upgrade handle (it did not come from a hyper connection, or was taken
    /// already).
    pub fn from_parts(parts: &mut Parts) -> Result<UpgradeRequest, Refused> {
        let checked = check(
            &parts.method,
            parts.version,
            &parts.uri,
            &parts.headers,
            &parts.extensions,
        )?;
        let on_upgrade = take_on_upgrade(&mut parts.extensions, parts.version)?;
        Ok(UpgradeRequest {
            request: checked,
            on_upgrade,
            version: parts.version,
        })
    }

    /// The checked request: path, host, headers, offered subprotocols and extensions, origin,
    /// and whether it is an HTTP/1.1 upgrade or an extended CONNECT.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The subprotocol [`accept`](Self::accept) selects with `options`: the first one in the
    /// client's order of preference that `options` lists.
    pub fn choose_protocol(&self, options: &AcceptOptions) -> Option<String> {
        options.choose_protocol(&self.request)
    }

    /// Accepts the request with `options` (subprotocol and permessage-deflate chosen as
    /// [`upgrade`] says) and `config` for the connection. Returns the response to send and the
    /// future of the connection.
    ///
    /// # Errors
    ///
    /// [`Refused`] with [`RefusalReason::Input`] if the answer cannot be built (it always can
    /// from `AcceptOptions`; the variant keeps the path free of panics).
    pub fn accept(
        self,
        options: &AcceptOptions,
        config: ConnectionConfig,
    ) -> Result<(Response<String>, Upgrading), Refused> {
        let accept = options.answer_for(&self.request);
        let answer = self.request.answer(&accept).map_err(|error| Refused {
            reason: RefusalReason::Input(error),
            version: self.version,
        })?;
        let (protocol, deflate) = (accept.protocol, accept.deflate);
        let response = to_response(answer, self.version);
        let config = with_deflate(config, deflate, options.deflate.as_ref());
        let on_upgrade = self.on_upgrade;
        let future = Box::pin(async move {
            let upgraded = on_upgrade.await.map_err(|error| {
                Error::ConnectionLost(format!(
                    "the HTTP connection ended before the upgrade completed ({error}); serve \
                     connections with upgrades enabled (hyper-util's serve_connection_with_upgrades)"
                ))
            })?;
            Ok(Connection::new(
                TokioIo::new(upgraded),
                Role::Server,
                config,
            ))
        });
        Ok((
            response,
            Upgrading {
                accepted: Accepted {
                    request: self.request,
                    protocol,
                    deflate,
                },
                future,
            },
        ))
    }
}

/// The connection of an accepted upgrade: resolves once hyper has sent the response and handed
/// over the stream. Spawn it (or await it in a spawned task) after returning the response.
pub struct Upgrading {
    accepted: Accepted,
    future: Pin<Box<dyn Future<Output = Result<Connection, Error>> + Send>>,
}

impl Upgrading {
    /// The request, the subprotocol selected and the permessage-deflate parameters agreed.
    pub fn accepted(&self) -> &Accepted {
        &self.accepted
    }
}

impl fmt::Debug for Upgrading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrading")
            .field("accepted", &self.accepted)
            .finish_non_exhaustive()
    }
}

impl Future for Upgrading {
    /// The connection, or [`Error::ConnectionLost`] when the HTTP connection ended (or was
    /// served without upgrades) before the stream was handed over.
    type Output = Result<Connection, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.future.as_mut().poll(cx)
    }
}

/// Why an upgrade request was refused; [`response`](Self::response) is the answer to send.
#[derive(Debug)]
pub struct Refused {
    reason: RefusalReason,
    version: Version,
}

/// What made a [`Refused`].
#[derive(Debug)]
#[non_exhaustive]
pub enum RefusalReason {
    /// The request is no valid WebSocket upgrade (answered with its status: 400, 405, 426).
    Request(RequestError),
    /// The request carries no hyper upgrade handle: it did not come from a hyper connection, or
    /// its upgrade was taken already (answered with 500).
    NotUpgradable,
    /// The answer could not be built (answered with 500).
    Input(InputError),
}

impl Refused {
    /// What made the refusal.
    pub fn reason(&self) -> &RefusalReason {
        &self.reason
    }

    /// The HTTP status of [`response`](Self::response).
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.answer().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The response to send: for an invalid request the status, headers and text the listener
    /// answers it with ([`RequestError::answer`]); 500 with the error's text otherwise.
    pub fn response(&self) -> Response<String> {
        to_response(self.answer(), self.version)
    }

    fn answer(&self) -> HttpAnswer {
        match &self.reason {
            RefusalReason::Request(error) => error.answer(),
            RefusalReason::NotUpgradable | RefusalReason::Input(_) => HttpAnswer {
                status: 500,
                reason: "Internal Server Error",
                headers: Vec::new(),
                body: format!("{self}\n"),
            },
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            RefusalReason::Request(error) => {
                write!(f, "the client's upgrade request was refused: {error}")
            }
            RefusalReason::NotUpgradable => f.write_str(
                "the request cannot be upgraded: it carries no hyper upgrade handle (it did not \
                 come from a hyper server connection, or was upgraded already)",
            ),
            RefusalReason::Input(error) => write!(f, "the upgrade answer is invalid: {error}"),
        }
    }
}

impl std::error::Error for Refused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.reason {
            RefusalReason::Request(error) => Some(error),
            RefusalReason::Input(error) => Some(error),
            RefusalReason::NotUpgradable => None,
        }
    }
}

/// Runs ws-proto's checks on a request head hyper parsed.
fn check(
    method: &http::Method,
    version: Version,
    uri: &http::Uri,
    headers: &http::HeaderMap,
    extensions: &http::Extensions,
) -> Result<Request, Refused> {
    let ws_version = match version {
        Version::HTTP_10 => HttpVersion::Http10,
        Version::HTTP_11 => HttpVersion::Http11,
        Version::HTTP_2 => HttpVersion::Http2,
        Version::HTTP_3 => HttpVersion::Http3,
        _ => HttpVersion::Other,
    };
    let pseudo = matches!(ws_version, HttpVersion::Http2 | HttpVersion::Http3);
    let mut fields = Headers::new();
    for (name, value) in headers {
        fields.push(name.as_str(), String::from_utf8_lossy(value.as_bytes()));
    }
    let parts = RequestParts {
        method: method.as_str().to_owned(),
        version: ws_version,
        target: uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        authority: uri
            .authority()
            .filter(|_| pseudo)
            .map(|a| a.as_str().to_owned()),
        protocol: extensions
            .get::<hyper::ext::Protocol>()
            .map(|p| p.as_str().to_owned()),
        headers: fields,
    };
    Request::from_parts(parts).map_err(|error| Refused {
        reason: RefusalReason::Request(error),
        version,
    })
}

fn take_on_upgrade(
    extensions: &mut http::Extensions,
    version: Version,
) -> Result<OnUpgrade, Refused> {
    extensions.remove::<OnUpgrade>().ok_or(Refused {
        reason: RefusalReason::NotUpgradable,
        version,
    })
}

/// `answer` as an `http` response for a request of `version`.
fn to_response(answer: HttpAnswer, version: Version) -> Response<String> {
    let has_body = !answer.body.is_empty();
    let mut response = Response::new(answer.body);
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let multiplexed = version >= Version::HTTP_2;
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        // HTTP/2 and HTTP/3 forbid the HTTP/1.1 connection's own fields.
        if multiplexed && is_connection_specific(&name, &value) {
            continue;
        }
        // ws-proto checked names and values; a value `http` still refuses (a control
        // character) is left out rather than failing the answer.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.append(name, value);
        }
    }
    if has_body {
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use ws_proto::handshake::Upgrade;

    fn request(version: Version) -> http::Request<()> {
        let builder = http::Request::builder().version(version);
        let builder = if version == Version::HTTP_2 {
            let mut r = http::Request::builder()
                .version(version)
                .method("CONNECT")
                .uri("https://example.com/chat?room=1")
                .header("sec-websocket-version", "13")
                .header("sec-websocket-protocol", "b, a");
            r.extensions_mut()
                .map(|e| e.insert(hyper::ext::Protocol::from_static("websocket")));
            r
        } else {
            builder
                .method("GET")
                .uri("/chat?room=1")
                .header("host", "example.com")
                .header("upgrade", "websocket")
                .header("connection", "Upgrade")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
                .header("sec-websocket-version", "13")
                .header("sec-websocket-protocol", "b, a")
        };
        builder.body(()).expect("a valid request")
    }

    #[test]
    fn checks_http11_and_http2_requests() {
        let checked = |r: &http::Request<()>| {
            check(
                r.method(),
                r.version(),
                r.uri(),
                r.headers(),
                r.extensions(),
            )
        };
        let h1 = checked(&request(Version::HTTP_11)).unwrap();
        assert_eq!(h1.key(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
        assert_eq!(
            (h1.path.as_str(), h1.host.as_str()),
            ("/chat?room=1", "example.com")
        );
        let h2 = checked(&request(Version::HTTP_2)).unwrap();
        assert_eq!(h2.upgrade, Upgrade::ExtendedConnect);
        assert_eq!(
            (h2.path.as_str(), h2.host.as_str()),
            ("/chat?room=1", "example.com")
        );
        assert_eq!(h2.protocols, ["b", "a"]);

        let mut no_protocol = request(Version::HTTP_2);
        no_protocol.extensions_mut().clear();
        let refused = checked(&no_protocol).unwrap_err();
        assert!(matches!(
            refused.reason(),
            RefusalReason::Request(RequestError::BadProtocol(None))
        ));
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_request_without_upgrade_handle_is_refused_with_500() {
        let refused = UpgradeRequest::from_request(&mut request(Version::HTTP_11)).unwrap_err();
        assert!(matches!(refused.reason(), RefusalReason::NotUpgradable));
        let response = refused.response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            response.body().contains("upgrade handle"),
            "{}",
            response.body()
        );
    }

    #[test]
    fn refusals_answer_like_the_listener() {
        let mut bad = request(Version::HTTP_11);
        bad.headers_mut()
            .insert("sec-websocket-version", HeaderValue::from_static("8"));
        let refused = UpgradeRequest::from_request(&mut bad).unwrap_err();
        let response = refused.response();
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()["sec-websocket-version"], "13");
        assert_eq!(response.headers()["upgrade"], "websocket");
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        let RefusalReason::Request(error) = refused.reason() else {
            panic!("{refused:?}");
        };
        assert_eq!(response.body(), &error.answer().body);

        // Over HTTP/2 the connection-specific Upgrade header is left out.
        let mut bad = request(Version::HTTP_2);
        bad.headers_mut().remove("sec-websocket-version");
        let response = UpgradeRequest::from_request(&mut bad)
            .unwrap_err()
            .response();
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()["sec-websocket-version"], "13");
        assert!(response.headers().get("upgrade").is_none());
    }
}
