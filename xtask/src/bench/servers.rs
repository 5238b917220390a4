//! The servers under test and the processes around them: starting a server on a free port and
//! waiting until it accepts, a guard that kills it, running a load generator with a time limit
//! and reading its `result` line, and what /proc says about the machine and a process.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::process;
use crate::util::{self, bail, Result};

/// How long a server may take to accept its first connection.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// What a server is in the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// ws-net's server (echo or broadcast), the one every ratio is about.
    Ours,
    /// ws-net's echo server with permessage-deflate, compared with [`Kind::Ours`].
    OursDeflate,
    /// ws-net's echo server written with the futures `Stream`/`Sink`, compared with
    /// [`Kind::Ours`] in the main table.
    OursStream,
    /// A peer library's server.
    Peer,
    /// An echo server on the ws-api facade, compared with [`Kind::Ours`] in a table of its own.
    Facade,
}

/// A server under test.
#[derive(Debug, Clone)]
pub(super) struct Server {
    pub(super) name: &'static str,
    pub(super) binary: PathBuf,
    /// Its arguments, [`ADDR`] standing for the address to listen on.
    pub(super) args: Vec<String>,
    /// Offer permessage-deflate from the load generator.
    pub(super) deflate: bool,
    pub(super) kind: Kind,
    /// File name of its log.
    pub(super) log: &'static str,
}

/// Stands for the listening address in [`Server::args`].
pub(super) const ADDR: &str = "{addr}";

impl Server {
    /// A server that takes the address as its first argument, then `args`.
    pub(super) fn new(
        name: &'static str,
        binary: PathBuf,
        args: &[&str],
        kind: Kind,
        log: &'static str,
    ) -> Server {
        Server {
            name,
            binary,
            args: std::iter::once(ADDR)
                .chain(args.iter().copied())
                .map(str::to_string)
                .collect(),
            deflate: false,
            kind,
            log,
        }
    }

    /// Its arguments for listening on `addr`.
    pub(super) fn args_for(&self, addr: &str) -> Vec<String> {
        self.args
            .iter()
            .map(|a| {
                if a == ADDR {
                    addr.to_string()
                } else {
                    a.clone()
                }
            })
            .collect()
    }
}

/// A child process that is killed and reaped however the scope is left.
#[derive(Debug)]
pub(super) struct Guard(pub(super) Child);

impl Guard {
    pub(super) fn pid(&self) -> u32 {
        self.0.id()
    }

    pub(super) fn exited(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().ok().flatten()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `server` on a free port and waits until it accepts a connection. The server's soft
/// RLIMIT_NOFILE is raised to the hard limit first, for the idle-connection test.
pub(super) fn start_server(server: &Server, log: &Path) -> Result<(Guard, u16)> {
    let mut last_error = String::new();
    // The port can be taken between probing and binding; another one is then tried.
    for _ in 0..3 {
        let port = process::free_port()?;
        let out = OpenOptions::new().append(true).create(true).open(log)?;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(r#"ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@""#)
            .arg(&server.binary)
            .args(server.args_for(&format!("127.0.0.1:{port}")))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let mut guard = Guard(
            cmd.spawn()
                .map_err(|e| format!("cannot start {}: {e}", server.binary.display()))?,
        );
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = guard.exited() {
                last_error = format!("{} exited at start ({status}){}", server.name, tail(log));
                break;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok((guard, port));
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not accept on {addr} within {}s{}",
                    server.name,
                    START_TIMEOUT.as_secs(),
                    tail(log)
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
    Err(last_error.into())
}

/// The last lines of a server log, for error messages.
pub(super) fn tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(10);
    format!(
        "; last lines of {}:\n{}",
        log.display(),
        lines[start..].join("\n")
    )
}

#[derive(Debug)]
pub(super) struct Output {
    pub(super) status: ExitStatus,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

/// Runs `cmd` to completion with captured output, killing it after `timeout`.
pub(super) fn output_with_timeout(mut cmd: Command, timeout: Duration) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", util::display_cmd(&cmd)))?;
    let stdout = child.stdout.take().map(read_in_background);
    let stderr = child.stderr.take().map(read_in_background);
    let mut guard = Guard(child);
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = guard.exited() {
            break status;
        }
        if Instant::now() > deadline {
            bail!(
                "`{}` did not finish within {}s; killed",
                util::display_cmd(&cmd),
                timeout.as_secs()
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    let collect = |h: Option<thread::JoinHandle<String>>| {
        h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
    };
    Ok(Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

pub(super) fn read_in_background(
    mut pipe: impl Read + Send + 'static,
) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// A child's stdout, line by line, on a channel that disconnects when it closes.
pub(super) fn lines_in_background(
    stdout: Option<std::process::ChildStdout>,
) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(stdout) = stdout {
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    rx
}

/// VmRSS of a process in KiB, from /proc/PID/status.
pub(super) fn vm_rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    parse_vm_rss(&text).ok_or_else(|| format!("no VmRSS in {path}").into())
}

pub(super) fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line["VmRSS:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The 1-minute load average, from /proc/loadavg.
pub(super) fn load_average() -> Option<String> {
    let text = fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next().map(str::to_string)
}

pub(super) fn cpu_model() -> Option<String> {
    let text = fs::read_to_string("/proc/cpuinfo").ok()?;
    let model = text
        .lines()
        .find(|l| l.starts_with("model name"))?
        .split_once(':')?
        .1
        .trim()
        .to_string();
    let cores = thread::available_parallelism().map(|n| n.get()).ok()?;
    Some(format!("{model}, {cores} cores"))
}

/// Builds, in release, what `args` name (`-p ws-benches --examples`).
pub(super) fn build_release(root: &Path, args: &[&str]) -> Result {
    util::run(
        util::cmd("cargo", root)
            .args(["build", "--release"])
            .args(args),
    )
}

/// The report's note, printed as a warning too, that ours (`source`) is not in this checkout.
pub(super) fn ours_missing(source: &str) -> String {
    let note = format!(
        "ours MISSING: {source} is not in this checkout, so only the peers are measured and no \
         ratios are given"
    );
    eprintln!("warning: {note}");
    note
}

/// Fails, naming the first, unless every one of `binaries` exists.
pub(super) fn require<'a>(binaries: impl IntoIterator<Item = &'a PathBuf>) -> Result {
    for binary in binaries {
        if !binary.is_file() {
            bail!(
                "{} is missing (build it, or drop --no-build)",
                binary.display()
            );
        }
    }
    Ok(())
}

/// Creates `dir` and an empty log file in it for each of `servers`: one log per server for
/// this invocation.
pub(super) fn fresh_logs<'a>(dir: &Path, servers: impl IntoIterator<Item = &'a Server>) -> Result {
    fs::create_dir_all(dir)?;
    for server in servers {
        fs::File::create(dir.join(server.log))?;
    }
    Ok(())
}

/// The clock ticks per second in which /proc/PID/stat counts CPU time (100 when `getconf` does
/// not say).
pub(crate) fn clk_tck() -> f64 {
    util::output_line("getconf", &["CLK_TCK"])
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// One run of a load generator against a server, for [`measure`].
#[derive(Debug)]
pub(super) struct Load<'a> {
    /// The generator's binary.
    pub(super) program: &'a Path,
    /// Its arguments after the server's address (`--server-pid`, and `--deflate` for a server
    /// that offers it, follow).
    pub(super) args: &'a [&'a str],
    /// How long it may take before it is killed.
    pub(super) timeout: Duration,
    /// The generator's program name, for its messages (`echo_load`).
    pub(super) generator: &'a str,
    /// What failed when it exits unsuccessfully (`echo_load idle-load`).
    pub(super) what: &'a str,
}

/// Starts `server` (logging to `log`) on a free port, runs the load generator `load` against
/// it and returns the `result ` line the generator printed. Fails if the server does not
/// start, exits during the run, or the generator fails or prints no result.
pub(super) fn measure(server: &Server, log: &Path, load: &Load<'_>) -> Result<String> {
    let (mut guard, port) = start_server(server, log)?;
    let mut cmd = Command::new(load.program);
    cmd.arg(format!("127.0.0.1:{port}"))
        .args(load.args)
        .args(["--server-pid", &guard.pid().to_string()]);
    if server.deflate {
        cmd.arg("--deflate");
    }
    let output = output_with_timeout(cmd, load.timeout)?;
    // A crash shows here even if the generator noticed nothing.
    if let Some(status) = guard.exited() {
        bail!(
            "{} exited during the run ({status}){}",
            server.name,
            tail(log)
        );
    }
    if !output.status.success() {
        bail!(
            "{} failed ({}): {}",
            load.what,
            output.status,
            output.stderr.trim()
        );
    }
    output
        .stdout
        .lines()
        .find(|l| l.starts_with("result "))
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "{} printed no result: {}",
                load.generator,
                output.stdout.trim()
            )
            .into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_rss() {
        let status = "Name:\techo\nVmPeak:\t  9000 kB\nVmRSS:\t    2260 kB\nRssAnon:\t 300 kB\n";
        assert_eq!(parse_vm_rss(status), Some(2260));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn arguments_with_the_address() {
        let server = Server::new(
            "s",
            PathBuf::from("s"),
            &["--flag", ADDR],
            Kind::Peer,
            "s.log",
        );
        assert_eq!(
            server.args_for("127.0.0.1:9"),
            ["127.0.0.1:9", "--flag", "127.0.0.1:9"]
        );
    }
}
