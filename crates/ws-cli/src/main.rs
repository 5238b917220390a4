//! `ws`: a WebSocket server (`ws serve`) and an interactive client (`ws connect`) on the
//! command line, built on the `ws-api` facades.
//!
//! ```text
//! ws serve                                  # echo server on ws://127.0.0.1:9001/
//! ws connect ws://127.0.0.1:9001/           # type lines, read the echoes
//! ```
//!
//! # Features
//!
//! Forwarded to ws-api's features of the same names (and so to ws-net's, or ws-pubsub's for
//! `redis`):
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `tls` | on | `wss://` for `ws connect`, `ws serve --cert`; without it both fail naming the feature. Needs `ring` or `aws-lc-rs` |
//! | `ring` | on | rustls' crypto from *ring* |
//! | `aws-lc-rs` | off | rustls' crypto from aws-lc-rs; wins over `ring` when both are on |
//! | `webpki-roots` | on | the Mozilla roots, trusted without `--ca` |
//! | `native-roots` | off | the platform's roots, trusted without `--ca` when `webpki-roots` is off |
//! | `encrypted-keys` | on | `--key-password`: encrypted client keys |
//! | `redis` | on | `ws serve --mode broadcast --broker redis://HOST:PORT`: rooms shared by several instances through Redis (ws-api's `redis`); without it `--broker` fails naming the feature |
//!
//! `cargo install ws-cli --no-default-features --features aws-lc-rs,webpki-roots` builds it on
//! aws-lc-rs alone.
#![forbid(unsafe_code)]

mod args;
mod command;
mod connect;
mod explain;
mod help;
mod input;
mod logging;
mod output;
mod serve;
mod signals;
mod text;

use std::process::ExitCode;

use args::Command;

/// Exit status of a command-line mistake (also for arguments the library refuses).
const USAGE_STATUS: u8 = 2;

fn main() -> ExitCode {
    let cli = match args::parse(std::env::args_os().skip(1)) {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("ws: {e}\nRun `ws --help` (or `ws COMMAND --help`) for usage.");
            return ExitCode::from(USAGE_STATUS);
        }
    };
    logging::init(cli.verbose);
    let runtime = match runtime(cli.threads) {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ws: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Help(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("ws {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Serve(args) => finish(runtime, serve::run(args, cli.verbose)),
        Command::Connect(args) => finish(runtime, connect::run(args, cli.verbose)),
    }
}

/// The async runtime `--threads` asks for: with 1, everything runs on the current thread;
/// else a pool of that many workers (by default one per CPU).
fn runtime(threads: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    use tokio::runtime::Builder;
    let mut builder = match threads {
        Some(1) => Builder::new_current_thread(),
        Some(workers) => {
            let mut builder = Builder::new_multi_thread();
            builder.worker_threads(workers);
            builder
        }
        None => Builder::new_multi_thread(),
    };
    builder.enable_all().build()
}

/// Runs `command` to its end, then exits without waiting for a read of stdin that is still
/// blocked in the runtime's thread pool (a terminal that is not typing).
fn finish(
    runtime: tokio::runtime::Runtime,
    command: impl std::future::Future<Output = ExitCode>,
) -> ExitCode {
    let code = runtime.block_on(command);
    runtime.shutdown_background();
    code
}
