//! `cargo xtask ci`: the whole CI pipeline, as an ordered list of steps.
//!
//! To add a step, write a
//! `fn(&Ctx) -> Result<StepStatus>` and append it in [`steps`]; tools it needs
//! go in [`ensure_tools`] (see `util::ensure_binary` / `util::apt_install`,
//! which install tinyproxy for the proxy tests and openssl for the TLS key tests).

use std::env;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::fuzz;
use crate::msrv;
use crate::process::Background;
use crate::util::{self, bail, Result};

pub const HELP: &str = "\
Run the whole CI locally: the same commands CI runs, stopping at the first failure.

USAGE:
    cargo xtask ci [OPTIONS]

OPTIONS:
    --skip-fuzz          Skip the fuzz smoke run
    --fuzz-seconds N     Seconds per fuzz target in the smoke run [default: 20]
    -h, --help           Print this help

First an \"ensure tools\" phase checks rustfmt and clippy (`cargo fmt --version`,
`cargo clippy --version`; missing components are reported, not installed),
installs tinyproxy, openssl, tmux, redis-server and nginx with apt-get when they are not on
PATH (`apt-get update`, then `apt-get install -y tinyproxy` / `openssl` / `tmux` /
`redis-server` / `nginx`, through sudo when not root; ws-net's proxy tests use tinyproxy, its
TLS tests have openssl encrypt keys, the ws command's terminal tests type into it through tmux,
the Redis tests of ws-pubsub, ws-api and the ws command run a redis-server, the scaleout step
puts nginx in front of the instances), and installs cargo-fuzz (`cargo install cargo-fuzz
--locked`) when the
fuzz step will run and `cargo +nightly fuzz --version` fails. Then the steps:
    fmt        cargo fmt --all -- --check
    clippy     cargo clippy --workspace --all-targets --all-features [--locked] -- -D warnings
               (--locked only when Cargo.lock exists)
    features   cargo clippy --all-targets -- -D warnings of each feature combination the
               crate docs promise builds (ws-net: none, tls+ring, tls+aws-lc-rs+webpki-roots,
               ring+native-roots, the defaults; ws-api: none, tls+aws-lc-rs,
               ring+native-roots, redis, the defaults; ws-cli: none, tls+aws-lc-rs+webpki-roots;
               ws-pubsub: the defaults, without Redis),
               then the tests only such builds reach: cargo test -p ws-net
               --no-default-features --features aws-lc-rs,webpki-roots --test wss (wss:// on
               aws-lc-rs alone), -p ws-net --no-default-features --features ring --lib
               --test wss (no Mozilla roots, no encrypted keys), -p ws-net
               --no-default-features --lib and -p ws-api --no-default-features --lib (no TLS),
               -p ws-api --no-default-features --test topics (no Redis)
    test       cargo test --workspace --all-targets --all-features
    doctest    cargo test --workspace --doc --all-features
    docs       cargo doc --workspace --no-deps --all-features with RUSTDOCFLAGS=-D warnings (no broken
               intra-doc links, no invalid HTML in the API docs)
    package    cargo xtask msrv (no locked dependency needs a newer Rust than the workspace's
               rust-version), then cargo package --locked --allow-dirty -p ws-proto -p ws-net
               -p ws-pubsub -p ws-api -p ws-cli --target-dir TARGET/package-verify: each published crate
               packaged and built from its package against the others' packages, as crates.io
               would (what an earlier run unpacked and built of them is removed first)
    examples   cargo run -p ws-net --example hello (60 s bound; must close cleanly),
               ws-api's `server` and `client` examples against each other, ws-api's
               `echo_server_api` example against `ws connect` (every line echoed, a clean
               stop on SIGTERM), ws-net's `broadcast_server` example with two `ws connect`
               (one sends a line, both get it), and cargo xtask demo (`ws serve` and
               `ws connect`, the README's first command)
    autobahn   cargo xtask autobahn (kosoku in a virtualenv; the facades with 64 MiB limits
               and with the defaults, ws-net's server and client; fails on any FAILED or
               NON-STRICT case but those over the default send limit)
    interop    cargo xtask interop (installs chromium, Node's ws, Python's websockets;
               browser over ws:// and wss://, server-initiated 1001, both directions;
               ws-net's axum_echo against ws connect and Chromium, HTTP/2 over https://;
               ws-net's stream_echo (Stream/Sink) against ws connect)
    scaleout   cargo xtask scaleout (redis-server, three `ws serve --mode broadcast --broker`
               instances behind nginx from deploy/nginx/ws-scale-out.conf, 1,000 clients in one
               topic: every message exactly once and in order; a Redis restart while
               publishing, then every message after the gap; one instance killed, its clients
               reconnect through nginx and every client gets a new round exactly once)
    fuzz       cargo xtask fuzz --seconds 20 (every target; only with a nightly
               toolchain and fuzz/Cargo.toml present)
Each step prints `==> step` and its elapsed time; the exit status is non-zero
if any step fails.
";

/// Default seconds per target for the CI fuzz smoke run.
const FUZZ_SMOKE_SECONDS: u64 = 20;

/// Everything a step may need to know.
#[derive(Debug)]
pub struct Ctx {
    pub root: PathBuf,
    pub skip_fuzz: bool,
    pub fuzz_seconds: u64,
    pub has_nightly: bool,
}

impl Ctx {
    fn cargo(&self) -> std::process::Command {
        util::cmd("cargo", &self.root)
    }

    /// Will the fuzz step actually run?
    fn fuzz_enabled(&self) -> bool {
        !self.skip_fuzz && self.has_nightly && fuzz::has_fuzz_dir(&self.root)
    }
}

/// What a step did.
#[derive(Debug)]
pub enum StepStatus {
    Passed,
    Skipped(String),
}

type StepFn = fn(&Ctx) -> Result<StepStatus>;

struct Step {
    name: &'static str,
    run: StepFn,
}

/// The CI pipeline, in order.
fn steps() -> Vec<Step> {
    vec![
        Step {
            name: "fmt",
            run: fmt,
        },
        Step {
            name: "clippy",
            run: clippy,
        },
        Step {
            name: "features",
            run: features,
        },
        Step {
            name: "test",
            run: test,
        },
        Step {
            name: "doctest",
            run: doctest,
        },
        Step {
            name: "docs",
            run: docs,
        },
        Step {
            name: "package",
            run: package,
        },
        Step {
            name: "examples",
            run: examples,
        },
        Step {
            name: "autobahn",
            run: autobahn,
        },
        Step {
            name: "interop",
            run: interop,
        },
        Step {
            name: "scaleout",
            run: scaleout,
        },
        Step {
            name: "fuzz",
            run: fuzz_smoke,
        },
        // Crash-regression inputs in fuzz/regressions/<target>/ are replayed by
        // the normal test suite, so there is no separate step for them.
    ]
}

pub fn main(args: &[String]) -> Result {
    let mut skip_fuzz = false;
    let mut fuzz_seconds = FUZZ_SMOKE_SECONDS;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = util::split_flag(arg);
        match flag {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            "--skip-fuzz" => skip_fuzz = true,
            "--fuzz-seconds" => {
                fuzz_seconds = util::parse_positive(flag, util::flag_value(flag, inline, &mut it)?)?
            }
            other => bail!("unexpected argument `{other}` for `cargo xtask ci` (see --help)"),
        }
    }

    match env::var("CI") {
        Ok(v) => eprintln!("CI={v}"),
        Err(_) => eprintln!("CI is not set (local run)"),
    }

    let total = Instant::now();
    let ctx = Ctx {
        root: util::workspace_root(),
        skip_fuzz,
        fuzz_seconds,
        has_nightly: util::has_nightly(),
    };

    eprintln!("==> ensure tools");
    let start = Instant::now();
    ensure_tools(&ctx)?;
    eprintln!(
        "    ensure tools: ok ({})",
        util::fmt_duration(start.elapsed())
    );

    let mut done: Vec<(&str, String, Duration)> = Vec::new();
    for step in steps() {
        eprintln!("\n==> {}", step.name);
        let start = Instant::now();
        let result = (step.run)(&ctx);
        let elapsed = start.elapsed();
        match result {
            Ok(StepStatus::Passed) => {
                eprintln!("    {}: ok ({})", step.name, util::fmt_duration(elapsed));
                done.push((step.name, "ok".into(), elapsed));
            }
            Ok(StepStatus::Skipped(why)) => {
                eprintln!("    {}: skipped: {why}", step.name);
                done.push((step.name, format!("skipped ({why})"), elapsed));
            }
            Err(e) => {
                eprintln!(
                    "    {}: FAILED after {}",
                    step.name,
                    util::fmt_duration(elapsed)
                );
                done.push((step.name, "FAILED".into(), elapsed));
                print_summary(&done, total.elapsed());
                bail!("ci step `{}` failed: {e}", step.name);
            }
        }
    }
    print_summary(&done, total.elapsed());
    Ok(())
}

fn print_summary(done: &[(&str, String, Duration)], total: Duration) {
    let header = vec!["step".to_string(), "time".to_string(), "result".to_string()];
    let rows: Vec<Vec<String>> = done
        .iter()
        .map(|(name, status, t)| vec![name.to_string(), util::fmt_duration(*t), status.clone()])
        .collect();
    eprint!("\n{}", util::text_table(&header, &rows));
    eprintln!("total {}", util::fmt_duration(total));
    // One plain closing line that says how the run went.
    let failed = done
        .iter()
        .filter(|(_, status, _)| status == "FAILED")
        .count();
    let skipped = done
        .iter()
        .filter(|(_, status, _)| status.starts_with("skipped"))
        .count();
    let passed = done.len() - failed - skipped;
    println!("steps: {passed} passed, {failed} failed, {skipped} skipped");
}

/// Installs `bin` with apt-get (the package of the same name) when it is not on PATH, failing
/// with what needs it (`needed_by`) when that does not work, and prints the first line `bin
/// version_args` prints, its version.
fn ensure_tool(bin: &str, needed_by: &str, version_args: &[&str]) -> Result {
    if let Err(e) = util::ensure_binary(bin, &[bin]) {
        bail!("{bin} (needed by {needed_by}) is missing and could not be installed: {e}");
    }
    match util::output_line(bin, version_args) {
        Some(v) => eprintln!("    {v}"),
        None => eprintln!(
            "    {bin}: installed (`{bin} {}` printed nothing)",
            version_args.join(" ")
        ),
    }
    Ok(())
}

/// Check / install what the steps need, so a fresh Debian machine with only
/// rustup works (tinyproxy, openssl, tmux, redis-server, nginx and cargo-fuzz are installed
/// when missing). rustfmt and clippy are rustup components that we do not add here; they are
/// reported instead.
fn ensure_tools(ctx: &Ctx) -> Result {
    let mut missing = Vec::new();
    for (sub, component) in [("fmt", "rustfmt"), ("clippy", "clippy")] {
        match util::output_line("cargo", &[sub, "--version"]) {
            Some(v) => eprintln!("    {component}: {v}"),
            None => missing.push(component),
        }
    }
    if !missing.is_empty() {
        bail!(
            "missing toolchain component(s): {list}; install with `rustup component add {list}` \
             (this task does not add components)",
            list = missing.join(" ")
        );
    }

    // ws-net's proxy tests tunnel through a real tinyproxy, and with CI set
    // they fail instead of skipping when it is missing.
    ensure_tool("tinyproxy", "the ws-net proxy tests", &["-v"])?;

    // ws-net's TLS tests have the `openssl` command write the encrypted keys that only it
    // writes, and fail when it is missing.
    ensure_tool("openssl", "the ws-net TLS tests", &["version"])?;

    // The `ws` command's terminal tests type into it through tmux, and with CI set they fail
    // instead of skipping when it is missing.
    ensure_tool("tmux", "the ws-cli terminal tests", &["-V"])?;

    // The Redis tests (ws-pubsub's, ws-api's topics, `ws serve --broker`) run a real
    // redis-server, and with CI set they fail instead of skipping when it is missing.
    ensure_tool("redis-server", "the Redis tests", &["--version"])?;

    // The scaleout step balances its instances with a real nginx.
    if let Err(e) = util::ensure_binary("nginx", &["nginx"]) {
        bail!("nginx (needed by the scaleout step) is missing and could not be installed: {e}");
    }
    // `nginx -v` writes its version to stderr.
    match Command::new("nginx").arg("-v").output() {
        Ok(out) => eprintln!("    {}", String::from_utf8_lossy(&out.stderr).trim()),
        Err(e) => eprintln!("    nginx: installed (`nginx -v` failed: {e})"),
    }

    if ctx.skip_fuzz {
        eprintln!("    fuzz: skipped (--skip-fuzz)");
    } else if !ctx.has_nightly {
        eprintln!("    fuzz: no nightly toolchain (`cargo +nightly --version` failed); fuzz step will be skipped");
    } else if !fuzz::has_fuzz_dir(&ctx.root) {
        eprintln!("    fuzz: no fuzz/Cargo.toml; fuzz step will be skipped");
    } else {
        util::ensure_cargo_fuzz(&ctx.root)?;
        if let Some(v) = util::output_line("cargo", &["+nightly", "fuzz", "--version"]) {
            eprintln!("    {v}");
        }
    }
    Ok(())
}

fn fmt(ctx: &Ctx) -> Result<StepStatus> {
    util::run(ctx.cargo().args(["fmt", "--all", "--", "--check"]))?;
    Ok(StepStatus::Passed)
}

fn clippy(ctx: &Ctx) -> Result<StepStatus> {
    let mut cmd = ctx.cargo();
    cmd.args(["clippy", "--workspace", "--all-targets", "--all-features"]);
    if ctx.root.join("Cargo.lock").is_file() {
        cmd.arg("--locked");
    }
    cmd.args(["--", "-D", "warnings"]);
    util::run(&mut cmd)?;
    // And with the default features off: the `tracing` macros then expand to dead code, which
    // must still use every argument.
    let mut cmd = ctx.cargo();
    cmd.args(["clippy", "-p", "ws-net", "-p", "ws-api", "--all-targets"])
        .arg("--no-default-features");
    if ctx.root.join("Cargo.lock").is_file() {
        cmd.arg("--locked");
    }
    cmd.args(["--", "-D", "warnings"]);
    util::run(&mut cmd)?;
    Ok(StepStatus::Passed)
}

/// `(package, features)`: the feature combinations the crate docs say build, checked with
/// `cargo clippy --all-targets -- -D warnings`; `Some(list)` is
/// `--no-default-features --features list`, `None` the defaults. `--all-features` (clippy,
/// test) covers the rest.
const FEATURE_CHECKS: &[(&str, Option<&str>)] = &[
    ("ws-net", Some("")),
    ("ws-net", Some("tls,ring")),
    ("ws-net", Some("tls,aws-lc-rs,webpki-roots")),
    ("ws-net", Some("ring,native-roots")),
    // WebSocket over cleartext HTTP/2 alone, without TLS.
    ("ws-net", Some("http2")),
    ("ws-net", None),
    ("ws-api", Some("")),
    ("ws-api", Some("tls,aws-lc-rs")),
    ("ws-api", Some("ring,native-roots")),
    // The `broker` option without TLS.
    ("ws-api", Some("redis")),
    ("ws-api", None),
    ("ws-cli", Some("")),
    ("ws-cli", Some("tls,aws-lc-rs,webpki-roots")),
    // The defaults: the in-process broker alone, without the Redis client.
    ("ws-pubsub", None),
];

/// Tests that only builds without some default feature reach.
const FEATURE_TESTS: &[&[&str]] = &[
    // wss:// end to end on aws-lc-rs, with no *ring* in rustls.
    &[
        "-p",
        "ws-net",
        "--no-default-features",
        "--features",
        "aws-lc-rs,webpki-roots",
        "--test",
        "wss",
    ],
    // Without the Mozilla roots and encrypted keys: the errors that name those features.
    &[
        "-p",
        "ws-net",
        "--no-default-features",
        "--features",
        "ring",
        "--lib",
        "--test",
        "wss",
    ],
    // Without TLS: wss:// URLs and server certificates refused, naming the feature.
    &["-p", "ws-net", "--no-default-features", "--lib"],
    &["-p", "ws-api", "--no-default-features", "--lib"],
    // Without `redis`: the server's topics in one process, and a `broker` refused naming the
    // feature.
    &["-p", "ws-api", "--no-default-features", "--test", "topics"],
];

fn features(ctx: &Ctx) -> Result<StepStatus> {
    let locked = ctx.root.join("Cargo.lock").is_file();
    for (package, features) in FEATURE_CHECKS {
        let mut cmd = ctx.cargo();
        cmd.args(["clippy", "-p", package, "--all-targets"]);
        if let Some(features) = features {
            cmd.arg("--no-default-features");
            if !features.is_empty() {
                cmd.args(["--features", features]);
            }
        }
        if locked {
            cmd.arg("--locked");
        }
        // Warnings fail: code a feature gates away leaves nothing unused behind.
        cmd.args(["--", "-D", "warnings"]);
        util::run(&mut cmd)?;
    }
    for args in FEATURE_TESTS {
        let mut cmd = ctx.cargo();
        cmd.arg("test").args(*args);
        if locked {
            cmd.arg("--locked");
        }
        util::run(&mut cmd)?;
    }
    Ok(StepStatus::Passed)
}

/// The published crates, in dependency order.
const PUBLISHED: &[&str] = &["ws-proto", "ws-net", "ws-pubsub", "ws-api", "ws-cli"];

fn package(ctx: &Ctx) -> Result<StepStatus> {
    msrv::check(&ctx.root)?;
    // Cargo takes a registry package of a given name and version to be immutable: it reuses
    // what it unpacked and built of an earlier run's packages. The packages are verified in a
    // target directory of their own, without the earlier builds of ours.
    let target_dir = util::target_dir(&ctx.root).join("package-verify");
    forget_earlier_packages(&target_dir)?;
    let mut cmd = ctx.cargo();
    // Packaging several crates at once lets each build against the others' packages (a local
    // registry overlay) before any is on crates.io. --allow-dirty: this checks the working
    // tree, it publishes nothing.
    cmd.args(["package", "--locked", "--allow-dirty", "--target-dir"])
        .arg(&target_dir);
    for package in PUBLISHED {
        cmd.args(["-p", package]);
    }
    util::run(&mut cmd)?;
    Ok(StepStatus::Passed)
}

/// Removes what earlier runs of this step left of our packages: the sources Cargo unpacked under
/// `$CARGO_HOME/registry/src/` (crates.io's own directory is left alone) and the build
/// fingerprints in `target_dir`, which Cargo would otherwise reuse for the same version.
fn forget_earlier_packages(target_dir: &std::path::Path) -> Result {
    let ours = |name: &str| {
        PUBLISHED.iter().any(|crate_name| {
            name.strip_prefix(crate_name)
                .is_some_and(|rest| rest.starts_with('-'))
        })
    };
    if let Ok(fingerprints) = std::fs::read_dir(target_dir.join("debug").join(".fingerprint")) {
        for fingerprint in fingerprints.flatten() {
            if ours(&fingerprint.file_name().to_string_lossy()) {
                std::fs::remove_dir_all(fingerprint.path())
                    .map_err(|e| format!("cannot remove {}: {e}", fingerprint.path().display()))?;
            }
        }
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".cargo"))
        });
    let Some(sources) = cargo_home.map(|home| home.join("registry").join("src")) else {
        return Ok(());
    };
    let Ok(registries) = std::fs::read_dir(&sources) else {
        return Ok(());
    };
    for registry in registries.flatten() {
        if registry
            .file_name()
            .to_string_lossy()
            .starts_with("index.crates.io")
        {
            continue;
        }
        let Ok(unpacked) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for package in unpacked.flatten() {
            if ours(&package.file_name().to_string_lossy()) {
                std::fs::remove_dir_all(package.path()).map_err(|e| {
                    format!(
                        "cannot remove the earlier package {}: {e}",
                        package.path().display()
                    )
                })?;
            }
        }
    }
    Ok(())
}

fn test(ctx: &Ctx) -> Result<StepStatus> {
    util::run(
        ctx.cargo()
            .args(["test", "--workspace", "--all-targets", "--all-features"]),
    )?;
    Ok(StepStatus::Passed)
}

fn doctest(ctx: &Ctx) -> Result<StepStatus> {
    util::run(
        ctx.cargo()
            .args(["test", "--workspace", "--doc", "--all-features"]),
    )?;
    Ok(StepStatus::Passed)
}

fn docs(ctx: &Ctx) -> Result<StepStatus> {
    let mut cmd = ctx.cargo();
    cmd.args(["doc", "--workspace", "--no-deps", "--all-features"])
        .env("RUSTDOCFLAGS", "-D warnings");
    util::run(&mut cmd)?;
    Ok(StepStatus::Passed)
}

/// Runs the README's first command, `cargo run -p ws-net --example hello` (a server and a client
/// talking over loopback), bounded in time, and checks that the conversation ended cleanly.
fn examples(ctx: &Ctx) -> Result<StepStatus> {
    util::run(
        ctx.cargo()
            .args(["build", "-p", "ws-net", "--example", "hello"]),
    )?;
    let mut cmd = util::cmd("timeout", &ctx.root);
    cmd.args([
        "60",
        "cargo",
        "run",
        "-q",
        "-p",
        "ws-net",
        "--example",
        "hello",
    ]);
    eprintln!("$ {}", util::display_cmd(&cmd));
    let out = cmd
        .output()
        .map_err(|e| format!("failed to start the hello example: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprint!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("the hello example failed ({})", out.status);
    }
    if !stdout.contains("client: closed: 1000") || !stdout.contains("clean: true") {
        bail!("the hello example did not end with a clean closing handshake");
    }
    api_examples(ctx)?;
    api_echo_example(ctx)?;
    broadcast_example(ctx)?;
    crate::demo::run(&ctx.root)?;
    Ok(StepStatus::Passed)
}

/// Runs ws-api's `server` example and its `client` example against it: the reference's examples,
/// end to end. Every wait is bounded; the server is killed on every exit path.
fn api_examples(ctx: &Ctx) -> Result {
    util::run(ctx.cargo().args(["build", "-p", "ws-api", "--examples"]))?;
    let examples = util::target_dir(&ctx.root).join("debug").join("examples");
    let server = Background::start("server", &mut util::cmd(examples.join("server"), &ctx.root))?;
    let mut server_lines = Vec::new();
    let url = server.wait_for(Duration::from_secs(30), |line| {
        server_lines.push(line.to_owned());
        line.strip_prefix("listening on ").map(str::to_owned)
    })?;
    let mut client = util::cmd("timeout", &ctx.root);
    client
        .arg("60")
        .arg(examples.join("client"))
        .args([url.as_str(), "stop"]);
    eprintln!("$ {}", util::display_cmd(&client));
    let out = client
        .output()
        .map_err(|e| format!("failed to start the ws-api client example: {e}"))?;
    let client_out = String::from_utf8_lossy(&out.stdout).into_owned();
    eprint!("{client_out}");
    if !out.status.success() {
        bail!("the ws-api client example failed ({})", out.status);
    }
    for expected in [
        "headerReceive",
        "open 101",
        "message Text(\"Hello, server\")",
        "dataEnd",
        "close 1000",
    ] {
        if !client_out.contains(expected) {
            bail!("the ws-api client example printed no `{expected}`");
        }
    }
    server.wait_for(Duration::from_secs(30), |line| {
        server_lines.push(line.to_owned());
        (line == "stopped").then_some(())
    })?;
    let server_lines = server_lines.join("\n");
    for expected in [
        "connect 127.0.0.1",
        "messageReceive Text(\"list\")",
        "close 127.0.0.1",
        "stopped",
    ] {
        if !server_lines.contains(expected) {
            bail!("the ws-api server example printed no `{expected}`");
        }
    }
    Ok(())
}

/// Runs ws-api's `echo_server_api` example (built by [`api_examples`]) and types a few lines
/// into `ws connect` against it: each must come back, and SIGTERM must stop the server cleanly
/// (its clients get 1001, it prints `stopped` and exits 0). Every wait is bounded; the server
/// is killed on every exit path.
fn api_echo_example(ctx: &Ctx) -> Result {
    let ws = crate::process::release_ws(&ctx.root)?;
    let example = util::target_dir(&ctx.root)
        .join("debug")
        .join("examples")
        .join("echo_server_api");
    let mut server = Background::start(
        "echo_server_api",
        util::cmd(example, &ctx.root).arg("127.0.0.1:0"),
    )?;
    let mut server_lines = Vec::new();
    let url = server.wait_for(Duration::from_secs(30), |line| {
        server_lines.push(line.to_owned());
        line.strip_prefix("listening on ").map(str::to_owned)
    })?;
    let input = "Hello, echo\nhéllo wörld ✓ 日本語\nbye\n";
    let echoed = crate::interop::ws_connect(&ws, &url, &[], input.as_bytes())?;
    if echoed != input.as_bytes() {
        bail!(
            "the echo_server_api example sent back {:?} for {input:?}",
            String::from_utf8_lossy(&echoed)
        );
    }
    let status = server.terminate(Duration::from_secs(10))?;
    if !status.success() {
        bail!("the echo_server_api example exited with {status} on SIGTERM");
    }
    server.wait_for(Duration::from_secs(10), |line| {
        server_lines.push(line.to_owned());
        (line == "stopped").then_some(())
    })?;
    let server_lines = server_lines.join("\n");
    for expected in ["connect 127.0.0.1", "close 127.0.0.1", "stopped"] {
        if !server_lines.contains(expected) {
            bail!("the echo_server_api example printed no `{expected}`");
        }
    }
    Ok(())
}

/// Runs ws-net's `broadcast_server` example with two `ws connect` clients: a listener that
/// connects first and sends nothing, then a publisher that sends a line. Both must receive it
/// (the server sends every message to every client, its sender included) and close normally.
/// The listener is registered before the publisher connects: the example registers each client
/// from a task spawned in the order the clients were accepted, on a single-threaded runtime.
/// Every wait is bounded; the processes are killed on every exit path.
fn broadcast_example(ctx: &Ctx) -> Result {
    util::run(
        ctx.cargo()
            .args(["build", "-p", "ws-net", "--example", "broadcast_server"]),
    )?;
    let ws = crate::process::release_ws(&ctx.root)?;
    let example = util::target_dir(&ctx.root)
        .join("debug")
        .join("examples")
        .join("broadcast_server");
    let server = Background::start(
        "broadcast_server",
        util::cmd(example, &ctx.root).arg("127.0.0.1:0"),
    )?;
    let addr = server.wait_for(Duration::from_secs(30), |line| {
        line.strip_prefix("listening on ").map(str::to_owned)
    })?;
    let url = format!("ws://{addr}/");
    // Keeps its connection once its (empty) stdin ends, and exits after one message.
    let mut listener = Background::start(
        "listener",
        util::cmd(&ws, &ctx.root).args(["connect", "--proxy", "none", "-n", "--count", "1", &url]),
    )?;
    listener.wait_for(Duration::from_secs(30), |line| {
        line.starts_with("connected to ").then_some(())
    })?;
    let line = "to everyone ✓\n";
    let got = crate::interop::ws_connect(&ws, &url, &[], line.as_bytes())?;
    if got != line.as_bytes() {
        bail!(
            "the broadcast_server example sent its publisher {:?} for {line:?}",
            String::from_utf8_lossy(&got)
        );
    }
    listener.wait_for(Duration::from_secs(30), |l| {
        (l == line.trim_end()).then_some(())
    })?;
    let status = listener.wait(Duration::from_secs(30))?;
    if !status.success() {
        bail!("ws connect, listening to the broadcast_server example, exited with {status}");
    }
    drop(server);
    Ok(())
}

/// The Autobahn TestSuite, both directions, strict (`cargo xtask autobahn`).
fn autobahn(ctx: &Ctx) -> Result<StepStatus> {
    crate::autobahn::run_all(&ctx.root)?;
    Ok(StepStatus::Passed)
}

/// Chromium, Node's ws and Python's websockets against `ws` (`cargo xtask interop`).
fn interop(ctx: &Ctx) -> Result<StepStatus> {
    crate::interop::run_all(&ctx.root)?;
    Ok(StepStatus::Passed)
}

/// Three `ws serve --broker` instances behind nginx with Redis, 1,000 clients
/// (`cargo xtask scaleout`).
fn scaleout(ctx: &Ctx) -> Result<StepStatus> {
    crate::scaleout::run_all(&ctx.root)?;
    Ok(StepStatus::Passed)
}

fn fuzz_smoke(ctx: &Ctx) -> Result<StepStatus> {
    if ctx.skip_fuzz {
        return Ok(StepStatus::Skipped("--skip-fuzz".into()));
    }
    if !ctx.has_nightly {
        return Ok(StepStatus::Skipped("no nightly toolchain".into()));
    }
    if !ctx.fuzz_enabled() {
        return Ok(StepStatus::Skipped("no fuzz/Cargo.toml".into()));
    }
    fuzz::run(
        &ctx.root,
        &fuzz::FuzzOptions {
            seconds: ctx.fuzz_seconds,
            jobs: 1,
            targets: Vec::new(),
        },
    )?;
    Ok(StepStatus::Passed)
}
