//! `ws connect`: a `WebSocket` client that sends stdin and prints what it receives, connecting
//! again with `--reconnect`.

mod pings;
mod session;
mod typed;

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::info;
use ws_api::client::{
    ClientCert, HttpProxy, PermessageDeflate, ProxyConfiguration, TlsProtocol,
    WebSocketRequestOptions, MAX_SEND_SIZE,
};
use ws_api::{code, create_web_socket};

use crate::args::{ConnectArgs, Proxy};
use crate::explain::{self, Flags};
use crate::input::{self, Source};
use crate::output::Output;
use crate::signals::Interrupts;
use crate::USAGE_STATUS;
use pings::Pings;
use session::{listen_to, Outcome, Session};
use typed::Typed;

/// `--reconnect`: the first wait, and the longest.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub async fn run(args: ConnectArgs, verbose: u8) -> ExitCode {
    let options = match request_options(&args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("ws: {e}");
            return ExitCode::from(USAGE_STATUS);
        }
    };
    let flags = Flags {
        verbose: verbose > 0,
        ca: args.ca.is_some(),
    };
    let send_limit = args.max_message_size.unwrap_or(MAX_SEND_SIZE);
    // Before the line editor starts (see `signals`).
    let mut interrupts = Interrupts::watch();
    let mut reading = input::start(Source::detect(args.binary), send_limit);
    let output = Arc::new(Output::new(args.binary, &mut reading));
    let typed = Typed {
        input: &mut reading.input,
        interrupts: &mut interrupts,
        held: VecDeque::new(),
        open: true,
    };
    let status = converse(&args, &options, flags, &output, typed).await;
    output.finish().await;
    status
}

/// Connects (again, with --reconnect) and runs each connection until the conversation ends.
async fn converse(
    args: &ConnectArgs,
    options: &WebSocketRequestOptions,
    flags: Flags,
    output: &Arc<Output>,
    mut typed: Typed<'_>,
) -> ExitCode {
    let received = Arc::new(AtomicU64::new(0));
    let pings = Arc::new(Mutex::new(Pings::default()));
    let mut backoff = FIRST_BACKOFF;
    loop {
        let ws = create_web_socket();
        let mut endings = listen_to(&ws, args, output, &received, &pings);
        info!(url = %args.url, "connecting");
        let connecting = ws.connect_and_wait(&args.url, Some(options.clone()));
        let connected = tokio::select! {
            connected = connecting => connected,
            () = typed.stop_requested(output) => {
                output.notice("ws: stopped before the connection opened");
                return ExitCode::FAILURE;
            }
        };
        let open = match connected {
            Ok(open) => open,
            Err(e) => {
                let explained = explain::connect_failed(&e, flags);
                let text =
                    explained.render(&format!("could not connect to {}", args.url), &e, flags);
                let usage = matches!(
                    e.code,
                    code::PARAMETER_ERROR | code::URL_ERROR | code::CERT_FILE_NOT_EXIST
                );
                if usage {
                    output.notice(&text);
                    return ExitCode::from(USAGE_STATUS);
                }
                if !args.reconnect {
                    output.notice(&text);
                    return ExitCode::FAILURE;
                }
                output.notice(&format!(
                    "{text}\nws: connecting again in {}",
                    seconds(backoff)
                ));
                if !wait(backoff, &mut typed, output).await {
                    return ExitCode::FAILURE;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = FIRST_BACKOFF;
        match &open.protocol {
            Some(protocol) => {
                output.notice(&format!("connected to {} (protocol {protocol})", args.url))
            }
            None => output.notice(&format!("connected to {}", args.url)),
        }
        let session = Session {
            ws: &ws,
            args,
            output,
            pings: &pings,
            flags,
        };
        match session.run(&mut endings, &mut typed).await {
            Outcome::Finished(status) => return status,
            Outcome::Ended { status, why } => {
                // Once the input is over, a new connection would only be closed at once.
                if !args.reconnect || (!typed.open && !args.no_close) {
                    return status;
                }
                output.notice(&format!(
                    "ws: {why}; connecting again in {}",
                    seconds(backoff)
                ));
                if !wait(backoff, &mut typed, output).await {
                    return status;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// `1 s`, `30 s`.
fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs())
}

/// Waits before connecting again; false when the user says to stop instead.
async fn wait(backoff: Duration, typed: &mut Typed<'_>, output: &Output) -> bool {
    tokio::select! {
        () = tokio::time::sleep(backoff) => true,
        () = typed.stop_requested(output) => false,
    }
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
