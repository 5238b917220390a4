//! Load generator for `cargo xtask bench broadcast`: N subscriber connections that read and count
//! every message the server fans out to them; the first of them also publishes.
//!
//! ```text
//! broadcast_load ADDR[,ADDR...] --subscribers N --size BYTES [--in-flight W] [--warmup-ms MS] [--seconds S] [--server-pid PID]...
//! ```
//!
//! With several addresses (instances of one server sharing their messages, through Redis for
//! instance), the subscribers are spread over them round-robin, as a load balancer would place
//! them (the publisher is the first to finish its handshake, on any of them). `--server-pid` may be repeated; the ticks are then summed.
//!
//! Every server under test sends each message to every connection, its sender included, so the
//! publisher is one of the N subscribers: each message is delivered N times. The publisher sends
//! binary messages of `--size` bytes (at least 8), masked with a fresh key each, whose first 8
//! bytes are a sequence number (big-endian, from 1). To measure the steady state without
//! flooding the server, it sends message k only once every subscriber has received message
//! k - W (W = `--in-flight`, default 8) or a later one, so the slowest subscriber is never more
//! than W messages behind.
//!
//! Each subscriber parses frame headers in a reused buffer, keeps only the sequence number of
//! each message (checking its length), and checks it is the previous one + 1. A jump forward
//! (a server that skipped messages for a lagging subscriber) counts the skipped ones as lost;
//! one that is not after the previous is counted as out of order. Neither is a delivery. Pings
//! are not answered (no server here pings unprompted); a Close ends the run with an error
//! naming its code, as does any connection that fails.
//!
//! After the warm-up (`--warmup-ms`, default 1000) it counts over a window (`--seconds`,
//! default 5) and prints one line:
//! `result deliveries=D published=P lost=L out_of_order=O elapsed_us=T load_ticks=L [server_ticks=S]`,
//! where the ticks are the utime+stime clock ticks (`/proc/PID/stat`) this process and the
//! servers (every `--server-pid`) spent in the window.

#![deny(unsafe_code)]

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use ws_benches::load::{self, invalid, Error, FrameReader, Mark};
use ws_proto::frame::OpCode;
use ws_proto::handshake::ClientRequest;

const USAGE: &str = "\
usage: broadcast_load ADDR[,ADDR...] --subscribers N --size BYTES [--in-flight W] [--warmup-ms MS] [--seconds S] [--server-pid PID]...";

/// Slots of the ring that counts, per message, the subscribers that got it (or a later one).
/// Larger than any `--in-flight`, so a slot is reused only once everyone is past its message.
const RING: usize = 4096;
/// The largest `--in-flight`.
const MAX_IN_FLIGHT: u64 = 1024;
/// The bytes of the sequence number at the start of each message.
const SEQ_LEN: usize = 8;

/// The publisher gives up when the oldest message in flight reaches nobody new for this long.
const STALL: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Options {
    addrs: Vec<SocketAddr>,
    subscribers: usize,
    size: usize,
    in_flight: u64,
    warmup: Duration,
    window: Duration,
    server_pids: Vec<u32>,
}

fn main() -> ExitCode {
    // 1,000 connections and more need more descriptors than the usual soft limit of 1024; one
    // thread, like the servers: the generator's cost stays low and measurable.
    load::main("broadcast_load", USAGE, parse_args, run)
}

fn parse_args(args: Vec<String>) -> Result<Options, Error> {
    let mut it = args.into_iter();
    let addrs = it
        .next()
        .ok_or("missing ADDR")?
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<SocketAddr>, _>>()?;
    let mut subscribers = None;
    let mut size = None;
    let mut in_flight = 8;
    let mut warmup = Duration::from_millis(1000);
    let mut window = Duration::from_secs(5);
    let mut server_pids = Vec::new();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || load::number(&flag, &value);
        match flag.as_str() {
            "--subscribers" => subscribers = Some(number()? as usize),
            "--size" => size = Some(number()? as usize),
            "--in-flight" => in_flight = number()?,
            "--warmup-ms" => warmup = Duration::from_millis(number()?),
            "--seconds" => window = Duration::from_secs(number()?),
            "--server-pid" => server_pids.push(u32::try_from(number()?)?),
            other => return Err(format!("unknown option `{other}`").into()),
        }
    }
    let subscribers = subscribers.ok_or("--subscribers is required")?;
    if subscribers == 0 || u32::try_from(subscribers).is_err() {
        return Err("--subscribers must be between 1 and 2^32 - 1".into());
    }
    let size = size.ok_or("--size is required")?;
    if size < SEQ_LEN {
        return Err(format!("--size must be at least {SEQ_LEN} (the sequence number)").into());
    }
    if !(1..=MAX_IN_FLIGHT).contains(&in_flight) {
        return Err(format!("--in-flight must be between 1 and {MAX_IN_FLIGHT}").into());
    }
    if window.is_zero() {
        return Err("--seconds must be positive".into());
    }
    Ok(Options {
        addrs,
        subscribers,
        size,
        in_flight,
        warmup,
        window,
        server_pids,
    })
}

/// What the subscribers and the publisher count, shared by every task.
#[derive(Debug)]
struct Progress {
    subscribers: u32,
    /// Messages received in sequence (or after a gap).
    deliveries: AtomicU64,
    /// Messages a subscriber never got: the gaps in its sequence.
    lost: AtomicU64,
    /// Messages that were not after the previous one on their connection.
    out_of_order: AtomicU64,
    /// Messages the publisher has written.
    published: AtomicU64,
    /// For message k, slot k % RING: how many subscribers got k or a later message.
    seen: Box<[AtomicU32]>,
    /// Woken when a message has reached every subscriber.
    all_seen: Notify,
}

impl Progress {
    fn new(subscribers: u32) -> Progress {
        Progress {
            subscribers,
            deliveries: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
            published: AtomicU64::new(0),
            seen: (0..RING).map(|_| AtomicU32::new(0)).collect(),
            all_seen: Notify::new(),
        }
    }

    fn slot(&self, seq: u64) -> &AtomicU32 {
        &self.seen[(seq % RING as u64) as usize]
    }

    /// One subscriber got message `to`, its last one before was `from - 1`.
    fn reached(&self, from: u64, to: u64) {
        for seq in from..=to {
            if self.slot(seq).fetch_add(1, Ordering::AcqRel) + 1 == self.subscribers {
                self.all_seen.notify_one();
            }
        }
    }
}

async fn run(options: Options) -> Result<(), Error> {
    // Spread round-robin over the addresses, as a load balancer would place them.
    let addrs = &options.addrs;
    let connections =
        load::connect_all(options.subscribers, |i| connect(addrs[i % addrs.len()])).await?;
    let progress = Arc::new(Progress::new(options.subscribers as u32));
    let mut tasks = JoinSet::new();
    // The writing halves of the subscribers that do not publish, kept open: dropping one would
    // shut its connection's sending side.
    let mut idle_writers = Vec::new();
    let mut publisher = None;
    for (i, (stream, leftover)) in connections.into_iter().enumerate() {
        let (rd, wr) = stream.into_split();
        if i == 0 {
            publisher = Some(wr);
        } else {
            idle_writers.push(wr);
        }
        let progress = Arc::clone(&progress);
        let size = options.size;
        tasks.spawn(async move {
            subscribe(rd, leftover, size, &progress)
                .await
                .map_err(|e| format!("subscriber {}: {e}", i + 1))
        });
    }
    let publisher = publisher.ok_or("no connection to publish on")?;
    let (size, in_flight) = (options.size, options.in_flight);
    let publisher_progress = Arc::clone(&progress);
    tasks.spawn(async move {
        publish(publisher, size, in_flight, &publisher_progress)
            .await
            .map_err(|e| format!("publisher: {e}"))
    });
    load::wait_or_fail(&mut tasks, options.warmup, "a task").await?;

    let start = Snapshot::take(&progress, &options.server_pids)?;
    load::wait_or_fail(&mut tasks, options.window, "a task").await?;
    let end = Snapshot::take(&progress, &options.server_pids)?;

    println!(
        "result deliveries={} published={} lost={} out_of_order={} {}{}",
        end.deliveries - start.deliveries,
        end.published - start.published,
        end.lost - start.lost,
        end.out_of_order - start.out_of_order,
        end.mark.window_fields(&start.mark),
        end.mark.server_field(&start.mark),
    );
    io::stdout().flush()?;
    tasks.abort_all();
    drop(idle_writers);
    Ok(())
}

/// Counters at one end of the measured window.
#[derive(Debug)]
struct Snapshot {
    mark: Mark,
    deliveries: u64,
    published: u64,
    lost: u64,
    out_of_order: u64,
}

impl Snapshot {
    fn take(progress: &Progress, server_pids: &[u32]) -> Result<Snapshot, Error> {
        Ok(Snapshot {
            mark: Mark::now(server_pids)?,
            deliveries: progress.deliveries.load(Ordering::Relaxed),
            published: progress.published.load(Ordering::Relaxed),
            lost: progress.lost.load(Ordering::Relaxed),
            out_of_order: progress.out_of_order.load(Ordering::Relaxed),
        })
    }
}

async fn connect(addr: SocketAddr) -> Result<(TcpStream, Vec<u8>), Error> {
    let mut stream = TcpStream::connect(addr).await?;
    // The publisher's messages must leave at once; Nagle would hold them back.
    stream.set_nodelay(true)?;
    let request = ClientRequest::from_url(&format!("ws://{addr}/"))?;
    let done = load::handshake(&mut stream, &request).await?;
    Ok((stream, done.leftover))
}

/// Publishes numbered messages forever, at most `in_flight` ahead of the slowest subscriber.
async fn publish(
    mut wr: OwnedWriteHalf,
    size: usize,
    in_flight: u64,
    progress: &Progress,
) -> Result<(), Error> {
    // The server's work on an uncompressed message does not depend on its content.
    let mut payload = vec![b'x'; size];
    let mut frame = Vec::with_capacity(size + 14);
    for seq in 1u64.. {
        if seq > in_flight {
            let oldest = seq - in_flight;
            loop {
                // Registered before the check, so a wake-up in between is not missed.
                let notified = progress.all_seen.notified();
                let seen = progress.slot(oldest).load(Ordering::Acquire);
                if seen >= progress.subscribers {
                    break;
                }
                if tokio::time::timeout(STALL, notified).await.is_err() {
                    return Err(format!(
                        "stalled: message {oldest} reached {seen} of {} subscribers in {} s",
                        progress.subscribers,
                        STALL.as_secs()
                    )
                    .into());
                }
            }
        }
        // Everyone is past message seq - RING, whose slot this was.
        progress.slot(seq).store(0, Ordering::Release);
        payload[..SEQ_LEN].copy_from_slice(&seq.to_be_bytes());
        frame.clear();
        load::client_frame(&mut frame, OpCode::Binary, &payload);
        wr.write_all(&frame).await?;
        progress.published.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Reads messages forever, checking their sequence and counting them.
async fn subscribe(
    mut rd: OwnedReadHalf,
    leftover: Vec<u8>,
    size: usize,
    progress: &Progress,
) -> Result<(), Error> {
    let mut reader = FrameReader::new(leftover);
    let mut last = 0u64;
    loop {
        let seq = read_sequence(&mut reader, &mut rd, size).await?;
        if seq > last {
            progress.lost.fetch_add(seq - last - 1, Ordering::Relaxed);
            progress.deliveries.fetch_add(1, Ordering::Relaxed);
            progress.reached(last + 1, seq);
            last = seq;
        } else {
            progress.out_of_order.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Reads one whole data message (all its fragments) of `size` bytes and returns the sequence
/// number at its start.
async fn read_sequence(
    reader: &mut FrameReader,
    rd: &mut (impl AsyncRead + Unpin),
    size: usize,
) -> io::Result<u64> {
    let mut seq = [0u8; SEQ_LEN];
    let mut total = 0u64;
    let mut in_message = false;
    loop {
        let header = reader.read_header(rd).await?;
        if header.masked {
            return Err(invalid("the server sent a masked frame".into()));
        }
        let data = header.opcode <= 0x2;
        // The status code of a Close frame, for the error message.
        let mut close = Vec::new();
        reader
            .read_payload(rd, header.payload_len, |chunk| {
                if data && total < SEQ_LEN as u64 {
                    let at = total as usize;
                    let take = (SEQ_LEN - at).min(chunk.len());
                    seq[at..at + take].copy_from_slice(&chunk[..take]);
                }
                if data {
                    total += chunk.len() as u64;
                }
                if header.opcode == 0x8 && close.len() < 2 {
                    close.extend(chunk.iter().take(2 - close.len()));
                }
            })
            .await?;
        match header.opcode {
            0x1 | 0x2 if in_message => {
                return Err(invalid("a message began inside another".into()))
            }
            0x0 if !in_message => {
                return Err(invalid("a continuation frame outside a message".into()))
            }
            0x0..=0x2 => {
                in_message = true;
                if header.fin {
                    if total != size as u64 {
                        return Err(invalid(format!(
                            "a {total}-byte message, {size} bytes expected"
                        )));
                    }
                    return Ok(u64::from_be_bytes(seq));
                }
            }
            // No server here pings unprompted; a pong is harmless.
            0x9 | 0xA => {}
            0x8 => {
                let code = match close[..] {
                    [a, b] => u16::from_be_bytes([a, b]).to_string(),
                    _ => "none".to_string(),
                };
                return Err(invalid(format!("the server sent Close (code {code})")));
            }
            op => return Err(invalid(format!("unexpected opcode {op:#x}"))),
        }
    }
}
