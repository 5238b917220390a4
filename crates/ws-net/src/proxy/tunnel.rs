//! The `CONNECT` exchange that turns a connection to a proxy into a tunnel to the target.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::host::canonical_host;
use super::{ProxyEndpoint, ProxyError};
use ws_proto::handshake::authority;

/// The longest response head [`tunnel`] accepts from a proxy, in bytes.
pub const MAX_RESPONSE_HEAD: usize = 8 * 1024;

/// Header lines beyond this many make the response malformed; real proxies send a handful.
const MAX_HEADERS: usize = 64;

/// Sends `CONNECT host:port` on `io`, an already-connected stream to `proxy`, and reads the
/// proxy's answer. `Ok` when it is 2xx: from then on `io` carries the tunnelled protocol.
///
/// The request carries a `Host` header and, when `proxy` has credentials,
/// `Proxy-Authorization: Basic ...`. An IPv6 target is written in brackets
/// (`CONNECT [::1]:443 HTTP/1.1`); `host` may be given with or without them.
///
/// The answer is read without ever reading past the end of its head, so bytes the target sends
/// right after the proxy's `200` stay in `io` for the tunnelled protocol. A head longer than
/// [`MAX_RESPONSE_HEAD`] is an error. The body of a refusal is left unread: the connection is
/// of no further use and should be dropped. There is no timeout here; wrap the call in
/// `tokio::time::timeout` to bound a proxy that never answers.
///
/// Errors: [`ProxyError::InvalidTarget`] / [`ProxyError::InvalidProxy`] before anything is
/// sent; [`ProxyError::Refused`] for a status other than 2xx;
/// [`ProxyError::MalformedResponse`], [`ProxyError::ResponseTooLarge`],
/// [`ProxyError::Closed`] and [`ProxyError::Io`] when the proxy misbehaves or the connection
/// fails.
///
/// ```
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use ws_net::proxy::{tunnel, ProxyEndpoint};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (mut client, mut proxy_side) = tokio::io::duplex(4096);
/// // A stand-in proxy: reads the request, accepts it, and the "target" greets right away.
/// let proxy = tokio::spawn(async move {
///     let mut request = vec![0; 4096];
///     let n = proxy_side.read(&mut request).await?;
///     proxy_side
///         .write_all(b"HTTP/1.1 200 Connection established\r\n\r\nhello from the target")
///         .await?;
///     Ok::<_, std::io::Error>(String::from_utf8_lossy(&request[..n]).into_owned())
/// });
///
/// let endpoint = ProxyEndpoint::new("proxy.example", 3128).with_credentials("alice", "secret");
/// tunnel(&mut client, &endpoint, "example.com", 443).await?;
///
/// let request = proxy.await??;
/// assert!(request.starts_with("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"));
/// assert!(request.contains("Proxy-Authorization: Basic YWxpY2U6c2VjcmV0\r\n"));
/// // The target's first bytes were left in the stream.
/// let mut greeting = vec![0; 21];
/// client.read_exact(&mut greeting).await?;
/// assert_eq!(greeting, b"hello from the target");
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// A [`ProxyError`]: the proxy refused (its status line is quoted), closed the connection, answered
/// something that is not HTTP, or the transport failed.
pub async fn tunnel<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    proxy: &ProxyEndpoint,
    host: &str,
    port: u16,
) -> Result<(), ProxyError> {
    let request = connect_request(proxy, host, port)?;
    io.write_all(&request).await?;
    io.flush().await?;
    read_response(io).await
}

/// The whole request, built before anything is written so that a bad target sends nothing.
fn connect_request(proxy: &ProxyEndpoint, host: &str, port: u16) -> Result<Vec<u8>, ProxyError> {
    proxy.check()?;
    let invalid = |reason: String| ProxyError::InvalidTarget {
        host: host.to_owned(),
        reason,
    };
    let host = canonical_host(host).map_err(invalid)?;
    if port == 0 {
        return Err(invalid("port 0".into()));
    }
    let target = authority(&host, port);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(credentials) = &proxy.credentials {
        let token = BASE64.encode(format!("{}:{}", credentials.username, credentials.password));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    Ok(request.into_bytes())
}

/// Reads the response head and nothing after it.
///
/// Every read asks for at most as many bytes as the head could still need before it can end
/// ([`max_safe_read`]), so the head's last byte is always the last byte read. That costs a read
/// call per one or two bytes, which is nothing next to the round trip through the proxy, and
/// works on any stream (peeking would need a socket, buffering would keep bytes the tunnelled
/// protocol owns).
async fn read_response<S: AsyncRead + Unpin>(io: &mut S) -> Result<(), ProxyError> {
    let mut head = Vec::with_capacity(128);
    // Parsing at every line end is enough to finish; parsing also at growing sizes catches a
    // peer that is not speaking HTTP without waiting for a newline that may never come.
    let mut next_probe = 8;
    loop {
        if head.len() >= MAX_RESPONSE_HEAD {
            parse_head(&head)?;
            return Err(ProxyError::ResponseTooLarge {
                limit: MAX_RESPONSE_HEAD,
            });
        }
        let mut chunk = [0u8; 2];
        let want = max_safe_read(&head).min(MAX_RESPONSE_HEAD - head.len());
        let n = io.read(&mut chunk[..want]).await?;
        if n == 0 {
            if !head.is_empty() {
                parse_head(&head)?;
            }
            return Err(ProxyError::Closed {
                received: head.len(),
            });
        }
        head.extend_from_slice(&chunk[..n]);
        if head.ends_with(b"\n") || head.len() >= next_probe {
            next_probe = head.len() * 2;
            if let Some(status) = parse_head(&head)? {
                return if (200..300).contains(&status) {
                    Ok(())
                } else {
                    Err(ProxyError::Refused {
                        status,
                        status_line: status_line(&head),
                    })
                };
            }
        }
    }
}

/// A lower bound on the bytes still needed before the head can end. A head ends with a line
/// end (`\n` or `\r\n`) followed by an empty line (`\n` or `\r\n`), so its last byte is `\n`,
/// preceded by `\n` or by `\n\r`.
fn max_safe_read(head: &[u8]) -> usize {
    if head.ends_with(b"\n") || head.ends_with(b"\n\r") {
        1
    } else {
        2
    }
}

/// `Some(status)` once the head is complete, `None` while it is not.
fn parse_head(head: &[u8]) -> Result<Option<u16>, ProxyError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(len)) if len == head.len() => response
            .code
            .map(Some)
            .ok_or_else(|| ProxyError::MalformedResponse {
                reason: "no status code".into(),
            }),
        // Cannot happen given `max_safe_read`; refuse rather than hand a stream with missing
        // bytes to the tunnelled protocol.
        Ok(httparse::Status::Complete(_)) => Err(ProxyError::MalformedResponse {
            reason: "the head ended before the last bytes read".into(),
        }),
        Err(e) => Err(ProxyError::MalformedResponse {
            reason: match e {
                httparse::Error::TooManyHeaders => {
                    format!("more than {MAX_HEADERS} header lines")
                }
                other => other.to_string(),
            },
        }),
    }
}

/// The first line as received, without its line ending.
fn status_line(head: &[u8]) -> String {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(proxy: &ProxyEndpoint, host: &str, port: u16) -> String {
        String::from_utf8(connect_request(proxy, host, port).unwrap()).unwrap()
    }

    #[test]
    fn requests() {
        let plain = ProxyEndpoint::new("proxy", 3128);
        assert_eq!(
            request(&plain, "example.com", 443),
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        );
        assert_eq!(
            request(&plain, "::1", 443),
            "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n"
        );
        assert_eq!(
            request(&plain, "[::1]", 8080),
            "CONNECT [::1]:8080 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"
        );
        let auth = plain.with_credentials("Aladdin", "open sesame");
        assert_eq!(
            request(&auth, "10.0.0.1", 80),
            "CONNECT 10.0.0.1:80 HTTP/1.1\r\nHost: 10.0.0.1:80\r\n\
             Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"
        );
    }

    #[test]
    fn bad_targets_and_proxies_are_refused_before_sending() {
        let proxy = ProxyEndpoint::new("proxy", 3128);
        for (host, port) in [
            ("", 443),
            ("example.com", 0),
            ("example.com\r\nX-Injected: 1", 443),
            ("example.com 443", 443),
            ("example.com:443", 443),
            ("[example.com]", 443),
        ] {
            let err = connect_request(&proxy, host, port).unwrap_err();
            assert!(
                matches!(err, ProxyError::InvalidTarget { .. }),
                "{host:?}: {err:?}"
            );
        }
        let bad_user = proxy.clone().with_credentials("a:b", "c");
        assert!(matches!(
            connect_request(&bad_user, "example.com", 443),
            Err(ProxyError::InvalidProxy { .. })
        ));
        let port_zero = ProxyEndpoint::new("proxy", 0);
        assert!(matches!(
            connect_request(&port_zero, "example.com", 443),
            Err(ProxyError::InvalidProxy { .. })
        ));
    }

    #[test]
    fn safe_read_sizes_never_overshoot_a_head_end() {
        // For every prefix of these heads, reading `max_safe_read` bytes cannot pass the end.
        for head in [
            &b"HTTP/1.1 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\n\n",
            b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n",
            b"HTTP/1.1 200 OK\nA: b\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\r\n\n",
        ] {
            for i in 0..head.len() {
                assert!(
                    i + max_safe_read(&head[..i]) <= head.len(),
                    "{head:?} at {i}"
                );
            }
            assert_eq!(parse_head(head).unwrap(), Some(200));
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            status_line(b"HTTP/1.1 407 Proxy Auth\r\nA: b\r\n\r\n"),
            "HTTP/1.1 407 Proxy Auth"
        );
        assert_eq!(
            status_line(b"HTTP/1.0 403 Forbidden\n\n"),
            "HTTP/1.0 403 Forbidden"
        );
        assert_eq!(
            status_line(b"HTTP/1.1 403 Verboten \xff\r\n\r\n"),
            "HTTP/1.1 403 Verboten \u{fffd}"
        );
    }

    #[test]
    fn parse_results() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap(), None);
        assert_eq!(parse_head(b"HTTP/1.1 407 Nope\r\n\r\n").unwrap(), Some(407));
        assert!(matches!(
            parse_head(b"SSH-2.0-x\r\n"),
            Err(ProxyError::MalformedResponse { .. })
        ));
        assert!(matches!(
            parse_head(b"garbage!"),
            Err(ProxyError::MalformedResponse { .. })
        ));
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            many.extend_from_slice(b"A: b\r\n");
        }
        many.extend_from_slice(b"\r\n");
        let err = parse_head(&many).unwrap_err();
        assert!(
            err.to_string().contains("more than 64 header lines"),
            "{err}"
        );
    }
}
