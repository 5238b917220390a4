//! `cargo xtask bench echo`: our echo server against peer echo servers, under the same load.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::outcomes;
use super::report::{fmt_count, fmt_size, median, parse_bytes, ratio_cells, Header, Report};
use super::result_line::{self, Window};
use super::servers::{
    self, lines_in_background, load_average, read_in_background, start_server, tail, vm_rss_kib,
    Guard, Kind, Load, Server, ADDR,
};
use crate::util::{self, bail, Result};

pub const HELP: &str = "\
Echo-server benchmark: ws-net's echo_server against tokio-tungstenite, fastwebsockets and
tokio-websockets (and, with --facade, the ws-api facade).

USAGE:
    cargo xtask bench echo [OPTIONS]

OPTIONS:
    --seconds N            Measured window of each run, after a 1 s warm-up [default: 5]
    --rounds R             Runs of every server per scenario [default: 3; 1 for --idle-load]
    --idle-connections N   Idle connections for the memory measurement [default: 10000]
    --idle-load            Also measure many mostly idle clients (see below); any
                           --idle-load-* option implies it
    --idle-load-connections N
                           Connections of --idle-load [default: 10000]
    --idle-load-seconds S  Messages per connection of --idle-load, one per second [default: 30]
    --idle-load-size BYTES Message size of --idle-load [default: 16]
    --only-idle-load       Measure only --idle-load: no throughput scenarios, no memory
    --deflate              Also run ws-net's echo_server with --deflate, under load that
                           negotiates permessage-deflate, as one more server in the rotation
    --stream               Also run ws-net's `stream_echo` example (the same server written with
                           the futures Stream/Sink, `receiver.forward(sender)`), as one more
                           server in the rotation
    --facade               Also run the facade: `ws serve` (echo mode, on one thread and on
                           its default multi-thread runtime) and ws-api's
                           `echo_server_api` example, as three more servers in the rotation
    --scenario CxSIZE      Measure this scenario instead of the default ones (repeatable):
                           connections x message size in bytes, `k`/`m` for KiB/MiB
                           (e.g. --scenario 100x256 --scenario 100x4k)
    --no-build             Use the binaries already in target/release/examples (and
                           target/release/ws)
    -h, --help             Print this help

Builds, in release, the servers (ws-net's `echo_server` example; the peers
`echo_tokio_tungstenite`, `echo_fastwebsockets` and `echo_tokio_websockets` and the load
generator `echo_load`, examples of ws-benches). Every server runs a single-threaded tokio
runtime (but \"ws serve (mt)\", see --facade). With --facade, also ws-api's
`echo_server_api` example and the `ws` command (ws-cli).

Throughput, for each scenario (connections x message size: 1x16 B, 100x16 B, 100x4 KiB,
10x1 MiB): the servers run in turn (A B C A B C ...). Each run starts the server on a
free port, waits until it accepts, and runs echo_load, whose connections each keep one
binary message in flight (send, wait for the echo, send again). After the warm-up it
counts the echoes over the window and reads the server's utime+stime from
/proc/PID/stat at both ends. Reported: messages/s (median over rounds), the server's
CPU time per message, CPU use of server and generator (a generator near 100% means the
run may be generator-bound: compare CPU per message then), and the ratios of ours to
each peer: msg/s ours/peer (>1: ours is faster) and CPU/msg ours/peer (<1: ours is
cheaper).

Messages are JSON-like (generated records cut to the message size). With --deflate,
\"ws-net --deflate\" is ws-net's echo_server accepting permessage-deflate (default
settings: context takeover, 15-bit windows, level 6, every message compressed), loaded by
echo_load --deflate, which compresses every message and inflates and checks every echo,
cycling through distinct messages. A further table gives, per scenario, its msg/s and CPU
per message relative to plain ws-net in the same run, and the bytes on the wire per echo
(both directions, frame headers included) of both. Only ws-net takes part: the peer
servers are built without permessage-deflate.

Memory: each server is started, its VmRSS read (/proc/PID/status), then echo_load opens
the idle connections (handshake done, no traffic); a second later VmRSS is read again
(idle). Then echo_load sends one 16-byte message on every connection and waits for every
echo; VmRSS is read at once (0 s) and a second later (1 s: what the server keeps per
connection once traffic stops). Then echo_load closes every connection (closing handshake,
status 1000) and waits for every server's Close; VmRSS is read a second later (what the
server did not give back). Reported, per connection: (VmRSS in the phase - before) /
connections.

Many mostly idle clients (--idle-load): echo_load opens the connections (up to 120 s),
waits 1 s, then every connection sends one small binary message per second for S seconds,
starting at its own pseudo-random (fixed seed) offset within the first second, so the
sends are spread evenly. A connection has at most one message in flight: if the previous
echo has not arrived by the next send time, that send is skipped (reported as skipped); an
echo not arrived a second after the connection's last send is reported as unanswered.
Every echo's latency (send to arrival, monotonic clock) is recorded. Reported per server
(medians over rounds): echoes received, echoes/s (echoes / S), the server's CPU time per
echo and CPU use, the generator's CPU use, latency p50 / p99 / p99.9 / max, and the ratios
of ours to each server for CPU per message and p99 (<1: ours cheaper / faster). With
--deflate, \"ws-net --deflate\" gets uncompressed messages (its echoes may be compressed).

With --stream, \"ws-net Stream/Sink\" is ws-net's `stream_echo` (built with the `futures`
feature): its row's ours/this ratios compare the two ways of writing a ws-net server.

With --facade, three servers built on the ws-api facade (WebSocketServer, its listeners and
`send`) take part: \"ws serve\" is `ws --threads 1 serve` (the ws command, echo mode, on a
current-thread runtime like the others), \"ws serve (mt)\" the same on its default runtime
(one worker thread per CPU; its CPU time counts every thread), and \"ws-api example\" is
ws-api's `echo_server_api` example (the server as the crate's docs write it). All three get
--max-clients and --max-per-client above the idle connections (their defaults, 256 for ws
serve and 10 for the facade, would refuse them) and --max-message-size the largest
scenario's message size. A further table gives, per scenario, each one's msg/s and CPU per
message relative to ws-net's echo_server in the same run.

The report is also written as Markdown to <target>/bench-echo.md; server output goes to
<target>/bench-echo/<server>.log.
";

/// The warm-up before every measured window.
const WARMUP: Duration = Duration::from_secs(1);
/// Slack on top of warm-up + window before a load run is killed (connecting, start-up).
const RUN_SLACK: Duration = Duration::from_secs(30);
/// How long opening the idle connections may take.
const IDLE_CONNECT_TIMEOUT: Duration = Duration::from_secs(120);
/// Time for the server to settle once every idle connection is open, after the echo and after
/// the close.
const IDLE_SETTLE: Duration = Duration::from_secs(1);
/// How long echo_load may take for one command on the idle connections (it gives up at 60 s).
const IDLE_COMMAND_TIMEOUT: Duration = Duration::from_secs(70);
/// The message echo_load's `echo` command sends on every idle connection.
const IDLE_ECHO_SIZE: usize = 16;
/// Seed of the connections' offsets in the idle-load scenario.
const IDLE_LOAD_SEED: u64 = 1;

const OURS_SOURCE: &str = "crates/ws-net/examples/echo_server.rs";

/// One connections x size load.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scenario {
    connections: usize,
    size: usize,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        connections: 1,
        size: 16,
    },
    Scenario {
        connections: 100,
        size: 16,
    },
    Scenario {
        connections: 100,
        size: 4 * 1024,
    },
    Scenario {
        connections: 10,
        size: 1024 * 1024,
    },
];

impl Scenario {
    fn label(&self) -> String {
        format!("{} x {}", self.connections, fmt_size(self.size))
    }
}

#[derive(Debug)]
struct Options {
    seconds: u64,
    rounds: u64,
    idle_connections: u64,
    deflate: bool,
    stream: bool,
    facade: bool,
    scenarios: Vec<Scenario>,
    build: bool,
    /// The many-mostly-idle-clients scenario, if it is measured.
    idle_load: Option<IdleLoad>,
    /// Measure only [`Options::idle_load`].
    only_idle_load: bool,
}

/// Many mostly idle clients: `connections` connections, each sending one `size`-byte message
/// per second for `seconds` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct IdleLoad {
    connections: u64,
    seconds: u64,
    size: u64,
    rounds: u64,
}

impl Default for IdleLoad {
    fn default() -> Self {
        IdleLoad {
            connections: 10_000,
            seconds: 30,
            size: 16,
            rounds: 1,
        }
    }
}

pub fn main(args: &[String]) -> Result {
    match parse_options(args)? {
        Some(options) => run(&util::workspace_root(), &options),
        None => {
            print!("{HELP}");
            Ok(())
        }
    }
}

/// The options, or `None` for --help.
fn parse_options(args: &[String]) -> Result<Option<Options>> {
    let mut options = Options {
        seconds: 5,
        rounds: 3,
        idle_connections: 10_000,
        deflate: false,
        stream: false,
        facade: false,
        scenarios: Vec::new(),
        build: true,
        idle_load: None,
        only_idle_load: false,
    };
    let mut rounds = None;
    let mut idle_load: Option<IdleLoad> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = util::split_flag(arg);
        match flag {
            "-h" | "--help" => return Ok(None),
            "--seconds" => {
                options.seconds =
                    util::parse_positive(flag, util::flag_value(flag, inline, &mut it)?)?
            }
            "--rounds" => {
                rounds = Some(util::parse_positive(
                    flag,
                    util::flag_value(flag, inline, &mut it)?,
                )?)
            }
            "--idle-load" => {
                idle_load.get_or_insert_with(IdleLoad::default);
            }
            "--only-idle-load" => {
                idle_load.get_or_insert_with(IdleLoad::default);
                options.only_idle_load = true;
            }
            "--idle-load-connections" | "--idle-load-seconds" | "--idle-load-size" => {
                let value = util::parse_positive(flag, util::flag_value(flag, inline, &mut it)?)?;
                let load = idle_load.get_or_insert_with(IdleLoad::default);
                match flag {
                    "--idle-load-connections" => load.connections = value,
                    "--idle-load-seconds" => load.seconds = value,
                    _ => load.size = value,
                }
            }
            "--idle-connections" => {
                options.idle_connections =
                    util::parse_positive(flag, util::flag_value(flag, inline, &mut it)?)?
            }
            "--deflate" => options.deflate = true,
            "--stream" => options.stream = true,
            "--facade" => options.facade = true,
            "--scenario" => options
                .scenarios
                .push(parse_scenario(util::flag_value(flag, inline, &mut it)?)?),
            "--no-build" => options.build = false,
            other => bail!("unknown argument `{other}` for `cargo xtask bench echo` (see --help)"),
        }
    }
    if let Some(rounds) = rounds {
        options.rounds = rounds;
        if let Some(load) = &mut idle_load {
            load.rounds = rounds;
        }
    }
    options.idle_load = idle_load;
    if options.only_idle_load {
        if !options.scenarios.is_empty() {
            bail!("--only-idle-load measures no --scenario; drop one of them");
        }
    } else if options.scenarios.is_empty() {
        options.scenarios = SCENARIOS.to_vec();
    }
    Ok(Some(options))
}

/// Parses `100x4k`: connections x message size (bytes, or KiB/MiB with `k`/`m`).
fn parse_scenario(value: &str) -> Result<Scenario> {
    let bad = || format!("--scenario expects CONNECTIONSxSIZE such as 100x4k, got `{value}`");
    let (connections, size) = value.split_once(['x', 'X']).ok_or_else(bad)?;
    let connections: usize = connections.trim().parse().map_err(|_| bad())?;
    let size = parse_bytes(size).ok_or_else(bad)?;
    if connections == 0 || size == 0 {
        bail!("{}: connections and size must be positive", bad());
    }
    Ok(Scenario { connections, size })
}

/// The limits the facade's servers run with: room for every idle connection (and a few
/// readiness probes) from 127.0.0.1, and messages of the largest scenario's size.
fn facade_limits(options: &Options) -> Vec<String> {
    let most = options
        .scenarios
        .iter()
        .map(|s| s.connections as u64)
        .chain([options.idle_connections])
        .chain(options.idle_load.map(|l| l.connections))
        .max()
        .unwrap_or(1)
        + 16;
    let largest = options
        .scenarios
        .iter()
        .map(|s| s.size)
        .chain(options.idle_load.map(|l| l.size as usize))
        .chain([IDLE_ECHO_SIZE])
        .max()
        .unwrap_or(1);
    [
        "--max-clients".to_string(),
        most.to_string(),
        "--max-per-client".to_string(),
        most.to_string(),
        "--max-message-size".to_string(),
        largest.to_string(),
    ]
    .into()
}

fn run(root: &Path, options: &Options) -> Result {
    let target = util::target_dir(root);
    let examples = target.join("release").join("examples");
    let have_ours = root.join(OURS_SOURCE).is_file();
    if options.build {
        servers::build_release(root, &["-p", "ws-benches", "--examples"])?;
        if have_ours {
            servers::build_release(root, &["-p", "ws-net", "--example", "echo_server"])?;
            if options.stream {
                servers::build_release(
                    root,
                    &[
                        "-p",
                        "ws-net",
                        "--features",
                        "futures",
                        "--example",
                        "stream_echo",
                    ],
                )?;
            }
        }
        if options.facade {
            servers::build_release(root, &["-p", "ws-api", "--example", "echo_server_api"])?;
            servers::build_release(root, &["-p", "ws-cli"])?;
        }
    }
    let load = examples.join("echo_load");
    let mut servers = Vec::new();
    let mut notes = Vec::new();
    if have_ours {
        servers.push(Server::new(
            "ws-net (ours)",
            examples.join("echo_server"),
            &[],
            Kind::Ours,
            "echo_server.log",
        ));
        if options.deflate {
            servers.push(Server {
                deflate: true,
                ..Server::new(
                    "ws-net --deflate",
                    examples.join("echo_server"),
                    &["--deflate"],
                    Kind::OursDeflate,
                    "echo_server-deflate.log",
                )
            });
        }
        if options.stream {
            servers.push(Server::new(
                "ws-net Stream/Sink",
                examples.join("stream_echo"),
                &[],
                Kind::OursStream,
                "stream_echo.log",
            ));
        }
    } else {
        notes.push(servers::ours_missing(OURS_SOURCE));
    }
    for (name, example, log) in [
        (
            "tokio-tungstenite",
            "echo_tokio_tungstenite",
            "echo_tokio_tungstenite.log",
        ),
        (
            "fastwebsockets",
            "echo_fastwebsockets",
            "echo_fastwebsockets.log",
        ),
        (
            "tokio-websockets",
            "echo_tokio_websockets",
            "echo_tokio_websockets.log",
        ),
    ] {
        servers.push(Server::new(
            name,
            examples.join(example),
            &[],
            Kind::Peer,
            log,
        ));
    }
    if options.facade {
        let limits = facade_limits(options);
        let facade = |name, binary: PathBuf, args: Vec<&str>, log| Server {
            name,
            binary,
            args: args
                .into_iter()
                .map(str::to_string)
                .chain(limits.iter().cloned())
                .collect(),
            deflate: false,
            kind: Kind::Facade,
            log,
        };
        let ws = target.join("release").join("ws");
        servers.push(facade(
            "ws serve",
            ws.clone(),
            vec!["--threads", "1", "serve", "--listen", ADDR],
            "ws-serve.log",
        ));
        servers.push(facade(
            "ws serve (mt)",
            ws,
            vec!["serve", "--listen", ADDR],
            "ws-serve-mt.log",
        ));
        servers.push(facade(
            "ws-api example",
            examples.join("echo_server_api"),
            vec![ADDR],
            "echo_server_api.log",
        ));
        notes.push(format!(
            "ws serve (mt): tokio's multi-thread runtime, {} worker thread(s) (one per CPU); its \
             CPU µs/msg counts every thread",
            thread::available_parallelism().map_or(1, |n| n.get())
        ));
    }
    servers::require(servers.iter().map(|s| &s.binary).chain([&load]))?;

    let logs = target.join("bench-echo");
    servers::fresh_logs(&logs, &servers)?;
    // Other work on the machine skews throughput more than CPU per message; the report says how
    // busy it was.
    let load_before = load_average();
    let clk_tck = servers::clk_tck();
    let window = Duration::from_secs(options.seconds);

    let mut results = Vec::new();
    for &scenario in &options.scenarios {
        eprintln!("==> {}", scenario.label());
        let mut per_server: Vec<Outcomes> = servers.iter().map(Outcomes::new).collect();
        for round in 1..=options.rounds {
            for (server, outcomes) in servers.iter().zip(&mut per_server) {
                let log = log_path(&logs, server);
                let run = echo_run(server, &load, &log, scenario, window, clk_tck);
                outcomes.record(round, run, |run| {
                    format!(
                        "{:>10} msg/s  {:>7.2} µs CPU/msg  server {:>3.0}%  load {:>3.0}%",
                        fmt_count(run.rate()),
                        run.cpu_us_per_message(),
                        run.window.server_busy() * 100.0,
                        run.window.load_busy() * 100.0,
                    )
                });
            }
        }
        results.push((scenario, per_server));
    }

    let mut memory = Vec::new();
    if !options.only_idle_load {
        eprintln!(
            "==> memory: {} idle connections per server",
            options.idle_connections
        );
    }
    for server in servers.iter().filter(|_| !options.only_idle_load) {
        let log = log_path(&logs, server);
        let outcome = idle_memory(server, &load, &log, options.idle_connections);
        match &outcome {
            Ok(m) => eprintln!(
                "    {:<18} {} B per connection idle, {} after one echo, {} after close{}",
                server.name,
                fmt_count(m.per_connection()),
                fmt_per_connection(m, m.echo_kib),
                fmt_per_connection(m, m.closed_kib),
                m.error
                    .as_deref()
                    .map(|e| format!(" (FAILED: {e})"))
                    .unwrap_or_default(),
            ),
            Err(e) => eprintln!("    {:<18} FAILED: {e}", server.name),
        }
        memory.push((server.name, outcome.map_err(|e| e.to_string())));
    }

    let mut idle_load_results = Vec::new();
    if let Some(idle_load) = options.idle_load {
        eprintln!(
            "==> many mostly idle clients: {} connections x {}, one message per second each for {} s",
            idle_load.connections,
            fmt_size(idle_load.size as usize),
            idle_load.seconds
        );
        idle_load_results = servers.iter().map(IdleLoadOutcomes::new).collect();
        for round in 1..=idle_load.rounds {
            for (server, outcomes) in servers.iter().zip(&mut idle_load_results) {
                let log = log_path(&logs, server);
                let run = idle_load_run(server, &load, &log, idle_load, clk_tck);
                outcomes.record(round, run, |run| {
                        format!(
                            "{:>8} echoes  {:>6.2} µs CPU/msg  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  skipped {}  server {:>3.0}%  load {:>3.0}%",
                            fmt_count(run.messages as f64),
                            run.cpu_us_per_message(),
                            run.p50_us as f64 / 1e3,
                            run.p99_us as f64 / 1e3,
                            run.max_us as f64 / 1e3,
                            run.skipped,
                            run.window.server_busy() * 100.0,
                            run.window.load_busy() * 100.0,
                        )
                });
            }
        }
    }

    let header = Header::now(load_before, options.seconds, options.rounds, notes);
    let mut report = render(&header, &results, &memory);
    if let Some(idle_load) = options.idle_load {
        render_idle_load(&mut report, idle_load, &idle_load_results);
    }
    report.print_and_write(&target.join("bench-echo.md"))
}

fn log_path(logs: &Path, server: &Server) -> PathBuf {
    logs.join(server.log)
}

/// One measured run of one scenario against one server.
fn echo_run(
    server: &Server,
    load: &Path,
    log: &Path,
    scenario: Scenario,
    window: Duration,
    clk_tck: f64,
) -> Result<Run> {
    let line = servers::measure(
        server,
        log,
        &Load {
            program: load,
            args: &[
                "echo",
                "--connections",
                &scenario.connections.to_string(),
                "--size",
                &scenario.size.to_string(),
                "--warmup-ms",
                &WARMUP.as_millis().to_string(),
                "--seconds",
                &window.as_secs().to_string(),
            ],
            timeout: WARMUP + window + RUN_SLACK,
            generator: "echo_load",
            what: "echo_load",
        },
    )?;
    parse_result(&line, clk_tck)
}

/// Resident memory of the server before and after the idle connections were opened, after one
/// echo on each and after they were closed.
#[derive(Debug, Clone, PartialEq)]
struct Memory {
    before_kib: u64,
    /// With the connections open and idle.
    after_kib: u64,
    /// Right after the last echo.
    echo_now_kib: Option<u64>,
    /// A second after the last echo.
    echo_kib: Option<u64>,
    /// A second after every connection was closed.
    closed_kib: Option<u64>,
    connections: u64,
    /// Why the phases after the idle one have no figure.
    error: Option<String>,
}

impl Memory {
    /// Idle bytes per connection.
    fn per_connection(&self) -> f64 {
        self.per_connection_at(self.after_kib)
    }

    /// Bytes per connection at VmRSS `kib`, above the server's VmRSS before any connection.
    fn per_connection_at(&self, kib: u64) -> f64 {
        (kib as f64 - self.before_kib as f64) * 1024.0 / self.connections as f64
    }
}

/// `1,234 B`, or `-` for a phase without a figure.
fn fmt_per_connection(memory: &Memory, kib: Option<u64>) -> String {
    kib.map_or_else(
        || "-".to_string(),
        |k| format!("{} B", fmt_count(memory.per_connection_at(k))),
    )
}

/// The idle-memory measurement in three phases: idle, after one echo on every connection,
/// after closing them all. A failure after the idle phase keeps the idle figure.
fn idle_memory(server: &Server, load: &Path, log: &Path, connections: u64) -> Result<Memory> {
    let (mut server_guard, port) = start_server(server, log)?;
    let pid = server_guard.pid();
    let before_kib = vm_rss_kib(pid)?;
    let mut cmd = Command::new(load);
    cmd.arg(format!("127.0.0.1:{port}"))
        .arg("idle")
        .args(["--connections", &connections.to_string()])
        // Held longer than any measurement needs; told to close, or killed, before.
        .args([
            "--hold-seconds",
            &(IDLE_CONNECT_TIMEOUT + 3 * IDLE_COMMAND_TIMEOUT)
                .as_secs()
                .to_string(),
        ])
        .args(server.deflate.then_some("--deflate"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", util::display_cmd(&cmd)))?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take().map(read_in_background);
    let mut session = IdleSession {
        guard: Guard(child),
        stdin,
        lines: lines_in_background(stdout),
        stderr,
    };
    session.wait_for(
        "ready ",
        IDLE_CONNECT_TIMEOUT,
        &format!("open {connections} connections"),
    )?;
    thread::sleep(IDLE_SETTLE);
    if let Some(status) = server_guard.exited() {
        bail!(
            "{} exited with {connections} idle connections ({status}){}",
            server.name,
            tail(log)
        );
    }
    let after_kib = vm_rss_kib(pid)?;
    let mut memory = Memory {
        before_kib,
        after_kib,
        echo_now_kib: None,
        echo_kib: None,
        closed_kib: None,
        connections,
        error: None,
    };
    let mut phases = || -> Result {
        session.command("echo")?;
        session.wait_for("echoed ", IDLE_COMMAND_TIMEOUT, "echo on every connection")?;
        memory.echo_now_kib = Some(vm_rss_kib(pid)?);
        thread::sleep(IDLE_SETTLE);
        memory.echo_kib = Some(vm_rss_kib(pid)?);
        session.command("close")?;
        session.wait_for("closed ", IDLE_COMMAND_TIMEOUT, "close every connection")?;
        thread::sleep(IDLE_SETTLE);
        if let Some(status) = server_guard.exited() {
            bail!(
                "{} exited after its connections were closed ({status}){}",
                server.name,
                tail(log)
            );
        }
        memory.closed_kib = Some(vm_rss_kib(pid)?);
        Ok(())
    };
    if let Err(e) = phases() {
        memory.error = Some(e.to_string());
    }
    Ok(memory)
}

/// echo_load in `idle` mode: its stdin for commands, its stdout line by line.
struct IdleSession {
    guard: Guard,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Option<thread::JoinHandle<String>>,
}

impl IdleSession {
    fn command(&mut self, command: &str) -> Result {
        let stdin = self.stdin.as_mut().ok_or("echo_load has no stdin")?;
        writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot send `{command}` to echo_load: {e}"))?;
        Ok(())
    }

    /// Waits for a line starting with `prefix`, failing if echo_load ends or `timeout` passes.
    fn wait_for(&mut self, prefix: &str, timeout: Duration, what: &str) -> Result {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Ok(()),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("echo_load did not {what} within {}s", timeout.as_secs())
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.guard.0.wait()?;
                    let err = self
                        .stderr
                        .take()
                        .map(|h| h.join().unwrap_or_default())
                        .unwrap_or_default();
                    bail!("echo_load idle failed to {what} ({status}): {}", err.trim());
                }
            }
        }
    }
}

impl std::fmt::Debug for IdleSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdleSession")
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

/// One run of the many-mostly-idle-clients scenario against one server.
fn idle_load_run(
    server: &Server,
    load: &Path,
    log: &Path,
    idle_load: IdleLoad,
    clk_tck: f64,
) -> Result<IdleLoadRun> {
    // Connecting, the settling second, the window and its last second, and slack (echo_load
    // gives up on its own a minute after the window).
    let timeout = IDLE_CONNECT_TIMEOUT
        + IDLE_SETTLE
        + Duration::from_secs(idle_load.seconds + 1)
        + IDLE_COMMAND_TIMEOUT
        + RUN_SLACK;
    let line = servers::measure(
        server,
        log,
        &Load {
            program: load,
            args: &[
                "idle-load",
                "--connections",
                &idle_load.connections.to_string(),
                "--size",
                &idle_load.size.to_string(),
                "--seconds",
                &idle_load.seconds.to_string(),
                "--seed",
                &IDLE_LOAD_SEED.to_string(),
            ],
            timeout,
            generator: "echo_load",
            what: "echo_load idle-load",
        },
    )?;
    parse_idle_load_result(&line, clk_tck)
}

/// One run of the many-mostly-idle-clients scenario, as echo_load reported it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct IdleLoadRun {
    /// Echoes received.
    messages: u64,
    sent: u64,
    /// Sends skipped because the previous echo had not arrived.
    skipped: u64,
    /// Messages whose echo never arrived.
    unanswered: u64,
    /// Seconds of sending (one message per connection per second).
    seconds: u64,
    window: Window,
    p50_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
}

impl IdleLoadRun {
    /// Echoes per second of sending.
    fn rate(&self) -> f64 {
        self.messages as f64 / self.seconds as f64
    }

    fn cpu_us_per_message(&self) -> f64 {
        self.window.cpu_us_per(self.messages)
    }
}

/// Parses `result messages=M sent=N skipped=K unanswered=U seconds=S elapsed_us=T load_ticks=L
/// server_ticks=S p50_us=… p99_us=… p999_us=… max_us=…`.
fn parse_idle_load_result(line: &str, clk_tck: f64) -> Result<IdleLoadRun> {
    let field = |key: &str| result_line::field(line, key);
    let window = Window::parse(line, clk_tck)?;
    let seconds = field("seconds")?;
    if seconds == 0 {
        bail!("empty window in `{line}`");
    }
    Ok(IdleLoadRun {
        messages: field("messages")?,
        sent: field("sent")?,
        skipped: field("skipped")?,
        unanswered: field("unanswered")?,
        seconds,
        window,
        p50_us: field("p50_us")?,
        p99_us: field("p99_us")?,
        p999_us: field("p999_us")?,
        max_us: field("max_us")?,
    })
}

/// Every idle-load run of one server.
type IdleLoadOutcomes = outcomes::Outcomes<IdleLoadRun>;

/// Medians over an [`IdleLoadOutcomes`]' runs (latencies in ms).
#[derive(Debug, Clone, Copy, PartialEq)]
struct IdleLoadSummary {
    messages: f64,
    skipped: f64,
    unanswered: f64,
    rate: f64,
    cpu_us: f64,
    server_busy: f64,
    load_busy: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
}

impl IdleLoadOutcomes {
    fn summary(&self) -> Option<IdleLoadSummary> {
        let m = |f: fn(&IdleLoadRun) -> f64| self.median(f);
        Some(IdleLoadSummary {
            messages: m(|r| r.messages as f64)?,
            skipped: m(|r| r.skipped as f64)?,
            unanswered: m(|r| r.unanswered as f64)?,
            rate: m(IdleLoadRun::rate)?,
            cpu_us: m(IdleLoadRun::cpu_us_per_message)?,
            server_busy: m(|r| r.window.server_busy())?,
            load_busy: m(|r| r.window.load_busy())?,
            p50_ms: m(|r| r.p50_us as f64 / 1e3)?,
            p99_ms: m(|r| r.p99_us as f64 / 1e3)?,
            p999_ms: m(|r| r.p999_us as f64 / 1e3)?,
            max_ms: m(|r| r.max_us as f64 / 1e3)?,
        })
    }
}

/// One measured window, as echo_load reported it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Run {
    messages: u64,
    window: Window,
    /// WebSocket bytes written and read by the generator in the window, both directions.
    wire_bytes: Option<u64>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.window.per_second(self.messages)
    }

    fn cpu_us_per_message(&self) -> f64 {
        self.window.cpu_us_per(self.messages)
    }

    /// Bytes on the wire per echo, both directions, frame headers included.
    fn wire_per_message(&self) -> Option<f64> {
        Some(self.wire_bytes? as f64 / self.messages.max(1) as f64)
    }
}

/// Parses `result messages=M elapsed_us=T load_ticks=L [bytes_out=O bytes_in=I] server_ticks=S`.
fn parse_result(line: &str, clk_tck: f64) -> Result<Run> {
    let field = |key: &str| result_line::field(line, key);
    let window = Window::parse(line, clk_tck)?;
    let wire_bytes = match (field("bytes_out"), field("bytes_in")) {
        (Ok(out), Ok(read)) => Some(out + read),
        _ => None,
    };
    Ok(Run {
        messages: field("messages")?,
        window,
        wire_bytes,
    })
}

/// Medians over an [`Outcomes`]' runs.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Summary {
    rate: f64,
    rate_min: f64,
    rate_max: f64,
    cpu_us: f64,
    server_busy: f64,
    load_busy: f64,
    wire_per_message: Option<f64>,
}

/// Every run of one server in one scenario.
type Outcomes = outcomes::Outcomes<Run>;

impl Outcomes {
    fn summary(&self) -> Option<Summary> {
        let (rate_min, rate_max) = self.range(Run::rate);
        Some(Summary {
            rate: self.median(Run::rate)?,
            rate_min,
            rate_max,
            cpu_us: self.median(Run::cpu_us_per_message)?,
            server_busy: self.median(|r| r.window.server_busy())?,
            load_busy: self.median(|r| r.window.load_busy())?,
            wire_per_message: median(
                &self
                    .runs
                    .iter()
                    .filter_map(Run::wire_per_message)
                    .collect::<Vec<_>>(),
            ),
        })
    }
}

/// Both renderings of the report: plain tables for the terminal and Markdown for the file.
fn render(
    header: &Header,
    results: &[(Scenario, Vec<Outcomes>)],
    memory: &[(&str, std::result::Result<Memory, String>)],
) -> Report {
    let mut intro = Vec::new();
    if !results.is_empty() {
        intro.push(format!(
            "Echo servers, single-threaded tokio runtime each; load from echo_load (one message in \
             flight per connection, binary, client-masked); {} s window after a {} s warm-up, {} \
             round(s), servers alternating; medians over rounds.",
            header.seconds,
            WARMUP.as_secs(),
            header.rounds
        ));
    }
    intro.push(header.machine());
    intro.extend(header.notes.iter().cloned());
    let mut report = Report::new("cargo xtask bench echo", &intro);

    let first = results.first().map_or(&[][..], |(_, o)| &o[..]);
    let ours_name = outcomes::names(first, Kind::Ours).first().copied();
    let peers = outcomes::names(first, Kind::Peer);
    let deflate_name = outcomes::names(first, Kind::OursDeflate).first().copied();
    let facades = outcomes::names(first, Kind::Facade);

    for (scenario, outcomes) in results {
        let title = format!("{} (connections x message size)", scenario.label());
        let mut head = vec![
            "server".to_string(),
            "msg/s".to_string(),
            "min-max msg/s".to_string(),
            "server CPU µs/msg".to_string(),
            "server CPU".to_string(),
            "generator CPU".to_string(),
            "wire B/msg".to_string(),
        ];
        if ours_name.is_some() {
            head.push("msg/s ours/this".to_string());
            head.push("CPU/msg ours/this".to_string());
        }
        let ours_summary = outcomes
            .iter()
            .find(|o| o.kind == Kind::Ours)
            .and_then(Outcomes::summary);
        let cells = |o: &Outcomes, s: Summary, notes: &mut Vec<String>| {
            notes.extend(outcomes::generator_bound_note(
                o.server,
                s.load_busy,
                "msg/s may be generator-bound; CPU µs/msg still compares the servers",
            ));
            vec![
                fmt_count(s.rate),
                format!("{}-{}", fmt_count(s.rate_min), fmt_count(s.rate_max)),
                format!("{:.2}", s.cpu_us),
                format!("{:.0}%", s.server_busy * 100.0),
                format!("{:.0}%", s.load_busy * 100.0),
                fmt_wire(s.wire_per_message),
            ]
        };
        let versus_ours = ours_name.map(|_| |s| ratios(ours_summary, s));
        let (rows, notes) = outcomes::rows(outcomes, Outcomes::summary, 6, cells, versus_ours);
        report.push_table(&title, &head, &rows);
        report.push_notes(&notes);
    }

    if let Some(ours) = ours_name {
        let title = format!(
            "Ratios of {ours} to each peer (msg/s >1: ours faster; CPU/msg <1: ours cheaper)"
        );
        let head = |peer: &str| [format!("msg/s ours/{peer}"), format!("CPU/msg ours/{peer}")];
        let table = ratio_table(results, &peers, Kind::Peer, head, ratios);
        report.push_table(&title, &table.0, &table.1);
    }

    if let (Some(ours), Some(deflate)) = (ours_name, deflate_name) {
        let head: Vec<String> = [
            "scenario".to_string(),
            format!("msg/s {deflate} / {ours}"),
            format!("CPU/msg {deflate} / {ours}"),
            format!("wire B/msg {ours}"),
            format!("wire B/msg {deflate}"),
            "wire deflate / plain".to_string(),
        ]
        .into();
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|(scenario, outcomes)| {
                let summary = |kind| {
                    outcomes
                        .iter()
                        .find(|o| o.kind == kind)
                        .and_then(Outcomes::summary)
                };
                let (plain, compressed) = (summary(Kind::Ours), summary(Kind::OursDeflate));
                let (rate, cpu) = ratios(compressed, plain);
                let plain_wire = plain.and_then(|s| s.wire_per_message);
                let deflate_wire = compressed.and_then(|s| s.wire_per_message);
                let wire_ratio = match (deflate_wire, plain_wire) {
                    (Some(d), Some(p)) if p > 0.0 => format!("{:.2}x", d / p),
                    _ => "-".to_string(),
                };
                vec![
                    scenario.label(),
                    rate,
                    cpu,
                    fmt_wire(plain_wire),
                    fmt_wire(deflate_wire),
                    wire_ratio,
                ]
            })
            .collect();
        let title = format!(
            "permessage-deflate: {deflate} against {ours} (msg/s >1: deflate faster; CPU/msg >1: \
             deflate costs more; wire: bytes per echo, both directions)"
        );
        report.push_table(&title, &head, &rows);
    }

    if let (Some(ours), false) = (ours_name, facades.is_empty()) {
        let title = format!(
            "The facade against {ours} (msg/s >1: the facade faster; CPU/msg >1: the facade \
             costs more)"
        );
        let head = |facade: &str| {
            [
                format!("msg/s {facade} / {ours}"),
                format!("CPU/msg {facade} / {ours}"),
            ]
        };
        let table = ratio_table(results, &facades, Kind::Facade, head, |ours, facade| {
            ratios(facade, ours)
        });
        report.push_table(&title, &table.0, &table.1);
    }

    if !memory.is_empty() {
        render_memory(&mut report, memory);
    }
    report
}

/// The memory table: VmRSS per connection idle, after one echo on each and after closing them.
fn render_memory(report: &mut Report, memory: &[(&str, std::result::Result<Memory, String>)]) {
    let connections = memory
        .iter()
        .find_map(|(_, m)| m.as_ref().ok().map(|m| m.connections));
    let title = format!(
        "Resident memory per connection{}: idle, after one {} echo on each (at once and 1 s \
         later), 1 s after closing them all ((VmRSS - VmRSS before) / connections)",
        connections.map_or(String::new(), |n| format!(
            " ({} connections)",
            fmt_count(n as f64)
        )),
        fmt_size(IDLE_ECHO_SIZE)
    );
    let head: Vec<String> = [
        "server",
        "VmRSS before",
        "VmRSS idle",
        "idle",
        "after one echo (0 s)",
        "after one echo (1 s)",
        "after close (1 s)",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut failures = Vec::new();
    let rows: Vec<Vec<String>> = memory
        .iter()
        .map(|(name, m)| match m {
            Ok(m) => {
                if let Some(e) = &m.error {
                    failures.push(format!("{name}: after the idle phase FAILED: {e}"));
                }
                vec![
                    name.to_string(),
                    format!("{} KiB", fmt_count(m.before_kib as f64)),
                    format!("{} KiB", fmt_count(m.after_kib as f64)),
                    format!("{} B", fmt_count(m.per_connection())),
                    fmt_per_connection(m, m.echo_now_kib),
                    fmt_per_connection(m, m.echo_kib),
                    fmt_per_connection(m, m.closed_kib),
                ]
            }
            Err(e) => {
                failures.push(format!("{name}: FAILED: {e}"));
                let mut row = vec![name.to_string()];
                row.extend(std::iter::repeat_n("-".to_string(), head.len() - 1));
                row
            }
        })
        .collect();
    report.push_table(&title, &head, &rows);
    report.push_notes(&failures);
}

/// Appends the many-mostly-idle-clients table to the report.
fn render_idle_load(report: &mut Report, idle_load: IdleLoad, outcomes: &[IdleLoadOutcomes]) {
    let title = format!(
        "Many mostly idle clients: {} connections, each sending one {} message per second for \
         {} s (offsets spread over the first second; at most one message in flight), {} \
         round(s), medians over rounds",
        fmt_count(idle_load.connections as f64),
        fmt_size(idle_load.size as usize),
        idle_load.seconds,
        idle_load.rounds
    );
    let ours = outcomes.iter().find(|o| o.kind == Kind::Ours);
    let ours_summary = ours.and_then(IdleLoadOutcomes::summary);
    let mut head: Vec<String> = [
        "server",
        "echoed",
        "skipped",
        "unanswered",
        "echoes/s",
        "server CPU µs/msg",
        "server CPU",
        "generator CPU",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if ours.is_some() {
        head.push("CPU/msg ours/this".to_string());
        head.push("p99 ours/this".to_string());
    }
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}x", a / b)
        } else {
            "-".to_string()
        }
    };
    let cells = |o: &IdleLoadOutcomes, s: IdleLoadSummary, notes: &mut Vec<String>| {
        notes.extend(outcomes::generator_bound_note(
            o.server,
            s.load_busy,
            "latencies may include its own delays",
        ));
        vec![
            fmt_count(s.messages),
            fmt_count(s.skipped),
            fmt_count(s.unanswered),
            fmt_count(s.rate),
            format!("{:.2}", s.cpu_us),
            format!("{:.0}%", s.server_busy * 100.0),
            format!("{:.0}%", s.load_busy * 100.0),
            format!("{:.2}", s.p50_ms),
            format!("{:.2}", s.p99_ms),
            format!("{:.2}", s.p999_ms),
            format!("{:.2}", s.max_ms),
        ]
    };
    let versus_ours = ours.map(|_| {
        |summary: Option<IdleLoadSummary>| match (ours_summary, summary) {
            (Some(a), Some(b)) => (ratio(a.cpu_us, b.cpu_us), ratio(a.p99_ms, b.p99_ms)),
            _ => ("-".to_string(), "-".to_string()),
        }
    });
    let (rows, notes) = outcomes::rows(outcomes, IdleLoadOutcomes::summary, 11, cells, versus_ours);
    report.push_table(&title, &head, &rows);
    report.push_notes(&notes);
}

/// [`outcomes::ratio_table`] over the scenarios of `results`.
fn ratio_table(
    results: &[(Scenario, Vec<Outcomes>)],
    names: &[&str],
    kind: Kind,
    head: impl Fn(&str) -> [String; 2],
    ratio: impl Fn(Option<Summary>, Option<Summary>) -> (String, String),
) -> (Vec<String>, Vec<Vec<String>>) {
    let scenarios = results.iter().map(|(s, o)| (s.label(), &o[..]));
    outcomes::ratio_table(scenarios, names, kind, head, Outcomes::summary, ratio)
}

/// `msg/s ours/peer` and `CPU µs/msg ours/peer`, or `-` where either side has no result.
fn ratios(ours: Option<Summary>, peer: Option<Summary>) -> (String, String) {
    let pair = |s: Summary| (s.rate, s.cpu_us);
    ratio_cells(ours.map(pair), peer.map(pair))
}

/// Bytes per message, rounded, or `-` when unknown.
fn fmt_wire(bytes: Option<f64>) -> String {
    bytes.map_or_else(|| "-".to_string(), fmt_count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(messages: u64, server_cpu_s: f64, load_cpu_s: f64) -> Run {
        Run {
            messages,
            window: Window {
                elapsed_s: 2.0,
                server_cpu_s,
                load_cpu_s,
            },
            wire_bytes: None,
        }
    }

    #[test]
    fn result_line() {
        let r = parse_result(
            "result messages=200000 elapsed_us=2000000 load_ticks=150 server_ticks=190",
            100.0,
        )
        .unwrap();
        assert_eq!(r, run(200_000, 1.9, 1.5));
        assert_eq!(r.rate(), 100_000.0);
        assert!((r.cpu_us_per_message() - 9.5).abs() < 1e-9);
        assert!((r.window.server_busy() - 0.95).abs() < 1e-9);
        assert!(parse_result("result messages=1 elapsed_us=5 load_ticks=1", 100.0).is_err());
        assert!(parse_result(
            "result messages=1 elapsed_us=0 load_ticks=1 server_ticks=1",
            100.0
        )
        .is_err());
    }

    #[test]
    fn result_line_with_wire_bytes() {
        let r = parse_result(
            "result messages=1000 elapsed_us=1000000 load_ticks=10 bytes_out=300000 bytes_in=296000 server_ticks=20",
            100.0,
        )
        .unwrap();
        assert_eq!(r.wire_bytes, Some(596_000));
        assert_eq!(r.wire_per_message(), Some(596.0));
    }

    #[test]
    fn scenarios() {
        let s = |connections, size| Scenario { connections, size };
        assert_eq!(parse_scenario("100x256").unwrap(), s(100, 256));
        assert_eq!(parse_scenario("100x4k").unwrap(), s(100, 4096));
        assert_eq!(parse_scenario("10X1M").unwrap(), s(10, 1 << 20));
        for bad in ["100", "x4k", "0x16", "1x0", "1xk", "ax16", "1x16q"] {
            assert!(parse_scenario(bad).is_err(), "{bad}");
        }
    }

    fn memory(before_kib: u64, after_kib: u64, connections: u64) -> Memory {
        Memory {
            before_kib,
            after_kib,
            echo_now_kib: None,
            echo_kib: None,
            closed_kib: None,
            connections,
            error: None,
        }
    }

    #[test]
    fn memory_per_connection() {
        let m = memory(2000, 12_000, 10_000);
        assert_eq!(m.per_connection(), 1024.0);
        assert_eq!(m.per_connection_at(7000), 512.0);
        assert_eq!(fmt_per_connection(&m, Some(4000)), "205 B");
        assert_eq!(fmt_per_connection(&m, None), "-");
    }

    #[test]
    fn scenario_label() {
        assert_eq!(
            Scenario {
                connections: 100,
                size: 4096
            }
            .label(),
            "100 x 4 KiB"
        );
    }

    fn outcomes(server: &'static str, kind: Kind, runs: Vec<Run>) -> Outcomes {
        Outcomes {
            server,
            kind,
            runs,
            failures: Vec::new(),
        }
    }

    /// The header of one 2-second round without a commit, CPU or load average.
    fn one_round(notes: Vec<String>) -> Header {
        Header {
            commit: None,
            cpu: None,
            load: [None, None],
            seconds: 2,
            rounds: 1,
            notes,
        }
    }

    #[test]
    fn report_with_ratios_failures_and_generator_bound_runs() {
        let scenario = SCENARIOS[1];
        let mut peer_b = outcomes("b", Kind::Peer, vec![]);
        peer_b.failures.push("server crashed".into());
        let results = vec![(
            scenario,
            vec![
                outcomes(
                    "ours",
                    Kind::Ours,
                    vec![run(400_000, 1.0, 1.9), run(300_000, 1.0, 1.9)],
                ),
                outcomes("a", Kind::Peer, vec![run(200_000, 2.0, 1.0)]),
                peer_b,
            ],
        )];
        let memory = vec![
            ("ours", Ok(memory(1000, 11_000, 10_000))),
            ("a", Err("no".to_string())),
        ];
        let header = Header {
            commit: Some("abc123".into()),
            cpu: None,
            load: [Some("0.50".into()), None],
            seconds: 2,
            rounds: 2,
            notes: vec![],
        };
        let report = render(&header, &results, &memory);
        // ours: 175,000 msg/s median, 2.92 µs/msg median ((2.5 + 3.33) / 2); a: 100,000, 10.
        assert!(report.text.contains("175,000"), "{}", report.text);
        assert!(report.text.contains("load average 0.50 before, ? after"));
        assert!(report.text.contains("1.75x"), "{}", report.text);
        assert!(report.text.contains("0.29x"), "{}", report.text);
        assert!(report.text.contains("generator-bound"), "{}", report.text);
        assert!(
            report.text.contains("b: 1 of 1 run(s) FAILED"),
            "{}",
            report.text
        );
        assert!(report.text.contains("1,024 B"), "{}", report.text);
        assert!(report.text.contains("a: FAILED: no"), "{}", report.text);
        assert!(
            report.markdown.contains("| ours | 175,000 |"),
            "{}",
            report.markdown
        );
        assert!(
            report.markdown.contains("### Ratios of ours"),
            "{}",
            report.markdown
        );
    }

    #[test]
    fn report_with_deflate() {
        let wire = |mut r: Run, bytes| {
            r.wire_bytes = Some(bytes);
            r
        };
        let results = vec![(
            Scenario {
                connections: 100,
                size: 4096,
            },
            vec![
                outcomes(
                    "plain",
                    Kind::Ours,
                    vec![wire(run(200_000, 1.0, 1.0), 200_000 * 8_200)],
                ),
                outcomes(
                    "compressed",
                    Kind::OursDeflate,
                    vec![wire(run(50_000, 1.0, 1.0), 50_000 * 2_050)],
                ),
                outcomes("peer", Kind::Peer, vec![run(100_000, 1.0, 1.0)]),
            ],
        )];
        let header = one_round(vec![]);
        let report = render(&header, &results, &[]);
        let text = &report.text;
        assert!(
            text.contains("permessage-deflate: compressed against plain"),
            "{text}"
        );
        // The deflate variant is not a peer.
        assert!(!text.contains("ours/compressed"), "{text}");
        assert!(text.contains("msg/s ours/peer"), "{text}");
        let line = text
            .lines()
            .rev()
            .find(|l| l.contains("100 x 4 KiB"))
            .unwrap();
        // 0.25x the rate, 4x the CPU per message, a quarter of the bytes.
        for cell in ["0.25x", "4.00x", "8,200", "2,050", "0.25x"] {
            assert!(line.contains(cell), "{cell} in {line}");
        }
        assert!(report
            .markdown
            .contains("### permessage-deflate: compressed against plain"));
    }

    #[test]
    fn report_with_the_facade() {
        let results = vec![(
            SCENARIOS[1],
            vec![
                outcomes("plain", Kind::Ours, vec![run(200_000, 1.0, 1.0)]),
                outcomes("peer", Kind::Peer, vec![run(100_000, 1.0, 1.0)]),
                outcomes("serve", Kind::Facade, vec![run(100_000, 1.5, 1.0)]),
                outcomes("serve mt", Kind::Facade, vec![run(300_000, 3.0, 1.0)]),
            ],
        )];
        let header = one_round(vec![]);
        let report = render(&header, &results, &[]);
        let text = &report.text;
        // The facade's servers are not peers.
        assert!(!text.contains("ours/serve"), "{text}");
        assert!(text.contains("msg/s ours/peer"), "{text}");
        assert!(text.contains("The facade against plain"), "{text}");
        assert!(text.contains("msg/s serve mt / plain"), "{text}");
        let line = text
            .lines()
            .rev()
            .find(|l| l.contains("100 x 16 B"))
            .unwrap();
        // serve: half the rate at 3x the CPU per message (7.5 µs against 5); serve mt: 1.5x
        // the rate at 2x (10 µs).
        let cells: Vec<&str> = line
            .split_whitespace()
            .filter(|c| c.len() > 1 && c.ends_with('x'))
            .collect();
        assert_eq!(cells, ["0.50x", "3.00x", "1.50x", "2.00x"], "{line}");
        assert!(report.markdown.contains("### The facade against plain"));
    }

    #[test]
    fn facade_limits_cover_the_idle_connections_and_the_largest_message() {
        let options = Options {
            seconds: 1,
            rounds: 1,
            idle_connections: 10_000,
            deflate: false,
            stream: false,
            facade: true,
            scenarios: SCENARIOS.to_vec(),
            build: false,
            idle_load: None,
            only_idle_load: false,
        };
        assert_eq!(
            facade_limits(&options),
            [
                "--max-clients",
                "10016",
                "--max-per-client",
                "10016",
                "--max-message-size",
                "1048576"
            ]
        );
        let server = Server::new("s", PathBuf::from("s"), &["--x"], Kind::Peer, "s.log");
        assert_eq!(server.args_for("127.0.0.1:1"), ["127.0.0.1:1", "--x"]);
    }

    #[test]
    fn report_without_ours_has_no_ratio_columns() {
        let results = vec![(
            SCENARIOS[0],
            vec![outcomes("a", Kind::Peer, vec![run(20_000, 0.5, 0.5)])],
        )];
        let header = one_round(vec!["ours MISSING".into()]);
        let report = render(&header, &results, &[]);
        assert!(report.text.contains("ours MISSING"));
        assert!(!report.text.contains("ours/"));
        assert!(!report.text.contains("Ratios"));
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn idle_load_options() {
        let o = parse_options(&args(&[])).unwrap().unwrap();
        assert_eq!((o.idle_load, o.only_idle_load, o.rounds), (None, false, 3));
        assert_eq!(o.scenarios, SCENARIOS);

        let o = parse_options(&args(&["--idle-load"])).unwrap().unwrap();
        assert_eq!(o.idle_load, Some(IdleLoad::default()));
        assert_eq!(o.idle_load.unwrap().rounds, 1);
        assert_eq!(o.rounds, 3);

        // Any --idle-load-* option implies --idle-load; --rounds applies to both.
        let o = parse_options(&args(&[
            "--idle-load-connections",
            "1000",
            "--idle-load-seconds=5",
            "--idle-load-size",
            "64",
            "--rounds",
            "2",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            o.idle_load,
            Some(IdleLoad {
                connections: 1000,
                seconds: 5,
                size: 64,
                rounds: 2
            })
        );
        assert_eq!(o.rounds, 2);
        assert!(!o.only_idle_load);

        let o = parse_options(&args(&["--only-idle-load"]))
            .unwrap()
            .unwrap();
        assert!(o.only_idle_load);
        assert!(o.scenarios.is_empty());
        assert_eq!(o.idle_load, Some(IdleLoad::default()));

        assert!(parse_options(&args(&["--only-idle-load", "--scenario", "1x16"])).is_err());
        assert!(parse_options(&args(&["--idle-load-seconds", "0"])).is_err());
        assert!(parse_options(&args(&["--idle-load-connections"])).is_err());
        assert!(parse_options(&args(&["--help"])).unwrap().is_none());

        // The facade's servers must take every idle-load connection.
        let o = parse_options(&args(&["--idle-load-connections", "20000"]))
            .unwrap()
            .unwrap();
        assert_eq!(facade_limits(&o)[1], "20016");
    }

    #[test]
    fn idle_load_result_line() {
        let r = parse_idle_load_result(
            "result messages=29990 sent=29995 skipped=5 unanswered=5 seconds=30 \
             elapsed_us=31000000 load_ticks=62 server_ticks=93 p50_us=120 p99_us=850 \
             p999_us=2100 max_us=15000",
            100.0,
        )
        .unwrap();
        assert_eq!(
            r,
            IdleLoadRun {
                messages: 29_990,
                sent: 29_995,
                skipped: 5,
                unanswered: 5,
                seconds: 30,
                window: Window {
                    elapsed_s: 31.0,
                    server_cpu_s: 0.93,
                    load_cpu_s: 0.62,
                },
                p50_us: 120,
                p99_us: 850,
                p999_us: 2100,
                max_us: 15_000,
            }
        );
        assert!((r.rate() - 999.666).abs() < 1e-2);
        assert!((r.cpu_us_per_message() - 31.01).abs() < 1e-2);
        assert!((r.window.server_busy() - 0.03).abs() < 1e-9);
        assert!((r.window.load_busy() - 0.02).abs() < 1e-9);
        // The server's CPU time, the latencies and a non-empty window are required.
        let full = "result messages=1 sent=1 skipped=0 unanswered=0 seconds=1 elapsed_us=1 \
                    load_ticks=1 server_ticks=1 p50_us=1 p99_us=1 p999_us=1 max_us=1";
        assert!(parse_idle_load_result(full, 100.0).is_ok());
        for missing in ["server_ticks=1", "p999_us=1", "skipped=0"] {
            let line = full.replace(missing, "");
            assert!(parse_idle_load_result(&line, 100.0).is_err(), "{line}");
        }
        assert!(parse_idle_load_result(&full.replace("seconds=1", "seconds=0"), 100.0).is_err());
        assert!(parse_idle_load_result(&full.replace("p50_us=1", "p50_us=x"), 100.0).is_err());
    }

    fn idle_run(messages: u64, server_cpu_s: f64, p99_us: u64) -> IdleLoadRun {
        IdleLoadRun {
            messages,
            sent: messages + 1,
            skipped: 2,
            unanswered: 1,
            seconds: 10,
            window: Window {
                elapsed_s: 11.0,
                server_cpu_s,
                load_cpu_s: 1.1,
            },
            p50_us: 100,
            p99_us,
            p999_us: 3_000,
            max_us: 12_345,
        }
    }

    #[test]
    fn idle_load_report() {
        let mut failed = IdleLoadOutcomes {
            server: "c",
            kind: Kind::Peer,
            runs: vec![],
            failures: vec!["refused".into()],
        };
        failed.failures.push("again".into());
        let outcomes = vec![
            IdleLoadOutcomes {
                server: "ours",
                kind: Kind::Ours,
                runs: vec![idle_run(100_000, 1.0, 500), idle_run(100_000, 3.0, 700)],
                failures: vec![],
            },
            IdleLoadOutcomes {
                server: "a",
                kind: Kind::Peer,
                runs: vec![idle_run(100_000, 4.0, 1_200)],
                failures: vec![],
            },
            failed,
        ];
        let mut report = Report {
            text: String::new(),
            markdown: String::new(),
        };
        let load = IdleLoad {
            connections: 10_000,
            seconds: 10,
            size: 16,
            rounds: 2,
        };
        render_idle_load(&mut report, load, &outcomes);
        let text = &report.text;
        assert!(
            text.contains("Many mostly idle clients: 10,000 connections, each sending one 16 B"),
            "{text}"
        );
        let ours = text.lines().find(|l| l.starts_with("ours")).unwrap();
        // Medians: 20 µs/msg (10 and 30), p99 0.60 ms; 10,000 echoes/s; ratios to itself 1.
        for cell in [
            "100,000", "10,000", "20.00", "0.10", "0.60", "3.00", "12.35", "1.00x", "10%",
        ] {
            assert!(ours.contains(cell), "{cell} in {ours}");
        }
        let a = text.lines().find(|l| l.starts_with("a ")).unwrap();
        // a: 40 µs/msg, p99 1.2 ms: ours/a = 0.50x for both.
        let ratios: Vec<&str> = a.split_whitespace().filter(|c| c.ends_with('x')).collect();
        assert_eq!(ratios, ["0.50x", "0.50x"], "{a}");
        assert!(
            text.contains("c: 2 of 2 run(s) FAILED; first error: refused"),
            "{text}"
        );
        let md = &report.markdown;
        assert!(md.contains("### Many mostly idle clients"), "{md}");
        assert!(
            md.contains("| server | echoed | skipped | unanswered | echoes/s |"),
            "{md}"
        );
        assert!(md.contains("| p99 ours/this |"), "{md}");
        assert!(md.contains("| c | - | - |"), "{md}");

        // Without ours, no ratio columns.
        let mut report = Report {
            text: String::new(),
            markdown: String::new(),
        };
        render_idle_load(&mut report, load, &outcomes[1..2]);
        assert!(!report.text.contains("ours/this"), "{}", report.text);
    }

    #[test]
    fn memory_report_in_three_phases() {
        let mut m = memory(1000, 11_000, 10_000);
        m.echo_now_kib = Some(21_000);
        m.echo_kib = Some(16_000);
        m.closed_kib = Some(3_000);
        let mut cut = memory(1000, 6_000, 10_000);
        cut.error = Some("echo_load did not close every connection within 70s".into());
        let header = one_round(vec![]);
        let report = render(
            &header,
            &[],
            &[
                ("ours", Ok(m)),
                ("cut", Ok(cut)),
                ("gone", Err("no".into())),
            ],
        );
        let text = &report.text;
        // Without throughput results, no line about their window.
        assert!(!text.contains("warm-up"), "{text}");
        assert!(text.contains("(10,000 connections)"), "{text}");
        let ours = text.lines().find(|l| l.starts_with("ours")).unwrap();
        let cells: Vec<&str> = ours
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            cells,
            [
                "ours",
                "1,000 KiB",
                "11,000 KiB",
                "1,024 B",
                "2,048 B",
                "1,536 B",
                "205 B"
            ],
            "{ours}"
        );
        let cut = text.lines().find(|l| l.starts_with("cut")).unwrap();
        assert!(cut.contains("512 B") && cut.ends_with('-'), "{cut}");
        assert!(
            text.contains("cut: after the idle phase FAILED: echo_load did not close"),
            "{text}"
        );
        assert!(text.contains("gone: FAILED: no"), "{text}");
        assert!(report.markdown.contains(
            "| idle | after one echo (0 s) | after one echo (1 s) | after close (1 s) |"
        ));
        // No memory measured (--only-idle-load): no memory table.
        let report = render(&header, &[], &[]);
        assert!(!report.text.contains("Resident memory"), "{}", report.text);
    }
}
