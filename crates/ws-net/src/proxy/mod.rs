//! HTTP CONNECT proxies: configuration, the environment, exclusion lists and the tunnel.
//!
//! Two steps take a client through a proxy:
//!
//! 1. [`ProxyConfig::for_target`] decides whether a target goes through a proxy, and which:
//!    from the environment (`https_proxy`, `no_proxy`, ... like curl; the default), never, or an
//!    explicit [`HttpProxy`] with its own exclusion list.
//! 2. After connecting to the [`ProxyEndpoint`] it returned, [`tunnel`] asks the proxy with
//!    `CONNECT host:port` to open a tunnel to the target. Once it returns `Ok`, the stream
//!    carries TLS (for `wss://`) or the WebSocket handshake (for `ws://`) as if it were
//!    connected to the target.
//!
//! ```no_run
//! use tokio::net::TcpStream;
//! use ws_net::proxy::{tunnel, ProxyConfig};
//!
//! # async fn connect() -> Result<TcpStream, Box<dyn std::error::Error>> {
//! let (host, port, secure) = ("example.com", 443, true);
//! let stream = match ProxyConfig::System.for_target(host, port, secure)? {
//!     Some(proxy) => {
//!         let mut stream = TcpStream::connect((proxy.host.as_str(), proxy.port)).await?;
//!         tunnel(&mut stream, &proxy, host, port).await?;
//!         stream
//!     }
//!     None => TcpStream::connect((host, port)).await?,
//! };
//! # Ok(stream)
//! # }
//! ```
//!
//! Only `http://` proxies are supported: no TLS to the proxy itself, no SOCKS, and Basic as
//! the only authentication scheme.

mod config;
mod env;
mod error;
mod exclusion;
mod host;
mod tunnel;

pub use config::{Credentials, HttpProxy, ProxyConfig, ProxyEndpoint};
pub use error::ProxyError;
pub use tunnel::{tunnel, MAX_RESPONSE_HEAD};
