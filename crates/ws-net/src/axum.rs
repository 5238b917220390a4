//! An axum 0.8 extractor that upgrades requests to ws-net [`Connection`]s (feature `axum`).
//!
//! [`ConnectionUpgrade`] is shaped like axum's own `WebSocketUpgrade`, but hands out a ws-net
//! [`Connection`] (split halves, heartbeat, permessage-deflate, the limits of
//! [`ConnectionConfig`]). It accepts HTTP/1.1 upgrades and HTTP/2 extended CONNECT (RFC 8441):
//! serve the router with upgrades enabled and, for HTTP/2, `enable_connect_protocol` (see the
//! `axum_echo` example). A request that is no valid upgrade is rejected with the answer the
//! [`Server`](crate::server::Server) gives it (400, 405, 426).
//!
//! ```
//! use axum::response::Response;
//! use axum::routing::any;
//! use axum::Router;
//! use ws_net::axum::ConnectionUpgrade;
//! use ws_net::{Connection, Incoming};
//!
//! async fn handler(ws: ConnectionUpgrade) -> Response {
//!     ws.protocols(["chat"]).on_upgrade(echo)
//! }
//!
//! async fn echo(mut conn: Connection) {
//!     while let Some(incoming) = conn.recv().await {
//!         match incoming {
//!             Incoming::Message(message) => {
//!                 if let Err(error) = conn.send(message).await {
//!                     eprintln!("send failed: {error}");
//!                     return;
//!                 }
//!             }
//!             // Pongs are sent automatically; chunks come only in streaming mode.
//!             Incoming::Ping(_) | Incoming::Pong(_) | Incoming::Chunk(_) => {}
//!             Incoming::Closed(status) => return eprintln!("closed: {status:?}"),
//!             Incoming::Error(error) => return eprintln!("connection failed: {error}"),
//!         }
//!     }
//! }
//!
//! // `any`, not `get`: WebSocket over HTTP/2 arrives as a CONNECT request.
//! let app: Router = Router::new().route("/ws", any(handler));
//! ```

use std::fmt;
use std::future::Future;

use ::axum::body::Body;
use ::axum::extract::FromRequestParts;
use ::axum::response::{IntoResponse, Response};
use http::request::Parts;
use ws_proto::deflate::{DeflateConfig, DeflateParams};
use ws_proto::handshake::Request;

use crate::handshake::AcceptOptions;
use crate::upgrade::{Refused, UpgradeRequest};
use crate::{Connection, ConnectionConfig, Error};

type FailedUpgrade = Box<dyn FnOnce(Error) + Send + 'static>;

/// Extracts a WebSocket upgrade request; [`on_upgrade`](Self::on_upgrade) answers it and runs
/// a callback with the [`Connection`] in a task of its own.
///
/// The rejection is a [`Refused`], answered like the listener answers an invalid request.
pub struct ConnectionUpgrade {
    request: UpgradeRequest,
    options: AcceptOptions,
    config: ConnectionConfig,
    on_failed: Option<FailedUpgrade>,
}

impl fmt::Debug for ConnectionUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionUpgrade")
            .field("request", &self.request)
            .field("options", &self.options)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ConnectionUpgrade {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ConnectionUpgrade {
            request: UpgradeRequest::from_parts(parts)?,
            options: AcceptOptions::default(),
            config: ConnectionConfig::default(),
            on_failed: None,
        })
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        self.response().map(Body::from)
    }
}

impl ConnectionUpgrade {
    /// The request: path, host, headers, offered subprotocols and extensions, origin.
    pub fn request(&self) -> &Request {
        self.request.request()
    }

    /// Sets the subprotocols the server speaks, in any order: the first one in the client's list
    /// that is also in this one is selected; if none is, the response names no protocol.
    #[must_use]
    pub fn protocols<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.options = self.options.protocols(protocols);
        self
    }

    /// Accepts permessage-deflate with `config`'s settings from a client that offers it, or
    /// declines it with `None` (the default).
    #[must_use]
    pub fn deflate(mut self, config: Option<DeflateConfig>) -> Self {
        self.options = self.options.deflate(config);
        self
    }

    /// Sets the subprotocols and permessage-deflate settings at once ([`AcceptOptions::limits`]
    /// does not apply: hyper parsed the request).
    #[must_use]
    pub fn accept_options(mut self, options: AcceptOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets the settings of the connection (limits, heartbeat, buffers).
    #[must_use]
    pub fn config(mut self, config: ConnectionConfig) -> Self {
        self.config = config;
        self
    }

    /// The subprotocol that will be selected with the protocols set so far.
    pub fn selected_protocol(&self) -> Option<String> {
        self.request.choose_protocol(&self.options)
    }

    /// The permessage-deflate parameters that will be agreed with the settings so far.
    pub fn selected_deflate(&self) -> Option<DeflateParams> {
        self.options.answer_for(self.request.request()).deflate
    }

    /// Called with the error when the upgrade fails after the response was sent (the client
    /// went away, or the server does not serve connections with upgrades); by default such
    /// failures are dropped. It runs in the upgrade's task.
    #[must_use]
    pub fn on_failed_upgrade<F>(mut self, callback: F) -> Self
    where
        F: FnOnce(Error) + Send + 'static,
    {
        self.on_failed = Some(Box::new(callback));
        self
    }

    /// Answers the request (101, or 200 over HTTP/2) and, once the stream is handed over, runs
    /// `callback` with the connection in a task of its own: a callback that panics ends only
    /// that task (the connection is dropped and its transport closed), never the server.
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(Connection) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (response, upgrading) = match self.request.accept(&self.options, self.config) {
            Ok(accepted) => accepted,
            Err(refused) => return refused.into_response(),
        };
        let on_failed = self.on_failed;
        tokio::spawn(async move {
            match upgrading.await {
                Ok(connection) => callback(connection).await,
                Err(error) => {
                    if let Some(on_failed) = on_failed {
                        on_failed(error);
                    }
                }
            }
        });
        response.map(Body::from)
    }
}
