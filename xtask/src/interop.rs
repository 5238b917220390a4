//! `cargo xtask interop`: headless Chromium, Node's `ws` and Python's `websockets` against the
//! `ws` command, both directions, over loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::process::{self, Background};
use crate::util::{self, bail, Result};

pub const HELP: &str = "\
Check `ws serve` and `ws connect` against a real browser and two other WebSocket stacks.

USAGE:
    cargo xtask interop [OPTIONS]

OPTIONS:
    --skip-browser       Skip the Chromium checks
    -h, --help           Print this help

Installs what is missing: Debian's chromium and openssl (apt-get), Node's `ws` package (npm,
into <target dir>/interop-deps), Python's `websockets` (pip, into a virtualenv there). Then:
    browser   headless Chromium loads a page served on loopback that opens a WebSocket to
              `ws serve`, sends text (multi-byte UTF-8) and binary messages of 0 B, 1 B,
              125 B, 126 B, 64 KiB and 1 MiB, checks every echo, closes with 1000 and a
              reason and checks the close event; the same over wss:// with a certificate
              created for the run that the browser is told to trust; and a page that stays
              connected while `ws serve` is stopped must see code 1001
    node      Node's `ws` client against `ws serve`; `ws connect` against a `ws` server
    python    Python's `websockets` client against `ws serve`; `ws connect` against a
              `websockets` server
    stream    ws-net's `stream_echo` example (Stream/Sink, feature `futures`): `ws connect`
              sends text lines and a 1 MiB binary message and gets them back
    axum      ws-net's `axum_echo` example (HTTP/1.1 and HTTP/2 on one port): `ws connect`
              against its `/ws`, and Chromium on its page over http:// and over https://
              (ALPN h2, so WebSocket over HTTP/2 where Chromium speaks RFC 8441)
    http2     WebSocket over HTTP/2 (RFC 8441): ws-net's client (the `h2_client` example,
              feature `http2`) against a Node `http2` server and a Python `h2` + `wsproto`
              server, both accepting extended CONNECT over cleartext HTTP/2; text and binary
              messages of 0 B, 125 B, 64 KiB and 1 MiB echoed, then a clean close (Python's
              `h2` and `wsproto` are pip-installed into the same virtualenv); and against
              ws-net's own `axum_echo` over cleartext HTTP/2 and over TLS with ALPN h2
";

const PAGE: &str = include_str!("../interop/page.html");
const NODE_CLIENT: &str = include_str!("../interop/node_client.js");
const NODE_SERVER: &str = include_str!("../interop/node_server.js");
const PYTHON_CLIENT: &str = include_str!("../interop/python_client.py");
const PYTHON_SERVER: &str = include_str!("../interop/python_server.py");
const NODE_H2_SERVER: &str = include_str!("../interop/node_h2_server.js");
const PYTHON_H2_SERVER: &str = include_str!("../interop/python_h2_server.py");

/// Bound of one check: a hang fails the run instead of stalling CI.
const CHECK_BOUND: Duration = Duration::from_secs(90);
const SIZES: [usize; 6] = [0, 1, 125, 126, 64 * 1024, 1024 * 1024];

pub fn main(args: &[String]) -> Result {
    let mut skip_browser = false;
    for arg in args {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            "--skip-browser" => skip_browser = true,
            other => bail!("unexpected argument `{other}` for `cargo xtask interop` (see --help)"),
        }
    }
    run(&util::workspace_root(), skip_browser)
}

/// Every check, as CI runs it.
pub fn run_all(root: &Path) -> Result {
    run(root, false)
}

fn run(root: &Path, skip_browser: bool) -> Result {
    let target = util::target_dir(root);
    let out = target.join("interop");
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    std::fs::create_dir_all(&out)?;
    let deps = target.join("interop-deps");
    std::fs::create_dir_all(&deps)?;
    let ws = process::release_ws(root)?;
    let mut passed = Vec::new();

    if skip_browser {
        eprintln!("browser: skipped (--skip-browser)");
    } else {
        util::ensure_binary("chromium", &["chromium"])?;
        util::ensure_binary("openssl", &["openssl"])?;
        let browser = Browser::new(&out)?;
        browser.echo(&ws, None, false)?;
        passed.push("Chromium ↔ ws serve over ws://");
        let (cert, key) = certificate(&out)?;
        browser.echo(&ws, Some((&cert, &key)), false)?;
        passed.push("Chromium ↔ ws serve over wss://");
        browser.echo(&ws, None, true)?;
        passed.push("Chromium ↔ ws serve --deflate (permessage-deflate)");
        browser.server_close(&ws)?;
        passed.push("Chromium sees 1001 when ws serve stops");
    }

    let node_modules = ensure_node_ws(&deps)?;
    let node = |script: &Path| {
        let mut cmd = util::cmd("node", &out);
        cmd.env("NODE_PATH", &node_modules).arg(script);
        cmd
    };
    let node_client = write(&out, "node_client.js", NODE_CLIENT)?;
    let node_server = write(&out, "node_server.js", NODE_SERVER)?;
    client_against_ws_serve("node ws client", &ws, node(&node_client), false)?;
    passed.push("Node ws client ↔ ws serve");
    client_against_ws_serve("node ws client", &ws, node(&node_client), true)?;
    passed.push("Node ws client ↔ ws serve --deflate (permessage-deflate)");
    ws_connect_against("node ws server", &ws, node(&node_server), false)?;
    passed.push("ws connect ↔ Node ws server");
    let mut deflating = node(&node_server);
    deflating.arg("deflate");
    ws_connect_against("node ws server", &ws, deflating, true)?;
    passed.push("ws connect --deflate ↔ Node ws server (permessage-deflate)");

    let python = util::ensure_python_package(
        &deps.join("python-venv"),
        "websockets>=13",
        "websockets.asyncio.server",
    )?;
    let python_client = write(&out, "python_client.py", PYTHON_CLIENT)?;
    let python_server = write(&out, "python_server.py", PYTHON_SERVER)?;
    let py = |script: &Path| {
        let mut cmd = util::cmd(&python, &out);
        cmd.arg(script);
        cmd
    };
    client_against_ws_serve("python websockets client", &ws, py(&python_client), false)?;
    passed.push("Python websockets client ↔ ws serve");
    client_against_ws_serve("python websockets client", &ws, py(&python_client), true)?;
    passed.push("Python websockets client ↔ ws serve --deflate (permessage-deflate)");
    ws_connect_against("python websockets server", &ws, py(&python_server), false)?;
    passed.push("ws connect ↔ Python websockets server");
    ws_connect_against("python websockets server", &ws, py(&python_server), true)?;
    passed.push("ws connect --deflate ↔ Python websockets server (permessage-deflate)");

    axum_echo(root, &out, &ws, skip_browser, &mut passed)?;
    stream_echo(root, &out, &ws)?;
    passed.push("ws connect ↔ stream_echo (ws-net's Stream/Sink, `receiver.forward(sender)`)");

    let h2_client =
        process::release_example_with(root, "ws-net", "h2_client", &["http2"], &out.join("bin"))?;
    let node_h2_server = write(&out, "node_h2_server.js", NODE_H2_SERVER)?;
    h2_client_against("node http2 server", &h2_client, node(&node_h2_server))?;
    passed.push("ws-net HTTP/2 client ↔ Node http2 server (RFC 8441)");
    let python_h2 =
        util::ensure_python_package(&deps.join("python-venv"), "h2>=4", "h2.connection")?;
    util::ensure_python_package(
        &deps.join("python-venv"),
        "wsproto>=1.2",
        "wsproto.connection",
    )?;
    let python_h2_server = write(&out, "python_h2_server.py", PYTHON_H2_SERVER)?;
    let mut python_h2_cmd = util::cmd(&python_h2, &out);
    python_h2_cmd.arg(&python_h2_server);
    h2_client_against("python h2 server", &h2_client, python_h2_cmd)?;
    passed.push("ws-net HTTP/2 client ↔ Python h2 + wsproto server (RFC 8441)");
    h2_client_against_axum_echo(root, &out, &h2_client)?;
    passed.push("ws-net HTTP/2 client ↔ axum_echo over ws:// and wss:// (RFC 8441)");

    eprintln!();
    for check in &passed {
        eprintln!("    ok  {check}");
    }
    println!("interop: {} checks passed", passed.len());
    Ok(())
}

fn write(dir: &Path, name: &str, contents: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, contents)?;
    Ok(path)
}

/// Starts `ws serve` with `extra` arguments; returns it and its URL.
pub(crate) fn ws_serve(ws: &Path, extra: &[&str]) -> Result<(Background, String)> {
    let mut cmd = Command::new(ws);
    cmd.args(["serve", "--listen", "127.0.0.1:0"]).args(extra);
    let server = Background::start("ws serve", &mut cmd)?;
    let url = server.wait_for(Duration::from_secs(30), |line| {
        line.strip_prefix("listening on ").map(str::to_owned)
    })?;
    Ok((server, url))
}

/// A self-signed certificate for 127.0.0.1, made with openssl.
fn certificate(out: &Path) -> Result<(PathBuf, PathBuf)> {
    let (cert, key) = (out.join("cert.pem"), out.join("key.pem"));
    util::run(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null()),
    )?;
    Ok((cert, key))
}

/// The base64 SHA-256 of the certificate's public key, which Chromium's
/// `--ignore-certificate-errors-spki-list` takes as "trust this key".
fn spki_hash(cert: &Path) -> Result<String> {
    let script = "openssl x509 -in \"$1\" -pubkey -noout | openssl pkey -pubin -outform der \
                  | openssl dgst -sha256 -binary | base64";
    let output = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(cert)
        .output()?;
    let hash = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || hash.len() != 44 {
        bail!("cannot hash the certificate's public key: {hash:?}");
    }
    Ok(hash)
}

/// Serves the test page on loopback and collects what it reports.
struct Browser {
    page_url: String,
    reports: mpsc::Receiver<(String, String)>,
    profiles: PathBuf,
}

impl Browser {
    fn new(out: &Path) -> Result<Browser> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let page_url = format!("http://{}/", listener.local_addr()?);
        let (tx, reports) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(|s| s.ok()) {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let _ = serve_http(stream, &tx);
                });
            }
        });
        Ok(Browser {
            page_url,
            reports,
            profiles: out.join("chromium-profiles"),
        })
    }

    /// Runs headless Chromium on the page with `query`; returns it (killed on drop).
    fn open(&self, query: &str, spki: Option<&str>) -> Result<Background> {
        self.open_url(&format!("{}?{query}", self.page_url), spki)
    }

    /// Runs headless Chromium on `url`; returns it (killed on drop).
    fn open_url(&self, url: &str, spki: Option<&str>) -> Result<Background> {
        // A fresh profile per page: no state carries over between checks.
        let profile = self.profiles.join(format!(
            "p{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos()
        ));
        std::fs::create_dir_all(&profile)?;
        let mut cmd = Command::new("chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
        if let Some(hash) = spki {
            cmd.arg(format!("--ignore-certificate-errors-spki-list={hash}"));
        }
        cmd.arg(url);
        Background::start_quiet("chromium", &mut cmd)
    }

    /// Waits for the page's report of `kind`; returns its JSON body.
    fn report(&self, kind: &str) -> Result<String> {
        let deadline = Instant::now() + CHECK_BOUND;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.reports.recv_timeout(left) {
                Ok((got, body)) if got == kind => return Ok(body),
                Ok(_) => {}
                Err(_) => bail!("the page sent no `{kind}` report within {CHECK_BOUND:?}"),
            }
        }
    }

    fn expect_success(&self, what: &str) -> Result {
        let body = self.report("result")?;
        eprintln!("    [page] {body}");
        if !body.contains("\"ok\":true") {
            bail!("{what}: the page reported a failure: {body}");
        }
        Ok(())
    }

    /// The echo page against `ws serve`, over wss:// when a certificate is given, with
    /// permessage-deflate negotiated when `deflate` (the page checks `ws.extensions`).
    fn echo(&self, ws: &Path, tls: Option<(&Path, &Path)>, deflate: bool) -> Result {
        eprintln!(
            "\n==> browser: echo over {}{}",
            if tls.is_some() { "wss://" } else { "ws://" },
            if deflate {
                " with permessage-deflate"
            } else {
                ""
            }
        );
        let mut extra = Vec::new();
        if deflate {
            extra.push("--deflate".to_owned());
        }
        let spki = match tls {
            Some((cert, key)) => {
                extra.extend([
                    "--cert".to_owned(),
                    cert.display().to_string(),
                    "--key".to_owned(),
                    key.display().to_string(),
                ]);
                Some(spki_hash(cert)?)
            }
            None => None,
        };
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let (mut server, url) = ws_serve(ws, &extra)?;
        let query = format!("mode=echo&deflate={}&ws={url}", u8::from(deflate));
        let _chromium = self.open(&query, spki.as_deref())?;
        self.expect_success("the browser echo check")?;
        // The server saw the browser's close code and reason.
        server.wait_for(Duration::from_secs(10), |line| {
            (line.starts_with("close ") && line.ends_with(" 1000 bye from the browser"))
                .then_some(())
        })?;
        server.terminate(Duration::from_secs(10))?;
        Ok(())
    }

    /// A page stays connected while `ws serve` stops; its close event must carry 1001.
    fn server_close(&self, ws: &Path) -> Result {
        eprintln!("\n==> browser: the server stops while the page is connected");
        let (mut server, url) = ws_serve(ws, &[])?;
        let _chromium = self.open(&format!("mode=wait&ws={url}"), None)?;
        self.report("open")?;
        let status = server.terminate(Duration::from_secs(15))?;
        if !status.success() {
            bail!("ws serve exited with {status} on SIGTERM");
        }
        self.expect_success("the server-close check")
    }
}

/// ws-net's `stream_echo` example (the echo server written with the futures `Stream`/`Sink`):
/// `ws connect` sends text lines and a 1 MiB binary message, and must get each back unchanged.
fn stream_echo(root: &Path, out: &Path, ws: &Path) -> Result {
    eprintln!("\n==> ws connect against ws-net's stream_echo example");
    let example = process::release_example_with(
        root,
        "ws-net",
        "stream_echo",
        &["futures"],
        &out.join("bin"),
    )?;
    let mut cmd = Command::new(&example);
    cmd.arg("127.0.0.1:0");
    let server = Background::start("stream_echo", &mut cmd)?;
    let addr = server.wait_for(Duration::from_secs(30), |line| {
        line.strip_prefix("listening on ").map(str::to_owned)
    })?;
    let url = format!("ws://{addr}/");
    let input = "hello stream ✓\nsecond line\n";
    let output = ws_connect(ws, &url, &[], input.as_bytes())?;
    if output != input.as_bytes() {
        bail!(
            "ws connect printed {:?} for {input:?} sent to stream_echo",
            String::from_utf8_lossy(&output)
        );
    }
    let bytes: Vec<u8> = (0..(1usize << 20) + 3).map(|i| (i * 7 + 1) as u8).collect();
    let output = ws_connect(ws, &url, &["--binary"], &bytes)?;
    if output != bytes {
        bail!(
            "ws connect --binary got {} bytes back for {} sent to stream_echo",
            output.len(),
            bytes.len()
        );
    }
    drop(server);
    Ok(())
}

/// Starts ws-net's `axum_echo` example with `extra` arguments; returns it and its base URL
/// (`http://ADDR` or `https://ADDR`).
fn start_axum_echo(example: &Path, extra: &[&str]) -> Result<(Background, String)> {
    let mut cmd = Command::new(example);
    cmd.arg("127.0.0.1:0").args(extra);
    let server = Background::start("axum_echo", &mut cmd)?;
    let url = server.wait_for(Duration::from_secs(30), |line| {
        line.strip_prefix("listening on ").map(str::to_owned)
    })?;
    Ok((server, url))
}

/// ws-net's `axum_echo` example: `ws connect` against its `/ws`, then (unless the browser is
/// skipped) its page in Chromium over http:// and https://. Every server is killed on every
/// path out (`Background` kills on drop).
fn axum_echo(
    root: &Path,
    out: &Path,
    ws: &Path,
    skip_browser: bool,
    passed: &mut Vec<&'static str>,
) -> Result {
    eprintln!("\n==> ws connect against ws-net's axum_echo example");
    let example =
        process::release_example_with(root, "ws-net", "axum_echo", &["axum"], &out.join("bin"))?;
    let (mut server, url) = start_axum_echo(&example, &[])?;
    let Some(addr) = url.strip_prefix("http://") else {
        bail!("axum_echo printed {url:?}, not an http:// URL");
    };
    let input = "hello axum ✓\nsecond line\n";
    let output = ws_connect(ws, &format!("ws://{addr}/ws"), &[], input.as_bytes())?;
    if output != input.as_bytes() {
        bail!(
            "ws connect printed {:?} for {input:?} sent to axum_echo",
            String::from_utf8_lossy(&output)
        );
    }
    server.wait_for(Duration::from_secs(10), |line| {
        (line.starts_with("close 1000")).then_some(())
    })?;
    passed.push("ws connect ↔ axum_echo (ws-net's axum extractor)");
    if skip_browser {
        eprintln!("axum_echo in the browser: skipped (--skip-browser)");
        return server.terminate(Duration::from_secs(10)).map(drop);
    }
    util::ensure_binary("chromium", &["chromium"])?;
    util::ensure_binary("openssl", &["openssl"])?;
    let browser = Browser::new(out)?;
    let report = browser.page_url.trim_end_matches('/');

    eprintln!("\n==> browser: axum_echo's page over http://");
    let _chromium = browser.open_url(&format!("{url}/?report={report}"), None)?;
    browser.expect_success("the axum_echo page over http://")?;
    server.wait_for(Duration::from_secs(10), |line| {
        (line == "open /ws over HTTP/1.1").then_some(())
    })?;
    server.terminate(Duration::from_secs(10))?;
    passed.push("Chromium ↔ axum_echo page and WebSocket over http://");

    eprintln!("\n==> browser: axum_echo's page over https:// (ALPN h2)");
    let (cert, key) = certificate(out)?;
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let (mut server, url) = start_axum_echo(&example, &["--cert", &cert_arg, "--key", &key_arg])?;
    let spki = spki_hash(&cert)?;
    // Chromium loads the page over h2 and opens the WebSocket on that connection with an
    // extended CONNECT once the server's SETTINGS enabled it. Whether that session is already
    // usable for WebSockets when the page's script runs is Chromium's own timing: now and then
    // it opens a new HTTP/1.1 connection instead. A fresh browser gets another try; one
    // WebSocket over HTTP/2 in three tries is required.
    const TRIES: usize = 3;
    for attempt in 1..=TRIES {
        let chromium = browser.open_url(&format!("{url}/?report={report}"), Some(&spki))?;
        browser.expect_success("the axum_echo page over https://")?;
        let over = server.wait_for(Duration::from_secs(10), |line| {
            line.strip_prefix("open /ws over ").map(str::to_owned)
        })?;
        drop(chromium);
        if over == "HTTP/2" {
            break;
        }
        if attempt == TRIES {
            bail!(
                "Chromium did not open the WebSocket over HTTP/2 in {TRIES} tries (last: {over})"
            );
        }
        eprintln!(
            "    Chromium opened the WebSocket over {over} (try {attempt} of {TRIES}); again"
        );
    }
    server.terminate(Duration::from_secs(10))?;
    passed.push("Chromium ↔ axum_echo over https:// (WebSocket over HTTP/2, RFC 8441)");
    Ok(())
}

/// A minimal HTTP/1.1 responder: `GET /` is the page, `POST /report/KIND` a report.
fn serve_http(stream: TcpStream, reports: &mpsc::Sender<(String, String)>) -> Result {
    stream.set_read_timeout(Some(CHECK_BOUND))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length.min(1 << 20)];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, content) = match (method, path) {
        ("GET", p) if p == "/" || p.starts_with("/?") => {
            ("200 OK", "text/html; charset=utf-8", PAGE.as_bytes())
        }
        ("POST", p) if p.starts_with("/report/") => {
            let kind = p.trim_start_matches("/report/").to_owned();
            let _ = reports.send((kind, String::from_utf8_lossy(&body).into_owned()));
            ("200 OK", "text/plain", &b"ok"[..])
        }
        _ => ("404 Not Found", "text/plain", &b"not found"[..]),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        content.len()
    )?;
    stream.write_all(content)?;
    Ok(())
}

/// Installs Node's `ws` package into `deps/node` when missing; returns its `node_modules`.
fn ensure_node_ws(deps: &Path) -> Result<PathBuf> {
    if util::which("node").is_none() || util::which("npm").is_none() {
        util::apt_install(&["nodejs", "npm"])?;
    }
    let prefix = deps.join("node");
    let modules = prefix.join("node_modules");
    if !modules.join("ws").join("package.json").is_file() {
        std::fs::create_dir_all(&prefix)?;
        util::run(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                .arg(&prefix)
                .arg("ws@8"),
        )?;
    }
    Ok(modules)
}

/// Another stack's client runs its echo checks against `ws serve` and must exit 0.
/// Another stack's client against `ws serve` (echo); with `deflate`, the server runs with
/// `--deflate` and the client must report permessage-deflate negotiated.
fn client_against_ws_serve(label: &str, ws: &Path, mut client: Command, deflate: bool) -> Result {
    let (flags, suffix): (&[&str], &str) = match deflate {
        true => (&["--deflate"], " --deflate"),
        false => (&[], ""),
    };
    eprintln!("\n==> {label} against ws serve{suffix}");
    let (mut server, url) = ws_serve(ws, flags)?;
    client.arg(&url);
    if deflate {
        client.arg("deflate");
    }
    let mut run = Background::start(label, &mut client)?;
    let status = run.wait(CHECK_BOUND)?;
    if !status.success() {
        bail!("{label} failed against ws serve ({status})");
    }
    server.wait_for(Duration::from_secs(10), |line| {
        (line.starts_with("close ") && line.contains(" 1000 ")).then_some(())
    })?;
    server.terminate(Duration::from_secs(10))?;
    Ok(())
}

/// `ws connect` against another stack's echo server: text lines and binary input come back.
/// With `deflate`, `ws connect --deflate` must get permessage-deflate from the server, which
/// prints what each connection negotiated.
fn ws_connect_against(label: &str, ws: &Path, mut server: Command, deflate: bool) -> Result {
    let (flags, binary_flags): (&[&str], &[&str]) = match deflate {
        true => (&["--deflate"], &["--deflate", "--binary"]),
        false => (&[], &["--binary"]),
    };
    eprintln!(
        "\n==> ws connect {}against the {label}",
        flags.join(" ") + " "
    );
    let server = Background::start(label, &mut server)?;
    let url = server.wait_for(Duration::from_secs(30), |line| {
        line.strip_prefix("listening on ").map(str::to_owned)
    })?;
    let text = |n: usize| "é".repeat(n / 2) + if n % 2 == 1 { "a" } else { "" };
    let mut lines: Vec<String> = SIZES.iter().map(|&n| text(n)).collect();
    lines.push("hello ✓ 日本語 🎉".to_owned());
    let input = lines.join("\n") + "\n";
    let output = ws_connect(ws, &url, flags, input.as_bytes())?;
    if output != input.as_bytes() {
        bail!(
            "ws connect printed {} bytes for {} bytes of text lines sent to the {label}",
            output.len(),
            input.len()
        );
    }
    eprintln!("    text lines: {} lines echoed unchanged", lines.len());
    let extensions = server.wait_for(Duration::from_secs(10), |line| {
        line.strip_prefix("connection extensions: ")
            .map(str::to_owned)
    })?;
    if deflate != extensions.starts_with("permessage-deflate") {
        bail!("ws connect {flags:?} against the {label} negotiated extensions {extensions:?}");
    }
    eprintln!("    extensions: {extensions}");
    let bytes: Vec<u8> = (0..(1usize << 20) + 7)
        .map(|i| (i * 31 + 7) as u8)
        .collect();
    let output = ws_connect(ws, &url, binary_flags, &bytes)?;
    if output != bytes {
        bail!(
            "ws connect --binary got {} bytes back for {} sent to the {label}",
            output.len(),
            bytes.len()
        );
    }
    eprintln!("    binary: {} bytes echoed unchanged", bytes.len());
    drop(server);
    Ok(())
}

/// ws-net's HTTP/2 client (`h2_client`) against another stack's RFC 8441 echo server: it must
/// connect over HTTP/2, get every message back, close cleanly and exit 0, and the server must
/// have seen the Close with 1000.
fn h2_client_against(label: &str, h2_client: &Path, mut server: Command) -> Result {
    eprintln!("\n==> ws-net HTTP/2 client against the {label}");
    let server = Background::start(label, &mut server)?;
    let url = server.wait_for(Duration::from_secs(30), |line| {
        line.strip_prefix("listening on ").map(str::to_owned)
    })?;
    run_h2_client(label, h2_client, &url, &[])?;
    server.wait_for(Duration::from_secs(10), |line| {
        (line == "close 1000").then_some(())
    })?;
    drop(server);
    Ok(())
}

/// Runs `h2_client URL EXTRA..`: it must connect over HTTP/2 with 200, get every message back,
/// close cleanly and exit 0.
fn run_h2_client(label: &str, h2_client: &Path, url: &str, extra: &[&str]) -> Result {
    let mut client = Command::new(h2_client);
    client.arg(url).args(extra);
    let mut run = Background::start("h2_client", &mut client)?;
    let connected = run.wait_for(CHECK_BOUND, |line| {
        line.strip_prefix("connected: ").map(str::to_owned)
    })?;
    let status = run.wait(CHECK_BOUND)?;
    if !status.success() {
        bail!("the HTTP/2 client failed against the {label} ({status})");
    }
    if !connected.starts_with("HTTP/2 200") {
        bail!("the HTTP/2 client connected to the {label} with {connected:?}");
    }
    Ok(())
}

/// ws-net's HTTP/2 client against ws-net's own server side, the `axum_echo` example (hyper's
/// HTTP/2 with extended CONNECT): over cleartext HTTP/2 with prior knowledge, and over TLS with
/// ALPN `h2`.
fn h2_client_against_axum_echo(root: &Path, out: &Path, h2_client: &Path) -> Result {
    let example =
        process::release_example_with(root, "ws-net", "axum_echo", &["axum"], &out.join("bin"))?;
    util::ensure_binary("openssl", &["openssl"])?;
    let (cert, key) = certificate(out)?;
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let tls: &[&str] = &["--cert", &cert_arg, "--key", &key_arg];
    for (extra, scheme, client_extra) in
        [(&[][..], "ws", &[][..]), (tls, "wss", &["--insecure"][..])]
    {
        eprintln!("\n==> ws-net HTTP/2 client against axum_echo over {scheme}://");
        let (mut server, url) = start_axum_echo(&example, extra)?;
        let Some(addr) = url.split_once("://").map(|(_, addr)| addr) else {
            bail!("axum_echo printed {url:?}, not a URL");
        };
        run_h2_client(
            "axum_echo",
            h2_client,
            &format!("{scheme}://{addr}/ws"),
            client_extra,
        )?;
        server.wait_for(Duration::from_secs(10), |line| {
            (line == "open /ws over HTTP/2").then_some(())
        })?;
        server.wait_for(Duration::from_secs(10), |line| {
            line.starts_with("close 1000").then_some(())
        })?;
        server.terminate(Duration::from_secs(10))?;
    }
    Ok(())
}

/// Runs `ws connect URL`, types `input` into it and ends the input once as many bytes came
/// back (as a user would, who waits for the answers before pressing Ctrl-D); returns its
/// stdout. It must exit 0 after a normal close.
pub(crate) fn ws_connect(ws: &Path, url: &str, extra: &[&str], input: &[u8]) -> Result<Vec<u8>> {
    let mut cmd = Command::new("timeout");
    cmd.arg(CHECK_BOUND.as_secs().to_string())
        .arg(ws)
        .args(["connect", "--proxy", "none"])
        .args(extra)
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    eprintln!("$ {}", util::display_cmd(&cmd));
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().ok_or("no stdin for ws connect")?;
    let mut stdout = child.stdout.take().ok_or("no stdout for ws connect")?;
    let mut stderr = child.stderr.take().ok_or("no stderr for ws connect")?;
    let (end_input, input_ended) = mpsc::channel::<()>();
    let input = input.to_vec();
    let expected = input.len();
    let writer = std::thread::spawn(move || {
        let written = stdin.write_all(&input);
        // Keep stdin open until the answers are in (or the wait is given up).
        let _ = input_ended.recv();
        written
    });
    let (chunks_tx, chunks) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || chunks_tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut output = Vec::new();
    let deadline = Instant::now() + CHECK_BOUND;
    while output.len() < expected {
        match chunks.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(chunk) => output.extend_from_slice(&chunk),
            Err(_) => break,
        }
    }
    let _ = end_input.send(());
    while let Ok(chunk) = chunks.recv_timeout(Duration::from_secs(30)) {
        output.extend_from_slice(&chunk);
    }
    let status = child.wait()?;
    let written = writer.join().map_err(|_| "the stdin writer panicked")?;
    let stderr = errors.join().map_err(|_| "the stderr reader panicked")?;
    for line in stderr.lines() {
        eprintln!("    [ws connect] {line}");
    }
    written.map_err(|e| format!("cannot write to ws connect: {e}"))?;
    if !status.success() {
        bail!("ws connect exited with {status}");
    }
    if !stderr.contains("closed: 1000") {
        bail!("ws connect did not report a normal close");
    }
    Ok(output)
}
