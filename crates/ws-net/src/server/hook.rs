//! The request hook: the application's say on each upgrade request before it is accepted.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::task::JoinSet;
use ws_proto::handshake::{error_response, Request};

use crate::Error;

/// What a [`RequestHook`] is shown of a valid upgrade request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestInfo {
    /// The request: path and query, host, headers, offered subprotocols and extensions, origin.
    pub request: Request,
    /// The client's address (IPv4-mapped IPv6 addresses shown as IPv4).
    pub remote_addr: SocketAddr,
}

/// A request hook's answer refusing a client: status, reason phrase, extra headers and a
/// plain-text body, sent before the connection is closed.
///
/// ```
/// use ws_net::server::Refusal;
/// let refusal = Refusal::new(401)
///     .header("WWW-Authenticate", "Bearer")
///     .body("a valid token is required\n");
/// assert_eq!(refusal.status, 401);
/// assert_eq!(refusal.reason, "Unauthorized");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refusal {
    /// The status code, 300 to 599 (others are sent as 500).
    pub status: u16,
    /// The reason phrase of the status line.
    pub reason: String,
    /// Extra headers, in order. Names that are not tokens, values with CR, LF or NUL, and the
    /// framing headers (`Content-Length`, `Content-Type`, `Connection`, `Transfer-Encoding`)
    /// are left out.
    pub headers: Vec<(String, String)>,
    /// The body, sent as `text/plain; charset=utf-8`.
    pub body: String,
}

impl Refusal {
    /// A refusal with `status`, its usual reason phrase, no extra header and no body.
    pub fn new(status: u16) -> Refusal {
        let reason = match status {
            301 => "Moved Permanently",
            302 => "Found",
            307 => "Temporary Redirect",
            308 => "Permanent Redirect",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            409 => "Conflict",
            410 => "Gone",
            429 => "Too Many Requests",
            500 => "Internal Server Error",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            _ => "Refused",
        };
        Refusal {
            status,
            reason: reason.to_owned(),
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// Sets the reason phrase.
    #[must_use]
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    /// Adds an extra header (`Location` for a redirect, `WWW-Authenticate`, `Retry-After`...).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    /// The status the client is answered with: [`status`](Self::status) when it is 300 to
    /// 599, else 500.
    ///
    /// ```
    /// use ws_net::server::Refusal;
    ///
    /// assert_eq!(Refusal::new(403).sent_status(), 403);
    /// assert_eq!(Refusal::new(200).sent_status(), 500);
    /// ```
    pub fn sent_status(&self) -> u16 {
        if (300..=599).contains(&self.status) {
            self.status
        } else {
            500
        }
    }

    /// The complete HTTP/1.1 response.
    pub(crate) fn response(&self) -> Vec<u8> {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let status = self.sent_status();
        let reason = if status == self.status {
            self.reason.as_str()
        } else {
            "Internal Server Error"
        };
        error_response(status, reason, &headers, &self.body)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)?;
        let body = self.body.trim();
        if !body.is_empty() {
            write!(f, ": {body}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refusal {}

/// The future a [`RequestHook`] returns.
pub type HookFuture = Pin<Box<dyn Future<Output = Result<(), Refusal>> + Send>>;

/// An application check of each upgrade request (see
/// [`ServerConfig::request_hook`](super::ServerConfig::request_hook)).
#[derive(Clone)]
pub struct RequestHook {
    hook: Arc<dyn Fn(RequestInfo) -> HookFuture + Send + Sync>,
}

impl fmt::Debug for RequestHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestHook").finish_non_exhaustive()
    }
}

impl RequestHook {
    /// Wraps `hook`: `Ok(())` accepts the request, a [`Refusal`] refuses it.
    pub fn new<F, Fut>(hook: F) -> RequestHook
    where
        F: Fn(RequestInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Refusal>> + Send + 'static,
    {
        RequestHook {
            hook: Arc::new(move |info| Box::pin(hook(info)) as HookFuture),
        }
    }

    /// Runs the hook in a task of its own, so that a panic (in the call or in the future) is
    /// caught; the task is aborted if this future is dropped (the handshake timed out or the
    /// server shut down). On refusal, the answer to send and the error to report.
    pub(crate) async fn check(
        &self,
        request: &Request,
        remote_addr: SocketAddr,
    ) -> Result<(), (Vec<u8>, Error)> {
        let info = RequestInfo {
            request: request.clone(),
            remote_addr,
        };
        let hook = Arc::clone(&self.hook);
        let mut task = JoinSet::new();
        task.spawn(async move { hook(info).await });
        let failure = match task.join_next().await {
            Some(Ok(Ok(()))) => return Ok(()),
            Some(Ok(Err(refusal))) => return Err((refusal.response(), Error::Refused(refusal))),
            Some(Err(error)) if error.is_panic() => {
                let payload = error.into_panic();
                payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-string panic payload".to_owned())
            }
            Some(Err(error)) => error.to_string(),
            None => "the hook task vanished".to_owned(),
        };
        let answer = error_response(500, "Internal Server Error", &[], "");
        Err((answer, Error::HookPanicked(failure)))
    }
}
