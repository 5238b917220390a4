//! The `ws` binary end to end over loopback: `ws serve` and `ws connect` talking, broadcast,
//! exit statuses and messages of the failures a shell user meets.

mod support;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use support::{within, ws, Serve};

/// Runs `ws connect` with `input` on stdin; returns (status code, stdout, stderr).
async fn connect(args: &[&str], input: &[u8]) -> (i32, String, String) {
    let mut child = ws().arg("connect").args(args).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The command may stop reading early (a refused line, a failed connect): a broken pipe
    // here is its answer, checked below.
    let _ = stdin.write_all(input).await;
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
        close.starts_with("close 127.0.0.1:") && close.ends_with(" 1000"),
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

/// The threads of process `pid` (Linux: /proc/PID/task).
#[cfg(target_os = "linux")]
fn threads_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count()
}

#[tokio::test]
async fn threads_chooses_the_runtime_and_one_thread_serves_and_connects() {
    let mut server = Serve::start(&["--threads", "1"]).await;
    let (status, stdout, stderr) =
        connect(&["--threads", "1", &server.url], "one\ntwo\n".as_bytes()).await;
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(stdout, "one\ntwo\n");
    assert!(server.line().await.starts_with("connect 127.0.0.1:"));
    assert!(server.line().await.starts_with("close 127.0.0.1:"));
    // Everything ran on the main thread: no worker threads were started.
    #[cfg(target_os = "linux")]
    assert_eq!(threads_of(server.child.id().unwrap()), 1);

    // A pool of three workers, besides the main thread.
    let server = Serve::start(&["--threads", "3"]).await;
    let (status, stdout, stderr) = connect(&[&server.url], b"three\n").await;
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(stdout, "three\n");
    #[cfg(target_os = "linux")]
    assert!(threads_of(server.child.id().unwrap()) >= 4);
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
    assert!(closed.starts_with("closed by the server: 1001"), "{closed}");
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
    assert!(
        stderr.contains(&format!(
            "could not connect to {url}: nothing is listening on 127.0.0.1:{port} (connection refused)"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("is the server running?"), "{stderr}");
    // The documented codes are for -v.
    assert!(
        !stderr.contains("error 200") && !stderr.contains("Websocket"),
        "{stderr}"
    );
    let (status, _, stderr) = connect(&["-v", &url], b"").await;
    assert_eq!(status, 1);
    assert!(stderr.contains("(error 200)"), "{stderr}");

    let (status, _, stderr) = connect(&["http://127.0.0.1/"], b"").await;
    assert_eq!(status, 2, "a bad URL is the caller's mistake");
    assert!(stderr.contains("not a WebSocket URL"), "{stderr}");
    assert!(stderr.contains("hint: write it as ws://"), "{stderr}");
    assert!(!stderr.contains("2302001"), "{stderr}");

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
async fn a_port_in_use_is_reported_with_the_flag_to_change() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = within("ws serve", ws().args(["serve", "--listen", &addr]).output())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("could not start the server: {addr} is in use")),
        "{stderr}"
    );
    assert!(stderr.contains("--listen PORT"), "{stderr}");
    assert!(!stderr.contains("2302007"), "{stderr}");
    let out = within(
        "ws serve -v",
        ws().args(["serve", "-v", "--listen", &addr]).output(),
    )
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(error 2302007)"), "{stderr}");
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
    assert!(
        stderr.contains("not issued by a known certificate authority"),
        "{stderr}"
    );
    assert!(stderr.contains("with --ca FILE"), "{stderr}");

    let (status, stdout, stderr) = connect(&["--insecure", &server.url], b"anyway\n").await;
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(stdout, "anyway\n");
}

/// A self-signed certificate marked CA:TRUE, as `openssl req -x509` makes them, for localhost
/// and 127.0.0.1: (certificate PEM, key PEM).
#[cfg(all(feature = "tls", feature = "webpki-roots"))]
fn ca_true_self_signed() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[cfg(all(feature = "tls", feature = "webpki-roots"))]
#[tokio::test]
async fn a_self_signed_ca_true_certificate_given_to_ca_is_trusted() {
    let dir = TempDir::new("ca-true");
    let (cert, key) = ca_true_self_signed();
    let cert_path = dir.write("cert.pem", cert);
    let key_path = dir.write("key.pem", key);
    let server = Serve::start(&["--cert", &cert_path, "--key", &key_path]).await;
    let (status, stdout, stderr) = connect(&["--ca", &cert_path, &server.url], b"trusted\n").await;
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(stdout, "trusted\n");

    // Another such certificate as the CA: refused, and the hint says what works.
    let (other, _) = ca_true_self_signed();
    let other_path = dir.write("other.pem", other);
    let (status, _, stderr) = connect(&["--ca", &other_path, &server.url], b"").await;
    assert_eq!(status, 1);
    assert!(
        stderr.contains("a CA certificate (CA:TRUE) used as the server's own"),
        "{stderr}"
    );
    assert!(
        stderr.contains("give that exact certificate with --ca"),
        "{stderr}"
    );
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
    assert!(server.line().await.ends_with(" 1000"));

    // Without the flag, `ws connect` may not send it, and names the flag.
    let (status, _, stderr) = connect(&[&server.url], line.as_bytes()).await;
    assert_eq!(status, 1, "{stderr}");
    assert!(
        stderr.contains("over the 5242864-byte send limit")
            && stderr.contains("--max-message-size"),
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

/// A `ws connect` kept running: its stdin open, its stdout and stderr read line by line.
struct Client {
    child: Child,
    stdin: Option<tokio::process::ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Lines<BufReader<tokio::process::ChildStderr>>,
}

impl Client {
    async fn start(args: &[&str]) -> Client {
        let mut child = ws().arg("connect").args(args).spawn().unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        Client {
            child,
            stdin,
            stdout,
            stderr,
        }
    }

    /// The next stderr line that contains `text` (earlier ones are skipped).
    async fn stderr_with(&mut self, text: &str) -> String {
        loop {
            let line = within(text, self.stderr.next_line())
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("stderr ended before {text:?}"));
            if line.contains(text) {
                return line;
            }
        }
    }

    async fn stdout_line(&mut self) -> Option<String> {
        within("a message", self.stdout.next_line()).await.unwrap()
    }

    async fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    async fn status(mut self) -> i32 {
        drop(self.stdin.take());
        let status = within("ws connect", self.child.wait()).await.unwrap();
        status.code().unwrap_or(-1)
    }
}

#[tokio::test]
async fn no_close_keeps_receiving_after_stdin_ends() {
    let mut server = Serve::start(&["--mode", "broadcast"]).await;
    let mut feed = Client::start(&["--no-close", &server.url]).await;
    feed.stderr_with("connected to").await;
    // The feed's input is over at once; it still hears what others say.
    drop(feed.stdin.take());
    assert!(server.line().await.starts_with("connect "));
    let (status, _, stderr) = connect(&[&server.url], b"news\n").await;
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(feed.stdout_line().await.as_deref(), Some("news"));
    // The server going away ends it, normally.
    let pid = server.child.id().unwrap().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().await;
    assert!(killed.unwrap().success());
    feed.stderr_with("closed by the server: 1001").await;
    assert_eq!(feed.status().await, 0);
}

#[tokio::test]
async fn count_exits_after_that_many_messages() {
    let server = Serve::start(&[]).await;
    let mut client = Client::start(&["--count", "2", &server.url]).await;
    client.send("one\ntwo\nthree").await;
    assert_eq!(client.stdout_line().await.as_deref(), Some("one"));
    assert_eq!(client.stdout_line().await.as_deref(), Some("two"));
    // Exactly two: the third echo is not printed, and stdin (still open) does not hold it up.
    assert_eq!(client.stdout_line().await, None);
    let status = within("ws connect --count", client.child.wait()).await;
    assert_eq!(status.unwrap().code(), Some(0));

    let mut broadcast = Serve::start(&["--mode", "broadcast"]).await;
    let mut first = Client::start(&["-1", &broadcast.url]).await;
    first.stderr_with("connected to").await;
    assert!(broadcast.line().await.starts_with("connect "));
    let (status, _, _) = connect(&[&broadcast.url], b"only this\nnot this\n").await;
    assert_eq!(status, 0);
    assert_eq!(first.stdout_line().await.as_deref(), Some("only this"));
    assert_eq!(first.stdout_line().await, None);
    assert_eq!(first.status().await, 0);
}

#[tokio::test]
async fn close_code_and_reason_reach_the_server() {
    let mut server = Serve::start(&[]).await;
    let (status, _, stderr) = connect(
        &[
            "--close-code",
            "4001",
            "--close-reason",
            "done for now",
            &server.url,
        ],
        b"bye\n",
    )
    .await;
    assert_eq!(status, 0, "{stderr}");
    // The server answers with the code (its reason is its own).
    assert!(stderr.contains("closed: 4001"), "{stderr}");
    assert!(server.line().await.starts_with("connect "));
    let close = server.line().await;
    assert!(close.ends_with(" 4001 done for now"), "{close}");
}

/// Reads one HTTP request head from a raw TCP client, answers it with `answer`, and returns
/// the head.
async fn answer_once(listener: tokio::net::TcpListener, answer: &'static [u8]) -> String {
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the client left before the end of its request");
        head.extend_from_slice(&buf[..n]);
    }
    stream.write_all(answer).await.unwrap();
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn origin_and_basic_auth_are_sent_and_a_401_says_what_to_do() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/private", listener.local_addr().unwrap());
    let server = tokio::spawn(answer_once(
        listener,
        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    let (status, _, stderr) = connect(
        &[
            "--origin",
            "https://example.com",
            "--auth",
            "user:pass",
            &url,
        ],
        b"",
    )
    .await;
    let head = within("the request", server).await.unwrap();
    assert!(
        head.contains("\r\nOrigin: https://example.com\r\n"),
        "{head}"
    );
    // base64("user:pass")
    assert!(
        head.contains("\r\nAuthorization: Basic dXNlcjpwYXNz\r\n"),
        "{head}"
    );
    assert_eq!(status, 1);
    assert!(
        stderr.contains(
            "the server answered HTTP 401 Unauthorized instead of switching to WebSocket"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("--auth USER:PASS"), "{stderr}");
}

#[tokio::test]
async fn show_ping_prints_round_trip_times() {
    let server = Serve::start(&[]).await;
    let mut client = Client::start(&["--show-ping", &server.url]).await;
    client.stderr_with("connected to").await;
    let pong = client.stderr_with("pong").await;
    assert!(
        pong.starts_with("pong \"ws 1\" after ") && pong.ends_with(" ms"),
        "{pong}"
    );
    client.stderr_with("pong \"ws 2\" after ").await;
    assert_eq!(client.status().await, 0);
}

#[tokio::test]
async fn reconnect_connects_again_when_the_server_comes_back() {
    let server = Serve::start(&[]).await;
    let addr = server
        .url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_owned();
    let mut client = Client::start(&["--reconnect", &server.url]).await;
    client.stderr_with("connected to").await;
    client.send("before").await;
    assert_eq!(client.stdout_line().await.as_deref(), Some("before"));
    drop(server); // killed: the connection is lost
    let lost = client.stderr_with("connecting again in 1 s").await;
    assert!(!lost.contains("could not connect"), "{lost}");
    // Nothing listens for a while: the waits grow.
    client.stderr_with("connecting again in 2 s").await;
    // A line written while there is no connection waits for the next one.
    client.send("written while away").await;
    let _back = Serve::start(&["--listen", &addr]).await;
    client.stderr_with("connected to").await;
    assert_eq!(
        client.stdout_line().await.as_deref(),
        Some("written while away")
    );
    client.send("after").await;
    assert_eq!(client.stdout_line().await.as_deref(), Some("after"));
    assert_eq!(client.status().await, 0);
}

#[tokio::test]
async fn a_connection_that_was_open_is_lost_not_failed_to_connect() {
    let server = Serve::start(&[]).await;
    let mut client = Client::start(&[&server.url]).await;
    client.stderr_with("connected to").await;
    drop(server); // SIGKILL: no Close frame
    let lost = client.stderr_with("connection lost").await;
    assert!(lost.starts_with("ws: connection lost: "), "{lost}");
    assert!(
        !lost.contains("connect failed") && !lost.contains("200"),
        "{lost}"
    );
    assert_eq!(client.status().await, 1);
}

#[tokio::test]
async fn print_shows_each_message_with_its_sender() {
    let mut server = Serve::start(&["--print"]).await;
    let (status, stdout, _) = connect(&[&server.url], "tab\there ✓\n".as_bytes()).await;
    assert_eq!(status, 0);
    assert_eq!(stdout, "tab\there ✓\n", "--print still echoes");
    let connect_line = server.line().await;
    let from = connect_line.strip_prefix("connect ").unwrap().to_owned();
    assert_eq!(server.line().await, format!("message {from} tab\\there ✓"));
    assert!(server.line().await.starts_with("close "));

    let mut client = ws()
        .args(["connect", "--binary", &server.url])
        .spawn()
        .unwrap();
    let mut stdin = client.stdin.take().unwrap();
    stdin.write_all(&[0, 1, 0xfe, 0xff]).await.unwrap();
    drop(stdin);
    assert!(within("ws connect", client.wait()).await.unwrap().success());
    let connect_line = server.line().await;
    let from = connect_line.strip_prefix("connect ").unwrap().to_owned();
    assert_eq!(
        server.line().await,
        format!("message {from} <binary 4 bytes: 00 01 fe ff>")
    );
}

#[tokio::test]
async fn chat_mode_sends_stdin_lines_to_every_client_and_echoes_nothing() {
    let mut server = Serve::start(&["--mode", "chat"]).await;
    let mut one = Client::start(&["--no-close", &server.url]).await;
    let mut two = Client::start(&["--no-close", &server.url]).await;
    one.stderr_with("connected to").await;
    two.stderr_with("connected to").await;
    assert!(server.line().await.starts_with("connect "));
    assert!(server.line().await.starts_with("connect "));
    let stdin = server.child.stdin.as_mut().unwrap();
    stdin.write_all(b"hello everyone\n").await.unwrap();
    assert_eq!(one.stdout_line().await.as_deref(), Some("hello everyone"));
    assert_eq!(two.stdout_line().await.as_deref(), Some("hello everyone"));
    one.send("hi back").await;
    let line = server.line().await;
    assert!(
        line.starts_with("message 127.0.0.1:") && line.ends_with(" hi back"),
        "{line}"
    );
    // Chat mode does not echo: the next thing client one hears is the server's next line.
    let stdin = server.child.stdin.as_mut().unwrap();
    stdin.write_all(b"second\n").await.unwrap();
    assert_eq!(one.stdout_line().await.as_deref(), Some("second"));
    assert_eq!(two.stdout_line().await.as_deref(), Some("second"));
}

#[tokio::test]
async fn a_refused_client_is_shown_with_why() {
    let mut server = Serve::start(&["--max-per-client", "1"]).await;
    let mut first = Client::start(&[&server.url]).await;
    first.stderr_with("connected to").await;
    assert!(server.line().await.starts_with("connect "));
    let (status, _, stderr) = connect(&[&server.url], b"").await;
    assert_eq!(status, 1);
    assert!(stderr.contains("the server answered HTTP 503"), "{stderr}");
    let refused = server.line().await;
    assert!(refused.starts_with("refused 127.0.0.1:"), "{refused}");
    assert!(
        refused.ends_with(
            ": 127.0.0.1 has 1 connections already (raise --max-per-client) (answered HTTP 503)"
        ),
        "{refused}"
    );
    assert_eq!(first.status().await, 0);
}

#[tokio::test]
async fn headers_ws_writes_itself_name_the_flag_to_use() {
    let (status, _, stderr) = connect(
        &["-H", "Sec-WebSocket-Protocol: chat", "ws://127.0.0.1:1/"],
        b"",
    )
    .await;
    assert_eq!(status, 2);
    assert!(
        stderr.contains("offer subprotocols with --protocol"),
        "{stderr}"
    );
    assert!(!stderr.contains(".protocol()"), "{stderr}");
}

#[tokio::test]
async fn a_message_too_large_to_broadcast_closes_only_its_sender() {
    let mut server = Serve::start(&["--mode", "broadcast"]).await;
    let mut listener = Client::start(&[&server.url]).await;
    listener.stderr_with("connected to").await;
    assert!(server.line().await.starts_with("connect "));
    // 6 MiB: received (64 MiB limit) but over the 5,242,864-byte send limit.
    let line = format!("{}\n", "x".repeat(6 << 20));
    let limit = (8 << 20).to_string();
    let (status, _, stderr) = connect(
        &["--max-message-size", &limit, &server.url],
        line.as_bytes(),
    )
    .await;
    assert_eq!(status, 1, "{stderr}");
    assert!(stderr.contains("closed: 1009"), "{stderr}");
    // The listener is still connected, and still hears the others.
    let (status, _, _) = connect(&[&server.url], b"small enough\n").await;
    assert_eq!(status, 0);
    assert_eq!(
        listener.stdout_line().await.as_deref(),
        Some("small enough")
    );
    assert_eq!(listener.status().await, 0);
}

/// A `ws connect` to `path` of `server` (`room/x`), once it is connected and the server has
/// put it in its room (it prints the connect after that).
async fn join(server: &mut Serve, path: &str) -> Client {
    let mut client = Client::start(&[&format!("{}{path}", server.url)]).await;
    client.stderr_with("connected to").await;
    server.line_starting("connect ").await;
    client
}

#[tokio::test]
async fn broadcast_mode_has_one_room_per_path() {
    let mut server = Serve::start(&["--mode", "broadcast"]).await;
    let mut x1 = join(&mut server, "room/x").await;
    let mut x2 = join(&mut server, "room/x?token=1").await;
    let mut y = join(&mut server, "room/y").await;
    x1.send("in x").await;
    assert_eq!(x1.stdout_line().await.as_deref(), Some("in x"));
    assert_eq!(x2.stdout_line().await.as_deref(), Some("in x"));
    y.send("in y").await;
    // y's first message is its own: "in x" never reached it.
    assert_eq!(y.stdout_line().await.as_deref(), Some("in y"));
    for client in [x1, x2, y] {
        assert_eq!(client.status().await, 0);
    }
}

/// The next line of `stderr` that contains `text`.
#[cfg(feature = "redis")]
async fn stderr_line_with(
    stderr: &mut Lines<BufReader<tokio::process::ChildStderr>>,
    text: &str,
) -> String {
    loop {
        let line = within(text, stderr.next_line())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("stderr ended before {text:?}"));
        if line.contains(text) {
            return line;
        }
    }
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn broadcast_rooms_are_shared_by_the_instances_of_one_broker() {
    let Some(redis) = redis_test_server::RedisServer::start() else {
        return;
    };
    let url = redis.url();
    let args = ["--mode", "broadcast", "--broker", &url, "-v"];
    let (mut a, mut b) = (Serve::start(&args).await, Serve::start(&args).await);
    let mut a_log = BufReader::new(a.child.stderr.take().unwrap()).lines();
    let mut b_log = BufReader::new(b.child.stderr.take().unwrap()).lines();
    stderr_line_with(&mut a_log, "broker: connected").await;
    stderr_line_with(&mut b_log, "broker: connected").await;

    let mut xb = join(&mut b, "room/x").await;
    let mut yb = join(&mut b, "room/y").await;
    stderr_line_with(&mut b_log, "broker: subscribed to 2 topic(s)").await;
    let mut xa = join(&mut a, "room/x").await;
    stderr_line_with(&mut a_log, "broker: subscribed to 1 topic(s)").await;

    xa.send("across").await;
    assert_eq!(xa.stdout_line().await.as_deref(), Some("across"));
    assert_eq!(xb.stdout_line().await.as_deref(), Some("across"));
    // And back, once: each one's next line is this one.
    xb.send("back").await;
    assert_eq!(xb.stdout_line().await.as_deref(), Some("back"));
    assert_eq!(xa.stdout_line().await.as_deref(), Some("back"));
    yb.send("only y").await;
    // "across" never reached /room/y.
    assert_eq!(yb.stdout_line().await.as_deref(), Some("only y"));
    for client in [xa, xb, yb] {
        assert_eq!(client.status().await, 0);
    }
}

#[tokio::test]
async fn broker_is_for_broadcast_mode_and_a_bad_url_is_reported() {
    let out = within(
        "ws serve",
        ws().args(["serve", "--broker", "redis://127.0.0.1:6379"])
            .output(),
    )
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("add --mode broadcast"), "{stderr}");

    let out = within(
        "ws serve",
        ws().args([
            "serve",
            "-l",
            "0",
            "-m",
            "broadcast",
            "--broker",
            "http://127.0.0.1/",
        ])
        .output(),
    )
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if cfg!(feature = "redis") {
        assert!(stderr.contains("--broker: invalid Redis URL"), "{stderr}");
        assert!(stderr.contains("give one like redis://"), "{stderr}");
    } else {
        assert!(stderr.contains("`redis` feature"), "{stderr}");
    }
}
