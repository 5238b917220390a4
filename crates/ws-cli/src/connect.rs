//! `ws connect`: a `WebSocket` client that sends stdin and prints what it receives.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::mpsc;
use tracing::{debug, info};
use ws_api::client::{
    events, ClientCert, CloseResult, HttpProxy, MessageData, PermessageDeflate, ProxyConfiguration,
    TlsProtocol, WebSocketRequestOptions,
};
use ws_api::{code, create_web_socket, BusinessError, WebSocket};

use crate::args::{ConnectArgs, Proxy};
use crate::{with_reason, USAGE_STATUS};

/// The most stdin bytes one binary message carries.
const BINARY_CHUNK: usize = 1 << 20;
/// How long to wait for the server's answer to our Close frame; the facade gives up after 5 s.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// How the connection ended, as the event listeners saw it.
#[derive(Debug)]
enum Ending {
    Closed(CloseResult),
    Failed(BusinessError),
}

pub async fn run(args: ConnectArgs) -> ExitCode {
    let options = match request_options(&args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("ws: {e}");
            return ExitCode::from(USAGE_STATUS);
        }
    };
    let ws = create_web_socket();
    let mut endings = listen_to(&ws, args.binary);
    info!(url = %args.url, "connecting");
    let open = match ws.connect_and_wait(&args.url, Some(options)).await {
        Ok(open) => open,
        Err(e) => {
            eprintln!(
                "ws: could not connect to {}: error {}: {}{}",
                args.url,
                e.code,
                e.message,
                hint(&e)
            );
            return match e.code {
                code::PARAMETER_ERROR | code::URL_ERROR | code::CERT_FILE_NOT_EXIST => {
                    ExitCode::from(USAGE_STATUS)
                }
                _ => ExitCode::FAILURE,
            };
        }
    };
    match &open.protocol {
        Some(protocol) => eprintln!("connected to {} (protocol {protocol})", args.url),
        None => eprintln!("connected to {}", args.url),
    }

    let mut failed = false;
    let input = send_input(&ws, args.binary);
    tokio::pin!(input);
    let ended_early = tokio::select! {
        result = &mut input => {
            if let Err(e) = result {
                eprintln!("ws: {e}");
                failed = true;
            }
            None
        }
        ending = next_ending(&mut endings, &mut failed) => Some(ending),
        _ = tokio::signal::ctrl_c() => None,
    };
    let closed = match ended_early {
        Some(closed) => closed,
        None => {
            debug!("closing normally");
            // Fails only when the server closed first; its close event is on the way.
            if let Err(e) = ws.close(None).await {
                debug!("close: {e}");
            }
            match tokio::time::timeout(CLOSE_WAIT, next_ending(&mut endings, &mut failed)).await {
                Ok(closed) => closed,
                Err(_) => {
                    eprintln!("ws: the connection did not close within {CLOSE_WAIT:?}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let Some(closed) = closed else {
        eprintln!("ws: the connection ended without a close event");
        return ExitCode::FAILURE;
    };
    eprintln!("closed: {}", with_reason(closed.code, &closed.reason));
    if !failed && matches!(closed.code, 1000 | 1001) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Prints messages as they arrive; reports closes and errors on the returned channel.
fn listen_to(ws: &WebSocket, binary: bool) -> mpsc::UnboundedReceiver<Ending> {
    let (tx, rx) = mpsc::unbounded_channel();
    ws.on(events::HeaderReceive, |headers| {
        debug!("response headers: {headers:?}")
    });
    ws.on(events::Message, move |data| print_message(data, binary));
    let closes = tx.clone();
    ws.on(events::Close, move |close| {
        let _ = closes.send(Ending::Closed(close.clone()));
    });
    ws.on(events::Error, move |e| {
        let _ = tx.send(Ending::Failed(e.clone()));
    });
    rx
}

/// Waits for the close event, reporting errors on the way (and setting `failed`); `None` if the
/// listeners are gone.
async fn next_ending(
    endings: &mut mpsc::UnboundedReceiver<Ending>,
    failed: &mut bool,
) -> Option<CloseResult> {
    loop {
        match endings.recv().await? {
            Ending::Closed(close) => return Some(close),
            Ending::Failed(e) => {
                eprintln!("ws: error {}: {}{}", e.code, e.message, hint(&e));
                *failed = true;
            }
        }
    }
}

fn print_message(data: &MessageData, binary: bool) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (`ws connect ... | head`) is not worth failing the connection for.
    let _ = match data {
        MessageData::Text(text) => writeln!(out, "{}", text.as_str()),
        MessageData::Binary(bytes) if binary => out.write_all(bytes).and_then(|()| out.flush()),
        MessageData::Binary(bytes) => {
            let shown: Vec<String> = bytes.iter().take(32).map(|b| format!("{b:02x}")).collect();
            let more = if bytes.len() > 32 { " ..." } else { "" };
            writeln!(
                out,
                "<binary {} bytes: {}{more}>",
                bytes.len(),
                shown.join(" ")
            )
        }
    };
}

/// Sends stdin until its end: one text message per line, or one binary message per read.
async fn send_input(ws: &WebSocket, binary: bool) -> Result<(), String> {
    let mut stdin = BufReader::new(tokio::io::stdin());
    if binary {
        let mut buf = vec![0u8; BINARY_CHUNK];
        loop {
            let n = stdin
                .read(&mut buf)
                .await
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            if n == 0 {
                return Ok(());
            }
            ws.send_binary(&buf[..n])
                .await
                .map_err(|e| format!("not sent: error {}: {}", e.code, e.message))?;
        }
    }
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        if stdin
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| format!("cannot read stdin: {e}"))?
            == 0
        {
            break;
        }
        if line.ends_with(b"\n") {
            line.pop();
            if line.ends_with(b"\r") {
                line.pop();
            }
        }
        let text = std::str::from_utf8(&line).map_err(|_| {
            format!("line {number} of stdin is not UTF-8 text; send such input with --binary")
        })?;
        ws.send_text(text)
            .await
            .map_err(|e| format!("not sent: error {}: {}", e.code, e.message))?;
    }
    Ok(())
}

fn request_options(args: &ConnectArgs) -> Result<WebSocketRequestOptions, String> {
    Ok(WebSocketRequestOptions {
        header: args.headers.clone(),
        ca_path: args.ca.clone(),
        client_cert: args.cert.as_ref().map(|(cert, key)| ClientCert {
            cert_path: cert.clone(),
            key_path: key.clone(),
            key_password: args.key_password.clone(),
        }),
        proxy: Some(match &args.proxy {
            Proxy::System => ProxyConfiguration::System,
            Proxy::None => ProxyConfiguration::NoProxy,
            Proxy::Url(url) => ProxyConfiguration::Http(http_proxy(url)?),
        }),
        protocol: args.protocol.clone(),
        skip_server_cert_verification: args.insecure.then_some(true),
        ping_interval: args.ping_interval,
        pong_timeout: args.pong_timeout,
        min_support_tls_protocol: args.tls_min_1_3.then_some(TlsProtocol::TlsV13),
        max_message_size: args.max_message_size,
        max_send_size: args.max_message_size,
        permessage_deflate: args.deflate.then(PermessageDeflate::default),
        ..WebSocketRequestOptions::default()
    })
}

/// `http://[user[:password]@]host[:port][/]`.
fn http_proxy(url: &str) -> Result<HttpProxy, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("--proxy {url:?}: expected http://[user:password@]host:port, `system` or `none`")
    })?;
    let rest = rest.trim_end_matches('/');
    let (credentials, host_port) = match rest.rsplit_once('@') {
        Some((credentials, host_port)) => (Some(credentials), host_port),
        None => (None, rest),
    };
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("--proxy {url:?}: unclosed `[` in the host"))?;
            (host, after.strip_prefix(':'))
        }
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err(format!("--proxy {url:?}: the host is missing"));
    }
    let port = match port {
        None => 80,
        Some(port) => port
            .parse()
            .map_err(|_| format!("--proxy {url:?}: {port:?} is not a port number"))?,
    };
    let (username, password) = match credentials {
        None => (None, None),
        Some(credentials) => match credentials.split_once(':') {
            Some((user, password)) => (Some(user.to_owned()), Some(password.to_owned())),
            None => (Some(credentials.to_owned()), None),
        },
    };
    Ok(HttpProxy {
        host: host.to_owned(),
        port,
        exclusion_list: Vec::new(),
        username,
        password,
    })
}

/// What a shell user can do about the common failures.
fn hint(e: &BusinessError) -> &'static str {
    let message = e.message.to_ascii_lowercase();
    if message.contains("certificate") && !message.contains("file") {
        "\n  hint: pass the server's CA with --ca PEM, or --insecure to skip verification"
    } else if message.contains("refused") {
        "\n  hint: is the server running? (`ws serve` starts one on 127.0.0.1:9001)"
    } else if e.code == code::CONNECT_FAILED && e.data.is_some_and(|status| status != 101) {
        "\n  hint: the server answered with HTTP instead of a WebSocket upgrade; check the path"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls() {
        let p = http_proxy("http://user:secret@proxy.example:3128/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.example", 3128));
        assert_eq!(p.username.as_deref(), Some("user"));
        assert_eq!(p.password.as_deref(), Some("secret"));
        let p = http_proxy("http://[::1]:8080").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 8080));
        let p = http_proxy("http://proxy").unwrap();
        assert_eq!((p.host.as_str(), p.port, p.username), ("proxy", 80, None));
        for bad in [
            "socks5://proxy:1080",
            "http://:3128",
            "http://proxy:port",
            "http://[::1",
        ] {
            assert!(http_proxy(bad).is_err(), "{bad}");
        }
    }
}
