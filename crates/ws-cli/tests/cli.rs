//! The `ws` binary end to end over loopback: `ws serve` and `ws connect` talking, broadcast,
//! exit statuses and messages of the failures a shell user meets.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const BOUND: Duration = Duration::from_secs(20);

fn ws() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ws"));
    cmd.kill_on_drop(true)
        .env_remove("RUST_LOG")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("all_proxy")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(BOUND, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

/// A running `ws serve`, its URL and its stdout lines.
struct Serve {
    child: Child,
    url: String,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Serve {
    async fn start(args: &[&str]) -> Serve {
        let mut child = ws()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = within("the listening line", lines.next_line())
            .await
            .unwrap()
            .expect("ws serve printed nothing");
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        Serve { child, url, lines }
    }

    async fn line(&mut self) -> String {
        within("a ws serve line", self.lines.next_line())
            .await
            .unwrap()
            .expect("ws serve ended")
    }
}

/// Runs `ws connect` with `input` on stdin; returns (status code, stdout, stderr).
async fn connect(args: &[&str], input: &[u8]) -> (i32, String, String) {
    let mut child = ws().arg("connect").args(args).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).await.unwrap();
    drop(stdin);
    let out = within("ws connect", child.wait_with_output())
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn connect_prints_the_echo_of_every_line_and_closes_normally() {
    let mut server = Serve::start(&[]).await;
    assert!(server.url.starts_with("ws://127.0.0.1:"), "{}", server.url);
    let (status, stdout, stderr) = connect(&[&server.url], "héllo ✓\n\nlast".as_bytes()).await;
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(stdout, "héllo ✓\n\nlast\n");
    assert!(stderr.contains("closed: 1000"), "{stderr}");
    assert!(server.line().await.starts_with("connect 127.0.0.1:"));
    let close = server.line().await;
    assert!(
        close.starts_with("close 127.0.0.1:") && close.ends_with(" 1000 CLOSE_NORMAL"),
        "{close}"
    );
}

#[tokio::test]
async fn binary_mode_sends_and_prints_raw_bytes() {
    let server = Serve::start(&[]).await;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let mut child = ws()
        .args(["connect", "--binary", &server.url])
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes).await.unwrap();
    // Wait for the echo before ending the input, as a user would.
    let mut stdout = child.stdout.take().unwrap();
    let mut echoed = vec![0u8; bytes.len()];
    within("the echo", stdout.read_exact(&mut echoed))
        .await
        .unwrap();
    assert_eq!(echoed, bytes);
    drop(stdin);
    let status = within("ws connect", child.wait()).await.unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn broadcast_mode_sends_every_message_to_every_client() {
    let mut server = Serve::start(&["--mode", "broadcast"]).await;
    let mut listener = ws().args(["connect", &server.url]).spawn().unwrap();
    let mut heard = BufReader::new(listener.stdout.take().unwrap()).lines();
    // The listener is connected once it reports so on stderr.
    let mut status_lines = BufReader::new(listener.stderr.take().unwrap()).lines();
    let connected = within("the listener's connection", status_lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert!(connected.starts_with("connected to"), "{connected}");
    // ...and the server has it in its list once it printed the connect.
    assert!(server.line().await.starts_with("connect "));
    let (status, stdout, _) = connect(&[&server.url], b"to everyone\n").await;
    assert_eq!(status, 0);
    assert_eq!(
        stdout, "to everyone\n",
        "the sender hears its own message too"
    );
    let line = within("the broadcast", heard.next_line()).await.unwrap();
    assert_eq!(line.as_deref(), Some("to everyone"));
    drop(listener.stdin.take());
    assert!(within("the listener", listener.wait())
        .await
        .unwrap()
        .success());
}

#[tokio::test]
async fn a_server_that_stops_closes_the_client_with_1001() {
    let server = Serve::start(&[]).await;
    let mut client = ws().args(["connect", &server.url]).spawn().unwrap();
    let mut status_lines = BufReader::new(client.stderr.take().unwrap()).lines();
    let connected = within("the connection", status_lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert!(connected.starts_with("connected to"), "{connected}");
    let pid = server.child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let closed = within("the close", status_lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert!(closed.starts_with("closed: 1001"), "{closed}");
    assert!(within("ws connect", client.wait()).await.unwrap().success());
}

#[tokio::test]
async fn failures_exit_non_zero_with_the_code_and_what_to_do() {
    // Nothing listens on a port that was just free.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}/");
    let (status, _, stderr) = connect(&[&url], b"").await;
    assert_eq!(status, 1);
    assert!(stderr.contains("error 200"), "{stderr}");
    assert!(stderr.contains("is the server running?"), "{stderr}");

    let (status, _, stderr) = connect(&["http://127.0.0.1/"], b"").await;
    assert_eq!(status, 2, "a bad URL is the caller's mistake");
    assert!(stderr.contains("error 2302001"), "{stderr}");

    let (status, _, stderr) = connect(&["--tls-min", "1.0", "wss://127.0.0.1/"], b"").await;
    assert_eq!(status, 2);
    assert!(stderr.contains("use 1.2 or 1.3"), "{stderr}");

    let out = within(
        "ws serve",
        ws().args(["serve", "--listen", "localhost"]).output(),
    )
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is neither IP:PORT nor PORT"));
}

#[tokio::test]
async fn a_port_in_use_is_reported_with_its_code() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = within("ws serve", ws().args(["serve", "--listen", &addr]).output())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error 2302007"), "{stderr}");
}

#[tokio::test]
async fn help_is_printed_for_every_command() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["connect", "--help"],
    ] {
        let out = within("ws --help", ws().args(args).output()).await.unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("USAGE:"), "{args:?}: {text}");
    }
}

/// A directory for one test's files, removed afterwards.
#[cfg(all(feature = "tls", feature = "webpki-roots"))]
struct TempDir(std::path::PathBuf);

#[cfg(all(feature = "tls", feature = "webpki-roots"))]
impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("ws-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, contents: String) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }
}

#[cfg(all(feature = "tls", feature = "webpki-roots"))]
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// Without `--ca` the Mozilla roots are used, which do not know this certificate.
#[cfg(all(feature = "tls", feature = "webpki-roots"))]
#[tokio::test]
async fn wss_with_the_servers_certificate_as_ca_and_without_it() {
    let dir = TempDir::new("wss");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
    let cert = params.self_signed(&key).unwrap();
    let cert_path = dir.write("cert.pem", cert.pem());
    let key_path = dir.write("key.pem", key.serialize_pem());
    let server = Serve::start(&["--cert", &cert_path, "--key", &key_path]).await;
    assert!(server.url.starts_with("wss://127.0.0.1:"), "{}", server.url);

    let (status, stdout, stderr) = connect(&["--ca", &cert_path, &server.url], b"secure\n").await;
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(stdout, "secure\n");

    // Without the CA the certificate is refused, and the user is told what to do.
    let (status, _, stderr) = connect(&[&server.url], b"").await;
    assert_eq!(status, 1);
    assert!(stderr.contains("--ca PEM"), "{stderr}");

    let (status, stdout, stderr) = connect(&["--insecure", &server.url], b"anyway\n").await;
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(stdout, "anyway\n");
}

#[tokio::test]
async fn max_message_size_raises_the_receive_and_the_send_limit_of_both_commands() {
    // 6 MiB: over the documented send limit (5,242,864 bytes) of both sides.
    let line = format!("{}\n", "x".repeat(6 << 20));
    let limit = (8 << 20).to_string();
    let mut server = Serve::start(&["--max-message-size", &limit]).await;
    let (status, stdout, stderr) = connect(
        &["--max-message-size", &limit, &server.url],
        line.as_bytes(),
    )
    .await;
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout == line, "the echo is {} bytes", stdout.len());
    assert!(server.line().await.starts_with("connect "));
    assert!(server.line().await.ends_with(" 1000 CLOSE_NORMAL"));

    // Without the flag, `ws connect` may not send it: 401, naming the limit.
    let (status, _, stderr) = connect(&[&server.url], line.as_bytes()).await;
    assert_eq!(status, 1, "{stderr}");
    assert!(
        stderr.contains("error 401") && stderr.contains("max_send_size"),
        "{stderr}"
    );

    // Without the flag, `ws serve` receives it but does not send it back: 1009.
    let server = Serve::start(&[]).await;
    let (status, stdout, stderr) = connect(
        &["--max-message-size", &limit, &server.url],
        line.as_bytes(),
    )
    .await;
    assert_eq!(status, 1, "{stderr}");
    assert!(stdout.is_empty(), "{} bytes", stdout.len());
    assert!(stderr.contains("closed: 1009"), "{stderr}");
}

#[tokio::test]
async fn deflate_on_both_sides_or_on_one_echoes_every_line() {
    let long = "compress me ".repeat(20_000);
    let input = format!("héllo ✓\n{long}\nlast\n");
    for (serve_args, connect_deflate) in [
        (&["--deflate"][..], true),
        (&["--deflate"][..], false),
        (&[][..], true),
    ] {
        let server = Serve::start(serve_args).await;
        let mut args = vec![server.url.as_str()];
        if connect_deflate {
            args.insert(0, "--deflate");
        }
        let (status, stdout, stderr) = connect(&args, input.as_bytes()).await;
        assert_eq!(status, 0, "{serve_args:?} {connect_deflate}: {stderr}");
        assert_eq!(stdout, input, "{serve_args:?} {connect_deflate}");
        assert!(stderr.contains("closed: 1000"), "{stderr}");
    }
}

/// What `ws serve` with `verbosity` logged on stderr while one client came, echoed and left.
async fn serve_log(verbosity: &str) -> String {
    let mut server = Serve::start(&[verbosity]).await;
    let mut stderr = server.child.stderr.take().unwrap();
    let (status, _, client_log) = connect(&[&server.url], b"hello\n").await;
    assert_eq!(status, 0, "{client_log}");
    assert!(server.line().await.starts_with("connect "));
    assert!(server.line().await.starts_with("close "));
    server.child.start_kill().unwrap();
    let mut log = Vec::new();
    within("the server's log", stderr.read_to_end(&mut log))
        .await
        .unwrap();
    String::from_utf8_lossy(&log).into_owned()
}

#[tokio::test]
async fn three_vs_show_the_libraries_handshake_events_and_one_v_does_not() {
    let log = serve_log("-vvv").await;
    let accepted = log
        .lines()
        .find(|line| line.contains("handshake: accepted"))
        .unwrap_or_else(|| panic!("no handshake event in {log}"));
    assert!(accepted.contains("DEBUG"), "{accepted}");
    assert!(accepted.contains("ws_net::handshake"), "{accepted}");
    assert!(
        accepted.contains("connection{") && accepted.contains("role=server peer=127.0.0.1:"),
        "{accepted}"
    );
    // Per-message events are trace, shown only from -vvv.
    assert!(log.contains("TRACE"), "{log}");

    let log = serve_log("-v").await;
    assert!(log.contains("ws_api::server"), "{log}");
    assert!(!log.contains("handshake: accepted"), "{log}");
    assert!(!log.contains("DEBUG") && !log.contains("TRACE"), "{log}");
}
