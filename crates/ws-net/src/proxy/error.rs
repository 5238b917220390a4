//! Why choosing a proxy or opening a tunnel through it failed.

use std::fmt;
use std::io;

/// Why choosing a proxy ([`ProxyConfig::for_target`](super::ProxyConfig::for_target)) or opening
/// a tunnel through it ([`tunnel`](super::tunnel)) failed.
///
/// ```
/// use ws_net::proxy::ProxyError;
///
/// let err = ProxyError::Refused {
///     status: 407,
///     status_line: "HTTP/1.1 407 Proxy Authentication Required".into(),
/// };
/// assert_eq!(
///     err.to_string(),
///     r#"proxy refused the tunnel: "HTTP/1.1 407 Proxy Authentication Required""#
/// );
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ProxyError {
    /// A proxy environment variable (`https_proxy`, `HTTP_PROXY`, `all_proxy`, ...) holds a value
    /// that is not a usable `http://` proxy URL.
    InvalidProxyUrl {
        /// The variable's name, as looked up.
        variable: String,
        /// The value, with any user information replaced by `***` so that passwords stay out of
        /// logs.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An explicitly configured proxy ([`HttpProxy`](super::HttpProxy) or
    /// [`ProxyEndpoint`](super::ProxyEndpoint)) cannot be used: empty host, port 0, or a user
    /// name containing `:` (which Basic authentication cannot express).
    InvalidProxy {
        /// What is wrong with it.
        reason: String,
    },
    /// The tunnel target cannot be written into a `CONNECT` request: an empty host, port 0, or
    /// characters that are not allowed in a host name.
    InvalidTarget {
        /// The host as given.
        host: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The proxy answered `CONNECT` with a status other than 2xx.
    Refused {
        /// The status code, e.g. 407 when the proxy wants (other) credentials.
        status: u16,
        /// The proxy's status line as received, without the line ending.
        status_line: String,
    },
    /// The proxy's answer is not an HTTP/1.x response head.
    MalformedResponse {
        /// What the parser found.
        reason: String,
    },
    /// The proxy's response head did not end within `limit` bytes.
    ResponseTooLarge {
        /// The head size limit in bytes.
        limit: usize,
    },
    /// The proxy closed the connection before the end of its response head.
    Closed {
        /// How many bytes of the head had arrived (0: the proxy answered nothing at all).
        received: usize,
    },
    /// Reading from or writing to the proxy failed.
    Io(io::Error),
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidProxyUrl {
                variable,
                url,
                reason,
            } => write!(
                f,
                "invalid proxy URL in environment variable {variable} ({url:?}): {reason}"
            ),
            Self::InvalidProxy { reason } => write!(f, "invalid proxy configuration: {reason}"),
            Self::InvalidTarget { host, reason } => {
                write!(f, "cannot tunnel to host {host:?}: {reason}")
            }
            Self::Refused { status_line, .. } => {
                write!(f, "proxy refused the tunnel: {status_line:?}")
            }
            Self::MalformedResponse { reason } => write!(
                f,
                "proxy answered CONNECT with something that is not an HTTP/1.x response: {reason}"
            ),
            Self::ResponseTooLarge { limit } => write!(
                f,
                "proxy response head did not end within {limit} bytes"
            ),
            Self::Closed { received: 0 } => {
                f.write_str("proxy closed the connection without answering CONNECT")
            }
            Self::Closed { received } => write!(
                f,
                "proxy closed the connection in the middle of its response head (after {received} bytes)"
            ),
            Self::Io(e) => write!(f, "I/O error talking to the proxy: {e}"),
        }
    }
}

impl std::error::Error for ProxyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ProxyError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<ProxyError> for io::Error {
    /// For callers that deal in `io::Error`: I/O errors come back unchanged; the others are
    /// wrapped, with kind `InvalidInput` (configuration), `ConnectionRefused` (refusal),
    /// `InvalidData` (bad answer) or `UnexpectedEof` (closed early).
    fn from(e: ProxyError) -> Self {
        let kind = match &e {
            ProxyError::InvalidProxyUrl { .. }
            | ProxyError::InvalidProxy { .. }
            | ProxyError::InvalidTarget { .. } => io::ErrorKind::InvalidInput,
            ProxyError::Refused { .. } => io::ErrorKind::ConnectionRefused,
            ProxyError::MalformedResponse { .. } | ProxyError::ResponseTooLarge { .. } => {
                io::ErrorKind::InvalidData
            }
            ProxyError::Closed { .. } => io::ErrorKind::UnexpectedEof,
            ProxyError::Io(_) => io::ErrorKind::Other,
        };
        match e {
            ProxyError::Io(inner) => inner,
            other => io::Error::new(kind, other),
        }
    }
}
