//! `cargo xtask fuzz`: time-boxed cargo-fuzz runs with a summary table.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{self, bail, Result};

pub const HELP: &str = "\
Run cargo-fuzz targets for a fixed time each and summarise the results.

USAGE:
    cargo xtask fuzz [OPTIONS] [TARGET ...]

ARGS:
    TARGET ...         Fuzz targets to run (default: every [[bin]] in fuzz/Cargo.toml)

OPTIONS:
    --seconds N        libFuzzer -max_total_time per target [default: 60]
    --jobs J           Run J targets at the same time [default: 1]
    --list             Print the fuzz targets and exit
    -h, --help         Print this help

Each target runs, from the workspace root, as
    cargo +nightly fuzz run TARGET --fuzz-dir fuzz -- -max_total_time=N
Requires a nightly toolchain; cargo-fuzz is installed (cargo install cargo-fuzz
--locked) when missing. Fails if any target crashes, printing the artifact path.
";

/// Default `-max_total_time` for `cargo xtask fuzz`.
pub const DEFAULT_SECONDS: u64 = 60;

#[derive(Debug, Clone)]
pub struct FuzzOptions {
    pub seconds: u64,
    pub jobs: usize,
    /// Empty = every target in fuzz/Cargo.toml.
    pub targets: Vec<String>,
}

pub fn main(args: &[String]) -> Result {
    let mut opts = FuzzOptions {
        seconds: DEFAULT_SECONDS,
        jobs: 1,
        targets: Vec::new(),
    };
    let mut list_only = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = util::split_flag(arg);
        match flag {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            "--seconds" => {
                opts.seconds = util::parse_positive(flag, util::flag_value(flag, inline, &mut it)?)?
            }
            "--jobs" | "-j" => {
                let jobs = util::parse_positive(flag, util::flag_value(flag, inline, &mut it)?)?;
                opts.jobs = usize::try_from(jobs).unwrap_or(usize::MAX);
            }
            "--list" => list_only = true,
            f if f.starts_with('-') => {
                bail!("unknown option `{f}` for `cargo xtask fuzz` (see --help)")
            }
            _ => opts.targets.push(arg.clone()),
        }
    }
    let root = util::workspace_root();
    if list_only {
        for target in list_targets(&root)? {
            println!("{target}");
        }
        return Ok(());
    }
    run(&root, &opts)
}

/// Does the workspace have a cargo-fuzz project?
pub fn has_fuzz_dir(root: &Path) -> bool {
    root.join("fuzz").join("Cargo.toml").is_file()
}

/// The `[[bin]]` names of `fuzz/Cargo.toml`.
pub fn list_targets(root: &Path) -> Result<Vec<String>> {
    let manifest = root.join("fuzz").join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    Ok(util::toml_array_names(&text, "bin"))
}

/// Build and run the selected targets, print the summary table, and fail if
/// any target crashed.
pub fn run(root: &Path, opts: &FuzzOptions) -> Result {
    if !util::has_nightly() {
        bail!("cargo-fuzz needs a nightly toolchain: `cargo +nightly --version` failed (rustup toolchain install nightly)");
    }
    util::ensure_cargo_fuzz(root)?;
    let all = list_targets(root)?;
    let targets = if opts.targets.is_empty() {
        if all.is_empty() {
            bail!("fuzz/Cargo.toml declares no [[bin]] fuzz targets");
        }
        all.clone()
    } else {
        for t in &opts.targets {
            if !all.contains(t) {
                bail!(
                    "unknown fuzz target `{t}`; known targets: {}",
                    all.join(", ")
                );
            }
        }
        opts.targets.clone()
    };

    // Build up front so compile errors surface once, clearly, and so parallel
    // runs don't queue on cargo's build lock.
    let builds: Vec<Option<&String>> = if targets.len() == all.len() {
        vec![None]
    } else {
        targets.iter().map(Some).collect()
    };
    for target in builds {
        let mut build = util::cmd("cargo", root);
        build.args(["+nightly", "fuzz", "build", "--fuzz-dir", "fuzz"]);
        build.args(target);
        util::run(&mut build)?;
    }

    let outcomes = run_all(root, &targets, opts.seconds, opts.jobs)?;
    print!("\n{}", summary_table(&outcomes));

    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.status.success()).collect();
    if failed.is_empty() {
        return Ok(());
    }
    for o in &failed {
        match &o.stats.artifact {
            Some(path) => eprintln!("{}: crashed ({}); artifact: {path}", o.target, o.status),
            None => eprintln!("{}: failed ({}); no artifact reported", o.target, o.status),
        }
        eprintln!(
            "  reproduce: cargo +nightly fuzz run {} --fuzz-dir fuzz {}",
            o.target,
            o.stats.artifact.as_deref().unwrap_or("<artifact>")
        );
    }
    let names: Vec<&str> = failed.iter().map(|o| o.target.as_str()).collect();
    bail!("fuzz target(s) failed: {}", names.join(", "))
}

/// Result of one target run.
#[derive(Debug)]
struct Outcome {
    target: String,
    status: ExitStatus,
    elapsed: Duration,
    stats: RunStats,
}

fn run_all(root: &Path, targets: &[String], seconds: u64, jobs: usize) -> Result<Vec<Outcome>> {
    let workers = jobs.clamp(1, targets.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<Outcome>)>> = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(target) = targets.get(i) else { break };
                let outcome = run_one(root, target, seconds, workers > 1);
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((i, outcome));
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Run one target, streaming its stderr (prefixed with the target name when
/// several run at once) while extracting libFuzzer's statistics.
fn run_one(root: &Path, target: &str, seconds: u64, prefix: bool) -> Result<Outcome> {
    let mut cmd = util::cmd("cargo", root);
    cmd.args([
        "+nightly",
        "fuzz",
        "run",
        target,
        "--fuzz-dir",
        "fuzz",
        "--",
    ])
    .arg(format!("-max_total_time={seconds}"))
    .stdin(Stdio::null())
    .stderr(Stdio::piped());
    let line = util::display_cmd(&cmd);
    eprintln!("==> fuzz {target} ({seconds}s)\n$ {line}");
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("failed to start `{line}`: {e}"))?;
    let mut stats = RunStats::default();
    if let Some(stderr) = child.stderr.take() {
        let mut reader = BufReader::new(stderr);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = String::from_utf8_lossy(&buf);
            let text = text.trim_end_matches(['\n', '\r']);
            stats.observe(text);
            let mut err = std::io::stderr().lock();
            // Ignore write errors (closed stderr): the run itself matters.
            let _ = if prefix {
                writeln!(err, "[{target}] {text}")
            } else {
                writeln!(err, "{text}")
            };
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for `{line}`: {e}"))?;
    Ok(Outcome {
        target: target.to_string(),
        status,
        elapsed: start.elapsed(),
        stats,
    })
}

fn summary_table(outcomes: &[Outcome]) -> String {
    let header: Vec<String> = ["target", "seconds", "executions", "exec/s", "result"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let dash = || "-".to_string();
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            vec![
                o.target.clone(),
                o.stats
                    .seconds
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| format!("({})", util::fmt_duration(o.elapsed))),
                o.stats
                    .executions()
                    .map(|n| n.to_string())
                    .unwrap_or_else(dash),
                o.stats
                    .exec_per_sec()
                    .map(|n| n.to_string())
                    .unwrap_or_else(dash),
                if o.status.success() {
                    "ok".to_string()
                } else {
                    format!("FAILED ({})", o.status)
                },
            ]
        })
        .collect();
    util::text_table(&header, &rows)
}

/// Statistics scraped from libFuzzer's stderr.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunStats {
    /// From the final `Done N runs in M second(s)` line.
    pub done: Option<(u64, u64)>,
    /// From the `#N DONE ... exec/s: X` status line: (N, X).
    pub done_status: Option<(u64, Option<u64>)>,
    /// The last `#N ...` status line's N (fallback when the run crashed).
    pub last_status_runs: Option<u64>,
    /// Seconds reported by libFuzzer.
    pub seconds: Option<u64>,
    /// `Test unit written to PATH` (crash / timeout / oom input).
    pub artifact: Option<String>,
}

impl RunStats {
    pub fn observe(&mut self, line: &str) {
        if let Some((runs, secs)) = parse_done_line(line) {
            self.done = Some((runs, secs));
            self.seconds = Some(secs);
        } else if let Some(status) = parse_status_line(line) {
            self.last_status_runs = Some(status.runs);
            if status.event == "DONE" {
                self.done_status = Some((status.runs, status.exec_per_sec));
            }
        } else if let Some(path) = parse_artifact_line(line) {
            self.artifact = Some(path.to_string());
        }
    }

    pub fn executions(&self) -> Option<u64> {
        self.done
            .map(|(runs, _)| runs)
            .or(self.done_status.map(|(runs, _)| runs))
            .or(self.last_status_runs)
    }

    pub fn exec_per_sec(&self) -> Option<u64> {
        if let Some((_, Some(rate))) = self.done_status {
            return Some(rate);
        }
        match self.done {
            Some((runs, secs)) if secs > 0 => Some(runs / secs),
            _ => None,
        }
    }
}

/// Parse libFuzzer's final `Done 123456 runs in 20 second(s)` line.
pub fn parse_done_line(line: &str) -> Option<(u64, u64)> {
    let rest = line.trim().strip_prefix("Done ")?;
    let (runs, rest) = rest.split_once(" runs in ")?;
    let secs = rest.strip_suffix(" second(s)")?;
    Some((runs.trim().parse().ok()?, secs.trim().parse().ok()?))
}

/// A libFuzzer status line: `#4096\tNEW    cov: 12 ... exec/s: 2048 rss: 40Mb`.
#[derive(Debug, PartialEq, Eq)]
pub struct StatusLine<'a> {
    pub runs: u64,
    pub event: &'a str,
    pub exec_per_sec: Option<u64>,
}

pub fn parse_status_line(line: &str) -> Option<StatusLine<'_>> {
    let rest = line.trim().strip_prefix('#')?;
    let mut words = rest.split_whitespace();
    let runs = words.next()?.parse().ok()?;
    let event = words.next()?;
    let mut exec_per_sec = None;
    while let Some(word) = words.next() {
        if word == "exec/s:" {
            exec_per_sec = words.next().and_then(|v| v.parse().ok());
        }
    }
    Some(StatusLine {
        runs,
        event,
        exec_per_sec,
    })
}

/// `...; Test unit written to fuzz/artifacts/t/crash-abc` → the path.
pub fn parse_artifact_line(line: &str) -> Option<&str> {
    const MARK: &str = "Test unit written to ";
    let at = line.find(MARK)?;
    let path = line[at + MARK.len()..].trim();
    (!path.is_empty()).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_line() {
        assert_eq!(
            parse_done_line("Done 1234567 runs in 20 second(s)"),
            Some((1234567, 20))
        );
        assert_eq!(
            parse_done_line("  Done 0 runs in 0 second(s)\r"),
            Some((0, 0))
        );
        assert_eq!(parse_done_line("Done 12 runs in twenty second(s)"), None);
        assert_eq!(parse_done_line("INFO: Done loading"), None);
        assert_eq!(parse_done_line("#12 DONE cov: 1"), None);
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status_line(
                "#1234567\tDONE   cov: 812 ft: 3011 corp: 402/25Kb lim: 4096 exec/s: 61728 rss: 412Mb"
            ),
            Some(StatusLine {
                runs: 1234567,
                event: "DONE",
                exec_per_sec: Some(61728)
            })
        );
        assert_eq!(
            parse_status_line("#2\tINITED cov: 5 ft: 5 corp: 1/1b exec/s: 0 rss: 30Mb"),
            Some(StatusLine {
                runs: 2,
                event: "INITED",
                exec_per_sec: Some(0)
            })
        );
        assert_eq!(parse_status_line("#define X"), None);
        assert_eq!(parse_status_line("==1234== ERROR"), None);
    }

    #[test]
    fn artifact_line() {
        let line = "artifact_prefix='/w/fuzz/artifacts/frame/'; Test unit written to /w/fuzz/artifacts/frame/crash-da39a3ee";
        assert_eq!(
            parse_artifact_line(line),
            Some("/w/fuzz/artifacts/frame/crash-da39a3ee")
        );
        assert_eq!(parse_artifact_line("Test unit written to "), None);
        assert_eq!(parse_artifact_line("Running: x"), None);
    }

    #[test]
    fn stats_from_a_clean_run() {
        let mut stats = RunStats::default();
        for line in [
            "INFO: Running with entropic power schedule (0xFF, 100).",
            "#2\tINITED cov: 5 ft: 5 corp: 1/1b exec/s: 0 rss: 30Mb",
            "#65536\tpulse  cov: 300 ft: 900 corp: 80/2Kb lim: 100 exec/s: 32768 rss: 50Mb",
            "#600000\tDONE   cov: 310 ft: 950 corp: 85/2Kb lim: 4096 exec/s: 30000 rss: 60Mb",
            "Done 600000 runs in 20 second(s)",
        ] {
            stats.observe(line);
        }
        assert_eq!(stats.executions(), Some(600000));
        assert_eq!(stats.exec_per_sec(), Some(30000));
        assert_eq!(stats.seconds, Some(20));
        assert_eq!(stats.artifact, None);
    }

    #[test]
    fn stats_from_a_crash() {
        let mut stats = RunStats::default();
        for line in [
            "#1024\tNEW    cov: 40 ft: 50 corp: 9/100b exec/s: 0 rss: 31Mb",
            "==42== ERROR: libFuzzer: deadly signal",
            "artifact_prefix='fuzz/artifacts/t/'; Test unit written to fuzz/artifacts/t/crash-1",
        ] {
            stats.observe(line);
        }
        assert_eq!(stats.executions(), Some(1024));
        assert_eq!(stats.exec_per_sec(), None);
        assert_eq!(stats.seconds, None);
        assert_eq!(stats.artifact.as_deref(), Some("fuzz/artifacts/t/crash-1"));
    }

    #[test]
    fn rate_falls_back_to_runs_over_seconds() {
        let mut stats = RunStats::default();
        stats.observe("Done 1000 runs in 4 second(s)");
        assert_eq!(stats.exec_per_sec(), Some(250));
    }
}
