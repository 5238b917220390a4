//! `CONNECT` tunnels through a real tinyproxy, and through fake proxies that misbehave.
//!
//! Everything runs on loopback with OS-assigned ports, and every test is bounded in time.

#[path = "support/tinyproxy.rs"]
mod tinyproxy;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tinyproxy::{Tinyproxy, TinyproxyConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use ws_net::proxy::{tunnel, ProxyConfig, ProxyEndpoint, ProxyError, MAX_RESPONSE_HEAD};

/// Upper bound for each test's network part; loopback needs a tiny fraction of it.
const LIMIT: Duration = Duration::from_secs(10);

/// What the target sends as soon as the tunnel reaches it: these bytes may arrive in the same
/// read as the proxy's `200`, so reading them back proves `tunnel` did not swallow them.
const BANNER: &[u8] = b"BANNER from the target\n";

async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {LIMIT:?}"))
}

/// A target on 127.0.0.1 that sends [`BANNER`] and then echoes everything back.
async fn banner_echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                stream.write_all(BANNER).await?;
                let (mut read, mut write) = stream.split();
                tokio::io::copy(&mut read, &mut write).await?;
                Ok::<_, std::io::Error>(())
            });
        }
    });
    addr
}

/// Connects to tinyproxy and asks it for a tunnel to `target`.
async fn through_tinyproxy(
    proxy: &Tinyproxy,
    credentials: Option<(&str, &str)>,
    target: SocketAddr,
) -> Result<TcpStream, ProxyError> {
    let mut endpoint = ProxyEndpoint::new("127.0.0.1", proxy.port());
    if let Some((user, pass)) = credentials {
        endpoint = endpoint.with_credentials(user, pass);
    }
    let mut stream = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
        .await
        .expect("connecting to tinyproxy");
    tunnel(
        &mut stream,
        &endpoint,
        &target.ip().to_string(),
        target.port(),
    )
    .await?;
    Ok(stream)
}

/// Reads the banner, then round-trips a payload large enough to need many segments.
async fn assert_tunnel_works(stream: TcpStream) {
    let (mut read, mut write) = stream.into_split();
    let mut banner = vec![0; BANNER.len()];
    read.read_exact(&mut banner).await.unwrap();
    assert_eq!(
        banner, BANNER,
        "the target's first bytes were lost or changed"
    );

    let payload: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let sent = payload.clone();
    let writer = tokio::spawn(async move {
        write.write_all(&sent).await.unwrap();
        write
    });
    let mut echoed = vec![0; payload.len()];
    read.read_exact(&mut echoed).await.unwrap();
    assert!(echoed == payload, "the echo differs from what was sent");
    drop(writer.await.unwrap());
}

/// A refusal with one of the `expected` statuses, whose message quotes the status line.
fn assert_refused(result: Result<TcpStream, ProxyError>, expected: &[u16]) {
    let err = match result {
        Err(err) => err,
        Ok(_) => panic!("expected a refusal ({expected:?}), got a tunnel"),
    };
    let ProxyError::Refused {
        status,
        status_line,
    } = &err
    else {
        panic!("expected a refusal ({expected:?}), got {err:?}");
    };
    assert!(expected.contains(status), "{err}");
    assert!(
        status_line.starts_with("HTTP/1.") && status_line.contains(&status.to_string()),
        "status line {status_line:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("proxy refused the tunnel: \"{status_line}\"")
    );
}

#[tokio::test]
async fn tinyproxy_tunnels_bytes_both_ways() {
    let Some(proxy) = Tinyproxy::start(&TinyproxyConfig::default()) else {
        return;
    };
    bounded("tunnel through tinyproxy", async {
        let target = banner_echo_server().await;
        let stream = through_tinyproxy(&proxy, None, target).await.unwrap();
        assert_tunnel_works(stream).await;
    })
    .await;
}

#[tokio::test]
async fn tinyproxy_several_tunnels_at_once() {
    let Some(proxy) = Tinyproxy::start(&TinyproxyConfig::default()) else {
        return;
    };
    bounded("concurrent tunnels", async {
        let target = banner_echo_server().await;
        let streams = [
            through_tinyproxy(&proxy, None, target).await.unwrap(),
            through_tinyproxy(&proxy, None, target).await.unwrap(),
            through_tinyproxy(&proxy, None, target).await.unwrap(),
        ];
        for stream in streams {
            assert_tunnel_works(stream).await;
        }
    })
    .await;
}

#[tokio::test]
async fn tinyproxy_basic_auth_accepts_the_right_credentials() {
    let config = TinyproxyConfig::default().basic_auth("alice", "s3cret");
    let Some(proxy) = Tinyproxy::start(&config) else {
        return;
    };
    bounded("authenticated tunnel", async {
        let target = banner_echo_server().await;
        let stream = through_tinyproxy(&proxy, Some(("alice", "s3cret")), target)
            .await
            .unwrap();
        assert_tunnel_works(stream).await;
    })
    .await;
}

#[tokio::test]
async fn tinyproxy_basic_auth_refuses_missing_credentials() {
    let config = TinyproxyConfig::default().basic_auth("alice", "s3cret");
    let Some(proxy) = Tinyproxy::start(&config) else {
        return;
    };
    bounded("unauthenticated tunnel", async {
        let target = banner_echo_server().await;
        let result = through_tinyproxy(&proxy, None, target).await;
        if let Err(ProxyError::Refused { status_line, .. }) = &result {
            assert!(
                status_line.ends_with(" 407 Proxy Authentication Required"),
                "{status_line:?}"
            );
        }
        assert_refused(result, &[407]);
    })
    .await;
}

#[tokio::test]
async fn tinyproxy_basic_auth_refuses_wrong_credentials() {
    let config = TinyproxyConfig::default().basic_auth("alice", "s3cret");
    let Some(proxy) = Tinyproxy::start(&config) else {
        return;
    };
    bounded("tunnels with wrong credentials", async {
        let target = banner_echo_server().await;
        for (user, pass) in [("alice", "wrong"), ("mallory", "s3cret"), ("alice", "")] {
            let result = through_tinyproxy(&proxy, Some((user, pass)), target).await;
            // 407 is right, but tinyproxy before 1.11.2 (Debian 12 ships 1.11.1) answers wrong
            // credentials with 401: tinyproxy issue #532, fixed by its pull request #549.
            assert_refused(result, &[407, 401]);
        }
    })
    .await;
}

#[tokio::test]
async fn tinyproxy_refuses_ports_outside_connect_port() {
    // CONNECT only to 443: the echo server's port is refused.
    let config = TinyproxyConfig::default().connect_port(443);
    let Some(proxy) = Tinyproxy::start(&config) else {
        return;
    };
    bounded("tunnel to a forbidden port", async {
        let target = banner_echo_server().await;
        assert_ne!(target.port(), 443);
        assert_refused(through_tinyproxy(&proxy, None, target).await, &[403]);
    })
    .await;
}

#[tokio::test]
async fn tinyproxy_from_environment_style_configuration() {
    // tinyproxy's BasicAuth takes only letters, digits and `.-_`.
    let config = TinyproxyConfig::default().basic_auth("bob", "pa.ss-word_1");
    let Some(proxy) = Tinyproxy::start(&config) else {
        return;
    };
    // The way a client uses the module: resolve the proxy from (a stand-in for) the
    // environment, connect, tunnel. Part of the password arrives percent-encoded.
    let url = format!("http://bob:pa%2Ess%2dword_1@127.0.0.1:{}", proxy.port());
    let env = move |name: &str| match name {
        "http_proxy" => Some(url.clone()),
        "no_proxy" => Some("localhost,.internal".to_string()),
        _ => None,
    };
    bounded("tunnel configured from the environment", async {
        let target = banner_echo_server().await;
        let host = target.ip().to_string();
        // Loopback targets never use an environment proxy, so resolve for a remote-looking name
        // and tunnel to the local test server with what it gives.
        let endpoint = ProxyConfig::System
            .for_target_with_env("echo.example", target.port(), false, &env)
            .unwrap()
            .expect("http_proxy applies to this target");
        assert_eq!(
            ProxyConfig::System
                .for_target_with_env(&host, target.port(), false, &env)
                .unwrap(),
            None
        );
        assert_eq!(endpoint.port, proxy.port());
        let mut stream = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .unwrap();
        tunnel(&mut stream, &endpoint, &host, target.port())
            .await
            .unwrap();
        assert_tunnel_works(stream).await;
        // no_proxy hosts are reached directly.
        assert_eq!(
            ProxyConfig::System
                .for_target_with_env("db.internal", 80, false, &env)
                .unwrap(),
            None
        );
    })
    .await;
}

/// What a fake proxy does after reading the request head.
struct Fake {
    /// Written in order, each flushed, with `pause` after each.
    chunks: Vec<Vec<u8>>,
    pause: Duration,
    /// Keep the connection open (until the client closes it) or close it at once.
    hold: bool,
}

impl Fake {
    fn answer(bytes: &[u8]) -> Fake {
        Fake {
            chunks: vec![bytes.to_vec()],
            pause: Duration::ZERO,
            hold: true,
        }
    }

    fn closing(mut self) -> Fake {
        self.hold = false;
        self
    }
}

/// A one-connection "proxy" on 127.0.0.1. The handle yields the request bytes it received.
async fn fake_proxy(fake: Fake) -> (SocketAddr, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return request,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        for chunk in &fake.chunks {
            // The client may stop reading (and close) before everything is written.
            if stream.write_all(chunk).await.is_err() || stream.flush().await.is_err() {
                return request;
            }
            if !fake.pause.is_zero() {
                tokio::time::sleep(fake.pause).await;
            }
        }
        if fake.hold {
            while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
        }
        request
    });
    (addr, task)
}

/// Tunnels through a fake proxy to `host:port` and, when that works, reads `expect_after` (the
/// bytes the fake sent after its head) from the stream. Returns the result and what the fake
/// received (once the stream is closed, so that a holding fake finishes).
async fn via_fake(
    fake: Fake,
    proxy: &ProxyEndpoint,
    host: &str,
    port: u16,
    expect_after: &[u8],
) -> (Result<(), ProxyError>, Vec<u8>) {
    let (addr, task) = fake_proxy(fake).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let proxy = ProxyEndpoint {
        host: addr.ip().to_string(),
        port: addr.port(),
        ..proxy.clone()
    };
    let result = tunnel(&mut stream, &proxy, host, port).await;
    if result.is_ok() {
        let mut after = vec![0; expect_after.len()];
        stream.read_exact(&mut after).await.unwrap();
        assert_eq!(
            String::from_utf8_lossy(&after),
            String::from_utf8_lossy(expect_after),
            "bytes after the response head"
        );
    }
    drop(stream);
    let request = task.await.unwrap();
    (result, request)
}

fn plain_proxy() -> ProxyEndpoint {
    // Host and port are replaced with the fake's address.
    ProxyEndpoint::new("unused", 1)
}

#[tokio::test]
async fn fake_proxy_sees_the_request_and_keeps_bytes_after_the_head() {
    bounded("fake proxy", async {
        let fake = Fake::answer(
            b"HTTP/1.1 200 Connection established\r\nProxy-Agent: fake\r\n\r\nTUNNELLED BYTES",
        );
        let proxy = plain_proxy().with_credentials("user", "pass");
        let (result, request) = via_fake(fake, &proxy, "[::1]", 443, b"TUNNELLED BYTES").await;
        result.unwrap();
        assert_eq!(
            String::from_utf8(request).unwrap(),
            "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\
             Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n"
        );
    })
    .await;
}

#[tokio::test]
async fn fake_proxy_without_credentials_sends_no_authorization() {
    bounded("fake proxy", async {
        let fake = Fake::answer(b"HTTP/1.1 200 OK\r\n\r\n");
        let (result, request) = via_fake(fake, &plain_proxy(), "Example.COM", 8080, b"").await;
        result.unwrap();
        assert_eq!(
            String::from_utf8(request).unwrap(),
            "CONNECT Example.COM:8080 HTTP/1.1\r\nHost: Example.COM:8080\r\n\r\n"
        );
    })
    .await;
}

#[tokio::test]
async fn fake_proxy_answer_trickling_in_byte_by_byte() {
    bounded("trickling answer", async {
        let answer = b"HTTP/1.0 200 OK\r\nVia: 1.1 fake\r\n\r\nafter";
        let fake = Fake {
            chunks: answer.iter().map(|&b| vec![b]).collect(),
            pause: Duration::from_millis(1),
            hold: true,
        };
        let (result, _) = via_fake(fake, &plain_proxy(), "example.com", 443, b"after").await;
        result.unwrap();
    })
    .await;
}

#[tokio::test]
async fn fake_proxy_bare_lf_line_endings() {
    bounded("LF-only answer", async {
        let fake = Fake::answer(b"HTTP/1.1 200 OK\nX-Thing: 1\n\nafter");
        let (result, _) = via_fake(fake, &plain_proxy(), "example.com", 443, b"after").await;
        result.unwrap();
    })
    .await;
}

#[tokio::test]
async fn fake_proxy_other_2xx_statuses_open_the_tunnel() {
    bounded("204 answer", async {
        let fake = Fake::answer(b"HTTP/1.1 204 No Content\r\n\r\nx");
        let (result, _) = via_fake(fake, &plain_proxy(), "example.com", 443, b"x").await;
        result.unwrap();
    })
    .await;
}

#[tokio::test]
async fn fake_proxy_refusal_with_a_body() {
    bounded("refusal", async {
        let fake = Fake::answer(
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nnope!",
        );
        let (result, _) = via_fake(fake, &plain_proxy(), "example.com", 25, b"").await;
        match result {
            Err(ProxyError::Refused {
                status,
                status_line,
            }) => {
                assert_eq!(status, 403);
                assert_eq!(status_line, "HTTP/1.1 403 Forbidden");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn fake_proxy_refusal_message_quotes_odd_status_lines() {
    bounded("odd refusal", async {
        let fake = Fake::answer(b"HTTP/1.1 502 Bad \"Gateway\"\r\n\r\n");
        let (result, _) = via_fake(fake, &plain_proxy(), "example.com", 443, b"").await;
        let err = result.unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"proxy refused the tunnel: "HTTP/1.1 502 Bad \"Gateway\"""#
        );
    })
    .await;
}

#[tokio::test]
async fn fake_proxy_garbage_is_malformed() {
    bounded("garbage answers", async {
        // The fakes keep the connection open: the error must come from the bytes, not from EOF.
        for garbage in [
            &b"SSH-2.0-OpenSSH_9.2p1\r\n"[..],
            b"hello, this is not HTTP at all and there is no newline",
            b"HTTP/1.1 abc Weird\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        ] {
            let (result, _) = via_fake(
                Fake::answer(garbage),
                &plain_proxy(),
                "example.com",
                443,
                b"",
            )
            .await;
            assert!(
                matches!(result, Err(ProxyError::MalformedResponse { .. })),
                "{:?}: {result:?}",
                String::from_utf8_lossy(garbage)
            );
        }
    })
    .await;
}

#[tokio::test]
async fn fake_proxy_huge_head_is_too_large() {
    bounded("huge head", async {
        let mut answer = b"HTTP/1.1 200 OK\r\nX-Padding: ".to_vec();
        answer.resize(answer.len() + 2 * MAX_RESPONSE_HEAD, b'a');
        answer.extend_from_slice(b"\r\n\r\n");
        let (result, _) = via_fake(
            Fake::answer(&answer),
            &plain_proxy(),
            "example.com",
            443,
            b"",
        )
        .await;
        match result {
            Err(ProxyError::ResponseTooLarge { limit }) => assert_eq!(limit, MAX_RESPONSE_HEAD),
            other => panic!("expected ResponseTooLarge, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn fake_proxy_head_size_limit_is_exact() {
    bounded("heads at the limit", async {
        // A head of exactly MAX_RESPONSE_HEAD bytes is accepted, one byte more is not.
        for (padding, accepted) in [(0, true), (1, false)] {
            let mut answer = b"HTTP/1.1 200 OK\r\nX-Padding: ".to_vec();
            answer.resize(MAX_RESPONSE_HEAD - 4 + padding, b'a');
            answer.extend_from_slice(b"\r\n\r\nafter");
            let fake = Fake::answer(&answer);
            let (result, _) = via_fake(fake, &plain_proxy(), "example.com", 443, b"after").await;
            if accepted {
                result.unwrap();
            } else {
                assert!(
                    matches!(result, Err(ProxyError::ResponseTooLarge { .. })),
                    "{result:?}"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn fake_proxy_too_many_headers_is_malformed() {
    bounded("many headers", async {
        let mut answer = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..100 {
            answer.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        answer.extend_from_slice(b"\r\n");
        let (result, _) = via_fake(
            Fake::answer(&answer),
            &plain_proxy(),
            "example.com",
            443,
            b"",
        )
        .await;
        assert!(
            matches!(result, Err(ProxyError::MalformedResponse { .. })),
            "{result:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn fake_proxy_closing_without_an_answer() {
    bounded("silent close", async {
        let fake = Fake::answer(b"").closing();
        let (result, request) = via_fake(fake, &plain_proxy(), "example.com", 443, b"").await;
        assert!(!request.is_empty(), "the request was sent");
        match result {
            Err(err @ ProxyError::Closed { received: 0 }) => {
                assert!(err.to_string().contains("without answering"), "{err}")
            }
            other => panic!("expected Closed, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn fake_proxy_closing_in_the_middle_of_the_head() {
    bounded("close mid-head", async {
        let partial = b"HTTP/1.1 200 Connection established\r\nProxy-Agent: fa";
        let fake = Fake::answer(partial).closing();
        let (result, _) = via_fake(fake, &plain_proxy(), "example.com", 443, b"").await;
        match result {
            Err(ProxyError::Closed { received }) => assert_eq!(received, partial.len()),
            other => panic!("expected Closed, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn fake_proxy_closing_after_garbage_is_malformed() {
    bounded("garbage then close", async {
        let fake = Fake::answer(b"nonsense").closing();
        let (result, _) = via_fake(fake, &plain_proxy(), "example.com", 443, b"").await;
        assert!(
            matches!(result, Err(ProxyError::MalformedResponse { .. })),
            "{result:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn fake_proxy_that_never_answers_is_bounded_by_the_caller() {
    bounded("silent proxy", async {
        let (addr, task) = fake_proxy(Fake::answer(b"")).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let proxy = ProxyEndpoint::new("127.0.0.1", addr.port());
        let result = tokio::time::timeout(
            Duration::from_millis(200),
            tunnel(&mut stream, &proxy, "example.com", 443),
        )
        .await;
        assert!(
            result.is_err(),
            "tunnel returned without an answer: {result:?}"
        );
        drop(stream);
        task.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn invalid_targets_send_nothing() {
    bounded("invalid target", async {
        let (addr, task) = fake_proxy(Fake::answer(b"HTTP/1.1 200 OK\r\n\r\n")).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let proxy = ProxyEndpoint::new("127.0.0.1", addr.port());
        for (host, port) in [
            ("example.com\r\nX-Injected: yes", 443),
            ("example.com", 0),
            ("", 443),
        ] {
            let err = tunnel(&mut stream, &proxy, host, port).await.unwrap_err();
            assert!(
                matches!(err, ProxyError::InvalidTarget { .. }),
                "{host:?}:{port}: {err:?}"
            );
        }
        drop(stream);
        assert!(task.await.unwrap().is_empty(), "bytes reached the proxy");
    })
    .await;
}
