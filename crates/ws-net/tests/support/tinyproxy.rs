//! A real tinyproxy for tests: its configuration in a fresh temporary directory, listening on a
//! free loopback port, killed (and the directory removed) on drop.
//!
//! Without tinyproxy installed, [`Tinyproxy::start`] fails the test when `CI` is set (CI must
//! run these tests; `cargo xtask ci` installs it) and otherwise returns `None` after a note, so
//! the test can return early on a developer machine.
#![allow(dead_code)] // Each test file uses a different part.

use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long tinyproxy may take to accept connections after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// A freshly picked port can be taken by someone else before tinyproxy binds it; try again.
const START_ATTEMPTS: usize = 3;

/// What the proxy allows.
#[derive(Debug, Clone, Default)]
pub struct TinyproxyConfig {
    basic_auth: Option<(String, String)>,
    connect_ports: Vec<u16>,
}

impl TinyproxyConfig {
    /// Require these Basic credentials (`BasicAuth user pass`).
    pub fn basic_auth(mut self, user: &str, pass: &str) -> Self {
        self.basic_auth = Some((user.to_owned(), pass.to_owned()));
        self
    }

    /// Allow CONNECT to this port only (one `ConnectPort` line each). Without any, tinyproxy
    /// allows CONNECT to every port.
    pub fn connect_port(mut self, port: u16) -> Self {
        self.connect_ports.push(port);
        self
    }

    fn render(&self, port: u16, log: &Path) -> String {
        let mut conf = format!(
            "Port {port}\n\
             Listen 127.0.0.1\n\
             Timeout 30\n\
             MaxClients 16\n\
             Allow 127.0.0.1\n\
             LogLevel Info\n\
             LogFile \"{}\"\n",
            log.display()
        );
        if let Some((user, pass)) = &self.basic_auth {
            writeln!(conf, "BasicAuth {user} {pass}").unwrap();
        }
        for port in &self.connect_ports {
            writeln!(conf, "ConnectPort {port}").unwrap();
        }
        conf
    }
}

/// A running tinyproxy.
#[derive(Debug)]
pub struct Tinyproxy {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Tinyproxy {
    /// Starts tinyproxy with `config`, or returns `None` (outside CI) when it is not installed.
    pub fn start(config: &TinyproxyConfig) -> Option<Tinyproxy> {
        let Some(binary) = find_binary() else {
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                panic!(
                    "tinyproxy is not installed but CI is set, so the proxy tests must run: \
                     install it (`apt-get install tinyproxy`; `cargo xtask ci` does this)"
                );
            }
            eprintln!(
                "note: tinyproxy is not installed; skipping this test (apt-get install tinyproxy)"
            );
            return None;
        };
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(&binary, config) {
                Ok(proxy) => return Some(proxy),
                Err(why) => failures.push(why),
            }
        }
        panic!("tinyproxy did not start:\n{}", failures.join("\n---\n"));
    }

    /// The port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn try_start(binary: &Path, config: &TinyproxyConfig) -> Result<Tinyproxy, String> {
        let dir = fresh_temp_dir();
        let port = free_port();
        let conf = dir.join("tinyproxy.conf");
        let log = dir.join("tinyproxy.log");
        fs::write(&conf, config.render(port, &log)).expect("writing tinyproxy.conf");
        let child = Command::new(binary)
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        // From here the guard owns the process and the directory, on every path.
        let mut proxy = Tinyproxy { child, port, dir };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                return Err(format!("tinyproxy exited with {status}:\n{}", proxy.log()));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(proxy);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "tinyproxy did not accept connections on {addr} within {START_TIMEOUT:?}:\n{}",
                    proxy.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("tinyproxy.log"))
            .unwrap_or_else(|e| format!("(no log: {e})"))
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn find_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        // Some distributions install it in sbin, which is not on every user's PATH.
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join("tinyproxy"))
        .find(|candidate| candidate.is_file())
}

/// Bind port 0 to let the OS pick a free port, then release it for tinyproxy.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// A directory nobody else uses: `create_dir` fails rather than reusing an existing one.
fn fresh_temp_dir() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::env::temp_dir();
    for _ in 0..1000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("ws-net-tinyproxy-{}-{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("creating {}: {e}", dir.display()),
        }
    }
    panic!("no free temporary directory name under {}", base.display());
}
