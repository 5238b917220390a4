//! The client side the load generators (`echo_load`, `broadcast_load`) share: a minimal
//! WebSocket frame reader that keeps only what it counts, the frames a client sends, the client
//! handshake, opening many
//! connections at once, reading a process's CPU time, and the single-threaded `main` they run in.

use std::future::Future;
use std::io;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use ws_proto::frame::{encode_frame, OpCode};
use ws_proto::handshake::{ClientHandshake, ClientRequest, Handshaken};
use ws_proto::mask::random_key;

/// The error every generator function returns: a message for the generator's stderr.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Handshakes in progress at once while connecting: enough to be quick, few enough to stay
/// inside the server's listen backlog.
pub const CONNECT_CONCURRENCY: usize = 256;

/// Per-connection read buffer, [`FrameReader::new`]'s: large frames are skipped through it in
/// pieces.
pub const READ_BUFFER: usize = 64 * 1024;

/// Runs a generator: parses its arguments and starts its runtime with [`start`], and runs `run`
/// on it. Errors are printed after `program: `.
pub fn main<O, Fut>(
    program: &str,
    usage: &str,
    parse: impl FnOnce(Vec<String>) -> Result<O, Error>,
    run: impl FnOnce(O) -> Fut,
) -> ExitCode
where
    Fut: Future<Output = Result<(), Error>>,
{
    let (options, runtime) = match start(program, usage, parse) {
        Ok(started) => started,
        Err(code) => return code,
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Starts a generator: parses its arguments with `parse` (printing `usage` when they are
/// wrong), raises the soft RLIMIT_NOFILE to the hard limit (thousands of connections need more
/// descriptors than the usual soft limit of 1024), and builds a single-threaded tokio runtime,
/// like the servers', so the generator's own cost stays low and measurable. Problems are
/// printed after `program: `.
///
/// # Errors
///
/// The code to exit with: 2 when the arguments are wrong, 1 when the runtime cannot start.
pub fn start<O>(
    program: &str,
    usage: &str,
    parse: impl FnOnce(Vec<String>) -> Result<O, Error>,
) -> Result<(O, tokio::runtime::Runtime), ExitCode> {
    let options = match parse(std::env::args().skip(1).collect()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{program}: {e}\n{usage}");
            return Err(ExitCode::from(2));
        }
    };
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("{program}: cannot raise RLIMIT_NOFILE: {e}");
    }
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Ok((options, runtime)),
        Err(e) => {
            eprintln!("{program}: cannot start the runtime: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// The value of the command-line option `flag`, a whole number.
///
/// # Errors
///
/// When `value` is not one (`--size expects a number, got `x``).
pub fn number(flag: &str, value: &str) -> Result<u64, Error> {
    value
        .parse::<u64>()
        .map_err(|_| format!("{flag} expects a number, got `{value}`").into())
}

/// utime + stime of a process, in clock ticks, from its `/proc/PID/stat` at `path`.
///
/// # Errors
///
/// When the file cannot be read or is not a stat file.
pub fn cpu_ticks(path: &str) -> Result<u64, Error> {
    let stat = std::fs::read_to_string(path)?;
    parse_cpu_ticks(&stat)
}

fn parse_cpu_ticks(stat: &str) -> Result<u64, Error> {
    // Fields after the parenthesised command name (which may contain spaces): state is field 3,
    // utime field 14 and stime field 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("malformed stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field =
        |i: usize| -> Result<u64, Error> { Ok(fields.get(i).ok_or("short stat")?.parse::<u64>()?) };
    Ok(field(11)? + field(12)?)
}

/// The CPU time (utime + stime, in clock ticks) of the servers `pids` (the instances of one
/// server), summed, or `None` without a server to measure.
///
/// # Errors
///
/// When a `/proc/PID/stat` cannot be read.
pub fn server_ticks(pids: &[u32]) -> Result<Option<u64>, Error> {
    let mut total = None;
    for pid in pids {
        let ticks = cpu_ticks(&format!("/proc/{pid}/stat")).map_err(|e| match pids {
            [_] => format!("cannot read the server's CPU time: {e}"),
            _ => format!("cannot read the CPU time of server {pid}: {e}"),
        })?;
        total = Some(total.unwrap_or(0) + ticks);
    }
    Ok(total)
}

/// The time and the CPU time of the generator and the server at one end of a measured window.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    /// When the mark was taken.
    pub at: Instant,
    load_ticks: u64,
    server_ticks: Option<u64>,
}

impl Mark {
    /// The mark now: the generator's CPU time and, with `server_pids`, the servers' (summed,
    /// see [`server_ticks`]).
    ///
    /// # Errors
    ///
    /// When a `/proc/PID/stat` cannot be read.
    pub fn now(server_pids: &[u32]) -> Result<Mark, Error> {
        let server_ticks = server_ticks(server_pids)?;
        Ok(Mark {
            at: Instant::now(),
            load_ticks: cpu_ticks("/proc/self/stat")?,
            server_ticks,
        })
    }

    /// The result-line fields of the window from `start` to this mark: `elapsed_us=T
    /// load_ticks=L`.
    pub fn window_fields(&self, start: &Mark) -> String {
        format!(
            "elapsed_us={} load_ticks={}",
            (self.at - start.at).as_micros(),
            self.load_ticks - start.load_ticks
        )
    }

    /// ` server_ticks=S` for the window from `start` to this mark, or nothing without a
    /// server to measure.
    pub fn server_field(&self, start: &Mark) -> String {
        match (start.server_ticks, self.server_ticks) {
            (Some(a), Some(b)) => format!(" server_ticks={}", b - a),
            _ => String::new(),
        }
    }
}

/// Sleeps for `duration`, failing early if one of `tasks` ends: they only end on errors.
///
/// # Errors
///
/// The error of a task that fails or panics (`{task} failed: ...`) first, or one that ends.
pub async fn wait_or_fail(
    tasks: &mut JoinSet<Result<(), String>>,
    duration: Duration,
    task: &str,
) -> Result<(), Error> {
    tokio::select! {
        () = tokio::time::sleep(duration) => Ok(()),
        joined = tasks.join_next() => match joined {
            Some(Ok(Err(e))) => Err(e.into()),
            Some(Err(e)) => Err(format!("{task} failed: {e}").into()),
            Some(Ok(Ok(()))) | None => Err("a connection stopped unexpectedly".into()),
        },
    }
}

/// Opens `count` connections with `connect` (given each connection's number from 0, in the
/// order they start), at most [`CONNECT_CONCURRENCY`] at a time, and returns them in the order
/// they completed.
///
/// # Errors
///
/// The first connection's error, numbered (`connection 3: ...`), or a connection task's panic.
pub async fn connect_all<T, Fut>(
    count: usize,
    connect: impl Fn(usize) -> Fut,
) -> Result<Vec<T>, Error>
where
    T: Send + 'static,
    Fut: Future<Output = Result<T, Error>> + Send + 'static,
{
    let mut done = Vec::with_capacity(count);
    let mut pending = JoinSet::new();
    let mut started = 0;
    while done.len() < count {
        while started < count && pending.len() < CONNECT_CONCURRENCY {
            pending.spawn(connect(started));
            started += 1;
        }
        match pending.join_next().await {
            Some(joined) => {
                done.push(joined?.map_err(|e| format!("connection {}: {e}", done.len() + 1))?)
            }
            None => break,
        }
    }
    Ok(done)
}

/// Runs the client handshake of `request` on `stream`.
///
/// # Errors
///
/// When the connection fails or closes, or the server's response is not a valid upgrade.
pub async fn handshake(
    stream: &mut TcpStream,
    request: &ClientRequest,
) -> Result<Handshaken, Error> {
    let mut handshake = ClientHandshake::new(request);
    stream.write_all(handshake.request_bytes()).await?;
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err("server closed the connection during the handshake".into());
        }
        if let Some(done) = handshake.receive_data(&buf[..n])? {
            return Ok(done);
        }
    }
}

/// Appends to `out` one final frame of `opcode` carrying `payload`, masked with a fresh random
/// key as a client sends it (RFC 6455 §5.3).
pub fn client_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    encode_frame(out, true, opcode, Some(random_key()), payload);
}

/// An [`io::ErrorKind::InvalidData`] error: the server sent something it should not have.
pub fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Reads server frames, keeping only what it needs: headers, and the payload bytes a caller
/// asks to see.
#[derive(Debug)]
pub struct FrameReader {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

/// The parts of a frame header the generators look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The frame is the last of its message.
    pub fin: bool,
    /// The opcode, 0x0 to 0xF.
    pub opcode: u8,
    /// The frame carries a masking key (which a server must not send).
    pub masked: bool,
    /// The payload length.
    pub payload_len: u64,
    /// The header's length, masking key included.
    pub header_len: usize,
}

impl FrameReader {
    /// A reader with a [`READ_BUFFER`]-byte buffer, starting with `leftover`, the bytes that
    /// followed the handshake's response.
    pub fn new(leftover: Vec<u8>) -> Self {
        Self::with_capacity(leftover, READ_BUFFER)
    }

    /// A reader with a `capacity`-byte buffer (or larger, to hold `leftover`).
    pub fn with_capacity(leftover: Vec<u8>, capacity: usize) -> Self {
        let mut buf = vec![0u8; capacity.max(leftover.len())].into_boxed_slice();
        buf[..leftover.len()].copy_from_slice(&leftover);
        FrameReader {
            buf,
            start: 0,
            end: leftover.len(),
        }
    }

    /// Reads one whole data message (all its fragments) and returns its payload length and the
    /// bytes its frames (and any pong before them) took on the wire.
    ///
    /// # Errors
    ///
    /// When the connection fails or ends, or the server sends Close or a frame other than data
    /// and pong.
    pub async fn read_message(
        &mut self,
        rd: &mut (impl AsyncRead + Unpin),
    ) -> io::Result<(u64, u64)> {
        let mut total = 0u64;
        let mut wire = 0u64;
        loop {
            let header = self.next_frame(rd).await?;
            wire += header.header_len as u64 + header.payload_len;
            match header.opcode {
                0x0..=0x2 => {
                    total += header.payload_len;
                    if header.fin {
                        return Ok((total, wire));
                    }
                }
                // Servers do not ping unprompted here; a pong is harmless.
                0xA => {}
                0x8 => return Err(invalid("the server sent Close".into())),
                op => return Err(invalid(format!("unexpected opcode {op:#x}"))),
            }
        }
    }

    /// Reads the next frame: its header, returned, and its payload, skipped.
    ///
    /// # Errors
    ///
    /// When the connection fails or ends first.
    pub async fn next_frame(&mut self, rd: &mut (impl AsyncRead + Unpin)) -> io::Result<Header> {
        let header = self.read_header(rd).await?;
        self.read_payload(rd, header.payload_len, |_| {}).await?;
        Ok(header)
    }

    /// Reads the next frame header, leaving its payload to [`FrameReader::read_payload`].
    ///
    /// # Errors
    ///
    /// When the connection fails or ends first.
    pub async fn read_header(&mut self, rd: &mut (impl AsyncRead + Unpin)) -> io::Result<Header> {
        let header = loop {
            if let Some(h) = parse_header(&self.buf[self.start..self.end]) {
                break h;
            }
            self.fill(rd).await?;
        };
        self.start += header.header_len;
        Ok(header)
    }

    /// Reads a payload of `len` bytes, handing `each` every piece of it as it is in the buffer.
    ///
    /// # Errors
    ///
    /// When the connection fails or ends first.
    pub async fn read_payload(
        &mut self,
        rd: &mut (impl AsyncRead + Unpin),
        len: u64,
        mut each: impl FnMut(&[u8]),
    ) -> io::Result<()> {
        let mut remaining = len;
        loop {
            let step = ((self.end - self.start) as u64).min(remaining) as usize;
            each(&self.buf[self.start..self.start + step]);
            self.start += step;
            remaining -= step as u64;
            if remaining == 0 {
                return Ok(());
            }
            self.fill(rd).await?;
        }
    }

    /// Reads more bytes, first moving unread ones to the front so the buffer never overflows.
    async fn fill(&mut self, rd: &mut (impl AsyncRead + Unpin)) -> io::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = rd.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.end += n;
        Ok(())
    }
}

/// Parses a frame header at the front of `buf`, or `None` when more bytes are needed.
fn parse_header(buf: &[u8]) -> Option<Header> {
    let (&b0, rest) = buf.split_first()?;
    let &b1 = rest.first()?;
    let masked = b1 & 0x80 != 0;
    let (payload_len, mut header_len) = match b1 & 0x7f {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as u64,
            4,
        ),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?), 10),
        n => (n as u64, 2),
    };
    if masked {
        header_len += 4;
    }
    if buf.len() < header_len {
        return None;
    }
    Some(Header {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0f,
        masked,
        payload_len,
        header_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_are_masked() {
        let mut out = vec![0xAA];
        client_frame(&mut out, OpCode::Binary, b"hello");
        client_frame(&mut out, OpCode::Close, &1000u16.to_be_bytes());
        assert_eq!(
            &out[..3],
            &[0xAA, 0x82, 0x80 | 5],
            "appended, final, masked"
        );
        let unmask = |frame: &[u8]| -> Vec<u8> {
            let (key, masked) = frame.split_at(4);
            masked
                .iter()
                .zip(key.iter().cycle())
                .map(|(b, k)| b ^ k)
                .collect()
        };
        assert_eq!(unmask(&out[3..12]), b"hello");
        assert_eq!(&out[12..14], &[0x88, 0x80 | 2]);
        assert_eq!(unmask(&out[14..]), 1000u16.to_be_bytes());
    }

    #[test]
    fn headers() {
        assert_eq!(parse_header(&[0x82]), None);
        assert_eq!(
            parse_header(&[0x82, 0x05]),
            Some(Header {
                fin: true,
                opcode: 2,
                masked: false,
                payload_len: 5,
                header_len: 2
            })
        );
        assert_eq!(parse_header(&[0x01, 126, 0x01]), None);
        let h = parse_header(&[0x01, 126, 0x01, 0x00]).unwrap();
        assert_eq!(
            (h.fin, h.opcode, h.payload_len, h.header_len),
            (false, 1, 256, 4)
        );
        let mut long = vec![0x82, 0xFF];
        long.extend_from_slice(&(1u64 << 20).to_be_bytes());
        assert_eq!(parse_header(&long), None, "the masking key is missing");
        long.extend_from_slice(&[1, 2, 3, 4]);
        let h = parse_header(&long).unwrap();
        assert_eq!((h.masked, h.payload_len, h.header_len), (true, 1 << 20, 14));
    }

    #[test]
    fn marks() {
        let start = Mark {
            at: Instant::now(),
            load_ticks: 10,
            server_ticks: Some(100),
        };
        let end = Mark {
            at: start.at + Duration::from_micros(1500),
            load_ticks: 13,
            server_ticks: Some(160),
        };
        assert_eq!(end.window_fields(&start), "elapsed_us=1500 load_ticks=3");
        assert_eq!(end.server_field(&start), " server_ticks=60");
        let unmeasured = Mark {
            server_ticks: None,
            ..end
        };
        assert_eq!(unmeasured.server_field(&start), "");
        let me = std::process::id();
        let once = Mark::now(&[me]).unwrap().server_ticks.unwrap();
        let twice = Mark::now(&[me, me]).unwrap().server_ticks.unwrap();
        assert!(twice >= 2 * once, "{twice} < 2 x {once}");
        assert!(Mark::now(&[]).unwrap().server_ticks.is_none());
        let gone = server_ticks(&[u32::MAX]).unwrap_err().to_string();
        assert!(
            gone.starts_with("cannot read the server's CPU time: "),
            "{gone}"
        );
        let gone = server_ticks(&[me, u32::MAX]).unwrap_err().to_string();
        assert!(
            gone.starts_with(&format!(
                "cannot read the CPU time of server {}: ",
                u32::MAX
            )),
            "{gone}"
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(number("--size", "16").unwrap(), 16);
        assert_eq!(
            number("--size", "4k").unwrap_err().to_string(),
            "--size expects a number, got `4k`"
        );
    }

    #[test]
    fn stat_ticks() {
        let stat = "42 (a) b) S 1 2 3 4 5 6 7 8 9 10 300 45 0 0";
        assert_eq!(parse_cpu_ticks(stat).unwrap(), 345);
        assert!(parse_cpu_ticks("42 no parenthesis").is_err());
        assert!(parse_cpu_ticks("42 (a) S 1").is_err());
    }

    #[test]
    fn messages_across_reads() {
        let mut wire = Vec::new();
        // A fragmented 300-byte message with a pong between its frames, split over reads of a
        // small buffer.
        ws_proto::frame::encode_frame(
            &mut wire,
            false,
            ws_proto::frame::OpCode::Binary,
            None,
            &[7; 200],
        );
        ws_proto::frame::encode_frame(&mut wire, true, ws_proto::frame::OpCode::Pong, None, b"p");
        ws_proto::frame::encode_frame(
            &mut wire,
            true,
            ws_proto::frame::OpCode::Continuation,
            None,
            &[8; 100],
        );
        ws_proto::frame::encode_frame(
            &mut wire,
            true,
            ws_proto::frame::OpCode::Close,
            None,
            &[3, 232],
        );
        let (leftover, rest) = wire.split_at(3);
        let mut rd = rest;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut reader = FrameReader::with_capacity(leftover.to_vec(), 16);
            let (len, bytes) = reader.read_message(&mut rd).await.unwrap();
            assert_eq!(len, 300);
            assert_eq!(bytes, 204 + 3 + 102);
            let header = reader.read_header(&mut rd).await.unwrap();
            assert_eq!(header.opcode, 0x8);
            let mut code = Vec::new();
            reader
                .read_payload(&mut rd, header.payload_len, |b| code.extend_from_slice(b))
                .await
                .unwrap();
            assert_eq!(code, [3, 232]);
            let eof = reader.next_frame(&mut rd).await.unwrap_err();
            assert_eq!(eof.kind(), io::ErrorKind::UnexpectedEof);
        });
    }
}
