//! `ws` in a real terminal, as a person uses it: tmux runs the command in a pane, `send-keys`
//! types, `capture-pane` reads the screen. Without tmux these tests are skipped, unless `CI`
//! is set (`cargo xtask ci` installs tmux).

use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

mod support;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use support::{ws, ws_path, Serve, BOUND};

/// A tmux server of this test's own (its socket name), with one pane running a command.
struct Pane {
    socket: String,
}

impl Pane {
    /// Runs `command` (a shell command line) in a new 100x30 pane. After the command ends the
    /// pane shows `[exit N]` (and `[raw terminal]` if the command left it so) and stays, so the
    /// screen can still be read.
    async fn run(command: &str) -> Option<Pane> {
        if !tmux_installed().await {
            return None;
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let socket = format!(
            "ws-cli-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        // After the command: its status, and whether it left the terminal raw. The shell
        // outlives a Ctrl-C sent to the command (it traps SIGINT; the command starts with the
        // default handler).
        let script = format!(
            "trap : INT; {command}; echo \"[exit $?]\"; \
             stty -a | grep -q -- -icanon && echo '[raw terminal]'; sleep 600"
        );
        let out = tmux(
            &socket,
            &[
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "100",
                "-y",
                "30",
                "env",
                "-u",
                "RUST_LOG",
                "-u",
                "http_proxy",
                "-u",
                "https_proxy",
                "-u",
                "all_proxy",
                "sh",
                "-c",
                &script,
            ],
        )
        .await;
        assert!(out.status.success(), "tmux new-session: {out:?}");
        Some(Pane { socket })
    }

    /// Types `keys` (tmux key names such as `Enter` or `C-d`, or literal text).
    async fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        let out = tmux(&self.socket, &args).await;
        assert!(out.status.success(), "tmux send-keys {keys:?}: {out:?}");
    }

    /// Types `text` literally (no key names).
    async fn type_text(&self, text: &str) {
        let out = tmux(&self.socket, &["send-keys", "-t", "0", "-l", text]).await;
        assert!(out.status.success(), "tmux send-keys -l {text:?}: {out:?}");
    }

    /// The screen's text, trailing blanks removed.
    async fn screen(&self) -> String {
        let out = tmux(&self.socket, &["capture-pane", "-p", "-t", "0"]).await;
        assert!(out.status.success(), "tmux capture-pane: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
            .trim_end()
            .to_owned()
    }

    /// Waits until the screen satisfies `done`; returns it.
    async fn until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + BOUND;
        loop {
            let screen = self.screen().await;
            if done(&screen) {
                return screen;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("{what}: not on the screen within {BOUND:?}:\n{screen}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the screen shows `text`.
    async fn shows(&self, text: &str) -> String {
        self.until(text, |screen| screen.contains(text)).await
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

async fn tmux(socket: &str, args: &[&str]) -> Output {
    let out = Command::new("tmux")
        .arg("-L")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .output();
    tokio::time::timeout(BOUND, out)
        .await
        .expect("tmux did not answer")
        .expect("tmux could not run")
}

/// Whether tmux can run; without it the test is skipped, except in CI where it must run.
async fn tmux_installed() -> bool {
    let found = Command::new("tmux")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "tmux is not installed but CI is set, so the terminal tests must run: \
             apt-get install tmux (`cargo xtask ci` installs it)"
        );
        eprintln!("note: tmux is not installed; skipping this test (apt-get install tmux)");
    }
    found
}

/// A pane running `ws serve --mode chat`; `None` without tmux.
async fn chat_pane() -> Option<Pane> {
    Pane::run(&format!(
        "{} serve --listen 127.0.0.1:0 --mode chat",
        ws_path()
    ))
    .await
}

/// A `ws serve` (piped) and a pane running `ws connect` to it, once connected; `None` without
/// tmux.
async fn connected(serve_args: &[&str]) -> Option<(Serve, Pane)> {
    let server = Serve::start(serve_args).await;
    let pane = Pane::run(&format!("{} connect {}", ws_path(), server.url)).await?;
    pane.shows("connected to").await;
    Some((server, pane))
}

#[tokio::test]
async fn typed_lines_and_received_messages_are_marked() {
    let Some((_server, pane)) = connected(&[]).await else {
        return;
    };
    pane.type_text("hello there").await;
    pane.keys(&["Enter"]).await;
    let screen = pane.shows("< hello there").await;
    assert!(screen.contains("> hello there"), "{screen}");
    // One Ctrl-D on an empty line ends the input: a normal close.
    pane.keys(&["C-d"]).await;
    let screen = pane.shows("[exit 0]").await;
    assert!(screen.contains("closed: 1000"), "{screen}");
}

#[tokio::test]
async fn one_ctrl_d_after_a_partial_line_sends_it_and_ends_the_input() {
    let Some((mut server, pane)) = connected(&["--print"]).await else {
        return;
    };
    pane.type_text("no newline").await;
    pane.keys(&["C-d"]).await;
    let screen = pane.shows("[exit 0]").await;
    assert!(screen.contains("closed: 1000"), "{screen}");
    let message = server.line_starting("message ").await;
    assert!(message.ends_with(" no newline"), "{message}");
}

#[tokio::test]
async fn a_message_arriving_while_typing_keeps_the_typed_line() {
    let Some((server, pane)) = connected(&["--mode", "broadcast"]).await else {
        return;
    };
    pane.type_text("half typ").await;
    pane.shows("> half typ").await;
    // Another client's message is broadcast while the line is half typed.
    let mut other = ws().args(["connect", &server.url]).spawn().unwrap();
    let mut stdin = other.stdin.take().unwrap();
    stdin.write_all(b"from elsewhere\n").await.unwrap();
    let screen = pane.shows("< from elsewhere").await;
    // The message is printed above the prompt, which still holds what was typed.
    let last = screen.lines().last().unwrap_or_default();
    assert_eq!(last, "> half typ", "{screen}");
    pane.type_text("ed").await;
    pane.keys(&["Enter"]).await;
    pane.shows("< half typed").await;
    drop(stdin);
    pane.keys(&["C-d"]).await;
    pane.shows("[exit 0]").await;
}

#[tokio::test]
async fn slash_commands_ping_and_close_with_a_code() {
    let Some((mut server, pane)) = connected(&[]).await else {
        return;
    };
    pane.type_text("/ping are you there").await;
    pane.keys(&["Enter"]).await;
    pane.until("the pong's round trip", |screen| {
        screen.contains("pong \"are you there\" after ") && screen.contains(" ms")
    })
    .await;
    pane.type_text("/help").await;
    pane.keys(&["Enter"]).await;
    pane.shows("/close [CODE [REASON]]").await;
    pane.type_text("/nonsense").await;
    pane.keys(&["Enter"]).await;
    pane.shows("unknown command /nonsense").await;
    pane.type_text("//ping is text").await;
    pane.keys(&["Enter"]).await;
    pane.shows("< /ping is text").await;
    pane.type_text("/close 4000 done for today").await;
    pane.keys(&["Enter"]).await;
    let screen = pane.shows("[exit 0]").await;
    assert!(screen.contains("closed: 4000"), "{screen}");
    let close = server.line_starting("close ").await;
    assert!(close.ends_with(" 4000 done for today"), "{close}");
}

#[tokio::test]
async fn ctrl_c_closes_normally() {
    let Some((_server, pane)) = connected(&[]).await else {
        return;
    };
    pane.type_text("typed but not sent").await;
    pane.keys(&["C-c"]).await;
    let screen = pane.shows("[exit 0]").await;
    assert!(screen.contains("closed: 1000"), "{screen}");
    assert!(!screen.contains("< typed but not sent"), "{screen}");
}

#[tokio::test]
async fn chat_mode_sends_typed_lines_to_every_client() {
    let Some(pane) = chat_pane().await else {
        return;
    };
    let screen = pane.shows("listening on ws://").await;
    let url = screen
        .lines()
        .find_map(|line| line.strip_prefix("listening on "))
        .unwrap()
        .to_owned();
    let mut client = ws().args(["connect", "--no-close", &url]).spawn().unwrap();
    let mut stdin = client.stdin.take().unwrap();
    let mut received = BufReader::new(client.stdout.take().unwrap()).lines();
    pane.shows("connect 127.0.0.1:").await;
    stdin.write_all(b"hi server\n").await.unwrap();
    pane.until("the client's message", |screen| {
        screen
            .lines()
            .any(|l| l.starts_with("message 127.0.0.1:") && l.ends_with(" hi server"))
    })
    .await;
    pane.type_text("hello from the terminal").await;
    pane.keys(&["Enter"]).await;
    let line = tokio::time::timeout(BOUND, received.next_line())
        .await
        .expect("the typed line did not arrive")
        .unwrap();
    assert_eq!(line.as_deref(), Some("hello from the terminal"));
    pane.type_text("/quit").await;
    pane.keys(&["Enter"]).await;
    let screen = pane.shows("[exit 0]").await;
    assert!(screen.contains("stopped"), "{screen}");
    drop(stdin);
    let status = tokio::time::timeout(BOUND, client.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "the server's 1001 is a normal end");
}

#[tokio::test]
async fn the_server_going_away_while_typing_leaves_the_terminal_as_it_was() {
    let Some((server, pane)) = connected(&[]).await else {
        return;
    };
    pane.type_text("half a line").await;
    pane.shows("> half a line").await;
    let pid = server.child.id().unwrap().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().await;
    assert!(killed.unwrap().success());
    let screen = pane.shows("[exit 0]").await;
    assert!(screen.contains("closed by the server: 1001"), "{screen}");
    // The prompt is cleared, the status starts its own line, and the terminal is not raw.
    assert!(screen.lines().any(|line| line == "[exit 0]"), "{screen}");
    assert!(!screen.contains("[raw terminal]"), "{screen}");
}

#[tokio::test]
async fn ctrl_c_stops_reconnecting() {
    // Nothing listens on a port that was just free.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let command = format!("{} connect --reconnect ws://127.0.0.1:{port}/", ws_path());
    let Some(pane) = Pane::run(&command).await else {
        return;
    };
    let screen = pane.shows("connecting again in 1 s").await;
    assert!(screen.contains("nothing is listening on"), "{screen}");
    pane.keys(&["C-c"]).await;
    let screen = pane.shows("[exit 1]").await;
    assert!(!screen.contains("connecting again in 4 s"), "{screen}");
    assert!(!screen.contains("[raw terminal]"), "{screen}");
}

#[tokio::test]
async fn control_characters_from_the_server_are_shown_not_obeyed() {
    let Some((server, pane)) = connected(&["--mode", "broadcast"]).await else {
        return;
    };
    let mut other = ws().args(["connect", &server.url]).spawn().unwrap();
    let mut stdin = other.stdin.take().unwrap();
    // A request to clear the screen, inside a message.
    stdin.write_all(b"before\x1b[2Jafter\n").await.unwrap();
    let screen = pane.shows("< before").await;
    assert!(screen.contains("< before\\u{1b}[2Jafter"), "{screen}");
    assert!(
        screen.contains("connected to"),
        "the screen was cleared:\n{screen}"
    );
    drop(stdin);
    pane.keys(&["C-d"]).await;
    pane.shows("[exit 0]").await;
}

#[tokio::test]
async fn sigterm_closes_normally_and_restores_the_terminal() {
    let Some((_server, pane)) = connected(&[]).await else {
        return;
    };
    pane.type_text("unfinished").await;
    pane.shows("> unfinished").await;
    let pid = tmux_pane_command_pid(&pane).await;
    let killed = Command::new("kill").args(["-TERM", &pid]).status().await;
    assert!(killed.unwrap().success());
    let screen = pane.shows("[exit 0]").await;
    assert!(screen.contains("closed: 1000"), "{screen}");
    assert!(!screen.contains("[raw terminal]"), "{screen}");
}

#[tokio::test]
async fn chat_mode_stops_on_ctrl_c_after_the_input_ended() {
    let Some(pane) = chat_pane().await else {
        return;
    };
    pane.shows("listening on ws://").await;
    // Ctrl-D ends the typing; the server goes on until Ctrl-C.
    pane.keys(&["C-d"]).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    pane.keys(&["C-c"]).await;
    let screen = pane.shows("[exit 0]").await;
    assert!(screen.contains("stopped"), "{screen}");
}

/// The pid of the `ws` process in the pane (the child of the pane's shell).
async fn tmux_pane_command_pid(pane: &Pane) -> String {
    let out = tmux(
        &pane.socket,
        &["display-message", "-p", "-t", "0", "#{pane_pid}"],
    )
    .await;
    let shell = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let children = Command::new("pgrep")
        .args(["-P", &shell])
        .output()
        .await
        .unwrap();
    let pids = String::from_utf8_lossy(&children.stdout).into_owned();
    // `env` execs `sh`, whose child is `ws`.
    let pid = pids
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no child of {shell}"))
        .trim()
        .to_owned();
    let grandchildren = Command::new("pgrep")
        .args(["-P", &pid])
        .output()
        .await
        .unwrap();
    let grandchild = String::from_utf8_lossy(&grandchildren.stdout)
        .lines()
        .next()
        .map(str::to_owned);
    grandchild.unwrap_or(pid)
}
