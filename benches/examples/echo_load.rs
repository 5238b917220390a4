//! Load generator for `cargo xtask bench echo`, after uWebSockets' load_test: N connections, each
//! with exactly one binary message in flight (send, wait for the whole echo, send again). After a
//! warm-up it counts the echoes received over a fixed window.
//!
//! ```text
//! echo_load ADDR echo --connections N --size BYTES [--warmup-ms MS] [--seconds S] [--server-pid PID] [--deflate]
//! echo_load ADDR idle --connections N [--hold-seconds S] [--deflate]
//! echo_load ADDR idle-load --connections N --size BYTES [--seconds S] [--server-pid PID] [--seed N] [--deflate]
//! ```
//!
//! `echo` prints one line when the window ends:
//! `result messages=M elapsed_us=T load_ticks=L bytes_out=O bytes_in=I [server_ticks=S]`, where
//! the ticks are the utime+stime clock ticks (`/proc/PID/stat`) this process and the server spent
//! in the window, and the bytes are the WebSocket bytes (frame headers included) written and read
//! for the messages echoed in it.
//!
//! `idle` opens N connections, completes every handshake, prints `ready connections=N` and keeps
//! them open, without traffic, until killed or `--hold-seconds` pass. Meanwhile it obeys
//! commands, one per line on its stdin (which may as well be closed or `/dev/null`):
//!
//! - `echo`: sends one 16-byte binary message on every connection and waits for every echo, then
//!   prints `echoed connections=N elapsed_us=T` and holds the connections again;
//! - `close`: starts the closing handshake (status 1000) on every connection and waits for every
//!   server's Close, then prints `closed connections=N elapsed_us=T` and exits.
//!
//! A command that every connection has not completed within 60 s, or a connection the server
//! drops, ends the program with an error (on stderr, exit status 1).
//!
//! `idle-load` is many mostly idle clients: N connections, each sending one `--size`-byte binary
//! message per second for `--seconds` seconds (default 30). Once every connection is open it waits
//! 1 s; then each connection starts at its own offset within the first second (pseudo-random,
//! fixed by `--seed`) and sends every second from there. A connection never has more than one
//! message in flight: when the echo of the previous message has not arrived at the next send
//! time, that send is skipped (counted as skipped). The latency of every echo (send to arrival,
//! monotonic clock) is recorded. It prints one line at the end:
//! `result messages=M sent=N skipped=K unanswered=U seconds=S elapsed_us=T load_ticks=L
//! [server_ticks=S] p50_us=… p99_us=… p999_us=… max_us=…`, where unanswered counts messages
//! whose echo had not arrived one second after their send when the connection's last second
//! ended.
//!
//! Payloads are JSON-like: generated records (`{"id":…,"type":"trade","symbol":…}`) cut to the
//! requested size, a fixed set of distinct messages shared by all connections.
//!
//! Without `--deflate` the generator must never be the bottleneck: each connection sends one of
//! those messages over and over, its frame written by hand once and re-masked in place with a
//! fresh key for every message (the server's work on an uncompressed message does not depend on
//! its content), and echoes are parsed header by header with their payloads skipped (only their
//! lengths are checked) in a reused read buffer.
//!
//! In `echo`, `--deflate` offers permessage-deflate (default settings: context takeover, 15-bit windows) and
//! fails unless the server accepts it. Each connection then runs a ws-proto [`Connection`] that
//! compresses what it sends and inflates the echoes, which are compared with what was sent; it
//! cycles through the distinct messages, so that, with context takeover, a message is never
//! compressed against an identical one still in the window. In `idle` and `idle-load`, messages
//! are sent uncompressed (allowed on a permessage-deflate connection) and only the echoes'
//! arrival is checked, since the server may compress them.

#![deny(unsafe_code)]

use std::future::Future;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use ws_benches::load::{self, invalid, Error, FrameReader, Mark};
use ws_proto::deflate::{Deflate, DeflateConfig, DeflateParams};
use ws_proto::frame::{encode_frame, OpCode};
use ws_proto::handshake::ClientRequest;
use ws_proto::mask::{apply_mask, random_key};
use ws_proto::{Config, Connection, Event, Message, Role};

const USAGE: &str = "\
usage: echo_load ADDR echo --connections N --size BYTES [--warmup-ms MS] [--seconds S] [--server-pid PID] [--deflate]
       echo_load ADDR idle --connections N [--hold-seconds S] [--deflate]
       echo_load ADDR idle-load --connections N --size BYTES [--seconds S] [--server-pid PID] [--seed N] [--deflate]";

/// At most this many payload bytes of distinct messages are generated (at most
/// [`MAX_MESSAGES`] messages): for every size up to 64 KiB, more than a 32 KiB window holds.
const CORPUS_BYTES: usize = 16 * 1024 * 1024;
/// At most this many distinct messages are generated.
const MAX_MESSAGES: usize = 256;

/// Read buffer of a connection that only ever receives small messages (`idle`, `idle-load`):
/// 10,000 connections must not cost the generator 640 MiB.
const SMALL_READ_BUFFER: usize = 512;

/// Size of the one message `idle`'s `echo` command sends on every connection.
const IDLE_ECHO_SIZE: usize = 16;
/// How long every connection has to complete an `idle` command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `close` waits for the server to end the TCP connection after its Close.
const CLOSE_EOF_TIMEOUT: Duration = Duration::from_secs(2);
/// How long opening the connections may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between opening the last connection and the first message in `idle-load`.
const IDLE_LOAD_SETTLE: Duration = Duration::from_secs(1);
/// Interval between two messages of one connection in `idle-load`.
const IDLE_LOAD_PERIOD: Duration = Duration::from_secs(1);

#[derive(Debug)]
enum Mode {
    Echo {
        size: usize,
        warmup: Duration,
        window: Duration,
        server_pid: Option<u32>,
    },
    Idle {
        hold: Duration,
    },
    IdleLoad {
        size: usize,
        /// Messages per connection, one per second.
        seconds: u32,
        server_pid: Option<u32>,
        seed: u64,
    },
}

#[derive(Debug)]
struct Options {
    addr: SocketAddr,
    connections: usize,
    deflate: bool,
    mode: Mode,
}

fn main() -> ExitCode {
    // 10,000 idle connections need more descriptors than the usual soft limit of 1024; one
    // thread, like the servers: the generator's cost per message stays low and measurable.
    load::main("echo_load", USAGE, parse_args, run)
}

fn parse_args(args: Vec<String>) -> Result<Options, Error> {
    let mut it = args.into_iter();
    let addr: SocketAddr = it.next().ok_or("missing ADDR")?.parse()?;
    let mode_name = it.next().ok_or("missing mode (echo or idle)")?;
    let mut connections = None;
    let mut size = None;
    let mut warmup = Duration::from_millis(1000);
    let mut window = None;
    let mut server_pid = None;
    let mut hold = Duration::from_secs(60);
    let mut deflate = false;
    let mut seed = 1;
    while let Some(flag) = it.next() {
        if flag == "--deflate" {
            deflate = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || load::number(&flag, &value);
        match flag.as_str() {
            "--connections" => connections = Some(number()? as usize),
            "--size" => size = Some(number()? as usize),
            "--warmup-ms" => warmup = Duration::from_millis(number()?),
            "--seconds" => window = Some(number()?),
            "--server-pid" => server_pid = Some(u32::try_from(number()?)?),
            "--hold-seconds" => hold = Duration::from_secs(number()?),
            "--seed" => seed = number()?,
            other => return Err(format!("unknown option `{other}`").into()),
        }
    }
    let connections = connections.ok_or("--connections is required")?;
    if connections == 0 {
        return Err("--connections must be positive".into());
    }
    let mode = match mode_name.as_str() {
        "echo" => Mode::Echo {
            size: size.ok_or("--size is required in echo mode")?,
            warmup,
            window: match window.unwrap_or(5) {
                0 => return Err("--seconds must be positive".into()),
                s => Duration::from_secs(s),
            },
            server_pid,
        },
        "idle" => Mode::Idle { hold },
        "idle-load" => Mode::IdleLoad {
            size: match size.ok_or("--size is required in idle-load mode")? {
                0 => return Err("--size must be positive".into()),
                s => s,
            },
            seconds: match u32::try_from(window.unwrap_or(30))? {
                0 => return Err("--seconds must be positive".into()),
                s => s,
            },
            server_pid,
            seed,
        },
        other => return Err(format!("unknown mode `{other}`").into()),
    };
    Ok(Options {
        addr,
        connections,
        deflate,
        mode,
    })
}

async fn run(options: Options) -> Result<(), Error> {
    let (addr, deflate) = (options.addr, options.deflate);
    let connecting = load::connect_all(options.connections, |_| connect(addr, deflate));
    let connections = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| {
            format!(
                "{} connections were not all open within {} s",
                options.connections,
                CONNECT_TIMEOUT.as_secs()
            )
        })??;
    match options.mode {
        Mode::Idle { hold } => idle(connections, hold).await,
        Mode::IdleLoad {
            size,
            seconds,
            server_pid,
            seed,
        } => idle_load(connections, size, seconds, server_pid, seed).await,
        Mode::Echo {
            size,
            warmup,
            window,
            server_pid,
        } => echo(connections, size, warmup, window, server_pid).await,
    }
}

/// A connection whose opening handshake is done, with any bytes that followed the response and
/// the permessage-deflate parameters agreed, if it was offered.
#[derive(Debug)]
struct Connected {
    stream: TcpStream,
    leftover: Vec<u8>,
    deflate: Option<DeflateParams>,
}

async fn connect(addr: SocketAddr, deflate: bool) -> Result<Connected, Error> {
    let mut stream = TcpStream::connect(addr).await?;
    // One message in flight per connection: every write must leave at once.
    stream.set_nodelay(true)?;
    let offer = DeflateConfig::default();
    let request =
        ClientRequest::from_url(&format!("ws://{addr}/"))?.deflate(deflate.then_some(&offer));
    let done = load::handshake(&mut stream, &request).await?;
    if deflate && done.response.deflate.is_none() {
        return Err("the server did not accept permessage-deflate".into());
    }
    Ok(Connected {
        stream,
        leftover: done.leftover,
        deflate: done.response.deflate,
    })
}

async fn echo(
    connections: Vec<Connected>,
    size: usize,
    warmup: Duration,
    window: Duration,
    server_pid: Option<u32>,
) -> Result<(), Error> {
    let counters = Arc::new(Counters::default());
    let corpus: Arc<[Vec<u8>]> = corpus(size).into();
    let mut tasks = JoinSet::new();
    for (i, connection) in connections.into_iter().enumerate() {
        let counters = Arc::clone(&counters);
        let corpus = Arc::clone(&corpus);
        tasks.spawn(async move {
            let result = match connection.deflate {
                Some(params) => deflate_loop(connection, params, &corpus, i, &counters).await,
                None => echo_loop(connection, &corpus[i % corpus.len()], &counters).await,
            };
            result.map_err(|e| format!("connection {}: {e}", i + 1))
        });
    }
    load::wait_or_fail(&mut tasks, warmup, "a connection task").await?;

    let start = Snapshot::take(&counters, server_pid)?;
    load::wait_or_fail(&mut tasks, window, "a connection task").await?;
    let end = Snapshot::take(&counters, server_pid)?;

    println!(
        "result messages={} {} bytes_out={} bytes_in={}{}",
        end.messages - start.messages,
        end.mark.window_fields(&start.mark),
        end.bytes_out - start.bytes_out,
        end.bytes_in - start.bytes_in,
        end.mark.server_field(&start.mark),
    );
    io::stdout().flush()?;
    tasks.abort_all();
    Ok(())
}

/// What every connection adds to once an echo is complete.
#[derive(Debug, Default)]
struct Counters {
    /// Echoes received.
    messages: AtomicU64,
    /// WebSocket bytes written for those messages.
    bytes_out: AtomicU64,
    /// WebSocket bytes read for their echoes.
    bytes_in: AtomicU64,
}

impl Counters {
    fn echoed(&self, bytes_out: u64, bytes_in: u64) {
        self.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
        self.messages.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counters at one end of the measured window.
#[derive(Debug)]
struct Snapshot {
    mark: Mark,
    messages: u64,
    bytes_out: u64,
    bytes_in: u64,
}

impl Snapshot {
    fn take(counters: &Counters, server_pid: Option<u32>) -> Result<Snapshot, Error> {
        Ok(Snapshot {
            mark: Mark::now(server_pid.as_slice())?,
            messages: counters.messages.load(Ordering::Relaxed),
            bytes_out: counters.bytes_out.load(Ordering::Relaxed),
            bytes_in: counters.bytes_in.load(Ordering::Relaxed),
        })
    }
}

/// `size`-byte JSON-like messages, all different, each a run of generated records cut to `size`.
fn corpus(size: usize) -> Vec<Vec<u8>> {
    let count = (CORPUS_BYTES / size.max(1)).clamp(1, MAX_MESSAGES);
    (0..count).map(|i| json_records(size, i as u64)).collect()
}

/// Records like `{"id":48213,"type":"trade","symbol":"ETH-USD","price":2315.07,...}` in a JSON
/// array, deterministic for a `seed`, cut (or padded with spaces) to exactly `size` bytes.
fn json_records(size: usize, seed: u64) -> Vec<u8> {
    const TYPES: [&str; 4] = ["trade", "quote", "order", "cancel"];
    const SYMBOLS: [&str; 6] = [
        "BTC-USD", "ETH-USD", "SOL-USD", "ADA-EUR", "DOT-EUR", "XRP-USD",
    ];
    const SIDES: [&str; 2] = ["buy", "sell"];
    const USERS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];
    // xorshift64*: fixed, fast, good enough for varied field values.
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |bound: u64| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    };
    let mut out = Vec::with_capacity(size + 256);
    out.push(b'[');
    let mut ts = 1_700_000_000_000 + next(1_000_000_000);
    while out.len() < size {
        ts += next(50);
        // Writing to a Vec cannot fail.
        let _ = write!(
            out,
            r#"{{"id":{},"type":"{}","symbol":"{}","price":{}.{:02},"qty":{},"side":"{}","user":"{}","ts":{}}},"#,
            next(1_000_000),
            TYPES[next(4) as usize],
            SYMBOLS[next(6) as usize],
            100 + next(50_000),
            next(100),
            1 + next(500),
            SIDES[next(2) as usize],
            USERS[next(5) as usize],
            ts,
        );
    }
    out.truncate(size);
    out
}

/// Sends one `size`-byte binary message over and over, one at a time, and waits for each echo,
/// forever.
async fn echo_loop(
    connection: Connected,
    payload: &[u8],
    counters: &Counters,
) -> Result<(), Error> {
    let Connected {
        mut stream,
        leftover,
        ..
    } = connection;
    let size = payload.len();
    let mut frame = MaskedFrame::new(payload);
    let mut reader = FrameReader::new(leftover);
    let (mut rd, mut wr) = stream.split();
    loop {
        let frame = frame.remasked();
        // Read while writing: a server may start echoing a large message before it has all of it.
        let ((), (len, wire)) =
            tokio::try_join!(wr.write_all(frame), reader.read_message(&mut rd))?;
        if len != size as u64 {
            return Err(format!("echo of a {size}-byte message had {len} bytes").into());
        }
        counters.echoed(frame.len() as u64, wire);
    }
}

/// Like [`echo_loop`] on a connection with permessage-deflate: a ws-proto [`Connection`]
/// compresses each message and inflates its echo, which must equal what was sent. Connection `i`
/// cycles through `corpus` from message `i`.
async fn deflate_loop(
    connection: Connected,
    params: DeflateParams,
    corpus: &[Vec<u8>],
    i: usize,
    counters: &Counters,
) -> Result<(), Error> {
    let Connected {
        mut stream,
        leftover,
        ..
    } = connection;
    let config = Config::default().deflate(Some(Deflate::new(params, &DeflateConfig::default())));
    let mut conn = Connection::new(Role::Client, config);
    conn.receive_data(&leftover);
    let mut out = Vec::new();
    let mut buf = vec![0u8; load::READ_BUFFER].into_boxed_slice();
    let (mut rd, mut wr) = stream.split();
    for payload in corpus.iter().cycle().skip(i % corpus.len()) {
        conn.send_binary(payload)?;
        // Everything queued, pongs included, in one buffer for one write.
        out.clear();
        while conn.output_len() > 0 {
            let n = conn.output().len();
            out.extend_from_slice(conn.output());
            conn.consume_output(n);
        }
        // Read while writing, as in `echo_loop`.
        let read = async {
            let mut wire = 0u64;
            loop {
                match conn.next_event() {
                    Some(Event::Message(Message::Binary(echo))) => {
                        if echo != payload[..] {
                            return Err(invalid(format!(
                                "echo of a {}-byte message differs ({} bytes)",
                                payload.len(),
                                echo.len()
                            )));
                        }
                        return Ok(wire);
                    }
                    Some(Event::Ping(_) | Event::Pong(_)) => {}
                    Some(event) => return Err(invalid(format!("unexpected {event:?}"))),
                    None => {
                        let n = rd.read(&mut buf).await?;
                        if n == 0 {
                            return Err(io::ErrorKind::UnexpectedEof.into());
                        }
                        wire += n as u64;
                        conn.receive_data(&buf[..n]);
                    }
                }
            }
        };
        let ((), wire) = tokio::try_join!(wr.write_all(&out), read)?;
        counters.echoed(out.len() as u64, wire);
    }
    Ok(())
}

/// `idle`: holds the connections and runs the commands read from stdin.
async fn idle(connections: Vec<Connected>, hold: Duration) -> Result<(), Error> {
    let count = connections.len();
    let mut held: Vec<Held> = connections.into_iter().map(Held::new).collect();
    println!("ready connections={count}");
    io::stdout().flush()?;
    let deadline = tokio::time::Instant::now() + hold;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    loop {
        // `next_line` is cancel-safe: a line is never half read when the hold ends.
        let line = tokio::select! {
            () = tokio::time::sleep_until(deadline) => return Ok(()),
            line = lines.next_line(), if stdin_open => line?,
        };
        let Some(line) = line else {
            // No more commands: hold the connections until the time is up.
            stdin_open = false;
            continue;
        };
        let started = Instant::now();
        match line.trim() {
            "echo" => {
                held = on_every_connection(held, "echo", Held::echo_once).await?;
                println!(
                    "echoed connections={count} elapsed_us={}",
                    started.elapsed().as_micros()
                );
                io::stdout().flush()?;
            }
            "close" => {
                on_every_connection(held, "close", Held::close).await?;
                println!(
                    "closed connections={count} elapsed_us={}",
                    started.elapsed().as_micros()
                );
                io::stdout().flush()?;
                return Ok(());
            }
            "" => {}
            other => return Err(format!("unknown command `{other}` (echo or close)").into()),
        }
    }
}

/// Runs `op` on every connection at once and gives them back, failing if one fails or they are
/// not all done within [`COMMAND_TIMEOUT`].
async fn on_every_connection<F, Fut>(held: Vec<Held>, what: &str, op: F) -> Result<Vec<Held>, Error>
where
    F: Fn(Held) -> Fut,
    Fut: Future<Output = Result<Held, Error>> + Send + 'static,
{
    let count = held.len();
    let mut tasks = JoinSet::new();
    for (i, connection) in held.into_iter().enumerate() {
        let done = op(connection);
        tasks.spawn(async move { done.await.map_err(|e| format!("connection {}: {e}", i + 1)) });
    }
    join_within(tasks, count, COMMAND_TIMEOUT)
        .await?
        .ok_or_else(|| {
            format!(
                "{what}: not every connection was done within {} s",
                COMMAND_TIMEOUT.as_secs()
            )
            .into()
        })
}

/// The results of the `count` connection tasks of `tasks`, or `None` if they are not all done
/// within `limit`; fails on the first that fails.
async fn join_within<T: 'static>(
    mut tasks: JoinSet<Result<T, String>>,
    count: usize,
    limit: Duration,
) -> Result<Option<Vec<T>>, Error> {
    let mut done = Vec::with_capacity(count);
    let collect = async {
        while let Some(joined) = tasks.join_next().await {
            done.push(joined.map_err(|e| format!("a connection task failed: {e}"))??);
        }
        Ok::<(), Error>(())
    };
    match tokio::time::timeout(limit, collect).await {
        Ok(joined) => joined.map(|()| Some(done)),
        Err(_) => Ok(None),
    }
}

/// An idle connection, ready for `idle`'s commands.
#[derive(Debug)]
struct Held {
    stream: TcpStream,
    reader: FrameReader,
    /// permessage-deflate was agreed: echoes may be compressed, so their length is not checked.
    deflate: bool,
}

impl Held {
    fn new(connection: Connected) -> Held {
        Held {
            stream: connection.stream,
            reader: FrameReader::with_capacity(connection.leftover, SMALL_READ_BUFFER),
            deflate: connection.deflate.is_some(),
        }
    }

    /// Sends one small binary message and waits for its echo.
    async fn echo_once(mut self) -> Result<Held, Error> {
        let payload = json_records(IDLE_ECHO_SIZE, 0);
        let mut frame = Vec::new();
        load::client_frame(&mut frame, OpCode::Binary, &payload);
        let (mut rd, mut wr) = self.stream.split();
        let ((), (len, _)) =
            tokio::try_join!(wr.write_all(&frame), self.reader.read_message(&mut rd))?;
        if !self.deflate && len != IDLE_ECHO_SIZE as u64 {
            return Err(format!("echo of a {IDLE_ECHO_SIZE}-byte message had {len} bytes").into());
        }
        Ok(self)
    }

    /// Sends Close (1000), waits for the server's Close and then, briefly, for the server to
    /// end the TCP connection, as RFC 6455 §7.1.1 has it.
    async fn close(mut self) -> Result<Held, Error> {
        let mut frame = Vec::new();
        load::client_frame(&mut frame, OpCode::Close, &1000u16.to_be_bytes());
        self.stream.write_all(&frame).await?;
        loop {
            let header = self.reader.next_frame(&mut self.stream).await?;
            match header.opcode {
                0x8 => break,
                0x9 | 0xA => {}
                op => return Err(invalid(format!("opcode {op:#x} while waiting for Close")).into()),
            }
        }
        let mut rest = [0u8; 64];
        // Whatever the server does next, the connection is done: EOF, an error or the timeout.
        let _ = tokio::time::timeout(CLOSE_EOF_TIMEOUT, async {
            while self.stream.read(&mut rest).await? > 0 {}
            Ok::<(), io::Error>(())
        })
        .await;
        Ok(self)
    }
}

/// What one connection of `idle-load` measured.
#[derive(Debug, Default)]
struct Paced {
    /// Send-to-echo times, µs.
    latencies: Vec<u32>,
    sent: u64,
    skipped: u64,
    /// Sent, but not echoed before the connection's last second ended.
    unanswered: u64,
}

/// `idle-load`: every connection sends one message per second for `seconds` seconds, from its
/// own offset within the first second; prints the result line.
async fn idle_load(
    connections: Vec<Connected>,
    size: usize,
    seconds: u32,
    server_pid: Option<u32>,
    seed: u64,
) -> Result<(), Error> {
    let count = connections.len();
    tokio::time::sleep(IDLE_LOAD_SETTLE).await;
    let payload: Arc<[u8]> = json_records(size, seed).into();
    let started = Mark::now(server_pid.as_slice())?;
    let start = tokio::time::Instant::from_std(started.at);
    let mut tasks = JoinSet::new();
    for (i, connection) in connections.into_iter().enumerate() {
        let first = start + offset(seed, i);
        let payload = Arc::clone(&payload);
        tasks.spawn(async move {
            paced(connection, &payload, first, seconds)
                .await
                .map_err(|e| format!("connection {}: {e}", i + 1))
        });
    }
    // Every connection is done one period after its last send, at most 1 + `seconds` s in.
    let limit = IDLE_LOAD_PERIOD * (seconds + 1) + COMMAND_TIMEOUT;
    let results = join_within(tasks, count, limit)
        .await?
        .ok_or_else(|| format!("the connections were not done within {} s", limit.as_secs()))?;
    let ended = Mark::now(server_pid.as_slice())?;

    let mut latencies = Vec::with_capacity(results.iter().map(|(p, _)| p.latencies.len()).sum());
    let (mut sent, mut skipped, mut unanswered) = (0, 0, 0);
    for (p, _) in &results {
        latencies.extend_from_slice(&p.latencies);
        sent += p.sent;
        skipped += p.skipped;
        unanswered += p.unanswered;
    }
    latencies.sort_unstable();
    if latencies.is_empty() {
        return Err("no echo arrived".into());
    }
    let mut line = format!(
        "result messages={} sent={sent} skipped={skipped} unanswered={unanswered} seconds={seconds} \
         {}{}",
        latencies.len(),
        ended.window_fields(&started),
        ended.server_field(&started),
    );
    line += &format!(
        " p50_us={} p99_us={} p999_us={} max_us={}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        latencies[latencies.len() - 1],
    );
    println!("{line}");
    io::stdout().flush()?;
    // The connections stay open until every one is done, so none closes inside the window.
    drop(results);
    Ok(())
}

/// The `p` quantile (0 < p <= 1) of sorted, non-empty `values`, by nearest rank.
fn percentile(sorted: &[u32], p: f64) -> u32 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Connection `i`'s first send, after the start: pseudo-random within the first second, the
/// same for the same `seed` (splitmix64).
fn offset(seed: u64, i: usize) -> Duration {
    let mut z = seed.wrapping_add((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    Duration::from_micros(z % IDLE_LOAD_PERIOD.as_micros() as u64)
}

/// One connection of `idle-load`: sends `payload` at `first` and every period after, `sends`
/// times, at most one message in flight, and times every echo. Gives the connection back, so
/// that it stays open until every connection is done.
async fn paced(
    connection: Connected,
    payload: &[u8],
    first: tokio::time::Instant,
    sends: u32,
) -> Result<(Paced, TcpStream), Error> {
    let Connected {
        mut stream,
        leftover,
        deflate,
    } = connection;
    let size = payload.len();
    let mut frame = MaskedFrame::new(payload);
    let mut reader = FrameReader::with_capacity(leftover, SMALL_READ_BUFFER);
    let mut paced = Paced {
        latencies: Vec::with_capacity(sends as usize),
        ..Paced::default()
    };
    // When the message in flight was sent, in ns after `base`, plus 1; 0: none in flight. (An
    // atomic where a `Cell` would do: the task must be `Send`.)
    let base = Instant::now();
    let in_flight = AtomicU64::new(0);
    {
        let (mut rd, mut wr) = stream.split();
        let (latencies, skipped) = (&mut paced.latencies, &mut paced.skipped);
        let writer = async {
            for k in 0..sends {
                tokio::time::sleep_until(first + IDLE_LOAD_PERIOD * k).await;
                if in_flight.load(Ordering::Relaxed) != 0 {
                    *skipped += 1;
                    continue;
                }
                let frame = frame.remasked();
                let since = u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
                in_flight.store(since + 1, Ordering::Relaxed);
                wr.write_all(frame).await?;
            }
            // The last message has a period for its echo, like every other.
            tokio::time::sleep_until(first + IDLE_LOAD_PERIOD * sends).await;
            Ok::<(), io::Error>(())
        };
        // Runs until an error; dropped (wherever it waits) once the writer is done.
        let echoes = async {
            loop {
                let (len, _) = match reader.read_message(&mut rd).await {
                    Ok(read) => read,
                    Err(e) => return e,
                };
                let sent = match in_flight.swap(0, Ordering::Relaxed) {
                    0 => return invalid("an echo arrived with no message in flight".into()),
                    since => base + Duration::from_nanos(since - 1),
                };
                latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                if deflate.is_none() && len != size as u64 {
                    return invalid(format!("echo of a {size}-byte message had {len} bytes"));
                }
            }
        };
        tokio::select! {
            done = writer => done?,
            e = echoes => return Err(e.into()),
        }
    }
    paced.unanswered = u64::from(in_flight.load(Ordering::Relaxed) != 0);
    paced.sent = u64::from(sends) - paced.skipped;
    Ok((paced, stream))
}

/// A binary message as a client sends it, masked with a fresh key before every send.
#[derive(Debug)]
struct MaskedFrame {
    frame: Vec<u8>,
    header_len: usize,
    key: [u8; 4],
}

impl MaskedFrame {
    fn new(payload: &[u8]) -> Self {
        let key = random_key();
        let mut frame = Vec::new();
        encode_frame(&mut frame, true, OpCode::Binary, Some(key), payload);
        let header_len = frame.len() - payload.len();
        MaskedFrame {
            frame,
            header_len,
            key,
        }
    }

    /// The frame with a fresh key (RFC 6455 §5.3), remasked in place: masking with old ^ new
    /// turns the payload masked with the old key into one masked with the new.
    fn remasked(&mut self) -> &[u8] {
        let (key, header_len) = (&mut self.key, self.header_len);
        let next = random_key();
        let delta = [
            key[0] ^ next[0],
            key[1] ^ next[1],
            key[2] ^ next[2],
            key[3] ^ next[3],
        ];
        apply_mask(&mut self.frame[header_len..], delta, 0);
        self.frame[header_len - 4..header_len].copy_from_slice(&next);
        *key = next;
        &self.frame
    }
}
