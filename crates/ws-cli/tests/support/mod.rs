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
