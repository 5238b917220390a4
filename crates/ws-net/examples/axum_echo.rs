//! An axum application with an HTML page at `/` and an echo WebSocket at `/ws`, served over
//! HTTP/1.1 and HTTP/2 on the same port.
//!
//! ```text
//! cargo run -p ws-net --example axum_echo --features axum -- 127.0.0.1:8080 [--cert CERT.pem --key KEY.pem]
//! ```
//!
//! Open `http://127.0.0.1:8080/` in a browser: the page connects to `/ws`, sends a line and shows
//! the echo. WebSocket clients connect to `ws://127.0.0.1:8080/ws` with an HTTP/1.1 upgrade, or
//! with an HTTP/2 extended CONNECT (RFC 8441): hyper-util's auto builder speaks HTTP/1.1 and
//! cleartext HTTP/2 by prior knowledge on the same port, with `enable_connect_protocol`. With
//! `--cert` and `--key` (PEM files) it serves HTTPS and `wss://`, offering `h2` and `http/1.1`
//! by ALPN. Prints `listening on http://ADDR` (or `https://`) once ready, so port 0 works too.
//!
//! `?report=URL` on the page makes it also POST its result as JSON to `URL/report/result` (the
//! browser check of `cargo xtask interop` uses that).

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::response::{Html, Response};
use axum::routing::{any, get};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use ws_net::axum::ConnectionUpgrade;
use ws_net::tls::TlsAcceptor;
use ws_net::ws_proto::deflate::DeflateConfig;
use ws_net::ws_proto::handshake::Upgrade;
use ws_net::{Connection, ConnectionConfig, Incoming};

/// A client must finish its TLS handshake, and send each HTTP/1.1 request head, within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>ws-net axum echo</title>
<h1>ws-net axum echo</h1>
<form id="form"><input id="line" value="hello ✓ from the browser" size="40"> <button>send</button></form>
<pre id="log"></pre>
<script>
const log = (line) => { document.getElementById("log").textContent += line + "\n"; };
const report = new URLSearchParams(location.search).get("report");
async function done(result) {
  log(result.ok ? "ok" : "failed: " + result.error);
  document.title = result.ok ? "echo ok" : "echo failed";
  if (report) {
    await fetch(report + "/report/result", { method: "POST", mode: "no-cors", body: JSON.stringify(result) });
  }
}
const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
const ws = new WebSocket(url);
let first = null;
ws.onopen = () => {
  log("open " + url + " extensions: " + (ws.extensions || "none"));
  first = document.getElementById("line").value;
  ws.send(first);
};
ws.onmessage = (event) => {
  log("echo: " + event.data);
  if (first !== null) {
    const ok = event.data === first;
    first = null;
    const protocol = (performance.getEntriesByType("navigation")[0] || {}).nextHopProtocol;
    done({ ok, error: ok ? undefined : "the echo differs", http: protocol, extensions: ws.extensions });
  }
};
ws.onerror = () => log("error");
ws.onclose = (event) => {
  log("closed " + event.code + " clean=" + event.wasClean);
  if (first !== null) done({ ok: false, error: "closed (" + event.code + ") before the echo" });
};
document.getElementById("form").onsubmit = (event) => {
  event.preventDefault();
  ws.send(document.getElementById("line").value);
};
</script>
"#;

struct Args {
    addr: SocketAddr,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut parsed = Args {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            cert: None,
            key: None,
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--cert" => parsed.cert = Some(args.next().ok_or("--cert needs a file")?.into()),
                "--key" => parsed.key = Some(args.next().ok_or("--key needs a file")?.into()),
                other => {
                    parsed.addr = other.parse().map_err(|e| {
                        format!("{other:?} is not an address like 127.0.0.1:8080: {e}")
                    })?
                }
            }
        }
        Ok(parsed)
    }
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(error) => {
            eprintln!(
                "axum_echo: {error}\nusage: axum_echo [ADDR] [--cert CERT.pem --key KEY.pem]"
            );
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("axum_echo: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("axum_echo: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The TLS acceptor for `--cert`/`--key`, offering HTTP/2 and HTTP/1.1 by ALPN.
fn tls_acceptor(args: &Args) -> Result<Option<TlsAcceptor>, Box<dyn Error>> {
    let (cert, key) = match (&args.cert, &args.key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        _ => return Err("--cert and --key go together".into()),
    };
    let acceptor = TlsAcceptor::from_pem_files(cert, key)?;
    let mut config = (**acceptor.config()).clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from_config(Arc::new(config))))
}

async fn serve(args: Args) -> Result<(), Box<dyn Error>> {
    let tls = tls_acceptor(&args)?;
    let listener = TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("listening on {scheme}://{}", listener.local_addr()?);

    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        // `any`: HTTP/1.1 upgrades are GETs, HTTP/2 ones CONNECTs; the extractor refuses the
        // rest with the status the listener would answer.
        .route("/ws", any(websocket));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: log, breathe, go on.
                eprintln!("accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let served = match tls {
                None => serve_connection(tcp, app).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => serve_connection(stream, app).await,
                        Ok(Err(error)) => return eprintln!("{peer}: {error}"),
                        Err(_) => return eprintln!("{peer}: the TLS handshake timed out"),
                    }
                }
            };
            if let Err(error) = served {
                eprintln!("{peer}: {error}");
            }
        });
    }
}

/// Serves one connection: HTTP/1.1 with upgrades, or HTTP/2 (prior knowledge, or `h2` by ALPN)
/// with extended CONNECT.
async fn serve_connection<I>(io: I, app: Router) -> Result<(), Box<dyn Error + Send + Sync>>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Clients that trickle a request head are dropped rather than held forever.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol();
    builder
        .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(app))
        .await
}

async fn websocket(ws: ConnectionUpgrade) -> Response {
    let over = match ws.request().upgrade {
        Upgrade::Http11 { .. } => "HTTP/1.1",
        Upgrade::ExtendedConnect => "HTTP/2",
    };
    println!("open {} over {over}", ws.request().path);
    ws.deflate(Some(DeflateConfig::default()))
        .config(ConnectionConfig::default().ping_interval(Some(Duration::from_secs(30))))
        .on_failed_upgrade(|error| eprintln!("upgrade failed: {error}"))
        .on_upgrade(echo)
}

/// Echoes every message until the client closes; the closing handshake is answered by the
/// connection.
async fn echo(mut conn: Connection) {
    while let Some(incoming) = conn.recv().await {
        match incoming {
            Incoming::Message(message) => {
                // A failed send means the connection is going away; `recv` says how next.
                if let Err(error) = conn.send(message).await {
                    eprintln!("send failed: {error}");
                }
            }
            // Pongs are sent automatically; chunks come only in streaming mode.
            Incoming::Ping(_) | Incoming::Pong(_) | Incoming::Chunk(_) => {}
            Incoming::Error(error) => eprintln!("connection failed: {error}"),
            Incoming::Closed(status) => {
                println!("close {} {}", u16::from(status.code), status.reason);
                break;
            }
        }
    }
}
