//! Background processes for the conformance and interop runs: started with their output
//! captured line by line, waited for with bounds, and killed when dropped, so no failure path
//! leaves a server running.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::{self, bail, Result};

/// A child process whose stdout and stderr lines arrive on a channel (and are echoed to stderr
/// with a label). Killed on drop.
#[derive(Debug)]
pub struct Background {
    label: String,
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Background {
    /// Starts `cmd` with piped output.
    pub fn start(label: &str, cmd: &mut Command) -> Result<Background> {
        Self::spawn(label, cmd.stdin(Stdio::null()), |_| true)
    }

    /// Starts `cmd` without echoing its output (a browser's logging is noise here).
    pub fn start_quiet(label: &str, cmd: &mut Command) -> Result<Background> {
        Self::spawn(label, cmd.stdin(Stdio::null()), |_| false)
    }

    /// Starts `cmd`, echoing only the output lines that `echo` accepts (all of them still
    /// arrive for [`wait_for`](Self::wait_for)).
    pub fn start_echoing(
        label: &str,
        cmd: &mut Command,
        echo: fn(&str) -> bool,
    ) -> Result<Background> {
        Self::spawn(label, cmd.stdin(Stdio::null()), echo)
    }

    /// Starts `cmd` with piped output and a pipe to its stdin, returned for the caller to
    /// write to (a program driven line by line).
    pub fn start_with_stdin(label: &str, cmd: &mut Command) -> Result<(Background, ChildStdin)> {
        cmd.stdin(Stdio::piped());
        let mut background = Self::spawn(label, cmd, |_| true)?;
        let stdin = background
            .child
            .stdin
            .take()
            .ok_or_else(|| format!("{label} has no stdin pipe"))?;
        Ok((background, stdin))
    }

    fn spawn(label: &str, cmd: &mut Command, echo: fn(&str) -> bool) -> Result<Background> {
        eprintln!("$ {} &", util::display_cmd(cmd));
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {label}: {e}"))?;
        let (tx, lines) = mpsc::channel();
        let stdout = child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>);
        let stderr = child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>);
        for stream in [stdout, stderr].into_iter().flatten() {
            let tx = tx.clone();
            let label = label.to_owned();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(|l| l.ok()) {
                    if echo(&line) {
                        eprintln!("    [{label}] {line}");
                    }
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Background {
            label: label.to_owned(),
            child,
            lines,
        })
    }

    /// Waits (at most `bound`) for an output line that `pick` accepts; returns what it picked.
    pub fn wait_for<T>(
        &self,
        bound: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + bound;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(found) = pick(&line) {
                        return Ok(found);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("{} printed nothing expected within {bound:?}", self.label)
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!("{} ended before printing what was expected", self.label)
                }
            }
        }
    }

    /// The next output line, waiting until `deadline` at most; `None` once the process has
    /// closed its output (it ended).
    pub fn next_line(&self, deadline: Instant) -> Result<Option<String>> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => Ok(Some(line)),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                bail!("{} printed nothing more before its deadline", self.label)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Ok(None),
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL (a crash, no chance to clean up) and reaps it.
    pub fn kill(&mut self) -> Result<std::process::ExitStatus> {
        self.child
            .kill()
            .map_err(|e| format!("cannot kill {}: {e}", self.label))?;
        Ok(self.child.wait()?)
    }

    /// Sends SIGTERM (a graceful stop) and waits at most `bound` for the exit.
    pub fn terminate(&mut self, bound: Duration) -> Result<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.wait(bound)
            .map_err(|_| format!("{} did not exit within {bound:?} of SIGTERM", self.label).into())
    }

    /// Waits at most `bound` for the process to exit.
    pub fn wait(&mut self, bound: Duration) -> Result<std::process::ExitStatus> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("{} did not finish within {bound:?}", self.label);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback port that was free a moment ago, for programs that cannot report the port they
/// bound (the fuzzing server, an HTTP server).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits (at most `bound`) until something accepts TCP connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, bound: Duration) -> Result {
    let deadline = Instant::now() + bound;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() >= deadline {
            bail!("nothing listens on {addr} after {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// `host:port` from a line such as `listening on ws://127.0.0.1:4321/`.
pub fn listening_address(line: &str) -> Option<String> {
    let rest = line.strip_prefix("listening on ")?;
    let rest = rest
        .trim()
        .trim_start_matches("wss://")
        .trim_start_matches("ws://");
    Some(rest.trim_end_matches('/').to_owned())
}

/// Builds `example` of `package` in release mode and copies it to `dir/<package>-<example>`:
/// examples of the same name in two packages share one path in the target directory.
pub fn release_example(root: &Path, package: &str, example: &str, dir: &Path) -> Result<PathBuf> {
    release_example_with(root, package, example, &[], dir)
}

/// [`release_example`] with the package's `features` turned on (examples that require them).
pub fn release_example_with(
    root: &Path,
    package: &str,
    example: &str,
    features: &[&str],
    dir: &Path,
) -> Result<PathBuf> {
    let mut cmd = util::cmd("cargo", root);
    cmd.args([
        "build",
        "--release",
        "-q",
        "-p",
        package,
        "--example",
        example,
    ]);
    if !features.is_empty() {
        cmd.arg("--features").arg(features.join(","));
    }
    util::run(&mut cmd)?;
    let built = util::target_dir(root)
        .join("release")
        .join("examples")
        .join(example);
    std::fs::create_dir_all(dir)?;
    let copy = dir.join(format!("{package}-{example}"));
    std::fs::copy(&built, &copy)
        .map_err(|e| format!("cannot copy {} to {}: {e}", built.display(), copy.display()))?;
    Ok(copy)
}

/// Builds the `ws` command in release mode; returns its path.
pub fn release_ws(root: &Path) -> Result<PathBuf> {
    util::run(util::cmd("cargo", root).args(["build", "--release", "-q", "-p", "ws-cli"]))?;
    Ok(util::target_dir(root).join("release").join("ws"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_lines() {
        assert_eq!(
            listening_address("listening on ws://127.0.0.1:4321/").as_deref(),
            Some("127.0.0.1:4321")
        );
        assert_eq!(
            listening_address("listening on 127.0.0.1:9001").as_deref(),
            Some("127.0.0.1:9001")
        );
        assert_eq!(
            listening_address("listening on wss://[::1]:1/").as_deref(),
            Some("[::1]:1")
        );
        assert_eq!(listening_address("connect 127.0.0.1:5"), None);
    }
}
