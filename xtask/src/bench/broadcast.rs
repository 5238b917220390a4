//! `cargo xtask bench broadcast`: our broadcast server against peer broadcast servers, one
//! message fanned out to many connections.

use std::path::Path;
use std::time::Duration;

use super::outcomes;
use super::report::{fmt_count, fmt_size, parse_bytes, ratio_cells, Header, Report};
use super::result_line::{self, Window};
use super::servers::{self, Kind, Load, Server};
use crate::util::{self, bail, Result};

pub const HELP: &str = "\
Broadcast (fan-out) benchmark: ws-net's broadcast_server against tokio-tungstenite and
fastwebsockets servers doing the same fan-out.

USAGE:
    cargo xtask bench broadcast [OPTIONS]

OPTIONS:
    --seconds N        Measured window of each run, after a 1 s warm-up [default: 5]
    --rounds R         Runs of every server per scenario [default: 3]
    --subscribers N    Connections that receive every message [default: 1000]
    --size BYTES       Message size, `k`/`m` for KiB/MiB, at least 8 (repeatable; one scenario
                       per size) [default: 16 and 4k]
    --no-build         Use the binaries already in target/release/examples
    -h, --help         Print this help

Builds, in release, ws-net's `broadcast_server` example and the ws-benches examples
`broadcast_tokio_tungstenite`, `broadcast_fastwebsockets` (the peers) and `broadcast_load`
(the load generator). Every server runs a single-threaded tokio runtime and sends every
message any client sends to every connected client, the sender included: ws-net's encodes
it once (PreparedMessage, queued on each connection without copying; a subscriber with
more than 4 MiB unsent is closed with 1008); the peers are written as axum's chat example
is, one tokio::sync::broadcast channel (capacity 1024) to which every connection
subscribes, each connection writing (and encoding) every message the channel gives it and
skipping what it missed when it lags.

For each scenario (subscribers x message size) the servers run in turn (A B C A B C ...).
Each run starts the server on a free port, waits until it accepts, and runs
broadcast_load: it opens the subscriber connections, which read and count every message;
the first of them also publishes binary messages carrying a sequence number, at most 8
ahead of the slowest subscriber (message k goes out once every subscriber has message
k - 8 or a later one). A subscriber checks each sequence number follows the previous one:
a gap counts its messages as lost (a server that skips messages for a lagging subscriber
shows here), an earlier number as out of order. After the warm-up it counts deliveries
(messages received, by every subscriber) over the window and reads the server's
utime+stime from /proc/PID/stat at both ends.

Reported, medians over rounds: deliveries/s, published messages/s (deliveries/s divided
by the subscribers, unless messages were lost), the server's CPU time per delivery,
messages lost (summed over the rounds), CPU use of server and generator (a generator
near 100% means the run may be generator-bound: compare CPU per delivery then), and the
ratios of ours to each peer: deliveries/s ours/peer (>1: ours is faster) and CPU per
delivery ours/peer (<1: ours is cheaper).

The report is also written as Markdown to <target>/bench-broadcast.md; server output goes
to <target>/bench-broadcast/<server>.log.
";

/// The warm-up before every measured window.
const WARMUP: Duration = Duration::from_secs(1);
/// Slack on top of warm-up + window before a load run is killed (connecting, start-up, the
/// generator's own 10 s stall limit).
const RUN_SLACK: Duration = Duration::from_secs(60);
/// Messages the publisher keeps ahead of the slowest subscriber.
const IN_FLIGHT: u64 = 8;
/// The smallest message: the generator's sequence number.
const MIN_SIZE: usize = 8;

const OURS_SOURCE: &str = "crates/ws-net/examples/broadcast_server.rs";

/// One subscribers x size load.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scenario {
    subscribers: usize,
    size: usize,
}

impl Scenario {
    fn label(&self) -> String {
        format!("{} x {}", self.subscribers, fmt_size(self.size))
    }
}

#[derive(Debug, PartialEq)]
struct Options {
    seconds: u64,
    rounds: u64,
    subscribers: usize,
    sizes: Vec<usize>,
    build: bool,
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

/// The options, or `None` when help was asked for.
fn parse_options(args: &[String]) -> Result<Option<Options>> {
    let mut options = Options {
        seconds: 5,
        rounds: 3,
        subscribers: 1000,
        sizes: Vec::new(),
        build: true,
    };
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
                options.rounds =
                    util::parse_positive(flag, util::flag_value(flag, inline, &mut it)?)?
            }
            "--subscribers" => {
                let n = util::parse_positive(flag, util::flag_value(flag, inline, &mut it)?)?;
                options.subscribers = usize::try_from(n)
                    .ok()
                    .filter(|n| u32::try_from(*n).is_ok())
                    .ok_or_else(|| format!("--subscribers {n} is too many"))?;
            }
            "--size" => options
                .sizes
                .push(parse_size(util::flag_value(flag, inline, &mut it)?)?),
            "--no-build" => options.build = false,
            other => {
                bail!("unknown argument `{other}` for `cargo xtask bench broadcast` (see --help)")
            }
        }
    }
    if options.sizes.is_empty() {
        options.sizes = vec![16, 4 * 1024];
    }
    Ok(Some(options))
}

/// Parses a message size: bytes, or KiB/MiB with `k`/`m` (`4k`), at least [`MIN_SIZE`].
fn parse_size(value: &str) -> Result<usize> {
    let bad = || format!("--size expects a size in bytes such as 16, 4k or 1m, got `{value}`");
    let size = parse_bytes(value).ok_or_else(bad)?;
    if size < MIN_SIZE {
        bail!("--size {value}: messages carry an {MIN_SIZE}-byte sequence number, so at least {MIN_SIZE}");
    }
    Ok(size)
}

fn run(root: &Path, options: &Options) -> Result {
    let target = util::target_dir(root);
    let examples = target.join("release").join("examples");
    let have_ours = root.join(OURS_SOURCE).is_file();
    if options.build {
        servers::build_release(root, &["-p", "ws-benches", "--examples"])?;
        if have_ours {
            servers::build_release(root, &["-p", "ws-net", "--example", "broadcast_server"])?;
        }
    }
    let load = examples.join("broadcast_load");
    let mut contenders = Vec::new();
    let mut notes = Vec::new();
    if have_ours {
        contenders.push(Server::new(
            "ws-net (ours)",
            examples.join("broadcast_server"),
            &[],
            Kind::Ours,
            "broadcast_server.log",
        ));
    } else {
        notes.push(servers::ours_missing(OURS_SOURCE));
    }
    contenders.push(Server::new(
        "tokio-tungstenite",
        examples.join("broadcast_tokio_tungstenite"),
        &[],
        Kind::Peer,
        "broadcast_tokio_tungstenite.log",
    ));
    contenders.push(Server::new(
        "fastwebsockets",
        examples.join("broadcast_fastwebsockets"),
        &[],
        Kind::Peer,
        "broadcast_fastwebsockets.log",
    ));
    servers::require(contenders.iter().map(|c| &c.binary).chain([&load]))?;

    let logs = target.join("bench-broadcast");
    servers::fresh_logs(&logs, &contenders)?;
    // Other work on the machine skews throughput more than CPU per delivery; the report says how
    // busy it was.
    let load_before = servers::load_average();
    let clk_tck = servers::clk_tck();
    let window = Duration::from_secs(options.seconds);

    let mut results = Vec::new();
    for &size in &options.sizes {
        let scenario = Scenario {
            subscribers: options.subscribers,
            size,
        };
        eprintln!("==> {}", scenario.label());
        let mut per_server: Vec<Outcomes> = contenders.iter().map(Outcomes::new).collect();
        for round in 1..=options.rounds {
            for (contender, outcomes) in contenders.iter().zip(&mut per_server) {
                let log = logs.join(contender.log);
                let run = broadcast_run(contender, &load, &log, scenario, window, clk_tck);
                outcomes.record(round, run, |run| {
                    format!(
                        "{:>11} deliveries/s  {:>7.3} µs CPU/delivery  lost {:>6}  server {:>3.0}%  load {:>3.0}%",
                        fmt_count(run.rate()),
                        run.cpu_us_per_delivery(),
                        run.lost,
                        run.window.server_busy() * 100.0,
                        run.window.load_busy() * 100.0,
                    )
                });
            }
        }
        results.push((scenario, per_server));
    }

    let header = Header::now(load_before, options.seconds, options.rounds, notes);
    render(&header, &results).print_and_write(&target.join("bench-broadcast.md"))
}

/// One measured run of one scenario against one server.
fn broadcast_run(
    contender: &Server,
    load: &Path,
    log: &Path,
    scenario: Scenario,
    window: Duration,
    clk_tck: f64,
) -> Result<Run> {
    let line = servers::measure(
        contender,
        log,
        &Load {
            program: load,
            args: &[
                "--subscribers",
                &scenario.subscribers.to_string(),
                "--size",
                &scenario.size.to_string(),
                "--in-flight",
                &IN_FLIGHT.to_string(),
                "--warmup-ms",
                &WARMUP.as_millis().to_string(),
                "--seconds",
                &window.as_secs().to_string(),
            ],
            timeout: WARMUP + window + RUN_SLACK,
            generator: "broadcast_load",
            what: "broadcast_load",
        },
    )?;
    parse_result(&line, clk_tck)
}

/// One measured window, as broadcast_load reported it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Run {
    deliveries: u64,
    published: u64,
    lost: u64,
    out_of_order: u64,
    window: Window,
}

impl Run {
    /// Deliveries per second.
    fn rate(&self) -> f64 {
        self.window.per_second(self.deliveries)
    }

    /// Messages published per second.
    fn published_rate(&self) -> f64 {
        self.window.per_second(self.published)
    }

    fn cpu_us_per_delivery(&self) -> f64 {
        self.window.cpu_us_per(self.deliveries)
    }
}

/// Parses `result deliveries=D published=P lost=L out_of_order=O elapsed_us=T load_ticks=L
/// server_ticks=S`.
fn parse_result(line: &str, clk_tck: f64) -> Result<Run> {
    let field = |key: &str| result_line::field(line, key);
    let window = Window::parse(line, clk_tck)?;
    Ok(Run {
        deliveries: field("deliveries")?,
        published: field("published")?,
        lost: field("lost")?,
        out_of_order: field("out_of_order")?,
        window,
    })
}

/// Every run of one server in one scenario.
type Outcomes = outcomes::Outcomes<Run>;

/// Medians over an [`Outcomes`]' runs (sums for the lost and out-of-order messages).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Summary {
    rate: f64,
    rate_min: f64,
    rate_max: f64,
    published_rate: f64,
    cpu_us: f64,
    server_busy: f64,
    load_busy: f64,
    deliveries: u64,
    lost: u64,
    out_of_order: u64,
}

impl Outcomes {
    fn summary(&self) -> Option<Summary> {
        let (rate_min, rate_max) = self.range(Run::rate);
        Some(Summary {
            rate: self.median(Run::rate)?,
            rate_min,
            rate_max,
            published_rate: self.median(Run::published_rate)?,
            cpu_us: self.median(Run::cpu_us_per_delivery)?,
            server_busy: self.median(|r| r.window.server_busy())?,
            load_busy: self.median(|r| r.window.load_busy())?,
            deliveries: self.runs.iter().map(|r| r.deliveries).sum(),
            lost: self.runs.iter().map(|r| r.lost).sum(),
            out_of_order: self.runs.iter().map(|r| r.out_of_order).sum(),
        })
    }
}

/// `deliveries/s ours/peer` and `CPU/delivery ours/peer`, or `-` where either side has no
/// result.
fn ratios(ours: Option<Summary>, peer: Option<Summary>) -> (String, String) {
    let pair = |s: Summary| (s.rate, s.cpu_us);
    ratio_cells(ours.map(pair), peer.map(pair))
}

/// Lost messages and their share of what should have been delivered: `0`, `1,200 (0.10%)`.
fn fmt_lost(lost: u64, deliveries: u64) -> String {
    if lost == 0 {
        return "0".to_string();
    }
    let share = lost as f64 * 100.0 / (lost + deliveries) as f64;
    format!("{} ({share:.2}%)", fmt_count(lost as f64))
}

/// Both renderings of the report: plain tables for the terminal and Markdown for the file.
fn render(header: &Header, results: &[(Scenario, Vec<Outcomes>)]) -> Report {
    let mut intro = vec![
        format!(
            "Broadcast servers, single-threaded tokio runtime each; load from broadcast_load (one \
             publisher among the subscribers, binary messages, at most {IN_FLIGHT} ahead of the \
             slowest subscriber); {} s window after a {} s warm-up, {} round(s), servers \
             alternating; medians over rounds, lost messages summed.",
            header.seconds,
            WARMUP.as_secs(),
            header.rounds
        ),
        header.machine(),
    ];
    intro.extend(header.notes.iter().cloned());
    let mut report = Report::new("cargo xtask bench broadcast", &intro);

    let first = results.first().map_or(&[][..], |(_, o)| &o[..]);
    let ours_name = outcomes::names(first, Kind::Ours).first().copied();
    let peers = outcomes::names(first, Kind::Peer);

    for (scenario, outcomes) in results {
        let title = format!("{} (subscribers x message size)", scenario.label());
        let mut head: Vec<String> = [
            "server",
            "deliveries/s",
            "min-max deliveries/s",
            "published msg/s",
            "server CPU µs/delivery",
            "lost",
            "server CPU",
            "generator CPU",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if ours_name.is_some() {
            head.push("deliveries/s ours/this".to_string());
            head.push("CPU/delivery ours/this".to_string());
        }
        let ours_summary = outcomes
            .iter()
            .find(|o| o.kind == Kind::Ours)
            .and_then(Outcomes::summary);
        let cells = |o: &Outcomes, s: Summary, notes: &mut Vec<String>| {
            notes.extend(outcomes::generator_bound_note(
                o.server,
                s.load_busy,
                "deliveries/s may be generator-bound; CPU µs/delivery still compares the servers",
            ));
            if s.out_of_order > 0 {
                notes.push(format!(
                    "{}: {} message(s) arrived out of order",
                    o.server,
                    fmt_count(s.out_of_order as f64)
                ));
            }
            vec![
                fmt_count(s.rate),
                format!("{}-{}", fmt_count(s.rate_min), fmt_count(s.rate_max)),
                fmt_count(s.published_rate),
                format!("{:.3}", s.cpu_us),
                fmt_lost(s.lost, s.deliveries),
                format!("{:.0}%", s.server_busy * 100.0),
                format!("{:.0}%", s.load_busy * 100.0),
            ]
        };
        let versus_ours = ours_name.map(|_| |s| ratios(ours_summary, s));
        let (rows, notes) = outcomes::rows(outcomes, Outcomes::summary, 7, cells, versus_ours);
        report.push_table(&title, &head, &rows);
        report.push_notes(&notes);
    }

    if let Some(ours) = ours_name {
        let title = format!(
            "Ratios of {ours} to each peer (deliveries/s >1: ours faster; CPU/delivery <1: ours \
             cheaper)"
        );
        let head = |peer: &str| {
            [
                format!("deliveries/s ours/{peer}"),
                format!("CPU/delivery ours/{peer}"),
            ]
        };
        let scenarios = results.iter().map(|(s, o)| (s.label(), &o[..]));
        let (head, rows) = outcomes::ratio_table(
            scenarios,
            &peers,
            Kind::Peer,
            head,
            Outcomes::summary,
            ratios,
        );
        report.push_table(&title, &head, &rows);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn run(deliveries: u64, lost: u64, server_cpu_s: f64, load_cpu_s: f64) -> Run {
        Run {
            deliveries,
            published: deliveries / 1000,
            lost,
            out_of_order: 0,
            window: Window {
                elapsed_s: 2.0,
                server_cpu_s,
                load_cpu_s,
            },
        }
    }

    #[test]
    fn result_line() {
        let r = parse_result(
            "result deliveries=2000000 published=2000 lost=0 out_of_order=0 elapsed_us=2000000 \
             load_ticks=150 server_ticks=190",
            100.0,
        )
        .unwrap();
        assert_eq!(r, run(2_000_000, 0, 1.9, 1.5));
        assert_eq!(r.rate(), 1_000_000.0);
        assert_eq!(r.published_rate(), 1_000.0);
        assert!((r.cpu_us_per_delivery() - 0.95).abs() < 1e-9);
        assert!((r.window.server_busy() - 0.95).abs() < 1e-9);
        assert!((r.window.load_busy() - 0.75).abs() < 1e-9);
        // No server_ticks (no --server-pid), an empty window, a missing or bad field.
        for bad in [
            "result deliveries=1 published=1 lost=0 out_of_order=0 elapsed_us=5 load_ticks=1",
            "result deliveries=1 published=1 lost=0 out_of_order=0 elapsed_us=0 load_ticks=1 \
             server_ticks=1",
            "result deliveries=1 published=1 out_of_order=0 elapsed_us=5 load_ticks=1 \
             server_ticks=1",
            "result deliveries=x published=1 lost=0 out_of_order=0 elapsed_us=5 load_ticks=1 \
             server_ticks=1",
        ] {
            assert!(parse_result(bad, 100.0).is_err(), "{bad}");
        }
    }

    #[test]
    fn options_and_sizes() {
        assert_eq!(parse_size("16").unwrap(), 16);
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert_eq!(parse_size("1M").unwrap(), 1 << 20);
        for bad in ["", "7", "k", "4q", "-1"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        let defaults = parse_options(&[]).unwrap().unwrap();
        assert_eq!(
            defaults,
            Options {
                seconds: 5,
                rounds: 3,
                subscribers: 1000,
                sizes: vec![16, 4096],
                build: true,
            }
        );
        let set = parse_options(&args(&[
            "--seconds",
            "3",
            "--rounds=1",
            "--subscribers",
            "10",
            "--size",
            "64",
            "--size",
            "1k",
            "--no-build",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            set,
            Options {
                seconds: 3,
                rounds: 1,
                subscribers: 10,
                sizes: vec![64, 1024],
                build: false,
            }
        );
        assert_eq!(parse_options(&args(&["--help"])).unwrap(), None);
        for bad in [
            &["--subscribers", "0"][..],
            &["--size", "4"],
            &["--seconds"],
            &["--bogus"],
        ] {
            assert!(parse_options(&args(bad)).is_err(), "{bad:?}");
        }
    }

    fn outcomes(server: &'static str, ours: bool, runs: Vec<Run>) -> Outcomes {
        Outcomes {
            server,
            kind: if ours { Kind::Ours } else { Kind::Peer },
            runs,
            failures: Vec::new(),
        }
    }

    fn header(rounds: u64, notes: Vec<String>) -> Header {
        Header {
            commit: Some("abc123".into()),
            cpu: None,
            load: [Some("0.50".into()), None],
            seconds: 2,
            rounds,
            notes,
        }
    }

    #[test]
    fn report_with_ratios_losses_and_failures() {
        let scenario = Scenario {
            subscribers: 1000,
            size: 16,
        };
        let mut failed = outcomes("c", false, vec![]);
        failed.failures.push("server crashed".into());
        let mut peer = outcomes(
            "a",
            false,
            vec![run(1_000_000, 1_000, 2.0, 1.0), run(1_000_000, 0, 2.0, 1.0)],
        );
        peer.runs[1].out_of_order = 3;
        let results = vec![(
            scenario,
            vec![
                outcomes(
                    "ours",
                    true,
                    vec![run(4_000_000, 0, 1.0, 1.9), run(3_000_000, 0, 1.0, 1.9)],
                ),
                peer,
                failed,
            ],
        )];
        let report = render(&header(2, vec![]), &results);
        let text = &report.text;
        // ours: 1,750,000 deliveries/s median, 0.292 µs/delivery median ((0.25 + 0.333) / 2);
        // a: 500,000 deliveries/s, 2 µs.
        assert!(
            text.contains("1000 x 16 B (subscribers x message size)"),
            "{text}"
        );
        assert!(text.contains("1,750,000"), "{text}");
        assert!(text.contains("0.292"), "{text}");
        assert!(text.contains("load average 0.50 before, ? after"), "{text}");
        assert!(text.contains("3.50x"), "{text}");
        assert!(text.contains("0.15x"), "{text}");
        // 1,000 lost against 2,000,000 delivered.
        assert!(text.contains("1,000 (0.05%)"), "{text}");
        assert!(
            text.contains("a: 3 message(s) arrived out of order"),
            "{text}"
        );
        assert!(text.contains("generator-bound"), "{text}");
        assert!(text.contains("c: 1 of 1 run(s) FAILED"), "{text}");
        assert!(text.contains("deliveries/s ours/a"), "{text}");
        assert!(text.contains("CPU/delivery ours/c"), "{text}");
        let md = &report.markdown;
        assert!(md.contains("| ours | 1,750,000 |"), "{md}");
        assert!(md.contains("### Ratios of ours"), "{md}");
        // The ratio row: ours/a then ours/c, which has no result.
        let line = text.lines().last().unwrap();
        let cells: Vec<&str> = line.split_whitespace().skip(4).collect();
        assert_eq!(cells, ["3.50x", "0.15x", "-", "-"], "{line}");
    }

    #[test]
    fn report_without_ours_has_no_ratio_columns() {
        let results = vec![(
            Scenario {
                subscribers: 10,
                size: 4096,
            },
            vec![outcomes("a", false, vec![run(20_000, 0, 0.5, 0.5)])],
        )];
        let report = render(&header(1, vec!["ours MISSING".into()]), &results);
        assert!(report.text.contains("ours MISSING"));
        assert!(report.text.contains("10 x 4 KiB"));
        assert!(!report.text.contains("ours/"));
        assert!(!report.text.contains("Ratios"));
    }
}
