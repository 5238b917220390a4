//! `cargo xtask scaleout`: the scale-out end-to-end check. A redis-server, three
//! `ws serve --mode broadcast --broker redis://...` instances and nginx in front of them (from
//! `deploy/nginx/ws-scale-out.conf`), all on loopback; the benches' `scaleout_check` connects
//! 1,000 clients through nginx and checks delivery in a steady state, across a Redis restart
//! and after one instance is killed, asking this task (over its stdin/stdout) to do the
//! restart and the kill.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::bench::result_line::{self, Window};
use crate::bench::servers;
use crate::process::{self, Background};
use crate::util::{self, bail, Result};

pub const HELP: &str = "\
The scale-out end-to-end check: redis-server, 3 `ws serve --mode broadcast --broker` instances
and nginx in front of them, with 1,000 clients through nginx.

USAGE:
    cargo xtask scaleout [OPTIONS]

OPTIONS:
    --clients N          Clients connected through nginx [default: 1000]
    --messages M         Messages per publisher in each checked round [default: 100]
    --ws PATH            Run this `ws` binary instead of building one
    --bench              Measure fan-out throughput instead (see below)
    --seconds N          With --bench: the measured window of each run [default: 5]
    -h, --help           Print this help

Installs nginx and redis-server with apt-get when they are not on PATH. Builds `ws` and the
benches' `scaleout_check` example (release), starts on loopback ports the OS picks:
    redis      redis-server without persistence
    instances  3 x `ws serve --mode broadcast --broker redis://127.0.0.1:PORT --ping-interval 20`
    nginx      deploy/nginx/ws-scale-out.conf filled in (one worker, so round-robin puts client i
               on instance i mod 3), run unprivileged from <target dir>/scaleout/nginx
               (`nginx -p DIR -c DIR/nginx.conf -e DIR/logs/error.log`)
Then `scaleout_check ws://127.0.0.1:NGINX/room/scale`: every client in one topic, publishers
on each instance; phase 1 every message exactly once and in order; phase 2 Redis is killed and
started again while publishing (the loss in the gap reported, every message after it exactly
once and in order); phase 3 one instance is killed, its clients reconnect through nginx and a
new round must reach everyone exactly once and in order. Prints the check's summary; fails when
the check fails. Everything is stopped at the end, also on failure; the whole check is bounded
(3 minutes).

With --bench: deliveries per second and the servers' CPU time per delivery of one
`ws serve --mode broadcast` (in-process, no broker) against three `--broker` instances sharing
one Redis, at 1,000 and 10,000 subscribers. The benches' broadcast_load spreads its subscribers
round-robin over the instances' addresses (directly, no nginx: the servers are measured), one
of them publishes 16-byte messages at most 8 ahead of the slowest subscriber, and it sums the
instances' utime+stime from /proc over a window after a 1 s warm-up. Redis's CPU use is
reported apart (over the whole run, connecting included). The table also goes to
<target dir>/scaleout-bench.md.
";

/// The nginx configuration template (placeholders filled in by [`render`]).
const TEMPLATE: &str = include_str!("../../deploy/nginx/ws-scale-out.conf");

const INSTANCES: usize = 3;
/// The instances ping every 20 s; the template's `proxy_read_timeout` is 60 s.
const PING_INTERVAL: &str = "20";
/// Connections each instance accepts: all the clients, also after one instance is gone (they
/// all come from nginx's address, so the per-address limit must be as large).
const MAX_CLIENTS: &str = "8192";
/// Starting a server and waiting for its port.
const START_BOUND: Duration = Duration::from_secs(30);
/// The check's own run (it bounds itself at 170 s).
const CHECK_BOUND: Duration = Duration::from_secs(180);
/// How long Redis stays down in phase 2.
const REDIS_DOWN: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
struct Options {
    ws: Option<PathBuf>,
    clients: u64,
    messages: u64,
    bench: bool,
    seconds: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ws: None,
            clients: 1000,
            messages: 100,
            bench: false,
            seconds: 5,
        }
    }
}

pub fn main(args: &[String]) -> Result {
    let mut options = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = util::split_flag(arg);
        match flag {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            "--clients" => {
                options.clients =
                    util::parse_positive(flag, util::flag_value(flag, inline, &mut it)?)?
            }
            "--messages" => {
                options.messages =
                    util::parse_positive(flag, util::flag_value(flag, inline, &mut it)?)?
            }
            "--ws" => options.ws = Some(PathBuf::from(util::flag_value(flag, inline, &mut it)?)),
            "--bench" => options.bench = true,
            "--seconds" => {
                options.seconds =
                    util::parse_positive(flag, util::flag_value(flag, inline, &mut it)?)?
            }
            other => {
                bail!("unexpected argument `{other}` for `cargo xtask scaleout` (see --help)")
            }
        }
    }
    if options.bench {
        return bench(&util::workspace_root(), &options);
    }
    run(&util::workspace_root(), options)
}

/// The check as CI runs it.
pub fn run_all(root: &Path) -> Result {
    run(root, Options::default())
}

fn run(root: &Path, options: Options) -> Result {
    util::ensure_binary("nginx", &["nginx"])?;
    util::ensure_binary("redis-server", &["redis-server"])?;
    let out = util::target_dir(root).join("scaleout");
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    std::fs::create_dir_all(&out)?;
    // Release builds: the check puts 1,000 clients, three instances, nginx and Redis on the
    // same cores, and CI's interop step has built `ws` in release already.
    let ws = match &options.ws {
        Some(ws) => ws.clone(),
        None => process::release_ws(root)?,
    };
    let checker = process::release_example(root, "ws-benches", "scaleout_check", &out)?;

    let redis_port = process::free_port()?;
    let mut redis = start_redis(redis_port, &out)?;
    let broker = format!("redis://127.0.0.1:{redis_port}");
    let mut instances = Vec::with_capacity(INSTANCES);
    let mut addresses = Vec::with_capacity(INSTANCES);
    for i in 0..INSTANCES {
        let (instance, address) = start_instance(&ws, &broker, i)?;
        instances.push(instance);
        addresses.push(address);
    }
    let nginx_port = process::free_port()?;
    let mut nginx = Nginx::start(&out.join("nginx"), nginx_port, &addresses)?;

    let url = format!("ws://127.0.0.1:{nginx_port}/room/scale");
    let (mut check, mut answers) = Background::start_with_stdin(
        "scaleout_check",
        util::cmd(&checker, root).args([
            url.as_str(),
            "--clients",
            &options.clients.to_string(),
            "--messages",
            &options.messages.to_string(),
            "--instances",
            &INSTANCES.to_string(),
            "--publishers",
            &INSTANCES.to_string(),
        ]),
    )?;
    let deadline = Instant::now() + CHECK_BOUND;
    let mut summary = Vec::new();
    while let Some(line) = check.next_line(deadline)? {
        if let Some(what) = line.strip_prefix("control: ") {
            match what {
                "restart-redis" => {
                    // A crash, not a shutdown: no goodbye to the subscribers.
                    redis.kill()?;
                    std::thread::sleep(REDIS_DOWN);
                    redis = start_redis(redis_port, &out)?;
                }
                "kill-instance" => {
                    // The last instance: round-robin gave it clients 2, 5, 8...
                    let last = instances.len() - 1;
                    instances[last].kill()?;
                }
                other => bail!("scaleout_check asked for `{other}`, which this task cannot do"),
            }
            writeln!(answers, "done {what}")
                .and_then(|()| answers.flush())
                .map_err(|e| format!("cannot answer scaleout_check: {e}"))?;
        } else if let Some(line) = line.strip_prefix("summary: ") {
            summary.push(line.to_owned());
        }
    }
    let status = check.wait(Duration::from_secs(10))?;
    nginx.stop()?;
    drop(instances);
    drop(redis);

    println!(
        "\nscale-out check ({} clients via nginx, {INSTANCES} instances, Redis):",
        options.clients
    );
    for line in &summary {
        println!("    {line}");
    }
    if !status.success() {
        bail!("the scale-out check failed ({status}); its summary is above");
    }
    Ok(())
}

/// Subscribers of the throughput runs.
const BENCH_SUBSCRIBERS: [u32; 2] = [1000, 10_000];
/// Instances of the throughput runs: one alone (no broker), three through Redis.
const BENCH_INSTANCES: [usize; 2] = [1, 3];
/// Message size of the throughput runs (the generator's sequence number and a little more).
const BENCH_SIZE: &str = "16";
/// Connections an instance of the throughput runs accepts.
const BENCH_MAX_CLIENTS: &str = "16384";

/// One throughput run: what broadcast_load reported, and Redis's CPU ticks over the run.
#[derive(Debug)]
struct BenchRun {
    instances: usize,
    subscribers: u32,
    deliveries: u64,
    published: u64,
    lost: u64,
    window: Window,
    /// Redis's CPU ticks from the generator's start to its result (connecting included), and
    /// that time in seconds.
    redis_ticks: Option<(u64, f64)>,
}

/// `cargo xtask scaleout --bench`: one instance against three through Redis.
fn bench(root: &Path, options: &Options) -> Result {
    let seconds = options.seconds;
    util::ensure_binary("redis-server", &["redis-server"])?;
    let out = util::target_dir(root).join("scaleout-bench");
    std::fs::create_dir_all(&out)?;
    let ws = match &options.ws {
        Some(ws) => ws.clone(),
        None => process::release_ws(root)?,
    };
    let load = process::release_example(root, "ws-benches", "broadcast_load", &out)?;
    let clk_tck = servers::clk_tck();
    let mut runs = Vec::new();
    for subscribers in BENCH_SUBSCRIBERS {
        for instances in BENCH_INSTANCES {
            runs.push(bench_run(
                &ws,
                &load,
                &out,
                instances,
                subscribers,
                seconds,
                clk_tck,
            )?);
        }
    }
    let header: Vec<String> = [
        "setup",
        "subscribers",
        "deliveries/s",
        "messages/s",
        "server CPU per delivery",
        "server CPU",
        "Redis CPU",
        "generator CPU",
        "lost",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let percent = |share: f64| format!("{:.0}%", share * 100.0);
            vec![
                if r.instances == 1 {
                    "1 instance".to_owned()
                } else {
                    format!("{} instances + Redis", r.instances)
                },
                r.subscribers.to_string(),
                format!("{:.0}", r.window.per_second(r.deliveries)),
                format!("{:.0}", r.window.per_second(r.published)),
                format!("{:.2} µs", r.window.cpu_us_per(r.deliveries)),
                percent(r.window.server_busy()),
                r.redis_ticks.map_or("-".to_owned(), |(ticks, secs)| {
                    percent(ticks as f64 / clk_tck / secs)
                }),
                percent(r.window.load_busy()),
                r.lost.to_string(),
            ]
        })
        .collect();
    let table = util::text_table(&header, &rows);
    println!("\n{table}");
    let report = out.with_extension("md");
    std::fs::write(&report, util::markdown_table(&header, &rows))?;
    eprintln!("written to {}", report.display());
    Ok(())
}

fn bench_run(
    ws: &Path,
    load: &Path,
    out: &Path,
    instances: usize,
    subscribers: u32,
    seconds: u64,
    clk_tck: f64,
) -> Result<BenchRun> {
    let redis_port = process::free_port()?;
    let redis = if instances > 1 {
        Some(start_redis(redis_port, out)?)
    } else {
        None
    };
    let broker = format!("redis://127.0.0.1:{redis_port}");
    let mut servers = Vec::with_capacity(instances);
    let mut addresses = Vec::with_capacity(instances);
    for i in 0..instances {
        let mut cmd = Command::new(ws);
        cmd.args(["serve", "--mode", "broadcast", "--listen", "127.0.0.1:0"])
            .args(["--max-clients", BENCH_MAX_CLIENTS])
            .args(["--max-per-client", BENCH_MAX_CLIENTS]);
        if redis.is_some() {
            cmd.args(["--broker", &broker]);
        }
        let server = Background::start(&format!("ws serve {i}"), &mut cmd)?;
        addresses.push(server.wait_for(START_BOUND, process::listening_address)?);
        servers.push(server);
    }
    let mut cmd = Command::new(load);
    cmd.arg(addresses.join(","))
        .args(["--subscribers", &subscribers.to_string()])
        .args(["--size", BENCH_SIZE, "--seconds", &seconds.to_string()]);
    for server in &servers {
        cmd.args(["--server-pid", &server.id().to_string()]);
    }
    let redis_before = redis.as_ref().map(|r| proc_ticks(r.id())).transpose()?;
    let started = Instant::now();
    let mut generator = Background::start("broadcast_load", &mut cmd)?;
    let bound = Duration::from_secs(seconds) + Duration::from_secs(120);
    let line = generator.wait_for(bound, |line| {
        line.strip_prefix("result ").map(str::to_owned)
    })?;
    let redis_ticks = match (&redis, redis_before) {
        (Some(r), Some(before)) => Some((
            proc_ticks(r.id())?.saturating_sub(before),
            started.elapsed().as_secs_f64(),
        )),
        _ => None,
    };
    generator.wait(Duration::from_secs(30))?;
    let field = |key: &str| result_line::field(&line, key);
    Ok(BenchRun {
        instances,
        subscribers,
        deliveries: field("deliveries")?,
        published: field("published")?,
        lost: field("lost")?,
        window: Window::parse(&line, clk_tck)?,
        redis_ticks,
    })
}

/// utime + stime of process `pid`, in clock ticks.
fn proc_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("malformed /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Result<u64> {
        Ok(fields
            .get(i)
            .ok_or("short /proc/PID/stat")?
            .parse::<u64>()?)
    };
    Ok(field(11)? + field(12)?)
}

/// redis-server on `port` of loopback, without persistence, its files in `dir`.
fn start_redis(port: u16, dir: &Path) -> Result<Background> {
    let redis = Background::start(
        "redis-server",
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--loglevel", "warning"])
            .arg("--dir")
            .arg(dir),
    )?;
    process::wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)), START_BOUND)?;
    Ok(redis)
}

/// One `ws serve --mode broadcast` instance on a port the OS picks; returns it and its address.
fn start_instance(ws: &Path, broker: &str, index: usize) -> Result<(Background, String)> {
    let instance = Background::start_echoing(
        &format!("ws serve {index}"),
        Command::new(ws).args([
            "serve",
            "--mode",
            "broadcast",
            "--listen",
            "127.0.0.1:0",
            "--broker",
            broker,
            "--ping-interval",
            PING_INTERVAL,
            "--max-clients",
            MAX_CLIENTS,
            "--max-per-client",
            MAX_CLIENTS,
        ]),
        // A line per connection and per close is noise for 1,000 clients; warnings (the
        // broker's) and errors are not.
        |line| !line.starts_with("connect ") && !line.starts_with("close "),
    )?;
    let address = instance.wait_for(START_BOUND, process::listening_address)?;
    Ok((instance, address))
}

/// nginx from the template, stopped gracefully (SIGTERM to the master, which stops its
/// workers) when dropped.
#[derive(Debug)]
struct Nginx {
    process: Background,
    stopped: bool,
}

impl Nginx {
    fn start(prefix: &Path, port: u16, upstreams: &[String]) -> Result<Nginx> {
        // nginx creates the temp directories themselves, not their parents.
        std::fs::create_dir_all(prefix.join("logs"))?;
        std::fs::create_dir_all(prefix.join("temp"))?;
        let config = prefix.join("nginx.conf");
        std::fs::write(
            &config,
            render(TEMPLATE, &format!("127.0.0.1:{port}"), upstreams, "1")?,
        )?;
        // Check the configuration first: its errors are clearer than a port that never opens.
        util::run(nginx_command(prefix, &config).arg("-t"))?;
        let process = Background::start("nginx", &mut nginx_command(prefix, &config))?;
        let nginx = Nginx {
            process,
            stopped: false,
        };
        process::wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)), START_BOUND)?;
        Ok(nginx)
    }

    fn stop(&mut self) -> Result {
        self.stopped = true;
        self.process.terminate(Duration::from_secs(10))?;
        Ok(())
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if !self.stopped {
            // Background's own drop then SIGKILLs the master if it is still there.
            let _ = self.process.terminate(Duration::from_secs(10));
        }
    }
}

fn nginx_command(prefix: &Path, config: &Path) -> Command {
    let mut cmd = Command::new("nginx");
    cmd.arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(config)
        // Instead of the built-in error log (/var/log/nginx/error.log on some builds), which
        // nginx opens before it reads the configuration.
        .arg("-e")
        .arg(prefix.join("logs").join("error.log"));
    if let Some(user) = worker_user() {
        cmd.arg("-g").arg(user);
    }
    cmd
}

/// As root, nginx switches its workers to the user `nobody` and the group `nobody`, which
/// Debian does not have (its group is `nogroup`): name the group that exists.
fn worker_user() -> Option<String> {
    if util::output_line("id", &["-u"]).as_deref() != Some("0") {
        return None;
    }
    let group = util::output_line("id", &["-gn", "nobody"])?;
    Some(format!("user nobody {group};"))
}

/// The template with its placeholders filled in: `@LISTEN@`, `@WORKER_PROCESSES@`, and the
/// line with `@SERVER@` repeated for each upstream. Comments are left alone.
fn render(template: &str, listen: &str, upstreams: &[String], workers: &str) -> Result<String> {
    if upstreams.is_empty() {
        bail!("no upstream server for nginx");
    }
    let mut out = String::with_capacity(template.len() + 64 * upstreams.len());
    let mut found = [false; 3];
    for line in template.lines() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if line.contains("@SERVER@") {
            found[0] = true;
            for upstream in upstreams {
                out.push_str(&line.replace("@SERVER@", upstream));
                out.push('\n');
            }
            continue;
        }
        found[1] |= line.contains("@LISTEN@");
        found[2] |= line.contains("@WORKER_PROCESSES@");
        let line = line
            .replace("@LISTEN@", listen)
            .replace("@WORKER_PROCESSES@", workers);
        if line.contains('@') {
            bail!(
                "the nginx template has an unknown placeholder in `{}`",
                line.trim()
            );
        }
        out.push_str(&line);
        out.push('\n');
    }
    for (found, name) in found
        .iter()
        .zip(["@SERVER@", "@LISTEN@", "@WORKER_PROCESSES@"])
    {
        if !found {
            bail!("the nginx template has no {name}");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(rendered: &str) -> Vec<&str> {
        rendered
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    }

    #[test]
    fn template_renders_for_three_instances() {
        let upstreams = ["127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003"].map(String::from);
        let rendered = render(TEMPLATE, "127.0.0.1:8080", &upstreams, "1").unwrap();
        let lines = settings(&rendered);
        let servers: Vec<&&str> = lines
            .iter()
            .filter(|l| l.starts_with("server ") && l.ends_with(';'))
            .collect();
        assert_eq!(servers.len(), 3);
        assert_eq!(
            *servers[1],
            "server 127.0.0.1:1002 max_fails=1 fail_timeout=10s;"
        );
        for expected in [
            "daemon off;",
            "worker_processes 1;",
            "listen 127.0.0.1:8080;",
            "proxy_http_version 1.1;",
            "proxy_set_header Upgrade $http_upgrade;",
            "proxy_set_header Connection $connection_upgrade;",
            "proxy_read_timeout 60s;",
            "proxy_next_upstream error timeout;",
        ] {
            assert!(lines.contains(&expected), "no `{expected}` in\n{rendered}");
        }
        assert!(!lines.iter().any(|l| l.contains('@')));
        // Nothing outside the prefix: every path setting is relative.
        for line in &lines {
            let path_setting = ["pid ", "error_log ", "access_log "]
                .iter()
                .any(|s| line.starts_with(s))
                || line.contains("_temp_path ");
            if path_setting {
                assert!(!line.contains(" /"), "absolute path in `{line}`");
            }
        }
    }

    #[test]
    fn template_errors() {
        assert!(render(TEMPLATE, "127.0.0.1:1", &[], "1").is_err());
        let one = ["127.0.0.1:2".to_owned()];
        assert!(render("listen @LISTEN@;\n", "x", &one, "1").is_err());
        assert!(render(
            "worker_processes @WORKER_PROCESSES@;\nlisten @LISTEN@;\nserver @SERVER@;\nx @OTHER@;\n",
            "x",
            &one,
            "1"
        )
        .is_err());
        let minimal = render(
            "# @SERVER@ in a comment\nworker_processes @WORKER_PROCESSES@;\nlisten @LISTEN@;\nserver @SERVER@;\n",
            "127.0.0.1:9",
            &one,
            "2",
        )
        .unwrap();
        assert_eq!(
            minimal,
            "# @SERVER@ in a comment\nworker_processes 2;\nlisten 127.0.0.1:9;\nserver 127.0.0.1:2;\n"
        );
    }
}
