//! A `redis-server` on a free loopback port for tests, killed when dropped.
//!
//! The tests of ws-pubsub, ws-api and the `ws` command that need Redis start one each with
//! [`RedisServer::start`]. Without redis-server installed it returns `None` and the test is
//! skipped, unless the environment variable `CI` is set: there the Redis tests must run
//! (`cargo xtask ci` installs redis-server).

#![warn(missing_docs)]
#![deny(unsafe_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long redis-server may take to answer, and one command to reply.
const WAIT: Duration = Duration::from_secs(20);

/// A redis-server on 127.0.0.1 without persistence, killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Child,
}

impl RedisServer {
    /// A server on a port the OS picks, once it answers. `None` (skip the test) when
    /// redis-server is not installed and `CI` is not set.
    ///
    /// # Panics
    ///
    /// When redis-server is missing while `CI` is set, or does not start or answer.
    pub fn start() -> Option<RedisServer> {
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
            eprintln!(
                "note: redis-server is not installed; skipping this test \
                 (apt-get install redis-server)"
            );
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Some(RedisServer::on(port))
    }

    /// A server on `port`, once it answers PING.
    ///
    /// # Panics
    ///
    /// When redis-server does not start or answer within 20 s.
    pub fn on(port: u16) -> RedisServer {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let server = RedisServer { port, child };
        let deadline = Instant::now() + WAIT;
        while server.command(&[b"PING"]).as_deref() != Some(b"+PONG\r\n".as_slice()) {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its process id (to stop and continue it with signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server and starts a new one on the same port.
    pub fn restart(self) -> RedisServer {
        let port = self.port;
        drop(self);
        RedisServer::on(port)
    }

    /// Sends one command (RESP) and returns the first reply's bytes; `None` if the server is
    /// not there.
    pub fn command(&self, args: &[&[u8]]) -> Option<Vec<u8>> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(WAIT)).ok()?;
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
        stream.write_all(&request).ok()?;
        let mut reply = vec![0u8; 512];
        let n = stream.read(&mut reply).ok()?;
        reply.truncate(n);
        Some(reply)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
