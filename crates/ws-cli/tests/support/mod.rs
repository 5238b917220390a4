//! What the `ws` tests share: running the binary, bounded waits, a `ws serve` to talk to.
// Each test binary uses a part of this.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The longest any step of a test may take.
pub const BOUND: Duration = Duration::from_secs(20);

/// The `ws` binary under test.
pub fn ws_path() -> &'static str {
    env!("CARGO_BIN_EXE_ws")
}

/// `ws` with piped stdio, killed when dropped, without the environment that would change what
/// it does (log levels, proxies).
pub fn ws() -> Command {
    let mut cmd = Command::new(ws_path());
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

/// `f`, or a panic naming `what` after [`BOUND`].
pub async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(BOUND, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

/// A running `ws serve`, its URL and its stdout lines.
pub struct Serve {
    pub child: Child,
    pub url: String,
    pub lines: Lines<BufReader<ChildStdout>>,
}

impl Serve {
    /// `ws serve --listen 127.0.0.1:0 ARGS`, once it prints its URL.
    pub async fn start(args: &[&str]) -> Serve {
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

    /// The next line it prints.
    pub async fn line(&mut self) -> String {
        within("a ws serve line", self.lines.next_line())
            .await
            .unwrap()
            .expect("ws serve ended")
    }

    /// The next line that starts with `prefix` (earlier ones are skipped).
    pub async fn line_starting(&mut self, prefix: &str) -> String {
        loop {
            let line = self.line().await;
            if line.starts_with(prefix) {
                return line;
            }
        }
    }
}

/// A redis-server on 127.0.0.1 for `ws serve --broker`, killed when dropped.
pub struct RedisServer {
    pub port: u16,
    child: std::process::Child,
}

impl RedisServer {
    /// A server on a port the OS picks; `None` (the test is skipped) when redis-server is not
    /// installed, except in CI where it must run.
    pub fn start() -> Option<RedisServer> {
        use std::process::Command;
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                std::env::var_os("CI").is_none_or(|v| v.is_empty()),
                "redis-server is not installed but CI is set, so the Redis tests must run: \
                 apt-get install redis-server (`cargo xtask ci` installs it)"
            );
            eprintln!("note: redis-server is not installed; skipping this test (apt-get install redis-server)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let server = RedisServer { port, child };
        let deadline = std::time::Instant::now() + BOUND;
        while !server.answers_ping() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Whether the server answers PING (RESP) now.
    fn answers_ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(BOUND));
        if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
            return false;
        }
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
